"""Multi-step wrappers for stateless layers over time-first tensors ``[T, B, ...]``.

A convolution, batch norm, pooling, flatten or linear layer does not depend on time, so over ``T`` steps it can
run once on the ``T·B`` samples merged into one batch (SpikingJelly's ``SeqToANNContainer``; Fang et al.,
"Deep Residual Learning in Spiking Neural Networks", NeurIPS 2021): one big kernel instead of ``T`` small ones,
and batch norm takes its statistics over time and batch together, as in the STDS and SEW-ResNet networks
(Chen et al., ICML 2022). :class:`MultiStep` does that; :class:`TimeSharedDropout` is dropout whose mask is
drawn once per forward and shared by all time steps (the STDS network's dropout, so that a dropped unit stays
dropped for the whole presentation of a sample).
"""

from __future__ import annotations

from numbers import Real

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from snnkit.errors import ConfigError
from snnkit.neurons.cuba import CubaLIF
from snnkit.neurons.hard_reset import IFNode
from snnkit.neurons.lif import LIF

__all__ = ["MultiStep", "TimeSharedDropout"]


def _check_time_first(x: Tensor, where: str) -> None:
    if not isinstance(x, Tensor) or x.dim() < 2:
        what = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ConfigError("x.shape", what, "a time-first tensor [T, B, ...] (>= 2 dims)", where=where)


_NEURONS = (IFNode, LIF, CubaLIF)  # modules that integrate over time


class MultiStep(nn.Sequential):
    """``nn.Sequential`` of stateless layers applied to all time steps at once.

    ``forward(x)`` with ``x`` ``[T, B, ...]`` runs the layers on ``x`` reshaped to ``[T·B, ...]`` and returns
    ``[T, B, ...]`` (the trailing shape is whatever the layers make of it). The result equals applying the
    layers to each ``x[t]`` separately, except that batch norm in training mode normalises with statistics
    over all ``T·B`` samples (and updates its running statistics once per forward). Spiking neurons integrate
    over time and do not belong inside: a ConfigError says so at construction.
    """

    def __init__(self, *modules: nn.Module):
        super().__init__(*modules)
        for name, module in self.named_modules():
            if isinstance(module, _NEURONS):
                raise ConfigError(name, type(module).__name__, "stateless layers only (conv, batch norm, pooling, "
                                  "flatten, linear); put spiking neurons after the MultiStep", where="MultiStep")

    def forward(self, x: Tensor) -> Tensor:
        _check_time_first(x, "MultiStep")
        steps, batch = x.shape[:2]
        y = super().forward(x.flatten(0, 1))
        return y.unflatten(0, (steps, batch))


class TimeSharedDropout(nn.Module):
    """Dropout with one mask for all time steps: in training, ``x`` ``[T, B, ...]`` is multiplied by one
    Bernoulli mask of shape ``x.shape[1:]`` (kept with probability ``1 - p``) scaled by ``1/(1 - p)``; in eval
    mode (or with ``p = 0``) it is the identity. The mask comes from torch's global generator, which the
    trainer seeds, so runs are reproducible. ``p`` must be in [0, 1).
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, Real) or not 0 <= p < 1:
            raise ConfigError("p", p, "a real number in [0, 1)", where="TimeSharedDropout")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        _check_time_first(x, "TimeSharedDropout")
        if not self.training or self.p == 0:
            return x
        mask = F.dropout(torch.ones_like(x[0]), self.p, training=True)  # 0 or 1/(1 - p)
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"
