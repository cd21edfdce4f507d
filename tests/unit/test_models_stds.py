"""StdsCifarNet: the STDS CIFAR-10 network (Chen et al., ICML 2022) — size at the paper's shape, the authors'
layer order against SpikingJelly's neurons, direct encoding, voting, gradients and argument checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from snnkit.errors import ConfigError
from snnkit.models.stds import StdsCifarNet, vote_mean
from snnkit.neurons.hard_reset import LIFNode

torch.set_num_threads(1)

SMALL = {"channels": 6, "hidden": 24, "T": 3, "image_size": 8}


def small_net(**kw) -> StdsCifarNet:
    torch.manual_seed(0)
    return StdsCifarNet(**{**SMALL, **kw})


def lively(net: StdsCifarNet) -> StdsCifarNet:
    """Larger FC weights, so the narrow network's FC layers fire (at the default initialisation they stay silent)."""
    with torch.no_grad():
        net.fc7.weight.mul_(16)
        net.fc8.weight.mul_(16)
    return net


def test_paper_size_weights():
    """36,715,264 prunable weights at the paper's shape, 91.4 % of them in the FC 16384 -> 2048; no biases."""
    with torch.device("meta"):
        net = StdsCifarNet()
    layers = dict(net.prunable_layers())
    assert list(layers) == ["conv1", "conv2.0", "conv3.0", "conv4.0", "conv5.0", "conv6.0", "fc7", "fc8"]
    assert all(m.bias is None for m in layers.values())
    total = sum(m.weight.numel() for m in layers.values())
    assert total == 3 * 256 * 9 + 5 * 256 * 256 * 9 + 16384 * 2048 + 2048 * 100 == 36_715_264
    assert tuple(net.fc7.weight.shape) == (2048, 16384)
    assert tuple(net.fc8.weight.shape) == (100, 2048)
    assert net.fc7.weight.numel() / total == pytest.approx(0.914, abs=1e-3)
    assert [w.shape for w in net.prunable_weights()] == [m.weight.shape for m in layers.values()]
    assert net.T == 8


def _sj_reference(net: StdsCifarNet, x: torch.Tensor) -> torch.Tensor:
    """The authors' MultiStepCIFAR10Net forward (eval), written out with SpikingJelly's multi-step LIFNode."""
    neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")
    functional = pytest.importorskip("spikingjelly.activation_based.functional")

    def sn(s):
        return neuron.LIFNode(tau=2.0, detach_reset=True, surrogate_function=surrogate.ATan(), step_mode="m")(s)

    def seq(s, *mods):
        return functional.seq_to_ann_forward(s, list(mods))

    s = net.bn1(net.conv1(x)).unsqueeze(0).repeat(net.T, 1, 1, 1, 1)
    s = sn(s)
    s = sn(seq(s, *net.conv2))
    s = sn(seq(s, *net.conv3))
    s = sn(seq(s, nn.MaxPool2d(2, 2), *net.conv4))
    s = sn(seq(s, *net.conv5))
    s = sn(seq(s, *net.conv6))
    s = seq(s, nn.MaxPool2d(2, 2)).flatten(2)
    s = sn(F.linear(s, net.fc7.weight))
    s = sn(F.linear(s, net.fc8.weight))
    voted = F.avg_pool1d(s.flatten(0, 1).unsqueeze(1), net.vote, net.vote).squeeze(1).unflatten(0, s.shape[:2])
    return voted.mean(0)


def test_matches_authors_layer_order_with_spikingjelly_neurons():
    """Forward = the authors' network built from the same modules with SpikingJelly's LIF (float64; BatchNorm
    on batch statistics, no dropout, so both passes see the same numbers)."""
    net = lively(small_net(dropout=0.0)).double().train()
    x = torch.randn(8, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = net(x)
        ref = _sj_reference(net, x)
    assert out.shape == (8, 10)
    assert out.abs().sum() > 0
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)


def test_output_is_voted_spike_rate():
    net = lively(small_net(T=4, n_classes=3, vote=5, dropout=0.0)).train()
    with torch.no_grad():
        x = torch.randn(5, 3, 8, 8, generator=torch.Generator().manual_seed(2))
        spikes = net.output_spikes(x)
        out = net(x)
    assert spikes.shape == (4, 5, 15)
    assert set(spikes.unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(out, spikes.unflatten(-1, (3, 5)).mean(-1).mean(0))
    assert ((out * 20).round() - out * 20).abs().max() < 1e-5  # multiples of 1/(T·vote)
    assert 0 <= out.min() and out.max() <= 1


def test_stem_runs_once_and_blocks_see_all_steps():
    net = small_net(T=3).eval()
    batches: dict[str, list[int]] = {"conv1": [], "conv2": []}
    net.conv1.register_forward_hook(lambda m, i, o: batches["conv1"].append(i[0].shape[0]))
    net.conv2[0].register_forward_hook(lambda m, i, o: batches["conv2"].append(i[0].shape[0]))
    with torch.no_grad():
        net(torch.randn(2, 3, 8, 8))
    assert batches == {"conv1": [2], "conv2": [6]}


def test_gradients_reach_every_prunable_weight():
    net = lively(small_net()).train()
    x = torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    target = F.one_hot(torch.arange(8) % 10, 10).float()
    F.mse_loss(net(x), target).backward()
    for name, m in net.prunable_layers():
        assert m.weight.grad is not None and torch.isfinite(m.weight.grad).all(), name
        assert m.weight.grad.abs().sum() > 0, name


def test_dropout_mask_shared_over_time_in_training_only():
    """In training each flattened feature is dropped at every step or at none (one mask per forward)."""
    net = lively(small_net(dropout=0.5, T=4))
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    net.dp7.register_forward_hook(lambda m, i, o: seen.append((i[0], o)))
    x = torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        net.train()(x)
        net.eval()
        a, b = net(x), net(x)
    torch.testing.assert_close(a, b)
    (x_in, x_out), (e_in, e_out) = seen[0], seen[1]
    assert x_in.shape == (4, 8, 24)
    dropped = (x_out == 0) & (x_in != 0)
    kept = (x_out != 0)
    assert dropped.any() and kept.any()
    assert not (dropped.any(0) & kept.any(0)).any()  # never dropped at one step and kept at another
    torch.testing.assert_close(x_out[kept], 2 * x_in[kept])
    torch.testing.assert_close(e_out, e_in)


def test_spiking_layers_name_hidden_lif_populations():
    net = small_net()
    modules = dict(net.named_modules())
    assert net.spiking_layers == [f"sn{i}" for i in range(1, 8)]
    assert all(isinstance(modules[name], LIFNode) for name in [*net.spiking_layers, "sn8"])
    lif = modules["sn1"]
    assert (lif.tau, lif.threshold, lif.v_reset, lif.detach_reset) == (2.0, 1.0, 0.0, True)


def test_other_shapes():
    net = StdsCifarNet(channels=4, hidden=8, T=2, image_size=12, in_channels=1, n_classes=4, vote=3, dropout=0.0)
    assert net.fc7.in_features == 4 * 3 * 3
    assert net(torch.randn(2, 1, 12, 12)).shape == (2, 4)


@pytest.mark.parametrize("kw", [
    {"image_size": 30}, {"image_size": 0}, {"channels": 0}, {"hidden": -1}, {"T": 0}, {"vote": 0},
    {"n_classes": 1.5}, {"dropout": 1.0}, {"dropout": -0.1}, {"dropout": True}, {"tau": 0.5}, {"threshold": 0.0},
])
def test_bad_arguments(kw):
    with pytest.raises(ConfigError):
        StdsCifarNet(**{**SMALL, **kw})


@pytest.mark.parametrize("shape", [(3, 8, 8), (2, 1, 8, 8), (2, 2, 3, 8, 8)])
def test_bad_input_shape(shape):
    with pytest.raises(ConfigError, match="x.shape"):
        small_net()(torch.zeros(shape))


@settings(max_examples=30, deadline=None)
@given(n_classes=st.integers(1, 6), vote=st.integers(1, 6), lead=st.integers(1, 3), seed=st.integers(0, 99))
def test_vote_mean_is_average_pooling(n_classes, vote, lead, seed):
    x = torch.rand(lead, 2, n_classes * vote, generator=torch.Generator().manual_seed(seed))
    pooled = F.avg_pool1d(x.flatten(0, 1).unsqueeze(1), vote, vote).squeeze(1).unflatten(0, (lead, 2))
    torch.testing.assert_close(vote_mean(x, n_classes, vote), pooled)


def test_bf16_autocast_forward_and_backward():
    """Under CPU bf16 autocast (the paper trains with AMP) the network runs and every prunable weight gets a gradient."""
    net = lively(small_net()).train()
    x = torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(7))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
        loss = F.mse_loss(out.float(), F.one_hot(torch.arange(8) % 10, 10).float())
    assert out.shape == (8, 10) and torch.isfinite(out).all()
    loss.backward()
    assert all(m.weight.grad is not None and torch.isfinite(m.weight.grad).all() for _, m in net.prunable_layers())
