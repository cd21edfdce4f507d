"""scripts/spyketorch_curve.py: the driver around a SpykeTorch checkout, here a fake one with the same entry points."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "spyketorch_curve.py"

# The names the script takes from MozafariDeep.py, with fixed answers; what follows `data_root = ` must never run.
FAKE_MOZAFARI_DEEP = '''
import numpy as np
import torch
use_cuda = True
CALLS = []

class _Rule:
    def __init__(self):
        self.learning_rate = [[torch.tensor(0.004), torch.tensor(-0.003)]]

class MozafariMNIST2018:
    def __init__(self):
        self.stdp3, self.anti_stdp3 = _Rule(), _Rule()

    def update_learning_rates(self, *rates):
        CALLS.append(("rates", rates))

def s1c1(pixels):
    return torch.tensor([float(pixels.max())])

def train_unsupervise(net, data, layer):
    CALLS.append(("unsupervised", layer, len(data)))

def train_rl(net, data, targets):
    CALLS.append(("rl", len(data)))
    return np.array([0.5, 0.25, 0.25])

def test(net, data, targets):
    return np.array([0.75, 0.25, 0.0])

data_root = "./data"
raise RuntimeError("the data driver ran")
'''


@pytest.fixture()
def curve():
    spec = importlib.util.spec_from_file_location("spyketorch_curve", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _checkout(root: Path) -> Path:
    (root / "SpykeTorch").mkdir(parents=True)
    (root / "SpykeTorch" / "snn.py").write_text("")
    (root / "MozafariDeep.py").write_text(FAKE_MOZAFARI_DEEP)
    return root


def _fake_mnist(split: str) -> SimpleNamespace:
    n = 30 if split == "train" else 12
    images = torch.arange(n * 4, dtype=torch.float32).reshape(n, 1, 2, 2) / (n * 4)
    return SimpleNamespace(images=images, targets=torch.arange(n) % 10)


def _snnkit_run(root: Path, accuracies: list[float]) -> Path:
    (root / "tables").mkdir(parents=True)
    rows = ["phase,epoch,train_accuracy", "l1,1,", *(f"l3,{i + 1},{a}" for i, a in enumerate(accuracies))]
    (root / "tables" / "history.csv").write_text("\n".join(rows) + "\n")
    return root


def test_runs_the_checkout_and_records_the_curve(curve, tmp_path, monkeypatch):
    monkeypatch.setattr(curve, "load_mnist", _fake_mnist)
    out = tmp_path / "curve.json"
    run = _snnkit_run(tmp_path / "run", [0.6, 0.7, 0.8])
    argv = ["--spyketorch", str(_checkout(tmp_path / "st")), "--train", "25", "--epochs", "2", "--test-each", "5",
            "--snnkit-run", str(run), "--out", str(out)]
    assert curve.main(argv) == 0
    record = json.loads(out.read_text())
    assert [e["epoch"] for e in record["epochs"]] == [1, 2]
    assert all(e["train_accuracy"] == 0.5 and e["train_silent"] == 0.25 for e in record["epochs"])
    assert record["epochs"][0]["test_head_accuracy"] == 0.75 and record["test_accuracy"] == 0.75
    assert record["snnkit_train_accuracy"] == [0.6, 0.7, 0.8] and record["snnkit_run"] == str(run)
    assert record["spyketorch"]["path"] == str(tmp_path / "st") and record["spyketorch"]["commit"] is None
    assert record["train"] == 25 and record["machine"]["threads"] == 1 and "torch" in record["snnkit"]["versions"]


def test_trains_layers_in_batches_of_1000_and_adapts_rates_per_batch(curve, tmp_path, monkeypatch):
    monkeypatch.setattr(curve, "load_mnist", _fake_mnist)
    namespace = {}
    real = curve.load_upstream
    monkeypatch.setattr(curve, "load_upstream", lambda folder: namespace.update(real(folder)) or namespace)
    assert curve.main(["--spyketorch", str(_checkout(tmp_path / "st")), "--train", "30", "--epochs", "1",
                       "--out", str(tmp_path / "c.json")]) == 0
    calls = namespace["CALLS"]
    assert calls[:2] == [("unsupervised", 1, 30), ("unsupervised", 2, 30)]
    assert calls[2] == ("rl", 30)
    # rates after the batch: reward rates scaled by the error fraction, punishment rates by the correct fraction
    assert calls[3][0] == "rates" and calls[3][1] == pytest.approx((0.004 * 0.25, -0.003 * 0.25, -0.003 * 0.5,
                                                                     0.004 * 0.5))


@pytest.mark.parametrize("argv, message", [
    (["--train", "0"], "--train 0 (1-60000)"),
    (["--epochs", "0"], "--epochs 0"),
    (["--snnkit-run", "nowhere"], "--snnkit-run nowhere: no tables/history.csv"),
])
def test_bad_arguments_exit_2_with_the_value(curve, tmp_path, capsys, argv, message):
    assert curve.main(["--spyketorch", str(_checkout(tmp_path / "st")), *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_folder_that_is_not_a_checkout_is_refused(curve, tmp_path, capsys):
    assert curve.main(["--spyketorch", str(tmp_path)]) == 2
    assert "expected a SpykeTorch checkout" in capsys.readouterr().err
    _checkout(tmp_path / "other")
    (tmp_path / "other" / "MozafariDeep.py").write_text("use_cuda = False\n")
    assert curve.main(["--spyketorch", str(tmp_path / "other")]) == 2
    assert "not the MozafariDeep.py this script knows" in capsys.readouterr().err
