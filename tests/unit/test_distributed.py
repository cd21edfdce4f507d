"""DistributedDataParallel under torchrun: 2 CPU processes (gloo) vs 1 process on the same global batch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _scripts import sigkill  # the subprocess environment; tests/unit is on sys.path under pytest

from snnkit.errors import ConfigError
from snnkit.train import distributed as D

SCRIPT = Path(__file__).parent / "_scripts" / "ddp_train.py"


def _launch(args: list[str], nproc: int | None) -> subprocess.CompletedProcess:
    if nproc is None:
        cmd = [sys.executable, str(SCRIPT), *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--standalone"]
        cmd += [str(SCRIPT), *args]
    res = subprocess.run(cmd, env=sigkill.env(), capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def test_two_gloo_processes_match_one_process_on_the_same_global_batch(tmp_path: Path) -> None:
    _launch(["--out", str(tmp_path / "one.pt"), "--batch-size", "32"], nproc=None)
    _launch(["--out", str(tmp_path / "ddp.pt"), "--batch-size", "32", "--ckpt-dir", str(tmp_path / "ck")], 2)
    one = torch.load(tmp_path / "one.pt", weights_only=True)
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=True)
    assert one["world_size"] == 1 and ddp["world_size"] == 2

    for r1, r2 in zip(one["history"], ddp["history"], strict=True):
        assert r1["global_step"] == r2["global_step"]  # same number of global steps per epoch
        assert abs(r1["train_accuracy"] - r2["train_accuracy"]) <= 1 / 300 + 1e-12
        assert abs(r1["val_accuracy"] - r2["val_accuracy"]) <= 1 / 30 + 1e-12
        assert r1["train_loss"] == pytest.approx(r2["train_loss"], rel=1e-4)
        assert r1["val_loss"] == pytest.approx(r2["val_loss"], rel=1e-4)
    assert one["history"][-1]["val_accuracy"] > 0.8  # it learned something
    for key in one["model"]:
        torch.testing.assert_close(one["model"][key], ddp["model"][key], rtol=1e-4, atol=1e-5)
    # evaluate() and predict() gather over ranks: every validation sample, in dataset order
    assert ddp["evaluate"]["accuracy"] == pytest.approx(one["evaluate"]["accuracy"], abs=1 / 30 + 1e-12)
    assert ddp["outputs"].shape == one["outputs"].shape == (30, 3)
    assert torch.equal(ddp["targets"], one["targets"])
    torch.testing.assert_close(ddp["outputs"], one["outputs"], rtol=1e-4, atol=1e-4)
    assert ddp["gathered"] == [{"rank": 0, "items": [0, 1, 2]}, {"rank": 1, "items": [0, 1, 2, 3]}]
    assert one["gathered"] == [{"rank": 0, "items": [0, 1, 2]}]
    # only rank 0 wrote: the rotated checkpoints with their checksums, no stray temp files
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [
        "last.pt",
        "last.pt.sha256",
        "prev.pt",
        "prev.pt.sha256",
    ]


def test_shards_partition_each_global_batch() -> None:
    batch = list(range(11))
    parts = [D.shard(batch, D.DistInfo(world_size=3, rank=r, local_rank=r)) for r in range(3)]
    assert sorted(i for p in parts for i in p) == batch
    assert [len(p) for p in parts] == [4, 4, 3]


def test_env_info(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    info = D.env_info()
    assert (info.world_size, info.rank, info.enabled, info.is_main) == (1, 0, False, True)
    assert not D.is_torchrun()
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    info = D.env_info()
    assert (info.world_size, info.rank, info.local_rank, info.is_main) == (4, 2, 0, False)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ConfigError, match="RANK"):
        D.env_info()
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ConfigError, match="'two'"):
        D.env_info()


def test_single_process_helpers_are_identities() -> None:
    info = D.DistInfo()
    assert D.all_reduce_sums([1, 2.5], info, torch.device("cpu")) == [1.0, 2.5]
    assert D.all_gather_objects({"a": 1}, info) == [{"a": 1}]
    model = torch.nn.Linear(2, 2)
    assert D.wrap_model(model, info, torch.device("cpu")) is model
    D.barrier(info)
