"""snnkit.utils: seeding, device choice, atomic writes, parameter hashes."""

from __future__ import annotations

import os
import random
import stat

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from snnkit.errors import ConfigError
from snnkit.utils import atomic_write, atomic_write_text, params_hash, resolve_device, seed_everything


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
    assert resolve_device("auto").type in {"cpu", "cuda", "mps", "privateuseone"}
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
    assert len(params_hash({})) == 16
