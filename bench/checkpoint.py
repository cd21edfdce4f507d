"""Benchmark: saving and loading a large checkpoint, snnkit vs plain ``torch.save``/``torch.load`` vs the
old snnkit approach.

Workload: a state dict of float32 tensors of ``--mb`` MB in all (16 tensors; about the size of a large
model plus its Adam moments), saved to and loaded from a fresh temporary folder.

Implementations (the same state, side by side in one run, taking turns in every repeat so that load from
other processes hits them alike):

- ``snnkit``: :func:`snnkit.train.checkpoint.save_checkpoint` (state walked for ``weights_only`` safety,
  ``torch.save`` streamed into a temporary file while its SHA-256 is computed, fsync, ``.sha256`` beside
  it, renames) and :func:`~snnkit.train.checkpoint.load_checkpoint` (checksum verified, then
  ``torch.load(weights_only=True)``).
- ``torch``: ``torch.save(state, path)`` and ``torch.load(path, weights_only=True)`` — no atomicity, no
  fsync, no verification: the floor.
- ``old``: what ``save_checkpoint`` did before issue 5 — serialise into memory (``BytesIO``), load those
  bytes back with ``weights_only=True`` to verify, then write them atomically (temporary file, fsync,
  rename); loading was a plain ``torch.load(weights_only=True)``.

``save_ms`` / ``load_ms``: median wall time; ``save_peak_mb`` / ``load_peak_mb``: peak resident memory
(RSS, sampled every ~0.5 ms by ``bench._common.PeakRSS``) during one save / load minus RSS just before it.
A load's peak includes the loaded state itself (about ``--mb``); a save needs no copy of the state at all
unless the implementation makes one. Ratios are impl / snnkit (> 1: snnkit is faster or smaller).

    python bench/checkpoint.py --quick    # ~100 MB state, under a minute
    python bench/checkpoint.py            # ~1 GB state (needs ~4 GB of free memory for ``old``)
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import peak_delta_mb, print_ratio_table, timed, write_records  # noqa: E402
from snnkit.train.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from snnkit.utils import atomic_write  # noqa: E402

CPU = torch.device("cpu")
#: impl name -> (save(path, state), load(path) -> state)
Impl = tuple[Callable[[Path, dict[str, Any]], object], Callable[[Path], object]]


def _old_save(path: Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    blob = buf.getvalue()
    torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    with atomic_write(path, "wb") as fh:
        fh.write(blob)


def _torch_load(path: Path) -> object:
    return torch.load(path, map_location="cpu", weights_only=True)


IMPLS: dict[str, Impl] = {
    "snnkit": (save_checkpoint, load_checkpoint),
    "torch": (lambda path, state: torch.save(state, path), _torch_load),
    "old": (_old_save, _torch_load),
}


def make_state(total_mb: int, parts: int = 16) -> dict[str, Any]:
    """``parts`` float32 tensors of ``total_mb`` MB together, nested like a training checkpoint."""
    numel = max(1, total_mb * 2**20 // 4 // parts)
    gen = torch.Generator().manual_seed(0)
    tensors = {f"layer{i}.weight": torch.randn(numel, generator=gen) for i in range(parts)}
    return {"model": tensors, "epoch": 3, "step": 1234}


def run_benchmarks(state: dict[str, Any], folder: Path, repeats: int) -> dict[str, dict[str, float]]:
    """Median save/load times and one peak-RSS measurement of each, per implementation."""
    calls = {
        name: {
            "save": partial(save, folder / f"{name}.pt", state),
            "load": partial(load, folder / f"{name}.pt"),
        }
        for name, (save, load) in IMPLS.items()
    }
    for call in calls.values():  # warm-up: one of each (page cache, allocator)
        call["save"]()
        call["load"]()
    samples: dict[str, dict[str, list[float]]] = {name: {"save": [], "load": []} for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            for op in ("save", "load"):
                samples[name][op].append(timed(call[op], CPU))
    return {
        name: {
            **{f"{op}_ms": statistics.median(samples[name][op]) for op in ("save", "load")},
            **{f"{op}_peak_mb": peak_delta_mb(call[op], CPU) for op in ("save", "load")},
            "file_mb": (folder / f"{name}.pt").stat().st_size / 2**20,
        }
        for name, call in calls.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="~100 MB state; finishes in under a minute")
    parser.add_argument("--mb", type=int, default=None, help="state size in MB (default 1024; quick 100)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5; quick 3)")
    parser.add_argument("--dir", type=Path, default=None, help="where the files go (default: system temp)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "checkpoint.json")
    args = parser.parse_args(argv)

    total_mb = args.mb or (100 if args.quick else 1024)
    repeats = args.repeats or (3 if args.quick else 5)
    state = make_state(total_mb)
    workload = f"state_{total_mb}MB"
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="snnkit-bench-ckpt-") as tmp:
        results = run_benchmarks(state, Path(tmp), repeats)
    records = [{"workload": workload, "impl": name, "device": "cpu", **res} for name, res in results.items()]

    print(f"checkpoint save + load, {workload}, median of {repeats} interleaved repeats")
    print_ratio_table(
        records,
        [
            ("save_ms", "save_ms", "9.1f"),
            ("load_ms", "load_ms", "9.1f"),
            ("save_peak_mb", "save_peak_mb", "13.1f"),
            ("load_peak_mb", "load_peak_mb", "13.1f"),
        ],
        ratio_keys=("save_ms", "load_ms", "save_peak_mb", "load_peak_mb"),
        footnote="ratio = impl / snnkit (> 1: snnkit is faster or needs less memory); peak: RSS growth "
        "during one call (a load's includes the loaded state)",
    )
    write_records(args.out, records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
