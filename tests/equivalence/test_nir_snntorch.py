"""snnkit.nir against snnTorch 1.0.0's NIR export and import (``snntorch/export_nir.py``, ``import_nir.py``).

Both directions must give the same output spikes on the same input. Where snnTorch 1.0.0 is wrong (each case
below names the fault; docs/nir.md lists them with file:line), the graph is checked against the reference
simulation of the NIR equations (:func:`snnkit.nir.simulate_nir`) instead. snnTorch fixes dt = 1e-4 on both
sides, so every graph here is written and read at that step.
"""

from __future__ import annotations

import contextlib
import io

import nir
import numpy as np
import pytest
import torch
from torch import nn

from snnkit.neurons import LIF
from snnkit.neurons.cuba import CubaLIF
from snnkit.nir import from_nir, simulate_nir, to_nir

snn = pytest.importorskip("snntorch")
from snntorch.export_nir import export_to_nir  # noqa: E402
from snntorch.import_nir import import_from_nir  # noqa: E402

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph is being deprecated:DeprecationWarning")
DT = 1e-4  # snnTorch 1.0.0's fixed step (export_nir.py:68, :95; import_nir.py:243, :279)


def _quiet(fn, *args, **kwargs):
    """snnTorch's NIR code prints warnings on stdout; keep the test output readable."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def _run_imported(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Step an ``import_from_nir`` module (a torch.fx GraphModule of ``init_hidden`` neurons) over ``x`` [T, B, N]."""
    outs = []
    with torch.no_grad():
        for t in range(x.shape[0]):
            out, _ = module(x[t])
            outs.append(out)
    return torch.stack(outs)


def _run_snntorch(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Step an snnTorch ``nn.Sequential`` of ``init_hidden`` neurons (fresh states) over ``x``."""
    for m in net.modules():
        if hasattr(m, "reset_mem"):
            m.reset_mem()
    with torch.no_grad():
        return torch.stack([net(x[t]) for t in range(x.shape[0])])


def _linear(n_in: int, n_out: int, seed: int) -> nn.Linear:
    """torch's default initialisation under ``seed``, shifted to mostly excitatory weights (the layers fire)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        layer = nn.Linear(n_in, n_out)
    with torch.no_grad():
        layer.weight.mul_(2).add_(0.3)
    return layer


def _input(seed: int, steps: int = 80, batch: int = 4, n: int = 6) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, batch, n, generator=gen) < 0.4).float() * 1.5


def _ours(kind: str, seed: int) -> nn.Sequential:
    def neuron(n: int) -> nn.Module:
        if kind == "lif":
            return LIF(beta=0.8, threshold=1.0, reset="zero")
        return CubaLIF(alpha=0.6, beta=0.85, threshold=1.2, form="snntorch", reset="zero", reset_from="current")

    return nn.Sequential(_linear(6, 5, seed), neuron(5), _linear(5, 3, seed + 1), neuron(3))


# ------------------------------------------------------------------------------- our export, snnTorch's import


@pytest.mark.parametrize("kind", ["lif", "cuba"])
@pytest.mark.parametrize("seed", [0, 1])
def test_snntorch_import_of_our_export_gives_our_spikes(kind, seed):
    net = _ours(kind, seed)
    x = _input(seed)
    with torch.no_grad():
        ours = net(x)
    assert 0 < ours.mean() < 1
    theirs = _run_imported(_quiet(import_from_nir, to_nir(net, dt=DT)), x)
    assert torch.equal(theirs, ours)


def test_spsn_form_cuba_lif_is_checked_against_the_reference():
    # snnTorch fault: import_nir.py:282-284 asserts r == τ_mem/dt (input gain 1), so the SPSN authors'
    # CubaLIF (gain 1 - β, exported with r = 1) cannot be imported by snnTorch at all.
    net = nn.Sequential(_linear(6, 5, 0), CubaLIF(alpha=0.6, beta=0.85, form="spsn", reset="zero"))
    x = _input(3) * 4
    graph = to_nir(net, dt=DT)
    with pytest.raises(AssertionError, match="r not supported"):
        _quiet(import_from_nir, graph)
    with torch.no_grad():
        ours = net.double()(x.double())
    assert ours.sum() > 0
    np.testing.assert_array_equal(simulate_nir(graph, x, DT), ours.numpy())


# ------------------------------------------------------------------------------- snnTorch's export, our import


def _snntorch_net(kind: str, seed: int, **neuron_kwargs) -> nn.Sequential:
    # per-neuron β / θ tensors: with scalar ones snnTorch 1.0.0's export fails (see the next test)
    def neuron(n: int) -> nn.Module:
        common = {"beta": torch.full((n,), 0.8), "threshold": torch.ones(n), "init_hidden": True} | neuron_kwargs
        if kind == "leaky":
            return snn.Leaky(**common)
        return snn.Synaptic(alpha=torch.full((n,), 0.6), **common)

    return nn.Sequential(_linear(6, 5, seed), neuron(5), _linear(5, 3, seed + 1), neuron(3))


@pytest.mark.parametrize("kind, kwargs", [
    ("leaky", {"reset_mechanism": "zero"}),
    ("synaptic", {"reset_mechanism": "zero", "reset_delay": False}),
])
@pytest.mark.parametrize("seed", [0, 1])
def test_our_import_of_a_snntorch_export_gives_snntorchs_spikes(kind, kwargs, seed):
    net = _snntorch_net(kind, seed, **kwargs)
    x = _input(seed)
    theirs = _run_snntorch(net, x)
    assert 0 < theirs.mean() < 1
    graph = _quiet(export_to_nir, net, torch.zeros(1, 6), ignore_dims=[0])
    ours = from_nir(graph, dt=DT)
    with torch.no_grad():
        assert torch.equal(ours(x), theirs)


@pytest.mark.parametrize("kind", ["leaky", "synaptic"])
def test_snntorch_export_of_default_neurons_is_checked_against_the_reference(kind):
    # snnTorch fault: export_nir.py:77-83 / :109-117 write v_reset = 0 whatever the module's reset_mechanism
    # (default "subtract") and reset_delay; NIR's LIF / CubaLIF reset to v_reset right after the spike, so
    # the graph does not describe the exported network. Our import follows the graph (the NIR equations).
    net = _snntorch_net(kind, 2)
    x = _input(2) * 2
    graph = _quiet(export_to_nir, net, torch.zeros(1, 6), ignore_dims=[0])
    ours = from_nir(graph, dt=DT).double()
    with torch.no_grad():
        np.testing.assert_array_equal(ours(x.double()).numpy(), simulate_nir(graph, x, DT))
    assert not torch.equal(_run_snntorch(net, x), ours(x.double()).float())  # the subtract reset is lost


@pytest.mark.parametrize("kind", ["leaky", "synaptic"])
def test_snntorch_export_of_scalar_parameters_has_no_types(kind):
    # snnTorch fault: export_nir.py:70-72 / :100-101 turn a scalar threshold into a 0-d array (the
    # isinstance(vthr, (int, float)) check never fires on an ndarray), so the LIF / CubaLIF node's input and
    # output types are [] and nir's type inference (export_nir.py:299) rejects the graph. Leaky too, not only
    # Synaptic.
    neuron = snn.Leaky(beta=0.8, init_hidden=True) if kind == "leaky" else snn.Synaptic(alpha=0.6, beta=0.8,
                                                                                        init_hidden=True)
    net = nn.Sequential(nn.Linear(6, 3), neuron)
    with pytest.raises(ValueError, match="type mismatch"):
        _quiet(export_to_nir, net, torch.zeros(1, 6), ignore_dims=[0])


# ------------------------------------------------------------------------------- snnTorch import faults


def _graph(*pairs) -> nir.NIRGraph:
    nodes = dict(pairs)
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])))


def test_if_node_is_checked_against_the_reference():
    # snnTorch fault: import_nir.py:234-239 builds IF as snn.Leaky(beta=0.9, ...): a leaky neuron (NIR's IF has
    # no leak), with the default subtract reset (NIR: reset to v_reset) and init_hidden=False (its output is a
    # (spk, mem) tuple, which the imported graph passes on as if it were a tensor).
    rng = np.random.default_rng(0)
    w = rng.uniform(-0.2, 0.6, (4, 6)).astype(np.float32)
    graph = _graph(("input", nir.Input(np.array([6]))), ("fc", nir.Linear(weight=w)),
                   ("if", nir.IF(r=np.full(4, 1.0), v_threshold=np.full(4, 2e-4), v_reset=np.zeros(4))),
                   ("output", nir.Output(np.array([4]))))
    imported = _quiet(import_from_nir, graph)
    leaky = next(m for m in imported.modules() if isinstance(m, snn.Leaky))
    assert float(leaky.beta) == pytest.approx(0.9) and leaky.reset_mechanism == "subtract"
    x = _input(4)
    ref = simulate_nir(graph, x, DT)
    assert 0 < ref.mean() < 1
    ours = from_nir(graph, dt=DT).double()
    with torch.no_grad():
        np.testing.assert_array_equal(ours(x.double()).numpy(), ref)


def test_lif_with_per_neuron_gains_is_checked_against_the_reference():
    # snnTorch fault: import_nir.py:254-256 divides every threshold by np.unique(w_scale)[0], the smallest of the
    # per-neuron step gains r·dt/τ, so neurons with another gain get the wrong threshold (uniform τ, per-neuron r).
    rng = np.random.default_rng(1)
    n = 4
    tau = np.full(n, 10 * DT)
    graph = _graph(("input", nir.Input(np.array([6]))),
                   ("fc", nir.Affine(weight=rng.uniform(-0.2, 0.6, (n, 6)).astype(np.float32),
                                     bias=np.zeros(n, np.float32))),
                   ("lif", nir.LIF(tau=tau, r=np.array([5.0, 10.0, 20.0, 40.0]), v_leak=np.zeros(n),
                                   v_threshold=np.full(n, 0.5), v_reset=np.zeros(n))),
                   ("output", nir.Output(np.array([n]))))
    x = _input(5)
    ref = simulate_nir(graph, x, DT)
    assert 0 < ref.mean() < 1
    theirs = _run_imported(_quiet(import_from_nir, graph), x)
    assert not np.array_equal(theirs.numpy(), ref)
    # snnkit's LIF has one threshold per layer, so our import refuses the per-neuron θ/g instead of guessing
    with pytest.raises(Exception, match="same value for every neuron"):
        from_nir(graph, dt=DT)


def test_cuba_lif_threshold_scaling_agrees_with_the_euler_reference():
    # The threshold division of import_nir.py:289-294 (θ / (w_in·dt/τ_syn)) is exact under the forward-Euler
    # reading of the node (input held over the step, as snnTorch's own export assumes). snnTorch PR #435
    # removes it, reading the input as Dirac spikes (a jump of w_in/τ_syn per spike, independent of dt):
    # a different convention, not a bug of 1.0.0 under this one. Both imports match the Euler reference here.
    rng = np.random.default_rng(2)
    n = 3
    tau_syn, tau_mem = np.full(n, 5 * DT), np.full(n, 10 * DT)
    graph = _graph(("input", nir.Input(np.array([6]))),
                   ("fc", nir.Affine(weight=rng.uniform(-0.2, 0.6, (n, 6)).astype(np.float32),
                                     bias=np.zeros(n, np.float32))),
                   ("cuba", nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / DT, v_leak=np.zeros(n),
                                        v_threshold=np.full(n, 0.3), v_reset=np.zeros(n), w_in=np.full(n, 2.0))),
                   ("output", nir.Output(np.array([n]))))
    x = _input(6)
    ref = simulate_nir(graph, x, DT)
    assert 0 < ref.mean() < 1
    np.testing.assert_array_equal(_run_imported(_quiet(import_from_nir, graph), x).numpy(), ref)
    with torch.no_grad():
        np.testing.assert_array_equal(from_nir(graph, dt=DT).double()(x.double()).numpy(), ref)


def test_snntorch_cannot_import_leaky_integrators():
    # snnTorch limitation: import_nir.py:510-519 maps no LI / CubaLI node, so a network with our read-out
    # (snnkit.neurons.LeakyIntegrator → nir.CubaLI) is refused by snnTorch; the reference test in
    # tests/unit/test_nir.py covers it.
    from snnkit.neurons import LeakyIntegrator

    graph = to_nir(nn.Sequential(_linear(6, 3, 0), LeakyIntegrator(10.0, 5.0, 1.0)), dt=DT)
    with pytest.raises(ValueError, match="Unknown node type"):
        _quiet(import_from_nir, graph)


def test_snntorch_reads_our_graph_at_its_own_dt():
    # snnTorch fault (limitation): dt is fixed at 1e-4 in import_nir.py:243 / :279, so a graph written at
    # another step imports with other decays: β' = 1 - 1e-4/τ with τ = dt/(1 - β).
    net = _ours("lif", 0)
    graph = to_nir(net, dt=1e-3)
    leaky = next(m for m in _quiet(import_from_nir, graph).modules() if isinstance(m, snn.Leaky))
    np.testing.assert_allclose(leaky.beta.numpy(), 1 - 0.1 * (1 - 0.8), rtol=1e-6)
    assert float(from_nir(graph)[1].beta) == pytest.approx(0.8)
