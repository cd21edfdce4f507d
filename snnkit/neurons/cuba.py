"""Current-based (synaptic-current) LIF: a second-order LIF whose input is first filtered into a synaptic current.

One population, time-first input current ``X`` ``[T, B, ...]``. With ``a = clamp(α, 0, 1)``,
``b = clamp(β, 0, 1)`` (``α = exp(-dt/τ_syn)``, ``β = exp(-dt/τ_mem)``), threshold θ, input gain ``g`` and
``H(u) = 1 if u > 0 else 0`` (Heaviside forward, surrogate derivative backward)::

    syn_t = a·syn_{t-1} + X_t
    g     = 1        (input_gain="one", snnTorch's ``Synaptic``)
          = 1 - b    (input_gain="one_minus_beta", the SPSN authors' LIF baseline)

Two reset orders are in use and both are provided (``reset_from``):

``reset_from="previous"`` — snnTorch 1.0.0 ``Synaptic`` (read from its code, ``_base_sub`` / ``_base_zero``
with ``reset_delay=True``): the reset signal comes from the PREVIOUS membrane and is applied after leak and
input of the current step; the spike is read from the reset membrane::

    r_t = H(U_{t-1} - θ)                      (detached when detach_reset; snnTorch always detaches)
    P_t = b·U_{t-1} + g·syn_t
    subtract:  U_t = P_t - r_t·θ
    zero:      U_t = P_t - r_t·P_t            (the whole new membrane, input included, is zeroed)
    S_t = H(U_t - θ)

Note that snnTorch's ``Synaptic`` zeroes ``b·U + syn`` while its ``Leaky`` (and :mod:`snnkit.neurons.lif`)
zeroes only the old membrane before leak and input; the docstring of ``Synaptic`` writes the former. The
synaptic current is never reset (``Synaptic._base_zero`` subtracts ``0·r``).

``reset_from="current"`` — the SPSN authors' LIF (Yarga & Wood, arXiv 2306.12666, Eqs. 3, 5, 6; their
repository NECOTIS/Stochastic-Parallelizable-Spiking-Neuron-SPSN, ``neurons/lif.py``, and the same order in
NECOTIS/Parallelizable-Leaky-Integrate-and-Fire-Neuron ``ParaLIF/lif.py``): the spike is read from the
membrane before reset and resets it in the same step::

    V_t = b·U_{t-1} + g·syn_t
    S_t = H(V_t - θ)
    zero:      U_t = V_t·(1 - S_t)            (the authors' ``mem = mem * (1 - spk.detach())``)
    subtract:  U_t = V_t - S_t·θ
    (S_t inside the reset is detached when detach_reset, as the authors do)

The membrane this module returns is ``U_t`` (after the reset in both orders, as both codes record it), so
with ``reset_from="current"`` a spike cannot be recomputed from the returned membrane. The authors use
θ = 1, τ_syn = τ_mem = 20 ms at dt = 1 ms and the fast-sigmoid surrogate ``1/(100|u| + 1)²``
(``surrogate.FastSigmoid(slope=100)``). ``form="spsn"`` selects (one_minus_beta, current), ``form="snntorch"``
(one, previous); with ``form="snntorch"`` the module equals ``snntorch.Synaptic`` (tested, bit for bit).

Functional core (pure, no checks): :func:`cuba_lif_step` (one step, autograd), :func:`cuba_lif_multistep_reference`
(a Python loop over it: the definition) and :func:`cuba_lif_multistep`, which for the spike functions of
:mod:`snnkit.neurons.surrogate` runs a fused autograd function: the forward loop writes into preallocated
buffers without a graph (the comparison ``U > θ`` replaces ``U - θ > 0``; identical unless the CPU flushes
subnormals to zero), and the backward pass is the exact BPTT of the equations above written as two reverse
linear recurrences (membrane adjoint ``λ_t = G_t + k·λ_{t+1}``, then synaptic adjoint
``μ_t = c_t·λ_t + dL/dsyn_t + a·μ_{t+1} = dL/dX_t``) with vectorised reductions over time for the
gradients with respect to α, β, θ (scalar or per-neuron). :class:`CubaLIF` is the thin module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from snnkit.errors import ConfigError
from snnkit.neurons import surrogate as _surrogate
from snnkit.neurons.functional import RESETS
from snnkit.neurons.parallel import decay
from snnkit.neurons.surrogate import SpikeFunction

__all__ = [
    "CubaLIF",
    "CubaLIFParameters",
    "CUBA_FORMS",
    "INPUT_GAINS",
    "RESET_FROM",
    "cuba_lif_step",
    "cuba_lif_multistep",
    "cuba_lif_multistep_reference",
]

INPUT_GAINS: tuple[str, ...] = ("one", "one_minus_beta")
RESET_FROM: tuple[str, ...] = ("previous", "current")
# form -> (input_gain, reset_from, default surrogate)
CUBA_FORMS: dict[str, tuple[str, str, SpikeFunction]] = {
    "snntorch": ("one", "previous", _surrogate.ATan(alpha=2.0)),
    "spsn": ("one_minus_beta", "current", _surrogate.FastSigmoid(slope=100.0)),
}

Scalar = float | Tensor
SpikeFn = Callable[[Tensor], Tensor]


class CubaLIFParameters(NamedTuple):
    """Parameters of a current-based LIF population (see the module docstring for the equations).

    alpha, beta: synaptic and membrane decay factors (python floats or tensors broadcastable to one time
        step: 0-d or per-neuron ``[N]``, possibly learnable); clamped to [0, 1] in the dynamics.
    threshold: θ (python float or tensor, possibly learnable).
    reset: "subtract" or "zero".
    detach_reset: no gradient through the reset signal.
    input_gain: "one" (snnTorch) or "one_minus_beta" (SPSN authors).
    reset_from: "previous" (snnTorch) or "current" (SPSN authors).
    """

    alpha: Scalar = 0.9
    beta: Scalar = 0.8
    threshold: Scalar = 1.0
    reset: str = "subtract"
    detach_reset: bool = True
    input_gain: str = "one"
    reset_from: str = "previous"


def _as_tensor(value: Scalar, ref: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        return value
    return torch.tensor(float(value), dtype=ref.dtype, device=ref.device)


def cuba_lif_step(
    x: Tensor, syn: Tensor | None, mem: Tensor | None, params: CubaLIFParameters, spike_fn: SpikeFn
) -> tuple[Tensor, Tensor, Tensor]:
    """One step: ``(spk_t, syn_t, mem_t) = cuba_lif_step(x_t, syn_{t-1}, mem_{t-1}, params, spike_fn)``.

    ``None`` states are zeros. ``mem`` is the membrane after reset (``U`` in the module docstring).
    """
    syn = torch.zeros_like(x) if syn is None else syn
    mem = torch.zeros_like(x) if mem is None else mem
    a = _as_tensor(params.alpha, x).clamp(0, 1)
    b = _as_tensor(params.beta, x).clamp(0, 1)
    thr = _as_tensor(params.threshold, x)
    new_syn = a * syn + x
    drive = new_syn if params.input_gain == "one" else (1 - b) * new_syn
    zero = params.reset == "zero"
    if params.reset_from == "previous":
        r = spike_fn(mem - thr)
        if params.detach_reset:
            r = r.detach()
        pre = b * mem + drive
        new_mem = pre - pre * r if zero else pre - r * thr
        return spike_fn(new_mem - thr), new_syn, new_mem
    v = b * mem + drive
    spk = spike_fn(v - thr)
    r = spk.detach() if params.detach_reset else spk
    return spk, new_syn, (v * (1 - r) if zero else v - r * thr)


def cuba_lif_multistep_reference(
    x: Tensor, params: CubaLIFParameters, spike_fn: SpikeFn, syn0: Tensor | None = None, mem0: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """The definition: a Python loop over :func:`cuba_lif_step`, differentiated by autograd.

    Returns ``(spikes, syn, mem)``, each ``[T, ...]``. Works with any ``spike_fn`` callable.
    """
    if x.shape[0] == 0:
        return torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
    syn, mem = syn0, mem0
    out: list[list[Tensor]] = [[], [], []]
    for t in range(x.shape[0]):
        spk, syn, mem = cuba_lif_step(x[t], syn, mem, params, spike_fn)
        for seq, value in zip(out, (spk, syn, mem)):
            seq.append(value)
    spk_all, syn_all, mem_all = (torch.stack(seq) for seq in out)
    return spk_all, syn_all, mem_all


def cuba_lif_multistep(
    x: Tensor, params: CubaLIFParameters, spike_fn: SpikeFn, syn0: Tensor | None = None, mem0: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Run the current-based LIF over ``x`` ``[T, ...]``; returns ``(spikes, syn, mem)``, each ``[T, ...]``.

    ``syn0`` / ``mem0`` (shape ``x.shape[1:]``, default zeros) are the states before the first step. With a
    spike function from :mod:`snnkit.neurons.surrogate` this runs the fused kernel (the numbers of
    :func:`cuba_lif_multistep_reference`, in much less time and memory); other callables use the loop.
    """
    if not isinstance(spike_fn, SpikeFunction) or x.shape[0] == 0:
        return cuba_lif_multistep_reference(x, params, spike_fn, syn0, mem0)
    a = _as_tensor(params.alpha, x).clamp(0, 1)
    b = _as_tensor(params.beta, x).clamp(0, 1)
    thr = _as_tensor(params.threshold, x)
    flags = (params.reset == "zero", params.detach_reset, params.input_gain != "one", params.reset_from == "current")
    return _FusedCubaLIF.apply(x, syn0, mem0, a, b, thr, flags, spike_fn)


def _dot(u: Tensor, v: Tensor, shape: torch.Size) -> Tensor:
    """Σ u·v over everything that ``shape`` (a parameter's shape) does not keep."""
    if len(shape) == 0:
        return torch.dot(u.reshape(-1), v.reshape(-1))
    return (u * v).sum_to_size(shape)


def _dot_prev(u: Tensor, v: Tensor, v0: Tensor | None, shape: torch.Size) -> Tensor:
    """Σ_t u_t·v_{t-1} (with v_{-1} = v0, None meaning zeros), reduced to ``shape``."""
    total = _dot(u[0], v0, shape) if v0 is not None else torch.zeros(shape, dtype=u.dtype, device=u.device)
    if u.shape[0] > 1:
        total = total + _dot(u[1:], v[:-1], shape)
    return total


def _add(total: Tensor | None, part: Tensor) -> Tensor:
    return part if total is None else total + part


class _FusedCubaLIF(torch.autograd.Function):
    """Multi-step current-based LIF with a hand-written BPTT backward (see the module docstring).

    Saved: the synaptic currents (only when a gradient needs them), the membranes, the spikes and, for
    ``reset_from="current"``, the pre-reset membranes V. Notation in the comments: U = membrane after reset
    (``mem``), V = the membrane the spike is read from (U itself for "previous"), r_t = the reset signal
    (S_{t-1} for "previous", S_t for "current"), σ_t = surrogate derivative at V_t - θ.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        syn0: Tensor | None,
        mem0: Tensor | None,
        a: Tensor,
        b: Tensor,
        thr: Tensor,
        flags: tuple[bool, bool, bool, bool],
        spike_fn: SpikeFunction,
    ) -> tuple[Tensor, Tensor, Tensor]:
        ctx.set_materialize_grads(False)
        zero, detach, spsn_gain, current = flags
        dtype = x.dtype
        for t in (a, b, thr, syn0, mem0):
            if t is not None:
                dtype = torch.promote_types(dtype, t.dtype)
        shape, dev = x.shape, x.device
        steps = shape[0]
        syn = torch.empty(shape, dtype=dtype, device=dev)
        prev = torch.zeros(shape[1:], dtype=dtype, device=dev) if syn0 is None else syn0
        for t in range(steps):  # a·syn + x as two roundings (like snnTorch), not a fused multiply-add
            torch.mul(a, prev, out=syn[t])
            syn[t].add_(x[t])
            prev = syn[t]
        gain = 1 - b if spsn_gain else None
        drive = torch.empty(shape[1:], dtype=dtype, device=dev) if spsn_gain else None
        spk = torch.empty(shape, dtype=dtype, device=dev)
        mem = torch.empty(shape, dtype=dtype, device=dev)
        m_prev = torch.zeros(shape[1:], dtype=dtype, device=dev) if mem0 is None else mem0
        pre = torch.empty(shape, dtype=dtype, device=dev) if current else mem
        r0 = None if current else torch.gt(m_prev, thr).to(dtype)
        r = r0
        for t in range(steps):
            v = pre[t]
            torch.mul(b, m_prev, out=v)
            if drive is not None:
                v.add_(torch.mul(gain, syn[t], out=drive))
            else:
                v.add_(syn[t])
            if current:
                s = spk[t]
                torch.gt(v, thr, out=s)
                if zero:  # V - V·S: V·S is exact, so this equals V·(1 - S)
                    torch.addcmul(v, v, s, value=-1, out=mem[t])
                else:
                    torch.addcmul(v, s, thr, value=-1, out=mem[t])
            else:
                if zero:  # P - P·r (snnTorch's mem - mem2·reset)
                    v.addcmul_(v, r, value=-1)
                else:  # r·θ is exact, so this is P - r·θ with one rounding
                    v.addcmul_(r, thr, value=-1)
                r = spk[t]
                torch.gt(v, thr, out=r)
            m_prev = mem[t]
        needs = ctx.needs_input_grad
        keep_syn = needs[3] or (spsn_gain and needs[4]) or (not current and zero and not detach)
        ctx.flags = flags
        ctx.spike_fn = spike_fn
        ctx.has = (syn0 is not None, mem0 is not None)
        ctx.dtypes = tuple(t.dtype if t is not None else None for t in (x, syn0, mem0))
        none = torch.empty(0)
        ctx.save_for_backward(
            syn if keep_syn else none, mem, spk, pre if current else none,
            syn0 if syn0 is not None else none, mem0 if mem0 is not None else none,
            r0 if r0 is not None else none, a, b, thr,
        )
        return spk, syn, mem

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any, g_spk: Tensor | None, g_syn: Tensor | None, g_mem: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        syn, mem, spk, pre, syn0, mem0, r0, a, b, thr = ctx.saved_tensors
        zero, detach, spsn_gain, current = ctx.flags
        has_syn0, has_mem0 = ctx.has
        syn0 = syn0 if has_syn0 else None
        mem0 = mem0 if has_mem0 else None
        need_x, need_s0, need_m0, need_a, need_b, need_thr = ctx.needs_input_grad[:6]
        if g_spk is None and g_syn is None and g_mem is None:
            return (None,) * 8
        sg = ctx.spike_fn.grad
        steps = mem.shape[0]
        gain = 1 - b if spsn_gain else None
        v = pre if current else mem  # the membrane spikes are read from

        def drive_of(leak: Tensor, syn_t: Tensor) -> Tensor:
            """P = b·U_{t-1} + g·syn_t recomputed from its leak term (in place on ``leak``)."""
            return leak.add_(syn_t) if gain is None else leak.addcmul_(gain, syn_t)
        sig = sg(v - thr) if (g_spk is not None or not detach) else None
        grad_thr = None

        # ---- membrane adjoint λ_t = dL/dV_t: λ_t = G_t + k·λ_{t+1}
        acc = None
        if g_spk is not None:
            acc = g_spk * sig
            if need_thr:
                grad_thr = -acc.sum_to_size(thr.shape)  # S_t depends on θ through V_t - θ
        rho = None
        if current:  # ρ_t = ∂U_t/∂V_t; U_t enters V_{t+1} as b·U_t
            if zero:
                rho = 1 - spk
                if not detach:
                    rho.addcmul_(v, sig, value=-1)
            elif not detach:
                rho = 1 - thr * sig
            if g_mem is not None:
                if acc is None:
                    acc = g_mem * rho if rho is not None else g_mem.to(mem.dtype, copy=True)
                else:
                    acc.add_(g_mem) if rho is None else acc.addcmul_(g_mem, rho)
            per_step = rho is not None
            k_tail = b * rho[:-1] if per_step else b
        else:
            if g_mem is not None:
                acc = g_mem.to(mem.dtype, copy=True) if acc is None else acc.add_(g_mem)
            # k_{t+1} = ∂U_{t+1}/∂U_t for t = 0..T-2, with r_{t+1} = S_t and P_{t+1} = b·U_t + g·syn_{t+1}
            per_step = zero or not detach
            if zero:
                k_tail = b * (1 - spk[:-1])
                if not detach:
                    k_tail.addcmul_(sig[:-1], drive_of(b * mem[:-1], syn[1:]), value=-1)
            elif not detach:
                k_tail = b - thr * sig[:-1]
            else:
                k_tail = b
        if acc is None:
            acc = torch.zeros_like(mem)
        for t in range(steps - 2, -1, -1):
            acc[t].addcmul_(k_tail[t] if per_step else k_tail, acc[t + 1])
        del k_tail
        lam = acc

        # ---- gradients that read λ: initial membrane, θ (through resets), β
        grad_m0 = None
        m0 = mem0
        if current:
            if need_m0 and has_mem0:
                grad_m0 = b * lam[0]
            if need_thr and (not detach or not zero):
                # ν_t = dL/dU_t = dL/dmem_t + b·λ_{t+1}; ∂U_t/∂θ = -S_t + θσ_t (subtract) or V_t·σ_t (zero)
                nu = torch.zeros_like(lam) if g_mem is None else g_mem.to(lam.dtype, copy=True)
                if steps > 1:
                    nu[:-1].addcmul_(b, lam[1:])
                if zero:
                    grad_thr = _add(grad_thr, _dot(nu, v * sig, thr.shape))
                else:
                    d_thr = -spk if detach else thr * sig - spk
                    grad_thr = _add(grad_thr, _dot(nu, d_thr, thr.shape))
                del nu
        else:
            prev0 = m0 if m0 is not None else torch.zeros_like(mem[0])
            sig0 = sg(prev0 - thr) if not detach else None
            if need_m0 and has_mem0:  # k_0 from r_0 = H(U_{-1} - θ)
                if zero:
                    k0 = b * (1 - r0)
                    if not detach:
                        k0 = k0 - sig0 * drive_of(b * prev0, syn[0])
                elif not detach:
                    k0 = b - thr * sig0
                else:
                    k0 = b
                grad_m0 = k0 * lam[0]
            if need_thr and not (zero and detach):
                # ∂U_t/∂θ through r_t: -r_t + θσ_{t-1} (subtract), P_t·σ_{t-1} (zero, not detached)
                if zero:
                    part = _dot(lam[0], drive_of(b * prev0, syn[0]) * sig0, thr.shape)
                    if steps > 1:
                        part = part + _dot(lam[1:], drive_of(b * mem[:-1], syn[1:]).mul_(sig[:-1]), thr.shape)
                elif detach:
                    part = -_dot_prev(lam, spk, r0, thr.shape)
                else:
                    part = _dot(lam[0], thr * sig0 - r0, thr.shape)
                    if steps > 1:
                        part = part + _dot(lam[1:], thr * sig[:-1] - spk[:-1], thr.shape)
                grad_thr = _add(grad_thr, part)
            if zero:  # from here on only (1 - r_t)·λ_t is needed: λ_t - λ_t·r_t
                lam[0].addcmul_(lam[0], r0, value=-1)
                if steps > 1:
                    lam[1:].addcmul_(lam[1:], spk[:-1], value=-1)
        grad_b = None
        if need_b:
            # ∂V_t/∂b = U_{t-1} - [syn_t if the gain is 1 - b]; "previous" with zero reset: times (1 - r_t),
            # which λ already carries
            grad_b = _dot_prev(lam, mem, m0, b.shape)
            if spsn_gain:
                grad_b = grad_b - _dot(lam, syn, b.shape)
        if need_thr and grad_thr is None:
            grad_thr = torch.zeros_like(thr)

        # ---- synaptic adjoint μ_t = c_t·λ_t + dL/dsyn_t + a·μ_{t+1} (in λ's buffer); μ = dL/dX
        grad_x = grad_s0 = grad_a = None
        if need_x or need_s0 or need_a:
            mu = lam
            if gain is not None:
                mu.mul_(gain)
            if g_syn is not None:
                mu.add_(g_syn)
            for t in range(steps - 2, -1, -1):
                mu[t].addcmul_(a, mu[t + 1])
            if need_a:
                grad_a = _dot_prev(mu, syn, syn0, a.shape)
            if need_s0 and has_syn0:
                grad_s0 = (a * mu[0]).to(ctx.dtypes[1])
            if need_x:
                grad_x = mu if mu.dtype == ctx.dtypes[0] else mu.to(ctx.dtypes[0])
        if grad_m0 is not None:
            grad_m0 = grad_m0.to(ctx.dtypes[2])
        return grad_x, grad_s0, grad_m0, grad_a, grad_b, grad_thr, None, None


# ------------------------------------------------------------------------------------------------ module

_WHERE = "CubaLIF"


def _value(key: str, value: Any, ok: Callable[[float], bool], allowed: str) -> Tensor:
    """A real number or a 1-D per-neuron sequence/tensor of them, as a tensor (0-d or ``[N]``)."""
    items = value.detach().reshape(-1).tolist() if isinstance(value, Tensor) and value.dim() > 0 else None
    if isinstance(value, Tensor) and value.dim() == 0:
        value = value.item()
    if items is None and isinstance(value, Sequence) and not isinstance(value, str):
        items = list(value)
    if items is not None:
        if not items or not all(
            not isinstance(v, bool) and isinstance(v, Real) and ok(float(v)) for v in items
        ):
            raise ConfigError(key, value, f"{allowed}, or a non-empty sequence of them (one per neuron)",
                              where=_WHERE)
        return torch.tensor([float(v) for v in items], dtype=torch.get_default_dtype())
    if isinstance(value, bool) or not isinstance(value, Real) or not ok(float(value)):
        raise ConfigError(key, value, f"{allowed} (or one per neuron)", where=_WHERE)
    return torch.tensor(float(value), dtype=torch.get_default_dtype())


def _choice(key: str, value: Any, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(key, value, f"one of {list(allowed)}", where=_WHERE)
    return value


def _spike_function(surrogate: Any, default: SpikeFunction) -> SpikeFn:
    """The module's spike function: the form's default for None, a surrogate by name, or a callable."""
    if surrogate is None or isinstance(surrogate, str):
        return default if surrogate is None else _surrogate.get(surrogate)
    if not callable(surrogate):
        raise ConfigError("surrogate", surrogate, "a spike function (e.g. surrogate.FastSigmoid(slope=100.0)), "
                          f"one of {list(_surrogate.NAMES)}, a callable or None", where=_WHERE)
    return surrogate


class CubaLIF(nn.Module):
    """Current-based LIF layer, multi-step and time-first (see the module docstring for the equations).

    Args:
        alpha: synaptic decay α in [0, 1] (a number, or one per neuron).
        beta: membrane decay β in [0, 1] (a number, or one per neuron).
        threshold: θ > 0 (a number, or one per neuron).
        form: "snntorch" (input gain 1, reset from the previous membrane; equals ``snntorch.Synaptic``) or
            "spsn" (input gain 1 - β, reset by the current spike; the SPSN authors' LIF).
        reset: "subtract" or "zero".
        detach_reset: no gradient through the reset signal (default True, as snnTorch and the authors).
        learn_alpha, learn_beta, learn_threshold: make α / β / θ ``nn.Parameter``s (scalar or per neuron, as
            given); α and β are clamped to [0, 1] in the dynamics.
        surrogate: a spike function object (``surrogate.FastSigmoid(slope=100.0)``, ``surrogate.ATan(2.0)``),
            a surrogate's name, or any spike callable; default: the form's own (spsn: fast sigmoid with
            slope 100, the authors'; snntorch: arctan α = 2, snnTorch's default).
        input_gain, reset_from: override the form's choice ("one" / "one_minus_beta", "previous" / "current").

    Use :meth:`from_taus` to give time constants instead of decays. Everything is checked here, once.
    """

    def __init__(
        self,
        alpha: float | Sequence[float] | Tensor = 0.9,
        beta: float | Sequence[float] | Tensor = 0.8,
        threshold: float | Sequence[float] | Tensor = 1.0,
        form: str = "snntorch",
        reset: str = "subtract",
        detach_reset: bool = True,
        learn_alpha: bool = False,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        surrogate: SpikeFunction | str | Callable[[Tensor], Tensor] | None = None,
        input_gain: str | None = None,
        reset_from: str | None = None,
    ):
        super().__init__()
        form = _choice("form", form, tuple(CUBA_FORMS))
        form_gain, form_reset_from, form_surrogate = CUBA_FORMS[form]
        self.form = form
        self.input_gain = form_gain if input_gain is None else _choice("input_gain", input_gain, INPUT_GAINS)
        self.reset_from = form_reset_from if reset_from is None else _choice("reset_from", reset_from, RESET_FROM)
        self.reset = _choice("reset", reset, RESETS)
        for key, flag in (("detach_reset", detach_reset), ("learn_alpha", learn_alpha),
                          ("learn_beta", learn_beta), ("learn_threshold", learn_threshold)):
            if not isinstance(flag, bool):
                raise ConfigError(key, flag, "True or False", where=_WHERE)
        self.detach_reset = detach_reset
        in_unit = "a real number in [0, 1]"
        values = {
            "alpha": (_value("alpha", alpha, lambda v: 0 <= v <= 1, in_unit), learn_alpha),
            "beta": (_value("beta", beta, lambda v: 0 <= v <= 1, in_unit), learn_beta),
            "threshold": (_value("threshold", threshold, lambda v: math.isfinite(v) and v > 0,
                                 "a finite real number > 0"), learn_threshold),
        }
        sizes = {key: int(t.numel()) for key, (t, _) in values.items() if t.dim() == 1}
        if len(set(sizes.values())) > 1:
            raise ConfigError("per-neuron sizes", sizes, "the same number of neurons for α, β and θ",
                              where=_WHERE)
        self.n_neurons: int | None = next(iter(sizes.values()), None)
        for key, (tensor, learn) in values.items():
            if learn:
                setattr(self, key, nn.Parameter(tensor))
            else:
                self.register_buffer(key, tensor)
        self.learn_alpha, self.learn_beta, self.learn_threshold = learn_alpha, learn_beta, learn_threshold
        self.spike_fn = _spike_function(surrogate, form_surrogate)

    @classmethod
    def from_taus(
        cls,
        tau_syn: float | Sequence[float] | Tensor,
        tau_mem: float | Sequence[float] | Tensor,
        dt: float = 1.0,
        **kwargs: Any,
    ) -> CubaLIF:
        """Build from time constants: ``α = exp(-dt/τ_syn)``, ``β = exp(-dt/τ_mem)`` (τ and dt in one unit).

        The SPSN authors' setting is ``CubaLIF.from_taus(20.0, 20.0, 1.0, form="spsn")`` (ms).
        """
        if isinstance(dt, bool) or not isinstance(dt, Real) or not (math.isfinite(dt) and dt > 0):
            raise ConfigError("dt", dt, "a finite real number > 0", where=_WHERE)
        decays = []
        for key, tau in (("tau_syn", tau_syn), ("tau_mem", tau_mem)):
            t = _value(key, tau, lambda v: v > 0, "a real number > 0 (inf: no decay)")
            decays.append(decay(t, float(dt)).to(torch.get_default_dtype()))
        return cls(decays[0], decays[1], **kwargs)

    # -- what a NIR exporter needs, as plain values
    @property
    def gain(self) -> Tensor:
        """The input gain g: 1, or 1 - clamp(β, 0, 1) (detached)."""
        b = self.beta.detach().clamp(0, 1)
        return torch.ones_like(b) if self.input_gain == "one" else 1 - b

    def time_constants(self, dt: float = 1.0) -> tuple[Tensor, Tensor]:
        """``(τ_syn, τ_mem) = -dt / ln(α), -dt / ln(β)`` (detached; a decay of 0 gives 0, of 1 gives inf)."""
        a = self.alpha.detach().clamp(0, 1).double()
        b = self.beta.detach().clamp(0, 1).double()
        return -dt / torch.log(a), -dt / torch.log(b)

    @property
    def params(self) -> CubaLIFParameters:
        """The functional parameters bound to this module's current α, β and θ."""
        return CubaLIFParameters(self.alpha, self.beta, self.threshold, self.reset, self.detach_reset,
                                 self.input_gain, self.reset_from)

    def forward(self, x: Tensor, syn0: Tensor | None = None, mem0: Tensor | None = None) -> Tensor:
        """Spikes ``[T, B, ...]`` for input current ``x`` ``[T, B, ...]`` (forward hooks see the spikes)."""
        self._check_input(x)
        spk, _, _ = cuba_lif_multistep(x, self.params, self.spike_fn, syn0, mem0)
        return spk

    def forward_with_state(
        self, x: Tensor, syn0: Tensor | None = None, mem0: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(spikes, syn, mem)``, each ``[T, B, ...]`` (``mem`` after reset). Does not run forward hooks."""
        self._check_input(x)
        return cuba_lif_multistep(x, self.params, self.spike_fn, syn0, mem0)

    def step(
        self, x_t: Tensor, syn: Tensor | None = None, mem: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One time step: ``(spk_t, syn_t, mem_t)`` from ``x_t`` ``[B, ...]`` and the previous states."""
        return cuba_lif_step(x_t, syn, mem, self.params, self.spike_fn)

    def _check_input(self, x: Tensor) -> None:
        if isinstance(x, Tensor) and x.dim() < 2:
            raise ConfigError("x.shape", tuple(x.shape), "a time-first tensor [T, B, ...] (>= 2 dims)",
                              where=_WHERE)
        if self.n_neurons is not None and isinstance(x, Tensor) and x.shape[-1] != self.n_neurons:
            raise ConfigError("x.shape", tuple(x.shape), f"a last dimension of {self.n_neurons} (the number "
                              "of per-neuron α, β or θ values)", where=_WHERE)

    def extra_repr(self) -> str:
        def show(t: Tensor) -> str:
            return f"{float(t.detach()):.4g}" if t.dim() == 0 else f"[{t.numel()} per neuron]"

        return (
            f"alpha={show(self.alpha)}, beta={show(self.beta)}, threshold={show(self.threshold)}, "
            f"form={self.form!r}, input_gain={self.input_gain!r}, reset_from={self.reset_from!r}, "
            f"reset={self.reset!r}, detach_reset={self.detach_reset}, surrogate={self.spike_fn!r}, "
            f"learn_alpha={self.learn_alpha}, learn_beta={self.learn_beta}, learn_threshold={self.learn_threshold}"
        )
