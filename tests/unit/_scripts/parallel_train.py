"""A training function for snnkit.train.distributed.run_parallel (importable by the spawned workers).

It runs ddp_train.py's training (the small MLP of test_distributed.py) in the calling process, whatever
its rank, and returns what rank 0 recorded with the weights as NumPy arrays (which pickle plainly);
other ranks return None.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from _scripts import ddp_train


def train(out: str, batch_size: int = 32, epochs: int = 2) -> dict[str, Any] | None:
    ddp_train.main(["--out", out, "--batch-size", str(batch_size), "--epochs", str(epochs)])
    if int(os.environ.get("RANK", "0")) != 0:
        return None
    record = torch.load(out, weights_only=True)
    record["model"] = {k: v.numpy() for k, v in record["model"].items()}
    record["rank"] = int(os.environ.get("RANK", "0"))
    return record
