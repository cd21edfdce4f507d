"""snnkit.experiments.stdp: S1C1 encoding, the layer-by-layer STDP / R-STDP trainer (Mozafari et al.,
Pattern Recognition 94:87-95, 2019) on a tiny subset of the embedded MNIST, scoring, saving and loading,
the finished-run skip, and an exact resume after SIGKILL in each of mozafari2018's three phases and in the
STDP and alternating R-STDP phases of deepr2024_greedy."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from _scripts import sigkill  # tests/unit is on sys.path under pytest

from snnkit.config import validate
from snnkit.data import load_dataset
from snnkit.data.sampling import stratified_partition, stratified_subset
from snnkit.experiments.stdp import EncodedSet, LayerwiseTrainer, encode, score
from snnkit.models.stdp_nets import StdpNet, from_times, to_times
from snnkit.stdp.filters import s1c1
from snnkit.train import LAST_CHECKPOINT, PREV_CHECKPOINT, load_checkpoint, load_latest

SCRIPT = Path(__file__).parent / "_scripts" / "stdp_resume.py"
T = 15
PARAMS = {"model": "mozafari2018", "dataset": "mnist-embedded", "epochs": [1, 1, 2], "learn_batch": 8,
          "adaptive_every": 20, "eval_batch": 32, "patience": 5, "shuffle": True, "doubling_every": 500,
          "max_a_plus": 0.15, "seed": 0}


@pytest.fixture(scope="module")
def sets() -> dict[str, EncodedSet]:
    encoded = encode(stratified_subset(load_dataset("mnist-embedded", "train"), 90, 0))
    part = torch.as_tensor(stratified_partition(encoded.targets.numpy(), (60, 30), 0))  # disjoint, every class
    test = encode(stratified_subset(load_dataset("mnist-embedded", "test"), 30, 0))
    return {"train": EncodedSet(encoded.times[part == 0], encoded.targets[part == 0]),
            "val": EncodedSet(encoded.times[part == 1], encoded.targets[part == 1]), "test": test}


@pytest.fixture(scope="module")
def fitted(sets, tmp_path_factory) -> dict:
    """One training of the tiny problem, with checkpoints; its initial weights kept for comparison."""
    params = validate("stdp_mnist", PARAMS)
    net = StdpNet("mozafari2018", seed=0)
    initial = {k: v.clone() for k, v in net.state_dict().items()}
    ckpt = tmp_path_factory.mktemp("stdp_ckpt")
    trainer = LayerwiseTrainer(net, params, ckpt_dir=ckpt, run_hash="tiny-v1")
    history = trainer.fit(sets["train"], sets["val"])
    return {"net": net, "trainer": trainer, "history": history, "initial": initial, "ckpt": ckpt, "params": params}


# ------------------------------------------------------------------------------------ encode
def test_encode_is_s1c1_as_first_spike_times():
    data = stratified_subset(load_dataset("mnist-embedded", "test"), 12, 1)
    enc = encode(data, batch=5)  # several batches
    assert len(enc) == 12 and enc.times.shape == (12, 6, 28, 28) and enc.times.dtype == torch.uint8
    assert torch.equal(enc.times, to_times(s1c1(data.images, time_steps=T)))
    assert torch.equal(enc.targets, torch.as_tensor(data.targets).long())
    assert int(enc.times.max()) == T and int(enc.times.min()) < T  # silent and spiking neurons


def test_score_counts_silent_samples_as_wrong():
    pred = torch.tensor([0, 1, -1, 2, -1, 1])
    targets = torch.tensor([0, 2, 1, 2, 0, 1])
    scores = torch.eye(3)[pred.clamp_min(0)]
    got = score(pred, scores, targets, 3)
    assert got["accuracy"] == pytest.approx(3 / 6)
    assert got["silent_rate"] == pytest.approx(2 / 6)
    assert got["decided_accuracy"] == pytest.approx(3 / 4)
    assert 0.0 <= got["macro_f1"] <= 1.0 and 0.0 <= got["roc_auc"] <= 1.0


# ----------------------------------------------------------------------------------- trainer
def test_history_has_one_record_per_epoch(fitted):
    history = fitted["history"]
    assert [(r["phase"], r["epoch"]) for r in history] == [("l1", 1), ("l2", 1), ("l3", 1), ("l3", 2)]
    assert history[0]["winners_per_sample"] == pytest.approx(5.0)  # L1: k = 5 winners on every sample
    assert 0 < history[1]["winners_per_sample"] <= 8.0
    for record in history[2:]:
        assert record["learners"] == "conv3"
        for key in ("train_accuracy", "train_silent_rate", "val_accuracy", "val_silent_rate"):
            assert 0.0 <= record[key] <= 1.0


def test_weights_stay_in_bounds(fitted):
    net, initial = fitted["net"], fitted["initial"]
    for name, (lb, ub) in (("conv1", (0.0, 1.0)), ("conv2", (0.0, 1.0))):
        w, w0 = net.weight(name), initial[f"w_{name}"]
        learned = (w != w0).flatten(1).any(1)
        assert int(learned.sum()) > 0, f"{name} did not learn"
        # learned kernels are inside the bounds (an untouched kernel keeps its N(0.8, 0.05) start)
        assert bool((w[learned] >= lb).all()) and bool((w[learned] <= ub).all()), name
    w3 = net.weight("conv3")
    assert not torch.equal(w3, initial["w_conv3"])
    assert bool((w3 >= 0.2).all()) and bool((w3 <= 0.8).all())


def test_the_best_validation_epoch_is_kept(fitted, sets):
    trainer = fitted["trainer"]
    val = trainer.predict(sets["val"])
    got = score(val["pred"], val["scores"], sets["val"].targets, 10)["accuracy"]
    assert got == max(r["val_accuracy"] for r in fitted["history"] if r["phase"] == "l3")


def test_saved_weights_reload_to_the_same_predictions(fitted, sets, tmp_path):
    net = fitted["net"]
    path = tmp_path / "net.pt"
    torch.save(net.state_dict(), path)
    fresh = StdpNet("mozafari2018", seed=123)
    fresh.load_state_dict(torch.load(path, weights_only=True))
    a = fitted["trainer"].predict(sets["test"])
    b = LayerwiseTrainer(fresh, fitted["params"]).predict(sets["test"])
    c = fresh.decide(from_times(sets["test"].times, T))
    for key in ("pred", "scores", "branch_pred"):
        assert torch.equal(a[key], b[key]) and torch.equal(a[key], c[key]), key
    assert a["pred"].shape == (30,)


@pytest.mark.parametrize("model", ["deep2024", "deepr2024", "deepr2024_greedy", "inception2024", "majority2024"])
def test_every_model_reloads_to_the_same_predictions(model, sets, tmp_path):
    """The other networks (several STDP layers, parallel branches, three voting decisions): weights saved from
    one initialisation and loaded into another give the same decisions, scores and branch votes."""
    net = StdpNet(model, seed=0)
    path = tmp_path / "net.pt"
    torch.save(net.state_dict(), path)
    fresh = StdpNet(model, seed=123)
    assert any(not torch.equal(fresh.weight(n), net.weight(n)) for n in net.layer_names)
    fresh.load_state_dict(torch.load(path, weights_only=True))
    waves = from_times(sets["test"].times[:8], T)
    a, b = net.decide(waves), fresh.decide(waves)
    for key in ("pred", "scores", "branch_pred"):
        assert torch.equal(a[key], b[key]), key


def test_a_finished_run_is_loaded_not_trained_again(fitted, sets, monkeypatch):
    def _no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(StdpNet, "stdp_step", _no_training)
    monkeypatch.setattr(StdpNet, "rstdp_step", _no_training)
    before = (fitted["ckpt"] / LAST_CHECKPOINT).read_bytes()
    fresh = StdpNet("mozafari2018", seed=0)
    again = LayerwiseTrainer(fresh, fitted["params"], ckpt_dir=fitted["ckpt"], run_hash="tiny-v1")
    assert again.fit(sets["train"], sets["val"]) == fitted["history"]
    assert again.resumed_from is not None
    for name in fresh.layer_names:
        assert torch.equal(fresh.weight(name), fitted["net"].weight(name)), name
    assert (fitted["ckpt"] / LAST_CHECKPOINT).read_bytes() == before


def test_a_resumed_run_writes_its_earlier_epochs_to_a_cleared_tensorboard_folder(fitted, sets, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = tmp_path / "tb"  # reproduce clears tb/ before each attempt; the checkpoint's history refills it
    again = LayerwiseTrainer(StdpNet("mozafari2018", seed=0), fitted["params"], ckpt_dir=fitted["ckpt"],
                             run_hash="tiny-v1", tb_dir=tb)
    again.fit(sets["train"], sets["val"])
    acc = EventAccumulator(str(tb))
    acc.Reload()
    l3 = [r for r in fitted["history"] if r["phase"] == "l3"]
    got = acc.Scalars("Val/Accuracy")
    assert [e.step for e in got] == [r["epoch"] for r in l3]
    assert [e.value for e in got] == pytest.approx([r["val_accuracy"] for r in l3])


@pytest.mark.parametrize(("model", "expected"), [("deepr2024_greedy", [("conv3",), ("conv4",), ("conv3",)]),
                                               ("deepr2024", [("conv3", "conv4")] * 2)])
def test_deepr_rstdp_learners_take_turns_or_learn_together(model, expected, sets, monkeypatch):
    calls: list[tuple[str, ...]] = []
    original = StdpNet.rstdp_step

    def spy(self, names, out, reward, rates):
        calls.append(tuple(names))
        return original(self, names, out, reward, rates)

    monkeypatch.setattr(StdpNet, "rstdp_step", spy)
    params = validate("stdp_mnist", {**PARAMS, "model": model, "epochs": [0, 0, 0, len(expected)],
                                     "learn_batch": 6, "adaptive_every": 6})
    train = EncodedSet(sets["train"].times[:12], sets["train"].targets[:12])
    val = EncodedSet(sets["val"].times[:6], sets["val"].targets[:6])
    history = LayerwiseTrainer(StdpNet(model, seed=0), params).fit(train, val)
    assert [(r["phase"], r["learners"]) for r in history] == [("rl", ",".join(e)) for e in expected]
    assert calls == [e for e in expected for _ in range(2)]  # 2 chunks per epoch


# ------------------------------------------------------------------------------ SIGKILL resume
def _script():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import stdp_resume  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return stdp_resume


# where each model's run is killed: (sample counter, (done, phase, epoch) found in the last checkpoint)
KILLS = {
    # L1 (sample 12 of 24), L2 (16 of 24), the second R-STDP epoch of L3 (12 of 24)
    "mozafari2018": [(12, (False, 0, 0)), (24 + 16, (False, 1, 0)), (72 + 12, (False, 2, 1))],
    # the four-phase model whose R-STDP learners take turns: L3 STDP (12 of 24), then the second R-STDP epoch
    # (12 of 24), where the alternation must resume with the other layer
    "deepr2024_greedy": [(48 + 12, (False, 2, 0)), (96 + 12, (False, 3, 1))],
}


@pytest.fixture(scope="module", params=sorted(KILLS))
def killed_and_resumed(request, tmp_path_factory) -> dict:
    """An uninterrupted run, and a run SIGKILLed once at each of KILLS[model] and resumed (the last resume
    in-process)."""
    mod = _script()
    model = request.param
    tmp = tmp_path_factory.mktemp(f"stdp_sigkill_{model}")
    reference = mod.train(None, model=model)  # no checkpoints: they change nothing
    n = mod.N_TRAIN
    ckpt, steps = tmp / "ck", tmp / "steps"
    cmd = [sys.executable, str(SCRIPT), str(ckpt), str(tmp / "out.pt"), str(steps), model]
    positions = []
    for sample, _ in KILLS[model]:
        sigkill.kill_after(cmd, steps, sample, extra=0.0)
        state, _, _ = load_latest([ckpt / LAST_CHECKPOINT, ckpt / PREV_CHECKPOINT])
        positions.append((state["done"], state["trainer"]["phase"], state["trainer"]["epoch"], state["trainer"]["pos"]))
    resumed = mod.train(str(ckpt), model=model)
    return {"model": model, "reference": reference, "resumed": resumed, "positions": positions, "n": n,
            "done": load_checkpoint(ckpt / LAST_CHECKPOINT)["done"]}


def test_sigkill_lands_mid_epoch_in_each_phase(killed_and_resumed):
    n = killed_and_resumed["n"]
    positions = killed_and_resumed["positions"]
    assert [(done, phase, epoch) for done, phase, epoch, _ in positions] == \
        [where for _, where in KILLS[killed_and_resumed["model"]]]
    assert all(0 < pos < n for *_, pos in positions), positions
    assert killed_and_resumed["resumed"]["resumed_from"] is not None and killed_and_resumed["done"]


def test_sigkill_resume_gives_bit_identical_weights(killed_and_resumed):
    ref, got = killed_and_resumed["reference"]["weights"], killed_and_resumed["resumed"]["weights"]
    assert got.keys() == ref.keys()
    for key in ref:
        assert torch.equal(got[key], ref[key]), key


def test_sigkill_resume_gives_the_same_history(killed_and_resumed):
    ref, got = killed_and_resumed["reference"]["history"], killed_and_resumed["resumed"]["history"]
    expected = {"mozafari2018": ["l1", "l2", "l3", "l3"], "deepr2024_greedy": ["l1", "l2", "l3", "rl", "rl"]}
    assert [r["phase"] for r in ref] == expected[killed_and_resumed["model"]]
    assert got == ref
    if killed_and_resumed["model"] == "deepr2024_greedy":  # the turns survive the kill in the second epoch
        assert [r["learners"] for r in got if r["phase"] == "rl"] == ["conv3", "conv4"]


@pytest.mark.parametrize("patience", [1])
def test_rstdp_stops_once_more_than_patience_epochs_passed_since_the_best(patience, sets):
    """The seed's rule: stop when (epoch - best epoch) > patience; a tie is a new best; the best weights stay."""
    params = validate("stdp_mnist", {**PARAMS, "epochs": [0, 0, 12], "patience": patience})
    train = EncodedSet(sets["train"].times[:24], sets["train"].targets[:24])
    val = EncodedSet(sets["val"].times[:10], sets["val"].targets[:10])
    trainer = LayerwiseTrainer(StdpNet("mozafari2018", seed=0), params)
    history = trainer.fit(train, val)
    acc = [r["val_accuracy"] for r in history]
    best = max(i for i, a in enumerate(acc) if a == max(acc))  # the last epoch reaching the maximum
    assert len(acc) < 12, "the fixture is meant to stop early"
    assert len(acc) - 1 - best == patience + 1
    assert all(len(acc[:i + 1]) - 1 - max(j for j, a in enumerate(acc[:i + 1]) if a == max(acc[:i + 1])) <= patience
               for i in range(len(acc) - 1))
    out = trainer.predict(val)
    assert score(out["pred"], out["scores"], val.targets, 10)["accuracy"] == acc[best]


def test_phases_of_zero_epochs_build_no_cache_and_the_run_ends_done(sets, tmp_path, monkeypatch):
    built: list[int] = []
    original = LayerwiseTrainer.features

    def spy(self, data, block, **kw):
        built.append(block)
        return original(self, data, block, **kw)

    monkeypatch.setattr(LayerwiseTrainer, "features", spy)
    params = validate("stdp_mnist", {**PARAMS, "epochs": [1, 0, 0]})
    train = EncodedSet(sets["train"].times[:16], sets["train"].targets[:16])
    trainer = LayerwiseTrainer(StdpNet("mozafari2018", seed=0), params, ckpt_dir=tmp_path, run_hash="zero")
    history = trainer.fit(train, train)
    assert [r["phase"] for r in history] == ["l1"] and built == [0]
    again = LayerwiseTrainer(StdpNet("mozafari2018", seed=0), params, ckpt_dir=tmp_path, run_hash="zero")
    assert again.rs.load()["done"] is True
