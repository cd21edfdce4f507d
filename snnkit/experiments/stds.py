"""What the ``stds_cifar10`` notebook needs besides the model: data, network, trainer, sparsity summary and
the published points.

STDS: Chen, Yu, Fang, Ma, Huang & Tian, "State Transition of Dendritic Spines Improves Learning of Sparse
Spiking Neural Networks", ICML 2022 (PMLR 162). Grad R: Chen et al., "Pruning of Deep Spiking Neural
Networks through Gradient Rewiring", IJCAI 2021. The authors' ``CIFAR10/train.py`` set-up: Adam (lr 1e-4),
batch 16 with the last incomplete batch dropped, MSE between the time-averaged voted output and the one-hot
label, random crop (padding 4) + horizontal flip, then CIFAR-10 normalisation; D follows its schedule over
``iterations per epoch × epochs`` steps, updated after every optimiser step. A notebook validates its
parameters, then calls:

* :func:`load_data`: train and test sets (class-stratified subsets when asked);
* :func:`build_net`: :class:`~snnkit.models.stds.StdsCifarNet` for the data's image size, channels and
  classes, normalising inside the network (so the trainer's augmentation of raw images comes first);
* :func:`reparameterise` (both STDS notebooks): the prunable layers reparameterised
  (:func:`snnkit.sparse.sparsify`), the schedule / prior callbacks returned;
* :func:`make_trainer`: reparameterises BEFORE the optimiser sees the parameters, and builds the trainer;
* :func:`sparsity_summary`: the numbers of ``metrics.json`` (sparsity, connectivity, per layer, final D);
* :func:`published_points` / :func:`beside_published`: the authors' five CIFAR-10 points.

Unlike the original: the schedule ends exactly at the last training step (the original ran N+1 epochs over
a schedule of N), a resumed run continues with its D (the checkpoint holds it), Grad R trains BatchNorm.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnkit.data.augment import random_crop_flip
from snnkit.data.registry import load_dataset
from snnkit.data.sampling import stratified_subset
from snnkit.models.stds import StdsCifarNet
from snnkit.sparse.reparam import reparam_layers, sparsify, sparsity_report
from snnkit.train import Trainer, resume_note
from snnkit.train.loop import Callback

__all__ = ["CIFAR10_NORM", "PUBLISHED", "beside_published", "build_net", "load_data", "make_trainer",
           "mse_one_hot", "published_points", "reparameterise", "resume_note", "sparsity_summary"]

#: The authors' normalisation of CIFAR-10 (``CIFAR10/train.py``: mean and the per-image-std variant).
CIFAR10_NORM = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))

#: The authors' logs, CIFAR-10, sine schedule, final epoch: D → (test accuracy %, sparsity %).
PUBLISHED: dict[float, tuple[float, float]] = {
    1.0: (92.49, 95.36), 2.0: (92.49, 97.77), 3.0: (91.64, 98.60), 4.0: (91.06, 99.01), 5.0: (90.21, 99.25),
}


def load_data(P: Mapping[str, Any], *, root: Any = None) -> tuple[Any, Any]:
    """``(train_set, test_set)`` of ``P["dataset"]``, subset to ``train_subset`` / ``test_subset`` images
    (class-stratified, seeded)."""
    train = load_dataset(P["dataset"], "train", data_root=root)
    test = load_dataset(P["dataset"], "test", data_root=root)
    if P["train_subset"] is not None and P["train_subset"] < len(train):
        train = stratified_subset(train, P["train_subset"], seed=P["seed"])
    if P["test_subset"] is not None and P["test_subset"] < len(test):
        test = stratified_subset(test, P["test_subset"], seed=P["seed"])
    return train, test


def build_net(P: Mapping[str, Any], dataset: Any) -> StdsCifarNet:
    """The STDS CIFAR-10 network at ``P``'s width for ``dataset``'s images ``[C, H, W]`` and classes; three-
    channel images are normalised with :data:`CIFAR10_NORM` inside the network."""
    c, h, _ = dataset[0][0].shape
    return StdsCifarNet(channels=P["channels"], hidden=P["hidden"], T=P["T"], image_size=h, in_channels=c,
                        n_classes=len(dataset.classes), dropout=P["dropout"],
                        input_norm=CIFAR10_NORM if c == 3 else None)


def mse_one_hot(outputs: Tensor, targets: Tensor) -> Tensor:
    """The authors' loss: mean squared error between the class scores and the one-hot labels."""
    return F.mse_loss(outputs.float(), F.one_hot(targets, outputs.shape[-1]).float())


def reparameterise(P: Mapping[str, Any], net: nn.Module) -> list[Callback]:
    """Apply ``P["sparse_function"]`` to ``net``'s prunable layers (its ``prunable_layers()``) and return the
    callbacks its training needs: the flat-width schedule of ``stmod`` / ``st`` (to ``flat_width`` along
    ``gradual``), Grad R's prior step. Both STDS notebooks call it before their optimiser is built."""
    kind = P["sparse_function"]
    thresholds = kind in ("stmod", "st")  # D and its schedule belong to the soft thresholds only
    _, callbacks = sparsify(net, kind, flat_width=P["flat_width"] if thresholds else 0.0,
                            schedule=P["gradual"] if thresholds else "none", alpha=P["alpha_gr"],
                            target_sparsity=P["target_sparsity"])
    return callbacks


def make_trainer(P: Mapping[str, Any], net: nn.Module, *, device: torch.device | str, ckpt_dir: Any = None,
                 tb_dir: Any = None, run_hash: str | None = None, progress_file: Any = None) -> Trainer:
    """Reparameterise ``net``'s prunable layers with ``P["sparse_function"]`` and build its trainer (module
    docstring). Call it once per network: the parametrisations are added to ``net``."""
    callbacks = reparameterise(P, net)
    scheduler = None
    if P["cos_lr_T"] is not None:
        scheduler = functools.partial(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=P["cos_lr_T"])
    return Trainer(
        net, loss_fn=mse_one_hot, optimizer=functools.partial(torch.optim.Adam, lr=P["lr"]), scheduler=scheduler,
        epochs=P["epochs"], batch_size=P["batch_size"], seed=P["seed"], device=device, amp=P["amp"],
        callbacks=callbacks, ckpt_dir=ckpt_dir if P["checkpoint"] else None, tb_dir=tb_dir, run_hash=run_hash,
        progress=P["progress"], progress_file=progress_file, drop_last=True,
        transform=random_crop_flip if P["augment"] else None,
    )


def sparsity_summary(net: nn.Module) -> dict[str, Any]:
    """``sparsity``/``connectivity`` over the prunable weights (exact zeros of the weights the forward pass
    uses), ``sparsity_<layer>`` per layer, and ``flat_width`` (the final D, when the layers have one)."""
    rep = sparsity_report(net)
    out: dict[str, Any] = {"sparsity": rep["sparsity"], "connectivity": rep["connectivity"],
                           "prunable_weights": rep["total"], "zero_weights": rep["zeros"]}
    out.update({f"sparsity_{name}": layer["sparsity"] for name, layer in rep["layers"].items()})
    widths = [float(p.flat_width) for _, _, p in reparam_layers(net) if hasattr(p, "flat_width")]
    if widths:
        out["flat_width_final"] = widths[0]
    return out


def published_points() -> pd.DataFrame:
    """The authors' five CIFAR-10 points (sine schedule): D, test accuracy %, sparsity %, connectivity %."""
    rows = [{"D": d, "test_accuracy_%": acc, "sparsity_%": sp, "connectivity_%": round(100 - sp, 2)}
            for d, (acc, sp) in PUBLISHED.items()]
    return pd.DataFrame(rows)


def beside_published(P: Mapping[str, Any], metrics: Mapping[str, Any], *, stand_in: bool) -> pd.DataFrame:
    """This run's accuracy and sparsity as a row beside the published row of the same D (sine schedule), or
    alone with a note when none matches; a stand-in or reduced run is marked as not comparable."""
    row = {"run": "this run", "sparse_function": P["sparse_function"], "D": P["flat_width"],
           "schedule": P["gradual"], "test_accuracy_%": round(100 * metrics["test_accuracy"], 2),
           "sparsity_%": round(100 * metrics["sparsity"], 2)}
    rows = [row]
    ref = PUBLISHED.get(float(P["flat_width"]))
    if P["sparse_function"] == "stmod" and P["gradual"] == "sine" and ref is not None:
        rows.append({"run": "Chen et al. 2022 (CIFAR-10, full network, 2048 epochs)", "sparse_function": "stmod",
                     "D": P["flat_width"], "schedule": "sine", "test_accuracy_%": ref[0], "sparsity_%": ref[1]})
    table = pd.DataFrame(rows)
    if stand_in:
        table["note"] = ["stand-in data: not comparable with the paper"] + [""] * (len(rows) - 1)
    return table
