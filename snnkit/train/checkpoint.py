"""Atomic, checksummed, ``weights_only``-loadable checkpoints, rotation with fallback, RNG-state capture
and the ``.DONE`` marker.

A checkpoint is a plain dictionary of tensors, numbers, strings, lists, tuples and dicts — nothing that
needs pickle's arbitrary-object machinery — so it loads with ``torch.load(weights_only=True)``.

Writing (:func:`save_checkpoint`):

1. the state is walked once (cheap: no serialisation) and anything ``weights_only`` could not load is a
   :class:`CheckpointError` naming its key path (e.g. ``state['callbacks'][0]['obj']``) — before any
   byte is written;
2. ``torch.save`` streams straight into a temporary file beside the target (``.<name>.new``: a fixed
   name, so what a killed save left is overwritten by the next) while a SHA-256 of the bytes is
   computed on the way (no in-memory copy, no reload), and the file is fsynced;
3. the checksum goes to ``<file>.sha256`` (``sha256sum`` format), written the same way;
4. both are renamed into place. With ``previous=`` the file being replaced is first hard-linked to
   ``previous`` (with its checksum), so a run keeps ``last.pt`` and ``prev.pt`` and ``last.pt`` never
   disappears.

The links and renames are ordered so that at every instant a valid checkpoint exists: a file whose
``.sha256`` is missing is loaded unverified (its bytes were fsynced before the rename made it visible);
one whose ``.sha256`` disagrees is corrupt.

Reading: :func:`load_checkpoint` verifies the checksum when the ``.sha256`` exists and turns every way a
file can be bad (missing, truncated, corrupted, not a snnkit checkpoint) into a :class:`CheckpointError`
that names the file. :func:`load_latest` tries ``last.pt`` and falls back to ``prev.pt`` with a WARNING.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnkit.errors import CheckpointError
from snnkit.utils import atomic_write_text, file_digest

log = logging.getLogger(__name__)

__all__ = [
    "FORMAT_KEY",
    "FORMAT_VERSION",
    "DONE_NAME",
    "CHECKSUM_SUFFIX",
    "check_weights_only_safe",
    "checksum_path",
    "save_checkpoint",
    "load_checkpoint",
    "load_latest",
    "get_rng_state",
    "set_rng_state",
    "mark_done",
    "is_done",
    "read_done",
]

FORMAT_KEY = "__snnkit_checkpoint__"
FORMAT_VERSION = 1
DONE_NAME = ".DONE"
CHECKSUM_SUFFIX = ".sha256"

_LEAVES = (str, int, float, bool, complex, type(None), torch.dtype, torch.device)
_CONTAINERS = (list, tuple, dict, collections.OrderedDict, torch.Size)


def checksum_path(path: str | os.PathLike) -> Path:
    """Where the SHA-256 of checkpoint ``path`` is kept: ``<path>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def check_weights_only_safe(state: Any, root: str = "state") -> None:
    """Raise :class:`CheckpointError` unless ``state`` holds only what ``weights_only`` loading accepts.

    Allowed: tensors (plain or ``nn.Parameter``), numbers, bool, str, None, dtypes, devices and lists,
    tuples, dicts (also ``OrderedDict``) of those. The error names the first offending key path.
    """
    stack: list[tuple[str, Any]] = [(root, state)]
    seen: set[int] = set()
    while stack:
        where, obj = stack.pop()
        kind = type(obj)
        if kind in _LEAVES or kind is torch.Tensor or kind is torch.nn.Parameter:
            continue
        if kind not in _CONTAINERS:
            raise CheckpointError(
                f"{where} is a {kind.__module__}.{kind.__qualname__}, which torch.load(weights_only=True) "
                "cannot load; checkpoint state may hold only tensors, numbers, bool, str, None, lists, tuples "
                "and dicts (convert it, e.g. in the callback's state_dict)"
            )
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            for key, value in obj.items():
                if type(key) not in _LEAVES:
                    raise CheckpointError(
                        f"{where} has a key of type {type(key).__qualname__} ({key!r}); checkpoint dict keys "
                        "must be str, numbers, bool or None"
                    )
                stack.append((f"{where}[{key!r}]", value))
        else:
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(obj))


class _HashingWriter:
    """A write-only file wrapper that feeds every byte written through SHA-256."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        self.sha.update(view)
        self.size += view.nbytes
        return self._fh.write(data)

    def flush(self) -> None:
        self._fh.flush()


def _read_checksum(path: Path) -> str | None:
    try:
        text = checksum_path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    fields = text.split()
    return fields[0].lower() if fields else ""


def _keep_as_previous(path: Path, prev: Path) -> None:
    """Make ``prev`` (and its checksum) what ``path`` (and its checksum) are now; ``path`` stays.

    Hard links, renamed into place, so ``path`` never disappears and ``prev`` is always either its old
    pair, a file without checksum (loaded unverified) or the new pair. Where hard links are not
    supported the files are moved instead (``path`` is then missing until the new one is renamed in,
    and :func:`load_latest` uses ``prev``).
    """
    side, prev_side = checksum_path(path), checksum_path(prev)
    digest = _read_checksum(path)
    prev_side.unlink(missing_ok=True)
    tmp = prev.with_name(f".{prev.name}.link")
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)
    except OSError:  # no hard links on this filesystem
        os.replace(path, prev)
        side.unlink(missing_ok=True)
    else:
        os.replace(tmp, prev)
    if digest:  # the checksum file names the file it belongs to (``sha256sum -c`` reads the name)
        tmp_side = prev_side.with_name(f".{prev_side.name}.new")
        with _synced_file(tmp_side) as fh:
            fh.write(f"{digest}  {prev.name}\n".encode())
        os.replace(tmp_side, prev_side)


def save_checkpoint(
    path: str | os.PathLike, state: dict[str, Any], *, previous: str | os.PathLike | None = None
) -> Path:
    """Write ``state`` to ``path`` with a ``.sha256`` beside it, atomically; return the path.

    The dictionary is tagged with a format marker (so :func:`load_checkpoint` can tell a snnkit checkpoint
    from any other file) and checked with :func:`check_weights_only_safe` first: unsafe state raises
    :class:`CheckpointError` and nothing on disk changes. With ``previous``, the checkpoint being replaced
    (if any) is kept there, with its checksum.
    """
    path = Path(path)
    if not isinstance(state, dict):
        raise CheckpointError(
            f"cannot save checkpoint {path}: state must be a dict, got {type(state).__name__}"
        )
    payload = {FORMAT_KEY: FORMAT_VERSION, **state}
    try:
        check_weights_only_safe(payload)
    except CheckpointError as exc:
        raise CheckpointError(
            f"refusing to write checkpoint {path} (the previous one is left untouched): {exc}"
        ) from None
    side = checksum_path(path)
    tmp_file = path.with_name(f".{path.name}.new")
    tmp_side = side.with_name(f".{side.name}.new")
    try:
        with _synced_file(tmp_file) as fh:
            writer = _HashingWriter(fh)
            torch.save(payload, writer)
        digest = writer.sha.hexdigest()
        with _synced_file(tmp_side) as fh:
            fh.write(f"{digest}  {path.name}\n".encode())
        if previous is not None and path.exists():
            _keep_as_previous(path, Path(previous))
        # a moment without a checksum (loaded unverified) rather than one with a wrong checksum
        old_sum = side.read_bytes() if side.exists() else None
        side.unlink(missing_ok=True)
        try:
            os.replace(tmp_file, path)
        except BaseException:
            if old_sum is not None and path.exists():  # the old file stays in place, so does its checksum
                side.write_bytes(old_sum)
            raise
        os.replace(tmp_side, side)
    except BaseException:
        tmp_file.unlink(missing_ok=True)
        tmp_side.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    log.debug("saved checkpoint %s (%d bytes, sha256 %s)", path, writer.size, digest[:12])
    return path


@contextlib.contextmanager
def _synced_file(path: Path) -> Iterator[Any]:
    """``path`` opened for writing (created or truncated); flushed and fsynced when the block ends.

    :func:`save_checkpoint`'s temporary names are fixed (``.<name>.new``), so what a killed save left
    there is overwritten by the next save instead of piling up beside the checkpoints.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``torch.load(weights_only=True)``.

    When ``<path>.sha256`` exists the file's checksum must match it. Raises :class:`CheckpointError`
    naming the file when it is missing, fails its checksum, is truncated, corrupted, holds objects that
    are unsafe to unpickle, or is not a snnkit checkpoint. The file is never modified.
    """
    path = Path(path)
    advice = "delete it (or move it away) to start that run from scratch, or restore it from a backup"
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; check the path or the run's ckpt_dir")
    expected = _read_checksum(path)
    if expected is not None:
        actual = file_digest(path)
        if actual != expected:
            raise CheckpointError(
                f"checkpoint {path} is corrupted: its SHA-256 {actual[:16]}… does not match "
                f"{checksum_path(path).name} ({expected[:16] or 'empty'}…); {advice}"
            )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # RuntimeError, EOFError, UnpicklingError, zipfile errors, ...
        raise CheckpointError(
            f"checkpoint {path} is truncated, corrupted or holds unsafe objects and cannot be loaded "
            f"({type(exc).__name__}: {exc}); {advice}"
        ) from exc
    if not isinstance(state, dict) or state.get(FORMAT_KEY) != FORMAT_VERSION:
        found = state.get(FORMAT_KEY) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"checkpoint {path} is not a snnkit checkpoint (format marker {found!r}, expected "
            f"{FORMAT_VERSION}); {advice}"
        )
    state = dict(state)
    del state[FORMAT_KEY]
    return state


def load_latest(
    paths: Sequence[str | os.PathLike], map_location: str | torch.device = "cpu"
) -> tuple[dict[str, Any], Path, bool] | None:
    """Load the first valid checkpoint of ``paths`` (newest first, e.g. ``[last.pt, prev.pt]``).

    Returns ``(state, path, fallback)`` — ``fallback`` is True when a newer file was skipped because it
    was corrupt (a WARNING says which) — or None when none of the files exists. When files exist but
    none is valid: :class:`CheckpointError` listing each file's problem and how to start over.
    """
    problems: list[str] = []
    for path in map(Path, paths):
        if not path.exists():
            continue
        try:
            state = load_checkpoint(path, map_location=map_location)
        except CheckpointError as exc:
            log.warning("%s; trying the previous checkpoint", exc)
            problems.append(_short_problem(path, exc))
            continue
        if problems:
            log.warning("checkpoint fallback: resuming from the previous checkpoint %s", path)
        return state, path, bool(problems)
    if not problems:
        return None
    folder = Path(paths[0]).parent
    raise CheckpointError(  # what to do first: a one-line summary that is cut keeps it
        "no valid checkpoint is left: re-run with --force (snnkit.reproduce) or delete the checkpoints "
        f"folder {folder} to start over ({'; '.join(problems)})"
    )


def _short_problem(path: Path, exc: CheckpointError, limit: int = 100) -> str:
    """``<file name> <what is wrong>`` of a :func:`load_checkpoint` error: its first clause, without the
    path, the per-file advice or a library's long message, of which only the type is kept (the WARNING
    logged has it all)."""
    text = str(exc).removeprefix(f"checkpoint {path} ").split("\n")[0].split("; ")[0]
    if exc.__cause__ is not None:
        text = f"{text.split(' (')[0]} ({type(exc.__cause__).__name__})"
    return f"{path.name} " + (text if len(text) <= limit else text[: limit - 1] + "…")


# ----------------------------------------------------------------------------------------------- RNG
def get_rng_state() -> dict[str, Any]:
    """Capture the Python, NumPy, torch-CPU and (if present) CUDA generators as weights_only-safe data."""
    py_version, py_internal, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {
            "version": int(py_version),
            "internal": torch.tensor(py_internal, dtype=torch.int64),
            "gauss_next": py_gauss,
        },
        "numpy": {
            "name": str(np_name),
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64).copy()),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators captured by :func:`get_rng_state`."""
    try:
        py = state["python"]
        random.setstate((py["version"], tuple(int(v) for v in py["internal"].tolist()), py["gauss_next"]))
        nps = state["numpy"]
        np.random.set_state(
            (
                nps["name"],
                nps["keys"].numpy().astype(np.uint32),
                nps["pos"],
                nps["has_gauss"],
                nps["cached_gaussian"],
            )
        )
        torch.set_rng_state(state["torch"].cpu())
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(
            f"the checkpoint's RNG state is malformed ({exc}); it cannot be resumed"
        ) from exc
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available():  # pragma: no cover - no GPU in CI
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        else:
            log.warning(
                "checkpoint has CUDA RNG states for %d devices but %d are visible; CUDA RNG not restored",
                len(cuda),
                torch.cuda.device_count(),
            )


# -------------------------------------------------------------------------------------------- .DONE
def mark_done(directory: str | os.PathLike, params_hash: str) -> Path:
    """Write the ``.DONE`` marker (holding ``params_hash``) into ``directory`` atomically."""
    path = Path(directory) / DONE_NAME
    atomic_write_text(path, f"{params_hash}\n")
    return path


def read_done(directory: str | os.PathLike) -> str | None:
    """The hash stored in ``directory/.DONE``, or None when there is no marker."""
    path = Path(directory) / DONE_NAME
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


def is_done(directory: str | os.PathLike, params_hash: str) -> bool:
    """True when ``directory`` holds a ``.DONE`` marker written for exactly ``params_hash``."""
    return read_done(directory) == str(params_hash)
