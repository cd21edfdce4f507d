"""snnkit.nir: export to NIR, the reference simulation of the NIR equations, import back, nir.write/read.

Comparisons with the float64 reference (:func:`snnkit.nir.simulate_nir`) run the snnkit modules in float64
too, so that a membrane within float32 round-off of the threshold cannot flip a spike; the round trips
(module → graph → module) are compared in float32, bit for bit.
"""

from __future__ import annotations

import math

import nir
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from snnkit.errors import ConfigError
from snnkit.models.shd import ShdNet
from snnkit.neurons import LIF, SPSN, LeakyIntegrator, NonSpiking, ParaLIF
from snnkit.neurons.cuba import CubaLIF
from snnkit.nir import Gain, from_nir, simulate_nir, to_nir

torch.set_num_threads(1)


def _linear(n_in: int, n_out: int, seed: int) -> nn.Linear:
    layer = nn.Linear(n_in, n_out)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.weight.copy_(torch.rand(n_out, n_in, generator=gen) * 1.5 - 0.4)
        layer.bias.copy_(torch.rand(n_out, generator=gen) * 0.2 - 0.1)
    return layer


def _spikes(steps: int, batch: int, n: int, seed: int, rate: float = 0.3) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, batch, n, generator=gen) < rate).to(torch.get_default_dtype())


def _spiking_net(seed: int = 0) -> nn.Sequential:
    """Linear → LIF → Linear → CubaLIF (SPSN form) → Linear → CubaLIF (gain 1): ends in spikes."""
    return nn.Sequential(
        _linear(6, 5, seed), LIF(beta=0.8, threshold=1.0, reset="zero"),
        _linear(5, 4, seed + 1), CubaLIF.from_taus(4.0, 8.0, 1.0, form="spsn", reset="zero"),
        _linear(4, 3, seed + 2), CubaLIF(alpha=[0.5, 0.6, 0.7], beta=0.75, threshold=[0.8, 1.0, 1.2], form="snntorch",
                                         reset="zero", reset_from="current"),
    )


def _readout_net(seed: int = 0) -> nn.Sequential:
    """A spiking net with a leaky-integrator read-out (per-neuron τ) and one without synaptic stage."""
    return nn.Sequential(
        _linear(6, 5, seed), LIF(beta=0.9, reset="zero"), _linear(5, 4, seed + 1),
        LeakyIntegrator(tau_mem=[5.0, 10.0, 20.0, 40.0], tau_syn=[2.0, 3.0, 4.0, 5.0], dt=1.0, n_neurons=4),
        _linear(4, 2, seed + 2), LeakyIntegrator(tau_mem=10.0, tau_syn=None, dt=1.0),
    )


# ------------------------------------------------------------------------------------------------ export


def test_export_writes_the_euler_mapping_of_every_node():
    dt = 1e-3
    graph = to_nir(_readout_net(), dt=dt)
    types = {k: type(v).__name__ for k, v in graph.nodes.items()}
    assert types == {"input": "Input", "0": "Affine", "1": "LIF", "2": "Affine", "3": "CubaLI", "4": "Affine",
                     "5": "LI", "output": "Output"}
    assert graph.edges == [("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"), ("3", "4"), ("4", "5"),
                           ("5", "output")]
    assert float(graph.metadata["dt"]) == dt
    lif = graph.nodes["1"]
    beta = float(torch.tensor(0.9))
    np.testing.assert_allclose(lif.tau, dt / (1 - beta), rtol=1e-15)
    np.testing.assert_allclose(lif.r, lif.tau / dt, rtol=1e-15)
    assert np.all(lif.v_reset == 0) and np.all(lif.v_leak == 0) and np.all(lif.v_threshold == 1)
    cubali = graph.nodes["3"]
    betas = np.exp(-1.0 / np.array([5.0, 10.0, 20.0, 40.0])).astype(np.float32).astype(np.float64)
    alphas = np.exp(-1.0 / np.array([2.0, 3.0, 4.0, 5.0])).astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(cubali.tau_mem, dt / (1 - betas), rtol=1e-12)
    np.testing.assert_allclose(cubali.tau_syn, dt / (1 - alphas), rtol=1e-12)
    np.testing.assert_allclose(cubali.w_in, cubali.tau_syn / dt, rtol=1e-15)
    np.testing.assert_allclose(cubali.r, 1.0, rtol=1e-12)  # LeakyIntegrator's membrane gain 1 - β
    for name, width in (("input", 6), ("1", 5), ("3", 4), ("output", 2)):
        node = graph.nodes[name]
        assert list(node.output_type["output"]) == [width]


def test_cuba_lif_gain_sets_r():
    graph = to_nir(_spiking_net(), dt=1e-4)
    spsn, plain = graph.nodes["3"], graph.nodes["5"]
    np.testing.assert_allclose(spsn.r, 1.0, rtol=1e-12)  # gain 1 - β: r = (1 - β)·τ_mem/dt = 1
    np.testing.assert_allclose(plain.r, plain.tau_mem / 1e-4, rtol=1e-15)  # gain 1
    np.testing.assert_allclose(plain.v_threshold, [0.8, 1.0, 1.2], rtol=1e-7)


@pytest.mark.parametrize("dt", [1e-3, 1e-4, 0.5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_simulation_of_the_export_equals_the_module(dt, seed):
    net = _spiking_net(seed).double()
    x = _spikes(80, 4, 6, seed, rate=0.4).double()
    with torch.no_grad():
        spikes = net(x)
        potentials = _readout_net(seed).double()(x)
    assert 0 < spikes.mean() < 1
    np.testing.assert_array_equal(simulate_nir(to_nir(net, dt=dt), x, dt), spikes.numpy())
    ref = simulate_nir(to_nir(_readout_net(seed).double(), dt=dt), x, dt)
    np.testing.assert_allclose(ref, potentials.numpy(), rtol=1e-9, atol=1e-9)


def test_leading_neuron_needs_input_shape_and_lif_beta_one_is_if():
    net = nn.Sequential(LIF(beta=1.0, threshold=2.0, reset="zero"), _linear(3, 2, 0), LIF(0.5, reset="zero"))
    with pytest.raises(ConfigError, match="input_shape"):
        to_nir(net)
    graph = to_nir(net, dt=1e-3, input_shape=3)
    assert isinstance(graph.nodes["0"], nir.IF)
    np.testing.assert_allclose(graph.nodes["0"].r, 1e3)
    x = torch.rand(40, 2, 3, dtype=torch.float64)
    with torch.no_grad():
        np.testing.assert_array_equal(simulate_nir(graph, x, 1e-3), net.double()(x).numpy())
    with pytest.raises(ConfigError, match="in_features"):
        to_nir(_spiking_net(), input_shape=(7,))
    for bad in (0, (3, 2), True):
        with pytest.raises(ConfigError, match="input_shape"):
            to_nir(net, input_shape=bad)
    with pytest.raises(ConfigError, match="dt"):
        to_nir(net, dt=0.0, input_shape=3)


@pytest.mark.parametrize("module, words", [
    (SPSN("SB"), "stochastic"),
    (SPSN("GS"), "stochastic"),
    (ParaLIF("T"), "ParaLIF"),
    (ParaLIF("SB"), "ParaLIF"),
    (NonSpiking(), "ReLU"),
    (nn.ReLU(), "ReLU"),
    (LIF(0.9), "reset='subtract'"),
    (CubaLIF(0.5, 0.9), "reset_from='previous'"),
    (CubaLIF(0.5, 0.9, reset="zero"), "reset_from='previous'"),
    (CubaLIF(0.5, 0.9, form="spsn"), "reset='subtract'"),
    (CubaLIF(1.0, 0.9, form="spsn", reset="zero"), "decay α of 1"),
    (nn.Conv1d(3, 3, 1), "no NIR mapping"),
])
def test_modules_nir_cannot_represent_raise(module, words):
    with pytest.raises(ConfigError) as info:
        to_nir(nn.Sequential(nn.Linear(3, 3), module))
    assert words in str(info.value) and "exportable" in str(info.value)


# ------------------------------------------------------------------------------------------------ import


def test_round_trip_in_memory_and_through_a_file(tmp_path):
    x = _spikes(60, 3, 6, 5)
    for net in (_spiking_net(3), _readout_net(3)):
        graph = to_nir(net, dt=1e-3)
        path = tmp_path / "net.nir"
        nir.write(path, graph)
        for back in (from_nir(graph), from_nir(path), from_nir(str(path))):
            assert [type(m) for m in back] == [type(m) for m in net]
            with torch.no_grad():
                assert torch.equal(back(x), net(x))
        for mine, theirs in zip(net, from_nir(path)):
            for key, value in mine.state_dict().items():
                assert torch.equal(theirs.state_dict()[key], value), key
    cuba = from_nir(to_nir(_spiking_net()))[3]
    assert (cuba.form, cuba.reset, cuba.reset_from) == ("spsn", "zero", "current")


def test_dt_comes_from_the_metadata_unless_given():
    net = nn.Sequential(_linear(6, 3, 0), LIF(beta=0.5, reset="zero"))
    graph = to_nir(net, dt=1e-4)
    assert float(from_nir(graph)[1].beta) == 0.5
    # read at 10× the step: β = 1 - 10·(1 - 0.5) < 0 is unstable under Euler and refused
    with pytest.raises(ConfigError, match="tau"):
        from_nir(graph, dt=1e-3)
    slow = from_nir(graph, dt=2e-5)
    assert math.isclose(float(slow[1].beta), 0.9, rel_tol=1e-6)


def test_shdnet_lif_exports_its_readout_potential():
    torch.manual_seed(0)
    net = ShdNet(12, 4, neuron="LIF", hidden_size=8, nb_layers=2, loss_mode="max").double()
    x = _spikes(100, 3, 12, 1, rate=0.5).double() * 3
    graph = to_nir(net, dt=1e-3)
    assert graph.metadata["time_reduction"] == "max"
    assert [k for k in graph.nodes] == ["input", "fcs_0", "neurons_0", "fcs_1", "neurons_1", "readout_fc",
                                        "readout", "output"]
    assert isinstance(graph.nodes["readout"], nir.CubaLI)
    rates = []
    net.neurons[0].register_forward_hook(lambda m, i, o: rates.append(float(o.mean())))
    with torch.no_grad():
        potentials, _ = net.potentials(x)
        np.testing.assert_allclose(simulate_nir(graph, x, 1e-3), potentials.numpy(), rtol=1e-9, atol=1e-9)
        assert torch.equal(from_nir(graph).double()(x), potentials)
    assert rates[0] > 0


@pytest.mark.parametrize("neuron, words", [("SPSN-SB", "stochastic"), ("SPSN-GS", "stochastic"),
                                           ("ParaLIF", "ParaLIF"), ("Non-Spiking", "ReLU")])
def test_shdnet_without_a_nir_form_raises(neuron, words):
    with pytest.raises(ConfigError, match=words):
        to_nir(ShdNet(12, 4, neuron=neuron, hidden_size=8, nb_layers=1))


def _foreign_graph(tau_lif, r_lif, tau_syn, tau_mem, w_in, r_cuba, tau_li, dt, seed):
    """A graph another tool could write: unit-free gains (r = 1, w_in = 1 ...), per-neuron values."""
    rng = np.random.default_rng(seed)
    n0, n1, n2, n3 = 5, 4, 3, 2
    nodes = {
        "input": nir.Input(np.array([n0])),
        "fc1": nir.Linear(weight=rng.uniform(-0.5, 1.5, (n1, n0)).astype(np.float32)),
        "lif": nir.LIF(tau=np.full(n1, tau_lif), r=np.full(n1, r_lif), v_leak=np.zeros(n1),
                       v_threshold=np.full(n1, 0.5), v_reset=np.zeros(n1)),
        "fc2": nir.Affine(weight=rng.uniform(-0.5, 1.5, (n2, n1)).astype(np.float32), bias=np.zeros(n2, np.float32)),
        "cuba": nir.CubaLIF(tau_syn=tau_syn * rng.uniform(1, 2, n2), tau_mem=tau_mem * rng.uniform(1, 2, n2),
                            r=np.full(n2, r_cuba), v_leak=np.zeros(n2), v_threshold=rng.uniform(0.2, 1, n2),
                            v_reset=np.zeros(n2), w_in=np.full(n2, w_in)),
        "fc3": nir.Affine(weight=rng.uniform(-1, 1, (n3, n2)).astype(np.float32), bias=np.ones(n3, np.float32)),
        "li": nir.CubaLI(tau_syn=np.full(n3, tau_syn), tau_mem=tau_li * rng.uniform(1, 2, n3), r=np.full(n3, r_cuba),
                         v_leak=np.zeros(n3), w_in=np.full(n3, w_in)),
        "output": nir.Output(np.array([n3])),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])))


@settings(max_examples=12, deadline=None)
@given(tau_lif=st.floats(1.0, 30.0), r_lif=st.floats(0.5, 20.0), tau_syn=st.floats(1.0, 10.0),
       tau_mem=st.floats(1.0, 30.0), w_in=st.floats(0.5, 20.0), r_cuba=st.floats(0.5, 20.0),
       tau_li=st.floats(1.5, 30.0), seed=st.integers(0, 2**16))
def test_import_of_any_gains_equals_the_reference(tau_lif, r_lif, tau_syn, tau_mem, w_in, r_cuba, tau_li, seed):
    dt = 1e-3
    graph = _foreign_graph(tau_lif * dt, r_lif, tau_syn * dt, tau_mem * dt, w_in, r_cuba, tau_li * dt, dt, seed)
    net = from_nir(graph, dt=dt).double()
    x = _spikes(60, 3, 5, seed, rate=0.5).double()
    with torch.no_grad():
        hidden = net[:4](x)  # fc1, lif, fc2, cuba: spikes
        out = net(x)
    spiking = nir.NIRGraph(nodes={k: graph.nodes[k] for k in ("input", "fc1", "lif", "fc2", "cuba")}
                           | {"output": nir.Output(np.array([3]))},
                           edges=[("input", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "cuba"), ("cuba", "output")])
    np.testing.assert_array_equal(simulate_nir(spiking, x, dt), hidden.numpy())
    # the imported parameters are float32 (relative round-off 6e-8), the reference float64
    ref = simulate_nir(graph, x, dt)
    np.testing.assert_allclose(ref, out.numpy(), rtol=0, atol=1e-6 * np.abs(ref).max())


def _chain(*pairs):
    nodes = dict(pairs)
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False)


def _lif(n=2, **over):
    values = {"tau": np.full(n, 1e-2), "r": np.full(n, 10.0), "v_leak": np.zeros(n), "v_threshold": np.ones(n),
              "v_reset": np.zeros(n)} | over
    return nir.LIF(**values)


@pytest.mark.parametrize("node, words", [
    (_lif(v_leak=np.array([0.0, 0.1])), "v_leak"),
    (_lif(v_reset=np.array([-1.0, 0.0])), "v_reset"),
    (_lif(tau=np.array([1e-2, 2e-2])), "same value for every neuron"),
    (_lif(tau=np.full(2, 1e-4)), "tau"),
    (nir.Threshold(threshold=np.ones(2)), "one of the NIR nodes"),
    (nir.I(r=np.ones(2)), "one of the NIR nodes"),
])
def test_import_refuses_what_snnkit_cannot_run(node, words):
    graph = _chain(("input", nir.Input(np.array([2]))), ("n", node), ("output", nir.Output(np.array([2]))))
    with pytest.raises(ConfigError, match=words):
        from_nir(graph, dt=1e-3)


def test_import_refuses_branches_cycles_and_subgraphs():
    inp, out = nir.Input(np.array([2])), nir.Output(np.array([2]))
    w = nir.Linear(weight=np.eye(2))
    branch = nir.NIRGraph(nodes={"input": inp, "a": w, "b": _lif(), "output": out},
                          edges=[("input", "a"), ("input", "b"), ("a", "output"), ("b", "output")], type_check=False)
    cycle = nir.NIRGraph(nodes={"input": inp, "a": _lif(), "w": w, "output": out},
                         edges=[("input", "a"), ("a", "w"), ("w", "a"), ("a", "output")], type_check=False)
    nested = _chain(("input", inp), ("g", _chain(("input", inp), ("output", out))), ("output", out))
    for graph in (branch, cycle, nested):
        with pytest.raises(ConfigError, match="chain"):
            from_nir(graph)
    with pytest.raises(ConfigError, match="NIRGraph"):
        from_nir(nir.Input(np.array([2])))


def test_gain_exports_as_scale():
    net = nn.Sequential(_linear(3, 2, 0), Gain([2.0, 0.5]), LIF(0.5, reset="zero"))
    graph = to_nir(net)
    assert isinstance(graph.nodes["1"], nir.Scale)
    back = from_nir(graph)
    x = torch.rand(20, 2, 3)
    with torch.no_grad():
        assert torch.equal(back(x), net(x))
