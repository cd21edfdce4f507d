"""Interactive explorer of an STDP network's spikes (JupyterLab, ipywidgets).

:func:`explorer` shows, for a few samples, the spike map of one feature (or of all features) of one layer at
one time step, cumulative as in SpykeTorch's spike waves (a neuron counts as spiking from its first spike
on), beside the sample's image. Every layer's first-spike times are computed once when the widget is built
(:func:`snnkit.report.stdp_figures.layer_times`), so moving a control only redraws a small picture.
ipywidgets is imported inside :func:`explorer`: headless runs (papermill, tests of the other figures) do not
need it. :func:`spike_map` is the pure array behind the picture.
"""

from __future__ import annotations

import html
import io
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from snnkit.errors import ConfigError
from snnkit.report.stdp_figures import _images, decisions, layer_times, time_cmap

__all__ = ["spike_map", "explorer"]

_WHERE = "snnkit.report.explore"


def spike_map(times: Any, feature: int | None, step: int, time_steps: int) -> np.ndarray:
    """The spikes of one sample's layer ``times`` ``[C, H, W]`` (first-spike steps, ``time_steps`` = silent)
    that happened at or before ``step``, as float ``[H, W]``: the first-spike step where the neuron has fired
    by then, NaN where it has not. ``feature`` None: per position the earliest step over all features."""
    t = torch.as_tensor(times)
    if t.dim() != 3:
        raise ConfigError("times.shape", tuple(t.shape), "[C, H, W] (one sample's layer)", where=_WHERE)
    if not 0 <= int(step) < int(time_steps):
        raise ConfigError("step", step, f"a time step in 0..{int(time_steps) - 1}", where=_WHERE)
    if feature is None:
        first = t.long().amin(dim=0)
    elif 0 <= int(feature) < t.shape[0]:
        first = t[int(feature)].long()
    else:
        raise ConfigError("feature", feature, f"a feature in 0..{t.shape[0] - 1} or None (all)", where=_WHERE)
    out = first.numpy().astype(np.float64)
    out[out > int(step)] = np.nan
    return out


def _png(left: np.ndarray, left_title: str, right: np.ndarray, right_title: str, time_steps: int) -> bytes:
    """Two panels side by side as PNG bytes (an object-oriented Figure: nothing enters pyplot's registry)."""
    fig = Figure(figsize=(7.0, 3.4), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    ax0, ax1 = fig.subplots(1, 2)
    ax0.imshow(left, cmap="gray", interpolation="nearest")
    ax0.set_title(left_title, fontsize=10)
    im = ax1.imshow(np.ma.masked_invalid(right), cmap=time_cmap(), vmin=0, vmax=time_steps - 1,
                    interpolation="nearest")
    ax1.set_facecolor("0.92")
    ax1.set_title(right_title, fontsize=10)
    for ax in (ax0, ax1):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=ax1, shrink=0.8, label="first-spike step")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def explorer(net: Any, times: Any, *, images: Any = None, targets: Any = None) -> Any:
    """An ipywidgets ``VBox`` to browse the spikes of ``net`` on S1C1 first-spike times ``[N, 6, H, W]``.

    Controls: sample, layer (the S1C1 input and every non-decision block's pooled output), feature (or
    "all features": the earliest spike over them per position), time step (with a play button); the picture
    shows the spike map (fired by the chosen step, coloured by the step of the first spike, grey = not yet)
    beside the sample's image (``images`` ``[N, 1, H, W]``; without them the earliest S1C1 spike per
    position). The line above it gives the label (``targets``), the network's decision and how many
    neurons have fired. Keep ``N`` small (tens): everything is precomputed.

    The returned box carries ``controls`` (name → widget), ``update()`` (redraw from the controls; called on
    every change) and ``current`` (the array shown, as :func:`spike_map` returns it).
    """
    import ipywidgets as widgets

    layers = layer_times(net, times)
    n = layers[0][1].shape[0]
    steps = net.time_steps
    imgs = _images(images, n)
    if imgs is None:
        imgs = [spike_map(layers[0][1][i], None, steps - 1, steps) for i in range(n)]
    tgt = None if targets is None else torch.as_tensor(targets).reshape(-1)
    if tgt is not None and tgt.shape[0] != n:
        raise ConfigError("targets", tuple(tgt.shape), f"[{n}] (one label per sample)", where=_WHERE)
    pred = decisions(net, layers[-1][1])["pred"]

    style = {"description_width": "initial"}
    sample = widgets.IntSlider(value=0, min=0, max=n - 1, description="sample", style=style)
    layer = widgets.Dropdown(options=[(f"{label} {tuple(t.shape[1:])}", i) for i, (label, t) in enumerate(layers)],
                             value=0, description="layer", style=style)
    feature = widgets.IntSlider(value=0, min=0, max=layers[0][1].shape[1] - 1, description="feature", style=style)
    every = widgets.Checkbox(value=False, description="all features (earliest)", indent=False)
    step = widgets.IntSlider(value=steps - 1, min=0, max=steps - 1, description="time step", style=style)
    play = widgets.Play(value=steps - 1, min=0, max=steps - 1, interval=500, description="play")
    widgets.jslink((play, "value"), (step, "value"))
    info = widgets.HTML()
    picture = widgets.Image(format="png")
    box = widgets.VBox([widgets.HBox([sample, layer]), widgets.HBox([feature, every]), widgets.HBox([play, step]),
                        info, picture])
    box.controls = {"sample": sample, "layer": layer, "feature": feature, "all_features": every, "step": step,
                    "play": play}
    box.current = None

    busy = [False]

    def update(*_: Any) -> None:
        if busy[0]:  # a change made below (the feature slider's range) must not redraw twice
            return
        busy[0] = True
        try:
            _draw()
        finally:
            busy[0] = False

    def _draw() -> None:
        label, t = layers[layer.value]
        feature.max = t.shape[1] - 1  # a new layer: the feature slider follows its width (value clamped)
        feature.disabled = every.value
        s, f, k = sample.value, (None if every.value else feature.value), step.value
        arr = spike_map(t[s], f, k, steps)
        box.current = arr
        fired = int(np.isfinite(arr).sum())
        what = "all features" if f is None else f"feature {f}"
        decision = "silent" if int(pred[s]) < 0 else str(int(pred[s]))
        head = f"sample {s}" + (f" · label {int(tgt[s])}" if tgt is not None else "") + f" · decision {decision}"
        info.value = html.escape(f"{head} · {label}, {what}: {fired} of {arr.size} positions fired by step {k}")
        left_title = "image" if images is not None else "S1C1 earliest spike"
        picture.value = _png(imgs[s], left_title, arr, f"{label} {what}, t ≤ {k}", steps)

    for control in (sample, layer, feature, every, step):
        control.observe(update, names="value")
    box.update = update
    update()
    return box
