"""Image datasets: IDX (MNIST, Fashion-MNIST), sklearn digits, CIFAR-10/100 python batches, embedded subsets.

Each is registered in :mod:`snnkit.data.registry` (bottom of this module) with a loader returning an
:class:`ImageDataset` (images float32 ``[N, C, H, W]`` in [0, 1], targets int64 ``[N]``) that says where
its data came from (``source``, ``origin``) and whether it is a stand-in. Notebooks call
:func:`~snnkit.data.registry.load_dataset`; the ``load_<name>`` functions here are shortcuts to it.

Integrity: IDX headers are validated (magic, type code, dimensions, exact payload length) and the
SHA-256 of the decoded arrays is compared with the values of the official releases
(``Source.content_sha256`` of :data:`FASHION_MNIST` and :data:`MNIST`), so a re-compressed copy (Debian recompresses the ``.gz`` files) is accepted and a
corrupted one is not. Any decoding problem is a :class:`~snnkit.errors.DataError` naming the file.

Provenance: every dataset's ``origin`` names the folder it was read from and a SHA-256 per file read
(IDX: of the decoded array, the same value the verification uses, so a recompressed copy of the
official file records the official value; CIFAR: of the file; embedded: of the packaged file, checked
against its manifest; scikit-learn digits: ``dir`` None and a hash of the arrays).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import logging
import os
import pickle
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnkit.data import root as _root
from snnkit.data.registry import DatasetSpec, LabelledDataset, load_dataset, register_dataset
from snnkit.data.root import Remote, Source, mirrors
from snnkit.data.sampling import fraction_partition
from snnkit.errors import DataError

log = logging.getLogger(__name__)

__all__ = [
    "ImageDataset",
    "FASHION_MNIST",
    "MNIST",
    "CIFAR10",
    "CIFAR100",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "CIFAR10_CLASSES",
    "STAND_IN_MARKER",
    "EMBEDDED_DIR",
    "read_idx",
    "write_idx",
    "array_sha256",
    "load_fashion_mnist",
    "load_mnist",
    "load_digits",
    "load_cifar10",
    "load_cifar100",
    "load_embedded",
]

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
MNIST_CLASSES = [str(d) for d in range(10)]
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


def _idx_remotes(bases: Sequence[str], md5s: dict[str, str]) -> tuple[Remote, ...]:
    return tuple(Remote(name, mirrors(bases, name), md5) for name, md5 in md5s.items())


# content_sha256 of the IDX sets: SHA-256 of the decoded array bytes (the payload after the header) of
# the official releases; MNIST's were computed from the official .gz files after checking their MD5s.
FASHION_MNIST = Source(
    key="fashionmnist",
    title="Fashion-MNIST",
    subdirs=("fashion-mnist", "fashionmnist", "FashionMNIST/raw"),
    remotes=_idx_remotes(
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
         "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
         "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
         "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
         "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"},
    ),
    homepage="https://github.com/zalandoresearch/fashion-mnist",
    hint="On Debian/Ubuntu: `sudo apt-get install dataset-fashion-mnist` (installs the IDX files "
    "under /usr/share/datasets/fashion-mnist/).",
    system=(Path("/usr/share/datasets/fashion-mnist"),),
    content_sha256={
        "train-images-idx3-ubyte": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
        "train-labels-idx1-ubyte": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
        "t10k-images-idx3-ubyte": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
        "t10k-labels-idx1-ubyte": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
    },
)  # fmt: skip

MNIST = Source(
    key="mnist",
    title="MNIST",
    subdirs=("mnist", "MNIST/raw"),
    remotes=_idx_remotes(
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
         "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
         "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
         "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
    ),
    homepage="http://yann.lecun.com/exdb/mnist/",
    system=(Path("/usr/share/datasets/mnist"),),
    content_sha256={
        "train-images-idx3-ubyte": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        "train-labels-idx1-ubyte": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        "t10k-images-idx3-ubyte": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        "t10k-labels-idx1-ubyte": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    },
)  # fmt: skip

_CIFAR_HOME = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFAR10 = Source(
    key="cifar10",
    title="CIFAR-10",
    subdirs=("cifar10", "cifar-10", "CIFAR10"),
    remotes=(Remote("cifar-10-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                    "c58f30108f718f92721af3b95e74349a", extract=True),),
    homepage=_CIFAR_HOME,
    system=(Path("/usr/share/datasets/cifar10"),),
)  # fmt: skip
CIFAR100 = Source(
    key="cifar100",
    title="CIFAR-100",
    subdirs=("cifar100", "cifar-100", "CIFAR100"),
    remotes=(Remote("cifar-100-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",),
                    "eb9058c3a382ffc7106e4002c42a8d85", extract=True),),
    homepage=_CIFAR_HOME,
    system=(Path("/usr/share/datasets/cifar100"),),
)  # fmt: skip

#: A file with this name beside a dataset's files marks them as a stand-in (its text says what they are).
STAND_IN_MARKER = "SNNKIT_STAND_IN"

EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"


class ImageDataset(LabelledDataset):
    """An in-memory image classification dataset (one kind of :class:`LabelledDataset`).

    Attributes: ``images`` float32 ``[N, C, H, W]`` in [0, 1]; ``targets`` int64 ``[N]``;
    ``classes`` (names, index = label); ``name`` (e.g. ``"fashionmnist-embedded"``); ``stand_in``
    (True when the data only imitates the named dataset); ``source`` (human-readable provenance);
    ``origin``: what was actually read, ``{"dir": folder or None, "files": {filename: sha256-hex}}``.
    """

    def __init__(
        self, images: torch.Tensor, targets: torch.Tensor, classes: Sequence[str], name: str, **meta: Any
    ):
        """``meta``: ``stand_in``, ``source``, ``origin`` (see :class:`LabelledDataset`)."""
        if images.ndim != 4:
            raise DataError(f"{name}: images must be [N, C, H, W], got shape {tuple(images.shape)}")
        if targets.ndim != 1 or targets.shape[0] != images.shape[0]:
            raise DataError(f"{name}: {images.shape[0]} images but targets of shape {tuple(targets.shape)}")
        super().__init__(targets, classes, name, **meta)
        self.images = images.to(torch.float32)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.targets[index]

    def _take(self, idx: torch.Tensor) -> torch.Tensor:
        return self.images[idx]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def __repr__(self) -> str:
        tag = ", stand-in" if self.stand_in else ""
        return (
            f"ImageDataset({self.name!r}, n={len(self)}, shape={self.input_shape}, "
            f"classes={self.num_classes}{tag})"
        )


# ---------------------------------------------------------------------------------------------- IDX

_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {dt.newbyteorder("<") if dt.itemsize > 1 else dt: code for code, dt in _IDX_TYPES.items()}


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    if raw[:2] == b"\x1f\x8b" or path.suffix == ".gz":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"{path}: not a valid gzip file ({type(exc).__name__}: {exc}); re-download it"
            ) from exc
    return raw


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a native-endian NumPy array.

    Format (LeCun & Cortes, MNIST page): two zero bytes, a type code, the number of dimensions, one
    big-endian uint32 per dimension, then the row-major payload. A wrong magic, an unknown type code,
    or a payload shorter or longer than the dimensions say raises DataError naming the file.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: truncated IDX file ({len(data)} bytes, no header)")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0 or code not in _IDX_TYPES or ndim == 0:
        raise DataError(
            f"{path}: not an IDX file (magic {data[:4].hex()}; expected 0000 + type code in "
            f"{sorted(hex(c) for c in _IDX_TYPES)} + ndim >= 1)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes, need {header} for {ndim} dims)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _IDX_TYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got != expected:
        kind = "truncated" if got < expected else "has trailing bytes"
        raise DataError(
            f"{path}: IDX file {kind}: dimensions {dims} need {expected} payload bytes, found {got}; "
            "re-download it"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when ``compress`` or the name ends in ``.gz``)."""
    path = Path(path)
    arr = np.asarray(array)
    key = arr.dtype.newbyteorder("<") if arr.dtype.itemsize > 1 else arr.dtype
    if key not in _IDX_CODES or arr.ndim == 0 or arr.ndim > 255:
        raise DataError(f"cannot write IDX for dtype {arr.dtype} with {arr.ndim} dims")
    code = _IDX_CODES[key]
    payload = arr.astype(_IDX_TYPES[code], copy=False).tobytes(order="C")
    blob = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + payload
    if compress or (compress is None and path.suffix == ".gz"):
        blob = gzip.compress(blob, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    return path


def array_sha256(array: np.ndarray) -> str:
    """SHA-256 of an array's C-order bytes (for uint8 IDX data: the payload after the header)."""
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def stand_in_note(directory: Path) -> str | None:
    """The first line of a ``SNNKIT_STAND_IN`` marker file in ``directory`` (a stand-in's description), or None."""
    marker = directory / STAND_IN_MARKER
    if marker.is_file():
        text = marker.read_text(errors="replace").strip().splitlines()
        return text[0] if text else "stand-in data"
    return None


def _to_images(arr: np.ndarray, scale: float) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(arr)).to(torch.float32).div_(scale)


def _load_idx(
    spec: DatasetSpec,
    split: str,
    *,
    data_root: str | os.PathLike | None,
    download: bool,
    verify: bool = True,
) -> ImageDataset:
    """Loader of the IDX image sets (MNIST layout): ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``."""
    source = spec.files
    title = source.title
    prefix = "train" if split == "train" else "t10k"
    names = [f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"]
    img_path, lbl_path = _root.find_files(
        source, [(n + ".gz", n) for n in names], data_root=data_root, download=download, what=split
    )
    images = read_idx(img_path)
    labels = read_idx(lbl_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{img_path}: expected uint8 images [N, H, W], got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(f"{lbl_path}: {labels.shape} labels for {images.shape[0]} images in {img_path}")
    digests = {}
    for stem, kind, arr, path in zip(names, ("images", "labels"), (images, labels), (img_path, lbl_path)):
        digests[path.name] = got = array_sha256(arr)
        if not verify:
            continue
        expected = source.content_sha256.get(stem)
        if expected is None:
            log.warning("%s %s %s: no known checksum for %s; not verified", title, split, kind, path)
        elif got != expected:
            raise DataError(
                f"{path}: decoded {kind} do not match the official {title} {split} set "
                f"(sha256 {got[:16]}…, expected {expected[:16]}…); the file is corrupted or not "
                f"the official release. Replace it, or pass verify=False for your own files."
            )
    note = stand_in_note(img_path.parent)
    text = f"{title} {split} ({len(labels)} images) from {img_path.parent}"
    if note:
        text += f"; STAND-IN: {note}"
    return ImageDataset(
        _to_images(images[:, None], 255.0),
        torch.from_numpy(labels.astype(np.int64)),
        spec.classes,
        spec.name,
        stand_in=note is not None,
        source=text,
        origin={"dir": str(img_path.parent), "files": digests},
    )


def load_fashion_mnist(
    split: str = "train",
    data_root: str | os.PathLike | None = None,
    download: bool = True,
    *,
    verify: bool = True,
) -> ImageDataset:
    """Full Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from its IDX files; ``verify`` checks checksums."""
    return load_dataset("fashionmnist", split, data_root, download, verify=verify)


def load_mnist(
    split: str = "train",
    data_root: str | os.PathLike | None = None,
    download: bool = True,
    *,
    verify: bool = True,
) -> ImageDataset:
    """MNIST (LeCun & Cortes) from its IDX files; ``verify`` checks the decoded arrays' checksums."""
    return load_dataset("mnist", split, data_root, download, verify=verify)


# ------------------------------------------------------------------------------------------- digits


def load_digits(split: str = "train", *, test_fraction: float = 0.25, seed: int = 0) -> ImageDataset:
    """scikit-learn's 8x8 digits (1797 images, values 0..16 scaled to [0, 1]).

    Split deterministically: a stratified train/test split seeded by ``seed``.
    """
    return load_dataset("digits", split, test_fraction=test_fraction, seed=seed)


def _load_digits(
    spec: DatasetSpec, split: str, *, data_root: object, download: bool, test_fraction: float = 0.25, seed: int = 0
) -> ImageDataset:
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    images = np.asarray(bunch.images, dtype=np.float32)
    labels = np.asarray(bunch.target, dtype=np.int64)
    part = fraction_partition(labels, test_fraction, seed, key="test_fraction", where="digits")
    idx = np.flatnonzero(part == (split == "test"))
    digest = hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()
    return ImageDataset(
        torch.from_numpy(images[idx, None] / 16.0),
        torch.from_numpy(labels[idx]),
        spec.classes,
        spec.name,
        source=f"scikit-learn digits {split} ({len(idx)} of 1797; stratified split, test_fraction="
        f"{test_fraction}, seed={seed})",
        origin={"dir": None, "files": {"sklearn.datasets.load_digits": digest}},
    )


# -------------------------------------------------------------------------------------------- CIFAR

# numpy arrays inside the official pickles are rebuilt through these callables; nothing else is allowed.
_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: ANN201
        if (module, name) in _PICKLE_ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            obj = _SafeUnpickler(fh, encoding="bytes").load()
    except Exception as exc:  # a corrupt pickle can raise almost anything (even MemoryError)
        raise DataError(f"{path}: not a readable CIFAR python batch ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, found {type(obj).__name__}")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _field(d: dict, key: str, path: Path):  # noqa: ANN202
    if key not in d:
        raise DataError(f"{path}: CIFAR batch has no {key!r} entry (has {sorted(map(str, d))})")
    return d[key]


def _names(values: Sequence) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _load_cifar(
    spec: DatasetSpec,
    split: str,
    *,
    data_root: str | os.PathLike | None,
    download: bool,
    folder: str,
    batches: dict[str, list[str]],
    meta_name: str,
    label_key: str,
    names_key: str,
) -> ImageDataset:
    """Loader of the CIFAR python batches: ``folder/{batches[split]..., meta_name}``.

    A ``SNNKIT_STAND_IN`` file in that folder marks the data as a stand-in.
    """
    title = spec.files.title
    paths = _root.find_files(
        spec.files,
        [f"{folder}/{b}" for b in [*batches[split], meta_name]],
        data_root=data_root,
        download=download,
        what=split,
    )
    meta_path = paths[-1]
    classes = _names(_field(_unpickle(meta_path), names_key, meta_path))
    images, labels = [], []
    for path in paths[:-1]:
        d = _unpickle(path)
        data = np.asarray(_field(d, "data", path))
        lab = np.asarray(_field(d, label_key, path), dtype=np.int64)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise DataError(f"{path}: 'data' must be uint8 [N, 3072], got {data.dtype} {data.shape}")
        if lab.shape != (data.shape[0],):
            raise DataError(f"{path}: {lab.shape} labels for {data.shape[0]} images")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(lab)
    arr = np.concatenate(images)
    folder_path = meta_path.parent
    digests = {p.relative_to(folder_path).as_posix(): _root.file_digest(p) for p in paths}
    note = stand_in_note(meta_path.parent)
    source = f"{title} {split} ({len(arr)} images) from {meta_path.parent}"
    if note:
        source += f"; STAND-IN: {note}"
    return ImageDataset(
        _to_images(arr, 255.0),
        torch.from_numpy(np.concatenate(labels)),
        classes,
        spec.name,
        stand_in=note is not None,
        source=source,
        origin={"dir": str(folder_path), "files": digests},
    )


def load_cifar10(
    split: str = "train", data_root: str | os.PathLike | None = None, download: bool = True
) -> ImageDataset:
    """CIFAR-10 (Krizhevsky 2009) from the official python batches
    ``cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``."""
    return load_dataset("cifar10", split, data_root, download)


def load_cifar100(
    split: str = "train", data_root: str | os.PathLike | None = None, download: bool = True
) -> ImageDataset:
    """CIFAR-100 (fine labels) from the official python files ``cifar-100-python/{train, test, meta}``."""
    return load_dataset("cifar100", split, data_root, download)


# ----------------------------------------------------------------------------------------- embedded

def _embedded_manifest(directory: Path) -> dict:
    path = directory / "manifest.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(
            f"{path}: embedded-data manifest missing or unreadable ({exc}); reinstall snnkit"
        ) from exc


def load_embedded(
    name: str, split: str = "train", *, directory: str | os.PathLike | None = None
) -> ImageDataset:
    """A small real subset shipped in ``snnkit/data/embedded/`` (made by ``scripts/make_embedded.py``);
    ``directory`` replaces that folder (e.g. a copy)."""
    return load_dataset(name, split, directory=directory)


def _load_embedded(
    spec: DatasetSpec,
    split: str,
    *,
    data_root: object,
    download: bool,
    file: str,
    title: str,
    directory: str | os.PathLike | None = None,
) -> ImageDataset:
    """Loader of the embedded subsets; the file's SHA-256 is checked against ``manifest.json`` first."""
    folder = Path(directory) if directory is not None else EMBEDDED_DIR
    path = folder / file
    manifest = _embedded_manifest(folder)
    entry = manifest.get("files", {}).get(path.name)
    if entry is None:
        raise DataError(f"{path.name} is not listed in {folder / 'manifest.json'}")
    if not path.is_file():
        raise DataError(
            f"embedded data file {path} is missing; run scripts/make_embedded.py or reinstall snnkit"
        )
    digest = _root.file_digest(path)
    if digest != entry["sha256"]:
        raise DataError(
            f"{path}: sha256 {digest[:16]}… does not match the manifest ({entry['sha256'][:16]}…); "
            "the file is corrupted — rerun scripts/make_embedded.py or reinstall snnkit"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            images = np.asarray(npz[f"{split}_images"])
            labels = np.asarray(npz[f"{split}_labels"], dtype=np.int64)
    except (OSError, KeyError, ValueError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read {split} arrays ({exc})") from exc
    return ImageDataset(
        _to_images(images[:, None], 255.0),
        torch.from_numpy(labels),
        spec.classes,
        spec.name,
        stand_in=False,
        source=f"{title}: {split} {len(labels)} images; {entry.get('description', '')}".rstrip("; "),
        origin={"dir": str(folder), "files": {path.name: digest}},
    )


# ------------------------------------------------------------------------------------- registration

register_dataset(
    "fashionmnist", _load_idx,
    "Fashion-MNIST (Zalando, MIT): 60k train / 10k test, 28x28 grey, 10 classes (IDX files)",
    classes=FASHION_MNIST_CLASSES, files=FASHION_MNIST, options=("verify",),
)
register_dataset(
    "fashionmnist-embedded",
    functools.partial(_load_embedded, file="fashionmnist.npz",
                      title="Fashion-MNIST embedded subset (Zalando Research, MIT)"),
    "class-balanced real subset of Fashion-MNIST shipped with snnkit: 4000 train (from the train set) / "
    "1000 test (from the test set)",
    classes=FASHION_MNIST_CLASSES, options=("directory",),
)
register_dataset(
    "mnist", _load_idx,
    "MNIST (LeCun & Cortes, CC BY-SA 3.0): 60k train / 10k test, 28x28 grey, 10 classes (IDX files)",
    classes=MNIST_CLASSES, files=MNIST, options=("verify",),
)
register_dataset(
    "mnist-embedded",
    functools.partial(_load_embedded, file="mnist.npz",
                      title="MNIST embedded subset, both splits drawn from the official MNIST test set "
                      "(LeCun & Cortes, CC BY-SA 3.0)"),
    "class-balanced real subset of the official MNIST *test* set shipped with snnkit: 1500 'train' / "
    "500 'test' images, disjoint",
    classes=MNIST_CLASSES, options=("directory",),
)
register_dataset(
    "digits", _load_digits,
    "scikit-learn digits (UCI): 1797 8x8 grey images, 10 classes, seeded stratified 75/25 split",
    classes=MNIST_CLASSES, options=("test_fraction", "seed"),
)
register_dataset(
    "cifar10",
    functools.partial(_load_cifar, folder="cifar-10-batches-py", meta_name="batches.meta",
                      batches={"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
                      label_key="labels", names_key="label_names"),
    "CIFAR-10 (Krizhevsky 2009): 50k train / 10k test, 32x32 RGB, 10 classes (python batches)",
    classes=CIFAR10_CLASSES, files=CIFAR10,
)
register_dataset(
    "cifar100",
    functools.partial(_load_cifar, folder="cifar-100-python", meta_name="meta",
                      batches={"train": ["train"], "test": ["test"]},
                      label_key="fine_labels", names_key="fine_label_names"),
    "CIFAR-100 (Krizhevsky 2009): 50k train / 10k test, 32x32 RGB, 100 fine classes (python batches)",
    files=CIFAR100,
)
