"""Unit tests for snnkit.neurons.spsn: the SPSN, ParaLIF, LeakyIntegrator and NonSpiking modules."""

from __future__ import annotations

import copy
import math
import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snnkit.errors import ConfigError
from snnkit.neurons import surrogate
from snnkit.neurons.parallel import SPIKE_MODES, fire, leaky_integrate_reference
from snnkit.neurons.spsn import SPSN, LeakyIntegrator, NonSpiking, ParaLIF


def _x(steps=30, batch=3, n=5, seed=0, scale=3.0):
    return torch.randn(steps, batch, n, generator=torch.Generator().manual_seed(seed)) * scale


# ---------------------------------------------------------------------------------------------- validation

BAD = [
    (SPSN, {"firing": "XX"}, "firing"),
    (SPSN, {"firing": "T"}, "firing"),
    (SPSN, {"threshold": 1.0}, "options"),
    (ParaLIF, {"spike_mode": "Q"}, "spike_mode"),
    (ParaLIF, {"tau_mem": 0.0}, "tau_mem"),
    (ParaLIF, {"tau_mem": -3.0}, "tau_mem"),
    (ParaLIF, {"tau_syn": float("inf")}, "tau_syn"),
    (ParaLIF, {"tau_syn": True}, "tau_syn"),
    (ParaLIF, {"tau_mem": [10.0, 20.0]}, "tau_mem"),  # per-neuron values need n_neurons
    (ParaLIF, {"tau_mem": [10.0, 20.0], "n_neurons": 3}, "tau_mem"),
    (ParaLIF, {"tau_mem": [10.0, 0.0], "n_neurons": 2}, "tau_mem"),
    (ParaLIF, {"dt": 0}, "dt"),
    (ParaLIF, {"dt": "1"}, "dt"),
    (ParaLIF, {"n_neurons": 0}, "n_neurons"),
    (ParaLIF, {"n_neurons": 2.0}, "n_neurons"),
    (ParaLIF, {"learn_tau": 1}, "learn_tau"),
    (ParaLIF, {"learn_thr": "yes"}, "learn_thr"),
    (ParaLIF, {"recurrent": True}, "n_neurons"),
    (ParaLIF, {"recurrent": 1, "n_neurons": 3}, "recurrent"),
    (ParaLIF, {"recurrent_fire": None}, "recurrent_fire"),
    (ParaLIF, {"threshold": -0.5}, "threshold"),
    (ParaLIF, {"threshold": [1.0, float("nan")], "n_neurons": 2}, "threshold"),
    (ParaLIF, {"surrogate": "sigmoid"}, "surrogate"),
    (ParaLIF, {"surrogate_scale": 0.0}, "surrogate_scale"),
    (ParaLIF, {"surrogate": surrogate.ATan(2.0), "surrogate_scale": 3.0}, "surrogate_scale"),
    (ParaLIF, {"method": "magic"}, "method"),
    (LeakyIntegrator, {"tau_mem": None}, "tau_mem"),
]


@pytest.mark.parametrize("cls,kwargs,key", BAD)
def test_bad_arguments_raise_config_error_naming_the_key(cls, kwargs, key):
    with pytest.raises(ConfigError) as info:
        cls(**kwargs)
    assert info.value.key == key and cls.__name__ in str(info.value)


@pytest.mark.parametrize("module", [SPSN(), ParaLIF("T", n_neurons=5), LeakyIntegrator(), NonSpiking()])
def test_forward_needs_time_first_input(module):
    with pytest.raises(ConfigError):
        module(torch.zeros(5))


def test_forward_checks_the_number_of_neurons():
    with pytest.raises(ConfigError, match="n_neurons = 4"):
        ParaLIF("T", n_neurons=4)(torch.zeros(3, 2, 5))


# ---------------------------------------------------------------------------------------------- semantics


@pytest.mark.parametrize("firing", ["SB", "GS"])
def test_spsn_is_the_exact_integration_then_seeded_firing(firing):
    x = _x()
    neuron = SPSN(firing, tau_mem=20, tau_syn=10, dt=1)
    spikes, mem = neuron.forward_with_state(x, torch.Generator().manual_seed(9))
    ref = leaky_integrate_reference(x.double(), math.exp(-1 / 10), math.exp(-1 / 20))
    torch.testing.assert_close(mem.double(), ref, rtol=1e-5, atol=1e-5)
    assert torch.equal(spikes, fire(mem, firing, generator=torch.Generator().manual_seed(9)))
    assert set(spikes.unique().tolist()) == {0.0, 1.0}


def test_generator_argument_attribute_and_global_rng():
    x = _x()
    neuron = SPSN("SB")
    a = neuron(x, torch.Generator().manual_seed(1))
    neuron.generator = torch.Generator().manual_seed(1)
    b = neuron(x)
    assert torch.equal(a, b)
    assert not torch.equal(neuron(x), b)  # the attribute's generator has advanced
    torch.manual_seed(4)
    c = SPSN("GS")(x)
    torch.manual_seed(4)
    assert torch.equal(c, SPSN("GS")(x))


def test_forward_hooks_see_spikes():
    seen = []
    neuron = ParaLIF("T", n_neurons=5)
    neuron.register_forward_hook(lambda mod, inp, out: seen.append(out))
    out = neuron(_x())
    assert seen[0] is out and set(out.unique().tolist()) <= {0.0, 1.0}


def test_leaky_integrator_read_out_and_no_synaptic_stage():
    x = _x()
    torch.testing.assert_close(
        LeakyIntegrator(tau_mem=20, tau_syn=5)(x).double(),
        leaky_integrate_reference(x.double(), math.exp(-1 / 5), math.exp(-1 / 20)), rtol=1e-5, atol=1e-5)
    single = LeakyIntegrator(tau_mem=4, tau_syn=None, learn_tau=True)
    assert float(single.alpha) == 0.0 and not isinstance(single.raw_alpha, torch.nn.Parameter)
    torch.testing.assert_close(single(x).double(), leaky_integrate_reference(x.double(), 0.0, math.exp(-1 / 4)),
                               rtol=1e-5, atol=1e-5)


def test_non_spiking_is_relu():
    x = _x()
    assert torch.equal(NonSpiking()(x), torch.relu(x))


@pytest.mark.parametrize("mode", SPIKE_MODES)
def test_paralif_without_recurrence_fires_on_the_exact_potential(mode):
    x = _x()
    neuron = ParaLIF(mode, tau_mem=15, tau_syn=7, dt=1, n_neurons=5)
    spikes, mem = neuron.forward_with_state(x, torch.Generator().manual_seed(2))
    ref = leaky_integrate_reference(x.double(), math.exp(-1 / 7), math.exp(-1 / 15))
    torch.testing.assert_close(mem.double(), ref, rtol=1e-5, atol=1e-5)
    expected = fire(mem, mode, neuron.threshold, neuron.spike_fn, torch.Generator().manual_seed(2))
    assert torch.equal(spikes, expected)


def test_paralif_defaults_follow_the_authors():
    assert float(ParaLIF("T").threshold) == 1.0 and float(ParaLIF("SD").threshold) == pytest.approx(0.1)
    assert ParaLIF("T").spike_fn == surrogate.FastSigmoid(100.0)
    assert ParaLIF("T", surrogate="atan").spike_fn == surrogate.ATan(2.0)
    assert ParaLIF("T", surrogate="atan", surrogate_scale=5).spike_fn == surrogate.ATan(5.0)
    assert ParaLIF("T", surrogate=surrogate.FastSigmoid(25.0)).spike_fn == surrogate.FastSigmoid(25.0)
    neuron = ParaLIF("T", tau_mem=20, tau_syn=10, dt=0.5)
    assert float(neuron.beta) == pytest.approx(math.exp(-0.5 / 20)) and neuron.beta.dim() == 0
    assert float(neuron.alpha) == pytest.approx(math.exp(-0.5 / 10))


@settings(max_examples=30, deadline=None)
@given(tau=st.floats(1.0, 500.0), dt=st.floats(0.1, 2.0), n=st.integers(1, 4))
def test_learned_tau_starts_at_the_requested_decay(tau, dt, n):
    neuron = ParaLIF("T", tau_mem=tau, tau_syn=tau / 2 + 0.5, dt=dt, n_neurons=n, learn_tau=True)
    assert isinstance(neuron.raw_beta, torch.nn.Parameter) and neuron.raw_beta.shape == (n,)
    torch.testing.assert_close(neuron.beta.detach().double(), torch.full((n,), math.exp(-dt / tau), dtype=torch.float64),
                               rtol=2e-6, atol=1e-7)
    torch.testing.assert_close(neuron.alpha.detach().double(),
                               torch.full((n,), math.exp(-dt / (tau / 2 + 0.5)), dtype=torch.float64),
                               rtol=2e-6, atol=1e-7)


def test_learned_tau_and_threshold_per_neuron_get_gradients():
    neuron = ParaLIF("T", tau_mem=[10.0, 20.0, 30.0, 40.0, 50.0], tau_syn=5.0, n_neurons=5,
                     learn_tau=True, learn_thr=True, threshold=[0.2, 0.3, 0.4, 0.5, 0.6])
    assert torch.equal(neuron.threshold.detach(), torch.tensor([0.2, 0.3, 0.4, 0.5, 0.6]))
    torch.testing.assert_close(neuron.beta.detach(), torch.exp(-1 / torch.tensor([10.0, 20, 30, 40, 50])))
    neuron(_x()).sum().backward()
    for p in (neuron.raw_alpha, neuron.raw_beta, neuron.raw_threshold):
        assert p.grad is not None and p.grad.shape == (5,) and (p.grad != 0).all()
    with torch.no_grad():
        neuron.raw_threshold.fill_(-1.0)
    assert torch.equal(neuron.threshold.detach(), torch.zeros(5))  # θ = relu(raw)


@pytest.mark.parametrize("mode", ["GS", "SB", "TRB"])
def test_learn_thr_is_off_where_the_mode_has_no_threshold(mode):
    neuron = ParaLIF(mode, n_neurons=5, learn_thr=True, learn_tau=True)
    assert not neuron.learn_thr and not isinstance(neuron.raw_threshold, torch.nn.Parameter)
    neuron(_x(), torch.Generator().manual_seed(0)).sum().backward()
    assert all(p.grad is not None for p in neuron.parameters())  # no parameter without a gradient (DDP)


def test_shared_learned_parameters_are_scalars():
    neuron = ParaLIF("D", learn_tau=True, learn_thr=True)
    assert neuron.raw_beta.dim() == 0 and neuron.raw_threshold.dim() == 0
    neuron(_x()).sum().backward()
    assert neuron.raw_beta.grad is not None and neuron.raw_threshold.grad is not None


def test_recurrent_paralif_weights_and_semantics():
    torch.manual_seed(0)
    neuron = ParaLIF("T", n_neurons=5, recurrent=True, threshold=0.5)
    assert neuron.recurrent.weight.shape == (5, 5) and torch.equal(neuron.recurrent.bias, torch.zeros(5))
    bound = math.sqrt(3 / 5)  # Kaiming-uniform, linear gain, fan_in 5
    assert neuron.recurrent.weight.abs().max() <= bound
    x = _x()
    spikes, mem = neuron.forward_with_state(x)
    a, b = math.exp(-1 / 20), math.exp(-1 / 20)
    u_ff = leaky_integrate_reference(x, a, b)
    hidden = (torch.cat([torch.zeros_like(u_ff[:1]), u_ff[:-1]]) > 0.5).float()
    want = u_ff + leaky_integrate_reference(x + neuron.recurrent(hidden), a, b)
    torch.testing.assert_close(mem, want, rtol=1e-5, atol=1e-5)
    spikes.sum().backward()
    assert neuron.recurrent.weight.grad is not None and neuron.recurrent.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("method", ["recurrence", "fft", "scan"])
def test_methods_agree_inside_the_module(method):
    x = _x()
    ref = LeakyIntegrator(tau_mem=12, tau_syn=6, method="recurrence")(x)
    torch.testing.assert_close(LeakyIntegrator(tau_mem=12, tau_syn=6, method=method)(x), ref, rtol=1e-5, atol=1e-5)


def test_pickle_deepcopy_and_state_dict():
    neuron = ParaLIF("SB", n_neurons=5, recurrent=True, learn_tau=True, generator=torch.Generator().manual_seed(0))
    for clone in (pickle.loads(pickle.dumps(neuron)), copy.deepcopy(neuron)):
        assert clone.generator is None  # generators are not copied
        assert clone.spike_mode == "SB" and torch.equal(clone.beta, neuron.beta)
    other = ParaLIF("SB", n_neurons=5, recurrent=True, learn_tau=True, tau_mem=50)
    other.load_state_dict(neuron.state_dict())
    assert torch.equal(other.beta, neuron.beta)
    assert "firing='GS'" in repr(SPSN("GS")) and "spike_mode='SB'" in repr(neuron)
