"""Variable-length sequences (event data such as SHD): datasets, padding collate, masks, masked reductions.

Batches are time-first like the encodings (:mod:`snnkit.data.encoding`): :func:`pad_collate` turns
samples ``(x_i [T_i, C], y_i)`` into ``((x [T_max, B, C] float32, lengths [B] int64), targets [B])``,
zero-padded at the END of each sequence by default. A model for such data takes the tuple ``(x, lengths)``.

``pad="start"`` puts the zeros BEFORE each sequence instead, so that the last step of the batch is the
real end of every sequence: the placement of the SPSN authors' SHD pipeline (Yarga & Wood, arXiv
2306.12666), whose ``last`` read-out is the final step. The same ``pad`` is then passed to the masks and
reductions below (and a model states its placement in a ``pad`` attribute, which the spike recorder reads).

Padded steps must not count anywhere: :func:`time_mask` marks the real steps, :func:`masked_sum` /
:func:`masked_mean` reduce over real steps only (a firing rate is ``masked_mean(spikes, lengths)``),
and :func:`last_step` reads each sequence at its own last real step. A loss built from these is the
same whatever ``T_max`` the batch was padded to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from snnkit.data.registry import LabelledDataset
from snnkit.errors import ConfigError, DataError, check_positive_int, check_positive_number

__all__ = [
    "PADS",
    "EventSequenceDataset",
    "SequenceDataset",
    "bin_events",
    "last_step",
    "masked_max",
    "masked_mean",
    "masked_sum",
    "pad_collate",
    "time_mask",
]


PADS: tuple[str, ...] = ("end", "start")


def _check_pad(pad: str, where: str) -> None:
    if pad not in PADS:
        raise ConfigError("pad", pad, f"one of {list(PADS)} (zeros after or before each sequence)", where=where)


class SequenceDataset(LabelledDataset):
    """Dense sequences of different lengths: ``sequences[i]`` float32 ``[T_i, C]`` (``T_i >= 1``, one C).

    ``dataset[i]`` is ``(sequences[i], targets[i])``; batch with ``collate_fn=pad_collate``.
    ``meta``: ``stand_in``, ``source``, ``origin`` (see :class:`~snnkit.data.registry.LabelledDataset`).
    """

    def __init__(
        self, sequences: Sequence[Tensor], targets: Tensor, classes: Sequence[str], name: str, **meta: Any
    ):
        super().__init__(targets, classes, name, **meta)
        if len(sequences) != len(self.targets):
            raise DataError(f"{name}: {len(sequences)} sequences but {len(self.targets)} targets")
        self.sequences = [torch.as_tensor(s, dtype=torch.float32) for s in sequences]
        channels = {tuple(s.shape[1:]) for s in self.sequences}
        bad = next((i for i, s in enumerate(self.sequences) if s.ndim != 2 or s.shape[0] < 1), None)
        if bad is not None or len(channels) > 1:
            where = f"sequence {bad} has shape {tuple(self.sequences[bad].shape)}" if bad is not None else (
                f"channel counts differ: {sorted(c[0] for c in channels)}")
            raise DataError(f"{name}: sequences must be [T_i, C] with T_i >= 1 and one C; {where}")

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.sequences[index], self.targets[index]

    def _take(self, idx: Tensor) -> list[Tensor]:
        return [self.sequences[i] for i in idx.tolist()]

    @property
    def lengths(self) -> Tensor:
        """``T_i`` of every sample, int64 ``[N]``."""
        return torch.tensor([s.shape[0] for s in self.sequences], dtype=torch.int64)

    @property
    def n_channels(self) -> int:
        return int(self.sequences[0].shape[1]) if self.sequences else 0


def _time_bins(times: Any, dt: float) -> Tensor:
    """The step ``floor(t / dt)`` of every time (int64): the one binning rule of samples and lengths."""
    return torch.floor(torch.as_tensor(times, dtype=torch.float64) / dt).to(torch.int64)


def bin_events(times: Tensor, units: Tensor, n_channels: int, dt: float, n_steps: int | None = None) -> Tensor:
    """Events ``(times [E] in seconds, units [E])`` → counts float32 ``[T, n_channels]`` in bins of ``dt``.

    Event ``e`` falls in step ``floor(times[e] / dt)``; ``T`` is ``n_steps`` (later events are dropped)
    or, by default, the step of the last event + 1 (at least 1).
    """
    units = torch.as_tensor(units, dtype=torch.int64)
    steps = _time_bins(times, dt)
    T = n_steps if n_steps is not None else int(steps.max()) + 1 if len(steps) else 1
    keep = steps < T
    out = torch.zeros(T * n_channels, dtype=torch.float32)
    out.index_add_(0, steps[keep] * n_channels + units[keep], torch.ones(int(keep.sum()), dtype=torch.float32))
    return out.view(T, n_channels)


class EventSequenceDataset(LabelledDataset):
    """Event data kept as events and binned on access: ``events[i] = (times [E_i] s, units [E_i])``.

    Sample ``i`` is :func:`bin_events` of its events with bin ``dt`` (seconds) over ``n_channels``
    units: ``[T_i, n_channels]`` with ``T_i`` set by its last event (or ``n_steps`` for all). Memory
    stays that of the events (SHD: ~8k samples × 700 channels would be GBs dense).
    """

    def __init__(
        self,
        events: Sequence[tuple[Any, Any]],
        targets: Tensor,
        classes: Sequence[str],
        name: str,
        *,
        n_channels: int,
        dt: float,
        n_steps: int | None = None,
        **meta: Any,
    ):
        super().__init__(targets, classes, name, **meta)
        if len(events) != len(self.targets):
            raise DataError(f"{name}: {len(events)} event lists but {len(self.targets)} targets")
        self.n_channels = check_positive_int("n_channels", n_channels, where=name)
        self.n_steps = check_positive_int("n_steps", n_steps, allow_none=True, where=name)
        self.dt = check_positive_number("dt", dt, where=name)  # the bin width in seconds
        self.events = [(np.asarray(t, dtype=np.float64), np.asarray(u, dtype=np.int64)) for t, u in events]
        for i, (t, u) in enumerate(self.events):
            if t.shape != u.shape or t.ndim != 1 or (len(u) and (u.min() < 0 or u.max() >= n_channels)):
                raise DataError(f"{name}: events of sample {i} must be 1-D times and units in "
                                f"[0, {n_channels}), got shapes {t.shape}, {u.shape}")
            if len(t) and t.min() < 0:
                raise DataError(f"{name}: events of sample {i} must have times >= 0 s, got {t.min()}")

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        t, u = self.events[index]
        x = bin_events(torch.from_numpy(t), torch.from_numpy(u), self.n_channels, self.dt, self.n_steps)
        return x, self.targets[index]

    def _take(self, idx: Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
        return [self.events[i] for i in idx.tolist()]

    def _init_kwargs(self) -> dict[str, Any]:
        return {"n_channels": self.n_channels, "dt": self.dt, "n_steps": self.n_steps}

    @property
    def lengths(self) -> Tensor:
        """``T_i`` of every sample, int64 ``[N]``."""
        if self.n_steps is not None:
            return torch.full((len(self),), self.n_steps, dtype=torch.int64)
        return torch.tensor([int(_time_bins(t.max(), self.dt)) + 1 if len(t) else 1 for t, _ in self.events])


def pad_collate(
    samples: Sequence[tuple[Tensor, Any]], min_steps: int | None = None, *, pad: str = "end"
) -> tuple[tuple[Tensor, Tensor], Tensor]:
    """Batch ``[(x_i [T_i, C], y_i), ...]`` as ``((x [T_max, B, C] float32, lengths [B] int64), y [B])``.

    Time-first; ``T_max`` is the longest ``T_i``, or ``min_steps`` if larger
    (``functools.partial(pad_collate, min_steps=T)`` gives every batch the same length). ``pad="end"``
    zero-pads after each sequence, ``pad="start"`` before it (the last step is then every sequence's end).
    """
    _check_pad(pad, "pad_collate")
    if not samples:
        raise DataError("pad_collate: empty batch")
    xs = [torch.as_tensor(x) for x, _ in samples]
    shapes = {tuple(x.shape[1:]) for x in xs}
    if len(shapes) > 1 or any(x.ndim != 2 for x in xs):
        raise DataError(f"pad_collate: samples must be [T_i, C] with one C, got {[tuple(x.shape) for x in xs]}")
    lengths = torch.tensor([x.shape[0] for x in xs], dtype=torch.int64)
    T = max(int(lengths.max()), min_steps or 0)
    batch = torch.zeros(T, len(xs), xs[0].shape[1], dtype=torch.float32)
    for b, x in enumerate(xs):
        if pad == "end":
            batch[: x.shape[0], b] = x
        else:
            batch[T - x.shape[0]:, b] = x
    targets = torch.stack([torch.as_tensor(y) for _, y in samples]).to(torch.int64)
    return (batch, lengths), targets


def time_mask(lengths: Tensor, T: int, pad: str = "end") -> Tensor:
    """bool ``[T, B]``: True on the real steps of each sequence — ``t < lengths[b]`` (``pad="end"``) or
    ``t >= T - lengths[b]`` (``pad="start"``)."""
    steps = torch.arange(T, device=lengths.device).unsqueeze(1)
    if pad == "start":
        return steps >= (T - lengths).unsqueeze(0)
    return steps < lengths.unsqueeze(0)


def _expand_mask(x: Tensor, lengths: Tensor, pad: str) -> Tensor:
    mask = time_mask(lengths.to(x.device), x.shape[0], pad)
    return mask.view(*mask.shape, *([1] * (x.ndim - 2))).to(x.dtype)


def masked_sum(x: Tensor, lengths: Tensor, pad: str = "end") -> Tensor:
    """Sum of ``x [T, B, ...]`` over the real time steps of each sequence: ``[B, ...]``."""
    return (x * _expand_mask(x, lengths, pad)).sum(0)


def masked_mean(x: Tensor, lengths: Tensor, pad: str = "end") -> Tensor:
    """Mean of ``x [T, B, ...]`` over the real steps of each sequence: ``[B, ...]`` (a firing rate for
    spikes). Every length must be >= 1."""
    denom = lengths.to(device=x.device, dtype=x.dtype).view(-1, *([1] * (x.ndim - 2)))
    return masked_sum(x, lengths, pad) / denom


def masked_max(x: Tensor, lengths: Tensor, pad: str = "end") -> Tensor:
    """Maximum of ``x [T, B, ...]`` over the real steps of each sequence: ``[B, ...]`` (padded steps are
    never the maximum; gradients reach the arg-max steps as ``torch.amax`` sends them)."""
    mask = _expand_mask(x, lengths, pad).bool()
    return x.masked_fill(~mask, float("-inf")).amax(0)


def last_step(x: Tensor, lengths: Tensor, pad: str = "end") -> Tensor:
    """``x [T, B, ...]`` at each sequence's last real step (``lengths[b] - 1``, or ``T - 1`` with
    ``pad="start"``): ``[B, ...]``."""
    if pad == "start":
        return x[-1]
    idx = (lengths.to(x.device) - 1).view(1, -1, *([1] * (x.ndim - 2))).expand(1, *x.shape[1:])
    return x.gather(0, idx).squeeze(0)
