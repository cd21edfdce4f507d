"""Unit tests for snnkit.neurons: surrogate spike functions, the functional LIF core and the LIF module."""

from __future__ import annotations

import copy
import itertools
import math
import pickle
from unittest import mock

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from snnkit.errors import ConfigError
from snnkit.neurons import LIF, LIFParameters, lif_multistep, lif_step, surrogate
from snnkit.neurons import functional as lif_functional
from snnkit.neurons.functional import lif_multistep_reference

# ---------------------------------------------------------------------------------------------- surrogate


def _atan_closed(u: torch.Tensor, alpha: float) -> torch.Tensor:
    return (alpha / 2) / (1 + (math.pi * alpha * u / 2) ** 2)


def _fast_sigmoid_closed(u: torch.Tensor, slope: float) -> torch.Tensor:
    return 1 / (1 + slope * u.abs()) ** 2


SURROGATES = [
    (surrogate.ATan, "alpha", 2.0, _atan_closed),
    (surrogate.ATan, "alpha", 0.7, _atan_closed),
    (surrogate.FastSigmoid, "slope", 25.0, _fast_sigmoid_closed),
    (surrogate.FastSigmoid, "slope", 3.0, _fast_sigmoid_closed),
]


@pytest.mark.parametrize("factory,key,value,closed", SURROGATES)
def test_surrogate_forward_is_strict_heaviside(factory, key, value, closed):
    fn = factory(**{key: value})
    u = torch.tensor([-2.0, -1e-7, 0.0, 1e-7, 3.0], dtype=torch.float64)
    out = fn(u)
    assert out.dtype == torch.float64
    # snnTorch 1.0.0 fires on u > 0: a membrane exactly at threshold does not spike
    assert out.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("factory,key,value,closed", SURROGATES)
def test_surrogate_gradient_matches_closed_form(factory, key, value, closed):
    fn = factory(**{key: value})
    u = torch.linspace(-3, 3, 61, dtype=torch.float64).requires_grad_()
    weights = torch.linspace(0.5, 2.0, 61, dtype=torch.float64)
    (grad,) = torch.autograd.grad((fn(u) * weights).sum(), u)
    expected = closed(u.detach(), value) * weights
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fn.grad(u.detach()), closed(u.detach(), value), rtol=1e-12, atol=1e-12)


def test_surrogate_peak_values():
    zero = torch.zeros(1, requires_grad=True)
    (g_atan,) = torch.autograd.grad(surrogate.ATan(2.0)(zero).sum(), zero)
    (g_fs,) = torch.autograd.grad(surrogate.FastSigmoid(25.0)(zero).sum(), zero)
    assert g_atan.item() == pytest.approx(1.0)  # α/2 at U = 0
    assert g_fs.item() == pytest.approx(1.0)


def test_surrogate_get_and_defaults():
    assert surrogate.get("atan") == surrogate.ATan(2.0)
    assert surrogate.get("fast_sigmoid", slope=10) == surrogate.FastSigmoid(10.0)
    # each surrogate has its own parameter and default: the fast sigmoid's slope is 25, not atan's 2
    assert surrogate.ATan().alpha == 2.0 and surrogate.FastSigmoid().slope == 25.0
    assert surrogate.get("fast_sigmoid") == surrogate.FastSigmoid(25.0)
    assert surrogate.ATan(2.0) != surrogate.FastSigmoid(2.0) and surrogate.ATan(2.0) != surrogate.ATan(3.0)
    assert repr(surrogate.ATan(3)) == "atan(alpha=3.0)"
    restored = pickle.loads(pickle.dumps(surrogate.FastSigmoid(7.0)))
    assert restored == surrogate.FastSigmoid(7.0) and restored.name == "fast_sigmoid" and restored.slope == 7.0
    assert hash(restored) == hash(surrogate.FastSigmoid(7.0))


def test_surrogate_from_params_uses_each_surrogates_own_parameter():
    params = {"surrogate": "fast_sigmoid", "atan_alpha": 2.0, "fast_sigmoid_slope": 25.0}
    assert surrogate.from_params(params) == surrogate.FastSigmoid(25.0)
    assert surrogate.from_params({**params, "surrogate": "atan", "atan_alpha": 3.0}) == surrogate.ATan(3.0)
    assert surrogate.from_params({"surrogate": "fast_sigmoid"}) == surrogate.FastSigmoid(25.0)
    with pytest.raises(ConfigError):
        surrogate.from_params({"surrogate": "relu"})


@pytest.mark.parametrize(
    "call",
    [
        lambda: surrogate.get("relu"),
        lambda: surrogate.get(3),
        lambda: surrogate.get("atan", slope=2.0),
        lambda: surrogate.get("fast_sigmoid", alpha=2.0),
        lambda: surrogate.ATan(0.0),
        lambda: surrogate.ATan(-1.0),
        lambda: surrogate.ATan(float("nan")),
        lambda: surrogate.ATan(float("inf")),
        lambda: surrogate.ATan("2"),
        lambda: surrogate.ATan(True),
        lambda: surrogate.FastSigmoid(0),
        lambda: surrogate.FastSigmoid(None),
    ],
)
def test_surrogate_bad_input_is_config_error(call):
    with pytest.raises(ConfigError):
        call()


# ---------------------------------------------------------------------------------------------- functional


def _manual_lif(xs, beta, thr, reset, mem0=0.0):
    """Scalar python re-implementation of the documented equations (float64 arithmetic)."""
    mem, spikes, mems = mem0, [], []
    for x in xs:
        r = 1.0 if mem - thr > 0 else 0.0
        mem = beta * mem + x - r * thr if reset == "subtract" else beta * ((1 - r) * mem) + x
        spikes.append(1.0 if mem - thr > 0 else 0.0)
        mems.append(mem)
    return spikes, mems


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("fn", [lif_multistep, lif_multistep_reference])
def test_multistep_matches_hand_computation(reset, fn):
    xs = [0.6, 0.7, 0.2, 1.5, 0.0, 0.3, 2.5, -0.4]
    x = torch.tensor(xs, dtype=torch.float64).reshape(-1, 1)
    spk, mem = fn(x, LIFParameters(0.5, 1.0, reset, True), surrogate.ATan())
    want_spk, want_mem = _manual_lif(xs, 0.5, 1.0, reset)
    assert spk.flatten().tolist() == want_spk
    torch.testing.assert_close(mem.flatten(), torch.tensor(want_mem, dtype=torch.float64))
    assert sum(want_spk) >= 2  # the example exercises the reset


def test_reset_semantics_differ_as_documented():
    # step 0: m = 1.5 -> spike; step 1: subtract gives 0.9*1.5 + 0.1 - 1 = 0.45, zero gives 0.1
    x = torch.tensor([[1.5], [0.1]], dtype=torch.float64)
    _, mem_sub = lif_multistep(x, LIFParameters(0.9, 1.0, "subtract"), surrogate.ATan())
    _, mem_zero = lif_multistep(x, LIFParameters(0.9, 1.0, "zero"), surrogate.ATan())
    assert mem_sub[1].item() == pytest.approx(0.45)
    assert mem_zero[1].item() == pytest.approx(0.1)


def test_lif_step_matches_multistep_and_default_mem():
    torch.manual_seed(1)
    x = torch.randn(7, 3, 5)
    params = LIFParameters(0.8, 0.7, "zero", True)
    spk_all, mem_all = lif_multistep(x, params, surrogate.FastSigmoid())
    mem = None
    for t in range(7):
        spk, mem = lif_step(x[t], mem, params, surrogate.FastSigmoid())
        assert torch.equal(spk, spk_all[t]) and torch.equal(mem, mem_all[t])


def test_mem0_is_used_and_gets_gradient():
    x = torch.zeros(3, 2, dtype=torch.float64)
    mem0 = torch.tensor([2.0, 0.5], dtype=torch.float64, requires_grad=True)
    params = LIFParameters(0.5, 1.0, "subtract", True)
    spk, mem = lif_multistep(x, params, surrogate.ATan(), mem0)
    # r_0 = H(2 - 1) = 1 -> m_0 = 1 - 1 = 0; second neuron decays 0.25, 0.125, ...
    torch.testing.assert_close(mem[:, 1], torch.tensor([0.25, 0.125, 0.0625], dtype=torch.float64))
    assert mem[0, 0].item() == 0.0
    (g_fused,) = torch.autograd.grad(mem.sum() + spk.sum(), mem0)
    spk_r, mem_r = lif_multistep_reference(x, params, surrogate.ATan(), mem0)
    (g_ref,) = torch.autograd.grad(mem_r.sum() + spk_r.sum(), mem0)
    torch.testing.assert_close(g_fused, g_ref)


def _grads(fn, x, mem0, beta, thr, reset, detach, spike_fn, seed=0):
    spk, mem = fn(x, LIFParameters(beta, thr, reset, detach), spike_fn, mem0)
    gen = torch.Generator().manual_seed(seed)
    w_s = torch.randn(spk.shape, generator=gen, dtype=spk.dtype)
    w_m = torch.randn(mem.shape, generator=gen, dtype=mem.dtype)
    loss = (spk * w_s).sum() + (mem * w_m).sum()
    inputs = [t for t in (x, mem0, beta, thr) if isinstance(t, torch.Tensor) and t.requires_grad]
    return (spk, mem), torch.autograd.grad(loss, inputs)


@given(
    steps=st.integers(1, 7),
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    beta=st.floats(0.0, 1.0),
    thr=st.floats(0.05, 2.0),
    reset=st.sampled_from(["subtract", "zero"]),
    detach=st.booleans(),
    sname=st.sampled_from(["atan", "fast_sigmoid"]),
    with_mem0=st.booleans(),
    seed=st.integers(0, 2**16),
    chunk=st.sampled_from([1, 5, 1 << 20]),
)
def test_fused_equals_reference_forward_and_backward(
    steps, shape, beta, thr, reset, detach, sname, with_mem0, seed, chunk
):
    """``chunk``: values per time chunk of the fused backward (1 and 5: several chunks, joined exactly)."""
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn((steps, *shape), generator=gen, dtype=torch.float64) + 0.4).requires_grad_()
    mem0 = torch.randn(shape, generator=gen, dtype=torch.float64).requires_grad_() if with_mem0 else None
    b = torch.tensor(beta, dtype=torch.float64, requires_grad=True)
    th = torch.tensor(thr, dtype=torch.float64, requires_grad=True)
    sf = surrogate.get(sname)
    with mock.patch.object(lif_functional, "_CHUNK_ELEMENTS", chunk):
        out_f, g_f = _grads(lif_multistep, x, mem0, b, th, reset, detach, sf, seed)
    out_r, g_r = _grads(lif_multistep_reference, x, mem0, b, th, reset, detach, sf, seed)
    assert torch.equal(out_f[0], out_r[0]) and torch.equal(out_f[1], out_r[1])
    assert set(out_f[0].unique().tolist()) <= {0.0, 1.0}
    for a, r in zip(g_f, g_r):
        torch.testing.assert_close(a, r, rtol=1e-9, atol=1e-9)


def test_fused_equals_reference_per_neuron_parameters_float32():
    torch.manual_seed(3)
    x = (torch.randn(20, 4, 6) + 0.3).requires_grad_()
    b = torch.rand(6).requires_grad_()
    th = (torch.rand(6) + 0.5).requires_grad_()
    for reset, detach, chunk in itertools.product(("subtract", "zero"), (True, False), (7, 1 << 20)):
        with mock.patch.object(lif_functional, "_CHUNK_ELEMENTS", chunk):  # 7: about a chunk per step
            out_f, g_f = _grads(lif_multistep, x, None, b, th, reset, detach, surrogate.ATan())
        out_r, g_r = _grads(lif_multistep_reference, x, None, b, th, reset, detach, surrogate.ATan())
        assert torch.equal(out_f[0], out_r[0]) and torch.equal(out_f[1], out_r[1])
        for a, r in zip(g_f, g_r):
            assert a.shape == r.shape
            torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5)


def test_fused_backward_keeps_only_the_membrane():
    """The fused LIF saves one [T, ...] tensor (the membrane, itself an output): the spikes are recomputed in
    backward, so they are not kept alive, and changing them in place after the forward is allowed."""
    x = (torch.randn(30, 4, 8) + 0.5).requires_grad_()
    big: list[int] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.numel() >= x.numel():
            big.append(t.data_ptr())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        spk, mem = lif_multistep(x, LIFParameters(0.9, 1.0, "subtract", True), surrogate.ATan())
    assert big == [mem.data_ptr()]
    want = torch.autograd.grad((spk * 2).sum(), x, retain_graph=True)[0]
    spk.mul_(2)  # the spikes are not saved: an in-place change cannot invalidate the backward
    (got,) = torch.autograd.grad(spk.sum(), x)
    torch.testing.assert_close(got, want)


def test_beta_is_clamped_like_snntorch():
    x = torch.rand(6, 3, dtype=torch.float64)
    b = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    out, (g_x, g_b) = _grads(
        lif_multistep, x.requires_grad_(), None, b, 1.0, "subtract", True, surrogate.ATan()
    )
    out_one, _ = _grads(
        lif_multistep,
        x,
        None,
        torch.tensor(1.0, dtype=torch.float64),
        1.0,
        "subtract",
        True,
        surrogate.ATan(),
    )
    assert torch.equal(out[1], out_one[1])
    assert g_b.item() == 0.0  # outside the clamp range no gradient reaches β


def test_python_float_and_tensor_parameters_agree():
    x = torch.randn(9, 2, 3)
    a = lif_multistep(x, LIFParameters(0.9, 1.0), surrogate.ATan())
    b = lif_multistep(x, LIFParameters(torch.tensor(0.9), torch.tensor(1.0)), surrogate.ATan())
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_custom_spike_callable_uses_reference_path():
    calls = []

    def spike(u):
        calls.append(1)
        return surrogate.ATan()(u)

    x = torch.randn(4, 2)
    spk, mem = lif_multistep(x, LIFParameters(), spike)
    assert len(calls) == 8  # reset + spike per step: the reference loop ran
    ref = lif_multistep(x, LIFParameters(), surrogate.ATan())
    assert torch.equal(spk, ref[0]) and torch.equal(mem, ref[1])


def test_zero_steps_and_no_grad():
    spk, mem = lif_multistep(torch.zeros(0, 3), LIFParameters(), surrogate.ATan())
    assert spk.shape == (0, 3) and mem.shape == (0, 3)
    with torch.no_grad():
        spk, _ = lif_multistep(torch.ones(5, 2) * 0.6, LIFParameters(), surrogate.ATan())
    assert spk.sum().item() > 0


# ---------------------------------------------------------------------------------------------- module


def test_lif_module_shapes_state_and_step():
    torch.manual_seed(0)
    lif = LIF(beta=0.8, threshold=0.6, reset="zero", surrogate="fast_sigmoid")
    x = torch.randn(11, 4, 3, 2)
    spk = lif(x)
    assert spk.shape == x.shape
    spk2, mem = lif.forward_with_state(x)
    assert torch.equal(spk, spk2) and mem.shape == x.shape
    assert torch.equal(lif(x), spk)  # no state kept between calls
    m = None
    for t in range(11):
        s_t, m = lif.step(x[t], m)
        assert torch.equal(s_t, spk[t]) and torch.equal(m, mem[t])


def test_lif_parameters_and_buffers():
    fixed = LIF()
    assert list(fixed.parameters()) == []
    assert set(fixed.state_dict()) == {"beta", "threshold"}
    learn = LIF(learn_beta=True, learn_threshold=True)
    names = {n for n, _ in learn.named_parameters()}
    assert names == {"beta", "threshold"}
    assert learn.beta.shape == () and learn.threshold.shape == ()
    x = (torch.randn(15, 8, 5) + 0.5).requires_grad_()
    learn(x).sum().backward()
    assert learn.beta.grad is not None and learn.threshold.grad is not None
    assert torch.isfinite(learn.beta.grad) and torch.isfinite(learn.threshold.grad)
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_forward_hook_sees_spikes():
    lif = LIF(learn_beta=True)
    seen = []
    handle = lif.register_forward_hook(lambda mod, inp, out: seen.append(out.detach().clone()))
    x = torch.randn(6, 2, 4) + 0.8
    out = lif(x)
    handle.remove()
    assert len(seen) == 1 and torch.equal(seen[0], out) and seen[0].shape == (6, 2, 4)
    assert set(seen[0].unique().tolist()) <= {0.0, 1.0}


def test_lif_repr_copy_dtype_and_state_dict():
    lif = LIF(
        beta=0.75, threshold=1.25, learn_threshold=True, surrogate=surrogate.ATan(alpha=3)
    )
    text = repr(lif)
    for part in (
        "beta=0.75",
        "threshold=1.25",
        "learn_threshold=True",
        "reset='subtract'",
        "atan(alpha=3.0)",
        "detach_reset=True",
    ):
        assert part in text
    clone = pickle.loads(pickle.dumps(lif))
    x = torch.randn(5, 2, 3)
    assert torch.equal(clone(x), lif(x))
    other = LIF(learn_threshold=True, surrogate=surrogate.ATan(alpha=3))
    other.load_state_dict(lif.state_dict())
    assert torch.equal(other(x), lif(x))
    double = copy.deepcopy(lif).to(torch.float64)
    assert double(x.double()).dtype == torch.float64


def test_lif_surrogate_object_name_or_callable():
    x = torch.randn(4, 3, 2)
    assert LIF(surrogate="fast_sigmoid").spike_fn == surrogate.FastSigmoid(25.0)
    assert LIF().spike_fn == surrogate.ATan(2.0)
    spike = surrogate.FastSigmoid(5.0)
    assert LIF(surrogate=spike).spike_fn is spike
    assert torch.equal(LIF(surrogate=lambda u: spike(u))(x), LIF(surrogate=spike)(x))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"beta": 1.5},
        {"beta": -0.01},
        {"beta": "high"},
        {"beta": True},
        {"beta": torch.tensor([0.5, 0.5])},
        {"threshold": 0.0},
        {"threshold": -2.0},
        {"threshold": float("nan")},
        {"reset": "none"},
        {"surrogate": "relu"},
        {"surrogate": 3},
        {"threshold": float("inf")},
        {"threshold": torch.tensor([1.0, 1.0])},
        {"surrogate": None},
        {"learn_beta": "yes"},
        {"detach_reset": None},
    ],
)
def test_lif_bad_config_is_config_error(kwargs):
    with pytest.raises(ConfigError):
        LIF(**kwargs)


def test_lif_rejects_non_time_first_input():
    with pytest.raises(ConfigError):
        LIF()(torch.zeros(5))


@pytest.mark.parametrize("use", ["spk", "mem", "both"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_fused_backward_with_expanded_upstream_gradients(use, reset):
    """``.sum()`` hands backward stride-0 (expanded) gradients; the in-place recurrence must not alias them."""
    gen = torch.Generator().manual_seed(4)
    x = (torch.randn(8, 3, 4, generator=gen, dtype=torch.float64) + 0.5).requires_grad_()
    b = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    th = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    grads = []
    for fn in (lif_multistep, lif_multistep_reference):
        spk, mem = fn(x, LIFParameters(b, th, reset, True), surrogate.ATan())
        loss = {"spk": spk.sum(), "mem": mem.sum(), "both": spk.sum() + mem.sum()}[use]
        grads.append(torch.autograd.grad(loss, [x, b, th], allow_unused=True))
    for a, r, wrt in zip(*grads, (x, b, th)):
        # autograd reports None where a parameter has no influence (θ on mem with a detached zero reset)
        a = torch.zeros_like(wrt) if a is None else a
        r = torch.zeros_like(wrt) if r is None else r
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-10)


def test_fused_path_refuses_double_backward():
    x = torch.randn(4, 3, requires_grad=True)
    spk, _ = lif_multistep(x, LIFParameters(), surrogate.ATan())
    (g,) = torch.autograd.grad(spk.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        g.sum().backward()
