"""Where dataset files come from.

An explicit ``data_root`` argument is the only place looked at: the files must be there (in the folder
itself or one of the dataset's usual sub-directories), or be downloaded into it; otherwise
:class:`~snnkit.errors.DataError` names that folder and what is missing in it. A run never reads other
data than the folder its record names.

Without ``data_root`` the first hit wins, in this order:

1. the ``$SNNKIT_DATA`` environment variable (a folder holding one sub-folder per dataset, or the files),
2. known system locations of the dataset (its :attr:`Source.system`: e.g. Debian's
   ``dataset-fashion-mnist`` package installs ``/usr/share/datasets/fashion-mnist/``),
3. the download cache (``$XDG_CACHE_HOME/snnkit/data``, default ``~/.cache/snnkit/data``),
4. a download from the dataset's official URL, verified against the published checksum and written
   atomically into ``data_root``, else ``$SNNKIT_DATA``, else the download cache.

Under each root directory the files are looked for in the root itself and in the dataset's usual
sub-directories (``fashion-mnist/``, ``FashionMNIST/raw/`` as torchvision lays it out, ...). All files of
one request must sit in the same directory. If every step fails, :class:`~snnkit.errors.DataError`
lists the files, every place searched, why the download failed, and where to put the files.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import tarfile
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from snnkit.errors import DataError
from snnkit.utils import atomic_write, file_digest

log = logging.getLogger(__name__)

__all__ = [
    "ENV_VAR",
    "Remote",
    "Source",
    "system_locations",
    "cache_dir",
    "download_url",
    "file_digest",
    "find_files",
]

ENV_VAR = "SNNKIT_DATA"

Downloader = Callable[[str, Path, str], None]


@dataclass(frozen=True)
class Remote:
    """One downloadable file: its name on disk, mirror URLs (tried in order) and published MD5."""

    filename: str
    urls: tuple[str, ...]
    md5: str
    extract: bool = False  # a tar.gz archive to unpack into the download directory


@dataclass(frozen=True)
class Source:
    """A dataset's on-disk identity: display name, usual sub-directories, system locations, official
    downloads, where to get it, and the SHA-256 of the official files' content.

    ``content_sha256`` maps a file name (without ``.gz``) to the SHA-256 of its content as the loader
    hashes it (IDX: the decoded array), so a recompressed copy of an official file still matches.
    """

    key: str
    title: str
    subdirs: tuple[str, ...]
    remotes: tuple[Remote, ...] = ()
    homepage: str = ""
    hint: str = ""  # extra advice for the DataError (e.g. a system package)
    system: tuple[Path, ...] = ()
    content_sha256: Mapping[str, str] = field(default_factory=dict, hash=False)


def mirrors(bases: Sequence[str], name: str) -> tuple[str, ...]:
    """``name`` under each base URL (mirrors are tried in order)."""
    return tuple(base.rstrip("/") + "/" + name for base in bases)


def system_locations(source: Source) -> tuple[Path, ...]:
    """Where ``source``'s files may be installed system-wide (tests replace this to ignore them)."""
    return source.system


def cache_dir() -> Path:
    """The download cache: ``$XDG_CACHE_HOME/snnkit/data`` (default ``~/.cache/snnkit/data``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "snnkit" / "data"


def download_url(url: str, dest: Path, md5: str, *, timeout: float = 60.0) -> None:
    """Download ``url`` to ``dest`` atomically and check its MD5; raise DataError on any failure.

    The file appears under ``dest`` only when complete and verified; a failed download leaves
    nothing behind.
    """
    log.info("downloading %s -> %s", url, dest)
    h = hashlib.md5(usedforsecurity=False)
    try:
        with atomic_write(dest, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            for block in iter(lambda: resp.read(1 << 20), b""):
                h.update(block)
                out.write(block)
            if h.hexdigest() != md5:
                raise DataError(f"checksum mismatch for {url}: md5 {h.hexdigest()}, expected {md5}")
    except DataError:
        raise
    except Exception as exc:  # network, HTTP, disk: one error type for the caller
        raise DataError(f"download of {url} failed: {type(exc).__name__}: {exc}") from exc


def _safe_extract(archive: Path, into: Path) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            if sys.version_info >= (3, 11, 4) or hasattr(tarfile, "data_filter"):
                tar.extractall(into, filter="data")
            else:  # pragma: no cover - old Python: refuse members escaping the target
                root = into.resolve()
                for member in tar.getmembers():
                    target = (into / member.name).resolve()
                    if root not in target.parents and target != root:
                        raise DataError(f"{archive}: archive member {member.name!r} escapes {into}")
                tar.extractall(into)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"cannot unpack {archive}: {exc}") from exc


Alternatives = str | Sequence[str]


def _alts(item: Alternatives) -> tuple[str, ...]:
    return (item,) if isinstance(item, str) else tuple(item)


def _find_in(directory: Path, wanted: Sequence[tuple[str, ...]]) -> list[Path] | None:
    found: list[Path] = []
    for alternatives in wanted:
        hit = next((directory / a for a in alternatives if (directory / a).is_file()), None)
        if hit is None:
            return None
        found.append(hit)
    return found


def _search(spec: Source, directory: Path, wanted: Sequence[tuple[str, ...]], why: str) -> list[Path] | None:
    """:func:`_find_in`, saying at INFO which folder is used and why."""
    hit = _find_in(directory, wanted)
    if hit is not None:
        log.info("%s: using %s (%s)", spec.title, directory, why)
    return hit


def _candidates(root: Path, source: Source) -> list[Path]:
    return [root, *(root / sub for sub in source.subdirs)]


def find_files(
    source: Source | str,
    files: Sequence[Alternatives],
    *,
    data_root: str | os.PathLike | None = None,
    download: bool = True,
    downloader: Downloader | None = None,
    what: str = "",
) -> list[Path]:
    """Resolve ``files`` of ``source`` (a Source, or a registered dataset's name) to paths in one directory
    (see the module docstring).

    ``files``: one entry per needed file, each a name or a tuple of alternative names (e.g. the
    ``.gz`` and the uncompressed IDX file), relative to the dataset directory. ``downloader`` replaces
    :func:`download_url` (tests inject one; they never touch the network).
    """
    if isinstance(source, str):
        from snnkit.data.registry import dataset_spec

        spec = dataset_spec(source).files
        if spec is None:
            raise DataError(f"dataset {source!r} is shipped with snnkit and has no files to find")
    else:
        spec = source
    wanted = [_alts(f) for f in files]
    searched: list[tuple[Path, str]] = []

    if data_root is not None:
        return _find_in_explicit_root(spec, wanted, Path(data_root).expanduser(), download, downloader, what)

    env_root = os.environ.get(ENV_VAR) or None
    env = Path(env_root).expanduser() if env_root else None
    cache = cache_dir()
    # a system location is the dataset's folder itself; the other roots may hold it in a sub-directory
    places = [(d, f"${ENV_VAR}") for d in _candidates(env, spec)] if env is not None else []
    places += [(d, "system location") for d in system_locations(spec)]
    places += [(d, "download cache") for d in _candidates(cache, spec)]
    for directory, why in places:
        searched.append((directory, why))
        if (hit := _search(spec, directory, wanted, why)) is not None:
            return hit

    target = (env or cache) / spec.subdirs[0]
    hit, failure = _try_download(spec, wanted, target, download, downloader)
    if hit is not None:
        return hit
    raise DataError(_not_found_message(spec, wanted, searched, failure, env is not None, what))


def _try_download(
    spec: Source, wanted: Sequence[tuple[str, ...]], target: Path, download: bool, downloader: Downloader | None
) -> tuple[list[Path] | None, str]:
    """Download into ``target``: (the files, "") on success, else (None, why not)."""
    if not download:
        return None, "download disabled (download=False)"
    if not spec.remotes:
        return None, "no official download URL is known"
    try:
        _download_into(spec, wanted, target, downloader or download_url)
    except DataError as exc:
        return None, str(exc)
    hit = _find_in(target, wanted)
    return hit, "" if hit is not None else f"downloaded into {target}, but the expected files are not there"


def _find_in_explicit_root(
    spec: Source,
    wanted: Sequence[tuple[str, ...]],
    root: Path,
    download: bool,
    downloader: Downloader | None,
    what: str,
) -> list[Path]:
    """The files under an explicit ``data_root``, downloaded into it if allowed; else a DataError naming it."""
    for directory in _candidates(root, spec):
        if (hit := _search(spec, directory, wanted, "data_root argument")) is not None:
            return hit
    problem = _what_is_missing(root, spec, wanted)
    hit, failure = _try_download(spec, wanted, root / spec.subdirs[0], download, downloader)
    if hit is not None:
        return hit
    label = f"{spec.title} {what}".strip()
    where = spec.subdirs[0]
    lines = [
        f"{label}: data_root={str(root)!r} {problem}",
        f"Download: {failure}.",
        f"To fix: put the files in {root} (or {root / where}), pass the folder that holds them as "
        f"data_root, or pass data_root=None to use ${ENV_VAR}, the system copy or the download cache.",
    ]
    raise DataError("\n".join(lines + _advice(spec)))


def _what_is_missing(root: Path, spec: Source, wanted: Sequence[tuple[str, ...]]) -> str:
    """Why ``root`` does not serve ``wanted``: it does not exist, holds none of them, or which are missing."""
    names = ", ".join(" or ".join(alternatives) for alternatives in wanted)
    if not root.is_dir():
        return f"does not exist (misspelt?); it should hold {names}"
    best: tuple[int, Path, list[str]] | None = None
    for directory in _candidates(root, spec):
        if not directory.is_dir():
            continue
        present = [any((directory / a).is_file() for a in alternatives) for alternatives in wanted]
        missing = [alternatives[0] for alternatives, ok in zip(wanted, present) if not ok]
        if any(present) and (best is None or sum(present) > best[0]):
            best = (sum(present), directory, missing)
    if best is None:
        subdirs = ", ".join(f"{sub}/" for sub in spec.subdirs)
        return f"holds none of {names} (looked in it and in {subdirs})"
    _, directory, missing = best
    return f"is incomplete: {directory} is missing {', '.join(missing)}"


def _download_into(
    spec: Source, wanted: Sequence[tuple[str, ...]], target: Path, downloader: Downloader
) -> None:
    archives = [r for r in spec.remotes if r.extract]
    if archives:
        remotes = archives
    else:
        names = {a for alternatives in wanted for a in alternatives}
        remotes = [r for r in spec.remotes if r.filename in names]
        missing = [alternatives for alternatives in wanted if not names.intersection(alternatives)]
        if not remotes or missing:
            raise DataError(f"no official download for {[a[0] for a in wanted]}")
    target.mkdir(parents=True, exist_ok=True)
    for remote in remotes:
        dest = target / remote.filename
        if not dest.is_file():
            errors = []
            for url in remote.urls:
                try:
                    downloader(url, dest, remote.md5)
                    got = file_digest(dest, "md5")
                    if got != remote.md5:
                        raise DataError(f"checksum mismatch for {url}: md5 {got}, expected {remote.md5}")
                    break
                except (DataError, OSError) as exc:
                    errors.append(str(exc))
                    with contextlib.suppress(FileNotFoundError):
                        dest.unlink()
            else:
                raise DataError("; ".join(errors))
        if remote.extract:
            _safe_extract(dest, target)


def _not_found_message(
    spec: Source,
    wanted: Sequence[tuple[str, ...]],
    searched: Sequence[tuple[Path, str]],
    failure: str,
    env_set: bool,
    what: str,
) -> str:
    label = f"{spec.title} {what}".strip()
    names = ", ".join(" or ".join(alternatives) for alternatives in wanted)
    lines = [f"{label}: dataset files not found. Looked for: {names}", "in:"]
    lines += [f"  - {directory} ({why})" for directory, why in searched]
    if not env_set:
        lines.append(f"  (${ENV_VAR} is not set)")
    lines.append(f"Download: {failure}.")
    where = spec.subdirs[0]
    lines.append(
        f"To fix: put the files in a directory D (or D/{where}/) and pass data_root=D, or set "
        f"{ENV_VAR}=D; or allow a download on a machine with internet."
    )
    return "\n".join(lines + _advice(spec))


def _advice(spec: Source) -> list[str]:
    """The closing lines of a not-found message: the dataset's own hint and its official source."""
    return [spec.hint] * bool(spec.hint) + [f"Official source: {spec.homepage}"] * bool(spec.homepage)
