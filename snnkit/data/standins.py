"""Learnable CIFAR-10 / CIFAR-100 stand-ins made from the embedded real Fashion-MNIST images.

CIFAR cannot be had offline here (DESIGN.md → Data), so the CIFAR notebooks' smoke runs use stand-ins
that are *learnable* and stored in CIFAR's own on-disk format, so that the real CIFAR reader
(:func:`snnkit.data.images.load_cifar10` / ``load_cifar100``) reads them. Each of the 4000 train / 1000
test images of ``snnkit/data/embedded/fashionmnist.npz`` is resized from 28×28 grey to 32×32 (bilinear)
and coloured: pixel = g·foreground + (1 − g)·background, with g the grey value in [0, 1].

- **CIFAR-10 stand-in**: 10 classes = the 10 Fashion-MNIST classes; every image gets a random bright
  foreground colour and a random dark background colour (seeded), so colour carries no class.
- **CIFAR-100 stand-in**: 100 classes = 10 image classes × 10 foreground tints (hues 36° apart):
  ``fine = image_class·10 + tint``, ``coarse = image_class``. Tints are dealt so that every fine class
  has the same count (40 train / 10 test); the background is a random dark colour.

Files: ``cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` and
``cifar-100-python/{train, test, meta}`` (pickle protocol 2 dicts with ``data`` uint8 [N, 3072],
channel-planar R, G, B, row-major), plus the ``SNNKIT_STAND_IN`` marker, so every dataset read from
them is labelled ``stand_in=True`` with the marker's text in its ``source``. The build is seeded and
byte-identical on a rerun.

- **Full-size CIFAR-10 stand-in** (``cifar10-standin-full``): CIFAR-10's size (50,000 train / 10,000
  test, 5000 / 1000 per class) made the same way from the *full* Fashion-MNIST IDX files (the registered
  ``fashionmnist`` dataset): a stratified, seeded 50,000 of its 60,000 training images and all 10,000 test
  images. Needs Fashion-MNIST only when it is first built (``$SNNKIT_DATA``, the system copy — Debian's
  ``dataset-fashion-mnist`` installs ``/usr/share/datasets/fashion-mnist`` — the download cache or a
  download; ``data_root`` names the folder holding Fashion-MNIST); about 10 s on one core.

Registered datasets ``cifar10-standin``, ``cifar100-standin`` and ``cifar10-standin-full`` build the files
on first use into the cache (:func:`snnkit.data.root.cache_dir` ``/standins/<kind>-<key>``; the key covers
the builder's version, the seed and the source files' SHA-256 — for the full stand-in the official
Fashion-MNIST content digests, which the build verifies), atomically (built in a temporary folder, then
renamed), and load them with the real reader. ``scripts/make_stand_ins.py --out DIR`` writes them
explicitly.
"""

from __future__ import annotations

import colorsys
import dataclasses
import functools
import hashlib
import json
import logging
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from snnkit.data import root as _root
from snnkit.data.images import FASHION_MNIST, FASHION_MNIST_CLASSES, STAND_IN_MARKER, ImageDataset
from snnkit.data.registry import DatasetSpec, dataset_spec, load_dataset, register_dataset
from snnkit.data.sampling import stratified_partition
from snnkit.errors import ConfigError, DataError, check_positive_int

log = logging.getLogger(__name__)

__all__ = [
    "STAND_INS",
    "StandIn",
    "TINT_HUES",
    "TINT_NAMES",
    "build_into_cache",
    "build_stand_in",
    "colourise",
    "draw_colours",
    "stand_in_root",
]

#: Bumped whenever the builder's output changes, so stale cached builds are not reused.
BUILDER_VERSION = 1
SOURCE_DATASET = "fashionmnist-embedded"
FULL_SOURCE_DATASET = "fashionmnist"
#: Images per colourisation chunk (bounds the float64 working memory of a 50,000-image build to ~100 MB).
_CHUNK = 4096

TINT_NAMES = ("red", "orange", "lime", "green", "mint", "cyan", "azure", "blue", "violet", "magenta")
#: Foreground hue of each CIFAR-100 stand-in tint, in turns (0 = red, 1/10 = 36°, ...).
TINT_HUES = tuple(i / 10 for i in range(10))
_MANIFEST = "standin.json"


@dataclass(frozen=True)
class StandIn:
    """One stand-in: the real dataset it imitates, its folder and files, and how many fine classes."""

    name: str  # registered name, e.g. "cifar10-standin"
    real: str  # the real dataset whose reader loads it
    title: str
    folder: str
    tinted_classes: bool  # True: class = image class × tint (CIFAR-100); False: colours random
    source: str = SOURCE_DATASET  # the Fashion-MNIST dataset the images come from
    train_size: int | None = None  # a stratified, seeded subset of the source's train split; None = all

    @property
    def full(self) -> bool:
        """True when built from the full Fashion-MNIST files (not the embedded subset)."""
        return self.source == FULL_SOURCE_DATASET


#: Stand-ins by kind (the first argument of :func:`build_stand_in` / :func:`stand_in_root`).
STAND_INS: dict[str, StandIn] = {
    "cifar10": StandIn("cifar10-standin", "cifar10", "CIFAR-10", "cifar-10-batches-py", False),
    "cifar100": StandIn("cifar100-standin", "cifar100", "CIFAR-100", "cifar-100-python", True),
    "cifar10-full": StandIn("cifar10-standin-full", "cifar10", "CIFAR-10", "cifar-10-batches-py", False,
                            source=FULL_SOURCE_DATASET, train_size=50_000),
}
#: Random stream of each kind's colours (the first two as in builder version 1).
_STREAMS = {"cifar10": 0, "cifar100": 1, "cifar10-full": 2}


def _check_seed(seed: object, info: StandIn) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError("seed", seed, "a non-negative integer", where=info.name)


def _stand_in(real: str) -> StandIn:
    try:
        return STAND_INS[real]
    except (KeyError, TypeError):
        raise ConfigError("stand-in", real, f"one of {sorted(STAND_INS)}") from None


# ------------------------------------------------------------------------------------------ images


def _hsv(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """RGB float64 ``[N, 3]`` of HSV triples (colorsys, exact and version-independent)."""
    return np.array([colorsys.hsv_to_rgb(*t) for t in zip(h.tolist(), s.tolist(), v.tolist())])


def draw_colours(rng: np.random.Generator, n: int, tints: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and background colours ``[n, 3]``: bright foregrounds (hue random, or the tint's hue
    ±5°), dark backgrounds of random hue."""
    if tints is None:
        fg_h = rng.random(n)
        fg_s = rng.uniform(0.4, 1.0, n)
    else:
        fg_h = (np.asarray(TINT_HUES)[tints] + rng.uniform(-1 / 72, 1 / 72, n)) % 1.0
        fg_s = rng.uniform(0.75, 1.0, n)
    fg = _hsv(fg_h, fg_s, rng.uniform(0.75, 1.0, n))
    bg = _hsv(rng.random(n), rng.uniform(0.0, 1.0, n), rng.uniform(0.0, 0.35, n))
    return fg, bg


def colourise(grey: torch.Tensor, fg: np.ndarray, bg: np.ndarray, size: int = 32) -> np.ndarray:
    """``grey`` float ``[N, 1, h, w]`` in [0, 1] → uint8 ``[N, 3, size, size]``: resized (bilinear) then
    pixel = g·foreground + (1 − g)·background per image (``fg``, ``bg``: RGB in [0, 1], ``[N, 3]``).

    Worked in chunks of images (each image is independent), so the result does not depend on the chunking
    and a 50,000-image build stays within ~100 MB of working memory.
    """
    out = np.empty((len(grey), 3, size, size), dtype=np.uint8)
    for start in range(0, len(grey), _CHUNK):
        part = slice(start, start + _CHUNK)
        g = F.interpolate(grey[part].to(torch.float64), size=(size, size), mode="bilinear", align_corners=False)
        g = g.clamp_(0.0, 1.0).numpy()  # [n, 1, size, size]
        rgb = g * fg[part, :, None, None] + (1.0 - g) * bg[part, :, None, None]
        out[part] = np.rint(rgb * 255.0).astype(np.uint8)
    return out


def _balanced_tints(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """A tint per image such that every (image class, tint) pair gets the same count (± 1)."""
    tints = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        tints[idx] = rng.permutation(np.arange(len(idx)) % len(TINT_HUES))
    return tints


def _dump(path: Path, obj: dict) -> None:
    # Protocol 2 as the official files (Python 2 cPickle); str keys read back as str under any encoding
    # (torchvision reads with encoding="latin1", snnkit with "bytes").
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)



def _source_split(
    info: StandIn, split: str, seed: int, *, data_root: str | os.PathLike | None, download: bool, verify: bool,
    train_size: int | None,
) -> tuple[torch.Tensor, np.ndarray, dict[str, str], int]:
    """The source images of one split: (grey ``[N, 1, 28, 28]``, labels, the files' SHA-256, the source's
    size). A full-source train split is cut to a stratified, seeded ``train_size`` (the images keep their
    order in the source)."""
    if not info.full:
        src = load_dataset(SOURCE_DATASET, split)
        return src.images, src.targets.numpy(), dict(src.origin["files"]), len(src)
    try:
        src = load_dataset(FULL_SOURCE_DATASET, split, data_root, download, verify=verify)
    except DataError as exc:
        raise DataError(
            f"{info.name} is built from the full Fashion-MNIST (IDX files, 60,000 train / 10,000 test), which "
            f"could not be read:\n{exc}"
        ) from exc
    images, labels = src.images, src.targets.numpy()
    if split == "train" and train_size is not None and train_size < len(labels):
        keep = np.flatnonzero(stratified_partition(labels, (len(labels) - train_size, train_size), seed) == 1)
        images, labels = images[torch.from_numpy(keep)], labels[keep]
    return images, labels, dict(src.origin["files"]), len(src)


def _describe(info: StandIn, sizes: dict[str, tuple[int, int]], seed: int) -> str:
    """The first line of the SNNKIT_STAND_IN marker: what the stand-in is made of."""
    (n_train, of_train), (n_test, _) = sizes["train"], sizes["test"]
    if info.full:
        return (
            f"{info.title} stand-in made by snnkit from the full real Fashion-MNIST ({n_train} of the {of_train} "
            f"train images, stratified by class with seed {seed}; all {n_test} test images; 28x28 grey resized to "
            f"32x32 and coloured, class = clothing class, colours random; seed {seed}); not {info.title}"
        )
    return (
        f"{info.title} stand-in made by snnkit from the embedded real Fashion-MNIST subset "
        f"({n_train} train / {n_test} test images, 28x28 grey resized to 32x32 and coloured"
        + (", class = clothing class x 10 foreground tints" if info.tinted_classes else
           ", class = clothing class, colours random")
        + f"; seed {seed}); not {info.title}"
    )


def build_stand_in(
    real: str,
    out: str | os.PathLike,
    *,
    seed: int = 0,
    data_root: str | os.PathLike | None = None,
    download: bool = True,
    verify: bool = True,
    train_size: int | None = None,
) -> Path:
    """Write the stand-in of kind ``real`` (a key of :data:`STAND_INS`: "cifar10", "cifar100" or
    "cifar10-full") into ``out/<CIFAR folder>/`` and return ``out`` (pass it as ``data_root`` to the real
    loader). ``out/<folder>`` must not exist yet.

    For "cifar10-full" only: ``data_root`` / ``download`` say where the full Fashion-MNIST is found (as for
    ``load_dataset("fashionmnist", ...)``), ``verify`` checks it against the official checksums (False for
    your own IDX files), ``train_size`` replaces the 50,000 training images taken from it.

    Deterministic: the same ``seed`` and source data give byte-identical files.
    """
    info = _stand_in(real)
    _check_seed(seed, info)
    if not info.full and (data_root is not None or train_size is not None):
        raise ConfigError("data_root" if data_root is not None else "train_size",
                          data_root if data_root is not None else train_size,
                          f"None: {info.name} is made from the embedded images", where=info.name)
    train_size = check_positive_int("train_size", train_size, allow_none=True, where=info.name)
    out = Path(out)
    folder = out / info.folder
    if folder.exists():
        raise DataError(f"{folder} already exists; remove it or choose another --out")
    splits, digests, sizes = {}, {}, {}
    for split_id, split in enumerate(("train", "test")):
        grey, labels, files, n_source = _source_split(
            info, split, seed, data_root=data_root, download=download, verify=verify,
            train_size=train_size if train_size is not None else info.train_size,
        )
        digests.update(files)
        sizes[split] = (len(labels), n_source)
        rng = np.random.default_rng([seed, _STREAMS[real], split_id])
        tints = _balanced_tints(rng, labels) if info.tinted_classes else None
        fg, bg = draw_colours(rng, len(labels), tints)
        data = colourise(grey, fg, bg).reshape(len(labels), 3 * 32 * 32)
        splits[split] = (data, labels, tints)
    folder.mkdir(parents=True)

    suffix = " (stand-in)"
    image_names = [f"{c}{suffix}" for c in FASHION_MNIST_CLASSES]
    if not info.tinted_classes:
        n_batches = 5
        train, train_labels, _ = splits["train"]
        parts = np.array_split(np.arange(len(train)), n_batches)
        for i, idx in enumerate(parts, start=1):
            _dump(folder / f"data_batch_{i}", _batch(train[idx], {"labels": train_labels[idx]}, "train", idx,
                                                     f"training batch {i} of {n_batches}"))
        test, test_labels, _ = splits["test"]
        _dump(folder / "test_batch", _batch(test, {"labels": test_labels}, "test", np.arange(len(test)),
                                            "testing batch 1 of 1"))
        _dump(folder / "batches.meta",
              {"num_cases_per_batch": len(parts[0]), "label_names": image_names, "num_vis": 3072})
    else:
        for split, (data, labels, tints) in splits.items():
            fine = labels * len(TINT_NAMES) + tints
            name = "training" if split == "train" else "testing"
            _dump(folder / split, _batch(data, {"fine_labels": fine, "coarse_labels": labels}, split,
                                         np.arange(len(data)), f"{name} batch 1 of 1"))
        fine_names = [f"{c} {t}{suffix}" for c in FASHION_MNIST_CLASSES for t in TINT_NAMES]
        _dump(folder / "meta", {"fine_label_names": fine_names, "coarse_label_names": image_names})

    (folder / STAND_IN_MARKER).write_text(
        f"{_describe(info, sizes, seed)}\nbuilder: snnkit.data.standins v{BUILDER_VERSION}; source files: "
        + ", ".join(f"{k} sha256 {v}" for k, v in sorted(digests.items())) + "\n"
    )
    manifest = {
        "dataset": info.name,
        "builder_version": BUILDER_VERSION,
        "seed": seed,
        "source": {info.source: digests},
        "files": {p.name: _root.file_digest(p) for p in sorted(folder.iterdir())},
    }
    if info.full:
        manifest["sizes"] = {split: {"images": n, "of": of} for split, (n, of) in sizes.items()}
    (out / f"{real}-{_MANIFEST}").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    log.info("built the %s in %s", info.name, folder)
    return out


def _batch(data: np.ndarray, labels: dict[str, np.ndarray], split: str, idx: np.ndarray, batch_label: str) -> dict:
    out = {"batch_label": batch_label, "data": np.ascontiguousarray(data)}
    out.update({k: [int(v) for v in vals] for k, vals in labels.items()})
    out["filenames"] = [f"standin_{split}_{int(i):05d}.png" for i in idx]
    return out


# ------------------------------------------------------------------------------------------- cache


def _cache_key(info: StandIn, seed: int) -> str:
    if info.full:  # the build verifies its source against these official digests, so they identify it
        digest = hashlib.sha256(json.dumps(dict(FASHION_MNIST.content_sha256), sort_keys=True).encode()).hexdigest()
    else:
        digest = _root.file_digest(Path(__file__).resolve().parent / "embedded" / "fashionmnist.npz")
    return f"v{BUILDER_VERSION}-seed{seed}-{digest[:12]}"


def build_into_cache(target: Path, build: Callable[[Path], object], done: Callable[[Path], bool]) -> Path:
    """Return ``target`` once ``done(target)``; if it is not, run ``build(tmp)`` on a fresh temporary folder
    beside ``target`` and rename it to ``target``.

    A crash never leaves a partial build under the final name (the temporary folder is removed), and of
    concurrent first uses the first rename wins: a later one finding ``target`` done keeps it.
    """
    if done(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        build(tmp)
        tmp.chmod(0o755)  # mkdtemp makes it private
        try:
            os.rename(tmp, target)
        except OSError:
            if not done(target):  # not a concurrent build that won
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def stand_in_root(
    real: str,
    directory: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    data_root: str | os.PathLike | None = None,
    download: bool = True,
) -> Path:
    """The folder holding the built stand-in of kind ``real`` (build it first if missing): pass it as
    ``data_root`` to the real reader.

    ``directory``: where cached builds live (default ``cache_dir()/standins``); the build is atomic
    (:func:`build_into_cache`). ``data_root`` / ``download``: where the full Fashion-MNIST is found, for
    "cifar10-full" only (read only when the build is not cached yet).
    """
    info = _stand_in(real)
    _check_seed(seed, info)
    base = Path(directory) if directory is not None else _root.cache_dir() / "standins"
    source = {"data_root": data_root, "download": download} if info.full else {}
    manifest = f"{real}-{_MANIFEST}"
    return build_into_cache(
        base / f"{real}-{_cache_key(info, seed)}",
        lambda tmp: build_stand_in(real, tmp, seed=seed, **source),
        lambda target: (target / manifest).is_file(),
    )


def _load_stand_in(
    spec: DatasetSpec,
    split: str,
    *,
    data_root: str | os.PathLike | None,
    download: bool,
    real: str,
    directory: str | os.PathLike | None = None,
    seed: int = 0,
) -> ImageDataset:
    """Loader of the CIFAR stand-ins: build (once) then read with the real reader."""
    info = STAND_INS[real]
    source = {"data_root": data_root, "download": download} if info.full else {}
    where = stand_in_root(real, directory, seed=seed, **source)
    real_spec = dataset_spec(info.real)
    dataset = real_spec.loader(dataclasses.replace(real_spec, name=spec.name), split,
                               data_root=where, download=False)
    manifest = json.loads((where / f"{real}-{_MANIFEST}").read_text())
    for name, digest in dataset.origin["files"].items():
        if manifest["files"].get(name) != digest:
            raise DataError(
                f"{where / info.folder / name}: sha256 {digest[:16]}… does not match the stand-in's "
                f"manifest; the cached build is damaged — delete {where} and it is rebuilt on next use"
            )
    return dataset


for _real, _info in STAND_INS.items():
    if _info.full:
        _what = (f"CIFAR-10-sized ({_info.train_size} of the 60,000 real Fashion-MNIST train images, stratified "
                 "and seeded, and all 10,000 test images) resized to 32x32 and coloured, 10 classes = the clothing "
                 "classes, random colours; built on first use into the cache from the full Fashion-MNIST "
                 "(data_root: where its IDX files are)")
    else:
        _what = ("the 4000/1000 embedded real Fashion-MNIST images resized to 32x32 and coloured, "
                 + ("100 classes = 10 clothing classes x 10 foreground tints" if _info.tinted_classes
                    else "10 classes = the clothing classes, random colours")
                 + "; built on first use into the cache")
    register_dataset(
        _info.name,
        functools.partial(_load_stand_in, real=_real),
        f"{_info.title} STAND-IN (not {_info.title}): {_what}, read by the real {_info.real} reader",
        files=FASHION_MNIST if _info.full else None,
        options=("directory", "seed"),
    )
