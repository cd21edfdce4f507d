"""Embedded subsets, digits, the load_dataset dispatcher, ImageDataset, split_train_val."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from snnkit.data import (
    ImageDataset,
    dataset_names,
    load_dataset,
    load_digits,
    load_embedded,
    root,
    split_train_val,
)
from snnkit.data.images import EMBEDDED_DIR, FASHION_MNIST, FASHION_MNIST_CLASSES
from snnkit.errors import ConfigError, DataError


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    def no_network(url, dest, md5):
        raise AssertionError(f"test tried to download {url}")

    monkeypatch.setattr(root, "download_url", no_network)


@pytest.mark.parametrize(
    "name,split,n,per_class",
    [
        ("fashionmnist-embedded", "train", 4000, 400),
        ("fashionmnist-embedded", "test", 1000, 100),
        ("mnist-embedded", "train", 1500, 150),
        ("mnist-embedded", "test", 500, 50),
    ],
)
def test_embedded_load(name, split, n, per_class):
    ds = load_dataset(name, split)
    assert isinstance(ds, ImageDataset)
    assert ds.images.shape == (n, 1, 28, 28) and ds.images.dtype == torch.float32
    assert ds.targets.dtype == torch.int64
    assert ds.targets.bincount(minlength=10).tolist() == [per_class] * 10
    fname = "mnist.npz" if name.startswith("mnist") else "fashionmnist.npz"
    with np.load(EMBEDDED_DIR / fname) as npz:  # exactly the stored uint8 pixels, scaled to [0, 1]
        assert torch.equal(ds.images[:, 0], torch.from_numpy(npz[f"{split}_images"]).float() / 255)
        assert ds.targets.tolist() == npz[f"{split}_labels"].tolist()
    assert ds.name == name and "embedded" in ds.name and not ds.stand_in
    assert "embedded subset" in ds.source and f"{split} {n} images" in ds.source
    manifest = json.loads((EMBEDDED_DIR / "manifest.json").read_text())
    assert ds.origin == {"dir": str(EMBEDDED_DIR), "files": {fname: manifest["files"][fname]["sha256"]}}


def test_embedded_manifest_checksums_and_layout():
    manifest = json.loads((EMBEDDED_DIR / "manifest.json").read_text())
    total = 0
    for fname, entry in manifest["files"].items():
        path = EMBEDDED_DIR / fname
        assert root.file_digest(path) == entry["sha256"]
        total += path.stat().st_size
        with np.load(path) as npz:
            for split in ("train", "test"):
                assert npz[f"{split}_images"].dtype == np.uint8
                assert npz[f"{split}_labels"].dtype == np.int64
    assert total < 8 * 2**20  # "a few MB in all"
    assert (EMBEDDED_DIR / "ATTRIBUTION.md").read_text().count("Licence") >= 2
    with np.load(EMBEDDED_DIR / "mnist.npz") as npz:  # both splits from the t10k set, disjoint
        assert not set(npz["train_source_index"]) & set(npz["test_source_index"])


def test_embedded_checksum_mismatch_and_missing(tmp_path):
    for f in EMBEDDED_DIR.iterdir():
        if f.is_file():  # the image subsets and their manifest (the SHD stand-in has its own folder)
            shutil.copy(f, tmp_path / f.name)
    assert len(load_embedded("mnist-embedded", "test", directory=tmp_path)) == 500
    blob = bytearray((tmp_path / "mnist.npz").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (tmp_path / "mnist.npz").write_bytes(bytes(blob))
    with pytest.raises(DataError, match="does not match the manifest"):
        load_embedded("mnist-embedded", "test", directory=tmp_path)
    (tmp_path / "mnist.npz").unlink()
    with pytest.raises(DataError, match="missing"):
        load_embedded("mnist-embedded", "test", directory=tmp_path)
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(DataError, match="manifest"):
        load_embedded("fashionmnist-embedded", "test", directory=tmp_path)


def test_embedded_fashion_matches_the_full_set():
    fmnist = FASHION_MNIST.system[0]
    if not fmnist.is_dir():
        pytest.skip("Debian package dataset-fashion-mnist not installed")
    from snnkit.data.images import read_idx

    full = read_idx(fmnist / "t10k-images-idx3-ubyte.gz")
    with np.load(EMBEDDED_DIR / "fashionmnist.npz") as npz:
        np.testing.assert_array_equal(npz["test_images"], full[npz["test_source_index"]])


def test_digits_split_deterministic_stratified_disjoint():
    train, test = load_digits("train"), load_digits("test")
    assert len(train) + len(test) == 1797 and len(test) == round(0.25 * 1797)
    assert train.images.shape[1:] == (1, 8, 8) and float(train.images.max()) == 1.0
    assert torch.equal(load_digits("train").images, train.images)  # deterministic
    per_class = train.targets.bincount() + test.targets.bincount()
    assert torch.all((test.targets.bincount() - 0.25 * per_class).abs() < 1)  # stratified, within one
    other = load_digits("test", seed=1)
    assert not torch.equal(other.images, test.images)
    rows = {tuple(x.flatten().tolist()) + (int(y),) for x, y in zip(train.images, train.targets)}
    # digits has a few duplicate images; the split is disjoint by index, so overlap stays tiny
    assert sum(tuple(x.flatten().tolist()) + (int(y),) in rows for x, y in zip(test.images, test.targets)) < 5
    for bad in (1.5, 0, "0.2", True):  # a string or bool was a TypeError / a silent split before
        with pytest.raises(ConfigError, match="test_fraction"):
            load_digits("train", test_fraction=bad)
    assert train.origin["dir"] is None and train.origin == test.origin
    assert list(train.origin["files"].values()) == ["faf2d98f61250c1cdc0b114323133d3c58da04f5c5d28bb78e4bde3c936a75b1"]


def test_dispatcher_errors_list_choices():
    with pytest.raises(ConfigError) as info:
        load_dataset("svhn", "train")
    for name in dataset_names():
        assert name in str(info.value)
    with pytest.raises(ConfigError, match="'split'"):
        load_dataset("digits", "val")
    assert set(dataset_names()) >= {
        "fashionmnist", "fashionmnist-embedded", "mnist", "mnist-embedded", "digits", "cifar10", "cifar100",
    }  # fmt: skip


def test_image_dataset_contract():
    ds = ImageDataset(
        torch.rand(6, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2]), ["a", "b", "c"], "toy", source="t"
    )
    assert len(ds) == 6 and ds.num_classes == 3 and ds.input_shape == (1, 2, 2)
    x, y = ds[4]
    assert x.shape == (1, 2, 2) and y.dtype == torch.int64 and int(y) == 1
    loader = torch.utils.data.DataLoader(ds, batch_size=4)
    xb, yb = next(iter(loader))
    assert xb.shape == (4, 1, 2, 2) and yb.tolist() == [0, 1, 2, 0]
    assert "toy" in repr(ds)
    with pytest.raises(DataError):
        ImageDataset(torch.rand(3, 2, 2), torch.zeros(3), ["a"], "bad")
    with pytest.raises(DataError):
        ImageDataset(torch.rand(3, 1, 2, 2), torch.zeros(2), ["a"], "bad")


def test_split_train_val_stratified_and_random():
    ds = load_dataset("mnist-embedded", "train")
    tr, va = split_train_val(ds, 0.2, seed=0)
    assert len(tr) == 1200 and len(va) == 300
    assert va.targets.bincount().tolist() == [30] * 10
    tr2, va2 = split_train_val(ds, 0.2, seed=0)
    assert torch.equal(va.images, va2.images) and torch.equal(tr.targets, tr2.targets)
    _, va3 = split_train_val(ds, 0.2, seed=1)
    assert not torch.equal(va.images, va3.images)
    assert va.name == ds.name and "val part" in va.source and va.classes == ds.classes
    rtr, rva = split_train_val(ds, 0.1, seed=3, stratified=False)
    assert len(rva) == 150 and len(rtr) == 1350
    # every sample lands in exactly one part: the parts' multisets of rows add up to the whole
    both = torch.cat([rtr.images, rva.images]).flatten(1)
    assert torch.allclose(both.sum(0), ds.images.flatten(1).sum(0), atol=1e-3)
    assert torch.equal(torch.cat([rtr.targets, rva.targets]).bincount(), ds.targets.bincount())
    for bad in (0, 1, -0.1, "0.2"):
        with pytest.raises(ConfigError, match="val_fraction"):
            split_train_val(ds, bad, seed=0)


def test_fashion_classes():
    assert load_dataset("fashionmnist-embedded", "test").classes == FASHION_MNIST_CLASSES
