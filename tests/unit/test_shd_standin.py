"""The SHD stand-in: cochlea and spike generator, file schema and marker, the shipped small set read by
the real SHD reader, determinism given the seed; synthesis tests are skipped without espeak-ng."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snnkit.data import load_dataset
from snnkit.data import shd_standin as S
from snnkit.errors import ConfigError, DataError
from snnkit.utils import file_digest

needs_espeak = pytest.mark.skipif(not S.espeak_available(), reason="espeak-ng is not installed")


@pytest.fixture(scope="module")
def small():
    """The shipped small set, read by the stand-in's minimal reader."""
    return [S.read_standin_file(S.EMBEDDED_DIR / f"{name}.xz") for name in S.FILES]


# ------------------------------------------------------------------------------------ cochlea, spikes


def test_channel_frequencies_erb_spaced():
    fc = S.channel_frequencies()
    assert fc.shape == (700,) and fc[0] == pytest.approx(50.0) and fc[-1] == pytest.approx(7500.0)
    erb = 21.4 * np.log10(1 + 0.00437 * fc)
    assert np.allclose(np.diff(erb), np.diff(erb)[0]) and np.all(np.diff(fc) > 0)


@pytest.mark.parametrize("freq", [200.0, 1000.0, 4000.0])
def test_cochleagram_tone_peaks_at_its_channel(freq):
    t = np.arange(int(0.2 * S.SAMPLE_RATE)) / S.SAMPLE_RATE
    level = S.cochleagram(0.05 * np.sin(2 * np.pi * freq * t))
    assert level.shape == (700, len(t) // S.DECIMATE) and level.dtype == np.float32
    best = int(np.argmax(level[:, 100:].mean(axis=1)))  # after the filters' onset
    assert S.channel_frequencies()[best] == pytest.approx(freq, rel=0.03)  # 3 %: a few channels' spacing
    assert level[best, 100:].mean() > level[:, 100:].mean(axis=1).min() + 30  # far channels stay quiet


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 400), st.integers(0, 2**32 - 1))
def test_spikes_count_whole_units_of_integrated_rate(channels, steps, seed):
    rng = np.random.default_rng(seed)
    level = rng.uniform(S.THRESHOLD_DB - 20, S.THRESHOLD_DB + S.DYNAMIC_RANGE_DB + 10, (channels, steps))
    times, units = S.spikes_from_envelope(level, np.random.default_rng(seed))
    phase = np.random.default_rng(seed).random(channels)
    rate = S.MAX_RATE * np.clip((level - S.THRESHOLD_DB) / S.DYNAMIC_RANGE_DB, 0, 1)
    expected = np.floor(phase + rate.sum(axis=1) * S.ENV_DT)
    assert np.array_equal(np.bincount(units, minlength=channels), expected)
    assert np.all(np.diff(times) >= 0) and np.all(times >= 0)
    assert np.all(times <= steps * S.ENV_DT + 5 * S.JITTER)


def test_spikes_silence_and_saturation():
    quiet = np.full((10, 2000), S.THRESHOLD_DB - 1.0)
    assert len(S.spikes_from_envelope(quiet, np.random.default_rng(0))[0]) == 0
    loud = np.full((10, 2000), 0.0)  # 1 s at the top of the range
    times, units = S.spikes_from_envelope(loud, np.random.default_rng(0))
    counts = np.bincount(units, minlength=10)
    assert np.all(np.abs(counts - S.MAX_RATE) <= 1)
    isi = np.diff(np.sort(times[units == 3]))
    assert np.allclose(isi, 1 / S.MAX_RATE, atol=6 * S.JITTER)  # integrate-and-fire: regular at a constant rate


# --------------------------------------------------------------------------------- speakers, plans


def test_speakers_and_plans_are_seeded_and_held_out():
    spk = S.make_speakers(0)
    assert spk == S.make_speakers(0) and spk != S.make_speakers(1)
    assert len({s.variant for s in spk}) == len(spk) == S.N_SPEAKERS
    held = {s.index for s in spk if s.test_only}
    assert len(held) == round(S.HELD_OUT_FRACTION * len(spk))
    train = S.plan_split("train", 400, spk, 0)
    test = S.plan_split("test", 200, spk, 0)
    assert train == S.plan_split("train", 400, spk, 0) and train != S.plan_split("train", 400, spk, 1)
    assert not held & {r.speaker for r in train}
    assert sum(r.speaker in held for r in test) == 100
    assert np.array_equal(np.bincount([r.label for r in train], minlength=20), [20] * 20)
    assert all(0 <= r.pitch <= 99 and r.speed > 50 and 0 < r.lead < 0.3 for r in train + test)
    with pytest.raises(ConfigError):
        S.plan_split("valid", 3, spk)
    with pytest.raises(ConfigError):
        S.make_speakers(-1)


# ------------------------------------------------------------------------------------------- files


def _toy_file(path, seed=0):
    rng = np.random.default_rng(seed)
    times = [np.sort(rng.uniform(0, 1, n)) for n in (5, 0, 17)]
    units = [rng.integers(0, 700, len(t)) for t in times]
    return S.write_shd_file(path, times, units, [3, 12, 19], [0, 1, 0], genders=["male", "female"],
                            voices=["a", "b"], marker="SHD STAND-IN test")


def test_write_shd_file_schema_and_bytes(tmp_path):
    a, b = _toy_file(tmp_path / "a.h5"), _toy_file(tmp_path / "b.h5")
    assert a.read_bytes() == b.read_bytes()
    with h5py.File(a, "r") as f:
        assert f.attrs[S.MARKER_ATTR] == "SHD STAND-IN test"
        assert h5py.check_vlen_dtype(f["spikes/times"].dtype) == np.float16
        assert h5py.check_vlen_dtype(f["spikes/units"].dtype) == np.uint16
        assert f["labels"].dtype == np.uint16 and f["extra/speaker"].dtype == np.uint16
        assert [k.decode() for k in f["extra/keys"][()]] == list(S.CLASSES)
        assert [g.decode() for g in f["extra/meta_info/gender"][()]] == ["male", "female"]
    got = S.read_standin_file(a)
    assert [len(t) for t in got["times"]] == [5, 0, 17] and got["labels"].tolist() == [3, 12, 19]
    assert got["marker"] == "SHD STAND-IN test"
    with pytest.raises(DataError, match="not a readable"):
        S.read_standin_file(tmp_path / "missing.h5")


def test_shipped_small_set(small):
    manifest = json.loads((S.EMBEDDED_DIR / "manifest.json").read_text())
    for name in S.FILES:
        assert file_digest(S.EMBEDDED_DIR / f"{name}.xz") == manifest["files"][f"{name}.xz"]
    assert manifest["sizes"] == {"train": S.SMALL_SIZES[0], "test": S.SMALL_SIZES[1]}
    for data, n in zip(small, S.SMALL_SIZES):
        assert data["marker"].startswith("SHD STAND-IN") and "not the Spiking Heidelberg Digits" in data["marker"]
        assert data["keys"] == list(S.CLASSES) and len(data["labels"]) == n
        assert np.bincount(data["labels"], minlength=20).min() >= n // 20
        counts = np.array([len(t) for t in data["times"]])
        assert 2000 <= counts.mean() <= 6000 and counts.min() >= 300
        ends = np.array([t.max() for t in data["times"]])
        assert 0.3 <= ends.mean() <= 1.2 and ends.max() < 2.0
        assert all(len(u) == len(t) and u.max() < 700 and t.min() >= 0
                   for t, u in zip(data["times"], data["units"]))
    held = {s.index for s in S.make_speakers(manifest["seed"]) if s.test_only}
    assert not held & set(small[0]["speaker"].tolist()) and held & set(small[1]["speaker"].tolist())


def test_small_set_learnable_not_trivial(small):
    acc = S.linear_readout_accuracy(*small, bins=1, pool=10, c=0.1)  # 70 pooled channels: fast
    assert 0.2 < acc < 0.95  # chance is 0.05


# ---------------------------------------------------------------------------------- registry


def test_registered_small_set_through_real_reader(tmp_path):
    train = load_dataset("shd-standin-small", "train", directory=tmp_path)
    test = load_dataset("shd-standin-small", "test", directory=tmp_path, dt=2e-3, pool=7)
    assert train.stand_in and test.stand_in and "STAND-IN" in train.source
    assert len(train) == S.SMALL_SIZES[0] and len(test) == S.SMALL_SIZES[1] and len(train.classes) == 20
    assert train.n_channels == 700 and test.n_channels == 100 and test.dt == 2e-3
    x, y = train[0]
    assert x.shape[1] == 700 and float(x.sum()) > 0 and 0 <= int(y) < 20
    assert train.meta["keys"] == list(S.CLASSES)
    again = load_dataset("shd-standin-small", "train", directory=tmp_path)  # the installed copy is reused
    assert again.origin == train.origin
    with pytest.raises(ConfigError):
        load_dataset("shd-standin-small", "train", directory=tmp_path, seed=1)


def test_damaged_install_is_a_data_error(tmp_path):
    folder = S._install_embedded(tmp_path)
    with h5py.File(folder / S.FILES[0], "a") as f:
        f["labels"][0] = (int(f["labels"][0]) + 1) % 20
    with pytest.raises(DataError, match="damaged"):
        load_dataset("shd-standin-small", "train", directory=tmp_path)


def test_full_size_without_espeak_says_how_to_build(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "espeak_available", lambda: False)
    with pytest.raises(DataError, match="make_shd_standin.py"):
        load_dataset("shd-standin", "train", directory=tmp_path)


# ---------------------------------------------------------------------------------- synthesis


@needs_espeak
def test_build_is_deterministic_given_the_seed(tmp_path):
    a = S.build_shd_standin(tmp_path / "a", n_train=2, n_test=1, seed=3)
    b = S.build_shd_standin(tmp_path / "b", n_train=2, n_test=1, seed=3)
    for name in S.FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes()
    data = S.read_standin_file(a / S.FILES[0])
    assert len(data["labels"]) == 2 and data["marker"].startswith("SHD STAND-IN")
    for t, u in zip(data["times"], data["units"]):
        assert 300 <= len(t) <= 20000 and u.max() < 700 and 0 <= t.min() and t.max() < 2.0
    c = S.build_shd_standin(tmp_path / "c", n_train=2, n_test=1, seed=4)
    assert (c / S.FILES[0]).read_bytes() != (a / S.FILES[0]).read_bytes()


@needs_espeak
def test_generator_remakes_the_shipped_samples(small):
    manifest = json.loads((S.EMBEDDED_DIR / "manifest.json").read_text())
    if manifest["espeak_ng"] != S.espeak_version():
        pytest.skip(f"espeak-ng {S.espeak_version()} is not the {manifest['espeak_ng']} that made the files")
    speakers = S.make_speakers(manifest["seed"])
    plan = S.plan_split("train", S.SMALL_SIZES[0], speakers, manifest["seed"])
    for i in (0, 1):
        times, units = S.utterance_spikes(plan[i], speakers[plan[i].speaker], manifest["seed"], "train", i)
        assert np.array_equal(times.astype(np.float16), small[0]["times"][i].astype(np.float16))
        assert np.array_equal(units, small[0]["units"][i]) and small[0]["labels"][i] == plan[i].label


def test_full_size_reads_an_existing_build(tmp_path):
    folder = S.default_build_dir(tmp_path, seed=2)
    folder.mkdir(parents=True)
    for name in S.FILES:
        _toy_file(folder / name)
    (folder / "standin.json").write_text(json.dumps({"files": {n: file_digest(folder / n) for n in S.FILES}}))
    test = load_dataset("shd-standin", "test", directory=tmp_path, seed=2)
    assert test.stand_in and len(test) == 3 and test.targets.tolist() == [3, 12, 19]
    assert test.meta["stand_in_note"] == "SHD STAND-IN test"
    (folder / "standin.json").write_text(json.dumps({"files": {}}))
    with pytest.raises(DataError, match="does not match"):
        load_dataset("shd-standin", "test", directory=tmp_path, seed=2)
