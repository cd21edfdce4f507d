"""Learning rules of the STDP / R-STDP convolutional networks (the SpykeTorch family), batched.

Mozafari, Ganjtabesh, Nowzari-Dalini, Thorpe & Masquelier, "Bio-inspired digit recognition using
reward-modulated spike-timing-dependent plasticity in deep convolutional networks", Pattern Recognition
94:87-95 (2019); Mozafari, Ganjtabesh, Nowzari-Dalini & Masquelier, "SpykeTorch: efficient simulation of
convolutional spiking neural networks with at most one spike per neuron", Frontiers in Neuroscience 13
(2019); Kheradpisheh, Ganjtabesh, Thorpe & Masquelier, "STDP-based spiking deep convolutional neural
networks for object recognition", Neural Networks 99:56-67 (2018) (the stabiliser). The semantics follow
SpykeTorch's ``STDP`` module and the ``MozafariDeep`` example (read, not copied).

Convolutional STDP (:func:`stdp`): for each winner ``(f, row, col)`` of a sample, every weight of feature
``f``'s kernel ``weight[f, c, i, j]`` compares the pre-synaptic neuron ``(c, row + i, col + j)`` of the
input wave with the winner: pre fired no later than post (it spikes in at least as many of the cumulative
time steps) → LTP rate ``a⁺[f]``, otherwise (later, or silent) → LTD rate ``a⁻[f]`` (negative). With the
stabiliser ``Δw = a·(w − lb)(ub − w)`` (SpykeTorch's ``w(1 − w)`` for the bounds [0, 1]), without it
``Δw = a``; then the kernel is clipped to ``[lb, ub]``. Only the winners' kernels change.

How winners and samples combine (documented rule, what makes batched == per-sample loop exactly): the
updates are applied one winner at a time, sample by sample in batch order and, within a sample, in the
order of its winner rows, each on the weights left by the previous one. The pre/post ordering depends on
the spike times only, so all of a batch's updates are computed from the same spike waves. Winners of one
sample come from :func:`snnkit.stdp.functional.get_k_winners` and have distinct features, so within a
sample this equals SpykeTorch's simultaneous update; a batch of B samples equals B single-sample calls in
order (not SpykeTorch's online training, where each sample's forward pass already sees the previous
sample's update — that is the caller's choice of B). Differences from SpykeTorch: the clip touches only
the winners' kernels (SpykeTorch clips the whole weight tensor at every step: clip weights initialised
outside the bounds once before training to match it), and a feature listed twice in one sample is updated
twice (SpykeTorch applies it once, with the last row's ordering).

R-STDP (:func:`r_stdp`): reward → STDP with the reward rates, punishment → anti-STDP, i.e. the same rule
with the punishment rates ``(a⁺_p < 0, a⁻_p > 0)``: the signs swapped. :func:`stdp_linear` and
:func:`r_stdp_linear` apply the same rules to a linear layer (a convolution on a 1x1 map).
:func:`adaptive_rstdp_rates` and :func:`doubling_schedule` are the rate schedules of Mozafari et al. 2019.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import torch

from snnkit.errors import ConfigError

__all__ = ["stdp", "r_stdp", "stdp_linear", "r_stdp_linear", "adaptive_rstdp_rates", "doubling_schedule"]

_WHERE = "snnkit.stdp.learning"


def _real(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value:
        raise ConfigError(key, value, "a real number", where=_WHERE)
    return float(value)


def _bounds(bounds: Any) -> tuple[float, float]:
    if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
        raise ConfigError("bounds", bounds, "a pair (lower, upper) with lower < upper", where=_WHERE)
    lb, ub = _real("bounds", bounds[0]), _real("bounds", bounds[1])
    if not lb < ub:
        raise ConfigError("bounds", bounds, "a pair (lower, upper) with lower < upper", where=_WHERE)
    return lb, ub


def _rates(key: str, rates: Any, b: int, f: int, like: torch.Tensor) -> torch.Tensor:
    """``(a⁺, a⁻)`` as a pair, ``[2]``, per feature ``[F, 2]`` or per sample and feature ``[B, F, 2]`` →
    ``[B, F, 2]`` in the weight's dtype and device."""
    r = torch.as_tensor(rates, dtype=like.dtype).to(like.device) if not isinstance(rates, torch.Tensor) \
        else rates.to(dtype=like.dtype, device=like.device)
    if r.shape not in ((2,), (f, 2), (b, f, 2)) or not bool(torch.isfinite(r).all()):
        raise ConfigError(key, tuple(r.shape) if r.dim() else rates,
                          f"finite (a+, a-) rates of shape [2], [F={f}, 2] or [B={b}, F={f}, 2]", where=_WHERE)
    return r.expand(b, f, 2)


def _check(weight: torch.Tensor, input_spikes: torch.Tensor, output_spikes: torch.Tensor,
           winners: torch.Tensor) -> None:
    """Cheap shape checks at the public boundary (no look at the values)."""
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        raise ConfigError("weight", getattr(weight, "shape", type(weight).__name__),
                          "a convolution weight [F, C, kh, kw]", where=_WHERE)
    for key, x in (("input_spikes", input_spikes), ("output_spikes", output_spikes)):
        if not isinstance(x, torch.Tensor) or x.dim() != 5:
            raise ConfigError(key, getattr(x, "shape", type(x).__name__), "a spike wave [B, T, C, H, W]",
                              where=_WHERE)
    f, c, kh, kw = weight.shape
    b, t, ci, h, w = input_spikes.shape
    if ci != c:
        raise ConfigError("input_spikes", tuple(input_spikes.shape), f"{c} input channels (the weight's)",
                          where=_WHERE)
    if kh > h or kw > w:
        raise ConfigError("weight", tuple(weight.shape), f"a kernel no larger than the input {(h, w)}",
                          where=_WHERE)
    expected = (b, t, f, h - kh + 1, w - kw + 1)
    if tuple(output_spikes.shape) != expected:
        raise ConfigError("output_spikes", tuple(output_spikes.shape),
                          f"shape {expected} (stride-1 convolution without padding)", where=_WHERE)
    if not isinstance(winners, torch.Tensor) or winners.dim() != 3 or winners.shape[0] != b \
            or winners.shape[2] != 3 or winners.dtype.is_floating_point:
        raise ConfigError("winners", getattr(winners, "shape", type(winners).__name__),
                          f"an integer tensor [B={b}, K, 3] of (feature, row, col), -1 rows ignored", where=_WHERE)


def _occurrence_rank(f: torch.Tensor) -> torch.Tensor:
    """For each entry, how many earlier entries have the same feature (entries of equal rank have distinct
    features, so they can be applied together without changing the sequential result)."""
    n = f.numel()
    order = torch.sort(f, stable=True).indices
    fs = f[order]
    pos = torch.arange(n, device=f.device)
    new = torch.ones(n, dtype=torch.bool, device=f.device)
    new[1:] = fs[1:] != fs[:-1]
    start = torch.where(new, pos, 0).cummax(dim=0).values
    rank = torch.empty_like(pos)
    rank[order] = pos - start
    return rank


def _apply(weight: torch.Tensor, input_spikes: torch.Tensor, output_spikes: torch.Tensor,
           winners: torch.Tensor, rates: torch.Tensor, stabilizer: bool, lb: float, ub: float,
           inplace: bool) -> torch.Tensor:
    """The update of the module docstring, ``rates`` ``[B, F, 2]``."""
    return apply_counts(weight, (input_spikes > 0).sum(dim=1), (output_spikes > 0).sum(dim=1), winners, rates,
                        stabilizer, lb, ub, inplace)


def apply_counts(weight: torch.Tensor, pre: torch.Tensor, post: torch.Tensor, winners: torch.Tensor,
                 rates: torch.Tensor, stabilizer: bool, lb: float, ub: float, inplace: bool) -> torch.Tensor:
    """The STDP update from spiking-step counts (more = earlier): ``pre`` ``[B, C, H, W]`` of the input,
    ``post`` ``[B, F, H', W']`` of the output (what the models' hot path keeps instead of the waves);
    ``rates`` ``[B, F, 2]``. No argument checks (the public functions check)."""
    w = weight if inplace else weight.clone()
    winners = winners.to(device=weight.device, dtype=torch.long)
    sample, row = (winners[..., 0] >= 0).nonzero(as_tuple=True)  # row-major: sample order, then winner order
    if sample.numel() == 0:
        return w
    f, y, x = winners[sample, row].unbind(dim=1)
    _, c, kh, kw = weight.shape
    dev = pre.device
    s_, f_, y_, x_ = sample.to(dev), f.to(dev), y.to(dev), x.to(dev)
    post_n = post[s_, f_, y_, x_]  # [N]
    rows = (y_[:, None] + torch.arange(kh, device=dev))[:, None, :, None]
    cols = (x_[:, None] + torch.arange(kw, device=dev))[:, None, None, :]
    patch = pre[s_[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None], rows, cols]
    ltp = (patch >= post_n[:, None, None, None]).to(weight.device)  # [N, C, kh, kw]
    a = rates[sample, f]  # [N, 2]
    lr = torch.where(ltp, a[:, 0, None, None, None], a[:, 1, None, None, None])
    if int(sample[-1]) == int(sample[0]):  # one sample: its winners have distinct features (feature inhibition)
        sizes = [f.numel()] if f.unique().numel() == f.numel() else None
    else:
        sizes = None
    if sizes is None:
        rank = _occurrence_rank(f)
        order = torch.sort(rank, stable=True).indices  # rounds of distinct features, each a contiguous slice
        f, lr = f[order], lr[order]
        sizes = torch.bincount(rank).tolist()
    start = 0
    tiny = torch.finfo(w.dtype).tiny
    for size in sizes:
        fs, a_r = f[start:start + size], lr[start:start + size]
        start += size
        cur = w[fs]
        step = a_r * ((cur - lb) * (ub - cur)) if stabilizer else a_r
        new = (cur + step).clamp_(lb, ub)
        # the stabiliser drives weights towards lb geometrically; within a subnormal distance of lb they snap to
        # it, since subnormal weights would make every later convolution many times slower on x86 CPUs
        w[fs] = torch.where(new - lb < tiny, lb, new)
    return w


def stdp(weight: torch.Tensor, input_spikes: torch.Tensor, output_spikes: torch.Tensor, winners: torch.Tensor,
         learning_rates: Any, *, stabilizer: bool = True, bounds: Sequence[float] = (0.0, 1.0),
         inplace: bool = False) -> torch.Tensor:
    """Convolutional STDP of a batch of winners (Mozafari et al. 2019; SpykeTorch ``STDP``); see the
    module docstring for the rule and for how winners and samples combine.

    ``weight`` ``[F, C, kh, kw]`` (stride 1, no padding); ``input_spikes`` ``[B, T, C, H, W]`` and
    ``output_spikes`` ``[B, T, F, H-kh+1, W-kw+1]`` cumulative spike waves; ``winners`` int ``[B, K, 3]``
    rows ``(feature, row, col)`` as from :func:`~snnkit.stdp.functional.get_k_winners` (-1 rows skipped);
    ``learning_rates`` ``(a⁺, a⁻)``: one pair, per feature ``[F, 2]`` or per sample and feature
    ``[B, F, 2]`` (e.g. a :func:`doubling_schedule` step inside the batch). ``bounds`` ``(lb, ub)``.
    Returns the new weight (``weight`` itself, updated, if ``inplace``).
    """
    _check(weight, input_spikes, output_spikes, winners)
    lb, ub = _bounds(bounds)
    rates = _rates("learning_rates", learning_rates, input_spikes.shape[0], weight.shape[0], weight)
    return _apply(weight, input_spikes, output_spikes, winners, rates, bool(stabilizer), lb, ub, inplace)


def r_stdp(weight: torch.Tensor, input_spikes: torch.Tensor, output_spikes: torch.Tensor, winners: torch.Tensor,
           reward: Any, reward_rates: Any, punish_rates: Any, *, stabilizer: bool = True,
           bounds: Sequence[float] = (0.0, 1.0), inplace: bool = False) -> torch.Tensor:
    """Reward-modulated STDP (Mozafari et al. 2019): samples with ``reward`` True learn by STDP with
    ``reward_rates`` ``(a⁺_r, a⁻_r)``, the others by anti-STDP with ``punish_rates`` ``(a⁺_p, a⁻_p)``
    (the spec's decision layer: reward (0.004, -0.003), punishment (-0.004, 0.0005), no stabiliser,
    bounds [0.2, 0.8]). Samples without a winner (silent: no decision) are not updated, whatever their
    reward. ``reward``: bool ``[B]``; rates as in :func:`stdp`; the same sequential rule as :func:`stdp`.
    """
    _check(weight, input_spikes, output_spikes, winners)
    lb, ub = _bounds(bounds)
    b, f = input_spikes.shape[0], weight.shape[0]
    rewarded = torch.as_tensor(reward, device=weight.device)
    if rewarded.shape != (b,) or rewarded.dtype != torch.bool:
        raise ConfigError("reward", tuple(rewarded.shape) if rewarded.dim() else reward,
                          f"a boolean tensor [B={b}] (True = reward, False = punishment)", where=_WHERE)
    rates = torch.where(rewarded[:, None, None], _rates("reward_rates", reward_rates, b, f, weight),
                        _rates("punish_rates", punish_rates, b, f, weight))
    return _apply(weight, input_spikes, output_spikes, winners, rates, bool(stabilizer), lb, ub, inplace)


def _linear_as_conv(weight: torch.Tensor, input_spikes: torch.Tensor, output_spikes: torch.Tensor,
                    winners: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A linear layer as a 1x1 convolution on a 1x1 map: weight ``[F, D]`` → ``[F, D, 1, 1]`` (a view, so
    ``inplace`` still updates it), waves ``[B, T, D]`` / ``[B, T, F]`` → 5-D, winners ``[B, K]`` → rows
    ``(f, 0, 0)``."""
    for key, x, dim in (("weight", weight, 2), ("input_spikes", input_spikes, 3), ("output_spikes", output_spikes, 3),
                        ("winners", winners, 2)):
        if not isinstance(x, torch.Tensor) or x.dim() != dim:
            allowed = {"weight": "[F, D]", "input_spikes": "[B, T, D]", "output_spikes": "[B, T, F]",
                       "winners": "integer [B, K] of feature indices, -1 ignored"}[key]
            raise ConfigError(key, getattr(x, "shape", type(x).__name__), f"a tensor {allowed}", where=_WHERE)
    rows = torch.stack([winners, torch.zeros_like(winners), torch.zeros_like(winners)], dim=-1)  # -1 rows skipped
    return weight[:, :, None, None], input_spikes[..., None, None], output_spikes[..., None, None], rows


def stdp_linear(weight: torch.Tensor, input_spikes: torch.Tensor, output_spikes: torch.Tensor,
                winners: torch.Tensor, learning_rates: Any, *, stabilizer: bool = True,
                bounds: Sequence[float] = (0.0, 1.0), inplace: bool = False) -> torch.Tensor:
    """:func:`stdp` for a linear (fully connected) layer: ``weight`` ``[F, D]``, ``input_spikes``
    ``[B, T, D]``, ``output_spikes`` ``[B, T, F]``, ``winners`` int ``[B, K]`` of winning output neurons
    (-1 skipped). Exactly the convolutional rule on a 1x1 map. Returns ``[F, D]``."""
    w, x, y, rows = _linear_as_conv(weight, input_spikes, output_spikes, winners)
    return stdp(w, x, y, rows, learning_rates, stabilizer=stabilizer, bounds=bounds, inplace=inplace)[:, :, 0, 0]


def r_stdp_linear(weight: torch.Tensor, input_spikes: torch.Tensor, output_spikes: torch.Tensor,
                  winners: torch.Tensor, reward: Any, reward_rates: Any, punish_rates: Any, *,
                  stabilizer: bool = True, bounds: Sequence[float] = (0.0, 1.0),
                  inplace: bool = False) -> torch.Tensor:
    """:func:`r_stdp` for a linear layer, shapes as in :func:`stdp_linear`. Returns ``[F, D]``."""
    w, x, y, rows = _linear_as_conv(weight, input_spikes, output_spikes, winners)
    return r_stdp(w, x, y, rows, reward, reward_rates, punish_rates, stabilizer=stabilizer, bounds=bounds,
                  inplace=inplace)[:, :, 0, 0]


def _count(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ConfigError(key, value, "an integer >= 0", where=_WHERE)
    return int(value)


def adaptive_rstdp_rates(reward_rates: Sequence[float], punish_rates: Sequence[float], hits: int, misses: int,
                         silent: int = 0, *, adaptive_min: float = 0.0,
                         adaptive_int: float = 1.0) -> tuple[tuple[float, float], tuple[float, float]]:
    """Adaptive R-STDP rates of Mozafari et al. 2019 (their ``MozafariDeep`` training loop): after a block
    of samples (1000 there) with ``hits`` correct, ``misses`` wrong and ``silent`` undecided decisions,
    the base reward rates are scaled by ``misses / n · adaptive_int + adaptive_min`` and the base
    punishment rates by ``hits / n · adaptive_int + adaptive_min``, ``n = hits + misses + silent``.
    Returns ``(reward_rates, punish_rates)`` for the next block; the first block uses the base rates.
    """
    h, m, s = _count("hits", hits), _count("misses", misses), _count("silent", silent)
    n = h + m + s
    if n == 0:
        raise ConfigError("hits", hits, "counts with hits + misses + silent >= 1", where=_WHERE)
    lo, scale = _real("adaptive_min", adaptive_min), _real("adaptive_int", adaptive_int)
    pairs = []
    for key, rates, frac in (("reward_rates", reward_rates, m / n), ("punish_rates", punish_rates, h / n)):
        if not isinstance(rates, (tuple, list)) or len(rates) != 2:
            raise ConfigError(key, rates, "a pair (a+, a-)", where=_WHERE)
        factor = frac * scale + lo
        pairs.append((_real(key, rates[0]) * factor, _real(key, rates[1]) * factor))
    return pairs[0], pairs[1]


def doubling_schedule(sample_index: int, a_plus: float = 0.004, *, every: int = 500, factor: float = 2.0,
                      max_a_plus: float = 0.15, ltd_ratio: float = -0.75) -> tuple[float, float]:
    """``(a⁺, a⁻)`` in force for the unsupervised layers' STDP step of sample ``sample_index`` (0-based,
    counted over the layer's whole training) — Mozafari et al. 2019: every ``every`` samples
    ``a⁺ ← min(factor · a⁺, max_a_plus)``, ``a⁻ = ltd_ratio · a⁺``. As in their code the rate is raised
    in the forward pass of the ``every``-th sample, before its own STDP step, so sample ``i`` uses
    ``min(a_plus · factor^((i + 1) // every), max_a_plus)``.
    """
    i = _count("sample_index", sample_index)
    if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
        raise ConfigError("every", every, "an integer >= 1", where=_WHERE)
    a0, cap = _real("a_plus", a_plus), _real("max_a_plus", max_a_plus)
    grow, ratio = _real("factor", factor), _real("ltd_ratio", ltd_ratio)
    if grow < 1:
        raise ConfigError("factor", factor, "a real number >= 1", where=_WHERE)
    ap = a0
    for _ in range((i + 1) // every):  # iterated as in the original, so the cap applies as there
        ap = min(grow * ap, cap)
        if ap == cap:
            break
    return ap, ratio * ap
