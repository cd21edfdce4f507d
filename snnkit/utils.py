"""Small runtime helpers shared by every sub-package: seeding, device choice, atomic file writes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnkit.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = [
    "read_json_object",
    "seed_everything",
    "resolve_device",
    "atomic_write",
    "atomic_write_text",
    "params_hash",
    "file_digest",
]

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps", "directml")

_UMASK = os.umask(0)
os.umask(_UMASK)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) from one integer.

    Returns a fresh ``torch.Generator`` seeded with ``seed`` for code that wants its own stream
    (data order, masks) without touching the global one.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError("seed", seed, "a non-negative integer")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():  # pragma: no cover - no GPU in CI
        torch.cuda.manual_seed_all(seed)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn a device name into a ``torch.device``.

    ``auto`` tries, in order: DirectML (if ``torch_directml`` is importable, as the G2GNet seed
    does), CUDA, Apple MPS, then the CPU. An explicit name that is unavailable is a ConfigError.
    """
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise ConfigError("device", device, f"one of {DEVICE_CHOICES} or a torch device string")
    name = device.lower()
    if name == "auto":
        with contextlib.suppress(ImportError):
            import torch_directml  # type: ignore[import-not-found]  # pragma: no cover

            return torch_directml.device()  # pragma: no cover
        if torch.cuda.is_available():  # pragma: no cover
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")  # pragma: no cover
        return torch.device("cpu")
    if name == "directml":
        try:
            import torch_directml  # type: ignore[import-not-found]  # pragma: no cover
        except ImportError as exc:
            raise ConfigError("device", device, "'auto' or 'cpu': torch_directml is not installed") from exc
        return torch_directml.device()  # pragma: no cover
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device", device, "'auto' or 'cpu': CUDA is not available on this machine")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device", device, "'auto' or 'cpu': MPS is not available on this machine")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ConfigError("device", device, f"one of {DEVICE_CHOICES}") from exc


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[Any]:
    """Open a temporary file beside ``path``; on success, fsync and rename it over ``path``.

    A crash mid-write leaves the previous file untouched and no partial file under ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give them the usual permissions
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_write(path, "w") as fh:
        fh.write(text)


def params_hash(params: dict[str, Any]) -> str:
    """A stable short hash of a parameter dictionary (key order does not matter)."""
    blob = json.dumps(params, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (read in 1 MiB blocks): dataset checksums, checkpoint verification."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_json_object(path: str | os.PathLike, *, warn: bool = False) -> dict[str, Any] | None:
    """The JSON object stored in ``path``; None when the file is missing, unreadable, not JSON or not an
    object (a run's provenance, metrics and progress files are read this way). ``warn`` logs why not."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        if warn:
            log.warning("cannot read %s: %s", path, exc)
        return None
    return value if isinstance(value, dict) else None
