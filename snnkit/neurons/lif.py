"""``LIF``: a thin ``nn.Module`` over :func:`snnkit.neurons.functional.lif_multistep`.

The module holds β and θ (scalar ``nn.Parameter``s when learnable, buffers otherwise — G2GNet learns both
per layer, Konstantaropoulos et al., arXiv 2508.14140) and the spike function; the dynamics live in the functional
core. No state survives between calls: every ``forward`` starts from a zero membrane (or ``mem0``).

``forward`` returns only the spike tensor ``[T, B, ...]``, so ``register_forward_hook`` on a LIF module
sees the spikes as ``output`` (the recorders of firing rates and rasters rely on this). An input marked with
:func:`snnkit.neurons.buffers.donate` (a Linear's output made only for this neuron) holds the membranes afterwards
and saves a ``[T, B, ...]`` buffer, unless the module has hooks (they would see it overwritten).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real
from typing import Any

import torch
from torch import Tensor, nn

from snnkit.errors import ConfigError
from snnkit.neurons import surrogate as _surrogate
from snnkit.neurons.buffers import may_take
from snnkit.neurons.functional import RESETS, LIFParameters, lif_multistep, lif_step

__all__ = ["LIF"]


def _real(key: str, value: Any, ok: Callable[[float], bool], allowed: str) -> float:
    """``value`` (a real number or one-element tensor) as a float if ``ok`` accepts it, else ConfigError."""
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.detach().reshape(()).item()
    if isinstance(value, bool) or not isinstance(value, Real) or not ok(float(value)):
        raise ConfigError(key, value, allowed, where="LIF")
    return float(value)


class LIF(nn.Module):
    """Leaky integrate-and-fire layer, multi-step and time-first (equivalent to snnTorch ``Leaky``).

    Args:
        beta: membrane decay factor in [0, 1] (clamped to [0, 1] in the dynamics when learnable).
        threshold: firing threshold θ > 0.
        learn_beta, learn_threshold: make β / θ scalar ``nn.Parameter``s.
        reset: "subtract" (m -= θ after a spike) or "zero".
        surrogate: a spike function object with its own parameter, e.g. ``surrogate.ATan(alpha=2.0)`` or
            ``surrogate.FastSigmoid(slope=25.0)`` (see :mod:`snnkit.neurons.surrogate`); a surrogate's name
            (``"atan"``, ``"fast_sigmoid"``: its default parameter); or any spike callable ``u -> spikes``.
        detach_reset: no gradient through the reset signal (snnTorch and G2GNet do this).

    All arguments are checked here, once; the functional core does no checks.
    """

    def __init__(
        self,
        beta: float = 0.9,
        threshold: float = 1.0,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        reset: str = "subtract",
        surrogate: _surrogate.SpikeFunction | str | Callable[[Tensor], Tensor] = "atan",
        detach_reset: bool = True,
    ):
        super().__init__()
        beta_f = _real("beta", beta, lambda v: 0 <= v <= 1, "a real number in [0, 1]")
        thr_f = _real("threshold", threshold, lambda v: math.isfinite(v) and v > 0, "a finite real number > 0")
        for key, flag in (("learn_beta", learn_beta), ("learn_threshold", learn_threshold),
                          ("detach_reset", detach_reset)):
            if not isinstance(flag, bool):
                raise ConfigError(key, flag, "True or False", where="LIF")
        if reset not in RESETS:
            raise ConfigError("reset", reset, f"one of {list(RESETS)}", where="LIF")
        if isinstance(surrogate, str):
            self.spike_fn = _surrogate.get(surrogate)
        elif callable(surrogate):
            self.spike_fn = surrogate
        else:
            raise ConfigError("surrogate", surrogate, f"a spike function (e.g. surrogate.ATan(alpha=2.0)), one "
                              f"of {list(_surrogate.NAMES)} or a callable", where="LIF")
        beta_t = torch.tensor(beta_f, dtype=torch.get_default_dtype())
        thr_t = torch.tensor(thr_f, dtype=torch.get_default_dtype())
        if learn_beta:
            self.beta = nn.Parameter(beta_t)
        else:
            self.register_buffer("beta", beta_t)
        if learn_threshold:
            self.threshold = nn.Parameter(thr_t)
        else:
            self.register_buffer("threshold", thr_t)
        self.learn_beta = learn_beta
        self.learn_threshold = learn_threshold
        self.reset = reset
        self.detach_reset = detach_reset

    @property
    def params(self) -> LIFParameters:
        """The functional parameters bound to this module's current β and θ."""
        return LIFParameters(self.beta, self.threshold, self.reset, self.detach_reset)

    def forward(self, x: Tensor, mem0: Tensor | None = None) -> Tensor:
        """Spikes ``[T, B, ...]`` for input current ``x`` ``[T, B, ...]``, starting from ``mem0`` (zeros)."""
        self._check_time_first(x)
        spk, _ = lif_multistep(x, self.params, self.spike_fn, mem0, donate=may_take(self, x))
        return spk

    def forward_with_state(self, x: Tensor, mem0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(spikes, membranes)``, both ``[T, B, ...]``. Does not run forward hooks."""
        self._check_time_first(x)
        return lif_multistep(x, self.params, self.spike_fn, mem0)

    def step(self, x_t: Tensor, mem: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One time step: ``(spk_t, mem_t)`` from input ``x_t`` ``[B, ...]`` and the previous membrane."""
        return lif_step(x_t, mem, self.params, self.spike_fn)

    @staticmethod
    def _check_time_first(x: Tensor) -> None:
        if isinstance(x, Tensor) and x.dim() < 2:
            raise ConfigError(
                "x.shape", tuple(x.shape), "a time-first tensor [T, B, ...] (>= 2 dims)", where="LIF"
            )

    def extra_repr(self) -> str:
        return (
            f"beta={float(self.beta.detach()):.4g}, threshold={float(self.threshold.detach()):.4g}, "
            f"learn_beta={self.learn_beta}, learn_threshold={self.learn_threshold}, "
            f"reset={self.reset!r}, surrogate={self.spike_fn!r}, detach_reset={self.detach_reset}"
        )
