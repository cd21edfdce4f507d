"""The layers ``bench/neurons.py`` compares: Linear + spiking neuron, snnkit's and its peers' (helper module).

Every builder takes ``(n_in, n_out)`` and returns an ``nn.Module`` mapping a time-first input
``[T, B, n_in]`` to the neuron's output ``[T, B, n_out]``, Linear included, so that every row of the
benchmark does the same job: one dense layer and one population over T steps. Builders import their
library lazily; a builder that cannot run here raises :class:`Unavailable` with the reason (the benchmark
then skips that row with a note).

Shared settings: dt = 1 ms, τ_mem = τ_syn = 20 ms (the SHD networks of Yarga & Wood, arXiv 2306.12666),
so β = α = exp(−1/20) ≈ 0.951, threshold 1. The Linear layer is Kaiming-uniform with gain 1 and a zero
bias (the SPSN authors' initialisation), drawn from the same seed for every row.

* ``linear_only``: the Linear alone (the floor: what any neuron adds is measured against it).
* ``snnkit_lif``: :class:`snnkit.neurons.LIF` (β, subtract reset, detached reset, arctan surrogate α = 2).
* ``snnkit_cuba_lif``: :class:`snnkit.neurons.cuba.CubaLIF` from τ_syn, τ_mem, dt in the SPSN authors' form
  (input gain 1 − β, reset to zero, fast-sigmoid surrogate slope 100: the LIF of the seed's tables).
* ``snnkit_spsn_sb`` / ``snnkit_spsn_gs``: :class:`snnkit.neurons.spsn.SPSN` with sigmoid-Bernoulli /
  Gumbel-softmax firing.
* ``snnkit_paralif``: :class:`snnkit.neurons.spsn.ParaLIF`, spike mode TRB, per-neuron learnable τ (the
  path the SPSN rows do not take).
* ``snntorch_leaky``: snnTorch ``Leaky`` (same settings as ``snnkit_lif``) stepped in a Python loop over T,
  as its tutorials do.
* ``snntorch_leakyparallel``: snnTorch ``LeakyParallel(n_in, n_out)``: an ``nn.RNN`` (ReLU) with a
  diagonal recurrent matrix β, whose input weights *are* the Linear (no separate Linear in this row).
* ``spikingjelly_lif``: SpikingJelly ``LIFNode(step_mode='m')``, τ = 20, ``decay_input=False``, soft reset,
  detached reset, arctan α = 2 (β = 1 − 1/τ = 0.95); SpikingJelly 2.0 has one CPU path (its
  ``functional.lif_multi_step``), which is what runs.
* ``norse_lif``: Norse ``LIF`` (current-based, Euler-integrated: τ_syn⁻¹ = τ_mem⁻¹ = 50 s⁻¹, dt = 1 ms,
  reset to 0, Norse's default SuperSpike surrogate).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from snnkit.neurons.buffers import donate

DT = 1e-3
TAU = 20e-3
BETA = math.exp(-DT / TAU)

#: The implementations whose rows are peers (the "fastest peer" column is the fastest of these).
PEERS: tuple[str, ...] = ("snntorch_leaky", "snntorch_leakyparallel", "spikingjelly_lif", "norse_lif")
FLOOR = "linear_only"


class Unavailable(RuntimeError):
    """A row that cannot run here (a peer or an snnkit module that is not importable)."""


def kaiming_linear(n_in: int, n_out: int) -> nn.Linear:
    """Linear with Kaiming-uniform weights (gain 1, bound √(3 / fan_in)) and a zero bias."""
    layer = nn.Linear(n_in, n_out)
    bound = math.sqrt(3.0 / n_in)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound)
        layer.bias.zero_()
    return layer


class LinearThen(nn.Module):
    """``neuron(fc(x))`` for a time-first ``x``; ``call(neuron, current)`` adapts a neuron's calling style.

    The Linear's output is made only for the neuron, so it is handed over with
    :func:`snnkit.neurons.buffers.donate` (as a user's layer would): the snnkit neurons that support it keep their
    state in its memory; the peers ignore the mark."""

    def __init__(self, fc: nn.Module, neuron: nn.Module, call: Callable[[nn.Module, Tensor], Tensor] | None = None):
        super().__init__()
        self.fc = fc
        self.neuron = neuron
        self.call = call

    def fire(self, current: Tensor) -> Tensor:
        """The neuron's output for the Linear's output ``current``."""
        return self.neuron(current) if self.call is None else self.call(self.neuron, current)

    def forward(self, x: Tensor) -> Tensor:
        return self.fire(donate(self.fc(x)))


def _need(module: str, name: str) -> object:
    """``module.name``, or :class:`Unavailable` naming what is missing."""
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise Unavailable(f"{module}.{name} is not importable ({err})") from err


# -------------------------------------------------------------------------------------------------- snnkit


def _linear_only(n_in: int, n_out: int) -> nn.Module:
    return kaiming_linear(n_in, n_out)


def _snnkit_lif(n_in: int, n_out: int) -> nn.Module:
    LIF = _need("snnkit.neurons", "LIF")
    ATan = _need("snnkit.neurons.surrogate", "ATan")
    return LinearThen(kaiming_linear(n_in, n_out), LIF(beta=BETA, threshold=1.0, reset="subtract",
                                                        surrogate=ATan(alpha=2.0)))


def _snnkit_cuba_lif(n_in: int, n_out: int) -> nn.Module:
    CubaLIF = _need("snnkit.neurons.cuba", "CubaLIF")
    FastSigmoid = _need("snnkit.neurons.surrogate", "FastSigmoid")
    neuron = CubaLIF.from_taus(TAU, TAU, DT, form="spsn", surrogate=FastSigmoid(slope=100.0))
    return LinearThen(kaiming_linear(n_in, n_out), neuron)


def _snnkit_spsn(firing: str) -> Callable[[int, int], nn.Module]:
    def build(n_in: int, n_out: int) -> nn.Module:
        SPSN = _need("snnkit.neurons.spsn", "SPSN")
        return LinearThen(kaiming_linear(n_in, n_out), SPSN(firing=firing, tau_mem=TAU, tau_syn=TAU, dt=DT))

    return build


def _snnkit_paralif(n_in: int, n_out: int) -> nn.Module:
    ParaLIF = _need("snnkit.neurons.spsn", "ParaLIF")
    neuron = ParaLIF(spike_mode="TRB", tau_mem=TAU, tau_syn=TAU, dt=DT, n_neurons=n_out, learn_tau=True)
    return LinearThen(kaiming_linear(n_in, n_out), neuron)


# --------------------------------------------------------------------------------------------------- peers


def _snntorch_leaky(n_in: int, n_out: int) -> nn.Module:
    Leaky = _need("snntorch", "Leaky")
    atan = _need("snntorch.surrogate", "atan")
    leaky = Leaky(beta=BETA, threshold=1.0, reset_mechanism="subtract", spike_grad=atan(alpha=2.0))

    def loop(neuron: nn.Module, current: Tensor) -> Tensor:
        mem = torch.zeros_like(current[0])
        out = []
        for x_t in current:
            spk, mem = neuron(x_t, mem)
            out.append(spk)
        return torch.stack(out)

    return LinearThen(kaiming_linear(n_in, n_out), leaky, loop)


def _snntorch_leakyparallel(n_in: int, n_out: int) -> nn.Module:
    LeakyParallel = _need("snntorch", "LeakyParallel")
    layer = LeakyParallel(n_in, n_out, beta=BETA, threshold=1.0)
    fc = kaiming_linear(n_in, n_out)  # the same input weights as every other row
    with torch.no_grad():
        layer.rnn.weight_ih_l0.copy_(fc.weight)
        layer.rnn.bias_ih_l0.zero_()
        layer.rnn.bias_hh_l0.zero_()
    return layer


def _spikingjelly_lif(n_in: int, n_out: int) -> nn.Module:
    LIFNode = _need("spikingjelly.activation_based.neuron", "LIFNode")
    surrogate = _need("spikingjelly.activation_based.surrogate", "ATan")
    reset_net = _need("spikingjelly.activation_based.functional", "reset_net")
    node = LIFNode(tau=TAU / DT, decay_input=False, v_threshold=1.0, v_reset=None,
                              surrogate_function=surrogate(alpha=2.0), detach_reset=True, step_mode="m")

    def fresh(neuron: nn.Module, current: Tensor) -> Tensor:
        reset_net(neuron)  # no membrane carried over from the previous call
        return neuron(current)

    return LinearThen(kaiming_linear(n_in, n_out), node, fresh)


def _norse_lif(n_in: int, n_out: int) -> nn.Module:
    norse = _need("norse", "torch")
    params = norse.LIFParameters(tau_syn_inv=torch.tensor(1 / TAU), tau_mem_inv=torch.tensor(1 / TAU),
                                 v_th=torch.tensor(1.0), v_reset=torch.tensor(0.0))
    return LinearThen(kaiming_linear(n_in, n_out), norse.LIF(params, dt=DT), lambda n, c: n(c)[0])


BUILDERS: dict[str, Callable[[int, int], nn.Module]] = {
    FLOOR: _linear_only,
    "snnkit_lif": _snnkit_lif,
    "snnkit_cuba_lif": _snnkit_cuba_lif,
    "snnkit_spsn_sb": _snnkit_spsn("SB"),
    "snnkit_spsn_gs": _snnkit_spsn("GS"),
    "snnkit_paralif": _snnkit_paralif,
    "snntorch_leaky": _snntorch_leaky,
    "snntorch_leakyparallel": _snntorch_leakyparallel,
    "spikingjelly_lif": _spikingjelly_lif,
    "norse_lif": _norse_lif,
}
IMPLS: tuple[str, ...] = tuple(BUILDERS)


def build(name: str, n_in: int, n_out: int, seed: int = 0) -> nn.Module:
    """The layer of row ``name`` (weights drawn from ``seed``); :class:`Unavailable` if it cannot run here."""
    torch.manual_seed(seed)
    try:
        return BUILDERS[name](n_in, n_out)
    except Unavailable:
        raise
    except Exception as err:  # noqa: BLE001 - a peer failing to construct is "skip this row", with the reason
        raise Unavailable(f"building {name} failed: {err!r}") from err
