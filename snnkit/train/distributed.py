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

:func:`run_parallel` starts such processes from Python itself (a notebook kernel included) with
torch's elastic launcher (the API behind torchrun), so a notebook can train on every GPU of its
machine; see docs/scale.md for several machines.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import datetime
import gc
import logging
import os
import pickle
import signal
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
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
    "run_parallel",
]

_OWNED_GROUP = False
_HELD: collections.deque = collections.deque(maxlen=8)  # tensors of the last collectives, see _hold


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


def _hold(*tensors: torch.Tensor) -> None:
    """Keep Python references to the tensors of a collective for a few more collectives.

    A gloo worker thread drops its reference to a finished collective's tensors after the caller's
    ``wait`` returned. If the caller had already dropped its own reference, that drop frees a Python
    object and needs the GIL — fatal when it happens during interpreter shutdown (see :func:`cleanup`).
    Holding the tensors here makes the worker's drop a plain count decrement; the Python side frees
    them later, on the main thread.
    """
    _HELD.append(tensors)


def all_reduce_sums(values: Sequence[float], info: DistInfo, device: torch.device) -> list[float]:
    """Sum each value over all ranks (float64); identity when not distributed."""
    if not info.enabled:
        return [float(v) for v in values]
    buf = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    _hold(buf)
    return [float(v) for v in buf.cpu().tolist()]


def all_gather_objects(obj: Any, info: DistInfo, device: torch.device | str = "cpu") -> list[Any]:
    """Gather one picklable object from every rank (in rank order); ``[obj]`` when not distributed.

    Like ``torch.distributed.all_gather_object`` but on tensors this module keeps referenced (see
    :func:`_hold`); ``device`` must suit the backend (CPU for gloo, this rank's GPU for NCCL).
    """
    if not info.enabled:
        return [obj]
    device = torch.device(device)
    payload = torch.frombuffer(bytearray(pickle.dumps(obj)), dtype=torch.uint8).to(device)
    size = torch.tensor([payload.numel()], dtype=torch.int64, device=device)
    sizes = [torch.zeros_like(size) for _ in range(info.world_size)]
    dist.all_gather(sizes, size)
    lengths = [int(s.item()) for s in sizes]
    padded = torch.zeros(max(lengths), dtype=torch.uint8, device=device)
    padded[: payload.numel()] = payload
    chunks = [torch.empty_like(padded) for _ in range(info.world_size)]
    dist.all_gather(chunks, padded)
    _hold(size, *sizes, padded, *chunks)
    return [pickle.loads(c[:n].cpu().numpy().tobytes()) for c, n in zip(chunks, lengths)]


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op when not distributed)."""
    if info.enabled and dist.is_initialized():
        dist.barrier()


def cleanup(timeout_s: float = 60.0) -> None:
    """Destroy the process group if :func:`setup` created it (registered with ``atexit``).

    Why it is more than ``destroy_process_group()``: gloo's worker threads drop their reference to a
    finished collective's tensors by themselves, after the caller's ``wait`` returned. When that drop
    frees a Python tensor object it needs the GIL, and a worker doing so while the interpreter is
    finalising is ended by ``pthread_exit`` inside a ``noexcept`` destructor, which aborts the process
    ("terminate called without an active exception", SIGABRT; seen on a rank that exited right after
    ``all_gather_object``, more often on a busy machine). A group that ever had a
    ``DistributedDataParallel`` wrapper is not freed by ``destroy_process_group`` (torch keeps a
    reference), so its workers live until the process ends. Hence: this module's collectives keep
    their tensors referenced for a few more collectives (:func:`_hold`, and ``torch``'s own
    ``all_gather_object`` is not used), and at exit every rank waits at a barrier (bounded by
    ``timeout_s`` so a dead peer cannot hang the exit) — by then every earlier collective is finished
    on every rank — before the group is destroyed, while Python is fully alive.
    """
    global _OWNED_GROUP
    if _OWNED_GROUP and dist.is_available() and dist.is_initialized():
        try:
            work = dist.barrier(async_op=True)
            work.wait(timeout=datetime.timedelta(seconds=timeout_s))
        except Exception as exc:  # a peer died or timed out: still tear down locally
            log.warning(
                "exit barrier failed (%s: %s); destroying the process group anyway", type(exc).__name__, exc
            )
        gc.collect()
        dist.destroy_process_group()
        log.debug("process group destroyed")
    _OWNED_GROUP = False


def broadcast_flag(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """Rank 0's ``flag`` on every rank (so a decision taken from one clock is the same everywhere)."""
    if not info.enabled:
        return bool(flag)
    buf = torch.tensor([1 if flag else 0], dtype=torch.int64, device=device)
    dist.broadcast(buf, src=0)
    _hold(buf)
    return bool(buf.item())


# -- launching processes from Python ------------------------------------------------------------------
def _run_child(payload: bytes, *args: Any) -> Any:
    """A worker started by :func:`run_parallel`: unpickle the function, call it, tear the group down.

    The process group the Trainer created is destroyed here, while Python is fully alive (the reason
    is in :func:`cleanup`), rather than at interpreter exit.
    """
    fn, kwargs = pickle.loads(payload)
    try:
        return fn(*args, **kwargs)
    finally:
        cleanup()


def _pickle_function(fn: Callable[..., Any], kwargs: dict[str, Any]) -> bytes:
    """``(fn, kwargs)`` pickled so that a fresh process can rebuild them.

    cloudpickle (installed with submitit) stores a function defined in a notebook or a script's
    ``__main__`` by value, which plain pickle cannot: the spawned workers could not import it.
    Functions from importable modules are stored by reference either way.
    """
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - cloudpickle comes with submitit, a dependency
        return pickle.dumps((fn, kwargs))
    return cloudpickle.dumps((fn, kwargs))


def run_parallel(fn: Callable[..., Any], nproc: int, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` in ``nproc`` processes on this machine (DDP); return rank 0's result.

    The processes are started with torch's elastic launcher
    (``torch.distributed.launcher.api.elastic_launch``, what torchrun uses; standalone c10d
    rendezvous on a free local port, no restarts), which sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
    ``MASTER_ADDR`` and ``MASTER_PORT`` in each; a :class:`~snnkit.train.loop.Trainer` built inside
    ``fn`` then trains with DistributedDataParallel (gloo on the CPU, one GPU per process with NCCL).
    Works from a notebook kernel: ``fn`` may be defined in the notebook itself (it is sent to the
    workers with cloudpickle), and so may be everything it refers to; the arguments and the return
    value must be picklable. Keep ``fn``'s work inside ``fn``: the workers are fresh interpreters.

    ``nproc == 1`` calls ``fn`` in this process. Inside a process that torchrun (or this function)
    already started (``WORLD_SIZE > 1``), ``fn`` is also called directly: the same code then runs under
    ``torchrun --nnodes N --nproc_per_node M`` on several machines (every rank gets its own return
    value). A failing worker ends the others and raises torch's ``ChildFailedError`` naming its rank
    and error. ConfigError when ``nproc`` is not a positive integer.
    """
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ConfigError("nproc", nproc, "a positive integer (processes to start on this machine)")
    if nproc == 1 or env_info().enabled:
        return fn(*args, **kwargs)
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=f"snnkit-{uuid.uuid4().hex[:12]}",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",  # a free port, as torchrun --standalone
        max_restarts=0,
        start_method="spawn",
    )
    with _launcher_side_effects_undone():
        results = elastic_launch(config, _run_child)(_pickle_function(fn, kwargs), *args)
    return results[0]


@contextlib.contextmanager
def _launcher_side_effects_undone() -> Iterator[None]:
    """Undo, on the way out, what the elastic launcher changes in the calling process.

    It sets ``TORCHELASTIC_SIGNALS_TO_HANDLE`` and installs handlers for SIGTERM, SIGINT, SIGHUP and
    SIGQUIT that raise its ``SignalException`` (so an interrupted cell ends the workers), and never
    restores them: afterwards a notebook's interrupt would no longer be a KeyboardInterrupt.
    """
    names = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")
    signals = [getattr(signal, n) for n in names if hasattr(signal, n)]
    main = threading.current_thread() is threading.main_thread()
    handlers = {sig: signal.getsignal(sig) for sig in signals} if main else {}
    env = os.environ.get("TORCHELASTIC_SIGNALS_TO_HANDLE")
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            if handler is not None:  # None: installed outside Python, cannot be put back
                signal.signal(sig, handler)
        if env is None:
            os.environ.pop("TORCHELASTIC_SIGNALS_TO_HANDLE", None)
        else:
            os.environ["TORCHELASTIC_SIGNALS_TO_HANDLE"] = env
