"""Spike-wave operators and learning rules of the STDP / R-STDP convolutional networks (the SpykeTorch
family: Kheradpisheh et al. 2018, Mozafari et al. 2018, 2019), batched: pure math, no I/O.

:mod:`snnkit.stdp.filters`: DoG kernels, the S1C1 pipeline, latency coding; :mod:`snnkit.stdp.functional`:
the operators on spike waves (fire, pooling, padding, pointwise / feature / lateral inhibition, k winners,
local normalisation).
"""

from snnkit.stdp.filters import dog_kernels, intensity_to_latency, latency_times, s1c1  # noqa: F401
from snnkit.stdp.functional import fire, get_k_winners, local_normalization, pointwise_inhibition, pooling  # noqa: F401
