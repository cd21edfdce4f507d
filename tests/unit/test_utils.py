"""snnkit.utils: seeding, device choice, atomic writes, parameter hashes."""

from __future__ import annotations

import hashlib
import os
import random
import stat

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from snnkit.errors import ConfigError, check_nonneg_int, check_positive_int, check_positive_number
from snnkit.utils import (
    atomic_write,
    atomic_write_text,
    params_hash,
    resolve_device,
    seed_everything,
)


def test_seed_everything_reproduces_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    gen = seed_everything(7)
    first = draw() + (torch.rand(1, generator=gen).item(),)
    gen = seed_everything(7)
    assert draw() + (torch.rand(1, generator=gen).item(),) == first


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True, None])
def test_seed_everything_rejects_bad_seed(bad):
    with pytest.raises(ConfigError, match="seed"):
        seed_everything(bad)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    try:
        import torch_directml  # type: ignore[import-not-found]  # noqa: F401

        expected = "privateuseone"
    except ImportError:
        mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
        expected = "cuda" if torch.cuda.is_available() else "mps" if mps else "cpu"
    assert resolve_device("auto").type == expected  # the documented order: DirectML, CUDA, MPS, CPU
    with pytest.raises(ConfigError, match="device"):
        resolve_device("tpu9")
    with pytest.raises(ConfigError, match="device"):
        resolve_device(3)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_write(target, "w") as fh:
        fh.write("new, half written")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"], "temporary file left behind"


def test_atomic_write_permissions_follow_umask(tmp_path):
    target = tmp_path / "b.txt"
    atomic_write_text(target, "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


@given(st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.floats(allow_nan=False), st.text())))
def test_params_hash_ignores_key_order(d):
    assert params_hash(d) == params_hash(dict(reversed(list(d.items()))))


def test_params_hash_changes_with_values():
    assert params_hash({"a": 1}) != params_hash({"a": 2})
    # the first 16 hex digits of the SHA-256 of the canonical JSON (sorted keys, no spaces)
    assert params_hash({"b": [1, 2], "a": "x"}) == hashlib.sha256(b'{"a":"x","b":[1,2]}').hexdigest()[:16]


@pytest.mark.parametrize(
    ("value", "ok"), [(1, True), (0.5, True), (0, False), (-1.0, False), (float("inf"), False), (True, False)]
)
def test_check_positive_number(value, ok):
    if ok:
        assert check_positive_number("x", value) == float(value)
    else:
        with pytest.raises(ConfigError, match="'x'"):
            check_positive_number("x", value)
    assert check_positive_number("x", None, allow_none=True) is None
    with pytest.raises(ConfigError, match="'x'.*positive finite number$"):
        check_positive_number("x", None)
    assert check_positive_number("x", np.float32(0.25)) == 0.25


@pytest.mark.parametrize(("value", "ok"), [(1, True), (np.int64(3), True), (0, False), (2.0, False), (True, False)])
def test_check_positive_int(value, ok):
    if ok:
        assert check_positive_int("n", value) == int(value) and type(check_positive_int("n", value)) is int
    else:
        with pytest.raises(ConfigError, match="'n'.*an integer >= 1$"):
            check_positive_int("n", value)
    assert check_positive_int("n", None, allow_none=True) is None


@pytest.mark.parametrize(("value", "ok"), [(0, True), (np.int64(3), True), (-1, False), (1.0, False), (False, False),
                                           (None, False)])
def test_check_nonneg_int(value, ok):
    if ok:
        assert check_nonneg_int("r", value) == int(value) and type(check_nonneg_int("r", value)) is int
    else:
        with pytest.raises(ConfigError, match="'r'.*an integer >= 0$"):
            check_nonneg_int("r", value)


def test_read_json_object(tmp_path, caplog):
    from snnkit.utils import read_json_object

    good = tmp_path / "a.json"
    good.write_text('{"epoch": 2, "step": 7}')
    assert read_json_object(good) == {"epoch": 2, "step": 7}
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "bad.json").write_text('{"epoch": ')
    assert read_json_object(tmp_path / "list.json") is None
    assert read_json_object(tmp_path / "missing.json") is None
    assert read_json_object(tmp_path / "bad.json") is None and not caplog.records
    with caplog.at_level("WARNING"):
        assert read_json_object(tmp_path / "bad.json", warn=True) is None
    assert "bad.json" in caplog.text
