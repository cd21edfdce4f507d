"""IDX reader/writer, checksum verification, Fashion-MNIST / MNIST loaders."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from snnkit.data import images as im
from snnkit.data import load_dataset, load_fashion_mnist, load_mnist, read_idx, root, write_idx
from snnkit.errors import ConfigError, DataError

FMNIST_SYSTEM = Path("/usr/share/datasets/fashion-mnist")
# The full official MNIST reaches the tests the way it reaches users: through $SNNKIT_DATA (CI points it
# at the offline copy it is handed). Read before the offline_data fixture clears the variable.
_ENV_DATA = os.environ.get(root.ENV_VAR)
MNIST_DIR = next(
    (d for d in ([Path(_ENV_DATA), Path(_ENV_DATA) / "mnist"] if _ENV_DATA else [])
     if (d / "train-images-idx3-ubyte.gz").is_file()),
    None,
)
NO_MNIST = f"the full MNIST is not found: set ${root.ENV_VAR} to a folder holding mnist/*.gz"


pytestmark = pytest.mark.usefixtures("offline_data")


def _write_set(directory: Path, prefix: str, n: int = 12, seed: int = 0, gz: bool = True) -> tuple:
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    ext = ".gz" if gz else ""
    write_idx(directory / f"{prefix}-images-idx3-ubyte{ext}", imgs)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return imgs, labels


@given(
    arr=hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
    ),
    gz=st.booleans(),
)
def test_idx_round_trip(tmp_path_factory, arr, gz):
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if gz else "a.idx")
    write_idx(path, arr)
    back = read_idx(path)
    assert back.shape == arr.shape and back.dtype == arr.dtype.newbyteorder("=")
    np.testing.assert_array_equal(back, arr)


def test_idx_header_is_big_endian_official_layout(tmp_path):
    path = write_idx(tmp_path / "x", np.arange(6, dtype=np.uint8).reshape(2, 3))
    raw = path.read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x02"
    assert struct.unpack(">II", raw[4:12]) == (2, 3)
    assert raw[12:] == bytes(range(6))
    path = write_idx(tmp_path / "y", np.array([1, 256], dtype=np.int32))
    assert path.read_bytes() == b"\x00\x00\x0c\x01" + struct.pack(">I", 2) + struct.pack(">ii", 1, 256)


def test_truncated_file(tmp_path):
    path = write_idx(tmp_path / "t-images-idx3-ubyte", np.zeros((4, 5, 5), np.uint8))
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DataError, match="truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value)
    path.write_bytes(b"\x00\x00\x08")
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")  # header cut inside the dimensions
    with pytest.raises(DataError, match="truncated IDX header"):
        read_idx(path)


def test_trailing_bytes(tmp_path):
    path = write_idx(tmp_path / "a", np.zeros(4, np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(DataError, match="trailing"):
        read_idx(path)


@pytest.mark.parametrize(
    "magic", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"\x00\x00\x08\x00", b"PK\x03\x04"]
)
def test_wrong_magic(tmp_path, magic):
    path = tmp_path / "bad"
    path.write_bytes(magic + b"\x00\x00\x00\x01" + b"\x05")
    with pytest.raises(DataError, match="not an IDX file") as info:
        read_idx(path)
    assert "bad" in str(info.value)


def test_bad_gzip_and_truncated_gzip(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage-garbage")
    with pytest.raises(DataError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)
    good = gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 1000) + bytes(1000))
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="gzip"):
        read_idx(path)


def test_missing_file_is_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "nope")


def test_write_idx_rejects_unsupported(tmp_path):
    with pytest.raises(DataError):
        write_idx(tmp_path / "c", np.zeros(3, np.complex64))
    with pytest.raises(DataError):
        write_idx(tmp_path / "s", np.array(3, np.uint8))


@pytest.mark.parametrize("gz", [True, False])
def test_loader_reads_tiny_files_with_verify_off(tmp_path, gz):
    imgs, labels = _write_set(tmp_path, "t10k", gz=gz)
    ds = load_fashion_mnist("test", data_root=tmp_path, download=False, verify=False)
    assert ds.images.shape == (12, 1, 28, 28) and ds.images.dtype == torch.float32
    assert torch.equal(ds.images[:, 0], torch.from_numpy(imgs).float() / 255)
    assert ds.targets.dtype == torch.int64 and ds.targets.tolist() == labels.tolist()
    assert ds.classes == im.FASHION_MNIST_CLASSES and ds.name == "fashionmnist" and not ds.stand_in
    assert str(tmp_path) in ds.source
    img, target = ds[3]
    assert img.shape == (1, 28, 28) and int(target) == 3


def test_explicit_data_root_is_what_is_read_and_recorded(monkeypatch, tmp_path):
    """Bug 5: with a valid copy in $SNNKIT_DATA, an empty or misspelt data_root is an error naming it,
    never a silent switch to that copy; origin records the folder and checksums actually read."""
    env = tmp_path / "env"
    _write_set(env / "fashion-mnist", "t10k", seed=1)
    monkeypatch.setenv(root.ENV_VAR, str(env))
    (tmp_path / "empty").mkdir()
    for bad in (tmp_path / "empty", tmp_path / "emtpy"):
        with pytest.raises(DataError, match="data_root") as info:
            load_dataset("fashionmnist", "test", data_root=bad, download=False, verify=False)
        assert str(bad) in str(info.value)
    mine = tmp_path / "mine"
    imgs, labels = _write_set(mine, "t10k", seed=2)
    ds = load_dataset("fashionmnist", "test", data_root=mine, download=False, verify=False)
    assert torch.equal(ds.images[:, 0], torch.from_numpy(imgs).float() / 255)
    assert ds.origin == {
        "dir": str(mine),
        "files": {"t10k-images-idx3-ubyte.gz": im.array_sha256(imgs),
                  "t10k-labels-idx1-ubyte.gz": im.array_sha256(labels)},
    }
    from_env = load_dataset("fashionmnist", "test", download=False, verify=False)
    assert from_env.origin["dir"] == str(env / "fashion-mnist")
    assert from_env.origin["files"]["t10k-images-idx3-ubyte.gz"] != ds.origin["files"]["t10k-images-idx3-ubyte.gz"]
    assert from_env.subset([0, 1]).origin == from_env.origin


def test_unknown_files_fail_verification_unless_caller_opts_out(tmp_path):
    _write_set(tmp_path, "t10k")
    with pytest.raises(DataError, match="do not match the official Fashion-MNIST test") as info:
        load_fashion_mnist("test", data_root=tmp_path, download=False)
    assert "verify=False" in str(info.value)
    _write_set(tmp_path / "mnist", "train")
    with pytest.raises(DataError, match="do not match the official MNIST train"):
        load_mnist("train", data_root=tmp_path, download=False)


def test_mismatched_image_label_counts(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="labels for 3 images"):
        load_mnist("train", data_root=tmp_path, download=False, verify=False)


def test_label_out_of_range(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([0, 10], np.uint8))
    with pytest.raises(DataError, match="10 classes"):
        load_mnist("train", data_root=tmp_path, download=False, verify=False)


def test_stand_in_marker(tmp_path):
    _write_set(tmp_path, "train")
    (tmp_path / im.STAND_IN_MARKER).write_text("synthetic digits for testing\n")
    ds = load_mnist("train", data_root=tmp_path, download=False, verify=False)
    assert ds.stand_in and "STAND-IN: synthetic digits" in ds.source


def test_bad_split():
    with pytest.raises(ConfigError, match="'split'") as info:
        load_fashion_mnist("validation")
    assert "train" in str(info.value) and "test" in str(info.value)


@pytest.mark.skipif(not FMNIST_SYSTEM.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_real_fashion_mnist(monkeypatch):
    monkeypatch.setattr(root, "system_locations", lambda source: source.system)  # the real ones
    test = load_dataset("fashionmnist", "test", download=False)  # verifies the official checksums
    assert test.images.shape == (10000, 1, 28, 28)
    assert test.targets.bincount().tolist() == [1000] * 10
    assert float(test.images.min()) == 0.0 and float(test.images.max()) == 1.0
    assert str(FMNIST_SYSTEM) in test.source and not test.stand_in
    train = load_fashion_mnist("train", download=False)
    assert len(train) == 60000 and train.targets.bincount().tolist() == [6000] * 10


@pytest.mark.skipif(MNIST_DIR is None, reason=NO_MNIST)
def test_real_mnist_both_splits_verified(monkeypatch):
    monkeypatch.setenv(root.ENV_VAR, str(MNIST_DIR))
    test = load_dataset("mnist", "test", download=False)  # verifies the official checksums
    assert len(test) == 10000 and test.targets[:5].tolist() == [7, 2, 1, 0, 4]
    train = load_mnist("train", download=False)
    assert train.targets.bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert train.targets[:5].tolist() == [5, 0, 4, 1, 9]
    assert train.origin["dir"] == str(MNIST_DIR / "mnist" if (MNIST_DIR / "mnist").is_dir() else MNIST_DIR)
    assert train.origin["files"]["train-labels-idx1-ubyte.gz"] == im.MNIST.content_sha256["train-labels-idx1-ubyte"]
