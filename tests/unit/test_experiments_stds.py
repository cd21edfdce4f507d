"""Tests of the stds_cifar10 notebook's recipe (snnkit.experiments.stds), its parameter schema, the
network's input normalisation and the STDS figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from snnkit import config  # noqa: E402
from snnkit.data.augment import random_crop_flip  # noqa: E402
from snnkit.data.images import ImageDataset  # noqa: E402
from snnkit.errors import ConfigError  # noqa: E402
from snnkit.experiments import stds as recipe  # noqa: E402
from snnkit.models.stds import StdsCifar10Params, StdsCifarNet  # noqa: E402
from snnkit.report import stds_figures  # noqa: E402
from snnkit.sparse import FlatWidthSchedule, GradRPrior, sparsity_report, spine_states  # noqa: E402
from snnkit.sparse.reparam import reparam_layers  # noqa: E402

SMALL = {"channels": 4, "hidden": 16, "T": 2, "dropout": 0.0, "epochs": 2, "batch_size": 4, "amp": False,
         "progress": False, "checkpoint": False}


def params(**over):
    return StdsCifar10Params(**{**SMALL, **over}).model_dump()


def dataset(n=16, c=3, size=8, classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, c, size, size, generator=g)
    targets = torch.arange(n) % classes
    return ImageDataset(images, targets, [f"c{i}" for i in range(classes)], "toy")


# -- schema --------------------------------------------------------------------------------------------------
def test_defaults_are_the_authors_train_py():
    P = StdsCifar10Params().model_dump()
    assert (P["seed"], P["batch_size"], P["lr"], P["T"], P["epochs"]) == (2020, 16, 1e-4, 8, 2048)
    assert (P["sparse_function"], P["flat_width"], P["gradual"], P["amp"], P["augment"]) == (
        "identity", 1.0, "none", True, True)
    assert (P["channels"], P["hidden"], P["dropout"]) == (256, 2048, 0.5)


@pytest.mark.parametrize("over, key", [
    ({"sparse_function": "gradr"}, "alpha_gr"),
    ({"sparse_function": "gradr", "alpha_gr": 1e-3}, "target_sparsity"),
    ({"alpha_gr": 1e-3}, "alpha_gr"),
    ({"target_sparsity": 0.9}, "target_sparsity"),
    ({"sparse_function": "stmod", "flat_width": 0.0}, "flat_width"),
    ({"flat_width": -1.0}, "flat_width"),
    ({"sparse_function": "stmd"}, "sparse_function"),
    ({"gradual": "cosine"}, "gradual"),
    ({"T": 0}, "T"),
])
def test_bad_parameters_are_one_line_config_errors(over, key):
    with pytest.raises(ConfigError, match=key):
        config.notebook_params("stds_cifar10", {"profile": None, **over})


def test_a_complete_gradr_set_validates():
    P = config.notebook_params("stds_cifar10", {"profile": None, "sparse_function": "gradr", "alpha_gr": 1e-3,
                                                "target_sparsity": 0.95})
    assert P["sparse_function"] == "gradr" and P["target_sparsity"] == 0.95


# -- network input ---------------------------------------------------------------------------------------------
def test_input_norm_is_the_first_operation():
    torch.manual_seed(0)
    norm = ((0.5, 0.4, 0.3), (0.2, 0.25, 0.1))
    a = StdsCifarNet(channels=4, hidden=8, T=2, image_size=8, dropout=0.0, input_norm=norm).eval()
    b = StdsCifarNet(channels=4, hidden=8, T=2, image_size=8, dropout=0.0).eval()
    b.load_state_dict({k: v for k, v in a.state_dict().items() if not k.startswith("input_")})
    x = torch.rand(3, 3, 8, 8)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in norm)
    torch.testing.assert_close(a.output_spikes(x), b.output_spikes((x - mean) / std))


@pytest.mark.parametrize("norm", [((0.5, 0.5), (1.0, 1.0)), ((0.5, 0.5, 0.5), (1.0, 0.0, 1.0))])
def test_bad_input_norm(norm):
    with pytest.raises(ConfigError, match="input_norm"):
        StdsCifarNet(channels=4, hidden=8, T=2, image_size=8, input_norm=norm)


def test_build_net_fits_the_data():
    net = recipe.build_net(params(), dataset(c=3, size=8, classes=10))
    assert (net.in_channels, net.image_size, net.n_classes, net.T) == (3, 8, 10, 2) and net.input_norm
    grey = recipe.build_net(params(), dataset(c=1, size=12, classes=4))
    assert (grey.in_channels, grey.image_size, grey.n_classes) == (1, 12, 4) and not grey.input_norm


def test_mse_one_hot():
    out = torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.0, 1.0]])
    y = torch.tensor([0, 1])
    # squared errors: (0.25 + 0 + 0) + (0 + 1 + 1) over 6 entries
    assert recipe.mse_one_hot(out, y).item() == pytest.approx(2.25 / 6)


# -- trainer --------------------------------------------------------------------------------------------------
def test_make_trainer_reparameterises_before_the_optimiser():
    P = params(sparse_function="stmod", gradual="sine", flat_width=0.1)
    train = dataset()
    net = recipe.build_net(P, train)
    trainer = recipe.make_trainer(P, net, device="cpu")
    layers = reparam_layers(net)
    assert [n for n, _, _ in layers] == [n for n, _ in net.prunable_layers()]
    assert [type(cb) for cb in trainer.callbacks] == [FlatWidthSchedule]
    assert trainer.drop_last and trainer.transform is random_crop_flip
    theta = net.fc7.parametrizations.weight.original
    before = theta.detach().clone()
    history = trainer.fit(train, dataset(seed=1))
    assert not torch.equal(before, theta.detach())  # the optimiser trains the spine states θ
    assert history[-1]["flat_width"] == pytest.approx(0.1)  # the sine schedule ends at D exactly
    assert float(layers[0][2].flat_width) == pytest.approx(0.1)


def test_make_trainer_identity_and_gradr():
    P = params()
    trainer = recipe.make_trainer(P, recipe.build_net(P, dataset()), device="cpu")
    assert trainer.callbacks == [] or list(trainer.callbacks) == []
    P = params(sparse_function="gradr", alpha_gr=1e-3, target_sparsity=0.9, cos_lr_T=4, augment=False)
    trainer = recipe.make_trainer(P, recipe.build_net(P, dataset()), device="cpu")
    assert [type(cb) for cb in trainer.callbacks] == [GradRPrior] and trainer.transform is None
    history = trainer.fit(dataset(), dataset(seed=1))
    assert history[-1]["lr"] < P["lr"]  # cosine annealing over cos_lr_T epochs


def test_sparsity_summary_counts_exact_zeros():
    P = params(sparse_function="stmod", flat_width=1e-3)
    net = recipe.build_net(P, dataset())
    recipe.make_trainer(P, net, device="cpu")
    with torch.no_grad():  # every θ of fc8 inside the flat zone: fc8's weights are all zero
        net.fc8.parametrizations.weight.original.fill_(1e-4)
    summary = recipe.sparsity_summary(net)
    rep = sparsity_report(net)
    assert summary["sparsity_fc8"] == 1.0 and summary["sparsity"] == rep["sparsity"]
    assert summary["connectivity"] == pytest.approx(1 - summary["sparsity"])
    assert summary["prunable_weights"] == sum(m.weight.numel() for _, m in net.prunable_layers())
    assert summary["flat_width_final"] == pytest.approx(1e-3)
    dense = recipe.build_net(params(), dataset())
    recipe.make_trainer(params(), dense, device="cpu")
    assert "flat_width_final" not in recipe.sparsity_summary(dense)


def test_published_points_and_beside():
    pts = recipe.published_points()
    assert list(pts["D"]) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert pts["connectivity_%"].tolist() == pytest.approx([4.64, 2.23, 1.40, 0.99, 0.75])
    metrics = {"test_accuracy": 0.9, "sparsity": 0.95}
    table = recipe.beside_published(params(sparse_function="stmod", gradual="sine", flat_width=1.0), metrics,
                                    stand_in=False)
    assert len(table) == 2 and table["test_accuracy_%"].tolist() == [90.0, 92.49]
    alone = recipe.beside_published(params(), metrics, stand_in=True)
    assert len(alone) == 1 and "stand-in" in alone["note"][0]


# -- figures ---------------------------------------------------------------------------------------------------
def test_figures():
    P = params(sparse_function="stmod", gradual="linear", flat_width=0.05)
    net = recipe.build_net(P, dataset())
    trainer = recipe.make_trainer(P, net, device="cpu")
    history = trainer.fit(dataset(), dataset(seed=1))
    figs = [
        stds_figures.layer_sparsity(sparsity_report(net), dataset_label="toy"),
        stds_figures.schedule_curves(list(history), dataset_label="toy"),
        stds_figures.spine_histograms(spine_states(net), dataset_label="toy"),
        stds_figures.accuracy_vs_connectivity(
            pd.DataFrame([{"label": "run", "connectivity_%": 50.0, "test_accuracy_%": 40.0}]),
            recipe.published_points(), dataset_label="toy"),
    ]
    for fig in figs:
        assert "toy" in (fig._suptitle.get_text() if fig._suptitle else fig.axes[0].get_title())
        plt.close(fig)
    with pytest.raises(ValueError, match="sparsity"):
        stds_figures.schedule_curves([{"train_loss": 1.0}], dataset_label="toy")
    with pytest.raises(ValueError, match="columns"):
        stds_figures.accuracy_vs_connectivity(pd.DataFrame([{"x": 1}]), dataset_label="toy")
    with pytest.raises(ValueError, match="no prunable layer"):
        stds_figures.layer_sparsity({"layers": {}}, dataset_label="toy")
