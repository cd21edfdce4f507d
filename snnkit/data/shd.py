"""Spiking Heidelberg Digits (SHD) and Spiking Speech Commands (SSC): HDF5 reader, registry entries
``shd`` / ``ssc``, and the SPSN authors' random time × channel affine augmentation.

Data: Cramer, Stradmann, Schemmel & Zenke, "The Heidelberg Spiking Data Sets for the Systematic
Evaluation of Spiking Neural Networks", IEEE TNNLS 2020 (https://zenkelab.org/resources/
spiking-heidelberg-datasets-shd/). SHD: spoken digits 0-9 in English and German, 20 classes, 8156 train
/ 2264 test samples; SSC: Speech Commands v0.2, 35 classes, train / valid / test. Both are spikes of a
cochlea model over 700 channels.

**File schema** (one HDF5 file per split, ``shd_{train,test}.h5``, ``ssc_{train,valid,test}.h5``):

- ``spikes/times``: 1-D dataset of variable-length floating-point arrays, spike times in **seconds**;
- ``spikes/units``: 1-D dataset of variable-length integer arrays, channel of each spike, ``0..699``;
- ``labels``: 1-D integer dataset, the class of each sample (SHD: 0-9 English digits, 10-19 German);
- ``extra/`` (optional, not needed for training): ``speaker`` (per sample), ``keys`` (class names),
  ``meta_info/...``. ``extra/speaker`` is kept as :attr:`ShdDataset.speakers`, ``extra/keys`` in ``meta``.
- **Stand-in marker** (snnkit's own): a root attribute ``SNNKIT_STAND_IN`` (:data:`STAND_IN_ATTR`) holding
  a non-empty UTF-8 string that says what the data is instead (first line shown in ``source``). A file
  named ``SNNKIT_STAND_IN`` beside the HDF5 file counts as well (as for the other datasets). Files
  carrying either are read with ``stand_in=True``. :func:`write_shd_file` (``stand_in="..."``) writes it.

A file found as ``NAME.h5.gz`` or ``NAME.h5.zip`` (the official distribution) is decompressed once into
``NAME.h5`` beside it (into memory when that folder is read-only); archives whose MD5 is known
(:data:`ARCHIVE_MD5`) are checked first. Any problem (not HDF5, truncated, a missing field, a wrong
dtype, unequal counts, a unit outside ``[0, 700)``, a negative or non-finite time, a label outside the
classes) is a :class:`~snnkit.errors.DataError` naming the file, the field and the sample.

**Binning**: sample ``i`` is :func:`~snnkit.data.sequences.bin_events` of its events with bin ``dt``:
step ``floor(t / dt)``, ``T_i`` = last event's step + 1 (the seed digitises with ``np.digitize(t/dt, …,
right=True)``, i.e. ``ceil``: its steps are one later for events off the grid; nothing else differs).
``max_time`` drops events at ``t >= max_time``; ``pool`` sums groups of ``pool`` neighbouring channels
(``unit // pool``; 700 must be divisible by it: :data:`POOL_FACTORS`). Batch with
``functools.partial(pad_collate, pad="start")`` for the seed's placement (zeros before each sample, so the
last step is every utterance's end).

**Augmentation** (:func:`random_affine`, a Trainer ``transform``): the seed applies torchvision's
``RandomAffine(degrees=0, translate=(h_shift, 0), scale=(1 - scale, 1 + scale))`` to each training
sample's dense ``[T_i, 700]`` image (nearest neighbour, zero fill) before padding; here the same map
runs on the padded batch, each sample over its own real window (found from ``lengths`` and ``pad``), so
lengths stay exactly as they were (as in the seed) and the draw comes from the Trainer's seeded generator.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import Tensor

from snnkit.data import root as _root
from snnkit.data.images import STAND_IN_MARKER, stand_in_note
from snnkit.data.registry import DatasetSpec, register_dataset
from snnkit.data.root import Remote, Source, mirrors
from snnkit.data.sequences import PADS, EventSequenceDataset
from snnkit.errors import ConfigError, DataError, check_positive_int, check_positive_number

log = logging.getLogger(__name__)

__all__ = [
    "ARCHIVE_MD5",
    "LANGUAGES",
    "N_CHANNELS",
    "POOL_FACTORS",
    "SHD",
    "SHD_CLASSES",
    "SHD_LANGUAGES",
    "SSC",
    "STAND_IN_ATTR",
    "ShdDataset",
    "ShdFile",
    "affine_time_channel",
    "load_shd_files",
    "random_affine",
    "read_shd_file",
    "shd_dataset",
    "write_shd_file",
]

#: Input channels of the cochlea model (SHD and SSC).
N_CHANNELS = 700
#: The allowed channel pooling factors: the divisors of 700.
POOL_FACTORS = tuple(k for k in range(1, N_CHANNELS + 1) if N_CHANNELS % k == 0)
#: Root attribute of an HDF5 file marking it as a stand-in (value: what the data is instead).
STAND_IN_ATTR = STAND_IN_MARKER
#: SHD class names: labels 0-9 are the English digits, 10-19 the German ones (Cramer et al. 2020).
SHD_CLASSES = tuple(f"en-{d}" for d in range(10)) + tuple(f"de-{d}" for d in range(10))
SHD_LANGUAGES = ("en",) * 10 + ("de",) * 10
LANGUAGES = {"en": "English", "de": "German"}

# The archives on the Zenke lab server (zenkelab.org; compneuro.net is the lab's former host of the
# same files). The .zip MD5s are those that Tonic (tonic.datasets.hsd) and SpikingJelly
# (spikingjelly.datasets.shd) ship; the SHD .gz MD5s are those of the lab's md5sums.txt as quoted by
# several independent loaders. No MD5 of ssc_{train,test}.h5.gz was found, so the download uses the
# .zip archives, whose MD5s are all known.
ARCHIVE_MD5 = {
    "shd_train.h5.zip": "f3252aeb598ac776c1b526422d90eecb",
    "shd_test.h5.zip": "1503a5064faa34311c398fb0a1ed0a6f",
    "ssc_train.h5.zip": "d102be95e7144fcc0553d1f45ba94170",
    "ssc_valid.h5.zip": "b4eee3516a4a90dd0c71a6ac23a8ae43",
    "ssc_test.h5.zip": "a35ff1e9cffdd02a20eb850c17c37748",
    "shd_train.h5.gz": "d47c9825dee33347913e8ce0f2be08b0",
    "shd_test.h5.gz": "3062a80ec0c5719404d5b02e166543b1",
}
_BASES = ("https://zenkelab.org/datasets/", "https://compneuro.net/datasets/")
_HOME = "https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/"


def _zip_remotes(key: str, splits: Sequence[str]) -> tuple[Remote, ...]:
    names = [f"{key}_{split}.h5.zip" for split in splits]
    return tuple(Remote(name, mirrors(_BASES, name), ARCHIVE_MD5[name]) for name in names)


SHD = Source(
    key="shd",
    title="Spiking Heidelberg Digits",
    subdirs=("shd", "SHD", "hsd"),
    remotes=_zip_remotes("shd", ("train", "test")),
    homepage=_HOME,
    hint="Files: shd_train.h5 and shd_test.h5 (or the official .h5.gz / .h5.zip archives).",
)
SSC = Source(
    key="ssc",
    title="Spiking Speech Commands",
    subdirs=("ssc", "SSC", "hsd"),
    remotes=_zip_remotes("ssc", ("train", "valid", "test")),
    homepage=_HOME,
    hint="Files: ssc_train.h5, ssc_valid.h5 and ssc_test.h5 (or the official .h5.gz / .h5.zip archives).",
)

# ------------------------------------------------------------------------------------------ reading


@dataclass
class ShdFile:
    """The validated content of one SHD-schema file (what :func:`read_shd_file` returns).

    ``times[i]`` float64 seconds and ``units[i]`` int64 channels of sample ``i``; ``labels`` int64 ``[N]``;
    ``keys``: the class names of ``extra/keys`` (or None); ``speakers``: ``extra/speaker`` int64 ``[N]``
    (or None); ``stand_in``: the marker's text (or None for real data); ``sha256`` of the file read.
    """

    path: Path
    times: list[np.ndarray]
    units: list[np.ndarray]
    labels: np.ndarray
    keys: tuple[str, ...] | None = None
    speakers: np.ndarray | None = None
    stand_in: str | None = None
    sha256: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)


def _bad(path: Path, key: str, problem: str) -> DataError:
    return DataError(f"{path}: field {key!r} {problem}")


def _dataset(f: h5py.File, key: str, path: Path) -> h5py.Dataset:
    try:
        obj = f.get(key)
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise _bad(path, key, f"cannot be read ({exc}); the file is damaged or truncated") from exc
    if obj is None:
        raise _bad(path, key, "is missing: an SHD/SSC file holds spikes/times, spikes/units and labels")
    if not isinstance(obj, h5py.Dataset) or obj.ndim != 1:
        raise _bad(path, key, f"must be a 1-D dataset (one entry per sample), got {obj!r}")
    return obj


def _read(ds: h5py.Dataset, key: str, path: Path) -> np.ndarray:
    try:
        return ds[()]
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise _bad(path, key, f"cannot be read ({type(exc).__name__}: {exc}); the file is damaged or "
                   "truncated — download it again") from exc


def _vlen(ds: h5py.Dataset, key: str, path: Path, kinds: str, what: str) -> list[np.ndarray]:
    base = h5py.check_vlen_dtype(ds.dtype)
    if base is None or base.kind not in kinds:
        raise _bad(path, key, f"must hold variable-length {what} arrays, got dtype {ds.dtype} "
                   f"(element dtype {base})")
    return list(_read(ds, key, path))


def _first_bad_sample(mask: np.ndarray, counts: np.ndarray) -> tuple[int, int] | None:
    """(sample index, position in the concatenation) of the first True of ``mask``, or None."""
    hits = np.flatnonzero(mask)
    if not len(hits):
        return None
    sample = int(np.searchsorted(np.cumsum(counts), hits[0], side="right"))
    return sample, int(hits[0])


def _strings(values: np.ndarray) -> tuple[str, ...]:
    return tuple(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values)


def _optional_extra(f: h5py.File, path: Path, n: int) -> tuple[tuple[str, ...] | None, np.ndarray | None]:
    keys = speakers = None
    try:
        if isinstance(f.get("extra/keys"), h5py.Dataset):
            keys = _strings(np.asarray(f["extra/keys"][()]).reshape(-1))
        spk = f.get("extra/speaker")
        if isinstance(spk, h5py.Dataset) and spk.dtype.kind in "ui" and spk.shape == (n,):
            speakers = np.asarray(spk[()], dtype=np.int64)
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        log.warning("%s: optional field extra/ not readable (%s); ignored", path, exc)
    return keys, speakers


def read_shd_file(path: str | os.PathLike, *, n_channels: int = N_CHANNELS, n_classes: int | None = None) -> ShdFile:
    """Read and validate one HDF5 file of the SHD/SSC schema (see the module docstring).

    ``n_channels``: units must lie in ``[0, n_channels)``; ``n_classes``: when given, labels must lie in
    ``[0, n_classes)``. ``path`` may be a ``.h5.gz`` / ``.h5.zip`` archive (decompressed beside it).
    Every problem is a DataError naming the file, the field and (where it applies) the sample index.
    """
    path = Path(path)
    n_channels = check_positive_int("n_channels", n_channels, where="read_shd_file")
    n_classes = check_positive_int("n_classes", n_classes, allow_none=True, where="read_shd_file")
    h5 = _plain_hdf5(path)
    try:
        f = h5py.File(h5, "r")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable HDF5 file ({exc}); it is truncated, damaged or not an "
                        "SHD/SSC file — download it again") from exc
    with f:
        times = _vlen(_dataset(f, "spikes/times", path), "spikes/times", path, "f", "floating-point")
        units = _vlen(_dataset(f, "spikes/units", path), "spikes/units", path, "ui", "integer")
        lab = _dataset(f, "labels", path)
        if lab.dtype.kind not in "ui":
            raise _bad(path, "labels", f"must be integers, got dtype {lab.dtype}")
        labels = np.asarray(_read(lab, "labels", path), dtype=np.int64)
        keys, speakers = _optional_extra(f, path, len(labels))
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
    _check_counts(path, times, units, labels)
    times, units = _check_events(path, times, units, n_channels)
    if n_classes is not None:
        bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
        if len(bad):
            raise _bad(path, "labels", f"sample {bad[0]} has label {labels[bad[0]]}, outside [0, {n_classes})")
    note = attrs.get(STAND_IN_ATTR)
    if note is not None:
        lines = str(note).strip().splitlines()
        note = lines[0] if lines else "stand-in data"
    else:
        note = stand_in_note(path.parent)
    digest = _root.file_digest(h5) if isinstance(h5, Path) else hashlib.sha256(h5.getvalue()).hexdigest()
    return ShdFile(path, times, units, labels, keys, speakers, note, digest, attrs)


def _attr(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value.item() if isinstance(value, np.generic) else value


def _check_counts(path: Path, times: list, units: list, labels: np.ndarray) -> None:
    if not len(times) == len(units) == len(labels):
        raise _bad(path, "spikes/units", f"has {len(units)} samples but spikes/times has {len(times)} and "
                   f"labels {len(labels)}; the three must have one entry per sample")


def _check_events(
    path: Path, times: list[np.ndarray], units: list[np.ndarray], n_channels: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-sample checks, vectorised over the concatenation; return float64 times and int64 units."""
    counts_t = np.fromiter((len(t) for t in times), dtype=np.int64, count=len(times))
    counts_u = np.fromiter((len(u) for u in units), dtype=np.int64, count=len(units))
    if len(mismatch := np.flatnonzero(counts_t != counts_u)):
        i = int(mismatch[0])
        raise _bad(path, "spikes/units", f"sample {i} has {counts_u[i]} units but spikes/times has "
                   f"{counts_t[i]} times; they must pair up")
    all_t = np.concatenate(times).astype(np.float64) if len(times) else np.zeros(0)
    all_u = np.concatenate(units).astype(np.int64) if len(units) else np.zeros(0, dtype=np.int64)
    if (bad := _first_bad_sample(~(np.isfinite(all_t) & (all_t >= 0)), counts_t)) is not None:
        raise _bad(path, "spikes/times", f"sample {bad[0]} has time {float(all_t[bad[1]])}; spike times must be "
                   "finite and >= 0 s")
    if (bad := _first_bad_sample((all_u < 0) | (all_u >= n_channels), counts_u)) is not None:
        raise _bad(path, "spikes/units", f"sample {bad[0]} has unit {all_u[bad[1]]}, outside "
                   f"[0, {n_channels})")
    if not len(times):
        return [], []
    cuts = np.cumsum(counts_t)[:-1]
    return np.split(all_t, cuts), np.split(all_u, cuts)


# --------------------------------------------------------------------------------------- archives


def _check_archive(path: Path) -> None:
    expected = ARCHIVE_MD5.get(path.name)
    if expected is None:
        return
    got = _root.file_digest(path, "md5")
    if got != expected:
        raise DataError(f"{path}: md5 {got} does not match the official archive ({expected}); the "
                        "download is damaged — delete it and download again")


def _plain_hdf5(path: Path) -> Path | BytesIO:
    """``path`` itself, or the HDF5 file inside a ``.gz`` / ``.zip`` archive: decompressed once into
    ``NAME.h5`` beside it, or into memory when that folder is not writable."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix not in (".gz", ".zip"):
        return path
    target = path.with_suffix("")
    if target.is_file():
        return target
    _check_archive(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=path.parent)
    except OSError:
        buf = BytesIO()
        _decompress(path, buf)
        return buf
    try:
        with os.fdopen(fd, "wb") as out:
            _decompress(path, out)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    log.info("decompressed %s -> %s", path, target)
    return target


def _decompress(path: Path, out: Any) -> None:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
        else:
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if n.endswith(".h5")]
                if len(names) != 1:
                    raise DataError(f"{path}: expected one .h5 file in the archive, found {names}")
                with zf.open(names[0]) as src:
                    shutil.copyfileobj(src, out, 1 << 20)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a valid archive ({type(exc).__name__}: {exc}); download it again") from exc


# ---------------------------------------------------------------------------------------- datasets


class ShdDataset(EventSequenceDataset):
    """SHD/SSC samples kept as events and binned on access (``[T_i, n_channels]`` float32 counts).

    Beyond :class:`~snnkit.data.sequences.EventSequenceDataset` (``lengths``, ``n_channels``, ``dt``):
    ``languages`` (per class: "en" / "de"), ``speakers`` (int64 ``[N]`` or None) and ``meta`` (JSON-able:
    ``stand_in``, ``stand_in_note``, ``file``, ``dt``, ``max_time``, ``pool``, ``keys``, ...).
    """

    def __init__(
        self,
        *args: Any,
        languages: Sequence[str] = (),
        speakers: Tensor | None = None,
        meta: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        """``args`` / ``kwargs``: those of :class:`~snnkit.data.sequences.EventSequenceDataset`."""
        super().__init__(*args, **kwargs)
        self.languages = list(languages)
        self.speakers = speakers
        self.meta = dict(meta or {})

    def _init_kwargs(self) -> dict[str, Any]:
        return {**super()._init_kwargs(), "languages": self.languages, "meta": self.meta}

    def subset(self, indices: Tensor | Sequence[int], *, note: str = "") -> ShdDataset:
        out = super().subset(indices, note=note)
        if self.speakers is not None:
            out.speakers = self.speakers[torch.as_tensor(indices, dtype=torch.long)]
        return out

    def __repr__(self) -> str:
        tag = ", stand-in" if self.stand_in else ""
        return (f"ShdDataset({self.name!r}, n={len(self)}, channels={self.n_channels}, dt={self.dt}, "
                f"classes={self.num_classes}{tag})")


def _check_options(dt: Any, max_time: Any, pool: Any, where: str) -> tuple[float, float | None, int]:
    dt = check_positive_number("dt", dt, where=where)
    max_time = check_positive_number("max_time", max_time, allow_none=True, where=where)
    if isinstance(pool, bool) or not isinstance(pool, int) or pool not in POOL_FACTORS:
        raise ConfigError("pool", pool, f"a divisor of {N_CHANNELS}: one of {list(POOL_FACTORS)}", where=where)
    return dt, max_time, pool


def _class_names(data: ShdFile, n_classes: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if n_classes == len(SHD_CLASSES):
        return SHD_CLASSES, SHD_LANGUAGES
    if data.keys is not None and len(data.keys) == n_classes and len(set(data.keys)) == n_classes:
        return data.keys, ("en",) * n_classes
    return tuple(f"class-{i}" for i in range(n_classes)), ("en",) * n_classes


def shd_dataset(
    data: ShdFile | str | os.PathLike,
    *,
    name: str = "shd",
    n_classes: int = len(SHD_CLASSES),
    dt: float = 1e-3,
    max_time: float | None = None,
    pool: int = 1,
    title: str = "SHD",
) -> ShdDataset:
    """A :class:`ShdDataset` of one file (a path or what :func:`read_shd_file` returned).

    ``n_classes`` 20 gives SHD's names :data:`SHD_CLASSES` (keys of the file kept in ``meta["keys"]``);
    any other count takes the names of ``extra/keys`` when there are that many, else ``class-<i>``.
    ``dt`` bin width (s); ``max_time`` crop (s, events at ``t >= max_time`` dropped); ``pool`` channel
    pooling factor (a divisor of 700). ``title`` starts the ``source`` text.
    """
    where = f"shd_dataset({name!r})"
    dt, max_time, pool = _check_options(dt, max_time, pool, where)
    n_classes = check_positive_int("n_classes", n_classes, where=where)
    if not isinstance(data, ShdFile):
        data = read_shd_file(data, n_classes=n_classes)
    elif len(data.labels) and (data.labels.min() < 0 or data.labels.max() >= n_classes):
        raise _bad(data.path, "labels", f"span [{data.labels.min()}, {data.labels.max()}], outside "
                   f"[0, {n_classes})")
    events = []
    for t, u in zip(data.times, data.units):
        if max_time is not None:
            keep = t < max_time
            t, u = t[keep], u[keep]
        events.append((t, u // pool if pool > 1 else u))
    classes, languages = _class_names(data, n_classes)
    source = f"{title} ({len(events)} samples) from {data.path}"
    if data.stand_in is not None:
        source += f"; STAND-IN: {data.stand_in}"
    meta = {
        "stand_in": data.stand_in is not None,
        "stand_in_note": data.stand_in,
        "file": str(data.path),
        "dt": dt,
        "max_time": max_time,
        "pool": pool,
        "n_channels_file": N_CHANNELS,
        "n_events": int(sum(len(t) for t, _ in events)),
        "keys": list(data.keys) if data.keys is not None else None,
    }
    return ShdDataset(
        events,
        torch.from_numpy(data.labels),
        classes,
        name,
        languages=languages,
        speakers=torch.from_numpy(data.speakers) if data.speakers is not None else None,
        meta=meta,
        n_channels=N_CHANNELS // pool,
        dt=dt,
        stand_in=data.stand_in is not None,
        source=source,
        origin={"dir": str(data.path.parent), "files": {data.path.name: data.sha256}},
    )


def load_shd_files(
    *paths: str | os.PathLike,
    name: str = "shd",
    n_classes: int = len(SHD_CLASSES),
    dt: float = 1e-3,
    max_time: float | None = None,
    pool: int = 1,
) -> tuple[ShdDataset, ...]:
    """One :class:`ShdDataset` per file, in order (e.g. ``train, test = load_shd_files(tr, te)``), with the
    options of :func:`shd_dataset`: the entry point for files outside the registry (stand-ins)."""
    if not paths:
        raise ConfigError("paths", paths, "one or more SHD-schema HDF5 files", where="load_shd_files")
    return tuple(
        shd_dataset(p, name=name, n_classes=n_classes, dt=dt, max_time=max_time, pool=pool,
                    title=f"{name} {Path(p).name}")
        for p in paths
    )


def _load(
    spec: DatasetSpec,
    split: str,
    *,
    data_root: str | os.PathLike | None,
    download: bool,
    n_classes: int,
    dt: float = 1e-3,
    max_time: float | None = None,
    pool: int = 1,
) -> ShdDataset:
    """Registry loader of ``shd`` / ``ssc``: find (or download) ``<key>_<split>.h5`` and read it."""
    _check_options(dt, max_time, pool, spec.name)
    stem = f"{spec.files.key}_{split}.h5"
    (path,) = _root.find_files(spec.files, [(stem, stem + ".gz", stem + ".zip")], data_root=data_root,
                               download=download, what=split)
    data = read_shd_file(path, n_classes=n_classes)
    return shd_dataset(data, name=spec.name, n_classes=n_classes, dt=dt, max_time=max_time, pool=pool,
                       title=f"{spec.files.title} {split}")


# ------------------------------------------------------------------------------------------ writing


def write_shd_file(
    path: str | os.PathLike,
    times: Sequence[Any],
    units: Sequence[Any],
    labels: Sequence[int] | np.ndarray,
    *,
    keys: Sequence[str] | None = None,
    speakers: Sequence[int] | np.ndarray | None = None,
    stand_in: str | None = None,
    time_dtype: Any = np.float32,
    meta_info: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """Write samples in the official schema (times vlen ``time_dtype`` seconds, units vlen uint16, labels
    uint16, optional ``extra/keys``, ``extra/speaker`` and text lists ``extra/meta_info/<name>``) atomically;
    ``stand_in`` (non-empty text) sets the :data:`STAND_IN_ATTR` root attribute. Identical arguments give
    byte-identical files (oldest HDF5 format, no creation order or times). Read it back with
    :func:`read_shd_file`."""
    path = Path(path)
    if stand_in is not None and (not isinstance(stand_in, str) or not stand_in.strip()):
        raise ConfigError("stand_in", stand_in, "None or a non-empty text saying what the data is")
    if np.dtype(time_dtype).kind != "f":
        raise ConfigError("time_dtype", time_dtype, "a floating-point dtype (the official files: float16)")
    if not len(times) == len(units) == len(labels):
        raise ConfigError("times/units/labels", (len(times), len(units), len(labels)), "equal lengths")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w", libver="earliest", track_order=False) as f:
            vt = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.dtype(time_dtype)))
            vu = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.uint16))
            for i, (t, u) in enumerate(zip(times, units)):
                vt[i] = np.asarray(t, dtype=time_dtype)
                vu[i] = np.asarray(u, dtype=np.uint16)
            f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
            if keys is not None:
                f.create_dataset("extra/keys", data=list(keys), dtype=h5py.string_dtype())
            if speakers is not None:
                f.create_dataset("extra/speaker", data=np.asarray(speakers, dtype=np.uint16))
            for name, values in (meta_info or {}).items():
                if len(values):
                    f.create_dataset(f"extra/meta_info/{name}", data=list(values), dtype=h5py.string_dtype())
            if stand_in is not None:
                f.attrs[STAND_IN_ATTR] = stand_in
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


# ------------------------------------------------------------------------------------- augmentation


def affine_time_channel(x: Tensor, lengths: Tensor, shift: Tensor, scale: Tensor, pad: str = "end") -> Tensor:
    """The seed's affine map of each sample's ``[time × channel]`` image, on a padded batch (pure, no checks).

    ``x`` ``[T, B, C]``; sample ``b`` occupies its real window of ``lengths[b]`` steps (at the start of the
    batch with ``pad="end"``, at its end with ``pad="start"``). Output pixel ``(i, j)`` of the window takes
    input pixel ``(round((i - c_t) / s + c_t), round((j - c_c - shift) / s + c_c))`` with
    ``s = scale[b]``, ``c_t = (lengths[b] - 1) / 2`` and ``c_c = (C - 1) / 2`` (the inverse of scaling
    about the image centre, then translating by ``shift[b]`` channels), zero when that pixel lies outside
    the window — torchvision's ``affine`` with nearest interpolation and zero fill, as the seed applies it
    to each ``[T_i, 700]`` sample. Padded steps stay zero; ``shift`` 0 and ``scale`` 1 return ``x``.
    """
    T, B, C = x.shape
    dev = x.device
    f64 = torch.float64
    L = lengths.to(dev, f64)
    s = scale.to(dev, f64)
    offset = (T - L) if pad == "start" else torch.zeros_like(L)
    local = torch.arange(T, device=dev, dtype=f64)[:, None] - offset  # [T, B]
    c_t = (L - 1) / 2
    src_t = torch.round((local - c_t) / s + c_t)
    ok_t = (local >= 0) & (local < L) & (src_t >= 0) & (src_t < L)
    rows = torch.where(ok_t, src_t + offset, 0).long() * B + torch.arange(B, device=dev)  # flat [T, B]
    x_t = x.reshape(T * B, C).index_select(0, rows.view(-1)).view(T, B, C)
    chan = torch.arange(C, device=dev, dtype=f64)[None]  # [1, C]
    c_c = (C - 1) / 2
    src_c = torch.round((chan - c_c - shift.to(dev, f64)[:, None]) / s[:, None] + c_c)  # [B, C]
    ok_c = (src_c >= 0) & (src_c < C)
    cols = torch.where(ok_c, src_c, 0).long()
    out = torch.gather(x_t, 2, cols.unsqueeze(0).expand(T, B, C))
    out.masked_fill_(~ok_c.unsqueeze(0), 0)
    out.view(T * B, C)[~ok_t.view(-1)] = 0
    return out


def random_affine(
    inputs: tuple[Tensor, Tensor],
    generator: torch.Generator | None = None,
    *,
    h_shift: float = 0.1,
    scale: float = 0.3,
    pad: str = "start",
) -> tuple[Tensor, Tensor]:
    """The seed's training augmentation as a Trainer ``transform(inputs, generator)``.

    ``inputs`` = ``(x [T, B, C], lengths [B])`` from :func:`~snnkit.data.sequences.pad_collate` with the
    same ``pad``. Per sample (torchvision ``RandomAffine(degrees=0, translate=(h_shift, 0),
    scale=(1 - scale, 1 + scale))``): a channel shift ``round(U(-h_shift·C, h_shift·C))`` and one factor
    ``U(1 - scale, 1 + scale)`` on both axes, applied by :func:`affine_time_channel`. Drawn from
    ``generator`` (the Trainer's, seeded by (seed, step)), so the augmentation is reproducible and part of an
    exact resume; ``lengths`` are returned unchanged. Use ``functools.partial(random_affine, h_shift=0.05,
    scale=0.15)`` for ParaLIF's settings.
    """
    if not (isinstance(h_shift, (int, float)) and not isinstance(h_shift, bool) and 0 <= h_shift <= 1):
        raise ConfigError("h_shift", h_shift, "a fraction of the channels in [0, 1]", where="random_affine")
    if not (isinstance(scale, (int, float)) and not isinstance(scale, bool) and 0 <= scale < 1):
        raise ConfigError("scale", scale, "a number in [0, 1) (factors 1 - scale … 1 + scale)",
                          where="random_affine")
    if pad not in PADS:
        raise ConfigError("pad", pad, f"one of {list(PADS)}", where="random_affine")
    x, lengths = inputs
    if x.ndim != 3 or lengths.shape != (x.shape[1],):
        raise ConfigError("inputs", (tuple(x.shape), tuple(lengths.shape)),
                          "(x [T, B, C], lengths [B]) from pad_collate", where="random_affine")
    u = torch.rand(x.shape[1], 2, generator=generator, dtype=torch.float64,
                   device=generator.device if generator is not None else "cpu")
    max_dx = float(h_shift) * x.shape[2]
    shift = torch.round((2 * u[:, 0] - 1) * max_dx)
    factor = 1 - scale + 2 * scale * u[:, 1]
    return affine_time_channel(x, lengths, shift, factor, pad), lengths


# ------------------------------------------------------------------------------------- registration

_OPTIONS = ("dt", "max_time", "pool")
register_dataset(
    "shd",
    functools.partial(_load, n_classes=len(SHD_CLASSES)),
    "Spiking Heidelberg Digits (Cramer et al. 2020, CC BY 4.0): spoken digits 0-9 in English and German "
    "as spikes of 700 cochlea channels; 8156 train / 2264 test, 20 classes (HDF5)",
    classes=SHD_CLASSES, files=SHD, options=_OPTIONS,
)
register_dataset(
    "ssc",
    functools.partial(_load, n_classes=35),
    "Spiking Speech Commands (Cramer et al. 2020, CC BY 4.0): Speech Commands v0.2 as spikes of 700 "
    "cochlea channels; train / valid / test, 35 classes (HDF5)",
    splits=("train", "valid", "test"), files=SSC, options=_OPTIONS,
)
