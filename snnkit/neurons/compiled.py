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

import numpy as np
import torch
from numba import njit
from torch import Tensor

__all__ = ["on_cpu", "cuba_forward", "lif_forward", "recurrence_backward", "reverse_scan_", "stochastic_backward",
           "two_stage_scan"]


def on_cpu(*tensors: Tensor | None) -> bool:
    """Whether the compiled loops apply: every tensor on CPU, float32 or float64."""
    return all(t is None or (t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64))
               for t in tensors)


def _flat(t: Tensor, shape: torch.Size, dtype: torch.dtype) -> np.ndarray:
    """``t`` broadcast to ``shape``, as a contiguous 1-D array of ``dtype`` (a copy where needed)."""
    return t.detach().to(dtype).expand(shape).reshape(-1).contiguous().numpy()


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
def _two_stage_scan(src, first, second, scale, out, mid, keep_mid, reverse, scaled):
    steps, n = src.shape
    m_prev = np.zeros(n, dtype=out.dtype)
    o_prev = np.zeros(n, dtype=out.dtype)
    for idx in range(steps):
        t = steps - 1 - idx if reverse else idx
        tm = t if keep_mid else 0
        for i in range(n):
            if idx == 0:
                m = src[t, i]
                o = m
            else:
                m = src[t, i] + first[i] * m_prev[i]
                o = m + second[i] * o_prev[i]
            mid[tm, i] = m
            m_prev[i] = m
            o_prev[i] = o
            out[t, i] = o * scale[i] if scaled else o


def two_stage_scan(src: Tensor, first: Tensor, second: Tensor, out: Tensor, mid: Tensor | None,
                   reverse: bool, scale: Tensor | None = None) -> Tensor:
    """:func:`snnkit.neurons.parallel._two_stage_scan` compiled: ``m_t = src_t + first·m_{t∓1}``,
    ``o_t = m_t + second·o_{t∓1}``, ``out_t = scale·o_t`` (``o_t`` without ``scale``) over ``[T, ...]`` tensors
    of one shape (``out`` and ``mid`` contiguous, the compute dtype; the factors broadcastable to one step)."""
    steps, shape, dtype = src.shape[0], src.shape[1:], out.dtype
    keep = mid is not None
    mid_np = mid.view(steps, -1).numpy() if keep else np.empty((1, out[0].numel()), dtype=out.numpy().dtype)
    ones = torch.ones((), dtype=dtype)
    _two_stage_scan(src.detach().to(dtype).reshape(steps, -1).numpy(), _flat(first, shape, dtype),
                    _flat(second, shape, dtype), _flat(ones if scale is None else scale, shape, dtype),
                    out.view(steps, -1).numpy(), mid_np, keep, bool(reverse), scale is not None)
    return out


@njit(cache=True, nogil=True)
def _recurrence_backward(g, alpha, beta, omb, syn, mem, need_alpha, need_beta, out, d_alpha, d_beta):
    steps, n = g.shape
    a_next = np.zeros(n, dtype=out.dtype)
    c_next = np.zeros(n, dtype=out.dtype)
    for t in range(steps - 1, -1, -1):
        for i in range(n):
            if t == steps - 1:
                a = g[t, i]
                c = a
            else:
                a = g[t, i] + beta[i] * a_next[i]
                c = a + alpha[i] * c_next[i]
            o = c * omb[i]
            out[t, i] = o
            if need_beta:  # ∂U_t/∂β = U_{t-1} - syn_t
                d = -(a * syn[t, i])
                if t > 0:
                    d += a * mem[t - 1, i]
                d_beta[i] += d
            if need_alpha and t > 0:  # ∂syn_t/∂α = syn_{t-1}
                d_alpha[i] += o * syn[t - 1, i]
            a_next[i] = a
            c_next[i] = c


def recurrence_backward(grad: Tensor, alpha: Tensor, beta: Tensor, syn: Tensor | None, mem: Tensor | None,
                        need_alpha: bool, need_beta: bool) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """The backward of :class:`snnkit.neurons.parallel._Recurrence` in one reverse pass: ``(dL/dX [T, ...],
    dL/dα, dL/dβ)``, the decay gradients per element of one step (float64 sums; the caller reduces them to
    the decays' shapes), None where not needed. ``syn`` and ``mem`` (U): the forward's, needed for the decay
    gradients."""
    steps, shape = grad.shape[0], grad.shape[1:]
    dtype = torch.promote_types(grad.dtype, beta.dtype)
    out = torch.empty(grad.shape, dtype=dtype)
    n = out[0].numel()
    d_alpha = np.zeros(n if need_alpha else 1)
    d_beta = np.zeros(n if need_beta else 1)
    dummy = np.empty((1, 1), dtype=out.numpy().dtype)
    rows = (lambda t: t.detach().to(dtype).reshape(steps, -1).numpy() if t is not None else dummy)  # noqa: E731
    _recurrence_backward(rows(grad), _flat(alpha, shape, dtype), _flat(beta, shape, dtype),
                         _flat(1 - beta.to(dtype), shape, dtype), rows(syn if need_alpha or need_beta else None),
                         rows(mem if need_beta else None), bool(need_alpha), bool(need_beta),
                         out.view(steps, -1).numpy(), d_alpha, d_beta)
    per_step = (lambda d: torch.from_numpy(d).reshape(shape))  # noqa: E731
    return out, per_step(d_alpha) if need_alpha else None, per_step(d_beta) if need_beta else None


@njit(cache=True, nogil=True)
def _stochastic_backward(kind, p, g, scale, one, out):
    for i in range(p.shape[0]):
        q = p[i]
        if kind == 0:  # SB: (1 - p)·p·p·g
            out[i] = (one - q) * q * q * g[i]
        elif kind == 1:  # TRB: (g·p)·(1 - p²)
            out[i] = (g[i] * q) * (one - q * q)
        else:  # GS: (1 - y)·y·g·(2/τ)
            out[i] = (one - q) * q * g[i] * scale


STOCHASTIC_KINDS = {"SB": 0, "TRB": 1, "GS": 2}


def stochastic_backward(kind: str, p: Tensor, grad: Tensor, scale: float = 1.0) -> Tensor:
    """dL/dU of the straight-through stochastic firings from their saved probability (soft value) ``p`` and
    dL/dS ``grad`` (same shape, contiguous), in one pass with the torch expressions' operation order."""
    out = torch.empty_like(p)
    _stochastic_backward(STOCHASTIC_KINDS[kind], p.reshape(-1).numpy(), grad.to(p.dtype).reshape(-1).numpy(),
                         p.new_tensor(scale).numpy()[()], p.new_tensor(1.0).numpy()[()],
                          out.view(-1).numpy())
    return out
