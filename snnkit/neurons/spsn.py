"""Thin ``nn.Module`` wrappers over :mod:`snnkit.neurons.parallel`: SPSN, ParaLIF, the leaky-integrator
read-out and the non-spiking (ReLU) baseline.

Papers: Yarga & Wood, "Accelerating SNN Training with Stochastic Parallelizable Spiking Neurons", arXiv
2306.12666 (SPSN); Yarga & Wood, "Accelerating spiking neural networks with parallelizable leaky
integrate-and-fire neurons", Neuromorphic Computing and Engineering 2025, doi 10.1088/2634-4386/adb7fe
(ParaLIF). The semantics follow the authors' code (NECOTIS/Stochastic-Parallelizable-Spiking-Neuron-SPSN and
NECOTIS/Parallelizable-Leaky-Integrate-and-Fire-Neuron), except where the docstrings say otherwise.

Every module takes the input current ``[T, B, N]`` (the Linear layer sits outside, as in snnkit's LIF) and
returns ``[T, B, N]``: spikes for the spiking neurons (so forward hooks see spikes), the membrane potential
for :class:`LeakyIntegrator`, ``relu(x)`` for :class:`NonSpiking`. ``forward_with_state`` also returns the
membrane potentials. Decays are ``α = exp(-dt/τ_syn)``, ``β = exp(-dt/τ_mem)`` (τ and dt in the same unit,
default ms with dt = 1). Stochastic firing draws from ``generator`` (the forward argument, else the module's
``generator`` attribute, else torch's global RNG; a generator on the input's device), so
``module.generator = trainer.batch_generator`` seeds it.
The generator is not pickled (a copied module draws from the global RNG until it is set again).

Arguments are checked here, once, with :class:`snnkit.errors.ConfigError`; the functional core checks nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

import torch
from torch import Tensor, nn

from snnkit.errors import ConfigError
from snnkit.neurons import surrogate as _surrogate
from snnkit.neurons.buffers import may_take
from snnkit.neurons.parallel import (
    DELTA_MODES,
    METHODS,
    SPIKE_MODES,
    STOCHASTIC_MODES,
    decay,
    leaky_integrate,
    paralif_multistep,
    paralif_spikes,
)

__all__ = ["LeakyIntegrator", "SPSN", "ParaLIF", "NonSpiking", "SPSN_FIRINGS", "PARALIF_SURROGATES"]

SPSN_FIRINGS: tuple[str, ...] = ("SB", "GS")
# surrogate name -> (spike-function class keyword, the authors' default scale)
PARALIF_SURROGATES: dict[str, tuple[str, float]] = {"fast_sigmoid": ("slope", 100.0), "atan": ("alpha", 2.0)}


def _is_real(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(float(value))


def _values(key: str, value: Any, n_neurons: int | None, ok: Any, allowed: str, where: str) -> Tensor:
    """A number or a per-neuron sequence/tensor as a float64 tensor (0-d, or ``[n_neurons]``)."""
    if isinstance(value, Tensor):
        value = value.detach().reshape(-1).tolist() if value.dim() > 0 else value.item()
    if isinstance(value, Sequence) and not isinstance(value, str):
        items = list(value)
        if n_neurons is None or len(items) != n_neurons:
            raise ConfigError(key, value, f"a number or a sequence of n_neurons ({n_neurons}) numbers "
                              "(per-neuron values need n_neurons)", where=where)
        if not all(_is_real(v) and ok(float(v)) for v in items):
            raise ConfigError(key, value, f"{allowed} for every neuron", where=where)
        return torch.tensor([float(v) for v in items], dtype=torch.float64)
    if not (_is_real(value) and ok(float(value))):
        raise ConfigError(key, value, allowed, where=where)
    out = torch.tensor(float(value), dtype=torch.float64)
    return out.expand(n_neurons).clone() if n_neurons is not None else out


def _flag(key: str, value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, value, "True or False", where=where)
    return value


class LeakyIntegrator(nn.Module):
    """Non-firing two-stage leaky integrator (the SPSN / ParaLIF read-out): returns the membrane ``U``.

    ``syn_t = α·syn_{t-1} + X_t``, ``U_t = β·U_{t-1} + (1 - β)·syn_t``, computed exactly in parallel
    (:func:`snnkit.neurons.parallel.leaky_integrate`). The authors' output layer is their SPSN / ParaLIF
    layer with ``fire=False``, which returns this potential.

    Args:
        tau_mem, tau_syn: time constants (> 0; a number or one per neuron). ``tau_syn=None``: no synaptic
            stage (α = 0, so syn = X), as the authors' ParaLIF allows.
        dt: time step (> 0), same unit as τ.
        n_neurons: number of neurons; when given, α and β are per-neuron ``[n_neurons]`` tensors (learned
            per neuron with ``learn_tau``), else shared scalars.
        learn_tau: learn the decays through a sigmoid, ``β = σ(raw_β)``, the raw parameter initialised to
            ``logit(β)`` so the initial decay is the requested one. (The authors' code initialises the raw
            parameter with β itself, so its initial decay is σ(β), e.g. 0.72 instead of 0.95 for τ = 20 dt;
            this follows the spec.)
        method: "auto", "recurrence", "fft" or "scan" (all exact; see :mod:`snnkit.neurons.parallel`).
    """

    _where = "LeakyIntegrator"

    def __init__(
        self,
        tau_mem: float | Sequence[float] = 20.0,
        tau_syn: float | Sequence[float] | None = 20.0,
        dt: float = 1.0,
        n_neurons: int | None = None,
        learn_tau: bool = False,
        method: str = "auto",
    ):
        super().__init__()
        where = self._where
        if n_neurons is not None and (isinstance(n_neurons, bool) or not isinstance(n_neurons, int)
                                      or n_neurons < 1):
            raise ConfigError("n_neurons", n_neurons, "an integer >= 1 or None", where=where)
        if not (_is_real(dt) and dt > 0):
            raise ConfigError("dt", dt, "a finite number > 0", where=where)
        if method not in METHODS:
            raise ConfigError("method", method, f"one of {list(METHODS)}", where=where)
        self.learn_tau = _flag("learn_tau", learn_tau, where)
        positive = "a finite number > 0"
        beta = decay(_values("tau_mem", tau_mem, n_neurons, lambda v: v > 0, positive, where), float(dt))
        self.has_syn = tau_syn is not None
        if self.has_syn:
            alpha = decay(_values("tau_syn", tau_syn, n_neurons, lambda v: v > 0, positive, where), float(dt))
        else:
            alpha = torch.zeros_like(beta)
        dtype = torch.get_default_dtype()
        for name, value in (("alpha", alpha), ("beta", beta)):
            learn = learn_tau and (name == "beta" or self.has_syn)
            if learn:
                # clamp so that a decay rounding to 1 in float32 still has a finite logit
                raw = torch.logit(value.clamp(1e-12, 1 - 1e-7)).to(dtype)
                setattr(self, f"raw_{name}", nn.Parameter(raw))
            else:
                self.register_buffer(f"raw_{name}", value.to(dtype))
        self.n_neurons = n_neurons
        self.dt = float(dt)
        self.method = method

    def _decay(self, name: str) -> Tensor:
        raw = getattr(self, f"raw_{name}")
        return torch.sigmoid(raw) if isinstance(raw, nn.Parameter) else raw

    @property
    def alpha(self) -> Tensor:
        """Synaptic decay α (0-d or ``[n_neurons]``); ``σ(raw)`` when learned."""
        return self._decay("alpha")

    @property
    def beta(self) -> Tensor:
        """Membrane decay β (0-d or ``[n_neurons]``); ``σ(raw)`` when learned."""
        return self._decay("beta")

    def _check(self, x: Tensor) -> None:
        if isinstance(x, Tensor) and x.dim() < 2:
            raise ConfigError("x.shape", tuple(x.shape), "a time-first tensor [T, B, ...] (>= 2 dims)",
                              where=self._where)
        if self.n_neurons is not None and x.shape[-1] != self.n_neurons:
            raise ConfigError("x.shape", tuple(x.shape), f"a last dimension of n_neurons = {self.n_neurons}",
                              where=self._where)

    def membrane(self, x: Tensor) -> Tensor:
        """Membrane potentials ``[T, B, ...]`` of input current ``x`` ``[T, B, ...]``."""
        self._check(x)
        return leaky_integrate(x, self.alpha, self.beta, self.method)

    def forward(self, x: Tensor) -> Tensor:
        """The membrane potential ``[T, B, ...]`` (the read-out)."""
        return self.membrane(x)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if "generator" in state:
            state["generator"] = None  # torch.Generator objects are not picklable
        return state

    def extra_repr(self) -> str:
        shape = "scalar" if self.n_neurons is None else f"per-neuron [{self.n_neurons}]"
        first = lambda t: float(t.detach().reshape(-1)[0])  # noqa: E731
        return (f"alpha={first(self.alpha):.4g}, beta={first(self.beta):.4g} ({shape}), dt={self.dt:g}, "
                f"learn_tau={self.learn_tau}, method={self.method!r}")


class ParaLIF(LeakyIntegrator):
    """Parallelisable LIF (Yarga & Wood 2025) with every spike mode of the authors' ``SpikingFunction``.

    Args:
        spike_mode: "GS", "SB", "TRB" (stochastic), "D", "SD", "TD", "TRD" (delta), "T", "ST", "TT",
            "TRT" (threshold); see :func:`snnkit.neurons.parallel.fire` for the exact forward / backward.
        tau_mem, tau_syn, dt, n_neurons, learn_tau, method: as :class:`LeakyIntegrator` (per-neuron values
            need ``n_neurons``).
        threshold: θ (a number ≥ 0 or one per neuron); None: 1.0, or 0.1 for the delta modes (the authors'
            defaults). Not used by GS, SB and TRB.
        learn_thr: learn θ; the value used is ``relu(raw)`` (the raw parameter starts at θ), as the authors.
            GS, SB and TRB do not use θ: there it stays a buffer (a parameter that never gets a gradient
            would make DDP fail), and ``learn_thr`` reads False.
        surrogate: "fast_sigmoid" (1/(scale·|v| + 1)², scale 100) or "atan" (scale 2), or a
            :class:`snnkit.neurons.surrogate.SpikeFunction` object; ``surrogate_scale`` overrides the scale.
        recurrent: add recurrent weights ``W_rec`` (an ``nn.Linear(n_neurons, n_neurons)``, Kaiming-uniform
            for a linear layer, zero bias, as the authors); needs ``n_neurons``. The layer stays parallel:
            see :func:`snnkit.neurons.parallel.paralif_multistep` (X integrated once, the recurrent input
            is the firing of the feed-forward potential one step earlier).
        recurrent_fire: the recurrent input is spikes (True, the authors' default) or ``relu`` of the
            delayed feed-forward potential.
        generator: default generator for the stochastic modes.
    """

    _where = "ParaLIF"

    def __init__(
        self,
        spike_mode: str = "SB",
        tau_mem: float | Sequence[float] = 20.0,
        tau_syn: float | Sequence[float] | None = 20.0,
        dt: float = 1.0,
        n_neurons: int | None = None,
        learn_tau: bool = False,
        learn_thr: bool = False,
        threshold: float | Sequence[float] | None = None,
        surrogate: str | _surrogate.SpikeFunction = "fast_sigmoid",
        surrogate_scale: float | None = None,
        recurrent: bool = False,
        recurrent_fire: bool = True,
        method: str = "auto",
        generator: torch.Generator | None = None,
    ):
        where = self._where
        if spike_mode not in SPIKE_MODES:
            raise ConfigError("spike_mode", spike_mode, f"one of {list(SPIKE_MODES)}", where=where)
        super().__init__(tau_mem, tau_syn, dt, n_neurons, learn_tau, method)
        self.learn_thr = _flag("learn_thr", learn_thr, where) and spike_mode not in STOCHASTIC_MODES
        self.recurrent_fire = _flag("recurrent_fire", recurrent_fire, where)
        if _flag("recurrent", recurrent, where) and n_neurons is None:
            raise ConfigError("n_neurons", n_neurons, "an integer >= 1 when recurrent=True", where=where)
        if isinstance(surrogate, _surrogate.SpikeFunction):
            if surrogate_scale is not None:
                raise ConfigError("surrogate_scale", surrogate_scale, "None when surrogate is a spike-function "
                                  "object (it holds its own parameter)", where=where)
            self.spike_fn = surrogate
        elif isinstance(surrogate, str) and surrogate in PARALIF_SURROGATES:
            key, default = PARALIF_SURROGATES[surrogate]
            scale = default if surrogate_scale is None else surrogate_scale
            if not (_is_real(scale) and scale > 0):
                raise ConfigError("surrogate_scale", surrogate_scale, "a finite number > 0 or None", where=where)
            self.spike_fn = _surrogate.get(surrogate, **{key: float(scale)})
        else:
            raise ConfigError("surrogate", surrogate, f"one of {list(PARALIF_SURROGATES)} or a spike-function "
                              "object", where=where)
        if threshold is None:
            threshold = 0.1 if spike_mode in DELTA_MODES else 1.0
        thr = _values("threshold", threshold, n_neurons, lambda v: v >= 0, "a finite number >= 0", where)
        thr = thr.to(torch.get_default_dtype())
        if self.learn_thr:
            self.raw_threshold = nn.Parameter(thr)
        else:
            self.register_buffer("raw_threshold", thr)
        if recurrent:
            self.recurrent = nn.Linear(n_neurons, n_neurons)
            nn.init.kaiming_uniform_(self.recurrent.weight, a=0, mode="fan_in", nonlinearity="linear")
            nn.init.zeros_(self.recurrent.bias)
        else:
            self.recurrent = None
        self.spike_mode = spike_mode
        self.generator = generator

    @property
    def threshold(self) -> Tensor:
        """θ (0-d or ``[n_neurons]``); ``relu(raw)`` when learned."""
        return torch.relu(self.raw_threshold) if self.learn_thr else self.raw_threshold

    def forward_with_state(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(spikes, membranes)``, both ``[T, B, ...]``. Does not run forward hooks."""
        self._check(x)
        return paralif_multistep(
            x, self.alpha, self.beta, self.spike_mode, self.threshold, self.spike_fn,
            generator if generator is not None else self.generator,
            self.recurrent, self.recurrent_fire, self.method,
        )

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:  # type: ignore[override]
        """Spikes ``[T, B, ...]`` for input current ``x`` ``[T, B, ...]``. An ``x`` marked with
        :func:`snnkit.neurons.buffers.donate` may hold the neuron's state and then its gradient (see
        :func:`snnkit.neurons.parallel.paralif_spikes`)."""
        self._check(x)
        return paralif_spikes(
            x, self.alpha, self.beta, self.spike_mode, self.threshold, self.spike_fn,
            generator if generator is not None else self.generator,
            self.recurrent, self.recurrent_fire, self.method, donate=may_take(self, x),
        )

    def extra_repr(self) -> str:
        return (f"spike_mode={self.spike_mode!r}, threshold={float(self.threshold.detach().reshape(-1)[0]):.4g}, "
                f"learn_thr={self.learn_thr}, surrogate={self.spike_fn!r}, "
                f"recurrent={self.recurrent is not None}, " + super().extra_repr())


class SPSN(ParaLIF):
    """Stochastic parallelisable spiking neuron (Yarga & Wood, arXiv 2306.12666).

    The LIF integration without reset (:class:`LeakyIntegrator`, exact), then stochastic firing:

    * ``firing="SB"`` (sigmoid–Bernoulli): ``p = σ(U)``, ``S ~ Bernoulli(p)``; backward ``dS/dU = p·σ'(U)
      = p²(1 - p)`` (the paper's Eq. 19, as the authors' code computes it).
    * ``firing="GS"`` (Gumbel-softmax): hard 2-class Gumbel-softmax on ``[U, -U]`` at temperature 1,
      spike when the soft value exceeds 0.5, straight-through gradient of the soft value.

    It is the ParaLIF of the same spike mode without recurrence, threshold or surrogate (neither firing
    uses them). ``options``: ``n_neurons``, ``learn_tau``, ``method`` as in :class:`LeakyIntegrator`.
    ``forward(x, generator=None)`` returns the spikes; the authors use τ_mem = τ_syn = 20 ms, dt = 1 ms.
    """

    _where = "SPSN"
    _options = ("n_neurons", "learn_tau", "method")

    def __init__(self, firing: str = "SB", tau_mem: float | Sequence[float] = 20.0,
                 tau_syn: float | Sequence[float] | None = 20.0, dt: float = 1.0,
                 generator: torch.Generator | None = None, **options: Any):
        if firing not in SPSN_FIRINGS:
            raise ConfigError("firing", firing, f"one of {list(SPSN_FIRINGS)}", where=self._where)
        unknown = sorted(set(options) - set(self._options))
        if unknown:
            raise ConfigError("options", {k: options[k] for k in unknown}, f"only {list(self._options)}",
                              where=self._where)
        super().__init__(firing, tau_mem, tau_syn, dt, generator=generator, **options)
        self.firing = firing

    def extra_repr(self) -> str:
        return f"firing={self.firing!r}, " + LeakyIntegrator.extra_repr(self)


class NonSpiking(nn.Module):
    """The authors' non-spiking baseline neuron: ``relu(x)`` at every step (after the layer's Linear)."""

    def forward(self, x: Tensor) -> Tensor:
        if isinstance(x, Tensor) and x.dim() < 2:
            raise ConfigError("x.shape", tuple(x.shape), "a time-first tensor [T, B, ...] (>= 2 dims)",
                              where="NonSpiking")
        return torch.relu(x)
