"""MultiStep (stateless layers over [T·B, ...]) and TimeSharedDropout (one mask for all time steps)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from snnkit.errors import ConfigError
from snnkit.models.multistep import MultiStep, TimeSharedDropout
from snnkit.neurons import LIF
from snnkit.neurons.hard_reset import IFNode, LIFNode

torch.set_num_threads(1)


def _net():
    torch.manual_seed(0)
    return MultiStep(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.MaxPool2d(2),
                     nn.Flatten(), nn.Linear(4 * 4 * 4, 5))


def test_shape_round_trip_and_per_step_equality_in_eval():
    net = _net()
    with torch.no_grad():  # give batch norm non-trivial running statistics
        net(torch.randn(3, 8, 3, 8, 8) * 2 + 1)
    net.eval()
    x = torch.randn(4, 2, 3, 8, 8)
    y = net(x)
    assert y.shape == (4, 2, 5)
    per_step = torch.stack([nn.Sequential(*net)(x[t]) for t in range(4)])
    torch.testing.assert_close(y, per_step, rtol=1e-5, atol=1e-6)


def test_batch_norm_statistics_over_time_and_batch_in_training():
    torch.manual_seed(1)
    x = torch.randn(5, 3, 4, 6, 6) * 3 + 2
    wrapped, plain = MultiStep(nn.BatchNorm2d(4)), nn.BatchNorm2d(4)
    y = wrapped(x)
    y_ref = plain(x.flatten(0, 1)).unflatten(0, (5, 3))
    assert torch.equal(y, y_ref)
    assert torch.equal(wrapped[0].running_mean, plain.running_mean)
    assert torch.equal(wrapped[0].running_var, plain.running_var)
    assert wrapped[0].num_batches_tracked.item() == 1
    # normalised over T·B·H·W together, not per step
    assert y.mean(dim=(0, 1, 3, 4)).abs().max() < 1e-5
    assert y[0].mean(dim=(0, 2, 3)).abs().max() > 1e-3


def test_multistep_gradients_and_time_first_check():
    net = _net()
    x = torch.randn(2, 3, 3, 8, 8, requires_grad=True)
    net(x).sum().backward()
    assert x.grad.shape == x.shape and net[0].weight.grad is not None
    with pytest.raises(ConfigError, match="time-first"):
        net(torch.zeros(3))


@pytest.mark.parametrize("neuron", [IFNode(), LIFNode(), LIF()])
def test_multistep_refuses_neurons(neuron):
    with pytest.raises(ConfigError, match="stateless"):
        MultiStep(nn.Linear(3, 3), nn.Sequential(neuron))


@settings(max_examples=20, deadline=None)
@given(p=st.floats(0.05, 0.9), steps=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_dropout_mask_shared_over_time_and_scaled(p, steps, seed):
    drop = TimeSharedDropout(p).train()
    x = torch.rand(steps, 3, 40) + 0.5  # no zeros, so out / x is the mask
    torch.manual_seed(seed)
    out = drop(x)
    mask = out / x
    assert torch.allclose(mask, mask[:1].expand_as(mask))  # one mask for every t
    values = mask.unique()
    assert all(torch.isclose(v, torch.tensor(0.0)) or torch.isclose(v, torch.tensor(1 / (1 - p)))
               for v in values)
    torch.manual_seed(seed)
    assert torch.equal(drop(x), out)  # the same seed draws the same mask


def test_dropout_rate_gradient_identity_and_dtype():
    torch.manual_seed(0)
    drop = TimeSharedDropout(0.5)
    x = torch.ones(3, 100, 100, requires_grad=True)
    out = drop(x)
    kept = (out[0] != 0).float().mean().item()
    assert 0.47 < kept < 0.53
    assert set(out.unique().tolist()) == {0.0, 2.0}
    out.sum().backward()
    assert torch.equal(x.grad, out.detach())  # gradient is the scaled mask
    assert drop(torch.ones(2, 4, dtype=torch.bfloat16)).dtype == torch.bfloat16
    drop.eval()
    assert drop(x) is x
    assert TimeSharedDropout(0.0).train()(x) is x
    assert "p=0.5" in repr(drop)


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, True, "0.5", None])
def test_dropout_bad_p_is_config_error(p):
    with pytest.raises(ConfigError, match="TimeSharedDropout"):
        TimeSharedDropout(p)


def test_dropout_time_first_check():
    with pytest.raises(ConfigError, match="time-first"):
        TimeSharedDropout()(torch.ones(4))
