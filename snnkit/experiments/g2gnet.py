"""What the three G2GNet notebooks share: the callbacks, the trainer and the cross-validation a parameter
set describes (Konstantaropoulos, Smirnakis & Papadopouli, arXiv 2508.14140).

A notebook validates its parameters (:func:`snnkit.config.notebook_params`), loads its data, builds the
network with :meth:`snnkit.models.G2GNet.from_params` and then calls:

* :func:`make_callbacks`: dynamic sparse training (:class:`snnkit.sparse.DynamicSparseTraining`) when
  ``sparsity_mode`` is ``dynamic``, the firing-rate regulariser
  (:class:`snnkit.train.FiringRateRegulariser`) when ``enforce_sparsity`` is on;
* :func:`make_trainer`: Adam with the run's learning rate and weight decay, the optional cosine
  schedule, checkpoints in the run directory keyed by the run's identity, the progress file;
* :func:`cross_validate_run`: ``k_folds`` > 1 — a fresh network, callbacks and trainer per fold
  (each fold checkpoints in its own folder, so an interrupted cross-validation resumes fold by fold);
  writes the per-fold table and returns the mean ± std;
* :func:`sparse_summary`: density of the masked layers and the DST events, for ``metrics.json``;
* :func:`cifar_inputs` (CIFAR notebooks): the trainer's crop-and-flip transform for raw pixels, or the
  frozen ResNet-32's cached features in place of every split (``use_resnet``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from snnkit.errors import ConfigError
from snnkit.models.g2g import G2GNet, spike_count_loss
from snnkit.sparse import DynamicSparseTraining, MaskedLinear, expected_density
from snnkit.train import CVResult, FiringRateRegulariser, Trainer, cross_validate, resume_note
from snnkit.train.loop import Callback

log = logging.getLogger(__name__)

__all__ = ["make_callbacks", "make_trainer", "cross_validate_run", "sparse_summary", "dst_callback",
           "resume_note", "masks_of", "masked_layers", "cifar_inputs"]


def make_callbacks(P: Mapping[str, Any], net: nn.Module) -> list[Callback]:
    """The callbacks a G2GNet parameter set asks for (DST, firing-rate regulariser), for ``net``."""
    callbacks: list[Callback] = []
    if P["sparsity_mode"] == "dynamic":
        if not any(isinstance(m, MaskedLinear) for m in net.modules()):
            raise ConfigError("sparsity_mode", "dynamic", "'static' for a network without masked layers (model="
                              f"{P.get('model')!r}); dynamic sparse training needs index, random or mixer")
        callbacks.append(DynamicSparseTraining(every=P["dst_every"], fraction=P["dst_fraction"], prune=P["cp"],
                                               grow=P["cg"], regrow=P["regrow"], window=P["hebb_window"],
                                               seed=P["seed"]))
    if P["enforce_sparsity"]:
        if P["warmup_epochs"] >= P["epochs"]:
            log.warning("enforce_sparsity is on but warmup_epochs=%d >= epochs=%d: the regulariser never acts",
                        P["warmup_epochs"], P["epochs"])
        callbacks.append(FiringRateRegulariser(FiringRateRegulariser.hidden_modules(net),
                                               warmup_epochs=P["warmup_epochs"]))
    return callbacks


def dst_callback(trainer: Trainer) -> DynamicSparseTraining | None:
    """The trainer's DST callback, if any."""
    return next((cb for cb in trainer.callbacks if isinstance(cb, DynamicSparseTraining)), None)


def make_trainer(P: Mapping[str, Any], net: nn.Module, *, device: torch.device | str,
                 ckpt_dir: Any = None, tb_dir: Any = None, run_hash: str | None = None,
                 progress_file: Any = None, callbacks: Sequence[Callback] | None = None,
                 transform: Callable[[Any, torch.Generator], Any] | None = None) -> Trainer:
    """The trainer of a G2GNet run: Adam(lr, weight_decay), optional cosine schedule over the epochs,
    cross-entropy on spike counts, :func:`make_callbacks` unless ``callbacks`` is given."""
    scheduler = None
    if P["lr_schedule"] == "cosine":
        scheduler = functools.partial(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=P["epochs"])
    return Trainer(
        net, loss_fn=spike_count_loss,
        optimizer=functools.partial(torch.optim.Adam, lr=P["lr"], weight_decay=P["weight_decay"]),
        scheduler=scheduler, epochs=P["epochs"], batch_size=P["batch_size"], seed=P["seed"], device=device,
        amp=P["amp"], grad_clip=P["grad_clip"], progress=P["progress"],
        callbacks=make_callbacks(P, net) if callbacks is None else callbacks,
        ckpt_dir=ckpt_dir if P["checkpoint"] else None, tb_dir=tb_dir, run_hash=run_hash,
        progress_file=progress_file, transform=transform,
    )


def cross_validate_run(P: Mapping[str, Any], run: Any, train_set: Any, *, in_features: int, n_classes: int,
                       device: torch.device | str,
                       transform: Callable[[Any, torch.Generator], Any] | None = None) -> CVResult:
    """``k_folds``-fold cross-validation of the run's configuration on ``train_set``.

    Each fold trains a fresh network (same parameters, so the same masks and initial weights) for
    ``epochs`` and reports its last epoch's validation accuracy; folds are ``stratified`` (shuffled with
    ``seed``, class-balanced) or ``contiguous`` (the authors' protocol). Writes the table ``cv_folds``
    (one row per fold, then mean and std) to the run and returns the :class:`~snnkit.train.CVResult`.
    """
    k = P["k_folds"]
    if k < 2:
        raise ConfigError("k_folds", k, "an integer ≥ 2 for cross-validation", where="cross_validate_run")

    def fit_fold(fold: int, part_train: Any, part_val: Any) -> dict[str, Any]:
        net = G2GNet.from_params(P, in_features=in_features, n_classes=n_classes)
        ckpt = run.ckpt_dir / f"fold{fold + 1}" if run.ckpt_dir is not None else None
        trainer = make_trainer(P, net, device=device, ckpt_dir=ckpt, run_hash=f"{run.params_hash}-fold{fold + 1}",
                               transform=transform)
        history = trainer.fit(part_train, part_val)
        last = history[-1]
        return {"fold": fold + 1, "train_size": len(part_train), "val_size": len(part_val),
                "train_accuracy": float(last["train_accuracy"]), "val_accuracy": float(last["val_accuracy"])}

    result = cross_validate(train_set, k, P["seed"], fit_fold, stratified=P["folds"] == "stratified",
                            contiguous=P["folds"] == "contiguous")
    import pandas as pd

    table = pd.DataFrame(result.folds)
    summary = pd.DataFrame([{"fold": "mean", **{c: result.mean(c) for c in ("train_accuracy", "val_accuracy")}},
                            {"fold": "std", **{c: result.std(c) for c in ("train_accuracy", "val_accuracy")}}])
    both = pd.concat([table, summary], ignore_index=True).astype({"train_size": "Int64", "val_size": "Int64"})
    run.table(both, "cv_folds")
    return result


@contextlib.contextmanager
def _exclusive(folder: Any) -> Iterator[None]:
    """Hold an exclusive lock on ``<folder>/.lock`` (POSIX ``flock``; no lock where ``fcntl`` is missing or
    ``folder`` is None): a second process pre-training the same backbone waits, then finds the first one's
    finished checkpoint and loads it instead of training again."""
    try:
        import fcntl
    except ImportError:  # Windows
        fcntl = None  # type: ignore[assignment]
    if folder is None or fcntl is None:
        yield
        return
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cifar_inputs(P: Mapping[str, Any], run: Any, train_set: Any, val_set: Any, test_set: Any, *,
                 device: torch.device | str) -> tuple[Any, Any, Any, Callable[[Any, torch.Generator], Any] | None]:
    """The inputs of a CIFAR G2GNet run: ``(train, val, test, transform)``.

    Raw pixels: the splits unchanged and, with ``augment``, :func:`snnkit.data.random_crop_flip` as the
    trainer's transform (seeded per step, so a resumed run sees the same batches). ``use_resnet``: a frozen
    CIFAR ResNet-32 (:func:`snnkit.models.resnet_cifar.resnet_extractor`: ``resnet_weights``, or pre-trained
    here for ``resnet_pretrain_epochs`` with the same augmentation) replaces every split by its 512
    features (no transform: features are computed once). With ``feature_cache`` the pre-trained backbone
    (keyed by the training split and the pre-training settings) and the features (keyed by split, weights
    and extractor settings) live under the user cache (``~/.cache/snnkit/resnet32``) and are shared by the
    runs of a sweep (runs in parallel wait on a lock while one pre-trains); without it, the backbone is
    pre-trained into the run's checkpoint folder.
    """
    from snnkit.data import random_crop_flip
    from snnkit.data.root import cache_dir
    from snnkit.models import resnet_cifar as resnet

    if not P["use_resnet"]:
        return train_set, val_set, test_set, (random_crop_flip if P["augment"] else None)
    cache = cache_dir().parent / "resnet32" if P["feature_cache"] else None
    pretrain_dir = None
    if P["resnet_pretrain_epochs"]:
        pretrain_dir = (run.ckpt_dir / "resnet" if cache is None else cache / "pretrain" / resnet.feature_cache_key(
            train_set, "untrained", epochs=P["resnet_pretrain_epochs"], seed=P["seed"], augment=P["augment"]))
    with _exclusive(pretrain_dir if cache is not None else None):  # parallel runs of a sweep pre-train once
        extractor = resnet.resnet_extractor(
            resnet_weights=P["resnet_weights"], resnet_pretrain_epochs=P["resnet_pretrain_epochs"],
            train_set=train_set, seed=P["seed"], device=device, ckpt_dir=pretrain_dir,
            transform=random_crop_flip if P["augment"] else None)
    train_set, val_set, test_set = (None if s is None else resnet.extract_features(extractor, s, device=device,
                                                                                     cache_dir=cache)
                                    for s in (train_set, val_set, test_set))
    return train_set, val_set, test_set, None


def masked_layers(net: nn.Module) -> dict[str, MaskedLinear]:
    """``net``'s masked layers by name (their ``mask``, ``out_groups`` and ``in_groups``)."""
    return {name: m for name, m in net.named_modules() if isinstance(m, MaskedLinear)}


def masks_of(net: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the masks of ``net``'s masked layers (e.g. before training, for a before/after figure)."""
    return {name: m.mask.detach().clone() for name, m in masked_layers(net).items()}


def sparse_summary(P: Mapping[str, Any], net: nn.Module, trainer: Trainer | None = None) -> dict[str, Any]:
    """Density of the masked layers (all together and per layer), the density the parameters lead to
    expect (``1/G·p_intra + (1−1/G)·p_inter``) and, with dynamic sparse training, the number of events
    and of connections regrown in all; ``{}`` for a dense net."""
    masks = masks_of(net)
    if not masks:
        return {}
    active = sum(int(m.sum()) for m in masks.values())
    dst = dst_callback(trainer) if trainer is not None else None
    events = {} if dst is None else {"dst_events": len({e["step"] for e in dst.events}),
                                     "dst_rewired": sum(e["grown"] for e in dst.events)}
    return {**events,
        "density": active / sum(m.numel() for m in masks.values()),
        "expected_density": expected_density(P["groups"], P["p_intra"], P["p_inter"]),
        **{f"density_{name.replace('.', '_')}": float(m.float().mean()) for name, m in masks.items()},
    }
