"""Classification metrics (scikit-learn) and weight sparsity: scoring, apart from recording.

:func:`accuracy`, :func:`confusion_matrix`, :func:`macro_f1`, :func:`roc_auc`, :func:`tie_rate`,
:func:`silent_rate` and :func:`classification_report` accept torch tensors, NumPy arrays or lists;
``scores`` are ``[N, C]`` class scores (spike counts or logits), ``preds``/``targets`` are ``[N]``
integer labels. Accuracies are fractions in ``[0, 1]`` (the ``metrics.json`` contract).

**Tie rule.** The prediction from scores is their arg-max; when several classes share the top score
(frequent with spike counts: two output neurons firing equally often, or none firing at all) the
LOWEST class index wins (NumPy's ``argmax``). Such predictions are partly arbitrary, so every report
states :func:`tie_rate` (top score shared) and :func:`silent_rate` (no output spike: all scores zero,
a subset of the ties when there are two or more classes) beside the accuracy.

Spike recording (:class:`SpikeRecorder`) lives in :mod:`snnkit.train.monitor`; it is importable from
here as before.

**Synaptic operations.** :func:`synops`, :class:`SynopsCounter` and :func:`measure_synops` count the
synaptic operations per inference, the usual hardware-independent energy proxy of SNNs (Merolla et al.,
Science 2014, TrueNorth's synaptic events; Sengupta et al., Front. Neurosci. 2019): every non-zero input
of a presynaptic neuron triggers one operation per outgoing connection it has.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.special import softmax
from sklearn import metrics as skm

from snnkit.errors import check_positive_int
from snnkit.sparse.layers import MaskedLinear
from snnkit.train.monitor import SpikeRecorder

log = logging.getLogger(__name__)

__all__ = [
    "accuracy",
    "confusion_matrix",
    "macro_f1",
    "roc_auc",
    "tie_rate",
    "silent_rate",
    "classification_report",
    "weight_sparsity",
    "SpikeRecorder",
    "SynopsCounter",
    "fan_out",
    "measure_synops",
    "synops",
]


# --------------------------------------------------------------------------------------------------
# conversion helpers
# --------------------------------------------------------------------------------------------------
def _to_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise TypeError(f"{name} must be a tensor, array or list; got {type(x).__name__}") from exc


def _to_labels(x: Any, name: str) -> np.ndarray:
    """Integer labels ``[N]`` from labels ``[N]`` or scores ``[N, C]`` (argmax over classes)."""
    arr = _to_numpy(x, name)
    if arr.ndim == 2:
        if arr.shape[1] == 0:
            raise ValueError(f"{name} has shape {arr.shape}: scores need at least one class column")
        return arr.argmax(axis=1).astype(np.int64)
    if arr.ndim != 1:
        raise ValueError(f"{name} has shape {arr.shape}; expected labels [N] or class scores [N, C]")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.mod(arr, 1) == 0):
            raise ValueError(f"{name} holds non-integer labels (dtype {arr.dtype}); pass class indices")
    return arr.astype(np.int64)


def _check_pair(preds: np.ndarray, targets: np.ndarray) -> None:
    if preds.shape[0] != targets.shape[0]:
        raise ValueError(f"predictions and targets differ in length: {preds.shape[0]} vs {targets.shape[0]}")
    if preds.shape[0] == 0:
        raise ValueError("predictions and targets are empty; a metric needs at least one sample")


def _check_range(labels: np.ndarray, n_classes: int, name: str) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"{name} holds labels in [{labels.min()}, {labels.max()}]; allowed are 0..{n_classes - 1} "
            f"(n_classes={n_classes})"
        )


# --------------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------------
def accuracy(outputs_or_preds: Any, targets: Any) -> float:
    """Fraction (0-1) of samples whose predicted class equals the target.

    ``outputs_or_preds`` is either class scores ``[N, C]`` (the prediction is the arg-max, e.g. the
    output layer's spike count as in G2GNet; a tie goes to the lowest class index, see the module
    docstring and :func:`tie_rate`) or predicted labels ``[N]``.
    """
    preds = _to_labels(outputs_or_preds, "outputs_or_preds")
    tgt = _to_labels(targets, "targets")
    _check_pair(preds, tgt)
    return float(np.mean(preds == tgt))


def confusion_matrix(preds: Any, targets: Any, n_classes: int) -> np.ndarray:
    """``[n_classes, n_classes]`` count matrix; row = true class, column = predicted class (sklearn).

    ``preds`` may be labels ``[N]`` or scores ``[N, C]``. Classes that never occur still get a row and
    column, so matrices from different runs always have the same shape.
    """
    check_positive_int("n_classes", n_classes, where="confusion_matrix")
    p = _to_labels(preds, "preds")
    t = _to_labels(targets, "targets")
    _check_pair(p, t)
    _check_range(p, n_classes, "preds")
    _check_range(t, n_classes, "targets")
    with warnings.catch_warnings():
        # sklearn warns about a single label even when `labels` is given, which is exactly our case
        warnings.filterwarnings("ignore", message="A single label was found", category=UserWarning)
        cm = skm.confusion_matrix(t, p, labels=np.arange(n_classes))
    return cm.astype(np.int64)


def macro_f1(preds: Any, targets: Any, n_classes: int | None = None) -> float:
    """Unweighted mean of the per-class F1 scores (sklearn, ``average='macro'``).

    Without ``n_classes`` the classes are those present in ``preds`` or ``targets`` (sklearn's
    default); with it, every class ``0..n_classes-1`` counts, an absent one with F1 = 0.
    """
    p = _to_labels(preds, "preds")
    t = _to_labels(targets, "targets")
    _check_pair(p, t)
    labels = None
    if n_classes is not None:
        _check_range(p, n_classes, "preds")
        _check_range(t, n_classes, "targets")
        labels = np.arange(n_classes)
    return float(skm.f1_score(t, p, labels=labels, average="macro", zero_division=0))


def roc_auc(scores: Any, targets: Any, n_classes: int) -> float:
    """Macro one-vs-rest ROC AUC on the softmax of ``scores`` ``[N, C]`` (sklearn).

    The AUC of a class is undefined when that class is absent from ``targets`` (or is the only one
    present): then a warning is logged and ``nan`` is returned instead of raising, so a small
    evaluation batch cannot crash a report. Non-finite scores also give ``nan`` with a warning.
    For ``n_classes == 2`` this is the ordinary binary AUC of class 1.
    """
    s = _to_numpy(scores, "scores").astype(np.float64)
    t = _to_labels(targets, "targets")
    if s.ndim != 2 or s.shape[1] != n_classes:
        raise ValueError(f"scores have shape {s.shape}; expected [N, {n_classes}] (n_classes={n_classes})")
    if n_classes < 2:
        raise ValueError(f"n_classes = {n_classes}; ROC AUC needs at least 2 classes")
    _check_pair(s, t)
    _check_range(t, n_classes, "targets")
    if not np.all(np.isfinite(s)):
        log.warning("roc_auc: scores contain non-finite values; returning nan")
        return float("nan")
    missing = sorted(set(range(n_classes)) - set(np.unique(t).tolist()))
    if missing:
        log.warning(
            "roc_auc: classes %s are absent from the targets, so their one-vs-rest AUC is undefined; "
            "returning nan",
            missing,
        )
        return float("nan")
    probs = softmax(s, axis=1)
    if n_classes == 2:
        return float(skm.roc_auc_score(t, probs[:, 1]))
    return float(skm.roc_auc_score(t, probs, multi_class="ovr", average="macro", labels=np.arange(n_classes)))


def _scores_2d(scores: Any) -> np.ndarray:
    s = _to_numpy(scores, "scores")
    if s.ndim != 2 or s.shape[0] == 0 or s.shape[1] == 0:
        raise ValueError(f"scores have shape {s.shape}; expected class scores [N, C] with N, C >= 1")
    return s


def tie_rate(scores: Any) -> float:
    """Fraction of samples whose top score is shared by two or more classes.

    Their prediction is decided by the tie rule (lowest class index), not by the model. A sample with
    all scores zero (:func:`silent_rate`) is a tie when there are at least two classes.
    """
    s = _scores_2d(scores)
    top = s.max(axis=1, keepdims=True)
    return float(np.mean((s == top).sum(axis=1) >= 2))


def silent_rate(scores: Any) -> float:
    """Fraction of samples whose scores are all zero: for spike counts, no output neuron spiked."""
    s = _scores_2d(scores)
    return float(np.mean(np.all(s == 0, axis=1)))


def classification_report(scores: Any, targets: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """All metrics of this module for one evaluation.

    Predictions are the arg-max of ``scores``, ties going to the lowest class index (module docstring).
    Returns a dict with ``accuracy`` (fraction), ``macro_f1``, ``roc_auc`` (``nan`` if undefined, see
    :func:`roc_auc`), ``tie_rate`` and ``silent_rate`` (fractions of samples whose prediction came from
    the tie rule / that had no output spike), ``confusion_matrix`` (``np.ndarray``, rows = true class), ``n_samples`` and
    ``per_class``: a DataFrame indexed by class name with ``precision``, ``recall``, ``f1`` and
    ``support`` (a class never predicted has precision 0).
    """
    names = [str(c) for c in class_names]
    n = len(names)
    s = _to_numpy(scores, "scores")
    if s.ndim != 2 or s.shape[1] != n:
        raise ValueError(f"scores have shape {s.shape}; expected [N, {n}] for {n} class names")
    preds = _to_labels(s, "scores")
    t = _to_labels(targets, "targets")
    _check_pair(preds, t)
    _check_range(t, n, "targets")
    labels = np.arange(n)
    prec, rec, f1, support = skm.precision_recall_fscore_support(
        t, preds, labels=labels, average=None, zero_division=0
    )
    per_class = pd.DataFrame(
        {"precision": prec, "recall": rec, "f1": f1, "support": support.astype(np.int64)},
        index=pd.Index(names, name="class"),
    )
    return {
        "accuracy": accuracy(preds, t),
        "macro_f1": macro_f1(preds, t, n_classes=n),
        "roc_auc": roc_auc(s, t, n) if n >= 2 else float("nan"),
        "tie_rate": tie_rate(s),
        "silent_rate": silent_rate(s),
        "confusion_matrix": confusion_matrix(preds, t, n),
        "n_samples": int(t.shape[0]),
        "per_class": per_class,
    }


def weight_sparsity(weights: Iterable[torch.Tensor]) -> float:
    """Fraction of entries that are exactly zero over ``weights`` (the prunable weight tensors).

    This is the ``sparsity`` of metrics.json. Pass the *effective* weights (for a masked or
    reparameterised layer, ``layer.weight`` as the forward pass sees it, e.g. ``W * M``).
    """
    zeros = total = 0
    for i, w in enumerate(weights):
        if not isinstance(w, torch.Tensor):
            raise TypeError(f"weight_sparsity: item {i} is a {type(w).__name__}, expected a tensor")
        zeros += int((w.detach() == 0).sum())
        total += w.numel()
    if total == 0:
        raise ValueError("weight_sparsity: no weights given (an empty iterable or only empty tensors)")
    return zeros / total




# --------------------------------------------------------------------------------------------------
# synaptic operations
# --------------------------------------------------------------------------------------------------
def synops(events: Any, fan_out: Any) -> float:
    """Synaptic operations ``Σ_i events_i · fan_out_i``.

    ``events[i]``: how many non-zero inputs presynaptic neuron ``i`` sent (summed over the time steps of
    one sample, or of several: then the result is for all of them); ``fan_out[i]``: how many
    connections leave neuron ``i``. Both are 1-D of the same length (tensors, arrays or lists).
    """
    e = np.asarray(_to_numpy(events, "events"), dtype=np.float64)
    f = np.asarray(_to_numpy(fan_out, "fan_out"), dtype=np.float64)
    if e.shape != f.shape or e.ndim != 1:
        raise ValueError(f"events {e.shape} and fan_out {f.shape} must be 1-D of the same length")
    return float(e @ f)


def fan_out(layer: torch.nn.Module) -> torch.Tensor:
    """Outgoing connections of each input neuron of a linear layer, ``[in_features]`` (float64).

    :class:`~snnkit.sparse.layers.MaskedLinear`: the active weights of each input column (the mask's
    column sums); any other ``nn.Linear``: ``out_features`` for every input.
    """
    if isinstance(layer, MaskedLinear):
        return layer.mask.sum(0, dtype=torch.float64)
    if isinstance(layer, torch.nn.Linear):
        return torch.full((layer.in_features,), float(layer.out_features), dtype=torch.float64,
                          device=layer.weight.device)
    raise TypeError(f"fan_out: {type(layer).__name__} is not an nn.Linear (only linear layers are counted)")


class SynopsCounter:
    """Count the synaptic operations of every ``nn.Linear`` of ``model`` (``MaskedLinear`` included)
    during the forward passes made inside the context::

        with SynopsCounter(model) as counter:
            trainer.predict(probe)
        counter.result()   # {"synops": ..., "synops_per_layer": {...}}

    A forward pre-hook on each linear layer counts the non-zero entries of each input feature and
    multiplies them by the layer's current :func:`fan_out` (so a mask changed between calls is taken
    as it is at each call). Input shapes:

    * ``[B, in]``: one step that stands for ``time_steps`` identical steps — G2GNet's current encoding
      computes the first layer's product once and broadcasts it over ``T``, yet the network receives
      the input at each of the ``T`` steps; ``time_steps`` defaults to ``getattr(model, "T", 1)``.
    * ``[T, B, ..., in]``: time-first; every step counts (dims after ``B`` are positions of one sample).

    Samples are the ``B`` of a layer's first call in each forward pass of ``model`` (a layer applied
    several times in one pass, e.g. recurrently, adds operations but not samples).

    Honest caveats: only linear layers are counted (convolutions are not: their fan-out depends on
    position, stride and padding). Under current encoding the first layer's "events" are real-valued
    inputs, i.e. multiply-accumulates rather than the accumulate-only operations of binary spikes; they
    are counted like spikes (``synops_per_layer`` shows their share). Padded steps of ``(x, lengths)``
    inputs are counted like real ones.
    """

    def __init__(self, model: torch.nn.Module, *, time_steps: int | None = None) -> None:
        if time_steps is None:
            time_steps = getattr(model, "T", 1)
        self.time_steps = check_positive_int("time_steps", time_steps, where="SynopsCounter")
        self.model = model
        self._layers = {name or type(m).__name__: m for name, m in model.named_modules()
                        if isinstance(m, torch.nn.Linear)}
        self._handles: list[Any] = []
        self.reset()

    def reset(self) -> None:
        self._ops: dict[str, torch.Tensor] = {}  # float64 scalar per layer, on the layer's device
        self._samples: dict[str, int] = dict.fromkeys(self._layers, 0)
        self._seen: set[str] = set()  # layers already called in the model forward in progress

    def _new_forward(self, module: torch.nn.Module, inputs: Any) -> None:
        self._seen = set()

    def _make_hook(self, name: str):
        def hook(layer: torch.nn.Module, inputs: Any) -> None:
            x = inputs[0].detach()
            with torch.no_grad():
                nonzero = (x != 0).reshape(-1, x.shape[-1]).sum(0, dtype=torch.float64)  # [in]
                ops = nonzero @ fan_out(layer).to(nonzero.device)
                if x.dim() == 2:
                    ops, batch = ops * self.time_steps, x.shape[0]
                else:
                    batch = x.shape[1]
            self._ops[name] = self._ops[name] + ops if name in self._ops else ops
            if name not in self._seen:
                self._seen.add(name)
                self._samples[name] += int(batch)

        return hook

    def __enter__(self) -> SynopsCounter:
        self.reset()
        self._handles = [self.model.register_forward_pre_hook(self._new_forward)]
        self._handles += [m.register_forward_pre_hook(self._make_hook(n)) for n, m in self._layers.items()]
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def result(self) -> dict[str, Any]:
        """``{"synops": mean per sample over all layers, "synops_per_layer": {layer: mean per sample}}``;
        layers never called are left out (``synops`` is 0.0 when none was)."""
        per_layer = {n: float(self._ops[n]) / self._samples[n] for n in self._layers
                     if n in self._ops and self._samples[n]}
        return {"synops": float(sum(per_layer.values())), "synops_per_layer": per_layer}


def measure_synops(model: torch.nn.Module, inputs: Iterable[Any], *, time_steps: int | None = None) -> dict[str, Any]:
    """Synaptic operations per inference of ``model`` on ``inputs`` (see :class:`SynopsCounter`).

    ``inputs``: an iterable of input batches, or of ``(x, y, ...)`` batches such as a DataLoader's;
    ``x`` is moved to the model's device. The model runs in eval mode under ``torch.no_grad`` (its
    mode is restored). ``time_steps``: the steps a ``[B, in]`` layer input stands for (default
    ``model.T``, else 1). Returns ``{"synops": mean per sample, "synops_per_layer": {name: ...}}``.
    """
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        with SynopsCounter(model, time_steps=time_steps) as counter, torch.no_grad():
            for batch in inputs:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                model(x.to(device))
    finally:
        model.train(was_training)
    return counter.result()
