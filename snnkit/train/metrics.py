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


