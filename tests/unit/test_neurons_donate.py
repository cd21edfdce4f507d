"""Donated inputs (snnkit.neurons.buffers.donate): a neuron that keeps its saved state in its donated input's memory,
and writes the input gradient over it in backward, gives the same spikes and gradients bit for bit as without the
mark; the mark is really used (the input's memory changes); a second backward through the same graph raises; hooks,
views and other dtypes turn it off."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from snnkit.neurons import buffers
from snnkit.neurons.cuba import CubaLIF
from snnkit.neurons.lif import LIF
from snnkit.neurons.spsn import SPSN, ParaLIF
from snnkit.neurons.surrogate import ATan, FastSigmoid

TAUS = {"tau_mem": 0.02, "tau_syn": 0.02, "dt": 1e-3, "method": "recurrence"}  # "auto" takes the FFT for so few neurons


def _lif(reset: str, detach: bool, learn_beta: bool, learn_thr: bool, surrogate) -> nn.Module:
    return LIF(beta=0.8, reset=reset, detach_reset=detach, learn_beta=learn_beta, learn_threshold=learn_thr,
               surrogate=surrogate)


def _cuba(form: str, reset: str, detach: bool, learn: bool) -> nn.Module:
    neuron = CubaLIF.from_taus(0.02, 0.02, 1e-3, form=form, reset=reset, surrogate=FastSigmoid(slope=25.0))
    neuron.detach_reset = detach
    if learn:  # α, β and θ learnable: backward needs the saved state after the recursion
        for name in ("alpha", "beta", "threshold"):
            value = getattr(neuron, name).clone()
            delattr(neuron, name)
            setattr(neuron, name, nn.Parameter(value))
    return neuron


NEURONS = (
    [pytest.param(lambda a=a: _lif(*a), id=f"lif-{a[0]}-{a[1]}-{a[2]}-{a[3]}-{type(a[4]).__name__}")
     for a in itertools.product(["subtract", "zero"], [True, False], [False, True], [False, True],
                                [ATan(alpha=2.0), FastSigmoid(slope=25.0)])]
    + [pytest.param(lambda a=a: _cuba(*a), id=f"cuba-{a[0]}-{a[1]}-{a[2]}-{a[3]}")
       for a in itertools.product(["spsn", "snntorch"], ["subtract", "zero"], [True, False], [False, True])]
    + [pytest.param(lambda f=f: SPSN(firing=f, **TAUS), id=f"spsn-{f}") for f in ("SB", "GS")]
    + [pytest.param(lambda m=m, lt=lt: ParaLIF(m, **TAUS, n_neurons=24, learn_tau=lt), id=f"paralif-{m}-{lt}")
       for m, lt in itertools.product(("SB", "TRB", "GS"), (False, True))]
)


def _run(neuron: nn.Module, fc: nn.Linear, x: torch.Tensor, g: torch.Tensor, donate: bool):
    """Spikes, the Linear's gradients, the neuron's parameter gradients, and whether the Linear's output changed
    (it holds the neuron's state or, after backward, the input gradient where it was donated)."""
    fc.zero_grad()
    neuron.zero_grad()
    if hasattr(neuron, "generator"):
        neuron.generator = torch.Generator().manual_seed(3)
    h = fc(x) * 3
    kept = h.detach().clone()
    if donate:
        buffers.donate(h)
    s = neuron(h)
    (s * g).sum().backward()
    changed = not torch.equal(h.detach(), kept)
    grads = [p.grad.clone() for p in neuron.parameters() if p.grad is not None]
    return s.detach(), fc.weight.grad.clone(), fc.bias.grad.clone(), grads, changed


@pytest.mark.parametrize("make", NEURONS)
@pytest.mark.parametrize("steps", [1, 6, 150])
def test_donated_input_gives_the_same_spikes_and_gradients(make, steps):
    torch.manual_seed(steps)
    neuron, fc = make(), nn.Linear(10, 24)
    x, g = torch.randn(steps, 5, 10), torch.randn(steps, 5, 24)
    plain = _run(neuron, fc, x, g, donate=False)
    donated = _run(neuron, fc, x, g, donate=True)
    assert not plain[4]  # without the mark the input is left alone
    # with it, the neuron's state or the input gradient went there (but one LIF step's membrane is its input, and
    # with a learnable β or θ the LIF's backward leaves it)
    assert donated[4] or steps == 1
    for a, b in zip(plain[:3], donated[:3]):
        assert torch.equal(a, b)
    assert len(plain[3]) == len(donated[3])
    for a, b in zip(plain[3], donated[3]):
        assert torch.equal(a, b)


@pytest.mark.parametrize("make", [NEURONS[0], NEURONS[-8], NEURONS[-6], NEURONS[-1]])
def test_second_backward_through_a_donated_input_raises(make):
    neuron, fc = make(), nn.Linear(10, 24)
    s = neuron(buffers.donate(fc(torch.randn(20, 4, 10))))
    loss = (s * torch.randn_like(s)).sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="donate"):
        loss.backward()


def test_hooks_views_and_dtypes_turn_donation_off():
    lif, fc = LIF(), nn.Linear(10, 24)
    x = torch.randn(8, 3, 10)
    seen = []
    handle = lif.register_forward_hook(lambda m, args, out: seen.append(args[0].detach().clone()))
    h = fc(x)
    kept = h.detach().clone()
    lif(buffers.donate(h))
    handle.remove()
    assert torch.equal(seen[0], kept) and torch.equal(h.detach(), kept)  # the hook saw the input current
    h = fc(x)
    view = buffers.donate(h[:, :2])
    assert buffers.is_donated(view) and not buffers.is_donated(h)
    kept = h.detach().clone()
    lif(view)  # a donated view that is not contiguous: ignored
    assert torch.equal(h.detach(), kept)
    h = buffers.donate(fc(x))
    kept = h.detach().clone()
    lif(h, mem0=torch.zeros(3, 24, dtype=torch.float64))  # a float64 state: the compute dtype is not the input's
    assert torch.equal(h.detach(), kept)


def test_donate_marks_only_that_tensor():
    t = torch.zeros(4)
    assert not buffers.is_donated(t)
    assert buffers.donate(t) is t and buffers.is_donated(t)
    assert not buffers.is_donated(t.view(4)) and not buffers.is_donated(t.clone())
    assert not buffers.is_donated(None) and not buffers.is_donated(1.0)


@pytest.mark.parametrize("make", [NEURONS[0], NEURONS[-14], NEURONS[-8], NEURONS[-7], NEURONS[-1]])
def test_donated_input_keeps_its_autograd_state(make):
    """The kernels write a donated input through a tensor with its own version counter: the input's own counter does
    not move, so a hook registered on it after the forward works (it crashed the interpreter when SPSN's in-place
    firing ran on the input itself) and receives the gradient the Linear gets."""
    neuron, fc = make(), nn.Linear(10, 24)
    if hasattr(neuron, "generator"):
        neuron.generator = torch.Generator().manual_seed(1)
    h = buffers.donate(fc(torch.randn(30, 4, 10)))
    version = h._version
    s = neuron(h)
    assert h._version == version
    seen = []
    h.register_hook(lambda grad: seen.append(grad.clone()))
    (s * torch.randn_like(s)).sum().backward()
    assert len(seen) == 1 and seen[0].shape == h.shape and bool(torch.isfinite(seen[0]).all())


def test_input_blind_hooks_keep_donation_on_and_other_hooks_turn_it_off():
    lif, fc = LIF(), nn.Linear(10, 24)
    x = torch.randn(8, 3, 10)
    outputs = []
    handle = lif.register_forward_hook(buffers.input_blind(lambda m, args, out: outputs.append(out)))
    h = buffers.donate(fc(x))
    kept = h.detach().clone()
    assert buffers.may_take(lif, h)
    spikes = lif(h)
    assert not torch.equal(h.detach(), kept)  # taken over: it holds the membranes now
    assert outputs[0] is spikes
    pre = lif.register_forward_pre_hook(lambda m, args: None)  # an ordinary pre-hook beside it: off
    assert not buffers.may_take(lif, buffers.donate(fc(x)))
    pre.remove()
    handle.remove()
    glob = nn.modules.module.register_module_forward_hook(lambda m, args, out: None)  # hooks on every module count
    try:
        assert not buffers.may_take(lif, buffers.donate(fc(x)))
    finally:
        glob.remove()
    assert buffers.may_take(lif, buffers.donate(fc(x))) and not buffers.may_take(lif, fc(x))


@pytest.mark.parametrize("neuron", ["LIF", "SPSN-SB"])
def test_shd_training_under_the_spike_regulariser_donates_the_hidden_currents(neuron):
    """The regulariser watches the hidden neurons' output only, so their hooks do not turn donation off: every
    hidden neuron of ShdNet may take its Linear's output over, and the recorded spikes keep their graph."""
    import snnkit.neurons.cuba
    import snnkit.neurons.spsn
    from snnkit.models.shd import ShdNet
    from snnkit.train.activity import ActivityRecorder
    from snnkit.train.regularise import SpikeCountRegulariser

    torch.manual_seed(0)
    net = ShdNet(20, 4, neuron=neuron, hidden_size=16, nb_layers=2)
    reg = SpikeCountRegulariser([f"neurons.{i}" for i in range(2)], reg_thr=0.1)
    taken = []

    def spy(module, x):
        taken.append(buffers.may_take(module, x))
        return taken[-1]

    x = (torch.rand(30, 5, 20) < 0.3).float()
    lengths = torch.full((5,), 30)
    with ActivityRecorder(net, reg.watch(net)) as rec, pytest.MonkeyPatch.context() as m:
        m.setattr(snnkit.neurons.cuba, "may_take", spy)
        m.setattr(snnkit.neurons.spsn, "may_take", spy)
        rec.recording = True
        net((x, lengths))
        spikes = [rec.activity[name].output for name in reg.modules]
        with pytest.raises(RuntimeError, match="neurons.0"):
            _ = rec.activity["neurons.0"].input
        assert rec.activity[""].input[1] is lengths  # the root's input is kept: it holds the lengths
    assert taken == [True, True] and all(s.requires_grad for s in spikes)
