"""Launchers: run_parallel (DDP processes started from Python, a notebook kernel included) and
``reproduce --launcher`` through submitit's local executor (the code path of ``--launcher slurm``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import numpy as np
import pytest

from snnkit.errors import ConfigError
from snnkit.train import distributed as D

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"


# -- run_parallel -------------------------------------------------------------------------------------
_NOTEBOOK_CELL = """\
import json, signal, sys
sys.path.insert(0, {here!r})
import numpy as np
from snnkit.train.distributed import run_parallel

def job(out, batch_size):  # defined here, in the kernel: run_parallel sends it to the workers by value
    from _scripts.parallel_train import train
    return train(out, batch_size=batch_size)

handlers = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
ddp = run_parallel(job, 2, "ddp.pt", 32)
kept = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)] == handlers
one = run_parallel(job, 1, "one.pt", batch_size=32)
out = {{"kept": kept, "world_size": [ddp["world_size"], one["world_size"]], "rank": ddp["rank"],
        "steps": [[r["global_step"] for r in h["history"]] for h in (ddp, one)],
        "loss": [[r["train_loss"] for r in h["history"]] for h in (ddp, one)],
        "max_abs_diff": max(float(np.abs(ddp["model"][k] - one["model"][k]).max()) for k in one["model"]),
        "max_abs": max(float(np.abs(v).max()) for v in one["model"].values())}}
with open({out!r}, "w") as f:
    json.dump(out, f)
"""


def test_run_parallel_from_a_notebook_kernel_matches_one_process(tmp_path: Path) -> None:
    """2 gloo workers launched inside a papermill kernel train to the 1-process weights (same global batch)."""
    import papermill as pm

    out = tmp_path / "out.json"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(_NOTEBOOK_CELL.format(here=str(HERE), out=str(out)))]
    nbformat.write(nb, tmp_path / "ddp.ipynb")
    env = {"OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), str(HERE)])}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        pm.execute_notebook(str(tmp_path / "ddp.ipynb"), str(tmp_path / "executed.ipynb"), kernel_name="python3",
                            cwd=str(tmp_path), progress_bar=False)
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    res = json.loads(out.read_text())
    assert res["world_size"] == [2, 1] and res["rank"] == 0  # rank 0's return value came back
    assert res["kept"]  # the kernel's own SIGINT/SIGTERM handlers are back (the launcher replaces them)
    assert res["steps"][0] == res["steps"][1] == [10, 20]  # 300 samples, global batch 32: 10 steps an epoch
    np.testing.assert_allclose(res["loss"][0], res["loss"][1], rtol=1e-4)
    assert res["max_abs"] > 0.1 and res["max_abs_diff"] < 1e-5


def _pid() -> tuple[int, str | None]:
    return os.getpid(), os.environ.get("WORLD_SIZE")


def test_run_parallel_runs_in_process_for_one_process_or_under_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert D.run_parallel(_pid, 1) == (os.getpid(), None)
    assert D.run_parallel(lambda a, b=0: a + b, 1, 2, b=3) == 5
    monkeypatch.setenv("WORLD_SIZE", "4")  # a process torchrun started: the ranks exist already
    monkeypatch.setenv("RANK", "1")
    assert D.run_parallel(_pid, 4) == (os.getpid(), "4")


@pytest.mark.parametrize("nproc", [0, -2, 1.5, "2", True, None])
def test_run_parallel_rejects_bad_nproc(nproc) -> None:
    with pytest.raises(ConfigError, match=rf"'nproc' = {nproc!r}.*positive integer"):
        D.run_parallel(_pid, nproc)
