"""CIFAR-10/100 readers on tiny files written here in the official python-pickle batch format."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from snnkit.data import load_cifar10, load_cifar100, load_dataset, root
from snnkit.data.images import CIFAR10_CLASSES, STAND_IN_MARKER
from snnkit.errors import DataError

pytestmark = pytest.mark.usefixtures("offline_data")


def _dump(path: Path, obj) -> None:
    # The official files were written by Python 2 cPickle (protocol 2, str keys read back as bytes).
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)


def _batch(rng, n, n_classes, label_key):
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, n_classes, size=n)]
    return data, labels, {b"batch_label": b"tiny", label_key: labels, b"data": data, b"filenames": [b"f"] * n}


def write_cifar10(root_dir: Path, n: int = 4, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    folder = root_dir / "cifar-10-batches-py"
    out = {"train": ([], []), "test": ([], [])}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data, labels, obj = _batch(rng, n, 10, b"labels")
        split = "test" if name == "test_batch" else "train"
        out[split][0].append(data)
        out[split][1].extend(labels)
        _dump(folder / name, obj)
    names = [c.encode() for c in CIFAR10_CLASSES]
    _dump(folder / "batches.meta", {b"label_names": names, b"num_cases_per_batch": n, b"num_vis": 3072})
    return {k: (np.concatenate(v[0]), v[1]) for k, v in out.items()}


def write_cifar100(root_dir: Path, n: int = 5, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    folder = root_dir / "cifar-100-python"
    out = {}
    for split in ("train", "test"):
        data, fine, obj = _batch(rng, n, 100, b"fine_labels")
        obj[b"coarse_labels"] = [f // 5 for f in fine]
        _dump(folder / split, obj)
        out[split] = (data, fine)
    _dump(
        folder / "meta",
        {b"fine_label_names": [f"class{i}".encode() for i in range(100)],
         b"coarse_label_names": [f"super{i}".encode() for i in range(20)]},
    )  # fmt: skip
    return out


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar10_round_trip(tmp_path, split):
    want = write_cifar10(tmp_path)
    ds = load_cifar10(split, data_root=tmp_path, download=False)
    data, labels = want[split]
    assert ds.images.shape == (len(labels), 3, 32, 32) and ds.images.dtype == torch.float32
    # official layout: 1024 red, then 1024 green, then 1024 blue values, each row-major 32x32
    assert torch.equal(ds.images, torch.from_numpy(data.reshape(-1, 3, 32, 32)).float() / 255)
    assert round(float(ds.images[0, 1, 0, 0]) * 255) == data[0, 1024]
    assert ds.targets.tolist() == labels and ds.classes == CIFAR10_CLASSES
    assert ds.name == "cifar10" and not ds.stand_in
    assert len(ds) == (20 if split == "train" else 4)
    folder = tmp_path / "cifar-10-batches-py"
    batches = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    assert ds.origin == {
        "dir": str(folder),
        "files": {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
                  for name in [*batches, "batches.meta"]},
    }


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar100_round_trip_fine_labels(tmp_path, split):
    want = write_cifar100(tmp_path)
    ds = load_dataset("cifar100", split, data_root=tmp_path, download=False)
    data, fine = want[split]
    assert torch.equal(ds.images, torch.from_numpy(data.reshape(-1, 3, 32, 32)).float() / 255)
    assert ds.targets.tolist() == fine
    assert len(ds.classes) == 100 and ds.classes[7] == "class7"


def test_cifar_stand_in_marker_and_env(monkeypatch, tmp_path):
    write_cifar10(tmp_path / "data" / "cifar10")
    (tmp_path / "data" / "cifar10" / "cifar-10-batches-py" / STAND_IN_MARKER).write_text(
        "embedded images resized"
    )
    monkeypatch.setenv(root.ENV_VAR, str(tmp_path / "data"))
    ds = load_cifar10("test", download=False)
    assert ds.stand_in and "STAND-IN" in ds.source


def test_cifar_missing_batch_is_data_error(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3"):
        load_cifar10("train", data_root=tmp_path, download=False)


def test_cifar_corrupt_or_malicious_batches(tmp_path):
    write_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    (folder / "test_batch").write_bytes(b"\x80\x02}q\x00(truncated")
    with pytest.raises(DataError, match="test_batch"):
        load_cifar10("test", data_root=tmp_path, download=False)
    _dump(folder / "test_batch", {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    with pytest.raises(DataError, match=r"uint8 \[N, 3072\]"):
        load_cifar10("test", data_root=tmp_path, download=False)
    _dump(folder / "test_batch", {b"labels": [0]})
    with pytest.raises(DataError, match="no 'data' entry"):
        load_cifar10("test", data_root=tmp_path, download=False)
    _dump(folder / "test_batch", {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]})
    with pytest.raises(DataError, match="labels for 2 images"):
        load_cifar10("test", data_root=tmp_path, download=False)
    # a pickle that would call an arbitrary function is refused, not executed
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({b"data": Path("/etc")}, fh, protocol=2)
    with pytest.raises(DataError, match="not allowed"):
        load_cifar10("test", data_root=tmp_path, download=False)


def test_cifar_not_found_message(tmp_path):
    with pytest.raises(DataError) as info:
        load_cifar100("train", data_root=tmp_path, download=False)
    msg = str(info.value)
    assert "cifar-100-python/train" in msg and "cifar-100-python/meta" in msg and str(tmp_path) in msg
