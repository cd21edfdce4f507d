"""Unit tests for snnkit.neurons.cuba: the current-based LIF's two reset orders, the fused kernel against
the plain loop (forward and backward), and the CubaLIF module."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from snnkit.errors import ConfigError
from snnkit.neurons import cuba, surrogate
from snnkit.neurons.cuba import (
    CubaLIF,
    CubaLIFParameters,
    cuba_lif_multistep,
    cuba_lif_multistep_reference,
    cuba_lif_spikes,
    cuba_lif_step,
)

FORMS = {"snntorch": ("one", "previous"), "spsn": ("one_minus_beta", "current")}


def _params(form="snntorch", reset="subtract", alpha=0.5, beta=0.5, threshold=1.0, detach=True):
    gain, reset_from = FORMS[form]
    return CubaLIFParameters(alpha, beta, threshold, reset, detach, gain, reset_from)


def _scalar_neuron(xs, alpha, beta, thr, form, reset):
    """One neuron in python floats, written from the equations (not from the code under test)."""
    syn = mem = 0.0
    last_spike = 0
    spikes, syns, mems = [], [], []
    for x in xs:
        syn = alpha * syn + x
        gain = 1.0 if form == "snntorch" else 1.0 - beta
        pre = beta * mem + gain * syn
        if form == "snntorch":  # reset from the previous membrane, after leak and input
            if last_spike:
                pre = 0.0 if reset == "zero" else pre - thr
            mem = pre
            spike = int(mem > thr)
        else:  # spike from the pre-reset membrane, reset at once
            spike = int(pre > thr)
            mem = (0.0 if reset == "zero" else pre - thr) if spike else pre
        last_spike = spike
        spikes.append(spike)
        syns.append(syn)
        mems.append(mem)
    return spikes, syns, mems


# ---------------------------------------------------------------------------------------------- semantics


@pytest.mark.parametrize("form", ["snntorch", "spsn"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("fn", [cuba_lif_multistep, cuba_lif_multistep_reference])
def test_multistep_matches_hand_computation(form, reset, fn):
    xs = [0.9, 0.8, 0.1, 1.6, 0.0, -0.3, 2.5, 0.4, 0.4, -1.0, 3.0, 0.2]
    alpha, beta, thr = 0.6, 0.7, (1.0 if form == "snntorch" else 0.45)
    x = torch.tensor(xs, dtype=torch.float64).reshape(-1, 1)
    spk, syn, mem = fn(x, _params(form, reset, alpha, beta, thr), surrogate.FastSigmoid(100.0))
    want_spk, want_syn, want_mem = _scalar_neuron(xs, alpha, beta, thr, form, reset)
    assert spk.flatten().tolist() == want_spk
    torch.testing.assert_close(syn.flatten(), torch.tensor(want_syn, dtype=torch.float64))
    torch.testing.assert_close(mem.flatten(), torch.tensor(want_mem, dtype=torch.float64))
    assert sum(want_spk) >= 3  # the example exercises the reset


def test_spsn_form_equals_the_authors_loop_in_float32():
    """The SPSN authors' LIF loop (Yarga & Wood, arXiv 2306.12666, Eqs. 3, 5, 6, in their operation order:
    syn = α·syn + X; U = β·U + (1 - β)·syn; S = H(U - θ); U = U·(1 - S)), with decays whose 1 - β is exact in
    float32 so that both sides round alike; identical spikes and membranes."""
    torch.manual_seed(2)
    x = torch.randn(200, 6, 20) * 2 + 1.0
    alpha, beta = 0.5, 0.875
    syn, mem = torch.zeros(6, 20), torch.zeros(6, 20)
    spikes, mems = [], []
    for t in range(200):
        syn = alpha * syn + x[t]
        mem = beta * mem + (1 - beta) * syn
        spk = (mem - 1.0 > 0).float()
        mem = mem * (1 - spk)
        spikes.append(spk)
        mems.append(mem)
    mod = CubaLIF(alpha, beta, 1.0, form="spsn", reset="zero")
    spk, _, mem = mod.forward_with_state(x)
    assert torch.equal(spk, torch.stack(spikes)) and torch.equal(mem, torch.stack(mems))
    assert 0.02 < spk.mean().item() < 0.5


def test_reset_orders_differ_as_documented():
    # step 0: syn = 2, snnTorch form: mem = 2 > 1 -> spike, mem stays 2 (reset comes next step);
    # SPSN form (gain 1 - β = 0.5): V = 1 > 0.9 -> spike, mem reset at once (zero: 0, subtract: 0.1)
    x = torch.tensor([[2.0], [0.0]], dtype=torch.float64)
    sf = surrogate.ATan()
    spk, _, mem = cuba_lif_multistep(x, _params("snntorch", "zero", 0.0, 0.5, 1.0), sf)
    assert spk[:, 0].tolist() == [1.0, 0.0] and mem[:, 0].tolist() == [2.0, 0.0]
    spk, _, mem = cuba_lif_multistep(x, _params("snntorch", "subtract", 0.0, 0.5, 1.0), sf)
    assert spk[:, 0].tolist() == [1.0, 0.0] and mem[:, 0].tolist() == [2.0, 0.0]  # 0.5·2 - 1
    spk, _, mem = cuba_lif_multistep(x, _params("spsn", "zero", 0.0, 0.5, 0.9), sf)
    assert spk[:, 0].tolist() == [1.0, 0.0] and mem[:, 0].tolist() == [0.0, 0.0]
    spk, _, mem = cuba_lif_multistep(x, _params("spsn", "subtract", 0.0, 0.5, 0.9), sf)
    assert spk[0, 0].item() == 1.0 and mem[:, 0].tolist() == pytest.approx([0.1, 0.05])


def test_snntorch_zero_reset_drops_the_input_of_the_reset_step():
    """snnTorch's Synaptic zeroes b·U + syn (input included), unlike Leaky's b·(1 - r)·U + x."""
    x = torch.tensor([[1.5], [0.7]], dtype=torch.float64)
    _, _, mem = cuba_lif_multistep(x, _params("snntorch", "zero", 0.0, 0.9, 1.0), surrogate.ATan())
    assert mem[:, 0].tolist() == [1.5, 0.0]


def test_step_matches_multistep_with_initial_states():
    torch.manual_seed(1)
    x = torch.randn(9, 3, 5)
    syn0, mem0 = torch.randn(3, 5), torch.randn(3, 5) + 0.5
    for form in FORMS:
        for reset in ("subtract", "zero"):
            params = _params(form, reset, 0.8, 0.7, 0.6)
            spk_all, syn_all, mem_all = cuba_lif_multistep(x, params, surrogate.FastSigmoid(), syn0, mem0)
            syn, mem = syn0, mem0
            for t in range(9):
                spk, syn, mem = cuba_lif_step(x[t], syn, mem, params, surrogate.FastSigmoid())
                assert torch.equal(spk, spk_all[t]) and torch.equal(syn, syn_all[t]) and torch.equal(mem, mem_all[t])


def test_default_states_are_zeros():
    x = torch.randn(5, 2, 3)
    z = torch.zeros(2, 3)
    for form in FORMS:
        a = cuba_lif_multistep(x, _params(form), surrogate.ATan())
        b = cuba_lif_multistep(x, _params(form), surrogate.ATan(), z, z)
        assert all(torch.equal(u, v) for u, v in zip(a, b))


# ---------------------------------------------------------------------------------------------- fused path


def _spikes_only(x, params, spike_fn, syn0, mem0):
    return cuba_lif_spikes(x, params, spike_fn, syn0, mem0), None, None


def _run(fn, x, syn0, mem0, a, b, thr, params, spike_fn, seed, use=(True, True, True)):
    spk, syn, mem = fn(x, params._replace(alpha=a, beta=b, threshold=thr), spike_fn, syn0, mem0)
    if fn is _spikes_only:
        syn, mem = spk, spk  # placeholders, unused below
        use = (True, False, False)
    gen = torch.Generator().manual_seed(seed)
    loss = sum(
        (out * torch.randn(out.shape, generator=gen, dtype=out.dtype)).sum()
        for out, on in zip((spk, syn, mem), use)
        if on
    )
    inputs = [t for t in (x, syn0, mem0, a, b, thr) if isinstance(t, torch.Tensor) and t.requires_grad]
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    return (spk, syn, mem), [torch.zeros_like(i) if g is None else g for g, i in zip(grads, inputs)]


@given(
    steps=st.integers(1, 8),
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    alpha=st.floats(0.0, 1.0),
    beta=st.floats(0.0, 1.0),
    thr=st.floats(0.05, 2.0),
    form=st.sampled_from(list(FORMS)),
    reset=st.sampled_from(["subtract", "zero"]),
    detach=st.booleans(),
    sname=st.sampled_from(["atan", "fast_sigmoid"]),
    with_state=st.booleans(),
    per_neuron=st.booleans(),
    use=st.sampled_from([(True, True, True), (True, False, False), (False, False, True), (False, True, False)]),
    spikes_only=st.booleans(),
    block=st.sampled_from([1, 7, 1 << 16]),
    seed=st.integers(0, 2**16),
)
def test_fused_equals_reference_forward_and_backward(
    steps, shape, alpha, beta, thr, form, reset, detach, sname, with_state, per_neuron, use, spikes_only, block, seed
):
    """Also through :func:`cuba_lif_spikes` (saves less) and with backward blocks of 1 element (one step per
    block), 7 elements (blocks of one or more steps, several per run) and the default size."""
    gen = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    x = (torch.randn((steps, *shape), generator=gen, dtype=f64) + 0.4).requires_grad_()
    syn0 = torch.randn(shape, generator=gen, dtype=f64).requires_grad_() if with_state else None
    mem0 = (torch.randn(shape, generator=gen, dtype=f64) + 0.5).requires_grad_() if with_state else None
    pshape = (shape[-1],) if per_neuron else ()
    jitter = torch.rand(pshape, generator=gen, dtype=f64) * 0.2 if per_neuron else 0.0
    a = (alpha * (1 - jitter)).requires_grad_() if per_neuron else torch.tensor(alpha, dtype=f64, requires_grad=True)
    b = (beta * (1 - jitter)).requires_grad_() if per_neuron else torch.tensor(beta, dtype=f64, requires_grad=True)
    th = (thr + jitter).requires_grad_() if per_neuron else torch.tensor(thr, dtype=f64, requires_grad=True)
    params = _params(form, reset, detach=detach)
    sf = surrogate.ATan() if sname == "atan" else surrogate.FastSigmoid(100.0)
    if spikes_only:
        use = (True, False, False)
    saved_block = cuba._CHUNK_ELEMENTS
    cuba._CHUNK_ELEMENTS = block
    try:
        fused = _spikes_only if spikes_only else cuba_lif_multistep
        out_f, g_f = _run(fused, x, syn0, mem0, a, b, th, params, sf, seed, use)
    finally:
        cuba._CHUNK_ELEMENTS = saved_block
    out_r, g_r = _run(cuba_lif_multistep_reference, x, syn0, mem0, a, b, th, params, sf, seed, use)
    for o_f, o_r in zip(out_f[: 1 if spikes_only else 3], out_r):
        assert torch.equal(o_f, o_r)
    assert set(out_f[0].unique().tolist()) <= {0.0, 1.0}
    for g, r in zip(g_f, g_r):
        assert g.shape == r.shape
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("form", list(FORMS))
def test_fused_equals_reference_per_neuron_learnable_float32(form):
    torch.manual_seed(3)
    x = (torch.randn(40, 4, 6) * 0.8 + 0.5).requires_grad_()
    a = torch.rand(6).requires_grad_()
    b = torch.rand(6).requires_grad_()
    th = (torch.rand(6) * 0.5 + 0.3).requires_grad_()
    for reset in ("subtract", "zero"):
        for detach in (True, False):
            params = _params(form, reset, detach=detach)
            sf = surrogate.FastSigmoid(100.0)
            out_f, g_f = _run(cuba_lif_multistep, x, None, None, a, b, th, params, sf, 0)
            out_r, g_r = _run(cuba_lif_multistep_reference, x, None, None, a, b, th, params, sf, 0)
            assert 0.05 < out_f[0].mean().item() < 0.95
            for o_f, o_r in zip(out_f, out_r):
                assert torch.equal(o_f, o_r)
            for g, r in zip(g_f, g_r):
                torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("detach", [True, False])
def test_fused_equals_reference_over_long_runs_float32(form, reset, detach):
    """T = 400 in float32 with per-neuron learnable decays near 1 (τ = 20 steps): the same spikes and states,
    gradients within 2e-6 of the largest (measured <= 1e-6 at T = 1000)."""
    torch.manual_seed(0)
    x = torch.randn(400, 4, 16) * 0.5 + 0.1
    outs = []
    for fn in (cuba_lif_multistep, cuba_lif_multistep_reference):
        wrt = [x.clone().requires_grad_()] + [torch.full((16,), v, requires_grad=True) for v in (0.95, 0.95, 0.5)]
        params = _params(form, reset, *wrt[1:], detach=detach)
        out = fn(wrt[0], params, surrogate.FastSigmoid(100.0) if form == "spsn" else surrogate.ATan())
        gen = torch.Generator().manual_seed(1)
        loss = sum((o * torch.randn(o.shape, generator=gen)).sum() for o in out)
        outs.append((out, torch.autograd.grad(loss, wrt)))
    (out_f, g_f), (out_r, g_r) = outs
    assert all(torch.equal(u, v) for u, v in zip(out_f, out_r))
    assert 0.05 < out_f[0].mean().item() < 0.95
    for g, r in zip(g_f, g_r):
        assert (g - r).abs().max() <= 2e-6 * r.abs().max()


def test_decays_are_clamped_to_the_unit_interval():
    x = torch.rand(6, 3, dtype=torch.float64)
    for form in FORMS:
        a = torch.tensor(1.4, dtype=torch.float64, requires_grad=True)
        b = torch.tensor(-0.2, dtype=torch.float64, requires_grad=True)
        out = cuba_lif_multistep(x, _params(form)._replace(alpha=a, beta=b), surrogate.ATan())
        want = cuba_lif_multistep(x, _params(form, alpha=1.0, beta=0.0), surrogate.ATan())
        assert all(torch.equal(u, v) for u, v in zip(out, want))
        ga, gb = torch.autograd.grad(out[2].sum() + out[1].sum(), [a, b])
        assert ga.item() == 0.0 and gb.item() == 0.0  # outside [0, 1] the clamp passes no gradient


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("pick", [0, 1, 2])
def test_fused_backward_with_expanded_upstream_gradients(form, reset, pick):
    """``.sum()`` hands backward stride-0 gradients; the in-place recurrences must not write into them."""
    x = (torch.randn(8, 3, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64) + 0.5)
    wrt = [x.requires_grad_()] + [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.7, 0.4)]
    params = _params(form, reset)._replace(beta=wrt[1], threshold=wrt[2])
    ours, ref = (
        torch.autograd.grad(fn(x, params, surrogate.ATan())[pick].sum(), wrt, allow_unused=True)
        for fn in (cuba_lif_multistep, cuba_lif_multistep_reference)
    )
    for g, r, w in zip(ours, ref, wrt):  # autograd says None where a value has no influence (θ on syn)
        torch.testing.assert_close(torch.zeros_like(w) if g is None else g, torch.zeros_like(w) if r is None else r,
                                   rtol=1e-10, atol=1e-10)


def test_custom_spike_callable_zero_steps_and_no_grad():
    x = torch.randn(6, 2, 3) + 0.5
    custom = cuba_lif_multistep(x, _params(), lambda u: surrogate.ATan()(u))
    fused = cuba_lif_multistep(x, _params(), surrogate.ATan())
    assert all(torch.equal(u, v) for u, v in zip(custom, fused))
    empty = cuba_lif_multistep(torch.zeros(0, 3), _params(), surrogate.ATan())
    assert all(t.shape == (0, 3) for t in empty)
    with torch.no_grad():
        spk, _, _ = cuba_lif_multistep(torch.ones(5, 2) * 0.9, _params("spsn", threshold=0.3), surrogate.ATan())
    assert spk.sum().item() > 0


def test_fused_path_refuses_double_backward():
    x = torch.randn(4, 3, requires_grad=True)
    spk, _, _ = cuba_lif_multistep(x + 1, _params(), surrogate.ATan())
    (g,) = torch.autograd.grad(spk.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        g.sum().backward()


# ---------------------------------------------------------------------------------------------- module


def test_from_taus_and_what_an_exporter_reads():
    mod = CubaLIF.from_taus(20.0, 10.0, dt=1.0, form="spsn")
    assert mod.alpha.item() == pytest.approx(math.exp(-1 / 20))
    assert mod.beta.item() == pytest.approx(math.exp(-1 / 10))
    tau_syn, tau_mem = mod.time_constants(dt=1.0)
    assert tau_syn.item() == pytest.approx(20.0) and tau_mem.item() == pytest.approx(10.0)
    assert mod.gain.item() == pytest.approx(1 - math.exp(-1 / 10))
    assert (mod.input_gain, mod.reset_from, mod.reset, mod.threshold.item()) == (
        "one_minus_beta", "current", "subtract", 1.0)
    assert mod.spike_fn == surrogate.FastSigmoid(100.0)  # the authors' surrogate
    plain = CubaLIF(0.5, 0.25)
    assert (plain.form, plain.input_gain, plain.reset_from, plain.gain.item()) == ("snntorch", "one", "previous", 1.0)
    assert plain.spike_fn == surrogate.ATan(2.0)  # snnTorch's default
    assert plain.spike_fn is not CubaLIF().spike_fn  # a module's own object
    per = CubaLIF.from_taus([5.0, 10.0, math.inf], 20.0)
    assert per.alpha.shape == (3,) and per.alpha[2].item() == 1.0 and per.n_neurons == 3


def test_module_shapes_state_step_and_hook():
    torch.manual_seed(0)
    for form in FORMS:
        mod = CubaLIF(0.7, 0.8, 0.3, form=form, reset="zero", surrogate="fast_sigmoid")
        x = torch.randn(11, 4, 3, 2)
        seen: list[torch.Tensor] = []
        handle = mod.register_forward_hook(lambda m, inp, out, seen=seen: seen.append(out))
        spk = mod(x)
        handle.remove()
        assert spk.shape == x.shape and torch.equal(seen[0], spk)
        assert 0 < spk.mean().item() < 1
        spk2, syn, mem = mod.forward_with_state(x)
        assert torch.equal(spk, spk2) and syn.shape == mem.shape == x.shape
        assert torch.equal(mod(x), spk)  # no state kept between calls
        s, m = None, None
        for t in range(11):
            s_t, s, m = mod.step(x[t], s, m)
            assert torch.equal(s_t, spk[t]) and torch.equal(s, syn[t]) and torch.equal(m, mem[t])


def test_module_learnable_parameters_per_neuron_and_state_dict():
    fixed = CubaLIF()
    assert list(fixed.parameters()) == [] and set(fixed.state_dict()) == {"alpha", "beta", "threshold"}
    learn = CubaLIF([0.9, 0.8, 0.7], 0.9, [1.0, 0.5, 0.7], form="spsn", learn_alpha=True, learn_beta=True,
                    learn_threshold=True)
    assert {n for n, _ in learn.named_parameters()} == {"alpha", "beta", "threshold"}
    assert learn.alpha.shape == (3,) and learn.beta.shape == ()
    x = (torch.rand(30, 8, 3) * 3).requires_grad_()
    learn(x).sum().backward()
    for p in (learn.alpha, learn.beta, learn.threshold):
        assert p.grad is not None and p.grad.shape == p.shape and torch.isfinite(p.grad).all()
    assert x.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="last dimension of 3"):
        learn(torch.zeros(4, 2, 5))
    clone = pickle.loads(pickle.dumps(learn))
    assert torch.equal(clone(x), learn(x))
    other = CubaLIF([0.1, 0.1, 0.1], 0.1, [2.0, 2.0, 2.0], form="spsn", learn_alpha=True, learn_beta=True,
                    learn_threshold=True)
    other.load_state_dict(learn.state_dict())
    assert torch.equal(other(x), learn(x))
    text = repr(learn)
    for part in ("alpha=[3 per neuron]", "beta=0.9", "form='spsn'", "reset_from='current'", "fast_sigmoid"):
        assert part in text


def test_module_form_overrides():
    mod = CubaLIF(form="spsn", input_gain="one", reset_from="previous", surrogate=surrogate.ATan(3.0))
    assert (mod.input_gain, mod.reset_from, mod.spike_fn) == ("one", "previous", surrogate.ATan(3.0))
    x = torch.randn(7, 2, 4) + 0.5
    ref = CubaLIF(form="snntorch", surrogate=surrogate.ATan(3.0))
    assert torch.equal(mod(x), ref(x))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alpha": 1.5},
        {"beta": -0.1},
        {"alpha": "slow"},
        {"beta": True},
        {"alpha": []},
        {"alpha": [0.5, 2.0]},
        {"threshold": 0.0},
        {"threshold": float("nan")},
        {"threshold": float("inf")},
        {"alpha": [0.5, 0.5], "beta": [0.5, 0.5, 0.5]},
        {"form": "norse"},
        {"reset": "none"},
        {"input_gain": "half"},
        {"reset_from": "next"},
        {"detach_reset": 1},
        {"learn_alpha": "yes"},
        {"surrogate": "relu"},
        {"surrogate": 3},
    ],
)
def test_bad_config_is_config_error(kwargs):
    with pytest.raises(ConfigError):
        CubaLIF(**kwargs)


@pytest.mark.parametrize("kwargs", [{"tau_syn": 0.0, "tau_mem": 20.0}, {"tau_syn": 5.0, "tau_mem": -1.0},
                                    {"tau_syn": 5.0, "tau_mem": 20.0, "dt": 0}])
def test_bad_time_constants_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        CubaLIF.from_taus(**kwargs)


def test_rejects_non_time_first_input():
    with pytest.raises(ConfigError):
        CubaLIF()(torch.zeros(5))



@pytest.mark.parametrize("form", list(FORMS))
def test_fused_backward_does_not_keep_the_spikes(form):
    """Backward recomputes the spikes from the membranes it saves anyway: the spike output is not among the
    saved tensors, and changing it in place after the forward leaves the gradient intact."""
    x = (torch.randn(25, 3, 6) + 0.6).requires_grad_()
    saved: list[int] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t.data_ptr())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        spk = cuba_lif_spikes(x, _params(form), surrogate.FastSigmoid(100.0))
    assert spk.data_ptr() not in saved
    want = torch.autograd.grad((spk * 3).sum(), x, retain_graph=True)[0]
    spk.mul_(3)
    (got,) = torch.autograd.grad(spk.sum(), x)
    torch.testing.assert_close(got, want)
    assert bool(want.abs().sum() > 0)


def test_fused_backward_with_no_neurons_keeps_the_dtype():
    """A layer of zero neurons in float64 ("previous" order, learnable α): the backward works in the forward's
    dtype, not the float32 of an unsaved buffer's placeholder."""
    x = torch.zeros(5, 0, dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    params = CubaLIFParameters(alpha, 0.7, 1.0, "subtract", True, "one", "previous")
    gx, ga = torch.autograd.grad(cuba_lif_spikes(x, params, surrogate.FastSigmoid(10.0)).sum(), (x, alpha))
    assert gx.dtype == torch.float64 and gx.shape == (5, 0) and float(ga) == 0.0
