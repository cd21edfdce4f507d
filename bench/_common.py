"""Shared machinery of the benchmarks in ``bench/`` (a helper module, not a benchmark).

Timing (``timed``), peak memory of one call (``peak_delta_mb``: RSS sampled in a background thread on
CPU, ``torch.cuda.max_memory_allocated`` on CUDA), the ratio table every benchmark prints
(``print_ratio_table``) and the JSON writer (``write_records``) that merges a run's records into the
existing file, so that ``--quick`` and full results of every benchmark coexist in one JSON.

The scripts import it as ``bench._common`` after putting the repository root on ``sys.path``, which works
both for ``python bench/<x>.py`` from the root and for ``import bench.<x>``.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from snnkit.utils import atomic_write_text  # noqa: E402

Record = dict[str, Any]
#: A table column: (record key, header, format spec whose leading digits are the column width, e.g. "9.2f").
Column = tuple[str, str, str]
T = TypeVar("T")


def add_run_args(parser: argparse.ArgumentParser, out_name: str, *, threads: int | None = 1,
                 device_help: str = "cpu, cuda, cuda:1, ... (default cpu)",
                 impls_help: str = "subset of implementations to run") -> None:
    """The options the timing benchmarks share: ``--threads``, ``--device``, ``--impls`` and ``--out``
    (``reports/bench/<out_name>``); ``threads`` None keeps torch's own thread count."""
    threads_help = "torch's" if threads is None else str(threads)
    parser.add_argument("--threads", type=int, default=threads, help=f"torch CPU threads (default {threads_help})")
    parser.add_argument("--device", default="cpu", help=device_help)
    parser.add_argument("--impls", nargs="*", default=None, help=impls_help)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / out_name)


def rss_bytes() -> int:
    """Resident set size of this process in bytes (psutil if installed, else ``/proc/self/statm``)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:  # Linux fallback
        import os

        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def malloc_trim() -> None:
    """Give freed heap pages back to the OS (glibc), so RSS growth reflects the next run's allocations."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakRSS:
    """Samples RSS in a background thread (every ~0.5 ms); ``delta_mb`` = peak - start after the block."""

    def __enter__(self) -> PeakRSS:
        gc.collect()
        malloc_trim()
        self.start = rss_bytes()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.0005)

    def __exit__(self, *exc: object) -> None:
        self.peak = max(self.peak, rss_bytes())
        self._stop.set()
        self._thread.join()

    @property
    def delta_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def sync(device: torch.device) -> None:
    """Wait for queued CUDA work on ``device``; a no-op on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Wall time of one ``fn()`` in ms, with the device synchronised before and after."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return (time.perf_counter() - start) * 1e3


def peak_delta_mb(fn: Callable[[], object], device: torch.device) -> float:
    """Peak memory during one ``fn()`` minus memory just before it, in MB.

    CUDA: ``max_memory_allocated`` after resetting the peak stats, minus ``memory_allocated`` before.
    CPU: the peak of RSS sampled by ``PeakRSS``, minus RSS before (after ``gc`` and ``malloc_trim``).
    """
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        sync(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    with PeakRSS() as peak:
        fn()
    return peak.delta_mb


def select_impls(candidates: Mapping[str, T | str], wanted: Sequence[str] | None) -> dict[str, T]:
    """The candidates named in ``wanted`` (all if empty/None) that are available, in candidate order.

    A candidate given as a string is unavailable (the string says why, e.g. a failed peer import): it is
    skipped with a printed note.
    """
    chosen: dict[str, T] = {}
    for name, impl in candidates.items():
        if wanted and name not in wanted:
            continue
        if isinstance(impl, str):
            print(f"note: skipping {name}: {impl}")
            continue
        chosen[name] = impl
    return chosen


def describe_device(device: torch.device) -> str:
    """``"cuda:0"``-style name, or ``"cpu, N thread(s)"`` with torch's current thread count."""
    return str(device) if device.type != "cpu" else f"cpu, {torch.get_num_threads()} thread(s)"


def _width(fmt: str) -> int:
    match = re.match(r"\d+", fmt)
    if match is None:
        raise ValueError(f"column format {fmt!r} must start with a width, e.g. '9.2f'")
    return int(match.group())


def print_ratio_table(
    records: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    *,
    base_impl: str = "snnkit",
    ratio_keys: Sequence[str] = ("fwd_ms", "fwd_bwd_ms"),
    footnote: str,
) -> None:
    """Print one row per record: ``impl``, the given ``columns``, then ``<key> ratio`` for each ratio key.

    A ratio is ``record[key] / base[key]`` where ``base`` is the record of ``base_impl`` (NaN if that impl
    was not run or its value is 0). The ratio headers drop a trailing ``_ms`` ("fwd_ms" → "fwd ratio").
    """
    base = next((r for r in records if r["impl"] == base_impl), None)
    ratio_headers = [f"{key.removesuffix('_ms')} ratio" for key in ratio_keys]
    header = " ".join(
        [f"{'impl':<13}"]
        + [f"{title:>{_width(fmt)}}" for _, title, fmt in columns]
        + [f"{title:>{len(title) + 1}}" for title in ratio_headers]
    )
    print(header)
    print("-" * len(header))
    for rec in records:
        ratios = [
            rec[key] / base[key] if base is not None and base[key] else float("nan") for key in ratio_keys
        ]
        print(
            " ".join(
                [f"{rec['impl']:<13}"]
                + [f"{rec[key]:{fmt}}" for key, _, fmt in columns]
                + [f"{r:{len(title) + 1}.2f}" for r, title in zip(ratios, ratio_headers)]
            )
        )
    print(footnote)


def _record_key(rec: Mapping[str, Any]) -> tuple[Any, Any]:
    return rec.get("workload"), rec.get("device")


def write_records(path: Path, records: Sequence[Record]) -> list[Record]:
    """Merge ``records`` into the JSON list at ``path`` and write it atomically; returns what was written.

    Every record already there for a (workload, device) this run measured is dropped, whatever its
    impl, so the records of one (workload, device) always come from one run (only ratios measured
    side by side in one run count); other workloads and devices are kept (so a ``--quick`` run and a
    full run, or runs on CPU and CUDA, share one file). A file that is missing,
    unreadable or not a JSON list is replaced (with a note when it existed).
    """
    path = Path(path)
    try:
        old = json.loads(path.read_text())
    except FileNotFoundError:
        old = []
    except (OSError, ValueError) as err:
        print(f"note: replacing {path}: not readable as JSON ({err})")
        old = []
    if not isinstance(old, list):
        print(f"note: replacing {path}: expected a JSON list of records, found {type(old).__name__}")
        old = []
    new_keys = {_record_key(r) for r in records}
    merged = [r for r in old if isinstance(r, dict) and _record_key(r) not in new_keys] + list(records)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(merged, indent=2) + "\n")
    print(f"wrote {path}")
    return merged


if __name__ == "__main__":
    print("bench/_common.py is the benchmarks' helper module, not a benchmark; nothing to run.")
    raise SystemExit(0)
