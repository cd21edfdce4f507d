"""Atomic, ``weights_only``-loadable checkpoints, RNG-state capture and the ``.DONE`` marker.

A checkpoint is a plain dictionary of tensors, numbers, strings, lists, tuples and dicts — nothing that
needs pickle's arbitrary-object machinery — so it loads with ``torch.load(weights_only=True)``.
:func:`save_checkpoint` serialises the state in memory, checks that it loads back under
``weights_only=True`` and only then writes it atomically (temporary file, fsync, rename): a failure at
any point leaves the previous checkpoint untouched. :func:`load_checkpoint` turns every way a file can
be bad (missing, truncated, corrupted, not a snnkit checkpoint) into a :class:`CheckpointError` that
names the file and says what to do.
"""

from __future__ import annotations

import io
import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnkit.errors import CheckpointError
from snnkit.utils import atomic_write, atomic_write_text

log = logging.getLogger(__name__)

__all__ = [
    "FORMAT_KEY",
    "FORMAT_VERSION",
    "DONE_NAME",
    "save_checkpoint",
    "load_checkpoint",
    "get_rng_state",
    "set_rng_state",
    "mark_done",
    "is_done",
    "read_done",
]

FORMAT_KEY = "__snnkit_checkpoint__"
FORMAT_VERSION = 1
DONE_NAME = ".DONE"


def _serialise(state: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any], *, verify: bool = True) -> Path:
    """Write ``state`` to ``path`` atomically; return the path.

    The dictionary is tagged with a format marker (so :func:`load_checkpoint` can tell a snnkit
    checkpoint from any other file). With ``verify`` (the default) the serialised bytes are loaded
    back with ``weights_only=True`` before anything touches the disk: state that could not be loaded
    safely later raises :class:`CheckpointError` now, and the existing file at ``path`` is kept.
    """
    path = Path(path)
    if not isinstance(state, dict):
        raise CheckpointError(
            f"cannot save checkpoint {path}: state must be a dict, got {type(state).__name__}"
        )
    payload = {FORMAT_KEY: FORMAT_VERSION, **state}
    try:
        blob = _serialise(payload)
    except Exception as exc:  # pickling errors come in many types
        raise CheckpointError(
            f"cannot save checkpoint {path}: the state is not serialisable ({exc}); "
            "checkpoint state may hold only tensors, numbers, strings, lists, tuples and dicts"
        ) from exc
    if verify:
        try:
            torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CheckpointError(
                f"refusing to write checkpoint {path}: it would not load with weights_only=True ({exc}). "
                "Convert the offending entry (e.g. a callback's state_dict) to tensors, numbers, strings, "
                "lists or dicts; the previous checkpoint was left untouched"
            ) from exc
    with atomic_write(path, "wb") as fh:
        fh.write(blob)
    log.debug("saved checkpoint %s (%d bytes)", path, len(blob))
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``torch.load(weights_only=True)``.

    Raises :class:`CheckpointError` naming the file when it is missing, truncated, corrupted, holds
    objects that are unsafe to unpickle, or is not a snnkit checkpoint. The file is never modified.
    """
    path = Path(path)
    advice = "delete it (or move it away) to start that run from scratch, or restore it from a backup"
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; check the path or the run's ckpt_dir")
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
