"""snnkit LIF vs snnTorch 1.0.0 ``Leaky`` (init_hidden=False, stepped in a Python loop).

Same settings on both sides; spikes and membranes must be identical (float32, bit for bit: the update is
computed with the same operations in the same order). Gradients must agree within 1e-6 in relative terms:
per-element gradients (input, mem0) relative to max(1, max|g_ref|); the scalar β and θ gradients, which are
float32 sums over T·B·N terms taken in a different order on each side, relative to max(1, Σ|terms|), the
scale of float32 rounding in such a sum (for β the terms are dL/dm_t · m_{t-1}; for θ they are bounded by
|dL/dm_t| + |dL/ds_t|, the surrogates used peaking at 1). float64 would not tighten this: snnTorch's spike
functions return float32 whatever the input dtype.
"""

from __future__ import annotations

import math

import pytest
import torch

from snnkit.neurons import LIF, surrogate

snntorch = pytest.importorskip("snntorch")

TOL = 1e-6


def _snntorch_surrogate(name: str):
    if name == "atan":
        return snntorch.surrogate.atan(alpha=2.0)
    return snntorch.surrogate.fast_sigmoid(slope=25)


def _run_snntorch(leaky, x, mem0=None):
    mem = torch.zeros_like(x[0]) if mem0 is None else mem0
    spikes, mems = [], []
    for t in range(x.shape[0]):
        spk, mem = leaky(x[t], mem)
        spikes.append(spk)
        mems.append(mem)
    return torch.stack(spikes), torch.stack(mems)


def _loss(spk, mem, seed=11):
    gen = torch.Generator().manual_seed(seed)
    w_s = torch.randn(spk.shape, generator=gen)
    w_m = torch.randn(mem.shape, generator=gen)
    return (spk * w_s).sum() + (mem * w_m).sum()


def _assert_grad_close(ours, ref, what, scale=None):
    scale = max(1.0, ref.abs().max().item() if scale is None else scale)
    err = (ours - ref).abs().max().item() / scale
    assert err <= TOL, f"{what}: relative max error {err:.3g} > {TOL} (scale {scale:.3g})"


def _surrogate_grad(name, u):
    if name == "atan":
        return 1.0 / (1 + (math.pi * u) ** 2)  # α = 2: (α/2) / (1 + (π α u / 2)²)
    return 1.0 / (1 + 25.0 * u.abs()) ** 2


def _reduction_scales(grad_x, mem, spk, threshold, reset, sname, mem0=None):
    """Σ|terms| of the β and θ gradient sums (detached reset); dL/dm_t = dL/dx_t since ∂m_t/∂x_t = 1."""
    mem = mem.detach()
    prev = torch.cat(((torch.zeros_like(mem[0]) if mem0 is None else mem0.detach())[None], mem[:-1]))
    resets = (prev - threshold > 0).float()
    w_s = torch.randn(spk.shape, generator=torch.Generator().manual_seed(11))  # as in _loss
    dmdb = (1 - resets) * prev if reset == "zero" else prev
    thr_terms = (w_s * _surrogate_grad(sname, mem - threshold)).abs().sum()
    if reset == "subtract":
        thr_terms = thr_terms + (resets * grad_x).abs().sum()
    return {"beta": (grad_x * dmdb).abs().sum().item(), "threshold": thr_terms.item()}


CASES = [
    (reset, sname, learn_beta, learn_threshold)
    for reset in ("subtract", "zero")
    for sname in ("atan", "fast_sigmoid")
    for learn_beta, learn_threshold in ((True, True), (False, False), (True, False))
]


@pytest.mark.parametrize("reset,sname,learn_beta,learn_threshold", CASES)
@pytest.mark.parametrize("beta,threshold", [(0.9, 1.0), (0.73, 0.6)])
def test_lif_equals_snntorch_leaky(reset, sname, learn_beta, learn_threshold, beta, threshold):
    torch.manual_seed(hash((reset, sname, beta)) % 2**31)
    steps, batch, n = 30, 8, 24
    x = torch.randn(steps, batch, n) * 0.9 + 0.35
    spike_fn = surrogate.ATan(alpha=2.0) if sname == "atan" else surrogate.FastSigmoid(slope=25.0)
    ours = LIF(beta, threshold, learn_beta, learn_threshold, reset, spike_fn)
    ref = snntorch.Leaky(
        beta=beta,
        threshold=threshold,
        spike_grad=_snntorch_surrogate(sname),
        init_hidden=False,
        learn_beta=learn_beta,
        learn_threshold=learn_threshold,
        reset_mechanism=reset,
    )
    x_ours = x.clone().requires_grad_()
    x_ref = x.clone().requires_grad_()
    spk, mem = ours.forward_with_state(x_ours)
    spk_ref, mem_ref = _run_snntorch(ref, x_ref)

    assert torch.equal(spk, spk_ref), "spikes differ"
    assert torch.equal(mem, mem_ref), "membranes differ"
    rate = spk.mean().item()
    assert 0.05 < rate < 0.95  # the case exercises spiking and resets

    wrt_ours = [x_ours] + [p for p, on in ((ours.beta, learn_beta), (ours.threshold, learn_threshold)) if on]
    wrt_ref = [x_ref] + [p for p, on in ((ref.beta, learn_beta), (ref.threshold, learn_threshold)) if on]
    grads = torch.autograd.grad(_loss(spk, mem), wrt_ours)
    grads_ref = torch.autograd.grad(_loss(spk_ref, mem_ref), wrt_ref)
    scales = _reduction_scales(grads_ref[0], mem_ref, spk_ref, threshold, reset, sname)
    names = ["input"] + [k for k, on in (("beta", learn_beta), ("threshold", learn_threshold)) if on]
    for name, g, g_ref in zip(names, grads, grads_ref):
        assert g.shape == g_ref.shape
        _assert_grad_close(g, g_ref, name, scales.get(name))


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_lif_forward_hook_spikes_equal_snntorch_and_default_surrogate(reset):
    """Default settings (β=0.9, θ=1, atan α=2 — snnTorch's default spike_grad) through ``forward``."""
    torch.manual_seed(5)
    x = torch.randn(25, 4, 16) + 0.4
    ours = LIF(reset=reset)
    ref = snntorch.Leaky(beta=0.9, reset_mechanism=reset)
    recorded = []
    ours.register_forward_hook(lambda m, i, o: recorded.append(o))
    x_ours = x.clone().requires_grad_()
    x_ref = x.clone().requires_grad_()
    spk = ours(x_ours)
    spk_ref, _ = _run_snntorch(ref, x_ref)
    assert torch.equal(recorded[0], spk_ref)
    (g,) = torch.autograd.grad(_loss(spk, spk), x_ours)
    (g_ref,) = torch.autograd.grad(_loss(spk_ref, spk_ref), x_ref)
    _assert_grad_close(g, g_ref, "input")


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_lif_step_and_initial_membrane_equal_snntorch(reset):
    torch.manual_seed(9)
    x = torch.randn(12, 3, 10) + 0.3
    mem0 = torch.randn(3, 10) * 1.5
    ours = LIF(0.8, 0.9, True, True, reset)
    ref = snntorch.Leaky(
        beta=0.8, threshold=0.9, learn_beta=True, learn_threshold=True, reset_mechanism=reset
    )
    m0_ours = mem0.clone().requires_grad_()
    m0_ref = mem0.clone().requires_grad_()
    x_ours = x.clone().requires_grad_()
    x_ref = x.clone().requires_grad_()
    spk, mem = ours.forward_with_state(x_ours, m0_ours)
    spk_ref, mem_ref = _run_snntorch(ref, x_ref, m0_ref)
    assert torch.equal(spk, spk_ref) and torch.equal(mem, mem_ref)
    g = torch.autograd.grad(_loss(spk, mem), [x_ours, m0_ours, ours.beta, ours.threshold])
    g_ref = torch.autograd.grad(_loss(spk_ref, mem_ref), [x_ref, m0_ref, ref.beta, ref.threshold])
    scales = _reduction_scales(g_ref[0], mem_ref, spk_ref, 0.9, reset, "atan", mem0)
    for name, a, b in zip(("input", "mem0", "beta", "threshold"), g, g_ref):
        _assert_grad_close(a, b, name, scales.get(name))
    # single steps
    m, m_ref = mem0, mem0
    for t in range(x.shape[0]):
        s, m = ours.step(x[t], m)
        s_ref, m_ref = ref(x[t], m_ref)
        assert torch.equal(s, s_ref) and torch.equal(m, m_ref)
