"""The BPTT trainer: epochs, optimiser and LR schedule, AMP, gradient clipping, callbacks (with the
schedule, a per-batch generator and hidden-layer activity), augmentation, progress, TensorBoard scalars,
checkpoints with exact resume, deterministic evaluation, and data-parallel training under ``torchrun``.

A spiking network trained with surrogate gradients is, to the optimiser, an ordinary recurrent network
unrolled over T steps (backpropagation through time); the model's ``forward`` does the unrolling, this
module only runs the optimisation around it. Checkpoints, identity, RNG streams, save intervals, resume
info and the progress file live in :class:`snnkit.train.state.RunState`, which gradient-free trainers
(layer-by-layer STDP) use as well.

Reproducibility contract
------------------------
* ``seed`` seeds Python, NumPy and torch at the start of :meth:`Trainer.fit` (``seed + rank`` under
  torchrun) and the data order: epoch ``e`` visits the training set in ``torch.randperm`` order from a
  generator seeded with ``(seed, e)``, cut into batches of ``batch_size``. The order is a pure function
  of ``(seed, epoch)``, so a resumed run can re-enter an epoch at any batch.
* Each training batch gets ``trainer.batch_generator``, a ``torch.Generator`` seeded from
  ``(seed, global_step, rank)``; ``transform(inputs, generator)`` (e.g.
  :func:`snnkit.data.random_crop_flip`) augments training batches with it, so augmentation is a pure
  function of the position too.
* With ``ckpt_dir`` the trainer checkpoints at the end of every epoch, every ``ckpt_every_steps``
  optimiser steps and every ``ckpt_every_s`` seconds (default 600), rotating ``last.pt`` → ``prev.pt``
  (each with a ``.sha256``; a corrupt ``last.pt`` falls back to ``prev.pt``). A checkpoint holds the
  model, optimiser, scheduler, AMP scaler, callbacks' states, counters, the partial sums of the current
  epoch's metrics, the history and the RNG states. A run killed at any point and started again resumes
  from it (``trainer.resumed_from``, logged as ``resumed from epoch e, step s``) and ends with
  bit-identical weights and metrics on the CPU (tested by killing a real process with SIGKILL).
* The identity ``run_hash`` (default: a hash of :meth:`Trainer.identity` — everything that changes
  results) is stored in the checkpoint; another run's checkpoint is refused, never resumed. The final
  checkpoint is marked ``done``: a later :meth:`Trainer.fit` with the same hash loads the final state
  instead of training again. (The run-level ``.DONE`` marker is written by :mod:`snnkit.reproduce`.)
* :meth:`Trainer.evaluate` and :meth:`Trainer.predict` run on torch generators seeded from the trainer
  seed and restore the global ones afterwards: evaluating twice gives the same outputs (rate encoding
  included), and evaluating does not change the training that follows.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, default_collate

from snnkit.errors import CheckpointError, ConfigError, check_positive_int, check_positive_number
from snnkit.train import distributed as dist_utils
from snnkit.train.activity import Activity, ActivityRecorder, Output
from snnkit.train.checkpoint import save_checkpoint
from snnkit.train.state import LAST_CHECKPOINT, PREV_CHECKPOINT, RunState
from snnkit.utils import params_hash, resolve_device, seed_everything

log = logging.getLogger(__name__)

__all__ = [
    "Callback",
    "History",
    "Trainer",
    "LAST_CHECKPOINT",
    "PREV_CHECKPOINT",
    "count_correct",
    "resume_note",
    "move_to_device",
]

DEFAULT_CKPT_EVERY_S = 600.0


# ------------------------------------------------------------------------------------------ callbacks
class Callback:
    """Hooks into :class:`Trainer`; every hook is a no-op here, override the ones you need.

    Call order in :meth:`Trainer.fit`: ``on_fit_start`` (before a checkpoint is restored, so whatever
    it sets up that must survive a restart belongs in :meth:`state_dict`), ``watch`` (after the restore:
    modules whose activity the callback reads from ``trainer.activity``), then per epoch ``on_epoch_start`` (called again when a run resumes in the middle of that epoch, so keep it
    idempotent), per step ``extra_loss`` → backward → ``on_after_backward`` → gradient clipping →
    optimiser step → ``global_step += 1`` → ``on_step_end``, then ``on_epoch_end`` (after validation,
    before the scheduler step and the checkpoint), and ``on_fit_end``.
    """

    def on_fit_start(self, trainer: Trainer) -> None:
        """Called once at the start of :meth:`Trainer.fit`."""

    def watch(self, model: nn.Module) -> Iterable[str | nn.Module | Output]:
        """Modules (or their names in ``model.named_modules()``) whose training activity this callback
        reads from ``trainer.activity[name]`` (see :mod:`snnkit.train.activity`); ``Output(name)`` where it
        reads only the output (the input is then not kept, and a neuron may take a donated input over).
        Called at fit start."""
        return ()

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Called before the first batch of ``epoch`` (0-based)."""

    def extra_loss(self, trainer: Trainer, outputs: Any, targets: Any) -> Tensor | None:
        """Return a scalar added to the loss before backward (e.g. a regulariser), or None."""
        return None

    def on_after_backward(self, trainer: Trainer) -> None:
        """Called after ``backward`` and before clipping / the optimiser step (e.g. gradient masking)."""

    def on_step_end(self, trainer: Trainer) -> None:
        """Called after the optimiser step and ``trainer.global_step += 1`` (e.g. DST prune/grow)."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        """Called at the end of ``epoch`` (0-based); may add entries to ``logs`` (the history record)."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """Called once when training has finished (not when a finished run's final state is loaded)."""

    def state_dict(self) -> dict[str, Any]:
        """State saved in checkpoints; must hold only tensors, numbers, strings, lists, tuples, dicts."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class History(list):
    """The per-epoch records of a fit: a list of dicts (epoch, train_loss, train_accuracy, val_loss,
    val_accuracy, lr, epoch_time_s, global_step, plus whatever callbacks add)."""

    def as_dataframe(self):  # noqa: ANN201 - pandas is optional
        """The history as a pandas DataFrame (one row per epoch)."""
        import pandas as pd

        return pd.DataFrame(list(self))

    def last(self) -> dict[str, Any]:
        if not self:
            raise IndexError("the history is empty: no epoch has finished yet")
        return self[-1]


# ------------------------------------------------------------------------------------------- helpers
def move_to_device(obj: Any, device: torch.device) -> Any:
    """Move tensors nested in tuples, lists and dicts to ``device`` (other objects are returned as is)."""
    if isinstance(obj, Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: move_to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(move_to_device(v, device) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(move_to_device(v, device) for v in obj)
    return obj


def _primary(outputs: Any) -> Tensor:
    """The tensor accuracy is computed from: ``outputs`` itself or the first element of a tuple/list."""
    if isinstance(outputs, (tuple, list)) and outputs:
        outputs = outputs[0]
    if not isinstance(outputs, Tensor):
        raise ConfigError(
            "model output", type(outputs).__name__, "a tensor [B, C] (or a tuple whose first item is one)"
        )
    return outputs


def count_correct(outputs: Any, targets: Tensor) -> int:
    """Number of samples whose argmax over the last dim of ``outputs`` equals the target class.

    Works for logits and for spike counts. One-hot / probability targets (same rank as the outputs,
    floating point) are reduced with argmax too.
    """
    out = _primary(outputs).detach()
    pred = out.argmax(dim=-1)
    tgt = targets.detach()
    if tgt.dim() == out.dim() and tgt.is_floating_point():
        tgt = tgt.argmax(dim=-1)
    return int((pred == tgt.to(pred.device)).sum().item())


def _batch_size_of(targets: Any) -> int:
    if isinstance(targets, Tensor) and targets.dim() > 0:
        return int(targets.shape[0])
    if isinstance(targets, (list, tuple)):
        return len(targets)
    raise ConfigError("batch targets", type(targets).__name__, "a tensor whose first dim is the batch")


def _split_batch(batch: Any) -> tuple[Any, Any]:
    if isinstance(batch, dict) and "inputs" in batch and "targets" in batch:
        return batch["inputs"], batch["targets"]
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise ConfigError(
        "batch",
        f"{type(batch).__name__} of length {len(batch) if hasattr(batch, '__len__') else '?'}",
        "a pair (inputs, targets): the dataset should return (x, y) or collate_fn should build the pair",
    )


def _describe(obj: Any) -> Any:
    """``obj`` as stable, JSON-able data for a run identity: no memory addresses, tensors by content."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, Tensor):
        data = obj.detach().cpu().contiguous().reshape(-1)
        digest = hashlib.sha256(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"").hexdigest()
        return {"tensor": list(obj.shape), "dtype": str(data.dtype), "sha256": digest[:16]}
    if isinstance(obj, dict):
        return {str(k): _describe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_describe(v) for v in obj]
    if isinstance(obj, functools.partial):
        return {
            "partial": _describe(obj.func),
            "args": _describe(obj.args),
            "kwargs": _describe(obj.keywords),
        }
    if isinstance(obj, nn.Module):  # e.g. a loss module: its settings and buffers (weights) count
        buffers = {name: _describe(b) for name, b in obj.named_buffers()}
        return {
            "module": _describe(type(obj)),
            "repr": repr(obj),
            "settings": _settings(obj),
            "buffers": buffers,
        }
    if isinstance(obj, type) or callable(obj) and hasattr(obj, "__qualname__"):
        return f"{getattr(obj, '__module__', '?')}.{obj.__qualname__}"
    text = repr(obj)
    return f"{type(obj).__module__}.{type(obj).__qualname__}" if " at 0x" in text else text


def _settings(module: nn.Module) -> dict[str, Any]:
    """The plain settings of ``module`` and its submodules that no ``repr`` need show (``T``, ``enc``,
    ``label_smoothing``, ...): public attributes holding None, bool, numbers, str or tuples/lists of them."""

    def plain(v: Any) -> bool:
        return (
            v is None
            or isinstance(v, (bool, int, float, str))
            or (isinstance(v, (list, tuple)) and all(plain(x) for x in v))
        )

    found = {}
    for name, mod in module.named_modules():
        own = {k: _describe(v) for k, v in vars(mod).items() if k[0] != "_" and k != "training" and plain(v)}
        if own:
            found[name] = own
    return found


def _batch_seed(seed: int, step: int, rank: int) -> int:
    """Seed of ``trainer.batch_generator`` for the batch after ``step`` optimiser steps on ``rank``."""
    return (seed * 6_364_136_223_846_793_005 + step * 1_442_695_040_888_963_407 + rank * 97 + 1) % (2**63 - 1)


def _eval_seed(seed: int, rank: int) -> int:
    """Seed of the torch generators during evaluation: fixed per (trainer seed, rank), unlike any epoch's."""
    return (seed * 2_654_435_761 + rank * 40_503 + 0x5EED) % (2**63 - 1)


def _epoch_seed(seed: int, epoch: int) -> int:
    """Seed of epoch ``epoch``'s permutation: a fixed mix of (seed, epoch) into 63 bits."""
    return (seed * 1_000_003 + epoch * 7_919 + 12_345) % (2**63 - 1)


# ------------------------------------------------------------------------------------------- trainer
class Trainer:
    """Train a model with backpropagation through time; see the module docstring for the guarantees.

    Args:
        model: the network; ``outputs = model(inputs)`` with ``inputs`` as the batch delivers them
            (a tensor, or a tuple/dict of tensors, moved to the device recursively).
        loss_fn: ``loss_fn(outputs, targets) -> scalar tensor`` (mean over the batch).
        optimizer: an ``Optimizer`` or a factory ``callable(params) -> Optimizer``
            (e.g. ``functools.partial(torch.optim.Adam, lr=1e-3)``).
        epochs, batch_size, seed: as named; ``batch_size`` is the global batch under torchrun.
        scheduler: None or a factory ``callable(optimizer) -> LRScheduler`` stepped once per epoch.
        device: ``auto`` (DirectML, CUDA, MPS, CPU in that order), ``cpu``, ``cuda``, ... .
        amp: mixed precision via ``torch.autocast`` (bfloat16 on the CPU, float16 + GradScaler on CUDA).
        grad_clip: max global gradient L2 norm, or None.
        callbacks: :class:`Callback` instances.
        ckpt_dir: where ``last.pt``/``prev.pt`` live; None disables checkpointing.
        tb_dir: TensorBoard log directory, or None.
        progress: show tqdm progress bars.
        eval_batch_size: batch size of :meth:`evaluate`/:meth:`predict` (default ``batch_size``).
        collate_fn: builds a batch ``(inputs, targets)`` from a list of samples (default: torch's).
        drop_last: drop the last incomplete training batch of each epoch.
        ckpt_every_steps: also checkpoint every this many optimiser steps (mid-epoch).
        ckpt_every_s: also checkpoint when this many seconds passed since the last save (None: off).
        progress_file: where to write the JSON progress object (phase, epoch, step, rate, ETA, ...;
            see :mod:`snnkit.train.state`), or None.
        transform: ``transform(inputs, generator) -> inputs`` applied to training batches only, with
            :attr:`batch_generator` (e.g. :func:`snnkit.data.random_crop_flip`).
        run_hash: the run's identity (a checkpoint of another identity is refused); default: a hash of
            :meth:`identity`. Notebooks pass their parameter hash.

    Attributes callbacks may read: ``epoch`` (0-based, current), ``global_step`` (optimiser steps done),
    ``steps_per_epoch`` and ``total_steps`` (set at the start of :meth:`fit`), ``batch_generator``
    (this batch's seeded generator), ``activity`` (watched modules' input/output in the current training
    step; see :meth:`Callback.watch`), ``resumed_from`` (None or ``{"epoch", "step", "checkpoint",
    "fallback"}``, plus ``"finished": True`` when the checkpoint held the finished training, which was
    loaded instead of trained again), ``history``.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        loss_fn: Callable[[Any, Any], Tensor],
        optimizer: torch.optim.Optimizer | Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer],
        epochs: int,
        batch_size: int,
        seed: int,
        scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
        device: str | torch.device = "auto",
        amp: bool = False,
        grad_clip: float | None = None,
        callbacks: Sequence[Callback] = (),
        ckpt_dir: str | Path | None = None,
        tb_dir: str | Path | None = None,
        progress: bool = True,
        eval_batch_size: int | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        drop_last: bool = False,
        ckpt_every_steps: int | None = None,
        ckpt_every_s: float | None = DEFAULT_CKPT_EVERY_S,
        progress_file: str | Path | None = None,
        transform: Callable[[Any, torch.Generator], Any] | None = None,
        run_hash: str | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ConfigError("model", type(model).__name__, "a torch.nn.Module")
        if not callable(loss_fn):
            raise ConfigError("loss_fn", loss_fn, "a callable loss_fn(outputs, targets) -> scalar tensor")
        check_positive_int("epochs", epochs)
        check_positive_int("batch_size", batch_size)
        check_positive_int("eval_batch_size", eval_batch_size, allow_none=True)
        check_positive_int("ckpt_every_steps", ckpt_every_steps, allow_none=True)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ConfigError("seed", seed, "a non-negative integer")
        check_positive_number("grad_clip", grad_clip, allow_none=True)
        check_positive_number("ckpt_every_s", ckpt_every_s, allow_none=True)
        if not isinstance(amp, bool):
            raise ConfigError("amp", amp, "True or False")
        if transform is not None and not callable(transform):
            raise ConfigError(
                "transform", transform, "None or a callable transform(inputs, generator) -> inputs"
            )
        callbacks = list(callbacks)
        for i, cb in enumerate(callbacks):
            if not isinstance(cb, Callback):
                raise ConfigError(
                    f"callbacks[{i}]", type(cb).__name__, "an instance of snnkit.train.Callback"
                )

        self.epochs = epochs
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.seed = seed
        self.loss_fn = loss_fn
        self.amp = amp
        self.grad_clip = None if grad_clip is None else float(grad_clip)
        self.callbacks = callbacks
        self.ckpt_dir = Path(ckpt_dir) if ckpt_dir is not None else None
        self.tb_dir = Path(tb_dir) if tb_dir is not None else None
        self.progress = bool(progress)
        self.collate_fn = collate_fn or default_collate
        self.drop_last = bool(drop_last)
        self.ckpt_every_steps = ckpt_every_steps
        self.ckpt_every_s = ckpt_every_s
        self.progress_file = Path(progress_file) if progress_file is not None else None
        self.transform = transform
        self.batch_generator: torch.Generator | None = None
        self.activity: dict[str, Activity] = {}
        self._recorder: ActivityRecorder | None = None

        self.dist, self.device = dist_utils.setup(resolve_device(device))
        self.model = model.to(self.device)
        self._net: nn.Module | None = dist_utils.wrap_model(self.model, self.dist, self.device)

        if isinstance(optimizer, torch.optim.Optimizer):
            self.optimizer = optimizer
        elif callable(optimizer):
            self.optimizer = optimizer(self.model.parameters())
            if not isinstance(self.optimizer, torch.optim.Optimizer):
                raise ConfigError(
                    "optimizer", optimizer, "an Optimizer or a factory callable(params) returning one"
                )
        else:
            raise ConfigError(
                "optimizer", optimizer, "an Optimizer or a factory callable(params) -> Optimizer"
            )
        if scheduler is None:
            self.scheduler = None
        elif callable(scheduler):
            self.scheduler = scheduler(self.optimizer)
            if not (hasattr(self.scheduler, "step") and hasattr(self.scheduler, "state_dict")):
                raise ConfigError(
                    "scheduler", scheduler, "None or a factory callable(optimizer) -> LRScheduler"
                )
        else:
            raise ConfigError("scheduler", scheduler, "None or a factory callable(optimizer) -> LRScheduler")

        self._amp_dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda") if (amp and self.device.type == "cuda") else None
        self.run_hash = run_hash if run_hash is not None else params_hash(self.identity())
        self._has_extra = any(type(cb).extra_loss is not Callback.extra_loss for cb in callbacks)

        self.global_step = 0
        self.epoch = 0
        self.steps_per_epoch: int | None = None
        self.total_steps: int | None = None
        self.resumed_from: dict[str, Any] | None = None
        self.history = History()
        self._reset_partial()
        self._state = RunState(None, self.run_hash, dist=self.dist, device=self.device)  # fit() makes its own
        self._writer = None

    # ----------------------------------------------------------------------------------- properties
    @property
    def is_main(self) -> bool:
        """True on the process that writes checkpoints, TensorBoard events and progress bars."""
        return self.dist.is_main

    @property
    def last_checkpoint(self) -> Path | None:
        return self.ckpt_dir / LAST_CHECKPOINT if self.ckpt_dir is not None else None

    def identity(self) -> dict[str, Any]:
        """Everything that changes this run's results, as plain data (the default ``run_hash`` hashes it).

        Optimiser class and every param-group hyper-parameter, scheduler class and constructor state,
        loss function (qualified name; a ``functools.partial``'s arguments; a module's settings and
        buffers), the model's class, ``repr``, its modules' plain settings (public attributes such as
        ``T``) and parameter names/shapes, callbacks (class and state at construction),
        the transform, epochs, batch size, seed, drop_last, amp and grad_clip.
        """
        return {
            "optimizer": _describe(type(self.optimizer)),
            "param_groups": [
                {k: _describe(v) for k, v in group.items() if k != "params"}
                for group in self.optimizer.param_groups
            ],
            "scheduler": None
            if self.scheduler is None
            else [_describe(type(self.scheduler)), _describe(self.scheduler.state_dict())],
            "loss_fn": _describe(self.loss_fn),
            "model": _describe(type(self.model)),
            "model_repr": repr(self.model),
            "model_settings": _settings(self.model),
            "params": [[n, list(p.shape)] for n, p in self.model.named_parameters()],
            "callbacks": [[_describe(type(cb)), _describe(cb.state_dict())] for cb in self.callbacks],
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "drop_last": self.drop_last,
            "amp": self.amp,
            "grad_clip": self.grad_clip,
            "transform": _describe(self.transform),
        }

    def _reset_partial(self) -> None:
        self.step_in_epoch = 0
        self._loss_sum = 0.0
        self._extra_sum = 0.0
        self._correct = 0
        self._count = 0
        self._elapsed = 0.0

    # -------------------------------------------------------------------------------------- batches
    def _epoch_batches(self, n: int, epoch: int) -> list[tuple[list[int], int]]:
        """This rank's batches of ``epoch``: (indices, size of the global batch they belong to)."""
        gen = torch.Generator()
        gen.manual_seed(_epoch_seed(self.seed, epoch))
        perm = torch.randperm(n, generator=gen).tolist()
        bs = self.batch_size
        batches = [perm[i : i + bs] for i in range(0, n, bs)]
        if self.drop_last and batches and len(batches[-1]) < bs:
            batches.pop()
        if not self.dist.enabled:
            return [(b, len(b)) for b in batches]
        out = []
        for b in batches:
            if len(b) < self.dist.world_size:  # some rank would get nothing: skip on every rank
                log.debug("dropping a final batch of %d samples (< world size)", len(b))
                continue
            out.append((dist_utils.shard(b, self.dist), len(b)))
        return out

    def _loader(self, dataset: Dataset, batches: Sequence[Sequence[int]]) -> DataLoader:
        # A dedicated generator keeps DataLoader from drawing its base seed from the global torch RNG
        # (which would make the RNG stream depend on where an epoch was entered).
        gen = torch.Generator()
        gen.manual_seed(self.seed)
        return DataLoader(
            dataset, batch_sampler=[list(b) for b in batches], collate_fn=self.collate_fn, generator=gen
        )

    def _eval_batches(self, n: int) -> list[list[int]]:
        idx = list(range(n))
        if self.dist.enabled:
            idx = idx[self.dist.rank :: self.dist.world_size]
        bs = self.eval_batch_size
        return [idx[i : i + bs] for i in range(0, len(idx), bs)]

    def _autocast(self):
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self._amp_dtype)

    # ------------------------------------------------------------------------------------------ loss
    def _check_loss(self, loss: Any, where: str) -> Tensor:
        key = "loss_fn" if where != "extra_loss" else "Callback.extra_loss"
        if not isinstance(loss, Tensor):
            raise ConfigError(key, f"returned {type(loss).__name__} ({where})", "a scalar tensor")
        if loss.numel() != 1:
            raise ConfigError(
                key,
                f"returned a tensor of shape {tuple(loss.shape)} ({where})",
                "a scalar tensor (reduce the batch)",
            )
        return loss.reshape(())

    def _raise_non_finite(self, value: float, what: str) -> None:
        raise RuntimeError(
            f"{what} is {value} at epoch {self.epoch} (0-based), step {self.global_step}: training diverged. "
            "Lower the learning rate, set grad_clip, disable amp, or check the inputs for NaN/inf"
        )

    # ----------------------------------------------------------------------------------------- fit
    def fit(self, train_set: Dataset, val_set: Dataset | None = None) -> History:
        """Train for ``epochs`` epochs (resuming from ``ckpt_dir`` if it holds this run's checkpoint).

        When the checkpoint there is this run's finished state, it is loaded and training is skipped.
        Returns the history.
        """
        n = len(train_set)  # type: ignore[arg-type]
        if n < 1:
            raise ConfigError("train_set", "an empty dataset", "at least one sample")
        self.steps_per_epoch = len(self._epoch_batches(n, 0))
        if not self.steps_per_epoch:
            raise ConfigError(
                "batch_size", self.batch_size, f"<= the training set size ({n}) when drop_last=True"
            )
        self.total_steps = self.steps_per_epoch * self.epochs
        dist_utils.barrier(self.dist)
        self.global_step, self.epoch = 0, 0
        self.history = History()
        self._reset_partial()

        seed_everything(self.seed + self.dist.rank)
        for cb in self.callbacks:
            cb.on_fit_start(self)

        self._state = RunState(
            self.ckpt_dir,
            self.run_hash,
            every_steps=self.ckpt_every_steps,
            every_seconds=self.ckpt_every_s,
            progress_file=self.progress_file,
            dist=self.dist,
            device=self.device,
        )
        state = self._state.load()
        self.resumed_from = self._state.resumed_from
        if state is not None:
            self._load_state(state)
            if state.get("done"):
                self.resumed_from = {**self.resumed_from, "finished": True}  # loaded, not resumed
                self._state.restore_rng()
                self._report_progress("done", force=True)
                log.info(
                    "run %s already finished (%s holds its final checkpoint): skipped training, loaded the "
                    "final state (%d epochs, step %d)",
                    self.run_hash,
                    self.ckpt_dir,
                    self.epoch,
                    self.global_step,
                )
                return self.history

        self._open_writer(purge_step=len(self.history) + 1 if state is not None else None)
        if self._net is None:  # a later fit under torchrun: wrap again
            self._net = dist_utils.wrap_model(self.model, self.dist, self.device)
        watched = [item for cb in self.callbacks for item in cb.watch(self.model)]
        self._recorder = ActivityRecorder(self.model, watched) if watched else None
        try:
            self.model.train()
            for epoch in range(self.epoch, self.epochs):
                self.epoch = epoch
                start = self.step_in_epoch
                if start == 0:  # at an epoch boundary the RNG state is that before on_epoch_start
                    self._state.restore_rng()
                for cb in self.callbacks:
                    cb.on_epoch_start(self, epoch)
                self._state.restore_rng()  # mid-epoch: on_epoch_start was called before the save too
                self._train_epoch(train_set, n, epoch, start)
                self._end_epoch(epoch, val_set)
            self._state.restore_rng()
            self.epoch = self.epochs
            self._report_progress("done", force=True)
            for cb in self.callbacks:
                cb.on_fit_end(self)
        finally:
            self._close_writer()
            if self.dist.enabled:
                # Drop the DDP wrapper (evaluate/predict use the bare model): its reducer keeps the process
                # group alive, and a group still alive at interpreter exit can abort it (see distributed.py).
                self._net = None
            if self._recorder is not None:
                self._recorder.close()
                self._recorder = None
            self.activity = {}
        return self.history

    def _report_progress(self, phase: str, force: bool = False) -> None:
        self._state.progress(
            phase=phase,
            epoch=min(self.epoch + 1, self.epochs),
            epochs=self.epochs,
            step=self.global_step,
            total_steps=self.total_steps,
            force=force,
        )

    def _train_epoch(self, dataset: Dataset, n: int, epoch: int, start: int) -> None:
        from tqdm.auto import tqdm

        batches = self._epoch_batches(n, epoch)
        loader = self._loader(dataset, [b for b, _ in batches[start:]])
        bar = tqdm(
            total=len(batches),
            initial=start,
            desc=f"epoch {epoch + 1}/{self.epochs}",
            leave=False,
            disable=not (self.progress and self.is_main),
            dynamic_ncols=True,
        )
        self._report_progress("train", force=True)
        t0 = time.perf_counter()
        try:
            for k, batch in enumerate(loader):
                _, global_n = batches[start + k]
                self._train_step(batch, global_n)
                bar.update(1)
                if self._count and (k % 10 == 0):
                    bar.set_postfix(loss=f"{self._loss_sum / self._count:.4f}", refresh=False)
                if start + k + 1 < len(batches) and self._state.due(self.global_step):
                    self._elapsed += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    self._save(done=False)
                self._report_progress("train")
        finally:
            bar.close()
        self._elapsed += time.perf_counter() - t0

    def _train_step(self, batch: Any, global_n: int) -> None:
        inputs, targets = _split_batch(batch)
        inputs = move_to_device(inputs, self.device)
        targets = move_to_device(targets, self.device)
        self.batch_generator = torch.Generator().manual_seed(
            _batch_seed(self.seed, self.global_step, self.dist.rank)
        )
        if self.transform is not None:
            inputs = self.transform(inputs, self.batch_generator)
        local_n = _batch_size_of(targets)
        with self._autocast():
            rec = self._recorder
            if rec is not None:
                rec.recording = True
            try:
                outputs = self._net(inputs)
            finally:
                if rec is not None:
                    rec.recording = False
                    self.activity = rec.activity
            loss = self._check_loss(self.loss_fn(outputs, targets), "train")
            extras = [e for cb in self.callbacks if (e := cb.extra_loss(self, outputs, targets)) is not None]
        extra = None
        if extras:
            extra = self._check_loss(sum(extras), "extra_loss")  # type: ignore[arg-type]
        total = loss if extra is None else loss + extra
        total_value = float(total.detach().float().item())
        if not math.isfinite(total_value):
            self._raise_non_finite(total_value, "the training loss")
        if self.dist.enabled:
            # DDP averages gradients over ranks; weight each rank's mean loss by its share of the global
            # batch so the result is the gradient of the global-batch mean even for unequal shards.
            scale = local_n * self.dist.world_size / global_n
            if scale != 1.0:
                total = total * scale
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(total).backward()
        else:
            total.backward()
        for cb in self.callbacks:
            cb.on_after_backward(self)
        if self.grad_clip is not None:
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.global_step += 1
        self.step_in_epoch += 1
        self._loss_sum += float(loss.detach().float().item()) * local_n
        if extra is not None:
            self._extra_sum += float(extra.detach().float().item()) * local_n
        self._correct += count_correct(outputs, targets)
        self._count += local_n
        for cb in self.callbacks:
            cb.on_step_end(self)
        if self._recorder is not None:
            self._recorder.clear()
            self.activity = {}

    def _end_epoch(self, epoch: int, val_set: Dataset | None) -> None:
        loss_sum, extra_sum, correct, count = dist_utils.all_reduce_sums(
            [self._loss_sum, self._extra_sum, self._correct, self._count], self.dist, self.device
        )
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / count if count else float("nan"),
            "train_accuracy": correct / count if count else float("nan"),
        }
        if self._has_extra:
            record["train_extra_loss"] = extra_sum / count if count else float("nan")
        if val_set is not None:
            val = self.evaluate(val_set)
            record["val_loss"], record["val_accuracy"] = val["loss"], val["accuracy"]
        else:
            record["val_loss"], record["val_accuracy"] = None, None
        record["lr"] = float(self.optimizer.param_groups[0]["lr"])
        record["epoch_time_s"] = self._elapsed
        record["global_step"] = self.global_step
        for cb in self.callbacks:
            cb.on_epoch_end(self, epoch, record)
        if self.scheduler is not None:
            self.scheduler.step()
        self.history.append(record)
        self._log_epoch(record)
        self.epoch = epoch + 1
        self._reset_partial()
        self._save(done=self.epoch == self.epochs)
        self._report_progress("train", force=True)

    def _log_epoch(self, record: dict[str, Any]) -> None:
        def fmt(v: Any) -> str:
            return f"{v:.4g}" if isinstance(v, float) else str(v)

        if self.is_main:
            log.info(
                "epoch %d/%d: %s",
                record["epoch"],
                self.epochs,
                ", ".join(f"{k}={fmt(v)}" for k, v in record.items() if k != "epoch"),
            )
        if self._writer is not None:
            for key, value in record.items():
                if key in ("epoch", "global_step") or isinstance(value, bool):
                    continue
                if isinstance(value, (int, float)):
                    tag = key.replace("_", "/", 1) if key.startswith(("train_", "val_")) else key
                    self._writer.add_scalar(tag, value, record["epoch"])
            self._writer.flush()

    # ------------------------------------------------------------------------------------ evaluate
    @contextlib.contextmanager
    def _eval_rng(self):
        """Run the body on torch generators seeded from the trainer seed, then restore the global ones.

        Every evaluation of the same weights then draws the same noise (rate encoding, stochastic
        neurons), and training after an evaluation continues the stream it would have had without it.
        Python's and NumPy's generators are not forked: models should draw from torch.
        """
        if self.device.type == "cuda":  # pragma: no cover - no GPU in CI
            devices, device_type = list(range(torch.cuda.device_count())), "cuda"
        elif self.device.type == "mps":  # pragma: no cover
            devices, device_type = [0], "mps"
        else:
            devices, device_type = [], "cuda"
        with torch.random.fork_rng(devices=devices, device_type=device_type):
            torch.manual_seed(_eval_seed(self.seed, self.dist.rank))
            yield

    @torch.no_grad()
    def _run_eval(self, dataset: Dataset, keep_outputs: bool) -> tuple[float, int, int, list, list, list]:
        n = len(dataset)  # type: ignore[arg-type]
        batches = self._eval_batches(n)
        was_training = self.model.training
        self.model.eval()
        loss_sum, correct, count = 0.0, 0, 0
        outs: list[Tensor] = []
        tgts: list[Tensor] = []
        order: list[list[int]] = []
        try:
            with self._eval_rng():
                loader = self._loader(dataset, batches)
                for idx, batch in zip(batches, loader):
                    inputs, targets = _split_batch(batch)
                    inputs = move_to_device(inputs, self.device)
                    targets = move_to_device(targets, self.device)
                    with self._autocast():
                        outputs = self.model(inputs)  # unwrapped: no DDP gradient/buffer sync needed
                        loss = self._check_loss(self.loss_fn(outputs, targets), "eval")
                    b = _batch_size_of(targets)
                    loss_sum += float(loss.float().item()) * b
                    correct += count_correct(outputs, targets)
                    count += b
                    if keep_outputs:
                        outs.append(_primary(outputs).detach().float().cpu())
                        tgts.append(targets.detach().cpu())
                        order.append(idx)
        finally:
            self.model.train(was_training)
        return loss_sum, correct, count, outs, tgts, order

    def evaluate(self, dataset: Dataset) -> dict[str, float]:
        """Mean loss and accuracy over ``dataset`` (model in eval mode, no gradients, global under DDP)."""
        if len(dataset) < 1:  # type: ignore[arg-type]
            raise ConfigError("dataset", "an empty dataset", "at least one sample to evaluate")
        loss_sum, correct, count, *_ = self._run_eval(dataset, keep_outputs=False)
        loss_sum, correct, count = dist_utils.all_reduce_sums(
            [loss_sum, correct, count], self.dist, self.device
        )
        return {"loss": loss_sum / count, "accuracy": correct / count}

    def predict(self, dataset: Dataset) -> tuple[Tensor, Tensor]:
        """Outputs ``[N, C]`` (first output if the model returns a tuple) and targets ``[N]``, on the CPU,
        in dataset order (gathered from every rank under DDP)."""
        if len(dataset) < 1:  # type: ignore[arg-type]
            raise ConfigError("dataset", "an empty dataset", "at least one sample to predict")
        _, _, _, outs, tgts, order = self._run_eval(dataset, keep_outputs=True)
        if not self.dist.enabled:
            return torch.cat(outs), torch.cat(tgts)
        gathered = dist_utils.all_gather_objects(
            (torch.cat(outs), torch.cat(tgts), [i for b in order for i in b]), self.dist, self.device
        )
        out = torch.cat([g[0] for g in gathered])
        tgt = torch.cat([g[1] for g in gathered])
        pos = torch.tensor([i for g in gathered for i in g[2]])
        inv = torch.argsort(pos)
        return out[inv], tgt[inv]

    # --------------------------------------------------------------------------------- checkpoints
    def _payload(self) -> dict[str, Any]:
        """The trainer's part of a checkpoint (RunState adds identity, ``done``, RNG and the position:
        ``epoch`` = epochs completed, ``step`` = :attr:`global_step`)."""
        partial = dist_utils.all_reduce_sums(
            [self._loss_sum, self._extra_sum, self._correct, self._count], self.dist, self.device
        )
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "step_in_epoch": self.step_in_epoch,
            "partial": {
                "loss_sum": partial[0],
                "extra_sum": partial[1],
                "correct": int(partial[2]),
                "count": int(partial[3]),
                "elapsed": self._elapsed,
            },
            "history": [dict(r) for r in self.history],
        }

    def _save(self, done: bool) -> None:
        if self.ckpt_dir is None:
            return
        self._state.save(self._payload(), epoch=self.epoch, step=self.global_step, done=done)

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write the trainer's full state to ``path`` (atomic, with a .sha256; call on every rank under
        DDP). ``ckpt_dir``'s own ``last.pt``/``prev.pt`` are not touched."""
        state = RunState(None, self.run_hash, dist=self.dist, device=self.device).snapshot(
            self._payload(), epoch=self.epoch, step=self.global_step
        )
        if self.is_main:
            save_checkpoint(path, state)
        dist_utils.barrier(self.dist)
        return Path(path)

    def _load_state(self, state: dict[str, Any]) -> None:
        resumed = self._state.resumed_from  # RunState.load checked the position (epochs done, steps done)
        where = resumed["checkpoint"]
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scheduler is not None and state.get("scheduler") is not None:
                self.scheduler.load_state_dict(state["scheduler"])
            if self.scaler is not None and state.get("scaler") is not None:
                self.scaler.load_state_dict(state["scaler"])
            cb_states = state["callbacks"]
            if len(cb_states) != len(self.callbacks):
                raise ValueError(
                    f"it holds {len(cb_states)} callback states but the trainer has "
                    f"{len(self.callbacks)} callbacks"
                )
            for cb, cb_state in zip(self.callbacks, cb_states):
                cb.load_state_dict(cb_state)
            self.epoch, self.global_step = resumed["epoch"], resumed["step"]
            self.step_in_epoch = int(state["step_in_epoch"])
            self.history = History(dict(r) for r in state["history"])
            partial = state["partial"]
            first = self.dist.rank == 0  # global partial sums go to rank 0 only; others start at 0
            self._loss_sum = float(partial["loss_sum"]) if first else 0.0
            self._extra_sum = float(partial["extra_sum"]) if first else 0.0
            self._correct = int(partial["correct"]) if first else 0
            self._count = int(partial["count"]) if first else 0
            self._elapsed = float(partial["elapsed"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise CheckpointError(
                f"checkpoint {where} does not fit this model/trainer ({type(exc).__name__}: {exc}); use "
                "another ckpt_dir or delete the checkpoints folder to start from scratch"
            ) from exc

    # -------------------------------------------------------------------------------- tensorboard
    def _open_writer(self, purge_step: int | None) -> None:
        if self.tb_dir is None or not self.is_main:
            return
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(self.tb_dir), purge_step=purge_step)

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def resume_note(trainer: Trainer, where: Any) -> str | None:
    """One message saying whether ``trainer.fit`` resumed or loaded a finished training (None: neither).
    ``where``: what to delete to train again (the run directory)."""
    r = trainer.resumed_from
    if r and r.get("finished"):
        return ("loaded the finished training from {} instead of training again: a run's identity is its\n"
                "parameters, not the notebook's code. To train again after editing code, set checkpoint = False\n"
                "in the parameters cell or delete {}").format(r["checkpoint"], where)
    if r:
        return f"resumed from epoch {r['epoch']}, step {r['step']}" + (
            " (previous checkpoint: the last was corrupt)" if r["fallback"] else "")
    return None
