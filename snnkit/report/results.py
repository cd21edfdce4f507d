"""The results block every BPTT notebook ends with: one call, :func:`standard_results`.

What it does, in order (figure and table names are those of ``figures/`` and ``tables/``):

1. predicts the test set (``trainer.predict``: deterministic, see the Trainer) and scores it with
   :func:`snnkit.train.metrics.classification_report`: ``test_accuracy``, ``macro_f1``, ``roc_auc``,
   ``tie_rate``, ``silent_rate`` (ties go to the lowest class index; the two rates say how often);
   figure ``confusion_matrix``, table ``per_class``;
2. from ``history`` (the Trainer's per-epoch records): figure ``training_curves`` and table
   ``history``, the held-out columns named ``test_*`` when the curve was measured on the test set
   (``held_out="test"``, a notebook without a validation split); metrics ``train_accuracy``,
   ``val_accuracy`` (only with a real validation split) and ``epoch_time_s`` (mean);
3. records the spikes of the model's spiking layers on ``probe`` (:class:`~snnkit.train.monitor.SpikeRecorder`:
   padded steps of ``(x, lengths)`` inputs do not count): figure ``spike_raster`` (first hidden layer,
   first sample) and ``firing_rates`` (per-neuron histograms), metrics ``firing_rate`` (mean of the
   hidden layers' rates) and ``firing_rate_<layer>`` per hidden layer. The hidden layers are all the
   recorded ones but the last (the output layer, whose spike counts are the scores); a model with one
   spiking layer reports that layer. A model with a ``spiking_layers`` attribute (module names) names its
   hidden layers itself: exactly those are recorded (none: no rates, e.g. a non-spiking baseline). In the same pass, the synaptic operations per inference
   (:class:`~snnkit.train.metrics.SynopsCounter`: non-zero inputs × active fan-out of every linear
   layer; a ``[B, in]`` layer input stands for ``model.T`` steps): metrics ``synops`` and
   ``synops_<layer>`` per linear layer (metrics.json is flat: this is ``synops_per_layer``), table
   ``synops`` (one row per layer with its share);
4. ``sparsity`` (exact zeros) of the prunable weights (:func:`prunable_weights`), ``n_parameters`` and
   ``active_parameters`` (:func:`snnkit.sparse.layers.active_parameter_count`: a ``MaskedLinear`` counts
   only its active weights); for a model with masked layers that carry group labels
   (``MaskedLinear.out_groups`` / ``in_groups``), figure ``group_connectivity`` (density between every
   pair of groups, per layer; before | after when ``masks_before`` is given);
5. ``trainer.resumed_from`` into ``provenance.json``; table ``results`` (one row: ``label``, the
   dataset and every metric); ``run.finish(...)`` writes ``metrics.json``.

``extra`` adds the notebook's own metrics (e.g. a paper's connectivity); they go through the same
checks as any ``run.log`` value.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from snnkit.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = ["standard_results", "prunable_weights"]

_HELD_OUT = ("val", "test")


def prunable_weights(model: nn.Module) -> list[torch.Tensor]:
    """The weights whose zeros make a model sparse, as the forward pass sees them.

    ``model.prunable_weights()`` when the model defines it (a reparameterised or masked family says
    which tensors count); else the ``weight`` of every module in ``model.layers`` (G2GNet: the hidden,
    maskable layers, not the dense read-out); else every ``nn.Linear`` and ``nn.Conv*`` weight.
    """
    if callable(getattr(model, "prunable_weights", None)):
        return list(model.prunable_weights())
    layers = getattr(model, "layers", None)
    if isinstance(layers, nn.ModuleList) and len(layers):
        return [layer.weight for layer in layers]
    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    return [m.weight for m in model.modules() if isinstance(m, kinds)]


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (JupyterLab, papermill): figures left open are shown inline there."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    return getattr(get_ipython(), "kernel", None) is not None


def _key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _curves(history: Any, held_out: str):
    """The per-epoch records as a DataFrame, ``val_*`` renamed ``test_*`` when measured on the test set."""
    import pandas as pd

    df = history.as_dataframe() if hasattr(history, "as_dataframe") else pd.DataFrame(list(history))
    if held_out == "test":
        df = df.rename(columns={c: "test_" + c[len("val_"):] for c in df.columns if str(c).startswith("val_")})
    return df


def standard_results(
    run: Any,
    *,
    trainer: Any,
    model: nn.Module,
    test_set: Any,
    history: Iterable[Mapping[str, Any]] | None = None,
    held_out: str = "val",
    probe: Any = None,
    extra: Mapping[str, Any] | None = None,
    label: str | None = None,
    masks_before: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate, draw, tabulate and finish ``run`` (see the module docstring); returns ``metrics.json``'s dict.

    Args:
        run: the notebook's :class:`~snnkit.report.run.Run`.
        trainer: the fitted :class:`~snnkit.train.Trainer` (``predict``, ``resumed_from``, ``batch_size``).
        model: the trained model (its spiking layers are recorded, its weights counted).
        test_set: the test dataset (``classes`` names the classes).
        history: ``trainer.fit``'s History (or a list of per-epoch dicts); None: no curves.
        held_out: "val" when ``fit`` got a validation split, "test" when the per-epoch held-out curve was
            measured on the test set (the notebook has no validation split).
        probe: the samples whose spikes are recorded: a dataset, a number of leading test samples, or None
            (the first ``trainer.batch_size`` test samples).
        extra: more metrics of the notebook's own.
        label: the results row's label (default: the run's ``model`` parameter, else the notebook name).
        masks_before: masked layer name → its mask at the start of training (e.g. before dynamic sparse
            training), drawn beside the final one in ``group_connectivity``.
    """
    from snnkit.report import figures
    from snnkit.sparse.layers import active_parameter_count
    from snnkit.train import metrics as M
    from snnkit.train.monitor import SpikeRecorder

    if held_out not in _HELD_OUT:
        raise ConfigError("held_out", held_out, "one of " + ", ".join(map(repr, _HELD_OUT)), where="standard_results")
    classes = list(test_set.classes)
    results: dict[str, Any] = {}
    close = not _in_kernel()  # in a notebook the figures stay open, so they show inline under the cell

    scores, targets = trainer.predict(test_set)
    report = M.classification_report(scores, targets, classes)
    results.update(test_accuracy=report["accuracy"], macro_f1=report["macro_f1"], roc_auc=report["roc_auc"],
                   tie_rate=report["tie_rate"], silent_rate=report["silent_rate"])
    run.figure(figures.confusion_heatmap(report["confusion_matrix"], classes, dataset_label=run.dataset_label),
               "confusion_matrix", close=close)
    run.table(report["per_class"], "per_class")

    curves = _curves(history, held_out) if history is not None else None
    if curves is not None and len(curves):
        run.figure(figures.training_curves(curves, dataset_label=run.dataset_label), "training_curves", close=close)
        run.table(curves, "history")
        final = curves.iloc[-1]
        if "train_accuracy" in curves:
            results["train_accuracy"] = float(final["train_accuracy"])
        if held_out == "val" and "val_accuracy" in curves:
            results["val_accuracy"] = float(final["val_accuracy"])
        if "epoch_time_s" in curves:
            results["epoch_time_s"] = float(curves["epoch_time_s"].mean())

    if probe is None or isinstance(probe, int):
        n = min(len(test_set), probe if isinstance(probe, int) else trainer.batch_size)
        probe = torch.utils.data.Subset(test_set, range(n))
    named = getattr(model, "spiking_layers", None)  # a model that names its hidden spiking layers itself
    recorder = SpikeRecorder(model, keep_spikes=True, names=named) if named is None or named else None
    with recorder or contextlib.nullcontext(), M.SynopsCounter(model) as counter:
        trainer.predict(probe)
    ops = counter.result()
    rates = recorder.firing_rates() if recorder is not None else {}
    rec = recorder
    hidden = list(rates) if named else (list(rates)[:-1] if len(rates) > 1 else list(rates))
    if hidden:
        results["firing_rate"] = sum(rates[name] for name in hidden) / len(hidden)
        results.update({f"firing_rate_{_key(name)}": rates[name] for name in hidden})
        titles = layer_titles(list(rates))
        run.figure(figures.spike_raster(rec.spikes(hidden[0]), dataset_label=run.dataset_label,
                                        title=f"Spike raster, {titles[hidden[0]]}, first sample"), "spike_raster",
                   close=close)
        neuron_rates = {titles.get(name, name): value for name, value in rec.neuron_rates().items()}
        run.figure(figures.firing_rate_histogram(neuron_rates, dataset_label=run.dataset_label),
                   "firing_rates", close=close)

    if ops["synops_per_layer"]:
        results["synops"] = ops["synops"]
        results.update({f"synops_{_key(name)}": value for name, value in ops["synops_per_layer"].items()})
        run.table(_synops_table(ops), "synops")

    weights = prunable_weights(model)
    if weights:
        results["sparsity"] = M.weight_sparsity(w.detach() for w in weights)
    results["n_parameters"] = sum(p.numel() for p in model.parameters())
    results["active_parameters"] = active_parameter_count(model)
    _connectivity_figure(run, model, masks_before, close)
    results.update(extra or {})

    run.record_provenance(resumed_from=getattr(trainer, "resumed_from", None))
    row_label = label if label is not None else str(run.params.get("model", run.notebook))
    _save_results_table(run, {"model": row_label, "dataset": run.dataset_label, **results})
    return run.finish(**results)


def _synops_table(ops: Mapping[str, Any]):
    """One row per linear layer: synaptic operations per inference and their share of the total."""
    import pandas as pd

    total = ops["synops"]
    return pd.DataFrame([{"layer": name, "synops": value, "share": value / total if total else 0.0}
                         for name, value in ops["synops_per_layer"].items()])


def _connectivity_figure(run: Any, model: nn.Module, masks_before: Mapping[str, Any] | None, close: bool) -> None:
    """Figure ``group_connectivity`` of every masked layer that knows its group labels (none: no figure)."""
    from snnkit.report import figures
    from snnkit.sparse.layers import MaskedLinear

    layers = {name: m for name, m in model.named_modules() if isinstance(m, MaskedLinear)}
    grouped = {name: m for name, m in layers.items() if m.out_groups is not None and m.in_groups is not None}
    if len(grouped) < len(layers):
        log.info("group_connectivity leaves out masked layers without group labels: %s",
                 sorted(set(layers) - set(grouped)))
    if not grouped:
        return
    before = None
    if masks_before is not None:
        missing = sorted(set(grouped) - set(masks_before))
        if missing:
            raise ConfigError("masks_before", f"masks of layers {sorted(masks_before)}",
                              f"a mask for every masked layer {sorted(grouped)} (missing {missing})",
                              where="standard_results")
        before = {name: masks_before[name] for name in grouped}
    fig = figures.group_connectivity({n: m.mask for n, m in grouped.items()},
                                     {n: m.out_groups for n, m in grouped.items()},
                                     {n: m.in_groups for n, m in grouped.items()},
                                     before=before, dataset_label=run.dataset_label)
    run.figure(fig, "group_connectivity", close=close)


def layer_titles(names: list[str]) -> dict[str, str]:
    """Readable names of a model's spiking layers (in forward order) for figure titles: ``hidden layer
    1``, ``hidden layer 2``, …, ``output layer`` (the last); a single one is ``spiking layer``."""
    if len(names) == 1:
        return {names[0]: "spiking layer"}
    return {name: "output layer" if i == len(names) - 1 else f"hidden layer {i + 1}" for i, name in enumerate(names)}


def _save_results_table(run: Any, row: dict[str, Any]) -> None:
    """``tables/results.*``: one row; results.md writes every float with four decimals (one precision)."""
    from snnkit.report import tables

    run.table(tables.results_table([row]), "results", floatfmt=".4f")
