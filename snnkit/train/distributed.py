"""Data-parallel training when launched by ``torchrun`` (``python -m torch.distributed.run``).

torchrun sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` (plus ``MASTER_ADDR``/``MASTER_PORT``). When
``WORLD_SIZE > 1`` the :class:`~snnkit.train.loop.Trainer` calls :func:`setup`, which initialises the
default process group (gloo on the CPU, NCCL on CUDA), wraps the model in
``DistributedDataParallel`` and shards every global batch across the ranks with :func:`shard`:

* all ranks draw the same seeded per-epoch permutation and cut it into the same global batches of
  ``batch_size`` samples; rank ``r`` takes samples ``r, r + W, r + 2W, ...`` of each global batch, so
  the union over ranks of one step is exactly the global batch a 1-process run would use;
* :func:`all_reduce_sums` adds per-rank sums (loss·n, correct, n) so every rank reports global metrics;
* only rank 0 (:attr:`DistInfo.is_main`) writes checkpoints, TensorBoard events and progress bars.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from snnkit.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = [
    "DistInfo",
    "env_info",
    "is_torchrun",
    "setup",
    "wrap_model",
    "shard",
    "all_reduce_sums",
    "all_gather_objects",
    "barrier",
    "broadcast_flag",
    "cleanup",
]

_OWNED_GROUP = False


@dataclass(frozen=True)
class DistInfo:
    """World size, global rank and local rank of this process (1, 0, 0 when not distributed)."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(name, raw, "an integer (environment variable set by torchrun)") from exc
    if value < 0:
        raise ConfigError(name, raw, "a non-negative integer (environment variable set by torchrun)")
    return value


def env_info() -> DistInfo:
    """Read ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` from the environment (defaults 1/0/0)."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    if world < 1 or rank >= world:
        raise ConfigError("RANK", rank, f"0 <= RANK < WORLD_SIZE={world}")
    return DistInfo(world_size=world, rank=rank, local_rank=local)


def is_torchrun() -> bool:
    """True when this process was started by torchrun with more than one process."""
    return env_info().world_size > 1


def setup(device: torch.device) -> tuple[DistInfo, torch.device]:
    """Initialise the default process group if torchrun launched us; return (info, device to use).

    Idempotent: an already initialised group is reused (and left for its owner to destroy). On CUDA
    each process takes ``cuda:LOCAL_RANK``. A group created here is destroyed at interpreter exit
    (or by :func:`cleanup`).
    """
    global _OWNED_GROUP
    if dist.is_available() and dist.is_initialized():
        info = DistInfo(dist.get_world_size(), dist.get_rank(), _env_int("LOCAL_RANK", dist.get_rank()))
    else:
        info = env_info()
        if not info.enabled:
            return info, device
        if not dist.is_available():  # pragma: no cover - torch builds without distributed
            raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed support")
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":  # pragma: no cover - no GPU in CI
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend, init_method="env://")
        _OWNED_GROUP = True
        atexit.register(cleanup)
        log.info("process group initialised: backend=%s rank=%d/%d", backend, info.rank, info.world_size)
    if device.type == "cuda" and info.enabled:  # pragma: no cover - no GPU in CI
        device = torch.device("cuda", info.local_rank)
    return info, device


def wrap_model(model: torch.nn.Module, info: DistInfo, device: torch.device) -> torch.nn.Module:
    """Wrap ``model`` in DistributedDataParallel when distributed, else return it unchanged."""
    if not info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":  # pragma: no cover - no GPU in CI
        return DistributedDataParallel(model, device_ids=[device.index], output_device=device.index)
    return DistributedDataParallel(model)


def shard(indices: Sequence[int], info: DistInfo) -> list[int]:
    """This rank's part of one global batch: every ``world_size``-th sample starting at ``rank``."""
    return list(indices[info.rank :: info.world_size])


def all_reduce_sums(values: Sequence[float], info: DistInfo, device: torch.device) -> list[float]:
    """Sum each value over all ranks (float64); identity when not distributed."""
    if not info.enabled:
        return [float(v) for v in values]
    buf = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    return [float(v) for v in buf.cpu().tolist()]


def all_gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Gather one picklable object from every rank (in rank order); ``[obj]`` when not distributed."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op when not distributed)."""
    if info.enabled and dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    """Destroy the process group if :func:`setup` created it."""
    global _OWNED_GROUP
    if _OWNED_GROUP and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        log.debug("process group destroyed")
    _OWNED_GROUP = False


def broadcast_flag(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """Rank 0's ``flag`` on every rank (so a decision taken from one clock is the same everywhere)."""
    if not info.enabled:
        return bool(flag)
    buf = torch.tensor([1 if flag else 0], dtype=torch.int64, device=device)
    dist.broadcast(buf, src=0)
    return bool(buf.item())
