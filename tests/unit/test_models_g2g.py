"""G2GNet dense baseline: shapes, the constant-current shortcut, gradients, bad arguments."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snnkit.errors import ConfigError
from snnkit.models import G2GNet, spike_count_loss


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
    net = _net(enc="rate")
    x = torch.rand(4, 20)
    torch.manual_seed(1)
    a = net(x)
    torch.manual_seed(1)
    b = net(x)
    assert torch.equal(a, b)


def test_layer_factory_is_used():
    built = []

    def factory(i, fan_in, fan_out):
        built.append((i, fan_in, fan_out))
        return nn.Linear(fan_in, fan_out, bias=False)

    net = _net(layer_factory=factory)
    assert built == [(0, 20, 16), (1, 16, 16), (2, 16, 16)]
    assert net.layers[0].bias is None


@pytest.mark.parametrize("key,value", [("hidden_dim", 0), ("T", -1), ("n_hidden", 1.5), ("enc", "latency")])
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
