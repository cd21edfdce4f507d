"""Spiking neuron dynamics: functional cores (:mod:`.functional` for the LIF, :mod:`.parallel` for the exact
parallel two-stage integration and the SPSN / ParaLIF spike functions), surrogate spike functions
(:mod:`.surrogate`) and thin ``nn.Module`` wrappers (:class:`LIF`; :class:`CubaLIF` in :mod:`.cuba`; :class:`SPSN`, :class:`ParaLIF`,
:class:`LeakyIntegrator`, :class:`NonSpiking` in :mod:`.spsn`; the SpikingJelly-style :class:`IFNode` /
:class:`LIFNode` with hard or soft reset in :mod:`.hard_reset`)."""

from snnkit.neurons import surrogate
from snnkit.neurons.cuba import (
    CUBA_FORMS,
    CubaLIF,
    CubaLIFParameters,
    cuba_lif_multistep,
    cuba_lif_multistep_reference,
    cuba_lif_spikes,
    cuba_lif_step,
)
from snnkit.neurons.functional import LIFParameters, lif_multistep, lif_step
from snnkit.neurons.hard_reset import (
    IFNode,
    LIFNode,
    if_multistep,
    if_multistep_reference,
    lif_hr_multistep,
    lif_hr_multistep_reference,
)
from snnkit.neurons.lif import LIF
from snnkit.neurons.parallel import SPIKE_MODES, leaky_integrate, paralif_multistep
from snnkit.neurons.spsn import SPSN, LeakyIntegrator, NonSpiking, ParaLIF

__all__ = ["CUBA_FORMS", "CubaLIF", "CubaLIFParameters", "cuba_lif_multistep", "cuba_lif_multistep_reference",
           "cuba_lif_spikes", "cuba_lif_step", "LIF", "LIFParameters", "lif_step", "lif_multistep", "surrogate", "SPSN", "ParaLIF", "LeakyIntegrator",
           "NonSpiking", "SPIKE_MODES", "leaky_integrate", "paralif_multistep", "IFNode", "LIFNode", "if_multistep",
           "if_multistep_reference", "lif_hr_multistep", "lif_hr_multistep_reference"]
