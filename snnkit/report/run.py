"""The notebook side of a run: its directory, provenance, figures, tables and ``metrics.json``.

A notebook calls, in its first code cells::

    run = start_run_from("g2gnet_fashionmnist", params, snnkit_run)   # snnkit_run: papermill parameter
    ...
    run.figure(fig, "confusion")          # figures/confusion.png
    run.table(df, "results")              # tables/results.csv + .md
    run.log(epoch_time_s=12.3)
    run.finish(test_accuracy=0.87)        # metrics.json

``snnkit_run`` is the dict ``snnkit.reproduce`` passes in (``run_dir``, ``profile``, ``run``,
``reports_root``) or ``None`` in interactive use, where the run goes to
``reports/<notebook>/interactive/default/``.

Contract (read by ``reports/index.md`` and other tools): ``metrics.json`` is one flat JSON object
with ``notebook``, ``profile``, ``run``, ``dataset``, ``stand_in``, ``seed``, ``wall_time_s``, every
parameter under its own name, and the logged metrics (``test_accuracy``/``val_accuracy`` as fractions
0-1, ``epoch_time_s``, ``sparsity``, ``firing_rate`` where they apply). ``provenance.json`` records the
git commit and dirty flag, the parameters and their hash, the seed, package versions, the device,
the host, the start time and (at finish) the wall time.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import numbers
import os
import platform
import re
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from snnkit.errors import SnnkitError
from snnkit.utils import atomic_write_text, params_hash

log = logging.getLogger(__name__)

__all__ = [
    "Run",
    "start_run",
    "start_run_from",
    "project_root",
    "default_reports_root",
    "run_identity",
    "collect_provenance",
    "git_info",
    "package_versions",
    "json_scalar",
    "FRACTION_METRICS",
    "RESERVED_KEYS",
]

#: metrics that must be fractions in [0, 1] (besides every ``*_accuracy``)
FRACTION_METRICS = frozenset({"test_accuracy", "val_accuracy", "train_accuracy", "sparsity"})
#: keys ``metrics.json`` always has, set by the run itself
RESERVED_KEYS = ("notebook", "profile", "run", "dataset", "stand_in", "seed", "wall_time_s")
_PACKAGES = ("torch", "numpy", "scipy", "pandas", "matplotlib", "seaborn", "scikit-learn", "snntorch",
             "papermill", "ipykernel", "tqdm", "pyyaml", "h5py", "tensorboard")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def project_root() -> Path:
    """The current working directory; its parent when the cwd is a ``notebooks/`` folder (a notebook opened
    in JupyterLab runs there) that has no ``notebooks/`` of its own."""
    cwd = Path.cwd().resolve()
    return cwd.parent if cwd.name == "notebooks" and not (cwd / "notebooks").is_dir() else cwd


def default_reports_root() -> Path:
    """``$SNNKIT_REPORTS`` if set, else ``<project>/reports`` (:func:`project_root`); never the package's folder."""
    env = os.environ.get("SNNKIT_REPORTS")
    return Path(env) if env else project_root() / "reports"


def run_identity(notebook: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(hash, provenance_only)`` of a run: the hash of the parameters that change its results and the others.

    With a registered schema this is :func:`snnkit.config.result_hash` (which ``.DONE``, checkpoint
    retention and ``Trainer(run_hash=...)`` key on); without one, the hash of ``params`` minus
    :data:`snnkit.config.PROVENANCE_ONLY`.
    """
    from snnkit import config
    from snnkit.errors import ConfigError

    params = dict(params)
    try:
        config.get_schema(notebook)
    except ConfigError:
        result = {k: v for k, v in params.items() if k not in config.PROVENANCE_ONLY}
    else:
        result = config.result_params(notebook, params)
    return params_hash(result), {k: v for k, v in params.items() if k not in result}


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or name in (".", ".."):
        raise SnnkitError(f"{kind} name {name!r} is not allowed; use letters, digits, '_', '-', '.' "
                          "(no path separators)")
    return name


# -- JSON scalars ------------------------------------------------------------------------------
def json_scalar(key: str, value: Any) -> Any:
    """``value`` as a JSON scalar (None, bool, int, float, str); NumPy/torch scalars are converted.

    Non-finite floats become None (JSON has no NaN) with a warning. Anything else (lists, arrays
    with more than one element, objects) raises SnnkitError naming ``key``.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if hasattr(value, "item") and callable(value.item):  # NumPy scalars and arrays, torch tensors
        if not isinstance(value, numbers.Number):
            numel = value.numel() if callable(getattr(value, "numel", None)) else getattr(value, "size", 1)
            if numel != 1:
                raise SnnkitError(f"metric {key!r} must be a scalar, got an array of {numel} elements")
        value = value.item()
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        out = float(value)
        if not math.isfinite(out):
            log.warning("metric %r is %r; written as null", key, out)
            return None
        return out
    raise SnnkitError(f"metric {key!r} = {value!r} is not a JSON scalar (number, bool, string or null)")


def _check_fraction(key: str, value: Any) -> None:
    if value is None:
        return
    if (key in FRACTION_METRICS or key.endswith("_accuracy")) and not (
        isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0
    ):
        raise SnnkitError(f"metric {key!r} = {value!r} must be a fraction in [0, 1] (not a percentage)")


def _param_value(key: str, value: Any) -> Any:
    try:
        return json_scalar(key, value)
    except SnnkitError:
        return json.dumps(value, sort_keys=True, default=str)


# -- provenance --------------------------------------------------------------------------------
def git_info(root: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the repository holding ``root`` (default: the cwd).

    ``dirty``: outside the top-level ``reports/``, a tracked file differs from the commit or an untracked file
    (not ignored) exists. What runs write there (this run's own directory, other runs in progress, the
    regenerated index, and the committed folder of an unfinished run that resumes) says nothing about the code
    that ran, so it does not count.
    None where git or the repository is absent: an installed snnkit never reports its own folder.
    """
    root = Path(root) if root is not None else Path.cwd()
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        if sha.returncode != 0:
            return {"commit": None, "dirty": None}
        outside_reports = ["--", ":(top)", ":(top,exclude)reports"]
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no",
                                 *outside_reports], capture_output=True, text=True, timeout=20)
        untracked = subprocess.run(["git", "-C", str(root), "ls-files", "--others", "--exclude-standard",
                                    *outside_reports], capture_output=True, text=True, timeout=20)
        ok = status.returncode == 0 and untracked.returncode == 0
        dirty = bool(status.stdout.strip() or untracked.stdout.strip()) if ok else None
        return {"commit": sha.stdout.strip(), "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict[str, str | None]:
    """Versions of Python, snnkit and the scientific stack (None where a package is not installed)."""
    import snnkit

    out: dict[str, str | None] = {"python": platform.python_version(), "snnkit": snnkit.__version__}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _device_info(requested: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"requested": requested}
    try:
        from snnkit.utils import resolve_device

        dev = resolve_device(requested if requested is not None else "auto")
        info["resolved"] = str(dev)
        if getattr(dev, "type", None) == "cuda":  # pragma: no cover - no GPU in CI
            import torch

            info["name"] = torch.cuda.get_device_name(dev)
    except Exception as exc:  # noqa: BLE001 - provenance must never stop a run
        info["resolved"] = None
        info["error"] = str(exc)
    return info


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def collect_provenance(params: Mapping[str, Any], *, notebook: str | None = None,
                       root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Provenance of a run with ``params``: git, parameters, identity hash, seed, versions, device, host, time.

    ``params_hash`` is :func:`run_identity`'s (``notebook`` selects the schema); every parameter is
    under ``params`` and the provenance-only ones again under ``provenance_only``.
    """
    params = dict(params)
    identity, provenance_only = run_identity(notebook or "", params)
    return {
        "git": git_info(root),
        "params": {k: _param_value(k, v) for k, v in params.items()},
        "params_hash": identity,
        "provenance_only": {k: _param_value(k, v) for k, v in provenance_only.items()},
        "seed": params.get("seed"),
        "versions": package_versions(),
        "device": _device_info(params.get("device", "auto")),
        "host": {"hostname": socket.gethostname(), "platform": platform.platform(),
                 "machine": platform.machine(), "cpu_count": os.cpu_count(),
                 "python_executable": sys.executable},
        "start_time": _now(),
        "end_time": None,
        "wall_time_s": None,
    }


# -- the run -----------------------------------------------------------------------------------
class Run:
    """One run directory: ``figures/``, ``tables/``, ``checkpoints/``, ``provenance.json``, ``metrics.json``."""

    def __init__(self, notebook: str, params: Mapping[str, Any], *, profile: str, run: str, run_dir: Path,
                 dataset: str | None, stand_in: bool, reports_root: Path):
        self.notebook = notebook
        self.params = dict(params)
        self.profile = profile
        self.run = run
        self.path = Path(run_dir)
        self.reports_root = Path(reports_root)
        self.dataset = dataset
        self.stand_in = bool(stand_in)
        self.metrics: dict[str, Any] = {}
        self.finished = False
        self._t0 = time.perf_counter()
        self.figures_dir = self.path / "figures"
        self.tables_dir = self.path / "tables"
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        self.provenance = collect_provenance(self.params, notebook=notebook)
        self.provenance.update(notebook=notebook, profile=profile, run=run, dataset=dataset,
                               stand_in=self.stand_in, run_dir=str(self.path))
        stale = self.path / "metrics.json"
        if stale.exists():
            stale.unlink()
        self._write_provenance()
        log.info("run %s/%s/%s in %s", notebook, profile, run, self.path)

    def __repr__(self) -> str:
        return f"Run({self.notebook!r}, profile={self.profile!r}, run={self.run!r}, path={str(self.path)!r})"

    # -- paths --
    @property
    def ckpt_dir(self) -> Path:
        """``<run_dir>/checkpoints`` (created on first use)."""
        path = self.path / "checkpoints"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def tb_dir(self) -> Path:
        """``<run_dir>/tb``: TensorBoard event files (created on first use)."""
        path = self.path / "tb"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def progress_file(self) -> Path:
        """``<run_dir>/progress.json``: pass it to ``Trainer(progress_file=...)``; ``snnkit.reproduce`` shows it."""
        return self.path / "progress.json"

    @property
    def seed(self) -> Any:
        return self.params.get("seed")

    @property
    def params_hash(self) -> str:
        """The run's identity: the hash of the parameters that change results (:func:`run_identity`).

        ``.DONE``, checkpoint retention in ``snnkit.reproduce`` and ``Trainer(run_hash=...)`` key on it,
        so a restart with only ``device`` (or ``data_root``, ``progress``, ``checkpoint``) changed resumes.
        """
        return run_identity(self.notebook, self.params)[0]

    @property
    def dataset_label(self) -> str:
        """The dataset's name for figure titles and tables; a stand-in says so."""
        name = self.dataset or "dataset not set"
        return f"{name} (stand-in)" if self.stand_in else name

    def _write_provenance(self) -> None:
        atomic_write_text(self.path / "provenance.json", json.dumps(self.provenance, indent=2, default=str) + "\n")

    # -- dataset --
    def set_dataset(self, name: str, stand_in: bool = False) -> None:
        """Record the dataset actually used (known only after loading) and whether it is a stand-in."""
        if not isinstance(name, str) or not name:
            raise SnnkitError(f"dataset name must be a non-empty string, got {name!r}")
        self.dataset = name
        self.stand_in = bool(stand_in)
        self.provenance.update(dataset=name, stand_in=self.stand_in)
        self._write_provenance()

    def use_data(self, **splits: Any) -> None:
        """Record the datasets a run actually read, by split (``train=..., val=..., test=...``).

        The run's dataset name and stand-in flag come from the ``test`` split (else the first given);
        ``provenance.json`` gets, per split, its name, size, ``source`` and ``origin`` (the folder and
        checksums the loader actually read), so the record names the data used, not the folder asked for.
        ``None`` splits (e.g. no validation split) are skipped.
        """
        given = {name: ds for name, ds in splits.items() if ds is not None}
        if not given:
            raise SnnkitError("use_data() needs at least one dataset, e.g. use_data(train=..., test=...)")
        main = given.get("test", next(iter(given.values())))
        data = {name: {"name": getattr(ds, "name", None), "n": len(ds),
                       "stand_in": bool(getattr(ds, "stand_in", False)),
                       "source": getattr(ds, "source", None), "origin": getattr(ds, "origin", None)}
                for name, ds in given.items()}
        self.provenance["data"] = data
        self.set_dataset(str(getattr(main, "name", "")) or "unnamed dataset",
                         stand_in=any(d["stand_in"] for d in data.values()))

    def record_provenance(self, **items: Any) -> None:
        """Add ``items`` (JSON-serialisable, e.g. ``resumed_from``) to ``provenance.json`` and write it."""
        self.provenance.update(items)
        self._write_provenance()

    # -- outputs --
    def figure(self, fig: Any, name: str, *, dpi: int = 120, close: bool = False) -> Path:
        """Save ``fig`` as ``figures/<name>.png`` (:func:`snnkit.report.figures.save_figure`: atomic) and
        return the path; the figure stays open (inline) unless ``close``."""
        from snnkit.report.figures import save_figure

        return save_figure(fig, self.figures_dir / f"{check_name('figure', name)}.png", dpi=dpi, close=close)

    def table(self, df: Any, name: str, *, floatfmt: str = ".4g") -> tuple[Path, Path]:
        """Save a DataFrame as ``tables/<name>.csv`` and ``tables/<name>.md``; returns both paths.

        The Markdown file starts with a line naming the run and its dataset (marked if a stand-in); its
        floats are written with ``floatfmt`` (the CSV keeps full precision).
        """
        from snnkit.report.tables import save_table

        caption = f"*{self.notebook} / {self.profile} / {self.run}; dataset: {self.dataset or 'unknown'}"
        caption += " (**stand-in**: not comparable with published numbers)" if self.stand_in else ""
        return save_table(df, self.tables_dir, check_name("table", name), caption=caption + "*", floatfmt=floatfmt)

    def _clean_metrics(self, metrics: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in metrics.items():
            if key in RESERVED_KEYS:
                raise SnnkitError(f"metric {key!r} is set by the run itself; reserved keys: {RESERVED_KEYS}")
            if key in self.params:
                raise SnnkitError(f"metric {key!r} has the name of a parameter; choose another name")
            value = json_scalar(key, value)
            _check_fraction(key, value)
            out[key] = value
        return out

    def log(self, **metrics: Any) -> dict[str, Any]:
        """Record metrics (later values of a key replace earlier ones); returns all metrics so far."""
        self.metrics.update(self._clean_metrics(metrics))
        return dict(self.metrics)

    @property
    def wall_time_s(self) -> float:
        return time.perf_counter() - self._t0

    def finish(self, **metrics: Any) -> dict[str, Any]:
        """Write ``metrics.json`` (flat) and the wall time into provenance; returns the metrics dict."""
        self.log(**metrics)
        if self.dataset is None:
            raise SnnkitError("the dataset is unknown: pass dataset= to start_run or call run.set_dataset() "
                              "before finish()")
        wall = round(self.wall_time_s, 3)
        record: dict[str, Any] = {
            "notebook": self.notebook, "profile": self.profile, "run": self.run, "dataset": self.dataset,
            "stand_in": self.stand_in, "seed": _param_value("seed", self.seed), "wall_time_s": wall,
        }
        for key, value in self.params.items():
            if key not in record:
                record[key] = _param_value(key, value)
        record.update(self.metrics)
        atomic_write_text(self.path / "metrics.json", json.dumps(record, indent=2, allow_nan=False) + "\n")
        self.provenance.update(end_time=_now(), wall_time_s=wall)
        self._write_provenance()
        self.finished = True
        return record


def start_run(
    notebook: str,
    params: Mapping[str, Any],
    *,
    profile: str = "interactive",
    run: str | None = None,
    run_dir: str | os.PathLike | None = None,
    dataset: str | None = None,
    stand_in: bool = False,
    reports_root: str | os.PathLike | None = None,
) -> Run:
    """Open the run directory ``<reports_root>/<notebook>/<profile>/<run>/`` (or ``run_dir``).

    ``run`` defaults to the run's identity hash (:func:`run_identity`), so interactive runs with
    different parameters get different directories (and checkpoints) while re-running the same
    parameters (on another device, say) finds its finished work. ``params`` are validated against the notebook's schema when one is registered. Writes
    ``provenance.json`` at once and removes a stale ``metrics.json``.
    """
    from snnkit import config

    check_name("notebook", notebook)
    check_name("profile", profile)
    if notebook in config.SCHEMAS:
        params = config.validate(notebook, params)
    run = check_name("run", run if run is not None else run_identity(notebook, params)[0])
    root = Path(reports_root) if reports_root is not None else default_reports_root()
    path = Path(run_dir) if run_dir is not None else root / notebook / profile / run
    return Run(notebook, params, profile=profile, run=run, run_dir=path, dataset=dataset, stand_in=stand_in,
               reports_root=root)


def start_run_from(notebook: str, params: Mapping[str, Any], snnkit_run: Mapping[str, Any] | None,
                   **kwargs: Any) -> Run:
    """:func:`start_run` with the ``snnkit_run`` dict papermill passes in (None: interactive use)."""
    info = dict(snnkit_run or {})
    unknown = set(info) - {"run_dir", "profile", "run", "reports_root"}
    if unknown:
        raise SnnkitError(f"snnkit_run has unknown keys {sorted(unknown)}; "
                          "expected run_dir, profile, run, reports_root")
    return start_run(notebook, params, **{**info, **kwargs})
