"""The one stratified sampler (stratified_partition) and its callers' shared pieces (labels_of, take)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from snnkit.data import TargetSubset, labels_of, split_train_val, stratified_partition, stratified_subset
from snnkit.errors import ConfigError
from snnkit.train import kfold_indices

labels_st = st.lists(st.integers(0, 5), min_size=1, max_size=120)


@given(labels_st, st.integers(0, 120), st.integers(0, 3))
def test_two_parts_exact_size_and_every_class_within_one(labels, m, seed):
    n = len(labels)
    m = min(m, n)
    part = stratified_partition(labels, (n - m, m), seed)
    assert part.shape == (n,) and int((part == 1).sum()) == m
    lab = np.asarray(labels)
    for c in np.unique(lab):
        n_c = int((lab == c).sum())
        assert abs(int((part[lab == c] == 1).sum()) - n_c * m / n) < 1


@given(labels_st, st.integers(1, 7), st.integers(0, 3))
def test_equal_parts_are_round_robin_balanced(labels, k, seed):
    part = stratified_partition(labels, (1,) * k, seed)
    sizes = np.bincount(part, minlength=k)
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == len(labels)
    lab = np.asarray(labels)
    for c in np.unique(lab):
        counts = np.bincount(part[lab == c], minlength=k)
        assert np.all(np.abs(counts - (lab == c).sum() / k) < 1)


@given(labels_st, st.lists(st.integers(0, 5), min_size=1, max_size=5).filter(any), st.integers(0, 3))
def test_any_weights_give_part_sizes_within_one_of_their_share(labels, weights, seed):
    part = stratified_partition(labels, weights, seed)
    n, total = len(labels), sum(weights)
    sizes = np.bincount(part, minlength=len(weights))
    assert np.all(np.abs(sizes - n * np.asarray(weights) / total) < 1)
    assert np.all(sizes[np.asarray(weights) == 0] == 0)


def test_seeded_and_shuffled_within_classes():
    labels = [0] * 40 + [1] * 40
    a = stratified_partition(labels, (60, 20), seed=0)
    assert np.array_equal(a, stratified_partition(labels, (60, 20), seed=0))
    assert not np.array_equal(a, stratified_partition(labels, (60, 20), seed=1))
    assert not np.array_equal(np.flatnonzero(a == 1), np.r_[0:10, 40:50])  # not the first of each class
    assert (a[:40] == 1).sum() == 10 and (a[40:] == 1).sum() == 10


def test_kfold_is_unchanged_from_the_per_class_dealing_it_replaces():
    """kfold_indices gives the same folds as its former own per-class round-robin code."""
    rng_labels = np.random.default_rng(5).integers(0, 4, 97)
    k, seed = 5, 11
    rng = np.random.default_rng(seed)
    old = np.empty(len(rng_labels), dtype=np.int64)
    start = 0
    for c in np.unique(rng_labels):
        idx = np.flatnonzero(rng_labels == c)
        idx = idx[rng.permutation(len(idx))]
        old[idx] = (start + np.arange(len(idx))) % k
        start = (start + len(idx)) % k
    folds = kfold_indices(rng_labels, k, seed)
    for f, (_, val) in enumerate(folds):
        assert np.array_equal(val, np.flatnonzero(old == f))


@pytest.mark.parametrize("bad", [(), (0, 0), (1, -1)])
def test_bad_weights(bad):
    with pytest.raises(ConfigError, match="weights"):
        stratified_partition([0, 1], bad, seed=0)


def test_labels_of_and_target_subset_for_plain_datasets():
    class Plain(torch.utils.data.Dataset):  # torchvision-like: targets is a list, no subset()
        def __init__(self):
            self.targets = [0, 1, 2] * 4
            self.name, self.source = "plain", "made here"

        def __len__(self):
            return 12

        def __getitem__(self, i):
            return torch.tensor([float(i)]), self.targets[i]

    ds = Plain()
    assert labels_of(ds).tolist() == ds.targets and labels_of(torch.tensor([2, 1])).tolist() == [2, 1]
    with pytest.raises(ConfigError, match="1-D"):
        labels_of(np.zeros((2, 2)))
    tr, va = split_train_val(ds, 0.25, seed=0)
    assert isinstance(va, TargetSubset) and len(va) == 3 and sorted(va.targets.tolist()) == [0, 1, 2]
    assert va.name == "plain" and "val part" in va.source
    for j in range(len(va)):  # rows and their targets stay together
        x, y = va[j]
        assert ds.targets[int(x)] == y == int(va.targets[j])
    sub = stratified_subset(tr, 3, seed=0)  # a TargetSubset can be sampled again
    assert sorted(sub.targets.tolist()) == [0, 1, 2]
