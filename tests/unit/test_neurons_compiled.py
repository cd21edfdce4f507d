"""snnkit.neurons.compiled: every compiled loop against the torch loop it replaces (the same public functions
with the compiled paths switched off): forward values bit for bit, gradients to round-off, over the LIF and
current-based LIF variants (reset, detach, reset order, gain, per-neuron and learnable parameters, initial
states), the two-stage leaky integration with learnable decays and the stochastic firings' backward passes."""

from __future__ import annotations

import itertools

import pytest
import torch

from snnkit.neurons import compiled
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


@pytest.mark.parametrize("mode", ["SB", "TRB", "GS"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stochastic_backward_compiled_equals_the_torch_expressions(monkeypatch, mode, dtype):
    u = _x((50, 4, 7), dtype, scale=2.0)
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
