"""Pruning by weight reparameterisation: STDS and Grad R, as ``torch.nn.utils.parametrize`` modules.

Each prunable weight ``w`` (of an ``nn.Conv1d/2d/3d`` or ``nn.Linear``) becomes a function of a stored
parameter ``θ`` (the "spine state"), kept by ``parametrize`` as ``<layer>.parametrizations.weight.original``:

* ``identity``: ``w = θ`` — the dense baseline, with the same state-dict layout as the others.
* ``stmod`` — STDS, Chen, Yu, Fang, Ma, Huang & Tian, "State Transition of Dendritic Spines Improves
  Learning of Sparse Spiking Neural Networks", ICML 2022 (PMLR 162:3701-3715): forward the soft threshold
  ``w = sign(θ)·ReLU(|θ| − D)``; backward straight through, ``∂w/∂θ = 1`` everywhere, also inside the flat
  zone ``|θ| ≤ D`` (and at ``θ = 0``), so a silent spine keeps learning and can come back.
* ``st``: the plain soft threshold, whose gradient is zero in the flat zone (the paper's ablation).
* ``gradr`` — Grad R, Chen, Yu, Fang, Huang & Tian, "Pruning of Deep Spiking Neural Networks through
  Gradient Rewiring", IJCAI 2021: a fixed sign ``s`` per weight (taken from the initial weight, a buffer;
  ``+1`` where it is 0), a strength ``θ`` (initialised to ``|w|``) and ``w = s·ReLU(θ)``. The gradient is
  the paper's rewired one, ``∂L/∂θ = s·∂L/∂w`` also where ``θ < 0`` (the authors' optimiser updates the
  hidden ``θ`` with the weight's gradient), so a pruned connection can grow back. After every optimiser
  step the Laplace prior pulls ``θ`` towards ``μ_c``: ``θ ← θ − α·lr·sign(θ − μ_c)`` with
  ``μ_c = ln(2(1 − s_target))/α`` (:class:`GradRPrior`; α = 1e-3 in the paper). Only the weights are
  reparameterised: BatchNorm and biases train as usual (the STDS code's Grad R mode froze BatchNorm).

``D`` (the flat width) is a 0-dim buffer ``flat_width`` of each ``stmod``/``st`` parametrization, so it is in
the model's state dict and a schedule changes it in place. :func:`flat_width_at` gives the schedules over the
``N = iterations per epoch × epochs`` optimiser steps, ``D_n = D_max·s(n/N)`` with ``sine``
``s(x) = (1 + sin(π(x − ½)))/2`` (the STDS default), ``linear`` ``s(x) = x`` or ``none`` (``D_max`` from the
start); :class:`FlatWidthSchedule` applies it after every optimiser step and keeps its position in the
trainer's checkpoint, so a resumed run continues with the D it stopped at (the original fell back to 0 until
the next step).

The initial ``θ`` makes ``w`` equal the layer's weight at the time the parametrization is registered:
``θ = w + sign(w)·D₀`` for ``stmod``/``st`` (``θ = w`` for the schedules' ``D₀ = 0``; for ``D₀ > 0`` equal up
to float rounding), ``θ = |w|`` for ``gradr``. Effective weights in a flat zone (or with ``θ ≤ 0`` under
Grad R) are exact zeros; :func:`sparsity_report` counts them (sparsity, connectivity = 1 − sparsity).

Cost: ``stmod`` adds two elementwise passes over θ per forward (a clamp without graph and a subtraction) and
none in backward; ``st`` and ``gradr`` keep a custom backward of one or two passes. The weight is recomputed
at every call of the layer: a model that calls a layer once per time step should run under
``torch.nn.utils.parametrize.cached()`` (a multi-step model calling it once on ``[T·B, ...]`` need not).

Typical use (what :func:`sparsify` does in one call)::

    layers = apply_reparam(model, "stmod", flat_width=0.0)          # every Conv*d / Linear
    trainer = Trainer(model, ..., callbacks=[FlatWidthSchedule(model, d_max=3.0, schedule="sine")])
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from snnkit.errors import ConfigError, check_positive_int
from snnkit.train.loop import Callback

__all__ = [
    "DEFAULT_ALPHA",
    "KINDS",
    "PRUNABLE_TYPES",
    "SCHEDULES",
    "FlatWidthSchedule",
    "GradRPrior",
    "GradRewiring",
    "IdentityReparam",
    "SoftThreshold",
    "SoftThresholdMod",
    "WeightReparam",
    "apply_reparam",
    "check_reparam_settings",
    "flat_width_at",
    "gradr_center",
    "gradr_prior_step_",
    "gradr_weight",
    "inverse_soft_threshold",
    "remove_reparam",
    "reparam_layers",
    "schedule_fraction",
    "soft_threshold",
    "soft_threshold_st",
    "sparsify",
    "sparsity_report",
    "spine_states",
]


KINDS = ("identity", "stmod", "st", "gradr")
SCHEDULES = ("sine", "linear", "none")
DEFAULT_ALPHA = 1e-3  # Grad R's α in the IJCAI 2021 paper
PRUNABLE_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_WHERE = "reparam"

LayerSelector = Callable[[str, nn.Module], bool] | Iterable[str] | None


# ------------------------------------------------------------------------------------- functional core
class _SoftThreshold(torch.autograd.Function):
    """``θ − clamp(θ, −D, D)`` with the gradient passed only where the output is non-zero (``|θ| > D``:
    a difference of two distinct floats is never 0). The output is saved for backward, which costs no
    memory: the layer keeps its weight for its own backward anyway."""

    @staticmethod
    def forward(ctx: Any, theta: Tensor, d: Tensor) -> Tensor:
        w = theta - torch.clamp(theta, min=-d, max=d)
        ctx.save_for_backward(w)
        return w

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (w,) = ctx.saved_tensors
        return grad.masked_fill(w == 0, 0.0), None


def soft_threshold(theta: Tensor, flat_width: Tensor | float) -> Tensor:
    """``sign(θ)·ReLU(|θ| − D)`` with its true gradient (1 outside the flat zone, 0 where ``|θ| ≤ D``).

    Computed as ``θ − clamp(θ, −D, D)``, which is the same number bit for bit (``(θ − D)`` above the zone,
    ``(θ + D)`` below, an exact 0 inside) in two elementwise operations.
    """
    d = torch.as_tensor(flat_width, dtype=theta.dtype, device=theta.device)
    return _SoftThreshold.apply(theta, d)


def soft_threshold_st(theta: Tensor, flat_width: Tensor | float) -> Tensor:
    """STDS's ``stmod``: the value of :func:`soft_threshold`, gradient passed straight through
    (``∂w/∂θ = 1`` everywhere, Chen et al. ICML 2022)."""
    d = torch.as_tensor(flat_width, dtype=theta.dtype, device=theta.device)
    with torch.no_grad():
        inside = torch.clamp(theta, min=-d, max=d)
    return theta - inside


def inverse_soft_threshold(weight: Tensor, flat_width: Tensor | float) -> Tensor:
    """``θ = w + sign(w)·D``: a θ whose soft threshold is ``w`` (``w = 0`` maps to ``θ = 0``)."""
    d = torch.as_tensor(flat_width, dtype=weight.dtype, device=weight.device)
    return weight + torch.sign(weight) * d


class _GradRWeight(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, theta: Tensor, sign: Tensor) -> Tensor:
        ctx.save_for_backward(sign)
        return torch.relu(theta) * sign

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (sign,) = ctx.saved_tensors
        return grad * sign, None


def gradr_weight(theta: Tensor, sign: Tensor) -> Tensor:
    """Grad R's ``w = s·ReLU(θ)`` with the rewired gradient ``∂L/∂θ = s·∂L/∂w`` (also where ``θ < 0``;
    Chen et al. IJCAI 2021). ``sign`` holds ±1."""
    return _GradRWeight.apply(theta, sign)


def schedule_fraction(x: float, schedule: str) -> float:
    """``s(x)`` of a flat-width schedule on ``x = n/N`` (clipped to [0, 1]); ``s(0) = 0`` and ``s(1) = 1``
    exactly for ``sine`` and ``linear``, ``none`` is 1 throughout."""
    if schedule == "none":
        return 1.0
    x = min(max(float(x), 0.0), 1.0)
    if schedule == "linear":
        return x
    if x in (0.0, 1.0):
        return x
    return (1.0 + math.sin(math.pi * (x - 0.5))) / 2.0


def flat_width_at(step: int, total_steps: int, d_max: float, schedule: str) -> float:
    """``D_n = D_max·s(n/N)`` after ``n = step`` of ``N = total_steps`` optimiser steps (constant after N)."""
    return float(d_max) * schedule_fraction(step / total_steps, schedule)


def gradr_center(alpha: float, target_sparsity: float) -> float:
    """Centre of Grad R's Laplace prior, ``μ_c = ln(2(1 − s_target))/α``: the prior puts mass ``s_target``
    on ``θ < 0`` (pruned)."""
    return math.log(2.0 * (1.0 - target_sparsity)) / alpha


@torch.no_grad()
def gradr_prior_step_(theta: Tensor, alpha: float, lr: float, center: float) -> Tensor:
    """In place: ``θ ← θ − α·lr·sign(θ − μ_c)`` (Grad R's prior step, Chen et al. IJCAI 2021). Returns θ."""
    return theta.add_(torch.sign(theta - center), alpha=-(alpha * lr))


# ----------------------------------------------------------------------------------- parametrizations
class WeightReparam(nn.Module):
    """Base of the parametrizations here; ``kind`` names the mapping (one of :data:`KINDS`)."""

    kind = ""

    def right_inverse(self, weight: Tensor) -> Tensor:  # pragma: no cover - overridden
        raise NotImplementedError


class IdentityReparam(WeightReparam):
    """``w = θ`` (dense training with the same state-dict keys as the sparse kinds)."""

    kind = "identity"

    def forward(self, theta: Tensor) -> Tensor:
        return theta

    def right_inverse(self, weight: Tensor) -> Tensor:
        return weight


class SoftThresholdMod(WeightReparam):
    """STDS ``stmod``: ``w = sign(θ)·ReLU(|θ| − D)``, straight-through gradient; ``D`` in the buffer
    ``flat_width`` (Chen et al. ICML 2022)."""

    kind = "stmod"

    def __init__(self, flat_width: float = 0.0, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.register_buffer("flat_width", torch.tensor(float(flat_width), dtype=dtype, device=device))

    def forward(self, theta: Tensor) -> Tensor:
        return soft_threshold_st(theta, self.flat_width)

    def right_inverse(self, weight: Tensor) -> Tensor:
        return inverse_soft_threshold(weight, self.flat_width)

    @torch.no_grad()
    def set_flat_width(self, value: float) -> None:
        self.flat_width.fill_(value)


class SoftThreshold(SoftThresholdMod):
    """``st``: the soft threshold with its true gradient (zero in the flat zone) — STDS's ablation."""

    kind = "st"

    def forward(self, theta: Tensor) -> Tensor:
        return soft_threshold(theta, self.flat_width)


class GradRewiring(WeightReparam):
    """Grad R: ``w = s·ReLU(θ)``, the sign ``s`` fixed from the initial weight (buffer ``sign``, +1 where
    the weight is 0), rewired gradient ``s·∂L/∂w`` (Chen et al. IJCAI 2021)."""

    kind = "gradr"

    def __init__(self, weight: Tensor) -> None:
        super().__init__()
        w = weight.detach()
        self.register_buffer("sign", torch.where(w < 0, -torch.ones_like(w), torch.ones_like(w)))

    def forward(self, theta: Tensor) -> Tensor:
        return gradr_weight(theta, self.sign)

    def right_inverse(self, weight: Tensor) -> Tensor:
        # θ = s·w: |w| where the sign agrees (at registration always), negative (pruned) where it does not
        return weight * self.sign


# ------------------------------------------------------------------------------------------- checks
def _choice(key: str, value: Any, allowed: tuple[str, ...], note: str = "") -> str:
    if isinstance(value, str) and value in allowed:
        return value
    close = difflib.get_close_matches(str(value), list(allowed), n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(key, value, f"one of {list(allowed)}{note}{hint}", where=_WHERE)


def _real(key: str, value: Any, ok: Callable[[float], bool], allowed: str) -> float:
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.detach().reshape(()).item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not ok(float(value)):
        raise ConfigError(key, value, allowed, where=_WHERE)
    return float(value)


def _check_flat_width(key: str, value: Any) -> float:
    return _real(key, value, lambda v: math.isfinite(v) and v >= 0,
                 "a finite number >= 0 (STDS's flat width D; 1-5 for CIFAR-10 in the paper)")


def _check_alpha(value: Any) -> float:
    if value is None:
        raise ConfigError("alpha", None, f"a finite number > 0: Grad R needs the prior's α ({DEFAULT_ALPHA} in "
                          "the paper)", where=_WHERE)
    return _real("alpha", value, lambda v: math.isfinite(v) and v > 0,
                 f"a finite number > 0 (Grad R's prior α; {DEFAULT_ALPHA} in the paper)")


def _check_target(value: Any) -> float:
    return _real("target_sparsity", value, lambda v: 0 < v < 1,
                 "a number in (0, 1): the share of Grad R's weights the prior pushes to zero")


def check_reparam_settings(kind: str, flat_width: float = 0.0, schedule: str = "none",
                           alpha: float | None = None, target_sparsity: float | None = None) -> None:
    """Check a reparameterisation's settings together (what a notebook's parameters give); raises
    :class:`ConfigError` naming the value and what is allowed. ``flat_width`` and ``schedule`` matter for
    ``stmod``/``st``, ``alpha`` and ``target_sparsity`` for ``gradr`` (both required there)."""
    _choice("kind", kind, KINDS)
    _check_flat_width("flat_width", flat_width)
    _choice("schedule", schedule, SCHEDULES)
    if kind == "gradr":
        _check_alpha(alpha)
        if target_sparsity is None:
            raise ConfigError("target_sparsity", None, "a number in (0, 1): Grad R's prior needs it",
                              where=_WHERE)
        _check_target(target_sparsity)


# ---------------------------------------------------------------------------------------- selection
def _is_prunable(module: nn.Module) -> bool:
    return isinstance(module, PRUNABLE_TYPES) and not isinstance(module, nn.modules.lazy.LazyModuleMixin)


def _select(model: nn.Module, layers: LayerSelector) -> list[tuple[str, nn.Module]]:
    candidates = [(n, m) for n, m in model.named_modules() if _is_prunable(m)]
    if layers is None and callable(getattr(model, "prunable_layers", None)):
        layers = list(model.prunable_layers())  # the model says which layers its paper prunes
    if layers is None:
        chosen = candidates
    elif callable(layers):
        chosen = [(n, m) for n, m in candidates if layers(n, m)]
    elif isinstance(layers, Iterable) and not isinstance(layers, (str, bytes)):
        by_name = dict(candidates)
        chosen = []
        for item in layers:
            name = item[0] if isinstance(item, tuple) and len(item) == 2 else item
            if name not in by_name:
                close = difflib.get_close_matches(str(name), list(by_name), n=1, cutoff=0.5)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError("layers", name, f"the name of a Conv1d/2d/3d or Linear layer of the model{hint}",
                                  where=_WHERE)
            chosen.append((name, by_name[name]))
    else:
        raise ConfigError("layers", layers, "None (every Conv*d / Linear), a predicate (name, module) -> bool "
                          "or a list of layer names", where=_WHERE)
    if not chosen:
        raise ConfigError("layers", layers, "a selection with at least one Conv1d/2d/3d or Linear layer",
                          where=_WHERE)
    return chosen


def _reparam_of(module: nn.Module) -> WeightReparam | None:
    if not parametrize.is_parametrized(module, "weight"):
        return None
    found = [p for p in module.parametrizations.weight if isinstance(p, WeightReparam)]
    return found[0] if found else None


def reparam_layers(model: nn.Module) -> list[tuple[str, nn.Module, WeightReparam]]:
    """``(name, layer, parametrization)`` of every layer of ``model`` whose weight carries one of ours."""
    out = []
    for name, module in model.named_modules():
        p = _reparam_of(module)
        if p is not None:
            out.append((name, module, p))
    return out


# ------------------------------------------------------------------------------------- apply / remove
def apply_reparam(model: nn.Module, kind: str, *, flat_width: float = 0.0,
                  layers: LayerSelector = None) -> list[tuple[str, nn.Module]]:
    """Register the ``kind`` parametrization on the weight of every selected layer of ``model``.

    Args:
        kind: ``identity``, ``stmod``, ``st`` or ``gradr``.
        flat_width: the starting ``D`` of ``stmod``/``st`` (0 for the sine and linear schedules, ``D_max``
            without a schedule); ignored by the other kinds.
        layers: None (the model's ``prunable_layers()`` when it has that method — STDS's CIFAR-10 network:
            every conv and FC, SEW-ResNet: every conv, not the final FC —, else every ``nn.Conv1d/2d/3d``
            and ``nn.Linear``), a predicate ``(name, module) -> bool`` over those, or a list of their names
            (or of ``(name, module)`` pairs).

    The effective weight right after the call equals the layer's weight (see the module docstring).
    Returns the ``(name, layer)`` pairs reparameterised. A weight that is already parametrized is refused.
    """
    kind = _choice("kind", kind, KINDS)
    d0 = _check_flat_width("flat_width", flat_width)
    chosen = _select(model, layers)
    for name, module in chosen:
        if parametrize.is_parametrized(module, "weight"):
            raise ConfigError("layers", name, "layers whose weight is not parametrized yet (call "
                              "remove_reparam first to change the reparameterisation)", where=_WHERE)
    for _, module in chosen:
        w = module.weight
        if kind == "identity":
            p: WeightReparam = IdentityReparam()
        elif kind == "gradr":
            p = GradRewiring(w)
        else:
            cls = SoftThresholdMod if kind == "stmod" else SoftThreshold
            p = cls(d0, dtype=w.dtype, device=w.device)
        parametrize.register_parametrization(module, "weight", p)
    return chosen


def remove_reparam(model: nn.Module) -> list[str]:
    """Bake the effective weights in (``leave_parametrized=True``) and drop our parametrizations; returns
    the names of the layers changed. Their weights are plain parameters again (``layer.weight``)."""
    names = []
    for name, module, _ in reparam_layers(model):
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        names.append(name)
    return names


# ------------------------------------------------------------------------------------------- reports
def _report_layers(model: nn.Module, layers: LayerSelector) -> list[tuple[str, nn.Module]]:
    if layers is None:
        found = [(n, m) for n, m, _ in reparam_layers(model)]
        if found:
            return found
    return _select(model, layers)


@torch.no_grad()
def sparsity_report(model: nn.Module, layers: LayerSelector = None) -> dict[str, Any]:
    """Exact zeros of the effective weights of the prunable layers.

    ``layers``: as :func:`apply_reparam`'s; None means the reparameterised layers, or, when the model has
    none, what :func:`apply_reparam` would choose (``prunable_layers()`` or every ``Conv*d``/``Linear``). Returns ``{"layers": {name: {"zeros", "total",
    "sparsity"}}, "zeros", "total", "sparsity", "connectivity"}`` (connectivity = 1 − sparsity).
    """
    per_layer = {}
    zeros = total = 0
    for name, module in _report_layers(model, layers):
        w = module.weight
        z, n = int((w == 0).sum()), w.numel()
        per_layer[name] = {"zeros": z, "total": n, "sparsity": z / n if n else 0.0}
        zeros += z
        total += n
    sparsity = zeros / total if total else 0.0
    return {"layers": per_layer, "zeros": zeros, "total": total, "sparsity": sparsity,
            "connectivity": 1.0 - sparsity}


@torch.no_grad()
def spine_states(model: nn.Module) -> dict[str, dict[str, Tensor]]:
    """``{name: {"theta": θ, "weight": w}}`` (detached copies on the CPU) of every reparameterised layer:
    the data of STDS's histograms of spine states and effective weights."""
    return {name: {"theta": module.parametrizations.weight.original.detach().cpu().clone(),
                   "weight": module.weight.detach().cpu().clone()}
            for name, module, _ in reparam_layers(model)}


# ------------------------------------------------------------------------------------------- callbacks
def _targets(target: nn.Module | Iterable[Any], kinds: tuple[str, ...], what: str,
             where: str) -> list[tuple[str, nn.Module, WeightReparam]]:
    """The reparameterised layers of a model, or of a list of layers / ``(name, layer)`` pairs, whose
    kind is in ``kinds``."""
    if isinstance(target, nn.Module):
        found = reparam_layers(target)
    elif isinstance(target, Iterable) and not isinstance(target, (str, bytes)):
        found = []
        for i, item in enumerate(target):
            name, module = item if isinstance(item, tuple) else (str(i), item)
            p = _reparam_of(module) if isinstance(module, nn.Module) else None
            if p is not None:
                found.append((name, module, p))
    else:
        raise ConfigError("layers", type(target).__name__, "a model or a list of reparameterised layers "
                          "(what apply_reparam returns)", where=where)
    found = [f for f in found if f[2].kind in kinds]
    if not found:
        raise ConfigError("layers", type(target).__name__, f"a model or layers reparameterised with {what} "
                          "(apply_reparam first)", where=where)
    return found


def _sparsity_of(layers: list[tuple[str, nn.Module, WeightReparam]]) -> float:
    zeros = total = 0
    with torch.no_grad():
        for _, module, _ in layers:
            w = module.weight
            zeros += int((w == 0).sum())
            total += w.numel()
    return zeros / total if total else 0.0


class FlatWidthSchedule(Callback):
    """Move ``D`` of every ``stmod``/``st`` layer along ``D_n = D_max·s(n/N)`` after each optimiser step.

    Args:
        target: the model (all its ``stmod``/``st`` layers) or the layers (:func:`apply_reparam`'s result).
        d_max: ``D_max`` (≥ 0).
        schedule: ``sine`` (STDS's default), ``linear`` or ``none`` (constant ``D_max``).
        total_steps: ``N``; None takes the trainer's ``total_steps`` (iterations per epoch × epochs) at fit
            start.

    At fit start ``D`` is set to ``D_0`` (so build the layers with ``flat_width = D_0`` —
    :func:`sparsify` does — for ``θ`` to start at the initial weight); a resumed run gets the step and ``D``
    from the checkpoint (:meth:`state_dict`). Each epoch's history record gets ``flat_width`` and
    ``sparsity`` (exact zeros among these layers' weights). Usable without a trainer: :meth:`set_step`.
    """

    def __init__(self, target: nn.Module | Iterable[Any], d_max: float, schedule: str = "sine",
                 total_steps: int | None = None) -> None:
        where = "FlatWidthSchedule"
        self.d_max = _check_flat_width("d_max", d_max)
        self.schedule = _choice("schedule", schedule, SCHEDULES)
        self.total_steps = check_positive_int("total_steps", total_steps, allow_none=True, where=where)
        self._given_total = self.total_steps
        self.layers = _targets(target, ("stmod", "st"), "stmod or st", where)
        self.step = 0
        self.flat_width = self.d_max * schedule_fraction(0.0, self.schedule)

    def value_at(self, step: int) -> float:
        """``D`` after ``step`` optimiser steps."""
        if self.total_steps is None:
            raise ConfigError("total_steps", None, "the number of optimiser steps N (given here, or set by "
                              "the Trainer at fit start)", where="FlatWidthSchedule")
        return flat_width_at(step, self.total_steps, self.d_max, self.schedule)

    def _write(self) -> None:
        for _, _, p in self.layers:
            p.set_flat_width(self.flat_width)

    def set_step(self, step: int) -> float:
        """Set every layer's ``D`` to its value after ``step`` optimiser steps; returns it."""
        self.step = int(step)
        self.flat_width = self.value_at(self.step)
        self._write()
        return self.flat_width

    def on_fit_start(self, trainer: Any) -> None:
        total = self._given_total if self._given_total is not None else trainer.total_steps
        self.total_steps = check_positive_int("total_steps", total, where="FlatWidthSchedule")
        self.set_step(0)

    def on_step_end(self, trainer: Any) -> None:
        self.set_step(trainer.global_step)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        logs["flat_width"] = self.flat_width
        logs["sparsity"] = _sparsity_of(self.layers)

    def state_dict(self) -> dict[str, Any]:
        return {"d_max": self.d_max, "schedule": self.schedule, "total_steps": self.total_steps,
                "step": self.step, "flat_width": self.flat_width}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.flat_width = float(state["flat_width"])
        if state.get("total_steps") is not None:
            self.total_steps = int(state["total_steps"])
        self._write()


class GradRPrior(Callback):
    """Grad R's Laplace-prior step ``θ ← θ − α·lr·sign(θ − μ_c)`` on every ``gradr`` layer after each
    optimiser step, ``μ_c = ln(2(1 − target_sparsity))/α`` (Chen et al. IJCAI 2021).

    Args:
        alpha: the prior's α (> 0; :data:`DEFAULT_ALPHA` = 1e-3 in the paper).
        lr: the step's learning rate; None uses the current ``lr`` of the optimiser's parameter group that
            holds each ``θ`` (so it follows an LR schedule).
        target_sparsity: in (0, 1).
        layers: the model or layers (:func:`apply_reparam`'s result); None: the trainer's model's ``gradr``
            layers, found at fit start.

    Under CUDA AMP a step the GradScaler skipped (non-finite gradients) gets no prior step either, as in
    the authors' optimiser. That optimiser (Gradient-Rewiring's ``gradrewire.py``) scaled the prior step by
    Adam's bias-corrected step ``lr/(1 − β₁ᵗ)``, which differs from ``lr`` only in the first few hundred
    steps; here it is ``lr`` as the paper's update rule writes it. Each epoch's history record gets ``sparsity`` of these layers.
    """

    def __init__(self, alpha: float | None, lr: float | None, target_sparsity: float | None,
                 layers: nn.Module | Iterable[Any] | None = None) -> None:
        self.alpha = _check_alpha(alpha)
        self.lr = None if lr is None else _real("lr", lr, lambda v: math.isfinite(v) and v >= 0,
                                                "None (the optimiser's lr) or a finite number >= 0")
        if target_sparsity is None:
            raise ConfigError("target_sparsity", None, "a number in (0, 1): Grad R's prior needs it",
                              where="GradRPrior")
        self.target_sparsity = _check_target(target_sparsity)
        self.center = gradr_center(self.alpha, self.target_sparsity)
        self.layers = None if layers is None else _targets(layers, ("gradr",), "gradr", "GradRPrior")
        self.steps = 0
        self._scale: float | None = None

    def on_fit_start(self, trainer: Any) -> None:
        if self.layers is None:
            self.layers = _targets(trainer.model, ("gradr",), "gradr", "GradRPrior")

    def _thetas(self) -> list[Tensor]:
        return [module.parametrizations.weight.original for _, module, _ in self.layers]

    def _lr_of(self, optimizer: torch.optim.Optimizer | None) -> dict[int, float]:
        if self.lr is not None:
            return {id(t): self.lr for t in self._thetas()}
        lrs = {}
        for group in optimizer.param_groups if optimizer is not None else ():
            for p in group["params"]:
                lrs[id(p)] = float(group["lr"])
        return lrs

    def apply(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        """One prior step on every ``θ`` (those the optimiser does not hold, with ``lr=None``, are left)."""
        if self.layers is None:
            raise ConfigError("layers", None, "the gradr layers (given, or found at fit start)", where="GradRPrior")
        lrs = self._lr_of(optimizer)
        for theta in self._thetas():
            lr = lrs.get(id(theta))
            if lr:
                gradr_prior_step_(theta.data, self.alpha, lr, self.center)
        self.steps += 1

    def on_after_backward(self, trainer: Any) -> None:
        scaler = getattr(trainer, "scaler", None)
        self._scale = float(scaler.get_scale()) if scaler is not None else None

    def on_step_end(self, trainer: Any) -> None:
        scaler = getattr(trainer, "scaler", None)
        if scaler is not None and self._scale is not None and float(scaler.get_scale()) < self._scale:
            return  # the GradScaler found inf/NaN gradients and skipped the optimiser step
        self.apply(trainer.optimizer)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        logs["sparsity"] = _sparsity_of(self.layers)

    def state_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "lr": self.lr, "target_sparsity": self.target_sparsity,
                "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state["steps"])


# --------------------------------------------------------------------------------------------- one call
def sparsify(model: nn.Module, kind: str, *, flat_width: float = 0.0, schedule: str = "none",
             alpha: float | None = None, target_sparsity: float | None = None, lr: float | None = None,
             total_steps: int | None = None,
             layers: LayerSelector = None) -> tuple[list[tuple[str, nn.Module]], list[Callback]]:
    """Reparameterise ``model`` and build the callbacks its training needs, after checking the settings
    together (:func:`check_reparam_settings`).

    ``stmod``/``st``: the layers start at ``D_0`` of the schedule (so ``θ`` = the initial weight), plus a
    :class:`FlatWidthSchedule` to ``D_max = flat_width``. ``gradr``: a :class:`GradRPrior`. ``identity``:
    no callback. Returns ``(layers, callbacks)``; pass the callbacks to the :class:`~snnkit.train.Trainer`.
    """
    check_reparam_settings(kind, flat_width, schedule, alpha, target_sparsity)
    if kind in ("stmod", "st"):
        d0 = float(flat_width) * schedule_fraction(0.0, schedule)
        chosen = apply_reparam(model, kind, flat_width=d0, layers=layers)
        return chosen, [FlatWidthSchedule(chosen, float(flat_width), schedule, total_steps)]
    chosen = apply_reparam(model, kind, layers=layers)
    if kind == "gradr":
        return chosen, [GradRPrior(alpha, lr, target_sparsity, layers=chosen)]
    return chosen, []
