"""Tests of the stds_imagenet notebook's recipe (snnkit.experiments.stds_imagenet) and its parameter schema
(StdsImagenetParams)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snnkit import config
from snnkit.data.images import ImageDataset
from snnkit.errors import ConfigError
from snnkit.experiments import stds_imagenet as recipe
from snnkit.models.sew_resnet import SEWResNet, StdsImagenetParams
from snnkit.sparse import FlatWidthSchedule, GradRPrior
from snnkit.sparse.reparam import reparam_layers

SMALL = {"width": 2, "T": 2, "epochs": 2, "batch_size": 4, "amp": False, "cos_lr_T": 2, "progress": False,
         "checkpoint": False, "crop_size": 16}


def params(**over):
    return StdsImagenetParams(**{**SMALL, **over}).model_dump()


def dataset(n=12, size=16, classes=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ImageDataset(torch.rand(n, 3, size, size, generator=g), torch.arange(n) % classes,
                        [f"c{i}" for i in range(classes)], "toy")


# -- schema --------------------------------------------------------------------------------------------------
def test_defaults_are_the_seed_imagenet_command():
    P = StdsImagenetParams().model_dump()
    assert (P["model"], P["connect_f"], P["neuron"], P["T"], P["lr"], P["momentum"], P["weight_decay"]) == (
        "sew_resnet18", "ADD", "if", 4, 0.1, 0.9, 0.0)
    assert (P["cos_lr_T"], P["epochs"], P["batch_size"], P["amp"], P["crop_size"], P["width"]) == (
        320, 320, 32, True, 224, 64)
    assert (P["dataset"], P["sparse_function"], P["nproc"], P["seed"]) == ("imagenet", "identity", 1, 2020)


@pytest.mark.parametrize("over, key", [
    ({"sparse_function": "gradr"}, "alpha_gr"),
    ({"sparse_function": "gradr", "alpha_gr": 1e-3}, "target_sparsity"),
    ({"alpha_gr": 1e-3}, "alpha_gr"),
    ({"sparse_function": "stmod", "flat_width": 0.0}, "flat_width"),
    ({"flat_width": -1.0}, "flat_width"),
    ({"sparse_function": "stmd"}, "sparse_function"),
    ({"model": "sew_resnet101"}, "model"),
    ({"connect_f": "OR"}, "connect_f"),
    ({"neuron": "izh"}, "neuron"),
    ({"dataset": "cifar10"}, "dataset"),
    ({"T": 0}, "T"),
    ({"nproc": 0}, "nproc"),
    ({"crop_size": 4}, "crop_size"),
])
def test_bad_parameters_are_config_errors(over, key):
    with pytest.raises(ConfigError, match=key):
        config.notebook_params("stds_imagenet", {"profile": None, **over})


def test_cross_field_errors_name_this_schema_and_nproc_2_validates():
    with pytest.raises(ConfigError, match="StdsImagenetParams"):
        config.notebook_params("stds_imagenet", {"profile": None, "sparse_function": "gradr"})
    P = config.notebook_params("stds_imagenet", {"profile": None, "nproc": 2, "sparse_function": "gradr",
                                                 "alpha_gr": 1e-3, "target_sparsity": 0.95})
    assert (P["nproc"], P["target_sparsity"]) == (2, 0.95)


def test_profiles_validate_and_paper_is_the_seed():
    root = Path(__file__).resolve().parents[2] / "params" / "stds_imagenet"
    smoke = {run: config.validate("stds_imagenet", p) for run, p in config.read_params_file(root / "smoke.yaml").items()}
    assert set(smoke) == {"dense", "stmod_sine"} and smoke["dense"]["dataset"] == "imagenet-standin"
    paper = {run: config.validate("stds_imagenet", p) for run, p in config.read_params_file(root / "paper.yaml").items()}
    assert sorted(p["flat_width"] for p in paper.values() if p["sparse_function"] == "stmod") == sorted(
        recipe.PUBLISHED_TRAIN_TOP1)
    assert all((p["dataset"], p["batch_size"], p["nproc"], p["epochs"]) == ("imagenet", 256, 8, 320)
               for p in paper.values())


# -- network and trainer ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("model, depth", [("sew_resnet18", 18), ("sew_resnet34", 34), ("sew_resnet50", 50)])
def test_build_net_depth_and_classes(model, depth):
    net = recipe.build_net(params(model=model, connect_f="IAND", neuron="lif"), dataset(classes=6))
    assert isinstance(net, SEWResNet)
    assert (net.depth, net.connect_f, net.neuron, net.T, net.n_classes, net.width) == (depth, "IAND", "lif", 2, 6, 2)


def test_make_trainer_prunes_convolutions_not_the_fc_and_trains():
    P = params(sparse_function="stmod", gradual="sine", flat_width=0.05)
    train = dataset()
    net = recipe.build_net(P, train)
    trainer = recipe.make_trainer(P, net, device="cpu")
    names = [n for n, _, _ in reparam_layers(net)]
    assert names == [n for n, _ in net.prunable_layers()] and "fc" not in names and "conv1" in names
    assert [type(cb) for cb in trainer.callbacks] == [FlatWidthSchedule] and trainer.drop_last
    assert isinstance(trainer.optimizer, torch.optim.SGD)
    assert (trainer.optimizer.defaults["momentum"], trainer.optimizer.defaults["weight_decay"]) == (0.9, 0.0)
    theta = net.conv1.parametrizations.weight.original
    before = theta.detach().clone()
    history = list(trainer.fit(train, dataset(seed=1)))
    assert not torch.equal(before, theta.detach())  # SGD trains the spine states θ
    assert history[-1]["flat_width"] == pytest.approx(0.05)  # the sine schedule ends at D exactly
    # cosine annealing per epoch over cos_lr_T = 2 epochs: lr 0.1 in epoch 1, 0.1·(1 + cos(π/2))/2 in epoch 2
    assert [h["lr"] for h in history] == pytest.approx([0.1, 0.05])
    summary = recipe.sparsity_summary(net)
    assert summary["flat_width_final"] == pytest.approx(0.05) and 0.0 <= summary["sparsity"] <= 1.0


def test_make_trainer_identity_and_gradr():
    P = params()
    assert list(recipe.make_trainer(P, recipe.build_net(P, dataset()), device="cpu").callbacks) == []
    P = params(sparse_function="gradr", alpha_gr=1e-3, target_sparsity=0.9)
    trainer = recipe.make_trainer(P, recipe.build_net(P, dataset()), device="cpu")
    assert [type(cb) for cb in trainer.callbacks] == [GradRPrior]


def test_cross_entropy_is_the_loss():
    P = params()
    trainer = recipe.make_trainer(P, recipe.build_net(P, dataset()), device="cpu")
    out, y = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])
    torch.testing.assert_close(trainer.loss_fn(out, y), torch.nn.functional.cross_entropy(out, y))


# -- top-k accuracy ---------------------------------------------------------------------------------------------
def test_topk_accuracy_by_hand():
    scores = torch.tensor([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1], [0.3, 0.3, 0.4]])
    targets = torch.tensor([2, 0, 1])
    assert recipe.topk_accuracy(scores, targets, 1) == pytest.approx(1 / 3)
    assert recipe.topk_accuracy(scores, targets, 2) == pytest.approx(2 / 3)
    assert recipe.topk_accuracy(scores, targets, 5) == 1.0  # k capped at the number of classes


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 20), c=st.integers(2, 12), k=st.integers(1, 12), seed=st.integers(0, 10**6))
def test_topk_accuracy_is_rank_of_target(n, c, k, seed):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, c, generator=g)
    targets = torch.randint(0, c, (n,), generator=g)
    rank = (scores > scores.gather(1, targets[:, None])).sum(1)  # classes scored above the target (no ties)
    expected = float((rank < k).float().mean())
    assert recipe.topk_accuracy(scores, targets, k) == pytest.approx(expected)
    assert recipe.topk_accuracy(scores, targets, 1) <= recipe.topk_accuracy(scores, targets, k)


@pytest.mark.parametrize("scores, targets, k", [
    (torch.zeros(3), torch.zeros(3, dtype=torch.long), 1),
    (torch.zeros(3, 4), torch.zeros(2, dtype=torch.long), 1),
    (torch.zeros(3, 4), torch.zeros(3, dtype=torch.long), 0),
])
def test_topk_accuracy_bad_input(scores, targets, k):
    with pytest.raises(ConfigError):
        recipe.topk_accuracy(scores, targets, k)


# -- published numbers -----------------------------------------------------------------------------------------
def test_published_table_and_beside():
    table = recipe.published_table()
    assert table["top1_%"].tolist() == [63.18, 61.4, 58.6, 58.0, 55.9, 53.0, 50.7]
    metrics = {"test_accuracy": 0.5, "test_top5": 0.8, "train_top1": 0.6, "sparsity": 0.9}
    stds = recipe.beside_published(params(sparse_function="stmod", gradual="sine", flat_width=1.5), metrics,
                                   stand_in=False)
    assert len(stds) == 2 and stds["train_top1_%"].tolist() == [60.0, 55.9]
    dense = recipe.beside_published(params(), metrics, stand_in=True)
    assert dense["val_top1_%"].tolist() == [50.0, 63.18] and "stand-in" in dense["note"][0]
    alone = recipe.beside_published(params(sparse_function="stmod", gradual="linear", flat_width=1.5), metrics,
                                    stand_in=False)
    assert len(alone) == 1


def test_published_yaml_block_matches_the_recipe():
    from snnkit.report.index import load_published

    block = load_published()["stds_imagenet"]
    values = {e["key"].get("flat_width"): e["value"] for e in block["entries"]}
    assert values == {None: recipe.DENSE_TOP1, **recipe.PUBLISHED_TRAIN_TOP1}
    assert {e["metric"] for e in block["entries"]} == {"test_accuracy", "train_top1"}


# -- several processes ----------------------------------------------------------------------------------------
@pytest.mark.slow  # two fresh interpreters import torch: ~25 s
def test_fit_parallel_two_gloo_processes_load_rank0_weights():
    """nproc = 2: two DDP workers (gloo) train on the stand-in; their weights and records come back."""
    P = params(dataset="imagenet-standin", train_subset=16, test_subset=8, epochs=1, T=1, width=2, nproc=2,
               threads=1, sparse_function="stmod", gradual="linear", flat_width=0.05)
    train, _ = recipe.load_data(P)
    net = recipe.build_net(P, train)
    trainer = recipe.make_trainer(P, net, device="cpu")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    history = recipe.fit_parallel(P, net, trainer)
    assert [h["epoch"] for h in history] == [1] and history[-1]["flat_width"] == pytest.approx(0.05)
    after = net.state_dict()
    assert set(after) == set(before) and not torch.equal(after["fc.weight"], before["fc.weight"])
    assert float(reparam_layers(net)[0][2].flat_width) == pytest.approx(0.05)  # the schedule's state came back
    assert trainer.resumed_from is None
