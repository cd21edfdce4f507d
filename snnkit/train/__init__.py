"""Training core: the BPTT :class:`Trainer` and its callbacks, the reusable :class:`RunState`
(checkpoint rotation, identity, RNG, ``done``, save intervals, resume info, progress file) that any
training loop can build on, hidden-layer :class:`Activity` for losses and learning rules, checkpoint
files, and torchrun data parallelism.

``metrics.py`` (accuracy, confusion matrix, F1, ROC AUC, firing rates) lives beside these modules and is
imported from ``snnkit.train.metrics``.
"""

from __future__ import annotations

from snnkit.train.activity import Activity, ActivityRecorder
from snnkit.train.checkpoint import (
    get_rng_state,
    is_done,
    load_checkpoint,
    load_latest,
    mark_done,
    read_done,
    save_checkpoint,
    set_rng_state,
)
from snnkit.train.crossval import CVResult, cross_validate, kfold_indices
from snnkit.train.distributed import DistInfo
from snnkit.train.loop import Callback, History, Trainer, count_correct, move_to_device, resume_note
from snnkit.train.regularise import FiringRateRegulariser, SpikeCountRegulariser, spike_count_penalty
from snnkit.train.state import LAST_CHECKPOINT, PREV_CHECKPOINT, RunState, read_progress

__all__ = [
    "resume_note",
    "spike_count_penalty",
    "FiringRateRegulariser",
    "SpikeCountRegulariser",
    "Trainer",
    "Callback",
    "History",
    "RunState",
    "Activity",
    "ActivityRecorder",
    "read_progress",
    "LAST_CHECKPOINT",
    "PREV_CHECKPOINT",
    "count_correct",
    "move_to_device",
    "save_checkpoint",
    "load_checkpoint",
    "load_latest",
    "get_rng_state",
    "set_rng_state",
    "mark_done",
    "is_done",
    "read_done",
    "DistInfo",
    "kfold_indices",
    "cross_validate",
    "CVResult",
]
