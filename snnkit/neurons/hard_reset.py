"""IF and LIF neurons in SpikingJelly's form: charge, fire at ``H >= threshold``, hard (or soft) reset.

The STDS and Grad R networks (Chen et al., "State Transition of Dendritic Spines Improves Learning of Sparse
Spiking Neural Networks", ICML 2022; Chen et al., "Pruning of Deep Spiking Neural Networks through Gradient
Rewiring", IJCAI 2021) and SEW-ResNet (Fang et al., "Deep Residual Learning in Spiking Neural Networks",
NeurIPS 2021) use SpikingJelly's ``IFNode`` / ``LIFNode``. One step, from the membrane ``V[t-1]``
(Fang et al., "Incorporating Learnable Membrane Time Constant to Enhance Learning of Spiking Neural Networks",
ICCV 2021, Eq. 1-4)::

    IF:                       H[t] = V[t-1] + X[t]
    LIF, decay_input=True:    H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) / tau
    LIF, decay_input=False:   H[t] = V[t-1] - (V[t-1] - V_reset) / tau + X[t]
    S[t] = Heaviside(H[t] - threshold)      with Heaviside(0) = 1: fires at H >= threshold
    hard reset (v_reset a float):  V[t] = H[t]·(1 - S[t]) + V_reset·S[t]
    soft reset (v_reset None):     V[t] = H[t] - threshold·S[t]      (V_reset counts as 0 in the charge)

``S`` in the reset is detached when ``detach_reset`` (the STDS setting). The backward pass of the Heaviside
is the surrogate of ``spike_fn`` (:mod:`snnkit.neurons.surrogate`; STDS uses ``ATan(alpha=2)``).

:func:`if_multistep` and :func:`lif_hr_multistep` run ``T`` steps with a fused autograd function: the
forward loop writes into preallocated buffers without building a graph and keeps only the charged membranes
``H`` (one tensor ``[T, ...]``: the spikes are ``H >= threshold`` and the surrogate needs ``H``); the backward
pass is the exact BPTT of the equations above, a reverse linear recurrence over ``dL/dH[t]``. Half-precision
input (bf16 / fp16, e.g. under ``torch.autocast``) is charged in float32, as SpikingJelly's multi-step kernels
do with a float32 membrane (its modules create the membrane in the input's dtype, so on CPU they integrate
bf16 input in bf16); the spikes come back in the input's dtype. :func:`if_multistep_reference` / :func:`lif_hr_multistep_reference` are the
plain loops that autograd differentiates; the fused path is tested against them.

As in :mod:`snnkit.neurons.functional`, the functions are pure math and check nothing; :class:`IFNode` and
:class:`LIFNode` validate their arguments once, at construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from snnkit.errors import ConfigError, check_positive_number
from snnkit.neurons import buffers as _buffers
from snnkit.neurons import surrogate as _surrogate
from snnkit.neurons.surrogate import SpikeFunction

__all__ = [
    "if_multistep",
    "lif_hr_multistep",
    "if_multistep_reference",
    "lif_hr_multistep_reference",
    "IFNode",
    "LIFNode",
]

SpikeFn = Callable[[Tensor], Tensor]

# charge kinds: "if", "lif" (decay_input=True), "lif_nodecay" (decay_input=False)


def _state_dtype(x: Tensor, v0: Tensor | None) -> torch.dtype:
    """Membrane dtype: at least float32 (half-precision input is charged in float32)."""
    dtype = torch.promote_types(x.dtype, torch.float32)
    return dtype if v0 is None else torch.promote_types(dtype, v0.dtype)


def _charge(kind: str, v: Tensor, x: Tensor, tau: float, v_reset: float) -> Tensor:
    """``H[t]`` from ``V[t-1]`` and ``X[t]`` (SpikingJelly's order of operations)."""
    if kind == "if":
        return v + x
    if kind == "lif":
        return v + (x - (v - v_reset)) / tau
    return v - (v - v_reset) / tau + x


def _fire(spike_fn: SpikeFn, u: Tensor) -> Tensor:
    """``Heaviside(u)`` with Heaviside(0) = 1 forward, ``spike_fn``'s surrogate backward.

    snnkit's spike functions fire at ``u > 0``; the detached ``u == 0`` term moves the step's value at 0 to 1
    without touching the gradient. Other callables are used as they are (they define their own step).
    """
    if isinstance(spike_fn, SpikeFunction):
        return spike_fn(u) + (u == 0).to(u.dtype)
    return spike_fn(u)


def _reference(
    kind: str, x: Tensor, v0: Tensor | None, tau: float, threshold: float, v_reset: float | None,
    spike_fn: SpikeFn, detach_reset: bool,
) -> tuple[Tensor, Tensor]:
    dtype = _state_dtype(x, v0)
    v = torch.zeros(x.shape[1:], dtype=dtype, device=x.device) if v0 is None else v0.to(dtype)
    charge_reset = 0.0 if v_reset is None else v_reset
    spikes = []
    for t in range(x.shape[0]):
        h = _charge(kind, v, x[t].to(dtype), tau, charge_reset)
        s = _fire(spike_fn, h - threshold)
        r = s.detach() if detach_reset else s
        v = h - threshold * r if v_reset is None else h * (1 - r) + v_reset * r
        spikes.append(s.to(x.dtype))
    if not spikes:
        return torch.empty_like(x), v
    return torch.stack(spikes), v


def if_multistep_reference(
    x: Tensor, v0: Tensor | None, threshold: float, v_reset: float | None, spike_fn: SpikeFn,
    detach_reset: bool = True,
) -> tuple[Tensor, Tensor]:
    """IF over ``x`` ``[T, ...]`` as a plain loop differentiated by autograd; ``(spikes, v_last)``.

    The ground truth :func:`if_multistep` is tested against; works with any spike callable.
    """
    return _reference("if", x, v0, 1.0, threshold, v_reset, spike_fn, detach_reset)


def lif_hr_multistep_reference(
    x: Tensor, v0: Tensor | None, tau: float, threshold: float, v_reset: float | None, spike_fn: SpikeFn,
    decay_input: bool = True, detach_reset: bool = True,
) -> tuple[Tensor, Tensor]:
    """LIF over ``x`` ``[T, ...]`` as a plain loop differentiated by autograd; ``(spikes, v_last)``."""
    kind = "lif" if decay_input else "lif_nodecay"
    return _reference(kind, x, v0, tau, threshold, v_reset, spike_fn, detach_reset)


def if_multistep(
    x: Tensor, v0: Tensor | None, threshold: float, v_reset: float | None, spike_fn: SpikeFn,
    detach_reset: bool = True,
) -> tuple[Tensor, Tensor]:
    """Integrate-and-fire over time: ``x`` ``[T, ...]``; returns ``(spikes [T, ...], v_last)``.

    ``v0`` (shape ``x.shape[1:]``, ``None`` = zeros) is the membrane before the first step; ``v_reset`` a
    float is a hard reset to it, ``None`` a soft (subtract ``threshold``) reset. Spikes have ``x``'s dtype,
    ``v_last`` the membrane's (at least float32). With a spike function of :mod:`snnkit.neurons.surrogate`
    this is the fused kernel; other callables run :func:`if_multistep_reference`.
    """
    if not isinstance(spike_fn, SpikeFunction) or x.shape[0] == 0:
        return if_multistep_reference(x, v0, threshold, v_reset, spike_fn, detach_reset)
    return _FusedNode.apply(x, v0, "if", 1.0, float(threshold), v_reset, detach_reset, spike_fn)


def lif_hr_multistep(
    x: Tensor, v0: Tensor | None, tau: float, threshold: float, v_reset: float | None, spike_fn: SpikeFn,
    decay_input: bool = True, detach_reset: bool = True,
) -> tuple[Tensor, Tensor]:
    """Leaky integrate-and-fire (SpikingJelly's ``LIFNode``) over time; as :func:`if_multistep`, with the
    membrane time constant ``tau`` (> 1) and ``decay_input`` choosing the charge equation."""
    if not isinstance(spike_fn, SpikeFunction) or x.shape[0] == 0:
        return lif_hr_multistep_reference(x, v0, tau, threshold, v_reset, spike_fn, decay_input, detach_reset)
    kind = "lif" if decay_input else "lif_nodecay"
    return _FusedNode.apply(x, v0, kind, float(tau), float(threshold), v_reset, detach_reset, spike_fn)


class _FusedNode(torch.autograd.Function):
    """Multi-step IF / LIF with hard or soft reset and a hand-written BPTT backward.

    Backward, with ``a = ∂H[t]/∂V[t-1]`` (1 for IF, 1 - 1/tau for LIF), ``b = ∂H[t]/∂X[t]`` (1/tau for LIF
    with decay_input, else 1), ``σ'`` the surrogate at ``H[t] - threshold`` and ``k[t] = ∂V[t]/∂H[t]``:
    ``k = 1 - S`` (hard) or ``1`` (soft), plus ``(V_reset - H)·σ'`` (hard) or ``-threshold·σ'`` (soft) when
    the reset is not detached. Then ``g_H[t] = g_S[t]·σ' + k[t]·g_V[t]``, ``g_V[t-1] = a·g_H[t]``
    (``g_V[T-1]`` is the gradient of ``v_last``), ``g_X[t] = b·g_H[t]`` and ``g_V0 = a·g_H[0]``.
    """

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, v0: Tensor | None, kind: str, tau: float, threshold: float,
        v_reset: float | None, detach_reset: bool, spike_fn: SpikeFunction,
    ) -> tuple[Tensor, Tensor]:
        ctx.set_materialize_grads(False)
        dtype = _state_dtype(x, v0)
        steps = x.shape[0]
        h_all = _buffers.empty(x.shape, dtype, x.device)
        spk = _buffers.output(x.shape, x.dtype, x.device)  # the caller's, not saved: not pooled (see buffers.output)
        v = torch.zeros(x.shape[1:], dtype=dtype, device=x.device) if v0 is None else v0.to(dtype, copy=True)
        charge_reset = 0.0 if v_reset is None else v_reset
        for t in range(steps):
            h = h_all[t]
            if kind == "if":
                torch.add(v, x[t], out=h)
            elif kind == "lif":  # v + (x - (v - v_reset)) / tau
                torch.sub(v, charge_reset, out=h)
                torch.sub(x[t], h, out=h)
                h.div_(tau).add_(v)
            else:  # v - (v - v_reset) / tau + x
                torch.sub(v, charge_reset, out=h)
                h.div_(tau)
                torch.sub(v, h, out=h)
                h.add_(x[t])
            fired = torch.ge(h, threshold)
            spk[t].copy_(fired)
            v.copy_(h)
            if v_reset is None:
                v.sub_(fired.to(dtype), alpha=threshold)  # h - threshold·S (threshold·S exact)
            else:
                v.masked_fill_(fired, v_reset)
        ctx.kind, ctx.tau, ctx.threshold, ctx.v_reset = kind, tau, threshold, v_reset
        ctx.detach_reset, ctx.spike_fn = detach_reset, spike_fn
        ctx.x_dtype = x.dtype
        ctx.v0_dtype = None if v0 is None else v0.dtype
        ctx.save_for_backward(h_all)
        return spk, v

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_spk: Tensor | None, g_v: Tensor | None) -> tuple[Tensor | None, ...]:
        (h_all,) = ctx.saved_tensors
        none = (None,) * 6
        need_x, need_v0 = ctx.needs_input_grad[:2]
        if (g_spk is None and g_v is None) or not (need_x or need_v0):
            return (None, None, *none)
        kind, tau, threshold, v_reset = ctx.kind, ctx.tau, ctx.threshold, ctx.v_reset
        a = 1.0 if kind == "if" else 1.0 - 1.0 / tau
        sg = ctx.spike_fn.grad(h_all - threshold)
        # acc[t] starts as the gradient reaching H[t] through S[t], and becomes g_H[t] in place
        acc = sg * g_spk if g_spk is not None else torch.zeros_like(h_all)
        # k[t] = ∂V[t]/∂H[t] (the python float 1.0 for a soft, detached reset)
        if v_reset is None:
            k: Tensor | float = 1.0 if ctx.detach_reset else sg.mul_(-threshold).add_(1)
        else:
            k = torch.lt(h_all, threshold).to(h_all.dtype)
            if not ctx.detach_reset:
                k.add_(sg.mul_(torch.neg(h_all).add_(v_reset)))
        del sg
        if g_v is not None:
            acc[-1].add_(g_v if isinstance(k, float) else g_v * k[-1])
        for t in range(h_all.shape[0] - 2, -1, -1):  # g_H[t] += k[t]·a·g_H[t+1]
            if isinstance(k, float):
                acc[t].add_(acc[t + 1], alpha=a)
            else:
                acc[t].addcmul_(k[t], acc[t + 1], value=a)
        grad_v0 = (acc[0] * a).to(ctx.v0_dtype) if need_v0 and ctx.v0_dtype is not None else None
        grad_x = None
        if need_x:
            if kind == "lif":
                acc.div_(tau)
            grad_x = acc.to(ctx.x_dtype)
        return (grad_x, grad_v0, *none)


# --- modules ---------------------------------------------------------------------------------------------

def _finite_real(key: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ConfigError(key, value, "a finite real number", where=where)
    return float(value)


class IFNode(nn.Module):
    """Integrate-and-fire neurons, multi-step and time-first (SpikingJelly's ``IFNode``, ``step_mode="m"``).

    Args:
        threshold: firing threshold (> 0); a neuron fires when its charged membrane reaches it (``H >= threshold``).
        v_reset: hard reset to this membrane value after a spike; ``None`` = soft reset (subtract ``threshold``).
        surrogate: a surrogate's name (``"atan"``, ``"fast_sigmoid"``) or a spike function object of
            :mod:`snnkit.neurons.surrogate` (e.g. ``surrogate.ATan(alpha=2.0)``).
        alpha: the arctan surrogate's α when ``surrogate="atan"`` (STDS: 2).
        detach_reset: no gradient through the spike in the reset (STDS: True).

    No state survives between calls: every ``forward`` starts from the resting membrane (``v_reset``, or 0 for
    a soft reset, as SpikingJelly's ``reset_net`` leaves it), so no ``reset_net`` is needed. Arguments are
    checked here, once; :func:`if_multistep` checks nothing.
    """

    _where = "IFNode"

    def __init__(
        self, threshold: float = 1.0, v_reset: float | None = 0.0,
        surrogate: str | SpikeFunction = "atan", alpha: float = 2.0, detach_reset: bool = True,
    ):
        super().__init__()
        where = self._where
        self.threshold = check_positive_number("threshold", threshold, where=where)
        self.v_reset = None if v_reset is None else _finite_real("v_reset", v_reset, where)
        alpha = check_positive_number("alpha", alpha, where=where)
        if not isinstance(detach_reset, bool):
            raise ConfigError("detach_reset", detach_reset, "True or False", where=where)
        self.detach_reset = detach_reset
        if isinstance(surrogate, SpikeFunction):
            self.spike_fn = surrogate
        elif isinstance(surrogate, str) and surrogate in _surrogate.NAMES:
            if surrogate != "atan" and alpha != 2.0:
                raise ConfigError("alpha", alpha, "2.0 unless surrogate='atan' (alpha is the arctan surrogate's "
                                  "parameter; pass a spike function object for another surrogate's)", where=where)
            self.spike_fn = _surrogate.get("atan", alpha=alpha) if surrogate == "atan" else _surrogate.get(surrogate)
        else:
            raise ConfigError("surrogate", surrogate, f"one of {list(_surrogate.NAMES)} or a spike function "
                              "object of snnkit.neurons.surrogate (e.g. surrogate.ATan(alpha=2.0))", where=where)

    def _v0(self, x: Tensor) -> Tensor | None:
        if not self.v_reset:  # None (soft reset) or 0.0: the zero membrane the functions start from
            return None
        return torch.full(x.shape[1:], self.v_reset, dtype=torch.promote_types(x.dtype, torch.float32),
                          device=x.device)

    def _check_time_first(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.dim() < 2 or not x.is_floating_point():
            what = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ConfigError("x.shape", what, "a floating-point time-first tensor [T, B, ...] (>= 2 dims)",
                              where=self._where)

    def forward_with_state(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(spikes [T, B, ...], v_last [B, ...])``. Does not run forward hooks."""
        self._check_time_first(x)
        return if_multistep(x, self._v0(x), self.threshold, self.v_reset, self.spike_fn, self.detach_reset)

    def forward(self, x: Tensor) -> Tensor:
        """Spikes ``[T, B, ...]`` (dtype of ``x``) for the input ``x`` ``[T, B, ...]``."""
        return self.forward_with_state(x)[0]

    def extra_repr(self) -> str:
        return (f"threshold={self.threshold}, v_reset={self.v_reset}, surrogate={self.spike_fn!r}, "
                f"detach_reset={self.detach_reset}")


class LIFNode(IFNode):
    """Leaky integrate-and-fire neurons (SpikingJelly's ``LIFNode``, ``step_mode="m"``): :class:`IFNode` with
    the membrane time constant ``tau`` (> 1, as SpikingJelly requires; STDS: 2) and ``decay_input``
    (True: ``H = V + (X - (V - V_reset))/tau``, the 1/tau input scaling of STDS; False: the input is not decayed).
    """

    _where = "LIFNode"

    def __init__(
        self, tau: float = 2.0, decay_input: bool = True, threshold: float = 1.0, v_reset: float | None = 0.0,
        surrogate: str | SpikeFunction = "atan", alpha: float = 2.0, detach_reset: bool = True,
    ):
        super().__init__(threshold, v_reset, surrogate, alpha, detach_reset)
        tau_f = _finite_real("tau", tau, self._where)
        if tau_f <= 1:
            raise ConfigError("tau", tau, "a finite real number > 1", where=self._where)
        if not isinstance(decay_input, bool):
            raise ConfigError("decay_input", decay_input, "True or False", where=self._where)
        self.tau = tau_f
        self.decay_input = decay_input

    def forward_with_state(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(spikes [T, B, ...], v_last [B, ...])``. Does not run forward hooks."""
        self._check_time_first(x)
        return lif_hr_multistep(x, self._v0(x), self.tau, self.threshold, self.v_reset, self.spike_fn,
                                self.decay_input, self.detach_reset)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, decay_input={self.decay_input}, " + super().extra_repr()
