"""IF / LIF with hard or soft reset (snnkit.neurons.hard_reset): hand-computed values, the fused kernel against
the plain reference loop (forward and backward, hypothesis), bf16 autocast, module checks."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snnkit.errors import ConfigError
from snnkit.neurons import surrogate
from snnkit.neurons.hard_reset import (
    IFNode,
    LIFNode,
    if_multistep,
    if_multistep_reference,
    lif_hr_multistep,
    lif_hr_multistep_reference,
)

torch.set_num_threads(1)
ATAN = surrogate.ATan(alpha=2.0)


def _run(fused, kind, x, v0, tau, thr, v_reset, spike_fn, detach):
    if kind == "if":
        fn = if_multistep if fused else if_multistep_reference
        return fn(x, v0, thr, v_reset, spike_fn, detach)
    fn = lif_hr_multistep if fused else lif_hr_multistep_reference
    return fn(x, v0, tau, thr, v_reset, spike_fn, kind == "lif", detach)


def _col(*values):
    return torch.tensor(values, dtype=torch.float64)[:, None]


def test_if_hand_computed_fires_at_threshold_and_resets():
    x = _col(0.5, 0.5, 1.0, 0.25, 0.7)
    spk, v = if_multistep(x, None, 1.0, 0.0, ATAN)
    # H = 0.5, 1.0 (= threshold: fires), 1.0 (fires), 0.25, 0.95
    assert spk[:, 0].tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]
    assert v.item() == pytest.approx(0.95)
    spk, v = if_multistep(_col(1.5, 0.2, 0.5), None, 1.0, None, ATAN)  # soft: 1.5 -> 0.5, 0.7, 1.2 -> 0.2
    assert spk[:, 0].tolist() == [1.0, 0.0, 1.0]
    assert v.item() == pytest.approx(0.2)
    spk, v = if_multistep(_col(1.5, 0.2), None, 1.0, -0.5, ATAN)  # hard reset to -0.5: H = 1.5, -0.3
    assert spk[:, 0].tolist() == [1.0, 0.0]
    assert v.item() == pytest.approx(-0.3)


def test_lif_hand_computed_both_charges():
    x = _col(2.0, 1.0, 1.0, 1.5)
    # decay_input, tau 2: H = V + (X - V)/2 -> 1.0 (fires, V=0), 0.5, 0.75, 1.125 (fires)
    spk, v = lif_hr_multistep(x, None, 2.0, 1.0, 0.0, ATAN)
    assert spk[:, 0].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert v.item() == 0.0
    # not decay_input: H = V - V/2 + X -> 2.0 (fires), 1.0 (fires), 1.0 (fires), 1.5 (fires)
    spk, _ = lif_hr_multistep(x, None, 2.0, 1.0, 0.0, ATAN, decay_input=False)
    assert spk[:, 0].tolist() == [1.0, 1.0, 1.0, 1.0]
    # soft reset, tau 4, v_reset counts as 0 in the charge: H = 0.75·V + X/4 with X = 4, 2
    spk, v = lif_hr_multistep(_col(4.0, 2.0), None, 4.0, 1.0, None, ATAN)
    assert spk[:, 0].tolist() == [1.0, 0.0]  # H = 1 -> V = 0, then H = 0.5
    assert v.item() == 0.5
    # hard reset to -1 enters the leak: H = V + (X - (V + 1))/2; from V0 = -1 with X = 1: H = -1 + 1/2
    spk, v = lif_hr_multistep(_col(1.0), torch.tensor([-1.0], dtype=torch.float64), 2.0, 1.0, -1.0, ATAN)
    assert spk.item() == 0.0 and v.item() == -0.5


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["if", "lif", "lif_nodecay"]),
    steps=st.integers(1, 6),
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    tau=st.floats(1.05, 5.0),
    thr=st.floats(0.1, 2.0),
    v_reset=st.sampled_from([None, 0.0, -0.4, 0.3]),
    detach=st.booleans(),
    sname=st.sampled_from(["atan", "fast_sigmoid"]),
    with_v0=st.booleans(),
    use=st.sampled_from(["spikes", "v_last", "both"]),
    seed=st.integers(0, 2**16),
)
def test_fused_equals_reference_forward_and_backward(
    kind, steps, shape, tau, thr, v_reset, detach, sname, with_v0, use, seed
):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn((steps, *shape), generator=gen, dtype=torch.float64) * 1.5 + 0.5).requires_grad_()
    v0 = torch.randn(shape, generator=gen, dtype=torch.float64).requires_grad_() if with_v0 else None
    w_s = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    w_v = torch.randn(shape, generator=gen, dtype=torch.float64)
    sf = surrogate.get(sname)
    outs = []
    for fused in (True, False):
        spk, v = _run(fused, kind, x, v0, tau, thr, v_reset, sf, detach)
        loss = {"spikes": (spk * w_s).sum(), "v_last": (v * w_v).sum(),
                "both": (spk * w_s).sum() + (v * w_v).sum()}[use]
        wrt = [x] + ([v0] if with_v0 else [])
        outs.append((spk, v, torch.autograd.grad(loss, wrt, allow_unused=True)))
    (spk_f, v_f, g_f), (spk_r, v_r, g_r) = outs
    assert torch.equal(spk_f, spk_r) and torch.equal(v_f, v_r)
    assert set(spk_f.unique().tolist()) <= {0.0, 1.0}
    for a, r in zip(g_f, g_r):
        a = torch.zeros_like(x[0]) if a is None else a
        r = torch.zeros_like(a) if r is None else r
        torch.testing.assert_close(a, r, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kind", ["if", "lif"])
@pytest.mark.parametrize("v_reset", [0.0, None])
def test_fused_backward_with_expanded_upstream_gradients(kind, v_reset):
    """``.sum()`` hands backward stride-0 gradients; the in-place recurrence must not write into them."""
    gen = torch.Generator().manual_seed(5)
    x = (torch.randn(7, 3, 4, generator=gen, dtype=torch.float64) + 0.5).requires_grad_()
    grads = []
    for fused in (True, False):
        spk, v = _run(fused, kind, x, None, 2.0, 1.0, v_reset, ATAN, False)
        grads.append(torch.autograd.grad(spk.sum() + v.sum(), x)[0])
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-10)


def test_fused_saves_only_the_charged_membranes():
    saved = []

    def pack(t):
        saved.append((tuple(t.shape), t.dtype))
        return t

    x = torch.randn(5, 2, 3, dtype=torch.bfloat16, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        spk, _ = lif_hr_multistep(x, None, 2.0, 1.0, 0.0, ATAN)
    assert saved == [((5, 2, 3), torch.float32)]  # H, in float32: spikes are H >= threshold
    assert spk.dtype == torch.bfloat16


@pytest.mark.parametrize("cls", [IFNode, LIFNode])
def test_bf16_autocast_keeps_dtype_and_matches_reference(cls):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(2, 3, 3, padding=1)
    x = torch.randn(4, 2, 2, 5, 5)
    node = cls()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(x.flatten(0, 1)).unflatten(0, (4, 2))
        assert y.dtype == torch.bfloat16
        spk = node(y)
    assert spk.dtype == torch.bfloat16 and spk.shape == y.shape
    spk.float().sum().backward()
    assert conv.weight.grad is not None and torch.isfinite(conv.weight.grad).all()
    # the same bf16 input through the reference loop: identical spikes and input gradient
    yd = y.detach().requires_grad_()
    ref = (if_multistep_reference(yd, None, 1.0, 0.0, ATAN) if cls is IFNode
           else lif_hr_multistep_reference(yd, None, 2.0, 1.0, 0.0, ATAN))[0]
    yf = y.detach().requires_grad_()
    out = node(yf)
    assert torch.equal(out, ref) and ref.dtype == torch.bfloat16
    g_ref, = torch.autograd.grad((ref.float() * torch.arange(ref.numel()).reshape(ref.shape).cos()).sum(), yd)
    g_out, = torch.autograd.grad((out.float() * torch.arange(out.numel()).reshape(out.shape).cos()).sum(), yf)
    assert g_out.dtype == torch.bfloat16
    torch.testing.assert_close(g_out, g_ref)


def test_zero_steps_no_grad_and_custom_callable():
    x = torch.zeros(0, 3)
    spk, v = if_multistep(x, None, 1.0, 0.0, ATAN)
    assert spk.shape == (0, 3) and torch.equal(v, torch.zeros(3))
    with torch.no_grad():
        spk, _ = lif_hr_multistep(torch.ones(3, 2) * 2.5, None, 2.0, 1.0, 0.0, ATAN)
    assert spk[:, 0].tolist() == [1.0, 1.0, 1.0]
    # a plain callable defines its own step (here u > 0: no spike exactly at threshold)
    spk, _ = if_multistep(torch.tensor([[1.0]]), None, 1.0, 0.0, lambda u: (u > 0).float())
    assert spk.item() == 0.0


def test_fused_path_refuses_double_backward():
    x = torch.randn(4, 3, requires_grad=True)
    spk, _ = if_multistep(x, None, 1.0, 0.0, ATAN)
    (g,) = torch.autograd.grad(spk.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        g.sum().backward()


def test_modules_are_stateless_and_start_at_v_reset():
    x = torch.rand(6, 2, 3) * 2 - 0.5
    node = LIFNode(v_reset=-0.5, detach_reset=False, tau=3.0)
    first, second = node(x), node(x)
    assert torch.equal(first, second)
    ref, _ = lif_hr_multistep(x, torch.full((2, 3), -0.5), 3.0, 1.0, -0.5, node.spike_fn, True, False)
    assert torch.equal(first, ref)
    spk, v = IFNode(v_reset=None).forward_with_state(x)
    ref_s, ref_v = if_multistep(x, None, 1.0, None, ATAN)
    assert torch.equal(spk, ref_s) and torch.equal(v, ref_v)
    assert list(node.state_dict()) == [] and list(node.parameters()) == []


def test_module_surrogates_repr_copy_pickle():
    assert LIFNode().spike_fn == surrogate.ATan(alpha=2.0)
    assert IFNode(alpha=4.0).spike_fn == surrogate.ATan(alpha=4.0)
    assert IFNode(surrogate="fast_sigmoid").spike_fn == surrogate.FastSigmoid()
    assert IFNode(surrogate=surrogate.FastSigmoid(slope=5.0)).spike_fn == surrogate.FastSigmoid(slope=5.0)
    node = LIFNode(tau=2.5, decay_input=False, v_reset=None)
    assert "tau=2.5" in repr(node) and "v_reset=None" in repr(node) and "atan" in repr(node)
    x = torch.randn(3, 2, 4)
    for other in (copy.deepcopy(node), pickle.loads(pickle.dumps(node))):
        assert torch.equal(other(x), node(x))


@pytest.mark.parametrize("cls, kwargs", [
    (IFNode, {"threshold": 0.0}),
    (IFNode, {"threshold": -1.0}),
    (IFNode, {"threshold": float("inf")}),
    (IFNode, {"threshold": True}),
    (IFNode, {"v_reset": float("nan")}),
    (IFNode, {"v_reset": "0"}),
    (IFNode, {"surrogate": "sigmoid"}),
    (IFNode, {"surrogate": 3}),
    (IFNode, {"alpha": 0.0}),
    (IFNode, {"surrogate": "fast_sigmoid", "alpha": 3.0}),
    (IFNode, {"detach_reset": 1}),
    (LIFNode, {"tau": 1.0}),
    (LIFNode, {"tau": 0.5}),
    (LIFNode, {"tau": float("inf")}),
    (LIFNode, {"tau": "2"}),
    (LIFNode, {"decay_input": None}),
])
def test_bad_config_is_config_error(cls, kwargs):
    with pytest.raises(ConfigError) as err:
        cls(**kwargs)
    assert cls.__name__ in str(err.value) and next(iter(kwargs)) in str(err.value)


@pytest.mark.parametrize("bad", [torch.zeros(5), torch.zeros((), dtype=torch.float32),
                                 torch.zeros(3, 2, dtype=torch.long), [[0.0]]])
def test_rejects_non_time_first_input(bad):
    with pytest.raises(ConfigError, match="time-first"):
        LIFNode()(bad)
