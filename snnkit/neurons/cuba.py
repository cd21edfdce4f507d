"""Current-based (synaptic-current) LIF: a second-order LIF whose input is first filtered into a synaptic current.

One population, time-first input current ``X`` ``[T, B, ...]``. With ``a = clamp(α, 0, 1)``,
``b = clamp(β, 0, 1)`` (``α = exp(-dt/τ_syn)``, ``β = exp(-dt/τ_mem)``), threshold θ, input gain ``g`` and
``H(u) = 1 if u > 0 else 0`` (Heaviside forward, surrogate derivative backward)::

    syn_t = a·syn_{t-1} + X_t
    g     = 1        (input_gain="one", snnTorch's ``Synaptic``)
          = 1 - b    (input_gain="one_minus_beta", the SPSN authors' LIF baseline)

Two reset orders are in use and both are provided (``reset_from``):

``reset_from="previous"`` — snnTorch 1.0.0 ``Synaptic`` (read from its code, ``_base_sub`` / ``_base_zero``
with ``reset_delay=True``): the reset signal comes from the PREVIOUS membrane and is applied after leak and
input of the current step; the spike is read from the reset membrane::

    r_t = H(U_{t-1} - θ)                      (detached when detach_reset; snnTorch always detaches)
    P_t = b·U_{t-1} + g·syn_t
    subtract:  U_t = P_t - r_t·θ
    zero:      U_t = P_t - r_t·P_t            (the whole new membrane, input included, is zeroed)
    S_t = H(U_t - θ)

Note that snnTorch's ``Synaptic`` zeroes ``b·U + syn`` while its ``Leaky`` (and :mod:`snnkit.neurons.lif`)
zeroes only the old membrane before leak and input; the docstring of ``Synaptic`` writes the former. The
synaptic current is never reset (``Synaptic._base_zero`` subtracts ``0·r``).

``reset_from="current"`` — the SPSN authors' LIF (Yarga & Wood, arXiv 2306.12666, Eqs. 3, 5, 6; their
repository NECOTIS/Stochastic-Parallelizable-Spiking-Neuron-SPSN, ``neurons/lif.py``, and the same order in
NECOTIS/Parallelizable-Leaky-Integrate-and-Fire-Neuron ``ParaLIF/lif.py``): the spike is read from the
membrane before reset and resets it in the same step::

    V_t = b·U_{t-1} + g·syn_t
    S_t = H(V_t - θ)
    zero:      U_t = V_t·(1 - S_t)            (the authors' ``mem = mem * (1 - spk.detach())``)
    subtract:  U_t = V_t - S_t·θ
    (S_t inside the reset is detached when detach_reset, as the authors do)

The membrane this module returns is ``U_t`` (after the reset in both orders, as both codes record it), so
with ``reset_from="current"`` a spike cannot be recomputed from the returned membrane. The authors use
θ = 1, τ_syn = τ_mem = 20 ms at dt = 1 ms and the fast-sigmoid surrogate ``1/(100|u| + 1)²``
(``surrogate.FastSigmoid(slope=100)``). ``form="spsn"`` selects (one_minus_beta, current), ``form="snntorch"``
(one, previous); with ``form="snntorch"`` the module equals ``snntorch.Synaptic`` (tested, bit for bit).

Functional core (pure, no checks): :func:`cuba_lif_step` (one step, autograd), :func:`cuba_lif_multistep_reference`
(a Python loop over it: the definition) and :func:`cuba_lif_multistep` (:func:`cuba_lif_spikes` when only the
spikes are wanted: it keeps fewer [T, ...] tensors). For the spike functions of :mod:`snnkit.neurons.surrogate`
these run a fused autograd function, tested against the loop forward (bit for bit) and backward:

* forward: one loop over time writing into preallocated buffers, without a graph, with the loop's own
  operations in the loop's order (``a·syn`` then ``+ x``, never a fused multiply-add); the comparison
  ``U > θ`` stands for ``U - θ > 0`` (the same unless the CPU flushes subnormals to zero);
* backward: the exact BPTT of the equations above as two reverse linear recurrences, the membrane adjoint
  ``λ_t = G_t + k_t·λ_{t+1}`` and the synaptic adjoint ``μ_t = c_t·λ_t + dL/dsyn_t + a·μ_{t+1}`` (which is
  dL/dX_t), plus reductions over time for α, β, θ (scalar or per-neuron). Time is walked backwards in
  blocks of about ``_CHUNK_ELEMENTS`` elements: everything one block needs (surrogate derivatives, k_t, the
  reductions) is computed while it is in cache, and only dL/dX is written to a [T, ...] buffer.

:class:`CubaLIF` is the thin module.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from snnkit.errors import ConfigError
from snnkit.neurons import buffers as _buffers
from snnkit.neurons import compiled as _compiled
from snnkit.neurons import surrogate as _surrogate
from snnkit.neurons.buffers import may_take
from snnkit.neurons.functional import RESETS
from snnkit.neurons.parallel import decay
from snnkit.neurons.surrogate import SpikeFunction

__all__ = [
    "CubaLIF",
    "CubaLIFParameters",
    "CUBA_FORMS",
    "INPUT_GAINS",
    "RESET_FROM",
    "cuba_lif_step",
    "cuba_lif_multistep",
    "cuba_lif_multistep_reference",
    "cuba_lif_spikes",
]

INPUT_GAINS: tuple[str, ...] = ("one", "one_minus_beta")
RESET_FROM: tuple[str, ...] = ("previous", "current")
# form -> (input_gain, reset_from, default surrogate)
CUBA_FORMS: dict[str, tuple[str, str, SpikeFunction]] = {
    "snntorch": ("one", "previous", _surrogate.ATan(alpha=2.0)),
    "spsn": ("one_minus_beta", "current", _surrogate.FastSigmoid(slope=100.0)),
}

Scalar = float | Tensor
SpikeFn = Callable[[Tensor], Tensor]


class CubaLIFParameters(NamedTuple):
    """Parameters of a current-based LIF population (see the module docstring for the equations).

    alpha, beta: synaptic and membrane decay factors (python floats or tensors broadcastable to one time
        step: 0-d or per-neuron ``[N]``, possibly learnable); clamped to [0, 1] in the dynamics.
    threshold: θ (python float or tensor, possibly learnable).
    reset: "subtract" or "zero".
    detach_reset: no gradient through the reset signal.
    input_gain: "one" (snnTorch) or "one_minus_beta" (SPSN authors).
    reset_from: "previous" (snnTorch) or "current" (SPSN authors).
    """

    alpha: Scalar = 0.9
    beta: Scalar = 0.8
    threshold: Scalar = 1.0
    reset: str = "subtract"
    detach_reset: bool = True
    input_gain: str = "one"
    reset_from: str = "previous"


def _as_tensor(value: Scalar, ref: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        return value
    return torch.tensor(float(value), dtype=ref.dtype, device=ref.device)


def cuba_lif_step(
    x: Tensor, syn: Tensor | None, mem: Tensor | None, params: CubaLIFParameters, spike_fn: SpikeFn
) -> tuple[Tensor, Tensor, Tensor]:
    """One step: ``(spk_t, syn_t, mem_t) = cuba_lif_step(x_t, syn_{t-1}, mem_{t-1}, params, spike_fn)``.

    ``None`` states are zeros. ``mem`` is the membrane after reset (``U`` in the module docstring).
    """
    syn = torch.zeros_like(x) if syn is None else syn
    mem = torch.zeros_like(x) if mem is None else mem
    a = _as_tensor(params.alpha, x).clamp(0, 1)
    b = _as_tensor(params.beta, x).clamp(0, 1)
    thr = _as_tensor(params.threshold, x)
    new_syn = a * syn + x
    drive = new_syn if params.input_gain == "one" else (1 - b) * new_syn
    zero = params.reset == "zero"
    if params.reset_from == "previous":
        r = spike_fn(mem - thr)
        if params.detach_reset:
            r = r.detach()
        pre = b * mem + drive
        new_mem = pre - pre * r if zero else pre - r * thr
        return spike_fn(new_mem - thr), new_syn, new_mem
    v = b * mem + drive
    spk = spike_fn(v - thr)
    r = spk.detach() if params.detach_reset else spk
    return spk, new_syn, (v * (1 - r) if zero else v - r * thr)


def cuba_lif_multistep_reference(
    x: Tensor, params: CubaLIFParameters, spike_fn: SpikeFn, syn0: Tensor | None = None, mem0: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """The definition: a Python loop over :func:`cuba_lif_step`, differentiated by autograd.

    Returns ``(spikes, syn, mem)``, each ``[T, ...]``. Works with any ``spike_fn`` callable.
    """
    if x.shape[0] == 0:
        return torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
    syn, mem = syn0, mem0
    out: list[list[Tensor]] = [[], [], []]
    for t in range(x.shape[0]):
        spk, syn, mem = cuba_lif_step(x[t], syn, mem, params, spike_fn)
        for seq, value in zip(out, (spk, syn, mem)):
            seq.append(value)
    spk_all, syn_all, mem_all = (torch.stack(seq) for seq in out)
    return spk_all, syn_all, mem_all


def cuba_lif_multistep(
    x: Tensor, params: CubaLIFParameters, spike_fn: SpikeFn, syn0: Tensor | None = None, mem0: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Run the current-based LIF over ``x`` ``[T, ...]``; returns ``(spikes, syn, mem)``, each ``[T, ...]``.

    ``syn0`` / ``mem0`` (shape ``x.shape[1:]``, default zeros) are the states before the first step. With a
    spike function from :mod:`snnkit.neurons.surrogate` this runs the fused kernel (the numbers of
    :func:`cuba_lif_multistep_reference`, in much less time and memory); other callables use the loop.
    """
    if not isinstance(spike_fn, SpikeFunction) or x.shape[0] == 0:
        return cuba_lif_multistep_reference(x, params, spike_fn, syn0, mem0)
    a = _as_tensor(params.alpha, x).clamp(0, 1)
    b = _as_tensor(params.beta, x).clamp(0, 1)
    thr = _as_tensor(params.threshold, x)
    return _FusedCubaLIF.apply(x, syn0, mem0, a, b, thr, _flags(params, True), spike_fn)


def cuba_lif_spikes(
    x: Tensor, params: CubaLIFParameters, spike_fn: SpikeFn, syn0: Tensor | None = None, mem0: Tensor | None = None,
    *, donate: bool = False,
) -> Tensor:
    """Spikes only (``cuba_lif_multistep(...)[0]``, same numbers and gradients): the fused kernel then keeps
    only the per-step tensors its backward pass needs (e.g. not the synaptic currents unless α or β learn).

    ``donate=True`` (:func:`snnkit.neurons.buffers.donate`; on the compiled CPU path, with ``x`` contiguous and
    of the compute dtype): the saved ``[T, ...]`` buffer is written over ``x`` and backward writes dL/dX over it,
    so ``x`` may not be read after the call and the graph not backpropagated twice. Elsewhere it is ignored."""
    if not isinstance(spike_fn, SpikeFunction) or x.shape[0] == 0:
        return cuba_lif_multistep_reference(x, params, spike_fn, syn0, mem0)[0]
    a = _as_tensor(params.alpha, x).clamp(0, 1)
    b = _as_tensor(params.beta, x).clamp(0, 1)
    thr = _as_tensor(params.threshold, x)
    return _FusedCubaLIF.apply(x, syn0, mem0, a, b, thr, _flags(params, False), spike_fn, donate)


def _flags(params: CubaLIFParameters, state: bool) -> tuple[bool, ...]:
    """(zero reset, detach_reset, gain 1 - b, reset from the current spike, return the states)."""
    return (params.reset == "zero", params.detach_reset, params.input_gain != "one", params.reset_from == "current",
            state)


def _dot(u: Tensor, v: Tensor, shape: torch.Size) -> Tensor:
    """Σ u·v over everything that ``shape`` (a parameter's shape) does not keep."""
    if len(shape) == 0:
        return torch.dot(u.reshape(-1), v.reshape(-1))
    return (u * v).sum_to_size(shape)


def _add(total: Tensor | None, part: Tensor) -> Tensor:
    return part if total is None else total + part


# Backward works on blocks of about this many elements (time steps × elements per step), so that everything a
# block needs stays in cache; only the inputs, the saved tensors and dL/dX are read or written in memory.
_CHUNK_ELEMENTS = 1 << 17


def _prev(buf: Tensor, init: Tensor | None, s: int, e: int) -> Tensor:
    """``buf[t - 1]`` for t in [s, e), where ``buf[-1]`` is ``init`` (None: zeros)."""
    if s > 0:
        return buf[s - 1 : e - 1]
    first = torch.zeros_like(buf[0]) if init is None else init.to(buf.dtype).expand_as(buf[0])
    return torch.cat((first.unsqueeze(0), buf[: e - 1]))


class _FusedCubaLIF(torch.autograd.Function):
    """Multi-step current-based LIF with a hand-written BPTT backward (see the module docstring).

    Saved: not the spikes (backward recomputes S_t = H(V_t - θ) from what it reads anyway, with the forward's
    own comparison, so the spike output is not kept alive for it); for "previous" the membranes U (= V, the membrane spikes are read from); for "current"
    either U and the synaptic currents, when they are returned anyway (V = b·U_{t-1} + g·syn_t is then
    recomputed with the forward's own operations, so bit for bit), or V itself when only spikes are returned
    (U_{t-1} is then recomputed from V and S when β learns); the synaptic currents whenever a gradient needs
    them. Per-step tensors that are neither returned nor saved live in two alternating buffers. The backward pass walks time backwards in blocks:
    per block, the membrane adjoint λ (dL/dV), the reductions for θ and β that read it, then the synaptic
    adjoint μ (dL/dX, written over λ) and the reduction for α; one block's first λ (or k·λ) and μ carry
    into the block before it. r_t below is the reset signal: S_{t-1} for "previous", S_t for "current";
    σ_t is the surrogate derivative at V_t - θ.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        syn0: Tensor | None,
        mem0: Tensor | None,
        a: Tensor,
        b: Tensor,
        thr: Tensor,
        flags: tuple[bool, ...],
        spike_fn: SpikeFunction,
        donate: bool = False,
    ) -> tuple[Tensor, Tensor, Tensor] | Tensor:
        ctx.set_materialize_grads(False)
        zero, detach, spsn_gain, current, state = flags
        dtype = x.dtype
        for t in (a, b, thr, syn0, mem0):
            if t is not None:
                dtype = torch.promote_types(dtype, t.dtype)
        shape, dev = x.shape, x.device
        needs = ctx.needs_input_grad
        # per-step tensors: kept [T, ...] when returned or needed by backward, else two alternating buffers
        keep_syn = state or needs[3] or (spsn_gain and needs[4]) or (not current and zero and not detach)
        keep_mem = state or not current
        keep_pre = current and not state  # without U and syn to recompute it from, backward reads V itself

        def buffers(keep: bool) -> Tensor:
            return _buffers.empty((shape[0] if keep else 2, *shape[1:]), dtype, dev)

        s_prev = torch.zeros(shape[1:], dtype=dtype, device=dev) if syn0 is None else syn0
        m_prev = torch.zeros(shape[1:], dtype=dtype, device=dev) if mem0 is None else mem0
        # on CPU the loop below runs compiled, the same operations in the same order (bit for bit)
        compiled = _compiled.on_cpu(x, s_prev, m_prev, a, b, thr)
        # a donated input holds the saved [T, ...] buffer (V for "current", else U: written where x_t was read),
        # and backward writes dL/dX over it
        ctx.donated = donate and compiled and not state and x.dtype == dtype and x.is_contiguous()
        syn = buffers(keep_syn)
        mem = _buffers.adopt(x) if ctx.donated and not current else buffers(keep_mem)
        pre = (_buffers.adopt(x) if ctx.donated else buffers(keep_pre)) if current else None
        # the spikes are the caller's (the next layer keeps them until its backward): not a pooled buffer, which
        # would stay resident after they are freed, through this neuron's backward (buffers.output: see there)
        spk = _buffers.output(shape, dtype, dev)
        gain = 1 - b if spsn_gain else None
        drive = torch.empty(shape[1:], dtype=dtype, device=dev) if spsn_gain else None
        r0 = None if current else torch.gt(m_prev, thr).to(dtype)
        r = r0
        if compiled:
            _compiled.cuba_forward(x, s_prev, m_prev, r0, a, b, gain, thr, current, zero, syn, mem, pre, spk)
        for t in range(0 if compiled else shape[0]):
            s_t = syn[t if keep_syn else t % 2]
            torch.mul(a, s_prev, out=s_t)  # a·syn + x as two roundings (like snnTorch), not a fused multiply-add
            s_t.add_(x[t])
            s_prev = s_t
            m_t = mem[t if keep_mem else t % 2]
            v = pre[t if keep_pre else 0] if current else m_t
            torch.mul(b, m_prev, out=v)
            v.add_(s_t if drive is None else torch.mul(gain, s_t, out=drive))
            if current:
                torch.gt(v, thr, out=spk[t])
                if zero:  # V - V·S: V·S is exact, so this equals V·(1 - S)
                    torch.addcmul(v, v, spk[t], value=-1, out=m_t)
                else:
                    torch.addcmul(v, spk[t], thr, value=-1, out=m_t)
            else:
                if zero:  # P - P·r (snnTorch's mem - mem2·reset)
                    v.addcmul_(v, r, value=-1)
                else:  # r·θ is exact, so this is P - r·θ with one rounding
                    v.addcmul_(r, thr, value=-1)
                r = spk[t]
                torch.gt(v, thr, out=r)
            m_prev = m_t
        ctx.flags = flags
        ctx.dtype = dtype
        ctx.spike_fn = spike_fn
        ctx.dtypes = tuple(t.dtype if t is not None else None for t in (x, syn0, mem0))
        none = torch.empty(0)
        ctx.save_for_backward(
            *(t if keep else none for t, keep in ((syn, keep_syn), (mem, keep_mem), (pre, keep_pre))),
            *(t if t is not None else none for t in (syn0, mem0, r0)), a, b, thr,
        )
        return (spk, syn, mem) if state else spk

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, *grads: Tensor | None) -> tuple[Tensor | None, ...]:
        _buffers.ensure_unspent(ctx, "CubaLIF")
        syn, mem, pre, syn0, mem0, r0, a, b, thr = (t.detach() for t in ctx.saved_tensors)
        zero, detach, spsn_gain, current, state = ctx.flags
        g_spk, g_syn, g_mem = grads if state else (grads[0], None, None)
        syn0 = syn0 if ctx.dtypes[1] is not None else None
        mem0 = mem0 if ctx.dtypes[2] is not None else None
        need_x, need_s0, need_m0, need_a, need_b, need_thr = ctx.needs_input_grad[:6]
        if g_spk is None and g_syn is None and g_mem is None:
            return (None,) * 9
        sg = ctx.spike_fn.grad
        g_any = next(g for g in (g_spk, g_syn, g_mem) if g is not None)
        steps = g_any.shape[0]
        gain = 1 - b if spsn_gain else None
        need_mu = need_x or need_s0 or need_a
        dtype = ctx.dtype  # the forward's (the placeholders of unsaved buffers are float32)
        # λ, then μ = dL/dX, block by block; over the donated buffer (V or U), whose block is copied before
        # λ is written there (the steps before the block are read only before their own block is written)
        in_place = ctx.donated
        grad = (pre if current else mem) if in_place else _buffers.empty(g_any.shape, dtype, g_any.device)
        block = max(1, _CHUNK_ELEMENTS // max(1, g_any[0].numel()))
        grad_a = grad_b = grad_thr = grad_m0 = None
        lam_next = mu_next = None  # carried into the block before: λ_e ("current") or k_e·λ_e ("previous"), μ_e
        for e in range(steps, 0, -block):
            s = max(0, e - block)
            lam = grad[s:e]
            syn_c = syn[s:e] if syn.numel() else None
            if not pre.numel():
                m_prev = _prev(mem, mem0, s, e)
                if in_place and s > 0:
                    m_prev = m_prev.clone()
            elif need_b:  # U_{t-1} from V_{t-1} and S_{t-1}, with the forward's operations
                v_prev = _prev(pre, None, s, e)
                s_prev = torch.gt(v_prev, thr, out=torch.empty_like(v_prev))  # S_{t-1} (none before step 0)
                if s == 0:
                    s_prev[0] = 0
                m_prev = torch.addcmul(v_prev, v_prev, s_prev, value=-1) if zero else (
                    torch.addcmul(v_prev, s_prev, thr, value=-1))
                if s == 0 and mem0 is not None:
                    m_prev[0] = mem0
            if not current:
                v = mem[s:e].clone() if in_place else mem[s:e]
            elif pre.numel():
                v = pre[s:e].clone() if in_place else pre[s:e]
            else:  # V_t = b·U_{t-1} + g·syn_t, exactly as the forward computed it
                v = torch.mul(b, m_prev).add_(syn_c if gain is None else gain * syn_c)
            # S_t, compared as the forward did, where it is read: ρ_t ("current", zero) and ∂U_t/∂θ
            spk_c = torch.gt(v, thr, out=torch.empty_like(v)) if current and (zero or need_thr) else None
            sig = sg(v - thr) if g_spk is not None or (current and not detach) else None
            if g_spk is not None:  # G_t: S_t as an output
                torch.mul(g_spk[s:e], sig, out=lam)
                if need_thr:
                    grad_thr = _add(grad_thr, -lam.sum_to_size(thr.shape))
            else:
                lam.zero_()
            if current:
                rho = None  # ρ_t = ∂U_t/∂V_t; then k_t = b·ρ_t = ∂V_{t+1}/∂V_t
                if zero:
                    rho = spk_c.neg_().add_(1)  # 1 - S_t (S_t is not read again on this path)
                    if not detach:
                        rho.addcmul_(v, sig, value=-1)
                elif not detach:
                    rho = 1 - thr * sig
                if g_mem is not None:
                    lam.add_(g_mem[s:e]) if rho is None else lam.addcmul_(g_mem[s:e], rho)
                k = b if rho is None else rho.mul_(b)
                if lam_next is not None:
                    lam[-1].addcmul_(k if rho is None else k[-1], lam_next)
                _compiled.reverse_scan_(lam, k, rho is not None, shift=0)
                if need_thr and (not zero or not detach):
                    # ν_t = dL/dU_t = dL/dmem_t + b·λ_{t+1}; ∂U_t/∂θ = -S_t + θσ_t (subtract), V_t·σ_t (zero)
                    nu = torch.zeros_like(lam) if g_mem is None else g_mem[s:e].to(lam.dtype, copy=True)
                    if e - s > 1:
                        nu[:-1].addcmul_(b, lam[1:])
                    if lam_next is not None:
                        nu[-1].addcmul_(b, lam_next)
                    d_thr = v * sig if zero else (spk_c.neg() if detach else thr * sig - spk_c)
                    grad_thr = _add(grad_thr, _dot(nu, d_thr, thr.shape))
                lam_next = lam[0].clone()
                if s == 0 and need_m0 and mem0 is not None:
                    grad_m0 = b * lam[0]
            else:
                if g_mem is not None:
                    lam.add_(g_mem[s:e])
                r_prev = torch.gt(m_prev, thr, out=torch.empty_like(m_prev))  # r_t = S_{t-1} = H(U_{t-1} - θ)
                if s == 0:
                    r_prev[0] = r0
                sig_prev = sg(m_prev - thr) if not detach else None  # σ_{t-1}
                k = p = None  # k_t = ∂U_t/∂U_{t-1} (b when None); P_t = b·U_{t-1} + g·syn_t
                if zero:
                    k = (1 - r_prev).mul_(b)
                    if not detach:
                        p = torch.mul(b, m_prev).add_(syn_c if gain is None else gain * syn_c)
                        k.addcmul_(sig_prev, p, value=-1)
                elif not detach:
                    k = (thr * sig_prev).neg_().add_(b)
                if lam_next is not None:
                    lam[-1].add_(lam_next)
                _compiled.reverse_scan_(lam, b if k is None else k, k is not None)
                lam_next = (b if k is None else k[0]) * lam[0]
                if s == 0 and need_m0 and mem0 is not None:
                    grad_m0 = lam_next
                if need_thr and not (zero and detach):
                    # ∂U_t/∂θ through r_t: -r_t + θσ_{t-1} (subtract), P_t·σ_{t-1} (zero, not detached)
                    if zero:
                        d_thr = p.mul_(sig_prev)
                    else:
                        d_thr = r_prev.neg() if detach else (thr * sig_prev).sub_(r_prev)
                    grad_thr = _add(grad_thr, _dot(lam, d_thr, thr.shape))
                if zero:  # from here on only (1 - r_t)·λ_t is needed: λ_t - λ_t·r_t
                    lam.addcmul_(lam, r_prev, value=-1)
            if need_b:  # ∂V_t/∂b = U_{t-1} - [syn_t if g = 1 - b] (times 1 - r_t for "previous"/zero: in λ now)
                grad_b = _add(grad_b, _dot(lam, m_prev, b.shape))
                if spsn_gain:
                    grad_b = grad_b - _dot(lam, syn_c, b.shape)
            if need_mu:  # μ_t = g·(1 - r_t)·λ_t (or g·λ_t) + dL/dsyn_t + a·μ_{t+1}
                if gain is not None:
                    lam.mul_(gain)
                if g_syn is not None:
                    lam.add_(g_syn[s:e])
                if mu_next is not None:
                    lam[-1].addcmul_(a, mu_next)
                _compiled.reverse_scan_(lam, a, False)
                mu_next = lam[0]
                if need_a:
                    grad_a = _add(grad_a, _dot(lam, _prev(syn, syn0, s, e), a.shape))
        if need_thr and grad_thr is None:
            grad_thr = torch.zeros_like(thr)
        ctx.spent = in_place
        grad_x = (grad if grad.dtype == ctx.dtypes[0] else grad.to(ctx.dtypes[0])) if need_x else None
        grad_s0 = (a * mu_next).to(ctx.dtypes[1]) if need_s0 and syn0 is not None else None
        grad_m0 = grad_m0.to(ctx.dtypes[2]) if grad_m0 is not None else None
        return grad_x, grad_s0, grad_m0, grad_a, grad_b, grad_thr, None, None, None


# ------------------------------------------------------------------------------------------------ module

_WHERE = "CubaLIF"


def _value(key: str, value: Any, ok: Callable[[float], bool], allowed: str) -> Tensor:
    """A real number or a 1-D per-neuron sequence/tensor of them, as a tensor (0-d or ``[N]``)."""
    items = value.detach().reshape(-1).tolist() if isinstance(value, Tensor) and value.dim() > 0 else None
    if isinstance(value, Tensor) and value.dim() == 0:
        value = value.item()
    if items is None and isinstance(value, Sequence) and not isinstance(value, str):
        items = list(value)
    if items is not None:
        if not items or not all(
            not isinstance(v, bool) and isinstance(v, Real) and ok(float(v)) for v in items
        ):
            raise ConfigError(key, value, f"{allowed}, or a non-empty sequence of them (one per neuron)",
                              where=_WHERE)
        return torch.tensor([float(v) for v in items], dtype=torch.get_default_dtype())
    if isinstance(value, bool) or not isinstance(value, Real) or not ok(float(value)):
        raise ConfigError(key, value, f"{allowed} (or one per neuron)", where=_WHERE)
    return torch.tensor(float(value), dtype=torch.get_default_dtype())


def _choice(key: str, value: Any, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(key, value, f"one of {list(allowed)}", where=_WHERE)
    return value


def _spike_function(surrogate: Any, default: SpikeFunction) -> SpikeFn:
    """The module's spike function: the form's default for None, a surrogate by name, or a callable."""
    if surrogate is None or isinstance(surrogate, str):
        return copy.copy(default) if surrogate is None else _surrogate.get(surrogate)
    if not callable(surrogate):
        raise ConfigError("surrogate", surrogate, "a spike function (e.g. surrogate.FastSigmoid(slope=100.0)), "
                          f"one of {list(_surrogate.NAMES)}, a callable or None", where=_WHERE)
    return surrogate


class CubaLIF(nn.Module):
    """Current-based LIF layer, multi-step and time-first (see the module docstring for the equations).

    Args:
        alpha: synaptic decay α in [0, 1] (a number, or one per neuron).
        beta: membrane decay β in [0, 1] (a number, or one per neuron).
        threshold: θ > 0 (a number, or one per neuron).
        form: "snntorch" (input gain 1, reset from the previous membrane; equals ``snntorch.Synaptic``) or
            "spsn" (input gain 1 - β, reset by the current spike; the SPSN authors' LIF).
        reset: "subtract" or "zero".
        detach_reset: no gradient through the reset signal (default True, as snnTorch and the authors).
        learn_alpha, learn_beta, learn_threshold: make α / β / θ ``nn.Parameter``s (scalar or per neuron, as
            given); α and β are clamped to [0, 1] in the dynamics.
        surrogate: a spike function object (``surrogate.FastSigmoid(slope=100.0)``, ``surrogate.ATan(2.0)``),
            a surrogate's name, or any spike callable; default: the form's own (spsn: fast sigmoid with
            slope 100, the authors'; snntorch: arctan α = 2, snnTorch's default).
        input_gain, reset_from: override the form's choice ("one" / "one_minus_beta", "previous" / "current").

    Use :meth:`from_taus` to give time constants instead of decays. Everything is checked here, once.
    """

    def __init__(
        self,
        alpha: float | Sequence[float] | Tensor = 0.9,
        beta: float | Sequence[float] | Tensor = 0.8,
        threshold: float | Sequence[float] | Tensor = 1.0,
        form: str = "snntorch",
        reset: str = "subtract",
        detach_reset: bool = True,
        learn_alpha: bool = False,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        surrogate: SpikeFunction | str | Callable[[Tensor], Tensor] | None = None,
        input_gain: str | None = None,
        reset_from: str | None = None,
    ):
        super().__init__()
        form = _choice("form", form, tuple(CUBA_FORMS))
        form_gain, form_reset_from, form_surrogate = CUBA_FORMS[form]
        self.form = form
        self.input_gain = form_gain if input_gain is None else _choice("input_gain", input_gain, INPUT_GAINS)
        self.reset_from = form_reset_from if reset_from is None else _choice("reset_from", reset_from, RESET_FROM)
        self.reset = _choice("reset", reset, RESETS)
        for key, flag in (("detach_reset", detach_reset), ("learn_alpha", learn_alpha),
                          ("learn_beta", learn_beta), ("learn_threshold", learn_threshold)):
            if not isinstance(flag, bool):
                raise ConfigError(key, flag, "True or False", where=_WHERE)
        self.detach_reset = detach_reset
        in_unit = "a real number in [0, 1]"
        values = {
            "alpha": (_value("alpha", alpha, lambda v: 0 <= v <= 1, in_unit), learn_alpha),
            "beta": (_value("beta", beta, lambda v: 0 <= v <= 1, in_unit), learn_beta),
            "threshold": (_value("threshold", threshold, lambda v: math.isfinite(v) and v > 0,
                                 "a finite real number > 0"), learn_threshold),
        }
        sizes = {key: int(t.numel()) for key, (t, _) in values.items() if t.dim() == 1}
        if len(set(sizes.values())) > 1:
            raise ConfigError("per-neuron sizes", sizes, "the same number of neurons for α, β and θ",
                              where=_WHERE)
        self.n_neurons: int | None = next(iter(sizes.values()), None)
        for key, (tensor, learn) in values.items():
            if learn:
                setattr(self, key, nn.Parameter(tensor))
            else:
                self.register_buffer(key, tensor)
        self.learn_alpha, self.learn_beta, self.learn_threshold = learn_alpha, learn_beta, learn_threshold
        self.spike_fn = _spike_function(surrogate, form_surrogate)

    @classmethod
    def from_taus(
        cls,
        tau_syn: float | Sequence[float] | Tensor,
        tau_mem: float | Sequence[float] | Tensor,
        dt: float = 1.0,
        **kwargs: Any,
    ) -> CubaLIF:
        """Build from time constants: ``α = exp(-dt/τ_syn)``, ``β = exp(-dt/τ_mem)`` (τ and dt in one unit).

        The SPSN authors' setting is ``CubaLIF.from_taus(20.0, 20.0, 1.0, form="spsn")`` (ms).
        """
        if isinstance(dt, bool) or not isinstance(dt, Real) or not (math.isfinite(dt) and dt > 0):
            raise ConfigError("dt", dt, "a finite real number > 0", where=_WHERE)
        decays = []
        for key, tau in (("tau_syn", tau_syn), ("tau_mem", tau_mem)):
            t = _value(key, tau, lambda v: v > 0, "a real number > 0 (inf: no decay)")
            decays.append(decay(t, float(dt)).to(torch.get_default_dtype()))
        return cls(decays[0], decays[1], **kwargs)

    # -- what a NIR exporter needs, as plain values
    @property
    def gain(self) -> Tensor:
        """The input gain g: 1, or 1 - clamp(β, 0, 1) (detached)."""
        b = self.beta.detach().clamp(0, 1)
        return torch.ones_like(b) if self.input_gain == "one" else 1 - b

    def time_constants(self, dt: float = 1.0) -> tuple[Tensor, Tensor]:
        """``(τ_syn, τ_mem) = -dt / ln(α), -dt / ln(β)`` (detached; a decay of 0 gives 0, of 1 gives inf)."""
        a = self.alpha.detach().clamp(0, 1).double()
        b = self.beta.detach().clamp(0, 1).double()
        return -dt / torch.log(a), -dt / torch.log(b)

    @property
    def params(self) -> CubaLIFParameters:
        """The functional parameters bound to this module's current α, β and θ."""
        return CubaLIFParameters(self.alpha, self.beta, self.threshold, self.reset, self.detach_reset,
                                 self.input_gain, self.reset_from)

    def forward(self, x: Tensor, syn0: Tensor | None = None, mem0: Tensor | None = None) -> Tensor:
        """Spikes ``[T, B, ...]`` for input current ``x`` ``[T, B, ...]`` (forward hooks see the spikes). An ``x``
        marked with :func:`snnkit.neurons.buffers.donate` may hold the saved state and then its gradient (see
        :func:`cuba_lif_spikes`)."""
        self._check_input(x)
        return cuba_lif_spikes(x, self.params, self.spike_fn, syn0, mem0, donate=may_take(self, x))

    def forward_with_state(
        self, x: Tensor, syn0: Tensor | None = None, mem0: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(spikes, syn, mem)``, each ``[T, B, ...]`` (``mem`` after reset). Does not run forward hooks."""
        self._check_input(x)
        return cuba_lif_multistep(x, self.params, self.spike_fn, syn0, mem0)

    def step(
        self, x_t: Tensor, syn: Tensor | None = None, mem: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One time step: ``(spk_t, syn_t, mem_t)`` from ``x_t`` ``[B, ...]`` and the previous states."""
        return cuba_lif_step(x_t, syn, mem, self.params, self.spike_fn)

    def _check_input(self, x: Tensor) -> None:
        if isinstance(x, Tensor) and x.dim() < 2:
            raise ConfigError("x.shape", tuple(x.shape), "a time-first tensor [T, B, ...] (>= 2 dims)",
                              where=_WHERE)
        if self.n_neurons is not None and isinstance(x, Tensor) and x.shape[-1] != self.n_neurons:
            raise ConfigError("x.shape", tuple(x.shape), f"a last dimension of {self.n_neurons} (the number "
                              "of per-neuron α, β or θ values)", where=_WHERE)

    def extra_repr(self) -> str:
        def show(t: Tensor) -> str:
            return f"{float(t.detach()):.4g}" if t.dim() == 0 else f"[{t.numel()} per neuron]"

        return (
            f"alpha={show(self.alpha)}, beta={show(self.beta)}, threshold={show(self.threshold)}, "
            f"form={self.form!r}, input_gain={self.input_gain!r}, reset_from={self.reset_from!r}, "
            f"reset={self.reset!r}, detach_reset={self.detach_reset}, surrogate={self.spike_fn!r}, "
            f"learn_alpha={self.learn_alpha}, learn_beta={self.learn_beta}, learn_threshold={self.learn_threshold}"
        )
