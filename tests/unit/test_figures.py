"""Tests of snnkit.report.figures: every function returns a Figure with the expected axes and saves a PNG."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from snnkit.report import figures as F  # noqa: E402

LABEL = "Fashion-MNIST (embedded subset)"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _visible_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def _all_titles(fig: Figure) -> str:
    sup = fig._suptitle.get_text() if fig._suptitle is not None else ""
    return sup + " ".join(ax.get_title() for ax in fig.axes)


def _saves_png(fig: Figure, tmp_path, name: str = "fig.png") -> None:
    path = F.save_figure(fig, tmp_path / name)
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_confusion_heatmap(tmp_path):
    cm = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]])
    fig = F.confusion_heatmap(cm, ["T-shirt", "Trouser", "Bag"], dataset_label=LABEL)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2  # heatmap + colour bar
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Predicted class" and ax.get_ylabel() == "True class"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["T-shirt", "Trouser", "Bag"]
    assert LABEL in ax.get_title() and "normalised" in ax.get_title()
    texts = [t.get_text() for t in ax.texts]
    assert texts[0] == "0.83" and len(texts) == 9  # 5/6, row-normalised annotations
    _saves_png(fig, tmp_path)


def test_confusion_heatmap_counts_single_class_and_empty_row(tmp_path):
    fig = F.confusion_heatmap(np.array([[7]]), ["only"], normalize=False, dataset_label="digits", title="CM")
    assert fig.axes[0].get_title() == "CM — digits"
    assert [t.get_text() for t in fig.axes[0].texts] == ["7"]
    _saves_png(fig, tmp_path)
    fig2 = F.confusion_heatmap(torch.tensor([[0, 0], [1, 1]]), ["a", "b"], dataset_label=LABEL)
    assert [t.get_text() for t in fig2.axes[0].texts] == ["0.00", "0.00", "0.50", "0.50"]


def test_confusion_heatmap_errors():
    with pytest.raises(ValueError, match="square"):
        F.confusion_heatmap(np.zeros((2, 3)), ["a", "b"], dataset_label=LABEL)
    with pytest.raises(ValueError, match="3 class names"):
        F.confusion_heatmap(np.zeros((2, 2)), ["a", "b", "c"], dataset_label=LABEL)
    with pytest.raises(ValueError, match="dataset_label"):
        F.confusion_heatmap(np.eye(2), ["a", "b"], dataset_label="  ")


def test_spike_raster_shapes_and_subsetting(tmp_path):
    g = torch.Generator().manual_seed(0)
    spikes = torch.rand(20, 3, 300, generator=g) < 0.1  # [T, B, N] bool
    fig = F.spike_raster(spikes, max_neurons=50, dataset_label=LABEL)
    ax = _visible_axes(fig)[0]
    assert len(fig.axes) == 1
    offsets = ax.collections[0].get_offsets()
    expected = spikes[:, 0, :50].nonzero().numpy()
    assert len(offsets) == len(expected)  # first sample, first 50 neurons only
    assert ax.get_xlabel() == "Time step" and "first 50 of 300" in ax.get_ylabel()
    assert LABEL in ax.get_title()
    _saves_png(fig, tmp_path)
    fig2 = F.spike_raster(np.eye(4), dataset_label=LABEL)  # [T, N] float
    assert len(fig2.axes[0].collections[0].get_offsets()) == 4


def test_spike_raster_all_zero_and_conv_shape(tmp_path):
    fig = F.spike_raster(torch.zeros(10, 2, 4, 5, 5), dataset_label=LABEL)
    ax = fig.axes[0]
    assert not ax.collections and any(t.get_text() == "no spikes" for t in ax.texts)
    assert "(100)" in ax.get_ylabel()
    assert "rate 0.000" in ax.get_title()
    _saves_png(fig, tmp_path)
    with pytest.raises(ValueError, match="expected"):
        F.spike_raster(torch.zeros(5), dataset_label=LABEL)
    with pytest.raises(ValueError, match="sample"):
        F.spike_raster(torch.zeros(5, 2, 3), dataset_label=LABEL, sample=2)


def test_firing_rate_histogram(tmp_path):
    rates = {
        "lif1": torch.rand(100, generator=torch.Generator().manual_seed(1)) * 0.1,
        "lif2": np.zeros(50),  # a silent layer
        "lif3": [0.02, 0.03],
    }
    fig = F.firing_rate_histogram(rates, ncols=2, dataset_label="CIFAR-10 stand-in")
    vis = _visible_axes(fig)
    assert len(vis) == 3 and len(fig.axes) == 4
    assert [ax.get_title() for ax in vis] == ["lif1 (n=100)", "lif2 (n=50)", "lif3 (n=2)"]
    assert "CIFAR-10 stand-in" in fig._suptitle.get_text()
    assert vis[1].get_legend().get_texts()[0].get_text() == "mean 0"
    _saves_png(fig, tmp_path)
    with pytest.raises(ValueError, match="empty"):
        F.firing_rate_histogram({}, dataset_label=LABEL)


def test_weight_histogram_nonzero_only(tmp_path):
    w = torch.zeros(20, 10)
    w[:, :3] = torch.randn(20, 3, generator=torch.Generator().manual_seed(2))
    lin = torch.nn.Linear(4, 2)
    fig = F.weight_histogram(
        {"fc1.weight": w, "fc1.bias": torch.zeros(5)}, nonzero_only=True, dataset_label=LABEL
    )
    titles = [ax.get_title() for ax in _visible_axes(fig)]
    assert titles == ["fc1.weight (n=60)", "fc1.bias (n=0)"]
    assert "non-zero" in fig._suptitle.get_text()
    _saves_png(fig, tmp_path)
    fig2 = F.weight_histogram(lin.named_parameters(), dataset_label=LABEL)
    assert len(_visible_axes(fig2)) == 2


def test_training_curves_list_and_dataframe(tmp_path):
    history = [
        {
            "epoch": e,
            "train_loss": 2.0 / e,
            "test_loss": 2.2 / e,
            "train_accuracy": 0.5 + 0.1 * e,
            "test_accuracy": 0.45 + 0.1 * e,
            "lr": 1e-3,
        }
        for e in range(1, 4)
    ]
    fig = F.training_curves(history, dataset_label=LABEL)
    assert len(fig.axes) == 2
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_ylabel() == "Loss" and acc_ax.get_ylabel() == "Accuracy (%)"
    assert [ln.get_label() for ln in loss_ax.lines] == ["train loss", "test loss"]  # readable legend
    assert [t.get_text() for t in acc_ax.get_legend().get_texts()] == ["train accuracy", "test accuracy"]
    np.testing.assert_allclose(acc_ax.lines[0].get_ydata(), [60.0, 70.0, 80.0])  # fractions -> percent
    np.testing.assert_array_equal(acc_ax.lines[0].get_xdata(), [1, 2, 3])
    assert LABEL in fig._suptitle.get_text()
    _saves_png(fig, tmp_path)
    # DataFrame, percentages already, one epoch, loss only
    fig2 = F.training_curves(pd.DataFrame({"val_acc": [87.0]}), dataset_label=LABEL, title="Run 1")
    assert len(fig2.axes) == 1
    np.testing.assert_allclose(fig2.axes[0].lines[0].get_ydata(), [87.0])
    assert fig2._suptitle.get_text() == f"Run 1 — {LABEL}"
    with pytest.raises(ValueError, match="no loss or accuracy"):
        F.training_curves([{"epoch": 1, "lr": 0.1}], dataset_label=LABEL)
    with pytest.raises(ValueError, match="empty"):
        F.training_curves([], dataset_label=LABEL)


def test_feature_maps(tmp_path):
    maps = torch.randn(10, 6, 6, generator=torch.Generator().manual_seed(3))
    maps[4] = 0.0  # constant map must not break the colour scaling
    fig = F.feature_maps(maps, ncols=4, dataset_label=LABEL)
    assert len(fig.axes) == 12 and len(_visible_axes(fig)) == 10
    assert all(len(ax.images) == 1 for ax in _visible_axes(fig))
    assert "Feature maps (10)" in fig._suptitle.get_text() and LABEL in fig._suptitle.get_text()
    _saves_png(fig, tmp_path)
    single = F.feature_maps(np.ones((3, 3)), dataset_label=LABEL)
    assert len(single.axes) == 1
    with pytest.raises(ValueError, match=r"\[C, H, W\]"):
        F.feature_maps(np.ones((1, 2, 3, 4)), dataset_label=LABEL)


def test_style_is_scoped_and_applicable():
    before = matplotlib.rcParams["axes.spines.top"]
    F.confusion_heatmap(np.eye(2), ["a", "b"], dataset_label=LABEL)
    assert matplotlib.rcParams["axes.spines.top"] == before  # drawing does not leak the style
    with matplotlib.rc_context():
        F.apply_style()
        assert matplotlib.rcParams["axes.spines.top"] is False
        assert matplotlib.rcParams["axes.prop_cycle"].by_key()["color"][:2] == F.PALETTE[:2]
    assert len(F.PALETTE) == len(set(F.PALETTE)) == 8


def test_spike_raster_time_ticks_are_whole_steps():
    fig = F.spike_raster(np.eye(3), dataset_label=LABEL)  # T = 3: the default locator puts ticks at halves
    ticks = fig.axes[0].get_xticks()
    assert len(ticks) and np.array_equal(ticks, np.round(ticks))


# --------------------------------------------------------------------------------------------------
# G2GNet figures
# --------------------------------------------------------------------------------------------------
# 4 outputs in groups [0, 0, 1, 1], 6 inputs in groups [0, 1, 2, 0, 1, 2]
OUT_G = torch.tensor([0, 0, 1, 1])
IN_G = torch.tensor([0, 1, 2, 0, 1, 2])
MASK_A = torch.tensor([
    [1, 0, 0, 1, 0, 1],
    [1, 1, 0, 0, 0, 0],
    [0, 0, 0, 0, 1, 1],
    [0, 0, 0, 1, 1, 1],
], dtype=torch.bool)
# kept / possible (2 outputs × 2 inputs = 4 per cell):
#   out group 0: in 0 → (1,1)+(1,0)... rows 0-1, cols {0,3}: 1+1+1+0 = 3; cols {1,4}: 0+0+1+0 = 1; cols {2,5}: 0+1+0+0 = 1
#   out group 1: rows 2-3, cols {0,3}: 0+0+0+1 = 1; cols {1,4}: 0+1+0+1 = 2; cols {2,5}: 0+1+0+1 = 2
DENS_A = np.array([[3, 1, 1], [1, 2, 2]]) / 4


def test_group_density_hand_computed():
    np.testing.assert_allclose(F.group_density(MASK_A, OUT_G, IN_G), DENS_A)
    # a contiguous block mask has density 1 on the diagonal and 0 elsewhere
    block = torch.block_diag(torch.ones(2, 3), torch.ones(2, 3)).bool()
    np.testing.assert_array_equal(F.group_density(block, [0, 0, 1, 1], [0, 0, 0, 1, 1, 1]), np.eye(2))
    with pytest.raises(ValueError, match="does not match"):
        F.group_density(MASK_A, OUT_G[:3], IN_G)


def test_group_connectivity_heat_maps_show_the_densities(tmp_path):
    after = MASK_A.clone()
    after[0, 0], after[3, 2] = False, True  # one connection moved from (0, 0) to (1, 2)
    masks = {"layers.0": after, "layers.1": torch.ones(4, 4, dtype=torch.bool)}
    fig = F.group_connectivity(masks, {"layers.0": OUT_G, "layers.1": OUT_G},
                               {"layers.0": IN_G, "layers.1": torch.tensor([0, 1, 0, 1])},
                               before={"layers.0": MASK_A, "layers.1": torch.ones(4, 4, dtype=torch.bool)},
                               dataset_label=LABEL)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 4  # 2 layers × (before, after)
    np.testing.assert_allclose(panels[0].images[0].get_array(), DENS_A)
    expected_after = DENS_A.copy()
    expected_after[0, 0] -= 0.25
    expected_after[1, 2] += 0.25
    np.testing.assert_allclose(panels[1].images[0].get_array(), expected_after)
    np.testing.assert_allclose(panels[3].images[0].get_array(), np.ones((2, 2)))
    assert "before" in panels[0].get_title() and "after" in panels[1].get_title()
    assert "layers.0" in panels[0].get_title() and "41.7%" in panels[0].get_title()  # 10 of 24 kept
    assert panels[0].images[0].get_clim() == (0.0, 1.0)
    assert LABEL in _all_titles(fig)
    _saves_png(fig, tmp_path)
    # one label vector for every layer, no before: one column
    fig = F.group_connectivity({"a": MASK_A}, OUT_G, IN_G, dataset_label=LABEL)
    assert len([ax for ax in fig.axes if ax.images]) == 1
    with pytest.raises(ValueError, match="no labels for layers"):
        F.group_connectivity({"a": MASK_A}, {"b": OUT_G}, IN_G, dataset_label=LABEL)


EVENTS = [
    {"step": 10, "layer": "layers.0", "pruned": 5, "grown": 5, "active": 50, "size": 200},
    {"step": 10, "layer": "layers.1", "pruned": 3, "grown": 2, "active": 29, "size": 100},
    {"step": 20, "layer": "layers.0", "pruned": 4, "grown": 4, "active": 50, "size": 200},
    {"step": 20, "layer": "layers.1", "pruned": 2, "grown": 2, "active": 29, "size": 100},
]


def test_dst_events_bars_and_density(tmp_path):
    fig = F.dst_events(EVENTS, dataset_label=LABEL)
    ax_bar, ax_den = fig.axes
    heights = [p.get_height() for p in ax_bar.patches]
    # bar containers in drawing order: layers.0 grown, layers.0 pruned (negative), layers.1 grown, pruned
    assert heights == [5, 4, -5, -4, 2, 2, -3, -2]
    assert [t.get_text() for t in ax_bar.get_xticklabels()] == ["10", "20"]
    lines = {line.get_label(): line for line in ax_den.get_lines()}
    np.testing.assert_allclose(lines["layers.0"].get_ydata(), [25.0, 25.0])
    np.testing.assert_allclose(lines["layers.1"].get_ydata(), [29.0, 29.0])
    np.testing.assert_array_equal(lines["layers.1"].get_xdata(), [10, 20])
    assert LABEL in _all_titles(fig)
    _saves_png(fig, tmp_path)
    assert len(F.dst_events(pd.DataFrame(EVENTS), dataset_label=LABEL).axes[0].patches) == 8
    with pytest.raises(ValueError, match="DST event records"):
        F.dst_events([], dataset_label=LABEL)


def test_accuracy_vs_p_inter_lines_published_and_dense(tmp_path):
    runs = pd.DataFrame({
        "model": ["dense", "dense", "index", "index", "index", "mixer"],
        "p_inter": [np.nan, np.nan, 0.15, 0.15, 0.0, 0.15],
        "accuracy": [0.86, 0.88, 0.88, 0.90, 0.85, 0.875],  # fractions → drawn in percent
    })
    published = pd.DataFrame({"model": ["dense", "index", "index"], "p_inter": [np.nan, 0.15, 0.0],
                              "accuracy": [87.04, 88.73, 87.72]})
    fig = F.accuracy_vs_p_inter(runs, published, dataset_label=LABEL)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    lines.update({c.get_label(): c.lines[0] for c in ax.containers})  # errorbar: the data line
    np.testing.assert_allclose(lines["dense"].get_ydata(), [87.0, 87.0])  # mean of the runs, horizontal
    np.testing.assert_allclose(lines["dense (published)"].get_ydata(), [87.04, 87.04])
    assert lines["dense (published)"].get_linestyle() == ":"
    np.testing.assert_allclose(lines["index"].get_xdata(), [0.0, 0.15])
    np.testing.assert_allclose(lines["index"].get_ydata(), [85.0, 89.0])
    np.testing.assert_allclose(lines["mixer"].get_ydata(), [87.5])
    hollow = lines["index (published)"]
    np.testing.assert_allclose(hollow.get_xdata(), [0.0, 0.15])
    np.testing.assert_allclose(hollow.get_ydata(), [87.72, 88.73])
    assert hollow.get_markerfacecolor() == "none" and hollow.get_linestyle() == "None"
    assert hollow.get_markeredgecolor() == lines["index"].get_color()
    # the error bar of index at 0.15 spans the sample std of 88 and 90 (√2 points)
    bars = [c for c in ax.containers if c.get_label() == "index"][0]
    segs = bars.lines[2][0].get_segments()
    spans = sorted(abs(s[1][1] - s[0][1]) for s in segs)
    np.testing.assert_allclose(spans, [0.0, 2 * np.sqrt(2)])
    assert LABEL in ax.get_title()
    _saves_png(fig, tmp_path)
    with pytest.raises(ValueError, match="needs columns"):
        F.accuracy_vs_p_inter(pd.DataFrame({"model": ["a"], "acc": [1.0]}), dataset_label=LABEL)


def test_accuracy_vs_p_inter_keeps_the_axis_on_the_bulk_and_marks_a_collapsed_point():
    import pandas as pd

    from snnkit.report.figures import accuracy_vs_p_inter

    runs = pd.DataFrame({"model": ["dense", "mixer"], "p_inter": [float("nan"), 0.15], "accuracy": [0.87, 0.88]})
    published = pd.DataFrame({"model": ["mixer", "mixer"], "p_inter": [0.10, 0.15], "accuracy": [10.0, 88.5]})
    fig = accuracy_vs_p_inter(runs, published, dataset_label="fashionmnist")
    ax = fig.axes[0]
    bottom, top = ax.get_ylim()
    assert 85 < bottom < 87 and 88.5 < top < 91  # not stretched down to 10 %
    (note,) = [t for t in ax.texts if "published 10.0%" in t.get_text()]
    assert note.xy == (0.10, bottom)


def test_raster_grid_one_panel_per_layer_and_sample(tmp_path):
    g = torch.Generator().manual_seed(1)
    rasters = {f"neurons.{i}": [torch.rand(t, 40, generator=g) < 0.2 for t in (7, 12)] for i in range(3)}
    fig = F.raster_grid(rasters, ["en-1", "de-2"], dataset_label=LABEL, max_neurons=10)
    axes = _visible_axes(fig)
    assert len(axes) == 6
    for ax, (layer, c) in zip(axes, [(f"neurons.{r}", c) for r in range(3) for c in range(2)]):
        expected = rasters[layer][c][:, :10].nonzero()
        assert len(ax.collections[0].get_offsets()) == len(expected)  # the first 10 neurons only
        rate = rasters[layer][c].float().mean().item()
        assert layer in ax.get_title() and f"{rate:.3f}" in ax.get_title()
    assert "en-1" in axes[0].get_title() and "de-2" in axes[1].get_title()
    _saves_png(fig, tmp_path)
    with pytest.raises(ValueError, match="2 samples"):
        F.raster_grid({"a": [torch.zeros(3, 2)]}, ["x", "y"], dataset_label=LABEL)
