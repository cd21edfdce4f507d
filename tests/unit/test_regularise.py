"""The firing-rate regulariser (G2GNet's enforce_sparsity): schedule, penalty, gradient, and that the
Hebbian statistics of dynamic sparse training keep updating while it is on (the original stopped them)."""

from __future__ import annotations

import functools

import pytest
import torch

from snnkit.errors import ConfigError
from snnkit.models import G2GNet, spike_count_loss
from snnkit.sparse import DynamicSparseTraining, build_group_masks, masked_layer_factory
from snnkit.train import FiringRateRegulariser, SpikeCountRegulariser, Trainer, spike_count_penalty


def test_schedule_is_off_in_warmup_then_linear_in_progress():
    reg = FiringRateRegulariser(["neurons.0"], warmup_epochs=2)
    # 10 steps per epoch, 6 epochs: warm-up = steps 0..19, then p = (step/10 - 2) / 4
    assert reg.schedule(19, 10, 6) is None
    lam, target = reg.schedule(20, 10, 6)
    assert lam == pytest.approx(1e-4) and target == pytest.approx(0.25)
    lam, target = reg.schedule(40, 10, 6)  # p = 0.5
    assert lam == pytest.approx((1e-4 + 1e-2) / 2) and target == pytest.approx((0.25 + 0.09) / 2)
    lam, target = reg.schedule(10_000, 10, 6)  # clipped at p = 1
    assert lam == pytest.approx(1e-2) and target == pytest.approx(0.09)
    assert reg.schedule(5, 10, 6) is None
    assert FiringRateRegulariser(["a"], warmup_epochs=0).schedule(0, 10, 0) == (pytest.approx(1e-2), 0.09)


class _FakeActivity:
    def __init__(self, output):
        self.output = output


class _FakeTrainer:
    def __init__(self, step, activity):
        self.global_step, self.steps_per_epoch, self.epochs, self.activity = step, 10, 4, activity


def test_penalty_is_lambda_times_squared_rate_error_summed_over_neurons_and_layers():
    reg = FiringRateRegulariser(["a", "b"], warmup_epochs=0, lam=(2.0, 2.0), target=(0.5, 0.5))
    a = torch.tensor([[[1.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]], requires_grad=True)  # [T=2, B=2, 2]
    b = torch.ones(2, 2, 3)
    loss = reg.extra_loss(_FakeTrainer(0, {"a": _FakeActivity(a), "b": _FakeActivity(b)}), None, None)
    # rates: a = [0.75, 0.25], b = [1, 1, 1]; (0.25² + 0.25²) + 3·0.5² = 0.875; × λ = 2
    assert float(loss.detach()) == pytest.approx(1.75)
    loss.backward()
    # d/d a[t,b,i] = λ · 2 (rate_i − target) / (T·B)
    assert torch.allclose(a.grad[..., 0], torch.full((2, 2), 2 * 2 * 0.25 / 4))
    assert torch.allclose(a.grad[..., 1], torch.full((2, 2), 2 * 2 * -0.25 / 4))


def test_warmup_steps_add_nothing():
    reg = FiringRateRegulariser(["a"], warmup_epochs=1)
    assert reg.extra_loss(_FakeTrainer(9, {}), None, None) is None  # step 9 of 10 per epoch: still warm-up


@pytest.mark.parametrize("kwargs, key", [({"modules": []}, "modules"), ({"modules": "neurons.0"}, "modules"),
                                         ({"modules": ["a"], "warmup_epochs": -1}, "warmup_epochs"),
                                         ({"modules": ["a"], "lam": (1.0,)}, "lam"),
                                         ({"modules": ["a"], "target": (-0.1, 0.2)}, "target")])
def test_bad_settings_name_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=f"'{key}'"):
        FiringRateRegulariser(**kwargs)


def test_regulariser_lowers_firing_rates_and_hebbian_statistics_keep_updating(monkeypatch):
    from snnkit.sparse.hebbian import CoactivityWindow

    updates = []
    original_update = CoactivityWindow.update

    def counted(self, pre, post):
        updates.append(float(post.detach().float().mean()))
        return original_update(self, pre, post)

    monkeypatch.setattr(CoactivityWindow, "update", counted)
    torch.manual_seed(0)
    x = torch.rand(64, 16) * 3
    y = torch.randint(0, 4, (64,))
    data = torch.utils.data.TensorDataset(x, y)

    def train(with_reg: bool):
        masks = build_group_masks("mixer", [16, 16, 16], groups=4, p_inter=0.2, seed=0)
        torch.manual_seed(1)
        net = G2GNet(16, 4, hidden_dim=16, n_hidden=2, T=6, layer_factory=masked_layer_factory(masks))
        dst = DynamicSparseTraining(every=4, prune="hebb", grow="hebb", window=2)
        callbacks = [dst]
        if with_reg:
            callbacks.append(FiringRateRegulariser(FiringRateRegulariser.hidden_modules(net), warmup_epochs=1,
                                                   lam=(1.0, 1.0), target=(0.0, 0.0)))
        trainer = Trainer(net, loss_fn=spike_count_loss, optimizer=functools.partial(torch.optim.Adam, lr=1e-2),
                          epochs=4, batch_size=16, seed=0, device="cpu", progress=False, callbacks=callbacks)
        history = trainer.fit(data)
        return net, dst, history

    _, _, plain = train(False)
    assert len(updates) == 4 * 2 * 2  # 4 events × window of 2 batches × 2 masked layers
    updates.clear()
    net, dst, history = train(True)
    # after the warm-up (steps 1-4) the statistics still feed every event: the same 16 updates
    assert {e["step"] for e in dst.events} == {4, 8, 12, 16}
    assert len(updates) == 16
    assert history[-1]["rate_lambda"] == pytest.approx(1.0) and "rate_penalty" in history[-1]
    assert history[-1]["rate_penalty"] < history[1]["rate_penalty"], "the penalty did not lower the rates"
    assert "rate_penalty" not in history[0] and "rate_penalty" not in plain[-1]


# -- the SPSN spike-count regulariser (Yarga & Wood, arXiv 2306.12666, Eq. 21) ---------------------------
class _Act:
    def __init__(self, inp=None, out=None):
        self.input, self.output = inp, out


def test_spike_count_penalty_by_hand():
    # two layers of 2 neurons, T = 2, B = 1: rates (1, 0.5) and (0, 0.5) sum to 2.0; N = 4
    a = torch.tensor([[[1.0, 1.0]], [[1.0, 0.0]]])
    b = torch.tensor([[[0.0, 0.0]], [[0.0, 1.0]]])
    assert spike_count_penalty([a, b], 2, 0.25).item() == pytest.approx((2.0 - 1.0) ** 2)
    assert spike_count_penalty([a, b], 2, 0.5).item() == 0.0  # below the threshold: no penalty


@pytest.mark.parametrize("pad", ["end", "start"])
def test_spike_count_regulariser_ignores_padded_steps(pad):
    """A neuron that fires on every padded step adds nothing: only real steps count, as spikes and as steps."""
    spikes = torch.zeros(4, 2, 1, requires_grad=True)
    lengths = torch.tensor([1, 3])
    real = torch.arange(4)[:, None] < lengths if pad == "end" else torch.arange(4)[:, None] >= 4 - lengths
    fired = torch.where(real[..., None], torch.tensor(0.5), torch.tensor(1.0))  # padding: 1 everywhere
    out = spikes + fired
    reg = SpikeCountRegulariser(["neurons.0"], reg_thr=0.1)
    model = torch.nn.Module()
    model.pad = pad
    reg.watch(model)
    trainer = _FakeTrainer(0, {"": _Act(inp=(torch.zeros(4, 2, 3), lengths)), "neurons.0": _Act(out=out)})
    loss = reg.extra_loss(trainer, None, None)
    assert loss.item() == pytest.approx((0.5 - 0.1) ** 2)  # rate 0.5 over the 4 real (t, b) pairs
    loss.backward()
    assert not spikes.grad[~real].any() and spikes.grad[real].all()  # gradient on real steps only


def test_spike_count_regulariser_checks_its_settings():
    with pytest.raises(ConfigError, match="reg_thr"):
        SpikeCountRegulariser(["neurons.0"], reg_thr=-1.0)
    with pytest.raises(ConfigError, match="modules"):
        SpikeCountRegulariser("neurons.0", reg_thr=0.1)
