"""Hidden activity for losses and rules: Callback.watch → trainer.activity[name] (.input/.output with
their graph) during extra_loss / on_after_backward / on_step_end, without a second forward pass."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from snnkit.errors import ConfigError
from snnkit.neurons import buffers
from snnkit.train import Callback, Trainer
from snnkit.train.activity import ActivityRecorder, Output

T, B, N_IN, N_HID, N_OUT = 5, 12, 6, 8, 3


def _data(n: int = B) -> TensorDataset:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, N_IN, generator=gen)
    return TensorDataset(x, (x[:, :N_OUT]).argmax(1))


def _trainer(model: nn.Module, callbacks, **kw) -> Trainer:
    args = dict(
        loss_fn=nn.functional.cross_entropy,
        optimizer=functools.partial(torch.optim.SGD, lr=0.1),
        epochs=1,
        batch_size=B,
        seed=0,
        device="cpu",
        progress=False,
        callbacks=callbacks,
    )
    args.update(kw)
    return Trainer(model, **args)


class RateNet(nn.Module):
    """Linear → sigmoid 'firing rate' → Linear; the hidden rates are what a regulariser penalises."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.act, self.fc2 = nn.Linear(N_IN, N_HID), nn.Sigmoid(), nn.Linear(N_HID, N_OUT)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class RateRegulariser(Callback):
    def __init__(self, lam: float) -> None:
        self.lam, self.grads = lam, []

    def watch(self, model):
        return ["act"]

    def extra_loss(self, trainer, outputs, targets):
        return self.lam * trainer.activity["act"].output.mean()

    def on_after_backward(self, trainer):
        self.grads.append(trainer.model.fc1.weight.grad.clone())


def test_a_firing_rate_regulariser_changes_the_gradient_as_expected() -> None:
    lam = 0.7
    plain, reg = RateRegulariser(0.0), RateRegulariser(lam)
    _trainer(RateNet(), [plain]).fit(_data())
    _trainer(RateNet(), [reg]).fit(_data())
    # d/dW1 of lam * mean_{b,h} sigmoid(W1 x_b + b1)_h = lam / (B * H) * sum_b (s (1 - s))_b^T x_b
    model = RateNet()
    x = _data().tensors[0]
    s = torch.sigmoid(model.fc1(x)).detach()
    expected = lam / (B * N_HID) * (s * (1 - s)).T @ x
    torch.testing.assert_close(reg.grads[0] - plain.grads[0], expected, rtol=1e-4, atol=1e-6)
    assert expected.abs().max() > 1e-3  # the check is not vacuous


class LoopNet(nn.Module):
    """A recurrent-style net: ``syn`` runs once per time step on [B, in]; ``head`` once on [T, B, hid]."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.syn, self.head = nn.Linear(N_IN, N_HID), nn.Linear(N_HID, N_OUT)

    def forward(self, x):
        self.last_x = x  # for the test's manual forward
        drive = torch.stack([x * (t + 1) / T for t in range(T)])  # [T, B, in]
        hidden = torch.stack([torch.tanh(self.syn(drive[t])) for t in range(T)])  # [T, B, hid]
        return self.head(hidden).mean(0)

    def manual(self, x):
        drive = torch.stack([x * (t + 1) / T for t in range(T)])
        pre_syn = drive
        post_syn = torch.stack([self.syn(drive[t]) for t in range(T)])
        pre_head = torch.tanh(post_syn)
        return pre_syn, post_syn, pre_head, self.head(pre_head)


class HebbStats(Callback):
    def __init__(self, by_module: bool = False) -> None:
        self.by_module, self.seen, self.after_step = by_module, [], []

    def watch(self, model):
        return [model.syn, model.head] if self.by_module else ["syn", "head"]

    def extra_loss(self, trainer, outputs, targets):
        syn, head = trainer.activity["syn"], trainer.activity["head"]
        assert syn.output.grad_fn is not None  # the graph is kept
        with torch.no_grad():
            expected = trainer.model.manual(trainer.model.last_x)  # a manual forward: not recorded
        got = (syn.input, syn.output, head.input, head.output)
        self.seen.append(
            ([g.detach().clone() for g in got], [e.clone() for e in expected], syn.calls, head.calls)
        )
        return None

    def on_step_end(self, trainer):
        self.after_step.append(sorted(trainer.activity))


def test_hebbian_callback_sees_pre_and_post_activity_over_time_and_batch() -> None:
    cb = HebbStats()
    trainer = _trainer(LoopNet(), [cb], epochs=2)
    trainer.fit(_data())
    assert len(cb.seen) == 2
    for got, expected, syn_calls, head_calls in cb.seen:
        assert (syn_calls, head_calls) == (T, 1)
        assert got[0].shape == (T, B, N_IN) and got[1].shape == (T, B, N_HID)
        assert got[2].shape == (T, B, N_HID) and got[3].shape == (T, B, N_OUT)
        for g, e in zip(got, expected, strict=True):
            torch.testing.assert_close(g, e, rtol=0, atol=1e-6)
    assert cb.after_step == [["head", "syn"], ["head", "syn"]]  # still there in on_step_end
    assert trainer.activity == {}  # cleared after the step
    assert not trainer.model.syn._forward_hooks and not trainer.model.head._forward_hooks  # hooks removed


def test_evaluation_is_not_recorded_and_modules_can_be_given_directly() -> None:
    cb = HebbStats(by_module=True)
    recorded: list[int] = []

    class Count(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            recorded.append(len(trainer.activity))

    trainer = _trainer(LoopNet(), [cb, Count()])
    trainer.fit(_data(), _data())  # validation runs before on_epoch_end
    assert recorded == [0] and len(cb.seen) == 1


@pytest.mark.parametrize("bad", ["nope", nn.Linear(2, 2), Output("nope"), Output(nn.Linear(2, 2))])
def test_unknown_watched_module_is_a_config_error(bad) -> None:
    class Bad(Callback):
        def watch(self, model):
            return [bad]

    with pytest.raises(ConfigError, match="watch"):
        _trainer(LoopNet(), [Bad()]).fit(_data())


def test_an_output_watch_keeps_no_input_unless_another_item_watches_the_module() -> None:
    model = RateNet()
    x = torch.randn(B, N_IN)
    want = torch.sigmoid(model.fc1(x))
    with ActivityRecorder(model, [Output("act"), Output(model.fc1), "fc2"]) as rec:
        rec.recording = True
        model(x)
        act, fc1, fc2 = rec.activity["act"], rec.activity["fc1"], rec.activity["fc2"]
        torch.testing.assert_close(act.output, want, rtol=0, atol=0)
        assert fc1.output.shape == (B, N_HID) and fc2.input.shape == (B, N_HID)
        with pytest.raises(RuntimeError, match="'act'.*output only"):
            _ = act.input
        assert not act._inputs and not fc1._inputs  # nothing of the input is held
        assert all(getattr(h, "_snnkit_input_blind", False) for h in model.act._forward_hooks.values())
        assert not any(getattr(h, "_snnkit_input_blind", False) for h in model.fc2._forward_hooks.values())
    with ActivityRecorder(model, [Output("act"), "act"]) as rec:  # both: the input is kept
        rec.recording = True
        model(x)
        assert rec.activity["act"].input.shape == (B, N_HID)
        assert not buffers.may_take(model.act, buffers.donate(torch.zeros(1)))
