"""Train a small masked G2GNet with dynamic sparse training and checkpointing; used by
tests/unit/test_sparse_dst.py (SIGKILL mid-DST, resume, compare bit for bit).

DST rewires every 3 optimiser steps with a random prune rule (the callback's generator) and a Hebbian
grow rule over a 2-batch window (statistics carried across the checkpoint written every 2 steps), so an
exact resume needs the masks, the statistics and the generator state. The global step is appended to
``--progress`` after every step (after the DST event); the final model, optimiser state, history and
DST event log go to ``--out``.
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

import torch
from resume_train import run_cli  # a sibling script: run as a script, its folder is on sys.path
from torch.utils.data import TensorDataset

from snnkit.models.g2g import G2GNet, spike_count_loss
from snnkit.sparse import DynamicSparseTraining, build_masks, masked_layer_factory
from snnkit.train import Callback, Trainer

N_TRAIN, N_IN, HID, N_CLASSES = 48, 16, 12, 3
EVERY_DST = 3


class Progress(Callback):
    def __init__(self, path: Path | None, delay: float) -> None:
        self.path, self.delay = path, delay

    def on_step_end(self, trainer: Trainer) -> None:
        if self.path is not None:
            with open(self.path, "a") as fh:
                fh.write(f"{trainer.global_step}\n")
        if self.delay:
            time.sleep(self.delay)


def train(ckpt_dir: str, epochs: int, every: int, progress: Path | None, delay: float) -> dict:
    torch.manual_seed(0)
    masks = build_masks("index", [N_IN, HID, HID], groups=4, p_intra=0.8, p_inter=0.3, seed=2)
    model = G2GNet(N_IN, N_CLASSES, hidden_dim=HID, n_hidden=2, T=6, enc="current", enc_scale=5.0,
                   layer_factory=masked_layer_factory(masks))
    gen = torch.Generator().manual_seed(9)
    x = torch.rand(N_TRAIN, N_IN, generator=gen)
    data = TensorDataset(x, x[:, :3].argmax(1))
    dst = DynamicSparseTraining(every=EVERY_DST, fraction=0.2, prune="random", grow="hebb", window=2, seed=4)
    trainer = Trainer(model, loss_fn=spike_count_loss,
                      optimizer=functools.partial(torch.optim.Adam, lr=2e-3, weight_decay=1e-2),
                      epochs=epochs, batch_size=8, seed=1, callbacks=[dst, Progress(progress, delay)],
                      ckpt_dir=ckpt_dir, ckpt_every_steps=every, progress=False, device="cpu")
    history = trainer.fit(data)
    return {
        "model": {k: v.clone() for k, v in model.state_dict().items()},
        "optimizer": trainer.optimizer.state_dict(),
        "history": [dict(r) for r in history],
        "global_step": trainer.global_step,
        "events": [dict(e) for e in dst.events],
        "generator": dst.generator.get_state(),
        "stats": dst.state_dict()["stats"],
    }


def main(argv: list[str] | None = None) -> int:
    return run_cli(train, argv, epochs=3, every=2)


if __name__ == "__main__":
    sys.exit(main())
