"""snnkit.reproduce: the papermill pipeline on tiny fixture notebooks (never the real ones).

The fixture notebooks live in ``tests/unit/fixtures/notebooks`` with their schema module; each test
module run copies them into a temporary repository root (``--root``) with ``params/`` and
``reports/``. Executions are kept few: each one starts a kernel.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from snnkit import config, reproduce
from snnkit.report.run import start_run
from snnkit.reproduce import (
    Job,
    ProgressMonitor,
    Roots,
    UsageError,
    _make_job,
    _prepare_dir,
    kernel_env,
    load_params_file,
    main,
    progress_text,
)
from snnkit.train import checkpoint

FIXTURES = Path(__file__).parent / "fixtures"


def _load_fixture_schemas():
    spec = importlib.util.spec_from_file_location("fixture_schema", FIXTURES / "notebooks" / "fixture_schema.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    _load_fixture_schemas()
    base = tmp_path_factory.mktemp("repo")
    shutil.copytree(FIXTURES / "notebooks", base / "notebooks")
    shutil.copytree(FIXTURES / "params", base / "params")
    yield base
    config.unregister("fixture_ok")
    config.unregister("fixture_fail")


@pytest.fixture(scope="module")
def first_call(root):
    """One reproduce call over both fixture notebooks, two at a time: one succeeds, one fails."""
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(["--root", str(root), "--jobs", "2"])
    return code, buf.getvalue()


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_failing_notebook_does_not_stop_the_others(root, first_call):
    code, out = first_call
    assert code == 1
    ok = root / "reports" / "fixture_ok" / "smoke" / "default"
    bad = root / "reports" / "fixture_fail" / "smoke" / "default"
    # the good run finished: executed notebook, metrics, provenance, figures, tables, .DONE with the hash
    params = config.validate("fixture_ok", load_params_file(root / "params" / "fixture_ok" / "smoke.yaml")["default"])
    assert (ok / ".DONE").read_text().strip() == config.result_hash("fixture_ok", params)
    assert (ok / "executed.ipynb").is_file() and (ok / "figures" / "curve.png").is_file()
    assert (ok / "tables" / "results.csv").is_file() and (ok / "tables" / "results.md").is_file()
    # the failing one: partial executed notebook, no .DONE, no metrics
    assert (bad / "executed.ipynb").is_file() and not (bad / ".DONE").exists()
    assert not (bad / "metrics.json").exists()
    nb = nbformat.read(bad / "executed.ipynb", as_version=4)
    assert any(o.get("ename") == "RuntimeError" for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    # summary: both runs, statuses, the failed cell and its error
    assert "fixture_ok" in out and "fixture_fail" in out and "ok" in out and "failed" in out
    assert "cell [" in out and "RuntimeError: boom in fixture cell (scale=0.1)" in out
    assert "0.7500" in out
    assert (root / "reports" / "index.md").is_file()


def test_metrics_and_provenance_content(root, first_call):
    ok = root / "reports" / "fixture_ok" / "smoke" / "default"
    metrics = json.loads((ok / "metrics.json").read_text())
    assert metrics["notebook"] == "fixture_ok" and metrics["profile"] == "smoke" and metrics["run"] == "default"
    assert metrics["dataset"] == "fixture-digits" and metrics["stand_in"] is False and metrics["seed"] == 42
    assert metrics["scale"] == 0.75 and metrics["n"] == 2 and metrics["test_accuracy"] == 0.75
    assert metrics["python_executable"] == sys.executable  # the python3 kernel is this venv's python
    # two kernels at once (--jobs 2): each gets half the cores' threads, unless the user set OMP
    expected = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // 2))
    assert metrics["omp_num_threads"] == expected
    prov = json.loads((ok / "provenance.json").read_text())
    assert prov["params_hash"] == (ok / ".DONE").read_text().strip()
    assert prov["reproduce"]["status"] == "ok" and prov["total_wall_time_s"] > 0
    assert prov["wall_time_s"] is not None and prov["versions"]["torch"]
    bad = json.loads((root / "reports" / "fixture_fail" / "smoke" / "default" / "provenance.json").read_text())
    assert bad["reproduce"]["status"] == "failed" and "RuntimeError" in bad["reproduce"]["error"]


def test_finished_run_is_skipped_then_forced(root, first_call, capsys):
    done = root / "reports" / "fixture_ok" / "smoke" / "default" / ".DONE"
    (done.parent / "checkpoints").mkdir(exist_ok=True)
    (done.parent / "checkpoints" / "last.pt").write_text("stale")
    for stale in ("figures/old.png", "tables/old.csv", "tb/events.out.tfevents.old"):
        (done.parent / stale).parent.mkdir(exist_ok=True)
        (done.parent / stale).write_text("stale")
    before = done.stat().st_mtime_ns
    code, out, _ = _run(capsys, "--root", str(root), "--only", "fixture_ok")
    assert code == 0 and "skipped" in out and done.stat().st_mtime_ns == before
    code, out, _ = _run(capsys, "--root", str(root), "--only", "fixture_ok", "--dry-run")
    assert code == 0 and "skip (done" in out
    code, out, _ = _run(capsys, "--root", str(root), "--only", "fixture_ok", "--force", "--dry-run")
    assert "would run" in out and done.exists()  # dry run touches nothing
    code, out, _ = _run(capsys, "--root", str(root), "--only", "fixture_ok", "--force")
    assert code == 0 and " ok " in out and done.exists()
    assert not (done.parent / "checkpoints").exists()  # --force starts from scratch
    assert (done.parent / "figures" / "curve.png").is_file()  # rewritten by the notebook ...
    assert not (done.parent / "figures" / "old.png").exists()  # ... and nothing of the old run is left
    assert not (done.parent / "tables" / "old.csv").exists() and not (done.parent / "tb").exists()


def test_list_and_dry_run_of_a_sweep(root, capsys):
    code, out, _ = _run(capsys, "--root", str(root), "--list")
    assert code == 0 and "fixture_ok" in out and "paper/first" in out and "paper/second" in out
    code, out, _ = _run(capsys, "--root", str(root), "--profile", "paper", "--only", "fixture_ok", "--dry-run")
    assert code == 0 and "paper/first" in out and "paper/second" in out and "would run" in out
    assert not (root / "reports" / "fixture_ok" / "paper").exists()
    runs = load_params_file(root / "params" / "fixture_ok" / "paper.yaml")
    assert runs == {"first": {"n": 4, "progress": False, "scale": 0.25},
                    "second": {"n": 4, "progress": False, "scale": 0.5, "mode": "b"}}


def test_usage_errors(root, capsys):
    code, _, err = _run(capsys, "--root", str(root), "--only", "nope")
    assert code == 2 and "unknown notebook" in err and "fixture_ok" in err and "fixture_fail" in err
    code, _, err = _run(capsys, "--root", str(root), "--only", "fixture_fail", "--profile", "paper")
    assert code == 2 and "unknown profile 'paper'" in err and err.rstrip().endswith(": smoke")
    code, _, err = _run(capsys, "--root", str(root), "--set", "scale=0.3")
    assert code == 2 and "--only" in err
    code, _, err = _run(capsys, "--root", str(root), "--only", "fixture_ok", "--set", "scale=2.0")
    assert code == 2 and "'scale'" in err and "2.0" in err and "[0, 1]" in err
    code, _, err = _run(capsys, "--root", str(root), "--only", "fixture_ok", "--set", "scael=0.3")
    assert code == 2 and "did you mean 'scale'" in err
    code, _, err = _run(capsys, "--root", str(root), "--only", "fixture_ok", "--set", "noequals")
    assert code == 2 and "KEY=VALUE" in err


def test_invalid_params_file_fails_that_run_only(root, capsys, tmp_path):
    bad_root = tmp_path / "r"
    shutil.copytree(root / "notebooks", bad_root / "notebooks")
    (bad_root / "params" / "fixture_ok").mkdir(parents=True)
    (bad_root / "params" / "fixture_ok" / "paper.yaml").write_text(
        "runs:\n  good: {scale: 0.5}\n  bad: {scale: 1.5}\n  worse: {colour: red}\n")
    code, out, _ = _run(capsys, "--root", str(bad_root), "--profile", "paper", "--only", "fixture_ok", "--dry-run")
    assert code == 1 and "invalid: ConfigError" in out and "'colour'" in out and "would run" in out


def test_set_makes_a_custom_run(root, first_call, capsys):
    code, out, _ = _run(capsys, "--root", str(root), "--only", "fixture_ok", "--set", "scale=0.3",
                        "--set", "mode=b", "--name", "mine")
    assert code == 0, out
    run_dir = root / "reports" / "fixture_ok" / "custom" / "mine"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["profile"] == "custom" and metrics["run"] == "mine"
    assert metrics["scale"] == 0.3 and metrics["mode"] == "b" and metrics["n"] == 2  # base: smoke params
    prov = json.loads((run_dir / "provenance.json").read_text())
    assert prov["reproduce"]["overrides"] == {"scale": 0.3, "mode": "b"}
    assert prov["reproduce"]["base_profile"] == "smoke"
    assert (run_dir / ".DONE").is_file()
    # without --name the directory is the parameter hash; dry run shows it
    code, out, _ = _run(capsys, "--root", str(root), "--only", "fixture_ok", "--set", "scale=0.3", "--dry-run")
    full = config.validate("fixture_ok", {"scale": 0.3, "n": 2, "progress": False})
    assert code == 0 and str(root / "reports" / "fixture_ok" / "custom" / config.result_hash("fixture_ok", full)) in out
    index = (root / "reports" / "index.md").read_text()
    assert "| custom | mine (scale=0.3, mode=b) | ok (.DONE) |" in index


# -- parameter files: empty files and repeated keys ---------------------------------------------------
@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n# and another\n", "---\n"])
def test_empty_params_file_is_a_usage_error(tmp_path, text):
    path = tmp_path / "smoke.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match="empty") as info:
        load_params_file(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("text, key", [
    ("T: 5\nscale: 0.1\nT: 6\n", "'T'"),
    ("common: {n: 1}\nruns:\n  a: {scale: 0.1, scale: 0.2}\n", "'scale'"),
    ("runs:\n  a: {scale: 0.1}\n  a: {scale: 0.2}\n", "'a'"),
    ("common: {n: 1}\nruns: {a: {}}\ncommon: {n: 2}\n", "'common'"),
])
def test_repeated_key_is_a_usage_error(tmp_path, text, key):
    path = tmp_path / "paper.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match="duplicate key") as info:
        load_params_file(path)
    assert key in str(info.value) and str(path) in str(info.value)


def test_params_file_keeps_float_exponents_and_merge_keys(tmp_path):
    path = tmp_path / "paper.yaml"
    path.write_text("common: &base {lr: 1e-3, n: 2}\nruns:\n  a: {<<: *base, n: 3}\n  b: {scale: 1e-1}\n")
    runs = load_params_file(path)
    assert runs == {"a": {"lr": 0.001, "n": 3}, "b": {"lr": 0.001, "n": 2, "scale": 0.1}}
    assert isinstance(runs["b"]["scale"], float)
    (tmp_path / "empty.yaml").write_text("{}\n")  # no parameters at all: say at least one (e.g. seed: 42)
    with pytest.raises(UsageError, match="non-empty"):
        load_params_file(tmp_path / "empty.yaml")


def test_empty_or_repeated_key_file_stops_reproduce(root, capsys, tmp_path):
    bad_root = tmp_path / "r"
    shutil.copytree(root / "notebooks", bad_root / "notebooks")
    (bad_root / "params" / "fixture_ok").mkdir(parents=True)
    path = bad_root / "params" / "fixture_ok" / "smoke.yaml"
    path.write_text("# nothing here yet\n")
    code, _, err = _run(capsys, "--root", str(bad_root), "--only", "fixture_ok", "--dry-run")
    assert code == 2 and "empty" in err and str(path) in err
    path.write_text("scale: 0.5\nn: 2\nscale: 0.6\n")
    code, _, err = _run(capsys, "--root", str(bad_root), "--only", "fixture_ok", "--dry-run")
    assert code == 2 and "duplicate key 'scale'" in err and str(path) in err


# -- the run directory before a run -------------------------------------------------------------------
def _job(tmp_path, **params):
    full = config.validate("fixture_ok", params)
    return Job(notebook="fixture_ok", profile="smoke", run="default", params=full, run_dir=tmp_path / "run",
               notebook_path=tmp_path / "fixture_ok.ipynb", reports_root=tmp_path,
               params_hash=config.result_hash("fixture_ok", full))


def _fill(run_dir, prov_hash):
    for name in (".DONE", "metrics.json", "executed.ipynb", "figures/a.png", "tables/t.csv", "tb/events",
                 "checkpoints/last.pt"):
        (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / name).write_text("old")
    (run_dir / "provenance.json").write_text(json.dumps({"params_hash": prov_hash}))


@pytest.mark.parametrize("case", ["same", "changed", "force", "no provenance"])
def test_prepare_dir_clears_old_outputs(root, tmp_path, case):
    job = _job(tmp_path, scale=0.25)
    _fill(job.run_dir, "0" * 16 if case == "changed" else job.params_hash)
    if case == "no provenance":
        (job.run_dir / "provenance.json").unlink()
    _prepare_dir(job, force=case == "force")
    left = sorted(p.relative_to(job.run_dir).as_posix() for p in job.run_dir.rglob("*"))
    # only a resume of the very same parameters keeps its checkpoints; every other output always goes
    assert left == (["checkpoints", "checkpoints/last.pt"] if case == "same" else []) + ["provenance.json"]
    prov = json.loads((job.run_dir / "provenance.json").read_text())  # a fresh record of this attempt
    assert prov["params_hash"] == job.params_hash and prov["params"] == job.params and "reproduce" not in prov
    assert (prov["notebook"], prov["profile"], prov["run"]) == ("fixture_ok", "smoke", "default")


def test_attempt_stopped_before_its_notebook_started_keeps_the_checkpoints(root, tmp_path):
    """A call stopped after the run folder was prepared but before the notebook's start_run() wrote its
    provenance (Ctrl-C or a killed worker during papermill's start-up) must not cost the next call the
    checkpoints it was about to resume."""
    job = _job(tmp_path, scale=0.25)
    _fill(job.run_dir, job.params_hash)
    _prepare_dir(job, force=False)  # the call that was stopped before the notebook started
    _prepare_dir(job, force=False)  # the next call
    assert (job.run_dir / "checkpoints" / "last.pt").read_text() == "old"


@pytest.mark.parametrize("changed", [{"device": "cpu"}, {"progress": False}, {"data_root": "/elsewhere"},
                                     {"scale": 0.5}])
def test_restart_with_only_provenance_params_changed_keeps_checkpoints(root, tmp_path, changed):
    """Bug 2: a killed run restarted with another device (data root, progress bars) keeps its checkpoints;
    a change of a parameter that changes results still starts from scratch."""
    roots = Roots(notebooks=root / "notebooks", params=root / "params", reports=tmp_path / "reports")
    first = _make_job("fixture_ok", "paper", "first", {"scale": 0.25, "device": "auto"}, roots)
    # the killed attempt: the notebook's run wrote provenance.json and the trainer a checkpoint
    run = start_run("fixture_ok", first.params, profile="paper", run="first", run_dir=first.run_dir,
                    dataset="fixture-digits")
    assert run.params_hash == first.params_hash
    (first.run_dir / "checkpoints").mkdir()
    (first.run_dir / "checkpoints" / "last.pt").write_text("work of hours")
    again = _make_job("fixture_ok", "paper", "first", {"scale": 0.25, "device": "auto", **changed}, roots)
    _prepare_dir(again, force=False)
    kept = (first.run_dir / "checkpoints" / "last.pt").exists()
    assert kept == ("scale" not in changed)
    assert (again.params_hash == first.params_hash) == kept


def test_provenance_records_every_parameter_and_the_identity(root, tmp_path):
    params = config.validate("fixture_ok", {"scale": 0.25, "device": "cpu", "data_root": "/d"})
    run = start_run("fixture_ok", params, run="r", reports_root=tmp_path, dataset="fixture-digits")
    prov = json.loads((run.path / "provenance.json").read_text())
    assert prov["params"] == params
    assert prov["provenance_only"] == {k: params[k] for k in config.PROVENANCE_ONLY if k in params}
    assert prov["provenance_only"]["device"] == "cpu" and prov["provenance_only"]["data_root"] == "/d"
    assert prov["params_hash"] == run.params_hash == config.result_hash("fixture_ok", params)
    assert run.params_hash == config.result_hash("fixture_ok", {**params, "device": "auto"})


# -- kernel environment ---------------------------------------------------------------------------------
def test_kernel_env_shares_threads_out(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(reproduce, "_idle_cores", lambda: 8.0)  # an idle machine
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "5")
    for jobs, threads in [(1, "8"), (2, "4"), (3, "2"), (16, "1")]:
        with kernel_env(jobs):
            assert os.environ["OMP_NUM_THREADS"] == threads and os.environ["MKL_NUM_THREADS"] == threads
        assert "OMP_NUM_THREADS" not in os.environ and os.environ["MKL_NUM_THREADS"] == "5"  # restored
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)  # e.g. a 1-core Slurm share
    monkeypatch.setattr(os, "cpu_count", lambda: 64)  # of a larger node: the share counts
    with kernel_env():
        assert os.environ["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice wins
    with kernel_env(4):
        assert os.environ["OMP_NUM_THREADS"] == "3" and os.environ["MKL_NUM_THREADS"] == "5"
    assert os.environ["OMP_NUM_THREADS"] == "3"


def test_kernel_env_waits_passively_when_its_cores_are_busy(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    for var in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY"):
        monkeypatch.delenv(var, raising=False)
    idle = {"cores": 0.9}  # another process holds one of the two cores
    calls = []

    def fake_idle():
        calls.append(1)
        return idle["cores"]

    monkeypatch.setattr(reproduce, "_idle_cores", fake_idle)
    with kernel_env(1):
        assert os.environ["OMP_NUM_THREADS"] == "2" and os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert "OMP_WAIT_POLICY" not in os.environ  # restored
    idle["cores"] = 1.9
    with kernel_env(1):
        assert "OMP_WAIT_POLICY" not in os.environ
    n = len(calls)
    with kernel_env(2):  # one thread per kernel: nothing spins, nothing measured
        assert os.environ["OMP_NUM_THREADS"] == "1" and "OMP_WAIT_POLICY" not in os.environ
    assert len(calls) == n
    idle["cores"] = 0.2
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user's policy wins
    with kernel_env(1):
        assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_idle_cores_reads_a_fraction_of_the_usable_cores():
    idle = reproduce._idle_cores(0.05)
    if idle is None:
        pytest.skip("no /proc/stat here")
    assert 0.0 <= idle <= len(os.sched_getaffinity(0)) + 1e-9


# -- the .DONE marker is snnkit.train.checkpoint's --------------------------------------------------------
def test_done_marker_is_the_checkpoint_modules(root, first_call, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(checkpoint, "DONE_NAME", ".finished")
    params = config.validate("fixture_ok", load_params_file(root / "params" / "fixture_ok" / "smoke.yaml")["default"])
    run_dir = root / "reports" / "fixture_ok" / "smoke" / "default"
    checkpoint.mark_done(run_dir, config.result_hash("fixture_ok", params))
    try:
        code, out, _ = _run(capsys, "--root", str(root), "--only", "fixture_ok", "--dry-run")
        assert code == 0 and "skip (done" in out
        (run_dir / ".finished").write_text("another-hash\n")
        code, out, _ = _run(capsys, "--root", str(root), "--only", "fixture_ok", "--dry-run")
        assert code == 0 and "would run" in out
    finally:
        (run_dir / ".finished").unlink()


# -- reproduce as a user meets it ---------------------------------------------------------------------
def _copy_root(root, tmp_path, params: dict[str, str] | None = None):
    """A fresh repository root with the fixture notebooks and params (plus ``params`` files: path -> text)."""
    new = tmp_path / "repo"
    shutil.copytree(root / "notebooks", new / "notebooks")
    shutil.copytree(root / "params", new / "params")
    for rel, text in (params or {}).items():
        (new / "params" / rel).parent.mkdir(parents=True, exist_ok=True)
        (new / "params" / rel).write_text(text)
    return new


_RUNNER = """
import sys
sys.path.insert(0, {notebooks!r})
import fixture_schema  # noqa: F401  (the schemas, in the main process and in each worker)
from snnkit.reproduce import main
if __name__ == "__main__":
    sys.exit(main(["--root", {root!r}, *sys.argv[1:]]))
"""


def _processes_mentioning(path: Path) -> list[str]:
    """Command lines of the live processes that name ``path`` (a kernel names its connection file)."""
    out = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if proc.name.isdigit() and str(path) in cmdline:
            out.append(cmdline)
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="lists processes through /proc")
@pytest.mark.parametrize("gaps", [(), (0.01, 0.2, 0.2)], ids=["once", "four times"])
def test_ctrl_c_ends_with_one_line_and_no_tcp_warning(root, tmp_path, capsys, gaps):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) during a run: exit 130, ONE line naming
    the run and saying that re-running resumes; no kernel traceback; kernels start without the
    "TCP without encryption" warning (IPC transport); no kernel outlives the call and its socket folders
    and connection files are removed; --list then shows the run as interrupted. Pressed several times
    (^C^C, or GNU timeout's SIGINT to the child and its group) the result is the same: a second one
    during the clean-up must not cut it short."""
    import signal
    import subprocess
    import time

    repo = _copy_root(root, tmp_path, {"fixture_ok/slow.yaml": "n: 100\n"})  # n=100: a slow run
    runner = tmp_path / "run_reproduce.py"
    runner.write_text(_RUNNER.format(notebooks=str(repo / "notebooks"), root=str(repo)))
    tmp = tmp_path / "tmp"  # where the call's kernels keep their sockets and connection files
    tmp.mkdir()
    proc = subprocess.Popen([sys.executable, str(runner), "--only", "fixture_ok", "--profile", "slow"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "TMPDIR": str(tmp)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    run_dir = repo / "reports" / "fixture_ok" / "slow" / "default"
    deadline = time.monotonic() + 120
    while not (run_dir / "progress.json").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    for gap in gaps:
        time.sleep(gap)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("interrupted: fixture_ok slow/default at epoch ")
    assert "re-run the same command to resume" in lines[0]
    assert "eavesdropping" not in err and "Traceback" not in err
    assert "eavesdropping" not in (run_dir / "kernel.log").read_text()  # not merely moved to the log
    assert list(tmp.iterdir()) == []
    deadline = time.monotonic() + 10  # a kernel notices within a second that its worker is gone
    while _processes_mentioning(tmp) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_mentioning(tmp) == []
    prov = json.loads((run_dir / "provenance.json").read_text())
    assert prov["reproduce"]["status"] == "interrupted" and not (run_dir / ".DONE").exists()
    assert prov["reproduce"]["resumed_from"] == {"epoch": 0, "step": 0}  # from the progress file of this call
    # the time it ran: at least the 0.5 s between its first progress line and the Ctrl-C
    assert prov["reproduce"]["total_wall_time_s"] >= 0.5 and prov["total_wall_time_s"] >= 0.5
    code, out, _ = _run(capsys, "--root", str(repo), "--list")
    assert code == 0 and "slow/default: interrupted at epoch " in out and "smoke/default: not run" in out


def test_progress_line_and_monitor(tmp_path):
    progress = {"phase": "train", "epoch": 3, "epochs": 20, "step": 512, "total_steps": 4700,
                "steps_per_s": 2.314, "eta_s": 1812.4, "resumed_from": {"epoch": 2, "step": 470},
                "updated": "2026-01-01T00:00:00+00:00"}
    assert progress_text(progress) == ("epoch 3/20 · step 512/4700 · 2.31 steps/s · ETA 30:12 · "
                                       "resumed from epoch 2, step 470")
    fresh = {**progress, "steps_per_s": None, "eta_s": None, "resumed_from": None, "phase": "layer l2"}
    assert progress_text(fresh) == "layer l2 · epoch 3/20 · step 512/4700 · — steps/s · ETA —"
    assert progress_text({**progress, "eta_s": 3 * 3600 + 65}).endswith("ETA 3:01:05 · resumed from epoch 2, step 470")

    import io

    job = Job(notebook="nb", profile="paper", run="dense", params={}, run_dir=tmp_path / "run",
              notebook_path=tmp_path / "nb.ipynb", reports_root=tmp_path)
    job.run_dir.mkdir()
    stale = job.run_dir / "progress.json"
    stale.write_text(json.dumps(progress))
    os.utime(stale, (1_000_000, 1_000_000))  # left by an earlier call: not shown
    out = io.StringIO()
    monitor = ProgressMonitor(file=out, disable=False, width=80)
    monitor.start(job)
    assert monitor.poll() == {}
    stale.write_text(json.dumps({**progress, "step": 600}))  # the trainer writes in this call
    shown = monitor.poll()
    assert shown == {job.run_dir: "nb paper/dense  13% · epoch 3/20 · step 600/4700 · 2.31 steps/s · ETA 30:12"}
    assert shown[job.run_dir] in out.getvalue() and ", epoch" not in out.getvalue()  # no tqdm ", " before it
    assert monitor.running() == []  # its notebook has not started in this call (no new executed.ipynb)
    (job.run_dir / "executed.ipynb").write_text("{}")
    assert monitor.running() == [job]
    monitor.end(job)
    assert monitor.poll() == {} and monitor.running() == []


def test_progress_line_fits_80_columns():
    """At 80 columns the essential numbers come first and all fit; the notebook name goes when it is long;
    "resumed from" shortens before anything else is cut; no stray ", "."""
    from snnkit.reproduce import progress_line

    job = Job(notebook="g2gnet_fashionmnist", profile="smoke", run="dense", params={}, run_dir=Path("r"),
              notebook_path=Path("nb.ipynb"), reports_root=Path("."))
    progress = {"phase": "train", "epoch": 1, "epochs": 8, "step": 40, "total_steps": 800, "steps_per_s": 2.314,
                "eta_s": 344.0, "resumed_from": {"epoch": 1, "step": 3, "fallback": True}}
    line = progress_line(job, progress, 80)
    assert line == "smoke/dense   5% · epoch 1/8 · step 40/800 · 2.31 steps/s · ETA 5:44 · resumed"
    assert len(line) <= 80
    wide = progress_line(job, progress, 200)
    assert wide == ("g2gnet_fashionmnist smoke/dense   5% · epoch 1/8 · step 40/800 · 2.31 steps/s · ETA 5:44 · "
                    "resumed from epoch 1, step 3 (from the previous checkpoint: the last one was corrupt)")
    fresh = progress_line(job, {**progress, "resumed_from": None, "steps_per_s": None, "eta_s": None}, 80)
    assert fresh == "smoke/dense   5% · epoch 1/8 · step 40/800 · — steps/s · ETA —"
    assert progress_line(job, progress, 120).endswith("ETA 5:44 · resumed from epoch 1, step 3")
    assert progress_line(job, progress, 40) == "smoke/dense   5% · epoch 1/8"
    assert progress_line(job, progress, 12) == "smoke/dense…"


def test_profiles_are_discovered(root, tmp_path, capsys):
    repo = _copy_root(root, tmp_path, {"fixture_ok/cpu.yaml": "scale: 0.2\n"})
    code, out, _ = _run(capsys, "--root", str(repo), "--profile", "cpu", "--dry-run")
    assert code == 0 and "fixture_ok cpu/default" in out and "would run" in out
    assert "fixture_fail" not in out  # it has no cpu profile: left out when not named with --only
    code, _, err = _run(capsys, "--root", str(repo), "--profile", "gpu", "--dry-run")
    assert code == 2 and "unknown profile 'gpu'" in err and "cpu, paper, smoke" in err
    code, _, err = _run(capsys, "--root", str(repo), "--only", "fixture_fail", "--profile", "cpu")
    assert code == 2 and "unknown profile 'cpu'" in err and err.rstrip().endswith(": smoke")  # its own profiles


def test_root_defaults_to_the_cwd_or_is_a_usage_error(root, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(capsys, "--list")
    assert code == 2 and "has no notebooks/" in err and "--root" in err
    repo = _copy_root(root, tmp_path)
    monkeypatch.chdir(repo)
    code, out, _ = _run(capsys, "--list")
    assert code == 0 and "fixture_ok  (profiles: paper, smoke)" in out


def test_list_shows_done_failed_and_not_run(root, first_call, capsys):
    code, out, _ = _run(capsys, "--root", str(root), "--list")
    assert code == 0
    assert "fixture_ok  (profiles: paper, smoke)" in out and "  smoke/default: done" in out
    failed = [line for line in out.splitlines() if line.startswith("  smoke/default: failed")]
    assert len(failed) == 1 and "RuntimeError: boom in fixture cell" in failed[0]
    assert "  paper/first: not run" in out


def test_yaml_parameter_error_points_to_no_old_executed_notebook(root, first_call, tmp_path, capsys):
    repo = _copy_root(root, tmp_path, {"fixture_ok/smoke.yaml": "scale: 1.5\nn: 2\n"})
    old = repo / "reports" / "fixture_ok" / "smoke" / "default"
    shutil.copytree(root / "reports" / "fixture_ok" / "smoke" / "default", old)  # a previous successful run
    code, out, _ = _run(capsys, "--root", str(repo), "--only", "fixture_ok")
    assert code == 1
    failure = out[out.index("1 run(s) failed:"):out.index("total wall time")].strip().splitlines()
    assert len(failure) == 2 and "ConfigError" in failure[1] and "'scale'" in failure[1]
    assert "executed.ipynb" not in out


def test_config_error_inside_a_notebook_is_one_line(root, tmp_path, capsys):
    repo = _copy_root(root, tmp_path, {"fixture_fail/smoke.yaml": "scale: 0.1\nmode: b\n"})
    code, out, err = _run(capsys, "--root", str(repo), "--only", "fixture_fail")
    assert code == 1
    failure = out[out.index("1 run(s) failed:"):out.index("total wall time")].strip().splitlines()
    assert len(failure) == 3  # the header, the one line, and where to read the executed notebook
    assert failure[1].startswith("  fixture_fail smoke/default: cell [")
    assert "ConfigError: fixture_fail: parameter 'mode' = 'b' is not allowed" in failure[1]
    assert failure[2].strip() == f"see {repo / 'reports' / 'fixture_fail' / 'smoke' / 'default' / 'executed.ipynb'}"
    assert "Traceback" not in out + err and "eavesdropping" not in err


def test_summary_names_resumed_runs():
    from snnkit.reproduce import Result, summary_table

    resumed = Result("nb", "dense", "paper", "ok", wall_s=3.0, metric=0.5, run_dir="/r/a", executed=True,
                     resumed_from={"epoch": 2, "step": 470})
    fresh = Result("nb", "sparse", "paper", "ok", wall_s=3.0, metric=0.6, run_dir="/r/b", executed=True)
    fell_back = Result("nb", "mixer", "paper", "ok", wall_s=3.0, metric=0.6, run_dir="/r/c", executed=True,
                       resumed_from={"epoch": 21, "step": 672, "fallback": True})
    lines = summary_table([resumed, fresh, fell_back]).splitlines()
    assert lines[5:] == ["nb paper/dense resumed from epoch 2, step 470",
                         "nb paper/mixer resumed from epoch 21, step 672 (from the previous checkpoint: the last "
                         "one was corrupt)"]
    assert progress_text({"resumed_from": {"epoch": 21, "step": 672, "fallback": True}}).endswith(
        "resumed from epoch 21, step 672 (from the previous checkpoint: the last one was corrupt)")


def test_no_valid_checkpoint_line_keeps_the_fix(tmp_path):
    """Both checkpoints corrupt: the one-line failure in the summary (cut at 400 characters) still says
    what to do, not only what each file's problem was."""
    from snnkit.errors import CheckpointError
    from snnkit.reproduce import _failure_text

    folder = tmp_path / "reports" / "g2gnet_fashionmnist" / "custom" / "a3f9c2e1d0b4a5c6" / "checkpoints"
    folder.mkdir(parents=True)
    for name in ("last.pt", "prev.pt"):
        (folder / name).write_bytes(b"x" * 1000)
    with pytest.raises(CheckpointError) as info:
        checkpoint.load_latest([folder / "last.pt", folder / "prev.pt"])

    class CellError(Exception):  # what papermill raises for a failing cell
        exec_count, cell_index, ename, evalue = 12, 20, "CheckpointError", str(info.value)

    line = _failure_text(CellError())
    assert f"re-run with --force (snnkit.reproduce) or delete the checkpoints folder {folder} to start over" in line
    assert "(last.pt is truncated, corrupted" in line  # and at least the first file's problem


def test_list_and_dry_run_show_custom_runs(root, tmp_path, capsys):
    """Ad-hoc runs (made with --set) found on disk are listed with their overrides and state, and a dry run of
    an interrupted one says it would resume."""
    repo = _copy_root(root, tmp_path)
    full = config.validate("fixture_ok", {"scale": 0.3, "n": 2, "progress": False})  # smoke + scale=0.3
    name = config.result_hash("fixture_ok", full)
    custom = repo / "reports" / "fixture_ok" / "custom"
    (custom / name / "checkpoints").mkdir(parents=True)
    (custom / name / "checkpoints" / "last.pt").write_text("x")
    (custom / name / "progress.json").write_text(json.dumps({"epoch": 3, "epochs": 8, "step": 12}))
    (custom / name / "provenance.json").write_text(json.dumps(
        {"params_hash": name, "params": full, "reproduce": {"status": "interrupted", "overrides": {"scale": 0.3}}}))
    (custom / "broken").mkdir()
    (custom / "broken" / "provenance.json").write_text(json.dumps(
        {"params_hash": "0" * 16, "reproduce": {"status": "failed", "error": "RuntimeError: boom",
                                                "overrides": {"T": 5, "epochs": 30}}}))
    code, out, _ = _run(capsys, "--root", str(repo), "--list")
    assert code == 0
    assert f"  custom/{name} (scale=0.3): interrupted at epoch 3, step 12\n" in out
    assert "  custom/broken (T=5, epochs=30): failed: RuntimeError: boom\n" in out
    code, out, _ = _run(capsys, "--root", str(repo), "--only", "fixture_ok", "--set", "scale=0.3", "--dry-run")
    assert code == 0 and out.rstrip().endswith(": would resume from epoch 3, step 12")
    code, out, _ = _run(capsys, "--root", str(repo), "--only", "fixture_ok", "--set", "scale=0.3", "--dry-run",
                        "--force")
    assert code == 0 and out.rstrip().endswith(": would run")


def test_worker_log_lines_go_above_the_progress_lines(monkeypatch, capsys):
    """A worker's log record (e.g. "removing checkpoints of …") is written by the main process through
    tqdm.write while progress lines are shown, not by the worker into the middle of them."""
    import logging
    import multiprocessing

    from tqdm import tqdm

    from snnkit.reproduce import _LogRelay, _worker_init

    written = []
    real_write = tqdm.write
    monkeypatch.setattr(tqdm, "write", classmethod(lambda cls, s, **kw: (written.append(s), real_write(s, **kw))))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root_logger = logging.getLogger()
    monkeypatch.setattr(root_logger, "handlers", [handler])
    monkeypatch.setattr(root_logger, "level", logging.INFO)
    ctx = multiprocessing.get_context("spawn")
    with _LogRelay(ctx) as relay, ctx.Pool(1, initializer=_worker_init, initargs=(logging.INFO, relay.queue)) as pool:
        pool.apply(_log_in_worker, ("removing checkpoints of /r (--force)",))
        relay.close()
    assert written == ["INFO snnkit.reproduce: removing checkpoints of /r (--force)"]


def _log_in_worker(message):
    import logging

    logging.getLogger("snnkit.reproduce").info(message)


def test_an_older_progress_file_is_not_this_attempts_resume(root, tmp_path):
    """A run resumed (with a fallback) in an earlier attempt keeps its progress.json; an attempt whose
    notebook writes none (e.g. it loads the finished training) must not report that old resume."""
    from snnkit.reproduce import execute_job

    roots = Roots(notebooks=root / "notebooks", params=root / "params", reports=tmp_path / "reports")
    job = _make_job("fixture_ok", "smoke", "default", {"scale": 0.5, "n": 2, "progress": False}, roots)
    job.run_dir.mkdir(parents=True)
    (job.run_dir / "provenance.json").write_text(json.dumps({"params_hash": job.params_hash}))
    (job.run_dir / "checkpoints").mkdir()
    old = job.run_dir / "progress.json"
    old.write_text(json.dumps({"epoch": 3, "step": 9, "resumed_from": {"epoch": 2, "step": 6, "fallback": True}}))
    os.utime(old, (1_000_000, 1_000_000))
    result = execute_job(job)
    assert result.status == "ok" and result.resumed_from is None
    assert json.loads((job.run_dir / "provenance.json").read_text())["reproduce"]["resumed_from"] is None


def test_runs_selects_runs_of_a_sweep_by_pattern(root, capsys):
    """`--runs` picks runs of a profile by name or shell pattern; a pattern matching nothing is a usage
    error listing the runs; with --set it names the run the ad-hoc run starts from."""
    reports = root / "reports" / "fixture_ok" / "paper"
    code, out, _ = _run(capsys, "--root", str(root), "--only", "fixture_ok", "--profile", "paper", "--runs", "sec*",
                        "--dry-run")
    assert code == 0 and str(reports / "second") in out and str(reports / "first") not in out
    code, _, err = _run(capsys, "--root", str(root), "--only", "fixture_ok", "--profile", "paper", "--runs", "first",
                        "third", "--dry-run")
    assert code == 2 and "'third' match no run" in err and "first, second" in err
    code, out, _ = _run(capsys, "--root", str(root), "--only", "fixture_ok", "--profile", "paper", "--runs", "second",
                        "--set", "scale=0.4", "--dry-run")
    full = config.validate("fixture_ok", {"n": 4, "progress": False, "scale": 0.4, "mode": "b"})  # second's mode
    assert code == 0 and config.result_hash("fixture_ok", full) in out
    code, _, err = _run(capsys, "--root", str(root), "--only", "fixture_ok", "--profile", "paper", "--runs", "*",
                        "--set", "scale=0.4", "--dry-run")
    assert code == 2 and "exactly one run" in err
