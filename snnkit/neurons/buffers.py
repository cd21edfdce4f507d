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

Everything else takes :func:`torch.empty`: small buffers (under :data:`MIN_BYTES`), other devices, systems
without ``MADV_HUGEPAGE``, THP modes ``always`` (the kernel maps huge pages anyway) or ``never``. The tensors
are ordinary contiguous CPU tensors; their storage is not resizable, and is unmapped when its last view is
freed.
"""

from __future__ import annotations

import functools
import math
import mmap
import os
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["MIN_BYTES", "empty", "huge_pages_used"]

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


def empty(shape: torch.Size | tuple[int, ...], dtype: torch.dtype, device: torch.device | str | None = None) -> Tensor:
    """An uninitialised contiguous tensor, as ``torch.empty(shape, dtype=dtype, device=device)``; on CPU and at
    least :data:`MIN_BYTES`, in its own mapping advised for huge pages (see the module docstring)."""
    size = math.prod(shape) * dtype.itemsize
    if not huge_pages_used() or size < MIN_BYTES or (device is not None and torch.device(device).type != "cpu"):
        return torch.empty(shape, dtype=dtype, device=device)
    length = -(-size // _HUGE) * _HUGE + _HUGE  # room to start on a 2 MiB boundary
    region = mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        region.madvise(mmap.MADV_HUGEPAGE)
    except OSError:  # a kernel without THP: an ordinary mapping, still correct
        pass
    raw = torch.frombuffer(region, dtype=torch.uint8)  # holds the mapping until the last view is freed
    start = -raw.data_ptr() % _HUGE
    return raw[start:start + size].view(dtype).view(shape)
