"""CIFAR-10/100 stand-ins built from the embedded Fashion-MNIST images, read by the real CIFAR readers."""

from __future__ import annotations

import colorsys
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from snnkit.data import load_dataset, standins
from snnkit.data.images import STAND_IN_MARKER
from snnkit.errors import ConfigError, DataError
from snnkit.utils import file_digest

FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
COUNTS = {"train": 4000, "test": 1000}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("standins")
    for real in ("cifar10", "cifar100"):
        standins.build_stand_in(real, out)
    return out


def _digests(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): file_digest(p) for p in sorted(out.rglob("*")) if p.is_file()}


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as fh:
        return pickle.load(fh, encoding="bytes")


@pytest.mark.parametrize("real", ["cifar10", "cifar100"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_real_reader_loads_stand_in(built, real, split):
    ds = load_dataset(real, split, data_root=built, download=False)
    n_classes = 10 if real == "cifar10" else 100
    assert ds.images.shape == (COUNTS[split], 3, 32, 32) and ds.images.dtype == torch.float32
    assert ds.targets.dtype == torch.int64 and len(ds.classes) == n_classes
    counts = torch.bincount(ds.targets, minlength=n_classes)
    assert counts.tolist() == [COUNTS[split] // n_classes] * n_classes  # every class, equally often
    assert ds.stand_in and ds.name == real
    assert "STAND-IN" in ds.source and "Fashion-MNIST" in ds.source
    assert all("stand-in" in c for c in ds.classes)
    assert ds.origin["dir"] == str(built / FOLDERS[real])
    # Colour is not constant: the per-image mean colours spread widely.
    assert ds.images.mean(dim=(2, 3)).std(dim=0).min() > 0.05


def _grey32(split: str) -> tuple[np.ndarray, np.ndarray]:
    src = load_dataset("fashionmnist-embedded", split)
    g = F.interpolate(src.images.double(), size=(32, 32), mode="bilinear", align_corners=False)
    return g.clamp(0, 1).reshape(len(src), -1).numpy(), src.targets.numpy()


def _fit_colours(g: np.ndarray, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Per channel least squares ``c = bg + g·(fg − bg)`` over the pixels of one image."""
    a = np.stack([np.ones_like(g), g], axis=1)
    coef, *_ = np.linalg.lstsq(a, rgb.T, rcond=None)  # [2, 3]
    bg, slope = coef
    resid = np.abs(a @ coef - rgb.T).max()
    return bg + slope, bg, resid


def test_cifar100_fine_label_is_clothing_class_times_tint(built):
    d = _unpickle(built / "cifar-100-python" / "train")
    data = np.asarray(d["data"], dtype=np.float64).reshape(-1, 3, 1024) / 255.0
    fine, coarse = np.asarray(d["fine_labels"]), np.asarray(d["coarse_labels"])
    g, labels = _grey32("train")
    assert (coarse == labels).all() and (fine // 10 == coarse).all()
    meta = _unpickle(built / "cifar-100-python" / "meta")
    assert len(meta["fine_label_names"]) == 100 and len(meta["coarse_label_names"]) == 10
    checked = 0
    for i in range(0, len(fine), 37):
        if g[i].max() < 0.6:
            continue
        fg, _, resid = _fit_colours(g[i], data[i])
        assert resid < 1.5 / 255  # each channel plane is the resized grey image, blended: R, G, B planes
        hue = colorsys.rgb_to_hsv(*np.clip(fg, 0, 1))[0]
        want = standins.TINT_HUES[fine[i] % 10]
        assert min(abs(hue - want), 1 - abs(hue - want)) < 8 / 360, (i, hue, want)
        checked += 1
    assert checked > 80


def test_cifar10_colours_random_and_labels_are_clothing_classes(built):
    d = _unpickle(built / "cifar-10-batches-py" / "test_batch")
    data = np.asarray(d["data"], dtype=np.float64).reshape(-1, 3, 1024) / 255.0
    g, labels = _grey32("test")
    assert np.asarray(d["labels"]).tolist() == labels.tolist()
    hues = []
    for i in range(0, len(labels), 7):
        if g[i].max() < 0.6:
            continue
        fg, bg, resid = _fit_colours(g[i], data[i])
        assert resid < 1.5 / 255 and fg.max() > bg.max()  # bright object on a dark background
        hues.append(colorsys.rgb_to_hsv(*np.clip(fg, 0, 1))[0])
    # random hues: every tenth of the wheel is used
    assert np.histogram(hues, bins=10, range=(0, 1))[0].min() > 3


def test_build_is_deterministic_and_seeded(built, tmp_path):
    again = tmp_path / "again"
    for real in ("cifar10", "cifar100"):
        standins.build_stand_in(real, again)
    assert _digests(again) == _digests(built)
    other = standins.build_stand_in("cifar10", tmp_path / "seed1", seed=1)
    a, b = _digests(built), _digests(other)
    assert a["cifar-10-batches-py/data_batch_1"] != b["cifar-10-batches-py/data_batch_1"]


def test_build_refuses_existing_folder_and_bad_arguments(built):
    with pytest.raises(DataError, match="already exists"):
        standins.build_stand_in("cifar10", built)
    with pytest.raises(ConfigError, match="stand-in"):
        standins.build_stand_in("svhn", built)
    with pytest.raises(ConfigError, match="seed"):
        standins.stand_in_root("cifar10", built, seed=-1)


@pytest.mark.usefixtures("offline_data")
def test_registered_stand_in_builds_into_cache_once(built, tmp_path, monkeypatch):
    ds = load_dataset("cifar10-standin", "test")
    cache = tmp_path / "cache" / "snnkit" / "data" / "standins"
    (where,) = [p for p in cache.iterdir() if not p.name.startswith(".")]
    assert ds.name == "cifar10-standin" and ds.stand_in and "STAND-IN" in ds.source
    assert ds.origin["dir"] == str(where / "cifar-10-batches-py")
    ref = load_dataset("cifar10", "test", data_root=built, download=False)
    assert torch.equal(ds.images, ref.images) and torch.equal(ds.targets, ref.targets)
    assert ds.classes == ref.classes

    def no_build(*a, **k):
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(standins, "build_stand_in", no_build)
    again = load_dataset("cifar10-standin", "train")
    assert len(again) == 4000 and again.stand_in
    # The real cifar10 never picks the stand-in up from the cache it shares.
    with pytest.raises(DataError):
        load_dataset("cifar10", "train", download=False)


@pytest.mark.usefixtures("offline_data")
def test_failed_build_leaves_nothing_and_next_use_builds(tmp_path, monkeypatch):
    real_dump = standins._dump
    calls = []

    def failing_dump(path, obj):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        real_dump(path, obj)

    monkeypatch.setattr(standins, "_dump", failing_dump)
    with pytest.raises(OSError, match="disk full"):
        load_dataset("cifar100-standin", "train", directory=tmp_path / "sc")
    assert list((tmp_path / "sc").iterdir()) == []
    monkeypatch.setattr(standins, "_dump", real_dump)
    ds = load_dataset("cifar100-standin", "test", directory=tmp_path / "sc")
    assert ds.stand_in and len(ds.classes) == 100


@pytest.mark.usefixtures("offline_data")
def test_damaged_cached_build_is_reported(tmp_path):
    where = standins.stand_in_root("cifar10", tmp_path)
    batch = where / "cifar-10-batches-py" / "test_batch"
    raw = bytearray(batch.read_bytes())
    raw[-100] ^= 1  # inside the image bytes: the pickle still loads
    batch.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"test_batch.*damaged"):
        load_dataset("cifar10-standin", "test", directory=tmp_path)


def test_marker_names_the_source(built):
    text = (built / "cifar-100-python" / STAND_IN_MARKER).read_text()
    assert text.splitlines()[0].startswith("CIFAR-100 stand-in") and "fashionmnist.npz sha256" in text


@pytest.mark.parametrize(("real", "min_acc"), [("cifar100", 0.3), ("cifar10", 0.5)])
def test_stand_in_is_learnable(built, real, min_acc):
    """A linear classifier (LDA) on 4×4 pooled pixels beats chance by far (CIFAR-100: 30× chance)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    tr = load_dataset(real, "train", data_root=built, download=False)
    te = load_dataset(real, "test", data_root=built, download=False)

    def feats(ds):
        return F.avg_pool2d(ds.images, 8).flatten(1).numpy()

    clf = LinearDiscriminantAnalysis().fit(feats(tr), tr.targets.numpy())
    assert clf.score(feats(te), te.targets.numpy()) > min_acc


def test_script_writes_both(tmp_path):
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "make_stand_ins.py"
    spec = importlib.util.spec_from_file_location("make_stand_ins", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--out", str(tmp_path), "--only", "cifar10"]) == 0
    assert load_dataset("cifar10", "test", data_root=tmp_path, download=False).stand_in
    assert not (tmp_path / "cifar-100-python").exists()
    assert mod.main(["--out", str(tmp_path), "--only", "cifar10"]) == 2  # refuses to overwrite


def test_concurrent_first_use_keeps_the_finished_build(tmp_path, monkeypatch):
    """Two processes building the same stand-in: the one that renames second keeps the first one's build."""
    real_build = standins.build_stand_in

    def racing_build(real, out, *, seed=0):
        monkeypatch.setattr(standins, "build_stand_in", real_build)
        standins.stand_in_root(real, tmp_path, seed=seed)  # another process finishes first
        return real_build(real, out, seed=seed)

    monkeypatch.setattr(standins, "build_stand_in", racing_build)
    where = standins.stand_in_root("cifar10", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [where.name]  # no temporary folder left behind
    assert load_dataset("cifar10-standin", "test", directory=tmp_path).stand_in


# ------------------------------------------------------------------ full-size CIFAR-10 stand-in (cifar10-full)

FAKE_TRAIN, FAKE_TEST = 60, 20  # images per class in the synthetic Fashion-MNIST-format source


@pytest.fixture(scope="module")
def fake_fashion(tmp_path_factory) -> Path:
    """A tiny stand-in for the full Fashion-MNIST IDX files: class c is a bright square at a class position."""
    from snnkit.data.images import write_idx

    src = tmp_path_factory.mktemp("fake-fashion-mnist")
    gen = np.random.default_rng(7)
    for prefix, per_class in (("train", FAKE_TRAIN), ("t10k", FAKE_TEST)):
        labels = gen.permutation(np.repeat(np.arange(10, dtype=np.uint8), per_class))
        images = gen.integers(0, 60, (len(labels), 28, 28), dtype=np.uint8)
        for i, c in enumerate(labels):
            r, q = divmod(int(c), 5)
            images[i, 2 + 12 * r: 12 + 12 * r, 1 + 5 * q: 6 + 5 * q] = 255
        write_idx(src / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(src / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return src


@pytest.fixture
def fake_is_official(fake_fashion, monkeypatch):
    """Make the synthetic files pass the official-checksum check of the ``fashionmnist`` reader."""
    from snnkit.data.images import FASHION_MNIST, array_sha256, read_idx

    for path in fake_fashion.iterdir():
        stem = path.name.removesuffix(".gz")
        monkeypatch.setitem(FASHION_MNIST.content_sha256, stem, array_sha256(read_idx(path)))
    return fake_fashion


def test_full_builder_takes_a_stratified_seeded_subset(fake_fashion, tmp_path):
    from snnkit.data.images import read_idx

    out = standins.build_stand_in("cifar10-full", tmp_path / "a", data_root=fake_fashion, verify=False,
                                  train_size=400)
    tr = load_dataset("cifar10", "train", data_root=out, download=False)
    te = load_dataset("cifar10", "test", data_root=out, download=False)
    assert tr.images.shape == (400, 3, 32, 32) and te.images.shape == (10 * FAKE_TEST, 3, 32, 32)
    assert tr.targets.bincount().tolist() == [40] * 10 and te.targets.bincount().tolist() == [FAKE_TEST] * 10
    assert tr.stand_in and "full real Fashion-MNIST (400 of the 600 train images" in tr.source
    assert te.targets.tolist() == read_idx(fake_fashion / "t10k-labels-idx1-ubyte.gz").tolist()  # all, in order
    # each stand-in image is its source image, resized and blended between two colours
    src = read_idx(fake_fashion / "train-images-idx3-ubyte.gz")
    src_labels = read_idx(fake_fashion / "train-labels-idx1-ubyte.gz")
    grey = F.interpolate(torch.from_numpy(src[:, None] / 255.0), size=(32, 32), mode="bilinear",
                         align_corners=False).clamp(0, 1).reshape(len(src), -1).numpy()
    rgb = tr.images.double().reshape(400, 3, -1).numpy()
    matched = []
    for i in range(0, 400, 13):
        fits = [j for j in np.flatnonzero(src_labels == int(tr.targets[i])) if _fit_colours(grey[j], rgb[i])[2] < 1.5 / 255]
        assert len(fits) == 1, i
        matched.append(fits[0])
    assert matched == sorted(matched)  # the subset keeps the source's order
    # 5 batches of CIFAR's layout; byte-identical rebuild; another seed takes another subset
    assert sorted(p.name for p in (out / "cifar-10-batches-py").iterdir()) == [
        STAND_IN_MARKER, "batches.meta", *(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
    again = standins.build_stand_in("cifar10-full", tmp_path / "b", data_root=fake_fashion, verify=False,
                                    train_size=400)
    assert _digests(again) == _digests(out)
    other = standins.build_stand_in("cifar10-full", tmp_path / "c", data_root=fake_fashion, verify=False,
                                    train_size=400, seed=1)
    tr1 = load_dataset("cifar10", "train", data_root=other, download=False)
    assert tr1.targets.bincount().tolist() == [40] * 10 and not torch.equal(tr1.targets, tr.targets)


@pytest.mark.usefixtures("offline_data")
def test_registered_full_stand_in_builds_from_the_fashion_mnist_folder(fake_is_official, tmp_path, monkeypatch):
    monkeypatch.setenv("SNNKIT_DATA", str(fake_is_official))
    te = load_dataset("cifar10-standin-full", "test", directory=tmp_path / "cache")
    (where,) = (tmp_path / "cache").iterdir()
    assert where.name.startswith("cifar10-full-v1-seed0-")
    assert te.name == "cifar10-standin-full" and te.stand_in and len(te) == 10 * FAKE_TEST
    assert te.origin["dir"] == str(where / "cifar-10-batches-py")
    monkeypatch.delenv("SNNKIT_DATA")  # the cached build needs the source no more
    tr = load_dataset("cifar10-standin-full", "train", directory=tmp_path / "cache")
    assert len(tr) == 10 * FAKE_TRAIN  # 50,000 asked, fewer available: all of them
    assert json.loads((where / "cifar10-full-standin.json").read_text())["sizes"]["train"] == {"images": 600, "of": 600}


@pytest.mark.usefixtures("offline_data")
def test_full_stand_in_without_fashion_mnist_is_a_clear_error(fake_fashion, tmp_path):
    with pytest.raises(DataError, match=r"cifar10-standin-full is built from the full Fashion-MNIST") as info:
        load_dataset("cifar10-standin-full", "train", download=False, directory=tmp_path)
    assert "dataset-fashion-mnist" in str(info.value)  # the reader's advice comes along
    missing = tmp_path / "no-such-folder"
    with pytest.raises(DataError, match="no-such-folder.*does not exist"):
        load_dataset("cifar10-standin-full", "test", data_root=missing, download=False, directory=tmp_path)
    with pytest.raises(DataError, match="do not match the official"):  # verified like the real reader
        load_dataset("cifar10-standin-full", "test", data_root=fake_fashion, directory=tmp_path)
    assert [p for p in tmp_path.iterdir() if p.name != "no-such-folder"] == []  # no partial build left


def test_embedded_stand_ins_take_no_source_options(tmp_path):
    with pytest.raises(ConfigError, match="data_root"):
        standins.build_stand_in("cifar10", tmp_path, data_root=tmp_path)
    with pytest.raises(ConfigError, match="train_size"):
        standins.build_stand_in("cifar100", tmp_path, train_size=10)
    with pytest.raises(ConfigError, match="train_size"):
        standins.build_stand_in("cifar10-full", tmp_path, train_size=0)


def test_script_builds_the_full_stand_in_only_when_asked(fake_is_official, tmp_path):
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "make_stand_ins.py"
    spec = importlib.util.spec_from_file_location("make_stand_ins", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--out", str(tmp_path), "--only", "cifar10-full", "--fashion-mnist", str(fake_is_official)]) == 0
    assert len(load_dataset("cifar10", "train", data_root=tmp_path, download=False)) == 10 * FAKE_TRAIN
    assert (tmp_path / "cifar10-full-standin.json").is_file() and not (tmp_path / "cifar-100-python").exists()
