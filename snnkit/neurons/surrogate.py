"""Heaviside spike functions with surrogate gradients.

A spike function maps the threshold-shifted membrane ``u = mem - threshold`` to spikes. Its forward
pass is the Heaviside step ``S = 1 if u > 0 else 0`` (strictly greater, as snnTorch 1.0.0's
``surrogate.ATan`` / ``surrogate.FastSigmoid`` compute it: a membrane exactly at threshold does not
fire). Its backward pass replaces the step's zero/undefined derivative by a smooth surrogate:

* ``atan(alpha)``: dS/dU = (α/2) / (1 + (π α U / 2)²) — the arctan surrogate of Fang et al. (2021),
  used by G2GNet with α = 2 (see ``shared/papers/g2gnet.md``, "LIF").
* ``fast_sigmoid(slope)``: dS/dU = 1 / (1 + k|U|)² — the SuperSpike surrogate of Zenke & Ganguli (2018).

The public constructors return small picklable callables (:class:`SpikeFunction`) rather than closures,
so modules holding them can be pickled (multiprocessing, DDP) and the fused multi-step LIF kernel in
:mod:`snnkit.neurons.functional` can evaluate the surrogate derivative in closed form.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import torch
from torch import Tensor

from snnkit.errors import ConfigError

__all__ = [
    "ATanSpike",
    "FastSigmoidSpike",
    "SpikeFunction",
    "atan",
    "fast_sigmoid",
    "get",
    "NAMES",
]


def _heaviside(u: Tensor) -> Tensor:
    """Forward spike: 1 where ``u > 0`` else 0, in ``u``'s floating dtype."""
    return (u > 0).to(u.dtype)


def _atan_grad(u: Tensor, alpha: float) -> Tensor:
    """dS/dU of the arctan surrogate: (α/2) / (1 + (π α U / 2)²). One new tensor, the rest in place."""
    out = u * (math.pi / 2 * alpha)
    return out.square_().add_(1).reciprocal_().mul_(alpha / 2)


def _fast_sigmoid_grad(u: Tensor, slope: float) -> Tensor:
    """dS/dU of the fast-sigmoid surrogate: 1 / (1 + k|U|)². One new tensor, the rest in place."""
    out = u.abs()
    return out.mul_(slope).add_(1).square_().reciprocal_()


class ATanSpike(torch.autograd.Function):
    """Heaviside forward, arctan surrogate backward. ``ATanSpike.apply(u, alpha)``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, alpha: float) -> Tensor:
        ctx.save_for_backward(u)
        ctx.alpha = alpha
        return _heaviside(u)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, None]:
        (u,) = ctx.saved_tensors
        return grad_out * _atan_grad(u, ctx.alpha), None


class FastSigmoidSpike(torch.autograd.Function):
    """Heaviside forward, fast-sigmoid surrogate backward. ``FastSigmoidSpike.apply(u, slope)``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, slope: float) -> Tensor:
        ctx.save_for_backward(u)
        ctx.slope = slope
        return _heaviside(u)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, None]:
        (u,) = ctx.saved_tensors
        return grad_out * _fast_sigmoid_grad(u, ctx.slope), None


class SpikeFunction:
    """A spike function ``spike_fn(u) -> spikes`` with a closed-form surrogate derivative.

    Instances are what :func:`atan`, :func:`fast_sigmoid` and :func:`get` return. Calling one applies
    the autograd function; :meth:`grad` evaluates dS/dU directly (used by the fused LIF backward).
    """

    __slots__ = ("name", "param_name", "value")

    def __init__(self, name: str, param_name: str, value: float):
        self.name = name
        self.param_name = param_name
        self.value = value

    def __call__(self, u: Tensor) -> Tensor:
        if self.name == "atan":
            return ATanSpike.apply(u, self.value)
        return FastSigmoidSpike.apply(u, self.value)

    def grad(self, u: Tensor) -> Tensor:
        """Surrogate derivative dS/dU evaluated at ``u`` (no autograd graph needed)."""
        if self.name == "atan":
            return _atan_grad(u, self.value)
        return _fast_sigmoid_grad(u, self.value)

    def __repr__(self) -> str:
        return f"{self.name}({self.param_name}={self.value!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpikeFunction):
            return NotImplemented
        return (self.name, self.value) == (other.name, other.value)

    def __hash__(self) -> int:
        return hash((self.name, self.value))

    def __getstate__(self) -> tuple[str, str, float]:
        return (self.name, self.param_name, self.value)

    def __setstate__(self, state: tuple[str, str, float]) -> None:
        self.name, self.param_name, self.value = state


def _positive_finite(key: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ConfigError(key, value, "a positive finite real number", where=where)
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(key, value, "a positive finite real number", where=where)
    return value


def atan(alpha: float = 2.0) -> SpikeFunction:
    """Heaviside spike with the arctan surrogate dS/dU = (α/2)/(1+(π α U/2)²) (Fang et al., 2021).

    G2GNet uses α = 2 (``shared/papers/g2gnet.md``). Raises ConfigError unless α is positive and finite.
    """
    return SpikeFunction("atan", "alpha", _positive_finite("alpha", alpha, "surrogate.atan"))


def fast_sigmoid(slope: float = 25.0) -> SpikeFunction:
    """Heaviside spike with the fast-sigmoid surrogate dS/dU = 1/(1+k|U|)² (Zenke & Ganguli, 2018).

    Raises ConfigError unless ``slope`` is positive and finite.
    """
    return SpikeFunction("fast_sigmoid", "slope", _positive_finite("slope", slope, "surrogate.fast_sigmoid"))


_FACTORIES = {"atan": (atan, ("alpha",)), "fast_sigmoid": (fast_sigmoid, ("slope",))}
NAMES: tuple[str, ...] = tuple(_FACTORIES)


def get(name: str, **kwargs: Any) -> SpikeFunction:
    """Spike function by name: ``get("atan", alpha=2.0)``, ``get("fast_sigmoid", slope=25.0)``.

    Unknown names, unknown keyword arguments and out-of-range values raise ConfigError.
    """
    if not isinstance(name, str) or name not in _FACTORIES:
        raise ConfigError("surrogate", name, f"one of {list(NAMES)}", where="surrogate.get")
    factory, allowed = _FACTORIES[name]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ConfigError(
            "surrogate_kwargs",
            {k: kwargs[k] for k in unknown},
            f"only {list(allowed)} for surrogate {name!r}",
            where="surrogate.get",
        )
    return factory(**kwargs)
