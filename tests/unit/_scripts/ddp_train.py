"""Train a small deterministic MLP; run under torchrun (2 CPU processes, gloo) or as one process.

Used by tests/unit/test_distributed.py: both launches use the same global batch, so the results must
agree to floating-point tolerance. Rank 0 writes the history, final weights, evaluate() and predict()
results to ``--out``.
"""

from __future__ import annotations

import argparse
import functools
import sys

import torch
from torch import nn
from torch.utils.data import TensorDataset

from snnkit.train import Trainer
from snnkit.train.distributed import all_gather_objects


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--ckpt-dir")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    gen = torch.Generator().manual_seed(11)
    x = torch.randn(330, 8, generator=gen)  # 300 train (last global batch 12 < 32: unequal shards) + 30 val
    y = (x @ torch.randn(8, 3, generator=gen)).argmax(1)
    train_set, val_set = TensorDataset(x[:300], y[:300]), TensorDataset(x[300:], y[300:])

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 3))
    trainer = Trainer(
        model,
        loss_fn=nn.functional.cross_entropy,
        optimizer=functools.partial(torch.optim.SGD, lr=0.2, momentum=0.9),
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=3,
        device="cpu",
        ckpt_dir=args.ckpt_dir,
        eval_batch_size=7,
        progress=False,
    )
    history = trainer.fit(train_set, val_set)
    ev = trainer.evaluate(val_set)
    outputs, targets = trainer.predict(val_set)
    # objects of different sizes per rank (the gather pads them)
    gathered = all_gather_objects(
        {"rank": trainer.dist.rank, "items": list(range(trainer.dist.rank + 3))}, trainer.dist
    )
    if trainer.is_main:
        torch.save(
            {
                "world_size": trainer.dist.world_size,
                "history": [dict(r) for r in history],
                "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
                "evaluate": ev,
                "outputs": outputs,
                "targets": targets,
                "gathered": gathered,
            },
            args.out,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
