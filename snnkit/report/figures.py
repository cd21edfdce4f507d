"""Report figures: confusion heatmap, spike raster, firing-rate and weight histograms, training curves,
and G2GNet's sparse-network figures (group-to-group connectivity, DST events, accuracy vs ``p_inter``).

Every function returns a :class:`matplotlib.figure.Figure` drawn in one consistent style (``STYLE``,
applied per figure through :func:`styled`, or globally with :func:`apply_style`) with the Okabe-Ito
colour-blind-safe palette and the perceptually uniform ``viridis`` colour map. Figures are created
with ``pyplot`` so they show inline in JupyterLab and in papermill's executed notebooks; nothing here
selects a GUI backend, so headless (Agg) use works. Save them with :func:`save_figure` (atomic PNG).

Every function takes a required keyword ``dataset_label`` (e.g. ``"Fashion-MNIST (embedded subset)"``
or ``"CIFAR-10 stand-in"``) that is put into the title, so a figure always says which data it shows
(docs/architecture.md: stand-in datasets are labelled in figure titles), and an optional ``title``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from snnkit.utils import atomic_write

log = logging.getLogger(__name__)

__all__ = [
    "PALETTE",
    "STYLE",
    "apply_style",
    "styled",
    "save_figure",
    "confusion_heatmap",
    "spike_raster",
    "firing_rate_histogram",
    "training_curves",
    "feature_maps",
    "weight_histogram",
    "group_density",
    "group_connectivity",
    "dst_events",
    "accuracy_vs_p_inter",
]

#: Okabe & Ito (2008) colour-blind-safe qualitative palette.
PALETTE: list[str] = [
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
]

#: matplotlib rcParams used by every figure of this module.
STYLE: dict[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 12,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "image.cmap": "viridis",
}


def apply_style() -> None:
    """Apply ``STYLE`` to matplotlib's global settings (for a notebook's own plots)."""
    matplotlib.rcParams.update(STYLE)


@contextlib.contextmanager
def styled() -> Iterator[None]:
    """Context in which ``STYLE`` is active; the global settings are restored afterwards."""
    with matplotlib.rc_context(STYLE):
        yield


def _title(default: str, title: str | None, dataset_label: str) -> str:
    if not isinstance(dataset_label, str) or not dataset_label.strip():
        raise ValueError(
            f"dataset_label = {dataset_label!r}; expected a non-empty string naming the data shown "
            "(mark stand-ins, e.g. 'CIFAR-10 stand-in')"
        )
    return f"{title or default} — {dataset_label.strip()}"


def _np(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype == torch.bool:
            x = x.to(torch.uint8)
        return x.numpy()
    try:
        return np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise TypeError(f"{name} must be a tensor or array; got {type(x).__name__}") from exc


def save_figure(fig: Figure, path: str | os.PathLike, *, close: bool = False, dpi: int | None = None) -> Path:
    """Save ``fig`` atomically (temp file + rename); the format follows the suffix (default PNG).

    Returns the path. With ``close`` the figure is closed afterwards (frees memory in long loops).
    """
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    fmt = path.suffix.lstrip(".").lower()
    with styled(), atomic_write(path, "wb") as fh:
        fig.savefig(fh, format=fmt, dpi=dpi or STYLE["savefig.dpi"], bbox_inches="tight")
    if close:
        plt.close(fig)
    log.debug("saved figure %s", path)
    return path


# --------------------------------------------------------------------------------------------------
def confusion_heatmap(
    cm: Any,
    class_names: Sequence[str],
    normalize: bool = True,
    *,
    dataset_label: str,
    title: str | None = None,
    annotate: bool | None = None,
) -> Figure:
    """Seaborn heatmap of a confusion matrix (rows = true class, columns = predicted class).

    With ``normalize`` each row is divided by its total (the per-class recall on the diagonal); a
    class with no samples gives a row of zeros rather than ``nan``. Cells are annotated when
    ``annotate`` is true, by default when there are at most 20 classes.
    """
    mat = _np(cm, "cm").astype(np.float64)
    names = [str(c) for c in class_names]
    if mat.ndim != 2 or mat.shape[0] != mat.shape[1]:
        raise ValueError(f"cm has shape {mat.shape}; expected a square [C, C] matrix")
    if mat.shape[0] != len(names):
        raise ValueError(f"cm is {mat.shape[0]}x{mat.shape[1]} but {len(names)} class names were given")
    if normalize:
        totals = mat.sum(axis=1, keepdims=True)
        mat = np.divide(mat, totals, out=np.zeros_like(mat), where=totals > 0)
    n = len(names)
    if annotate is None:
        annotate = n <= 20
    side = min(max(4.0, 0.55 * n + 2.5), 16.0)
    with styled():
        fig, ax = plt.subplots(figsize=(side + 1.0, side))
        sns.heatmap(
            mat,
            ax=ax,
            cmap="viridis",
            vmin=0.0,
            vmax=1.0 if normalize else None,
            annot=annotate,
            fmt=".2f" if normalize else ".0f",
            annot_kws={"fontsize": 8 if n > 10 else 9},
            xticklabels=names,
            yticklabels=names,
            square=True,
            linewidths=0.5,
            linecolor="white",
            cbar_kws={"label": "fraction of true class" if normalize else "count", "shrink": 0.8},
        )
        ax.set_xlabel("Predicted class")
        ax.set_ylabel("True class")
        ax.grid(False)
        ax.tick_params(axis="x", labelrotation=45)
        ax.tick_params(axis="y", labelrotation=0)
        for lbl in ax.get_xticklabels():
            lbl.set_horizontalalignment("right")
        kind = "Confusion matrix (row-normalised)" if normalize else "Confusion matrix"
        ax.set_title(_title(kind, title, dataset_label))
        fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
def spike_raster(
    spikes: Any,
    max_neurons: int = 200,
    *,
    dataset_label: str,
    title: str | None = None,
    sample: int = 0,
) -> Figure:
    """Raster plot of spikes ``[T, N]`` or ``[T, B, ...]`` (then sample ``sample``, default the first).

    Trailing dimensions are flattened into neurons; the first ``max_neurons`` neurons are drawn. Any
    non-zero value counts as a spike. A silent population gives an empty raster with a note.
    """
    arr = _np(spikes, "spikes")
    if arr.ndim < 2:
        raise ValueError(f"spikes have shape {arr.shape}; expected [T, N] or [T, B, ...]")
    if arr.ndim >= 3:
        if not 0 <= sample < arr.shape[1]:
            raise ValueError(f"sample = {sample}; the batch has {arr.shape[1]} samples")
        arr = arr[:, sample].reshape(arr.shape[0], -1)
    if max_neurons < 1:
        raise ValueError(f"max_neurons = {max_neurons}; expected a positive integer")
    n_total = arr.shape[1]
    arr = arr[:, :max_neurons] != 0
    t_steps, n_shown = arr.shape
    ts, ns = np.nonzero(arr)
    rate = float(arr.mean()) if arr.size else 0.0
    height = min(2.0 + 0.03 * n_shown, 8.0)
    # tick height ~ the vertical pitch of one neuron row (in points), so dense rasters stay legible
    pitch = 72.0 * (height - 1.0) / max(n_shown, 1)
    with styled():
        fig, ax = plt.subplots(figsize=(8.0, height))
        if ts.size:
            ax.scatter(
                ts, ns, marker="|", s=min(max(pitch, 3.0), 12.0) ** 2, linewidths=1.0, color=PALETTE[0]
            )
        else:
            ax.text(0.5, 0.5, "no spikes", transform=ax.transAxes, ha="center", va="center", color="0.4")
        ax.set_xlim(-0.5, max(t_steps, 1) - 0.5)
        ax.set_ylim(-0.5, max(n_shown, 1) - 0.5)
        ax.set_xlabel("Time step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
        shown = f"first {n_shown} of {n_total}" if n_shown < n_total else f"{n_total}"
        ax.set_ylabel(f"Neuron ({shown})")
        ax.grid(False)
        ax.set_title(_title(f"Spike raster (rate {rate:.3f})", title, dataset_label))
        fig.tight_layout()
    return fig


def raster_grid(
    rasters: Mapping[str, Sequence[Any]],
    sample_titles: Sequence[str],
    *,
    dataset_label: str,
    max_neurons: int = 128,
    title: str | None = None,
) -> Figure:
    """Spike rasters of several layers for several samples: one row per layer, one column per sample.

    ``rasters``: layer name → one ``[T_i, N]`` array per sample (samples may have different lengths);
    ``sample_titles``: a title per column (e.g. the sample's class). The first ``max_neurons`` neurons of each
    layer are drawn; each panel states its firing rate.
    """
    layers = list(rasters)
    if not layers:
        raise ValueError("raster_grid: no layers to draw")
    n_samples = len(sample_titles)
    if any(len(v) != n_samples for v in rasters.values()):
        raise ValueError(f"raster_grid: every layer needs {n_samples} samples (one per title), got "
                         f"{ {k: len(v) for k, v in rasters.items()} }")
    with styled():
        fig, axes = plt.subplots(len(layers), n_samples, figsize=(3.2 * n_samples, 1.9 * len(layers) + 0.6),
                                 squeeze=False, sharex="col")
        for r, layer in enumerate(layers):
            for c in range(n_samples):
                arr = _np(rasters[layer][c], "spikes").reshape(len(rasters[layer][c]), -1)
                ax = axes[r, c]
                ts, ns = np.nonzero(arr[:, :max_neurons] != 0)
                ax.scatter(ts, ns, marker="|", s=4, linewidths=0.6, color=PALETTE[r % len(PALETTE)])
                ax.set_xlim(-0.5, max(arr.shape[0], 1) - 0.5)
                ax.set_ylim(-0.5, min(arr.shape[1], max_neurons) - 0.5)
                ax.grid(False)
                rate = float((arr != 0).mean()) if arr.size else 0.0
                ax.set_title(f"{sample_titles[c]} · {layer} · rate {rate:.3f}" if r == 0 else f"{layer} · rate {rate:.3f}",
                             fontsize=8)
                if c == 0:
                    ax.set_ylabel("Neuron")
                if r == len(layers) - 1:
                    ax.set_xlabel("Time step")
        fig.suptitle(_title("Spikes of every hidden layer", title, dataset_label))
        fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
def _grid(n: int, ncols: int) -> tuple[int, int]:
    ncols = max(1, min(ncols, n))
    return math.ceil(n / ncols), ncols


def _named_arrays(
    named: Mapping[str, Any] | Iterable[tuple[str, Any]], what: str
) -> list[tuple[str, np.ndarray]]:
    items = list(named.items()) if isinstance(named, Mapping) else list(named)
    if not items:
        raise ValueError(f"{what}: nothing to plot (got an empty collection)")
    return [(str(k), _np(v, k).astype(np.float64).ravel()) for k, v in items]


def _small_multiple_hist(
    items: list[tuple[str, np.ndarray]],
    *,
    bins: int,
    xlabel: str,
    suptitle: str,
    ncols: int,
    log_y: bool = False,
) -> Figure:
    nrows, ncols = _grid(len(items), ncols)
    with styled():
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.8 * nrows), squeeze=False)
        for i, (ax, (name, vals)) in enumerate(zip(axes.flat, items)):
            vals = vals[np.isfinite(vals)]
            color = PALETTE[i % len(PALETTE)]
            if vals.size:
                ax.hist(vals, bins=bins, color=color, alpha=0.85)
                mean = float(vals.mean())
                ax.axvline(mean, color="0.2", linestyle="--", linewidth=1.0, label=f"mean {mean:.3g}")
                ax.legend(loc="best", frameon=True, framealpha=0.85, edgecolor="none")
            else:
                ax.text(0.5, 0.5, "no values", transform=ax.transAxes, ha="center", va="center")
            if log_y:
                ax.set_yscale("log")
            ax.set_title(f"{name} (n={vals.size})")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("count")
        for ax in list(axes.flat)[len(items) :]:
            ax.set_visible(False)
        fig.suptitle(suptitle)
        fig.tight_layout()
    return fig


def firing_rate_histogram(
    rates: Mapping[str, Any],
    bins: int = 30,
    *,
    dataset_label: str,
    title: str | None = None,
    ncols: int = 4,
) -> Figure:
    """One histogram per layer of per-neuron firing rates (spikes per neuron per step).

    ``rates`` maps a layer name to its per-neuron rates, e.g. ``SpikeRecorder.neuron_rates()``. Each
    panel marks the layer's mean rate. Small multiples, ``ncols`` per row.
    """
    items = _named_arrays(rates, "firing_rate_histogram")
    return _small_multiple_hist(
        items,
        bins=bins,
        xlabel="firing rate (spikes / step)",
        suptitle=_title("Per-neuron firing rates", title, dataset_label),
        ncols=ncols,
    )


def weight_histogram(
    named_tensors: Mapping[str, Any] | Iterable[tuple[str, Any]],
    bins: int = 50,
    *,
    dataset_label: str,
    title: str | None = None,
    nonzero_only: bool = False,
    ncols: int = 4,
) -> Figure:
    """One histogram per named tensor (e.g. ``model.named_parameters()`` or a dict of weights).

    With ``nonzero_only`` exact zeros are left out (useful for masked sparse layers, whose zeros would
    hide the distribution of the active weights); counts are on a log scale.
    """
    items = _named_arrays(named_tensors, "weight_histogram")
    if nonzero_only:
        items = [(k, v[v != 0]) for k, v in items]
    return _small_multiple_hist(
        items,
        bins=bins,
        xlabel="weight value",
        suptitle=_title(
            "Weight distributions" + (" (non-zero)" if nonzero_only else ""), title, dataset_label
        ),
        ncols=ncols,
        log_y=True,
    )


# --------------------------------------------------------------------------------------------------
_SPLITS = ("train", "val", "valid", "validation", "test")


def _split_of(column: str) -> str:
    for s in _SPLITS:
        if column.startswith(s + "_") or column.endswith("_" + s):
            return s
    return column


def training_curves(
    history: Sequence[Mapping[str, Any]] | pd.DataFrame,
    *,
    dataset_label: str,
    title: str | None = None,
) -> Figure:
    """Loss and accuracy per epoch, one line per split (train, val, test).

    ``history`` is a list of per-epoch dicts or a DataFrame. The x axis is the ``epoch`` column if
    present (else 1, 2, ...). Columns whose name contains ``loss`` go in the loss panel, those
    containing ``acc`` (``train_accuracy``, ``val_acc``, ...) in the accuracy panel, drawn in percent:
    values are fractions 0-1 (the metrics.json convention) and are multiplied by 100 unless some value
    exceeds 1, in which case they are taken as percentages already. A panel without data is left out.
    """
    df = history.copy() if isinstance(history, pd.DataFrame) else pd.DataFrame(list(history))
    if df.empty:
        raise ValueError("training_curves: the history is empty")
    x = df["epoch"].to_numpy() if "epoch" in df.columns else np.arange(1, len(df) + 1)
    cols = [c for c in df.columns if c != "epoch" and pd.api.types.is_numeric_dtype(df[c])]
    loss_cols = [c for c in cols if "loss" in str(c).lower()]
    acc_cols = [c for c in cols if "acc" in str(c).lower() and c not in loss_cols]
    panels = [(p, c) for p, c in (("Loss", loss_cols), ("Accuracy (%)", acc_cols)) if c]
    if not panels:
        raise ValueError(
            f"training_curves: no loss or accuracy columns in {list(df.columns)}; expected names such as "
            "'train_loss', 'val_accuracy'"
        )
    split_colors = {s: PALETTE[i] for i, s in enumerate(("train", "val", "valid", "validation", "test"))}
    with styled():
        fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 3.6), squeeze=False)
        for ax, (label, columns) in zip(axes.flat, panels):
            for j, c in enumerate(columns):
                y = df[c].to_numpy(dtype=np.float64)
                if label.startswith("Accuracy") and np.nanmax(np.abs(y)) <= 1.0:
                    y = y * 100.0
                split = _split_of(str(c))
                color = split_colors.get(split, PALETTE[(5 + j) % len(PALETTE)])
                ax.plot(x, y, marker="o", markersize=3, label=str(c).replace("_", " "), color=color)
            ax.set_xlabel("Epoch")
            ax.set_ylabel(label)
            ax.legend(frameon=False)
            if len(x) and np.issubdtype(np.asarray(x).dtype, np.integer):
                ax.xaxis.get_major_locator().set_params(integer=True)
        fig.suptitle(_title("Training curves", title, dataset_label))
        fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
def feature_maps(
    maps: Any,
    ncols: int = 8,
    *,
    dataset_label: str,
    title: str | None = None,
    cmap: str = "viridis",
) -> Figure:
    """Grid of 2-D maps ``[C, H, W]`` (or a single ``[H, W]``), each scaled to its own range.

    Meant for convolutional feature maps and learned STDP kernels. Unused grid cells are hidden.
    """
    arr = _np(maps, "maps").astype(np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[0] == 0:
        raise ValueError(f"maps have shape {arr.shape}; expected [C, H, W] with C >= 1")
    if ncols < 1:
        raise ValueError(f"ncols = {ncols}; expected a positive integer")
    nrows, ncols = _grid(arr.shape[0], ncols)
    with styled():
        fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols + 0.4, 1.6 * nrows + 0.7), squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if i >= arr.shape[0]:
                ax.set_visible(False)
                continue
            m = arr[i]
            finite = m[np.isfinite(m)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            if hi <= lo:
                hi = lo + 1.0
            ax.imshow(m, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_title(str(i), fontsize=8)
        fig.suptitle(_title(f"Feature maps ({arr.shape[0]})", title, dataset_label))
        fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
# G2GNet: sparse group-to-group networks (Konstantaropoulos, Smirnakis & Papadopouli, arXiv 2508.14140)
# --------------------------------------------------------------------------------------------------
def group_density(mask: Any, out_groups: Any, in_groups: Any) -> np.ndarray:
    """Density of ``mask`` ``[out, in]`` between every (output group, input group) pair: ``[G_out, G_in]``,
    entry ``(a, b)`` = kept connections from input group ``b`` to output group ``a`` / their possible
    number. Labels are integers ``0..G-1`` (e.g. :func:`snnkit.sparse.masks.group_labels`); a group with
    no neuron gives 0."""
    m = _np(mask, "mask").astype(np.float64)
    out_l = _np(out_groups, "out_groups").astype(np.int64).ravel()
    in_l = _np(in_groups, "in_groups").astype(np.int64).ravel()
    if m.ndim != 2 or m.shape != (out_l.size, in_l.size):
        raise ValueError(f"mask {m.shape} does not match {out_l.size} output and {in_l.size} input group labels")
    if (out_l.size and out_l.min() < 0) or (in_l.size and in_l.min() < 0):
        raise ValueError("group labels must be non-negative integers")
    one_out = np.eye(out_l.max() + 1)[out_l]  # [out, G_out]
    one_in = np.eye(in_l.max() + 1)[in_l]  # [in, G_in]
    kept = one_out.T @ m @ one_in
    possible = np.outer(one_out.sum(0), one_in.sum(0))
    return np.divide(kept, possible, out=np.zeros_like(kept), where=possible > 0)


def _per_layer(labels: Any, names: Sequence[str], what: str) -> dict[str, Any]:
    if isinstance(labels, Mapping):
        missing = [n for n in names if n not in labels]
        if missing:
            raise ValueError(f"{what} has no labels for layers {missing}")
        return {n: labels[n] for n in names}
    return dict.fromkeys(names, labels)


def group_connectivity(
    masks: Mapping[str, Any],
    groups_out: Any,
    groups_in: Any,
    *,
    dataset_label: str,
    title: str | None = None,
    before: Mapping[str, Any] | None = None,
) -> Figure:
    """Group-to-group connectivity heat maps, one per masked layer (small multiples, one row per layer).

    ``masks``: layer name → bool mask ``[out, in]``. ``groups_out`` / ``groups_in``: the group labels
    of the output / input neurons, either one label vector for every layer or a mapping layer name →
    labels (``MaskedLinear.out_groups`` / ``in_groups``). Each cell is :func:`group_density` (output
    group = row, input group = column), on a fixed 0-1 colour scale. With ``before`` (layer name →
    mask, e.g. the masks before dynamic sparse training) each row shows before | after.
    """
    if not masks:
        raise ValueError("group_connectivity: no masks given")
    names = list(masks)
    outs = _per_layer(groups_out, names, "groups_out")
    ins = _per_layer(groups_in, names, "groups_in")
    if before is not None:
        missing = [n for n in names if n not in before]
        if missing:
            raise ValueError(f"group_connectivity: before has no masks for layers {missing}")
    columns = [("before", before), ("after", masks)] if before is not None else [("", masks)]
    with styled():
        fig, axes = plt.subplots(len(names), len(columns), figsize=(3.6 * len(columns) + 0.8, 3.2 * len(names)),
                                 squeeze=False, layout="constrained")
        image = None
        for row, name in enumerate(names):
            for col, (when, source) in enumerate(columns):
                ax = axes[row, col]
                dens = group_density(source[name], outs[name], ins[name])
                overall = float(_np(source[name], name).astype(np.float64).mean())
                image = ax.imshow(dens, cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
                ax.set_title(f"{name}{', ' + when if when else ''} (density {overall:.1%})")
                ax.set_xlabel("input group")
                ax.set_ylabel("output group")
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
                ax.grid(False)
        fig.colorbar(image, ax=axes, shrink=0.8, label="connection density")
        fig.suptitle(_title("Group-to-group connectivity", title, dataset_label))
    return fig


def dst_events(
    events: Sequence[Mapping[str, Any]] | pd.DataFrame,
    *,
    dataset_label: str,
    title: str | None = None,
) -> Figure:
    """Connections pruned and grown per DST event and layer, and each layer's density over steps.

    ``events``: :attr:`snnkit.sparse.dst.DynamicSparseTraining.events` (one record per layer and event:
    ``step``, ``layer``, ``pruned``, ``grown``, ``active``, ``size``) or a DataFrame of them. Left:
    grown connections as bars above zero, pruned ones below (one bar group per event, one colour per
    layer). Right: ``active / size`` after each event, per layer.
    """
    df = events.copy() if isinstance(events, pd.DataFrame) else pd.DataFrame(list(events))
    needed = ["step", "layer", "pruned", "grown", "active", "size"]
    if df.empty or any(c not in df.columns for c in needed):
        raise ValueError(f"dst_events: expected DST event records with columns {needed}; got "
                         f"{'no events' if df.empty else list(df.columns)}")
    layers = list(dict.fromkeys(df["layer"]))
    steps = sorted(df["step"].unique())
    x = np.arange(len(steps))
    width = 0.8 / len(layers)
    with styled():
        fig, (ax_bar, ax_den) = plt.subplots(1, 2, figsize=(11.0, 3.8))
        for j, layer in enumerate(layers):
            rows = df[df["layer"] == layer].set_index("step").reindex(steps)
            color = PALETTE[j % len(PALETTE)]
            offset = x - 0.4 + width * (j + 0.5)
            ax_bar.bar(offset, rows["grown"].fillna(0).to_numpy(), width, color=color, label=f"{layer}")
            ax_bar.bar(offset, -rows["pruned"].fillna(0).to_numpy(), width, color=color, alpha=0.45)
            ax_den.plot(steps, (rows["active"] / rows["size"]).to_numpy() * 100.0, marker="o", markersize=3,
                        color=color, label=layer)
        ax_bar.axhline(0.0, color="0.2", linewidth=0.8)
        low, high = ax_bar.get_ylim()
        ax_bar.set_ylim(low, high + 0.35 * (high - low))  # room for the legend above the bars
        ax_bar.set_xticks(x, [str(s) for s in steps])
        ax_bar.set_xlabel("DST event (optimiser step)")
        ax_bar.set_ylabel("connections (grown ↑, pruned ↓)")
        ax_bar.set_title("Rewired connections per event")
        ax_bar.legend(frameon=False, loc="upper center", ncol=min(len(layers), 4))
        ax_den.set_xlabel("optimiser step")
        ax_den.set_ylabel("density (%)")
        ax_den.set_title("Density after each event")
        ax_den.margins(y=0.3)  # one legend (the bars'): the layers have the same colours in both panels
        fig.suptitle(_title("Dynamic sparse training events", title, dataset_label))
        fig.tight_layout()
    return fig


def _percent(values: pd.Series) -> pd.Series:
    """Accuracies in percent: a column whose values are all ≤ 1 holds fractions (×100)."""
    values = values.astype(np.float64)
    return values * 100.0 if values.abs().max() <= 1.0 else values


def _clip_collapsed(ax: Any, runs: pd.DataFrame, published: pd.DataFrame | None, gap: float = 20.0) -> None:
    """Keep the y axis on the bulk of the points: a published point more than ``gap`` points below the
    median of all points (e.g. a run that collapsed to chance) is drawn as ▼ on the lower edge with its value
    written beside it, instead of stretching the axis down to it."""
    values = [*runs["accuracy"], *(published["accuracy"] if published is not None else [])]
    median = float(np.median(values))
    bulk = [v for v in values if v >= median - gap]
    low, high = min(bulk), max(bulk)
    bottom = low - max(1.0, 0.15 * (high - low))
    ax.set_ylim(bottom, high + max(1.0, 0.15 * (high - low)))
    if published is None:
        return
    for _, row in published[published["accuracy"] < median - gap].iterrows():
        if np.isnan(row["p_inter"]):
            continue
        ax.plot([row["p_inter"]], [bottom], marker="v", markersize=8, color="0.3", clip_on=False, linestyle="none")
        ax.annotate(f"{row['model']} published {row['accuracy']:.1f}%", (row["p_inter"], bottom), xytext=(6, 4),
                    textcoords="offset points", fontsize=7, color="0.3")


def accuracy_vs_p_inter(
    runs: pd.DataFrame,
    published: pd.DataFrame | None = None,
    *,
    dataset_label: str,
    title: str | None = None,
    dense: str = "dense",
) -> Figure:
    """Test accuracy against the inter-group probability ``p_inter``, one line per model.

    ``runs``: columns ``model``, ``p_inter``, ``accuracy`` and optionally ``std``; several rows of a
    (model, p_inter) (seeds, folds) are averaged, their spread (sample std) drawn as error bars unless
    a ``std`` column is given. ``published``: the paper's points (``model``, ``p_inter``,
    ``accuracy``), drawn as hollow markers in the model's colour. The ``dense`` model has no
    ``p_inter``: it is a horizontal line (solid for the runs, dotted for the published number).
    Accuracies are drawn in percent; a frame whose accuracies are all ≤ 1 is taken as fractions.
    """
    needed = ["model", "p_inter", "accuracy"]
    for what, frame in (("runs", runs), ("published", published)):
        if frame is not None and any(c not in frame.columns for c in needed):
            raise ValueError(f"accuracy_vs_p_inter: {what} needs columns {needed}; got {list(frame.columns)}")
    if runs.empty:
        raise ValueError("accuracy_vs_p_inter: runs is empty")
    runs = runs.assign(accuracy=_percent(runs["accuracy"]))
    if "std" in runs.columns:
        runs = runs.assign(std=runs["std"].astype(np.float64) * (100.0 if runs["std"].abs().max() <= 1 else 1.0))
    if published is not None:
        published = published.assign(accuracy=_percent(published["accuracy"]))
    models = list(dict.fromkeys([*runs["model"], *(published["model"] if published is not None else [])]))
    colors = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}
    with styled():
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for model in models:
            mine = runs[runs["model"] == model]
            color = colors[model]
            if model == dense:
                if len(mine):
                    ax.axhline(float(mine["accuracy"].mean()), color=color, linewidth=1.5, label=f"{model}")
            elif len(mine):
                grouped = mine.groupby("p_inter")
                mean = grouped["accuracy"].mean()
                spread = grouped["std"].mean() if "std" in mine.columns else grouped["accuracy"].std(ddof=1)
                ax.errorbar(mean.index.to_numpy(dtype=np.float64), mean.to_numpy(), yerr=spread.fillna(0).to_numpy(),
                            marker="o", markersize=4, capsize=3, color=color, label=model)
            if published is None:
                continue
            theirs = published[published["model"] == model]
            if model == dense:
                for value in theirs["accuracy"]:
                    ax.axhline(float(value), color=color, linestyle=":", linewidth=1.2,
                               label=f"{model} (published)")
            elif len(theirs):
                theirs = theirs.sort_values("p_inter")
                ax.plot(theirs["p_inter"].to_numpy(dtype=np.float64), theirs["accuracy"].to_numpy(), linestyle="none",
                        marker="o", markersize=7, markerfacecolor="none", markeredgecolor=color,
                        label=f"{model} (published)")
        _clip_collapsed(ax, runs, published)
        ax.set_xlabel("inter-group connection probability p_inter")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(frameon=False, fontsize=8, ncol=2)
        ax.set_title(_title("Accuracy vs p_inter", title, dataset_label))
        fig.tight_layout()
    return fig
