"""ImageNet (ILSVRC-2012) read from torchvision's ImageFolder layout, and a tiny stand-in in that format.

**Layout** (what ``torchvision.datasets.ImageFolder`` reads, and what the SEW-ResNet / STDS ImageNet code
is pointed at with ``--data-path``)::

    <root>/imagenet/train/<wnid>/*.JPEG     e.g. train/n01440764/n01440764_10026.JPEG
    <root>/imagenet/val/<wnid>/*.JPEG       the 50,000 validation images, ALREADY SORTED into class folders

``<root>`` is ``data_root`` (or ``$SNNKIT_DATA``, or the download cache, :mod:`snnkit.data.root`); the
``train`` / ``val`` folders may also sit in ``<root>`` itself or in ``<root>/ILSVRC2012``. ImageNet's
validation tarball unpacks into one flat folder; it must be sorted into one folder per wnid first (e.g.
with ``valprep.sh``, :data:`VALPREP_URL`), otherwise the reader stops with a DataError saying so. There is
no download: ImageNet needs a registration at https://image-net.org/download.php.

**Reading** follows ImageFolder: classes are the sub-folders' names sorted (label = index); the samples
are every file with an image extension (:data:`IMG_EXTENSIONS`, any case) below a class folder, walked in
sorted order; a class folder without images is an error; images are opened with PIL and converted to RGB.
The dataset is lazy (:class:`ImageFolderDataset`: file paths and labels in memory, images decoded in
``__getitem__``) and has the attributes of every snnkit dataset (``name``, ``classes``, ``targets``,
``stand_in``, ``source``, ``origin``, ``subset``). ``origin`` holds the SHA-256 of the sorted file list
(hashing 140 GB of JPEGs on every load is not possible) or, with ``checksums=True``, of every file.

**Transforms** as the SEW-ResNet / STDS ImageNet training script (torchvision's reference recipe; Fang et
al., "Deep Residual Learning in Spiking Neural Networks", NeurIPS 2021; Chen et al., ICML 2022):
train: ``RandomResizedCrop(224)`` + ``RandomHorizontalFlip()``; evaluation: ``Resize(256)`` +
``CenterCrop(224)``; both then ``ToTensor()`` and ImageNet's per-channel normalisation
(:data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`). ``crop_size`` replaces 224 (and the resize defaults to
``round(crop_size·256/224)``) so small stand-ins can use e.g. 32 or 56. The random crops and flips draw
from torch's global RNG, as in torchvision (the Trainer seeds and checkpoints it; DataLoader workers get
seeds derived from it).

**Stand-in** (``imagenet-standin``): 10 classes × (30 train + 10 val) JPEG images of 64×64 in this exact
layout, made from the embedded real Fashion-MNIST images (resized, coloured with a random bright
foreground on a random dark background as the CIFAR stand-ins, so colour carries no class) under made-up
wnids ``n00000000`` … ``n00000009`` (no WordNet synset has these offsets), with a
``LOC_synset_mapping.txt`` naming them and the ``SNNKIT_STAND_IN`` marker. It is built on first use into
the cache (atomically, byte-identical for a seed) and read by the same reader.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnkit.data import root as _root
from snnkit.data.images import EMBEDDED_DIR, FASHION_MNIST_CLASSES, STAND_IN_MARKER, stand_in_note
from snnkit.data.registry import DatasetSpec, LabelledDataset, load_dataset, register_dataset
from snnkit.data.root import Source
from snnkit.data.sampling import stratified_partition
from snnkit.data.standins import build_into_cache, colourise, draw_colours
from snnkit.errors import ConfigError, DataError, check_positive_int

log = logging.getLogger(__name__)

__all__ = [
    "IMAGENET",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMG_EXTENSIONS",
    "STANDIN_WNIDS",
    "VALPREP_URL",
    "ImageFolderDataset",
    "build_imagenet_standin",
    "find_split_folder",
    "imagefolder_dataset",
    "imagenet_standin_root",
    "imagenet_transform",
    "scan_imagefolder",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The extensions torchvision's ImageFolder accepts (compared in lower case).
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
VALPREP_URL = "https://raw.githubusercontent.com/soumith/imagenetloader.torch/master/valprep.sh"
#: ImageNet has no labelled test set; its labelled evaluation set is ``val`` (``"test"`` reads it too).
SPLIT_FOLDERS = {"train": "train", "val": "val", "test": "val"}
SYNSET_MAPPING = "LOC_synset_mapping.txt"

IMAGENET = Source(
    key="imagenet",
    title="ImageNet (ILSVRC-2012)",
    subdirs=("imagenet", "ILSVRC2012", "ilsvrc2012"),
    homepage="https://image-net.org/download.php",
    hint=(
        "ImageNet is not downloaded automatically: it needs a (free, non-commercial) registration at "
        "https://image-net.org/download.php. Unpack ILSVRC2012_img_train.tar (and each class tar inside) "
        "into imagenet/train/<wnid>/ and ILSVRC2012_img_val.tar into imagenet/val/, then sort val/ into "
        f"class folders, e.g. with {VALPREP_URL}"
    ),
)

# ----------------------------------------------------------------------------------------- reading


def imagenet_transform(
    train: bool, crop_size: int = 224, resize_size: int | None = None, *, normalize: bool = True
) -> Callable[[Any], torch.Tensor]:
    """The SEW-ResNet / STDS ImageNet transform of a PIL image → float32 ``[3, crop_size, crop_size]``.

    ``train``: ``RandomResizedCrop(crop_size)`` (scale 0.08–1, aspect 3/4–4/3, bilinear) and a horizontal
    flip with probability ½; else ``Resize(resize_size)`` (shorter side; default ``round(crop_size·256/224)``)
    and ``CenterCrop(crop_size)``. Then ``ToTensor`` (values in [0, 1]) and, if ``normalize``, ImageNet's
    mean / std per channel.
    """
    from snnkit._compat import import_torchvision

    check_positive_int("crop_size", crop_size, where="imagenet_transform")
    resize_size = _resize_for(crop_size, resize_size)
    T = import_torchvision().transforms  # noqa: N806 - torchvision's own module name
    steps = [T.RandomResizedCrop(crop_size), T.RandomHorizontalFlip()] if train else [
        T.Resize(resize_size), T.CenterCrop(crop_size)]
    steps.append(T.ToTensor())
    if normalize:
        steps.append(T.Normalize(IMAGENET_MEAN, IMAGENET_STD))
    return T.Compose(steps)


def _resize_for(crop_size: int, resize_size: int | None) -> int:
    if resize_size is None:
        return max(crop_size, round(crop_size * 256 / 224))
    check_positive_int("resize_size", resize_size, allow_none=True)
    if resize_size < crop_size:
        raise ConfigError("resize_size", resize_size, f"None or an integer >= crop_size ({crop_size})")
    return int(resize_size)


def _load_rgb(path: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with open(path, "rb") as fh:
            return Image.open(fh).convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"{path}: not a readable image ({type(exc).__name__}: {exc})") from exc


class ImageFolderDataset(LabelledDataset):
    """A lazy image classification dataset over files (ImageFolder's samples): ``paths`` and ``targets``
    are held, each image is opened (PIL, RGB) and transformed when indexed.

    ``dataset[i]`` is ``(transform(image), target)``; ``transform`` None gives the image as float32
    ``[3, H, W]`` in [0, 1]. Besides the data contract: ``paths`` (str, index = sample), ``class_names``
    (readable names of ``classes``, which are the folder names), ``input_shape`` (``(3, crop, crop)`` when
    the transform fixes it, else None), ``subset(indices)`` (same type, same transform).
    """

    def __init__(
        self,
        paths: Sequence[str],
        targets: torch.Tensor | Sequence[int],
        classes: Sequence[str],
        name: str,
        *,
        transform: Callable[[Any], Any] | None = None,
        class_names: Sequence[str] | None = None,
        input_shape: tuple[int, int, int] | None = None,
        **meta: Any,
    ):
        super().__init__(torch.as_tensor(targets, dtype=torch.int64), classes, name, **meta)
        if len(paths) != len(self.targets):
            raise DataError(f"{name}: {len(paths)} image paths but {len(self.targets)} targets")
        self.paths = list(paths)
        self.transform = transform
        self.class_names = list(class_names) if class_names is not None else list(self.classes)
        self.input_shape = input_shape

    def __getitem__(self, index: int) -> tuple[Any, torch.Tensor]:
        image = _load_rgb(self.paths[index])
        if self.transform is not None:
            return self.transform(image), self.targets[index]
        pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy())
        return pixels.permute(2, 0, 1).to(torch.float32).div_(255.0), self.targets[index]

    def _take(self, idx: torch.Tensor) -> list[str]:
        return [self.paths[i] for i in idx.tolist()]

    def _init_kwargs(self) -> dict[str, Any]:
        return {"transform": self.transform, "class_names": self.class_names, "input_shape": self.input_shape}

    def __repr__(self) -> str:
        tag = ", stand-in" if self.stand_in else ""
        return f"ImageFolderDataset({self.name!r}, n={len(self)}, classes={self.num_classes}{tag})"


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMG_EXTENSIONS)


def scan_imagefolder(folder: str | os.PathLike) -> tuple[list[str], list[str], list[int]]:
    """``(classes, paths, targets)`` of an ImageFolder directory, with torchvision's semantics: classes =
    sorted sub-folder names, samples = image files below each class folder (walked in sorted order,
    following links), class by class. DataError naming ``folder`` when it has no class folders (saying
    when it holds unsorted images instead, as ImageNet's val set does when unpacked) or a class folder
    has no image."""
    folder = Path(folder)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise DataError(f"{folder}: cannot list the image folder ({exc})") from exc
    classes = [e.name for e in entries if e.is_dir()]
    if not classes:
        loose = sum(1 for e in entries if e.is_file() and _is_image(e.name))
        if loose:
            raise DataError(
                f"{folder} holds {loose} image files but no class folders: the images must be sorted into "
                f"one folder per class (wnid), {folder}/<wnid>/*.JPEG, as ImageNet's train set is. ImageNet's "
                f"validation tarball unpacks unsorted: sort it first, e.g. with {VALPREP_URL}"
            )
        raise DataError(f"{folder} holds no class folders; expected {folder}/<class>/<images> (ImageFolder layout)")
    paths: list[str] = []
    targets: list[int] = []
    empty = []
    for label, cls in enumerate(classes):
        found = 0
        for dirpath, _, filenames in sorted(os.walk(folder / cls, followlinks=True)):
            for fname in sorted(filenames):
                if _is_image(fname):
                    paths.append(os.path.join(dirpath, fname))
                    targets.append(label)
                    found += 1
        if not found:
            empty.append(cls)
    if empty:
        raise DataError(
            f"{folder}: {len(empty)} class folder(s) without images ({', '.join(empty[:5])}"
            f"{', …' if len(empty) > 5 else ''}); extensions read: {', '.join(IMG_EXTENSIONS)} (any case)"
        )
    return classes, paths, targets


def _class_names(dataset_dir: Path, classes: Sequence[str]) -> list[str]:
    """Readable class names from ``LOC_synset_mapping.txt`` ("<wnid> <names>" per line) beside the split
    folders, if there is one; else the folder names."""
    mapping_file = dataset_dir / SYNSET_MAPPING
    if not mapping_file.is_file():
        return list(classes)
    mapping = {}
    for line in mapping_file.read_text(errors="replace").splitlines():
        wnid, _, names = line.strip().partition(" ")
        if wnid:
            mapping[wnid] = names.strip() or wnid
    return [mapping.get(c, c) for c in classes]


def imagefolder_dataset(
    folder: str | os.PathLike,
    *,
    name: str,
    title: str,
    transform: Callable[[Any], Any] | None = None,
    input_shape: tuple[int, int, int] | None = None,
    checksums: bool = False,
) -> ImageFolderDataset:
    """Read any ImageFolder directory (:func:`scan_imagefolder`) into a lazy :class:`ImageFolderDataset`.

    A ``SNNKIT_STAND_IN`` marker in ``folder`` or its parent marks it as a stand-in. ``origin``:
    ``{"dir": folder, "files": {relative path: SHA-256} if checksums else {}, "listing_sha256": SHA-256
    of the sorted relative paths, "n_files": N}``.
    """
    folder = Path(folder)
    classes, paths, targets = scan_imagefolder(folder)
    rel = [Path(p).relative_to(folder).as_posix() for p in paths]
    origin = {
        "dir": str(folder),
        "files": {r: _root.file_digest(p) for r, p in zip(rel, paths)} if checksums else {},
        "listing_sha256": hashlib.sha256("\n".join(rel).encode()).hexdigest(),
        "n_files": len(rel),
    }
    note = stand_in_note(folder) or stand_in_note(folder.parent)
    source = f"{title} ({len(paths)} images, {len(classes)} classes) from {folder}"
    if note:
        source += f"; STAND-IN: {note}"
    return ImageFolderDataset(
        paths, targets, classes, name, transform=transform, class_names=_class_names(folder.parent, classes),
        input_shape=input_shape, stand_in=note is not None, source=source, origin=origin,
    )


def find_split_folder(
    source: Source, folder: str, *, data_root: str | os.PathLike | None = None, what: str = ""
) -> Path:
    """The folder ``folder`` ("train" / "val") of ``source``: under ``data_root`` alone when given (in it or
    one of ``source.subdirs``), else the first of ``$SNNKIT_DATA``, the system locations and the download
    cache that has it. Never downloads. DataError naming every place looked in, and how to get the data."""
    label = f"{source.title} {what}".strip()
    advice = [source.hint] * bool(source.hint) + [f"Official source: {source.homepage}"] * bool(source.homepage)
    if data_root is not None:
        root = Path(data_root).expanduser()
        for directory in (root, *(root / sub for sub in source.subdirs)):
            if (directory / folder).is_dir():
                return directory / folder
        if not root.is_dir():
            problem = "does not exist (misspelt?)"
        else:
            problem = f"has no {folder}/ folder (looked in it and in {', '.join(f'{s}/' for s in source.subdirs)})"
        raise DataError("\n".join([
            f"{label}: data_root={str(root)!r} {problem}; it should hold {source.subdirs[0]}/{folder}/<wnid>/*.JPEG "
            f"(or {folder}/<wnid>/*.JPEG directly)", *advice]))
    env = os.environ.get(_root.ENV_VAR) or None
    places: list[tuple[Path, str]] = []
    if env:
        places += [(d, f"${_root.ENV_VAR}") for d in (Path(env).expanduser(), *(Path(env).expanduser() / s
                                                                                for s in source.subdirs))]
    places += [(d, "system location") for d in _root.system_locations(source)]
    cache = _root.cache_dir()
    places += [(d, "download cache") for d in (cache / s for s in source.subdirs)]
    for directory, why in places:
        if (directory / folder).is_dir():
            log.info("%s: using %s (%s)", source.title, directory / folder, why)
            return directory / folder
    lines = [f"{label}: no {folder}/ folder found. Looked in:"]
    lines += [f"  - {d / folder} ({why})" for d, why in places]
    if not env:
        lines.append(f"  (${_root.ENV_VAR} is not set)")
    lines.append(f"To fix: put the data in D/{source.subdirs[0]}/{{train,val}}/<wnid>/*.JPEG and pass "
                 f"data_root=D or set {_root.ENV_VAR}=D.")
    raise DataError("\n".join(lines + advice))


def _check_reader_options(where: str, crop_size: Any, resize_size: Any, augment: Any, normalize: Any,
                          checksums: Any) -> None:
    check_positive_int("crop_size", crop_size, where=where)
    check_positive_int("resize_size", resize_size, allow_none=True, where=where)
    if augment is not None and not isinstance(augment, bool):
        raise ConfigError("augment", augment, "None (augment the train split only), True or False", where=where)
    for key, value in (("normalize", normalize), ("checksums", checksums)):
        if not isinstance(value, bool):
            raise ConfigError(key, value, "True or False", where=where)


def _read_split(
    spec: DatasetSpec,
    split: str,
    folder: Path,
    *,
    crop_size: int,
    resize_size: int | None,
    augment: bool | None,
    normalize: bool,
    checksums: bool,
) -> ImageFolderDataset:
    _check_reader_options(spec.name, crop_size, resize_size, augment, normalize, checksums)
    train = (split == "train") if augment is None else augment
    transform = imagenet_transform(train, crop_size, resize_size, normalize=normalize)
    title = f"{spec.files.title if spec.files else spec.name} {split}"
    dataset = imagefolder_dataset(folder, name=spec.name, title=title, transform=transform,
                                  input_shape=(3, crop_size, crop_size), checksums=checksums)
    sibling = folder.parent / ("train" if folder.name != "train" else "val")
    if sibling.is_dir():
        other = sorted(e.name for e in os.scandir(sibling) if e.is_dir())
        if other and other != dataset.classes:
            raise DataError(
                f"{folder} and {sibling} have different class folders ({len(dataset.classes)} vs {len(other)}; "
                f"first difference: {sorted(set(dataset.classes) ^ set(other))[:3]}); labels would not agree"
            )
    return dataset


def _load_imagenet(
    spec: DatasetSpec,
    split: str,
    *,
    data_root: str | os.PathLike | None,
    download: bool,
    crop_size: int = 224,
    resize_size: int | None = None,
    augment: bool | None = None,
    normalize: bool = True,
    checksums: bool = False,
) -> ImageFolderDataset:
    """Loader of ``imagenet``: the split folder found as :func:`find_split_folder` says, read lazily."""
    folder = find_split_folder(spec.files, SPLIT_FOLDERS[split], data_root=data_root, what=split)
    return _read_split(spec, split, folder, crop_size=crop_size, resize_size=resize_size, augment=augment,
                       normalize=normalize, checksums=checksums)


# -------------------------------------------------------------------------------------- stand-in

#: Bumped whenever the stand-in builder's output changes.
STANDIN_VERSION = 1
#: Made-up wnids of the stand-in's classes (WordNet noun offsets start at 00001740: no synset has these).
STANDIN_WNIDS = tuple(f"n{c:08d}" for c in range(len(FASHION_MNIST_CLASSES)))
STANDIN_SOURCE = "fashionmnist-embedded"
_STANDIN_MANIFEST = "imagenet-standin.json"
#: JPEG settings of the stand-in (4:4:4 so the colours stay crisp at 64×64).
_JPEG = {"format": "JPEG", "quality": 95, "subsampling": 0}


def build_imagenet_standin(
    out: str | os.PathLike, *, seed: int = 0, n_train: int = 30, n_val: int = 10, size: int = 64
) -> Path:
    """Write the ImageNet-format stand-in into ``out/imagenet/{train,val}/<wnid>/*.JPEG`` and return
    ``out`` (pass it as ``data_root`` to the ``imagenet`` reader). ``out/imagenet`` must not exist yet.

    ``n_train`` / ``n_val`` images per class (at most 400 / 100: the embedded subset's train / test split,
    class-balanced), drawn stratified and seeded; each resized from 28×28 to ``size``×``size`` and coloured
    (:func:`snnkit.data.standins.colourise`). Also writes ``LOC_synset_mapping.txt``, the
    ``SNNKIT_STAND_IN`` marker and ``out/imagenet-standin.json`` (every file's SHA-256). Byte-identical
    for the same arguments (and Pillow's JPEG encoder).
    """
    from PIL import Image

    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError("seed", seed, "a non-negative integer", where="imagenet-standin")
    size = check_positive_int("size", size, where="imagenet-standin")
    out = Path(out)
    folder = out / "imagenet"
    if folder.exists():
        raise DataError(f"{folder} already exists; remove it or choose another folder")
    digests = {}
    for split_id, (split, src_split, per_class) in enumerate((("train", "train", n_train), ("val", "test", n_val))):
        src = load_dataset(STANDIN_SOURCE, src_split)
        digests.update(src.origin["files"])
        labels = src.targets.numpy()
        available = int(np.bincount(labels).min())
        per_class = check_positive_int(f"n_{split}", per_class, where="imagenet-standin")
        if per_class > available:
            raise ConfigError(f"n_{split}", per_class, f"at most {available} (images per class in the embedded "
                              f"{src_split} split)", where="imagenet-standin")
        m = per_class * len(STANDIN_WNIDS)
        keep = np.flatnonzero(stratified_partition(labels, (len(labels) - m, m), seed) == 1)
        fg, bg = draw_colours(np.random.default_rng([seed, 3, split_id]), len(keep))
        pixels = colourise(src.images[torch.from_numpy(keep)], fg, bg, size).transpose(0, 2, 3, 1)
        for k, (i, c) in enumerate(zip(keep.tolist(), labels[keep].tolist())):
            wnid = STANDIN_WNIDS[c]
            path = folder / split / wnid / (f"{wnid}_{i}.JPEG" if split == "train" else f"val_{k:08d}.JPEG")
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels[k]).save(path, **_JPEG)
    (folder / SYNSET_MAPPING).write_text(
        "".join(f"{w} {c} (stand-in)\n" for w, c in zip(STANDIN_WNIDS, FASHION_MNIST_CLASSES)))
    (folder / STAND_IN_MARKER).write_text(
        f"ImageNet stand-in made by snnkit from the embedded real Fashion-MNIST subset ({n_train} train / "
        f"{n_val} val images per class, 10 classes under made-up wnids, 28x28 grey resized to {size}x{size} "
        f"and coloured, colours random; seed {seed}); not ImageNet\n"
        f"builder: snnkit.data.imagefolder v{STANDIN_VERSION}; source files: "
        + ", ".join(f"{k} sha256 {v}" for k, v in sorted(digests.items())) + "\n"
    )
    manifest = {
        "dataset": "imagenet-standin",
        "builder_version": STANDIN_VERSION,
        "seed": seed,
        "sizes": {"n_train": n_train, "n_val": n_val, "size": size},
        "source": {STANDIN_SOURCE: digests},
        "files": {p.relative_to(folder).as_posix(): _root.file_digest(p)
                  for p in sorted(folder.rglob("*")) if p.is_file()},
    }
    (out / _STANDIN_MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    log.info("built the ImageNet stand-in in %s", folder)
    return out


def imagenet_standin_root(directory: str | os.PathLike | None = None, *, seed: int = 0) -> Path:
    """The folder holding the built ImageNet stand-in (built first if missing; pass it as ``data_root``):
    ``directory`` (default ``cache_dir()/standins``)``/imagenet-standin-v<version>-seed<seed>-<source>/``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError("seed", seed, "a non-negative integer", where="imagenet-standin")
    digest = _root.file_digest(EMBEDDED_DIR / "fashionmnist.npz")
    base = Path(directory) if directory is not None else _root.cache_dir() / "standins"
    return build_into_cache(
        base / f"imagenet-standin-v{STANDIN_VERSION}-seed{seed}-{digest[:12]}",
        lambda tmp: build_imagenet_standin(tmp, seed=seed),
        lambda target: (target / _STANDIN_MANIFEST).is_file(),
    )


def _load_imagenet_standin(
    spec: DatasetSpec,
    split: str,
    *,
    data_root: object,
    download: bool,
    directory: str | os.PathLike | None = None,
    seed: int = 0,
    crop_size: int = 56,
    resize_size: int | None = None,
    augment: bool | None = None,
    normalize: bool = True,
) -> ImageFolderDataset:
    """Loader of ``imagenet-standin``: build (once), read with the ImageNet reader, check every file
    against the build's manifest."""
    where = imagenet_standin_root(directory, seed=seed)
    folder = find_split_folder(IMAGENET, SPLIT_FOLDERS[split], data_root=where, what=split)
    dataset = _read_split(spec, split, folder, crop_size=crop_size, resize_size=resize_size, augment=augment,
                          normalize=normalize, checksums=True)
    expected = json.loads((where / _STANDIN_MANIFEST).read_text())["files"]
    prefix = folder.name + "/"
    wanted = {k[len(prefix):]: v for k, v in expected.items() if k.startswith(prefix)}
    if dataset.origin["files"] != wanted:
        bad = sorted(set(wanted.items()) ^ set(dataset.origin["files"].items()))
        raise DataError(f"{folder}: {bad[0][0]} differs from the stand-in's manifest; the cached build is "
                        f"damaged — delete {where} and it is rebuilt on next use")
    return dataset


_READER_OPTIONS = ("crop_size", "resize_size", "augment", "normalize")
register_dataset(
    "imagenet",
    _load_imagenet,
    "ImageNet ILSVRC-2012 (1.28M train / 50k val, 1000 classes) in torchvision's ImageFolder layout "
    "imagenet/{train,val}/<wnid>/*.JPEG, val sorted into class folders; read lazily with the SEW-ResNet "
    "transforms (crop_size, default 224); 'test' reads val; no download (registration needed)",
    splits=tuple(SPLIT_FOLDERS), files=IMAGENET, options=(*_READER_OPTIONS, "checksums"),
)
register_dataset(
    "imagenet-standin",
    _load_imagenet_standin,
    "ImageNet STAND-IN (not ImageNet): 10 classes x (30 train + 10 val) 64x64 JPEGs in ImageNet's "
    "ImageFolder layout, made from the embedded real Fashion-MNIST images, coloured; built on first use into "
    "the cache, read by the imagenet reader (crop_size default 56)",
    splits=tuple(SPLIT_FOLDERS), options=("directory", "seed", *_READER_OPTIONS),
)
