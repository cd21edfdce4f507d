"""Compiled (numba) loops of the STDP family on CPU: one STDP step of a convolutional threshold layer as a single
loop nest, event-driven in time — the hot path of the online rule (Mozafari et al. 2018, 2019: one image at a
time), where a chain of small tensor operations costs more in per-call overhead than in arithmetic — and the
S1C1 encoding: the DoG filter (each kernel over its non-zero support only, one vectorised pass per tap), the local
normalisation (a summed-area table per map) and the intensity-to-latency ranking (a radix sort of each sample's
non-zero values), which the tensor versions do with a convolution by the zero-padded bank, a (2r+1)² pooling
window and a sort of every value.

For each sample the input's first-spike times are bucketed by step; step by step, each input spike adds its
weights to the potentials of the output positions whose receptive field holds it (about ``kh·kw·F`` additions per
input spike, vectorised over the features), and a position is settled at the first step where its largest
potential exceeds θ. That is all that pointwise inhibition leaves: per position the feature that fires first, then
the largest potential, then the lowest index, with its potential then. The k winners are taken over the settled
positions (spiking-step count, then potential, highest first, then the lowest flat index ``(feature, row, col)``;
an earlier winner inhibits its feature and, for ``r > 0``, every position within ``r`` rows and columns), and the
STDP update (with stabiliser, bounds and the snap of subnormal distances to the lower bound) is applied to each
winner's receptive field in sample order. Every sample of a batch sees the weights as they were at the start of
the step, as in the batched tensor path (:meth:`snnkit.models.stdp_nets.StdpNet.stdp_step`).

The potentials are summed in input-spike order, not the convolution's, so a potential within float32 round-off of
θ may fire here and not there (with weights that are multiples of a power of two, the sums are exact and both
paths agree bit for bit; the tests use such weights). Thresholds, bounds and rates are compared and combined in
the weights' dtype, as the tensor path does with Python scalars.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from numba import njit

__all__ = ["apply_counts_events", "dog_filter_maps", "fired_pooled_events", "last_potentials_events",
           "latency_times_rows", "layer_counts_events", "local_normalization_maps", "stdp_step_events", "transposed"]


@njit(cache=True, nogil=True)
def _bucket(times, s, t_steps, top, left, start, ev_c, ev_y, ev_x):
    """Sample ``s``'s input spikes sorted by step (a counting sort): the events of step ``t`` are
    ``start[t] <= e < start[t + 1]``, at ``(ev_c[e], ev_y[e], ev_x[e])`` in the padded frame."""
    c_in, h_in, w_in = times.shape[1], times.shape[2], times.shape[3]
    start[:] = 0
    for c in range(c_in):
        for y in range(h_in):
            for x in range(w_in):
                t = times[s, c, y, x]
                if t < t_steps:
                    start[t + 1] += 1
    for t in range(t_steps):
        start[t + 1] += start[t]
    fill = start[:t_steps].copy()
    for c in range(c_in):
        for y in range(h_in):
            for x in range(w_in):
                t = times[s, c, y, x]
                if t < t_steps:
                    e = fill[t]
                    ev_c[e], ev_y[e], ev_x[e] = c, y + top, x + left
                    fill[t] = e + 1


@njit(cache=True, nogil=True)
def _event_buffers(hw, n_in, t_steps):
    """Scratch of :func:`_bucket` and :func:`_scatter_step` for ``hw`` output positions and ``n_in`` inputs:
    ``(closed, stamp, touched, ev_c, ev_y, ev_x, start)``."""
    return (np.empty(hw, dtype=np.bool_), np.empty(hw, dtype=np.int64), np.empty(hw, dtype=np.int64),
            np.empty(n_in, dtype=np.int64), np.empty(n_in, dtype=np.int64), np.empty(n_in, dtype=np.int64),
            np.empty(t_steps + 1, dtype=np.int64))


@njit(cache=True, nogil=True, inline="always")
def _scatter_step(t, start, ev_c, ev_y, ev_x, wt, kh, kw, ho, wo, acc, closed, stamp, touched):
    """Step ``t``'s input spikes add their weights to the potentials ``acc[p, :]`` of the open positions their
    receptive field reaches (``closed[p]``: no longer needed); returns how many positions were touched, listed in
    ``touched`` (``stamp[p] == t`` marks them)."""
    n_feat = wt.shape[1]
    n_touched = 0
    for e in range(start[t], start[t + 1]):
        c, yp, xp = ev_c[e], ev_y[e], ev_x[e]
        for y in range(max(0, yp - kh + 1), min(ho, yp + 1)):
            for x in range(max(0, xp - kw + 1), min(wo, xp + 1)):
                p = y * wo + x
                if closed[p]:
                    continue
                pot, w_row = acc[p], wt[(c * kh + yp - y) * kw + xp - x]  # 1-D rows: the loop vectorises
                for f in range(n_feat):
                    pot[f] += w_row[f]
                if stamp[p] != t:
                    stamp[p] = t
                    touched[n_touched] = p
                    n_touched += 1
    return n_touched


@njit(cache=True, nogil=True)
def _settle(times, s, top, left, wt, kh, kw, ho, wo, t_steps, theta, acc, first, value, feature, closed, stamp,
            ev_c, ev_y, ev_x, start, touched):
    """Sample ``s``: ``first[p]`` (the step where position ``p`` first fires, -1 if never), ``value[p]``,
    ``feature[p]``; returns the number of positions that fire."""
    n_feat = wt.shape[1]
    _bucket(times, s, t_steps, top, left, start, ev_c, ev_y, ev_x)
    acc[:, :] = 0
    first[:] = -1
    closed[:] = False
    stamp[:] = -1
    n_live = 0
    for t in range(t_steps):
        n_touched = _scatter_step(t, start, ev_c, ev_y, ev_x, wt, kh, kw, ho, wo, acc, closed, stamp, touched)
        for i in range(n_touched):
            p = touched[i]
            best, arg = acc[p, 0], 0
            for f in range(1, n_feat):
                if acc[p, f] > best:
                    best, arg = acc[p, f], f
            if best > theta:
                first[p], value[p], feature[p] = t, best, arg
                closed[p] = True
                n_live += 1
    return n_live


@njit(cache=True, nogil=True)
def _winners(first, value, feature, ho, wo, t_steps, k, r, out):
    """The k winners over the settled positions into ``out`` ``[k, 3]`` (pre-filled with -1); returns how many."""
    hw = ho * wo
    n = 0
    while n < k:
        best = -1
        for p in range(hw):
            if first[p] < 0:
                continue
            f, y, x = feature[p], p // wo, p % wo
            blocked = False
            for j in range(n):
                if out[j, 0] == f or (r > 0 and abs(y - out[j, 1]) <= r and abs(x - out[j, 2]) <= r):
                    blocked = True
                    break
            if blocked:
                continue
            if best < 0:
                best = p
                continue
            # earlier first spike (= more spiking steps), then larger potential, then lower (feature, row, col)
            if first[p] < first[best] or (first[p] == first[best] and (
                    value[p] > value[best] or (value[p] == value[best]
                                               and f * hw + p < feature[best] * hw + best))):
                best = p
        if best < 0:
            break
        out[n, 0], out[n, 1], out[n, 2] = feature[best], best // wo, best % wo
        n += 1
    return n


@njit(cache=True, nogil=True)
def _update(weight, times, s, top, left, f, y, x, t_win, t_steps, a_plus, a_minus, stabilizer, lb, ub, tiny):
    """STDP on winner ``(f, y, x)`` (first spike at step ``t_win``) of sample ``s``: inputs that spiked at or
    before it are potentiated (a⁺), the others depressed (a⁻)."""
    c_in, kh, kw = weight.shape[1], weight.shape[2], weight.shape[3]
    h_in, w_in = times.shape[2], times.shape[3]
    for c in range(c_in):
        for i in range(kh):
            yi = y + i - top
            for j in range(kw):
                xi = x + j - left
                t_in = t_steps  # padding: silent
                if 0 <= yi < h_in and 0 <= xi < w_in:
                    t_in = times[s, c, yi, xi]
                _bump(weight, f, c, i, j, a_plus if t_in <= t_win else a_minus, stabilizer, lb, ub, tiny)


@njit(cache=True, nogil=True, inline="always")
def _bump(weight, f, c, i, j, a, stabilizer, lb, ub, tiny):
    """One weight's STDP change at rate ``a``: stabiliser, bounds, the snap of a subnormal distance to ``lb``."""
    cur = weight[f, c, i, j]
    step = a * ((cur - lb) * (ub - cur)) if stabilizer else a
    new = min(max(cur + step, lb), ub)
    weight[f, c, i, j] = lb if new - lb < tiny else new


@njit(cache=True, nogil=True)
def _apply_counts(weight, pre, post, winners, rates, stabilizer, lb, ub, tiny, mirror):
    c_in, kh, kw = weight.shape[1], weight.shape[2], weight.shape[3]
    mirrored = mirror.shape[0] > 0
    for s in range(winners.shape[0]):
        for n in range(winners.shape[1]):
            f, y, x = winners[s, n, 0], winners[s, n, 1], winners[s, n, 2]
            if f < 0:
                continue
            t_post = post[s, f, y, x]
            a_plus, a_minus = rates[s, f, 0], rates[s, f, 1]
            for c in range(c_in):
                for i in range(kh):
                    for j in range(kw):
                        a = a_plus if pre[s, c, y + i, x + j] >= t_post else a_minus
                        _bump(weight, f, c, i, j, a, stabilizer, lb, ub, tiny)
                        if mirrored:
                            mirror[(c * kh + i) * kw + j, f] = weight[f, c, i, j]


def transposed(weight: torch.Tensor) -> torch.Tensor:
    """``[C·kh·kw, F]``: a conv weight ``[F, C, kh, kw]`` with its features last (contiguous), the layout the
    event-driven loops read (one input spike adds a contiguous row of ``F`` weights per output position)."""
    return weight.detach().reshape(weight.shape[0], -1).t().contiguous()


def apply_counts_events(weight: torch.Tensor, pre: torch.Tensor, post: torch.Tensor, winners: torch.Tensor,
                        rates: torch.Tensor, stabilizer: bool, lb: float, ub: float,
                        mirror: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`snnkit.stdp.learning.apply_counts` in place on a contiguous CPU ``weight`` (float32/64) as one loop
    over the winners in order (sample, then winner): the same arithmetic per weight, so the same result bit for
    bit. ``pre`` ``[B, C, H, W]`` and ``post`` ``[B, F, H', W']`` spiking-step counts, ``winners`` ``[B, K, 3]``
    (-1 rows skipped), ``rates`` ``[B, F, 2]``. ``mirror``: the weight's :func:`transposed` copy, kept equal to
    it (each changed weight is written to both). Returns ``weight``, its version counter moved on."""
    np_dt = np.float32 if weight.dtype == torch.float32 else np.float64
    mirror_np = mirror.numpy() if mirror is not None else np.empty((0, 0), dtype=np_dt)
    _apply_counts(weight.detach().numpy(), pre.to(torch.int64).contiguous().numpy(),
                  post.to(torch.int64).contiguous().numpy(), winners.to(torch.int64).contiguous().numpy(),
                  rates.to(weight.dtype).contiguous().numpy(), bool(stabilizer), np_dt(lb), np_dt(ub),
                  np_dt(np.finfo(np_dt).tiny), mirror_np)
    torch.autograd.graph.increment_version(weight)  # written through numpy: caches keyed on the version see it
    return weight


@njit(cache=True, nogil=True)
def _step(weight, wt, times, top, bottom, left, right, t_steps, theta, k, r, rates, stabilizer, lb, ub, tiny,
          winners):
    b, _, h_in, w_in = times.shape
    n_feat, c_in, kh, kw = weight.shape
    ho, wo = h_in + top + bottom - kh + 1, w_in + left + right - kw + 1
    hw = ho * wo
    acc = np.zeros((hw, n_feat), dtype=weight.dtype)
    first = np.empty(hw, dtype=np.int64)
    value = np.empty(hw, dtype=weight.dtype)
    feature = np.empty(hw, dtype=np.int64)
    closed, stamp, touched, ev_c, ev_y, ev_x, start = _event_buffers(hw, c_in * h_in * w_in, t_steps)
    firsts = np.empty((b, k), dtype=np.int64)
    counts = np.zeros(b, dtype=np.int64)
    for s in range(b):  # every sample against the weights at the start of the step
        if _settle(times, s, top, left, wt, kh, kw, ho, wo, t_steps, theta, acc, first, value, feature, closed,
                   stamp, ev_c, ev_y, ev_x, start, touched):
            counts[s] = _winners(first, value, feature, ho, wo, t_steps, k, r, winners[s])
            for j in range(counts[s]):
                firsts[s, j] = first[winners[s, j, 1] * wo + winners[s, j, 2]]
    for s in range(b):  # then the updates, in sample order
        for j in range(counts[s]):
            _update(weight, times, s, top, left, winners[s, j, 0], winners[s, j, 1], winners[s, j, 2],
                    firsts[s, j], t_steps, rates[s, 0], rates[s, 1], stabilizer, lb, ub, tiny)


def stdp_step_events(weight: torch.Tensor, times: torch.Tensor, sides: tuple[int, int, int, int], time_steps: int,
                     threshold: float, k: int, radius: int, rates: torch.Tensor, stabilizer: bool,
                     bounds: tuple[float, float]) -> torch.Tensor:
    """One STDP step of a conv layer (stride 1) on CPU, updating ``weight`` ``[F, C, kh, kw]`` (contiguous,
    float32/64) in place: input first-spike times ``times`` ``[B, C, H, W]`` (uint8, ``time_steps`` = silent),
    padded by ``sides`` ``(left, right, top, bottom)`` with silence; per-sample rates ``[B, 2]`` ``(a⁺, a⁻)``.
    Returns the winners int64 ``[B, k, 3]`` ``(feature, row, col)`` (-1 rows where a sample has fewer). No
    argument checks (the model checks its layers at construction)."""
    dt = weight.dtype
    np_dt = np.float32 if dt == torch.float32 else np.float64
    w_np = weight.detach().numpy()
    wt = transposed(weight).numpy()
    t_np = _times_array(times)
    winners = np.full((times.shape[0], int(k), 3), -1, dtype=np.int64)
    left, right, top, bottom = (int(v) for v in sides)
    lb, ub = bounds
    _step(w_np, wt, t_np, top, bottom, left, right, int(time_steps), np_dt(threshold), int(k), int(radius),
          rates.to(dt).contiguous().numpy(), bool(stabilizer), np_dt(lb), np_dt(ub), np_dt(np.finfo(np_dt).tiny),
          winners)
    torch.autograd.graph.increment_version(weight)  # written through numpy: caches keyed on the version see it
    return torch.from_numpy(winners)


@njit(cache=True, nogil=True)
def _counts(wt, times, top, left, kh, kw, ho, wo, t_steps, theta, with_values, counts, value):
    b, c_in, h_in, w_in = times.shape
    n_feat = wt.shape[1]
    hw = ho * wo
    acc = np.empty((hw, n_feat), dtype=wt.dtype)
    fired = np.empty(hw, dtype=np.int64)  # how many features of a position fired
    # closed[p]: every feature of p fired, its potentials are no longer needed
    closed, stamp, touched, ev_c, ev_y, ev_x, start = _event_buffers(hw, c_in * h_in * w_in, t_steps)
    for s in range(b):
        _bucket(times, s, t_steps, top, left, start, ev_c, ev_y, ev_x)
        acc[:, :] = 0
        fired[:] = 0
        closed[:] = False
        stamp[:] = -1
        for t in range(t_steps):
            n_touched = _scatter_step(t, start, ev_c, ev_y, ev_x, wt, kh, kw, ho, wo, acc, closed, stamp, touched)
            steps_left = t_steps - t  # a neuron crossing θ at step t spikes at every step from t on
            for i in range(n_touched):
                p = touched[i]
                for f in range(n_feat):
                    if counts[s, p, f] == 0 and acc[p, f] > theta:
                        counts[s, p, f] = steps_left
                        fired[p] += 1
                        if with_values:
                            value[s, p, f] = acc[p, f]
                closed[p] = fired[p] == n_feat


def layer_counts_events(weight: torch.Tensor, times: torch.Tensor, sides: tuple[int, int, int, int],
                        time_steps: int, threshold: float, values: bool = False, wt: torch.Tensor | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Spiking-step counts of every neuron of a conv layer (stride 1) with non-negative weights ``[F, C, kh, kw]``
    on CPU: int64 ``[B, F, H', W']``, ``T - t`` for a neuron whose potential first exceeds θ at step ``t`` (0 if
    never), and with ``values`` its potential then (0 if never), from the input first-spike times ``[B, C, H, W]``
    (uint8, ``time_steps`` = silent) padded by ``sides`` ``(left, right, top, bottom)`` with silence.

    Event-driven: each input spike adds its weights to the ``kh·kw`` positions whose receptive field holds it, at
    its step, and only the positions touched in a step are compared with θ after it — work in proportion to the
    input spikes, where a convolution of every step costs ``T`` dense convolutions. The potentials are summed in
    input-spike order, so a potential within float32 round-off of θ may cross here and not in the convolution (and
    the reverse). ``wt``: the weight's :func:`transposed` copy when the caller keeps one. No argument checks (the
    model checks its layers at construction)."""
    wt_np, t_np, (top, left, kh, kw, ho, wo) = _event_inputs(weight, times, sides, wt)
    b, f_out = times.shape[0], weight.shape[0]
    counts = np.zeros((b, ho * wo, f_out), dtype=np.int32)
    value = np.zeros((b, ho * wo, f_out) if values else (0, 0, 0), dtype=wt_np.dtype)
    _counts(wt_np, t_np, top, left, kh, kw, ho, wo, int(time_steps), wt_np.dtype.type(threshold), bool(values),
            counts, value)
    return _features_first(counts, ho, wo).long(), (_features_first(value, ho, wo) if values else None)


def _times_array(times: torch.Tensor) -> np.ndarray:
    """First-spike times as the loops read them: uint8 as it is, any other integer dtype widened to int64."""
    t_np = times.contiguous().numpy()
    return t_np if t_np.dtype == np.uint8 else t_np.astype(np.int64)


def _event_inputs(weight: torch.Tensor, times: torch.Tensor, sides: tuple[int, int, int, int],
                  wt: torch.Tensor | None) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int, int, int]]:
    """What the scatter loops read: the transposed weight (``wt``, or made here), the times array, and the
    geometry ``(top, left, kh, kw, H', W')`` of the layer on the input padded by ``sides``."""
    _, _, kh, kw = weight.shape
    left, right, top, bottom = (int(v) for v in sides)
    h_in, w_in = times.shape[2], times.shape[3]
    geometry = (top, left, kh, kw, h_in + top + bottom - kh + 1, w_in + left + right - kw + 1)
    return (transposed(weight) if wt is None else wt).numpy(), _times_array(times), geometry


def _features_first(a: np.ndarray, ho: int, wo: int) -> torch.Tensor:
    """``[B, H'·W', F]`` (the loops' layout) as a contiguous ``[B, F, H', W']`` tensor."""
    return torch.from_numpy(a).view(a.shape[0], ho, wo, a.shape[2]).permute(0, 3, 1, 2).contiguous()


@njit(cache=True, nogil=True)
def _last_potentials(wt, times, top, left, kh, kw, ho, wo, t_steps, out):
    b, c_in, h_in, w_in = times.shape
    closed, stamp, touched, ev_c, ev_y, ev_x, start = _event_buffers(ho * wo, c_in * h_in * w_in, t_steps)
    closed[:] = False  # nothing settles: every spike of every step is summed
    acc = np.empty((ho * wo, wt.shape[1]), dtype=wt.dtype)  # C-contiguous: the sums over features vectorise
    for s in range(b):
        _bucket(times, s, t_steps, top, left, start, ev_c, ev_y, ev_x)
        acc[:, :] = 0
        stamp[:] = -1
        for t in range(t_steps):
            _scatter_step(t, start, ev_c, ev_y, ev_x, wt, kh, kw, ho, wo, acc, closed, stamp, touched)
        out[s] = acc


def last_potentials_events(weight: torch.Tensor, times: torch.Tensor, sides: tuple[int, int, int, int],
                           time_steps: int, wt: torch.Tensor | None = None) -> torch.Tensor:
    """Potentials at the last step ``[B, F, H', W']`` of a conv layer (stride 1) ``[F, C, kh, kw]`` on CPU (what a
    decision layer reads) from the input first-spike times ``[B, C, H, W]`` (uint8, ``time_steps`` = silent)
    padded by ``sides`` ``(left, right, top, bottom)`` with silence: each input spike adds its weights to the
    ``kh·kw`` positions whose receptive field holds it. Work in proportion to the input spikes: mozafari2018's
    decision reads 250 × 4 × 4 inputs, about a quarter of them firing, padded to 8 × 8, in about half the time
    of convolving the padded map. Summed in input-spike order (by step, then channel, row, column): equal to the
    convolution up to float round-off (exactly, for weights that are multiples of a power of two). ``wt``: the
    weight's :func:`transposed` copy when the caller keeps one."""
    wt_np, t_np, (top, left, kh, kw, ho, wo) = _event_inputs(weight, times, sides, wt)
    out = np.empty((times.shape[0], ho * wo, weight.shape[0]), dtype=wt_np.dtype)
    _last_potentials(wt_np, t_np, top, left, kh, kw, ho, wo, int(time_steps), out)
    return _features_first(out, ho, wo)


@njit(cache=True, nogil=True)
def _fired_pooled(wt, bits, top, left, kh, kw, ho, wo, theta, window, stride, out_pad, out):
    b, h_in, w_in, c_in = bits.shape
    n_feat = wt.shape[1]
    po_h, po_w = out.shape[1], out.shape[2]
    acc = np.empty((ho * wo, n_feat), dtype=wt.dtype)  # one sample's potentials: stays in cache
    best = np.empty(n_feat, dtype=wt.dtype)
    for s in range(b):
        acc[:, :] = 0
        for yi in range(h_in):  # input spikes in (row, column, channel) order
            for xi in range(w_in):
                for c in range(c_in):
                    if bits[s, yi, xi, c] == 0:
                        continue
                    yp, xp = yi + top, xi + left
                    for y in range(max(0, yp - kh + 1), min(ho, yp + 1)):
                        for x in range(max(0, xp - kw + 1), min(wo, xp + 1)):
                            pot, w_row = acc[y * wo + x], wt[(c * kh + yp - y) * kw + xp - x]
                            for f in range(n_feat):
                                pot[f] += w_row[f]
        for py in range(po_h):  # the largest potential per window (the padding: silent), then θ
            for px in range(po_w):
                best[:] = 0
                for y in range(max(0, py * stride - out_pad), min(ho, py * stride - out_pad + window)):
                    for x in range(max(0, px * stride - out_pad), min(wo, px * stride - out_pad + window)):
                        pot = acc[y * wo + x]
                        for f in range(n_feat):
                            best[f] = max(best[f], pot[f])
                o = out[s, py, px]
                for f in range(n_feat):
                    o[f] = 1.0 if best[f] > theta else 0.0


def fired_pooled_events(weight: torch.Tensor, spikes: torch.Tensor, sides: tuple[int, int, int, int],
                        threshold: float, pool: tuple[int, int] | None = None, out_pad: int = 0,
                        wt: torch.Tensor | None = None, jobs: int = 1) -> torch.Tensor:
    """A threshold layer's pooled spikes at the last step from its input's spikes ``[B, C, H, W]`` (0/1 floats) on
    CPU: the conv (stride 1, weight ``[F, C, kh, kw]``, input padded by ``sides`` ``(left, right, top, bottom)``)
    as spike sums — each input spike adds its weights to the ``kh·kw`` positions whose receptive field holds it,
    work in proportion to the input spikes — then, per pooling window (``pool`` ``(window, stride)``, over the
    output zero-padded by ``out_pad``), fired where the largest potential exceeds θ (max pooling of the spikes,
    since θ ≥ 0). One sample's potentials stay in cache and only the pooled spikes are written.

    Returns ``[B, F, H'', W'']`` in the weight's dtype, laid out channels-last (the layout the next convolution
    takes fastest). Summed in input-spike order (row, column, channel): equal to the convolution up to float
    round-off, so a potential within round-off of θ may fire here and not there (exactly equal for weights that
    are multiples of a power of two). ``wt``: the weight's :func:`transposed` copy when the caller keeps one;
    ``jobs``: threads, each over a contiguous share of the batch (the loops release the GIL)."""
    wt_np = (transposed(weight) if wt is None else wt).numpy()
    bits = np.ascontiguousarray(spikes.detach().to(torch.uint8).permute(0, 2, 3, 1).numpy())  # [B, H, W, C]
    f_out, _, kh, kw = weight.shape
    left, right, top, bottom = (int(v) for v in sides)
    b, h_in, w_in = bits.shape[:3]
    ho, wo = h_in + top + bottom - kh + 1, w_in + left + right - kw + 1
    window, stride = pool if pool is not None else (1, 1)
    po_h, po_w = (ho + 2 * out_pad - window) // stride + 1, (wo + 2 * out_pad - window) // stride + 1
    out = np.empty((b, po_h, po_w, f_out), dtype=wt_np.dtype)
    args = (top, left, kh, kw, ho, wo, wt_np.dtype.type(threshold), int(window), int(stride), int(out_pad))
    n_shares = max(1, min(int(jobs), b))
    shares = [(i * b // n_shares, (i + 1) * b // n_shares) for i in range(n_shares)]
    if len(shares) == 1:
        _fired_pooled(wt_np, bits, *args, out)
    else:
        with ThreadPoolExecutor(len(shares)) as pool_:
            list(pool_.map(lambda se: _fired_pooled(wt_np, bits[se[0]:se[1]], *args, out[se[0]:se[1]]), shares))
    return torch.from_numpy(out).permute(0, 3, 1, 2)


# ------------------------------------------------------------------------------------------- S1C1 encoding
@njit(cache=True, nogil=True)
def _local_normalization(x, r, eps, out):
    maps, h, w = x.shape
    k2 = (2 * r + 1) * (2 * r + 1)
    table = np.zeros((h + 1, w + 1))  # summed-area table, float64
    for m in range(maps):
        for i in range(h):
            row = 0.0
            for j in range(w):
                row += x[m, i, j]
                table[i + 1, j + 1] = table[i, j + 1] + row
        for i in range(h):
            i0, i1 = max(0, i - r), min(h, i + r + 1)
            for j in range(w):
                j0, j1 = max(0, j - r), min(w, j + r + 1)
                box = table[i1, j1] - table[i0, j1] - table[i1, j0] + table[i0, j0]
                mean = x.dtype.type(box / k2) + eps
                out[m, i, j] = x[m, i, j] / mean


def local_normalization_maps(images: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """:func:`snnkit.stdp.functional.local_normalization` of a contiguous CPU float ``[B, C, H, W]``: the box
    sums from a float64 summed-area table (exact for these magnitudes), then ``x / (sum/(2r+1)² + eps)`` in the
    input's dtype, as the tensor path."""
    b, c, h, w = images.shape
    out = torch.empty_like(images)
    x = images.reshape(b * c, h, w).numpy()
    _local_normalization(x, int(radius), x.dtype.type(eps), out.view(b * c, h, w).numpy())
    return out


@njit(cache=True, nogil=True)
def _dog_filter(x, kernels, bounds, padding, threshold, out):
    b, h, w = x.shape
    ho, wo = out.shape[2], out.shape[3]
    hp, wp = h + 2 * padding, w + 2 * padding
    # the padded image flattened row by row, with a tail so that every shifted window below stays in bounds: a
    # kernel tap (ky, kx) then adds c·buf[t + ky·wp + kx] to acc[t] for t over all ho rows of width wp at once
    # (one long vectorised loop; the columns j >= wo are computed and dropped)
    buf = np.zeros(hp * wp + wp, dtype=x.dtype)
    acc = np.empty(ho * wp, dtype=x.dtype)
    zero = x.dtype.type(0.0)
    for m in range(b):
        for i in range(h):
            for j in range(w):
                buf[(padding + i) * wp + padding + j] = x[m, i, j]
        for k in range(kernels.shape[0]):
            acc[:] = zero
            for ky in range(bounds[k, 0], bounds[k, 1]):
                for kx in range(bounds[k, 2], bounds[k, 3]):
                    c = kernels[k, ky, kx]
                    src = buf[ky * wp + kx:]  # a view: plain loop indices (no negative-index check) vectorise
                    for t in range(ho * wp):
                        acc[t] += c * src[t]
            for i in range(ho):
                for j in range(wo):
                    v = acc[i * wp + j]
                    out[m, k, i, j] = v if v >= threshold else zero


def dog_filter_maps(images: torch.Tensor, kernels: torch.Tensor, padding: int, threshold: float) -> torch.Tensor:
    """:func:`snnkit.stdp.filters.dog_filter` of a CPU ``[B, 1, H, W]`` with a float ``[K, 1, S, S]`` bank: each
    kernel's products over the bounding box of its non-zero entries only (the bank zero-pads the smaller
    windows to the largest), summed tap by tap in the kernel's row-major order; the same cross-correlation as
    ``F.conv2d`` up to float round-off."""
    k, _, size, _ = kernels.shape
    b, _, h, w = images.shape
    nz = kernels[:, 0] != 0
    bounds = np.zeros((k, 4), dtype=np.int64)
    for i in range(k):
        rows, cols = nz[i].any(1).nonzero().flatten(), nz[i].any(0).nonzero().flatten()
        if rows.numel():
            bounds[i] = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
    out = torch.empty(b, k, h + 2 * padding - size + 1, w + 2 * padding - size + 1, dtype=kernels.dtype)
    x = images.to(kernels.dtype).reshape(b, h, w).contiguous()
    _dog_filter(x.numpy(), kernels[:, 0].contiguous().numpy(), bounds, int(padding), x.numpy().dtype.type(threshold),
                out.numpy())
    return out


@njit(cache=True, nogil=True)
def _latency_times(bits, time_steps, out):
    b, n = bits.shape
    keys = np.empty(n, dtype=np.uint32)
    idx = np.empty(n, dtype=np.int32)
    keys2 = np.empty(n, dtype=np.uint32)
    idx2 = np.empty(n, dtype=np.int32)
    hist = np.empty(2048, dtype=np.int64)
    for s in range(b):
        count = 0
        for i in range(n):
            v = np.int64(bits[s, i])
            out[s, i] = time_steps
            if v == 0 or v == -2147483648:  # +0.0 and -0.0 never fire
                continue
            ascending = v | 0x80000000 if v >= 0 else ~v & 0xFFFFFFFF  # value order as unsigned
            keys[count] = np.uint32(0xFFFFFFFF - ascending)  # descending value order
            idx[count] = i
            count += 1
        # LSD radix sort, three stable passes of 11, 11 and 10 bits: value descending, then index (stability
        # keeps the index order of equal keys); a pass whose digit is the same for every key is skipped
        src_k, src_i, dst_k, dst_i = keys, idx, keys2, idx2
        for shift in (0, 11, 22):
            hist[:] = 0
            for j in range(count):
                hist[(src_k[j] >> shift) & 2047] += 1
            if count == 0 or hist[(src_k[0] >> shift) & 2047] == count:
                continue
            total = 0
            for d in range(2048):
                c = hist[d]
                hist[d] = total
                total += c
            for j in range(count):
                d = (src_k[j] >> shift) & 2047
                pos = hist[d]
                hist[d] = pos + 1
                dst_k[pos] = src_k[j]
                dst_i[pos] = src_i[j]
            src_k, src_i, dst_k, dst_i = dst_k, dst_i, src_k, src_i
        for rank in range(count):
            out[s, src_i[rank]] = rank * time_steps // count


def latency_times_rows(flat: torch.Tensor, time_steps: int) -> torch.Tensor:
    """:func:`snnkit.stdp.filters.latency_times` of a contiguous CPU float32 ``[B, N]``: each row's non-zero
    values ranked by a stable radix sort of their IEEE bits mapped to an order-preserving unsigned integer
    (three passes of at most 11 bits; equal values keep their index order)."""
    out = torch.empty(flat.shape, dtype=torch.long)
    _latency_times(flat.view(torch.int32).numpy(), int(time_steps), out.numpy())
    return out
