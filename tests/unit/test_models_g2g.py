"""G2GNet dense baseline: shapes, the constant-current shortcut, gradients, bad arguments, and the model
the notebook builds from its parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from snnkit import config
from snnkit.errors import ConfigError
from snnkit.models import G2GNet, spike_count_loss
from snnkit.neurons import surrogate

NB = "g2gnet_fashionmnist"
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / f"{NB}.ipynb"


def _net(**kw) -> G2GNet:
    torch.manual_seed(0)
    args = dict(in_features=20, n_classes=4, hidden_dim=16, n_hidden=3, T=6)
    args.update(kw)
    return G2GNet(**args)


def test_forward_shapes_and_counts():
    net = _net()
    x = torch.rand(5, 1, 4, 5)
    spikes = net.forward_spikes(x)
    assert spikes.shape == (6, 5, 4)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    counts = net(x)
    assert torch.equal(counts, spikes.sum(0))
    assert counts.min() >= 0 and counts.max() <= 6


def test_constant_current_shortcut_is_exact():
    """Computing the first layer once and broadcasting equals applying it at every step."""
    net = _net(enc_scale=3.0, enc_bias=0.1)
    x = torch.rand(3, 20)
    fast = net.forward_spikes(x)

    h = net.encode(x)
    for layer, neuron in zip(net.layers, net.neurons):
        h = neuron(torch.stack([layer(h[t]) for t in range(net.T)]))
    slow = net.lif_out(net.fc_out(h))
    assert torch.equal(fast, slow)


def test_gradients_reach_all_parameters():
    net = _net(enc_scale=5.0)
    x = torch.rand(8, 20)
    loss = spike_count_loss(net(x), torch.randint(0, 4, (8,)))
    loss.backward()
    names = [n for n, p in net.named_parameters() if p.grad is None]
    assert not names, f"no gradient for {names}"


def test_rate_encoding_is_stochastic_but_seeded():
    net = _net(enc="rate", threshold=0.2)
    x = torch.rand(4, 20)
    counts = []
    for seed in (1, 1, 2):
        torch.manual_seed(seed)
        counts.append(net(x))
    a, b, c = counts
    assert a.sum() > 0 and a.max() > a.min()  # the output spikes: an all-zero output would pass the rest
    assert torch.equal(a, b)  # same seed, same spikes
    assert not torch.equal(a, c)  # another seed draws other input spikes


def _notebook_model(params):
    """Run the notebook's model-construction cell (tagged ``model``) on ``params``; returns its ``net``."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    (cell,) = [c for c in cells if "model" in c.get("metadata", {}).get("tags", [])]
    namespace = {"P": params, "in_features": 20, "n_classes": 3, "G2GNet": G2GNet}
    exec("".join(cell["source"]), namespace)  # noqa: S102 - the repository's own notebook
    return namespace["net"]


def test_notebooks_model_with_fast_sigmoid_has_slope_25():
    """Bug 4: with surrogate=fast_sigmoid and every other parameter at its default, the notebook's model used
    the arctan α (2) as the fast-sigmoid slope. Each surrogate now has its own parameter (slope 25)."""
    params = config.validate(NB, {"surrogate": "fast_sigmoid", "hidden_dim": 8, "T": 3})
    net = _notebook_model(params)
    lifs = [*net.neurons, net.lif_out]
    assert len(lifs) == 4 and all(lif.spike_fn == surrogate.FastSigmoid(slope=25.0) for lif in lifs)
    u = torch.tensor([0.1], requires_grad=True)
    (grad,) = torch.autograd.grad(net.lif_out.spike_fn(u).sum(), u)
    assert grad.item() == pytest.approx(1 / (1 + 25 * 0.1) ** 2)
    assert net.layers[0].in_features == 20 and net.fc_out.out_features == 3
    assert _notebook_model(config.validate(NB, {"fast_sigmoid_slope": 9.0, "hidden_dim": 8})).lif_out.spike_fn \
        == surrogate.ATan(alpha=2.0)  # the paper's surrogate by default; the unused slope changes nothing
    net = _notebook_model(config.validate(NB, {"surrogate": "fast_sigmoid", "fast_sigmoid_slope": 9.0,
                                               "atan_alpha": 4.0, "hidden_dim": 8}))
    assert net.neurons[0].spike_fn == surrogate.FastSigmoid(slope=9.0)


def test_from_params_passes_every_model_parameter():
    params = config.validate(NB, {"hidden_dim": 8, "n_hidden": 2, "T": 4, "enc": "rate", "enc_scale": 2.0,
                                  "enc_bias": 0.5, "beta": 0.7, "threshold": 0.6, "learn_beta": False,
                                  "learn_threshold": False, "reset": "zero", "atan_alpha": 3.0})
    net = G2GNet.from_params(params, in_features=10, n_classes=3)
    assert (net.T, net.enc, net.enc_scale, net.enc_bias, len(net.layers)) == (4, "rate", 2.0, 0.5, 2)
    assert net.layers[1].out_features == 8 and net.layers[0].in_features == 10
    for lif in [*net.neurons, net.lif_out]:
        assert float(lif.beta) == pytest.approx(0.7) and float(lif.threshold) == pytest.approx(0.6)
        assert (lif.learn_beta, lif.learn_threshold, lif.reset) == (False, False, "zero")
        assert lif.spike_fn == surrogate.ATan(alpha=3.0)


def test_layer_factory_is_used():
    built = []

    def factory(i, fan_in, fan_out):
        built.append((i, fan_in, fan_out))
        return nn.Linear(fan_in, fan_out, bias=False)

    net = _net(layer_factory=factory)
    assert built == [(0, 20, 16), (1, 16, 16), (2, 16, 16)]
    assert net.layers[0].bias is None


@pytest.mark.parametrize("key,value", [("hidden_dim", 0), ("T", -1), ("n_hidden", 1.5), ("enc", "latency"),
                                       ("T", True), ("surrogate", "relu")])
def test_bad_arguments(key, value):
    with pytest.raises(ConfigError, match=key):
        _net(**{key: value})


class _Crash(Exception):
    pass


def test_g2gnet_training_resumes_exactly(tmp_path):
    """The notebook's model (rate encoding: stochastic; learnable β, θ) through the Trainer: a crash
    mid-run and a resume from the checkpoint end bit-identical to an uninterrupted run."""
    import functools

    from snnkit.train import Callback, Trainer

    class CrashAt(Callback):
        def __init__(self, step):
            self.step = step

        def on_step_end(self, trainer):
            if trainer.global_step == self.step:
                raise _Crash

    gen = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.rand(48, 20, generator=gen), torch.randint(0, 4, (48,), generator=gen))

    def run(ckpt_dir=None, crash=None):
        net = _net(enc="rate", enc_scale=1.0)
        trainer = Trainer(net, loss_fn=spike_count_loss, optimizer=functools.partial(torch.optim.Adam, lr=1e-2),
                          epochs=3, batch_size=16, seed=5, device="cpu", progress=False, ckpt_dir=ckpt_dir,
                          ckpt_every_steps=2, callbacks=[CrashAt(crash)])
        history = trainer.fit(data, data)
        return net, history

    ref_net, ref_hist = run()
    with pytest.raises(_Crash):
        run(tmp_path, crash=5)
    net, hist = run(tmp_path)
    assert [h["val_accuracy"] for h in hist] == [h["val_accuracy"] for h in ref_hist]
    ref_state, state = ref_net.state_dict(), net.state_dict()
    assert all(torch.equal(ref_state[k], state[k]) for k in ref_state)
