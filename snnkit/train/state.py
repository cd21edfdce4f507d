"""Run state: everything a trainer needs to survive being killed and to say where it stands.

:class:`RunState` is the one component that owns, for any training loop (the BPTT
:class:`~snnkit.train.loop.Trainer`, a layer-by-layer STDP trainer without gradients, ...):

* the checkpoint folder and its rotation: ``last.pt`` and ``prev.pt``, each with a ``.sha256``
  (:func:`~snnkit.train.checkpoint.save_checkpoint`); a corrupt ``last.pt`` falls back to ``prev.pt``
  with a WARNING, and nothing valid left is a :class:`CheckpointError` naming ``--force``;
* the run identity: a checkpoint written under another ``run_hash`` is refused (never overwritten);
* the RNG streams (Python, NumPy, torch CPU/CUDA; one set per rank under torchrun), captured at every
  save and restored on resume (:meth:`RunState.restore_rng`, at the point the loop chooses);
* the ``done`` flag: the final save is marked ``done=True``, and a later run with the same hash sees
  ``state["done"]`` and can load the final state instead of training again (the run-level ``.DONE``
  marker belongs to :mod:`snnkit.reproduce`);
* when to save mid-epoch: every ``every_steps`` steps and/or every ``every_seconds`` seconds
  (:meth:`RunState.due`; under torchrun rank 0's clock decides for all ranks);
* :attr:`RunState.resumed_from` (``{"epoch", "step", "checkpoint", "fallback"}`` or None) and the INFO
  line ``resumed from epoch e, step s``;
* the progress file: a JSON object ``{"phase", "epoch", "epochs", "step", "total_steps", "steps_per_s",
  "eta_s", "resumed_from" (None or ``{"epoch", "step", "fallback"}``), "updated"}`` written atomically at most once per second and whenever forced
  (at every epoch end) — :meth:`RunState.progress`.

The loop keeps what is specific to it — the payload (model, optimiser, counters, ...), its position
``(epoch, step)`` and what they mean. A checkpoint is the loop's payload plus the reserved keys
:data:`RESERVED_KEYS`; ``state["position"]`` is ``{"epoch": int, "step": int}`` as the loop passed it
(the Trainer: epochs completed and optimiser steps done).

Typical loop::

    rs = RunState(ckpt_dir, run_hash, every_steps=100, every_seconds=600, progress_file=...)
    state = rs.load()                       # None, or the payload + reserved keys
    if state is not None:
        restore(state); rs.restore_rng()
    for ...:
        step += 1
        if rs.due(step):
            rs.save(payload(), epoch=epoch, step=step)
        rs.progress(phase=..., epoch=..., epochs=..., step=step, total_steps=...)
    rs.save(payload(), epoch=..., step=step, done=True)
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch

from snnkit.errors import CheckpointError, ConfigError, check_positive_int, check_positive_number
from snnkit.train import distributed as dist_utils
from snnkit.train.checkpoint import get_rng_state, load_latest, save_checkpoint, set_rng_state
from snnkit.utils import atomic_write_text, read_json_object

log = logging.getLogger(__name__)

__all__ = [
    "RunState",
    "LAST_CHECKPOINT",
    "PREV_CHECKPOINT",
    "PROGRESS_NAME",
    "RESERVED_KEYS",
    "read_progress",
]

LAST_CHECKPOINT = "last.pt"
PREV_CHECKPOINT = "prev.pt"
PROGRESS_NAME = "progress.json"
RESERVED_KEYS = ("run_hash", "done", "position", "rng", "world_size")
_PROGRESS_MIN_INTERVAL_S = 1.0


def read_progress(path: str | Path) -> dict[str, Any] | None:
    """The progress object at ``path``, or None when there is none (or it is unreadable)."""
    return read_json_object(path)


class RunState:
    """Checkpoints, identity, RNG, ``done``, save intervals, resume info and progress of one run.

    Args:
        ckpt_dir: folder of ``last.pt``/``prev.pt``; None disables checkpoints (``load`` returns None,
            ``save`` does nothing) while progress reporting still works.
        run_hash: identity of the run; a checkpoint holding another hash is refused.
        every_steps: :meth:`due` is True every this many steps (None: never by step count).
        every_seconds: :meth:`due` is True once this many seconds passed since the last save (None: off).
        progress_file: where :meth:`progress` writes its JSON object (None: nowhere).
        dist: the process's :class:`~snnkit.train.distributed.DistInfo`; only rank 0 writes files, and
            :meth:`save` must then be called on every rank (it gathers the RNG states).
        device: device used for the collectives under torchrun.
    """

    def __init__(
        self,
        ckpt_dir: str | Path | None,
        run_hash: str,
        *,
        every_steps: int | None = None,
        every_seconds: float | None = None,
        progress_file: str | Path | None = None,
        dist: dist_utils.DistInfo | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        if not isinstance(run_hash, str) or not run_hash:
            raise ConfigError("run_hash", run_hash, "a non-empty string identifying the run")
        check_positive_int("every_steps", every_steps, allow_none=True)
        self.ckpt_dir = Path(ckpt_dir) if ckpt_dir is not None else None
        self.run_hash = run_hash
        self.every_steps = every_steps
        self.every_seconds = check_positive_number("every_seconds", every_seconds, allow_none=True)
        self.progress_file = Path(progress_file) if progress_file is not None else None
        self.dist = dist if dist is not None else dist_utils.DistInfo()
        self.device = torch.device(device)
        self.resumed_from: dict[str, Any] | None = None
        self._pending_rng: dict[str, Any] | None = None
        self._last_save = time.monotonic()
        self._last_progress = -math.inf
        self._rate_origin: tuple[float, int] | None = None

    # ------------------------------------------------------------------------------------ paths
    @property
    def last_path(self) -> Path | None:
        return self.ckpt_dir / LAST_CHECKPOINT if self.ckpt_dir is not None else None

    @property
    def prev_path(self) -> Path | None:
        return self.ckpt_dir / PREV_CHECKPOINT if self.ckpt_dir is not None else None

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    # ------------------------------------------------------------------------------------- load
    def load(self) -> dict[str, Any] | None:
        """The checkpoint to resume from (``last.pt``, else ``prev.pt`` if ``last.pt`` is corrupt), or None.

        Refuses another run's checkpoint (:class:`CheckpointError`; nothing is overwritten). Sets
        :attr:`resumed_from`, logs ``resumed from epoch e, step s`` and keeps the RNG states for
        :meth:`restore_rng`. Call it on every rank.
        """
        self.resumed_from = None
        self._pending_rng = None
        if self.ckpt_dir is None:
            return None
        found = load_latest([self.last_path, self.prev_path], map_location="cpu")
        if found is None:
            return None
        state, path, fallback = found
        if state.get("run_hash") != self.run_hash:
            raise CheckpointError(
                f"checkpoint {path} belongs to run_hash {state.get('run_hash')!r}, not this run's "
                f"{self.run_hash!r} (different settings). Use another checkpoint folder, or delete "
                f"{self.ckpt_dir} (reproduce: --force) to start from scratch; nothing was overwritten"
            )
        try:
            position = state["position"]
            epoch, step = int(position["epoch"]), int(position["step"])
            rng = list(state["rng"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"checkpoint {path} lacks the run-state entries ({type(exc).__name__}: {exc}); delete "
                f"{self.ckpt_dir} to start from scratch"
            ) from exc
        if len(rng) == self.dist.world_size:
            self._pending_rng = rng[self.dist.rank]
        else:
            log.warning(
                "checkpoint was written by %d processes, this run has %d: ranks without a saved RNG state "
                "reuse the last saved rank's, so the resumed run is not bit-identical",
                len(rng),
                self.dist.world_size,
            )
            self._pending_rng = rng[min(self.dist.rank, len(rng) - 1)]
        self.resumed_from = {"epoch": epoch, "step": step, "checkpoint": str(path), "fallback": fallback}
        if not state.get("done"):
            log.info(
                "resumed from epoch %d, step %d (%s%s)",
                epoch,
                step,
                path,
                ", fallback: the newest checkpoint was corrupt" if fallback else "",
            )
        return state

    def restore_rng(self) -> None:
        """Restore the RNG states of the loaded checkpoint (once; no-op when there is nothing pending)."""
        if self._pending_rng is not None:
            set_rng_state(self._pending_rng)
            self._pending_rng = None

    @property
    def rng_pending(self) -> bool:
        """True between :meth:`load` of a checkpoint and :meth:`restore_rng`."""
        return self._pending_rng is not None

    # ------------------------------------------------------------------------------------- save
    def due(self, step: int) -> bool:
        """True when a mid-epoch save is due at ``step`` (step interval or time interval).

        Under torchrun every rank must call it at the same steps: rank 0's clock decides for all.
        """
        if self.ckpt_dir is None:
            return False
        if self.every_steps is not None and step % self.every_steps == 0:
            return True
        if self.every_seconds is None:
            return False
        late = time.monotonic() - self._last_save >= self.every_seconds
        return dist_utils.broadcast_flag(late, self.dist, self.device)

    def snapshot(
        self, payload: dict[str, Any], *, epoch: int, step: int, done: bool = False
    ) -> dict[str, Any]:
        """``payload`` plus the reserved keys (identity, ``done``, position, every rank's RNG states).

        Collective under torchrun (gathers the RNG states): call it on every rank.
        """
        clash = sorted(set(payload) & set(RESERVED_KEYS))
        if clash:
            raise ConfigError("payload keys", clash, f"keys other than the reserved {list(RESERVED_KEYS)}")
        return {
            **payload,
            "run_hash": self.run_hash,
            "done": bool(done),
            "position": {"epoch": int(epoch), "step": int(step)},
            "rng": dist_utils.all_gather_objects(get_rng_state(), self.dist, self.device),
            "world_size": self.dist.world_size,
        }

    def save(self, payload: dict[str, Any], *, epoch: int, step: int, done: bool = False) -> None:
        """Checkpoint ``payload`` at position ``(epoch, step)`` with the RNG states, rotating last → prev.

        Call on every rank under torchrun (the RNG states are gathered); only rank 0 writes.
        """
        if self.ckpt_dir is None:
            return
        state = self.snapshot(payload, epoch=epoch, step=step, done=done)
        if self.is_main:
            save_checkpoint(self.last_path, state, previous=self.prev_path)
        dist_utils.barrier(self.dist)
        self._last_save = time.monotonic()

    # --------------------------------------------------------------------------------- progress
    def progress(
        self,
        *,
        phase: str,
        epoch: int,
        epochs: int,
        step: int,
        total_steps: int,
        force: bool = False,
    ) -> None:
        """Write the progress file (rank 0; at most once per second unless ``force``).

        ``epoch`` is the 1-based epoch in progress, ``step`` the steps done so far; the rate is measured
        from the first call of this process (so a resumed run's rate counts only its own steps).
        """
        now = time.monotonic()
        if self._rate_origin is None:
            self._rate_origin = (now, step)
        if self.progress_file is None or not self.is_main:
            return
        if not force and now - self._last_progress < _PROGRESS_MIN_INTERVAL_S:
            return
        self._last_progress = now
        t0, s0 = self._rate_origin
        rate = (step - s0) / (now - t0) if now > t0 and step > s0 else None
        eta = max(total_steps - step, 0) / rate if rate else None
        resumed = None
        if self.resumed_from is not None:
            resumed = {key: self.resumed_from[key] for key in ("epoch", "step", "fallback")}
        record = {
            "phase": str(phase),
            "epoch": int(epoch),
            "epochs": int(epochs),
            "step": int(step),
            "total_steps": int(total_steps),
            "steps_per_s": rate,
            "eta_s": eta,
            "resumed_from": resumed,
            "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        atomic_write_text(self.progress_file, json.dumps(record) + "\n")
