"""snnkit.report.standard_results: the results block of every notebook, on a tiny model (no papermill)."""

from __future__ import annotations

import functools
import json

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from snnkit.data.sequences import SequenceDataset, pad_collate  # noqa: E402
from snnkit.errors import ConfigError  # noqa: E402
from snnkit.neurons import LIF  # noqa: E402
from snnkit.report import standard_results, start_run  # noqa: E402
from snnkit.report.results import prunable_weights  # noqa: E402
from snnkit.train import Trainer  # noqa: E402

T = 6


class _Data(torch.utils.data.Dataset):
    """Three classes of 4-feature vectors: class c has feature c high."""

    def __init__(self, n: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.targets = torch.arange(n) % 3
        self.x = torch.rand(n, 4, generator=g) * 0.5
        self.x[torch.arange(n), self.targets] += 1.5
        self.classes, self.name, self.stand_in = ["a", "b", "c"], "tiny", False

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return self.x[i], self.targets[i]


class _Net(nn.Module):
    """Two hidden LIF layers in ``layers``/``neurons`` (as G2GNet), a LIF read-out; spike counts out."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.layers = nn.ModuleList([nn.Linear(4, 8), nn.Linear(8, 8)])
        self.neurons = nn.ModuleList([LIF(beta=0.5), LIF(beta=0.5)])
        self.fc_out = nn.Linear(8, 3)
        self.lif_out = LIF(beta=0.5)

    def hidden(self, x):
        h = x.unsqueeze(0).expand(T, *x.shape)
        out = []
        for layer, neuron in zip(self.layers, self.neurons):
            h = neuron(layer(h))
            out.append(h)
        return out

    def forward(self, x):
        return self.lif_out(self.fc_out(self.hidden(x)[-1])).sum(0)


def _loss(counts, targets):
    return nn.functional.cross_entropy(counts, targets)


def _trainer(model, **kw):
    return Trainer(model, loss_fn=_loss, optimizer=functools.partial(torch.optim.Adam, lr=0.05), epochs=2,
                   batch_size=16, seed=0, device="cpu", progress=False, **kw)


def test_standard_results_on_a_tiny_model(tmp_path):
    train, test = _Data(48, 1), _Data(30, 2)
    model = _Net()
    trainer = _trainer(model)
    history = trainer.fit(train, test)  # no validation split: the held-out curve is the test set's
    with torch.no_grad():
        model.layers[0].weight[:, :2] = 0.0  # 16 exact zeros among the 32 + 64 prunable weights
    run = start_run("tiny_nb", {"model": "tiny", "seed": 0}, run="r", reports_root=tmp_path, dataset="tiny")

    out = standard_results(run, trainer=trainer, model=model, test_set=test, history=history, held_out="test",
                           probe=10, extra={"connectivity": 0.25})

    on_disk = json.loads((run.path / "metrics.json").read_text())
    assert on_disk == out
    scores, targets = trainer.predict(test)
    s, t = scores.numpy(), targets.numpy()
    assert out["test_accuracy"] == pytest.approx(float(np.mean(s.argmax(1) == t)))
    top = s.max(1, keepdims=True)
    assert out["tie_rate"] == pytest.approx(float(np.mean((s == top).sum(1) >= 2)))
    assert out["silent_rate"] == pytest.approx(float(np.mean((s == 0).all(1))))
    assert out["sparsity"] == pytest.approx(16 / 96, abs=1e-12)
    assert out["n_parameters"] == sum(p.numel() for p in model.parameters())
    assert out["connectivity"] == 0.25 and out["model"] == "tiny"
    # hidden firing rates on the first 10 test samples, from a forward of our own
    model.eval()
    with torch.no_grad():
        hidden = model.hidden(test.x[:10])
    for i, spikes in enumerate(hidden):
        assert out[f"firing_rate_neurons_{i}"] == pytest.approx(spikes.double().mean().item(), abs=1e-12)
    assert out["firing_rate"] == pytest.approx(np.mean([h.double().mean().item() for h in hidden]), abs=1e-12)
    assert "firing_rate_lif_out" not in out  # the read-out is not a hidden layer
    # history: test-labelled, no val_accuracy claimed; train accuracy and mean epoch time from it
    curves = pd.read_csv(run.path / "tables" / "history.csv")
    assert {"test_loss", "test_accuracy"} <= set(curves.columns) and "val_accuracy" not in curves.columns
    assert "val_accuracy" not in out
    assert out["train_accuracy"] == pytest.approx(history[-1]["train_accuracy"])
    assert out["epoch_time_s"] == pytest.approx(np.mean([h["epoch_time_s"] for h in history]))
    # synaptic operations per sample on the same 10 samples: non-zero inputs × fan-out (dense: out_features)
    x_events = float((test.x[:10] != 0).sum()) * T  # the input is repeated over T steps (a [T, B, 4] call)
    expected = {"layers_0": x_events * 8 / 10, "layers_1": float(hidden[0].sum()) * 8 / 10,
                "fc_out": float(hidden[1].sum()) * 3 / 10}
    for name, value in expected.items():
        assert out[f"synops_{name}"] == pytest.approx(value)
    assert out["synops"] == pytest.approx(sum(expected.values()))
    synops_table = pd.read_csv(run.path / "tables" / "synops.csv")
    assert synops_table["layer"].tolist() == ["layers.0", "layers.1", "fc_out"]
    assert synops_table["share"].sum() == pytest.approx(1.0)
    assert out["active_parameters"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    figures = {p.stem for p in (run.path / "figures").glob("*.png")}
    assert figures == {"confusion_matrix", "training_curves", "spike_raster", "firing_rates"}  # no masked layer
    tables = {p.stem for p in (run.path / "tables").glob("*.csv")}
    assert tables == {"per_class", "history", "results", "synops"}
    results = pd.read_csv(run.path / "tables" / "results.csv")
    assert results.loc[0, "model"] == "tiny" and results.loc[0, "test_accuracy"] == pytest.approx(out["test_accuracy"])
    prov = json.loads((run.path / "provenance.json").read_text())
    assert "resumed_from" in prov and prov["resumed_from"] == trainer.resumed_from
    with pytest.raises(ConfigError, match=r"'held_out' = 'train' is not allowed; expected one of 'val', 'test'"):
        standard_results(run, trainer=trainer, model=model, test_set=test, held_out="train")


def _masked_net():
    """``_Net`` with masked hidden layers carrying group labels (2 groups per side)."""
    from snnkit.sparse import MaskedLinear

    net = _Net()
    torch.manual_seed(1)
    m0 = torch.tensor([[1, 1, 0, 0]] * 4 + [[0, 0, 1, 1]] * 4, dtype=torch.bool)  # block diagonal, 16 active
    m1 = torch.ones(8, 8, dtype=torch.bool)
    m1[0, 4:] = False  # 60 active
    g4, g8 = torch.tensor([0, 0, 1, 1]), torch.tensor([0] * 4 + [1] * 4)
    net.layers = nn.ModuleList([MaskedLinear(4, 8, m0, groups=(g8, g4)), MaskedLinear(8, 8, m1, groups=(g8, g8))])
    return net


def test_standard_results_on_a_masked_model(tmp_path, monkeypatch):
    from snnkit.report import figures

    drawn = {}
    real = figures.group_connectivity
    monkeypatch.setattr(figures, "group_connectivity", lambda *a, **kw: drawn.update(args=a, kw=kw) or real(*a, **kw))
    train, test = _Data(48, 1), _Data(20, 2)
    model = _masked_net()
    before = {"layers.0": model.layers[0].mask.clone(), "layers.1": model.layers[1].mask.clone()}
    trainer = _trainer(model)
    history = trainer.fit(train, test)
    with torch.no_grad():  # as a DST event would: move one connection of layers.1
        mask = model.layers[1].mask.clone()
        mask[1, 0], mask[0, 4] = False, True
        model.layers[1].set_mask(mask)
    run = start_run("tiny_nb", {"model": "tiny", "seed": 0}, run="m", reports_root=tmp_path, dataset="tiny")
    out = standard_results(run, trainer=trainer, model=model, test_set=test, history=history, held_out="test",
                           probe=10, masks_before=before)
    lif_params = sum(p.numel() for n in [*model.neurons, model.lif_out] for p in n.parameters() if p.requires_grad)
    biases = 8 + 8
    assert out["active_parameters"] == 16 + 60 + biases + (8 * 3 + 3) + lif_params
    assert out["n_parameters"] == 32 + 64 + biases + 27 + sum(
        p.numel() for n in [*model.neurons, model.lif_out] for p in n.parameters())
    # the masked first layer's fan-out is its mask's column sums (4 per input), not out_features (8)
    assert out["synops_layers_0"] == pytest.approx(float((test.x[:10] != 0).sum()) * T * 4 / 10)
    assert "group_connectivity" in {p.stem for p in (run.path / "figures").glob("*.png")}
    masks, outs, ins = drawn["args"]
    assert torch.equal(masks["layers.1"], mask) and torch.equal(drawn["kw"]["before"]["layers.1"], before["layers.1"])
    assert outs["layers.0"].tolist() == [0] * 4 + [1] * 4 and ins["layers.0"].tolist() == [0, 0, 1, 1]
    with pytest.raises(ConfigError, match="masks_before"):
        standard_results(run, trainer=trainer, model=model, test_set=test, masks_before={"layers.0": before["layers.0"]})


def test_validation_split_keeps_val_names(tmp_path):
    train, val, test = _Data(48, 1), _Data(12, 3), _Data(12, 2)
    model = _Net()
    trainer = _trainer(model)
    history = trainer.fit(train, val)
    run = start_run("tiny_nb", {"seed": 0}, run="v", reports_root=tmp_path, dataset="tiny")
    out = standard_results(run, trainer=trainer, model=model, test_set=test, history=history, label="mine")
    assert out["val_accuracy"] == pytest.approx(history[-1]["val_accuracy"])
    assert "val_accuracy" in pd.read_csv(run.path / "tables" / "history.csv").columns
    assert pd.read_csv(run.path / "tables" / "results.csv").loc[0, "model"] == "mine"


class _SeqNet(nn.Module):
    """Takes ``(x [T, B, 2], lengths)``; its hidden LIF sees 5.0 on padded steps (so it would fire there)."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(2, 4)])
        self.lif = LIF(beta=0.0, threshold=1.0, reset="zero")
        self.fc_out = nn.Linear(4, 2)
        self.lif_out = LIF(beta=0.5)

    def forward(self, inputs):
        x, lengths = inputs
        real = torch.arange(x.shape[0])[:, None] < lengths[None, :]
        h = torch.where(real[..., None], self.layers[0](x), torch.full((1,), 5.0))
        return self.lif_out(self.fc_out(self.lif(h))).sum(0)


def test_hidden_rates_ignore_padding(tmp_path):
    g = torch.Generator().manual_seed(0)
    seqs = [torch.rand(n, 2, generator=g) * 2 for n in (2, 5, 3, 4)]
    data = SequenceDataset(seqs, torch.tensor([0, 1, 0, 1]), ["x", "y"], "seq")
    model = _SeqNet()
    trainer = Trainer(model, loss_fn=_loss, optimizer=functools.partial(torch.optim.SGD, lr=0.0), epochs=1,
                      batch_size=4, seed=0, device="cpu", progress=False, collate_fn=pad_collate)
    run = start_run("seq_nb", {"seed": 0}, run="s", reports_root=tmp_path, dataset="seq")
    out = standard_results(run, trainer=trainer, model=model, test_set=data)
    with torch.no_grad():
        real = [(model.layers[0](s) > 1.0).double() for s in seqs]  # LIF with beta 0, reset zero: h > 1
    expected = sum(r.sum().item() for r in real) / (sum(len(s) for s in seqs) * 4)
    assert out["firing_rate_lif"] == pytest.approx(expected, abs=1e-12)
    assert out["firing_rate"] == out["firing_rate_lif"]


@pytest.mark.parametrize("named", [["lif"], []])
def test_a_model_that_names_its_spiking_layers_records_exactly_those(tmp_path, named):
    """``spiking_layers`` = ["lif"]: the output LIF is not recorded and "lif" is a hidden layer;
    [] (a non-spiking network): no rates at all."""
    g = torch.Generator().manual_seed(0)
    seqs = [torch.rand(n, 2, generator=g) * 2 for n in (2, 5, 3, 4)]
    data = SequenceDataset(seqs, torch.tensor([0, 1, 0, 1]), ["x", "y"], "seq")
    model = _SeqNet()
    model.spiking_layers = named
    trainer = Trainer(model, loss_fn=_loss, optimizer=functools.partial(torch.optim.SGD, lr=0.0), epochs=1,
                      batch_size=4, seed=0, device="cpu", progress=False, collate_fn=pad_collate)
    run = start_run("seq_nb", {"seed": 0}, run=f"n{len(named)}", reports_root=tmp_path, dataset="seq")
    out = standard_results(run, trainer=trainer, model=model, test_set=data)
    rates = sorted(k for k in out if k.startswith("firing_rate"))
    assert rates == (["firing_rate", "firing_rate_lif"] if named else [])
    assert (run.path / "figures" / "spike_raster.png").exists() == bool(named)


def test_prunable_weights_rules():
    class Own(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 3)

        def prunable_weights(self):
            return [self.b.weight]

    own = Own()
    assert [w is own.b.weight for w in prunable_weights(own)] == [True]
    net = _Net()
    assert [w.shape for w in prunable_weights(net)] == [(8, 4), (8, 8)]  # `layers`, not the read-out
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Conv1d(1, 2, 3))
    assert [tuple(w.shape) for w in prunable_weights(seq)] == [(4, 3), (2, 1, 3)]


def test_layer_titles_are_readable():
    from snnkit.report.results import layer_titles

    assert layer_titles(["neurons.0", "neurons.1", "lif_out"]) == {
        "neurons.0": "hidden layer 1", "neurons.1": "hidden layer 2", "lif_out": "output layer"}
    assert layer_titles(["lif"]) == {"lif": "spiking layer"}


def test_results_md_has_one_precision(tmp_path):
    """results.md writes every fraction with the same number of decimals (no 0.87 beside 0.0523 or 1.2e-05)."""
    run = start_run("tiny_nb", {"model": "tiny", "seed": 0}, run="r", reports_root=tmp_path, dataset="tiny")
    from snnkit.report.results import _save_results_table

    _save_results_table(run, {"model": "tiny", "dataset": "tiny", "test_accuracy": 0.87, "firing_rate": 0.0523,
                              "tie_rate": 1.2e-05, "n_parameters": 12345})
    body = (run.path / "tables" / "results.md").read_text().splitlines()[-1]
    assert body.split("|")[1:-1] == [" tiny  ", " tiny    ", "        0.8700 ", "      0.0523 ", "   0.0000 ",
                                     "        12345 "]
