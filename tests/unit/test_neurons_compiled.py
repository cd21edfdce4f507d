"""snnkit.neurons.compiled: every compiled loop against the torch loop it replaces (the same public functions
with the compiled paths switched off): forward values bit for bit, gradients to round-off, over the LIF and
current-based LIF variants (reset, detach, reset order, gain, per-neuron and learnable parameters, initial
states), the two-stage leaky integration with learnable decays and the stochastic firings' backward passes;
and the counter-based draws of the stochastic firings (Philox4x32-10 against Random123's known answers, the
uniform law, the firings as comparisons with that stream)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from snnkit.neurons import compiled, parallel
from snnkit.neurons.cuba import CubaLIFParameters, cuba_lif_multistep, cuba_lif_spikes
from snnkit.neurons.functional import LIFParameters, lif_multistep
from snnkit.neurons.parallel import fire, leaky_integrate
from snnkit.neurons.surrogate import ATan, FastSigmoid


def _both(monkeypatch, fn, inputs: list[torch.Tensor]):
    """``fn()`` with the compiled paths on, then off: (outputs, gradients of a random projection wrt inputs)."""
    results = []
    for on in (True, False):
        with monkeypatch.context() as m:
            if not on:
                m.setattr(compiled, "on_cpu", lambda *t: False)
            outs = fn()
            outs = outs if isinstance(outs, tuple) else (outs,)
            g = torch.Generator().manual_seed(0)
            loss = sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype)).sum() for o in outs)
            grads = torch.autograd.grad(loss, inputs, allow_unused=True)
            results.append(([o.detach() for o in outs], grads))
    return results


def _assert_same(results, rtol: float, atol: float, exact_forward: bool = True) -> None:
    (out_c, grad_c), (out_t, grad_t) = results
    for a, b in zip(out_c, out_t):
        assert a.dtype == b.dtype
        if exact_forward:
            assert torch.equal(a, b)
        else:
            torch.testing.assert_close(a, b, rtol=rtol, atol=atol)
    for a, b in zip(grad_c, grad_t):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


def _x(shape, dtype, seed=1, scale=0.6) -> torch.Tensor:
    return (torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype) * scale
            + 0.25).requires_grad_()


@pytest.mark.parametrize(("reset", "detach", "per_neuron", "mem0", "dtype"),
                         list(itertools.product(["subtract", "zero"], [True, False], [False, True], [False, True],
                                                [torch.float32, torch.float64])))
def test_lif_compiled_equals_the_torch_loop(monkeypatch, reset, detach, per_neuron, mem0, dtype):
    x = _x((40, 3, 5), dtype)
    beta = torch.full((5,) if per_neuron else (), 0.85, dtype=dtype).requires_grad_()
    thr = torch.full((5,) if per_neuron else (), 0.7, dtype=dtype).requires_grad_()
    m0 = _x((3, 5), dtype, seed=2) if mem0 else None
    params = LIFParameters(beta=beta, threshold=thr, reset=reset, detach_reset=detach)
    inputs = [x, beta, thr] + ([m0] if mem0 else [])
    results = _both(monkeypatch, lambda: lif_multistep(x, params, ATan(alpha=2.0), m0), inputs)
    assert results[0][0][0].sum() > 0  # some spikes
    _assert_same(results, *((1e-5, 1e-5) if dtype == torch.float32 else (1e-10, 1e-10)))


@pytest.mark.parametrize(("reset", "detach", "per_neuron", "mem0", "surrogate", "learn_thr"),
                         list(itertools.product(["subtract", "zero"], [True, False], [False, True], [False, True],
                                                [ATan(alpha=2.0), FastSigmoid(slope=5.0)], [False, True])))
def test_lif_compiled_backward_equals_the_torch_loop(monkeypatch, reset, detach, per_neuron, mem0, surrogate,
                                                     learn_thr):
    """The one-pass compiled LIF backward (per-neuron factors over one period, MIN_PERIOD 1) against the torch
    chunk loop, with the loss on the spikes and the membranes, β learnable, θ learnable or not."""
    monkeypatch.setattr(compiled, "MIN_PERIOD", 1)
    calls = []
    real = compiled.lif_backward
    monkeypatch.setattr(compiled, "lif_backward", lambda *a: calls.append(1) or real(*a))
    x = _x((40, 3, 5), torch.float64)
    beta = torch.linspace(0.7, 0.95, 5, dtype=torch.float64) if per_neuron else torch.tensor(0.85, dtype=x.dtype)
    beta.requires_grad_()
    thr = torch.full((5,) if per_neuron else (), 0.7, dtype=torch.float64).requires_grad_(learn_thr)
    m0 = _x((3, 5), torch.float64, seed=2) if mem0 else None
    params = LIFParameters(beta=beta, threshold=thr, reset=reset, detach_reset=detach)
    inputs = [x, beta] + ([thr] if learn_thr else []) + ([m0] if mem0 else [])
    results = _both(monkeypatch, lambda: lif_multistep(x, params, surrogate, m0), inputs)
    assert len(calls) == 1 and results[0][0][0].sum() > 0
    _assert_same(results, 1e-10, 1e-10)


@pytest.mark.parametrize(("form", "reset", "detach", "state", "learn"),
                         list(itertools.product([("one", "previous"), ("one_minus_beta", "current"),
                                                 ("one", "current"), ("one_minus_beta", "previous")],
                                                ["subtract", "zero"], [True, False], [True, False], [True, False])))
def test_cuba_compiled_equals_the_torch_loop(monkeypatch, form, reset, detach, state, learn):
    dtype = torch.float64
    x = _x((30, 2, 4), dtype, scale=1.5)
    alpha = torch.tensor([0.7, 0.8, 0.9, 0.6], dtype=dtype).requires_grad_(learn)
    beta = torch.tensor(0.8, dtype=dtype).requires_grad_(learn)
    thr = torch.tensor(0.9, dtype=dtype).requires_grad_(learn)
    s0, m0 = _x((2, 4), dtype, seed=3), _x((2, 4), dtype, seed=4)
    params = CubaLIFParameters(alpha, beta, thr, reset, detach, *form)
    run = cuba_lif_multistep if state else cuba_lif_spikes
    inputs = [x, s0, m0] + ([alpha, beta, thr] if learn else [])
    results = _both(monkeypatch, lambda: run(x, params, FastSigmoid(slope=5.0), s0, m0), inputs)
    assert results[0][0][0].sum() > 0
    _assert_same(results, 1e-10, 1e-10)


@pytest.mark.parametrize(("learn", "per_neuron", "dtype"),
                         list(itertools.product([False, True], [False, True], [torch.float32, torch.float64])))
def test_recurrence_compiled_equals_the_torch_loop(monkeypatch, learn, per_neuron, dtype):
    x = _x((60, 3, 6), dtype)
    shape = (6,) if per_neuron else ()
    alpha = torch.full(shape, 0.9, dtype=dtype).requires_grad_(learn)
    beta = torch.full(shape, 0.95, dtype=dtype).requires_grad_(learn)
    inputs = [x] + ([alpha, beta] if learn else [])
    results = _both(monkeypatch, lambda: leaky_integrate(x, alpha, beta, method="recurrence"), inputs)
    # torch's addcmul may fuse its multiply-add, the compiled loop rounds twice: equal to round-off
    tol = (1e-5, 1e-5) if dtype == torch.float32 else (1e-10, 1e-10)
    _assert_same(results, *tol, exact_forward=False)


@pytest.mark.parametrize(("step", "factor", "want"), [
    ((64, 128), (128,), 1), ((64, 128), (1, 128), 1), ((64, 128), (), 1), ((64, 128), (64, 128), 0),
    ((64, 128), (64, 1), 0), ((4, 8, 32), (8, 32), 1), ((4, 8, 32), (32,), 1), ((4, 8, 32), (), 1),
    ((4, 200), (200,), 1), ((4, 100), (100,), 0), ((4, 100), (), 0), ((3, 2, 100), (1, 100), 1)])
def test_factor_axes_finds_the_trailing_axes_the_factors_vary_over(step, factor, want):
    """Per-neuron factors of a [B, N] step repeat every N elements (d = 1) when N ≥ MIN_PERIOD (128), as do scalars;
    shorter periods span more trailing axes (d = 0: the whole step), as do factors that vary over a leading
    axis."""
    assert compiled.factor_axes(torch.Size(step), torch.ones(factor)) == want


@pytest.mark.parametrize(("factor_shape", "learn"), list(itertools.product([(6,), (1, 6), (), (3, 6)], [False, True])))
def test_factors_over_one_period_equal_the_torch_loop(monkeypatch, factor_shape, learn):
    """With MIN_PERIOD 1 the compiled scan and reverse pass take per-neuron factors over one period (element i of a
    step takes factor i % N, the decay gradients summed per neuron): the same as the torch loop, for the
    integration and for the chunked stochastic firing against the whole-tensor one."""
    from snnkit.neurons.parallel import paralif_multistep, paralif_spikes

    monkeypatch.setattr(compiled, "MIN_PERIOD", 1)
    monkeypatch.setattr(compiled, "_CHUNK_ELEMENTS", 40)
    x = _x((50, 3, 6), torch.float64)
    gen = torch.Generator().manual_seed(2)
    alpha = (0.8 + 0.15 * torch.rand(factor_shape, generator=gen, dtype=torch.float64)).requires_grad_(learn)
    beta = (0.8 + 0.15 * torch.rand(factor_shape, generator=gen, dtype=torch.float64)).requires_grad_(learn)
    inputs = [x] + ([alpha, beta] if learn else [])
    results = _both(monkeypatch, lambda: leaky_integrate(x, alpha, beta, method="recurrence"), inputs)
    _assert_same(results, 1e-10, 1e-10, exact_forward=False)
    w = torch.randn(x.shape, generator=gen, dtype=x.dtype)
    got = paralif_spikes(x, alpha, beta, "TRB", generator=torch.Generator().manual_seed(3), method="recurrence")
    want = paralif_multistep(x, alpha, beta, "TRB", generator=torch.Generator().manual_seed(3),
                             method="recurrence")[0]
    assert torch.equal(got, want)
    for a, b in zip(torch.autograd.grad((got * w).sum(), inputs), torch.autograd.grad((want * w).sum(), inputs)):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["SB", "TRB", "GS"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stochastic_backward_compiled_equals_the_torch_expressions(monkeypatch, mode, dtype):
    u = _x((50, 4, 7), dtype, scale=2.0)
    monkeypatch.setattr(parallel, "_compiled_draws", lambda t: False)  # the same draws on both sides
    results = _both(monkeypatch, lambda: fire(u, mode, generator=torch.Generator().manual_seed(9)), [u])
    _assert_same(results, 0.0, 0.0)  # the same operations in the same order: identical


def test_reverse_scan_per_step_and_constant_factors():
    g = torch.Generator().manual_seed(5)
    a = torch.randn(9, 3, 4, generator=g, dtype=torch.float64)
    k = torch.randn(9, 3, 4, generator=g, dtype=torch.float64)
    for per_step, shift in ((True, 1), (True, 0), (False, 1)):
        kk = k if per_step else k[0, 0]
        want = a.clone()
        for j in range(7, -1, -1):
            want[j] += (kk[j + shift] if per_step else kk) * want[j + 1]
        got = compiled.reverse_scan_(a.clone(), kk, per_step, shift)
        torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-13)


# ------------------------------------------------------------------------------------------ random draws

# Random123's known-answer vectors for Philox4x32-10 (counter, key, output), from its kat_vectors file
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize(("counter", "key", "want"), PHILOX_KAT)
def test_philox_matches_random123_known_answers(counter, key, want):
    got = compiled._philox_block(np.array(counter, dtype=np.uint64), np.array(key, dtype=np.uint64))
    assert [int(w) for w in got] == list(want)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_uniform_is_uniform_on_the_open_interval_and_follows_the_generator(dtype):
    v = compiled.uniform((200_000,), dtype, _gen(0))
    assert v.dtype == dtype and bool((v > 0).all()) and bool((v < 1).all())
    assert stats.kstest(v.double().numpy(), "uniform").pvalue > 1e-3
    # neighbours are uncorrelated (the lanes of one block and consecutive blocks)
    assert abs(float(np.corrcoef(v[:-1].double().numpy(), v[1:].double().numpy())[0, 1])) < 0.01
    assert torch.equal(v, compiled.uniform((200_000,), dtype, _gen(0)))
    assert not torch.equal(v, compiled.uniform((200_000,), dtype, _gen(1)))
    gen = _gen(0)
    first, second = compiled.uniform((64,), dtype, gen), compiled.uniform((64,), dtype, gen)
    assert not torch.equal(first, second)  # each call advances the generator
    grid = 2.0 ** -23  # float32: the top 23 bits plus a half; float64: 53 bits, off that grid
    on_grid = torch.equal(((v.double() / grid) - 0.5).frac(), torch.zeros_like(v, dtype=torch.float64))
    assert on_grid == (dtype == torch.float32)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 70), more=st.integers(0, 9), wide=st.booleans())
def test_uniform_element_i_depends_only_on_i(n, more, wide):
    dtype = torch.float64 if wide else torch.float32
    short = compiled.uniform((n,), dtype, _gen(3))
    long = compiled.uniform((n + more,), dtype, _gen(3))
    assert torch.equal(short, long[:n])  # counter-based: the tail of a block and the shape change nothing


def test_uniform_uses_torch_global_generator_when_none():
    torch.manual_seed(11)
    a = compiled.uniform((10,), torch.float32, None)
    torch.manual_seed(11)
    assert torch.equal(a, compiled.uniform((10,), torch.float32, None))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bernoulli_is_the_uniform_stream_compared_with_p(dtype):
    p = torch.rand(30, 50, generator=_gen(2), dtype=dtype)
    p[0], p[1] = 0.0, 1.0
    got = compiled.bernoulli(p, _gen(4))
    want = (compiled.uniform(p.shape, dtype, _gen(4)) < p).to(dtype)
    assert got.dtype == dtype and torch.equal(got, want)
    assert got[0].sum() == 0 and bool(got[1].eq(1).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_gumbel_softmax_is_the_sigmoid_of_logistic_noise_from_the_stream(dtype, temperature):
    u = torch.randn(40, 30, generator=_gen(6), dtype=dtype) * 3
    y, spikes = compiled.gumbel_softmax(u, _gen(8), temperature)
    v = compiled.uniform(u.shape, torch.float64, _gen(8)) if dtype == torch.float64 else \
        compiled.uniform(u.shape, torch.float32, _gen(8)).double()
    want = torch.sigmoid((torch.logit(v) + 2 * u.double()) / temperature)
    torch.testing.assert_close(y.double(), want, rtol=1e-5 if dtype == torch.float32 else 1e-12, atol=1e-6
                               if dtype == torch.float32 else 1e-13)
    assert y.dtype == spikes.dtype == dtype and torch.equal(spikes, (y > 0.5).to(dtype))


def test_gumbel_softmax_extremes_are_finite():
    u = torch.tensor([-1e30, -80.0, 0.0, 80.0, 1e30]).expand(2000, 5).contiguous()
    y, spikes = compiled.gumbel_softmax(u, _gen(0), 1.0)
    assert bool(torch.isfinite(y).all())
    assert spikes[:, 0].sum() == 0 and bool(spikes[:, 4].eq(1).all())
    assert 0.4 < float(spikes[:, 2].mean()) < 0.6


@pytest.mark.parametrize("mode", ["SB", "TRB", "GS"])
def test_firings_draw_from_the_compiled_stream_on_cpu(mode):
    u = torch.randn(20, 3, 8, generator=_gen(1)) * 2
    s = fire(u, mode, generator=_gen(5))
    if mode == "GS":
        want = compiled.gumbel_softmax(u, _gen(5), 1.0)[1]
    else:
        p = torch.sigmoid(u) if mode == "SB" else torch.relu(torch.tanh(u))
        want = compiled.bernoulli(p, _gen(5))
    assert torch.equal(s, want)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 41), wide=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_tanh_relu_bernoulli_is_the_stream_compared_with_relu_tanh(n, wide, seed):
    dtype = torch.float64 if wide else torch.float32
    u = torch.randn(n, generator=_gen(seed), dtype=dtype) * 2
    p, spikes = compiled.tanh_relu_bernoulli(u, _gen(seed + 1))
    want_p = torch.relu(torch.tanh(u))
    torch.testing.assert_close(p, want_p, rtol=0, atol=4 * torch.finfo(dtype).eps)
    assert bool((p >= 0).all()) and torch.equal(p == 0, u <= 0)
    # the draws are those of compiled.bernoulli at the same p (tail lanes included)
    assert torch.equal(spikes, compiled.bernoulli(p, _gen(seed + 1)))


@pytest.mark.parametrize(("mode", "dtype"), list(itertools.product(["SB", "TRB", "GS"], [torch.float32, torch.float64])))
def test_prescaled_scan_and_firing_equal_scaling_afterwards(mode, dtype):
    """PRESCALE folded into the scan's output scale gives PRESCALE·U bit for bit (a power of two), and
    fire_prescaled of it the p and spikes of the whole-tensor firings of U."""
    x = _x((40, 3, 7), dtype, scale=2.0)
    alpha, beta = torch.full((7,), 0.9, dtype=dtype), torch.linspace(0.6, 0.99, 7, dtype=dtype)
    mem, scaled = torch.empty_like(x), torch.empty_like(x)
    compiled.two_stage_scan(x, alpha, beta, mem, None, scale=1 - beta)
    compiled.two_stage_scan(x, alpha, beta, scaled, None, scale=(1 - beta) * compiled.PRESCALE[mode])
    assert torch.equal(scaled, mem * compiled.PRESCALE[mode])
    p, spikes = compiled.fire_prescaled(scaled, mode, _gen(4))
    assert p.data_ptr() == scaled.data_ptr()
    if mode == "SB":
        want_p, want_s = torch.sigmoid(mem), compiled.bernoulli(torch.sigmoid(mem), _gen(4))
    elif mode == "TRB":
        want_p, want_s = compiled.tanh_relu_bernoulli(mem, _gen(4))
    else:
        want_p, want_s = compiled.gumbel_softmax(mem, _gen(4), 1.0)
    assert torch.equal(p, want_p) and torch.equal(spikes, want_s)


@pytest.mark.parametrize(("mode", "learn", "dtype", "chunk"),
                         list(itertools.product(["SB", "TRB", "GS"], [False, True], [torch.float32, torch.float64],
                                                [1, 200, 1 << 16, -1])))
def test_spikes_in_chunks_equal_the_whole_tensor_path(monkeypatch, mode, learn, dtype, chunk):
    """paralif_spikes' chunked path with learnable decays (U and p one chunk of time at a time, recomputed in
    backward from X, the scan's saved states and the Philox key; without learnable decays, its p-over-U path)
    against paralif_multistep's whole-tensor one-function path:
    the same spikes and the same gradients wrt X and the decays (to round-off: torch's sigmoid may round a
    tensor's last few elements differently from the same values inside a longer one, so p can differ in its last
    place), for chunks of a Philox block's length in steps (``chunk`` 1: 4 steps float32, 2 float64), of 12 steps
    (200 elements) and one chunk, with 15 neurons (blocks straddle steps) and 61 steps (a short last chunk, a
    partial last block); and with 16 neurons, chunks of one step. The scan's state is saved every 3rd, every or
    every 8th chunk (segments with a short last one)."""
    from snnkit.neurons.parallel import paralif_multistep, paralif_spikes

    monkeypatch.setattr(compiled, "_CHUNK_ELEMENTS", abs(chunk))
    monkeypatch.setattr(compiled, "_SEGMENT_CHUNKS", {1: 3, 200: 1}.get(chunk, 8))  # states saved every 3rd / chunk
    n = 4 if chunk < 0 else 5
    x = _x((61, 3, n), dtype, scale=2.0)
    alpha = torch.full((n,), 0.9, dtype=dtype).requires_grad_(learn)
    beta = torch.linspace(0.8, 0.97, n, dtype=dtype).requires_grad_(learn)
    inputs = [x, alpha, beta] if learn else [x]
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
    got = paralif_spikes(x, alpha, beta, mode, generator=torch.Generator().manual_seed(3), method="recurrence")
    want = paralif_multistep(x, alpha, beta, mode, generator=torch.Generator().manual_seed(3), method="recurrence")[0]
    assert type(got.grad_fn).__name__.startswith("_IntegrateFireSpikes" if learn else "_IntegrateFireBackward")
    assert torch.equal(got, want) and 0 < float(got.detach().mean()) < 1
    for a, b in zip(torch.autograd.grad((got * w).sum(), inputs), torch.autograd.grad((want * w).sum(), inputs)):
        torch.testing.assert_close(a, b, rtol=1e-6 if dtype == torch.float32 else 1e-12, atol=1e-7)


@pytest.mark.parametrize(("mode", "learn", "dtype", "use"),
                         list(itertools.product(["SB", "TRB", "GS"], [False, True], [torch.float32, torch.float64],
                                                ["spikes", "both", "membrane", "spikes_only"])))
def test_integrate_and_fire_fused_equals_the_composition(monkeypatch, mode, learn, dtype, use):
    """paralif_multistep's one-function path (integration and stochastic firing, dL/dS turned into dL/dU inside
    the reverse pass) against leaky_integrate then fire: the same spikes and potentials, the same gradients wrt
    X and the decays, whether the loss uses the spikes, the potentials or both; and paralif_spikes (p written
    over the potentials) the same spikes and gradients."""
    from snnkit.neurons.parallel import paralif_multistep, paralif_spikes

    x = _x((60, 3, 5), dtype, scale=2.0)
    alpha = torch.full((5,), 0.9, dtype=dtype).requires_grad_(learn)
    beta = torch.linspace(0.8, 0.97, 5, dtype=dtype).requires_grad_(learn)
    inputs = [x, alpha, beta] if learn else [x]
    results = []
    for fused in (True, False):
        with monkeypatch.context() as m:
            if not fused:
                m.setattr(parallel, "_fused_integrate_fire", lambda *a: False)
            spikes, mem = paralif_multistep(x, alpha, beta, mode, generator=torch.Generator().manual_seed(3),
                                            method="recurrence")
            if use == "spikes_only":
                alone = paralif_spikes(x, alpha, beta, mode, generator=torch.Generator().manual_seed(3),
                                       method="recurrence")
                assert torch.equal(alone, spikes)
                spikes, use_ = alone, "spikes"
            else:
                use_ = use
            assert ("IntegrateFire" in type(spikes.grad_fn).__name__) == fused
            g = torch.Generator().manual_seed(0)
            w_s = torch.randn(spikes.shape, generator=g, dtype=dtype)
            w_m = torch.randn(mem.shape, generator=g, dtype=dtype)
            loss = {"spikes": (spikes * w_s).sum(), "membrane": (mem * w_m).sum(),
                    "both": (spikes * w_s).sum() + (mem * w_m).sum()}[use_]
            grads = torch.autograd.grad(loss, inputs)
            results.append(([spikes.detach(), mem.detach()], grads))
    (out_f, grad_f), (out_c, grad_c) = results
    assert torch.equal(out_f[0], out_c[0]) and torch.equal(out_f[1], out_c[1])
    assert 0 < float(out_f[0].mean()) < 1
    for a, b in zip(grad_f, grad_c):
        torch.testing.assert_close(a, b, rtol=1e-6 if dtype == torch.float32 else 1e-12, atol=1e-7)
