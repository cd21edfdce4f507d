"""Build ``reports/index.md``: every reproduced number beside the published one, and the paper's claims.

For each notebook (paper) the index has up to three tables:

* *Published vs reproduced*: each number of ``snnkit/report/published.yaml`` with its source, and
  the reproduced value of every run that is comparable with it. An entry (one configuration) may give
  several metrics (e.g. accuracy, sparsity and connectivity; or accuracy and seconds per epoch);
* *Claims*: each of the paper's claims about two configurations ("mixer beats dense by X points",
  "A is N times faster than B") beside what the committed runs of one profile (normally ``cpu``)
  measured: mean ± std over seeds of both configurations, their reduced settings, and a verdict
  *held* / *not held* / *not enough runs* (the rule: :func:`judge_claim`);
* *Runs*: every run directory ``<reports>/<notebook>/<profile>/<run>/`` with its status, the dataset
  it actually used, its key metric(s), the published number it compares with (or "—" and why not)
  and links to its figures.

A run is put beside a published number only if (1) its parameters match the entry's ``key``,
(2) it did not run on a stand-in dataset, (3) its dataset is the entry's dataset, and (4) EVERY
parameter of the notebook's schema equals the paper setting, except those of :func:`ignored_params`
(``seed`` and the schema's provenance-only parameters such as device, data root, progress bars,
checkpointing: the parameters that :func:`snnkit.config.result_hash` leaves out; they do not change
what the number means) and the entry's own ``key`` parameters. The paper setting is the schema's
defaults (``snnkit.config.get_schema(notebook).defaults()``; for ``g2gnet_fashionmnist`` these are
the paper's settings) updated with the block's ``requires`` and then the entry's own ``requires``,
which therefore list only deviations from the defaults. Otherwise the published column shows "—"
and the reason (stand-in data, another dataset such as the embedded subset, or the first differing
parameters, e.g. ``reset=zero, paper: subtract``).

The format of ``published.yaml`` is described at the top of that file.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import statistics
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from snnkit import config
from snnkit.errors import ConfigError, SnnkitError
from snnkit.utils import atomic_write_text, read_json_object

log = logging.getLogger(__name__)

__all__ = [
    "build_index", "load_published", "scan_runs", "compare", "paper_setting", "PUBLISHED_PATH",
    "ignored_params", "judge_claim", "CLAIM_KINDS", "overrides_text",
]

PUBLISHED_PATH = Path(__file__).with_name("published.yaml")
_SKIP_TOP = {"bench"}
_MAX_REASONS = 3
#: difference: mean(metric | a) - mean(metric | b); ratio: mean(metric | a) / mean(metric | b)
CLAIM_KINDS = ("difference", "ratio", "within")
#: a claim's ``direction`` when the paper states no number: the sign it stands for
_DIRECTIONS = {"a_greater": 1, "a_less": -1}
#: units of a metrics.json fraction (accuracies, sparsity): shown in percent
_FRACTION_UNITS = ("percent", "fraction")


def load_published(path: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """Read ``published.yaml``: notebook → {notebook, paper, requires, entries, claims}.

    Checks each entry's and claim's fields, and the ``requires`` mappings (the block's and each
    entry's) against the notebook's schema, so a typo or a value of the wrong type is an error here,
    not a silently incomparable setting. (Keys and a claim's ``a``/``b`` may name parameters of a
    family not written yet; they are only matched.) Each entry gets
    ``metrics``: a list of ``{"metric", "value", "unit"}`` (from ``metrics:`` or the single
    ``metric``/``value``/``unit``); ``metric``/``value``/``unit`` name its first. Numbers such as
    ``1e-3`` are floats; a key given twice in a mapping is an error.
    """
    path = Path(path) if path is not None else PUBLISHED_PATH
    try:
        data = config.load_yaml(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SnnkitError(f"cannot read published numbers from {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SnnkitError(f"{path}: expected a mapping of notebook name to its published block")
    for notebook, block in data.items():
        entries = block.get("entries") if isinstance(block, dict) else None
        if not isinstance(entries, list):
            raise SnnkitError(f"{path}: {notebook!r} needs a list under 'entries'")
        for i, entry in enumerate(entries):
            where = f"{path}: {notebook} entry {i}"
            missing = [k for k in ("key", "dataset", "setting", "source") if k not in entry]
            missing += [] if "metrics" in entry else [k for k in ("metric", "value") if k not in entry]
            if missing:
                raise SnnkitError(f"{where} lacks {missing}")
            if not isinstance(entry["key"], dict):
                raise SnnkitError(f"{where}: 'key' must be a mapping of parameters")
            entry["metrics"] = _entry_metrics(entry, where)
            entry.update(metric=entry["metrics"][0]["metric"], value=entry["metrics"][0]["value"],
                         unit=entry["metrics"][0]["unit"])
        block["requires"] = _params(path, notebook, block.get("requires"), "'requires'")
        for i, entry in enumerate(entries):
            entry["requires"] = _params(path, notebook, entry.get("requires"), f"entry {i} 'requires'")
        claims = block.get("claims") or []
        if not isinstance(claims, list):
            raise SnnkitError(f"{path}: {notebook}: 'claims' must be a list")
        for i, claim in enumerate(claims):
            _check_claim(path, notebook, i, claim)
        block["claims"] = claims
        block["notebook"] = notebook
    return data


def _params(path: Path, notebook: str, params: Any, what: str) -> dict[str, Any]:
    """A mapping of parameters checked against the notebook's schema (only the keys given)."""
    params = params or {}
    if not isinstance(params, dict):
        raise SnnkitError(f"{path}: {notebook}: {what} must be a mapping of parameters")
    try:
        return config.get_schema(notebook).validate(params, partial_ok=True)
    except ConfigError as exc:
        raise SnnkitError(f"{path}: {notebook}: {what}: {exc}") from exc


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _entry_metrics(entry: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    """``[{"metric", "value", "unit"}, ...]`` from ``metrics: {name: value | {value, unit}}`` or the single form."""
    if "metrics" in entry:
        given = entry["metrics"]
        if not isinstance(given, dict) or not given:
            raise SnnkitError(f"{where}: 'metrics' must be a non-empty mapping of metric name to value or "
                              "{value, unit}")
        items = [(name, spec if isinstance(spec, dict) else {"value": spec}) for name, spec in given.items()]
    else:
        items = [(entry["metric"], {"value": entry["value"], "unit": entry.get("unit", "percent")})]
    out = []
    for name, spec in items:
        unit = spec.get("unit", "percent" if str(name).endswith("accuracy") else "")
        if not _number(spec.get("value")) or not isinstance(unit, str):
            raise SnnkitError(f"{where}: metric {name!r} needs a number 'value' (and a 'unit' string), got {spec!r}")
        out.append({"metric": str(name), "value": spec["value"], "unit": unit})
    return out


def _check_claim(path: Path, notebook: str, i: int, claim: Any) -> None:
    where = f"{path}: {notebook} claim {i}"
    if not isinstance(claim, dict):
        raise SnnkitError(f"{where}: a claim is a mapping (claim, kind, metric, a, b, published, source)")
    if "published" not in claim and claim.get("direction") in _DIRECTIONS:
        # a claim of direction only (no number published): its sign stands in for the number
        claim["published"], claim["direction_only"] = _DIRECTIONS[claim["direction"]], True
    missing = [k for k in ("claim", "kind", "metric", "a", "b", "published", "source") if k not in claim]
    if missing:
        raise SnnkitError(f"{where} lacks {missing} (a claim without a published number gives "
                          f"direction: {' or '.join(_DIRECTIONS)} instead of published)")
    if claim["kind"] not in CLAIM_KINDS:
        raise SnnkitError(f"{where}: kind {claim['kind']!r} is not one of {CLAIM_KINDS}")
    if claim["kind"] == "within":
        if claim.get("direction") is not None or not _number(claim["published"]) or claim["published"] <= 0:
            raise SnnkitError(f"{where}: a 'within' claim's 'published' is the tolerance, a positive number (how "
                              f"far a may lie from b, either way), got {claim['published']!r}")
    elif not _number(claim["published"]) or claim["published"] == (0 if claim["kind"] == "difference" else 1):
        raise SnnkitError(f"{where}: 'published' must be a number saying which way the claim goes (a difference "
                          f"other than 0, a ratio other than 1), got {claim['published']!r}")
    if claim["kind"] == "ratio" and claim["published"] <= 0:
        raise SnnkitError(f"{where}: a ratio claim's 'published' must be positive, got {claim['published']!r}")
    for side in ("a", "b"):  # like an entry's key: parameters a later family may add, so not checked
        if not isinstance(claim[side], dict) or not claim[side]:
            raise SnnkitError(f"{where}: {side!r} must be a non-empty mapping of parameters (the configuration)")
    if not isinstance(claim.get("stand_in", False), bool):
        raise SnnkitError(f"{where}: 'stand_in' must be true or false, got {claim['stand_in']!r}")
    claim.setdefault("profile", "cpu")
    claim.setdefault("unit", "points" if str(claim["metric"]).endswith("accuracy") else "")
    claim.setdefault("stand_in", False)


def scan_runs(reports_root: str | os.PathLike) -> list[dict[str, Any]]:
    """Every run directory under ``reports_root`` (``<notebook>/<profile>/<run>/``).

    Each record: ``notebook``, ``profile``, ``run``, ``dir``, ``status`` (``ok`` when metrics.json
    exists; else what provenance.json's ``reproduce`` record says: ``failed: <one-line error>``,
    ``interrupted at epoch e, step s`` (from progress.json); else ``incomplete``: running, or stopped
    without a record), ``metrics`` (dict or None), ``overrides`` (an ad-hoc run's ``--set`` values,
    ``{}`` for others), ``figures`` (PNG paths), ``mtime``. Where two directories claim the same
    notebook/profile/run, the newest is kept.
    """
    root = Path(reports_root)
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    if not root.is_dir():
        return []
    for run_dir in sorted(root.glob("*/*/*")):
        if not run_dir.is_dir() or run_dir.relative_to(root).parts[0] in _SKIP_TOP:
            continue
        markers = [run_dir / n for n in ("metrics.json", "provenance.json", "executed.ipynb")]
        if not any(m.exists() for m in markers):
            continue
        metrics = read_json_object(run_dir / "metrics.json", warn=True) if markers[0].exists() else None
        notebook, profile, run = run_dir.relative_to(root).parts
        if metrics:
            notebook = str(metrics.get("notebook", notebook))
            profile = str(metrics.get("profile", profile))
            run = str(metrics.get("run", run))
        mtime = max(m.stat().st_mtime for m in markers if m.exists())
        attempt = ((read_json_object(markers[1], warn=True) if markers[1].exists() else None) or {}).get("reproduce") or {}
        record = {
            "notebook": notebook, "profile": profile, "run": run, "dir": run_dir,
            "status": "ok" if metrics else _unfinished_status(run_dir, attempt), "metrics": metrics,
            "mtime": mtime, "overrides": attempt.get("overrides") or {},
            "done": (run_dir / ".DONE").exists(),
            "figures": sorted((run_dir / "figures").glob("*.png")) if (run_dir / "figures").is_dir() else [],
        }
        key = (notebook, profile, run)
        if key not in found or found[key]["mtime"] < mtime:
            found[key] = record
    return sorted(found.values(), key=lambda r: (r["notebook"], r["profile"], r["run"]))


def _unfinished_status(run_dir: Path, attempt: Mapping[str, Any]) -> str:
    """A run without metrics.json, from its provenance's ``reproduce`` record (see :func:`scan_runs`)."""
    if attempt.get("status") == "failed":
        error = " ".join(str(attempt.get("error") or "unknown error").split())
        return f"failed: {error if len(error) <= 300 else error[:299] + '…'}"
    if attempt.get("status") == "interrupted":
        progress = read_json_object(run_dir / "progress.json", warn=True) if (run_dir / "progress.json").exists() else None
        where = f" at epoch {progress.get('epoch')}, step {progress.get('step')}" if progress else ""
        return f"interrupted{where}"
    return "incomplete"


def _same(a: Any, b: Any) -> bool:
    # metrics.json is flat: a list or mapping parameter is recorded as its JSON text (report.run._param_value)
    if isinstance(a, str) and isinstance(b, (list, tuple, dict)):
        a, b = b, a
    if isinstance(b, str) and isinstance(a, (list, tuple, dict)):
        try:
            b = json.loads(b)
        except ValueError:
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b and type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _matches(params: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return all(k in params and _same(params[k], v) for k, v in wanted.items())


def ignored_params(notebook: str) -> frozenset[str]:
    """Parameters that may take any value in a run compared with a published number.

    ``seed`` (a paper's number is one seed's) and the parameters that do not change results
    (:func:`snnkit.config.provenance_only_keys`: device, data root, progress bars, checkpointing).
    """
    return frozenset({"seed"} | config.provenance_only_keys(notebook))


def paper_setting(notebook: str, block: Mapping[str, Any], entry: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The paper's setting of every schema parameter: the schema defaults updated with the block's
    ``requires``, then (for one configuration) with the entry's own ``requires``."""
    return {**config.get_schema(notebook).defaults(), **(block.get("requires") or {}),
            **((entry or {}).get("requires") or {})}


def _differences(notebook: str, setting: Mapping[str, Any], params: Mapping[str, Any],
                 skip: Iterable[str]) -> list[str]:
    """``key=value, paper: wanted`` for every schema parameter (outside ignored and ``skip``) that differs."""
    ignored = ignored_params(notebook) | set(skip)
    differ = []
    for key, wanted in setting.items():
        if key in ignored:
            continue
        if key not in params:
            differ.append(f"{key} not recorded, paper: {_value_text(wanted)}")
        elif not _same(params[key], wanted):
            differ.append(f"{key}={_value_text(params[key])}, paper: {_value_text(wanted)}")
    return differ


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def overrides_text(overrides: Mapping[str, Any]) -> str:
    """An ad-hoc run's ``--set`` overrides as ``T=5, epochs=30``."""
    return ", ".join(f"{key}={_value_text(value)}" for key, value in overrides.items())


def compare(metrics: Mapping[str, Any], block: Mapping[str, Any] | None,
            notebook: str | None = None) -> tuple[dict[str, Any] | None, str]:
    """The published entry a run is comparable with, or ``(None, reason)``.

    With a comparable entry the reason is ``""``. The entry is the one whose ``key`` the run's
    parameters match (of several, the one with the most keys, and among equals the first whose setting the run
    has); it is withheld (with the most specific entry's reason) for stand-in data, another dataset, or any
    schema parameter outside :func:`ignored_params` and the entry's key that differs from
    :func:`paper_setting` of the entry (a parameter the run did not record counts as differing). ``notebook``
    defaults to the block's (set by :func:`load_published`), then to ``metrics["notebook"]``.
    """
    if not block:
        return None, "no published numbers for this notebook"
    candidates = [e for e in block["entries"] if _matches(metrics, e["key"])]
    if not candidates:
        return None, "no published number for this configuration"
    notebook = notebook or block.get("notebook") or metrics.get("notebook")
    # the most specific configuration first (stable: first of equals); the first whose setting the run has
    reasons = []
    for entry in sorted(candidates, key=lambda e: -len(e["key"])):
        reason = _withheld(metrics, entry, block, notebook)
        if not reason:
            return entry, ""
        reasons.append(reason)
    return None, reasons[0]


def _withheld(metrics: Mapping[str, Any], entry: Mapping[str, Any], block: Mapping[str, Any],
              notebook: Any) -> str:
    """Why a run is not compared with ``entry`` ("" when it is)."""
    dataset = metrics.get("dataset")
    if metrics.get("stand_in"):
        return f"stand-in dataset ({dataset}): never compared with a paper"
    if dataset != entry["dataset"]:
        return f"ran on {dataset}, published on {entry['dataset']}"
    try:
        differ = _differences(str(notebook), paper_setting(str(notebook), block, entry), metrics, entry["key"])
    except ConfigError:
        return f"no parameter schema for notebook {notebook!r}: cannot check the paper setting"
    if differ:
        more = len(differ) - _MAX_REASONS
        return "; ".join(differ[:_MAX_REASONS]) + (f"; and {more} more" if more > 0 else "")
    return ""


def judge_claim(claim: Mapping[str, Any], runs: list[dict[str, Any]], notebook: str,
                block: Mapping[str, Any]) -> dict[str, Any]:
    """What the committed runs of ``claim["profile"]`` measured for ``claim``, and the verdict.

    Runs used: those of ``notebook`` under the claim's profile whose ``metrics.json`` holds the claim's
    metric as a finite number, not on a stand-in dataset, and whose parameters match ``a`` (resp.
    ``b``). A claim with ``stand_in: true`` (a family whose real data this machine lacks, e.g. SHD) is
    judged on the stand-in runs instead, and only on them; the index says so beside the verdict. They are paired by seed: S is the set of seeds with a run of both configurations (where a
    configuration has several runs with one seed, the first in directory order counts); n = |S|.

    With x_s, y_s the metric of ``a`` and ``b`` at seed s in S, mA, mB their means and sA, sB their
    sample standard deviations (n - 1 in the denominator), the measured value is mA - mB for a
    ``difference`` (in percentage points when the claim's unit is ``points``) and mA / mB for a
    ``ratio``. The verdict:

    * ``not enough runs`` when n < 2 (one seed has no spread to judge the difference against);
    * ``held`` when the effect points the way the claim says -- mA - mB has the sign of ``published``
      (difference), or mA / mB lies on the same side of 1 as ``published`` (ratio) -- AND it does so
      at every seed of S (paired: x_s - y_s, or x_s / y_s - 1, has that sign for each s) AND
      |mA - mB| > max(sA, sB): the two configurations are further apart than either one's spread
      between seeds;
    * ``not held`` otherwise (including a ratio with mB <= 0).

    A ``within`` claim ("a stays within ``published`` of b", e.g. a pruned network within a point of the
    dense one) is held when |mA - mB| <= ``published`` and |x_s - y_s| <= ``published`` at every seed of S
    (in percentage points when the unit is ``points``); measured is mA - mB.

    The size of the effect is shown beside the published one, not judged: runs with reduced settings
    (the ``cpu`` profile) are not expected to reach a paper's numbers, only its direction, clear of
    seed noise.

    Returns ``{"n", "seeds", "a_mean", "a_std", "b_mean", "b_std", "measured", "verdict", "settings"}``
    (means and stds as in metrics.json; None where undefined); ``settings`` lists where the runs used
    differ from the paper setting (seed, provenance-only parameters and the keys of ``a`` and ``b``
    aside), e.g. ``["hidden_dim=384, paper: 2048", "T=20, paper: 50"]``.
    """
    metric = claim["metric"]

    def side(key: Mapping[str, Any]) -> dict[Any, dict[str, Any]]:
        out: dict[Any, dict[str, Any]] = {}
        for r in runs:
            m = r["metrics"] or {}
            if (r["notebook"] == notebook and r["profile"] == claim["profile"]
                    and bool(m.get("stand_in")) == bool(claim.get("stand_in"))
                    and _number(m.get(metric)) and _matches(m, key)):
                out.setdefault(m.get("seed"), m)
        return out

    a_runs, b_runs = side(claim["a"]), side(claim["b"])
    seeds = sorted((set(a_runs) & set(b_runs)), key=str)
    xs = [float(a_runs[s][metric]) for s in seeds]
    ys = [float(b_runs[s][metric]) for s in seeds]
    out: dict[str, Any] = {"n": len(seeds), "seeds": seeds, "a_mean": None, "a_std": None, "b_mean": None,
                           "b_std": None, "measured": None, "verdict": "not enough runs", "settings": []}
    used = [a_runs[s] for s in seeds] + [b_runs[s] for s in seeds]
    try:
        setting = paper_setting(notebook, block)
        skip = set(claim["a"]) | set(claim["b"])
        out["settings"] = list(dict.fromkeys(d for m in used for d in _differences(notebook, setting, m, skip)))
    except ConfigError:
        out["settings"] = ["no parameter schema: settings unknown"]
    if seeds:
        out.update(a_mean=statistics.fmean(xs), b_mean=statistics.fmean(ys))
    if len(seeds) < 2:
        return out
    ma, mb = out["a_mean"], out["b_mean"]
    sa, sb = statistics.stdev(xs), statistics.stdev(ys)
    out.update(a_std=sa, b_std=sb)
    if claim["kind"] == "within":
        scale = 100.0 if claim.get("unit") == "points" else 1.0
        out["measured"] = (ma - mb) * scale
        close = all(abs(x - y) * scale <= claim["published"] for x, y in zip(xs, ys))
        out["verdict"] = "held" if close and abs(out["measured"]) <= claim["published"] else "not held"
        return out
    if claim["kind"] == "difference":
        scale = 100.0 if claim.get("unit") == "points" else 1.0
        out["measured"] = (ma - mb) * scale
        direction = (ma - mb) * claim["published"] > 0
    else:
        out["measured"] = ma / mb if mb > 0 else None
        direction = mb > 0 and (ma / mb - 1.0) * (claim["published"] - 1.0) > 0
    sign = claim["published"] - (0.0 if claim["kind"] == "difference" else 1.0)
    paired = all((x - y) * sign > 0 for x, y in zip(xs, ys)) if claim["kind"] == "difference" else \
        all(y > 0 and (x / y - 1.0) * sign > 0 for x, y in zip(xs, ys))
    out["verdict"] = "held" if direction and paired and abs(ma - mb) > max(sa, sb) else "not held"
    return out


def _pct(value: Any, unit: str = "fraction") -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "—"
    return f"{value * 100 if unit == 'fraction' else value:.2f}%"


def _reproduced(value: Any, unit: str) -> str:
    """A metrics.json value in an entry's unit: fractions (percent/fraction) in percent, others as they are."""
    if unit in _FRACTION_UNITS:
        return _pct(value)
    if not _number(value):
        return "—"
    return f"{value:.4g}" + (f" {unit}" if unit else "")


def _published(value: Any, unit: str) -> str:
    return _pct(value, unit) if unit in _FRACTION_UNITS else _reproduced(value, unit)


def _spread(mean: Any, std: Any, claim: Mapping[str, Any]) -> str:
    if mean is None:
        return "—"
    fraction = claim.get("unit") == "points"
    scale, suffix = (100.0, "%") if fraction else (1.0, "")
    text = f"{mean * scale:.4g}"
    return text + (f" ± {std * scale:.2g}" if std is not None else "") + suffix


def _effect(value: Any, claim: Mapping[str, Any], published: bool = False) -> str:
    if value is None:
        return "—"
    if published and claim.get("direction_only"):
        return "a > b (no number)" if value > 0 else "a < b (no number)"
    if published and claim["kind"] == "within":
        unit = claim.get("unit") or ""
        return f"within ±{value:.3g}" + (f" {unit}" if unit else "")
    if claim["kind"] == "ratio":
        return f"{value:.3g}×"
    unit = claim.get("unit") or ""
    return f"{value:+.3g}" + (f" {unit}" if unit else "")


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _key_text(key: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items())


def _link(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _first_metric(block: Mapping[str, Any] | None) -> dict[str, Any]:
    if block and block["entries"]:
        return block["entries"][0]["metrics"][0]
    return {"metric": "test_accuracy", "unit": "percent"}


def _claims_lines(block: Mapping[str, Any], runs: list[dict[str, Any]], notebook: str) -> list[str]:
    lines = ["### Claims", "",
             "Each claim beside what the committed runs of its profile measured (mean ± std over the seeds run "
             "for both configurations, in their reduced settings). *held*: the effect points the claimed way "
             "at every seed and the configurations are further apart than either one's spread between seeds (a "
             "*within* claim: a stays within the tolerance of b on average and at every seed); "
             "*not enough runs*: fewer than two such seeds (`snnkit.report.index.judge_claim`). Two or three seeds "
             "are weak evidence: a verdict says which way the committed runs point, not that the effect is "
             "significant.", "",
             "| claim | metric | published | measured (profile, seeds) | a | b | settings of those runs "
             "| verdict | source |",
             "|---|---|---|---|---|---|---|---|---|"]
    for claim in block["claims"]:
        got = judge_claim(claim, runs, notebook, block)
        data = ", stand-in data" if claim.get("stand_in") else ""
        measured = f"{_effect(got['measured'], claim)} ({claim['profile']}{data}, n={got['n']})"
        lines.append("| " + " | ".join(_cell(c) for c in [
            claim["claim"], f"{claim['metric']} ({claim['kind']})", _effect(claim["published"], claim, True), measured,
            f"{_key_text(claim['a'])}: {_spread(got['a_mean'], got['a_std'], claim)}",
            f"{_key_text(claim['b'])}: {_spread(got['b_mean'], got['b_std'], claim)}",
            "; ".join(got["settings"]) or ("the paper's" if got["n"] else "—"), f"**{got['verdict']}**",
            claim["source"]]) + " |")
    return [*lines, ""]


def _sweep_figure_lines(block: Mapping[str, Any], runs: list[dict[str, Any]], notebook: str, root: Path) -> list[str]:
    """Per profile: the figure ``block["sweep_figure"]`` asks for, drawn from that profile's runs with the
    published points beside them (G2GNet: test accuracy against p_inter per model, static masks).

    ``sweep_figure``: ``{metric, where}``; ``where`` selects the runs (parameters matched like a claim's
    side). Runs on stand-in data are left out. Written to ``<notebook>/<profile>/accuracy_vs_p_inter.png``.
    """
    import pandas as pd

    from snnkit.report import figures

    spec = block["sweep_figure"]
    metric, where = spec.get("metric", "test_accuracy"), spec.get("where") or {}
    published = pd.DataFrame([{"model": e["key"].get("model"), "p_inter": e["key"].get("p_inter", math.nan),
                               "accuracy": x["value"]}
                              for e in block["entries"] for x in e["metrics"] if x["metric"] == metric])
    lines: list[str] = []
    for profile in sorted({r["profile"] for r in runs}):
        rows, datasets = [], set()
        for r in runs:
            m = r["metrics"] or {}
            if (r["profile"] == profile and not m.get("stand_in") and _number(m.get(metric))
                    and _matches(m, where) and "model" in m):
                rows.append({"model": m["model"], "p_inter": m.get("p_inter", math.nan), "accuracy": m[metric]})
                datasets.add(str(m.get("dataset")))
        if not rows:
            continue
        label = ", ".join(sorted(datasets))
        fig = figures.accuracy_vs_p_inter(pd.DataFrame(rows), published if len(published) else None,
                                          dataset_label=f"{label} ({profile})")
        path = figures.save_figure(fig, root / notebook / profile / "accuracy_vs_p_inter.png", close=True)
        if not lines:
            lines = ["### Accuracy against p_inter", "",
                     f"Runs matching `{_key_text(where)}`, mean ± std over seeds; hollow markers: the published "
                     "numbers (paper setting; a reduced profile is not expected to reach them).", ""]
        lines += [f"- {profile} ({label}, {len(rows)} runs): [accuracy_vs_p_inter]({_link(path, root)})"]
    return [*lines, ""] if lines else []


def build_index(reports_root: str | os.PathLike, *, published: str | os.PathLike | None = None) -> Path:
    """Write ``<reports_root>/index.md`` from the run directories and ``published.yaml``; returns its path."""
    root = Path(reports_root)
    root.mkdir(parents=True, exist_ok=True)
    pub = load_published(published)
    runs = scan_runs(root)
    notebooks = sorted({r["notebook"] for r in runs} | set(pub))
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    lines = [
        "# Reproduced results",
        "",
        f"Generated by `snnkit.report.index` on {now} from the run directories under this folder and",
        "`snnkit/report/published.yaml`. Accuracies are shown in percent. A run is put beside a published",
        "number only when it ran on the paper's dataset with the paper's setting; runs on **stand-in** data,",
        "on the embedded subset or with any other setting show \"—\" and the reason.",
        "",
    ]
    for notebook in notebooks:
        block = pub.get(notebook)
        nb_runs = [r for r in runs if r["notebook"] == notebook]
        title = block.get("paper", notebook) if block else notebook
        lines += [f"## {title}", "", f"Notebook: `notebooks/{notebook}.ipynb`", ""]
        comparisons: dict[tuple[int, str], list[str]] = {}
        rows = []
        for r in nb_runs:
            m = r["metrics"] or {}
            entry, reason = compare(m, block) if r["metrics"] else (None, "no metrics.json")
            shown = entry["metrics"] if entry else [_first_metric(block)]
            reproduced = "; ".join(f"{x['metric']} = {_reproduced(m.get(x['metric']), x['unit'])}" for x in shown)
            if entry is not None:
                published_text = "; ".join(_published(x["value"], x["unit"]) for x in entry["metrics"])
                for x in entry["metrics"]:
                    comparisons.setdefault((id(entry), x["metric"]), []).append(
                        f"{_reproduced(m.get(x['metric']), x['unit'])} ({r['profile']}/{r['run']})")
            else:
                published_text = f"— ({reason})"
            if r["metrics"]:
                dataset = str(m.get("dataset", "unknown"))
                dataset = f"**stand-in**: {dataset}" if m.get("stand_in") else dataset
            else:
                dataset = "—"
            figs = " ".join(f"[{p.stem}]({_link(p, root)})" for p in r["figures"]) or "—"
            status = r["status"] + (" (.DONE)" if r["done"] else "")
            run = r["run"] + (f" ({overrides_text(r['overrides'])})" if r["overrides"] else "")
            rows.append([r["profile"], run, status, dataset, reproduced, published_text,
                         f"[dir]({_link(r['dir'], root)}/)", figs])
        if block:
            lines += ["### Published vs reproduced", "",
                      "| configuration | metric | dataset | published | reproduced | source | note |",
                      "|---|---|---|---|---|---|---|"]
            for entry in block["entries"]:
                config_text = _key_text(entry["key"]) + (
                    f" (requires {_key_text(entry['requires'])})" if entry.get("requires") else "")
                for x in entry["metrics"]:
                    got = "; ".join(comparisons.get((id(entry), x["metric"]), [])) or "not reproduced yet"
                    lines.append("| " + " | ".join(_cell(c) for c in [
                        config_text, x["metric"], entry["dataset"], _published(x["value"], x["unit"]), got,
                        entry["source"], entry.get("note", "")]) + " |")
            deviations = block.get("requires") or {}
            lines += ["", "A run is compared only when every parameter has the paper setting: the "
                      f"`{notebook}` schema defaults" + (" with `" + _key_text(deviations) + "`" if deviations else "")
                      + " (and an entry's own `requires`), except `" + ", ".join(sorted(ignored_params(notebook)))
                      + "` and the configuration's own keys."]
            lines.append("")
            if block.get("claims"):
                lines += _claims_lines(block, nb_runs, notebook)
            if block.get("sweep_figure"):
                lines += _sweep_figure_lines(block, nb_runs, notebook, root)
        lines += ["### Runs", ""]
        if rows:
            lines += ["| profile | run | status | dataset used | reproduced | published | run dir | figures |",
                      "|---|---|---|---|---|---|---|---|"]
            lines += ["| " + " | ".join(_cell(x) for x in row) + " |" for row in rows]
        else:
            lines.append("No runs yet: `python -m snnkit.reproduce --only " + notebook + "`.")
        lines.append("")
    path = root / "index.md"
    atomic_write_text(path, "\n".join(lines).rstrip() + "\n")
    log.info("wrote %s (%d runs)", path, len(runs))
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m snnkit.report.index [REPORTS_DIR]``: rebuild the index from the run directories there
    (default ``reports/``) without running anything, e.g. after pulling committed ``cpu`` runs."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m snnkit.report.index", description=main.__doc__)
    parser.add_argument("reports_dir", nargs="?", default="reports", help="the reports folder (default: reports)")
    args = parser.parse_args(argv)
    if not Path(args.reports_dir).is_dir():
        print(f"error: {args.reports_dir} is not a folder (the reports directory holding <notebook>/<profile>/<run>/)")
        return 2
    print(build_index(args.reports_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
