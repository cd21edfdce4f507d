"""``reproduce --launcher``: submitit's local executor runs the code path of ``--launcher slurm``
(one job per run calling execute_job) on the fixture notebook; the errors of the launcher options."""

from __future__ import annotations

import io
import json
import shutil
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from snnkit import config
from snnkit.errors import ConfigError
from snnkit.reproduce import (
    Roots,
    _make_job,
    _SubmititRun,
    execute_job,
    load_params_file,
    main,
    make_executor,
)

FIXTURES = Path(__file__).parent / "fixtures"


# -- reproduce --launcher -------------------------------------------------------------------------------
@pytest.fixture
def fixture_root(tmp_path: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("fixture_schema", FIXTURES / "notebooks" / "fixture_schema.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # registers the fixture schemas
    shutil.copytree(FIXTURES / "notebooks", tmp_path / "notebooks")
    shutil.copytree(FIXTURES / "params", tmp_path / "params")
    yield tmp_path
    config.unregister("fixture_ok")
    config.unregister("fixture_fail")


def _files(run_dir: Path) -> set[str]:
    return {str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file()}


def _submitted(reports: Path) -> list[Path]:
    return sorted((reports / ".submitit").glob("*_submitted.pkl"))


def _reproduce(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(list(argv))
    return code, buf.getvalue()


def test_submitit_launcher_writes_what_a_local_run_writes(fixture_root: Path) -> None:
    """One job per run through submitit's local executor: the run folder, .DONE and index of a local run;
    an interrupted attempt's checkpoints are kept (the job resumes them); a re-run skips the done run."""
    roots = Roots(fixture_root / "notebooks", fixture_root / "params", fixture_root / "local")
    raw = load_params_file(roots.params / "fixture_ok" / "smoke.yaml")["default"]
    local = _make_job("fixture_ok", "smoke", "default", raw, roots)
    assert execute_job(local).status == "ok"  # what a local worker runs for this run

    run_sub = fixture_root / "sub" / "fixture_ok" / "smoke" / "default"
    (run_sub / "checkpoints").mkdir(parents=True)  # a killed attempt of the same run: resumed, not wiped
    (run_sub / "checkpoints" / "last.pt").write_bytes(b"state")
    (run_sub / "provenance.json").write_text(json.dumps({"params_hash": local.params_hash}))
    argv = ["--root", str(fixture_root), "--only", "fixture_ok", "--reports-dir", str(fixture_root / "sub"),
            "--launcher", "submitit-local", "--slurm-time", "5"]
    code, out = _reproduce(*argv)
    assert code == 0, out
    assert _files(run_sub) == _files(local.run_dir) | {"checkpoints/last.pt"}
    assert (run_sub / "checkpoints" / "last.pt").read_bytes() == b"state"
    assert (run_sub / ".DONE").read_text() == (local.run_dir / ".DONE").read_text()
    m_local, m_sub = (json.loads((d / "metrics.json").read_text()) for d in (local.run_dir, run_sub))
    assert m_sub["test_accuracy"] == m_local["test_accuracy"] == 0.75
    assert "fixture_ok" in (fixture_root / "sub" / "index.md").read_text()
    p_local, p_sub = (json.loads((d / "provenance.json").read_text())["reproduce"] for d in (local.run_dir, run_sub))
    assert p_sub["command"] == p_local["command"] == sys.argv  # the submitting command, not submitit's script
    assert p_sub["launcher"] == "submitit-local" and p_sub["job_id"] and "launcher" not in p_local
    assert p_sub["status"] == p_local["status"] == "ok" and p_sub["params_hash"] == local.params_hash
    assert len(_submitted(fixture_root / "sub")) == 1  # one submitit job for the one run

    code, out = _reproduce(*argv)  # re-running skips the finished run: no new job
    assert code == 0 and "skipped" in out
    assert len(_submitted(fixture_root / "sub")) == 1


def test_bad_launcher_is_a_usage_error_naming_the_choices(fixture_root: Path, capsys) -> None:
    assert main(["--root", str(fixture_root), "--launcher", "pbs"]) == 2
    err = capsys.readouterr().err
    assert "'pbs'" in err and "local, slurm" in err
    with pytest.raises(ConfigError, match="'pbs'.*local, slurm"):
        make_executor("pbs", fixture_root)


def test_missing_submitit_or_slurm_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("srun") is None:  # on a machine without Slurm
        with pytest.raises(ConfigError, match="'slurm'.*no Slurm found"):
            make_executor("slurm", tmp_path)
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit now raises ImportError
    with pytest.raises(ConfigError, match="'slurm'.*submitit is installed"):
        make_executor("slurm", tmp_path)


def test_slurm_options_reach_submitit_and_a_requeued_job_keeps_its_checkpoints(tmp_path: Path) -> None:
    ex = make_executor("submitit-local", tmp_path, slurm_partition="gpu", slurm_time=30, slurm_mem="8G",
                       slurm_gpus_per_node=None)
    assert ex.cluster == "local"
    with pytest.raises(Exception, match="slurm_bogus"):  # submitit checks the names it is given
        make_executor("submitit-local", tmp_path, slurm_bogus=1)
    requeued = _SubmititRun().checkpoint("the job", True)
    assert requeued.args == ("the job", False)  # resumes: no --force on the requeued attempt
