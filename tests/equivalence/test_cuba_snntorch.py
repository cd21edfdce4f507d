"""snnkit CubaLIF (form="snntorch") vs snnTorch 1.0.0 ``Synaptic`` (init_hidden=False, stepped in a Python loop).

With the same α, β, θ, reset and surrogate, spikes, synaptic currents and membranes must be identical in float32,
bit for bit: both sides compute ``a·syn + x``, ``b·U + syn``, ``(·) - r·θ`` or ``P - P·r`` with the same
operations in the same order (the products r·θ and P·r are exact because r is 0 or 1). Gradients are sums
taken in another order (snnkit's backward runs the adjoint recurrences itself), so they are compared to
float32 round-off: per-element gradients (input, initial states; each a sum over up to T steps, measured
errors <= 4e-7) relative to max(1, max|g_ref|); the scalar α, β, θ gradients, float32 sums of T·B·N products, relative
to max(1, Σ|dL/dX_t|·(|syn_t| + |U_t| + θ)), an upper estimate of the size of their terms.
snnTorch's ``Synaptic`` always detaches the reset, so only ``detach_reset=True`` is compared here; the other
setting is tested against the plain loop in tests/unit/test_neurons_cuba.py.
"""

from __future__ import annotations

import pytest
import torch

from snnkit.neurons import surrogate
from snnkit.neurons.cuba import CubaLIF

snntorch = pytest.importorskip("snntorch")

TOL = 2e-6


def _peer_surrogate(name: str):
    return snntorch.surrogate.atan(alpha=2.0) if name == "atan" else snntorch.surrogate.fast_sigmoid(slope=25)


def _ours_surrogate(name: str):
    return surrogate.ATan(alpha=2.0) if name == "atan" else surrogate.FastSigmoid(slope=25.0)


def _step_peer(neuron, x, syn0=None, mem0=None):
    syn = torch.zeros_like(x[0]) if syn0 is None else syn0
    mem = torch.zeros_like(x[0]) if mem0 is None else mem0
    outs = ([], [], [])
    for t in range(x.shape[0]):
        spk, syn, mem = neuron(x[t], syn, mem)
        for seq, value in zip(outs, (spk, syn, mem)):
            seq.append(value)
    return tuple(torch.stack(seq) for seq in outs)


def _loss(outs, seed=7):
    gen = torch.Generator().manual_seed(seed)
    return sum((o * torch.randn(o.shape, generator=gen)).sum() for o in outs)


def _close(ours, ref, what, scale):
    err = (ours - ref).abs().max().item() / max(1.0, scale)
    assert err <= TOL, f"{what}: relative error {err:.3g} > {TOL}"


CASES = [
    (reset, sname, learn)
    for reset in ("subtract", "zero")
    for sname in ("atan", "fast_sigmoid")
    for learn in ((True, True, True), (False, False, False), (True, False, True))
]


@pytest.mark.parametrize("reset,sname,learn", CASES)
@pytest.mark.parametrize("alpha,beta,threshold", [(0.9, 0.8, 1.0), (0.6, 0.95, 0.7)])
def test_cuba_lif_equals_snntorch_synaptic(reset, sname, learn, alpha, beta, threshold):
    torch.manual_seed(CASES.index((reset, sname, learn)) + int(alpha * 100))
    x = torch.randn(40, 8, 24) * 0.5 + 0.1
    learn_alpha, learn_beta, learn_threshold = learn
    ours = CubaLIF(alpha, beta, threshold, form="snntorch", reset=reset, learn_alpha=learn_alpha,
                   learn_beta=learn_beta, learn_threshold=learn_threshold, surrogate=_ours_surrogate(sname))
    peer = snntorch.Synaptic(alpha=alpha, beta=beta, threshold=threshold, spike_grad=_peer_surrogate(sname),
                             learn_alpha=learn_alpha, learn_beta=learn_beta, learn_threshold=learn_threshold,
                             reset_mechanism=reset)
    x_ours, x_peer = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = ours.forward_with_state(x_ours)
    out_peer = _step_peer(peer, x_peer)
    for name, a, b in zip(("spikes", "syn", "mem"), out, out_peer):
        assert torch.equal(a, b), f"{name} differ"
    assert 0.05 < out[0].mean().item() < 0.6  # the case fires and resets

    names = ["input"] + [n for n, on in zip(("alpha", "beta", "threshold"), learn) if on]
    wrt = [x_ours] + [p for p, on in zip((ours.alpha, ours.beta, ours.threshold), learn) if on]
    wrt_peer = [x_peer] + [p for p, on in zip((peer.alpha, peer.beta, peer.threshold), learn) if on]
    grads = torch.autograd.grad(_loss(out), wrt)
    grads_peer = torch.autograd.grad(_loss(out_peer), wrt_peer)
    g_x = grads_peer[0].abs()
    param_scale = (g_x * (out_peer[1].abs() + out_peer[2].abs() + threshold)).sum().item()
    for name, g, g_ref in zip(names, grads, grads_peer):
        assert g.shape == g_ref.shape
        _close(g, g_ref, name, g_ref.abs().max().item() if name == "input" else param_scale)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_initial_states_and_single_steps_equal_snntorch(reset):
    torch.manual_seed(9)
    x = torch.randn(15, 3, 10) * 0.6 + 0.2
    syn0, mem0 = torch.randn(3, 10), torch.randn(3, 10) * 1.5
    ours = CubaLIF(0.85, 0.75, 0.9, reset=reset, learn_alpha=True, learn_beta=True, learn_threshold=True)
    peer = snntorch.Synaptic(alpha=0.85, beta=0.75, threshold=0.9, learn_alpha=True, learn_beta=True,
                             learn_threshold=True, reset_mechanism=reset)
    inputs = [t.clone().requires_grad_() for t in (x, syn0, mem0)]
    inputs_peer = [t.clone().requires_grad_() for t in (x, syn0, mem0)]
    out = ours.forward_with_state(*inputs)
    out_peer = _step_peer(peer, *inputs_peer)
    assert all(torch.equal(a, b) for a, b in zip(out, out_peer))
    assert out[0][0].sum() > 0 and (mem0 > 0.9).any()  # the initial membrane resets at step 0
    grads = torch.autograd.grad(_loss(out), inputs)
    grads_peer = torch.autograd.grad(_loss(out_peer), inputs_peer)
    for name, g, g_ref in zip(("input", "syn0", "mem0"), grads, grads_peer):
        _close(g, g_ref, name, g_ref.abs().max().item())
    syn, mem = syn0, mem0
    syn_p, mem_p = syn0, mem0
    for t in range(x.shape[0]):
        s, syn, mem = ours.step(x[t], syn, mem)
        s_p, syn_p, mem_p = peer(x[t], syn_p, mem_p)
        assert torch.equal(s, s_p) and torch.equal(syn, syn_p) and torch.equal(mem, mem_p)


def test_defaults_and_forward_hook_equal_snntorch():
    """CubaLIF's snntorch form defaults to snnTorch's: subtract reset, θ = 1, arctan α = 2."""
    torch.manual_seed(5)
    x = torch.randn(25, 4, 16) * 0.5 + 0.2
    ours = CubaLIF(0.9, 0.85)
    peer = snntorch.Synaptic(alpha=0.9, beta=0.85)
    seen: list[torch.Tensor] = []
    ours.register_forward_hook(lambda m, inp, out: seen.append(out))
    x_ours, x_peer = x.clone().requires_grad_(), x.clone().requires_grad_()
    spk = ours(x_ours)
    spk_peer, _, _ = _step_peer(peer, x_peer)
    assert torch.equal(seen[0], spk_peer) and spk_peer.sum() > 0
    (g,) = torch.autograd.grad(_loss([spk]), x_ours)
    (g_peer,) = torch.autograd.grad(_loss([spk_peer]), x_peer)
    _close(g, g_peer, "input", g_peer.abs().max().item())
