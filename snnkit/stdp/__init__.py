"""Spike-wave operators and learning rules of the STDP / R-STDP convolutional networks (the SpykeTorch
family: Kheradpisheh et al. 2018, Mozafari et al. 2018, 2019), batched: pure math, no I/O.

:mod:`snnkit.stdp.filters`: DoG kernels and intensity-to-latency coding; :mod:`snnkit.stdp.functional`:
the operators on spike waves (fire, pooling, inhibition, k winners, local normalisation).
"""
