"""What the ``stds_imagenet`` notebook needs besides the model: data, network, trainer, top-k accuracy and
the published ImageNet numbers.

STDS: Chen, Yu, Fang, Ma, Huang & Tian, "State Transition of Dendritic Spines Improves Learning of Sparse
Spiking Neural Networks", ICML 2022 (PMLR 162). SEW-ResNet: Fang, Yu, Chen, Huang, Masquelier & Tian, "Deep
Residual Learning in Spiking Neural Networks", NeurIPS 2021. Grad R: Chen et al., IJCAI 2021. The authors'
``ImageNet/train.py`` set-up: cross-entropy on the logits (the final FC on the time-mean of the pooled
features), SGD (momentum 0.9, weight decay 0 by default), cosine annealing of the learning rate per epoch over
``cos_lr_T`` epochs, the last incomplete training batch dropped, torchvision's ImageNet transforms
(random-resized crop + flip for training; resize + centre crop for evaluation; the dataset's own transform
here, :func:`snnkit.data.imagefolder.imagenet_transform`), D updated after every optimiser step over
``iterations per epoch × epochs``. The notebook calls:

* :func:`load_data`: train and val sets at ``crop_size`` (class-stratified subsets when asked);
* :func:`build_net`: :class:`~snnkit.models.sew_resnet.SEWResNet` of ``model``'s depth for the data's classes;
* :func:`make_trainer`: reparameterises the convolutions (:func:`snnkit.sparse.sparsify`; the final FC is not
  pruned) BEFORE the optimiser sees the parameters, and builds the trainer with the schedule / prior callbacks;
* :func:`fit_parallel` (``nproc`` > 1): the same training in ``nproc`` DDP processes
  (:func:`snnkit.train.distributed.run_parallel`), rank 0's weights loaded into the notebook's network;
* :func:`topk_accuracy` on :meth:`~snnkit.train.Trainer.predict`'s scores (top-1 and top-5);
* :func:`~snnkit.experiments.stds.sparsity_summary` (re-exported): the sparsity numbers of ``metrics.json``;
* :func:`published_table` / :func:`beside_published`: the authors' ImageNet numbers.

As in :mod:`snnkit.experiments.stds`, the schedule ends at the last training step and is checkpointed.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from snnkit.data.registry import load_dataset
from snnkit.data.sampling import stratified_subset
from snnkit.errors import ConfigError
from snnkit.experiments.stds import reparameterise, sparsity_summary
from snnkit.models.sew_resnet import SEWResNet
from snnkit.train import Trainer, resume_note
from snnkit.train.distributed import run_parallel

__all__ = ["DENSE_TOP1", "PUBLISHED_TRAIN_TOP1", "beside_published", "build_net", "fit_parallel", "load_data",
           "make_trainer",
           "published_table", "resume_note", "sparsity_summary", "topk_accuracy"]

#: The authors' ImageNet logs, SEW-ResNet18, STDS with a sine schedule: D → TRAIN top-1 % at the last epoch
#: (the logs hold no test number).
PUBLISHED_TRAIN_TOP1: dict[float, float] = {0.1: 61.4, 0.6: 58.6, 0.8: 58.0, 1.5: 55.9, 3.0: 53.0, 5.0: 50.7}
#: Dense SEW-ResNet18 (ADD, T = 4), ImageNet validation top-1 % (Fang et al., NeurIPS 2021).
DENSE_TOP1 = 63.18


def load_data(P: Mapping[str, Any], *, root: Any = None) -> tuple[Any, Any]:
    """``(train_set, val_set)`` of ``P["dataset"]`` with the SEW-ResNet transforms at ``P["crop_size"]``,
    subset to ``train_subset`` / ``test_subset`` images (class-stratified, seeded)."""
    sets = []
    for split, limit in (("train", P["train_subset"]), ("val", P["test_subset"])):
        data = load_dataset(P["dataset"], split, data_root=root, crop_size=P["crop_size"])
        if limit is not None and limit < len(data):
            data = stratified_subset(data, limit, seed=P["seed"])
        sets.append(data)
    return sets[0], sets[1]


def build_net(P: Mapping[str, Any], dataset: Any) -> SEWResNet:
    """SEW-ResNet of ``P["model"]``'s depth (``sew_resnet18`` → 18) with ``P``'s connect function, neuron,
    ``T`` and width, its final FC sized for ``dataset``'s classes."""
    depth = int(str(P["model"]).removeprefix("sew_resnet"))
    return SEWResNet(depth, connect=P["connect_f"], neuron=P["neuron"], T=P["T"],
                     n_classes=len(dataset.classes), width=P["width"])


def make_trainer(P: Mapping[str, Any], net: nn.Module, *, device: torch.device | str, ckpt_dir: Any = None,
                 tb_dir: Any = None, run_hash: str | None = None, progress_file: Any = None) -> Trainer:
    """Reparameterise ``net``'s convolutions with ``P["sparse_function"]`` and build its trainer (module
    docstring). Call it once per network: the parametrisations are added to ``net``."""
    callbacks = reparameterise(P, net)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR
    scheduler = None if P["cos_lr_T"] is None else functools.partial(cosine, T_max=P["cos_lr_T"])
    optimizer = functools.partial(torch.optim.SGD, lr=P["lr"], momentum=P["momentum"],
                                  weight_decay=P["weight_decay"])
    return Trainer(
        net, loss_fn=nn.functional.cross_entropy, optimizer=optimizer, scheduler=scheduler, epochs=P["epochs"],
        batch_size=P["batch_size"], seed=P["seed"], device=device, amp=P["amp"], callbacks=callbacks,
        ckpt_dir=ckpt_dir if P["checkpoint"] else None, tb_dir=tb_dir, run_hash=run_hash, progress=P["progress"],
        progress_file=progress_file, drop_last=True,
    )


def _train_in_worker(P: Mapping[str, Any], root: Any, trainer_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """One DDP process of :func:`fit_parallel`: data, network, trainer and fit, as the notebook does them;
    returns the trained weights (CPU), the per-epoch records and where training resumed from."""
    if P["threads"] is not None:
        torch.set_num_threads(P["threads"])
    train_set, test_set = load_data(P, root=root)
    net = build_net(P, train_set)
    trainer = make_trainer(P, net, device=P["device"], **trainer_kwargs)
    history = [dict(h) for h in trainer.fit(train_set, test_set)]
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    return {"state": state, "history": history, "resumed_from": trainer.resumed_from}


def fit_parallel(P: Mapping[str, Any], net: nn.Module, trainer: Trainer, *, root: Any = None,
                 **trainer_kwargs: Any) -> list[dict[str, Any]]:
    """Train in ``P["nproc"]`` processes started from here (:func:`~snnkit.train.distributed.run_parallel`;
    each builds the data, network and trainer itself and trains its share of every global batch), then load
    rank 0's weights into ``net`` (already reparameterised by :func:`make_trainer`, so the keys agree) and
    its resume record into ``trainer``; returns the per-epoch records. ``trainer_kwargs``: the checkpoint /
    TensorBoard / progress arguments of :func:`make_trainer` (picklable)."""
    out = run_parallel(_train_in_worker, P["nproc"], dict(P), root, dict(trainer_kwargs))
    net.load_state_dict(out["state"])
    trainer.resumed_from = out["resumed_from"]
    return out["history"]


def topk_accuracy(scores: Tensor, targets: Tensor, k: int) -> float:
    """Fraction of samples whose target is among the ``k`` highest scores (``k`` capped at the number of
    classes); ties are broken by ``torch.topk``. ``scores [N, C]``, ``targets [N]``."""
    if scores.ndim != 2 or targets.shape != scores.shape[:1] or len(targets) == 0:
        raise ConfigError("scores, targets", f"shapes {tuple(scores.shape)}, {tuple(targets.shape)}",
                          "[N, C] scores and [N] targets with N >= 1", where="topk_accuracy")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError("k", k, "a positive integer", where="topk_accuracy")
    top = scores.topk(min(k, scores.shape[1]), dim=1).indices
    return float((top == targets.unsqueeze(1)).any(dim=1).float().mean())


def published_table() -> pd.DataFrame:
    """The published ImageNet numbers of SEW-ResNet18: the dense validation top-1 (SEW paper) and the STDS
    sine-schedule runs' TRAIN top-1 (the authors' logs; no test number there)."""
    rows = [{"run": "dense SEW-ResNet18 (Fang et al. 2021)", "sparse_function": "identity", "D": None,
             "top1_%": DENSE_TOP1, "measured_on": "validation"}]
    rows += [{"run": f"STDS sine, D = {d:g} (Chen et al. 2022, logs)", "sparse_function": "stmod", "D": d,
              "top1_%": acc, "measured_on": "training (last epoch)"} for d, acc in PUBLISHED_TRAIN_TOP1.items()]
    return pd.DataFrame(rows)


def beside_published(P: Mapping[str, Any], metrics: Mapping[str, Any], *, stand_in: bool) -> pd.DataFrame:
    """This run's top-1 (validation and training), top-5 and sparsity beside the published number of the same
    setting (dense, or STDS sine with the same D), or alone when none matches; a stand-in or reduced run is
    marked as not comparable."""
    rows = [{"run": "this run", "sparse_function": P["sparse_function"], "D": P["flat_width"],
             "val_top1_%": round(100 * metrics["test_accuracy"], 2),
             "val_top5_%": round(100 * metrics["test_top5"], 2),
             "train_top1_%": round(100 * metrics["train_top1"], 2), "sparsity_%": round(100 * metrics["sparsity"], 2)}]
    if P["sparse_function"] == "identity":
        rows.append({"run": "Fang et al. 2021 (SEW-ResNet18, ImageNet val)", "sparse_function": "identity",
                     "D": None, "val_top1_%": DENSE_TOP1})
    elif P["sparse_function"] == "stmod" and P["gradual"] == "sine":
        ref = PUBLISHED_TRAIN_TOP1.get(float(P["flat_width"]))
        if ref is not None:
            rows.append({"run": "Chen et al. 2022 (SEW-ResNet18, ImageNet, logs: train top-1)",
                         "sparse_function": "stmod", "D": P["flat_width"], "train_top1_%": ref})
    table = pd.DataFrame(rows)
    if stand_in:
        table["note"] = ["stand-in data: not comparable with the paper"] + [""] * (len(rows) - 1)
    return table
