"""snnkit IFNode / LIFNode vs SpikingJelly's ``IFNode`` / ``LIFNode`` (``step_mode="m"``, ATan(alpha=2)).

Random input ``[T=8, B, C, H, W]``, the STDS settings (tau 2, decay_input, v_reset 0, detached reset) and the
variants (soft reset, reset not detached, decay_input False). Spikes and the last membrane must be identical
(both sides charge with the same operations in float32); the input gradient of a random linear loss must
agree to float32 round-off, relative to the largest reference gradient. bf16 input (what autocast hands a
neuron) is charged in float32 by snnkit, as by SpikingJelly's multi-step kernels given a float32 membrane
(``functional.if_multi_step`` / ``lif_multi_step``): spikes, membrane and input gradient identical. (SpikingJelly's
modules create their membrane in the input's dtype, so on CPU a module integrates bf16 input in bf16; that
rounds the membrane to 8 bits each step and is not what snnkit does.)
"""

from __future__ import annotations

import pytest
import torch

from snnkit.neurons.hard_reset import IFNode, LIFNode

sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
sj_surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")
sj_functional = pytest.importorskip("spikingjelly.activation_based.functional")

torch.set_num_threads(1)
TOL = 1e-6
CASES = [
    (kind, v_reset, detach, decay_input)
    for kind in ("if", "lif")
    for v_reset in (0.0, None)
    for detach in (True, False)
    for decay_input in ((True, False) if kind == "lif" else (True,))
]


def _pair(kind, v_reset, detach, decay_input):
    common = {"v_threshold": 1.0, "v_reset": v_reset, "surrogate_function": sj_surrogate.ATan(alpha=2.0),
              "detach_reset": detach, "step_mode": "m"}
    if kind == "if":
        return sj_neuron.IFNode(**common), IFNode(v_reset=v_reset, detach_reset=detach)
    return (sj_neuron.LIFNode(tau=2.0, decay_input=decay_input, **common),
            LIFNode(tau=2.0, decay_input=decay_input, v_reset=v_reset, detach_reset=detach))


def _input(seed, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(8, 4, 3, 6, 6, generator=gen) * 1.2 + 0.4).to(dtype)


@pytest.mark.parametrize("kind, v_reset, detach, decay_input", CASES)
def test_spikes_membrane_and_input_gradient_match(kind, v_reset, detach, decay_input):
    theirs, ours = _pair(kind, v_reset, detach, decay_input)
    x = _input(1)
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    x_ref = x.clone().requires_grad_()
    s_ref = theirs(x_ref)
    v_ref = theirs.v.detach().clone()
    (g_ref,) = torch.autograd.grad((s_ref * w).sum(), x_ref)
    sj_functional.reset_net(theirs)
    x_our = x.clone().requires_grad_()
    s_our, v_our = ours.forward_with_state(x_our)
    (g_our,) = torch.autograd.grad((s_our * w).sum(), x_our)
    assert 0.05 < s_ref.mean().item() < 0.6  # both firing and silent neurons in the test
    assert torch.equal(s_our, s_ref)
    assert torch.equal(v_our, v_ref)
    err = (g_our - g_ref).abs().max().item() / g_ref.abs().max().item()
    assert err <= TOL, f"input gradient: relative max error {err:.3g}"


@pytest.mark.parametrize("kind", ["if", "lif"])
def test_bf16_input_matches_float32_state_kernel(kind):
    _, ours = _pair(kind, 0.0, True, True)
    x = _input(3, torch.bfloat16)
    v0 = torch.zeros(x.shape[1:], dtype=torch.float32)
    atan = sj_surrogate.ATan(alpha=2.0)
    x_ref = x.clone().requires_grad_()
    if kind == "if":
        s_ref, v_ref, _ = sj_functional.if_multi_step(x_ref, v0, 1.0, 0.0, atan, True)
    else:
        s_ref, v_ref, _ = sj_functional.lif_multi_step(x_ref, v0, 2.0, True, 1.0, 0.0, atan, True)
    x_our = x.clone().requires_grad_()
    s_our, v_our = ours.forward_with_state(x_our)
    assert s_our.dtype == s_ref.dtype == torch.bfloat16 and v_our.dtype == v_ref.dtype == torch.float32
    assert torch.equal(s_our, s_ref) and torch.equal(v_our, v_ref)
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(4))
    (g_ref,) = torch.autograd.grad((s_ref.float() * w).sum(), x_ref)
    (g_our,) = torch.autograd.grad((s_our.float() * w).sum(), x_our)
    assert g_our.dtype == torch.bfloat16
    torch.testing.assert_close(g_our, g_ref)
