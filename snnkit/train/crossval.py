"""k-fold cross-validation: shuffled, stratified folds and a driver that trains a fresh model per fold.

The G2GNet authors' protocol (Konstantaropoulos et al., arXiv 2508.14140, and the authors' training script)
is k = 5 folds of 5 epochs each with a fresh model per fold, reporting mean ± std of the final-epoch
validation accuracy. Their script cut the folds contiguously from the *unshuffled* training set, so a
fold's class mix depended on the file order; here every fold is drawn per class from a seeded
permutation, so each fold holds (to within one sample) the same class proportions as the whole set.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from snnkit.data.sampling import labels_of, stratified_partition, take
from snnkit.errors import ConfigError, check_positive_int

log = logging.getLogger(__name__)

__all__ = ["kfold_indices", "cross_validate", "CVResult"]


def kfold_indices(
    targets: Sequence[int] | torch.Tensor | np.ndarray, k: int, seed: int, *, stratified: bool = True,
    contiguous: bool = False,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train_indices, val_indices) pairs whose validation parts partition ``range(len(targets))``.

    Stratified (default): :func:`snnkit.data.stratified_partition` with ``k`` equal weights, i.e. each
    class's samples shuffled with ``seed`` and dealt round-robin over the folds, starting where the
    previous class stopped, so fold sizes differ by at most one and every fold has its class's share to
    within one sample. Otherwise the same dealing of one seeded permutation of all samples.
    ``contiguous=True`` (``stratified`` and ``seed`` then unused): fold ``f`` is the ``f``-th of ``k``
    consecutive blocks of the samples in their stored order (sizes differing by at most one) — the
    authors' protocol, kept so that it can be reproduced; on a file sorted by class its folds miss
    classes. Indices in each part are sorted.
    """
    labels = labels_of(targets)
    n = len(labels)
    check_positive_int("k", k)
    if not 2 <= k <= n:
        raise ConfigError("k", k, f"an integer in [2, {n}] (at most the number of samples)")
    if contiguous:
        fold_of = np.concatenate([np.full(len(block), f) for f, block in enumerate(np.array_split(np.arange(n), k))])
    else:
        fold_of = stratified_partition(labels if stratified else np.zeros(n, np.int64), (1,) * k, seed)
    everything = np.arange(n)
    return [(everything[fold_of != f], everything[fold_of == f]) for f in range(k)]


@dataclass
class CVResult:
    """Per-fold metric dicts and their mean and (sample, ddof=1) standard deviation."""

    folds: list[dict[str, Any]] = field(default_factory=list)

    def _values(self, key: str) -> np.ndarray:
        vals = [f[key] for f in self.folds
                if isinstance(f.get(key), (int, float)) and not isinstance(f[key], bool)]
        return np.asarray(vals, dtype=np.float64)

    def keys(self) -> list[str]:
        """Numeric metric names present in every fold (the ``fold`` index excluded)."""
        common = set.intersection(*(set(f) for f in self.folds)) - {"fold"} if self.folds else set()
        return sorted(k for k in common if len(self._values(k)) == len(self.folds))

    def mean(self, key: str) -> float:
        return float(self._values(key).mean())

    def std(self, key: str) -> float:
        vals = self._values(key)
        return float(vals.std(ddof=1)) if len(vals) > 1 else math.nan

    def summary(self) -> dict[str, float]:
        """``{<metric>_mean, <metric>_std}`` for every numeric metric: a flat dict for metrics.json."""
        out: dict[str, float] = {}
        for key in self.keys():
            out[f"{key}_mean"] = self.mean(key)
            out[f"{key}_std"] = self.std(key)
        return out


def cross_validate(
    dataset: Dataset,
    k: int,
    seed: int,
    fit_fold: Callable[[int, Dataset, Dataset], Mapping[str, Any]],
    *,
    targets: Sequence[int] | torch.Tensor | None = None,
    stratified: bool = True,
    contiguous: bool = False,
) -> CVResult:
    """Run ``fit_fold(fold, train_part, val_part) -> metrics`` on each of ``k`` folds of ``dataset``.

    ``fit_fold`` must build a fresh model and trainer (e.g. with its own ``ckpt_dir`` per fold, so
    that an interrupted cross-validation resumes fold by fold) and return a dict of numbers such as
    ``{"val_accuracy": ...}``. ``stratified``/``contiguous``: see :func:`kfold_indices`. ``targets`` defaults to ``dataset.targets``. Parts are
    ``dataset.subset(indices)`` when the dataset offers it (keeps its name and provenance), else a
    :class:`snnkit.data.TargetSubset` (a ``torch.utils.data.Subset`` when ``targets`` is given apart).
    """
    own_targets = targets is None
    if own_targets:
        if not hasattr(dataset, "targets"):
            raise ConfigError("targets", None, "class labels: pass targets= for a dataset without .targets")
        targets = dataset.targets  # type: ignore[attr-defined]
    result = CVResult()
    for fold, (train_idx, val_idx) in enumerate(kfold_indices(targets, k, seed, stratified=stratified,
                                                                       contiguous=contiguous)):
        if own_targets or hasattr(dataset, "subset"):
            train_part = take(dataset, train_idx, note=f"fold {fold + 1}/{k} train")
            val_part = take(dataset, val_idx, note=f"fold {fold + 1}/{k} val")
        else:
            train_part, val_part = Subset(dataset, train_idx.tolist()), Subset(dataset, val_idx.tolist())
        log.info("fold %d/%d: %d train, %d val", fold + 1, k, len(train_idx), len(val_idx))
        metrics = dict(fit_fold(fold, train_part, val_part))
        metrics.setdefault("fold", fold)
        result.folds.append(metrics)
    return result
