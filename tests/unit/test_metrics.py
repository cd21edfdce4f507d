"""Tests of snnkit.train.metrics: metrics against hand-computed values, invariants, SpikeRecorder rates."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from snnkit.neurons import LIF as RealLIF
from snnkit.train import metrics as metrics_mod
from snnkit.train import monitor
from snnkit.train.metrics import (
    SpikeRecorder,
    accuracy,
    classification_report,
    confusion_matrix,
    macro_f1,
    roc_auc,
    silent_rate,
    tie_rate,
)

# ------------------------------------------------------------------------------------------------
# plain metrics, hand-computed
# ------------------------------------------------------------------------------------------------
PREDS = [0, 1, 1, 2, 2, 2, 0]
TARGETS = [0, 1, 2, 2, 2, 1, 1]


def test_accuracy_labels_and_scores():
    assert accuracy(PREDS, TARGETS) == pytest.approx(4 / 7)
    scores = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0], [0.0, 0.0, 5.0]])
    assert accuracy(scores, torch.tensor([0, 2, 2])) == pytest.approx(2 / 3)
    assert accuracy(np.array([1, 1]), np.array([1, 1])) == 1.0
    assert isinstance(accuracy(PREDS, TARGETS), float)


def test_accuracy_rejects_bad_input():
    with pytest.raises(ValueError, match="differ in length"):
        accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="empty"):
        accuracy([], [])
    with pytest.raises(ValueError, match="shape"):
        accuracy(np.zeros((2, 2, 2)), [0, 1])
    with pytest.raises(ValueError, match="non-integer"):
        accuracy([0.5, 1.0], [0, 1])


def test_confusion_matrix_hand_computed():
    cm = confusion_matrix(PREDS, TARGETS, 4)
    expected = np.array(
        [
            [1, 0, 0, 0],  # true 0 -> pred 0
            [1, 1, 1, 0],  # true 1 -> pred 0, 1, 2
            [0, 1, 2, 0],  # true 2 -> pred 1, 2, 2
            [0, 0, 0, 0],  # class 3 never occurs but keeps its row and column
        ]
    )
    np.testing.assert_array_equal(cm, expected)
    with pytest.raises(ValueError, match="allowed are 0..2"):
        confusion_matrix([0, 3], [0, 1], 3)
    for bad in (0, True, 2.0):  # True passed the old check as n_classes = 1
        with pytest.raises(ValueError, match="n_classes"):
            confusion_matrix([0], [0], bad)


def test_macro_f1_hand_computed():
    # class 0: tp1 fp1 fn0 -> f1 2/3; class 1: tp1 fp1 fn2 -> p 1/2 r 1/3 f1 0.4; class 2: tp2 fp1 fn1 -> 2/3
    expected = (2 / 3 + 0.4 + 2 / 3) / 3
    assert macro_f1(PREDS, TARGETS) == pytest.approx(expected)
    # with an extra absent class, its F1 of 0 enters the mean
    assert macro_f1(PREDS, TARGETS, n_classes=4) == pytest.approx(expected * 3 / 4)


def test_roc_auc_binary_and_multiclass():
    # binary: scores pushed through softmax; class-1 probability ordering decides the AUC
    scores = np.array([[0.0, 1.0], [0.0, 2.0], [0.0, -1.0], [0.0, 0.5]])
    targets = np.array([1, 1, 0, 0])
    # positives {1, 2}, negatives {-1, 0.5}: all 4 pairs ordered -> AUC 1
    assert roc_auc(scores, targets, 2) == pytest.approx(1.0)
    targets2 = np.array([1, 0, 0, 1])  # positives {1, 0.5}, negatives {2, -1}: 2 of 4 pairs ordered
    assert roc_auc(scores, targets2, 2) == pytest.approx(0.5)
    # multiclass, perfect separation -> 1.0
    s3 = torch.eye(3).repeat(2, 1) * 5
    assert roc_auc(s3, torch.tensor([0, 1, 2, 0, 1, 2]), 3) == pytest.approx(1.0)


def test_roc_auc_matches_manual_ovr_mean():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(40, 4))
    targets = np.arange(40) % 4
    probs = np.exp(scores) / np.exp(scores).sum(1, keepdims=True)
    aucs = []
    for c in range(4):
        pos = probs[targets == c, c]
        neg = probs[targets != c, c]
        pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
        aucs.append(pairs)
    assert roc_auc(scores, targets, 4) == pytest.approx(np.mean(aucs))


def test_roc_auc_absent_class_is_nan_with_warning(caplog):
    scores = np.random.default_rng(1).normal(size=(6, 3))
    with caplog.at_level(logging.WARNING, logger="snnkit.train.metrics"):
        value = roc_auc(scores, [0, 1, 0, 1, 0, 1], 3)
    assert math.isnan(value)
    assert "absent" in caplog.text and "[2]" in caplog.text
    with caplog.at_level(logging.WARNING, logger="snnkit.train.metrics"):
        assert math.isnan(roc_auc(np.array([[np.inf, 0.0], [0.0, 1.0]]), [0, 1], 2))
    with pytest.raises(ValueError, match=r"expected \[N, 3\]"):
        roc_auc(np.zeros((4, 2)), [0, 1, 0, 1], 3)


def test_classification_report_contents():
    scores = np.eye(3)[PREDS]  # one-hot scores whose arg-max equals PREDS
    rep = classification_report(scores, TARGETS, ["a", "b", "c"])
    assert rep["accuracy"] == pytest.approx(4 / 7)
    assert rep["macro_f1"] == pytest.approx((2 / 3 + 0.4 + 2 / 3) / 3)
    assert rep["n_samples"] == 7
    np.testing.assert_array_equal(rep["confusion_matrix"], confusion_matrix(PREDS, TARGETS, 3))
    assert rep["roc_auc"] == pytest.approx(roc_auc(scores, TARGETS, 3))
    # one-hot scores: softmax gives e/(e+2) to the predicted class and 1/(e+2) to the others, so each
    # class's one-vs-rest AUC counts (pos predicted c, neg not) as 1 and equal scores as 1/2
    t, p = np.array(TARGETS), np.array(PREDS)
    manual = []
    for c in range(3):
        pos, neg = (p[t == c] == c).astype(float), (p[t != c] == c).astype(float)
        manual.append((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
    assert rep["roc_auc"] == pytest.approx(np.mean(manual))
    assert rep["tie_rate"] == 0.0 and rep["silent_rate"] == 0.0
    pc = rep["per_class"]
    assert isinstance(pc, pd.DataFrame)
    assert list(pc.index) == ["a", "b", "c"]
    assert list(pc.columns) == ["precision", "recall", "f1", "support"]
    assert pc.loc["b", "precision"] == pytest.approx(0.5)
    assert pc.loc["b", "recall"] == pytest.approx(1 / 3)
    assert pc.loc["c", "support"] == 3
    with pytest.raises(ValueError, match="3 class names"):
        classification_report(np.zeros((7, 2)), TARGETS, ["a", "b", "c"])


def test_classification_report_single_class_present():
    rep = classification_report(np.array([[1.0, 0.0], [2.0, 0.0]]), [0, 0], ["x", "y"])
    assert rep["accuracy"] == 1.0
    assert math.isnan(rep["roc_auc"])
    assert rep["per_class"].loc["y", "support"] == 0


# ------------------------------------------------------------------------------------------------
# hypothesis invariants
# ------------------------------------------------------------------------------------------------
@st.composite
def label_pairs(draw):
    n_classes = draw(st.integers(1, 6))
    n = draw(st.integers(1, 40))
    labels = st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)
    return n_classes, np.array(draw(labels)), np.array(draw(labels))


@given(label_pairs())
def test_confusion_matrix_invariants(data):
    n_classes, preds, targets = data
    cm = confusion_matrix(preds, targets, n_classes)
    assert cm.shape == (n_classes, n_classes)
    assert cm.sum() == len(preds)
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(targets, minlength=n_classes))
    np.testing.assert_array_equal(cm.sum(axis=0), np.bincount(preds, minlength=n_classes))
    acc = accuracy(preds, targets)
    assert acc == pytest.approx(np.trace(cm) / cm.sum())
    assert accuracy(targets, targets) == 1.0
    # accuracy is symmetric in its arguments and invariant to a common permutation of samples
    perm = np.random.default_rng(len(preds)).permutation(len(preds))
    assert accuracy(preds[perm], targets[perm]) == acc == accuracy(targets, preds)


@given(label_pairs())
def test_accuracy_from_scores_equals_from_argmax(data):
    n_classes, preds, targets = data
    scores = np.eye(n_classes)[preds] * 3.0 + 0.1
    assert accuracy(scores, targets) == accuracy(preds, targets)
    assert accuracy(torch.from_numpy(scores), torch.from_numpy(targets)) == accuracy(preds, targets)


# ------------------------------------------------------------------------------------------------
# SpikeRecorder
# ------------------------------------------------------------------------------------------------
def LIF() -> RealLIF:
    """The real snnkit LIF, memoryless: with beta=0 and reset to zero it spikes exactly where the input
    exceeds 1 (inputs here are 0, 0.6 or 1.2), so the expected spikes are known without the recorder."""
    return RealLIF(beta=0.0, threshold=1.0, reset="zero")


class OtherSpiker(nn.Module):
    """A spiking module of another class, returning (spikes, membrane) like snnTorch."""

    def forward(self, x: torch.Tensor):
        return (x > 1.0).to(x.dtype), x


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lif_in = LIF()
        self.fc = nn.Linear(6, 3)
        self.lif_out = LIF()
        self.other = OtherSpiker()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [T, B, 2, 3]
        s = self.lif_in(x)
        h = self.fc(s.flatten(2))
        out = self.lif_out(h)
        self.other(h)
        return out


def _input(seed: int, t: int = 5, b: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 3, (t, b, 2, 3), generator=g).float() * 0.6  # values 0, 0.6, 1.2


def test_recorder_hand_example():
    class One(nn.Module):
        def __init__(self):
            super().__init__()
            self.lif = LIF()

        def forward(self, x):
            return self.lif(x)

    model = One()
    x = torch.tensor([[[1.5, 0.0]], [[1.5, 1.5]]])  # T=2, B=1, N=2
    with SpikeRecorder(model, keep_spikes=True) as rec:
        model(x)
    assert rec.firing_rates() == {"lif": 0.75}
    torch.testing.assert_close(rec.neuron_rates()["lif"], torch.tensor([1.0, 0.5], dtype=torch.float64))
    assert rec.mean_firing_rate() == 0.75
    assert rec.spikes("lif").dtype == torch.bool
    assert rec.spikes("lif").tolist() == [[[True, False]], [[True, True]]]


def test_recorder_exact_rates_on_toy_model():
    torch.manual_seed(0)
    model = Toy()
    xs = [_input(i) for i in range(3)]
    with torch.no_grad(), SpikeRecorder(model) as rec:
        for x in xs:
            model(x)
    assert rec.layer_names == ["lif_in", "lif_out"]  # class name LIF only, by default
    # independent expectation
    s_in = torch.stack([(x > 1.0).float() for x in xs])  # [3, T, B, 2, 3]
    with torch.no_grad():
        h = torch.stack([model.fc(s.flatten(2)) for s in s_in])
    s_out = (h > 1.0).float()
    rates = rec.firing_rates()
    assert rates["lif_in"] == pytest.approx(s_in.double().mean().item(), abs=1e-12)
    assert rates["lif_out"] == pytest.approx(s_out.double().mean().item(), abs=1e-12)
    torch.testing.assert_close(
        rec.neuron_rates()["lif_in"], s_in.double().reshape(-1, 6).mean(0), rtol=0, atol=1e-12
    )
    assert rec.neuron_rates()["lif_out"].shape == (3,)
    total = s_in.double().sum() + s_out.double().sum()
    denom = s_in.numel() + s_out.numel()
    assert rec.mean_firing_rate() == pytest.approx((total / denom).item(), abs=1e-12)
    assert rec.batches() == {"lif_in": 3, "lif_out": 3}


def test_recorder_removes_hooks_and_resets_on_enter():
    model = Toy()
    rec = SpikeRecorder(model)
    with rec:
        assert len(model.lif_in._forward_hooks) == 1
        model(_input(0))
    assert len(model.lif_in._forward_hooks) == 0 and len(model.lif_out._forward_hooks) == 0
    before = rec.firing_rates()
    model(_input(1))  # not recorded: hooks are gone
    assert rec.firing_rates() == before
    with rec:
        pass
    assert rec.firing_rates() == {}
    assert math.isnan(rec.mean_firing_rate())


def test_recorder_max_batches_and_keep_spikes():
    model = Toy()
    xs = [_input(i) for i in range(4)]
    with SpikeRecorder(model, keep_spikes=True, max_batches=2) as rec:
        for x in xs:
            model(x)
    assert rec.batches()["lif_in"] == 2
    expected = torch.stack([(x > 1.0).double() for x in xs[:2]]).mean().item()
    assert rec.firing_rates()["lif_in"] == pytest.approx(expected, abs=1e-12)
    spk = rec.spikes("lif_in")
    assert spk.shape == (5, 4, 6) and spk.dtype == torch.bool
    torch.testing.assert_close(spk, (xs[0] > 1.0).reshape(5, 4, 6))
    with pytest.raises(KeyError, match="recorded layers"):
        rec.spikes("nope")
    rec2 = SpikeRecorder(model)
    with pytest.raises(RuntimeError, match="keep_spikes=True"):
        rec2.spikes("lif_in")


def test_recorder_with_grad_does_not_change_gradients():
    torch.manual_seed(0)
    model = Toy()
    x = _input(0)
    model(x).sum().backward()
    ref = model.fc.weight.grad.clone()
    model.zero_grad()
    with SpikeRecorder(model, keep_spikes=True) as rec:
        out = model(x)
        out.sum().backward()
    torch.testing.assert_close(model.fc.weight.grad, ref)
    assert not rec.spikes("lif_out").requires_grad
    assert not rec.neuron_rates()["lif_out"].requires_grad


def test_recorder_selection_by_type_and_name():
    model = Toy()
    x = _input(2)
    with SpikeRecorder(model, module_types=(OtherSpiker,)) as rec:
        model(x)
    assert set(rec.firing_rates()) == {"lif_in", "lif_out", "other"}  # snnkit LIF, plus the given type
    assert rec.firing_rates()["other"] == rec.firing_rates()["lif_out"]  # same threshold on same input
    with SpikeRecorder(model, names=["other"]) as rec2:
        model(x)
    assert list(rec2.firing_rates()) == ["other"]
    with pytest.raises(ValueError, match="not found"):
        SpikeRecorder(model, names=["missing"])
    with pytest.raises(ValueError, match="no spiking module"):
        SpikeRecorder(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="max_batches"):
        SpikeRecorder(model, max_batches=0)


def test_recorder_rejects_non_time_first_output():
    model = nn.Sequential(OtherSpiker())
    with SpikeRecorder(model, module_types=OtherSpiker) as rec, pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        model(torch.ones(3))
    assert rec.firing_rates() == {}


def test_recorder_all_silent_layer():
    model = Toy()
    with SpikeRecorder(model) as rec:
        model(torch.zeros(4, 2, 2, 3))
    assert rec.firing_rates()["lif_in"] == 0.0
    assert float(rec.neuron_rates()["lif_in"].sum()) == 0.0


def test_recorder_with_real_snnkit_lif():
    neurons = pytest.importorskip("snnkit.neurons")

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 16)
            self.lif = neurons.LIF(beta=0.9, threshold=1.0, learn_beta=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lif(self.fc(x))

    torch.manual_seed(0)
    net = Net()
    x = torch.rand(12, 5, 8) * 3.0
    with SpikeRecorder(net, keep_spikes=True) as rec:
        out = net(x)
        out.sum().backward()  # recording must not break the surrogate-gradient path
    assert net.lif.beta.grad is not None
    with torch.no_grad():
        ref, _ = net.lif.forward_with_state(net.fc(x))  # forward_with_state runs no hooks
    assert rec.layer_names == ["lif"]
    assert 0.0 < rec.firing_rates()["lif"] < 1.0
    assert rec.firing_rates()["lif"] == pytest.approx(ref.double().mean().item(), abs=1e-12)
    torch.testing.assert_close(rec.spikes("lif"), ref.bool())


def test_weight_sparsity():
    from snnkit.train.metrics import weight_sparsity

    a = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    b = torch.zeros(4)
    assert weight_sparsity([a]) == 0.5
    assert weight_sparsity([a, b]) == pytest.approx(6 / 8)
    assert weight_sparsity(torch.nn.Linear(5, 5).weight for _ in range(2)) == 0.0
    with pytest.raises(ValueError, match="no weights"):
        weight_sparsity([])
    with pytest.raises(TypeError, match="item 0"):
        weight_sparsity([[0.0]])


def test_recorder_ignores_a_class_merely_named_lif():
    class LIF(nn.Module):  # not snnkit's: recording it by its name alone was a fake match
        def forward(self, x):
            return x

    with pytest.raises(ValueError, match="no spiking module"):
        SpikeRecorder(nn.Sequential(LIF()))


def test_spike_recorder_is_the_monitors():
    assert metrics_mod.SpikeRecorder is monitor.SpikeRecorder


class _Padded(nn.Module):
    """Takes (x, lengths) as contract item 5 says; its LIF fires on every padded step (x = 5 there)."""

    def __init__(self) -> None:
        super().__init__()
        self.lif = LIF()

    def forward(self, inputs):
        x, lengths = inputs
        real = torch.arange(x.shape[0])[:, None] < lengths[None, :]
        return self.lif(torch.where(real[..., None], x, torch.full_like(x, 5.0)))


def test_recorder_does_not_count_padded_steps():
    # lengths 2 and 4 in a batch padded to T=5: sample 0 spikes at t=0 on neuron 0, sample 1 at t=1..3 on
    # neuron 1; real steps 2 + 4 = 6, spikes 1 + 3 = 4 over 2 neurons -> rate 4 / (6 * 2)
    x = torch.zeros(5, 2, 2)
    x[0, 0, 0] = 1.5
    x[1:4, 1, 1] = 1.5
    lengths = torch.tensor([2, 4])
    model = _Padded()
    with SpikeRecorder(model, keep_spikes=True) as rec:
        model((x, lengths))
    assert rec.firing_rates() == {"lif": 4 / 12}
    torch.testing.assert_close(rec.neuron_rates()["lif"], torch.tensor([1 / 6, 3 / 6], dtype=torch.float64))
    spk = rec.spikes("lif")
    assert not spk[2:, 0].any() and not spk[4:, 1].any()  # padded steps hold no spikes
    assert spk[0, 0, 0] and spk[1:4, 1, 1].all()
    # a longer padding of the same data changes nothing
    x9 = torch.cat([x, torch.zeros(4, 2, 2)])
    with SpikeRecorder(model) as rec9:
        model((x9, lengths))
    assert rec9.firing_rates() == rec.firing_rates()
    # without lengths (a plain tensor input) every step counts: the padded 5s spike
    plain = nn.Sequential(LIF())
    with SpikeRecorder(plain) as rec_plain:
        plain(torch.where(torch.arange(5)[:, None, None] < lengths[None, :, None], x, torch.tensor(5.0)))
    assert rec_plain.firing_rates()["0"] == (4 + 2 * (3 + 1)) / 20


class _PaddedBefore(nn.Module):
    """As _Padded, but its batches are padded before each sequence (``pad = "start"``)."""

    pad = "start"

    def __init__(self) -> None:
        super().__init__()
        self.lif = LIF()

    def forward(self, inputs):
        x, lengths = inputs
        real = torch.arange(x.shape[0])[:, None] >= (x.shape[0] - lengths)[None, :]
        return self.lif(torch.where(real[..., None], x, torch.full_like(x, 5.0)))


def test_recorder_masks_leading_padding_when_the_model_pads_at_the_start():
    # the batch of test_recorder_does_not_count_padded_steps, moved to the end of a T=5 window
    x = torch.zeros(5, 2, 2)
    x[3, 0, 0] = 1.5  # sample 0 (length 2) occupies t = 3, 4
    x[2:5, 1, 1] = 1.5  # sample 1 (length 4) occupies t = 1..4
    lengths = torch.tensor([2, 4])
    model = _PaddedBefore()
    with SpikeRecorder(model, keep_spikes=True) as rec:
        model((x, lengths))
    assert rec.firing_rates() == {"lif": 4 / 12}
    spk = rec.spikes("lif")
    assert not spk[:3, 0].any() and not spk[:1, 1].any()  # the leading padded steps hold no spikes


def test_tie_and_silent_rate_hand_computed():
    scores = np.array([
        [3.0, 1.0, 0.0],  # clear winner
        [2.0, 2.0, 0.0],  # tie between 0 and 1 -> predicted 0 by the tie rule
        [0.0, 0.0, 0.0],  # silent (and a tie)
        [1.0, 4.0, 4.0],  # tie between 1 and 2 -> predicted 1
    ])
    assert tie_rate(scores) == 0.75 and silent_rate(scores) == 0.25
    assert tie_rate(torch.tensor(scores)) == 0.75
    assert accuracy(scores, [0, 1, 2, 2]) == 0.25  # the tie rule: lowest index wins, both ties are wrong
    rep = classification_report(scores, [0, 1, 2, 2], ["a", "b", "c"])
    assert rep["tie_rate"] == 0.75 and rep["silent_rate"] == 0.25
    assert tie_rate(np.array([[0.0], [1.0]])) == 0.0 and silent_rate(np.array([[0.0], [1.0]])) == 0.5
    with pytest.raises(ValueError, match=r"\[N, C\]"):
        tie_rate(np.zeros(3))


# ------------------------------------------------------------------------------------------------
# synaptic operations
# ------------------------------------------------------------------------------------------------
def test_synops_is_events_times_fan_out():
    assert metrics_mod.synops([2, 0, 3], [1, 4, 2]) == 8.0
    assert metrics_mod.synops(torch.tensor([1.0, 1.0]), np.array([5, 7])) == 12.0
    with pytest.raises(ValueError, match="same length"):
        metrics_mod.synops([1, 2], [1, 2, 3])


MASK = torch.tensor([[1, 0, 1], [1, 1, 0]], dtype=torch.bool)  # fan-out per input column: 2, 1, 1
SPIKES = torch.tensor([  # [T=3, B=2, 2]: column 0 fires 2 times, column 1 fires 3 times
    [[1.0, 0.0], [0.0, 1.0]],
    [[1.0, 1.0], [0.0, 0.0]],
    [[0.0, 0.0], [0.0, 1.0]],
])


class _SynopsToy(nn.Module):
    """A masked layer fed ``[B, 3]`` (standing for T steps) and a dense 2→4 layer fed fixed spikes."""

    T = 3

    def __init__(self, calls_of_l2: int = 1):
        super().__init__()
        from snnkit.sparse import MaskedLinear

        self.l1 = MaskedLinear(3, 2, MASK)
        self.l2 = nn.Linear(2, 4)
        self.calls_of_l2 = calls_of_l2

    def forward(self, x):
        self.l1(x)
        for _ in range(self.calls_of_l2):  # a layer applied twice in one pass (e.g. recurrently)
            out = self.l2(SPIKES[:, : x.shape[0]])
        return out.sum(0)


X = torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 5.0]])  # non-zeros per column: 1, 0, 2


def test_fan_out_masked_and_dense():
    toy = _SynopsToy()
    assert metrics_mod.fan_out(toy.l1).tolist() == [2.0, 1.0, 1.0]
    assert metrics_mod.fan_out(toy.l2).tolist() == [4.0, 4.0]
    with pytest.raises(TypeError, match="not an nn.Linear"):
        metrics_mod.fan_out(nn.Conv1d(1, 1, 1))


def test_measure_synops_hand_computed():
    # l1: (1·2 + 0·1 + 2·1) per step × T=3 steps = 12 ops for 2 samples → 6 per sample
    # l2: (2 + 3) spikes × fan-out 4 = 20 ops for 2 samples → 10 per sample
    out = metrics_mod.measure_synops(_SynopsToy(), [X])
    assert out["synops_per_layer"] == {"l1": 6.0, "l2": 10.0}
    assert out["synops"] == 16.0
    # time_steps overrides model.T for [B, in] inputs only; (x, y) batches are accepted
    out = metrics_mod.measure_synops(_SynopsToy(), [(X, torch.zeros(2))], time_steps=1)
    assert out["synops_per_layer"] == {"l1": 2.0, "l2": 10.0}


def test_measure_synops_per_sample_over_batches_and_repeated_calls():
    # two batches (1 and 2 samples), divided by 3 samples in all
    batches = [X[:1], X]
    out = metrics_mod.measure_synops(_SynopsToy(), batches)
    l1 = ((1 * 2 + 1 * 1) * 3 + 12) / 3  # first batch: sample 0 is non-zero in columns 0 and 2
    l2 = ((2 + 1) * 4 + 20) / 3  # first batch: sample 0 fires twice in column 0, once in column 1
    assert out["synops_per_layer"]["l1"] == pytest.approx(l1)
    assert out["synops_per_layer"]["l2"] == pytest.approx(l2)
    # a layer called twice in one forward doubles its operations, not its samples
    twice = metrics_mod.measure_synops(_SynopsToy(calls_of_l2=2), [X])
    assert twice["synops_per_layer"]["l2"] == 20.0


def test_synops_counter_follows_a_mask_change_and_restores_mode():
    toy = _SynopsToy().train()
    with metrics_mod.SynopsCounter(toy) as counter:
        toy(X)
        toy.l1.set_mask(torch.ones(2, 3, dtype=torch.bool))  # fan-out now 2 for every column
        toy(X)
    # l1 ops: 12 (old mask) + (1·2 + 2·2)·3 = 18 (new mask), 4 samples
    assert counter.result()["synops_per_layer"]["l1"] == pytest.approx(30 / 4)
    metrics_mod.measure_synops(toy, [X])
    assert toy.training
    with pytest.raises(Exception, match="time_steps"):
        metrics_mod.SynopsCounter(toy, time_steps=0)


def test_measure_synops_on_a_masked_g2gnet_matches_spike_counts():
    from snnkit.models.g2g import G2GNet
    from snnkit.sparse import build_masks, masked_layer_factory

    torch.manual_seed(0)
    masks = build_masks("mixer", [16, 8, 8], groups=2, p_inter=0.3, seed=1)
    net = G2GNet(16, 3, hidden_dim=8, n_hidden=2, T=5, enc_scale=4.0, layer_factory=masked_layer_factory(masks))
    x = torch.rand(6, 16)
    x[:, :4] = 0.0  # silent inputs send no events
    spikes = []
    hooks = [n.register_forward_hook(lambda m, i, o: spikes.append(o.detach())) for n in net.neurons]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    expected = {
        "layers.0": float((x != 0).sum(0).double() @ masks[0].sum(0).double()) * 5 / 6,
        "layers.1": float(spikes[0].sum((0, 1)).double() @ masks[1].sum(0).double()) / 6,
        "fc_out": float(spikes[1].sum()) * 3 / 6,
    }
    assert spikes[0].sum() > 0 and spikes[1].sum() > 0  # otherwise the check is vacuous
    out = metrics_mod.measure_synops(net, [x])
    assert out["synops_per_layer"] == pytest.approx(expected)
    assert out["synops"] == pytest.approx(sum(expected.values()))


def test_recorder_finds_hard_reset_nodes_by_default():
    from snnkit.neurons import IFNode, LIFNode

    model = torch.nn.Sequential(IFNode(), LIFNode())
    x = torch.tensor([[[1.0, 0.5]], [[0.0, 0.5]]])  # T=2, B=1, N=2: IF fires at >= 1 -> [[1, 0]], [[0, 1]]
    with torch.no_grad(), SpikeRecorder(model) as rec:
        model(x)
    assert rec.layer_names == ["0", "1"]
    assert rec.firing_rates()["0"] == 0.5
