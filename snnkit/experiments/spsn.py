"""What the ``spsn_shd`` notebook needs besides the model: data, trainer, per-layer rasters, the published tables.

Yarga & Wood, arXiv 2306.12666 (SPSN) and Neuromorph. Comput. Eng. 2025 (ParaLIF); the seed's ``run.py``:
Adamax (lr 1e-3), batch 64, cross-entropy on the read-out reduced over time, the spike regulariser of Eq. 21
when ``reg_thr`` > 0, optional data augmentation of the training samples. A notebook validates its
parameters, then calls:

* :func:`load_data`: train and test sets of the parameter set's dataset (SHD, its SHD-sized stand-in, or the
  small shipped stand-in), class-stratified subsets when asked;
* :func:`make_trainer`: the seed's optimiser (plus ParaLIF's StepLR when ``lr_step`` is set), the padding
  collate, the augmentation as the trainer's seeded ``transform``, the regulariser callback, checkpoints;
* :func:`layer_rasters`: the spikes of every hidden layer for a few test samples (real steps only);
* :func:`published_tables`: the seed README's accuracy and seconds-per-epoch tables, for the notebook to
  show beside its own row.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnkit.data.registry import load_dataset
from snnkit.data.sampling import stratified_subset
from snnkit.data.sequences import pad_collate, time_mask
from snnkit.report.figures import raster_grid
from snnkit.train import SpikeCountRegulariser, Trainer, resume_note
from snnkit.train.loop import Callback

__all__ = ["PUBLISHED_ACCURACY", "PUBLISHED_EPOCH_S", "beside_published", "column", "configuration",
           "language_confusion", "layer_rasters", "load_data", "make_callbacks", "make_trainer", "published_tables",
           "raster_grid", "resume_note"]

# The seed README's two tables (SHD test accuracy %, seed 0; seconds per training epoch on the authors' GPU).
PUBLISHED_ACCURACY: dict[str, dict[str, float]] = {
    "LIF": {"basic": 71.38, "aug": 83.04},
    "SPSN-SB": {"basic": 77.16, "aug": 86.09, "aug + reg": 89.71},
    "SPSN-GS": {"basic": 75.66, "aug": 86.09, "aug + reg": 89.40},
    "Non-Spiking": {"basic": 71.82, "aug": 66.08},
}
PUBLISHED_EPOCH_S: dict[str, dict[str, float]] = {
    "LIF": {"basic": 252.2, "aug": 261.7},
    "SPSN-SB": {"basic": 5.5, "aug": 10.7, "aug + reg": 10.7},
    "SPSN-GS": {"basic": 6.8, "aug": 12.2, "aug + reg": 12.2},
    "Non-Spiking": {"basic": 1.5, "aug": 6.7},
}


def column(P: Mapping[str, Any]) -> str:
    """The seed tables' column of a parameter set: ``basic``, ``aug`` or ``aug + reg``."""
    if not P["data_augmentation"]:
        return "basic"
    return "aug + reg" if P["reg_thr"] else "aug"


def configuration(P: Mapping[str, Any]) -> str:
    """The seed tables' row and column of a parameter set, e.g. ``SPSN-SB / aug + reg 0.4``."""
    name = P["neuron"] if P["neuron"] != "ParaLIF" else f"ParaLIF-{P['spike_mode']}"
    col = column(P)
    return f"{name} / {col} {P['reg_thr']:g}" if col == "aug + reg" else f"{name} / {col}"


def load_data(P: Mapping[str, Any], *, root: Any = None) -> tuple[Any, Any]:
    """``(train_set, test_set)`` of ``P["dataset"]`` binned at ``dt`` (cropped at ``max_time``), subset to
    ``train_subset`` / ``test_subset`` samples (class-stratified, seeded)."""
    options = {"dt": P["dt"], "max_time": P["max_time"]}
    train = load_dataset(P["dataset"], "train", data_root=root, **options)
    test = load_dataset(P["dataset"], "test", data_root=root, **options)
    if P["train_subset"] is not None and P["train_subset"] < len(train):
        train = stratified_subset(train, P["train_subset"], seed=P["seed"])
    if P["test_subset"] is not None and P["test_subset"] < len(test):
        test = stratified_subset(test, P["test_subset"], seed=P["seed"])
    return train, test


def make_callbacks(P: Mapping[str, Any], net: nn.Module) -> list[Callback]:
    """The spike regulariser (Eq. 21) on the hidden layers when ``reg_thr`` > 0 and the neuron spikes."""
    if P["reg_thr"] and P["neuron"] != "Non-Spiking":
        return [SpikeCountRegulariser(net.spiking_layers, P["reg_thr"])]
    return []


def _cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    return F.cross_entropy(logits, targets)


def make_trainer(P: Mapping[str, Any], net: nn.Module, *, device: torch.device | str, ckpt_dir: Any = None,
                 tb_dir: Any = None, run_hash: str | None = None, progress_file: Any = None) -> Trainer:
    """The seed's training set-up for ``net`` (see the module docstring)."""
    from snnkit.data.shd import random_affine

    scheduler = None
    if P["lr_step"] is not None:
        scheduler = functools.partial(torch.optim.lr_scheduler.StepLR, step_size=P["lr_step"], gamma=0.5)
    transform = None
    if P["data_augmentation"]:
        transform = functools.partial(random_affine, h_shift=P["h_shift"], scale=P["scale"], pad=P["pad"])
    return Trainer(
        net, loss_fn=_cross_entropy, optimizer=functools.partial(torch.optim.Adamax, lr=P["lr"]),
        scheduler=scheduler, epochs=P["nb_epochs"], batch_size=P["batch_size"], seed=P["seed"], device=device,
        progress=P["progress"], callbacks=make_callbacks(P, net), collate_fn=functools.partial(pad_collate,
                                                                                               pad=P["pad"]),
        ckpt_dir=ckpt_dir if P["checkpoint"] else None, tb_dir=tb_dir, run_hash=run_hash,
        progress_file=progress_file, transform=transform,
    )


@torch.no_grad()
def layer_rasters(net: nn.Module, dataset: Any, n_samples: int = 3, *, seed: int = 0) -> dict[str, list[Tensor]]:
    """Spikes of every hidden layer for the first ``n_samples`` samples of ``dataset``: layer name → one bool
    ``[T_i, hidden]`` per sample (its real steps only). Stochastic neurons draw from a generator seeded with
    ``seed``, so the figure is the same on every run."""
    samples = [dataset[i] for i in range(min(n_samples, len(dataset)))]
    (x, lengths), _ = pad_collate(samples, pad=net.pad)
    names = net.spiking_layers
    modules = dict(net.named_modules())
    seen: dict[str, Tensor] = {}
    handles = [modules[n].register_forward_hook(lambda m, a, out, n=n: seen.__setitem__(n, out)) for n in names]
    was_training = net.training
    net.eval()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net.potentials((x, lengths))
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    mask = time_mask(lengths, x.shape[0], net.pad)
    return {n: [seen[n][mask[:, b], b].bool() for b in range(len(samples))] for n in names if n in seen}


def published_tables() -> tuple[Any, Any]:
    """The seed README's tables as DataFrames (rows: neuron; columns: basic, aug, aug + reg)."""
    import pandas as pd

    cols = ["basic", "aug", "aug + reg"]
    acc = pd.DataFrame.from_dict(PUBLISHED_ACCURACY, orient="index").reindex(columns=cols)
    sec = pd.DataFrame.from_dict(PUBLISHED_EPOCH_S, orient="index").reindex(columns=cols)
    return acc, sec


def language_confusion(trainer: Trainer, test_set: Any, run: Any = None) -> Any:
    """How often a spoken digit is heard in the wrong language: rows = true language, columns = predicted
    language, fractions of the row (from the test predictions; SHD's classes carry their language). With
    ``run``, saved as table ``language_confusion``."""
    import pandas as pd

    scores, targets = trainer.predict(test_set)
    pred = scores.argmax(-1)
    langs = list(test_set.languages)
    names = sorted(set(langs), key=langs.index)
    true_l = [langs[int(t)] for t in targets]
    pred_l = [langs[int(p)] for p in pred]
    table = pd.crosstab(pd.Series(true_l, name="true language"), pd.Series(pred_l, name="predicted language"),
                        normalize="index").reindex(index=names, columns=names, fill_value=0.0)
    if run is not None:
        run.table(table.reset_index(), "language_confusion")
    return table


def beside_published(P: Mapping[str, Any], metrics: Mapping[str, Any], *, stand_in: bool) -> Any:
    """This run's test accuracy and mean epoch time beside the seed README's numbers for the same neuron and
    column (blank where the seed has none, e.g. ParaLIF). The published numbers are for the real SHD on the
    authors' GPU: a stand-in or CPU run is shown beside them, not compared with them."""
    import pandas as pd

    col = column(P)
    neuron = P["neuron"]
    pub_acc = PUBLISHED_ACCURACY.get(neuron, {}).get(col)
    pub_s = PUBLISHED_EPOCH_S.get(neuron, {}).get(col)
    return pd.DataFrame([
        {"source": "this run" + (" (stand-in data)" if stand_in else ""), "configuration": configuration(P),
         "test_accuracy_%": 100 * float(metrics["test_accuracy"]),
         "epoch_time_s": float(metrics["epoch_time_s"]) if "epoch_time_s" in metrics else float("nan")},
        {"source": "published (SHD, GPU)", "configuration": configuration(P),
         "test_accuracy_%": float("nan") if pub_acc is None else pub_acc,
         "epoch_time_s": float("nan") if pub_s is None else pub_s},
    ])
