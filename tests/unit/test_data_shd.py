"""SHD / SSC HDF5 reader, registry entries and the seed's affine augmentation (no network: the tests write
HDF5 files in the official schema with h5py)."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import io
import re
import zipfile

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from snnkit.data import registry, root
from snnkit.data.registry import dataset_spec, load_dataset
from snnkit.data.sequences import pad_collate
from snnkit.data.shd import (
    ARCHIVE_MD5,
    SHD,
    SHD_CLASSES,
    SSC,
    STAND_IN_ATTR,
    affine_time_channel,
    load_shd_files,
    random_affine,
    read_shd_file,
    shd_dataset,
    write_shd_file,
)
from snnkit.errors import ConfigError, DataError

# three samples: times in seconds, units, labels (sample 1 has no events at all)
TIMES = [[0.0, 0.0004, 0.0015, 0.0031, 0.0099], [], [0.002, 0.0005, 0.0125]]
UNITS = [[3, 3, 699, 10, 0], [], [5, 6, 350]]
LABELS = [4, 17, 0]


def _raw(path, times=TIMES, units=UNITS, labels=LABELS, *, t_dtype=np.float32, u_dtype=np.uint16,
         l_dtype=np.uint16, skip=(), attrs=None, speakers=None, keys=20):
    """Write the official schema with plain h5py (independent of write_shd_file)."""
    with h5py.File(path, "w") as f:
        if "spikes/times" not in skip:
            ds = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.dtype(t_dtype)))
            for i, t in enumerate(times):
                ds[i] = np.asarray(t, dtype=t_dtype)
        if "spikes/units" not in skip:
            ds = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.dtype(u_dtype)))
            for i, u in enumerate(units):
                ds[i] = np.asarray(u, dtype=u_dtype)
        if "labels" not in skip:
            f.create_dataset("labels", data=np.asarray(labels, dtype=l_dtype))
        f.create_dataset("extra/keys", data=[f"word-{i}" for i in range(keys)], dtype=h5py.string_dtype())
        if speakers is not None:
            f.create_dataset("extra/speaker", data=np.asarray(speakers, dtype=np.uint16))
        for k, v in (attrs or {}).items():
            f.attrs[k] = v
    return path


def _by_hand(times, units, dt, channels=700, pool=1, max_time=None, t_dtype=np.float32):
    """Bin one sample with plain Python loops (times as stored: ``t_dtype``)."""
    kept = [(t, u) for t, u in zip(np.asarray(times, dtype=t_dtype), units) if max_time is None or t < max_time]
    T = max((int(np.floor(np.float64(t) / dt)) for t, _ in kept), default=0) + 1
    out = torch.zeros(T, channels // pool)
    for t, u in kept:
        out[int(np.floor(np.float64(t) / dt)), u // pool] += 1
    return out


def test_round_trip_binned_equals_hand_binned(tmp_path):
    path = _raw(tmp_path / "shd_train.h5", speakers=[1, 2, 3])
    ds = shd_dataset(path)
    assert len(ds) == 3 and ds.n_channels == 700 and ds.dt == 1e-3
    assert ds.classes == list(SHD_CLASSES) and ds.classes[:2] == ["en-0", "en-1"] and ds.classes[10] == "de-0"
    assert ds.languages == ["en"] * 10 + ["de"] * 10
    assert ds.targets.tolist() == LABELS
    assert ds.speakers.tolist() == [1, 2, 3]
    for i in range(3):
        x, y = ds[i]
        assert torch.equal(x, _by_hand(TIMES[i], UNITS[i], 1e-3)) and int(y) == LABELS[i]
    assert ds.lengths.tolist() == [10, 1, 13]
    assert not ds.stand_in and ds.meta["stand_in"] is False
    assert ds.meta["keys"][:2] == ["word-0", "word-1"]
    assert ds.origin["files"] == {"shd_train.h5": hashlib.sha256(path.read_bytes()).hexdigest()}
    # a coarser bin
    ds5 = shd_dataset(path, dt=5e-3)
    assert torch.equal(ds5[0][0], _by_hand(TIMES[0], UNITS[0], 5e-3))


@pytest.mark.parametrize("t_dtype", [np.float16, np.float64])
def test_other_time_precisions(tmp_path, t_dtype):
    ds = shd_dataset(_raw(tmp_path / "p.h5", t_dtype=t_dtype))
    for i in range(3):
        assert torch.equal(ds[i][0], _by_hand(TIMES[i], UNITS[i], 1e-3, t_dtype=t_dtype))
    written = write_shd_file(tmp_path / "w.h5", TIMES, UNITS, LABELS, time_dtype=t_dtype)
    assert all(np.array_equal(a, np.asarray(b, dtype=t_dtype).astype(np.float64))
               for a, b in zip(read_shd_file(written).times, TIMES))


def test_samples_batch_with_pad_collate_start(tmp_path):
    ds = shd_dataset(_raw(tmp_path / "a.h5"))
    (x, lengths), y = pad_collate([ds[i] for i in range(3)], pad="start")
    assert x.shape == (13, 3, 700) and lengths.tolist() == [10, 1, 13] and y.tolist() == LABELS
    assert torch.equal(x[3:, 0], ds[0][0]) and not x[:3, 0].any()  # zeros first, the end is the end


def test_max_time_crop(tmp_path):
    path = _raw(tmp_path / "a.h5")
    ds = shd_dataset(path, max_time=0.003)
    for i in range(3):
        assert torch.equal(ds[i][0], _by_hand(TIMES[i], UNITS[i], 1e-3, max_time=0.003))
    assert ds.lengths.tolist() == [2, 1, 3]
    assert ds.meta["max_time"] == 0.003 and ds.meta["n_events"] == 5
    # an event exactly at max_time is dropped (2^-7 s is exact in every float format)
    edge = shd_dataset(_raw(tmp_path / "edge.h5", [[0.0078125, 0.0070]], [[1, 2]], [0]), max_time=0.0078125)
    assert edge.lengths.tolist() == [8] and edge[0][0].sum() == 1 and edge[0][0][7, 2] == 1


def test_channel_pooling(tmp_path):
    path = _raw(tmp_path / "a.h5")
    ds = shd_dataset(path, pool=7)
    assert ds.n_channels == 100
    full = shd_dataset(path)
    for i in range(3):
        assert torch.equal(ds[i][0], _by_hand(TIMES[i], UNITS[i], 1e-3, pool=7))
        assert torch.equal(ds[i][0], full[i][0].view(-1, 100, 7).sum(2))
    with pytest.raises(ConfigError, match="divisor of 700"):
        shd_dataset(path, pool=3)


def test_stand_in_marker_attribute_and_file(tmp_path):
    path = _raw(tmp_path / "a.h5", attrs={STAND_IN_ATTR: "espeak-ng digits, not SHD\nmore detail"})
    ds = shd_dataset(path)
    assert ds.stand_in and ds.meta["stand_in"] and ds.meta["stand_in_note"] == "espeak-ng digits, not SHD"
    assert "STAND-IN: espeak-ng digits, not SHD" in ds.source
    other = tmp_path / "beside"
    other.mkdir()
    _raw(other / "b.h5")
    (other / "SNNKIT_STAND_IN").write_text("a marker file\n")
    assert shd_dataset(other / "b.h5").stand_in


def test_writer_round_trip_and_stand_in(tmp_path):
    rng = np.random.default_rng(0)
    times = [np.sort(rng.uniform(0, 0.05, n)).astype(np.float32) for n in (7, 0, 30)]
    units = [rng.integers(0, 700, len(t)) for t in times]
    path = write_shd_file(tmp_path / "w.h5", times, units, [1, 2, 19], speakers=[0, 5, 5],
                          keys=list(SHD_CLASSES), stand_in="made by a test")
    data = read_shd_file(path, n_classes=20)
    assert data.stand_in == "made by a test" and data.keys == SHD_CLASSES
    assert data.labels.tolist() == [1, 2, 19] and data.speakers.tolist() == [0, 5, 5]
    for a, b, c, d in zip(data.times, times, data.units, units):
        assert np.array_equal(a, b.astype(np.float64)) and np.array_equal(c, d)
    with h5py.File(path) as f:  # the official dtypes
        assert h5py.check_vlen_dtype(f["spikes/units"].dtype) == np.uint16
        assert f["labels"].dtype == np.uint16 and f.attrs[STAND_IN_ATTR] == "made by a test"
    with pytest.raises(ConfigError):
        write_shd_file(tmp_path / "x.h5", times, units, [1, 2, 3], stand_in="  ")


def test_load_shd_files_and_subset(tmp_path):
    train, test = load_shd_files(_raw(tmp_path / "tr.h5", speakers=[7, 8, 9]), _raw(tmp_path / "te.h5"),
                                 name="shd-standin", pool=2)
    assert train.name == test.name == "shd-standin" and train.n_channels == 350
    sub = train.subset([2, 0])
    assert sub.targets.tolist() == [0, 4] and sub.speakers.tolist() == [9, 7]
    assert sub.n_channels == 350 and sub.languages == train.languages and sub.meta == train.meta
    assert torch.equal(sub[1][0], train[0][0])


# ------------------------------------------------------------------------------------- validation


def _message(exc_info):
    return str(exc_info.value)


@pytest.mark.parametrize("key", ["spikes/times", "spikes/units", "labels"])
def test_missing_key(tmp_path, key):
    path = _raw(tmp_path / "m.h5", skip=(key,))
    with pytest.raises(DataError) as info:
        read_shd_file(path)
    assert str(path) in _message(info) and repr(key) in _message(info) and "missing" in _message(info)


@pytest.mark.parametrize(("key", "kw"), [
    ("spikes/times", {"t_dtype": np.int32}),
    ("spikes/units", {"u_dtype": np.float32}),
    ("labels", {"l_dtype": np.float32}),
])  # fmt: skip
def test_wrong_dtype(tmp_path, key, kw):
    path = _raw(tmp_path / "d.h5", **kw)
    with pytest.raises(DataError) as info:
        read_shd_file(path)
    assert str(path) in _message(info) and repr(key) in _message(info) and "dtype" in _message(info)


def test_labels_not_vlen_times(tmp_path):
    path = tmp_path / "flat.h5"
    with h5py.File(path, "w") as f:
        f["spikes/times"] = np.zeros(3, dtype=np.float32)
        f["spikes/units"] = np.zeros(3, dtype=np.uint16)
        f["labels"] = np.zeros(3, dtype=np.uint16)
    with pytest.raises(DataError, match="variable-length"):
        read_shd_file(path)


@pytest.mark.parametrize(("change", "key", "sample", "what"), [
    (lambda t, u: u[2].__setitem__(1, 700), "spikes/units", 2, "unit 700"),
    (lambda t, u: t[2].__setitem__(0, -0.001), "spikes/times", 2, "time"),
    (lambda t, u: t[0].__setitem__(4, np.nan), "spikes/times", 0, "nan"),
    (lambda t, u: u[0].pop(), "spikes/units", 0, "4 units but spikes/times has 5"),
])  # fmt: skip
def test_bad_events_name_file_field_and_sample(tmp_path, change, key, sample, what):
    times = [list(t) for t in TIMES]
    units = [list(u) for u in UNITS]
    change(times, units)
    path = _raw(tmp_path / "e.h5", times, units, u_dtype=np.int32)
    with pytest.raises(DataError) as info:
        read_shd_file(path)
    msg = _message(info)
    assert str(path) in msg and repr(key) in msg and f"sample {sample} " in msg and what in msg


def test_count_mismatch_and_label_range(tmp_path):
    path = _raw(tmp_path / "c.h5", labels=[1, 2])
    with pytest.raises(DataError, match=r"3 samples but spikes/times has 3 and labels 2"):
        read_shd_file(path)
    path = _raw(tmp_path / "l.h5", labels=[1, 20, 3])
    with pytest.raises(DataError, match=r"'labels' sample 1 has label 20, outside \[0, 20\)"):
        shd_dataset(path)


def test_truncated_and_non_hdf5_files(tmp_path):
    good = _raw(tmp_path / "good.h5", [np.linspace(0, 1, 20000)] * 3, [np.arange(20000) % 700] * 3)
    blob = good.read_bytes()
    for name, data in (("trunc.h5", blob[: len(blob) // 2]), ("text.h5", b"this is not HDF5\n" * 10),
                       ("empty.h5", b"")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError) as info:
            read_shd_file(tmp_path / name)
        assert str(tmp_path / name) in _message(info)
    with pytest.raises(DataError, match="no such file"):
        read_shd_file(tmp_path / "absent.h5")


def test_archives_are_decompressed_and_checked(tmp_path):
    inner = _raw(tmp_path / "inner.h5").read_bytes()
    gz = tmp_path / "g" / "x_train.h5.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(inner))
    assert read_shd_file(gz).labels.tolist() == LABELS
    assert (gz.parent / "x_train.h5").read_bytes() == inner  # decompressed once, beside it
    zp = tmp_path / "z" / "x_test.h5.zip"
    zp.parent.mkdir()
    with zipfile.ZipFile(zp, "w") as z:
        z.writestr("x_test.h5", inner)
    assert read_shd_file(zp).labels.tolist() == LABELS
    bad = tmp_path / "b" / "x.h5.gz"
    bad.parent.mkdir()
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match="not a valid archive"):
        read_shd_file(bad)
    assert not (bad.parent / "x.h5").exists()
    # an archive named like an official one must have the official MD5
    official = tmp_path / "o" / "shd_train.h5.gz"
    official.parent.mkdir()
    official.write_bytes(gzip.compress(inner))
    with pytest.raises(DataError, match="does not match the official archive"):
        read_shd_file(official)


# ------------------------------------------------------------------------------- registry and download


def test_sources_have_official_urls_and_md5s():
    assert dataset_spec("shd").files is SHD and dataset_spec("ssc").files is SSC
    assert dataset_spec("ssc").splits == ("train", "valid", "test")
    assert tuple(dataset_spec("shd").classes) == SHD_CLASSES
    for source, splits in ((SHD, ("train", "test")), (SSC, ("train", "valid", "test"))):
        assert [r.filename for r in source.remotes] == [f"{source.key}_{s}.h5.zip" for s in splits]
        for remote in source.remotes:
            assert re.fullmatch(r"[0-9a-f]{32}", remote.md5) and remote.md5 == ARCHIVE_MD5[remote.filename]
            assert remote.urls[0] == f"https://zenkelab.org/datasets/{remote.filename}"
            assert not remote.extract
    assert ARCHIVE_MD5["shd_train.h5.zip"] == "f3252aeb598ac776c1b526422d90eecb"
    assert ARCHIVE_MD5["shd_test.h5.gz"] == "3062a80ec0c5719404d5b02e166543b1"


def test_load_dataset_from_data_root(offline_data, tmp_path):
    (tmp_path / "d" / "shd").mkdir(parents=True)
    _raw(tmp_path / "d" / "shd" / "shd_test.h5")
    ds = load_dataset("shd", "test", data_root=tmp_path / "d", max_time=0.01, pool=10, dt=2e-3)
    assert ds.name == "shd" and ds.n_channels == 70 and ds.dt == 2e-3
    assert ds.source.startswith("Spiking Heidelberg Digits test (3 samples)")
    with pytest.raises(ConfigError):
        load_dataset("shd", "test", data_root=tmp_path / "d", n_steps=5)
    with pytest.raises(DataError, match="shd_train.h5"):
        load_dataset("shd", "train", data_root=tmp_path / "d", download=False)
    # SSC: 35 classes named by extra/keys when there are 35 of them, else class-<i>
    (tmp_path / "s").mkdir()
    _raw(tmp_path / "s" / "ssc_valid.h5", labels=[34, 0, 1])
    ssc = load_dataset("ssc", "valid", data_root=tmp_path / "s")
    assert ssc.classes[34] == "class-34" and ssc.languages == ["en"] * 35
    _raw(tmp_path / "s" / "ssc_test.h5", labels=[34, 0, 1], keys=35)
    assert load_dataset("ssc", "test", data_root=tmp_path / "s").classes[34] == "word-34"


def test_download_path_end_to_end(offline_data, monkeypatch, tmp_path):
    """The registered download (a zip from the official URL, MD5-checked, unpacked on read), offline."""
    inner = _raw(tmp_path / "inner.h5").read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("shd_train.h5", inner)
    blob = buf.getvalue()
    md5 = hashlib.md5(blob).hexdigest()
    source = dataclasses.replace(SHD, remotes=tuple(dataclasses.replace(r, md5=md5) for r in SHD.remotes))
    monkeypatch.setitem(registry._REGISTRY, "shd", dataclasses.replace(dataset_spec("shd"), files=source))
    monkeypatch.setitem(ARCHIVE_MD5, "shd_train.h5.zip", md5)
    urls = []

    def fake(url, dest, md5):
        urls.append(url)
        dest.write_bytes(blob)

    monkeypatch.setattr(root, "download_url", fake)
    ds = load_dataset("shd", "train", data_root=tmp_path / "dl")
    assert urls == ["https://zenkelab.org/datasets/shd_train.h5.zip"]
    assert ds.targets.tolist() == LABELS and (tmp_path / "dl" / "shd" / "shd_train.h5").read_bytes() == inner
    # a download whose MD5 is not the published one is refused
    monkeypatch.setitem(registry._REGISTRY, "shd", dataclasses.replace(dataset_spec("shd"), files=SHD))
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset("shd", "test", data_root=tmp_path / "dl2")


# ----------------------------------------------------------------------------------- augmentation


def _batch(pad="start", seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([9, 14, 5, 14])
    samples = [((torch.rand(int(n), 40, generator=g) < 0.3).float(), 0) for n in lengths]
    (x, lens), _ = pad_collate(samples, pad=pad)
    return x, lens, [s for s, _ in samples]


def _reference(sample, shift, scale):
    """torchvision's affine (nearest, zero fill) on one [T_i, C] image, via affine_grid/grid_sample."""
    L, C = sample.shape
    theta = torch.tensor([[1 / scale, 0.0, -2 * shift / (C * scale)], [0.0, 1 / scale, 0.0]], dtype=torch.float64)
    grid = F.affine_grid(theta[None], [1, 1, L, C], align_corners=False)
    out = F.grid_sample(sample.double()[None, None], grid, mode="nearest", padding_mode="zeros",
                        align_corners=False)
    return out[0, 0].float()


@pytest.mark.parametrize("pad", ["start", "end"])
def test_affine_matches_torchvision_semantics_per_sample(pad):
    x, lengths, samples = _batch(pad)
    shift = torch.tensor([3.0, -4.0, 0.0, 7.0])
    scale = torch.tensor([0.83, 1.17, 1.29, 0.71])
    out = affine_time_channel(x, lengths, shift, scale, pad)
    T = x.shape[0]
    for b, s in enumerate(samples):
        L = int(lengths[b])
        window = out[T - L:, b] if pad == "start" else out[:L, b]
        assert torch.equal(window, _reference(s, float(shift[b]), float(scale[b])))
        rest = out[: T - L, b] if pad == "start" else out[L:, b]
        assert not rest.any()  # padded steps stay zero


def test_random_affine_seeded_and_lengths_kept():
    x, lengths, _ = _batch()
    a, la = random_affine((x, lengths), torch.Generator().manual_seed(5))
    b, _ = random_affine((x, lengths), torch.Generator().manual_seed(5))
    c, _ = random_affine((x, lengths), torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, x)
    assert la is lengths and a.shape == x.shape


def test_random_affine_identity_without_shift_or_scale():
    x, lengths, _ = _batch()
    out, _ = random_affine((x, lengths), torch.Generator().manual_seed(1), h_shift=0, scale=0)
    assert torch.equal(out, x)
    x, lengths, _ = _batch("end")
    out, _ = random_affine((x, lengths), torch.Generator().manual_seed(1), h_shift=0.0, scale=0.0, pad="end")
    assert torch.equal(out, x)


def test_random_affine_draws_the_seed_ranges():
    x = torch.zeros(3, 2000, 700)
    x[:, :, 350] = 1  # one lit channel in the middle: its new place shows the shift
    lengths = torch.full((2000,), 3)
    out, _ = random_affine((x, lengths), torch.Generator().manual_seed(0), h_shift=0.1, scale=0.0)
    moved = out[1].argmax(1) - 350
    assert moved.abs().max() == 70 and moved.min() < -60 and moved.max() > 60


def test_random_affine_checks_its_settings():
    x, lengths, _ = _batch()
    for kw in ({"h_shift": -0.1}, {"scale": 1.0}, {"scale": True}, {"pad": "middle"}):
        with pytest.raises(ConfigError):
            random_affine((x, lengths), None, **kw)
    with pytest.raises(ConfigError):
        random_affine((x[:, :2], lengths), None)


@given(shifts=st.lists(st.integers(-8, 8), min_size=4, max_size=4))
def test_pure_shift_moves_channels(shifts):
    x, lengths, _ = _batch("end")
    shift = torch.tensor(shifts, dtype=torch.float64)
    out = affine_time_channel(x, lengths, shift, torch.ones(4), "end")
    for b, k in enumerate(shifts):
        expected = torch.zeros_like(x[:, b])
        if k >= 0:
            expected[:, k:] = x[:, b, : 40 - k]
        else:
            expected[:, :k] = x[:, b, -k:]
        assert torch.equal(out[:, b], expected)


def test_trainer_transform_via_partial():
    transform = functools.partial(random_affine, h_shift=0.05, scale=0.15)
    x, lengths, _ = _batch()
    out, lens = transform((x, lengths), torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.equal(lens, lengths)
    assert out.sum() > 0
