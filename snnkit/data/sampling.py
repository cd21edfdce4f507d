"""One stratified sampler for every job: train/val splits, class-balanced subsets, k-fold folds.

:func:`stratified_partition` deals the samples into parts of given (integer) weights:

1. the samples are grouped by class (classes in sorted order) and each class is put in a random order
   drawn from ``numpy.random.default_rng(seed)`` (one generator, classes in turn);
2. along this sequence, position ``i`` goes to the part ``p`` furthest behind its share, i.e. with the
   largest ``(i + 1)·w_p / W − a_p`` (``a_p``: positions already dealt to ``p``; ties → lowest ``p``).

With equal weights this is plain round-robin dealing (the k-fold case: fold sizes differ by at most
one); with two parts it is Bresenham's line, so part sizes are ``round(n·w_p / W)``. In both cases
each class, being a contiguous run of the sequence, lands in every part in proportion to within one
sample (strictly less than one off its exact share). scikit-learn's ``StratifiedShuffleSplit`` was not
used because it refuses classes of one sample and parts smaller than the number of classes, which a
subset of a few samples needs.

:func:`split_train_val`, :func:`stratified_subset` (here) and
:func:`snnkit.train.crossval.kfold_indices` are built on it; they work for any dataset with
``targets`` (those with a ``subset`` method keep their type, others become a :class:`TargetSubset`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from snnkit.errors import ConfigError, DataError, check_positive_int

__all__ = [
    "TargetSubset", "fraction_partition", "labels_of", "split_train_val", "stratified_partition",
    "stratified_subset", "take",
]


def labels_of(data: Any) -> np.ndarray:
    """Class labels as a 1-D array: of a dataset's ``targets``, or of a sequence/tensor/array itself."""
    targets = data.targets if hasattr(data, "targets") else data
    if isinstance(targets, torch.Tensor):
        targets = targets.detach().cpu().numpy()
    if isinstance(targets, Dataset):
        raise ConfigError("targets", type(targets).__name__, "a dataset with .targets (class labels)")
    labels = np.asarray(targets)
    if labels.ndim != 1:
        raise ConfigError("targets", f"an array of shape {labels.shape}", "a 1-D sequence of class labels")
    return labels


def stratified_partition(labels: Any, weights: Sequence[int], seed: int) -> np.ndarray:
    """The part (0 .. len(weights)-1) of every sample: class-stratified, seeded (see the module docstring).

    ``weights``: non-negative integers, not all zero, e.g. ``(n - m, m)`` for a part of exactly ``m`` of
    ``n`` samples, or ``(1,) * k`` for ``k`` folds.
    """
    labels = labels_of(labels)
    w = [int(v) for v in weights]
    if not w or any(v < 0 for v in w) or sum(w) == 0:
        raise ConfigError("weights", tuple(weights), "non-negative integers, not all zero")
    rng = np.random.default_rng(seed)
    order = np.concatenate(
        [idx[rng.permutation(len(idx))] for idx in (np.flatnonzero(labels == c) for c in np.unique(labels))]
        or [np.empty(0, np.int64)]
    )
    total, dealt = sum(w), [0] * len(w)
    parts = np.empty(len(order), dtype=np.int64)
    for i in range(len(order)):
        # largest deficit (i+1)·w_p/W − a_p, scaled by W to stay in integers; max() keeps the lowest p on ties
        p = max(range(len(w)), key=lambda q: (i + 1) * w[q] - dealt[q] * total)
        dealt[p] += 1
        parts[i] = p
    part_of = np.empty(len(order), dtype=np.int64)
    part_of[order] = parts
    return part_of


class TargetSubset(Subset):
    """A :class:`torch.utils.data.Subset` that keeps ``targets`` (so it can be split again) and the data
    contract attributes of its parent (``name``, ``stand_in``, ``classes``, ``origin``; ``source`` + note)."""

    def __init__(self, dataset: Dataset, indices: Sequence[int], *, note: str = ""):
        super().__init__(dataset, list(indices))
        self.targets = torch.as_tensor(labels_of(dataset)[np.asarray(self.indices, dtype=np.int64)])
        for attr in ("name", "stand_in", "classes", "origin"):
            if hasattr(dataset, attr):
                setattr(self, attr, getattr(dataset, attr))
        if hasattr(dataset, "source"):
            self.source = f"{dataset.source}; {note}" if note else dataset.source


def take(dataset: Dataset, indices: np.ndarray, note: str = "") -> Dataset:
    """Rows ``indices`` of ``dataset``: its own ``subset`` when it has one, else a :class:`TargetSubset`."""
    if hasattr(dataset, "subset"):
        return dataset.subset(torch.from_numpy(np.asarray(indices, dtype=np.int64)), note=note)
    return TargetSubset(dataset, np.asarray(indices).tolist(), note=note)


def fraction_partition(labels: Any, fraction: float, seed: int, *, key: str = "fraction", where: str | None = None
                       ) -> np.ndarray:
    """1 for the ``round(fraction·n)`` samples (at least 1, at most n - 1) of the held-out part, 0 for the
    rest: :func:`stratified_partition` with weights ``(n - m, m)``. ``fraction`` outside (0, 1) is a
    ConfigError naming ``key``; ``labels`` need at least 2 samples."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0.0 < fraction < 1.0:
        raise ConfigError(key, fraction, "a fraction in (0, 1)", where=where)
    n = len(labels_of(labels))
    m = min(max(round(fraction * n), 1), n - 1)
    return stratified_partition(labels, (n - m, m), seed)


def split_train_val(dataset: Dataset, val_fraction: float, seed: int, *, stratified: bool = True) -> tuple:
    """Split ``dataset`` (anything with ``targets``) into (train, val), deterministically from ``seed``.

    The validation part has ``round(val_fraction·n)`` samples (at least 1, at most n - 1); stratified
    (each class split in the same proportion, to within one sample) by default, else a seeded random
    split (the same dealing with every sample in one class).
    """
    labels = labels_of(dataset)
    n = len(labels)
    if n < 2:
        raise DataError(f"{getattr(dataset, 'name', 'dataset')}: cannot split {n} samples into train and validation")
    part = fraction_partition(labels if stratified else np.zeros(n, np.int64), val_fraction, seed, key="val_fraction")
    note = f"split_train_val(val_fraction={val_fraction}, seed={seed})"
    return (
        take(dataset, np.flatnonzero(part == 0), note=f"train part of {note}"),
        take(dataset, np.flatnonzero(part == 1), note=f"val part of {note}"),
    )


def stratified_subset(dataset: Dataset, n: int, seed: int) -> Dataset:
    """Exactly ``min(n, len)`` samples of ``dataset`` (anything with ``targets``), each class in
    proportion to its size to within one sample (seeded).

    ``n >= len(dataset)`` returns the dataset unchanged. Used by the ``train_subset`` / ``test_subset``
    parameters to make smaller, still class-balanced runs.
    """
    check_positive_int("subset size", n, where="stratified_subset")
    labels = labels_of(dataset)
    if n >= len(labels):
        return dataset
    part = stratified_partition(labels, (len(labels) - n, n), seed)
    return take(dataset, np.flatnonzero(part == 1), note=f"stratified_subset(n={n}, seed={seed})")
