"""A layer-by-layer, gradient-free learner built on RunState; used by tests/unit/test_state.py.

Three layers are trained one after the other (phases ``l1``, ``l2``, ``l3`` with their own epoch counts)
by a stochastic competitive Hebbian rule: the layer's units fire as Bernoulli draws of a sigmoid (global
torch RNG), the winners move toward the input, and the rate is jittered by Python's RNG. The epoch's
sample order is drawn from the global torch RNG at the start of the epoch and kept in the checkpoint,
so an exact resume needs every RNG stream and the payload restored. The global step is appended to
``--steps`` after every update so a test can SIGKILL the process after a chosen step.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from pathlib import Path

import torch

from snnkit.train import RunState

PHASES = (("l1", 2), ("l2", 3), ("l3", 2))
SIZES = (8, 6, 5, 4)
N, BATCH = 40, 8  # 5 updates per epoch
STEPS_PER_EPOCH = N // BATCH
TOTAL_STEPS = STEPS_PER_EPOCH * sum(e for _, e in PHASES)


def _update(weights: list[torch.Tensor], layer: int, x: torch.Tensor) -> None:
    for w in weights[:layer]:  # earlier layers are frozen: stochastic binary activity
        x = torch.bernoulli(torch.sigmoid(x @ w.T))
    w = weights[layer]
    fire = torch.bernoulli(torch.sigmoid(x @ w.T - 0.5))  # [B, out]
    winner = (x @ w.T + 0.01 * torch.rand(fire.shape)).argmax(1)
    post = fire * torch.nn.functional.one_hot(winner, w.shape[0]).float()
    lr = 0.05 * (1.0 + 0.1 * random.random())
    w += lr * (post.T @ x - post.sum(0)[:, None] * w) / x.shape[0]


def train(ckpt_dir: str, steps_file: Path | None, delay: float, every: int = 3) -> dict:
    torch.manual_seed(0)
    random.seed(0)
    data = (torch.rand(N, SIZES[0], generator=torch.Generator().manual_seed(1)) < 0.4).float()
    weights = [torch.rand(o, i) * 0.5 for i, o in zip(SIZES, SIZES[1:])]
    rs = RunState(
        ckpt_dir, "phased-hebbian-v1", every_steps=every, progress_file=Path(ckpt_dir) / "progress.json"
    )
    phase, epoch, k, step, perm = 0, 0, 0, 0, None
    state = rs.load()
    if state is not None:
        weights = [w.clone() for w in state["weights"]]
        phase, epoch, k, step = (
            int(state[key]) for key in ("phase", "epoch_in_phase", "batch", "global_step")
        )
        perm = state["perm"]
        rs.restore_rng()

    def payload() -> dict:
        return {
            "weights": weights,
            "phase": phase,
            "epoch_in_phase": epoch,
            "batch": k,
            "global_step": step,
            "perm": perm,
        }

    def epochs_done() -> int:
        return sum(e for _, e in PHASES[:phase]) + epoch

    while phase < len(PHASES):  # one iteration per epoch, the phase advancing after its epochs
        name, n_epochs = PHASES[phase]
        if perm is None:
            perm = torch.randperm(N)
        while k < STEPS_PER_EPOCH:
            _update(weights, phase, data[perm[k * BATCH : (k + 1) * BATCH]])
            k += 1
            step += 1
            if steps_file is not None:
                with open(steps_file, "a") as fh:
                    fh.write(f"{step}\n")
            if delay:
                time.sleep(delay)
            if k < STEPS_PER_EPOCH and rs.due(step):
                rs.save(payload(), epoch=epochs_done(), step=step)
            rs.progress(phase=name, epoch=epoch + 1, epochs=n_epochs, step=step, total_steps=TOTAL_STEPS)
        rs.progress(
            phase=name, epoch=epoch + 1, epochs=n_epochs, step=step, total_steps=TOTAL_STEPS, force=True
        )
        epoch, k, perm = epoch + 1, 0, None
        if epoch == n_epochs:
            phase, epoch = phase + 1, 0
        rs.save(payload(), epoch=epochs_done(), step=step, done=phase == len(PHASES))
    rs.restore_rng()  # a finished run loaded from its final checkpoint continues the same stream
    return {
        "weights": [w.clone() for w in weights],
        "global_step": step,
        "resumed_from": rs.resumed_from,
        "rng_after": torch.rand(3),
        "py_after": random.random(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps")
    ap.add_argument("--delay", type=float, default=0.0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    result = train(args.ckpt_dir, Path(args.steps) if args.steps else None, args.delay)
    result.pop("resumed_from")
    torch.save(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
