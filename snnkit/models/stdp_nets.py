"""Convolutional STDP / R-STDP spiking networks of the SpykeTorch family, batched, and their notebook schema.

Mozafari, Ganjtabesh, Nowzari-Dalini, Thorpe & Masquelier, "Bio-inspired digit recognition using
reward-modulated spike-timing-dependent plasticity in deep convolutional networks", Pattern Recognition
94:87-95 (2019) (``mozafari2018``, 97.2 % on MNIST); the four models of the seed repository built on it
(``deep2024``, ``deepr2024`` with a joint and a greedy variant, ``inception2024``, ``majority2024``).

A network is a sequence of *blocks*; a block is one convolutional layer, or parallel branches that read the
same input and are concatenated along the features (``concat``, the inception block) or vote (``vote``, the
majority decision). Every layer pads its input, convolves (stride 1, no bias), fires once per neuron
(threshold θ, or ``None`` for a decision layer that fires at the last step only) and may max-pool its
output. Weights start at N(mean, std) from the model's own seeded generator.

Learning is layer by layer (phases, :attr:`StdpNet.phases`): an unsupervised layer learns by STDP from its
k winners after pointwise inhibition (:meth:`StdpNet.stdp_step`), a decision layer — and in ``deepr2024``
also the third layer — by R-STDP from the decision's reward (:meth:`StdpNet.rstdp_step`). Inference
(:meth:`StdpNet.decide`) uses no inhibition except the decision's single winner.

Inference fast path (exact): with non-negative weights and cumulative input spikes a potential never
decreases over time, so a threshold neuron has fired by the last step iff its last-step potential exceeds θ,
max pooling and zero padding commute with taking the last step, and the decision layer reads only the last
step. :meth:`StdpNet.decide` therefore runs every layer on the last time step alone (T times less work); the
full-wave path (:meth:`StdpNet.block_forward`) gives the same decisions (tested), and is used whenever a
weight is negative. On the last step the threshold layers run channels-last (oneDNN's faster layout here) on
only the input their pooling windows read; a block with a sparse input (:data:`_LAST_STEP_EVENTS_MAX`) sums its
spikes one by one on CPU, fused with θ and the pooling (:func:`~snnkit.stdp.compiled.fired_pooled_events`;
potentials in another order of summation, so equal to round-off); and a decision layer on a small map is one
matrix product with its convolution unrolled, cached per weight version; its potentials equal the convolution's
to round-off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from snnkit.config import NO_RESULT_EFFECT, NotebookParams, register
from snnkit.errors import ConfigError
from snnkit.stdp import functional as sf
from snnkit.stdp import learning as sl
from snnkit.stdp.compiled import (
    apply_counts_events,
    fired_pooled_events,
    last_potentials_events,
    layer_counts_events,
    stdp_step_events,
    transposed,
)

__all__ = ["LayerSpec", "Block", "StdpNet", "MODELS", "build_model", "model_phases", "StdpMnistParams",
           "to_times", "from_times"]

_WHERE = "snnkit.models.stdp_nets"
#: batches of at most this many samples convolve all time steps at once in the hot path (fewer, larger calls)
_SMALL_BATCH = 4
#: a decision layer whose convolution unrolls into a matrix of at most this many elements runs as one matrix
#: product on the unpadded input (small maps: no multiplications by the padding, one large GEMM)
_DENSE_DECISION_MAX = 1 << 24
#: in R-STDP training on CPU a decision layer sums its input spikes one by one (compiled) for batches of up to
#: :data:`_SMALL_BATCH` samples, and for larger ones when at most this fraction of its inputs fired; a denser
#: batch is convolved. Measured on mozafari2018's decision (250 x 4 x 4 inputs) on this CPU: for 16 images the
#: spike sums take 0.5x the convolution's time at 27 % firing (the paper run's), as long at 40 %, 1.6x at 78 %;
#: for one image 0.2-0.7x at any density
_EVENT_DENSITY_MAX = 0.4
#: on the last-step inference path on CPU, a threshold block whose input has at most this fraction of spikes sums
#: them one by one (compiled, fused with θ and the pooling) instead of convolving. Measured on this CPU, one
#: thread, 500 samples, for the five models' layer shapes (6 -> 30 on 28 x 28 up to 150 -> 250 on 7 x 7): the
#: spike sums take 0.25-0.4x the convolution's time at 5 % firing, 0.45-0.65x at 10 %, 0.65-1.3x at 20 %, more
#: than the convolution from about 25 % (mozafari2018's layer 2 reads about 9 % in the paper run, layer 1 25 %)
_LAST_STEP_EVENTS_MAX = 0.15
#: the per-layer caches a network derives from its weights (:meth:`StdpNet._versioned`), rebuilt on demand
_CACHES = ("_dense_cache", "_wt_cache")
STDP_RATES = (0.004, -0.003)


@dataclass(frozen=True)
class LayerSpec:
    """One convolutional layer of at-most-one-spike neurons (see the module docstring).

    ``pad``: input padding, one int or ``(left, right, top, bottom)``; ``out_pad``: zero padding of the
    output spikes (the inception branches are padded to a common size this way); ``pool``: output max
    pooling ``(kernel, stride)`` or None; ``threshold`` None: a decision layer (fires at the last step).
    STDP (unsupervised, with the doubling schedule): ``rates``, ``stabilizer``, ``bounds``. R-STDP, when the
    layer learns from reward in some phase: ``reward`` and ``punish`` rates, ``rstdp_bounds`` (no stabiliser,
    as in all the models here).
    """

    name: str
    in_channels: int
    out_channels: int
    kernel: int
    threshold: float | None
    k: int = 1
    radius: int = 0
    rates: tuple[float, float] = STDP_RATES
    stabilizer: bool = True
    bounds: tuple[float, float] = (0.0, 1.0)
    reward: tuple[float, float] | None = None
    punish: tuple[float, float] | None = None
    rstdp_bounds: tuple[float, float] = (0.2, 0.8)
    init: tuple[float, float] = (0.8, 0.05)
    pad: int | tuple[int, int, int, int] = 0
    out_pad: int = 0
    pool: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        for key in ("in_channels", "out_channels", "kernel", "k"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{self.name}.{key}", value, "an integer >= 1", where=_WHERE)
        if self.threshold is not None and not (isinstance(self.threshold, (int, float)) and self.threshold >= 0):
            raise ConfigError(f"{self.name}.threshold", self.threshold, "a number >= 0, or None (decision layer)",
                              where=_WHERE)
        if isinstance(self.radius, bool) or not isinstance(self.radius, int) or self.radius < 0:
            raise ConfigError(f"{self.name}.radius", self.radius, "an integer >= 0", where=_WHERE)
        for key in ("bounds", "rstdp_bounds"):  # the time-step hot path needs potentials that never decrease
            lo, hi = getattr(self, key)
            if not 0 <= lo < hi:
                raise ConfigError(f"{self.name}.{key}", getattr(self, key), "(lower, upper) with 0 <= lower < upper "
                                  "(non-negative weights: potentials never decrease over time)", where=_WHERE)
        if (self.reward is None) != (self.punish is None):
            raise ConfigError(f"{self.name}.punish", self.punish, "reward and punishment rates given together",
                              where=_WHERE)

    @property
    def sides(self) -> tuple[int, int, int, int]:
        return (self.pad,) * 4 if isinstance(self.pad, int) else tuple(self.pad)

    def out_size(self, size: int) -> int:
        """Spatial size of the (square) output for an input of ``size`` (after padding, conv and pooling);
        ConfigError when the kernel or the pooling window is larger than its input."""
        left, right = self.sides[0], self.sides[1]
        padded = size + left + right
        if self.kernel > padded:
            raise ConfigError(f"{self.name}.kernel", self.kernel,
                              f"at most its padded input size {padded} (input {size})", where=_WHERE)
        out = padded - self.kernel + 1 + 2 * self.out_pad
        if self.pool is not None:
            if self.pool[0] > out:
                raise ConfigError(f"{self.name}.pool", self.pool, f"a window of at most the layer's output {out}",
                                  where=_WHERE)
            out = (out - self.pool[0]) // self.pool[1] + 1
        return out


@dataclass(frozen=True)
class Block:
    """Layers reading the same input: one layer, or branches combined by ``concat`` or ``vote``."""

    layers: tuple[LayerSpec, ...]
    combine: Literal["single", "concat", "vote"] = "single"

    @property
    def decision(self) -> bool:
        return self.layers[0].threshold is None


@dataclass(frozen=True)
class Phase:
    """One training phase: which layers learn, by which rule, and how R-STDP layers take turns.

    ``alternate``: the greedy variant of ``deepr2024`` — in epoch ``e`` of the phase only
    ``learners[e % len(learners)]`` learns (the others are frozen); otherwise all learners learn together.
    """

    name: str
    learners: tuple[str, ...]
    rule: Literal["stdp", "rstdp"]
    alternate: bool = False


@dataclass(frozen=True)
class Architecture:
    blocks: tuple[Block, ...]
    phases: tuple[Phase, ...]
    per_class: int = 20
    fallback: str | None = None  # vote blocks: the branch whose decision breaks a tie
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _conv(name, cin, cout, kernel, threshold, k, radius, **kw) -> LayerSpec:
    return LayerSpec(name, cin, cout, kernel, threshold, k, radius, **kw)


def _decision(name, cin, kernel=5, cout=200, pad=2) -> LayerSpec:
    """A decision layer: fires at the last step, one winner, class = feature // 20; R-STDP reward
    (0.004, -0.003), punishment (-0.004, 0.0005), bounds [0.2, 0.8] (Mozafari et al. 2019)."""
    return LayerSpec(name, cin, cout, kernel, None, 1, 0, reward=(0.004, -0.003), punish=(-0.004, 0.0005),
                     rstdp_bounds=(0.2, 0.8), pad=pad)


def _l1() -> LayerSpec:  # every model: input padded 28 -> 32, conv 5x5 -> 28, pool 2 -> 14
    return _conv("conv1", 6, 30, 5, 15.0, 5, 3, pad=2, pool=(2, 2))


def _mozafari2018() -> Architecture:
    """Mozafari et al. 2019: 30 (5x5) -> 250 (3x3) -> 200-feature decision (5x5) on a 4x4 map."""
    return Architecture(
        blocks=(Block((_l1(),)),
                Block((_conv("conv2", 30, 250, 3, 10.0, 8, 1, pad=1, pool=(3, 3)),)),
                Block((_decision("conv3", 250),))),
        phases=(Phase("l1", ("conv1",), "stdp"), Phase("l2", ("conv2",), "stdp"),
                Phase("l3", ("conv3",), "rstdp")))


def _deep2024() -> Architecture:
    """The seed's deep network: 30 -> 150 -> 250 (3x3, θ 50, k 15, r 1) -> decision on a 2x2 map."""
    return Architecture(
        blocks=(Block((_l1(),)),
                Block((_conv("conv2", 30, 150, 3, 10.0, 8, 1, pad=1, pool=(2, 2)),)),
                Block((_conv("conv3", 150, 250, 3, 50.0, 15, 1, pad=1, pool=(3, 3)),)),
                Block((_decision("conv4", 250),))),
        phases=(Phase("l1", ("conv1",), "stdp"), Phase("l2", ("conv2",), "stdp"),
                Phase("l3", ("conv3",), "stdp"), Phase("l4", ("conv4",), "rstdp")))


def _deepr2024(greedy: bool) -> Architecture:
    """deep2024 whose third layer (k 15, r 0, STDP without stabiliser) then also learns by R-STDP from the
    decision's reward (reward (0.001, -0.00075), punishment (-0.001, 0.000125), bounds [0, 1]), together
    with the decision layer (joint) or taking turns with it, one epoch each, starting with the third layer
    (greedy: the alternation the seed meant; its expression trained the third layer only in epoch 0)."""
    conv3 = _conv("conv3", 150, 250, 3, 50.0, 15, 0, pad=1, pool=(3, 3), stabilizer=False,
                  reward=(0.001, -0.00075), punish=(-0.001, 0.000125), rstdp_bounds=(0.0, 1.0))
    return Architecture(
        blocks=(Block((_l1(),)),
                Block((_conv("conv2", 30, 150, 3, 10.0, 8, 1, pad=1, pool=(2, 2)),)),
                Block((conv3,)),
                Block((_decision("conv4", 250),))),
        phases=(Phase("l1", ("conv1",), "stdp"), Phase("l2", ("conv2",), "stdp"),
                Phase("l3", ("conv3",), "stdp"), Phase("rl", ("conv3", "conv4"), "rstdp", alternate=greedy)))


def _inception2024() -> Architecture:
    """The seed's inception network: 30 -> 75 -> three STDP branches of 100 maps (3x3, 5x5, 7x7 on the 9x9
    input, outputs zero-padded to 7x7), concatenated (300) -> pool 3 -> decision on a 2x2 map. The branches
    share their input and learn independently, so they learn in one phase (the seed: one after another)."""
    branches = tuple(_conv(f"conv3_{k}", 75, 100, k, 50.0, 15, 1, pad=1, out_pad=(k - 3) // 2, pool=(3, 3))
                     for k in (3, 5, 7))
    return Architecture(
        blocks=(Block((_l1(),)),
                Block((_conv("conv2", 30, 75, 3, 10.0, 8, 1, pad=1, pool=(2, 2)),)),
                Block(branches, "concat"),
                Block((_decision("conv4", 300),))),
        phases=(Phase("l1", ("conv1",), "stdp"), Phase("l2", ("conv2",), "stdp"),
                Phase("l3", tuple(b.name for b in branches), "stdp"), Phase("l4", ("conv4",), "rstdp")))


def _majority2024() -> Architecture:
    """mozafari2018's first two layers under three decision branches (3x3, 5x5, 7x7 on the 8x8 input: 6x6,
    4x4 and 2x2 maps), each rewarded on its own vote; the answer is the class at least two branches give,
    else the 5x5 branch's."""
    branches = tuple(_decision(f"conv3_{k}", 250, kernel=k) for k in (3, 5, 7))
    return Architecture(
        blocks=(Block((_l1(),)),
                Block((_conv("conv2", 30, 250, 3, 10.0, 8, 1, pad=1, pool=(3, 3)),)),
                Block(branches, "vote")),
        phases=(Phase("l1", ("conv1",), "stdp"), Phase("l2", ("conv2",), "stdp"),
                Phase("l3", tuple(b.name for b in branches), "rstdp")),
        fallback="conv3_5")


#: model name → a function returning its architecture
MODELS: dict[str, Any] = {
    "mozafari2018": _mozafari2018,
    "deep2024": _deep2024,
    "deepr2024": lambda: _deepr2024(greedy=False),
    "deepr2024_greedy": lambda: _deepr2024(greedy=True),
    "inception2024": _inception2024,
    "majority2024": _majority2024,
}


def _architecture(model: str) -> Architecture:
    if model not in MODELS:
        raise ConfigError("model", model, "one of " + ", ".join(map(repr, MODELS)), where=_WHERE)
    return MODELS[model]()


def model_phases(model: str) -> tuple[str, ...]:
    """The names of ``model``'s training phases, in order (one entry of ``epochs`` each)."""
    return tuple(p.name for p in _architecture(model).phases)


# ---------------------------------------------------------------------------------------- time codes
def to_times(spikes: torch.Tensor) -> torch.Tensor:
    """First-spike step of every neuron of a cumulative wave ``[B, T, ...]`` as uint8 ``[B, ...]`` (``T`` =
    silent): the compact cache format (one byte per neuron instead of ``T`` floats)."""
    n_steps = spikes.shape[1]
    if n_steps > 255:
        raise ConfigError("time_steps", n_steps, "at most 255 to store first-spike times as uint8", where=_WHERE)
    return (n_steps - (spikes > 0).sum(dim=1)).to(torch.uint8)


def from_times(times: torch.Tensor, time_steps: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The cumulative wave ``[B, T, ...]`` of first-spike times ``[B, ...]`` (inverse of :func:`to_times`)."""
    steps = torch.arange(int(time_steps), device=times.device).view(1, -1, *([1] * (times.dim() - 1)))
    return (steps >= times.unsqueeze(1).long()).to(dtype)


def _pad(x: torch.Tensor, sides: tuple[int, int, int, int]) -> torch.Tensor:
    return F.pad(x, sides) if any(sides) else x


def _pooled_input(spec: LayerSpec, h: int, w: int) -> tuple[int, int, tuple[int, int, int, int]]:
    """``(rows, cols, sides)``: the part of an ``h × w`` input that a pooled layer's output depends on, and its
    padding. Pooling windows that do not tile the map leave its last rows and columns unread (mozafari2018's
    layer 2: a 3 × 3 stride-3 pooling of 14 × 14 potentials reads 12 × 12 of them), and so do the inputs only
    they see: the convolution of the cropped input gives the same sums at every position that is read. The
    whole input and ``spec.sides`` where nothing is left unread, or with output padding."""
    left, right, top, bottom = spec.sides
    if spec.pool is None or spec.out_pad:
        return h, w, spec.sides
    window, stride = spec.pool
    k = spec.kernel
    out_h, out_w = h + top + bottom - k + 1, w + left + right - k + 1
    used_h = (out_h - window) // stride * stride + window  # conv rows that some pooling window reads
    used_w = (out_w - window) // stride * stride + window
    rows, cols = min(h, used_h + k - 1 - top), min(w, used_w + k - 1 - left)
    return rows, cols, (left, used_w + k - 1 - left - cols, top, used_h + k - 1 - top - rows)


def _unrolled(weight: torch.Tensor, spec: LayerSpec, h: int, w: int) -> torch.Tensor:
    """``[C·h·w, F·h'·w']``: the convolution of ``weight`` (padding ``spec.sides``) on an ``h × w`` input as a
    matrix (:meth:`StdpNet._decision_matrix`)."""
    left, right, top, bottom = spec.sides
    k = spec.kernel
    ho, wo = h + top + bottom - k + 1, w + left + right - k + 1
    # out[f, py, px] = sum_{c, qy, qx} weight[f, c, qy - py + top, qx - px + left] * x[c, qy, qx]
    ky = torch.arange(h)[:, None] - torch.arange(ho)[None, :] + top    # [h, ho]
    kx = torch.arange(w)[:, None] - torch.arange(wo)[None, :] + left   # [w, wo]
    valid = ((ky >= 0) & (ky < k))[:, :, None, None] & ((kx >= 0) & (kx < k))[None, None]  # [h, ho, w, wo]
    g = weight[:, :, ky.clamp(0, k - 1)][..., kx.clamp(0, k - 1)]      # [F, C, h, ho, w, wo]
    g = torch.where(valid, g, 0.0)
    matrix = g.permute(1, 2, 4, 0, 3, 5).reshape(spec.in_channels * h * w, spec.out_channels * ho * wo)
    return matrix.contiguous()


class StdpNet(nn.Module):
    """One of the :data:`MODELS`, its weights as buffers (no gradients), batched ``[B, T, C, H, W]``.

    Args:
        model: a key of :data:`MODELS`.
        n_classes: number of classes; a decision layer's ``F`` features map to classes as ``f // (F / n)``.
        time_steps: T of the input waves.
        input_size: spatial size of the (square) input wave (28 for MNIST after S1C1); checked against every
            kernel and pooling window at construction.
        seed: seeds the weight initialisation (its own generator; the global RNG is untouched).

    Attributes:
        compiled: whether the CPU hot paths (:meth:`stdp_step`, the spike counts, the R-STDP forward, sparse
            blocks on the last-step inference path) run the compiled event-driven loops (:mod:`snnkit.stdp.compiled`,
            default) rather than tensor operations (set it to ``False`` to compare the two).
    """

    compiled: bool = True

    def __init__(self, model: str, *, n_classes: int = 10, time_steps: int = 15, input_size: int = 28,
                 seed: int = 0) -> None:
        super().__init__()
        arch = _architecture(model)
        self.model_name = model
        self.arch = arch
        self.n_classes = int(n_classes)
        self.time_steps = int(time_steps)
        self.input_size = int(input_size)
        self.specs: dict[str, LayerSpec] = {}
        gen = torch.Generator().manual_seed(int(seed))
        size, channels = self.input_size, 6
        self.block_sizes: list[int] = []
        for block in arch.blocks:
            outs = set()
            for spec in block.layers:
                if spec.in_channels != channels:
                    raise ConfigError(f"{spec.name}.in_channels", spec.in_channels,
                                      f"the channels of its input ({channels})", where=_WHERE)
                outs.add(spec.out_size(size))
                mean, std = spec.init
                self.register_buffer(f"w_{spec.name}", torch.randn(spec.out_channels, spec.in_channels, spec.kernel,
                                                                   spec.kernel, generator=gen) * std + mean)
                self.specs[spec.name] = spec
                if spec.threshold is None and spec.out_channels % self.n_classes:
                    raise ConfigError(f"{spec.name}.out_channels", spec.out_channels,
                                      f"a multiple of n_classes={self.n_classes}", where=_WHERE)
            if block.combine == "concat" and len(outs) != 1:
                raise ConfigError("branch output sizes", sorted(outs), "equal sizes within a concatenated block",
                                  where=_WHERE)
            size = min(outs)
            channels = sum(s.out_channels for s in block.layers)
            self.block_sizes.append(size)
        self.phases = arch.phases
        # every layer starts inside the bounds of the rule it learns by first (SpykeTorch clips the whole weight
        # at a layer's first update; doing it once here makes every update of a layer alike)
        for spec in self.specs.values():
            self.weight(spec.name).clamp_(*(spec.rstdp_bounds if spec.threshold is None else spec.bounds))

    def __getstate__(self) -> dict[str, Any]:
        """Pickling and deep copies leave out the cached decision matrices and transposed weights (rebuilt on
        demand)."""
        state = dict(super().__getstate__())  # a copy: the module keeps its caches
        for cache in _CACHES:
            state.pop(cache, None)
        return state

    # ----------------------------------------------------------------------------------- access
    def weight(self, name: str) -> torch.Tensor:
        return getattr(self, f"w_{name}")

    def _transposed(self, name: str) -> torch.Tensor:
        """Layer ``name``'s weight with its features last (:func:`~snnkit.stdp.compiled.transposed`), the layout
        of the compiled event-driven loops; cached until the weight's version counter moves (every in-place
        change: :meth:`rstdp_step` writes the cached copy too and keeps it, anything else rebuilds it)."""
        return self._versioned("_wt_cache", name, (), lambda: transposed(self.weight(name)))

    def _stamp(self, name: str, key: tuple) -> tuple:
        weight = self.weight(name)
        return (weight.data_ptr(), weight._version, *key)

    def _versioned(self, cache: str, name: str, key: tuple, build: Any) -> Any:
        """What ``build()`` derives from layer ``name``'s weight, kept in the per-layer cache ``cache`` (one of
        :data:`_CACHES`, left out of pickles and copies) until the weight changes: keyed on its storage and its
        version counter, which every in-place change moves, and on ``key``."""
        stamp = self._stamp(name, key)
        entries = self.__dict__.setdefault(cache, {})
        if name not in entries or entries[name][0] != stamp:
            entries[name] = (stamp, build())
        return entries[name][1]

    @property
    def layer_names(self) -> list[str]:
        return list(self.specs)

    def extra_repr(self) -> str:
        return f"model={self.model_name!r}, n_classes={self.n_classes}, T={self.time_steps}"

    def output_shape(self, block: int) -> tuple[int, int, int]:
        """``(C, H, W)`` of block ``block``'s (pooled, concatenated) output."""
        c = sum(s.out_channels for s in self.arch.blocks[block].layers)
        return c, self.block_sizes[block], self.block_sizes[block]

    # ---------------------------------------------------------------------------------- forward
    def potentials(self, name: str, wave: torch.Tensor) -> torch.Tensor:
        """Potentials ``[B, T, F, H', W']`` of layer ``name`` on its (unpadded) input wave ``[B, T, C, H, W]``."""
        spec = self.specs[name]
        b, t = wave.shape[:2]
        x = _pad(wave.reshape(b * t, *wave.shape[2:]), spec.sides)
        pot = F.conv2d(x, self.weight(name))
        return pot.reshape(b, t, *pot.shape[1:])

    def _pool(self, spec: LayerSpec, spikes: torch.Tensor) -> torch.Tensor:
        """Output padding then pooling of a layer's spike wave ``[B, T, F, H, W]``."""
        if spec.out_pad:
            spikes = F.pad(spikes, (spec.out_pad,) * 4)
        return sf.pooling(spikes, spec.pool[0], spec.pool[1]) if spec.pool is not None else spikes

    def layer_forward(self, name: str, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(spikes, thresholded potentials)`` of a threshold layer at every step (no inhibition, no pooling)."""
        spec = self.specs[name]
        return sf.fire(self.potentials(name, wave), spec.threshold, True)

    def block_forward(self, block: int, wave: torch.Tensor) -> torch.Tensor:
        """Output wave of a non-decision block (its layers fired, pooled, branches concatenated)."""
        outs = []
        for spec in self.arch.blocks[block].layers:
            spikes, _ = self.layer_forward(spec.name, wave)
            outs.append(self._pool(spec, spikes))
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)

    def features(self, wave: torch.Tensor, upto: int) -> torch.Tensor:
        """The output wave of block ``upto - 1`` (the input of block ``upto``) for input waves ``[B, T, 6, H, W]``."""
        for i in range(upto):
            wave = self.block_forward(i, wave)
        return wave

    def _final_block(self, block: int, x: torch.Tensor) -> torch.Tensor:
        """Last-step fast path of a non-decision block: ``x`` ``[B, C, H, W]`` spikes at the last step (float)."""
        outs = []
        events = self.compiled and x.device.type == "cpu" and float(x.mean()) <= _LAST_STEP_EVENTS_MAX
        for spec in self.arch.blocks[block].layers:
            rows, cols, (left, right, top, bottom) = _pooled_input(spec, x.shape[2], x.shape[3])
            xs = x[:, :, :rows, :cols]  # a view: the whole map where the pooling reads all of it
            if events:  # sparse input: sum the spikes, threshold and pool in one compiled pass
                outs.append(fired_pooled_events(self.weight(spec.name), xs, (left, right, top, bottom), spec.threshold,
                                                spec.pool, spec.out_pad, self._transposed(spec.name),
                                                jobs=torch.get_num_threads()))
                continue
            if left == right and top == bottom:  # the convolution pads by itself (no padded copy)
                pot = F.conv2d(xs, self.weight(spec.name), padding=(top, left))
            else:
                pot = F.conv2d(_pad(xs, (left, right, top, bottom)), self.weight(spec.name))
            spikes = pot.gt_(spec.threshold)  # in place: 1.0 where fired, 0.0 elsewhere
            if spec.out_pad:
                spikes = F.pad(spikes, (spec.out_pad,) * 4)
            if spec.pool is not None:
                spikes = F.max_pool2d(spikes, spec.pool[0], spec.pool[1])
            outs.append(spikes)
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    def last_step_features(self, last: torch.Tensor, upto: int, *, start: int = 0) -> torch.Tensor:
        """Last-step spikes ``[B, C, H, W]`` of block ``upto``'s input from block ``start``'s input at the last
        step (the fast path: exact when :meth:`last_step_exact`). The maps run channels-last, which oneDNN's
        convolutions take about twice as fast here as the default layout; the result is contiguous."""
        if start < upto:
            last = last.float().contiguous(memory_format=torch.channels_last)
        for i in range(start, upto):
            last = self._final_block(i, last)
        return last.contiguous()

    def last_step_exact(self) -> bool:
        """True when every weight is non-negative, so reading only the last time step is exact (module doc)."""
        return all(bool((self.weight(n) >= 0).all()) for n in self.specs)

    def decision_potentials(self, name: str, last: torch.Tensor) -> torch.Tensor:
        """Last-step potentials ``[B, F, H, W]`` of decision layer ``name`` on its input's last step.

        Small maps (mozafari2018's decision reads 250 × 4 × 4) use the convolution unrolled into a matrix
        (:meth:`_decision_matrix`): the same sums without the products with the zero padding, as one GEMM."""
        spec = self.specs[name]
        matrix = self._decision_matrix(name, last.shape[2], last.shape[3])
        if matrix is None:
            return F.conv2d(_pad(last, spec.sides), self.weight(name))
        left, right, top, bottom = spec.sides
        ho, wo = last.shape[2] + top + bottom - spec.kernel + 1, last.shape[3] + left + right - spec.kernel + 1
        return (last.reshape(last.shape[0], -1) @ matrix).view(last.shape[0], spec.out_channels, ho, wo)

    def _decision_matrix(self, name: str, h: int, w: int) -> torch.Tensor | None:
        """``[C·h·w, F·h'·w']``: decision layer ``name``'s convolution (padding included) on an ``h × w`` input
        as a matrix, or None when it would exceed :data:`_DENSE_DECISION_MAX` elements. Cached until the weight
        changes (its version counter moves with every in-place update, e.g. R-STDP or ``load_state_dict``)."""
        spec, weight = self.specs[name], self.weight(name)
        left, right, top, bottom = spec.sides
        k = spec.kernel
        ho, wo = h + top + bottom - k + 1, w + left + right - k + 1
        if weight.numel() // (k * k) * h * w * ho * wo > _DENSE_DECISION_MAX:
            return None
        return self._versioned("_dense_cache", name, (h, w), lambda: _unrolled(weight, spec, h, w))

    def _winner_class(self, name: str, pot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(class, flat winner, per-class score)`` of a decision layer's last-step potentials ``[B, F, H, W]``:
        the single winner is the neuron with the largest positive potential (ties: lowest flat index, as
        :func:`~snnkit.stdp.functional.get_k_winners`); class -1 when no potential is positive (silent)."""
        b, f = pot.shape[:2]
        flat = pot.reshape(b, -1)
        best, idx = flat.max(dim=1)
        feature = idx // (pot.shape[2] * pot.shape[3])
        cls = torch.where(best > 0, feature // (f // self.n_classes), -1)
        score = pot.clamp_min(0).reshape(b, self.n_classes, -1).amax(dim=2)
        return cls, torch.where(best > 0, idx, -1), score

    @torch.no_grad()
    def decide_from(self, block: int, last: torch.Tensor) -> dict[str, torch.Tensor]:
        """Decisions from block ``block``'s input at the last step ``[B, C, H, W]`` (fast path; see module doc).

        Returns ``{"pred": [B] (-1 silent), "scores": [B, n_classes], "branch_pred": [B, n_branches]}``.
        """
        last = self.last_step_features(last, len(self.arch.blocks) - 1, start=block)
        dec = self.arch.blocks[-1]
        preds, scores = [], []
        for spec in dec.layers:
            cls, _, score = self._winner_class(spec.name, self.decision_potentials(spec.name, last))
            preds.append(cls)
            scores.append(score)
        branch = torch.stack(preds, dim=1)
        return {"pred": self.vote(branch), "scores": torch.stack(scores).mean(0), "branch_pred": branch}

    def vote(self, branch: torch.Tensor) -> torch.Tensor:
        """The network's decision from its decision branches' ``[B, n]`` (a single branch: itself). Majority of
        the non-silent votes; no majority → the fallback branch's vote (``majority2024``: the 5×5 branch)."""
        if branch.shape[1] == 1:
            return branch[:, 0]
        counts = torch.stack([(branch == c).sum(1) for c in range(self.n_classes)], dim=1)  # [B, classes]
        top, cls = counts.max(dim=1)
        majority = top * 2 > branch.shape[1]
        names = [s.name for s in self.arch.blocks[-1].layers]
        fallback = branch[:, names.index(self.arch.fallback)]
        return torch.where(majority, cls, fallback)

    @torch.no_grad()
    def decide(self, wave: torch.Tensor, *, block: int = 0) -> dict[str, torch.Tensor]:
        """Decisions for input waves ``[B, T, C, H, W]`` of block ``block`` (default: S1C1 waves)."""
        if self.last_step_exact():
            return self.decide_from(block, wave[:, -1])
        return self.decide_full(wave, block=block)

    @torch.no_grad()
    def decide_full(self, wave: torch.Tensor, *, block: int = 0) -> dict[str, torch.Tensor]:
        """:meth:`decide` through the full waves at every step (the reference of the fast path)."""
        for i in range(block, len(self.arch.blocks) - 1):
            wave = self.block_forward(i, wave)
        preds, scores = [], []
        for spec in self.arch.blocks[-1].layers:
            pot = self.potentials(spec.name, wave)
            spikes = sf.fire(pot, None)
            winners = sf.get_k_winners(pot, 1, 0, spikes)[:, 0]  # [B, 3]
            f = winners[:, 0]
            preds.append(torch.where(f >= 0, f // (spec.out_channels // self.n_classes), -1))
            scores.append(pot[:, -1].clamp_min(0).reshape(pot.shape[0], self.n_classes, -1).amax(dim=2))
        branch = torch.stack(preds, dim=1)
        return {"pred": self.vote(branch), "scores": torch.stack(scores).mean(0), "branch_pred": branch}

    # ------------------------------------------------------------------- time-code hot path
    def _times_pad(self, times: torch.Tensor, sides: tuple[int, int, int, int]) -> torch.Tensor:
        return F.pad(times, sides, value=self.time_steps) if any(sides) else times

    def _layer_counts(self, name: str, times: torch.Tensor, values: bool = False
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(padded input times, spiking-step counts [B, F, H', W'], potentials at the first spike or None)``
        of a threshold layer on its input's first-spike times ``[B, C, H, W]`` (uint8, T = silent).

        The input spikes by step t are ``times <= t``. Batches of up to :data:`_SMALL_BATCH` samples (e.g. the
        online rule, one image at a time) convolve all T steps in one call and reduce the ``[T, B, F, H', W']``
        potentials; larger batches go one step at a time, folding each step's potentials into the counts (and,
        with ``values``, the potential where a neuron first crosses θ) while they are small enough to stay in
        cache. With non-negative weights (all layers here: their bounds) potentials never decrease, so both equal
        counting ``fire``'s spikes on the full wave. On CPU (with :attr:`compiled`) the counts come from the
        event-driven loop nest instead (:func:`~snnkit.stdp.compiled.layer_counts_events`: work in proportion to
        the input spikes; the same counts up to float32 round-off at θ)."""
        spec = self.specs[name]
        padded = self._times_pad(times, spec.sides)
        weight = self.weight(name)
        if self.compiled and times.device.type == "cpu":
            return (padded, *layer_counts_events(weight, times, spec.sides, self.time_steps, spec.threshold, values,
                                                 wt=self._transposed(name)))
        if padded.shape[0] <= _SMALL_BATCH:
            return (padded, *self._counts_time_major(spec, padded, values))
        counts = value = None
        for t in range(self.time_steps):
            pot = F.conv2d((padded <= t).to(weight.dtype), weight)
            fired = pot > spec.threshold
            if counts is None:
                counts = fired.to(torch.uint8)
                value = torch.where(fired, pot, 0.0) if values else None
            else:
                if values:
                    value = torch.where(fired & (counts == 0), pot, value)
                counts += fired
        return padded, counts.long().contiguous(), (value.contiguous() if values else None)

    def _counts_time_major(self, spec: LayerSpec, padded: torch.Tensor, values: bool
                           ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`_layer_counts` for small batches: all T steps in one convolution (fewer calls)."""
        t_steps = self.time_steps
        steps = torch.arange(t_steps, dtype=padded.dtype).view(-1, 1, 1, 1, 1)
        weight = self.weight(spec.name)
        x = (padded.unsqueeze(0) <= steps).to(weight.dtype)  # [T, B, C, H, W]
        pot = F.conv2d(x.view(-1, *x.shape[2:]), weight)
        pot = pot.view(t_steps, -1, *pot.shape[1:])
        counts = torch.gt(pot, spec.threshold).view(torch.uint8).sum(dim=0, dtype=torch.uint8).long()
        if not values:
            return counts, None
        first = (t_steps - counts).clamp(max=t_steps - 1)
        value = pot.gather(0, first.unsqueeze(0)).squeeze(0)
        return counts, torch.where(counts > 0, value, 0.0)

    def _out_times(self, spec: LayerSpec, counts: torch.Tensor) -> torch.Tensor:
        """First-spike times of a layer's output after its output padding and pooling (max pooling of
        cumulative spikes = min pooling of times)."""
        times = (self.time_steps - counts).to(torch.float32)
        if spec.out_pad:
            times = F.pad(times, (spec.out_pad,) * 4, value=float(self.time_steps))
        if spec.pool is not None:
            times = -F.max_pool2d(-times, spec.pool[0], spec.pool[1])
        return times.to(torch.uint8)

    @torch.no_grad()
    def block_times(self, block: int, times: torch.Tensor) -> torch.Tensor:
        """:meth:`block_forward` in first-spike times: uint8 ``[B, C, H, W]`` in, uint8 out."""
        outs = [self._out_times(spec, self._layer_counts(spec.name, times)[1])
                for spec in self.arch.blocks[block].layers]
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    @torch.no_grad()
    def features_times(self, times: torch.Tensor, upto: int, *, start: int = 0) -> torch.Tensor:
        """The first-spike times of block ``upto``'s input from block ``start``'s input times (default: the
        S1C1 times ``[B, 6, H, W]``)."""
        for i in range(start, upto):
            times = self.block_times(i, times)
        return times

    def fired_as_times(self, fired: torch.Tensor) -> torch.Tensor:
        """"Fired by the last step" (non-zero) as first-spike times: 0 if fired, T if silent (uint8) — all that
        the last-step readers (the decision, the fast path) look at."""
        return torch.where(fired > 0, 0, self.time_steps).to(torch.uint8)

    def _inhibited_winners(self, spec: LayerSpec, value: torch.Tensor, counts: torch.Tensor
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pointwise inhibition then k winners: ``(counts after inhibition, winners [B, k, 3])``."""
        keep = sf.pointwise_keep(counts, value)
        counts = counts * keep
        return counts, sf.k_winners_from_counts(counts, torch.where(keep, value, 0.0), spec.k, spec.radius)

    def _pointwise_first(self, spec: LayerSpec, padded: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """What pointwise inhibition leaves of a threshold layer, found by bisection in time, from its padded input
        times ``[B, C, H, W]`` (uint8, T = silent): ``(flat positions [n] into [B, H', W'], their surviving
        feature [n], its spiking-step count [n], its potential at its first spike [n])`` for the ``n`` positions
        where some feature fires.

        Pointwise inhibition keeps, at each position, only the feature that fires first (then the largest
        potential, then the lowest index), so a position needs only the first step ``t*`` at which its largest
        potential exceeds θ, and its potentials then. Potentials never decrease (non-negative weights, cumulative
        input), so one last-step convolution finds the positions that fire at all, and ``t*`` follows by
        bisection over ``[0, T-1]``: ``ceil(log2 T)`` matrix products of those positions' unrolled receptive
        fields (``times <= t``, a different ``t`` per position) with the kernel — about a third of the work of
        convolving every step, and less as the weights sparsen (fewer positions fire). The earlier steps'
        potentials are summed in the matrix product's order, not the convolution's: a potential within float32
        round-off of θ may fire here and not in :meth:`_layer_counts`."""
        w = self.weight(spec.name)
        t_steps = self.time_steps
        b, c, hp, wp = padded.shape
        o, _, kh, kw = w.shape
        ho, wo = hp - kh + 1, wp - kw + 1
        theta = float(spec.threshold)
        last = F.conv2d((padded < t_steps).to(w.dtype), w).permute(0, 2, 3, 1).reshape(-1, o)  # [B·H'·W', O]
        flat = (last.amax(dim=1) > theta).nonzero().squeeze(1)
        pot = last.index_select(0, flat)
        fields = padded.unfold(2, kh, 1).unfold(3, kw, 1).permute(0, 2, 3, 1, 4, 5).reshape(b * ho * wo, -1)
        fields = fields.index_select(0, flat)  # [n, C·kh·kw]: the receptive fields' first-spike times
        wt = w.reshape(o, -1).t()
        if t_steps > 128:  # probes up to 2T - 2 must fit the comparison's dtype
            fields = fields.to(torch.int16)
        # binary lifting: t* >= lo and t* <= lo + 2·step - 1 before each step; probing lo + step - 1 either
        # confirms the lower half or moves lo past it. ``pot`` holds the potentials at the smallest step known to
        # cross (the last step's, from the convolution, until a probe crosses earlier).
        lo = torch.zeros(flat.shape[0], dtype=fields.dtype, device=w.device)
        spikes = torch.empty(fields.shape, dtype=w.dtype, device=w.device)
        step = 1 << max(0, (t_steps - 1).bit_length() - 1)
        while step:
            probe = (lo + (step - 1)).clamp_(max=t_steps - 1)
            p_probe = torch.le(fields, probe[:, None], out=spikes) @ wt
            known = probe == t_steps - 1  # the last step crosses (the convolution said so)
            crossed = (p_probe.amax(dim=1) > theta) | known
            pot = torch.where((crossed & ~known)[:, None], p_probe, pot)
            lo = torch.where(crossed, lo, probe + 1)
            step >>= 1
        value, feature = pot.max(dim=1)  # the first maximal index: the lowest feature among ties
        return flat, feature, t_steps - lo.long(), value  # lo = t*, the first step that crosses

    # --------------------------------------------------------------------------------- learning
    @torch.no_grad()
    def stdp_step(self, name: str, times: torch.Tensor, rates: torch.Tensor) -> torch.Tensor:
        """One unsupervised STDP step of layer ``name`` on its input's first-spike times ``[B, C, H, W]``
        (uint8, T = silent): fire, pointwise inhibition, k winners, STDP with per-sample rates ``[B, 2]``
        (the doubling schedule), the updates applied in sample order. Returns the winners ``[B, k, 3]``.

        On CPU the step runs as one compiled, event-driven loop nest (:mod:`snnkit.stdp.compiled`); elsewhere
        (or with ``compiled=False`` on the network) as tensor operations, the binary search in time of
        :meth:`_pointwise_first`. Both give the same winners and weights up to the order in which potentials are
        summed (float32 round-off at θ)."""
        spec = self.specs[name]
        if self.compiled and times.device.type == "cpu":
            return stdp_step_events(self.weight(name), times, spec.sides, self.time_steps, spec.threshold, spec.k,
                                    spec.radius, rates, spec.stabilizer, spec.bounds)
        padded = self._times_pad(times, spec.sides)
        b, ho, wo = padded.shape[0], padded.shape[2] - spec.kernel + 1, padded.shape[3] - spec.kernel + 1
        flat, feature, count, value = self._pointwise_first(spec, padded)
        dev, hw = padded.device, ho * wo
        if b <= _SMALL_BATCH:  # a handful of samples: rank the live positions once
            winners = sf.k_winners_ranked(flat // hw, flat % hw, feature, count, value, b, ho, wo, spec.k,
                                          spec.radius)
        else:
            n_pos = torch.zeros(b * hw, dtype=torch.long, device=dev).index_put_((flat,), count).view(b, ho, wo)
            f_pos = torch.zeros(b * hw, dtype=torch.long, device=dev).index_put_((flat,), feature).view(b, ho, wo)
            v_pos = torch.zeros(b * hw, dtype=value.dtype, device=dev).index_put_((flat,), value).view(b, ho, wo)
            winners = sf.k_winners_pointwise(n_pos, f_pos, v_pos, spec.out_channels, spec.k, spec.radius)
        counts = torch.zeros(b * spec.out_channels * hw, dtype=torch.long, device=dev)
        counts.index_put_(((flat // hw * spec.out_channels + feature) * hw + flat % hw,), count)
        counts = counts.view(b, spec.out_channels, ho, wo)
        per = rates.to(value.dtype)[:, None, :].expand(-1, spec.out_channels, -1)
        pre = self.time_steps - padded.long()
        sl.apply_counts(self.weight(name), pre, counts, winners, per, spec.stabilizer, *spec.bounds, True)
        return winners

    @torch.no_grad()
    def rstdp_forward(self, block: int, times: torch.Tensor, learners: Sequence[str] = ()) -> dict[str, Any]:
        """Training forward pass from block ``block``'s input first-spike times to the decision, keeping what
        R-STDP needs: ``{"pred", "branch_pred", "ctx": {layer: (pre counts, post counts, winners)}}``.

        Threshold R-STDP layers among ``learners`` (``deepr2024``'s third) take their k winners after pointwise
        inhibition (the spikes passed on are not inhibited, as in the seed); a decision layer takes its single
        winner at the last step. On CPU (with :attr:`compiled`) a decision layer's last-step potentials are
        summed spike by spike (:func:`~snnkit.stdp.compiled.last_potentials_events`; equal to the convolution up to
        float round-off) unless the batch is larger than :data:`_SMALL_BATCH` and more than
        :data:`_EVENT_DENSITY_MAX` of its inputs fired."""
        ctx: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        t = self.time_steps
        for i in range(block, len(self.arch.blocks) - 1):
            outs = []
            for spec in self.arch.blocks[i].layers:
                learns = spec.reward is not None and spec.name in learners
                padded, counts, value = self._layer_counts(spec.name, times, values=learns)
                if learns:
                    inhibited, winners = self._inhibited_winners(spec, value, counts)
                    ctx[spec.name] = (t - padded.long(), inhibited, winners)
                outs.append(self._out_times(spec, counts))
            times = outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
        preds = []
        events = self.compiled and times.device.type == "cpu" and (  # work in proportion to the input spikes
            times.shape[0] <= _SMALL_BATCH or float((times < t).float().mean()) <= _EVENT_DENSITY_MAX)
        for spec in self.arch.blocks[-1].layers:
            padded = self._times_pad(times, spec.sides)
            if events:
                last = last_potentials_events(self.weight(spec.name), times, spec.sides, t,
                                              wt=self._transposed(spec.name))
            else:
                last = F.conv2d((padded < t).to(self.weight(spec.name).dtype), self.weight(spec.name))
            cls, idx, _ = self._winner_class(spec.name, last)
            hw = last.shape[2] * last.shape[3]
            winners = torch.stack([idx // hw, (idx % hw) // last.shape[3], idx % last.shape[3]], dim=1)
            winners = torch.where(idx[:, None] >= 0, winners, -1)[:, None, :]
            ctx[spec.name] = (t - padded.long(), (last > 0).long(), winners)
            preds.append(cls)
        branch = torch.stack(preds, dim=1)
        return {"pred": self.vote(branch), "branch_pred": branch, "ctx": ctx}

    @torch.no_grad()
    def rstdp_step(self, names: Sequence[str], out: dict[str, Any], reward: dict[str, torch.Tensor],
                   rates: dict[str, tuple[tuple[float, float], tuple[float, float]]]) -> None:
        """R-STDP of the layers ``names`` from :meth:`rstdp_forward`'s ``out``: ``reward[layer]`` bool ``[B]``
        (True: STDP with the reward rates, False: anti-STDP with the punishment rates; samples without a
        winner are not updated); ``rates[layer] = (reward rates, punishment rates)`` (the adaptive schedule)."""
        for name in names:
            spec = self.specs[name]
            pre, post, winners = out["ctx"][name]
            w = self.weight(name)
            good = torch.tensor(rates[name][0], dtype=w.dtype)
            bad = torch.tensor(rates[name][1], dtype=w.dtype)
            per = torch.where(reward[name][:, None], good, bad)[:, None, :].expand(-1, spec.out_channels, -1)
            if self.compiled and w.device.type == "cpu":  # one loop over the winners: the same result, bit for bit
                mirror = self._transposed(name)  # written alongside, so the event-driven forward reads it as is
                apply_counts_events(w, pre, post, winners, per, False, *spec.rstdp_bounds, mirror=mirror)
                self._wt_cache[name] = (self._stamp(name, ()), mirror)
            else:
                sl.apply_counts(w, pre, post, winners, per, False, *spec.rstdp_bounds, True)


def build_model(params: dict[str, Any], *, n_classes: int = 10, input_size: int = 28) -> StdpNet:
    """The :class:`StdpNet` a parameter set describes (``model``, ``time_steps``, ``seed``)."""
    return StdpNet(params["model"], n_classes=n_classes, time_steps=params["time_steps"], input_size=input_size,
                   seed=params["seed"])


# ------------------------------------------------------------------------------------------- schema
@register("stdp_mnist")
class StdpMnistParams(NotebookParams):
    """Parameters of ``notebooks/stdp_mnist.ipynb``; defaults are Mozafari et al. 2019's settings (``paper``).

    ``epochs`` has one entry per training phase of the model (:func:`model_phases`): mozafari2018 [L1, L2,
    L3 R-STDP]; deep2024 and inception2024 [L1, L2, L3, decision R-STDP]; deepr2024 [L1, L2, L3 STDP, R-STDP
    of L3 and the decision]; majority2024 [L1, L2, R-STDP of the three decision branches]. R-STDP phases stop
    once more than ``patience`` epochs passed since the best validation accuracy, and keep the best epoch's
    weights.
    """

    model: Literal["mozafari2018", "deep2024", "deepr2024", "deepr2024_greedy", "inception2024",
                   "majority2024"] = Field("mozafari2018", description="which of the five networks")
    dataset: Literal["mnist", "fashionmnist", "mnist-embedded", "fashionmnist-embedded"] = Field(
        "mnist", description="full official MNIST / Fashion-MNIST, or the embedded subsets (smoke)")
    epochs: list[int] = Field([2, 4, 680], description="epochs per training phase (see model_phases)")
    time_steps: int = Field(15, ge=1, le=255, description="latency-coding time bins T")
    learn_batch: int = Field(1, ge=1, le=4096, description="samples whose winners are taken with the same "
                             "weights before their updates are applied in order (1: the paper's online rule; the "
                             "smoke and cpu profiles and the paper profile's mozafari2018_long use 16)")
    eval_batch: int = Field(1000, ge=1, description="samples per inference batch",
                            json_schema_extra=NO_RESULT_EFFECT)
    doubling_every: int = Field(500, ge=1, description="STDP layers: a+ doubles every this many samples")
    max_a_plus: float = Field(0.15, gt=0, description="cap of the doubled a+ (a- = -0.75 a+)")
    adaptive_every: int = Field(1000, ge=1, description="R-STDP: samples per block of the adaptive rates")
    patience: int = Field(5, ge=1, description="R-STDP: stop once more than this many epochs passed since the "
                          "best validation accuracy (the seed's rule)")
    val_fraction: float = Field(1 / 12, gt=0, lt=1, description="share of the training images held out for "
                                "model selection and early stopping (5000 of MNIST's 60000)")
    train_subset: int | None = Field(None, ge=20, description="stratified subset of the training images")
    test_subset: int | None = Field(None, ge=10, description="stratified subset of the test images")
    shuffle: bool = Field(True, description="a new seeded sample order every epoch (the original: fixed order)")
    explore_samples: int = Field(4, ge=1, le=64, description="test samples shown in the activation figures",
                                 json_schema_extra=NO_RESULT_EFFECT)

    @model_validator(mode="after")
    def _per_phase_epochs(self) -> StdpMnistParams:
        phases = model_phases(self.model)
        if len(self.epochs) != len(phases) or any(e < 0 for e in self.epochs):
            raise ConfigError("epochs", self.epochs,
                              f"{len(phases)} non-negative integers for model {self.model!r}, one per phase "
                              f"{list(phases)}", where="stdp_mnist")
        return self

