"""snnkit.report.index: published numbers beside comparable runs only; stand-ins labelled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snnkit.config import get_schema, validate
from snnkit.errors import SnnkitError
from snnkit.report.index import (
    build_index,
    compare,
    ignored_params,
    judge_claim,
    load_published,
    paper_setting,
    scan_runs,
)

NB = "g2gnet_fashionmnist"


def _write_run(root, profile, run, *, dataset, stand_in=False, acc=0.8, figures=("confusion",), extra=None,
               **params):
    d = root / NB / profile / run
    (d / "figures").mkdir(parents=True)
    for f in figures:
        (d / "figures" / f"{f}.png").write_bytes(b"\x89PNG")
    p = validate(NB, {"dataset": "fashionmnist-embedded" if "embedded" in dataset else "fashionmnist",
                      **params})
    m = {"notebook": NB, "profile": profile, "run": run, "dataset": dataset, "stand_in": stand_in,
         "seed": p["seed"], "wall_time_s": 1.0, **p, "test_accuracy": acc, **(extra or {})}
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
    assert entry is None and "hidden_dim=64, paper: 2048" in reason and "epochs=1, paper: 20" in reason
    entry, reason = compare({**paper, "model": "mixer", "p_inter": 0.15}, block)
    assert entry["value"] == 88.53
    entry, reason = compare({**paper, "model": "mixer", "p_inter": 0.3}, block)  # a p_inter never published
    assert entry is None and "no published number" in reason


def test_index_labels_stand_ins_and_never_compares_them(tmp_path):
    _write_run(tmp_path, "paper", "default", dataset="fashionmnist", acc=0.8712)
    _write_run(tmp_path, "custom", "zero_reset", dataset="fashionmnist", acc=0.8811, reset="zero")
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
    zero_row = [line for line in text.splitlines() if line.startswith("| custom | zero_reset")][0]
    assert "87.04" not in zero_row and "— (reset=zero, paper: subtract)" in zero_row
    # the published table shows the comparable paper run only
    dense_row = [line for line in text.splitlines() if line.startswith("| model=dense |")][0]
    assert "87.12% (paper/default)" in dense_row and "71.00" not in dense_row and "99.00" not in dense_row
    assert "88.11" not in dense_row  # the reset=zero run is not the paper's setting
    assert "(g2gnet_fashionmnist/smoke/default/figures/confusion.png)" in smoke_row
    assert "not reproduced yet" in text and "collapsed" in text
    assert len(scan_runs(tmp_path)) == 5  # bench/ is not a run


def test_bad_published_file(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("nb:\n  entries:\n    - {key: {model: dense}, value: 1}\n")
    with pytest.raises(SnnkitError, match="lacks"):
        load_published(bad)


def _other_value(field):
    """A valid value of ``field`` other than its default, or None if it has no other value."""
    if field.choices is not None:
        candidates = [c for c in field.choices if c != field.default]
    elif field.type is bool:
        candidates = [not field.default]
    elif field.type is str:
        candidates = ["/elsewhere", "other"]
    elif field.default is None:
        candidates = [1, 2] if field.type is int else [0.5, 1.5]
    else:
        d = field.default
        candidates = [d + 1, d - 1, 1, 2] if field.type is int else [d * 0.5, d + 0.5, d * 2, 0.25, 1.5]
    for value in candidates:
        try:
            checked = field.check("x", value)
        except Exception:  # noqa: BLE001 - out of range: try the next one
            continue
        if checked != field.default:
            return checked
    return None


_SCHEMA = get_schema(NB)
_KEYS = {k for e in load_published()[NB]["entries"] for k in e["key"]}
_CHECKED = [k for k in _SCHEMA.fields if k not in ignored_params(NB) and k not in _KEYS
            and _other_value(_SCHEMA.fields[k]) is not None]


def test_paper_setting_is_the_schema_defaults_and_they_are_the_papers():
    # published.yaml relies on the schema defaults being the paper's setting: pin the ones that matter
    setting = paper_setting(NB, load_published()[NB])
    assert setting == _SCHEMA.defaults()
    assert {k: setting[k] for k in ("hidden_dim", "n_hidden", "T", "enc", "beta", "threshold", "reset",
                                    "surrogate", "atan_alpha", "epochs", "batch_size", "lr",
                                    "weight_decay", "train_subset", "test_subset", "val_fraction")} == {
        "hidden_dim": 2048, "n_hidden": 3, "T": 50, "enc": "current", "beta": 0.9, "threshold": 1.0,
        "reset": "subtract", "surrogate": "atan", "atan_alpha": 2.0, "epochs": 20, "batch_size": 256,
        "lr": 1e-3, "weight_decay": 1e-4, "train_subset": None, "test_subset": None, "val_fraction": 0.0}
    # every parameter the reviewer named is checked
    assert {"reset", "beta", "threshold", "learn_beta", "learn_threshold", "surrogate", "atan_alpha",
            "enc_scale", "enc_bias", "lr_schedule", "grad_clip", "amp"} <= set(_CHECKED)


@pytest.mark.parametrize("key", _CHECKED)
def test_any_non_paper_parameter_makes_a_run_incomparable(key):
    block = load_published()[NB]
    paper = {**validate(NB, {}), "dataset": "fashionmnist", "stand_in": False}
    value = _other_value(_SCHEMA.fields[key])
    sparse = {"model": "index"} if key == "sparsity_mode" else {}  # dynamic sparse training needs a sparse model
    run = {**paper, **validate(NB, {**sparse, key: value})}
    entry, reason = compare(run, block)
    shown = value if isinstance(value, str) else json.dumps(value)
    paper_shown = paper[key] if isinstance(paper[key], str) else json.dumps(paper[key])
    if key == "dataset":  # checked first, with its own reason
        assert entry is None and reason == f"ran on {shown}, published on fashionmnist"
    else:
        assert entry is None and reason.startswith(f"{key}={shown}, paper: {paper_shown}"), reason


def test_irrelevant_parameters_and_missing_ones():
    block = load_published()[NB]
    paper = {**validate(NB, {}), "dataset": "fashionmnist", "stand_in": False}
    run = {**paper, "seed": 7, "device": "cpu", "data_root": "/data", "progress": False, "checkpoint": False}
    entry, reason = compare(run, block)
    assert entry is not None and entry["value"] == 87.04 and reason == ""
    without = {k: v for k, v in paper.items() if k != "surrogate"}  # e.g. a run from before the field
    entry, reason = compare(without, block)
    assert entry is None and reason == "surrogate not recorded, paper: atan"
    many = {**paper, "T": 5, "beta": 0.5, "reset": "zero", "amp": True, "lr_schedule": "cosine"}
    entry, reason = compare(many, block)
    assert entry is None and reason == "T=5, paper: 50; beta=0.5, paper: 0.9; reset=zero, paper: subtract; and 2 more"


def test_requires_lists_deviations_read_with_float_exponents(tmp_path):
    path = tmp_path / "published.yaml"
    path.write_text(
        f"{NB}:\n  paper: p\n  requires: {{lr: 1e-3, weight_decay: 0, reset: zero}}\n  entries:\n"
        "    - {key: {model: dense}, metric: test_accuracy, value: 1.0e+1, dataset: fashionmnist,"
        " setting: s, source: src}\n")
    block = load_published(path)[NB]
    assert block["requires"] == {"lr": 0.001, "weight_decay": 0.0, "reset": "zero"}
    assert isinstance(block["entries"][0]["value"], float)
    paper = {**validate(NB, {}), "dataset": "fashionmnist", "stand_in": False}
    entry, reason = compare(paper, block)
    assert entry is None and reason == "reset=subtract, paper: zero; weight_decay=0.0001, paper: 0.0"
    entry, reason = compare({**paper, "weight_decay": 0.0, "reset": "zero"}, block)
    assert entry is not None and reason == ""


@pytest.mark.parametrize("requires, match", [
    ("{reste: zero}", "did you mean 'reset'"),
    ("{lr: fast}", "'lr'"),
    ("[lr]", "'requires' must be a mapping"),
])
def test_bad_requires(tmp_path, requires, match):
    path = tmp_path / "published.yaml"
    path.write_text(f"{NB}:\n  requires: {requires}\n  entries: []\n")
    with pytest.raises(SnnkitError, match=match):
        load_published(path)


def test_published_file_with_a_repeated_key(tmp_path):
    path = tmp_path / "published.yaml"
    path.write_text(f"{NB}:\n  entries: []\n  entries: []\n")
    with pytest.raises(SnnkitError, match="duplicate key 'entries'"):
        load_published(path)


def test_ignored_params_are_seed_and_the_configs_provenance_only_ones():
    from snnkit import config

    assert ignored_params(NB) == {"seed"} | (set(validate(NB, {})) - set(config.result_params(NB, {})))
    assert ignored_params(NB) == {"seed"} | config.provenance_only_keys(NB)
    assert {"seed", "device", "data_root", "progress"} <= ignored_params(NB)
    assert not ({"lr", "T", "model", "dataset"} & ignored_params(NB))


# -- several metrics per configuration, requires per entry, claims --------------------------------------
_MULTI = f"""{NB}:
  paper: p
  entries:
    - key: {{model: dense}}
      metrics:
        test_accuracy: {{value: 88.0, unit: percent}}
        sparsity: {{value: 0.5, unit: fraction}}
        epoch_time_s: {{value: 12.0, unit: s}}
      dataset: fashionmnist
      setting: s
      source: src
    - key: {{model: dense, enc: rate}}
      requires: {{reset: zero}}
      metric: test_accuracy
      value: 80.0
      dataset: fashionmnist
      setting: s
      source: src
"""


def test_several_metrics_per_configuration(tmp_path):
    path = tmp_path / "published.yaml"
    path.write_text(_MULTI)
    entry = load_published(path)[NB]["entries"][0]
    assert entry["metrics"] == [{"metric": "test_accuracy", "value": 88.0, "unit": "percent"},
                                {"metric": "sparsity", "value": 0.5, "unit": "fraction"},
                                {"metric": "epoch_time_s", "value": 12.0, "unit": "s"}]
    reports = tmp_path / "reports"
    _write_run(reports, "paper", "default", dataset="fashionmnist", acc=0.8712,
               extra={"sparsity": 0.25, "epoch_time_s": 30.5})
    text = build_index(reports, published=path).read_text()
    rows = {line.split(" | ")[1]: line for line in text.splitlines() if line.startswith("| model=dense | ")}
    assert "88.00%" in rows["test_accuracy"] and "87.12% (paper/default)" in rows["test_accuracy"]
    assert "50.00%" in rows["sparsity"] and "25.00% (paper/default)" in rows["sparsity"]
    assert "12 s" in rows["epoch_time_s"] and "30.5 s (paper/default)" in rows["epoch_time_s"]
    run_row = [line for line in text.splitlines() if line.startswith("| paper | default")][0]
    assert "test_accuracy = 87.12%; sparsity = 25.00%; epoch_time_s = 30.5 s" in run_row
    bad = tmp_path / "bad.yaml"
    bad.write_text(_MULTI.replace("{value: 12.0, unit: s}", "{value: fast}"))
    with pytest.raises(SnnkitError, match="'epoch_time_s' needs a number"):
        load_published(bad)


def test_requires_per_entry(tmp_path):
    path = tmp_path / "published.yaml"
    path.write_text(_MULTI)
    block = load_published(path)[NB]
    assert block["entries"][1]["requires"] == {"reset": "zero"} and block["entries"][0]["requires"] == {}
    assert paper_setting(NB, block, block["entries"][1])["reset"] == "zero"
    assert paper_setting(NB, block)["reset"] == "subtract"  # the block's setting is untouched
    paper = {**validate(NB, {}), "dataset": "fashionmnist", "stand_in": False}
    entry, reason = compare({**paper, "enc": "rate", "reset": "zero"}, block)
    assert entry is block["entries"][1] and reason == ""
    entry, reason = compare({**paper, "enc": "rate"}, block)
    assert entry is None and reason == "reset=subtract, paper: zero"
    entry, reason = compare({**paper, "reset": "zero"}, block)  # the dense entry has no such requirement
    assert entry is None and reason == "reset=zero, paper: subtract"
    bad = tmp_path / "bad.yaml"
    bad.write_text(_MULTI.replace("requires: {reset: zero}", "requires: {reste: zero}"))
    with pytest.raises(SnnkitError, match="entry 1 'requires'.*did you mean 'reset'"):
        load_published(bad)


def _claim(**over):
    return {"claim": "rate beats current", "kind": "difference", "metric": "test_accuracy",
            "a": {"enc": "rate"}, "b": {"enc": "current"}, "published": 1.5, "unit": "points",
            "profile": "cpu", "source": "src", **over}


def _claim_runs(root, a_values, b_values, *, metric="test_accuracy", a_seeds=None, b_seeds=None, **params):
    for enc, values, seeds in (("rate", a_values, a_seeds), ("current", b_values, b_seeds)):
        for value, seed in zip(values, seeds or range(len(values))):
            extra = {metric: value} if metric != "test_accuracy" else None
            _write_run(root, "cpu", f"{enc}_s{seed}", dataset="fashionmnist-embedded", enc=enc, seed=seed,
                       acc=value if metric == "test_accuracy" else 0.5, extra=extra, hidden_dim=384, **params)
    return scan_runs(root)


def _judge(tmp_path, claim, *args, **kw):
    block = load_published()[NB]
    return judge_claim(claim, _claim_runs(tmp_path / "r", *args, **kw), NB, block)


def test_claim_held_when_further_apart_than_the_seed_spread(tmp_path):
    got = _judge(tmp_path, _claim(), [0.80, 0.81, 0.82], [0.75, 0.76, 0.77])
    assert got["n"] == 3 and got["seeds"] == [0, 1, 2] and got["verdict"] == "held"
    assert got["a_mean"] == pytest.approx(0.81) and got["a_std"] == pytest.approx(0.01)
    assert got["b_mean"] == pytest.approx(0.76) and got["b_std"] == pytest.approx(0.01)
    assert got["measured"] == pytest.approx(5.0)  # points
    assert got["settings"] == ["dataset=fashionmnist-embedded, paper: fashionmnist", "hidden_dim=384, paper: 2048"]


def test_claim_not_held_within_the_seed_spread(tmp_path):
    got = _judge(tmp_path, _claim(), [0.80, 0.70, 0.90], [0.78, 0.72, 0.86])
    assert got["verdict"] == "not held" and got["measured"] == pytest.approx(4 / 3)
    assert got["a_std"] == pytest.approx(0.1)  # 1.33 points apart, spread 10 points


@pytest.mark.parametrize("b_value, verdict", [(-0.42, "held"), (-0.41, "not held")])
def test_claim_rule_boundary(tmp_path, b_value, verdict):
    # a: 0 and 2 (mean 1, std sqrt(2) = 1.4142); b constant: held iff 1 - b > 1.4142
    claim = _claim(metric="epoch_time_s", unit="s", published=1.0)
    got = _judge(tmp_path, claim, [0.0, 2.0], [b_value, b_value], metric="epoch_time_s")
    assert got["a_std"] == pytest.approx(2 ** 0.5) and got["b_std"] == 0.0
    assert got["verdict"] == verdict


def test_claim_in_the_other_direction_is_not_held(tmp_path):
    got = _judge(tmp_path, _claim(published=-2.0), [0.80, 0.81, 0.82], [0.75, 0.76, 0.77])
    assert got["verdict"] == "not held"  # well separated, but a beats b: the claim said b beats a


def test_claim_needs_two_seeds_run_for_both(tmp_path):
    got = _judge(tmp_path, _claim(), [0.80, 0.90], [0.70, 0.60], a_seeds=[1, 2], b_seeds=[2, 3])
    assert got["n"] == 1 and got["seeds"] == [2] and got["verdict"] == "not enough runs"
    assert got["a_mean"] == pytest.approx(0.90) and got["a_std"] is None and got["measured"] is None


def test_ratio_claim(tmp_path):
    claim = _claim(kind="ratio", metric="epoch_time_s", published=2.0, unit="")
    got = _judge(tmp_path, claim, [2.0, 2.1, 1.9], [1.0, 1.05, 0.95], metric="epoch_time_s")
    assert got["verdict"] == "held" and got["measured"] == pytest.approx(2.0)
    got = _judge(tmp_path / "x", _claim(kind="ratio", metric="epoch_time_s", published=0.5, unit=""),
                 [2.0, 2.1, 1.9], [1.0, 1.05, 0.95], metric="epoch_time_s")
    assert got["verdict"] == "not held"  # claimed a is half of b


def test_claims_ignore_stand_ins_and_other_profiles(tmp_path):
    root = tmp_path / "r"
    for seed in (0, 1):
        _write_run(root, "cpu", f"rate_s{seed}", dataset="x-standin", stand_in=True, enc="rate", seed=seed, acc=0.9)
        _write_run(root, "smoke", f"rate_s{seed}", dataset="fashionmnist", enc="rate", seed=seed, acc=0.9)
        _write_run(root, "cpu", f"current_s{seed}", dataset="fashionmnist", enc="current", seed=seed, acc=0.7)
    got = judge_claim(_claim(), scan_runs(root), NB, load_published()[NB])
    assert got["n"] == 0 and got["verdict"] == "not enough runs"


def test_a_stand_in_claim_takes_the_stand_in_runs_only(tmp_path):
    """``stand_in: true``: judged on the stand-in runs of the profile (here they show the effect), never on
    the real-data ones (here they would contradict it); without it, the other way round."""
    root = tmp_path / "r"
    for seed in (0, 1):
        for enc, stand_acc, real_acc in (("rate", 0.9 + seed / 100, 0.6), ("current", 0.7 + seed / 100, 0.8)):
            _write_run(root, "cpu", f"{enc}_standin_s{seed}", dataset="x-standin", stand_in=True, enc=enc,
                       seed=seed, acc=stand_acc)
            _write_run(root, "cpu", f"{enc}_real_s{seed}", dataset="fashionmnist", enc=enc, seed=seed, acc=real_acc)
    block = load_published()[NB]
    got = judge_claim(_claim(stand_in=True), scan_runs(root), NB, block)
    assert got["n"] == 2 and got["verdict"] == "held" and got["a_mean"] == pytest.approx(0.905)
    got = judge_claim(_claim(), scan_runs(root), NB, block)
    assert got["n"] == 2 and got["verdict"] == "not held" and got["a_mean"] == pytest.approx(0.6)


def test_claims_in_the_index(tmp_path):
    path = tmp_path / "published.yaml"
    path.write_text(_MULTI + """  claims:
    - claim: "rate encoding beats current encoding"
      kind: difference
      metric: test_accuracy
      a: {enc: rate}
      b: {enc: current}
      published: 1.5
      source: "the paper, table 2"
""")
    claim = load_published(path)[NB]["claims"][0]
    assert claim["profile"] == "cpu" and claim["unit"] == "points"  # the defaults
    root = tmp_path / "reports"
    _claim_runs(root, [0.80, 0.81, 0.82], [0.75, 0.76, 0.77])
    text = build_index(root, published=path).read_text()
    assert "### Claims" in text
    row = [line for line in text.splitlines() if line.startswith("| rate encoding beats current")][0]
    assert "+1.5 points" in row and "+5 points (cpu, n=3)" in row and "**held**" in row
    assert "enc=rate: 81 ± 1%" in row and "enc=current: 76 ± 1%" in row
    assert "hidden_dim=384, paper: 2048" in row and "the paper, table 2" in row
    for bad, match in [("kind: difference", "kind: product"), ("published: 1.5", "published: 0")]:
        broken = tmp_path / "broken.yaml"
        broken.write_text(path.read_text().replace(bad, match))
        with pytest.raises(SnnkitError, match="claim 0"):
            load_published(broken)


def test_index_says_why_a_run_has_no_metrics_and_shows_overrides(tmp_path):
    """A failed run shows its provenance's error, an interrupted one where it stopped, a custom run its
    --set overrides; only a run without any such record is 'incomplete'."""
    def prov(profile, run, reproduce, progress=None):
        d = tmp_path / NB / profile / run
        d.mkdir(parents=True)
        (d / "provenance.json").write_text(json.dumps({"params_hash": "0" * 16, "reproduce": reproduce}))
        if progress is not None:
            (d / "progress.json").write_text(json.dumps(progress))

    prov("smoke", "bad", {"status": "failed", "error": "cell [4]: RuntimeError: boom\nsecond line"})
    prov("custom", "a3f9", {"status": "interrupted", "error": "interrupted by the user (Ctrl-C)",
                            "overrides": {"T": 5, "epochs": 30}}, progress={"epoch": 5, "step": 160})
    prov("smoke", "running", {"status": "running"})
    _write_run(tmp_path, "custom", "mine", dataset="fashionmnist", acc=0.5)
    mine = tmp_path / NB / "custom" / "mine" / "provenance.json"
    mine.write_text(json.dumps({"reproduce": {"status": "ok", "overrides": {"model": "dense"}}}))
    rows = {tuple(cell.strip() for cell in line.split("|")[1:4]): line
            for line in build_index(tmp_path).read_text().splitlines() if line.startswith(("| smoke", "| custom"))}
    assert ("smoke", "bad", "failed: cell [4]: RuntimeError: boom second line") in rows
    assert ("custom", "a3f9 (T=5, epochs=30)", "interrupted at epoch 5, step 160") in rows
    assert ("smoke", "running", "incomplete") in rows
    assert ("custom", "mine (model=dense)", "ok") in rows
    assert "— (no metrics.json)" in rows[("smoke", "bad", "failed: cell [4]: RuntimeError: boom second line")]


@pytest.mark.parametrize("direction, verdict", [("a_greater", "held"), ("a_less", "not held")])
def test_claim_of_direction_only(tmp_path, direction, verdict):
    """A claim the paper states without a number: `direction` gives its sign; the index says so."""
    from snnkit.report.index import _check_claim, _effect

    claim = _claim(direction=direction)
    del claim["published"]
    _check_claim(Path("published.yaml"), NB, 0, claim)
    assert claim["published"] == (1 if direction == "a_greater" else -1)
    got = _judge(tmp_path, claim, [0.80, 0.81, 0.82], [0.75, 0.76, 0.77])
    assert got["verdict"] == verdict
    assert _effect(claim["published"], claim, True) == ("a > b (no number)" if direction == "a_greater"
                                                        else "a < b (no number)")
    bad = _claim(direction="up")
    del bad["published"]
    with pytest.raises(SnnkitError, match="a_greater or a_less"):
        _check_claim(Path("published.yaml"), NB, 0, bad)


def test_static_claims_do_not_take_the_dst_runs_of_the_same_model(tmp_path):
    """The cpu profile has mixer runs with static masks and with DST at the same p_inter: the 'mixer beats
    dense' claim must compare the static ones only."""
    block = load_published()[NB]
    (claim,) = [c for c in block["claims"] if c["a"].get("model") == "mixer" and c["b"] == {"model": "dense"}]
    root = tmp_path / "r"
    for seed in (0, 1):
        _write_run(root, "cpu", f"dense_s{seed}", dataset="fashionmnist", seed=seed, acc=0.80)
        _write_run(root, "cpu", f"mixer_dst_s{seed}", dataset="fashionmnist", seed=seed, acc=0.90, model="mixer",
                   p_inter=0.15, sparsity_mode="dynamic")
        _write_run(root, "cpu", f"mixer_s{seed}", dataset="fashionmnist", seed=seed, acc=0.70 + seed / 100,
                   model="mixer", p_inter=0.15)
    got = judge_claim(claim, scan_runs(root), NB, block)
    assert got["a_mean"] == pytest.approx(0.705) and got["verdict"] == "not held"


def test_index_draws_accuracy_against_p_inter_per_profile_from_static_runs(tmp_path):
    import matplotlib.image

    root = tmp_path / "r"
    _write_run(root, "cpu", "dense_s0", dataset="fashionmnist", acc=0.80)
    _write_run(root, "cpu", "mixer_s0", dataset="fashionmnist", acc=0.82, model="mixer", p_inter=0.15)
    _write_run(root, "cpu", "mixer_dst_s0", dataset="fashionmnist", acc=0.99, model="mixer", p_inter=0.15,
               sparsity_mode="dynamic")
    _write_run(root, "smoke", "fake", dataset="fashionmnist-standin", stand_in=True, acc=0.5)
    text = build_index(root).read_text()
    assert "### Accuracy against p_inter" in text
    assert "- cpu (fashionmnist, 2 runs): [accuracy_vs_p_inter](g2gnet_fashionmnist/cpu/accuracy_vs_p_inter.png)" in text
    assert "- smoke" not in text  # stand-in runs are never drawn beside published numbers
    assert matplotlib.image.imread(root / NB / "cpu" / "accuracy_vs_p_inter.png").shape[0] > 100


def test_index_command_rebuilds_from_a_folder_and_names_a_missing_one(tmp_path, capsys):
    from snnkit.report.index import main

    _write_run(tmp_path, "cpu", "dense_s0", dataset="fashionmnist", acc=0.8)
    assert main([str(tmp_path)]) == 0 and "| cpu | dense_s0 |" in (tmp_path / "index.md").read_text()
    assert main([str(tmp_path / "nope")]) == 2 and "nope is not a folder" in capsys.readouterr().out


def test_claim_not_held_when_one_seed_points_the_other_way(tmp_path):
    """Means far apart, but at seed 1 b beats a: the paired rule refuses the verdict."""
    got = _judge(tmp_path, _claim(), [0.90, 0.7999], [0.70, 0.80])
    assert got["measured"] == pytest.approx(9.995) and got["a_std"] > 0 and got["verdict"] == "not held"


@pytest.mark.parametrize("a_values, verdict, measured", [
    ([0.765, 0.755], "held", 0.0),      # half a point either side of b at each seed
    ([0.768, 0.768], "held", 0.8),      # 0.8 points above b
    ([0.765, 0.775], "not held", 1.0),  # seed 1 is 1.5 points away
    ([0.74, 0.74], "not held", -2.0),   # 2 points below
])
def test_within_claim(tmp_path, a_values, verdict, measured):
    claim = _claim(kind="within", published=1.0)
    got = _judge(tmp_path, claim, a_values, [0.76, 0.76])
    assert got["verdict"] == verdict and got["measured"] == pytest.approx(measured)


def test_within_claim_needs_a_positive_tolerance(tmp_path):
    from snnkit.report.index import _check_claim

    for bad in (0.0, -1.0, "1"):
        with pytest.raises(SnnkitError, match="tolerance"):
            _check_claim(tmp_path / "p.yaml", NB, 0, _claim(kind="within", published=bad))
    with pytest.raises(SnnkitError, match="tolerance"):
        _check_claim(tmp_path / "p.yaml", NB, 0, {**_claim(kind="within"), "direction": "a_greater"})


def test_a_list_parameter_recorded_as_json_text_meets_a_list_requirement():
    """metrics.json is flat: ``epochs`` [2, 4, 20] is recorded as the text "[2, 4, 20]" (report.run)."""
    block = load_published()["stdp_mnist"]
    params = {k: (json.dumps(v) if isinstance(v, list) else v) for k, v in validate("stdp_mnist", {}).items()}
    run = {**params, "model": "mozafari2018", "dataset": "mnist", "stand_in": False}
    entry, reason = compare({**run, "epochs": "[2, 4, 20]"}, block)
    assert entry is not None and entry["value"] == 97.2 and reason == ""
    entry, reason = compare({**run, "epochs": "[2, 4, 680]"}, block)  # the second entry: same key, 680 epochs
    assert entry is not None and entry["requires"] == {"epochs": [2, 4, 680]} and reason == ""
    entry, reason = compare({**run, "epochs": "[2, 4, 50]"}, block)  # neither: the first entry's reason
    assert entry is None and reason == "epochs=[2, 4, 50], paper: [2, 4, 20]"
