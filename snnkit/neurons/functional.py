"""Leaky integrate-and-fire dynamics as pure functions with explicit state (Norse style).

Discrete-time LIF as in snnTorch 1.0.0 ``Leaky`` and the G2GNet seed (Konstantaropoulos et al., arXiv 2508.14140;
β = 0.9, θ = 1.0, subtract reset with the previous step's detached spike). One step, with
``b = clamp(β, 0, 1)`` and ``H(u) = 1 if u > 0 else 0``:

    r_t = H(m_{t-1} - θ)                       reset from the PREVIOUS membrane (detached by default)
    subtract:  m_t = b·m_{t-1} + x_t - r_t·θ
    zero:      m_t = b·((1 - r_t)·m_{t-1}) + x_t
    s_t = spike_fn(m_t - θ)                    Heaviside forward, surrogate backward

"zero" follows snnTorch's code (the previous membrane is zeroed before leak and input are applied),
not the formula in its docstring. β is clamped to [0, 1] in every step, as snnTorch does, so a learnable β
that an optimiser pushes out of range stays a valid decay factor.

:func:`lif_multistep` runs ``T`` steps. For the spike functions of :mod:`snnkit.neurons.surrogate` it uses
a fused autograd function: the forward loop writes into preallocated buffers without building a graph,
and the backward pass is the exact BPTT of the equations above, written as the linear recurrence
``a_t = G_t + k_{t+1}·a_{t+1}`` (one kernel per step) plus vectorised reductions for β and θ. It saves only
the membrane (also an output): the resets ``r_t = H(m_{t-1} - θ)`` are recomputed chunk by chunk with the
forward's own comparison, so the spike tensor is not kept alive for the backward pass. It is
tested against :func:`lif_multistep_reference` (a plain loop over :func:`lif_step`), forward and backward.

The functions here are pure math and check nothing (as Norse's functional core): arguments are validated
once where users meet them, when a :class:`snnkit.neurons.LIF` module is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from snnkit.neurons import buffers as _buffers
from snnkit.neurons import compiled as _compiled
from snnkit.neurons.surrogate import SpikeFunction

__all__ = [
    "LIFParameters",
    "RESETS",
    "lif_step",
    "lif_multistep",
    "lif_multistep_reference",
]

RESETS: tuple[str, ...] = ("subtract", "zero")
#: values per time chunk in the fused backward (its temporaries are this size, not [T, ...])
_CHUNK_ELEMENTS = 1 << 18

Scalar = float | Tensor
SpikeFn = Callable[[Tensor], Tensor]


class LIFParameters(NamedTuple):
    """Parameters of a LIF population.

    beta: membrane decay factor in [0, 1] (python float or tensor broadcastable to one time step,
        typically a 0-d learnable ``nn.Parameter``); clamped to [0, 1] in the dynamics.
    threshold: firing threshold θ > 0 (python float or tensor, possibly learnable).
    reset: "subtract" (m -= θ after a spike) or "zero" (m set to 0 after a spike).
    detach_reset: if True (snnTorch's behaviour) no gradient flows through the reset signal.
    """

    beta: Scalar = 0.9
    threshold: Scalar = 1.0
    reset: str = "subtract"
    detach_reset: bool = True


def _as_tensor(value: Scalar, ref: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        return value
    return torch.tensor(float(value), dtype=ref.dtype, device=ref.device)


def lif_step(
    x: Tensor, mem: Tensor | None, params: LIFParameters, spike_fn: SpikeFn
) -> tuple[Tensor, Tensor]:
    """One LIF step: ``(spk_t, mem_t) = lif_step(x_t, mem_{t-1}, params, spike_fn)``.

    ``mem=None`` means a zero initial membrane. See the module docstring for the equations.
    """
    if mem is None:
        mem = torch.zeros_like(x)
    beta = _as_tensor(params.beta, x).clamp(0, 1)
    thr = _as_tensor(params.threshold, x)
    reset = spike_fn(mem - thr)
    if params.detach_reset:
        reset = reset.detach()
    if params.reset == "subtract":
        new_mem = beta * mem + x - reset * thr
    else:
        new_mem = beta * ((1 - reset) * mem) + x
    return spike_fn(new_mem - thr), new_mem


def lif_multistep_reference(
    x: Tensor, params: LIFParameters, spike_fn: SpikeFn, mem0: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Plain sequential definition: a Python loop over :func:`lif_step`, differentiated by autograd.

    Works with any ``spike_fn`` callable; the ground truth that the fused path is tested against.
    """
    mem = x.new_zeros(x.shape[1:]) if mem0 is None else mem0
    spikes, mems = [], []
    for t in range(x.shape[0]):
        spk, mem = lif_step(x[t], mem, params, spike_fn)
        spikes.append(spk)
        mems.append(mem)
    if not spikes:
        return torch.empty_like(x), torch.empty_like(x)
    return torch.stack(spikes), torch.stack(mems)


def lif_multistep(
    x: Tensor, params: LIFParameters, spike_fn: SpikeFn, mem0: Tensor | None = None, *, donate: bool = False
) -> tuple[Tensor, Tensor]:
    """Run LIF over time: ``x`` is ``[T, ...]`` input current; returns ``(spikes, membranes)``, both ``[T, ...]``.

    ``mem0`` (shape ``x.shape[1:]``, default zeros) is the membrane before the first step. With a spike
    function from :mod:`snnkit.neurons.surrogate` this runs the fused kernel (same numbers as
    :func:`lif_multistep_reference`, much less time and memory); other callables use the reference loop.

    ``donate=True`` (see :func:`snnkit.neurons.buffers.donate`): on the compiled CPU path, with ``x`` contiguous
    and of the compute dtype, the membranes are written over ``x`` and the backward pass writes dL/dx over them
    (where β and θ need no gradient through them), so neither ``x`` nor the returned membranes may be read after
    the call, nor after backward; a second backward through the same graph then raises. Elsewhere it is ignored.
    """
    if not isinstance(spike_fn, SpikeFunction) or x.shape[0] == 0:
        return lif_multistep_reference(x, params, spike_fn, mem0)
    beta = _as_tensor(params.beta, x).clamp(0, 1)
    thr = _as_tensor(params.threshold, x)
    return _FusedLIF.apply(x, mem0, beta, thr, params.reset == "zero", params.detach_reset, spike_fn, donate)


class _FusedLIF(torch.autograd.Function):
    """Multi-step LIF with a hand-written BPTT backward (see module docstring)."""

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        mem0: Tensor | None,
        b: Tensor,
        thr: Tensor,
        zero: bool,
        detach_reset: bool,
        spike_fn: SpikeFunction,
        donate: bool = False,
    ) -> tuple[Tensor, Tensor]:
        ctx.set_materialize_grads(False)
        dtype = torch.result_type(x, b)
        dtype = torch.promote_types(dtype, torch.result_type(x, thr))
        if mem0 is not None:
            dtype = torch.promote_types(dtype, mem0.dtype)
        m_prev = torch.zeros(x.shape[1:], dtype=dtype, device=x.device) if mem0 is None else mem0
        # on CPU the loop below runs compiled, the same operations in the same order (bit for bit)
        compiled = _compiled.on_cpu(x, m_prev, b, thr)
        # a donated input holds the membranes (m_t is written where x_t was read, element by element)
        ctx.donated = donate and compiled and x.dtype == dtype and x.is_contiguous()
        mem = _buffers.adopt(x) if ctx.donated else _buffers.empty(x.shape, dtype, x.device)
        r0 = torch.gt(m_prev - thr, 0).to(dtype)  # r_0 = H(mem0 - θ)
        # the spikes are the caller's (the next layer keeps them until its backward): not a pooled buffer, which
        # would stay resident after they are freed, through this neuron's backward (buffers.output: see there)
        spk = _buffers.output(x.shape, dtype, x.device)
        r = r0
        if compiled:
            _compiled.lif_forward(x, m_prev, r0, b, thr, zero, spk, mem)
        for t in range(0 if compiled else x.shape[0]):
            m_t = mem[t]
            torch.mul(b, m_prev, out=m_t)
            if zero:
                # b·((1 - r)·m): entries with r = 1 become exactly 0, the rest b·m (snnTorch's rounding)
                m_t.addcmul_(m_t, r, value=-1)
                m_t.add_(x[t])
            else:
                m_t.add_(x[t])
                m_t.addcmul_(r, thr, value=-1)  # r·θ is exact, so this is (b·m + x) - r·θ
            r = spk[t]
            torch.gt(m_t, thr, out=r)  # s_t = H(m_t - θ) (m > θ iff m - θ > 0 in IEEE), also r_{t+1}
            m_prev = m_t
        ctx.zero = zero
        ctx.detach_reset = detach_reset
        ctx.spike_fn = spike_fn
        ctx.has_mem0 = mem0 is not None
        ctx.x_dtype = x.dtype
        # the spikes are not saved: backward recomputes r_t = H(m_{t-1} - θ) from mem with the same comparison
        ctx.save_for_backward(mem, mem0 if mem0 is not None else r0, r0, b, thr)
        return spk, mem

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_spk: Tensor | None, g_mem: Tensor | None) -> tuple[Tensor | None, ...]:
        _buffers.ensure_unspent(ctx, "LIF")
        mem, mem0_saved, r0, b, thr = ctx.saved_tensors
        mem = mem.detach()
        need_x, need_m0, need_b, need_thr = ctx.needs_input_grad[:4]
        if g_spk is None and g_mem is None:
            return (None,) * 8
        steps = mem.shape[0]
        zero, detach_reset = ctx.zero, ctx.detach_reset
        sg_fn = ctx.spike_fn.grad
        mem0 = mem0_saved.to(mem.dtype) if ctx.has_mem0 else torch.zeros_like(mem[0])
        # time is processed in chunks of about _CHUNK_ELEMENTS values from the end, so that the surrogate and
        # k_t temporaries stay chunk-sized (the only [T, ...] buffer allocated here is acc, the input gradient)
        chunk = max(1, _CHUNK_ELEMENTS // max(mem[0].numel(), 1))
        bounds = [(max(0, e - chunk), e) for e in range(steps, 0, -chunk)]

        def prev_reset(s: int, e: int) -> tuple[Tensor, Tensor]:
            """(m_{t-1}, r_t) for t in [s, e): mem0 and r0 at t = 0, else mem[t-1] and H(mem[t-1] - θ)."""
            if s > 0:
                prev = mem[s - 1:e - 1]
                return prev, torch.gt(prev, thr, out=torch.empty_like(prev))
            prev = torch.cat([mem0.expand(1, *mem.shape[1:]), mem[:e - 1]])
            reset = torch.gt(prev, thr, out=torch.empty_like(prev))
            reset[0] = r0
            return prev, reset

        def k_of(prev: Tensor, reset: Tensor) -> Tensor:
            """k_t = ∂m_t/∂m_{t-1}."""
            if zero:
                k = b * (1 - reset)
                if not detach_reset:
                    k = k - b * prev * sg_fn(prev - thr)
                return k
            if not detach_reset:
                return b - thr * sg_fn(prev - thr)
            return b

        per_step = zero or not detach_reset
        grad_thr = None
        if (type(ctx.spike_fn) in _compiled.LIF_SURROGATES and mem.is_contiguous()
                and _compiled.on_cpu(mem, b, thr, g_spk, g_mem)):  # the loop below in one compiled pass
            # the membranes are read no more once the recursion has passed them, unless β's or θ's gradient (their
            # reset terms) needs them: then a donated buffer is not overwritten
            in_place = ctx.donated and not (need_b or need_thr)
            acc, grad_thr = _compiled.lif_backward(g_spk, g_mem, mem, b, thr, ctx.spike_fn, zero, detach_reset,
                                                   need_thr, in_place)
            ctx.spent = in_place
            if grad_thr is not None:
                grad_thr = grad_thr.to(thr.dtype)
        else:
            acc = _buffers.empty(mem.shape, mem.dtype, mem.device)
            k_next: Tensor | None = None  # k_e of the chunk after the current one (its first step)
            for s, e in bounds:
                # G_t: the gradient reaching m_t directly, from s_t (through the surrogate) and from m_t as an output
                part = acc[s:e]
                if g_spk is not None:
                    torch.mul(g_spk[s:e], sg_fn(mem[s:e] - thr), out=part)
                    if need_thr:  # s_t depends on θ through m_t - θ
                        piece = -part.sum_to_size(thr.shape)
                        grad_thr = piece if grad_thr is None else grad_thr + piece
                    if g_mem is not None:
                        part.add_(g_mem[s:e])
                else:
                    part.copy_(g_mem[s:e])
                # reverse recurrence a_t = G_t + k_{t+1}·a_{t+1}, in place (a_t = dL/dm_t = dL/dx_t)
                if e < steps:
                    part[-1].addcmul_(k_next, acc[e])
                k = k_of(*prev_reset(s, e)) if per_step else b
                _compiled.reverse_scan_(part, k, per_step)
                k_next = k[0] if per_step else k
                del k
        grad_m0 = None
        if need_m0 and ctx.has_mem0:
            grad_m0 = (k_of(mem0, r0) * acc[0]).to(mem0_saved.dtype)

        def over_time(fn: Callable[[Tensor, Tensor, Tensor], Tensor], shape: torch.Size) -> Tensor:
            """Σ_t fn(a_t, m_{t-1}, r_t), reduced to ``shape`` chunk by chunk."""
            total = None
            for s, e in bounds:
                piece = fn(acc[s:e], *prev_reset(s, e)).sum_to_size(shape)
                total = piece if total is None else total + piece
            return total

        prev_tail = mem[:-1]

        def dot_over_time(other_tail: Tensor, other0: Tensor) -> Tensor:
            """Σ_t a_t·o_t as a 0-d tensor, with BLAS dot products (no [T, ...] temporary)."""
            total = torch.dot(acc[0].reshape(-1), other0.reshape(-1))
            if steps > 1:
                total = total + torch.dot(acc[1:].reshape(-1), other_tail.reshape(-1))
            return total

        grad_b = None
        if need_b:  # ∂m_t/∂b = m_{t-1} (subtract) or (1 - r_t)·m_{t-1} (zero)
            if zero:
                grad_b = over_time(lambda a, p, r: a * p * (1 - r), b.shape)
            elif b.dim() == 0:
                grad_b = dot_over_time(prev_tail, mem0)
            else:
                grad_b = over_time(lambda a, p, r: a * p, b.shape)
        if need_thr:
            # ∂m_t/∂θ through the reset: -r_t (subtract, the -r_t·θ term) and, without detach,
            # ∂r_t/∂θ = -σ'(m_{t-1} - θ) times ∂m_t/∂r_t = -θ (subtract) or -b·m_{t-1} (zero)
            if zero:
                terms = (lambda a, p, r: a * (b * p) * sg_fn(p - thr)) if not detach_reset else None
            elif detach_reset and thr.dim() == 0:
                terms = None
                reset_dot = -dot_over_time(torch.gt(prev_tail, thr, out=torch.empty_like(prev_tail)), r0)  # a [T-1, ...] temporary
                grad_thr = reset_dot if grad_thr is None else grad_thr + reset_dot
            elif detach_reset:
                terms = lambda a, p, r: -(a * r)  # noqa: E731
            else:
                terms = lambda a, p, r: a * (thr * sg_fn(p - thr) - r)  # noqa: E731
            reset_part = over_time(terms, thr.shape) if terms is not None else None
            if grad_thr is None:
                grad_thr = reset_part if reset_part is not None else torch.zeros_like(thr)
            elif reset_part is not None:
                grad_thr = grad_thr + reset_part
        grad_x = (acc if acc.dtype == ctx.x_dtype else acc.to(ctx.x_dtype)) if need_x else None
        return grad_x, grad_m0, grad_b, grad_thr, None, None, None, None
