"""Heaviside spike functions with surrogate gradients, one object per surrogate with its own parameter.

A spike function maps the threshold-shifted membrane ``u = mem - threshold`` to spikes. Its forward
pass is the Heaviside step ``S = 1 if u > 0 else 0`` (strictly greater, as snnTorch 1.0.0's
``surrogate.ATan`` / ``surrogate.FastSigmoid`` compute it: a membrane exactly at threshold does not
fire). Its backward pass replaces the step's zero/undefined derivative by a smooth surrogate:

* :class:`ATan` ``(alpha=2.0)``: dS/dU = (α/2) / (1 + (π α U / 2)²) — the arctan surrogate of Fang et al.
  (2021), used by G2GNet with α = 2 (Konstantaropoulos et al., arXiv 2508.14140).
* :class:`FastSigmoid` ``(slope=25.0)``: dS/dU = 1 / (1 + k|U|)² — the SuperSpike surrogate of Zenke &
  Ganguli (2018), with snnTorch's default slope k = 25.

As in SpikingJelly (``surrogate.ATan(alpha=...)``), each surrogate is its own class holding its own named
parameter: there is no ``alpha`` shared between surrogates of different shapes. The objects are small,
picklable callables (modules holding them can be pickled for multiprocessing and DDP), compare equal by
kind and parameter, and expose the closed-form derivative (:meth:`SpikeFunction.grad`) that the fused
multi-step LIF kernel in :mod:`snnkit.neurons.functional` evaluates.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor

from snnkit.errors import ConfigError, check_positive_number

__all__ = ["SpikeFunction", "ATan", "FastSigmoid", "SURROGATES", "NAMES", "get", "from_params"]


class _Heaviside(torch.autograd.Function):
    """Heaviside forward, ``spike_fn.grad(u)`` backward. ``_Heaviside.apply(u, spike_fn)``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, spike_fn: SpikeFunction) -> Tensor:
        ctx.save_for_backward(u)
        ctx.spike_fn = spike_fn
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, None]:
        (u,) = ctx.saved_tensors
        return grad_out * ctx.spike_fn.grad(u), None


class SpikeFunction:
    """A spike function ``spike_fn(u) -> spikes``: Heaviside forward, closed-form surrogate backward.

    Subclasses set ``name``, declare their one parameter in ``__slots__`` and implement :meth:`grad`.
    """

    name: ClassVar[str]
    __slots__: tuple[str, ...] = ()

    def __call__(self, u: Tensor) -> Tensor:
        return _Heaviside.apply(u, self)

    def grad(self, u: Tensor) -> Tensor:
        """Surrogate derivative dS/dU evaluated at ``u`` (no autograd graph needed)."""
        raise NotImplementedError

    def _params(self) -> tuple[tuple[str, float], ...]:
        return tuple((key, getattr(self, key)) for key in self.__slots__)

    def __repr__(self) -> str:
        return f"{self.name}(" + ", ".join(f"{k}={v!r}" for k, v in self._params()) + ")"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpikeFunction):
            return NotImplemented
        return type(self) is type(other) and self._params() == other._params()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._params()))


class ATan(SpikeFunction):
    """Arctan surrogate dS/dU = (α/2)/(1+(π α U/2)²) (Fang et al., 2021); peak α/2 at U = 0.

    G2GNet uses α = 2 (Konstantaropoulos et al., arXiv 2508.14140). Raises ConfigError unless α is positive and finite.
    """

    name = "atan"
    __slots__ = ("alpha",)

    def __init__(self, alpha: float = 2.0):
        self.alpha = check_positive_number("alpha", alpha, where="surrogate.ATan")

    def grad(self, u: Tensor) -> Tensor:
        out = u * (math.pi / 2 * self.alpha)  # one new tensor, the rest in place
        return out.square_().add_(1).reciprocal_().mul_(self.alpha / 2)


class FastSigmoid(SpikeFunction):
    """Fast-sigmoid (SuperSpike) surrogate dS/dU = 1/(1+k|U|)² (Zenke & Ganguli, 2018); peak 1 at U = 0.

    ``slope`` k defaults to 25 (snnTorch's default). Raises ConfigError unless it is positive and finite.
    """

    name = "fast_sigmoid"
    __slots__ = ("slope",)

    def __init__(self, slope: float = 25.0):
        self.slope = check_positive_number("slope", slope, where="surrogate.FastSigmoid")

    def grad(self, u: Tensor) -> Tensor:
        out = u.abs()  # one new tensor, the rest in place
        return out.mul_(self.slope).add_(1).square_().reciprocal_()


SURROGATES: dict[str, type[SpikeFunction]] = {cls.name: cls for cls in (ATan, FastSigmoid)}
NAMES: tuple[str, ...] = tuple(SURROGATES)


def get(name: str, **kwargs: Any) -> SpikeFunction:
    """Spike function by name with its own parameter: ``get("atan", alpha=2.0)``, ``get("fast_sigmoid",
    slope=25.0)``; a parameter not given takes that surrogate's default.

    Unknown names, parameters of another surrogate and out-of-range values raise ConfigError.
    """
    if not isinstance(name, str) or name not in SURROGATES:
        raise ConfigError("surrogate", name, f"one of {list(NAMES)}", where="surrogate.get")
    cls = SURROGATES[name]
    unknown = sorted(set(kwargs) - set(cls.__slots__))
    if unknown:
        raise ConfigError("surrogate_kwargs", {k: kwargs[k] for k in unknown},
                          f"only {list(cls.__slots__)} for surrogate {name!r}", where="surrogate.get")
    return cls(**kwargs)


def from_params(params: Any) -> SpikeFunction:
    """The spike function a notebook's parameters name: ``params["surrogate"]`` with its own parameter
    from ``params["<surrogate>_<parameter>"]`` (``atan_alpha``, ``fast_sigmoid_slope``) where given."""
    name = params["surrogate"]
    cls = SURROGATES.get(name)
    own = {k: params[f"{name}_{k}"] for k in (cls.__slots__ if cls else ()) if f"{name}_{k}" in params}
    return get(name, **own)
