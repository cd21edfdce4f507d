"""Spike-wave operators and learning rules of the STDP / R-STDP convolutional networks (the SpykeTorch
family: Kheradpisheh et al. 2018, Mozafari et al. 2018, 2019), batched: pure math, no I/O.

:mod:`snnkit.stdp.filters`: DoG kernels, the S1C1 pipeline, latency coding; :mod:`snnkit.stdp.functional`:
the operators on spike waves (fire, pooling, padding, pointwise / feature / lateral inhibition, k winners,
local normalisation); :mod:`snnkit.stdp.learning`: convolutional STDP with stabiliser, bounds and
per-feature rates, R-STDP (reward → STDP, punishment → anti-STDP), both also for linear layers, the adaptive
and doubling rate schedules; :mod:`snnkit.stdp.compiled`: a conv layer's whole STDP step (settle, k winners,
update) as one compiled, event-driven loop nest, the CPU hot path of the online rule.
"""

from snnkit.stdp.filters import (
    MOZAFARI_DOG,
    dog_filter,
    dog_kernel,
    dog_kernels,
    intensity_to_latency,
    latency_times,
    s1c1,
    s1c1_times,
)
from snnkit.stdp.functional import (
    feature_inhibition,
    fire,
    first_spike_times,
    get_k_winners,
    lateral_inhibition,
    local_normalization,
    pad,
    pointwise_inhibition,
    pooling,
)
from snnkit.stdp.learning import (
    adaptive_rstdp_rates,
    doubling_schedule,
    r_stdp,
    r_stdp_linear,
    stdp,
    stdp_linear,
)

__all__ = [
    "MOZAFARI_DOG",
    "adaptive_rstdp_rates",
    "dog_filter",
    "dog_kernel",
    "dog_kernels",
    "doubling_schedule",
    "feature_inhibition",
    "fire",
    "first_spike_times",
    "get_k_winners",
    "intensity_to_latency",
    "latency_times",
    "lateral_inhibition",
    "local_normalization",
    "pad",
    "pointwise_inhibition",
    "pooling",
    "r_stdp",
    "r_stdp_linear",
    "s1c1",
    "s1c1_times",
    "stdp",
    "stdp_linear",
]
