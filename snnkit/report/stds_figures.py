"""Figures of the STDS / Grad R notebooks: sparsity per layer, D and sparsity over training, the spine
states θ beside the weights w they give, and accuracy against connectivity beside the published points.

Chen, Yu, Fang, Ma, Huang & Tian, ICML 2022 (STDS), draw accuracy against connectivity on a log axis and
the distributions of θ and w (their TensorBoard histograms ``theta/<layer>`` and ``w/<layer>``). Every
function returns a :class:`matplotlib.figure.Figure` in the style of :mod:`snnkit.report.figures`, takes a
required keyword ``dataset_label`` shown in its title and an optional ``title``; the caller saves and closes
it (e.g. through ``run.figure``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from snnkit.report.figures import PALETTE, _np, _title, styled

__all__ = ["accuracy_vs_connectivity", "layer_sparsity", "schedule_curves", "spine_histograms"]


def layer_sparsity(report: Mapping[str, Any], *, dataset_label: str, title: str | None = None) -> Figure:
    """Bars: the fraction of exact zeros of every prunable layer (``report``: :func:`snnkit.sparse.sparsity_report`),
    with the layer's weight count under its name and the overall sparsity as a line."""
    layers = report.get("layers") or {}
    if not layers:
        raise ValueError("layer_sparsity: the report lists no prunable layer")
    names = list(layers)
    values = np.array([100.0 * layers[n]["sparsity"] for n in names])
    with styled():
        fig, ax = plt.subplots(figsize=(max(5.0, 0.7 * len(names) + 2.0), 3.6))
        ax.bar(np.arange(len(names)), values, color=PALETTE[0])
        ax.axhline(100.0 * report["sparsity"], color=PALETTE[1], linestyle="--",
                   label=f"all prunable weights: {100.0 * report['sparsity']:.2f} %")
        ax.set_xticks(np.arange(len(names)), [f"{n}\n{layers[n]['total']:,}" for n in names], fontsize=8)
        ax.set_ylabel("sparsity (% zeros)")
        ax.set_ylim(0, 100)
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title(_title("Sparsity per layer", title, dataset_label))
        fig.tight_layout()
    return fig


def schedule_curves(history: Sequence[Mapping[str, Any]] | pd.DataFrame, *, dataset_label: str,
                    title: str | None = None) -> Figure:
    """The flat width D (left axis) and the sparsity (right axis) at the end of every epoch, from the
    history records that :class:`snnkit.sparse.FlatWidthSchedule` / :class:`~snnkit.sparse.GradRPrior` fill
    (``flat_width``, ``sparsity``); a history without D shows the sparsity alone."""
    df = history.copy() if isinstance(history, pd.DataFrame) else pd.DataFrame(list(history))
    if df.empty or "sparsity" not in df.columns:
        raise ValueError("schedule_curves: the history has no 'sparsity' column (was the network reparameterised?)")
    epochs = np.arange(1, len(df) + 1)
    with styled():
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        ax.plot(epochs, 100.0 * df["sparsity"].to_numpy(dtype=float), color=PALETTE[0], marker="o",
                markersize=3, label="sparsity")
        ax.set_xlabel("epoch")
        ax.set_ylabel("sparsity (% zeros)", color=PALETTE[0])
        if "flat_width" in df.columns:
            ax2 = ax.twinx()
            ax2.plot(epochs, df["flat_width"].to_numpy(dtype=float), color=PALETTE[1], linestyle="--",
                     label="flat width D")
            ax2.set_ylabel("flat width D", color=PALETTE[1])
            ax2.set_ylim(bottom=0)
        ax.set_title(_title("Flat width and sparsity over training", title, dataset_label))
        fig.tight_layout()
    return fig


def spine_histograms(states: Mapping[str, Mapping[str, Any]], *, dataset_label: str, title: str | None = None,
                     bins: int = 80) -> Figure:
    """Per layer (``states``: :func:`snnkit.sparse.spine_states`): the histogram of the spine states θ and of
    the weights w they give, log-scaled counts (the spike of exact zeros of w is visible)."""
    if not states:
        raise ValueError("spine_histograms: no reparameterised layer")
    names = list(states)
    ncols = min(4, len(names))
    nrows = -(-len(names) // ncols)
    with styled():
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.5 * nrows), squeeze=False)
        for ax, name in zip(axes.flat, names, strict=False):
            theta = _np(states[name]["theta"], "theta").ravel().astype(float)
            w = _np(states[name]["weight"], "weight").ravel().astype(float)
            lo, hi = float(min(theta.min(), w.min())), float(max(theta.max(), w.max()))
            edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
            ax.hist(theta, bins=edges, color=PALETTE[0], alpha=0.6, label="θ (spine state)")
            ax.hist(w, bins=edges, color=PALETTE[1], alpha=0.6, label="w (weight)")
            ax.set_yscale("log")
            ax.set_title(f"{name}: {100.0 * float(np.mean(w == 0)):.1f} % zeros", fontsize=9)
        for ax in list(axes.flat)[len(names):]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=7)
        fig.suptitle(_title("Spine states θ and weights w", title, dataset_label))
        fig.tight_layout()
    return fig


def accuracy_vs_connectivity(runs: pd.DataFrame, published: pd.DataFrame | None = None, *, dataset_label: str,
                             title: str | None = None) -> Figure:
    """Test accuracy against connectivity (% non-zero prunable weights, log axis): one marker per run
    (``runs``: columns ``label``, ``connectivity_%``, ``test_accuracy_%``) and the published points as
    hollow markers (``published``: the same two numeric columns, e.g.
    :func:`snnkit.experiments.stds.published_points`)."""
    needed = ["label", "connectivity_%", "test_accuracy_%"]
    if any(c not in runs.columns for c in needed):
        raise ValueError(f"accuracy_vs_connectivity: runs need columns {needed}; got {list(runs.columns)}")
    with styled():
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for j, (label, rows) in enumerate(runs.groupby("label", sort=False)):
            ax.plot(rows["connectivity_%"], rows["test_accuracy_%"], marker="o", linestyle="none",
                    color=PALETTE[j % len(PALETTE)], label=str(label))
        if published is not None and len(published):
            ax.plot(published["connectivity_%"], published["test_accuracy_%"], marker="o", linestyle="-",
                    markerfacecolor="none", color="0.4", label="published (paper setting)")
        ax.set_xscale("log")
        ax.set_xlabel("connectivity (% non-zero prunable weights, log scale)")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=8)
        ax.set_title(_title("Accuracy vs connectivity", title, dataset_label))
        fig.tight_layout()
    return fig
