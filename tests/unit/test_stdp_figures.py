"""Tests of snnkit.report.stdp_figures and snnkit.report.explore: pixel-space reconstructions by hand, every
figure's panels on a fresh mozafari2018 network, R-STDP curves skipping STDP records, the explorer's controls."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from snnkit.errors import ConfigError  # noqa: E402
from snnkit.experiments.stdp import encode  # noqa: E402
from snnkit.models.stdp_nets import StdpNet  # noqa: E402
from snnkit.report import stdp_figures as S  # noqa: E402
from snnkit.stdp.filters import dog_kernels  # noqa: E402

LABEL = "MNIST (embedded subset)"
T = 15


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def net():
    return StdpNet("mozafari2018")


@pytest.fixture(scope="module")
def data():
    """Four embedded MNIST test images and their S1C1 first-spike times."""
    from snnkit.data.registry import load_dataset

    ds = load_dataset("mnist-embedded", "test")
    sub = SimpleNamespace(images=ds.images[:4], targets=ds.targets[:4])
    enc = encode(sub, time_steps=T)
    return sub.images, enc.times, enc.targets


def _visible(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def _suptitle(fig: Figure) -> str:
    return fig._suptitle.get_text() if fig._suptitle is not None else ""


# ------------------------------------------------------------------------------------- reconstructions
@pytest.mark.parametrize("channel", range(6))
def test_l1_one_hot_weight_gives_the_dog_kernel(net, channel):
    """A feature whose only weight is 1 at (0, 0) of channel c is DoG kernel c in the top-left corner; at
    (i, j) the kernel moves by (i, j)."""
    probe = StdpNet("mozafari2018")
    w = probe.weight("conv1")
    w.zero_()
    w[0, channel, 0, 0] = 1.0
    w[1, channel, 2, 3] = 0.5
    recon = S.l1_pixel_kernels(probe)
    dog = dog_kernels(dtype=torch.float64)[channel, 0]
    assert recon.shape == (30, 17, 17) and recon.dtype == torch.float64
    expected0 = torch.zeros(17, 17, dtype=torch.float64)
    expected0[:13, :13] = dog
    expected1 = torch.zeros(17, 17, dtype=torch.float64)
    expected1[2:15, 3:16] = 0.5 * dog
    torch.testing.assert_close(recon[0], expected0)
    torch.testing.assert_close(recon[1], expected1)
    assert recon[2:].abs().max() == 0


def test_l1_reconstruction_is_linear_over_channels(net):
    """The patch of a feature is the sum over channels of each weight map's full convolution with its DoG
    kernel, here checked against an explicit loop."""
    recon = S.l1_pixel_kernels(net)
    w = net.weight("conv1").double()
    dog = dog_kernels(dtype=torch.float64)[:, 0]
    f = 7
    expected = torch.zeros(17, 17, dtype=torch.float64)
    for c in range(6):
        for i in range(5):
            for j in range(5):
                expected[i:i + 13, j:j + 13] += w[f, c, i, j] * dog[c]
    torch.testing.assert_close(recon[f], expected)


def test_l2_composes_l1_patches_on_the_pooling_stride():
    probe = StdpNet("mozafari2018", seed=3)
    l1 = S.l1_pixel_kernels(probe)
    v = probe.weight("conv2")
    v.zero_()
    v[0, 4, 0, 0] = 1.0  # feature 0: L1 feature 4 at the top-left
    v[1, 2, 1, 2] = 2.0  # feature 1: L1 feature 2 one pooled row down, two pooled columns right
    v[1, 5, 0, 0] = -1.0
    recon = S.l2_pixel_kernels(probe)
    assert recon.shape == (250, 21, 21)  # (3 - 1) * 2 + 17
    expected0 = torch.zeros(21, 21, dtype=torch.float64)
    expected0[:17, :17] = l1[4]
    expected1 = torch.zeros(21, 21, dtype=torch.float64)
    expected1[2:19, 4:21] += 2.0 * l1[2]  # stride 2: pooled (1, 2) -> pixel offset (2, 4)
    expected1[:17, :17] -= l1[5]
    torch.testing.assert_close(recon[0], expected0)
    torch.testing.assert_close(recon[1], expected1)
    assert recon[2:].abs().max() == 0


def test_pixel_kernels_deeper_layer_and_refusals():
    deep = StdpNet("deep2024")
    assert S.pixel_kernels(deep, "conv3").shape == (250, 29, 29)  # 21 + (3 - 1) * 4 (strides 2 x 2)
    with pytest.raises(ConfigError, match="single layers"):
        S.pixel_kernels(StdpNet("inception2024"), "conv4")
    with pytest.raises(ConfigError, match="layer"):
        S.pixel_kernels(deep, "conv9")
    with pytest.raises(ConfigError, match="kernels.shape"):
        S.pixel_kernels(deep, "conv1", kernels=torch.zeros(5, 1, 13, 13))


# ------------------------------------------------------------------------------------------ figures
def test_l1_kernels_and_l2_features_grids(net):
    fig = S.l1_kernels(net, dataset_label=LABEL)
    assert isinstance(fig, Figure) and len(_visible(fig)) == 30
    assert LABEL in _suptitle(fig) and "conv1" in _suptitle(fig)
    assert fig.axes[0].images[0].get_cmap().name == "gray"
    assert fig.axes[0].images[0].get_array().shape == (17, 17)
    fig = S.l2_features(net, dataset_label=LABEL)
    assert len(_visible(fig)) == 64 and "64 of 250" in _suptitle(fig)
    assert fig.axes[0].images[0].get_array().shape == (21, 21)
    assert len(_visible(S.l2_features(net, dataset_label=LABEL, n=5))) == 5
    for bad in (0, 251, 2.5):
        with pytest.raises(ConfigError, match="'n'"):
            S.l2_features(net, dataset_label=LABEL, n=bad)
    with pytest.raises(ValueError, match="dataset_label"):
        S.l1_kernels(net, dataset_label="")


def test_layer_times_and_decisions_match_the_network(net, data):
    _, times, _ = data
    layers = S.layer_times(net, times)
    assert [label for label, _ in layers] == ["S1C1 input", "conv1", "conv2"]
    assert [tuple(t.shape) for _, t in layers] == [(4, 6, 28, 28), (4, 30, 14, 14), (4, 250, 4, 4)]
    torch.testing.assert_close(layers[2][1], net.features_times(times, 2))
    dec = S.decisions(net, layers[-1][1])
    from snnkit.models.stdp_nets import from_times

    ref = net.decide_full(from_times(times, T))
    assert torch.equal(dec["pred"], ref["pred"])
    decided = dec["pred"] >= 0
    assert torch.equal(dec["feature"][decided, 0] // 20, dec["pred"][decided])
    with pytest.raises(ConfigError, match="times values"):
        S.layer_times(net, torch.full((1, 6, 28, 28), T + 1, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="times.shape"):
        S.layer_times(net, torch.zeros(1, 5, 28, 28, dtype=torch.uint8))


def test_activation_maps_panels(net, data):
    images, times, targets = data
    fig = S.activation_maps(net, times, dataset_label=LABEL, samples=3, images=images, targets=targets)
    grid = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(grid) == 3 * 4 and len(fig.axes) == 3 * 4 + 1  # image + 3 layers per sample, one colour bar
    assert LABEL in _suptitle(fig)
    # S1C1 panel of sample 0: the earliest step over the channels, silent positions masked
    shown = grid[1].images[0].get_array()
    first = times[0].long().amin(dim=0).numpy()
    assert np.array_equal(shown.mask, first >= T)
    assert np.array_equal(shown.data[~shown.mask], first[first < T])
    assert "decision" in grid[3].get_xlabel()
    active = int((times[0] < T).flatten(1).any(dim=1).sum())
    assert f"{active}/6 features fired" in grid[1].get_title() and "S1C1 input" in grid[1].get_title()
    fig = S.activation_maps(net, times, dataset_label=LABEL, samples=[2])
    assert len(fig.axes) == 3 + 1 and "sample 2" in fig.axes[0].get_ylabel()
    silent = torch.full((1, 6, 28, 28), T, dtype=torch.uint8)
    fig = S.activation_maps(net, silent, dataset_label=LABEL, samples=1)
    assert fig.axes[0].images[0].get_array().mask.all() and "silent" in fig.axes[2].get_xlabel()
    with pytest.raises(ConfigError, match="samples"):
        S.activation_maps(net, times, dataset_label=LABEL, samples=[4])


def test_activation_maps_vote_block():
    net = StdpNet("majority2024")
    times = torch.randint(0, T + 1, (2, 6, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    fig = S.activation_maps(net, times, dataset_label=LABEL, samples=2)
    assert len(fig.axes) == 2 * 3 + 1
    assert "conv3_5" in fig.axes[2].get_xlabel()


def test_encoding_over_time(data):
    images, times, _ = data
    fig = S.encoding_over_time(images[0], times[0], dataset_label=LABEL)
    steps = [0, 2, 4, 6, 8, 10, 12, 14]
    assert len(_visible(fig)) == 2 * (len(steps) + 1) + 1  # image, first spike, 2 x 8 panels, colour bar
    assert "T = 15" in _suptitle(fig) and LABEL in _suptitle(fig)
    on = [0, 2, 4]
    counts = fig.axes[1 + 2].images[0].get_array()  # on-centre row, step 4
    assert np.array_equal(np.asarray(counts), (times[0, on].long() <= 4).sum(dim=0).numpy())
    last = fig.axes[len(steps)].images[0].get_array()  # on-centre row, last step: every on spike
    assert int(np.asarray(last).sum()) == int((times[0, on] < T).sum())
    fig = S.encoding_over_time(images[0], times[0:1], dataset_label=LABEL, steps=[0, 14], per_channel=True)
    assert len(_visible(fig)) == 2 + 6 * 2 + 1
    assert fig.axes[3 * 1 + 1].get_ylabel() == "off 3×3"
    with pytest.raises(ConfigError, match="steps"):
        S.encoding_over_time(images[0], times[0], dataset_label=LABEL, steps=[15])
    with pytest.raises(ConfigError, match="times.shape"):
        S.encoding_over_time(images[0], times, dataset_label=LABEL)


def _history():
    hist = [{"phase": "l1", "epoch": 1, "winners_per_sample": 4.2, "epoch_time_s": 1.0},
            {"phase": "l2", "epoch": 1, "winners_per_sample": 7.0, "epoch_time_s": 1.0}]
    val = [0.50, 0.70, 0.80, 0.80, 0.75]
    for e, v in enumerate(val, start=1):
        hist.append({"phase": "l3", "epoch": e, "train_accuracy": 0.4 + 0.1 * e, "val_accuracy": v,
                     "train_silent_rate": 0.2 / e, "val_silent_rate": 0.1 / e, "learners": "conv3"})
    return hist


def test_rstdp_curves_skip_stdp_records_and_mark_the_best():
    fig = S.rstdp_curves(_history(), dataset_label=LABEL)
    top, bottom = fig.axes
    assert LABEL in top.get_title() and bottom.get_xlabel() == "R-STDP epoch"
    lines = {ln.get_label(): ln for ln in top.get_lines()}
    np.testing.assert_allclose(lines["val accuracy"].get_ydata(), [50, 70, 80, 80, 75])
    assert list(lines["train accuracy"].get_xdata()) == [1, 2, 3, 4, 5]
    best = [ln for label, ln in lines.items() if label.startswith("best val")]
    assert len(best) == 1 and list(best[0].get_xdata()) == [3] and "epoch 3" in best[0].get_label()
    # the accuracy axis spans the accuracies (50-90 %), not 0-100; the silent rates have their own axis from 0
    low, high = top.get_ylim()
    assert 40 < low <= 50 and 90 <= high < 100
    silent = {ln.get_label(): ln for ln in bottom.get_lines()}
    assert silent["val silent rate"].get_linestyle() == "--" and "val silent rate" not in lines
    np.testing.assert_allclose(silent["train silent rate"].get_ydata(), [20, 10, 20 / 3, 5, 4])
    assert bottom.get_ylim()[0] <= 0 and bottom.get_ylim()[1] >= 20
    with pytest.raises(ConfigError, match="history"):
        S.rstdp_curves(_history()[:2], dataset_label=LABEL)


def test_rstdp_curves_without_silent_rates_have_one_panel():
    hist = [{k: v for k, v in r.items() if "silent" not in k} for r in _history()]
    fig = S.rstdp_curves(hist, dataset_label=LABEL)
    assert len(fig.axes) == 1 and fig.axes[0].get_xlabel() == "R-STDP epoch"
    assert not any("silent" in ln.get_label() for ln in fig.axes[0].get_lines())


# ----------------------------------------------------------------------------------------- explorer
def test_spike_map():
    from snnkit.report.explore import spike_map

    t = torch.tensor([[[0, 3], [15, 7]], [[2, 15], [1, 15]]], dtype=torch.uint8)
    out = spike_map(t, 0, 3, T)
    assert np.array_equal(np.isnan(out), [[False, False], [True, True]]) and out[0, 1] == 3
    out = spike_map(t, None, 2, T)
    np.testing.assert_array_equal(out, [[0, np.nan], [1, np.nan]])
    with pytest.raises(ConfigError, match="feature"):
        spike_map(t, 2, 0, T)
    with pytest.raises(ConfigError, match="step"):
        spike_map(t, 0, 15, T)


def test_explorer_controls_change_the_picture(net, data):
    pytest.importorskip("ipywidgets")
    import ipywidgets

    from snnkit.report.explore import explorer

    images, times, targets = data
    box = explorer(net, times, images=images, targets=targets)
    assert isinstance(box, ipywidgets.VBox)
    c = box.controls
    picture = box.children[-1]
    assert picture.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(np.isnan(box.current), times[0, 0].numpy() >= T)  # S1C1 channel 0 at the last step
    c["step"].value = 0
    before, png = box.current.copy(), picture.value
    c["step"].value = T - 1
    assert np.isfinite(box.current).sum() > np.isfinite(before).sum() and picture.value != png
    c["layer"].value = 1
    assert box.current.shape == (14, 14) and c["feature"].max == 29
    c["feature"].value = 29
    c["layer"].value = 2
    assert box.current.shape == (4, 4) and c["feature"].max == 249 and c["feature"].value == 29
    c["all_features"].value = True
    conv2 = S.layer_times(net, times)[2][1]
    np.testing.assert_array_equal(np.nan_to_num(box.current, nan=-1),
                                  np.where(conv2[0].long().amin(0).numpy() < T, conv2[0].long().amin(0).numpy(), -1))
    c["layer"].value = 0
    c["feature"].value = 5
    c["sample"].value = 3
    box.update()
    assert "sample 3" in box.children[3].value and "label" in box.children[3].value
    c["all_features"].value = False
    expected = times[3, 5].long().numpy().astype(float)
    expected[expected > T - 1] = np.nan
    np.testing.assert_array_equal(box.current, expected)
