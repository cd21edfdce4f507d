"""Figures of the STDP / R-STDP notebook: learned features in pixel space, per-layer first-spike activity,
the S1C1 latency code over time and the R-STDP learning curves.

Mozafari, Ganjtabesh, Nowzari-Dalini, Thorpe & Masquelier, "Bio-inspired digit recognition using
reward-modulated spike-timing-dependent plasticity in deep convolutional networks", Pattern Recognition
94:87-95 (2019), show their first- and second-layer features the same way: a feature's weights over the
DoG channels are projected back through the DoG kernels into an image patch, and a deeper feature is the
weighted sum of the patches of the features below it, placed on the coarser grid of the pooled map.

Inputs are a :class:`~snnkit.models.stdp_nets.StdpNet` (trained or fresh) and S1C1 first-spike times, uint8
``[N, 6, H, W]`` with ``T`` = silent (:func:`snnkit.experiments.stdp.encode`). Every figure function returns
a :class:`matplotlib.figure.Figure` in the style of :mod:`snnkit.report.figures`, takes a required keyword
``dataset_label`` shown in its title and an optional ``title``; nothing is shown or closed here (the caller
saves and closes, e.g. through ``run.figure``). The pure helpers (:func:`pixel_kernels`,
:func:`layer_times`, :func:`decisions`) return tensors and are what the figures and the interactive
:func:`snnkit.report.explore.explorer` draw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from snnkit.errors import ConfigError
from snnkit.report.figures import PALETTE, _title, feature_maps, styled
from snnkit.stdp.filters import MOZAFARI_DOG, dog_kernels

__all__ = ["pixel_kernels", "l1_pixel_kernels", "l2_pixel_kernels", "layer_times", "decisions", "time_cmap",
           "l1_kernels", "l2_features", "activation_maps", "encoding_over_time", "rstdp_curves"]

_WHERE = "snnkit.report.stdp_figures"
#: at most this many second-layer features are drawn by default
MAX_FEATURES = 64


# ------------------------------------------------------------------------------------------ pure helpers
def _block_of(net: Any, name: str) -> int:
    for i, block in enumerate(net.arch.blocks):
        if any(spec.name == name for spec in block.layers):
            return i
    raise ConfigError("layer", name, "one of " + ", ".join(map(repr, net.specs)), where=_WHERE)


def pixel_kernels(net: Any, name: str, kernels: torch.Tensor | None = None) -> torch.Tensor:
    """Every feature of layer ``name`` as a pixel-space patch ``[F, S, S]`` (float64).

    The input channels are the DoG maps: channel ``c`` at ``(y, x)`` is the image correlated with DoG kernel
    ``c`` (``kernels`` ``[C, 1, k, k]``, default :func:`~snnkit.stdp.filters.dog_kernels`, the six of
    :data:`~snnkit.stdp.filters.MOZAFARI_DOG`) centred there. A first-layer feature with weights
    ``w [C, K, K]`` then responds to the patch ``sum_c w_c ⋆ dog_c`` (a transposed convolution of each
    weight map with its DoG kernel, summed over channels): size ``K + k - 1``, 17 for 5×5 weights and 13×13
    kernels. A layer above composes the same way: its weights ``[F, C', K', K']`` place the patches of the
    ``C'`` features below on the grid of its input map, whose step in pixels is the product of the pooling
    strides below (2 for the second layer) — a transposed convolution with that stride.

    This is a linear picture of a non-linear network and shows what a feature prefers, not what exactly
    makes it fire: the S1C1 threshold, local normalisation and latency coding are left out, and every max
    pooling is treated as plain subsampling at its stride (the pooling window's extra positions and the
    padding offsets are ignored). Only layers whose lower blocks are single layers have a patch (not the
    layers above an inception or vote block).
    """
    block = _block_of(net, name)
    chain = []
    for i in range(block):
        layers = net.arch.blocks[i].layers
        if len(layers) != 1:
            raise ConfigError("layer", name, "a layer whose lower blocks are single layers (block "
                              f"{i} has {len(layers)} branches)", where=_WHERE)
        chain.append(layers[0])
    chain.append(net.specs[name])
    recon = (dog_kernels(dtype=torch.float64) if kernels is None else torch.as_tensor(kernels)).to(torch.float64)
    if recon.dim() != 4 or recon.shape[1] != 1 or recon.shape[0] != chain[0].in_channels:
        raise ConfigError("kernels.shape", tuple(recon.shape),
                          f"[{chain[0].in_channels}, 1, k, k] (one kernel per input channel)", where=_WHERE)
    stride = 1
    for spec in chain:
        # [F, C, K, K] weights transposed-convolved with the C input patches [C, 1, S, S] -> [F, 1, S', S']
        recon = F.conv_transpose2d(net.weight(spec.name).to(torch.float64), recon, stride=stride)
        if spec.pool is not None:
            stride *= spec.pool[1]
    return recon[:, 0]


def l1_pixel_kernels(net: Any) -> torch.Tensor:
    """:func:`pixel_kernels` of the first layer: ``[30, 17, 17]`` for every model here."""
    return pixel_kernels(net, net.arch.blocks[0].layers[0].name)


def l2_pixel_kernels(net: Any) -> torch.Tensor:
    """:func:`pixel_kernels` of the second layer: ``[F2, 21, 21]`` (3×3 weights on the stride-2 grid of
    17×17 first-layer patches)."""
    return pixel_kernels(net, net.arch.blocks[1].layers[0].name)


def _check_times(net: Any, times: Any, what: str = "times") -> torch.Tensor:
    t = torch.as_tensor(times)
    channels = net.arch.blocks[0].layers[0].in_channels
    if t.dim() != 4 or t.shape[1] != channels or t.shape[0] < 1:
        raise ConfigError(f"{what}.shape", tuple(t.shape), f"[N >= 1, {channels}, H, W] S1C1 first-spike times",
                          where=_WHERE)
    if t.is_floating_point() or t.dtype == torch.bool or int(t.min()) < 0 or int(t.max()) > net.time_steps:
        raise ConfigError(f"{what} values", (str(t.dtype), int(t.min()), int(t.max())),
                          f"integer first-spike steps 0..{net.time_steps} (T = silent)", where=_WHERE)
    return t.to(torch.uint8)


def _block_label(block: Any) -> str:
    return "+".join(spec.name for spec in block.layers)


def layer_times(net: Any, times: Any) -> list[tuple[str, torch.Tensor]]:
    """``[(label, first-spike times uint8 [N, C, H, W])]``: the S1C1 input, then every non-decision block's
    (pooled, concatenated) output, from S1C1 first-spike times ``[N, 6, H, W]`` (``T`` = silent)."""
    t = _check_times(net, times)
    out = [("S1C1 input", t)]
    for i, block in enumerate(net.arch.blocks[:-1]):
        t = net.block_times(i, t)
        out.append((_block_label(block), t))
    return out


def decisions(net: Any, last_times: torch.Tensor) -> dict[str, torch.Tensor]:
    """The decision from the first-spike times ``[N, C, H, W]`` of the decision block's input (the last entry
    of :func:`layer_times`): ``{"pred": [N] (-1 silent), "branch_pred": [N, branches], "feature": [N,
    branches]}``, ``feature`` the winning decision feature of each branch (its largest positive last-step
    potential; class = feature // features per class), -1 when the branch is silent."""
    last = (last_times < net.time_steps).to(torch.float32)
    with torch.no_grad():
        out = net.decide(last[:, None], block=len(net.arch.blocks) - 1)
        feats = []
        for spec in net.arch.blocks[-1].layers:
            pot = net.decision_potentials(spec.name, last)
            best, idx = pot.reshape(pot.shape[0], -1).max(dim=1)
            feats.append(torch.where(best > 0, idx // (pot.shape[2] * pot.shape[3]), -1))
    return {"pred": out["pred"], "branch_pred": out["branch_pred"], "feature": torch.stack(feats, dim=1)}


def time_cmap() -> Any:
    """The colour map of first-spike times: earliest bright (reversed ``viridis``), silent left blank."""
    return plt.get_cmap("viridis_r").with_extremes(bad=(1.0, 1.0, 1.0, 0.0))


def _select(samples: int | Sequence[int], n: int) -> list[int]:
    if isinstance(samples, (int, np.integer)) and not isinstance(samples, bool):
        if samples < 1:
            raise ConfigError("samples", samples, "a count >= 1 or a list of sample indices", where=_WHERE)
        return list(range(min(int(samples), n)))
    idx = [int(i) for i in samples]
    if not idx or any(not 0 <= i < n for i in idx):
        raise ConfigError("samples", samples, f"a non-empty list of indices in 0..{n - 1}", where=_WHERE)
    return idx


def _images(images: Any, n: int) -> np.ndarray | None:
    if images is None:
        return None
    arr = (images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)).astype(float)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3 or arr.shape[0] != n:
        raise ConfigError("images.shape", arr.shape, f"[{n}, 1, H, W] or [{n}, H, W] (one image per sample)",
                          where=_WHERE)
    return arr


def _blank(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)


# --------------------------------------------------------------------------------------------- features
def l1_kernels(net: Any, *, dataset_label: str, title: str | None = None, ncols: int = 10) -> Figure:
    """Every first-layer feature as a pixel-space image (:func:`l1_pixel_kernels`), grey, each tile scaled
    to its own range (bright: the pixels the feature wants bright)."""
    recon = l1_pixel_kernels(net)
    name = net.arch.blocks[0].layers[0].name
    default = f"{name}: {recon.shape[0]} features in pixel space (weights through the DoG kernels)"
    return feature_maps(recon.numpy(), ncols, dataset_label=dataset_label, title=title or default, cmap="gray")


def l2_features(net: Any, *, dataset_label: str, n: int | None = None, title: str | None = None,
                ncols: int = 8) -> Figure:
    """The first ``n`` second-layer features (default all, at most 64) reconstructed in pixel space
    (:func:`l2_pixel_kernels`): each 3×3 weight places the 17×17 patch of its first-layer feature, scaled by
    the weight, on the stride-2 grid of the pooled first-layer map. Approximation: the 2×2 max pooling is
    treated as a plain stride-2 subsampling (which of the four positions won is not known without an input),
    and S1C1's threshold and normalisation are left out (see :func:`pixel_kernels`)."""
    recon = l2_pixel_kernels(net)
    total = recon.shape[0]
    if n is None:
        n = min(total, MAX_FEATURES)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= total:
        raise ConfigError("n", n, f"an integer in 1..{total} (the layer's features) or None", where=_WHERE)
    name = net.arch.blocks[1].layers[0].name
    shown = f"{n} of {total}" if n < total else f"{total}"
    default = f"{name}: {shown} features in pixel space (stride-2 composition of {net.arch.blocks[0].layers[0].name})"
    return feature_maps(recon[:n].numpy(), ncols, dataset_label=dataset_label, title=title or default, cmap="gray")


# ------------------------------------------------------------------------------------------- activity
def activation_maps(net: Any, times: Any, *, dataset_label: str, samples: int | Sequence[int] = 4,
                    images: Any = None, targets: Any = None, title: str | None = None) -> Figure:
    """First-spike times of every layer for a few samples: one row per sample, one column per layer (the
    S1C1 input, then every non-decision block's pooled output; first the image when ``images`` are given).

    A panel shows per position the earliest first-spike step over all features (earliest bright, silent
    positions blank) and says how many of the layer's features fired somewhere. The decision layer's
    answer (its winning feature at the last step, class = feature // features per class; a vote block:
    every branch's class) is written under the last panel, green when it equals ``targets``, red when not.
    ``samples``: how many of the first samples, or a list of indices into ``times``.
    """
    t_all = _check_times(net, times)
    idx = _select(samples, t_all.shape[0])
    imgs = _images(images, t_all.shape[0])
    tgt = None if targets is None else torch.as_tensor(targets).reshape(-1)
    if tgt is not None and tgt.shape[0] != t_all.shape[0]:
        raise ConfigError("targets", tuple(tgt.shape), f"[{t_all.shape[0]}] (one label per sample)", where=_WHERE)
    layers = layer_times(net, t_all[idx])
    dec = decisions(net, layers[-1][1])
    steps = net.time_steps
    ncols = len(layers) + (imgs is not None)
    cmap = time_cmap()
    decision_names = [s.name for s in net.arch.blocks[-1].layers]
    with styled():
        fig, axes = plt.subplots(len(idx), ncols, figsize=(2.3 * ncols + 1.0, 2.4 * len(idx) + 0.8),
                                 squeeze=False, layout="constrained")
        image = None
        for r, s in enumerate(idx):
            col = 0
            if imgs is not None:
                axes[r, 0].imshow(imgs[s], cmap="gray", interpolation="nearest")
                axes[r, 0].set_title("image" if r == 0 else "", fontsize=9)
                col = 1
            for c, (label, t) in enumerate(layers):
                ax = axes[r, col + c]
                t = t[r].long()
                first = t.amin(dim=0).numpy().astype(float)
                active = int((t < steps).flatten(1).any(dim=1).sum())
                image = ax.imshow(np.ma.masked_where(first >= steps, first), cmap=cmap, vmin=0, vmax=steps - 1,
                                  interpolation="nearest")
                head = f"{label} {tuple(t.shape[1:])}\n" if r == 0 else ""
                ax.set_title(f"{head}{active}/{t.shape[0]} features fired", fontsize=8)
            for ax in axes[r]:
                _blank(ax)
            tag = f"sample {s}" + (f"\nlabel {int(tgt[s])}" if tgt is not None else "")
            axes[r, 0].set_ylabel(tag, fontsize=9)
            pred = int(dec["pred"][r])
            parts = [f"class {int(p)} (f{int(f)})" if p >= 0 else "silent"
                     for p, f in zip(dec["branch_pred"][r], dec["feature"][r])]
            text = (f"decision: {'silent' if pred < 0 else pred}" if len(parts) > 1 else f"decision: {parts[0]}")
            if len(parts) > 1:
                text += "\n" + ", ".join(f"{n}: {p}" for n, p in zip(decision_names, parts))
            color = "0.2" if tgt is None else (PALETTE[2] if pred == int(tgt[s]) else PALETTE[3])
            axes[r, -1].set_xlabel(text, fontsize=8, color=color)
        cbar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6, pad=0.02)
        cbar.set_label("earliest first-spike step (blank: silent)")
        fig.suptitle(_title("First-spike times per layer", title, dataset_label))
    return fig


def _dog_names() -> list[str]:
    return [f"{'on' if sc < ss else 'off'} {w}×{w}" for w, sc, ss in MOZAFARI_DOG]


def encoding_over_time(image: Any, times: Any, *, dataset_label: str, steps: Sequence[int] | None = None,
                       time_steps: int = 15, per_channel: bool = False, title: str | None = None) -> Figure:
    """The S1C1 latency code of one sample unfolding in time: the input image, then the cumulative spikes
    (fired at or before step ``t``) of the DoG channels at the chosen ``steps`` (default every other step
    0, 2, ..., and always the last ``T - 1``).

    ``times``: the sample's first-spike times ``[6, H, W]`` (or ``[1, 6, H, W]``), ``time_steps`` = silent.
    Two rows by default: per position the number of on-centre channels (three scales) and of off-centre
    channels that have fired (0-3); ``per_channel`` draws the six channels of
    :data:`~snnkit.stdp.filters.MOZAFARI_DOG` as six rows (fired or not). Under the image, the earliest
    first-spike step over the channels (earliest bright).
    """
    names = _dog_names()
    t = torch.as_tensor(times)
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3 or t.shape[0] != len(names):
        raise ConfigError("times.shape", tuple(t.shape), f"[{len(names)}, H, W] (one sample's S1C1 times)",
                          where=_WHERE)
    if isinstance(time_steps, bool) or not isinstance(time_steps, int) or not 1 <= time_steps <= 255:
        raise ConfigError("time_steps", time_steps, "an integer in 1..255", where=_WHERE)
    if t.is_floating_point() or int(t.min()) < 0 or int(t.max()) > time_steps:
        raise ConfigError("times values", (int(t.min()), int(t.max())), f"integers 0..{time_steps}", where=_WHERE)
    img = _images(torch.as_tensor(image).reshape(1, *torch.as_tensor(image).shape[-2:]), 1)[0]
    if steps is None:
        every = max(1, math.ceil(time_steps / 8))
        steps = sorted(set(range(0, time_steps, every)) | {time_steps - 1})
    steps = [int(s) for s in steps]
    if not steps or any(not 0 <= s < time_steps for s in steps):
        raise ConfigError("steps", steps, f"a non-empty list of steps in 0..{time_steps - 1}", where=_WHERE)
    t = t.long().numpy()
    if per_channel:
        rows = [(name, [c]) for c, name in enumerate(names)]
    else:
        rows = [("on-centre (3 scales)", [c for c, n in enumerate(names) if n.startswith("on")]),
                ("off-centre (3 scales)", [c for c, n in enumerate(names) if n.startswith("off")])]
    vmax = max(len(ch) for _, ch in rows)
    with styled():
        fig, axes = plt.subplots(len(rows), len(steps) + 1, figsize=(1.7 * (len(steps) + 1) + 1.0,
                                 1.8 * len(rows) + 0.8), squeeze=False, layout="constrained")
        axes[0, 0].imshow(img, cmap="gray", interpolation="nearest")
        axes[0, 0].set_title("image", fontsize=9)
        first = t.min(axis=0).astype(float)
        axes[1, 0].imshow(np.ma.masked_where(first >= time_steps, first), cmap=time_cmap(), vmin=0,
                          vmax=time_steps - 1, interpolation="nearest")
        axes[1, 0].set_title("first spike", fontsize=9)
        for ax in axes[2:, 0]:
            ax.set_visible(False)
        counts = None
        for r, (label, channels) in enumerate(rows):
            for c, step in enumerate(steps):
                fired = (t[channels] <= step).sum(axis=0)
                ax = axes[r, c + 1]
                counts = ax.imshow(fired, cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
                ax.set_title((f"t ≤ {step}\n" if r == 0 else "") + f"{int((t[channels] <= step).sum())} spikes",
                             fontsize=8)
            axes[r, 1].set_ylabel(label, fontsize=9)
        for ax in axes.flat:
            _blank(ax)
        cbar = fig.colorbar(counts, ax=axes[:, 1:].ravel().tolist(), shrink=0.7, pad=0.02)
        cbar.set_label("channels fired" if vmax > 1 else "fired")
        cbar.locator = MaxNLocator(integer=True)
        cbar.update_ticks()
        fig.suptitle(_title(f"S1C1 latency code over time (T = {time_steps})", title, dataset_label))
    return fig


# --------------------------------------------------------------------------------------------- R-STDP
def rstdp_curves(history: Sequence[Mapping[str, Any]], *, dataset_label: str, title: str | None = None) -> Figure:
    """Accuracy per R-STDP epoch, train and validation, in percent (upper panel, its y axis spanning the
    accuracies, so that a slow climb over hundreds of epochs stays visible), and their silent rates (lower panel,
    dashed, from 0), from :meth:`snnkit.experiments.stdp.LayerwiseTrainer.fit`'s history. Records without
    ``train_accuracy`` and ``val_accuracy`` (the STDP phases) are skipped; the x axis counts the R-STDP epochs in
    order (the ``epoch`` of the records when there is one R-STDP phase). The best validation epoch (the first of
    the highest, the one the trainer keeps) is marked in both panels."""
    records = [r for r in history if "train_accuracy" in r and "val_accuracy" in r]
    if not records:
        raise ConfigError("history", f"{len(history)} records without accuracies",
                          "at least one R-STDP record with train_accuracy and val_accuracy", where=_WHERE)
    x = np.arange(1, len(records) + 1)
    best = int(np.argmax([float(r["val_accuracy"]) for r in records]))
    splits = list(enumerate(("train", "val")))
    silent_splits = [(j, split) for j, split in splits if all(f"{split}_silent_rate" in r for r in records)]
    marker = {"marker": "o", "markersize": 3} if len(records) <= 60 else {}
    with styled():
        ratios = [3, 1] if silent_splits else [1]
        fig, axes = plt.subplots(len(ratios), 1, figsize=(6.5, 4.6 if silent_splits else 3.6), sharex=True,
                                 squeeze=False, gridspec_kw={"height_ratios": ratios})
        ax = axes[0, 0]
        for j, split in splits:
            acc = np.array([float(r[f"{split}_accuracy"]) for r in records]) * 100
            ax.plot(x, acc, color=PALETTE[j], label=f"{split} accuracy", **marker)
        best_acc = float(records[best]["val_accuracy"]) * 100
        for a in axes[:, 0]:
            a.axvline(x[best], color="0.4", linestyle=":", linewidth=1.0)
        ax.plot([x[best]], [best_acc], marker="*", markersize=12, color=PALETTE[3], linestyle="none",
                label=f"best val {best_acc:.2f} % (epoch {x[best]})")
        low, high = ax.get_ylim()
        ax.set_ylim(max(low, -2.0), min(high, 101.0))
        ax.set_ylabel("accuracy (%)")
        ax.legend(loc="lower right", frameon=True, framealpha=0.85, edgecolor="none")
        ax.set_title(_title("R-STDP accuracy and silent rate", title, dataset_label))
        if silent_splits:
            low_ax = axes[1, 0]
            peak = 0.0
            for j, split in silent_splits:
                silent = np.array([float(r[f"{split}_silent_rate"]) for r in records]) * 100
                peak = max(peak, float(silent.max()))
                low_ax.plot(x, silent, linestyle="--", color=PALETTE[j], label=f"{split} silent rate")
            low_ax.set_ylim(-0.05 * max(peak, 1.0), 1.1 * max(peak, 1.0))
            low_ax.set_ylabel("silent (%)")
            low_ax.legend(loc="upper right", frameon=True, framealpha=0.85, edgecolor="none", ncol=2)
        axes[-1, 0].set_xlabel("R-STDP epoch")
        axes[-1, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
        fig.tight_layout()
    return fig
