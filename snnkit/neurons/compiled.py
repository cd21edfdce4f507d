"""Compiled (numba) loops over time for the fused LIF and current-based LIF on CPU: the forward recursion of a
whole population in one call, and the reverse linear scan of the hand-written BPTT backward passes
(``a_j ← a_j + k_j·a_{j+1}``). Written step by step in Python with torch, each time step costs a few
tensor operations on a ``[B, N]`` slice, and at T = 1000 the per-call overhead of those operations exceeded
the arithmetic; here the loop nest is one call, time outside, neurons inside (contiguous, vectorised).

The LIF and current-based LIF forward kernels use the same operations in the same order as the torch loops
they replace (a product, then a sum, each rounded; no fused multiply-add, which numba does not form without
fastmath; where the torch loop uses ``addcmul`` the product is exact, a spike times θ or a membrane), so
spikes and membranes are identical bit for bit. The two-stage scan and the reverse scans replace
``addcmul`` with a general product, which torch may fuse with the sum: they agree with the torch loops to
round-off (tested). Other devices and dtypes take the torch loops (:func:`on_cpu`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from numba import njit
from torch import Tensor

from snnkit.neurons import buffers as _buffers
from snnkit.neurons.surrogate import ATan, FastSigmoid

__all__ = ["on_cpu", "bernoulli", "cuba_forward", "gumbel_softmax", "lif_backward", "lif_forward", "recurrence_backward",
           "reverse_scan_", "stochastic_backward", "tanh_relu_bernoulli", "two_stage_scan", "uniform", "PRESCALE",
           "fire_prescaled"]


def on_cpu(*tensors: Tensor | None) -> bool:
    """Whether the compiled loops apply: every tensor on CPU, float32 or float64."""
    return all(t is None or (t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64))
               for t in tensors)


def _flat(t: Tensor, shape: torch.Size, dtype: torch.dtype) -> np.ndarray:
    """``t`` broadcast to ``shape``, as a contiguous 1-D array of ``dtype`` (a copy where needed)."""
    return t.detach().to(dtype).expand(shape).reshape(-1).contiguous().numpy()


#: The least period worth a loop of its own: shorter ones (a scalar decay) are spread over the whole step.
MIN_PERIOD = 128


def factor_axes(shape: torch.Size, *factors: Tensor) -> int:
    """Index d such that the factors (broadcastable to one step ``shape``) are the same along ``shape[:d]``: element
    i of a flat step takes factor ``i % prod(shape[d:])``. The largest such d whose period has at least
    :data:`MIN_PERIOD` elements (a scalar or a short per-neuron factor is spread over more trailing axes), else 0
    (the whole step), as where they vary over a leading axis."""
    bshape = torch.broadcast_shapes(*(f.shape for f in factors))
    if len(bshape) > len(shape):
        return 0
    bs = (1,) * (len(shape) - len(bshape)) + tuple(bshape)
    d = len(shape)
    while d > 0 and bs[d - 1] == shape[d - 1]:
        d -= 1
    if any(v != 1 for v in bs[:d]):
        return 0
    while d > 0 and math.prod(shape[d:]) < MIN_PERIOD:
        d -= 1
    return d


def _period(t: Tensor, shape: torch.Size, d: int, dtype: torch.dtype) -> np.ndarray:
    """``t``'s values over one period of a flat step (``shape[d:]``, :func:`factor_axes`), contiguous, of ``dtype``."""
    lead = (1,) * d
    full = t.detach().to(dtype).reshape((1,) * (len(shape) - t.dim()) + tuple(t.shape))
    return full.expand(lead + tuple(shape[d:])).reshape(-1).contiguous().numpy()


@njit(cache=True, nogil=True)
def _lif_forward(x, m0, r0, b, thr, zero, spk, mem):
    steps, n = x.shape
    m_prev = m0.copy()
    r = r0.copy()
    for t in range(steps):
        for i in range(n):
            m = b[i] * m_prev[i]
            if zero:
                m = m - m * r[i]  # b·((1 - r)·m): exactly 0 where r = 1
                m = m + x[t, i]
            else:
                m = m + x[t, i]
                m = m - r[i] * thr[i]  # r·θ is exact
            mem[t, i] = m
            s = m > thr[i]
            spk[t, i] = s
            r[i] = s
            m_prev[i] = m


def lif_forward(x: Tensor, m_prev: Tensor, r0: Tensor, b: Tensor, thr: Tensor, zero: bool, spk: Tensor,
                mem: Tensor) -> None:
    """The LIF forward of :mod:`snnkit.neurons.functional` over all ``T`` steps into ``spk`` and ``mem``
    (``[T, ...]``, contiguous, the compute dtype); ``m_prev`` and ``r0`` the state before step 0."""
    steps, shape, dtype = x.shape[0], x.shape[1:], mem.dtype
    xs = x.detach().to(dtype).reshape(steps, -1).numpy()
    _lif_forward(xs, _flat(m_prev, shape, dtype), _flat(r0, shape, dtype), _flat(b, shape, dtype),
                 _flat(thr, shape, dtype), bool(zero), spk.view(steps, -1).numpy(), mem.view(steps, -1).numpy())


@njit(inline="always")
def _surrogate(kind, u, c1, c2, one):
    """dS/dU of :mod:`snnkit.neurons.surrogate`'s spike functions with their torch expressions' operation order:
    kind 0 ATan ``(1/((u·c1)² + 1))·c2`` (c1 = πα/2, c2 = α/2), kind 1 FastSigmoid ``1/(|u|·c1 + 1)²``
    (c1 = the slope)."""
    if kind == 0:
        v = u * c1
        return (one / (v * v + one)) * c2
    v = abs(u) * c1 + one
    return one / (v * v)


@njit(inline="always")
def _lif_k(variant, sg, m, thr, b, c1, c2, one):
    """k_{t+1} = ∂m_{t+1}/∂m_t from m_t (the reset r_{t+1} = H(m_t - θ)), as functional's ``k_of``: variant 0
    (subtract, detached reset) b; 1 (zero, detached) b·(1 - r); 2 (zero) b·(1 - r) - (b·m)·σ'(m - θ); 3
    (subtract) b - θ·σ'(m - θ)."""
    if variant == 0:
        return b
    if variant == 3:
        return b - thr * _surrogate(sg, m - thr, c1, c2, one)
    r = one if m > thr else one - one
    k = b * (one - r)
    if variant == 2:
        k = k - (b * m) * _surrogate(sg, m - thr, c1, c2, one)
    return k


@njit(inline="always")
def _lif_back_period(variant, sg, o, o_next, m, b, thr, c1, c2, one):
    """``o_t += k_{t+1}·o_{t+1}`` over one period (``m`` the row m_t, ``o`` G_t in, a_t out)."""
    for j in range(o.shape[0]):
        o[j] = o[j] + _lif_k(variant, sg, m[j], thr[j], b[j], c1, c2, one) * o_next[j]


@njit(inline="always")
def _lif_g_period(sg, sums, o, g, m, thr, c1, c2, one, d_thr):
    """``o = g·σ'(m - θ)`` over one period; ``sums``: also added to ``d_thr`` (θ's gradient through the spikes)."""
    for j in range(o.shape[0]):
        v = g[j] * _surrogate(sg, m[j] - thr[j], c1, c2, one)
        o[j] = v
        if sums:
            d_thr[j] += v


@njit(cache=True, nogil=True)
def _lif_backward(g_spk, has_spk, g_mem, has_mem, mem, b, thr, sg, c1, c2, variant, need_thr, d_thr, out, alias,
                  scratch):
    """Rows ``T-1 … 0`` of the LIF's reverse recursion ``a_t = G_t + k_{t+1}·a_{t+1}`` into ``out`` (a_t =
    dL/dx_t), with ``G_t = dL/ds_t·σ'(m_t - θ) + dL/dm_t``; the factors hold one period (:func:`factor_axes`).
    ``need_thr``: ``d_thr`` (one period, float64) receives Σ_t dL/ds_t·σ'(m_t - θ). ``alias``: ``out`` is ``mem``
    (row t is read only before it is written: m_t is first copied to ``scratch``, one row)."""
    steps, n = mem.shape
    k = b.shape[0]
    one = out.dtype.type(1.0)
    for t in range(steps - 1, -1, -1):
        o_t, m_t = out[t], mem[t]
        if alias:
            scratch[:] = m_t
            m_t = scratch
        if has_spk:  # G_t: one loop per (surrogate, sums), both constants
            g_t = g_spk[t]
            for lo in range(0, n, k):
                hi = lo + k
                if sg == 0 and need_thr:
                    _lif_g_period(0, True, o_t[lo:hi], g_t[lo:hi], m_t[lo:hi], thr, c1, c2, one, d_thr)
                elif sg == 0:
                    _lif_g_period(0, False, o_t[lo:hi], g_t[lo:hi], m_t[lo:hi], thr, c1, c2, one, d_thr)
                elif need_thr:
                    _lif_g_period(1, True, o_t[lo:hi], g_t[lo:hi], m_t[lo:hi], thr, c1, c2, one, d_thr)
                else:
                    _lif_g_period(1, False, o_t[lo:hi], g_t[lo:hi], m_t[lo:hi], thr, c1, c2, one, d_thr)
            if has_mem:
                gm = g_mem[t]
                for i in range(n):
                    o_t[i] = o_t[i] + gm[i]
        else:
            o_t[:] = g_mem[t]
        if t == steps - 1:
            continue
        o_n = out[t + 1]
        for lo in range(0, n, k):  # one loop per (variant, surrogate), both constants
            hi = lo + k
            if variant == 0:
                _lif_back_period(0, 0, o_t[lo:hi], o_n[lo:hi], m_t[lo:hi], b, thr, c1, c2, one)
            elif variant == 1:
                _lif_back_period(1, 0, o_t[lo:hi], o_n[lo:hi], m_t[lo:hi], b, thr, c1, c2, one)
            elif variant == 2 and sg == 0:
                _lif_back_period(2, 0, o_t[lo:hi], o_n[lo:hi], m_t[lo:hi], b, thr, c1, c2, one)
            elif variant == 2:
                _lif_back_period(2, 1, o_t[lo:hi], o_n[lo:hi], m_t[lo:hi], b, thr, c1, c2, one)
            elif sg == 0:
                _lif_back_period(3, 0, o_t[lo:hi], o_n[lo:hi], m_t[lo:hi], b, thr, c1, c2, one)
            else:
                _lif_back_period(3, 1, o_t[lo:hi], o_n[lo:hi], m_t[lo:hi], b, thr, c1, c2, one)


#: Spike functions whose surrogate the compiled LIF backward evaluates (exactly these classes: a subclass may change
#: ``grad``): class -> (kind, c1, c2) of :func:`_surrogate` from the spike function's parameter.
LIF_SURROGATES = {ATan: lambda f: (0, math.pi / 2 * f.alpha, f.alpha / 2),
                  FastSigmoid: lambda f: (1, f.slope, 0.0)}


def lif_backward(g_spk: Tensor | None, g_mem: Tensor | None, mem: Tensor, b: Tensor, thr: Tensor, spike_fn: Any,
                 zero: bool, detach_reset: bool, need_thr: bool = False,
                 in_place: bool = False) -> tuple[Tensor, Tensor | None]:
    """``(dL/dx [T, ...], θ's gradient through the spikes)`` of :class:`snnkit.neurons.functional._FusedLIF` in one
    reverse pass over ``mem`` (the saved membranes, contiguous; b and θ broadcastable to one step): G_t, k_{t+1}
    (recomputing the reset from m_t with the forward's comparison) and the recursion per element, where the torch
    path takes about ten elementwise passes per step. The second item, with ``need_thr``, is
    ``-Σ_t dL/ds_t·σ'(m_t - θ)`` summed to θ's shape (float64; θ's terms through the reset are the caller's), else
    None. ``spike_fn`` one of :data:`LIF_SURROGATES`. ``in_place``: dL/dx is written over ``mem`` (returned as the
    first item), for a caller that owns the membranes and needs them no longer."""
    steps, shape, dtype = mem.shape[0], mem.shape[1:], mem.dtype
    sg, c1, c2 = LIF_SURROGATES[type(spike_fn)](spike_fn)
    d = factor_axes(shape, b, thr)
    out = mem if in_place else _buffers.empty(mem.shape, dtype)
    rows = (lambda t: t.detach().to(dtype).reshape(steps, -1).contiguous().numpy())  # noqa: E731
    dummy = np.empty((1, 1), dtype=out.numpy().dtype)
    variant = (2 if not detach_reset else 1) if zero else (3 if not detach_reset else 0)
    np_t = out.numpy().dtype.type
    sums = need_thr and g_spk is not None
    d_thr = np.zeros(math.prod(shape[d:]) if sums else 1)
    _lif_backward(rows(g_spk) if g_spk is not None else dummy, g_spk is not None,
                  rows(g_mem) if g_mem is not None else dummy, g_mem is not None, mem.view(steps, -1).numpy(),
                  _period(b, shape, d, dtype), _period(thr, shape, d, dtype), sg, np_t(c1), np_t(c2), variant,
                  sums, d_thr, out.view(steps, -1).numpy(), in_place,
                  np.empty(math.prod(shape) if in_place else 1, dtype=dummy.dtype))
    return out, (-_per_step(d_thr, shape, d)).sum_to_size(thr.shape) if sums else None


@njit(cache=True, nogil=True)
def _cuba_forward(x, s0, m0, r0, a, b, gain, thr, spsn_gain, current, zero, syn, mem, pre, spk):
    steps, n = x.shape
    s_prev = s0.copy()
    m_prev = m0.copy()
    r = r0.copy()
    for t in range(steps):
        ts = t if syn.shape[0] == steps else t % 2  # a [T, ...] buffer, or two alternating rows
        tm = t if mem.shape[0] == steps else t % 2
        tp = t if pre.shape[0] == steps else 0
        for i in range(n):
            sv = a[i] * s_prev[i]
            sv = sv + x[t, i]
            syn[ts, i] = sv
            s_prev[i] = sv
            v = b[i] * m_prev[i]
            v = v + (gain[i] * sv if spsn_gain else sv)
            if current:  # spike from V, reset in the same step
                pre[tp, i] = v
                s = v > thr[i]
                spk[t, i] = s
                u = v - v * s if zero else v - s * thr[i]
            else:  # reset from the previous spike, spike from the reset membrane
                u = v - v * r[i] if zero else v - r[i] * thr[i]
                s = u > thr[i]
                spk[t, i] = s
                r[i] = s
            mem[tm, i] = u
            m_prev[i] = u


def cuba_forward(x: Tensor, s0: Tensor, m0: Tensor, r0: Tensor | None, a: Tensor, b: Tensor, gain: Tensor | None,
                 thr: Tensor, current: bool, zero: bool, syn: Tensor, mem: Tensor, pre: Tensor | None,
                 spk: Tensor) -> None:
    """The forward of :class:`snnkit.neurons.cuba._FusedCubaLIF` over all steps: ``syn``, ``mem`` and ``pre``
    are ``[T, ...]`` or two alternating rows (``pre`` one row when not kept; None without "current"), ``spk``
    ``[T, ...]``; ``gain`` is ``1 - b`` (None: 1); ``r0`` the reset before step 0 ("previous")."""
    steps, shape, dtype = x.shape[0], x.shape[1:], spk.dtype
    rows = (lambda buf: buf.view(buf.shape[0], -1).numpy())  # noqa: E731
    zeros = torch.zeros((), dtype=dtype)
    _cuba_forward(x.detach().to(dtype).reshape(steps, -1).numpy(), _flat(s0, shape, dtype), _flat(m0, shape, dtype),
                  _flat(zeros if r0 is None else r0, shape, dtype), _flat(a, shape, dtype), _flat(b, shape, dtype),
                  _flat(zeros if gain is None else gain, shape, dtype), _flat(thr, shape, dtype), gain is not None,
                  bool(current), bool(zero), rows(syn), rows(mem), rows(pre) if pre is not None else
                  np.empty((1, spk[0].numel()), dtype=rows(spk).dtype), rows(spk))


@njit(cache=True, nogil=True)
def _reverse_scan(a, k, shift):
    steps, n = a.shape
    per_step = k.shape[0] > 1
    for j in range(steps - 2, -1, -1):
        kj = k[j + shift] if per_step else k[0]
        for i in range(n):
            a[j, i] = a[j, i] + kj[i] * a[j + 1, i]


def reverse_scan_(a: Tensor, k: Tensor, per_step: bool, shift: int = 1) -> Tensor:
    """``a[j] += k[j+shift]·a[j+1]`` for ``j = L-2 … 0``, in place: ``a`` ``[L, ...]``; ``k`` ``[L, ...]`` (one
    factor per step, ``per_step``; ``shift`` 1 or 0) or broadcastable to one step (the same factor every step).
    Compiled on CPU, a loop of ``addcmul_`` elsewhere. Returns ``a``."""
    steps = a.shape[0]
    if on_cpu(a, k) and a.is_contiguous():
        kk = k.detach().to(a.dtype)
        kk = kk.reshape(steps, -1) if per_step else kk.expand(a.shape[1:]).reshape(1, -1)
        if steps > 1:
            _reverse_scan(a.view(steps, -1).numpy(), kk.contiguous().numpy(), int(shift))
        return a
    for j in range(steps - 2, -1, -1):
        a[j].addcmul_(k[j + shift] if per_step else k, a[j + 1])
    return a


@njit(cache=True, nogil=True)
def _scan_rows(src, first, second, scale, out, mid, keep_mid, m_state, o_state, fresh, scaled):
    """Rows of the two-stage scan, continuing from ``m_state`` / ``o_state`` (updated in place); ``fresh``: row 0
    is the sequence's first step (``m_0 = src_0``, ``o_0 = m_0``). The factors hold one period (element i of a row
    takes factor ``i % len(first)``)."""
    steps, n = src.shape
    k = first.shape[0]
    for t in range(steps):
        tm = t if keep_mid else 0
        for lo in range(0, n, k):  # one period at a time, as contiguous slices (the loop over them vectorises)
            hi = lo + k
            _scan_period(src[t, lo:hi], first, second, scale, out[t, lo:hi], mid[tm, lo:hi], m_state[lo:hi],
                         o_state[lo:hi], fresh and t == 0, scaled)


@njit(inline="always")
def _scan_period(src, first, second, scale, out, mid, m_state, o_state, start, scaled):
    for j in range(src.shape[0]):
        if start:
            m = src[j]
            o = m
        else:
            m = src[j] + first[j] * m_state[j]
            o = m + second[j] * o_state[j]
        mid[j] = m
        m_state[j] = m
        o_state[j] = o
        out[j] = o * scale[j] if scaled else o


def two_stage_scan(src: Tensor, first: Tensor, second: Tensor, out: Tensor, mid: Tensor | None,
                   scale: Tensor | None = None) -> Tensor:
    """:func:`snnkit.neurons.parallel._two_stage_scan` compiled (forward in time): ``m_t = src_t + first·m_{t-1}``,
    ``o_t = m_t + second·o_{t-1}``, ``out_t = scale·o_t`` (``o_t`` without ``scale``) over ``[T, ...]`` tensors
    of one shape (``out`` and ``mid`` contiguous, the compute dtype; the factors broadcastable to one step)."""
    steps, shape, dtype = src.shape[0], src.shape[1:], out.dtype
    keep = mid is not None
    n = out[0].numel()
    np_dtype = out.numpy().dtype
    mid_np = mid.view(steps, -1).numpy() if keep else np.empty((1, n), dtype=np_dtype)
    ones = torch.ones((), dtype=dtype)
    scale = ones if scale is None else scale
    d = factor_axes(shape, first, second, scale)
    _scan_rows(src.detach().to(dtype).reshape(steps, -1).numpy(), _period(first, shape, d, dtype),
               _period(second, shape, d, dtype), _period(scale, shape, d, dtype),
               out.view(steps, -1).numpy(), mid_np, keep, np.zeros(n, np_dtype), np.zeros(n, np_dtype), True,
               scale is not ones)
    return out


@njit(inline="always")
def _firing_grad(kind, q, g, scale, one):
    """dL/dU of a stochastic firing from its saved probability (soft value) ``q`` and dL/dS ``g``, with the
    torch expressions' operation order: SB ``(1 - p)·p·p·g``, TRB ``(g·p)·(1 - p²)``, GS ``(1 - y)·y·g·(2/τ)``."""
    if kind == 0:
        return (one - q) * q * q * g
    if kind == 1:
        return (g * q) * (one - q * q)
    return (one - q) * q * g * scale


@njit(cache=True, nogil=True)
def _recurrence_backward(g, p, kind, scale, extra, has_extra, alpha, beta, omb, syn, mem, mem_scale, need_alpha,
                         need_beta, out, d_alpha, d_beta, a_next, c_next, last, prev_syn, prev_mem, has_prev):
    """Rows ``T-1 … 0`` of the reverse pass, continuing from ``a_next`` / ``c_next`` (updated in place); ``last``:
    the final row is the sequence's last step; ``has_prev``: ``prev_syn`` / ``prev_mem`` hold the step before
    row 0 (the decay gradients' terms that reach across the rows' start). ``mem`` (and ``prev_mem``) hold U
    times ``1 / mem_scale``, a power of two (:data:`PRESCALE`), so ``mem_scale·mem`` is U bit for bit. The factors
    and the decay gradients' sums ``d_alpha`` / ``d_beta`` hold one period: element i of a row takes factor
    ``i % len(alpha)`` and adds to that sum.

    Each row is a few passes over its n neurons, every branch outside the inner loops (one loop with them all
    in it was three to five times slower: it did not vectorise): dL/dU_t and the recursion into ``out``'s row in
    one, then the decay gradients' sums. The same operations in the same order per element as
    :func:`_firing_grad` and the recursion of :func:`recurrence_backward`'s docstring."""
    steps, n = g.shape
    k = alpha.shape[0]
    one = out.dtype.type(1.0)
    for t in range(steps - 1, -1, -1):
        o_t, g_t = out[t], g[t]
        first = last and t == steps - 1
        if has_extra:  # dL/dU = the firing's + the potential's other uses, into out's row first
            if kind >= 0:
                p_t = p[t]
                for i in range(n):
                    o_t[i] = _firing_grad(kind, p_t[i], g_t[i], scale, one)
            else:
                o_t[:] = g_t
            e_t = extra[t]
            for i in range(n):
                o_t[i] = o_t[i] + e_t[i]
            for lo in range(0, n, k):
                _reverse_period(-1, o_t[lo:lo + k], o_t[lo:lo + k], o_t[lo:lo + k], a_next[lo:lo + k],
                                c_next[lo:lo + k], alpha, beta, omb, scale, one, first)
        # one loop per firing kind, each passing its kind as a constant (folded away when inlined), over one period
        # at a time as contiguous slices (the loops over them vectorise)
        elif kind == 0:
            for lo in range(0, n, k):
                _reverse_period(0, g_t[lo:lo + k], p[t, lo:lo + k], o_t[lo:lo + k], a_next[lo:lo + k],
                                c_next[lo:lo + k], alpha, beta, omb, scale, one, first)
        elif kind == 1:
            for lo in range(0, n, k):
                _reverse_period(1, g_t[lo:lo + k], p[t, lo:lo + k], o_t[lo:lo + k], a_next[lo:lo + k],
                                c_next[lo:lo + k], alpha, beta, omb, scale, one, first)
        elif kind == 2:
            for lo in range(0, n, k):
                _reverse_period(2, g_t[lo:lo + k], p[t, lo:lo + k], o_t[lo:lo + k], a_next[lo:lo + k],
                                c_next[lo:lo + k], alpha, beta, omb, scale, one, first)
        else:
            for lo in range(0, n, k):
                _reverse_period(-1, g_t[lo:lo + k], g_t[lo:lo + k], o_t[lo:lo + k], a_next[lo:lo + k],
                                c_next[lo:lo + k], alpha, beta, omb, scale, one, first)
        if need_beta:  # ∂U_t/∂β = U_{t-1} - syn_t
            s_t = syn[t]
            if t > 0 or has_prev:
                m_prev = mem[t - 1] if t > 0 else prev_mem
                for lo in range(0, n, k):
                    _beta_sums(a_next[lo:lo + k], s_t[lo:lo + k], m_prev[lo:lo + k], mem_scale, d_beta, True)
            else:
                for lo in range(0, n, k):
                    _beta_sums(a_next[lo:lo + k], s_t[lo:lo + k], s_t[lo:lo + k], mem_scale, d_beta, False)
        if need_alpha and (t > 0 or has_prev):  # ∂syn_t/∂α = syn_{t-1}
            s_prev = syn[t - 1] if t > 0 else prev_syn
            for lo in range(0, n, k):
                _alpha_sums(o_t[lo:lo + k], s_prev[lo:lo + k], d_alpha)


@njit(inline="always")
def _reverse_period(kind, g, q, o, a_next, c_next, alpha, beta, omb, scale, one, first):
    """The reverse recursion over one period: dL/dU (from dL/dS ``g`` and ``q`` by :func:`_firing_grad` of
    ``kind``, or ``g`` itself for kind -1), dL/dX into ``o`` (``first``: the sequence's last step)."""
    if first:
        for j in range(o.shape[0]):
            a = g[j] if kind < 0 else _firing_grad(kind, q[j], g[j], scale, one)
            a_next[j] = a
            c_next[j] = a
            o[j] = a * omb[j]
    else:
        for j in range(o.shape[0]):
            v = g[j] if kind < 0 else _firing_grad(kind, q[j], g[j], scale, one)
            a = v + beta[j] * a_next[j]
            c = a + alpha[j] * c_next[j]
            a_next[j] = a
            c_next[j] = c
            o[j] = c * omb[j]


@njit(inline="always")
def _beta_sums(a, s, m_prev, mem_scale, d_beta, has_prev):
    if has_prev:
        for j in range(a.shape[0]):
            d = -(a[j] * s[j])
            d += a[j] * (mem_scale * m_prev[j])
            d_beta[j] += d
    else:
        for j in range(a.shape[0]):
            d_beta[j] += -(a[j] * s[j])


@njit(inline="always")
def _alpha_sums(o, s_prev, d_alpha):
    for j in range(o.shape[0]):
        d_alpha[j] += o[j] * s_prev[j]


def recurrence_backward(grad: Tensor, alpha: Tensor, beta: Tensor, syn: Tensor | None, mem: Tensor | None,
                        need_alpha: bool, need_beta: bool, firing: tuple[str, Tensor, float] | None = None,
                        extra: Tensor | None = None,
                        out: Tensor | None = None) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """The backward of :class:`snnkit.neurons.parallel._Recurrence` in one reverse pass: ``(dL/dX [T, ...],
    dL/dα, dL/dβ)``, the decay gradients per element of one step (float64 sums; the caller reduces them to
    the decays' shapes), None where not needed. ``syn`` and ``mem`` (U): the forward's, needed for the decay
    gradients. With ``firing = (kind, p, scale)`` (kind "SB", "TRB" or "GS", ``p`` the saved probability or
    soft value, contiguous like ``grad``) ``grad`` is dL/dS of that firing and is turned into dL/dU on the way
    (:func:`stochastic_backward`'s expressions); ``extra`` is added to dL/dU (the potential's other uses).
    ``out``: where dL/dX goes (contiguous, the compute dtype; it may be ``p``, read per element before it is
    written), else a new buffer."""
    steps, shape = grad.shape[0], grad.shape[1:]
    dtype = torch.promote_types(grad.dtype, beta.dtype)
    out = _buffers.empty(grad.shape, dtype) if out is None else out
    n = out[0].numel()
    d = factor_axes(shape, alpha, beta)
    k = math.prod(shape[d:])
    d_alpha = np.zeros(k if need_alpha else 1)
    d_beta = np.zeros(k if need_beta else 1)
    np_dtype = out.numpy().dtype
    dummy = np.empty((1, 1), dtype=np_dtype)
    rows = (lambda t: t.detach().to(dtype).reshape(steps, -1).numpy() if t is not None else dummy)  # noqa: E731
    kind, p, scale = (-1, None, 1.0) if firing is None else (STOCHASTIC_KINDS[firing[0]], firing[1], firing[2])
    _recurrence_backward(rows(grad), rows(p), kind, np_dtype.type(scale), rows(extra), extra is not None,
                         _period(alpha, shape, d, dtype), _period(beta, shape, d, dtype),
                         _period(1 - beta.to(dtype), shape, d, dtype), rows(syn if need_alpha or need_beta else None),
                         rows(mem if need_beta else None), np_dtype.type(1.0), bool(need_alpha), bool(need_beta),
                         out.view(steps, -1).numpy(), d_alpha, d_beta, np.zeros(n, np_dtype), np.zeros(n, np_dtype),
                         True, dummy[0], dummy[0], False)
    return out, _per_step(d_alpha, shape, d) if need_alpha else None, _per_step(d_beta, shape, d) if need_beta else None


def _per_step(sums: np.ndarray, shape: torch.Size, d: int) -> Tensor:
    """A decay gradient's sums over one period, shaped ``(1,) * d + shape[d:]`` (for ``sum_to_size``)."""
    return torch.from_numpy(sums).reshape((1,) * d + tuple(shape[d:]))


@njit(cache=True, nogil=True)
def _stochastic_backward(kind, p, g, scale, one, out):
    for i in range(p.shape[0]):
        out[i] = _firing_grad(kind, p[i], g[i], scale, one)


STOCHASTIC_KINDS = {"SB": 0, "TRB": 1, "GS": 2}


def stochastic_backward(kind: str, p: Tensor, grad: Tensor, scale: float = 1.0) -> Tensor:
    """dL/dU of the straight-through stochastic firings from their saved probability (soft value) ``p`` and
    dL/dS ``grad`` (same shape, contiguous), in one pass with the torch expressions' operation order."""
    out = _buffers.empty(p.shape, p.dtype)
    _stochastic_backward(STOCHASTIC_KINDS[kind], p.reshape(-1).numpy(), grad.to(p.dtype).reshape(-1).numpy(),
                         p.new_tensor(scale).numpy()[()], p.new_tensor(1.0).numpy()[()],
                          out.view(-1).numpy())
    return out


# ------------------------------------------------------------------------------------------ random draws
#
# Counter-based draws for the stochastic firings on CPU: Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel
# random numbers: as easy as 1, 2, 3", SC 2011), the generator behind cuRAND's and torch's CUDA draws. Element
# i of a tensor takes 32-bit word i % 4 of block i // 4 (for float64, two words per element: 53 bits), the block
# index in the counter's low 64 bits (float32: the word's top 23 bits plus one half, exact in float32); the key and the counter's high 64 bits are drawn once per call from the
# torch generator. The draws are therefore a pure function of the generator's state and the element's index:
# reproducible under torch.manual_seed, independent of threads, and each call advances the generator (four
# 32-bit draws) so consecutive calls differ. Fused with the comparison (or the two-class Gumbel softmax), one
# pass replaces torch.rand's fill and the elementwise operations that follow it.

_PHILOX_M0 = np.uint64(0xD2511F53)
_PHILOX_M1 = np.uint64(0xCD9E8D57)
_PHILOX_W0 = np.uint64(0x9E3779B9)
_PHILOX_W1 = np.uint64(0xBB67AE85)
_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_SHIFT9 = np.uint64(9)
_SHIFT5 = np.uint64(5)
_SHIFT6 = np.uint64(6)


@njit(inline="always")
def _philox4x32(c0, c1, c2, c3, k0, k1):
    """Ten Philox rounds on a 128-bit counter (four words < 2^32 held in uint64) under a 64-bit key."""
    for _ in range(10):
        p0 = _PHILOX_M0 * c0
        p1 = _PHILOX_M1 * c2
        c0, c1, c2, c3 = (p1 >> _SHIFT32) ^ c1 ^ k0, p1 & _LOW32, (p0 >> _SHIFT32) ^ c3 ^ k1, p0 & _LOW32
        k0 = (k0 + _PHILOX_W0) & _LOW32
        k1 = (k1 + _PHILOX_W1) & _LOW32
    return c0, c1, c2, c3


@njit(cache=True, nogil=True)
def _philox_block(counter, key):
    """One Philox4x32-10 block for the known-answer tests: four counter words, two key words."""
    c = _philox4x32(np.uint64(counter[0]), np.uint64(counter[1]), np.uint64(counter[2]), np.uint64(counter[3]),
                    np.uint64(key[0]), np.uint64(key[1]))
    return np.array([c[0], c[1], c[2], c[3]], dtype=np.uint64)


@njit(inline="always")
def _open23(w):
    """A 32-bit word as a float32 uniform on the open interval (0, 1): its top 23 bits plus one half, × 2^-23
    (exact in float32; never 0 or 1, so neither a comparison with p = 0 or 1 nor a log can go wrong)."""
    return np.float32(np.int32(w >> _SHIFT9)) * np.float32(1.1920928955078125e-07) + np.float32(5.9604644775390625e-08)


@njit(inline="always")
def _open53(a, b):
    """Two 32-bit words as a float64 uniform on (0, 1) with 53 bits: (27 + 26 bits + 1/2) × 2^-53."""
    return ((np.float64(a >> _SHIFT5) * 67108864.0 + np.float64(b >> _SHIFT6)) + 0.5) * 1.1102230246251565e-16


@njit(inline="always")
def _words(j, key0, key1, hi0, hi1):
    ju = np.uint64(j)
    return _philox4x32(ju & _LOW32, ju >> _SHIFT32, hi0, hi1, key0, key1)


@njit(inline="always")
def _uniforms(j, key0, key1, hi0, hi1, wide):
    """The uniforms of block ``j``: four float32 (``wide`` False) or two float64 (the last two repeated)."""
    w0, w1, w2, w3 = _words(j, key0, key1, hi0, hi1)
    if wide:
        a, b = _open53(w0, w1), _open53(w2, w3)
        return a, b, a, b
    return np.float64(_open23(w0)), np.float64(_open23(w1)), np.float64(_open23(w2)), np.float64(_open23(w3))


@njit(cache=True, nogil=True)
def _draw_general(kind, src, out, start, key0, key1, hi0, hi1, wide, base):
    """Elements ``start …`` of :func:`_draw_uniform` (kind 0) or :func:`_draw_bernoulli` (kind 1) lane by lane:
    the tail after the last whole block."""
    per = 2 if wide else 4
    one = out.dtype.type(1.0)
    for j in range(start // per, (out.shape[0] + per - 1) // per):
        vals = _uniforms(base + j, key0, key1, hi0, hi1, wide)
        for lane in range(min(per, out.shape[0] - j * per)):
            i = j * per + lane
            v = out.dtype.type(vals[lane])
            if kind == 0:
                out[i] = v
            else:
                out[i] = one if v < src[i] else one - one


# The kernels below walk whole Philox blocks with straight-line lanes, so that LLVM vectorises the rounds over
# blocks (a branch per lane inside the block loop kept it scalar, several times slower than torch.rand).

@njit(cache=True, nogil=True)
def _draw_uniform(out, key0, key1, hi0, hi1, wide, base):
    if wide:
        for j in range(out.shape[0] // 2):
            w0, w1, w2, w3 = _words(base + j, key0, key1, hi0, hi1)
            out[2 * j] = _open53(w0, w1)
            out[2 * j + 1] = _open53(w2, w3)
        return
    for j in range(out.shape[0] // 4):
        w0, w1, w2, w3 = _words(base + j, key0, key1, hi0, hi1)
        out[4 * j] = _open23(w0)
        out[4 * j + 1] = _open23(w1)
        out[4 * j + 2] = _open23(w2)
        out[4 * j + 3] = _open23(w3)


@njit(cache=True, nogil=True)
def _draw_bernoulli(p, out, key0, key1, hi0, hi1, wide, base):
    one, zero = out.dtype.type(1.0), out.dtype.type(0.0)
    if wide:
        for j in range(out.shape[0] // 2):
            w0, w1, w2, w3 = _words(base + j, key0, key1, hi0, hi1)
            out[2 * j] = one if _open53(w0, w1) < p[2 * j] else zero
            out[2 * j + 1] = one if _open53(w2, w3) < p[2 * j + 1] else zero
        return
    for j in range(out.shape[0] // 4):
        w0, w1, w2, w3 = _words(base + j, key0, key1, hi0, hi1)
        i = 4 * j
        out[i] = one if _open23(w0) < p[i] else zero
        out[i + 1] = one if _open23(w1) < p[i + 1] else zero
        out[i + 2] = one if _open23(w2) < p[i + 2] else zero
        out[i + 3] = one if _open23(w3) < p[i + 3] else zero


@njit(inline="always")
def _trb_lane(v, s, spk, i, one, zero):
    q = s[i] + s[i] - one  # tanh(U) = 2σ(2U) - 1
    q = q if q > zero else zero
    s[i] = q
    spk[i] = one if v < q else zero


@njit(cache=True, nogil=True)
def _draw_trb(s, spk, key0, key1, hi0, hi1, wide, base):
    """ParaLIF's TRB: ``s = σ(2U)`` in, ``p = relu(2s - 1) = relu(tanh U)`` out in the same buffer, and
    ``spk = [uniform < p]`` (the uniforms of :func:`_draw_bernoulli`)."""
    one, zero = s.dtype.type(1.0), s.dtype.type(0.0)
    if wide:
        for j in range(s.shape[0] // 2):
            w0, w1, w2, w3 = _words(base + j, key0, key1, hi0, hi1)
            _trb_lane(_open53(w0, w1), s, spk, 2 * j, one, zero)
            _trb_lane(_open53(w2, w3), s, spk, 2 * j + 1, one, zero)
        return
    for j in range(s.shape[0] // 4):
        w0, w1, w2, w3 = _words(base + j, key0, key1, hi0, hi1)
        i = 4 * j
        _trb_lane(_open23(w0), s, spk, i, one, zero)
        _trb_lane(_open23(w1), s, spk, i + 1, one, zero)
        _trb_lane(_open23(w2), s, spk, i + 2, one, zero)
        _trb_lane(_open23(w3), s, spk, i + 3, one, zero)


@njit(cache=True, nogil=True)
def _gumbel_from_uniform(q, v, inv_t, unit):
    """The two-class Gumbel softmax in place: ``q = exp(-2U/τ)`` in, ``y = σ((logit v + 2U)/τ)`` out in q's buffer
    (``v/(v + q(1 - v))`` at τ = 1, else ``1/(1 + q·((1 - v)/v)^(1/τ))``); ``v`` the uniforms in, the spikes
    ``[y > 1/2]`` out in v's buffer. (A second pass after the draws: fused into the block loop, the division
    kept the rounds from vectorising.)"""
    one, half = q.dtype.type(1.0), q.dtype.type(0.5)
    if unit:
        for i in range(q.shape[0]):
            u = v[i]
            g = u / (u + q[i] * (one - u))
            q[i] = g
            v[i] = one if g > half else one - one
        return
    for i in range(q.shape[0]):
        u = v[i]
        g = q.dtype.type(one / (one + q[i] * ((one - u) / u) ** inv_t))
        q[i] = g
        v[i] = one if g > half else one - one


def _philox_key(generator: torch.Generator | None) -> tuple[np.uint64, ...]:
    """Key and counter offset of one call: four 32-bit draws from ``generator`` (torch's default CPU generator
    when None), so the draws follow torch.manual_seed and the generator's state."""
    words = torch.randint(0, 2 ** 32, (4,), dtype=torch.int64, generator=generator).tolist()
    return tuple(np.uint64(w) for w in words)


def _draw_into(src: np.ndarray | None, out: np.ndarray, key: tuple[np.uint64, ...], base: int) -> None:
    """``out = uniform`` (``src`` None) or ``out = [uniform < src]`` (Bernoulli(src)), flat arrays; the stream of
    ``key`` from block ``base`` on, the last partial block lane by lane."""
    wide = out.dtype == np.float64
    if src is None:
        _draw_uniform(out, *key, wide, base)
    else:
        _draw_bernoulli(src, out, *key, wide, base)
    per = 2 if wide else 4
    start = out.shape[0] // per * per
    if start < out.shape[0]:
        _draw_general(0 if src is None else 1, out if src is None else src, out, start, *key, wide, base)


@njit(cache=True, nogil=True)
def _trb_probability(s):
    """``s = σ(2U)`` in, ``p = relu(2s - 1)`` out in place: what :func:`_trb_lane` leaves in s, without the draws."""
    one, zero = s.dtype.type(1.0), s.dtype.type(0.0)
    for i in range(s.shape[0]):
        q = s[i] + s[i] - one
        s[i] = q if q > zero else zero


def _trb_into(s: np.ndarray, spk: np.ndarray, key: tuple[np.uint64, ...], base: int) -> None:
    """TRB from ``s = σ(2U)`` (flat): p into s's buffer, ``[uniform < p]`` into spk."""
    wide = s.dtype == np.float64
    _draw_trb(s, spk, *key, wide, base)
    per = 2 if wide else 4
    start = s.shape[0] // per * per
    if start < s.shape[0]:  # the last partial block: p first, then the draws of its lanes
        _trb_probability(s[start:])
        _draw_general(1, s, spk, start, *key, wide, base)


def _gumbel_into(q: np.ndarray, spk: np.ndarray, key: tuple[np.uint64, ...], base: int, temperature: float) -> None:
    """The Gumbel softmax from ``q = exp(-2U/τ)`` (flat): y into q's buffer, the draws and then the spikes into
    spk."""
    _draw_into(None, spk, key, base)
    _gumbel_from_uniform(q, spk, 1.0 / temperature, temperature == 1.0)


def _flat_np(t: Tensor) -> np.ndarray:
    return t.view(-1).numpy()


def block_size(dtype: torch.dtype) -> int:
    """Elements per Philox block: 4 float32 uniforms, 2 float64 ones. A tensor drawn in pieces gets the whole
    tensor's draws when every piece but the last starts and ends on a block boundary."""
    return 2 if dtype == torch.float64 else 4


def uniform(shape: torch.Size | tuple[int, ...], dtype: torch.dtype, generator: torch.Generator | None) -> Tensor:
    """Uniform draws on (0, 1) of ``shape`` (float32: 23 random bits, float64: 53) from Philox4x32-10 keyed by
    ``generator``: the stream :func:`bernoulli` and :func:`gumbel_softmax` compare against."""
    out = _buffers.empty(shape, dtype)
    _draw_into(None, _flat_np(out), _philox_key(generator), 0)
    return out


def bernoulli(p: Tensor, generator: torch.Generator | None) -> Tensor:
    """Spikes ``[uniform(p.shape) < p]`` in p's dtype, in one pass (``p`` contiguous, CPU, float32/64)."""
    out = _buffers.empty(p.shape, p.dtype)
    _draw_into(p.detach().reshape(-1).numpy(), _flat_np(out), _philox_key(generator), 0)
    return out


def tanh_relu_bernoulli(u: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """``(p, spikes)`` with ``p = relu(tanh U)``, spikes ``[uniform < p]`` (the stream of :func:`bernoulli`).
    torch's tanh is about four times slower than its sigmoid on this CPU, so p is taken as ``relu(2σ(2U) - 1)``
    (equal to round-off: an absolute difference of a few units of p's last place), the doubling, the relu and
    the draws in one pass after torch's sigmoid (:func:`fire_prescaled`)."""
    return fire_prescaled(torch.mul(u.detach(), 2.0), "TRB", generator)


def gumbel_softmax(u: Tensor, generator: torch.Generator | None, temperature: float) -> tuple[Tensor, Tensor]:
    """``(y, spikes)`` of the hard two-class Gumbel softmax: ``y = σ((logit v + 2U)/τ)`` for ``v`` the
    :func:`uniform` draws, spikes ``[y > 1/2]``. ``exp(-2U/τ)`` is taken by torch (vectorised) into the buffer
    that then receives y, the draws into the one that then receives the spikes; the logit and the sigmoid
    become one division, ``v/(v + q(1 - v))``, at τ = 1 (:func:`fire_prescaled`)."""
    v = torch.mul(u.detach(), -2.0 / temperature)
    if temperature == 1.0:
        return fire_prescaled(v, "GS", generator)
    spk = _buffers.output(v.shape, v.dtype)
    _gumbel_into(_flat_np(v.exp_()), _flat_np(spk), _philox_key(generator), 0, temperature)
    return v, spk


#: The factor by which each stochastic firing (GS at τ = 1) scales U before its elementwise function: SB σ(U), TRB
#: ``relu(2σ(2U) - 1)``, GS ``exp(-2U)``. A power of two, so folding it into the scan's output scale
#: (``PRESCALE·(1 - β)`` instead of ``1 - β``) gives the scaled potentials bit for bit and saves a pass over them
#: wherever U itself is not kept.
PRESCALE = {"SB": 1.0, "TRB": 2.0, "GS": -2.0}


def fire_prescaled(v: Tensor, mode: str, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """``(p, spikes)`` of :func:`bernoulli` of σ(U) (SB), :func:`tanh_relu_bernoulli` (TRB) or :func:`gumbel_softmax`
    at τ = 1 (GS, p the soft value) from ``v = PRESCALE[mode]·U`` (contiguous, CPU): p is written into v's buffer,
    the draws from a fresh key of ``generator``. The spikes are a :func:`buffers.output <snnkit.neurons.buffers.output>`,
    not a pooled buffer: they are the caller's (the next layer keeps them until its backward), and a pooled buffer
    would stay resident after they are freed, through this neuron's backward."""
    spk = _buffers.output(v.shape, v.dtype)
    _fire_rows(v, mode, _philox_key(generator), 0, _flat_np(spk))
    return v, spk


# Integration and stochastic firing with the spikes as the only output, in chunks of time: the forward keeps no
# [T, ...] buffer but the spikes (U and p live one chunk at a time, in cache); the backward recomputes each chunk's
# U and p from the saved input, the scan's states (saved every few chunks, the ones between recomputed) and the
# Philox key, then runs the reverse pass over it. The same code as the whole-tensor functions above computes the values, chunk by chunk: the same
# spikes, and p to round-off (torch's sigmoid may round a tensor's last elements differently).

_CHUNK_ELEMENTS = 1 << 16
_SEGMENT_CHUNKS = 8  # chunks per saved scan state: the backward keeps one segment's U and synaptic currents


def _chunk_rows(n: int, per: int) -> int:
    """Steps per chunk: about ``_CHUNK_ELEMENTS`` elements (at least one step), so many steps that every chunk but
    the last starts and ends on a Philox block boundary."""
    step = per // math.gcd(n, per)
    return max(step, _CHUNK_ELEMENTS // max(n, 1) // step * step)


def _fire_rows(v: Tensor, mode: str, key: tuple[np.uint64, ...], base: int, spk: np.ndarray) -> None:
    """The firing of scaled potentials ``v = PRESCALE[mode]·U`` (contiguous): p (y for GS) into v's buffer, the
    spikes into ``spk`` (flat); the draws from block ``base`` of ``key``'s stream."""
    if mode == "GS":
        _gumbel_into(_flat_np(v.exp_()), spk, key, base, 1.0)
    elif mode == "TRB":
        _trb_into(_flat_np(v.sigmoid_()), spk, key, base)
    else:
        _draw_into(_flat_np(v.sigmoid_()), spk, key, base)


def _probability_rows(v: Tensor, mode: str, key: tuple[np.uint64, ...], base: int, p: Tensor,
                      scratch: np.ndarray) -> None:
    """What :func:`_fire_rows` leaves in v's buffer, written into ``p``; the draws only where the value needs them
    (GS), into ``scratch``."""
    if mode == "GS":
        _gumbel_into(_flat_np(torch.exp(v, out=p)), scratch, key, base, 1.0)
    elif mode == "TRB":
        _trb_probability(_flat_np(torch.sigmoid(v, out=p)))
    else:
        torch.sigmoid(v, out=p)


def _chunk_setup(x: Tensor, alpha: Tensor, beta: Tensor, mode: str) -> tuple[Any, ...]:
    """Sizes, the factor axes d (:func:`factor_axes`), the factors α, β, 1 - β and ``PRESCALE[mode]·(1 - β)`` over
    one period, and x as rows."""
    steps, shape, dtype = x.shape[0], x.shape[1:], alpha.dtype
    n = shape.numel()
    per = block_size(dtype)
    d = factor_axes(shape, alpha, beta)
    factors = (_period(alpha, shape, d, dtype), _period(beta, shape, d, dtype), _period(1 - beta, shape, d, dtype),
               _period((1 - beta) * PRESCALE[mode], shape, d, dtype))
    return steps, n, d, per, _chunk_rows(n, per), factors, x.detach().to(dtype).reshape(steps, n).numpy()


def integrate_fire_spikes(x: Tensor, alpha: Tensor, beta: Tensor, mode: str,
                          generator: torch.Generator | None) -> tuple[Tensor, tuple[Any, ...]]:
    """Spikes of ``U = (1 - β)·V`` (:func:`two_stage_scan` of ``x`` with α, β) fired by ``mode`` (SB, TRB, GS at
    τ = 1), and the state :func:`integrate_fire_spikes_backward` needs: the Philox key, the scan's two states at
    the start of every ``_SEGMENT_CHUNKS``-th chunk, the chunk length, that number. ``x`` contiguous ``[T, ...]``;
    α, β of the compute dtype, broadcastable to one step. The spikes are those of the scan followed by :func:`bernoulli` of σ(U),
    :func:`tanh_relu_bernoulli` or :func:`gumbel_softmax` over the whole tensor."""
    steps, n, _, per, rows, (first, second, _, scale), xs = _chunk_setup(x, alpha, beta, mode)
    key = _philox_key(generator)
    spikes = _buffers.output((steps, n), alpha.dtype)  # the caller's: not pooled (see fire_prescaled)
    spk = spikes.numpy()
    starts = range(0, steps, rows)
    u = torch.empty((min(rows, steps), n), dtype=alpha.dtype)
    u_np = u.numpy()
    checkpoints = np.empty((-(-len(starts) // _SEGMENT_CHUNKS), 2, n), dtype=u_np.dtype)
    m_state, o_state = np.zeros(n, u_np.dtype), np.zeros(n, u_np.dtype)
    mid = np.empty((1, n), dtype=u_np.dtype)
    for c, t0 in enumerate(starts):
        t1 = min(t0 + rows, steps)
        if c % _SEGMENT_CHUNKS == 0:
            checkpoints[c // _SEGMENT_CHUNKS, 0], checkpoints[c // _SEGMENT_CHUNKS, 1] = m_state, o_state
        _scan_rows(xs[t0:t1], first, second, scale, u_np[:t1 - t0], mid, False, m_state, o_state, t0 == 0, True)
        _fire_rows(u[:t1 - t0], mode, key, t0 * n // per, spk[t0:t1].reshape(-1))
    return spikes.view(x.shape), (key, checkpoints, rows, _SEGMENT_CHUNKS)


def integrate_fire_spikes_backward(grad: Tensor, x: Tensor, alpha: Tensor, beta: Tensor, mode: str,
                                   state: tuple[Any, ...], need_alpha: bool,
                                   need_beta: bool, in_place: bool = False) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """The backward of :func:`integrate_fire_spikes` for dL/dS ``grad``: ``(dL/dX, dL/dα, dL/dβ)`` as
    :func:`recurrence_backward` with ``firing`` gives them from saved U and p, here recomputed from ``x`` and
    ``state`` segment by segment, last first (one scan of the segment's rows from its saved state, keeping its U
    and synaptic currents), then the probabilities and the reverse pass chunk by chunk, last first. ``in_place``:
    dL/dX is written over ``x`` (contiguous, the compute dtype): a segment's rows are read by its scan before any
    of them is written, and the segments before it, done later, read only their own rows."""
    key, checkpoints, rows, per_segment = state
    steps, n, d, per, _, (first, second, omb, scale), xs = _chunk_setup(x, alpha, beta, mode)
    np_dtype = checkpoints.dtype
    mem_scale = np_dtype.type(1.0 / PRESCALE[mode])
    need_decay = need_alpha or need_beta
    g = grad.detach().to(alpha.dtype).reshape(steps, n).contiguous().numpy()
    out = _buffers.adopt(x).view(steps, n) if in_place else _buffers.empty((steps, n), alpha.dtype)
    out_np = out.numpy()
    d_alpha, d_beta = np.zeros(first.shape[0] if need_alpha else 1), np.zeros(first.shape[0] if need_beta else 1)
    a_next, c_next = np.zeros(n, np_dtype), np.zeros(n, np_dtype)
    # one segment's U (times PRESCALE) and synaptic currents, from one scan of its rows; each chunk then reads its
    # rows, and the row before it (the decay gradients' terms across the chunk's start) from there or, for the
    # segment's first chunk, from the saved state
    size = min(rows * per_segment, steps)
    mem = torch.empty((size, n), dtype=alpha.dtype)
    mem_np, p = mem.numpy(), torch.empty((min(rows, steps), n), dtype=alpha.dtype)
    p_np, scratch = p.numpy(), np.empty(min(rows, steps) * n if mode == "GS" else 1, dtype=np_dtype)
    syn = np.empty((size if need_decay else 1, n), dtype=np_dtype)
    kind, fire_scale = STOCHASTIC_KINDS[mode], np_dtype.type(2.0 if mode == "GS" else 1.0)
    m_state, o_state, prev_mem = np.empty(n, np_dtype), np.empty(n, np_dtype), np.empty(n, np_dtype)
    for seg in range(len(checkpoints) - 1, -1, -1):
        s0 = seg * per_segment * rows
        s1 = min(s0 + per_segment * rows, steps)
        np.copyto(m_state, checkpoints[seg, 0])
        np.copyto(o_state, checkpoints[seg, 1])
        np.multiply(o_state.reshape(-1, scale.shape[0]), scale, out=prev_mem.reshape(-1, scale.shape[0]))
        _scan_rows(xs[s0:s1], first, second, scale, mem_np[:s1 - s0], syn, need_decay, m_state, o_state, s0 == 0,
                   True)
        for t0 in range(s0 + (s1 - 1 - s0) // rows * rows, s0 - 1, -rows):  # the segment's chunks, last first
            t1 = min(t0 + rows, steps)
            r0, r1 = t0 - s0, t1 - s0
            _probability_rows(mem[r0:r1], mode, key, t0 * n // per, p[:r1 - r0], scratch[:(r1 - r0) * n])
            syn_rows = syn[r0:r1] if need_decay else syn
            # the row before the chunk (only the decay gradients read it; syn holds rows only where they are needed)
            prev_syn, prev_u = (checkpoints[seg, 0], prev_mem) if r0 == 0 or not need_decay else \
                (syn[r0 - 1], mem_np[r0 - 1])
            _recurrence_backward(g[t0:t1], p_np[:r1 - r0], kind, fire_scale, syn_rows, False, first, second, omb,
                                 syn_rows, mem_np[r0:r1], mem_scale, need_alpha, need_beta, out_np[t0:t1], d_alpha,
                                 d_beta, a_next, c_next, t1 == steps, prev_syn, prev_u, t0 > 0)
    shape = x.shape[1:]
    return (out.view(x.shape), _per_step(d_alpha, shape, d) if need_alpha else None,
            _per_step(d_beta, shape, d) if need_beta else None)
