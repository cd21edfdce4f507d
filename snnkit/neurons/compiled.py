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

__all__ = ["on_cpu", "bernoulli", "cuba_forward", "gumbel_softmax", "lif_forward", "recurrence_backward",
           "reverse_scan_", "stochastic_backward", "tanh_relu_bernoulli", "two_stage_scan", "uniform"]


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
def _recurrence_backward(g, p, kind, scale, extra, has_extra, alpha, beta, omb, syn, mem, need_alpha, need_beta,
                         out, d_alpha, d_beta):
    steps, n = g.shape
    a_next = np.zeros(n, dtype=out.dtype)
    c_next = np.zeros(n, dtype=out.dtype)
    one = out.dtype.type(1.0)
    for t in range(steps - 1, -1, -1):
        for i in range(n):
            gi = g[t, i]
            if kind >= 0:  # g is dL/dS of a firing fused after the integration
                gi = _firing_grad(kind, p[t, i], gi, scale, one)
            if has_extra:  # dL/dU from the potential's other uses
                gi = gi + extra[t, i]
            if t == steps - 1:
                a = gi
                c = a
            else:
                a = gi + beta[i] * a_next[i]
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
                        need_alpha: bool, need_beta: bool, firing: tuple[str, Tensor, float] | None = None,
                        extra: Tensor | None = None) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """The backward of :class:`snnkit.neurons.parallel._Recurrence` in one reverse pass: ``(dL/dX [T, ...],
    dL/dα, dL/dβ)``, the decay gradients per element of one step (float64 sums; the caller reduces them to
    the decays' shapes), None where not needed. ``syn`` and ``mem`` (U): the forward's, needed for the decay
    gradients. With ``firing = (kind, p, scale)`` (kind "SB", "TRB" or "GS", ``p`` the saved probability or
    soft value, contiguous like ``grad``) ``grad`` is dL/dS of that firing and is turned into dL/dU on the way
    (:func:`stochastic_backward`'s expressions); ``extra`` is added to dL/dU (the potential's other uses)."""
    steps, shape = grad.shape[0], grad.shape[1:]
    dtype = torch.promote_types(grad.dtype, beta.dtype)
    out = torch.empty(grad.shape, dtype=dtype)
    n = out[0].numel()
    d_alpha = np.zeros(n if need_alpha else 1)
    d_beta = np.zeros(n if need_beta else 1)
    dummy = np.empty((1, 1), dtype=out.numpy().dtype)
    rows = (lambda t: t.detach().to(dtype).reshape(steps, -1).numpy() if t is not None else dummy)  # noqa: E731
    kind, p, scale = (-1, None, 1.0) if firing is None else (STOCHASTIC_KINDS[firing[0]], firing[1], firing[2])
    _recurrence_backward(rows(grad), rows(p), kind, out.numpy().dtype.type(scale), rows(extra), extra is not None,
                         _flat(alpha, shape, dtype), _flat(beta, shape, dtype),
                         _flat(1 - beta.to(dtype), shape, dtype), rows(syn if need_alpha or need_beta else None),
                         rows(mem if need_beta else None), bool(need_alpha), bool(need_beta),
                         out.view(steps, -1).numpy(), d_alpha, d_beta)
    per_step = (lambda d: torch.from_numpy(d).reshape(shape))  # noqa: E731
    return out, per_step(d_alpha) if need_alpha else None, per_step(d_beta) if need_beta else None


@njit(cache=True, nogil=True)
def _stochastic_backward(kind, p, g, scale, one, out):
    for i in range(p.shape[0]):
        out[i] = _firing_grad(kind, p[i], g[i], scale, one)


STOCHASTIC_KINDS = {"SB": 0, "TRB": 1, "GS": 2}


def stochastic_backward(kind: str, p: Tensor, grad: Tensor, scale: float = 1.0) -> Tensor:
    """dL/dU of the straight-through stochastic firings from their saved probability (soft value) ``p`` and
    dL/dS ``grad`` (same shape, contiguous), in one pass with the torch expressions' operation order."""
    out = torch.empty_like(p)
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
def _draw_general(kind, src, out, start, key0, key1, hi0, hi1, wide):
    """Elements ``start …`` of :func:`_draw_uniform` (kind 0) or :func:`_draw_bernoulli` (kind 1) lane by lane:
    the tail after the last whole block."""
    per = 2 if wide else 4
    one = out.dtype.type(1.0)
    for j in range(start // per, (out.shape[0] + per - 1) // per):
        vals = _uniforms(j, key0, key1, hi0, hi1, wide)
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
def _draw_uniform(out, key0, key1, hi0, hi1, wide):
    if wide:
        for j in range(out.shape[0] // 2):
            w0, w1, w2, w3 = _words(j, key0, key1, hi0, hi1)
            out[2 * j] = _open53(w0, w1)
            out[2 * j + 1] = _open53(w2, w3)
        return
    for j in range(out.shape[0] // 4):
        w0, w1, w2, w3 = _words(j, key0, key1, hi0, hi1)
        out[4 * j] = _open23(w0)
        out[4 * j + 1] = _open23(w1)
        out[4 * j + 2] = _open23(w2)
        out[4 * j + 3] = _open23(w3)


@njit(cache=True, nogil=True)
def _draw_bernoulli(p, out, key0, key1, hi0, hi1, wide):
    one, zero = out.dtype.type(1.0), out.dtype.type(0.0)
    if wide:
        for j in range(out.shape[0] // 2):
            w0, w1, w2, w3 = _words(j, key0, key1, hi0, hi1)
            out[2 * j] = one if _open53(w0, w1) < p[2 * j] else zero
            out[2 * j + 1] = one if _open53(w2, w3) < p[2 * j + 1] else zero
        return
    for j in range(out.shape[0] // 4):
        w0, w1, w2, w3 = _words(j, key0, key1, hi0, hi1)
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
def _draw_trb(s, spk, key0, key1, hi0, hi1, wide):
    """ParaLIF's TRB: ``s = σ(2U)`` in, ``p = relu(2s - 1) = relu(tanh U)`` out in the same buffer, and
    ``spk = [uniform < p]`` (the uniforms of :func:`_draw_bernoulli`)."""
    one, zero = s.dtype.type(1.0), s.dtype.type(0.0)
    if wide:
        for j in range(s.shape[0] // 2):
            w0, w1, w2, w3 = _words(j, key0, key1, hi0, hi1)
            _trb_lane(_open53(w0, w1), s, spk, 2 * j, one, zero)
            _trb_lane(_open53(w2, w3), s, spk, 2 * j + 1, one, zero)
        return
    for j in range(s.shape[0] // 4):
        w0, w1, w2, w3 = _words(j, key0, key1, hi0, hi1)
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


def _run_draw(src: Tensor | None, out: Tensor, generator: torch.Generator | None) -> None:
    """``out = uniform`` (``src`` None) or ``out = [uniform < src]`` (Bernoulli(src)), in out's dtype."""
    flat = out.view(-1).numpy()
    src_np = src.reshape(-1).numpy() if src is not None else flat
    key = _philox_key(generator)
    wide = out.dtype == torch.float64
    if src is None:
        _draw_uniform(flat, *key, wide)
    else:
        _draw_bernoulli(src_np, flat, *key, wide)
    per = 2 if wide else 4
    start = flat.shape[0] // per * per
    if start < flat.shape[0]:
        _draw_general(0 if src is None else 1, src_np, flat, start, *key, wide)


def uniform(shape: torch.Size | tuple[int, ...], dtype: torch.dtype, generator: torch.Generator | None) -> Tensor:
    """Uniform draws on (0, 1) of ``shape`` (float32: 23 random bits, float64: 53) from Philox4x32-10 keyed by
    ``generator``: the stream :func:`bernoulli` and :func:`gumbel_softmax` compare against."""
    out = torch.empty(shape, dtype=dtype)
    _run_draw(None, out, generator)
    return out


def bernoulli(p: Tensor, generator: torch.Generator | None) -> Tensor:
    """Spikes ``[uniform(p.shape) < p]`` in p's dtype, in one pass (``p`` contiguous, CPU, float32/64)."""
    out = torch.empty_like(p, memory_format=torch.contiguous_format)
    _run_draw(p.detach(), out, generator)
    return out


def tanh_relu_bernoulli(u: Tensor, generator: torch.Generator | None, inplace: bool = False) -> tuple[Tensor, Tensor]:
    """``(p, spikes)`` with ``p = relu(tanh U)``, spikes ``[uniform < p]`` (the stream of :func:`bernoulli`).
    torch's tanh is about four times slower than its sigmoid on this CPU, so p is taken as ``relu(2σ(2U) - 1)``
    (equal to round-off: an absolute difference of a few units of p's last place), the doubling, the relu and
    the draws in one pass after torch's sigmoid. ``inplace``: p is written into u's buffer (contiguous)."""
    s = u.detach().mul_(2.0).sigmoid_() if inplace else torch.mul(u.detach(), 2.0).sigmoid_()
    spk = torch.empty_like(s)
    flat, spk_np = s.view(-1).numpy(), spk.view(-1).numpy()
    key = _philox_key(generator)
    wide = s.dtype == torch.float64
    _draw_trb(flat, spk_np, *key, wide)
    per = 2 if wide else 4
    start = flat.shape[0] // per * per
    if start < flat.shape[0]:  # the last partial block: p first, then the draws of its lanes
        tail = s.view(-1)[start:]
        tail.mul_(2).sub_(1).clamp_(min=0)
        _draw_general(1, flat, spk_np, start, *key, wide)
    return s, spk


def gumbel_softmax(u: Tensor, generator: torch.Generator | None, temperature: float,
                   inplace: bool = False) -> tuple[Tensor, Tensor]:
    """``(y, spikes)`` of the hard two-class Gumbel softmax: ``y = σ((logit v + 2U)/τ)`` for ``v`` the
    :func:`uniform` draws, spikes ``[y > 1/2]``. ``exp(-2U/τ)`` is taken by torch (vectorised) into the buffer
    that then receives y, the draws into the one that then receives the spikes; the logit and the sigmoid
    become one division, ``v/(v + q(1 - v))``, at τ = 1. ``inplace``: y is written into u's buffer (contiguous)."""
    y = u.detach().mul_(-2.0 / temperature).exp_() if inplace else torch.mul(u.detach(), -2.0 / temperature).exp_()
    spk = uniform(y.shape, y.dtype, generator)
    _gumbel_from_uniform(y.view(-1).numpy(), spk.view(-1).numpy(), 1.0 / temperature, temperature == 1.0)
    return y, spk
