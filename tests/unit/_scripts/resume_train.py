"""Train a small stochastic MLP with checkpointing; used by tests/unit/test_resume_sigkill.py.

The model has a parametrized weight (torch.nn.utils.parametrize), dropout and Bernoulli noise, so an
exact resume needs the model, optimiser, scheduler, callback state and every RNG stream restored.
Progress (the global step) is appended to ``--progress`` after every step so a test can SIGKILL the
process after a chosen step; the final weights, optimiser state and history go to ``--out``.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.data import TensorDataset

from snnkit.train import Callback, Trainer

N_TRAIN, N_VAL, N_IN, N_HID, N_CLASSES = 192, 64, 12, 24, 3


class Masked(nn.Module):
    """A weight parametrization: W ↦ W ⊙ M with a fixed binary mask buffer."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w * self.mask


class NoisyMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(N_IN, N_HID)
        gen = torch.Generator().manual_seed(7)
        parametrize.register_parametrization(
            self.fc1, "weight", Masked((torch.rand(N_HID, N_IN, generator=gen) < 0.6).float())
        )
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(N_HID, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.fc1(x))
        if self.training:  # Bernoulli spike-like noise from the global torch RNG
            h = h * torch.bernoulli(torch.full_like(h, 0.9))
        return self.fc2(self.drop(h))


class StepCounter(Callback):
    """Stateful callback: counts steps, draws from Python's RNG, reports progress, may slow steps."""

    def __init__(self, progress: Path | None, delay: float) -> None:
        self.progress = progress
        self.delay = delay
        self.steps = 0
        self.draws = 0.0

    def on_step_end(self, trainer: Trainer) -> None:
        import random

        self.steps += 1
        self.draws += random.random()
        if self.progress is not None:
            with open(self.progress, "a") as fh:
                fh.write(f"{trainer.global_step}\n")
        if self.delay:
            time.sleep(self.delay)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict) -> None:
        logs["cb_steps"] = self.steps
        logs["cb_draws"] = self.draws

    def state_dict(self) -> dict:
        return {"steps": self.steps, "draws": self.draws}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.draws = int(state["steps"]), float(state["draws"])


def data() -> tuple[TensorDataset, TensorDataset]:
    gen = torch.Generator().manual_seed(123)
    x = torch.randn(N_TRAIN + N_VAL, N_IN, generator=gen)
    w = torch.randn(N_IN, N_CLASSES, generator=gen)
    y = (x @ w).argmax(1)
    return TensorDataset(x[:N_TRAIN], y[:N_TRAIN]), TensorDataset(x[N_TRAIN:], y[N_TRAIN:])


def train(
    ckpt_dir: str | None, epochs: int, every: int | None, progress: Path | None = None, delay: float = 0.0
) -> dict:
    torch.manual_seed(0)
    model = NoisyMLP()
    train_set, val_set = data()
    trainer = Trainer(
        model,
        loss_fn=nn.functional.cross_entropy,
        optimizer=functools.partial(torch.optim.Adam, lr=3e-2, weight_decay=1e-4),
        scheduler=functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.7),
        epochs=epochs,
        batch_size=20,  # 192 = 9 full batches + one of 12
        seed=5,
        grad_clip=1.0,
        callbacks=[StepCounter(progress, delay)],
        ckpt_dir=ckpt_dir,
        ckpt_every_steps=every,
        progress=False,
    )
    history = trainer.fit(train_set, val_set)
    return {
        "model": {k: v.clone() for k, v in model.state_dict().items()},
        "optimizer": trainer.optimizer.state_dict(),
        "history": [dict(r) for r in history],
        "global_step": trainer.global_step,
        "rng_after": torch.rand(3),
    }


def run_cli(train_fn, argv: list[str] | None, *, epochs: int, every: int) -> int:
    """The command line the SIGKILL tests drive (shared with the other resume scripts): parse
    ``--ckpt-dir --out --epochs --every --progress --delay``, run ``train_fn`` on one thread, save its result."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--every", type=int, default=every)
    ap.add_argument("--progress")
    ap.add_argument("--delay", type=float, default=0.0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    result = train_fn(
        args.ckpt_dir, args.epochs, args.every, Path(args.progress) if args.progress else None, args.delay
    )
    torch.save(result, args.out)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(train, argv, epochs=4, every=3)


if __name__ == "__main__":
    sys.exit(main())
