"""SEW-ResNet (Fang et al., NeurIPS 2021): parameter counts against torchvision's ResNets, connect functions and
their operand order inside a block, direct encoding, shapes, gradients and argument checks."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from snnkit.errors import ConfigError
from snnkit.models.multistep import MultiStep
from snnkit.models.sew_resnet import CONNECTS, BasicBlock, Bottleneck, SEWResNet, connect, sew_resnet
from snnkit.neurons.hard_reset import IFNode, LIFNode

torch.set_num_threads(1)

#: torchvision's ResNet parameter counts with 1000 classes (He et al. 2016 layouts).
PUBLISHED = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_parameter_count_is_the_resnets(depth):
    with torch.device("meta"):
        net = sew_resnet(depth)
    assert n_params(net) == PUBLISHED[depth]
    fc = sum(p.numel() for p in net.fc.parameters())
    assert sum(m.weight.numel() for _, m in net.prunable_layers()) + fc + sum(
        p.numel() for m in net.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()) == PUBLISHED[depth]


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_same_weight_shapes_as_torchvision(depth):
    """Every weight of torchvision's ResNet has a twin of the same shape, in the same order."""
    from snnkit._compat import import_torchvision

    try:
        tv = import_torchvision()
    except Exception as exc:  # pragma: no cover - an environment without a usable torchvision
        pytest.skip(f"torchvision unavailable: {exc}")
    with torch.device("meta"):
        ref = getattr(tv.models, f"resnet{depth}")()
        net = sew_resnet(depth)
    assert n_params(net) == n_params(ref) == PUBLISHED[depth]
    assert [tuple(p.shape) for p in net.parameters()] == [tuple(p.shape) for p in ref.parameters()]


@pytest.mark.parametrize("depth,connect_f,neuron", [(18, "IAND", "if"), (50, "ADD", "lif")])
def test_matches_spikingjelly_sew_resnet(depth, connect_f, neuron):
    """Same weights, same logits as SpikingJelly's multi-step SEW-ResNet fed the image repeated over T (float64;
    BatchNorm on batch statistics, which T identical copies leave unchanged; its stem runs at every step)."""
    from snnkit._compat import import_torchvision

    try:
        import_torchvision()
        from spikingjelly.activation_based import functional, surrogate
        from spikingjelly.activation_based import neuron as sj_neuron
        from spikingjelly.activation_based.model import sew_resnet as sj_models
    except Exception as exc:  # pragma: no cover - an environment without SpikingJelly's model zoo
        pytest.skip(f"SpikingJelly's SEW-ResNet unavailable: {exc}")
    torch.manual_seed(0)
    net = sew_resnet(depth, connect=connect_f, neuron=neuron, T=4, n_classes=7).double()
    node = {"if": (sj_neuron.IFNode, {}), "lif": (sj_neuron.LIFNode, {"tau": 2.0})}[neuron]
    ref = getattr(sj_models, f"sew_resnet{depth}")(cnf=connect_f, num_classes=7, spiking_neuron=node[0],
                                                   surrogate_function=surrogate.ATan(), detach_reset=True,
                                                   **node[1]).double()
    functional.set_step_mode(ref, "m")
    ours, theirs = net.state_dict(), ref.state_dict()
    assert [v.shape for v in ours.values()] == [v.shape for v in theirs.values()]
    ref.load_state_dict(dict(zip(theirs, ours.values(), strict=True)))
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        assert net.features(x).abs().sum() > 0
        torch.testing.assert_close(net(x), ref(x.unsqueeze(0).repeat(4, 1, 1, 1, 1)).mean(0), rtol=0, atol=1e-12)


def test_connect_truth_tables():
    """g(A, S) on binary spikes, A = residual branch, S = shortcut (SEW paper, Table 1)."""
    a, s = (torch.tensor(v, dtype=torch.float32) for v in zip(*itertools.product((0.0, 1.0), repeat=2), strict=True))
    assert a.tolist() == [0, 0, 1, 1] and s.tolist() == [0, 1, 0, 1]
    assert connect("ADD", a, s).tolist() == [0, 1, 1, 2]
    assert connect("AND", a, s).tolist() == [0, 0, 0, 1]
    assert connect("IAND", a, s).tolist() == [0, 1, 0, 0]  # (not A) and S
    assert set(CONNECTS) == {"ADD", "AND", "IAND"}


@pytest.mark.parametrize("block_cls", [BasicBlock, Bottleneck])
@pytest.mark.parametrize("connect_f", ["ADD", "AND", "IAND"])
@pytest.mark.parametrize("residual", [0.0, 1.0])
def test_block_joins_residual_and_shortcut_in_order(block_cls, connect_f, residual):
    """A block whose residual branch emits all zeros or all ones: the output is g(A, S) with S the input."""
    c = 4 * block_cls.expansion
    block = block_cls(c, 4, 1, None, connect_f, lambda: IFNode())
    last_bn = (block.conv3 if block_cls is Bottleneck else block.conv2)[1]
    assert block.last()[0] is last_bn
    with torch.no_grad():  # the last BN ignores its input: constant drive 2 (fires every step) or -1 (never)
        last_bn.weight.zero_()
        last_bn.bias.fill_(2.0 if residual else -1.0)
    block.eval()
    x = (torch.rand(3, 2, c, 5, 5, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    with torch.no_grad():
        out = block(x)
    torch.testing.assert_close(out, connect(connect_f, torch.full_like(x, residual), x))


def test_forward_shapes_and_direct_encoding():
    net = sew_resnet(18, T=2, n_classes=10, width=4)
    calls: dict[str, list[int]] = {"conv1": [], "layer1": []}
    net.conv1.register_forward_hook(lambda m, i, o: calls["conv1"].append(i[0].shape[0]))
    net.layer1[0].conv1[0].register_forward_hook(lambda m, i, o: calls["layer1"].append(i[0].shape[0]))
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    feats = net.features(x)
    assert feats.shape == (2, 2, 32)
    assert net(x).shape == (2, 10)
    assert calls == {"conv1": [2, 2], "layer1": [4, 4]}  # stem once on [B, ...], blocks on [T·B, ...]
    torch.testing.assert_close(net(x), net.fc(feats.mean(0)))


@pytest.mark.parametrize("depth,connect_f,neuron,zero_init", [
    (18, "ADD", "if", False), (34, "IAND", "if", False), (50, "AND", "if", True), (18, "ADD", "lif", False)])
def test_gradients_flow(depth, connect_f, neuron, zero_init):
    """Gradients reach the stem through every stage (AND dies at the default initialisation of a narrow network:
    it is tested from the identity start)."""
    torch.manual_seed(0)
    net = sew_resnet(depth, connect=connect_f, neuron=neuron, T=2, n_classes=5, width=4,
                     zero_init_residual=zero_init).train()
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    out = net(x)
    assert out.shape == (4, 5)
    nn.functional.cross_entropy(out, torch.tensor([0, 3, 1, 4])).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert net.conv1.weight.grad.abs().sum() > 0
    assert net.fc.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("connect_f", ["ADD", "AND", "IAND"])
@pytest.mark.parametrize("neuron", ["if", "lif"])
@pytest.mark.parametrize("depth", [18, 50])
def test_zero_init_residual_makes_blocks_identity(depth, connect_f, neuron):
    """With ``zero_init_residual`` every block passes its shortcut through: a block's output is its input."""
    net = sew_resnet(depth, connect=connect_f, neuron=neuron, T=2, width=2, zero_init_residual=True).eval()
    block = net.layer1[1]  # no downsample: the shortcut is the input itself
    x = (torch.rand(2, 2, block.conv1[0].in_channels, 4, 4, generator=torch.Generator().manual_seed(5)) < 0.5)
    with torch.no_grad():
        torch.testing.assert_close(block(x.float()), x.float())


def test_prunable_and_spiking_layers():
    net = sew_resnet(50, T=2, n_classes=10, width=2, neuron="lif")
    prunable = dict(net.prunable_layers())
    convs = [name for name, m in net.named_modules() if isinstance(m, nn.Conv2d)]
    assert list(prunable) == convs and "fc" not in prunable
    assert len(convs) == 1 + 16 * 3 + 4  # stem, three per bottleneck, four shortcuts
    assert [w is m.weight for w, m in zip(net.prunable_weights(), prunable.values(), strict=True)] == [True] * 53
    modules = dict(net.named_modules())
    assert net.spiking_layers[0] == "sn1"
    assert len(net.spiking_layers) == 1 + 16 * 3 + 4
    assert all(isinstance(modules[name], LIFNode) for name in net.spiking_layers)
    assert "layer1.0.downsample.1" in net.spiking_layers
    shortcut = modules["layer2.0.downsample"]
    assert isinstance(shortcut[0], MultiStep) and shortcut[0][0].stride == (2, 2)


def test_neuron_and_connect_choice():
    net = sew_resnet(18, connect="iand", neuron="IF", T=3, n_classes=7, width=2)
    assert (net.connect_f, net.neuron, net.T) == ("IAND", "if", 3)
    assert all(b.connect_f == "IAND" for b in net.layer3)
    sn = dict(net.named_modules())["layer1.0.sn1"]
    assert type(sn) is IFNode and (sn.threshold, sn.v_reset, sn.detach_reset) == (1.0, 0.0, True)
    lif = dict(sew_resnet(18, neuron="lif", width=2).named_modules())["layer4.1.sn2"]
    assert isinstance(lif, LIFNode) and lif.tau == 2.0


@pytest.mark.parametrize("kw", [
    {"depth": 20}, {"depth": "18"}, {"depth": True}, {"connect": "OR"}, {"connect": None}, {"neuron": "plif"},
    {"T": 0}, {"n_classes": 0}, {"width": 0}, {"zero_init_residual": 1},
])
def test_bad_arguments(kw):
    args = {"depth": 18, "width": 2, **kw}
    with pytest.raises(ConfigError):
        sew_resnet(**args)


def test_bad_input_shape():
    net = SEWResNet(18, T=1, n_classes=2, width=2)
    with pytest.raises(ConfigError, match="x.shape"):
        net(torch.zeros(2, 1, 32, 32))


def test_bf16_autocast_forward_and_backward():
    torch.manual_seed(0)
    net = sew_resnet(18, T=2, n_classes=5, width=4).train()
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
        loss = nn.functional.cross_entropy(out.float(), torch.tensor([0, 1, 2, 3]))
    assert out.shape == (4, 5) and torch.isfinite(out).all()
    loss.backward()
    assert torch.isfinite(net.conv1.weight.grad).all() and net.conv1.weight.grad.abs().sum() > 0
