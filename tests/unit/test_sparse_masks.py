"""G2GNet group masks: densities against the binomial expectation, the exact block structure at
p_inter=0, the mixer's channel shuffle, seeding, counts and bad arguments."""

from __future__ import annotations

import math

import pytest
import torch

from snnkit.errors import ConfigError
from snnkit.sparse.masks import (
    MASK_KINDS,
    build_masks,
    density,
    expected_density,
    group_labels,
    mask_parameter_count,
)

PAPER_SIZES = [784, 2048, 2048, 2048]
G = 8


@pytest.fixture(scope="module")
def paper_masks():
    return {kind: build_masks(kind, PAPER_SIZES, groups=G, p_inter=0.15, seed=3) for kind in MASK_KINDS}


def test_expected_density_formula():
    assert expected_density(8, 1.0, 0.15) == pytest.approx(0.25625)
    assert expected_density(4, 0.5, 0.0) == pytest.approx(0.125)
    assert expected_density(8, 1.0, 1.0) == pytest.approx(1.0)


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_density_within_binomial_tolerance(paper_masks, kind):
    p = expected_density(G, 1.0, 0.15)
    for mask in paper_masks[kind]:
        n = mask.numel()
        sigma = math.sqrt(p * (1 - p) / n)
        assert abs(density(mask) - p) < 5 * sigma, (kind, mask.shape, density(mask))


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_masks_have_linear_shapes_and_bool_dtype(paper_masks, kind):
    shapes = [tuple(m.shape) for m in paper_masks[kind]]
    assert shapes == [(2048, 784), (2048, 2048), (2048, 2048)]
    assert all(m.dtype == torch.bool for m in paper_masks[kind])


def test_intra_and_inter_probabilities_separately():
    # p_intra < 1: within-group pairs kept at p_intra, between-group pairs at p_inter.
    (mask,) = build_masks("index", [1024, 1024], groups=4, p_intra=0.6, p_inter=0.1, seed=0)
    labels = group_labels(1024, 4, "contiguous")
    same = labels[:, None] == labels[None, :]
    intra = mask[same].float().mean().item()
    inter = mask[~same].float().mean().item()
    assert abs(intra - 0.6) < 5 * math.sqrt(0.6 * 0.4 / int(same.sum()))
    assert abs(inter - 0.1) < 5 * math.sqrt(0.1 * 0.9 / int((~same).sum()))


def test_index_p_inter_zero_is_exact_block_diagonal():
    masks = build_masks("index", [32, 16, 16], groups=8, p_inter=0.0, seed=0)
    assert torch.equal(masks[0], torch.kron(torch.eye(8), torch.ones(2, 4)).bool())
    assert torch.equal(masks[1], torch.kron(torch.eye(8), torch.ones(2, 2)).bool())


def test_mixer_p_inter_zero_interleaves_the_middle_layer_only():
    m1, m2, m3 = build_masks("mixer", [32, 16, 16, 16], groups=4, p_inter=0.0, seed=0)
    idx = torch.arange(16)
    assert torch.equal(m1, torch.kron(torch.eye(4), torch.ones(4, 8)).bool())
    assert torch.equal(m2, (idx[:, None] % 4) == (idx[None, :] % 4))
    assert torch.equal(m3, torch.kron(torch.eye(4), torch.ones(4, 4)).bool())


def test_random_p_inter_zero_is_a_permuted_block_structure():
    for mask in build_masks("random", [64, 32, 32], groups=8, p_inter=0.0, seed=5):
        n_out, n_in = mask.shape
        rows = torch.unique(mask, dim=0)
        assert rows.shape[0] == 8  # one input pattern per output group
        assert torch.equal(rows.sum(1), torch.full((8,), n_in // 8))  # each an input group of n_in/G
        assert torch.equal(rows.sum(0), torch.ones(n_in, dtype=torch.long))  # disjoint, covering
        counts = torch.stack([(mask == r).all(1).sum() for r in rows])
        assert torch.equal(counts, torch.full((8,), n_out // 8))
        blocks = torch.kron(torch.eye(8), torch.ones(n_out // 8, n_in // 8)).bool()
        assert not torch.equal(mask, blocks)  # the labels were shuffled


def _group_connectivity(mask, out_labels, in_labels, groups):
    """[G_out, G_in]: does any output of group a receive from any input of group b?"""
    onehot_out = torch.nn.functional.one_hot(out_labels, groups).float()
    onehot_in = torch.nn.functional.one_hot(in_labels, groups).float()
    return (onehot_out.T @ mask.float() @ onehot_in) > 0


@pytest.mark.parametrize("p_inter", [0.0, 0.15])
def test_every_mixer_fc2_group_receives_from_every_fc1_group(p_inter):
    masks = build_masks("mixer", PAPER_SIZES, groups=G, p_inter=p_inter, seed=1)
    fc1_groups = group_labels(2048, G, "contiguous")  # fc1's output ensembles
    fc2_groups = group_labels(2048, G, "interleaved")  # fc2's output ensembles
    assert _group_connectivity(masks[1], fc2_groups, fc1_groups, G).all()
    # ... which is what the shuffle buys: index's fc2 groups see only their own fc1 group at p_inter=0.
    index_fc2 = build_masks("index", PAPER_SIZES, groups=G, p_inter=0.0, seed=1)[1]
    assert torch.equal(_group_connectivity(index_fc2, fc1_groups, fc1_groups, G), torch.eye(G, dtype=torch.bool))


def test_group_labels_schemes():
    gen = torch.Generator().manual_seed(0)
    assert group_labels(6, 3, "contiguous").tolist() == [0, 0, 1, 1, 2, 2]
    assert group_labels(6, 3, "interleaved").tolist() == [0, 1, 2, 0, 1, 2]
    permuted = group_labels(40, 4, "permuted", gen)
    assert torch.equal(torch.bincount(permuted), torch.full((4,), 10))
    assert not torch.equal(permuted, group_labels(40, 4, "contiguous"))


def test_same_seed_same_masks_other_seed_different_global_rng_untouched():
    state = torch.random.get_rng_state()
    for kind in MASK_KINDS:
        a = build_masks(kind, [64, 32, 32, 32], groups=4, p_inter=0.2, seed=7)
        b = build_masks(kind, [64, 32, 32, 32], groups=4, p_inter=0.2, seed=7)
        c = build_masks(kind, [64, 32, 32, 32], groups=4, p_inter=0.2, seed=8)
        assert all(torch.equal(x, y) for x, y in zip(a, b))
        assert not all(torch.equal(x, y) for x, y in zip(a, c))
    assert torch.equal(torch.random.get_rng_state(), state)


def test_probability_one_keeps_everything():
    for mask in build_masks("random", [16, 8], groups=4, p_inter=1.0, seed=0):
        assert bool(mask.all())


def test_density_and_parameter_count():
    masks = build_masks("index", [32, 16, 16], groups=8, p_inter=0.0, seed=0)
    assert density(masks[0]) == pytest.approx(1 / 8)
    assert density(masks) == pytest.approx((64 + 32) / (512 + 256))
    assert mask_parameter_count(masks) == 64 + 16 + 32 + 16
    assert mask_parameter_count(masks, bias=False) == 96
    assert mask_parameter_count(masks[1]) == 48


@pytest.mark.parametrize(
    ("kwargs", "key", "value"),
    [
        (dict(groups=8, sizes=[100, 64]), "groups", 8),
        (dict(groups=8, sizes=[64, 60]), "groups", 8),
        (dict(groups=0), "groups", 0),
        (dict(p_inter=1.5), "p_inter", 1.5),
        (dict(p_inter=-0.1), "p_inter", -0.1),
        (dict(p_intra=True), "p_intra", True),
        (dict(kind="dense"), "kind", "dense"),
        (dict(kind="Mixer"), "kind", "Mixer"),
        (dict(sizes=[64]), "sizes", [64]),
        (dict(sizes=[64, 0]), "sizes", 0),
        (dict(seed=1.5), "seed", 1.5),
    ],
)
def test_bad_arguments_raise_config_error_naming_them(kwargs, key, value):
    args = dict(kind="mixer", sizes=[64, 32, 32], groups=4, p_intra=1.0, p_inter=0.1, seed=0)
    args.update(kwargs)
    kind, sizes = args.pop("kind"), args.pop("sizes")
    with pytest.raises(ConfigError) as info:
        build_masks(kind, sizes, **args)
    assert info.value.key == key
    assert info.value.value == value


def test_nan_probability_and_bad_scheme():
    with pytest.raises(ConfigError, match="p_inter"):
        expected_density(8, 1.0, float("nan"))
    with pytest.raises(ConfigError, match="scheme"):
        group_labels(8, 2, "blocky")
    with pytest.raises(ConfigError, match="generator"):
        group_labels(8, 2, "permuted")
    with pytest.raises(ConfigError, match="divisor"):
        group_labels(10, 4, "contiguous")


def test_mixer_refuses_groups_wider_than_the_square_root_of_the_width():
    with pytest.raises(ConfigError, match="'groups'.*every fc1 group"):
        build_masks("mixer", [64, 32, 32, 32], groups=8)  # 32 / 8 = 4 < 8
    assert len(build_masks("index", [64, 32, 32, 32], groups=8)) == 3  # only the mixer interleaves
