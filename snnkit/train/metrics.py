"""Classification metrics (scikit-learn) and per-layer spike statistics.

Two halves:

* Plain metrics on predictions: :func:`accuracy`, :func:`confusion_matrix`, :func:`macro_f1`,
  :func:`roc_auc` and :func:`classification_report`. They accept torch tensors, NumPy arrays or lists;
  ``scores`` are ``[N, C]`` class scores (spike counts or logits), ``preds``/``targets`` are ``[N]``
  integer labels. Accuracies are fractions in ``[0, 1]`` (the ``metrics.json`` contract).
* :class:`SpikeRecorder`: forward hooks on a model's spiking modules that accumulate spike counts so a
  notebook can report the mean firing rate per layer (spikes per neuron per time step per sample; the
  G2GNet authors report hidden rates of about 0.015-0.03), per-neuron rates for histograms and, on
  request, the spikes of one batch for a raster plot.
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

log = logging.getLogger(__name__)

__all__ = [
    "accuracy",
    "confusion_matrix",
    "macro_f1",
    "roc_auc",
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
    output layer's spike count as in G2GNet) or predicted labels ``[N]``.
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
    if not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes = {n_classes!r}; expected a positive integer")
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


def classification_report(scores: Any, targets: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """All metrics of this module for one evaluation.

    Returns a dict with ``accuracy`` (fraction), ``macro_f1``, ``roc_auc`` (``nan`` if undefined, see
    :func:`roc_auc`), ``confusion_matrix`` (``np.ndarray``, rows = true class), ``n_samples`` and
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
# spike recording
# --------------------------------------------------------------------------------------------------
class _LayerStats:
    __slots__ = ("counts", "steps", "batches", "spikes", "n_neurons")

    def __init__(self) -> None:
        self.counts: torch.Tensor | None = None  # float64 [N], spikes summed over time and batch
        self.steps = 0  # sum over recorded batches of T * B
        self.batches = 0
        self.spikes: torch.Tensor | None = None  # bool [T, B, N] of the first batch (keep_spikes)
        self.n_neurons = 0


class SpikeRecorder:
    """Record the spikes of a model's spiking layers through forward hooks.

    Use as a context manager around evaluation (or training) forward passes::

        with SpikeRecorder(model, keep_spikes=True, max_batches=10) as rec:
            for x, y in loader:
                model(x)
        rec.firing_rates()      # {"lif1": 0.021, ...}

    Which modules are recorded: with ``names``, exactly the modules with those qualified names (from
    ``model.named_modules()``); otherwise every module whose class is named ``LIF`` or that is an
    instance of one of ``module_types``. Each recorded module's forward must return spikes time-first,
    ``[T, B, ...]`` (or a tuple whose first element is that, as snnTorch's neurons with
    ``init_hidden`` do); trailing dimensions are flattened into neurons ``N``.

    ``max_batches`` limits the number of forward calls recorded per layer (later calls are ignored).
    With ``keep_spikes`` the first recorded batch is stored as a bool tensor ``[T, B, N]`` on the CPU.
    Spikes are detached, so the recorder works under ``torch.no_grad`` and in training alike and never
    changes the outputs or gradients. Entering the context clears previous statistics; leaving it
    removes the hooks (the statistics stay readable).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        module_types: type | tuple[type, ...] | None = None,
        names: Iterable[str] | None = None,
        keep_spikes: bool = False,
        max_batches: int | None = None,
    ) -> None:
        if max_batches is not None and (not isinstance(max_batches, int) or max_batches < 1):
            raise ValueError(f"max_batches = {max_batches!r}; expected a positive integer or None")
        self.model = model
        self.keep_spikes = bool(keep_spikes)
        self.max_batches = max_batches
        self._modules = self._select(model, module_types, names)
        self._stats: dict[str, _LayerStats] = {name: _LayerStats() for name in self._modules}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    # -- selection ---------------------------------------------------------------------------------
    @staticmethod
    def _select(
        model: torch.nn.Module,
        module_types: type | tuple[type, ...] | None,
        names: Iterable[str] | None,
    ) -> dict[str, torch.nn.Module]:
        named = dict(model.named_modules())
        if names is not None:
            wanted = list(names)
            unknown = [n for n in wanted if n not in named]
            if unknown:
                raise ValueError(
                    f"SpikeRecorder: modules {unknown} not found in the model; available: "
                    f"{sorted(k for k in named if k)}"
                )
            return {n: named[n] for n in wanted}
        types: tuple[type, ...] = ()
        if module_types is not None:
            types = module_types if isinstance(module_types, tuple) else (module_types,)
        chosen = {
            (name or type(mod).__name__): mod
            for name, mod in named.items()
            if type(mod).__name__ == "LIF" or (types and isinstance(mod, types))
        }
        if not chosen:
            raise ValueError(
                "SpikeRecorder found no spiking module to record: none is of a class named 'LIF'"
                + (f" or an instance of {[t.__name__ for t in types]}" if types else "")
                + "; pass module_types or names"
            )
        return chosen

    # -- hooks ---------------------------------------------------------------------------------------
    def _make_hook(self, name: str):
        def hook(module: torch.nn.Module, inputs: Any, output: Any) -> None:
            stats = self._stats[name]
            if self.max_batches is not None and stats.batches >= self.max_batches:
                return
            spk = output[0] if isinstance(output, (tuple, list)) else output
            if not isinstance(spk, torch.Tensor) or spk.dim() < 2:
                raise ValueError(
                    f"SpikeRecorder: module {name!r} returned "
                    f"{tuple(spk.shape) if isinstance(spk, torch.Tensor) else type(spk).__name__}; "
                    "expected time-first spikes [T, B, ...]"
                )
            with torch.no_grad():
                flat = spk.detach().reshape(spk.shape[0], spk.shape[1], -1)
                # per-batch sum in float32 is exact for 0/1 spikes while T*B < 2**24
                counts = flat.float().sum(dim=(0, 1)).to("cpu", torch.float64)
            if stats.counts is None:
                stats.counts = counts
                stats.n_neurons = counts.numel()
            elif counts.numel() != stats.n_neurons:
                raise ValueError(
                    f"SpikeRecorder: module {name!r} changed its neuron count from {stats.n_neurons} "
                    f"to {counts.numel()} between batches"
                )
            else:
                stats.counts += counts
            stats.steps += int(flat.shape[0] * flat.shape[1])
            if self.keep_spikes and stats.spikes is None:
                stats.spikes = (flat != 0).to("cpu")
            stats.batches += 1

        return hook

    def reset(self) -> None:
        """Forget everything recorded so far."""
        self._stats = {name: _LayerStats() for name in self._modules}

    def attach(self) -> SpikeRecorder:
        """Register the hooks (what entering the context does, without clearing statistics)."""
        if not self._handles:
            self._handles = [m.register_forward_hook(self._make_hook(n)) for n, m in self._modules.items()]
        return self

    def detach(self) -> None:
        """Remove the hooks (what leaving the context does)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> SpikeRecorder:
        self.reset()
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()

    # -- results -------------------------------------------------------------------------------------
    @property
    def layer_names(self) -> list[str]:
        """Names of the modules being recorded, in model order."""
        return list(self._modules)

    def _recorded(self) -> dict[str, _LayerStats]:
        return {n: s for n, s in self._stats.items() if s.counts is not None and s.steps > 0}

    def firing_rates(self) -> dict[str, float]:
        """Mean spikes per neuron per time step per sample, for every layer that saw at least one batch."""
        return {
            n: float(s.counts.sum().item() / (s.n_neurons * s.steps)) for n, s in self._recorded().items()
        }

    def neuron_rates(self) -> dict[str, torch.Tensor]:
        """Per-neuron mean rate ``[N]`` (float64, CPU) for every recorded layer; for histograms."""
        return {n: s.counts / s.steps for n, s in self._recorded().items()}

    def spike_counts(self) -> dict[str, torch.Tensor]:
        """Per-neuron total spike count ``[N]`` over all recorded steps and samples."""
        return {n: s.counts.clone() for n, s in self._recorded().items()}

    def batches(self) -> dict[str, int]:
        """Number of forward calls recorded per layer."""
        return {n: s.batches for n, s in self._stats.items()}

    def spikes(self, name: str) -> torch.Tensor:
        """Bool spikes ``[T, B, N]`` of the first recorded batch of layer ``name`` (needs keep_spikes)."""
        if name not in self._stats:
            raise KeyError(f"no recorded layer {name!r}; recorded layers: {self.layer_names}")
        if not self.keep_spikes:
            raise RuntimeError("spikes were not kept; create the SpikeRecorder with keep_spikes=True")
        spk = self._stats[name].spikes
        if spk is None:
            raise RuntimeError(f"layer {name!r} has not been called yet, so no spikes were kept")
        return spk

    def mean_firing_rate(self) -> float:
        """Spikes per neuron per step per sample over all recorded neurons of all layers (``nan`` if none)."""
        rec = self._recorded()
        total = sum(float(s.counts.sum().item()) for s in rec.values())
        denom = sum(s.n_neurons * s.steps for s in rec.values())
        return total / denom if denom else float("nan")
