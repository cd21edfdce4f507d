"""snnkit.report.run: run directory, provenance.json and the flat metrics.json contract."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from snnkit.config import result_hash, validate  # noqa: E402
from snnkit.errors import ConfigError, SnnkitError  # noqa: E402
from snnkit.report import run as run_mod  # noqa: E402
from snnkit.report.run import json_scalar, start_run, start_run_from  # noqa: E402

NB = "g2gnet_fashionmnist"


def test_layout_provenance_and_metrics(tmp_path):
    params = validate(NB, {"T": 5, "hidden_dim": 16, "dataset": "fashionmnist-embedded", "seed": 3})
    run = start_run(NB, params, profile="smoke", run="r1", reports_root=tmp_path)
    assert run.path == tmp_path / NB / "smoke" / "r1"
    assert (run.path / "figures").is_dir() and (run.path / "tables").is_dir()
    assert run.ckpt_dir == run.path / "checkpoints" and run.ckpt_dir.is_dir()
    assert run.tb_dir.is_dir()

    prov = json.loads((run.path / "provenance.json").read_text())
    assert prov["params"] == params and prov["params_hash"] == result_hash(NB, params) and prov["seed"] == 3
    assert set(prov["git"]) == {"commit", "dirty"}
    for pkg in ("python", "torch", "numpy", "snnkit", "snntorch"):
        assert prov["versions"][pkg]
    assert prov["device"]["resolved"] == "cpu" and prov["host"]["hostname"] and prov["start_time"]
    assert prov["wall_time_s"] is None

    run.set_dataset("fashionmnist-embedded", stand_in=False)
    run.log(val_accuracy=np.float64(0.5), epoch_time_s=torch.tensor(1.25))
    run.log(val_accuracy=0.6)  # later values replace earlier ones
    metrics = run.finish(test_accuracy=torch.tensor(0.75), firing_rate=np.float32(0.02), sparsity=0.0)
    on_disk = json.loads((run.path / "metrics.json").read_text())
    assert on_disk == metrics
    for key in ("notebook", "profile", "run", "dataset", "stand_in", "seed", "wall_time_s"):
        assert key in on_disk
    assert on_disk["notebook"] == NB and on_disk["profile"] == "smoke" and on_disk["run"] == "r1"
    assert on_disk["dataset"] == "fashionmnist-embedded" and on_disk["stand_in"] is False
    assert on_disk["seed"] == 3 and on_disk["wall_time_s"] >= 0
    for key, value in params.items():  # every parameter under its own name
        assert on_disk[key] == value
    assert on_disk["test_accuracy"] == 0.75 and on_disk["val_accuracy"] == 0.6
    assert on_disk["epoch_time_s"] == 1.25 and on_disk["firing_rate"] == pytest.approx(0.02)
    assert all(not isinstance(v, (dict, list)) for v in on_disk.values())  # flat
    prov = json.loads((run.path / "provenance.json").read_text())
    assert prov["wall_time_s"] == on_disk["wall_time_s"] and prov["dataset"] == "fashionmnist-embedded"
    assert not list(run.path.glob(".*.tmp"))  # atomic writes leave no temp files


def test_figure_and_table(tmp_path):
    run = start_run(NB, {}, reports_root=tmp_path, dataset="cifar10-standin", stand_in=True)
    assert run.path == tmp_path / NB / "interactive" / run.params_hash
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = run.figure(fig, "curve")
    assert path == run.path / "figures" / "curve.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.fignum_exists(fig.number)  # still showable inline
    plt.close(fig)
    df = pd.DataFrame({"a": [1, 2], "b": [0.5, 0.25]})
    csv, md = run.table(df, "results")
    assert pd.read_csv(csv)["b"].tolist() == [0.5, 0.25]
    text = md.read_text()
    assert "**stand-in**" in text and "cifar10-standin" in text and "0.25 |" in text
    from snnkit.report.tables import to_markdown

    assert text == (f"*{NB} / interactive / {run.run}; dataset: cifar10-standin (**stand-in**: not comparable "
                    f"with published numbers)*\n\n{to_markdown(df)}")
    with pytest.raises(SnnkitError, match="not allowed"):
        run.figure(fig, "../escape")


def test_metric_validation(tmp_path):
    run = start_run(NB, {}, reports_root=tmp_path, dataset="fashionmnist")
    with pytest.raises(SnnkitError, match="fraction"):
        run.log(test_accuracy=87.04)  # a percentage, not a fraction
    with pytest.raises(SnnkitError, match="fraction"):
        run.log(train_accuracy=-0.1)
    with pytest.raises(SnnkitError, match="JSON scalar"):
        run.log(history=[1, 2])
    with pytest.raises(SnnkitError, match="scalar"):
        run.log(rates=np.zeros(3))
    with pytest.raises(SnnkitError, match="reserved"):
        run.log(dataset="x")
    with pytest.raises(SnnkitError, match="parameter"):
        run.log(lr=0.1)
    assert json_scalar("x", float("nan")) is None and json_scalar("x", np.int32(4)) == 4
    assert json_scalar("x", np.bool_(True)) is True


def test_dataset_required_and_params_validated(tmp_path):
    run = start_run(NB, {}, reports_root=tmp_path)
    with pytest.raises(SnnkitError, match="dataset"):
        run.finish(test_accuracy=0.5)
    with pytest.raises(ConfigError, match="hidden_dim"):
        start_run(NB, {"hidden_dim": -1}, reports_root=tmp_path)


def test_start_run_from_snnkit_run_and_stale_metrics(tmp_path):
    run_dir = tmp_path / "somewhere" / "x"
    info = {"run_dir": str(run_dir), "profile": "paper", "run": "dense", "reports_root": str(tmp_path)}
    run = start_run_from(NB, {}, info, dataset="fashionmnist")
    run.finish(test_accuracy=0.8)
    assert json.loads((run_dir / "metrics.json").read_text())["profile"] == "paper"
    start_run_from(NB, {}, info)  # a new start removes the old metrics.json
    assert not (run_dir / "metrics.json").exists()
    interactive = start_run_from(NB, {}, None, reports_root=tmp_path)
    assert interactive.profile == "interactive"
    assert interactive.path == tmp_path / NB / "interactive" / interactive.params_hash
    # Interactive runs with other parameters get their own directory (and checkpoints).
    other = start_run_from(NB, {"seed": 1}, None, reports_root=tmp_path)
    assert other.path != interactive.path and other.path.parent == interactive.path.parent
    with pytest.raises(SnnkitError, match="unknown keys"):
        start_run_from(NB, {}, {"bogus": 1})


def _git(*args, cwd):
    import subprocess

    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": __import__("os").environ["PATH"]})


def test_installed_package_writes_reports_and_reads_git_of_the_cwd(tmp_path, monkeypatch):
    """Bug 6: installed without -e (snnkit inside site-packages, itself inside some git repository),
    reports go to the working directory's reports/ and the git lookup is the working directory's."""
    site = tmp_path / "env" / "lib" / "site-packages"
    (site / "snnkit" / "report").mkdir(parents=True)
    _git("init", "-q", cwd=tmp_path / "env")
    (tmp_path / "env" / "x").write_text("x")
    _git("add", "x", cwd=tmp_path / "env")
    _git("commit", "-qm", "env", cwd=tmp_path / "env")
    monkeypatch.setattr(run_mod, "__file__", str(site / "snnkit" / "report" / "run.py"))
    monkeypatch.delenv("SNNKIT_REPORTS", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert run_mod.default_reports_root() == work / "reports"
    run = start_run(NB, {}, dataset="fashionmnist")
    assert run.path.is_relative_to(work / "reports") and not (site / "reports").exists()
    prov = json.loads((run.path / "provenance.json").read_text())
    assert prov["git"] == {"commit": None, "dirty": None}  # the cwd is in no repository
    # a project: a notebook opened from notebooks/ writes to the project's reports/, git is the project's
    (work / "notebooks").mkdir()
    _git("init", "-q", cwd=work)
    (work / "notebooks" / "a.ipynb").write_text("{}")
    _git("add", ".", cwd=work)
    _git("commit", "-qm", "project", cwd=work)
    monkeypatch.chdir(work / "notebooks")
    assert run_mod.default_reports_root() == work / "reports"
    head = run_mod.git_info()
    assert head["commit"] and head["dirty"] is False  # the project's repository, clean
    (work / "reports" / "nb" / "run").mkdir(parents=True)
    (work / "reports" / "nb" / "run" / "metrics.json").write_text("{}")
    assert run_mod.git_info()["dirty"] is False  # what runs write under reports/ is not code
    _git("add", "reports", cwd=work)
    _git("commit", "-qm", "an unfinished run's folder", cwd=work)
    (work / "reports" / "nb" / "run" / "metrics.json").write_text('{"epoch": 2}')
    assert run_mod.git_info()["dirty"] is False  # nor is a committed run folder that a resumed run moves on
    (work / "notebooks" / "b.ipynb").write_text("{}")
    assert run_mod.git_info()["dirty"] is True  # an untracked file elsewhere is
    (work / "notebooks" / "b.ipynb").unlink()
    (work / "notebooks" / "a.ipynb").write_text("[]")
    assert run_mod.git_info()["dirty"] is True  # and so is a changed tracked file
    (work / "notebooks" / "a.ipynb").write_text("{}")
    monkeypatch.chdir(work / "notebooks" / "..")  # the project root itself
    assert run_mod.default_reports_root() == work / "reports"
    deeper = work / "data" / "raw"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)  # anywhere else: that very folder, not a parent that happens to hold notebooks/
    assert run_mod.default_reports_root() == deeper / "reports"
    monkeypatch.setenv("SNNKIT_REPORTS", str(tmp_path / "elsewhere"))
    assert run_mod.default_reports_root() == tmp_path / "elsewhere"


def test_identity_ignores_provenance_only_parameters(tmp_path):
    a = start_run(NB, {"device": "cpu", "progress": False}, reports_root=tmp_path, dataset="fashionmnist")
    b = start_run(NB, {"device": "auto", "data_root": "/x"}, reports_root=tmp_path, dataset="fashionmnist")
    c = start_run(NB, {"lr": 0.01}, reports_root=tmp_path, dataset="fashionmnist")
    assert a.params_hash == b.params_hash == result_hash(NB, {}) != c.params_hash
    assert a.path == b.path != c.path  # an interactive re-run on another device finds its own directory


def test_use_data_records_what_each_split_read(tmp_path):
    from snnkit.data import load_dataset, split_train_val

    train = load_dataset("fashionmnist-embedded", "train")
    train, val = split_train_val(train, 0.1, seed=0)
    test = load_dataset("fashionmnist-embedded", "test")
    run = start_run(NB, {}, reports_root=tmp_path)
    run.use_data(train=train, val=val, test=test)
    prov = json.loads((run.path / "provenance.json").read_text())
    assert prov["dataset"] == "fashionmnist-embedded" and prov["stand_in"] is False
    assert set(prov["data"]) == {"train", "val", "test"}
    assert prov["data"]["val"]["n"] == len(val) and prov["data"]["train"]["n"] == len(train)
    assert prov["data"]["test"]["origin"] == json.loads(json.dumps(test.origin))
    with pytest.raises(SnnkitError, match="at least one dataset"):
        run.use_data(val=None)


def test_use_data_marks_the_run_stand_in_when_any_split_is(tmp_path):
    from snnkit.data import load_dataset

    test = load_dataset("fashionmnist-embedded", "test")
    fake = load_dataset("fashionmnist-embedded", "train")
    fake.stand_in = True
    run = start_run(NB, {}, reports_root=tmp_path)
    run.use_data(train=fake, test=test)
    assert run.stand_in and run.dataset_label.endswith("(stand-in)")
