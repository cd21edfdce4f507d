"""stratified_subset: exact size, class proportions, determinism."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from snnkit.data import ImageDataset, stratified_subset
from snnkit.errors import ConfigError


def _ds(counts: list[int]) -> ImageDataset:
    targets = torch.cat([torch.full((c,), i, dtype=torch.int64) for i, c in enumerate(counts)])
    images = torch.rand(len(targets), 1, 2, 2)
    return ImageDataset(images, targets, [str(i) for i in range(len(counts))], "toy")


@given(st.lists(st.integers(1, 30), min_size=1, max_size=6), st.integers(1, 200), st.integers(0, 5))
def test_size_and_proportions(counts, n, seed):
    ds = _ds(counts)
    sub = stratified_subset(ds, n, seed=seed)
    assert len(sub) == min(n, len(ds))
    if n < len(ds):
        for c, total in enumerate(counts):
            got = int((sub.targets == c).sum())
            assert abs(got - total * n / len(ds)) < 1.0 + 1e-9


def test_deterministic_and_seed_dependent():
    ds = _ds([50, 50])
    a = stratified_subset(ds, 10, seed=1)
    b = stratified_subset(ds, 10, seed=1)
    c = stratified_subset(ds, 10, seed=2)
    assert torch.equal(a.images, b.images)
    assert not torch.equal(a.images, c.images)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_size(bad):
    with pytest.raises(ConfigError):
        stratified_subset(_ds([3, 3]), bad, seed=0)
