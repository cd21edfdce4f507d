"""Spiking neuron dynamics: functional core (:mod:`.functional`), surrogate spike functions
(:mod:`.surrogate`) and thin ``nn.Module`` wrappers (:class:`LIF`)."""

from snnkit.neurons import surrogate
from snnkit.neurons.functional import LIFParameters, lif_multistep, lif_step
from snnkit.neurons.lif import LIF

__all__ = ["LIF", "LIFParameters", "lif_step", "lif_multistep", "surrogate"]
