"""snnkit.report.index: published numbers beside comparable runs only; stand-ins labelled."""

from __future__ import annotations

import json

import pytest

from snnkit.config import validate
from snnkit.errors import SnnkitError
from snnkit.report.index import build_index, compare, load_published, scan_runs

NB = "g2gnet_fashionmnist"


def _write_run(root, profile, run, *, dataset, stand_in=False, acc=0.8, figures=("confusion",), **params):
    d = root / NB / profile / run
    (d / "figures").mkdir(parents=True)
    for f in figures:
        (d / "figures" / f"{f}.png").write_bytes(b"\x89PNG")
    p = validate(NB, {"dataset": "fashionmnist-embedded" if "embedded" in dataset else "fashionmnist",
                      **params})
    m = {"notebook": NB, "profile": profile, "run": run, "dataset": dataset, "stand_in": stand_in,
         "seed": p["seed"], "wall_time_s": 1.0, **p, "test_accuracy": acc}
    (d / "metrics.json").write_text(json.dumps(m))
    return d


def test_published_yaml_has_the_g2gnet_numbers():
    pub = load_published()[NB]
    by_key = {tuple(sorted(e["key"].items())): e for e in pub["entries"]}
    dense = by_key[(("model", "dense"),)]
    assert dense["value"] == 87.04 and dense["dataset"] == "fashionmnist" and "2508.14140" in dense["source"]
    collapsed = by_key[(("model", "mixer"), ("p_inter", 0.10))]
    assert collapsed["value"] == 10.0 and "collapsed" in collapsed["note"]
    assert by_key[(("model", "index"), ("p_inter", 0.15))]["value"] == 88.73
    assert by_key[(("model", "random"), ("p_inter", 0.25))]["value"] == 87.96
    assert len(pub["entries"]) == 1 + 3 * 6
    assert all(e["source"] and e["setting"] and e["metric"] == "test_accuracy" for e in pub["entries"])


def test_compare_rules():
    block = load_published()[NB]
    paper = {**validate(NB, {}), "dataset": "fashionmnist", "stand_in": False}
    entry, reason = compare(paper, block)
    assert entry["value"] == 87.04 and reason == ""
    entry, reason = compare({**paper, "stand_in": True}, block)
    assert entry is None and "stand-in" in reason
    entry, reason = compare({**paper, "dataset": "fashionmnist-embedded"}, block)
    assert entry is None and "fashionmnist-embedded" in reason
    entry, reason = compare({**paper, "hidden_dim": 64, "epochs": 1}, block)
    assert entry is None and "hidden_dim=64" in reason and "epochs=1" in reason
    entry, reason = compare({**paper, "model": "mixer", "p_inter": 0.15}, block)
    assert entry["value"] == 88.53
    entry, reason = compare({**paper, "model": "mixer"}, block)  # no p_inter: no published entry
    assert entry is None and "no published number" in reason


def test_index_labels_stand_ins_and_never_compares_them(tmp_path):
    _write_run(tmp_path, "paper", "default", dataset="fashionmnist", acc=0.8712)
    _write_run(tmp_path, "smoke", "default", dataset="fashionmnist-embedded", acc=0.71, hidden_dim=64, T=8)
    _write_run(tmp_path, "smoke", "standin", dataset="fashionmnist-standin", stand_in=True, acc=0.99)
    failed = tmp_path / NB / "smoke" / "broken"
    failed.mkdir(parents=True)
    (failed / "executed.ipynb").write_text("{}")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "x.json").write_text("[]")

    path = build_index(tmp_path)
    assert path == tmp_path / "index.md"
    text = path.read_text()
    paper_row = [line for line in text.splitlines() if line.startswith("| paper | default")][0]
    assert "87.04%" in paper_row and "87.12%" in paper_row
    standin_row = [line for line in text.splitlines() if line.startswith("| smoke | standin")][0]
    assert "**stand-in**" in standin_row and "87.04" not in standin_row and "— (stand-in" in standin_row
    smoke_row = [line for line in text.splitlines() if line.startswith("| smoke | default")][0]
    assert "87.04" not in smoke_row and "— (ran on fashionmnist-embedded" in smoke_row
    broken_row = [line for line in text.splitlines() if line.startswith("| smoke | broken")][0]
    assert "incomplete" in broken_row
    # the published table shows the comparable paper run only
    dense_row = [line for line in text.splitlines() if line.startswith("| model=dense |")][0]
    assert "87.12% (paper/default)" in dense_row and "71.00" not in dense_row and "99.00" not in dense_row
    assert "(g2gnet_fashionmnist/smoke/default/figures/confusion.png)" in smoke_row
    assert "not reproduced yet" in text and "collapsed" in text
    assert len(scan_runs(tmp_path)) == 4  # bench/ is not a run


def test_bad_published_file(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("nb:\n  entries:\n    - {key: {model: dense}, value: 1}\n")
    with pytest.raises(SnnkitError, match="lacks"):
        load_published(bad)
