"""Build ``reports/index.md``: every reproduced number beside the published one.

For each notebook (paper) the index has two tables:

* *Published vs reproduced*: each number of ``snnkit/report/published.yaml`` with its source, and
  the reproduced value of every run that is comparable with it;
* *Runs*: every run directory ``<reports>/<notebook>/<profile>/<run>/`` with its status, the dataset
  it actually used, its key metric, the published number it compares with (or "—" and why not) and
  links to its figures.

A run is put beside a published number only if (1) its parameters match the entry's ``key``,
(2) it did not run on a stand-in dataset, (3) its dataset is the entry's dataset, and (4) EVERY
parameter of the notebook's schema equals the paper setting, except those of :func:`ignored_params`
(``seed`` and the schema's provenance-only parameters such as device, data root, progress bars,
checkpointing: the parameters that :func:`snnkit.config.result_hash` leaves out; they do not change
what the number means) and the entry's own ``key`` parameters. The paper setting is the schema's
defaults (``snnkit.config.get_schema(notebook).defaults()``; for ``g2gnet_fashionmnist`` these are
the paper's settings) updated with the block's ``requires``, which therefore lists only deviations
from the defaults. Otherwise the published column shows "—" and the reason (stand-in data, another
dataset such as the embedded subset, or the first differing parameters, e.g. ``reset=zero, paper:
subtract``).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from snnkit import config
from snnkit.errors import ConfigError, SnnkitError
from snnkit.utils import atomic_write_text

log = logging.getLogger(__name__)

__all__ = [
    "build_index", "load_published", "scan_runs", "compare", "paper_setting", "PUBLISHED_PATH",
    "ignored_params",
]

PUBLISHED_PATH = Path(__file__).with_name("published.yaml")
_SKIP_TOP = {"bench"}
_MAX_REASONS = 3


def load_published(path: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """Read ``published.yaml``: notebook → {notebook, paper, requires, entries}.

    Checks each entry's fields, and ``requires`` against the notebook's schema (so a typo or a
    value of the wrong type is an error here, not a silently incomparable paper setting). Numbers
    such as ``1e-3`` are floats; a key given twice in a mapping is an error.
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
            missing = [k for k in ("key", "metric", "value", "dataset", "setting", "source") if k not in entry]
            if missing:
                raise SnnkitError(f"{path}: {notebook} entry {i} lacks {missing}")
            if entry.get("unit", "percent") not in ("percent", "fraction"):
                raise SnnkitError(f"{path}: {notebook} entry {i}: unit must be 'percent' or 'fraction'")
            if not isinstance(entry["key"], dict):
                raise SnnkitError(f"{path}: {notebook} entry {i}: 'key' must be a mapping of parameters")
        requires = block.get("requires") or {}
        if not isinstance(requires, dict):
            raise SnnkitError(f"{path}: {notebook}: 'requires' must be a mapping of parameters")
        try:
            block["requires"] = config.get_schema(notebook).validate(requires, partial_ok=True)
        except ConfigError as exc:
            raise SnnkitError(f"{path}: {notebook}: 'requires': {exc}") from exc
        block["notebook"] = notebook
    return data


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else None


def scan_runs(reports_root: str | os.PathLike) -> list[dict[str, Any]]:
    """Every run directory under ``reports_root`` (``<notebook>/<profile>/<run>/``).

    Each record: ``notebook``, ``profile``, ``run``, ``dir``, ``status`` (``ok`` when metrics.json
    exists, else ``incomplete``), ``metrics`` (dict or None), ``figures`` (PNG paths), ``mtime``.
    Where two directories claim the same notebook/profile/run, the newest is kept.
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
        metrics = _read_json(run_dir / "metrics.json") if markers[0].exists() else None
        notebook, profile, run = run_dir.relative_to(root).parts
        if metrics:
            notebook = str(metrics.get("notebook", notebook))
            profile = str(metrics.get("profile", profile))
            run = str(metrics.get("run", run))
        mtime = max(m.stat().st_mtime for m in markers if m.exists())
        record = {
            "notebook": notebook, "profile": profile, "run": run, "dir": run_dir,
            "status": "ok" if metrics else "incomplete", "metrics": metrics, "mtime": mtime,
            "done": (run_dir / ".DONE").exists(),
            "figures": sorted((run_dir / "figures").glob("*.png")) if (run_dir / "figures").is_dir() else [],
        }
        key = (notebook, profile, run)
        if key not in found or found[key]["mtime"] < mtime:
            found[key] = record
    return sorted(found.values(), key=lambda r: (r["notebook"], r["profile"], r["run"]))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b and type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _matches(params: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return all(k in params and _same(params[k], v) for k, v in wanted.items())


def ignored_params(notebook: str) -> frozenset[str]:
    """Parameters that may take any value in a run compared with a published number.

    ``seed`` (a paper's number is one seed's) and the parameters that do not change results (those
    :func:`snnkit.config.result_params` leaves out: device, data root, progress bars, checkpointing).
    """
    full = config.validate(notebook, {})
    return frozenset({"seed"} | (set(full) - set(config.result_params(notebook, full))))


def paper_setting(notebook: str, block: Mapping[str, Any]) -> dict[str, Any]:
    """The paper's setting of every schema parameter: the schema defaults updated with ``requires``."""
    return {**config.get_schema(notebook).defaults(), **(block.get("requires") or {})}


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def compare(metrics: Mapping[str, Any], block: Mapping[str, Any] | None,
            notebook: str | None = None) -> tuple[dict[str, Any] | None, str]:
    """The published entry a run is comparable with, or ``(None, reason)``.

    With a comparable entry the reason is ``""``. The entry is the one whose ``key`` the run's
    parameters match; it is withheld (with the reason) for stand-in data, another dataset, or any
    schema parameter outside :func:`ignored_params` and the entry's key that differs from
    :func:`paper_setting` (a parameter the run did not record counts as differing). ``notebook``
    defaults to the block's (set by :func:`load_published`), then to ``metrics["notebook"]``.
    """
    if not block:
        return None, "no published numbers for this notebook"
    candidates = [e for e in block["entries"] if _matches(metrics, e["key"])]
    if not candidates:
        return None, "no published number for this configuration"
    entry = candidates[0]
    dataset = metrics.get("dataset")
    if metrics.get("stand_in"):
        return None, f"stand-in dataset ({dataset}): never compared with a paper"
    if dataset != entry["dataset"]:
        return None, f"ran on {dataset}, published on {entry['dataset']}"
    notebook = notebook or block.get("notebook") or metrics.get("notebook")
    try:
        setting = paper_setting(str(notebook), block)
        ignored = ignored_params(str(notebook))
    except ConfigError:
        return None, f"no parameter schema for notebook {notebook!r}: cannot check the paper setting"
    differ = []
    for key, wanted in setting.items():
        if key in ignored or key in entry["key"]:
            continue
        if key not in metrics:
            differ.append(f"{key} not recorded, paper: {_value_text(wanted)}")
        elif not _same(metrics[key], wanted):
            differ.append(f"{key}={_value_text(metrics[key])}, paper: {_value_text(wanted)}")
    if differ:
        more = len(differ) - _MAX_REASONS
        return None, "; ".join(differ[:_MAX_REASONS]) + (f"; and {more} more" if more > 0 else "")
    return entry, ""


def _pct(value: Any, unit: str = "fraction") -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "—"
    return f"{value * 100 if unit == 'fraction' else value:.2f}%"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _key_text(key: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items())


def _link(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _metric_name(block: Mapping[str, Any] | None, metrics: Mapping[str, Any] | None) -> str:
    if block and block["entries"]:
        return block["entries"][0]["metric"]
    return "test_accuracy"


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
        comparisons: dict[int, list[str]] = {}
        rows = []
        for r in nb_runs:
            m = r["metrics"] or {}
            entry, reason = compare(m, block) if r["metrics"] else (None, "no metrics.json (failed or running)")
            metric = entry["metric"] if entry else _metric_name(block, m)
            reproduced = _pct(m.get(metric)) if metric.endswith("accuracy") else m.get(metric, "—")
            if entry is not None:
                published_text = _pct(entry["value"], entry.get("unit", "percent"))
                comparisons.setdefault(id(entry), []).append(f"{reproduced} ({r['profile']}/{r['run']})")
            else:
                published_text = f"— ({reason})"
            if r["metrics"]:
                dataset = str(m.get("dataset", "unknown"))
                dataset = f"**stand-in**: {dataset}" if m.get("stand_in") else dataset
            else:
                dataset = "—"
            figs = " ".join(f"[{p.stem}]({_link(p, root)})" for p in r["figures"]) or "—"
            status = r["status"] + (" (.DONE)" if r["done"] else "")
            rows.append([r["profile"], r["run"], status, dataset, f"{metric} = {reproduced}", published_text,
                         f"[dir]({_link(r['dir'], root)}/)", figs])
        if block:
            lines += ["### Published vs reproduced", "",
                      "| configuration | metric | dataset | published | reproduced | source | note |",
                      "|---|---|---|---|---|---|---|"]
            for entry in block["entries"]:
                got = "; ".join(comparisons.get(id(entry), [])) or "not reproduced yet"
                lines.append("| " + " | ".join(_cell(x) for x in [
                    _key_text(entry["key"]), entry["metric"], entry["dataset"],
                    _pct(entry["value"], entry.get("unit", "percent")), got, entry["source"],
                    entry.get("note", "")]) + " |")
            deviations = block.get("requires") or {}
            lines += ["", "A run is compared only when every parameter has the paper setting: the "
                      f"`{notebook}` schema defaults" + (" with `" + _key_text(deviations) + "`" if deviations else "")
                      + ", except `" + ", ".join(sorted(ignored_params(notebook))) + "` and the configuration's own keys."]
            lines.append("")
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
