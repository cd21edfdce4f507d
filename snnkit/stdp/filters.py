"""Input coding of the STDP family: difference-of-Gaussians (DoG) filters, the S1C1 preprocessing pipeline
and intensity-to-latency coding into a cumulative spike wave, batched.

The S1C1 stage follows Kheradpisheh et al., "STDP-based spiking deep convolutional neural networks for
object recognition", Neural Networks 99:56-67 (2018), and Mozafari et al., "Bio-inspired digit recognition
using reward-modulated spike-timing-dependent plasticity in deep convolutional networks", Pattern
Recognition 94:87-95 (2019), as implemented by SpykeTorch (Mozafari et al., Frontiers in Neuroscience
13:625, 2019): pixel intensities x255, six on/off-centre DoG filters (windows 3, 7, 13), values below a
threshold set to zero, local normalisation, then rank-order (intensity-to-latency) coding into ``T`` time
bins. A spike wave is ``[B, T, C, H, W]``; spikes are cumulative (a neuron that fired at bin ``t`` is 1 at
every bin ``>= t``).

Unlike the original, :func:`latency_times` makes every non-zero value fire: the original split the sorted
values into ``T`` chunks of ``n // T`` and left the remainder silent (and crashed for ``n < T``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from snnkit.errors import ConfigError, check_nonneg_int, check_positive_int
from snnkit.stdp.compiled import dog_filter_maps, latency_times_rows
from snnkit.stdp.functional import local_normalization

__all__ = ["MOZAFARI_DOG", "dog_kernel", "dog_kernels", "dog_filter", "latency_times",
           "intensity_to_latency", "s1c1"]

#: ``(window, sigma_centre, sigma_surround)`` of the six DoG filters of Mozafari et al. (2019): an
#: on-centre / off-centre pair at each of the windows 3, 7 and 13 (sigmas window/9 and 2*window/9).
MOZAFARI_DOG: tuple[tuple[int, float, float], ...] = (
    (3, 3 / 9, 6 / 9), (3, 6 / 9, 3 / 9),
    (7, 7 / 9, 14 / 9), (7, 14 / 9, 7 / 9),
    (13, 13 / 9, 26 / 9), (13, 26 / 9, 13 / 9),
)

_WHERE = "snnkit.stdp.filters"


def _check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not threshold >= 0:
        raise ConfigError("threshold", threshold, "a real number >= 0", where=_WHERE)
    return float(threshold)


def dog_kernel(window: int, sigma_centre: float, sigma_surround: float, *,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One DoG kernel ``[window, window]`` (Kheradpisheh et al. 2018; SpykeTorch's ``DoGKernel``).

    With ``r² = x² + y²`` over the integer grid centred on the middle cell,
    ``g(s) = exp(-r² / (2 s²)) / s²`` and ``dog = (g(sigma_centre) - g(sigma_surround)) / (2 pi)``; the
    kernel is then made zero-mean and divided by its maximum (so its largest entry is exactly 1).
    ``sigma_centre < sigma_surround`` gives an on-centre kernel, the swap an off-centre one. Computed in
    float64, returned in ``dtype``.
    """
    if isinstance(window, bool) or not isinstance(window, numbers.Integral) or window < 1 or window % 2 == 0:
        raise ConfigError("window", window, "an odd integer >= 1", where=_WHERE)
    for key, sigma in (("sigma_centre", sigma_centre), ("sigma_surround", sigma_surround)):
        if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not (0 < sigma < math.inf):
            raise ConfigError(key, sigma, "a positive finite number", where=_WHERE)
    half = int(window) // 2
    grid = torch.arange(-half, half + 1, dtype=torch.float64)
    r2 = grid[:, None] ** 2 + grid[None, :] ** 2

    def gauss(s: float) -> torch.Tensor:
        return torch.exp(-0.5 * r2 / (s * s)) / (s * s)

    dog = (gauss(float(sigma_centre)) - gauss(float(sigma_surround))) / (2 * math.pi)
    dog = dog - dog.mean()
    peak = dog.max()
    if not peak > 0:  # window 1, or equal sigmas: nothing to normalise by
        raise ConfigError("(window, sigma_centre, sigma_surround)", (window, sigma_centre, sigma_surround),
                          "a window >= 3 and two different sigmas (the zero-mean kernel must have a "
                          "positive maximum)", where=_WHERE)
    return (dog / peak).to(dtype)


def dog_kernels(specs: Sequence[tuple[int, float, float]] = MOZAFARI_DOG, *,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A bank of DoG kernels ``[K, 1, S, S]`` for :func:`dog_filter`, one per ``(window, sigma_centre,
    sigma_surround)`` of ``specs`` (default :data:`MOZAFARI_DOG`), each zero-padded symmetrically to the
    largest window ``S`` (as SpykeTorch's ``Filter`` does, so the smaller kernels stay centred)."""
    if len(specs) == 0:
        raise ConfigError("specs", specs, "at least one (window, sigma_centre, sigma_surround)", where=_WHERE)
    kernels = [dog_kernel(*spec, dtype=dtype) for spec in specs]
    size = max(k.shape[-1] for k in kernels)
    padded = [F.pad(k, ((size - k.shape[-1]) // 2,) * 4) for k in kernels]
    return torch.stack(padded).unsqueeze(1)


def dog_filter(images: torch.Tensor, kernels: torch.Tensor, *, padding: int = 6,
               threshold: float = 50.0) -> torch.Tensor:
    """Convolve ``images [B, 1, H, W]`` with the DoG bank ``kernels [K, 1, S, S]`` (stride 1, zero
    ``padding``) and set every response below ``threshold`` to 0 (responses equal to it are kept, as in
    SpykeTorch's ``Filter``); returns ``[B, K, H + 2 padding - S + 1, W + ...]`` in the kernels' dtype. On CPU
    a compiled loop computes each kernel over its non-zero support only (equal to ``F.conv2d`` to round-off)."""
    threshold = _check_threshold(threshold)
    check_nonneg_int("padding", padding, where=_WHERE)
    if images.dim() != 4 or images.shape[1] != kernels.shape[1]:
        raise ConfigError("images.shape", tuple(images.shape),
                          f"[B, {kernels.shape[1]}, H, W] (one channel per kernel input)", where=_WHERE)
    size = kernels.shape[-1]
    height, width = images.shape[-2] + 2 * padding, images.shape[-1] + 2 * padding
    if size > height or size > width:
        raise ConfigError("kernel size", size, f"at most the padded input's size {height}x{width}",
                          where=_WHERE)
    if images.device.type == "cpu" and kernels.device.type == "cpu" and kernels.dtype in (torch.float32,
                                                                                       torch.float64):
        return dog_filter_maps(images, kernels, int(padding), threshold)  # compiled: each kernel's support only
    out = F.conv2d(images.to(kernels.dtype), kernels, padding=int(padding))
    return out.masked_fill(out < threshold, 0.0)


def latency_times(intensities: torch.Tensor, time_steps: int) -> torch.Tensor:
    """First-spike bin of every value of ``intensities [B, ...]`` under intensity-to-latency coding.

    Per sample, the ``n`` non-zero values are ranked by decreasing value (rank ``i = 0 .. n-1``); ties are
    broken by flat index (row-major over the non-batch dimensions: the earlier position gets the lower rank,
    a stable sort). Rank ``i`` fires at bin ``floor(i * T / n)``: bins hold ``n / T`` values each when
    ``T`` divides ``n`` (exactly the original's split), otherwise ``floor`` or ``ceil`` of it, and with
    ``n < T`` the values spread over ``n`` distinct bins; every non-zero value fires (the last one at bin
    ``<= T - 1``). Zeros never fire and get time ``T``. Negative values are ranked after every positive one.
    Returns int64 of the input's shape. Each sample is coded independently (batched == per-sample). float32 on
    CPU ranks each sample's non-zero values by a compiled radix sort (:mod:`snnkit.stdp.compiled`), other inputs
    by a stable sort of every value: the same times.
    """
    time_steps = check_positive_int("time_steps", time_steps, where=_WHERE)
    if intensities.dim() < 2:
        raise ConfigError("intensities.shape", tuple(intensities.shape), "[B, ...] (a batch dimension first)",
                          where=_WHERE)
    flat = intensities.reshape(intensities.shape[0], -1)
    if flat.device.type == "cpu" and flat.dtype == torch.float32 and flat.numel():
        return latency_times_rows(flat.contiguous(), time_steps).reshape(intensities.shape)  # compiled radix sort
    nonzero = flat != 0
    key = torch.where(nonzero, flat, torch.tensor(-math.inf, dtype=flat.dtype, device=flat.device))
    order = torch.sort(key, dim=1, descending=True, stable=True).indices
    positions = torch.arange(flat.shape[1], device=flat.device).expand_as(order)
    rank = torch.empty_like(order).scatter_(1, order, positions)
    count = nonzero.sum(dim=1, keepdim=True).clamp_min(1)
    times = torch.where(nonzero, rank * time_steps // count, torch.full_like(rank, time_steps))
    return times.reshape(intensities.shape)


def intensity_to_latency(intensities: torch.Tensor, time_steps: int, *,
                         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Cumulative spike wave ``[B, T, C, H, W]`` of ``intensities [B, C, H, W]``: 1 at every bin at or
    after the value's :func:`latency_times` bin, 0 before and for zeros (SpykeTorch's ``Intensity2Latency``
    with ``to_spike=True``, minus its silent remainder)."""
    times = latency_times(intensities, time_steps)
    steps = torch.arange(int(time_steps), device=times.device).view(1, -1, *([1] * (times.dim() - 1)))
    return (steps >= times.unsqueeze(1)).to(dtype)


def s1c1(images: torch.Tensor, *, kernels: torch.Tensor | None = None, scale: float = 255.0,
         padding: int = 6, threshold: float = 50.0, normalization_radius: int = 8, time_steps: int = 15,
         pad: int = 0) -> torch.Tensor:
    """The S1C1 preprocessing of Mozafari et al. (2019): ``images [B, 1, H, W]`` (intensities in [0, 1])
    ``x scale`` -> :func:`dog_filter` with ``kernels`` (default ``dog_kernels()``, the six of
    :data:`MOZAFARI_DOG`), ``padding`` 6 and ``threshold`` 50 -> local normalisation of radius
    ``normalization_radius`` (8) -> :func:`intensity_to_latency` with ``time_steps`` (15) bins.

    For 28x28 MNIST this is ``[B, 15, 6, 28, 28]``. ``pad`` zero-pads the wave spatially (Mozafari's
    network pads its input by 2 before layer 1; the default 0 keeps the cached wave compact).
    """
    check_nonneg_int("pad", pad, where=_WHERE)
    normalised = _s1_normalised(images, kernels, scale, padding, threshold, normalization_radius)
    wave = intensity_to_latency(normalised, time_steps, dtype=normalised.dtype)
    return F.pad(wave, (int(pad),) * 4) if pad else wave


def _s1_normalised(images: torch.Tensor, kernels: torch.Tensor | None, scale: float, padding: int,
                   threshold: float, normalization_radius: int) -> torch.Tensor:
    """The S1 part of :func:`s1c1`: scaled, DoG-filtered, thresholded and locally normalised ``[B, 6, H, W]``."""
    if kernels is None:
        kernels = dog_kernels()
    check_nonneg_int("normalization_radius", normalization_radius, where=_WHERE)
    filtered = dog_filter(images.to(kernels.dtype) * scale, kernels, padding=padding, threshold=threshold)
    return local_normalization(filtered, int(normalization_radius))


def s1c1_times(images: torch.Tensor, *, kernels: torch.Tensor | None = None, scale: float = 255.0,
               padding: int = 6, threshold: float = 50.0, normalization_radius: int = 8,
               time_steps: int = 15) -> torch.Tensor:
    """:func:`s1c1` as first-spike bins: uint8 ``[B, 6, H, W]`` (``time_steps`` = never fires), the compact
    form the models cache — equal to counting the wave's spikes, without building the ``T``-times larger
    wave (``time_steps`` must be at most 255)."""
    if not 1 <= int(time_steps) <= 255:
        raise ConfigError("time_steps", time_steps, "an integer in [1, 255] (first-spike bins stored as uint8)",
                          where=_WHERE)
    normalised = _s1_normalised(images, kernels, scale, padding, threshold, normalization_radius)
    return latency_times(normalised, time_steps).to(torch.uint8)
