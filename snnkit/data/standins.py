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

Registered datasets ``cifar10-standin`` and ``cifar100-standin`` build the files on first use into the
cache (:func:`snnkit.data.root.cache_dir` ``/standins/<name>-<key>``; the key covers the builder's
version, the seed and the source file's SHA-256), atomically (built in a temporary folder, then renamed),
and load them with the real reader. ``scripts/make_stand_ins.py --out DIR`` writes them explicitly.
"""

from __future__ import annotations

import colorsys
import dataclasses
import functools
import json
import logging
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from snnkit.data import root as _root
from snnkit.data.images import FASHION_MNIST_CLASSES, STAND_IN_MARKER, ImageDataset
from snnkit.data.registry import DatasetSpec, dataset_spec, load_dataset, register_dataset
from snnkit.errors import ConfigError, DataError

log = logging.getLogger(__name__)

__all__ = [
    "STAND_INS",
    "StandIn",
    "TINT_HUES",
    "TINT_NAMES",
    "build_stand_in",
    "stand_in_root",
]

#: Bumped whenever the builder's output changes, so stale cached builds are not reused.
BUILDER_VERSION = 1
SOURCE_DATASET = "fashionmnist-embedded"

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


STAND_INS: dict[str, StandIn] = {
    "cifar10": StandIn("cifar10-standin", "cifar10", "CIFAR-10", "cifar-10-batches-py", False),
    "cifar100": StandIn("cifar100-standin", "cifar100", "CIFAR-100", "cifar-100-python", True),
}


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


def _colours(rng: np.random.Generator, n: int, tints: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
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


def _colourise(grey: torch.Tensor, fg: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """``grey`` float ``[N, 1, 28, 28]`` in [0, 1] → uint8 ``[N, 3072]`` (32×32, CIFAR's R, G, B planes)."""
    g = F.interpolate(grey.to(torch.float64), size=(32, 32), mode="bilinear", align_corners=False)
    g = g.clamp_(0.0, 1.0).numpy()  # [N, 1, 32, 32]
    rgb = g * fg[:, :, None, None] + (1.0 - g) * bg[:, :, None, None]
    return np.rint(rgb * 255.0).astype(np.uint8).reshape(len(rgb), 3 * 32 * 32)


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


def build_stand_in(real: str, out: str | os.PathLike, *, seed: int = 0) -> Path:
    """Write the stand-in of ``real`` ("cifar10" or "cifar100") into ``out/<CIFAR folder>/`` and return
    ``out`` (pass it as ``data_root`` to the real loader). ``out/<folder>`` must not exist yet.

    Deterministic: the same ``seed`` and source data give byte-identical files.
    """
    info = _stand_in(real)
    _check_seed(seed, info)
    out = Path(out)
    folder = out / info.folder
    if folder.exists():
        raise DataError(f"{folder} already exists; remove it or choose another --out")
    folder.mkdir(parents=True)
    stream = 1 if info.tinted_classes else 0
    splits, digests = {}, {}
    for split_id, split in enumerate(("train", "test")):
        src = load_dataset(SOURCE_DATASET, split)
        digests.update(src.origin["files"])
        labels = src.targets.numpy()
        rng = np.random.default_rng([seed, stream, split_id])
        tints = _balanced_tints(rng, labels) if info.tinted_classes else None
        fg, bg = _colours(rng, len(labels), tints)
        data = _colourise(src.images, fg, bg)
        splits[split] = (data, labels, tints)

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

    how = (
        f"{info.title} stand-in made by snnkit from the embedded real Fashion-MNIST subset "
        f"({len(splits['train'][0])} train / {len(splits['test'][0])} test images, 28x28 grey resized to "
        f"32x32 and coloured"
        + (", class = clothing class x 10 foreground tints" if info.tinted_classes else
           ", class = clothing class, colours random")
        + f"; seed {seed}); not {info.title}"
    )
    (folder / STAND_IN_MARKER).write_text(
        f"{how}\nbuilder: snnkit.data.standins v{BUILDER_VERSION}; source files: "
        + ", ".join(f"{k} sha256 {v}" for k, v in sorted(digests.items())) + "\n"
    )
    manifest = {
        "dataset": info.name,
        "builder_version": BUILDER_VERSION,
        "seed": seed,
        "source": {SOURCE_DATASET: digests},
        "files": {p.name: _root.file_digest(p) for p in sorted(folder.iterdir())},
    }
    (out / f"{info.real}-{_MANIFEST}").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    log.info("built the %s stand-in in %s", info.title, folder)
    return out


def _batch(data: np.ndarray, labels: dict[str, np.ndarray], split: str, idx: np.ndarray, batch_label: str) -> dict:
    out = {"batch_label": batch_label, "data": np.ascontiguousarray(data)}
    out.update({k: [int(v) for v in vals] for k, vals in labels.items()})
    out["filenames"] = [f"standin_{split}_{int(i):05d}.png" for i in idx]
    return out


# ------------------------------------------------------------------------------------------- cache


def _cache_key(seed: int) -> str:
    digest = _root.file_digest(Path(__file__).resolve().parent / "embedded" / "fashionmnist.npz")
    return f"v{BUILDER_VERSION}-seed{seed}-{digest[:12]}"


def stand_in_root(real: str, directory: str | os.PathLike | None = None, *, seed: int = 0) -> Path:
    """The folder holding the built stand-in of ``real`` (build it first if missing): pass it as
    ``data_root`` to the real reader.

    ``directory``: where cached builds live (default ``cache_dir()/standins``). The build happens in a
    temporary folder beside the target and is renamed into place, so a crash never leaves a partial
    build under the final name, and concurrent first uses agree.
    """
    info = _stand_in(real)
    _check_seed(seed, info)
    base = Path(directory) if directory is not None else _root.cache_dir() / "standins"
    target = base / f"{info.real}-{_cache_key(seed)}"
    if (target / f"{info.real}-{_MANIFEST}").is_file():
        return target
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=base))
    try:
        build_stand_in(real, tmp, seed=seed)
        tmp.chmod(0o755)  # mkdtemp makes it private
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / f"{info.real}-{_MANIFEST}").is_file():  # not a concurrent build that won
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _load_stand_in(
    spec: DatasetSpec,
    split: str,
    *,
    data_root: object,
    download: bool,
    real: str,
    directory: str | os.PathLike | None = None,
    seed: int = 0,
) -> ImageDataset:
    """Loader of ``cifar10-standin`` / ``cifar100-standin``: build (once) then read with the real reader."""
    where = stand_in_root(real, directory, seed=seed)
    real_spec = dataset_spec(real)
    dataset = real_spec.loader(dataclasses.replace(real_spec, name=spec.name), split,
                               data_root=where, download=False)
    manifest = json.loads((where / f"{real}-{_MANIFEST}").read_text())
    for name, digest in dataset.origin["files"].items():
        if manifest["files"].get(name) != digest:
            raise DataError(
                f"{where / STAND_INS[real].folder / name}: sha256 {digest[:16]}… does not match the stand-in's "
                f"manifest; the cached build is damaged — delete {where} and it is rebuilt on next use"
            )
    return dataset


for _real, _info in STAND_INS.items():
    register_dataset(
        _info.name,
        functools.partial(_load_stand_in, real=_real),
        f"{_info.title} STAND-IN (not {_info.title}): the 4000/1000 embedded real Fashion-MNIST images resized "
        "to 32x32 and coloured, "
        + ("100 classes = 10 clothing classes x 10 foreground tints" if _info.tinted_classes
           else "10 classes = the clothing classes, random colours")
        + f"; built on first use into the cache, read by the real {_info.real} reader",
        options=("directory", "seed"),
    )
