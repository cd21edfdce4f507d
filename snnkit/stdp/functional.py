"""Batched spike-wave operators of the STDP / R-STDP convolutional networks (the SpykeTorch family).

Mozafari, Ganjtabesh, Nowzari-Dalini, Thorpe & Masquelier, "Bio-inspired digit recognition using
reward-modulated spike-timing-dependent plasticity in deep convolutional networks", Pattern Recognition
94:87-95 (2019); Mozafari, Ganjtabesh, Nowzari-Dalini & Masquelier, "SpykeTorch: efficient simulation of
convolutional spiking neural networks with at most one spike per neuron", Frontiers in Neuroscience 13
(2019). The semantics follow SpykeTorch's single-sample operators (read, not copied), batched.

A spike wave is ``[B, T, C, H, W]``: ``B`` samples, ``T`` time bins, ``C`` feature maps. Spikes are
cumulative (a neuron that fired at step ``t`` is 1 at every step ``>= t``), so a convolution over the wave
is the non-leaky integrated potential at every step, and a position's first spike time is
``T - (number of steps it spikes)``. Every operator treats each sample exactly as the single-sample
operator would treat it alone (the tests check batched == per-sample loop bit for bit).

Tie rule (documented, deterministic): wherever a maximum is taken — the winning feature of
:func:`pointwise_inhibition`, the next winner of :func:`get_k_winners` — equal candidates are resolved
in favour of the lowest flat index (lowest feature, then row, then column).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from snnkit.errors import ConfigError, check_nonneg_int
from snnkit.stdp.compiled import local_normalization_maps

__all__ = ["fire", "pooling", "pad", "pointwise_inhibition", "get_k_winners", "feature_inhibition",
           "lateral_inhibition", "local_normalization", "first_spike_times", "k_winners_from_counts",
           "k_winners_pointwise", "k_winners_ranked", "pointwise_keep"]

_WHERE = "snnkit.stdp.functional"


def _check_wave(key: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 5:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ConfigError(key, shape, "a spike wave tensor of shape [B, T, C, H, W]", where=_WHERE)


def _pair(key: str, value: Any, *, minimum: int) -> tuple[int, int]:
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum
                              for v in items):
        raise ConfigError(key, value, f"an integer >= {minimum} or a pair of them", where=_WHERE)
    return int(items[0]), int(items[1])


def fire(potentials: torch.Tensor, threshold: float | None = None,
         return_thresholded_potentials: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Spikes of a potential wave ``[B, T, C, H, W]`` (Mozafari et al. 2019, SpykeTorch ``fire``).

    With a ``threshold`` θ >= 0: potentials ``<= θ`` are zeroed and the spikes are the sign of the rest.
    With ``threshold=None`` only the last time step can fire (the decision layer fires at the end): every
    earlier step is zeroed and the last step's potentials give the spikes by their sign. Returns the
    spikes (same dtype as ``potentials``), or ``(spikes, thresholded potentials)``.
    """
    _check_wave("potentials", potentials)
    if threshold is None:
        thresholded = torch.zeros_like(potentials)
        thresholded[:, -1] = potentials[:, -1]
    else:
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not threshold >= 0:
            raise ConfigError("threshold", threshold, "a real number >= 0 or None (last step only)",
                              where=_WHERE)
        thresholded = torch.where(potentials > threshold, potentials, 0.0)
    spikes = thresholded.sign()
    return (spikes, thresholded) if return_thresholded_potentials else spikes


def pooling(wave: torch.Tensor, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
            padding: int | Sequence[int] = 0) -> torch.Tensor:
    """Spatial max pooling of every time step of a wave ``[B, T, C, H, W]`` (SpykeTorch ``pooling``).

    On cumulative spikes the maximum propagates the earliest spike of the window. ``stride`` defaults to
    ``kernel_size``; ``padding`` pads with zeros (no spike). A window larger than the (padded) input is a
    :class:`~snnkit.errors.ConfigError`.
    """
    _check_wave("wave", wave)
    k = _pair("kernel_size", kernel_size, minimum=1)
    s = k if stride is None else _pair("stride", stride, minimum=1)
    p = _pair("padding", padding, minimum=0)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ConfigError("padding", padding, f"at most half the kernel size {k}", where=_WHERE)
    b, t, c, h, w = wave.shape
    if k[0] > h + 2 * p[0] or k[1] > w + 2 * p[1]:
        padded = (h + 2 * p[0], w + 2 * p[1])
        raise ConfigError("kernel_size", kernel_size, f"at most the padded input size {padded}", where=_WHERE)
    out = F.max_pool2d(wave.reshape(b * t, c, h, w), k, s, p)
    return out.reshape(b, t, c, out.shape[-2], out.shape[-1])


def pad(wave: torch.Tensor, padding: int | Sequence[int], value: float = 0.0) -> torch.Tensor:
    """Constant spatial padding of a wave ``[B, T, C, H, W]`` (SpykeTorch ``pad``).

    ``padding`` is one integer for all four sides or ``(left, right, top, bottom)`` as in
    :func:`torch.nn.functional.pad`; ``value`` defaults to 0 (no spike).
    """
    _check_wave("wave", wave)
    sides = (padding,) * 4 if not isinstance(padding, (tuple, list)) else tuple(padding)
    if len(sides) != 4 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0
                              for v in sides):
        raise ConfigError("padding", padding, "an integer >= 0 or (left, right, top, bottom) of them",
                          where=_WHERE)
    return F.pad(wave, tuple(int(v) for v in sides), value=value)


def first_spike_times(spikes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(n, t)`` of a cumulative spike wave ``[B, T, ...]``: ``n`` = number of spiking steps per neuron
    (int64, 0 = silent) and ``t = clamp(T - n, 0, T - 1)`` its first spike step (``T - 1`` if silent)."""
    n_steps = spikes.shape[1]
    n = (spikes > 0).sum(dim=1)
    return n, (n_steps - n).clamp_(0, n_steps - 1)


def pointwise_inhibition(thresholded_potentials: torch.Tensor) -> torch.Tensor:
    """Keep, at each position of each sample, only the feature that fired first (SpykeTorch
    ``pointwise_inhibition``; Mozafari et al. 2019).

    Input: thresholded potentials ``[B, T, C, H, W]`` (positive where a neuron spikes, cumulative). At
    every position the earliest step at which any feature is positive is found; among the features
    positive then, the one with the largest potential wins (equal potentials: lowest feature index).
    The winner's potentials are kept at every step, all other features' zeroed; silent positions stay 0.
    """
    _check_wave("thresholded_potentials", thresholded_potentials)
    x = thresholded_potentials
    n_any, t_first = first_spike_times(x.amax(dim=2))  # [B, H, W]
    index = t_first[:, None, None].expand(-1, 1, x.shape[2], -1, -1)
    at_first = x.gather(1, index).squeeze(1)  # [B, C, H, W]: potentials at the position's first spike
    winner = at_first.argmax(dim=1)  # first maximal index: lowest feature among ties
    keep = F.one_hot(winner, x.shape[2]).permute(0, 3, 1, 2).bool() & (n_any > 0)[:, None]
    return x * keep[:, None].to(x.dtype)


def get_k_winners(potentials: torch.Tensor, k: int = 1, inhibition_radius: int = 0,
                  spikes: torch.Tensor | None = None) -> torch.Tensor:
    """Up to ``k`` winners ``(feature, row, col)`` per sample, with feature and lateral inhibition
    (Mozafari et al. 2019; SpykeTorch ``get_k_winners``).

    ``potentials`` ``[B, T, C, H, W]``; ``spikes`` (cumulative, same shape) default to
    ``potentials > 0``. A neuron's score ranks first by its number of spiking steps (earliest first
    spike) and then by its potential at its first spike time — the order of the spec's "potential at
    the first spike + a large constant × number of spiking steps", compared exactly rather than through
    the sum. Silent neurons never win. Each round takes the best neuron of each sample, then removes its
    whole feature map (feature inhibition) and, if ``inhibition_radius`` r > 0, the ``(2r+1)²`` window
    around it across all features (lateral inhibition); rounds stop early when nothing is left.
    Ties: lowest flat index ``(feature, row, col)``.

    Returns int64 ``[B, k, 3]``; rows of samples with fewer than ``k`` winners are ``-1``.
    """
    _check_wave("potentials", potentials)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ConfigError("k", k, "an integer >= 1", where=_WHERE)
    r = check_nonneg_int("inhibition_radius", inhibition_radius, where=_WHERE)
    if spikes is None:
        spikes = potentials > 0
    elif spikes.shape != potentials.shape:
        raise ConfigError("spikes", tuple(spikes.shape), f"the shape of potentials {tuple(potentials.shape)}",
                          where=_WHERE)
    n, t_first = first_spike_times(spikes)  # [B, C, H, W]
    value = potentials.gather(1, t_first[:, None]).squeeze(1)
    return k_winners_from_counts(n, value, int(k), r)


def k_winners_from_counts(n: torch.Tensor, value: torch.Tensor, k: int, r: int) -> torch.Tensor:
    """:func:`get_k_winners` from each neuron's number of spiking steps ``n`` (int, ``[B, C, H, W]``, 0 =
    silent) and its potential at its first spike ``value`` (same shape): the same rounds, ranking and tie
    rule, without the time axis (what the models' hot path keeps). No argument checks."""
    b, c, h, w = n.shape
    fast = _k_winners_keyed(n, value, k, r)
    if fast is not None:
        return fast
    alive = (n > 0).reshape(b, -1)
    n = n.reshape(b, -1)
    value = value.reshape(b, -1)
    dev = n.device
    neg_inf = torch.tensor(float("-inf"), dtype=value.dtype, device=dev)
    winners = torch.full((b, int(k), 3), -1, dtype=torch.long, device=dev)
    for i in range(int(k)):
        has = alive.any(dim=1)
        if not bool(has.any()):
            break
        n_best = torch.where(alive, n, -1).amax(dim=1, keepdim=True)
        cand = alive & (n == n_best)
        flat = torch.where(cand, value, neg_inf).argmax(dim=1)  # first maximal index among the candidates
        f, rem = flat // (h * w), flat % (h * w)
        y, x = rem // w, rem % w
        winners[:, i] = torch.where(has[:, None], torch.stack([f, y, x], dim=1), -1)
        # feature inhibition: the winner's whole map
        dead = torch.zeros(b, c, h, w, dtype=torch.bool, device=dev)
        dead[torch.arange(b, device=dev), f] = True
        if r > 0:  # lateral inhibition: the (2r+1)² window across all features
            dead |= _windows(y[:, None], x[:, None], r, h, w).squeeze(1)[:, None]
        alive &= ~dead.reshape(b, -1)
    return winners


_KEY_SCALE = 2.0 ** 13


def _k_winners_keyed(n: torch.Tensor, value: torch.Tensor, k: int, r: int) -> torch.Tensor | None:
    """The rounds of :func:`k_winners_from_counts` on one float64 key per neuron, ``n · 2¹³ + value``, which
    orders neurons exactly as ``(n, value)`` when every live value lies in ``[2⁻¹⁰, 2¹²)`` (float64 keeps a
    float32 value of that range exactly beside ``n · 2¹³`` for ``n < 128``): two passes per round instead of
    six. None when a live value is outside that range (the caller then takes the general path)."""
    b, c, h, w = n.shape
    alive = n > 0
    if not bool(alive.any()):
        return torch.full((b, int(k), 3), -1, dtype=torch.long, device=n.device)
    live = value[alive]
    if float(live.min()) < 2.0 ** -10 or float(live.max()) >= _KEY_SCALE / 2 or int(n.max()) >= 128:
        return None
    key = torch.where(alive, n.to(torch.float64) * _KEY_SCALE + value.to(torch.float64), float("-inf"))
    key = key.reshape(b, c, h, w)
    winners = torch.full((b, int(k), 3), -1, dtype=torch.long, device=n.device)
    rows = torch.arange(b, device=n.device)
    for i in range(int(k)):
        best, flat = key.reshape(b, -1).max(dim=1)
        has = best > float("-inf")
        if not bool(has.any()):
            break
        f, rem = flat // (h * w), flat % (h * w)
        y, x = rem // w, rem % w
        winners[:, i] = torch.where(has[:, None], torch.stack([f, y, x], dim=1), -1)
        key[rows, f] = float("-inf")  # feature inhibition (a sample without a winner has only -inf left)
        if r > 0:  # lateral inhibition: the (2r+1)² window across all features
            key.masked_fill_(_windows(y[:, None], x[:, None], r, h, w).squeeze(1)[:, None], float("-inf"))
    return winners


def k_winners_pointwise(n: torch.Tensor, feature: torch.Tensor, value: torch.Tensor, n_features: int, k: int,
                        r: int) -> torch.Tensor:
    """:func:`k_winners_from_counts` after pointwise inhibition, on one neuron per position: ``n`` (int, ``[B, H,
    W]``, 0 = silent position), the position's surviving ``feature`` and its first-spike potential ``value``
    (same shape) of a layer with ``n_features`` maps. The same rounds, ranking and tie rule (lowest flat index
    ``(feature, row, col)``): feature inhibition removes the positions whose survivor is the winner's feature,
    lateral inhibition the window. Work per round is ``O(B·H·W)`` instead of ``O(B·F·H·W)``. No argument
    checks."""
    b, h, w = n.shape
    dev = n.device
    n = n.reshape(b, -1)
    alive = n > 0
    feature = feature.reshape(b, -1).long()
    value = value.reshape(b, -1)
    order = feature * (h * w) + torch.arange(h * w, device=dev)  # the flat index (feature, row, col)
    big = torch.iinfo(torch.long).max
    neg_inf = torch.tensor(float("-inf"), dtype=value.dtype, device=dev)
    rows = torch.arange(h, device=dev).repeat_interleave(w)
    cols = torch.arange(w, device=dev).repeat(h)
    winners = torch.full((b, int(k), 3), -1, dtype=torch.long, device=dev)
    for i in range(int(k)):
        has = alive.any(dim=1)
        if not bool(has.any()):
            break
        cand = alive & (n == torch.where(alive, n, -1).amax(dim=1, keepdim=True))
        v = torch.where(cand, value, neg_inf)
        cand &= v == v.amax(dim=1, keepdim=True)
        pos = torch.where(cand, order, big).argmin(dim=1)
        f = feature.gather(1, pos[:, None])
        y, x = rows[pos], cols[pos]
        winners[:, i] = torch.where(has[:, None], torch.cat([f, y[:, None], x[:, None]], dim=1), -1)
        dead = feature == f  # feature inhibition
        if r > 0:  # lateral inhibition: the (2r+1)² window
            dead |= ((rows - y[:, None]).abs() <= r) & ((cols - x[:, None]).abs() <= r)
        alive &= ~dead
    return winners


def k_winners_ranked(sample: torch.Tensor, position: torch.Tensor, feature: torch.Tensor, n: torch.Tensor,
                     value: torch.Tensor, b: int, h: int, w: int, k: int, r: int) -> torch.Tensor:
    """:func:`k_winners_pointwise` from the live positions alone (for small batches): ``sample``, ``position``
    (flat index into ``[H, W]``), surviving ``feature``, spiking-step count ``n`` (> 0) and first-spike potential
    ``value``, one entry per live position (1-D, any order). The entries are ranked once — count, then
    potential, highest first, then the lowest flat index ``(feature, row, col)`` — and each sample's winners
    are the first entries in that order that no earlier winner inhibits (its feature, its window): the
    winner each round would take. A few tensor operations and a short Python loop instead of k rounds over
    the map. Returns int64 ``[B, k, 3]`` (``-1`` rows where a sample has fewer winners). No argument checks."""
    winners = torch.full((b, int(k), 3), -1, dtype=torch.long, device=n.device)
    if n.numel() == 0:
        return winners
    order = torch.argsort(feature * (h * w) + position)
    for key, descending in ((value, True), (n, True), (sample, False))[:3 if b > 1 else 2]:
        order = order[torch.sort(key[order], descending=descending, stable=True).indices]
    rows = torch.stack([sample[order], feature[order], position[order] // w, position[order] % w]).t().tolist()
    chosen: list[list[tuple[int, int, int]]] = [[] for _ in range(b)]
    full = 0
    for s_, f_, y_, x_ in rows:
        got = chosen[s_]
        if full == b:  # every sample has its k winners
            break
        if len(got) == k or any(f_ == f0 or (r > 0 and abs(y_ - y0) <= r and abs(x_ - x0) <= r)
                                for f0, y0, x0 in got):
            continue
        got.append((f_, y_, x_))
        full += len(got) == k
    for s_, got in enumerate(chosen):
        if got:
            winners[s_, :len(got)] = torch.tensor(got, dtype=torch.long)
    return winners


def pointwise_keep(n: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """:func:`pointwise_inhibition` from spiking-step counts ``n`` and first-spike potentials ``value``
    ``[B, C, H, W]``: the boolean mask of the features kept (at each position the earliest, then the largest
    potential, then the lowest feature; silent positions keep nothing). No argument checks."""
    n_best = n.amax(dim=1, keepdim=True)
    cand = (n == n_best) & (n > 0)
    neg_inf = torch.tensor(float("-inf"), dtype=value.dtype, device=value.device)
    winner = torch.where(cand, value, neg_inf).argmax(dim=1, keepdim=True)
    return (torch.arange(n.shape[1], device=n.device).view(1, -1, 1, 1) == winner) & cand.any(dim=1, keepdim=True)


def feature_inhibition(potentials: torch.Tensor, inhibited_features: Any) -> torch.Tensor:
    """Zero whole feature maps of a wave ``[B, T, C, H, W]`` (SpykeTorch ``feature_inhibition``): the
    feature inhibition of Mozafari et al. 2019's k-winners step.

    ``inhibited_features``: a sequence or 1-D tensor of feature indices (the same for every sample), or a
    boolean mask ``[B, C]`` (per sample). Returns a new tensor; the input is unchanged.
    """
    _check_wave("potentials", potentials)
    b, _, c = potentials.shape[:3]
    if isinstance(inhibited_features, torch.Tensor) and inhibited_features.dtype == torch.bool:
        if inhibited_features.shape != (b, c):
            raise ConfigError("inhibited_features", tuple(inhibited_features.shape),
                              f"a boolean mask of shape {(b, c)} or a list of feature indices", where=_WHERE)
        mask = inhibited_features.to(potentials.device)
    else:
        idx = torch.as_tensor(inhibited_features, dtype=torch.long).reshape(-1)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= c):
            raise ConfigError("inhibited_features", inhibited_features, f"feature indices in [0, {c})",
                              where=_WHERE)
        mask = torch.zeros(b, c, dtype=torch.bool, device=potentials.device)
        mask[:, idx.to(potentials.device)] = True
    return potentials.masked_fill(mask[:, None, :, None, None], 0)


def _windows(y: torch.Tensor, x: torch.Tensor, r: int, h: int, w: int) -> torch.Tensor:
    """Boolean ``[B, K, h, w]``: the ``(2r+1)²`` windows (clipped at the borders) centred on ``(y, x)``
    (each ``[B, K]``)."""
    rows = torch.arange(h, device=y.device)[:, None]
    cols = torch.arange(w, device=y.device)[None, :]
    return ((rows - y[..., None, None]).abs() <= r) & ((cols - x[..., None, None]).abs() <= r)


def lateral_inhibition(potentials: torch.Tensor, winners: torch.Tensor,
                       inhibition_radius: int) -> torch.Tensor:
    """Zero, across all features, the ``(2r+1)²`` spatial window around each winner (the lateral
    inhibition of Mozafari et al. 2019's k-winners step).

    ``winners``: int64 ``[B, K, 3]`` rows ``(feature, row, col)`` as returned by :func:`get_k_winners`
    (rows of -1 are ignored). The window is clipped at the borders; r = 0 removes just the winner's
    column of features. Returns a new tensor.
    """
    _check_wave("potentials", potentials)
    r = check_nonneg_int("inhibition_radius", inhibition_radius, where=_WHERE)
    if not isinstance(winners, torch.Tensor) or winners.dim() != 3 \
            or winners.shape[0] != potentials.shape[0] or winners.shape[2] != 3:
        shape = tuple(winners.shape) if isinstance(winners, torch.Tensor) else type(winners).__name__
        raise ConfigError("winners", shape, f"an int64 tensor [B={potentials.shape[0]}, K, 3]", where=_WHERE)
    h, w = potentials.shape[-2:]
    valid = (winners[..., 0] >= 0)[:, :, None, None]
    window = (_windows(winners[..., 1], winners[..., 2], r, h, w) & valid).any(dim=1)  # [B, H, W]
    return potentials.masked_fill(window[:, None, None], 0)


def local_normalization(images: torch.Tensor, radius: int, eps: float = 1e-12) -> torch.Tensor:
    """Divide every value of ``[B, C, H, W]`` by its channel's local mean over the ``(2r+1)²`` window
    around it, zero-padded (the divisor is always ``(2r+1)²``), plus ``eps`` (SpykeTorch
    ``local_normalization``; Mozafari et al. 2019's S1C1 step with r = 8). On CPU the window sums come from a
    float64 summed-area table (:mod:`snnkit.stdp.compiled`), elsewhere from average pooling: equal to round-off.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ConfigError("images", shape, "a tensor of shape [B, C, H, W]", where=_WHERE)
    r = check_nonneg_int("radius", radius, where=_WHERE)
    if images.device.type == "cpu" and images.dtype in (torch.float32, torch.float64) and images.numel():
        return local_normalization_maps(images.contiguous(), r, eps)  # compiled: a summed-area table per map
    b, c, h, w = images.shape
    flat = images.reshape(b * c, 1, h, w)
    means = F.avg_pool2d(flat, 2 * r + 1, stride=1, padding=r, count_include_pad=True) + eps
    return (flat / means).reshape(b, c, h, w)
