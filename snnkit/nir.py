"""NIR export and import: snnkit networks ↔ the Neuromorphic Intermediate Representation (``nir`` package).

NIR (Pedersen et al., "Neuromorphic intermediate representation: a unified instruction set for interoperable
brain-inspired computing", Nature Communications 15, 8122, 2024) describes a network as a graph of
continuous-time nodes. snnkit's neurons are discrete-time recursions, so a graph is always written and read
at a time step ``dt``, and the two are tied by forward Euler with the input held over each step:

    LIF / LI      v_k = v_{k-1} + (dt/τ)·(v_leak - v_{k-1} + r·u_k)
    CubaLIF / LI  I_k = I_{k-1} + (dt/τ_syn)·(-I_{k-1} + w_in·u_k)
                  v_k = v_{k-1} + (dt/τ_mem)·(v_leak - v_{k-1} + r·I_k)     (the updated current)
    IF / I        v_k = v_{k-1} + dt·r·u_k
    spiking       z_k = H(v_k - v_threshold), then v_k ← v_reset where z_k = 1

:func:`simulate_nir` is this reference, written from the node definitions of ``nir`` 1.0.8 (float64 NumPy),
independent of the torch modules. Writing a decay β as ``β = 1 - dt/τ`` and a unit step gain as
``g = r·dt/τ`` (snnTorch 1.0.0's mapping, ``snntorch/export_nir.py``: ``τ = dt/(1 - β)``, ``r = τ/dt``,
``w_in = τ_syn/dt``), a node is exactly one of snnkit's recursions:

* :class:`snnkit.neurons.LIF` with ``reset="zero"`` → ``nir.LIF(τ = dt/(1-β), r = τ/dt, v_leak = 0,
  v_threshold = θ, v_reset = 0)`` (β = 1 → ``nir.IF(r = 1/dt)``);
* :class:`snnkit.neurons.cuba.CubaLIF` with ``reset="zero"`` and ``reset_from="current"`` → ``nir.CubaLIF(
  τ_syn = dt/(1-α), w_in = τ_syn/dt, τ_mem = dt/(1-β), r = g·τ_mem/dt, v_threshold = θ, v_reset = 0)`` with
  the input gain g = 1 (snnTorch-style) or 1 - β (the SPSN authors' LIF, so r = 1);
* :class:`snnkit.neurons.LeakyIntegrator` (U = β·U + (1-β)·syn) → ``nir.CubaLI`` with the same α / β mapping
  and r = (1-β)·τ_mem/dt = 1, or ``nir.LI`` when it has no synaptic stage;
* ``nn.Linear`` → ``nir.Affine`` (``nir.Linear`` without bias); :class:`Gain` ↔ ``nir.Scale``.

The τ written is the Euler-equivalent time constant ``dt/(1-β)``, not the ``-dt/ln β`` a module built with
``from_taus`` (β = exp(-dt/τ)) started from: τ_mem = 20 ms at dt = 1 ms is written as 20.5 ms. Another
simulator that integrates the ODE exactly, or updates the current after the voltage, reproduces the spikes
only approximately. Parameters are written in float64 (β → τ → β is then exact in float32), weights in their
own dtype. NIR has no reset by subtraction, no reset delayed to the next step after leak and input, no
stochastic firing and no ReLU: such modules raise :class:`snnkit.errors.ConfigError` naming what NIR can
represent. Surrogate gradients and which parameters are learnable are not part of NIR: an imported network
uses each module's default surrogate.

:func:`from_nir` maps a chain of nodes back onto those modules (uniform LIF parameters, since
:class:`snnkit.neurons.LIF` has one β and θ per layer; per-neuron values for CubaLIF and the integrators); a
step gain g ≠ 1 is moved into the threshold (θ/g, exact for spikes with v_reset = 0; the module's membrane
is then v/g), and an integrator's output scale into a :class:`Gain` before it. ``dt`` is stored in the
graph's metadata and read back when ``from_nir`` is not given one. See docs/nir.md for snnTorch's NIR faults.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import nir
import numpy as np
import torch
from torch import Tensor, nn

from snnkit.errors import ConfigError, check_positive_number

__all__ = ["DEFAULT_DT", "Gain", "to_nir", "from_nir", "simulate_nir", "chain_order"]

DEFAULT_DT = 1e-3
_EXPORTABLE = ("nn.Linear", "snnkit.neurons.LIF (reset='zero')",
               "snnkit.neurons.cuba.CubaLIF (reset='zero', reset_from='current')",
               "snnkit.neurons.LeakyIntegrator", "snnkit.nir.Gain", "nn.Identity")
_IMPORTABLE = ("Input", "Output", "Affine", "Linear", "Scale", "LIF", "IF", "CubaLIF", "LI", "CubaLI")


class Gain(nn.Module):
    """Elementwise fixed scaling ``x·c`` over the last dimension (``nir.Scale``)."""

    def __init__(self, scale: Sequence[float] | Tensor):
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.get_default_dtype()).reshape(-1))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale

    def extra_repr(self) -> str:
        return f"n={self.scale.numel()}"


# ------------------------------------------------------------------------------------------------ export


def _layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The feed-forward layers of ``model`` in order, with their names (dots replaced by underscores)."""
    from snnkit.models.shd import ShdNet

    if isinstance(model, ShdNet):
        pairs: list[tuple[str, nn.Module]] = []
        for i, (fc, neuron) in enumerate(zip(model.fcs, model.neurons)):
            pairs += [(f"fcs_{i}", fc), (f"neurons_{i}", neuron)]
        return pairs + [("readout_fc", model.readout_fc), ("readout", model.readout)]
    if isinstance(model, nn.Sequential):
        out = []
        for name, child in model.named_children():
            out += [(f"{name}_{sub}" if isinstance(child, nn.Sequential) else name, m)
                    for sub, m in (_layers(child) if isinstance(child, nn.Sequential) else [(name, child)])]
        return out
    return [(type(model).__name__.lower(), model)]


def _not_representable(name: str, module: nn.Module, why: str) -> ConfigError:
    return ConfigError(f"module {name!r}", type(module).__name__, f"a module NIR can represent ({why}); "
                       f"exportable: {', '.join(_EXPORTABLE)}", where="to_nir")


def _per_neuron(value: Tensor, n: int) -> np.ndarray:
    return np.broadcast_to(value.detach().double().cpu().numpy(), (n,)).copy()


def _decay_tau(decay: np.ndarray, dt: float, what: str, name: str, module: nn.Module) -> np.ndarray:
    if np.any(decay >= 1):
        raise _not_representable(name, module, f"a decay {what} of 1 has no finite NIR time constant")
    return dt / (1 - decay)


def _node(name: str, module: nn.Module, n: int | None, dt: float) -> tuple[nir.NIRNode | None, int | None]:
    """The NIR node of one layer and the layer's output width (``n`` is its input width)."""
    from snnkit.neurons.cuba import CubaLIF
    from snnkit.neurons.lif import LIF
    from snnkit.neurons.spsn import SPSN, LeakyIntegrator, NonSpiking, ParaLIF

    if isinstance(module, nn.Identity):
        return None, n
    if isinstance(module, nn.Linear):
        weight = module.weight.detach().cpu().numpy().copy()
        if module.bias is None:
            return nir.Linear(weight=weight), module.out_features
        return nir.Affine(weight=weight, bias=module.bias.detach().cpu().numpy().copy()), module.out_features
    if isinstance(module, Gain):
        return nir.Scale(scale=module.scale.detach().double().cpu().numpy().copy()), module.scale.numel()
    if isinstance(module, SPSN):
        raise _not_representable(name, module, f"SPSN fires stochastically ({module.firing}); NIR neurons fire "
                                 "deterministically when v > v_threshold")
    if isinstance(module, ParaLIF):
        raise _not_representable(name, module, f"ParaLIF's spike mode {module.spike_mode!r} (stochastic, delta or "
                                 "threshold on an unreset potential) and its parallel form have no NIR node")
    if isinstance(module, (NonSpiking, nn.ReLU)):
        raise _not_representable(name, module, "nir 1.0.8 has no ReLU node")
    if n is None:
        raise ConfigError("input_shape", None, f"the input width, e.g. (700,): layer {name!r} "
                          f"({type(module).__name__}) comes first and does not fix it", where="to_nir")
    if isinstance(module, LIF):
        if module.reset != "zero":
            raise _not_representable(name, module, f"reset={module.reset!r}: NIR's LIF resets to v_reset; build the "
                                     "LIF with reset='zero'")
        beta = _per_neuron(module.beta.clamp(0, 1), n)
        thr = _per_neuron(module.threshold, n)
        if np.all(beta == 1):
            return nir.IF(r=np.full(n, 1 / dt), v_threshold=thr, v_reset=np.zeros(n)), n
        tau = _decay_tau(beta, dt, "β", name, module)
        return nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros(n), v_threshold=thr, v_reset=np.zeros(n)), n
    if isinstance(module, CubaLIF):
        if module.reset != "zero" or module.reset_from != "current":
            raise _not_representable(name, module, f"reset={module.reset!r}, reset_from={module.reset_from!r}: NIR's "
                                     "CubaLIF resets to v_reset right after the spike; build it with reset='zero', "
                                     "reset_from='current' (form='spsn' is)")
        alpha = _per_neuron(module.alpha.clamp(0, 1), n)
        beta = _per_neuron(module.beta.clamp(0, 1), n)
        tau_syn = _decay_tau(alpha, dt, "α", name, module)
        tau_mem = _decay_tau(beta, dt, "β", name, module)
        gain = np.ones(n) if module.input_gain == "one" else 1 - beta
        return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=gain * tau_mem / dt, v_leak=np.zeros(n),
                           v_threshold=_per_neuron(module.threshold, n), v_reset=np.zeros(n),
                           w_in=tau_syn / dt), n
    if type(module) is LeakyIntegrator:
        beta = _per_neuron(module.beta, n)
        tau_mem = _decay_tau(beta, dt, "β", name, module)
        r = (1 - beta) * tau_mem / dt
        if not module.has_syn:
            return nir.LI(tau=tau_mem, r=r, v_leak=np.zeros(n)), n
        tau_syn = _decay_tau(_per_neuron(module.alpha, n), dt, "α", name, module)
        return nir.CubaLI(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=np.zeros(n), w_in=tau_syn / dt), n
    raise _not_representable(name, module, "no NIR mapping for this module type")


def to_nir(model: nn.Module, dt: float = DEFAULT_DT, input_shape: int | Sequence[int] | None = None) -> nir.NIRGraph:
    """Export a feed-forward snnkit network to a ``nir.NIRGraph`` at time step ``dt`` (seconds).

    ``model``: an ``nn.Sequential`` (nested ones are flattened) of the exportable modules (module docstring),
    a single such module, or a :class:`snnkit.models.shd.ShdNet` (its layers ``fcs``/``neurons`` then
    ``readout_fc``/``readout``; the graph's output is the read-out potential ``[T, B, n_classes]`` that
    :meth:`ShdNet.potentials` returns for unpadded input: the reduction over time, ``loss_mode``, and the
    padding masks are not part of NIR, and ``loss_mode`` is written to the metadata). ``input_shape``: the
    per-step input width; needed only when the first layer is a neuron. Node names are the module names
    (dots as underscores); the graph is ``Input → layers → Output``, with ``metadata["dt"]``.
    Raises :class:`ConfigError` for modules NIR cannot represent (SPSN, ParaLIF, ReLU, subtract reset...).
    """
    dt = check_positive_number("dt", dt, where="to_nir")
    if not isinstance(model, nn.Module):
        raise ConfigError("model", type(model).__name__, "an nn.Module", where="to_nir")
    if input_shape is not None:
        shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
        if len(shape) != 1 or isinstance(shape[0], bool) or not isinstance(shape[0], int) or shape[0] < 1:
            raise ConfigError("input_shape", input_shape, "one positive width, e.g. 700 or (700,)", where="to_nir")
        width: int | None = shape[0]
    else:
        width = None
    layers = _layers(model)
    if width is None and layers and isinstance(layers[0][1], nn.Linear):
        width = layers[0][1].in_features
    elif width is not None and layers and isinstance(layers[0][1], nn.Linear) and width != layers[0][1].in_features:
        raise ConfigError("input_shape", input_shape, f"({layers[0][1].in_features},), the first Linear's "
                          "in_features", where="to_nir")
    in_width = width
    nodes: dict[str, nir.NIRNode] = {}
    for name, module in layers:
        node, width = _node(name, module, width, dt)
        if node is not None:
            nodes[name] = node
    if not nodes:
        raise ConfigError("model", type(model).__name__, "at least one exportable layer", where="to_nir")
    names = list(nodes)
    graph_nodes = {"input": nir.Input(input_type=np.array([in_width])), **nodes,
                   "output": nir.Output(output_type=np.array([width]))}
    edges = list(zip(["input"] + names, names + ["output"]))
    metadata: dict[str, Any] = {"dt": dt, "source": f"snnkit {type(model).__name__}"}
    loss_mode = getattr(model, "loss_mode", None)
    if isinstance(loss_mode, str):
        metadata["time_reduction"] = loss_mode
    return nir.NIRGraph(nodes=graph_nodes, edges=edges, metadata=metadata)


# ------------------------------------------------------------------------------------------------ graph walk


def chain_order(graph: nir.NIRGraph, where: str = "from_nir") -> list[str]:
    """Node names of a chain ``Input → … → Output`` in order; ConfigError for any other graph shape."""
    if not isinstance(graph, nir.NIRGraph):
        raise ConfigError("graph", type(graph).__name__, "a nir.NIRGraph or the path of a .nir file", where=where)
    succ: dict[str, list[str]] = {k: [] for k in graph.nodes}
    pred: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for a, b in graph.edges:
        succ[a].append(b)
        pred[b].append(a)
    inputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
    nested = [k for k, v in graph.nodes.items() if isinstance(v, nir.NIRGraph)]
    branching = [k for k in graph.nodes if len(succ[k]) > 1 or len(pred[k]) > 1]
    if nested or branching or len(inputs) != 1:
        raise ConfigError("graph", f"{len(graph.nodes)} nodes, {len(graph.edges)} edges",
                          "a feed-forward chain Input → … → Output with one input and no branches, cycles or "
                          f"subgraphs (found: inputs {inputs}, subgraphs {nested}, branching at {branching})",
                          where=where)
    order = [inputs[0]]
    while succ[order[-1]]:
        nxt = succ[order[-1]][0]
        if nxt in order:
            raise ConfigError("graph", f"cycle through {nxt!r}", "a feed-forward chain (no recurrence)", where=where)
        order.append(nxt)
    if len(order) != len(graph.nodes) or not isinstance(graph.nodes[order[-1]], nir.Output):
        raise ConfigError("graph", f"chain {order}", "one chain from the Input to an Output covering every node",
                          where=where)
    return order


def _arr(node: nir.NIRNode, key: str) -> np.ndarray:
    return np.asarray(getattr(node, key), dtype=np.float64).reshape(-1)


# ------------------------------------------------------------------------------------------------ reference


def simulate_nir(graph: nir.NIRGraph, x: np.ndarray | Tensor, dt: float) -> np.ndarray:
    """Reference simulation of a chain of NIR nodes: forward Euler at ``dt`` (module docstring), float64.

    ``x``: ``[T, B, N]`` input (one value per step, held over the step). Returns the output ``[T, B, M]``:
    spikes (0/1) for LIF / IF / CubaLIF outputs, potentials for LI / CubaLI / I. All states start at zero.
    """
    dt = check_positive_number("dt", dt, where="simulate_nir")
    h = np.asarray(x.detach().cpu().numpy() if isinstance(x, Tensor) else x, dtype=np.float64)
    for name in chain_order(graph, where="simulate_nir"):
        h = _simulate_node(graph.nodes[name], name, h, dt)
    return h


def _simulate_node(node: nir.NIRNode, name: str, u: np.ndarray, dt: float) -> np.ndarray:
    if isinstance(node, (nir.Input, nir.Output)):
        return u
    if isinstance(node, nir.Affine):
        return u @ np.asarray(node.weight, np.float64).T + np.asarray(node.bias, np.float64)
    if isinstance(node, nir.Linear):
        return u @ np.asarray(node.weight, np.float64).T
    if isinstance(node, nir.Scale):
        return u * _arr(node, "scale")
    out = np.zeros_like(u)
    v = np.zeros_like(u[0])
    cur = np.zeros_like(u[0])
    spiking = isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF))
    for k in range(u.shape[0]):
        if isinstance(node, (nir.LIF, nir.LI)):
            v = v + dt / _arr(node, "tau") * (_arr(node, "v_leak") - v + _arr(node, "r") * u[k])
        elif isinstance(node, (nir.IF, nir.I)):
            v = v + dt * _arr(node, "r") * u[k]
        elif isinstance(node, (nir.CubaLIF, nir.CubaLI)):
            cur = cur + dt / _arr(node, "tau_syn") * (-cur + _arr(node, "w_in") * u[k])
            v = v + dt / _arr(node, "tau_mem") * (_arr(node, "v_leak") - v + _arr(node, "r") * cur)
        else:
            raise ConfigError(f"node {name!r}", type(node).__name__, f"one of {list(_IMPORTABLE) + ['I']}",
                              where="simulate_nir")
        if spiking:
            z = v > _arr(node, "v_threshold")
            v = np.where(z, _arr(node, "v_reset"), v)
            out[k] = z
        else:
            out[k] = v
    return out


# ------------------------------------------------------------------------------------------------ import


def _snap(values: np.ndarray) -> np.ndarray:
    """Gains within float64 round-off of 1 (a graph this module wrote: r·dt/τ = (τ/dt)·dt/τ) become exactly 1."""
    return np.where(np.abs(values - 1) <= 1e-12, 1.0, values)


def _uniform(name: str, key: str, values: np.ndarray) -> float:
    if not np.all(values == values[0]):
        raise ConfigError(f"node {name!r}.{key}", values.tolist()[:8], "the same value for every neuron "
                          "(snnkit's LIF has one β and one θ per layer)", where="from_nir")
    return float(values[0])


def _need_zero(name: str, node: nir.NIRNode, key: str) -> None:
    if hasattr(node, key) and getattr(node, key) is not None and np.any(_arr(node, key) != 0):
        raise ConfigError(f"node {name!r}.{key}", _arr(node, key).tolist()[:8], "0 (snnkit's neurons rest at 0 and "
                          "reset to 0)", where="from_nir")


def _decay(name: str, key: str, tau: np.ndarray, dt: float) -> np.ndarray:
    if not np.all(np.isfinite(tau) & (tau >= dt)):
        raise ConfigError(f"node {name!r}.{key}", tau.tolist()[:8], f"finite time constants >= dt = {dt:g} "
                          "(forward Euler is unstable below dt)", where="from_nir")
    return 1 - dt / tau


def _scalar_or_list(values: np.ndarray) -> float | list[float]:
    return float(values[0]) if np.all(values == values[0]) else values.tolist()


def _module(name: str, node: nir.NIRNode, dt: float) -> nn.Module | None:
    from snnkit.neurons.cuba import CubaLIF
    from snnkit.neurons.lif import LIF
    from snnkit.neurons.spsn import LeakyIntegrator

    if isinstance(node, (nir.Input, nir.Output)):
        return None
    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = torch.as_tensor(np.asarray(node.weight))
        if weight.dim() != 2:
            raise ConfigError(f"node {name!r}.weight", tuple(weight.shape), "a 2-D weight [out, in]", where="from_nir")
        has_bias = isinstance(node, nir.Affine)
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=has_bias)
        with torch.no_grad():
            layer.weight.copy_(weight)
            if has_bias:
                layer.bias.copy_(torch.as_tensor(np.asarray(node.bias)).reshape(-1))
        return layer
    if isinstance(node, nir.Scale):
        return Gain(_arr(node, "scale"))
    for key in ("v_leak", "v_reset"):
        _need_zero(name, node, key)
    if isinstance(node, (nir.LIF, nir.IF)):
        if isinstance(node, nir.IF):
            beta, gain = np.ones_like(_arr(node, "r")), _snap(dt * _arr(node, "r"))
        else:
            tau = _arr(node, "tau")
            beta, gain = _decay(name, "tau", tau, dt), _snap(dt * _arr(node, "r") / tau)
        thr = _arr(node, "v_threshold") / gain
        return LIF(beta=_uniform(name, "β", beta), threshold=_uniform(name, "v_threshold / (r·dt/τ)", thr),
                   reset="zero")
    if isinstance(node, (nir.CubaLIF, nir.CubaLI, nir.LI)):
        if isinstance(node, nir.LI):
            tau_mem, alpha, g_syn = _arr(node, "tau"), None, 1.0
        else:
            tau_syn, tau_mem = _arr(node, "tau_syn"), _arr(node, "tau_mem")
            alpha, g_syn = _decay(name, "tau_syn", tau_syn, dt), dt * _arr(node, "w_in") / tau_syn
        beta = _decay(name, "tau_mem", tau_mem, dt)
        g = _snap(g_syn * dt * _arr(node, "r") / tau_mem)  # v = g · (the same recursion with unit gains)
        if isinstance(node, nir.CubaLIF):
            spsn = bool(np.all(beta < 1)) and bool(np.all(_snap(g / (1 - beta)) == 1))  # the SPSN authors' gain
            thr = _arr(node, "v_threshold") / (1.0 if spsn else g)
            return CubaLIF(alpha=_scalar_or_list(alpha), beta=_scalar_or_list(beta), threshold=_scalar_or_list(thr),
                           form="spsn" if spsn else "snntorch", reset="zero", reset_from="current")
        if np.any(beta == 1):
            raise ConfigError(f"node {name!r}.tau_mem", tau_mem.tolist()[:8], "finite", where="from_nir")
        per_neuron = not (np.all(beta == beta[0]) and (alpha is None or np.all(alpha == alpha[0])))
        n = beta.size if per_neuron else None
        readout = LeakyIntegrator(tau_mem=1.0, tau_syn=None if alpha is None or np.all(alpha == 0) else 1.0,
                                  dt=1.0, n_neurons=n)
        with torch.no_grad():
            for key, values in (("beta", beta), ("alpha", alpha if alpha is not None else np.zeros_like(beta))):
                buf = getattr(readout, f"raw_{key}")
                buf.copy_(torch.as_tensor(values if per_neuron else values[:1].reshape(()), dtype=buf.dtype))
        scale = _snap(g / (1 - beta))  # LeakyIntegrator's membrane gain is 1 - β
        if np.all(scale == 1):
            return readout
        return nn.Sequential(OrderedDict(gain=Gain(scale), integrator=readout))
    raise ConfigError(f"node {name!r}", type(node).__name__, f"one of the NIR nodes {list(_IMPORTABLE)}",
                      where="from_nir")


def from_nir(graph_or_path: nir.NIRGraph | str | os.PathLike, dt: float | None = None) -> nn.Sequential:
    """Import a NIR chain as an ``nn.Sequential`` of snnkit modules over time-first ``[T, B, N]`` input.

    ``graph_or_path``: a ``nir.NIRGraph`` or a file written by ``nir.write``. ``dt``: the time step the
    graph is read at (seconds); None: the graph's ``metadata["dt"]`` if it has one, else ``DEFAULT_DT``
    (graphs from snnTorch 1.0.0 have none and assume 1e-4: pass ``dt=1e-4``). Children are named after the
    nodes (dots as underscores). Nodes: Affine / Linear → ``nn.Linear``; Scale → :class:`Gain`; LIF / IF →
    :class:`snnkit.neurons.LIF` (reset to zero; β = 1 - dt/τ, one value per layer); CubaLIF →
    :class:`snnkit.neurons.cuba.CubaLIF` (reset to zero from the current spike, per-neuron values kept);
    LI / CubaLI → :class:`snnkit.neurons.LeakyIntegrator` (with a :class:`Gain` before it when the node's
    output scale differs from the integrator's). Anything else — v_leak or v_reset ≠ 0, τ < dt, branches,
    recurrence, subgraphs, other node types — raises :class:`ConfigError`.
    """
    graph = nir.read(os.fspath(graph_or_path)) if isinstance(graph_or_path, (str, os.PathLike)) else graph_or_path
    order = chain_order(graph)
    if dt is None:
        meta = graph.metadata if isinstance(graph.metadata, dict) else {}
        dt = float(np.asarray(meta["dt"])) if "dt" in meta else DEFAULT_DT
    dt = check_positive_number("dt", dt, where="from_nir")
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    for name in order:
        module = _module(name, graph.nodes[name], dt)
        if module is not None:
            modules[name.replace(".", "_")] = module
    return nn.Sequential(modules)

