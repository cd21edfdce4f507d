"""Reliability: SIGKILL a real training process at random steps, resume, compare bit for bit (CPU).

The script (tests/unit/_scripts/resume_train.py) trains a parametrized MLP with dropout, Bernoulli noise,
an LR schedule, gradient clipping and a stateful callback that draws from Python's RNG, checkpointing
at the end of every epoch and every 3 optimiser steps (so kills land mid-epoch, between and during
checkpoint writes). Each trial kills it after a seeded random step (plus a random extra delay), runs it
again to completion and compares every weight, the optimiser state and the history with an
uninterrupted run.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _scripts import sigkill  # tests/unit is on sys.path under pytest

from snnkit.train import LAST_CHECKPOINT, PREV_CHECKPOINT, load_checkpoint, load_latest

SCRIPT = Path(__file__).parent / "_scripts" / "resume_train.py"
EPOCHS, EVERY, TOTAL_STEPS = 4, 3, 40  # 10 steps per epoch


def _cmd(ckpt: Path, out: Path, progress: Path | None = None, delay: float = 0.0) -> list[str]:
    cmd = [sys.executable, str(SCRIPT), "--ckpt-dir", str(ckpt), "--out", str(out)]
    cmd += ["--epochs", str(EPOCHS), "--every", str(EVERY), "--delay", str(delay)]
    if progress is not None:
        cmd += ["--progress", str(progress)]
    return cmd


def _kill_after(ckpt: Path, out: Path, progress: Path, step: int, extra_delay: float) -> None:
    sigkill.kill_after(_cmd(ckpt, out, progress, delay=0.01), progress, step, extra_delay)


def _run(ckpt: Path, out: Path) -> tuple[dict, str]:
    res = subprocess.run(_cmd(ckpt, out), env=sigkill.env(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return torch.load(out, weights_only=True), res.stderr


def _assert_same(a: dict, b: dict) -> None:
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), f"weight {key} differs"
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert sa.keys() == sb.keys()
    for pid in sa:
        for name in sa[pid]:
            assert torch.equal(torch.as_tensor(sa[pid][name]), torch.as_tensor(sb[pid][name])), (pid, name)
    strip = [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in a["history"]]
    assert strip == [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in b["history"]]
    assert a["global_step"] == b["global_step"] == TOTAL_STEPS
    assert torch.equal(a["rng_after"], b["rng_after"]), "the RNG stream after fit differs"


def test_sigkill_at_random_steps_then_resume_is_bit_identical(tmp_path: Path) -> None:
    reference, _ = _run(tmp_path / "ref", tmp_path / "ref.pt")
    assert len(reference["history"]) == EPOCHS

    chooser = random.Random(20240611)
    resumed_mid_epoch = 0
    for trial in range(3):
        ckpt, out, progress = tmp_path / f"c{trial}", tmp_path / f"o{trial}.pt", tmp_path / f"p{trial}"
        step = chooser.randint(EVERY + 1, TOTAL_STEPS - 2)
        _kill_after(ckpt, out, progress, step, extra_delay=chooser.uniform(0.0, 0.02))
        assert (ckpt / LAST_CHECKPOINT).exists(), "a checkpoint should exist after step >= EVERY"
        state, _, _ = load_latest([ckpt / LAST_CHECKPOINT, ckpt / PREV_CHECKPOINT])  # what a resume reads
        position = state["position"]  # epochs completed, optimiser steps done
        assert 0 < position["step"] < TOTAL_STEPS and not state["done"]
        resumed_mid_epoch += state["step_in_epoch"] != 0
        result, log = _run(ckpt, out)
        assert f"resumed from epoch {position['epoch']}, step {position['step']}" in log
        assert load_checkpoint(ckpt / LAST_CHECKPOINT)["done"]
        assert not (ckpt / ".DONE").exists()
        _assert_same(reference, result)
    assert resumed_mid_epoch >= 1, "no trial exercised a mid-epoch resume"


@pytest.mark.parametrize("every", [None, 3])
def test_rerun_of_finished_run_is_skipped(tmp_path: Path, every: int | None) -> None:
    # finished run → a second fit loads the final state (same numbers) and logs that it skipped
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import resume_train  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(SCRIPT.parent))
    first = resume_train.train(str(tmp_path), epochs=2, every=every)
    before = (tmp_path / LAST_CHECKPOINT).read_bytes()
    second = resume_train.train(str(tmp_path), epochs=2, every=every)
    assert (tmp_path / LAST_CHECKPOINT).read_bytes() == before, "a skipped run must not rewrite last.pt"
    for key in first["model"]:
        assert torch.equal(first["model"][key], second["model"][key])
    assert first["history"] == second["history"]
    assert torch.equal(first["rng_after"], second["rng_after"])
