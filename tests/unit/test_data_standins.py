"""CIFAR-10/100 stand-ins built from the embedded Fashion-MNIST images, read by the real CIFAR readers."""

from __future__ import annotations

import colorsys
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
