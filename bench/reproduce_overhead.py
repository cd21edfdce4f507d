"""Papermill's per-notebook overhead (kernel start, imports) vs running the same code in-process.

A tiny notebook that imports snnkit and torch and does trivial work is executed

* ``papermill``: through papermill with the ``python3`` kernel, as each ``snnkit.reproduce`` worker does
  (reproduce adds one worker process start per ``--jobs`` slot and call, not per run);
* ``subprocess``: as a plain ``python -c`` of its code cells (interpreter start + imports, no kernel);
* ``in_process``: by exec'ing its code cells in a fresh namespace of this process (imports cached).

It prints the mean wall time of each and the ratios, an estimate of the overhead across the smoke
suite (one papermill start per run in ``params/*/smoke.yaml``) against the 15-minute budget, and
merges into ``reports/bench/reproduce_overhead.json`` (records with ``workload``, ``impl``, ``wall_ms``).

    python bench/reproduce_overhead.py [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import nbformat
import torch
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import timed, write_records  # noqa: E402
from snnkit.reproduce import load_params_file  # noqa: E402

CPU = torch.device("cpu")

CELLS = [
    "n = 64\nseed = 0",  # parameters
    "import numpy as np\nimport torch\nimport snnkit\nfrom snnkit.utils import seed_everything",
    "seed_everything(seed)\nx = torch.randn(n, n)\ny = float((x @ x.T).trace())\nz = np.asarray(y)",
]


def _notebook(path: Path) -> Path:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for i, src in enumerate(CELLS):
        cell = new_code_cell(src)
        cell["id"] = f"bench-{i}"
        if i == 0:
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


def _time(fn: Callable[[], object], repeats: int) -> list[float]:
    return [timed(fn, CPU) for _ in range(repeats)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats (under a minute)")
    ap.add_argument("--repeats", type=int, default=None, help="executions per implementation")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "reproduce_overhead.json")
    args = ap.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)

    import os

    import papermill as pm

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
    os.environ["PYTHONPATH"] = env["PYTHONPATH"]  # the kernel inherits it
    code = "\n".join(CELLS)
    with tempfile.TemporaryDirectory() as tmp:
        nb_path = _notebook(Path(tmp) / "overhead.ipynb")
        out_path = Path(tmp) / "executed.ipynb"

        def run_papermill() -> None:
            pm.execute_notebook(str(nb_path), str(out_path), parameters={"n": 64}, kernel_name="python3",
                                progress_bar=False, log_output=False, cwd=tmp)

        def run_subprocess() -> None:
            subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=tmp)

        def run_in_process() -> None:
            exec(compile(code, "<overhead-notebook>", "exec"), {"__name__": "__bench__"})  # noqa: S102

        run_in_process()  # warm the imports, as a long-lived process would have them
        timings = {
            "papermill": _time(run_papermill, repeats),
            "subprocess": _time(run_subprocess, repeats),
            "in_process": _time(run_in_process, repeats * 5),
        }

    records = [
        {"workload": "tiny_notebook(import snnkit+torch, 64x64 matmul)", "impl": impl,
         "wall_ms": round(statistics.mean(ms), 3), "wall_ms_min": round(min(ms), 3),
         "wall_ms_max": round(max(ms), 3), "repeats": len(ms)}
        for impl, ms in timings.items()
    ]
    base = records[2]["wall_ms"] or 1e-9
    print(f"{'impl':<12} {'wall ms (mean)':>15} {'min':>10} {'max':>10} {'x in_process':>13}")
    for r in records:
        print(f"{r['impl']:<12} {r['wall_ms']:>15.1f} {r['wall_ms_min']:>10.1f} {r['wall_ms_max']:>10.1f} "
              f"{r['wall_ms'] / base:>13.1f}")
    overhead_s = (records[0]["wall_ms"] - records[2]["wall_ms"]) / 1000.0
    n_runs = 0
    for path in sorted((ROOT / "params").glob("*/smoke.yaml")):
        try:
            n_runs += len(load_params_file(path))
        except Exception:  # noqa: BLE001 - a broken params file is reproduce's business, not ours
            continue
    print(f"papermill overhead per notebook run: {overhead_s:.2f} s "
          f"(papermill / subprocess = {records[0]['wall_ms'] / records[1]['wall_ms']:.2f}x)")
    print(f"smoke suite: {n_runs} run(s) -> {n_runs * overhead_s:.1f} s of overhead of the 15-minute budget")
    for r in records:
        r["smoke_runs"] = n_runs
    write_records(args.out, records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
