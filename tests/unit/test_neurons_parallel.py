"""Unit tests for snnkit.neurons.parallel: exact parallel leaky integration (every method against the
sequential recursion, forward and backward) and the SPSN / ParaLIF spike functions."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snnkit.neurons import compiled, parallel, surrogate
from snnkit.neurons.parallel import (
    DELTA_MODES,
    SPIKE_MODES,
    STOCHASTIC_MODES,
    bernoulli_straight_through,
    decay,
    default_method,
    fire,
    gumbel_softmax,
    integration_kernel,
    leaky_integrate,
    leaky_integrate_reference,
    paralif_multistep,
    shift_in_time,
    sigmoid_bernoulli,
)

METHODS = ["recurrence", "fft", "scan"]


def _decays(tau_syn, tau_mem, per_neuron: int | None, dtype=torch.float64):
    shape = (per_neuron,) if per_neuron else ()
    alpha = decay(torch.as_tensor(tau_syn, dtype=torch.float64).expand(shape)).to(dtype)
    beta = decay(torch.as_tensor(tau_mem, dtype=torch.float64).expand(shape)).to(dtype)
    return alpha.clone().requires_grad_(), beta.clone().requires_grad_()


def _ref_and_grads(x, alpha, beta, upstream):
    """float64 ground truth: the plain loop and its autograd gradients wrt x, α, β, with the scale of each.

    The reference runs with one decay per element of a step, so the gradient wrt a shared decay is a sum of
    per-element gradients that may cancel; its scale is the sum of their magnitudes (round-off is relative
    to that, not to the possibly tiny sum).
    """
    step = x.shape[1:]
    xr = x.detach().double().requires_grad_()
    ar = alpha.detach().double().expand(step).clone().requires_grad_()
    br = beta.detach().double().expand(step).clone().requires_grad_()
    out = leaky_integrate_reference(xr, ar, br)
    dx, da, db = torch.autograd.grad(out, (xr, ar, br), upstream.double())
    values = (out, dx, da.sum_to_size(alpha.shape), db.sum_to_size(beta.shape))
    scales = (out.abs().max(), dx.abs().max(), da.abs().sum_to_size(alpha.shape).max(),
              db.abs().sum_to_size(beta.shape).max())
    return values, [float(v.detach()) + 1e-30 for v in scales]


def _check_method(method, x, alpha, beta, rel, chunk=16):
    """method's U and dL/d(x, α, β) equal the float64 reference within ``rel`` × their scale."""
    upstream = torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).to(x.dtype)
    expected, scales = _ref_and_grads(x, alpha, beta, upstream)
    xi = x.detach().clone().requires_grad_()
    ai, bi = alpha.detach().clone().requires_grad_(), beta.detach().clone().requires_grad_()
    out = leaky_integrate(xi, ai, bi, method=method, chunk=chunk)
    got = (out, *torch.autograd.grad(out, (xi, ai, bi), upstream))
    xo = x.detach().clone().requires_grad_()  # the path without decay gradients (saves nothing large)
    (dx_only,) = torch.autograd.grad(leaky_integrate(xo, ai.detach(), bi.detach(), method=method, chunk=chunk),
                                     xo, upstream)
    got = (*got, dx_only)
    names = ("U", "dx", "dalpha", "dbeta", "dx without decay gradients")
    for name, g, e, scale in zip(names, got, (*expected, expected[1]), (*scales, scales[1])):
        assert g.shape == e.shape and g.dtype == x.dtype, name
        err = (g.double() - e).abs().max().item()
        assert err <= rel * scale, f"{method} {name}: max error {err:.3g} > {rel:.1g} x {scale:.3g}"


taus = st.floats(min_value=1.0, max_value=500.0)


@settings(max_examples=40, deadline=None)
@given(steps=st.integers(1, 200), tau_syn=taus, tau_mem=taus, batch=st.integers(1, 3), n=st.integers(1, 4),
       per_neuron=st.booleans(), method=st.sampled_from(METHODS), chunk=st.integers(1, 40),
       seed=st.integers(0, 2**16))
def test_every_method_equals_the_recursion_float64(steps, tau_syn, tau_mem, batch, n, per_neuron, method,
                                                   chunk, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(steps, batch, n, dtype=torch.float64, generator=gen)
    alpha, beta = _decays(tau_syn, tau_mem, n if per_neuron else None)
    if per_neuron:  # different decays per neuron
        spread = torch.rand(n, dtype=torch.float64, generator=gen) * 0.5 + 0.5
        alpha = (alpha.detach() * spread).requires_grad_()
    _check_method(method, x, alpha, beta, rel=1e-10, chunk=chunk)


@settings(max_examples=25, deadline=None)
@given(steps=st.integers(1, 400), tau_syn=taus, tau_mem=taus, per_neuron=st.booleans(),
       method=st.sampled_from(METHODS), seed=st.integers(0, 2**16))
def test_every_method_float32_is_within_round_off(steps, tau_syn, tau_mem, per_neuron, method, seed):
    x = torch.randn(steps, 2, 3, generator=torch.Generator().manual_seed(seed))
    alpha, beta = _decays(tau_syn, tau_mem, 3 if per_neuron else None, dtype=torch.float32)
    _check_method(method, x, alpha, beta, rel=2e-5, chunk=64)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("tau_syn,tau_mem", [(500.0, 500.0), (1.0, 500.0), (500.0, 1.0)])
def test_exact_at_5000_steps_and_tau_500(method, tau_syn, tau_mem):
    x = torch.randn(5000, 2, 4, generator=torch.Generator().manual_seed(7))
    alpha, beta = _decays(tau_syn, tau_mem, None, dtype=torch.float32)
    _check_method(method, x, alpha, beta, rel=2e-5, chunk=64)


@pytest.mark.parametrize("method", METHODS)
def test_no_wrap_around_late_input_never_reaches_early_outputs(method):
    steps = 50
    x = torch.zeros(steps, 1, 1)
    x[-10:] = 1.0  # only the last 10 steps have input
    alpha, beta = _decays(20.0, 20.0, None, dtype=torch.float32)
    out = leaky_integrate(x, alpha.detach(), beta.detach(), method=method)
    assert out[:-10].abs().max().item() <= 1e-6 * out.abs().max().item()


def _authors_circular_fft(x, alpha, beta):
    """The original's method: FFTs of l, k and X multiplied at length 2T (a circular convolution)."""
    steps = x.shape[0]
    n = torch.arange(steps, dtype=x.dtype)
    lf = torch.fft.rfft(alpha**n, n=2 * steps)
    kf = torch.fft.rfft(beta**n * (1 - beta), n=2 * steps)
    xf = torch.fft.rfft(x, n=2 * steps, dim=0)
    return torch.fft.irfft(xf * (lf * kf).reshape(-1, *([1] * (x.dim() - 1))), n=2 * steps, dim=0)[:steps]


def test_the_authors_circular_fft_is_caught_by_the_same_check():
    """The exactness check detects the wrap-around bug of the original (so it can fail)."""
    x = torch.rand(50, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2
    a, b = math.exp(-1 / 20), math.exp(-1 / 20)
    ref = leaky_integrate_reference(x, a, b)
    wrong = _authors_circular_fft(x, torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))
    assert (wrong - ref).abs().max().item() > 0.1
    for method in METHODS:
        assert (leaky_integrate(x, a, b, method=method) - ref).abs().max().item() < 1e-12


@pytest.mark.parametrize("tau_syn,tau_mem", [(20.0, 20.0), (3.0, 40.0), (40.0, 3.0)])
def test_kernel_is_the_impulse_response_and_differentiable_at_alpha_equal_beta(tau_syn, tau_mem):
    steps = 60
    alpha, beta = _decays(tau_syn, tau_mem, None)
    h = integration_kernel(alpha, beta, steps)
    impulse = torch.zeros(steps, dtype=torch.float64)
    impulse[0] = 1
    a2, b2 = alpha.detach().clone().requires_grad_(), beta.detach().clone().requires_grad_()
    ref = leaky_integrate_reference(impulse, a2, b2)
    torch.testing.assert_close(h, ref, rtol=1e-12, atol=1e-15)
    w = torch.linspace(0.1, 1, steps, dtype=torch.float64)
    got = torch.autograd.grad((h * w).sum(), (alpha, beta))
    want = torch.autograd.grad((ref * w).sum(), (a2, b2))
    for g, e in zip(got, want):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12)


def test_no_synaptic_stage_and_dtypes():
    x = torch.randn(20, 2, 3)
    beta = math.exp(-1 / 5)
    for method in METHODS:
        out = leaky_integrate(x, 0.0, beta, method=method)  # α = 0: U_t = β U_{t-1} + (1 - β) X_t
        assert out.dtype == torch.float32 and out.shape == x.shape
        torch.testing.assert_close(out, leaky_integrate_reference(x, 0.0, beta), rtol=1e-5, atol=1e-6)
    assert leaky_integrate(torch.zeros(0, 2, 3), 0.5, 0.5).shape == (0, 2, 3)
    assert default_method(torch.zeros(5, 16, 17)) == "recurrence"
    assert default_method(torch.zeros(5000, 1, 16)) == "fft"


def test_gradient_only_wrt_x_and_only_wrt_beta():
    x = torch.randn(30, 2, 3, dtype=torch.float64, requires_grad=True)
    alpha, beta = _decays(10.0, 15.0, 3)
    out = leaky_integrate(x, alpha.detach(), beta, method="recurrence")
    (gb,) = torch.autograd.grad(out.sum(), beta)
    ref = leaky_integrate_reference(x, alpha.detach(), beta)
    torch.testing.assert_close(gb, torch.autograd.grad(ref.sum(), beta, retain_graph=True)[0])
    out = leaky_integrate(x, alpha.detach(), beta.detach(), method="recurrence")
    torch.testing.assert_close(torch.autograd.grad(out.sum(), x)[0], torch.autograd.grad(ref.sum(), x)[0])


def test_fft_length_is_the_smallest_5_smooth_number_not_below_n():
    from snnkit.neurons.parallel import _fft_size

    def smooth(m):
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        return m == 1

    for n in range(1, 1200):
        size = _fft_size(n)
        assert size >= n and smooth(size) and not any(smooth(k) for k in range(n, size)), n


def test_recurrence_keeps_only_what_backward_needs():
    saved = []

    def pack(t):
        saved.append(t.numel())
        return t

    x = torch.randn(100, 4, 8, requires_grad=True)
    alpha, beta = _decays(10.0, 20.0, 8, dtype=torch.float32)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        leaky_integrate(x, alpha.detach(), beta.detach(), method="recurrence")
    assert sum(saved) <= 16  # the two decays only
    saved.clear()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        leaky_integrate(x, alpha, beta, method="recurrence")
    assert sum(saved) == 2 * x.numel() + 16  # syn and U for dL/dα, dL/dβ


# ---------------------------------------------------------------------------------------------- spikes


def test_sigmoid_bernoulli_seeded_rate_and_the_papers_gradient():
    u = torch.linspace(-3, 3, 13, dtype=torch.float64).repeat(4000, 1).requires_grad_()
    s1 = sigmoid_bernoulli(u, torch.Generator().manual_seed(3))
    s2 = sigmoid_bernoulli(u, torch.Generator().manual_seed(3))
    assert torch.equal(s1, s2) and set(s1.unique().tolist()) <= {0.0, 1.0}
    p = torch.sigmoid(u.detach())
    torch.testing.assert_close(s1.mean(0), p[0], atol=0.03, rtol=0)
    (grad,) = torch.autograd.grad(s1.sum(), u)
    torch.testing.assert_close(grad, p**2 * (1 - p))  # Eq. 19: dS/dU = p·σ'(U)
    # the fused function draws exactly as the two-step composition (and fire's "SB" mode)
    composed = bernoulli_straight_through(torch.sigmoid(u), torch.Generator().manual_seed(3))
    assert torch.equal(composed, s1) and torch.equal(fire(u, "SB", generator=torch.Generator().manual_seed(3)), s1)
    torch.testing.assert_close(torch.autograd.grad(composed.sum(), u)[0], grad)


def test_trb_fused_equals_the_composition_draws_and_gradient():
    u = torch.linspace(-3, 3, 13, dtype=torch.float64).repeat(500, 1).requires_grad_()
    w = torch.randn(u.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    fused = fire(u, "TRB", generator=torch.Generator().manual_seed(4))
    composed = bernoulli_straight_through(torch.relu(torch.tanh(u)), torch.Generator().manual_seed(4))
    assert torch.equal(fused, composed) and bool(fused[:, :7].eq(0).all())  # p = 0 for U <= 0
    g_fused = torch.autograd.grad((fused * w).sum(), u)[0]
    g_composed = torch.autograd.grad((composed * w).sum(), u)[0]
    torch.testing.assert_close(g_fused, g_composed, rtol=1e-12, atol=1e-15)  # tanh's backward rounds its own way
    p = torch.relu(torch.tanh(u.detach()))
    torch.testing.assert_close(g_fused, w * p * (1 - p**2))


def test_bernoulli_straight_through_multiplies_by_p():
    p = torch.tensor([0.0, 0.25, 1.0], requires_grad=True)
    s = bernoulli_straight_through(p, torch.Generator().manual_seed(0))
    assert s[0] == 0 and s[2] == 1
    (grad,) = torch.autograd.grad((s * torch.tensor([1.0, 2.0, 3.0])).sum(), p)
    torch.testing.assert_close(grad, torch.tensor([0.0, 0.5, 3.0]))


@pytest.mark.parametrize("compiled_draws", [True, False])
def test_gumbel_softmax_binary_seeded_rate_and_straight_through_gradient(monkeypatch, compiled_draws):
    if not compiled_draws:
        monkeypatch.setattr(parallel, "_compiled_draws", lambda t: False)
    u = torch.linspace(-2, 2, 9, dtype=torch.float64).repeat(4000, 1).requires_grad_()
    s = gumbel_softmax(u, torch.Generator().manual_seed(5))
    assert torch.equal(s, gumbel_softmax(u, torch.Generator().manual_seed(5)))
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    # P(softmax([U + g0, -U + g1])[0] > 0.5) = P(g1 - g0 < 2U) = σ(2U)
    torch.testing.assert_close(s.mean(0), torch.sigmoid(2 * u.detach()[0]), atol=0.03, rtol=0)
    # gradient: that of the soft value y = σ(2U + L) with the same noise
    # (on CPU the compiled Philox stream, elsewhere torch's generator)
    draw = compiled.uniform if compiled_draws else (lambda shape, dtype, gen: torch.rand(shape, dtype=dtype,
                                                                                          generator=gen))
    uni = draw(u.shape, u.dtype, torch.Generator().manual_seed(5))
    y = torch.sigmoid(2 * u.detach() + torch.log(uni) - torch.log1p(-uni))
    assert torch.equal(s, (y > 0.5).to(s.dtype))
    (grad,) = torch.autograd.grad(s.sum(), u)
    torch.testing.assert_close(grad, 2 * y * (1 - y))


def test_gumbel_softmax_no_nan_at_extremes():
    u = torch.tensor([-1e30, -80.0, 0.0, 80.0, 1e30], requires_grad=True)
    s = gumbel_softmax(u.expand(1000, 5), torch.Generator().manual_seed(0))
    (grad,) = torch.autograd.grad(s.sum(), u)
    assert torch.isfinite(grad).all() and torch.equal(s[:, 0], torch.zeros(1000)) and torch.equal(s[:, 4], torch.ones(1000))


NORMALISE = {"": lambda v: v, "S": torch.sigmoid, "T": torch.tanh, "TR": lambda v: torch.relu(torch.tanh(v))}


def _expected_deterministic(mode, u, theta, spike_fn):
    """Independent formulation of the delta and threshold modes (the authors' SpikingFunction)."""
    v = NORMALISE[mode[:-1]](u)
    if mode.endswith("D"):
        prev = torch.cat([torch.zeros_like(v[:1]), v[:-1]])
        v = v - prev
    return spike_fn(v - theta)


@pytest.mark.parametrize("mode", [m for m in SPIKE_MODES if m not in STOCHASTIC_MODES])
@pytest.mark.parametrize("spike_fn", [surrogate.FastSigmoid(100.0), surrogate.ATan(2.0)])
def test_deterministic_modes_forward_and_backward(mode, spike_fn):
    u = (torch.randn(40, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 2)
    theta = torch.tensor([0.05, 0.1, 0.5, 0.9], dtype=torch.float64, requires_grad=True)
    u1, u2 = u.clone().requires_grad_(), u.clone().requires_grad_()
    got = fire(u1, mode, theta, spike_fn)
    want = _expected_deterministic(mode, u2, theta, spike_fn)
    assert torch.equal(got, want) and got.sum() > 0
    w = torch.rand(u.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    g_got = torch.autograd.grad((got * w).sum(), (u1, theta))
    g_want = torch.autograd.grad((want * w).sum(), (u2, theta))
    for a, b in zip(g_got, g_want):
        torch.testing.assert_close(a, b)


def test_delta_mode_first_step_compares_with_zero_after_normalising():
    u = torch.zeros(3, 1, 1)
    # SD: σ(U_0) - 0 = 0.5 > θ = 0.1 fires at t = 0; then no change, no spike
    assert fire(u, "SD", 0.1, surrogate.FastSigmoid(100.0)).flatten().tolist() == [1.0, 0.0, 0.0]
    assert fire(u, "D", 0.1, surrogate.FastSigmoid(100.0)).flatten().tolist() == [0.0, 0.0, 0.0]
    assert set(DELTA_MODES) == {"D", "SD", "TD", "TRD"}


def test_threshold_mode_fires_strictly_above_theta():
    u = torch.tensor([0.5, 1.0, 1.5]).reshape(3, 1, 1)
    assert fire(u, "T", 1.0, surrogate.FastSigmoid(100.0)).flatten().tolist() == [0.0, 0.0, 1.0]


def test_trb_is_bernoulli_of_tanh_relu():
    u = torch.tensor([-2.0, 0.0, 0.5, 3.0], dtype=torch.float64).repeat(3000, 1).requires_grad_()
    s = fire(u, "TRB", generator=torch.Generator().manual_seed(1))
    p = torch.relu(torch.tanh(u.detach()))
    assert s[:, :2].sum() == 0
    torch.testing.assert_close(s.mean(0), p[0], atol=0.03, rtol=0)
    (grad,) = torch.autograd.grad(s.sum(), u)
    torch.testing.assert_close(grad, p * (1 - torch.tanh(u.detach()) ** 2) * (u.detach() > 0))


def _sequential_recurrent_paralif(x, alpha, beta, theta, spike_fn, weight, bias):
    """Plain loop of the authors' parallel recurrent ParaLIF semantics (threshold mode T)."""
    syn = mem = syn2 = mem2 = torch.zeros_like(x[0])
    spikes, mems = [], []
    for t in range(x.shape[0]):
        hidden = spike_fn(mem - theta)  # from U_ff one step earlier (U_ff_{-1} = 0)
        syn = alpha * syn + x[t]
        mem = beta * mem + (1 - beta) * syn
        syn2 = alpha * syn2 + x[t] + hidden @ weight.T + bias
        mem2 = beta * mem2 + (1 - beta) * syn2
        total = mem + mem2
        mems.append(total)
        spikes.append(spike_fn(total - theta))
    return torch.stack(spikes), torch.stack(mems)


@pytest.mark.parametrize("method", METHODS)
def test_recurrent_paralif_follows_the_authors_parallel_semantics(method):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(25, 2, 4, dtype=torch.float64, generator=gen) * 3
    weight = torch.randn(4, 4, dtype=torch.float64, generator=gen)
    bias = torch.randn(4, dtype=torch.float64, generator=gen) * 0.1
    alpha, beta = _decays(5.0, 8.0, 4)
    fn = surrogate.FastSigmoid(100.0)
    rec = lambda h: h @ weight.T + bias  # noqa: E731
    spikes, mem = paralif_multistep(x, alpha, beta, "T", 0.5, fn, recurrent=rec, method=method)
    want_s, want_m = _sequential_recurrent_paralif(x, alpha, beta, 0.5, fn, weight, bias)
    torch.testing.assert_close(mem, want_m, rtol=1e-10, atol=1e-10)
    assert torch.equal(spikes, want_s)
    # without recurrence: S = fire(I(X))
    s0, m0 = paralif_multistep(x, alpha, beta, "T", 0.5, fn, method=method)
    torch.testing.assert_close(m0, leaky_integrate_reference(x, alpha, beta))
    assert torch.equal(s0, fn(m0 - 0.5))


def test_recurrent_relu_hidden_state_and_shift():
    x = torch.arange(1.0, 5.0).reshape(4, 1, 1)
    assert shift_in_time(x).flatten().tolist() == [0.0, 1.0, 2.0, 3.0]
    seen = []
    paralif_multistep(x, 0.0, 0.5, "T", 1.0, surrogate.FastSigmoid(), recurrent=lambda h: seen.append(h) or h * 0,
                      recurrent_fire=False)
    u = leaky_integrate_reference(x, 0.0, 0.5)
    torch.testing.assert_close(seen[0], torch.relu(shift_in_time(u)))
