"""MaskedLinear: the fan-in-rescaled init, equality with nn.Linear under an all-ones mask, masked-out
weights exactly zero through Adam / SGD with weight decay and after a mask change, and a G2GNet built
with mixer masks through its layer_factory."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from snnkit.errors import ConfigError
from snnkit.models import G2GNet, spike_count_loss
from snnkit.sparse import (
    MaskedLinear,
    active_parameter_count,
    build_masks,
    clear_masked_state,
    mask_parameter_count,
    masked_layer_factory,
)


def _layer(in_features=40, out_features=12, p_inter=0.25, seed=0) -> MaskedLinear:
    (mask,) = build_masks("random", [in_features, out_features], groups=4, p_inter=p_inter, seed=seed)
    torch.manual_seed(seed)
    return MaskedLinear(in_features, out_features, mask)


def _train(layer: nn.Module, optimizer: torch.optim.Optimizer, steps: int, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(8, layer.in_features, generator=gen)
        loss = (layer(x) - 1.0).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_mask_is_a_bool_buffer_and_masked_weights_are_exact_zeros():
    layer = _layer()
    assert "mask" in dict(layer.named_buffers()) and "mask" in layer.state_dict()
    assert layer.mask.dtype == torch.bool
    assert bool((layer.weight[~layer.mask] == 0).all())
    assert bool((layer.weight[layer.mask] != 0).all())
    assert "mask" not in dict(layer.named_parameters())


def test_init_rescales_each_row_by_its_active_fan_in():
    # Rows with 50..400 active inputs out of 400: nn.Linear's bound 1/sqrt(400) scaled by
    # sqrt(400 / active) is 1/sqrt(active) per row; the bias bound is 1/sqrt(mean active fan-in).
    in_features, out_features = 400, 64
    active = torch.linspace(50, 400, out_features).round().long()
    mask = torch.arange(in_features)[None, :] < active[:, None]
    torch.manual_seed(0)
    layer = MaskedLinear(in_features, out_features, mask)
    bound = 1.0 / active.double().sqrt()
    row_max = layer.weight.detach().abs().max(1).values.double()
    assert bool((row_max <= bound + 1e-7).all())
    assert bool((row_max > 0.8 * bound).all())
    bias_bound = 1.0 / math.sqrt(active.double().mean().item())
    assert float(layer.bias.detach().abs().max()) <= bias_bound + 1e-7
    assert float(layer.bias.detach().abs().max()) > 0.8 * bias_bound
    # Not the dense init: that bound (0.05) is below most rows' observed maxima.
    assert float(row_max[0]) > 1.0 / math.sqrt(in_features)


def test_all_ones_mask_equals_nn_linear_forward_and_backward():
    torch.manual_seed(1)
    dense = nn.Linear(10, 6)
    masked = MaskedLinear(10, 6, torch.ones(6, 10, dtype=torch.bool))
    masked.load_state_dict({**dense.state_dict(), "mask": masked.mask})
    x = torch.randn(4, 3, 10)
    x_dense, x_masked = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_dense, out_masked = dense(x_dense), masked(x_masked)
    assert torch.equal(out_dense, out_masked)
    grad = torch.randn_like(out_dense)
    out_dense.backward(grad)
    out_masked.backward(grad)
    assert torch.allclose(dense.weight.grad, masked.weight.grad, rtol=0, atol=1e-6)
    assert torch.allclose(dense.bias.grad, masked.bias.grad, rtol=0, atol=1e-6)
    assert torch.allclose(x_dense.grad, x_masked.grad, rtol=0, atol=1e-6)


def test_forward_applies_the_mask_even_to_a_tampered_weight():
    layer = _layer()
    x = torch.randn(5, 40)
    expected = layer(x)
    with torch.no_grad():
        layer.weight[~layer.mask] = 3.0
    assert torch.allclose(layer(x), expected)
    assert torch.allclose(layer(x), x @ (layer.weight * layer.mask).T + layer.bias)


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-4),
        lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-4, amsgrad=True),
        lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=1e-2),
        lambda p: torch.optim.SGD(p, lr=1e-2, momentum=0.9, weight_decay=1e-3),
        lambda p: torch.optim.SGD(p, lr=1e-2, momentum=0.9, nesterov=True, weight_decay=1e-3),
    ],
    ids=["adam", "adam-amsgrad", "adamw", "sgd-momentum", "sgd-nesterov"],
)
def test_masked_weights_stay_exactly_zero_through_optimiser_steps(make_optimizer):
    layer = _layer()
    before = layer.weight.detach().clone()
    _train(layer, make_optimizer(layer.parameters()), steps=20)
    assert bool((layer.weight[~layer.mask] == 0).all())
    assert bool((layer.weight[layer.mask] != before[layer.mask]).all())  # the active ones did learn


def test_set_mask_zeros_pruned_weights_and_clear_masked_state_keeps_them_zero():
    def pruned_after_more_steps(clear: bool) -> torch.Tensor:
        layer = _layer()
        optimizer = torch.optim.Adam(layer.parameters(), lr=1e-2, weight_decay=1e-4)
        _train(layer, optimizer, steps=10)
        new_mask = layer.mask.clone()
        pruned = new_mask.nonzero()[::3]  # prune every third active connection
        new_mask[pruned[:, 0], pruned[:, 1]] = False
        layer.set_mask(new_mask)
        assert torch.equal(layer.mask, new_mask)
        assert bool((layer.weight[~new_mask] == 0).all())
        if clear:
            clear_masked_state(optimizer, [layer])
        _train(layer, optimizer, steps=5, seed=1)
        return layer.weight.detach()[pruned[:, 0], pruned[:, 1]]

    assert bool((pruned_after_more_steps(clear=True) == 0).all())
    # Without clearing, Adam's stale moments move the pruned weights again (what the helper is for).
    assert bool((pruned_after_more_steps(clear=False) != 0).any())


def test_load_state_dict_zeros_masked_weights():
    layer = _layer()
    state = layer.state_dict()
    state["weight"] = torch.ones_like(state["weight"])
    layer.load_state_dict(state)
    assert torch.equal(layer.weight.detach(), layer.mask.float())


def test_mask_follows_the_module_and_survives_a_state_dict_round_trip():
    layer = _layer().double()
    assert layer.mask.dtype == torch.bool and layer.weight.dtype == torch.float64
    other = _layer(seed=1)
    other.load_state_dict(_layer().state_dict())
    assert torch.equal(other.mask, _layer().mask)
    assert not torch.equal(_layer(seed=1).mask, _layer().mask)


@pytest.mark.parametrize(
    ("mask", "match"),
    [(torch.ones(12, 41, dtype=torch.bool), r"\(12, 40\)"), (torch.full((12, 40), 0.5), "0 and 1")],
)
def test_bad_mask_raises_config_error(mask, match):
    with pytest.raises(ConfigError, match=match):
        MaskedLinear(40, 12, mask)
    layer = _layer()
    with pytest.raises(ConfigError, match=match):
        layer.set_mask(mask)


def test_float_zero_one_mask_is_accepted_as_bool():
    mask = torch.zeros(3, 4)
    mask[0, 1] = 1.0
    layer = MaskedLinear(4, 3, mask)
    assert layer.mask.dtype == torch.bool and int(layer.mask.sum()) == 1


def _mixer_net(seed: int = 0) -> tuple[G2GNet, list[torch.Tensor]]:
    masks = build_masks("mixer", [64, 32, 32, 32], groups=4, p_inter=0.15, seed=seed)
    torch.manual_seed(seed)
    net = G2GNet(64, 5, hidden_dim=32, n_hidden=3, T=4, enc_scale=3.0, layer_factory=masked_layer_factory(masks))
    return net, masks


def test_g2gnet_with_mixer_masks_trains_and_keeps_masked_weights_zero():
    net, masks = _mixer_net()
    assert [type(layer) for layer in net.layers] == [MaskedLinear] * 3
    assert all(torch.equal(layer.mask, m) for layer, m in zip(net.layers, masks))
    assert type(net.fc_out) is nn.Linear
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=1e-4)
    before = [layer.weight.detach().clone() for layer in net.layers]
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        x, y = torch.rand(16, 64, generator=gen), torch.randint(0, 5, (16,), generator=gen)
        loss = spike_count_loss(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    for layer, old in zip(net.layers, before):
        assert bool((layer.weight[~layer.mask] == 0).all())
        assert not torch.equal(layer.weight.detach(), old)


def test_active_parameter_count_counts_only_unmasked_weights():
    net, masks = _mixer_net()
    dense_params = sum(p.numel() for p in net.parameters())
    masked_out = sum(m.numel() - int(m.sum()) for m in masks)
    assert active_parameter_count(net) == dense_params - masked_out
    others = sum(p.numel() for name, p in net.named_parameters() if not name.startswith("layers."))
    assert active_parameter_count(net) == mask_parameter_count(masks) + others


def test_layer_factory_rejects_a_layer_without_a_mask():
    masks = build_masks("index", [64, 32, 32], groups=4, p_inter=0.1, seed=0)
    with pytest.raises(ConfigError, match="layer_index"):
        G2GNet(64, 5, hidden_dim=32, n_hidden=3, T=2, layer_factory=masked_layer_factory(masks))
    with pytest.raises(ConfigError, match=r"\(32, 64\)"):
        G2GNet(64, 5, hidden_dim=32, n_hidden=2, T=2, layer_factory=masked_layer_factory(masks[::-1]))


def test_layer_owns_its_mask_so_set_mask_leaves_the_callers_tensor_alone():
    given = torch.ones(3, 4, dtype=torch.bool)
    layer = MaskedLinear(4, 3, given)
    layer.set_mask(torch.zeros(3, 4, dtype=torch.bool))
    assert bool(given.all()), "set_mask changed the mask tensor the caller passed in"
    assert not bool(layer.mask.any())


def test_layers_built_from_group_masks_keep_their_group_labels():
    from snnkit.sparse import build_group_masks, build_masks, masked_layer_factory

    triples = build_group_masks("random", [16, 8, 8], groups=4, p_inter=0.3, seed=3)
    plain = build_masks("random", [16, 8, 8], groups=4, p_inter=0.3, seed=3)
    assert all(torch.equal(t.mask, m) for t, m in zip(triples, plain))
    layer = masked_layer_factory(triples)(0, 16, 8)
    assert torch.equal(layer.out_groups, triples[0].out_groups)
    assert torch.equal(layer.in_groups, triples[0].in_groups)
    # the labels explain the mask: every same-group pair is connected (p_intra = 1)
    same = layer.out_groups[:, None] == layer.in_groups[None, :]
    assert bool(layer.mask[same].all())
    assert "out_groups" not in layer.state_dict()
    with pytest.raises(ConfigError, match="groups"):
        MaskedLinear(16, 8, triples[0].mask, groups=(triples[0].in_groups, triples[0].out_groups))
