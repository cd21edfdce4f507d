"""Large ``[T, ...]`` buffers of the neurons' CPU kernels, optionally backed by transparent huge pages.

A fresh CPU tensor larger than glibc's mmap threshold (at most 32 MiB) is a new anonymous mapping, and the
first write to each of its 4 KiB pages is a page fault: on the machine these kernels were tuned on, touching
100 MiB that way costs 65–80 ms, five to six times what writing it costs once it is mapped — more than the
compiled scans that fill it. Where Linux runs transparent huge pages in ``madvise`` mode (the default of many
distributions), a mapping that asks for them with ``madvise(MADV_HUGEPAGE)`` takes one fault per 2 MiB
instead; with ``SNNKIT_HUGE_PAGES=1`` in the environment, :func:`empty` allocates such a mapping with
:mod:`mmap` and wraps it as a tensor (:func:`torch.frombuffer`). PyTorch can do the same for every
allocation of a process (``THP_MEM_ALLOC_ENABLE=1`` before it starts).

It is off by default because what a huge-page fault costs depends on the host. Measured on the 2-core
virtual machine this repository was built on (one thread, Linear + neuron, forward and backward):

* a loop that allocates and frees the same buffers: 100 MiB touched in ~15 ms instead of 65–80 ms; at W1
  (batch 64, T = 1000, 128 neurons: 31 MiB buffers) the LIF's backward took 31 ms instead of 59, SPSN-SB's
  25 instead of 52, with SpikingJelly's layer run in the same process between calls;
* at W4 (batch 256, T = 50, 2048 neurons: 100 MiB buffers) with SpikingJelly's layer between calls, the
  huge-page faults took up to ~8 ms of system time each (the hypervisor backing memory that the guest had
  freed, it seems), and the LIF's backward 532 ms instead of 230.

**Reuse.** Independently of huge pages, a freed large buffer's mapping is kept for the next request of the same
size (``SNNKIT_BUFFER_POOL_MB``, default 1024: the most bytes kept; 0 turns reuse off), as PyTorch's CUDA caching
allocator keeps device memory: a training loop then maps and faults its neurons' buffers once, not at every step
(at W4 two of them per layer, forward and backward: ~140 ms of faults per step on this machine). A mapping goes
back to the pool when the last view of its tensor is freed (a finalizer on the array that wraps it), so a buffer
still in use is never handed out twice. :func:`clear_pool` drops what is kept (the benchmark does so before it
measures peak memory).

Everything else takes :func:`torch.empty`: small buffers (under :data:`MIN_BYTES`), other devices, and (with the
pool off) systems without ``MADV_HUGEPAGE`` or THP modes ``always`` (the kernel maps huge pages anyway) or
``never``. The tensors are ordinary contiguous CPU tensors; their storage is not resizable.

**Donation.** A layer that makes a tensor only to hand it to a neuron (a Linear's output current) may mark it with
:func:`donate`: the neurons that support it (the compiled CPU paths of :class:`~snnkit.neurons.LIF`,
:class:`~snnkit.neurons.CubaLIF`, and :class:`~snnkit.neurons.SPSN` / :class:`~snnkit.neurons.ParaLIF` with a
stochastic firing and no recurrence) then write their saved state into its memory instead of a buffer of their own,
and their backward pass writes the input gradient over that state, so a Linear + neuron step holds two ``[T, ...]``
buffers at its peak instead of three (the W1 benchmark, batch 64, T = 1000, 128 neurons, float32: 62–67 MiB
instead of 94–97). The caller promises not to read the tensor afterwards; a neuron with forward hooks ignores the
mark (a hook receives the input) unless every one is marked :func:`input_blind`, and a second backward through the
same graph raises (the state is spent). The neurons' spike outputs are not pooled: the next layer keeps them until its
own backward, and a pooled buffer would stay resident after they are freed. They come from :func:`output`, a heap
block with a few KiB of slack, which a later allocation of their size can take over once they are freed (without
the slack, glibc's aligned allocations cannot reuse a freed block of exactly their size, and with its default mmap
threshold the W1 step's peak held a third ``[T, B, N]`` block, depending on the heap's layout).
"""

from __future__ import annotations

import functools
import math
import mmap
import os
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from snnkit.errors import ConfigError

__all__ = ["MIN_BYTES", "OUTPUT_MIN_BYTES", "OUTPUT_SLACK", "adopt", "clear_pool", "donate", "empty", "ensure_unspent",
           "huge_pages_used", "input_blind", "is_donated", "may_take", "output", "pool_limit", "pooled_bytes"]

#: Buffers smaller than this come from :func:`torch.empty` (the heap serves them without page faults once warm).
MIN_BYTES = 8 << 20
_HUGE = 2 << 20  # x86-64 / arm64 (4 KiB base pages) PMD size
_THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")


@functools.cache
def huge_pages_used() -> bool:
    """Whether :func:`empty` maps large buffers itself: the environment variable ``SNNKIT_HUGE_PAGES`` is ``1``
    (read once, at the first large buffer), Linux with ``MADV_HUGEPAGE``, and the THP mode ``madvise`` (the
    bracketed word of ``/sys/kernel/mm/transparent_hugepage/enabled``)."""
    if os.environ.get("SNNKIT_HUGE_PAGES", "0").strip() != "1" or not hasattr(mmap, "MADV_HUGEPAGE"):
        return False
    try:
        text = _THP_MODE.read_text()
    except OSError:
        return False
    return "[madvise]" in text


@functools.cache
def pool_limit() -> int:
    """The most bytes of freed buffers kept for reuse: ``SNNKIT_BUFFER_POOL_MB`` MiB (read once; default 1024, 0:
    no reuse). Raises ConfigError for a value that is not a whole number ≥ 0."""
    text = os.environ.get("SNNKIT_BUFFER_POOL_MB", "1024").strip()
    if not text.isdigit():
        raise ConfigError("SNNKIT_BUFFER_POOL_MB", text, "a whole number of MiB ≥ 0 (0 turns buffer reuse off)",
                          where="environment")
    return int(text) << 20


_pool: dict[int, list[mmap.mmap]] = {}
_pool_lock = threading.RLock()  # re-entrant: a finalizer may run (garbage collection) while it is held
_pooled = [0]


def pooled_bytes() -> int:
    """Bytes of freed buffers kept for reuse now."""
    return _pooled[0]


def clear_pool() -> None:
    """Drop every kept mapping (each is unmapped once nothing else refers to it)."""
    with _pool_lock:
        _pool.clear()
        _pooled[0] = 0


def _give_back(region: mmap.mmap, length: int) -> None:
    """Finalizer of a buffer's array: its mapping goes back to the pool, if the pool has room."""
    with _pool_lock:
        if _pooled[0] + length <= pool_limit():
            _pool.setdefault(length, []).append(region)
            _pooled[0] += length


def _take(length: int) -> mmap.mmap | None:
    with _pool_lock:
        kept = _pool.get(length)
        if not kept:
            return None
        _pooled[0] -= length
        return kept.pop()


def empty(shape: torch.Size | tuple[int, ...], dtype: torch.dtype, device: torch.device | str | None = None) -> Tensor:
    """An uninitialised contiguous tensor, as ``torch.empty(shape, dtype=dtype, device=device)``; on CPU and at
    least :data:`MIN_BYTES`, in its own mapping, reused from the pool where one of its size was freed and advised
    for huge pages where asked (see the module docstring)."""
    size = math.prod(shape) * dtype.itemsize
    huge = huge_pages_used()
    if size < MIN_BYTES or (device is not None and torch.device(device).type != "cpu") or not (huge or pool_limit()):
        return torch.empty(shape, dtype=dtype, device=device)
    align = _HUGE if huge else mmap.PAGESIZE  # mmap returns page-aligned memory; a huge page needs room to align
    length = -(-size // align) * align + (align if huge else 0)
    region = _take(length)
    if region is None:
        region = mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        if huge:
            try:
                region.madvise(mmap.MADV_HUGEPAGE)
            except OSError:  # a kernel without THP: an ordinary mapping, still correct
                pass
    array = np.frombuffer(region, dtype=np.uint8)  # holds the mapping until the last view is freed
    if pool_limit():
        weakref.finalize(array, _give_back, region, length).atexit = False
    raw = torch.from_numpy(array)
    start = -raw.data_ptr() % align
    return raw[start:start + size].view(dtype).view(shape)


#: CPU outputs of at least this many bytes get :data:`OUTPUT_SLACK` bytes of slack (see :func:`output`)
OUTPUT_MIN_BYTES = 128 << 10
#: Extra bytes behind a large output (more than an aligned allocation's padding: glibc's alignment slack and
#: minimal chunk, 64 + 32 bytes for PyTorch's 64-byte-aligned blocks)
OUTPUT_SLACK = 4096


def output(shape: torch.Size | tuple[int, ...], dtype: torch.dtype, device: torch.device | str | None = None) -> Tensor:
    """An uninitialised contiguous tensor for a neuron's output (its spikes), as ``torch.empty``, whose block a
    later request of the same size can take over once the output is freed.

    PyTorch allocates CPU memory 64-byte aligned (``posix_memalign``). glibc serves an aligned request of n bytes
    from a free block of at least n + 64 + 32 bytes, and gives back the slack it did not use, so a freed block of
    exactly n bytes is too small for the next aligned request of n bytes. Where nothing free lies beside it (a
    small tensor allocated after it pins the heap), that request extends the heap instead, and the freed block
    stays resident beside it. In a Linear + neuron step whose loss frees the spikes early (the benchmark's
    ⟨spikes, g⟩), the gradient that reaches the spikes is such a request: with glibc's default (dynamic) mmap
    threshold, the W1 step's peak then held three ``[T, B, N]`` blocks instead of two (94 MiB instead of 63 for
    the LIF, depending on the heap's layout). The output is a view of a block :data:`OUTPUT_SLACK` bytes longer
    (CPU tensors of at least :data:`OUTPUT_MIN_BYTES`), which such a request fits. Elsewhere: ``torch.empty``."""
    size = math.prod(shape) * dtype.itemsize
    if size < OUTPUT_MIN_BYTES or (device is not None and torch.device(device).type != "cpu"):
        return torch.empty(shape, dtype=dtype, device=device)
    flat = torch.empty(size + OUTPUT_SLACK, dtype=torch.uint8, device=device)
    return flat[:size].view(dtype).view(shape)


_DONATED = "_snnkit_donated"


def donate(t: Tensor) -> Tensor:
    """Mark ``t`` as donated and return it: the neuron it is passed to may overwrite its memory (see the module
    docstring). Only for a tensor nothing else refers to: neither the caller nor a saved-for-backward slot."""
    setattr(t, _DONATED, True)
    return t


def is_donated(t: object) -> bool:
    """Whether ``t`` was marked by :func:`donate` (a view or copy of a donated tensor is not)."""
    return getattr(t, _DONATED, False) is True


_INPUT_BLIND = "_snnkit_input_blind"


def input_blind(hook: Callable[..., Any]) -> Callable[..., Any]:
    """Mark the forward (or pre-forward) hook ``hook`` as one that keeps no reference to the module's input, and
    return it: a neuron with only such hooks still takes a donated input over (:func:`may_take`). The activity
    recorder of :mod:`snnkit.train.activity` marks its hooks on modules whose output alone is watched."""
    setattr(hook, _INPUT_BLIND, True)
    return hook


def may_take(module: torch.nn.Module, t: object) -> bool:
    """Whether the neuron ``module`` may take its input ``t``'s memory over: ``t`` is donated and every forward or
    pre-forward hook of the module is marked :func:`input_blind` (any other hook receives the input, which would then
    hold the neuron's state)."""
    if not is_donated(t):
        return False
    glob = torch.nn.modules.module  # hooks registered for every module (register_module_forward_hook) count too
    every = (module._forward_hooks, module._forward_pre_hooks, getattr(glob, "_global_forward_hooks", {}),
             getattr(glob, "_global_forward_pre_hooks", {}))
    return all(getattr(hook, _INPUT_BLIND, False) is True for hooks in every for hook in hooks.values())


def ensure_unspent(ctx: object, neuron: str) -> None:
    """Raise a RuntimeError where ``ctx`` (an autograd context) had its saved state overwritten by an earlier backward
    (``ctx.spent``, set where a donated input's memory received the input gradient): the graph is being
    backpropagated a second time (``retain_graph=True``), which a donated input does not allow."""
    if getattr(ctx, "spent", False):
        raise RuntimeError(f"backward through a {neuron} whose input was donated (snnkit.neurons.buffers.donate) a "
                           "second time: the first backward wrote the input gradient over the saved state. Do not "
                           "donate the input where the graph is backpropagated more than once (retain_graph=True).")


def adopt(t: Tensor) -> Tensor:
    """A tensor over the memory of ``t`` (contiguous, CPU, a numpy dtype) with a version counter of its own, for a kernel
    that takes a donated input over as its buffer: in-place torch operations on it do not count as modifications of
    the input, which autograd does not allow inside a function's forward (it corrupts the input's autograd state)."""
    return torch.from_numpy(t.detach().numpy())
