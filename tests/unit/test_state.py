"""RunState: identity check, rotation + fallback, save intervals, resume info, the progress file, and a
layer-by-layer gradient-free learner built on it that resumes bit-identically after SIGKILL."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _scripts import sigkill  # tests/unit is on sys.path under pytest

from snnkit.errors import CheckpointError, ConfigError
from snnkit.train import (
    LAST_CHECKPOINT,
    PREV_CHECKPOINT,
    RunState,
    load_checkpoint,
    load_latest,
    read_progress,
)
from snnkit.train import state as state_mod

SCRIPT = Path(__file__).parent / "_scripts" / "phased_hebbian.py"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(state_mod.time, "monotonic", c)
    return c


def test_save_load_roundtrip_with_rng_and_resume_info(tmp_path: Path) -> None:
    rs = RunState(tmp_path, "h1")
    assert rs.load() is None and rs.resumed_from is None
    torch.manual_seed(5)
    rs.save({"w": torch.ones(2), "note": "x"}, epoch=2, step=17)
    expected = torch.rand(3)
    torch.manual_seed(99)
    again = RunState(tmp_path, "h1")
    state = again.load()
    assert state["note"] == "x" and torch.equal(state["w"], torch.ones(2)) and state["done"] is False
    assert state["position"] == {"epoch": 2, "step": 17} and state["run_hash"] == "h1"
    assert again.resumed_from == {
        "epoch": 2,
        "step": 17,
        "checkpoint": str(tmp_path / LAST_CHECKPOINT),
        "fallback": False,
    }
    assert again.rng_pending
    again.restore_rng()
    assert torch.equal(torch.rand(3), expected) and not again.rng_pending


def test_resume_logs_the_position(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    RunState(tmp_path, "h").save({}, epoch=3, step=120)
    with caplog.at_level("INFO", logger="snnkit.train.state"):
        RunState(tmp_path, "h").load()
    assert "resumed from epoch 3, step 120" in caplog.text


def test_another_runs_checkpoint_is_refused_and_kept(tmp_path: Path) -> None:
    RunState(tmp_path, "mine").save({"a": 1}, epoch=0, step=1)
    blob = (tmp_path / LAST_CHECKPOINT).read_bytes()
    with pytest.raises(CheckpointError, match=r"belongs to run_hash 'mine', not this run's 'other'.*--force"):
        RunState(tmp_path, "other").load()
    assert (tmp_path / LAST_CHECKPOINT).read_bytes() == blob


def test_rotation_and_fallback_to_prev(tmp_path: Path) -> None:
    rs = RunState(tmp_path, "h")
    for step in (1, 2, 3):
        rs.save({"s": step}, epoch=0, step=step)
    assert load_checkpoint(tmp_path / PREV_CHECKPOINT)["s"] == 2
    last = tmp_path / LAST_CHECKPOINT
    last.write_bytes(last.read_bytes()[:-10])
    again = RunState(tmp_path, "h")
    assert again.load()["s"] == 2
    assert again.resumed_from["fallback"] is True
    assert again.resumed_from["checkpoint"] == str(tmp_path / PREV_CHECKPOINT)


def test_reserved_payload_keys_and_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="reserved"):
        RunState(tmp_path, "h").save({"rng": 1}, epoch=0, step=0)
    with pytest.raises(ConfigError, match="every_steps"):
        RunState(tmp_path, "h", every_steps=0)
    with pytest.raises(ConfigError, match="every_seconds"):
        RunState(tmp_path, "h", every_seconds=-1)
    with pytest.raises(ConfigError, match="run_hash"):
        RunState(tmp_path, "")


def test_due_by_steps_and_by_time(tmp_path: Path, clock: Clock) -> None:
    rs = RunState(tmp_path, "h", every_steps=4, every_seconds=60)
    assert [s for s in range(1, 13) if rs.due(s)] == [4, 8, 12]
    clock.now += 59.0
    assert not rs.due(5)
    clock.now += 1.0
    assert rs.due(5)  # 60 s since the RunState started without a save
    rs.save({}, epoch=0, step=5)
    assert not rs.due(6)  # the clock restarts at every save
    clock.now += 60.0
    assert rs.due(6)
    assert not RunState(None, "h", every_steps=1).due(1)  # no folder: never due


def test_progress_file_contract(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "progress.json"
    RunState(tmp_path / "ck", "h").save({}, epoch=1, step=10)
    rs = RunState(tmp_path / "ck", "h", progress_file=path)
    rs.load()
    rs.progress(phase="train", epoch=2, epochs=4, step=10, total_steps=40)
    first = read_progress(path)
    assert first["steps_per_s"] is None and first["eta_s"] is None  # no rate measured yet
    clock.now += 0.5
    rs.progress(phase="train", epoch=2, epochs=4, step=15, total_steps=40)
    assert read_progress(path) == first  # at most once per second
    clock.now += 4.5
    rs.progress(phase="train", epoch=3, epochs=4, step=20, total_steps=40)
    got = json.loads(path.read_text())
    assert set(got) == {
        "phase",
        "epoch",
        "epochs",
        "step",
        "total_steps",
        "steps_per_s",
        "eta_s",
        "resumed_from",
        "updated",
    }
    assert (got["phase"], got["epoch"], got["epochs"], got["step"], got["total_steps"]) == (
        "train",
        3,
        4,
        20,
        40,
    )
    assert got["steps_per_s"] == pytest.approx(2.0)  # 10 steps of this process in 5 s
    assert got["eta_s"] == pytest.approx(10.0)  # 20 steps left at 2 steps/s
    assert got["resumed_from"] == {"epoch": 1, "step": 10, "fallback": False}
    assert got["updated"].endswith("+00:00")
    clock.now += 0.1
    rs.progress(phase="eval", epoch=3, epochs=4, step=20, total_steps=40, force=True)
    assert read_progress(path)["phase"] == "eval"  # forced writes ignore the interval
    assert read_progress(tmp_path / "missing.json") is None


# ------------------------------------------------------------- layer-by-layer learner, SIGKILL + resume
def _run(ckpt: Path, out: Path) -> tuple[dict, str]:
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--ckpt-dir", str(ckpt), "--out", str(out)],
        env=sigkill.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    return torch.load(out, weights_only=True), res.stderr


def test_layer_by_layer_learner_resumes_bit_identically_after_sigkill(tmp_path: Path) -> None:
    reference, _ = _run(tmp_path / "ref", tmp_path / "ref.pt")
    total = reference["global_step"]
    assert total == 35
    chooser = random.Random(7)
    phases_seen = set()
    for trial in range(3):
        ckpt, out, steps = tmp_path / f"c{trial}", tmp_path / f"o{trial}.pt", tmp_path / f"s{trial}"
        cmd = [sys.executable, str(SCRIPT), "--ckpt-dir", str(ckpt), "--out", str(out), "--steps", str(steps)]
        sigkill.kill_after(
            [*cmd, "--delay", "0.01"], steps, chooser.randint(4, total - 2), chooser.uniform(0, 0.02)
        )
        state, _, _ = load_latest([ckpt / LAST_CHECKPOINT, ckpt / PREV_CHECKPOINT])  # what a resume reads
        assert not state["done"] and 0 < state["global_step"] < total
        phases_seen.add(int(state["phase"]))
        result, log = _run(ckpt, out)
        assert f"resumed from epoch {state['position']['epoch']}, step {state['global_step']}" in log
        for a, b in zip(reference["weights"], result["weights"], strict=True):
            assert torch.equal(a, b)
        assert torch.equal(reference["rng_after"], result["rng_after"])
        assert reference["py_after"] == result["py_after"]
        assert load_checkpoint(ckpt / LAST_CHECKPOINT)["done"]
        progress = read_progress(ckpt / "progress.json")
        assert (progress["phase"], progress["step"], progress["epoch"]) == ("l3", total, 2)
    assert len(phases_seen) >= 2, "the kills should land in different phases"
    # a finished run is loaded, not trained again, and gives the same numbers
    again, _ = _run(tmp_path / "c0", tmp_path / "again.pt")
    assert all(torch.equal(a, b) for a, b in zip(reference["weights"], again["weights"]))
