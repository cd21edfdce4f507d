"""k-fold cross-validation: partitions, stratification, shuffling, determinism, the driver."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from snnkit.data import ImageDataset
from snnkit.errors import ConfigError
from snnkit.train import CVResult, cross_validate, kfold_indices


@given(st.lists(st.integers(0, 4), min_size=6, max_size=80), st.integers(2, 6), st.integers(0, 3), st.booleans())
def test_folds_partition_and_balance(labels, k, seed, stratified):
    if len(labels) < k:
        return
    folds = kfold_indices(labels, k, seed, stratified=stratified)
    assert len(folds) == k
    vals = np.concatenate([v for _, v in folds])
    assert sorted(vals.tolist()) == list(range(len(labels)))  # the validation parts partition the set
    sizes = [len(v) for _, v in folds]
    assert max(sizes) - min(sizes) <= 1
    lab = np.asarray(labels)
    for train, val in folds:
        assert not set(train) & set(val) and len(train) + len(val) == len(labels)
        if stratified:
            for c in np.unique(lab):
                share = (lab == c).sum() / k
                assert abs((lab[val] == c).sum() - share) < 1 + 1e-9


def test_folds_are_shuffled_and_seeded():
    labels = [0] * 50 + [1] * 50  # sorted, as a file on disk may be
    a = kfold_indices(labels, 5, seed=0)
    assert not np.array_equal(a[0][1], np.arange(20)), "folds must not be contiguous blocks"
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, kfold_indices(labels, 5, seed=0)))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, kfold_indices(labels, 5, seed=1)))
    assert all((np.asarray(labels)[v] == 0).sum() == 10 for _, v in a)


@pytest.mark.parametrize("k", [1, 0, 11, 2.0, True])
def test_bad_k(k):
    with pytest.raises(ConfigError, match="'k'"):
        kfold_indices(list(range(10)), k, seed=0)


def test_cross_validate_fresh_parts_and_summary():
    targets = torch.arange(30) % 3
    ds = ImageDataset(torch.rand(30, 1, 2, 2), targets, ["a", "b", "c"], "toy")
    seen = []

    def fit_fold(fold, train, val):
        seen.append((fold, len(train), len(val)))
        assert isinstance(train, ImageDataset) and "fold" in train.source
        return {"val_accuracy": 0.5 + 0.1 * fold, "note": "text is ignored by the summary"}

    result = cross_validate(ds, 3, 0, fit_fold)
    assert seen == [(0, 20, 10), (1, 20, 10), (2, 20, 10)]
    summary = result.summary()
    assert set(summary) == {"val_accuracy_mean", "val_accuracy_std"}
    assert summary["val_accuracy_mean"] == pytest.approx(0.6)
    assert summary["val_accuracy_std"] == pytest.approx(0.1)
    assert [f["fold"] for f in result.folds] == [0, 1, 2]


def test_cross_validate_plain_dataset_needs_targets():
    ds = torch.utils.data.TensorDataset(torch.rand(8, 2), torch.arange(8) % 2)
    with pytest.raises(ConfigError, match="targets"):
        cross_validate(ds, 2, 0, lambda f, tr, va: {})
    res = cross_validate(ds, 2, 0, lambda f, tr, va: {"n": len(va)}, targets=torch.arange(8) % 2)
    assert isinstance(res, CVResult) and res.mean("n") == 4 and np.isnan(CVResult([{"n": 1}]).std("n"))


def test_contiguous_folds_are_consecutive_blocks_of_the_stored_order():
    """The authors' protocol: fold f is the f-th block of the unshuffled set (so on a file sorted by class
    a fold misses classes: that is why it is not the default)."""
    labels = [0] * 6 + [1] * 5
    folds = kfold_indices(labels, 3, seed=7, contiguous=True)
    assert [v.tolist() for _, v in folds] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]
    assert folds[0][0].tolist() == list(range(4, 11))
    assert [v.tolist() for _, v in kfold_indices(labels, 3, seed=0, contiguous=True)] == \
        [v.tolist() for _, v in folds], "contiguous folds do not depend on the seed"
