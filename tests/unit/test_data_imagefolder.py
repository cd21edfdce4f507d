"""ImageNet in the ImageFolder layout: the reader (torchvision's semantics, SEW-ResNet transforms, errors) and
the tiny stand-in written in that format from the embedded Fashion-MNIST images."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snnkit.data import imagefolder, load_dataset, split_train_val, stratified_subset
from snnkit.data.imagefolder import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    STANDIN_WNIDS,
    VALPREP_URL,
    ImageFolderDataset,
)
from snnkit.data.images import FASHION_MNIST_CLASSES, STAND_IN_MARKER
from snnkit.data.sampling import stratified_partition
from snnkit.data.standins import colourise, draw_colours
from snnkit.errors import ConfigError, DataError
from snnkit.utils import file_digest

SIZES = {"train": 30 * 10, "val": 10 * 10, "test": 10 * 10}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return imagefolder.build_imagenet_standin(tmp_path_factory.mktemp("imagenet-standin"))


def _tree(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): file_digest(p) for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_reader_reads_the_stand_in(built, split):
    ds = load_dataset("imagenet", split, data_root=built, download=False)
    assert isinstance(ds, ImageFolderDataset) and len(ds) == SIZES[split] and ds.name == "imagenet"
    assert ds.classes == list(STANDIN_WNIDS) and ds.targets.dtype == torch.int64
    assert ds.targets.bincount().tolist() == [SIZES[split] // 10] * 10
    assert ds.class_names == [f"{c} (stand-in)" for c in FASHION_MNIST_CLASSES]
    assert ds.stand_in and "STAND-IN" in ds.source and "Fashion-MNIST" in ds.source
    folder = built / "imagenet" / ("train" if split == "train" else "val")
    assert ds.origin["dir"] == str(folder) and ds.origin["n_files"] == len(ds) and ds.origin["files"] == {}
    assert all(p.endswith(".JPEG") and Path(p).parent.name == ds.classes[int(t)] for p, t in zip(ds.paths, ds.targets))
    x, y = ds[len(ds) - 1]
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32 and int(y) == 9 and ds.input_shape == (3, 224, 224)
    xb, yb = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 3, 224, 224) and yb.tolist() == [0, 0, 0, 0]


def test_samples_are_torchvisions_imagefolder_samples(built):
    from snnkit._compat import import_torchvision

    tv = import_torchvision().datasets.ImageFolder(str(built / "imagenet" / "train"))
    ds = load_dataset("imagenet", "train", data_root=built, download=False)
    assert ds.classes == tv.classes
    assert [(p, int(t)) for p, t in zip(ds.paths, ds.targets)] == [(p, t) for p, t in tv.samples]


def _expected_val(seed: int = 0, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The val images as the builder colours them (before JPEG): ``[100, 64, 64, 3]`` uint8 and labels."""
    src = load_dataset("fashionmnist-embedded", "test")
    labels = src.targets.numpy()
    keep = np.flatnonzero(stratified_partition(labels, (len(labels) - 100, 100), seed) == 1)
    fg, bg = draw_colours(np.random.default_rng([seed, 3, 1]), len(keep))
    return colourise(src.images[torch.from_numpy(keep)], fg, bg, size).transpose(0, 2, 3, 1), labels[keep]


def test_eval_transform_gives_back_the_coloured_images(built):
    plain = load_dataset("imagenet", "val", data_root=built, download=False, crop_size=64, resize_size=64,
                         normalize=False)
    normed = load_dataset("imagenet", "val", data_root=built, download=False, crop_size=64, resize_size=64)
    want, labels = _expected_val()
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    for i in range(0, len(plain), 7):
        k = int(Path(plain.paths[i]).stem.removeprefix("val_"))
        x, y = plain[i]
        assert int(y) == labels[k]
        ref = torch.from_numpy(want[k]).permute(2, 0, 1).float() / 255
        assert (x - ref).abs().mean() < 0.02  # JPEG at quality 95, 4:4:4
        assert torch.allclose(normed[i][0], (x - mean) / std, atol=1e-5)


def test_train_transform_is_a_random_resized_crop_and_flip(built):
    ds = load_dataset("imagenet", "train", data_root=built, download=False, crop_size=32)
    torch.manual_seed(0)
    a = ds[3][0]
    torch.manual_seed(0)
    b = ds[3][0]
    c = ds[3][0]
    assert a.shape == (3, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)  # torch's global RNG
    fixed = load_dataset("imagenet", "train", data_root=built, download=False, crop_size=32, augment=False)
    assert torch.equal(fixed[3][0], fixed[3][0])
    assert load_dataset("imagenet", "val", data_root=built, download=False, augment=True)[0][0].shape == (3, 224, 224)


def test_stand_in_build_is_byte_identical_and_seeded(built, tmp_path):
    assert _tree(imagefolder.build_imagenet_standin(tmp_path / "again")) == _tree(built)
    other = set(_tree(imagefolder.build_imagenet_standin(tmp_path / "seed1", seed=1)).values())
    jpegs = [v for k, v in _tree(built).items() if k.endswith(".JPEG")]
    assert len(jpegs) == 400 and sum(v in other for v in jpegs) < 20  # other images, other colours
    manifest = json.loads((built / "imagenet-standin.json").read_text())
    assert manifest["files"] == {k.removeprefix("imagenet/"): v for k, v in _tree(built).items()
                                 if k.startswith("imagenet/")}
    assert (built / "imagenet" / STAND_IN_MARKER).read_text().startswith("ImageNet stand-in made by snnkit")
    with pytest.raises(DataError, match="already exists"):
        imagefolder.build_imagenet_standin(built)
    with pytest.raises(ConfigError, match="n_val"):
        imagefolder.build_imagenet_standin(tmp_path / "big", n_val=101)


@pytest.mark.usefixtures("offline_data")
def test_registered_stand_in_builds_into_the_cache_once(tmp_path, monkeypatch):
    ds = load_dataset("imagenet-standin", "train")
    cache = tmp_path / "cache" / "snnkit" / "data" / "standins"
    (where,) = list(cache.iterdir())
    assert where.name.startswith("imagenet-standin-v1-seed0-")
    assert ds.name == "imagenet-standin" and ds.stand_in and len(ds) == 300 and ds.input_shape == (3, 56, 56)
    assert ds[0][0].shape == (3, 56, 56) and len(ds.origin["files"]) == 300  # every file checked

    def no_build(*a, **k):
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(imagefolder, "build_imagenet_standin", no_build)
    val = load_dataset("imagenet-standin", "test", crop_size=32)
    assert len(val) == 100 and val[0][0].shape == (3, 32, 32)
    victim = Path(val.paths[5])
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(DataError, match=rf"{victim.name} differs .*damaged"):
        load_dataset("imagenet-standin", "val")


@pytest.mark.usefixtures("offline_data")
def test_missing_folders_are_named(built, tmp_path, monkeypatch):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(DataError, match=r"no-such-folder'? does not exist.*\n.*image-net.org"):
        load_dataset("imagenet", "train", data_root=missing)
    with pytest.raises(DataError, match="has no val/ folder"):
        load_dataset("imagenet", "val", data_root=tmp_path)
    with pytest.raises(DataError, match=r"no train/ folder found(.|\n)*SNNKIT_DATA is not set(.|\n)*registration"):
        load_dataset("imagenet", "train")
    monkeypatch.setenv("SNNKIT_DATA", str(built))
    assert len(load_dataset("imagenet", "val")) == 100


def _copy_images(src: Path, dest: Path, n: int) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for p in sorted(src.glob("*.JPEG"))[:n]:
        shutil.copy(p, dest / p.name)


def test_unsorted_empty_or_mismatched_folders_are_errors(built, tmp_path):
    root = tmp_path / "imagenet"
    one_class = built / "imagenet" / "val" / "n00000001"
    _copy_images(one_class, root / "val", 3)  # val as unpacked from the tarball: no class folders
    with pytest.raises(DataError, match=rf"holds 3 image files but no class folders.*{VALPREP_URL}"):
        load_dataset("imagenet", "val", data_root=tmp_path)
    (root / "train" / "n1" / "deeper").mkdir(parents=True)
    _copy_images(one_class, root / "train" / "n2", 2)
    (root / "train" / "n1" / "deeper" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"1 class folder\(s\) without images \(n1\)"):
        load_dataset("imagenet", "train", data_root=tmp_path)
    _copy_images(one_class, root / "train" / "n1" / "deeper", 2)  # images in sub-folders count (os.walk)
    assert load_dataset("imagenet", "train", data_root=tmp_path).targets.tolist() == [0, 0, 1, 1]
    (root / "train" / "n2" / "broken.jpeg").write_bytes(b"not a jpeg")
    ds = load_dataset("imagenet", "train", data_root=tmp_path)
    with pytest.raises(DataError, match="broken.jpeg: not a readable image"):
        ds[ds.paths.index(str(root / "train" / "n2" / "broken.jpeg"))]
    shutil.rmtree(root / "val")
    _copy_images(one_class, root / "val" / "n3", 1)
    with pytest.raises(DataError, match="different class folders"):
        load_dataset("imagenet", "val", data_root=tmp_path)


@pytest.mark.parametrize(("option", "value"), [("crop_size", 0), ("resize_size", 100), ("augment", "yes"),
                                               ("normalize", None), ("crop_size", True)])
def test_bad_options_are_config_errors(built, option, value):
    with pytest.raises(ConfigError, match=option):
        load_dataset("imagenet", "val", data_root=built, **{option: value})[0]


def test_subsets_keep_the_lazy_type_and_transform(built):
    ds = load_dataset("imagenet", "train", data_root=built, download=False, crop_size=32)
    tr, va = split_train_val(ds, 0.2, seed=0)
    assert type(tr) is type(va) is ImageFolderDataset and len(va) == 60
    assert va.targets.bincount().tolist() == [6] * 10 and va.transform is ds.transform
    assert set(tr.paths).isdisjoint(va.paths) and va[0][0].shape == (3, 32, 32)
    sub = stratified_subset(ds, 50, seed=0)
    assert len(sub) == 50 and sub.stand_in and "stratified_subset" in sub.source
    assert sub.class_names == ds.class_names and sub.input_shape == (3, 32, 32)


_NAMES = st.text(alphabet="abAB01_.", min_size=1, max_size=6).filter(lambda s: s not in {".", ".."})
_EXTS = st.sampled_from([".JPEG", ".jpg", ".png", ".PnG", ".webp", ".txt", ".jpeg.bak", ""])


@settings(max_examples=25)
@given(tree=st.dictionaries(_NAMES, st.lists(st.tuples(st.booleans(), _NAMES, _EXTS), min_size=1, max_size=5),
                            min_size=1, max_size=4))
def test_scan_matches_torchvision_on_any_tree(tree, tmp_path_factory):
    """Class order, sample order, extensions (any case) and nested folders as torchvision's ImageFolder."""
    from snnkit._compat import import_torchvision

    folder = tmp_path_factory.mktemp("tree")
    for cls, files in tree.items():
        for nested, stem, ext in files:
            path = folder / cls / ("sub" if nested else "") / f"{stem}{ext}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
    folder_mod = import_torchvision().datasets.folder
    classes, mapping = folder_mod.find_classes(str(folder))
    try:
        want = folder_mod.make_dataset(str(folder), mapping, extensions=imagefolder.IMG_EXTENSIONS)
    except FileNotFoundError:  # torchvision refuses a class without images: so does the scan
        with pytest.raises(DataError, match="without images"):
            imagefolder.scan_imagefolder(folder)
        return
    got_classes, paths, targets = imagefolder.scan_imagefolder(folder)
    assert got_classes == classes and list(zip(paths, targets)) == want
