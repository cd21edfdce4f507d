"""Train a small masked G2GNet with Hebbian DST under torchrun (2 CPU processes, gloo).

Used by tests/unit/test_sparse_dst.py: every rank writes its masks, weights and its *local* co-activity
statistics to ``--out`` with ``.rank<r>`` appended. The ranks see different shards, so their local
statistics differ; DST sums them over ranks at each event, so the masks must agree.
"""

from __future__ import annotations

import argparse
import functools
import sys

import torch
from torch.utils.data import TensorDataset

from snnkit.models.g2g import G2GNet, spike_count_loss
from snnkit.sparse import DynamicSparseTraining, build_masks, masked_layer_factory
from snnkit.train import Trainer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    masks = build_masks("random", [16, 12, 12], groups=4, p_intra=0.8, p_inter=0.3, seed=1)
    model = G2GNet(16, 3, hidden_dim=12, n_hidden=2, T=6, enc="current", enc_scale=5.0,
                   layer_factory=masked_layer_factory(masks))
    initial = [m.clone() for m in masks]  # MaskedLinear may share the tensor it was given
    gen = torch.Generator().manual_seed(9)
    x = torch.rand(48, 16, generator=gen)
    dst = DynamicSparseTraining(every=3, fraction=0.2, prune="hebb", grow="hebb", window=2)
    trainer = Trainer(model, loss_fn=spike_count_loss,
                      optimizer=functools.partial(torch.optim.Adam, lr=2e-3, weight_decay=1e-2),
                      epochs=2, batch_size=8, seed=1, callbacks=[dst], progress=False, device="cpu")
    trainer.fit(TensorDataset(x, x[:, :3].argmax(1)))  # 12 steps: the last one is an event
    torch.save({
        "rank": trainer.dist.rank,
        "world_size": trainer.dist.world_size,
        "initial_masks": initial,
        "masks": [layer.mask.clone() for layer in model.layers],
        "weights": [layer.weight.detach().clone() for layer in model.layers],
        "local_scores": [dst.stats[f"layers.{i}"].score() for i in range(2)],
        "events": len(dst.events),
    }, f"{args.out}.rank{trainer.dist.rank}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
