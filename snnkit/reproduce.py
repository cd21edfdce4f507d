"""``python -m snnkit.reproduce`` (or ``snnkit-reproduce``): params/ → papermill → reports/.

For every notebook ``notebooks/<name>.ipynb`` and every run in ``params/<name>/<profile>.yaml`` the
notebook is executed with papermill into ``reports/<name>/<profile>/<run>/`` (``executed.ipynb``,
``metrics.json``, ``provenance.json``, ``figures/``, ``tables/``), then ``reports/index.md`` is
rebuilt.

Options::

    --profile smoke|paper   which parameter file to use (default: smoke)
    --only NAME...          only these notebooks
    --list                  list notebooks, their profiles and runs, and whether each run is done
    --dry-run               validate and show what would run, run nothing
    --force                 re-run finished runs (and start them from scratch, not from a checkpoint)
    --jobs N                run N notebooks at a time, each in its own process and kernel (default 1)
    --set KEY=VALUE         an ad-hoc run of one notebook (needs --only NAME) with overrides on top
                            of the profile's parameters; repeatable; VALUE is parsed as YAML
    --name NAME             the directory name of an ad-hoc run (default: its parameter hash)
    --root DIR              repository root holding notebooks/, params/, reports/ (default: the
                            current directory, which must then hold notebooks/)
    --notebooks-dir, --params-dir, --reports-dir   override each of the three separately

Parameter files (``params/<notebook>/<profile>.yaml``) take one of two forms. A mapping of
parameters is one run, named ``default``::

    dataset: fashionmnist-embedded
    hidden_dim: 128
    T: 10

A sweep lists named runs; ``common`` (optional) is merged under each run (a run's own value wins)::

    common: {dataset: fashionmnist, epochs: 20}
    runs:
      dense: {model: dense}
      mixer_p015: {model: mixer, p_inter: 0.15}

Every run's parameters are validated against the notebook's schema (``snnkit.config``) before the
notebook starts; an invalid run fails with the ConfigError message and the others go on. Numbers
such as ``1e-3`` are read as floats. An empty file (or one of only comments) and a key given twice in
a mapping are usage errors.

Before a run starts, its old ``.DONE``, ``metrics.json``, ``executed.ipynb``, ``provenance.json``,
``figures/``, ``tables/`` and ``tb/`` are removed; ``checkpoints/`` is kept (and the run resumes from it) only when the previous
attempt had the same run identity and there is no ``--force``. The identity (``.DONE``, checkpoint
retention, the hash in ``--dry-run``) is :func:`snnkit.config.result_hash`: the parameters that change
results, so a killed run restarted with only ``device``, ``data_root``, ``progress`` or ``checkpoint``
changed resumes its checkpoints; those values are recorded in ``provenance.json``. Each notebook kernel gets
``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` = CPU cores // (runs at a time), unless OMP_NUM_THREADS is set.

A run whose ``<run_dir>/.DONE`` holds the same parameter hash is skipped unless ``--force``. The
marker is removed before a run starts and written only when the notebook finished and wrote its
``metrics.json``; a failing notebook leaves its partial ``executed.ipynb`` and no ``.DONE``. The
command ends with a summary table (naming the failed cell and its error) and exits with 1 if any
run failed, 2 on a usage error (unknown notebook, missing parameter file, bad --set).

Ad-hoc runs: ``snnkit-reproduce --only g2gnet_fashionmnist --profile paper --set model=dense
--set epochs=5`` runs into ``reports/g2gnet_fashionmnist/custom/<name-or-hash>/``.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import json
import logging
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snnkit import config
from snnkit.errors import ConfigError, SnnkitError
from snnkit.utils import atomic_write_text

log = logging.getLogger("snnkit.reproduce")

__all__ = [
    "main", "Job", "Result", "Roots", "plan", "load_params_file", "execute_job",
    "available_notebooks", "kernel_env",
]

KERNEL_NAME = "python3"
CUSTOM_PROFILE = "custom"


class UsageError(SnnkitError):
    """A problem with the command line or the parameter files: reported before anything runs."""


@dataclass(frozen=True)
class Roots:
    """Where notebooks, parameter files and reports live."""

    notebooks: Path
    params: Path
    reports: Path

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Roots:
        """From ``--root`` (default: the current directory, which must then hold ``notebooks/``)."""
        if args.root is not None:
            root = Path(args.root)
        elif (Path.cwd() / "notebooks").is_dir() or args.notebooks_dir:
            root = Path.cwd()
        else:
            raise UsageError(f"the current directory {Path.cwd()} has no notebooks/: run from the repository "
                             "root (the folder with notebooks/, params/, reports/) or pass --root DIR")
        return cls(
            notebooks=Path(args.notebooks_dir or root / "notebooks").resolve(),
            params=Path(args.params_dir or root / "params").resolve(),
            reports=Path(args.reports_dir or root / "reports").resolve(),
        )


@dataclass
class Job:
    """One run of one notebook (picklable: sent to worker processes)."""

    notebook: str
    profile: str
    run: str
    params: dict[str, Any] | None
    run_dir: Path
    notebook_path: Path
    reports_root: Path
    params_hash: str | None = None
    error: str | None = None  # a validation error: the job fails without running
    extra_provenance: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    notebook: str
    run: str
    profile: str
    status: str  # ok | skipped | failed
    wall_s: float = 0.0
    metric: Any = None
    error: str | None = None
    run_dir: str = ""


# -- discovery and parameter files -----------------------------------------------------------------
def available_notebooks(notebooks_dir: Path) -> list[str]:
    """Names (stems) of the notebooks in ``notebooks_dir``."""
    if not notebooks_dir.is_dir():
        return []
    return sorted(p.stem for p in notebooks_dir.glob("*.ipynb") if not p.name.startswith("."))


def load_params_file(path: Path) -> dict[str, dict[str, Any]]:
    """Read a parameter file: ``{run_name: params}`` (see the module docstring for the two forms).

    UsageError (naming the file) when it is missing, unparsable, empty or only comments, repeats a
    key in a mapping, or has the wrong shape.
    """
    if not path.is_file():
        raise UsageError(f"no parameter file {path}; create it (a mapping of parameters, or "
                         "{runs: {name: {...}}, common: {...}}) or choose another --profile")
    try:
        data = config.load_yaml(path.read_text())
    except Exception as exc:  # noqa: BLE001 - any YAML error is a usage error with the file named
        raise UsageError(f"cannot parse {path}: {exc}") from exc
    if data is None:
        raise UsageError(f"{path} is empty (or only comments): write the run's parameters (a mapping), "
                         "or {} for a run with every schema default")
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of parameters or {{runs: ..., common: ...}}, "
                         f"got {type(data).__name__}")
    if "runs" not in data:
        return {"default": data}
    extra = set(data) - {"runs", "common"}
    if extra:
        raise UsageError(f"{path}: a sweep file has only 'runs' and 'common' at the top; move {sorted(extra)} "
                         "under 'common'")
    common = data.get("common") or {}
    runs = data["runs"]
    if not isinstance(common, dict) or not isinstance(runs, dict) or not runs:
        raise UsageError(f"{path}: 'runs' must be a non-empty mapping of run name to parameters and "
                         "'common' a mapping")
    out = {}
    for name, params in runs.items():
        if not isinstance(params, (dict, type(None))):
            raise UsageError(f"{path}: run {name!r} must be a mapping of parameters")
        out[str(name)] = {**common, **(params or {})}
    return out


def _check_run_name(name: str, where: str) -> None:
    from snnkit.report.run import check_name

    try:
        check_name("run", name)
    except SnnkitError as exc:
        raise UsageError(f"{where}: {exc}") from None


def _make_job(notebook: str, profile: str, run: str, raw: dict[str, Any], roots: Roots,
              run_dir: Path | None = None, extra: dict[str, Any] | None = None) -> Job:
    job = Job(notebook=notebook, profile=profile, run=run, params=None,
              run_dir=run_dir or roots.reports / notebook / profile / run,
              notebook_path=roots.notebooks / f"{notebook}.ipynb", reports_root=roots.reports,
              extra_provenance=extra or {})
    try:
        job.params = config.validate(notebook, raw)
        job.params_hash = config.result_hash(notebook, job.params)
    except ConfigError as exc:
        job.error = f"ConfigError: {exc}"
    return job


def _parse_sets(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key] = config.load_yaml(text) if text.strip() else None
        except Exception as exc:  # noqa: BLE001
            raise UsageError(f"--set {item!r}: cannot parse the value as YAML: {exc}") from exc
    return out


def plan(args: argparse.Namespace, roots: Roots) -> list[Job]:
    """The jobs of this call (validation errors are recorded on each job, not raised)."""
    available = available_notebooks(roots.notebooks)
    if args.only:
        unknown = [n for n in args.only if n not in available]
        if unknown:
            raise UsageError(f"unknown notebook(s) {', '.join(unknown)}; available in {roots.notebooks}: "
                             f"{', '.join(available) or '(none)'}")
        names = list(dict.fromkeys(args.only))
    else:
        names = available
    if args.set:
        if len(names) != 1 or not args.only:
            raise UsageError("--set makes an ad-hoc run of exactly one notebook: add --only NAME")
        return [_custom_job(names[0], args, roots)]
    if args.name:
        raise UsageError("--name only applies to ad-hoc runs made with --set")
    jobs = []
    for notebook in names:
        path = roots.params / notebook / f"{args.profile}.yaml"
        for run, raw in load_params_file(path).items():
            _check_run_name(run, str(path))
            jobs.append(_make_job(notebook, args.profile, run, raw, roots))
    return jobs


def _custom_job(notebook: str, args: argparse.Namespace, roots: Roots) -> Job:
    overrides = _parse_sets(args.set)
    try:
        schema = config.get_schema(notebook)
        schema.validate(overrides, partial_ok=True)
    except ConfigError as exc:
        raise UsageError(f"--set: {exc}") from exc
    base: dict[str, Any] = {}
    path = roots.params / notebook / f"{args.profile}.yaml"
    if path.is_file():
        runs = load_params_file(path)
        if len(runs) == 1:
            base = next(iter(runs.values()))
        else:  # a sweep: start from its common part
            base = config.load_yaml(path.read_text()).get("common") or {}
    else:
        log.info("no %s; ad-hoc run starts from the schema defaults", path)
    try:
        full = config.validate(notebook, {**base, **overrides})
    except ConfigError as exc:
        raise UsageError(f"--set: {exc}") from exc
    name = args.name or config.result_hash(notebook, full)
    _check_run_name(name, "--name")
    extra = {"base_profile": args.profile, "overrides": overrides}
    return _make_job(notebook, CUSTOM_PROFILE, name, {**base, **overrides}, roots,
                     run_dir=roots.reports / notebook / CUSTOM_PROFILE / name, extra=extra)


def _is_done(job: Job) -> bool:
    from snnkit.train.checkpoint import is_done

    return job.params_hash is not None and is_done(job.run_dir, job.params_hash)


# -- execution --------------------------------------------------------------------------------------
def _kernel_threads(jobs: int) -> int:
    """Threads per kernel when ``jobs`` kernels run at once: the CPU cores shared out, at least 1."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


@contextlib.contextmanager
def kernel_env(jobs: int = 1) -> Iterator[None]:
    """Environment the kernel inherits: the same snnkit as this process, the inline plot backend.

    With ``jobs`` kernels running at once, each gets ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` =
    ``max(1, os.cpu_count() // jobs)`` so that parallel runs do not oversubscribe the cores (torch
    reads them at start-up); a user's own ``OMP_NUM_THREADS`` is left alone (and MKL's with it).
    Restored afterwards, so this process's own environment is left as it was.
    """
    import snnkit

    pkg_parent = str(Path(snnkit.__file__).resolve().parents[1])
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "MPLBACKEND", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    try:
        if pkg_parent not in parts:
            os.environ["PYTHONPATH"] = os.pathsep.join([pkg_parent, *parts])
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
        if not os.environ.get("OMP_NUM_THREADS"):
            threads = str(_kernel_threads(jobs))
            os.environ["OMP_NUM_THREADS"] = threads
            os.environ["MKL_NUM_THREADS"] = threads
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _failure_text(exc: BaseException) -> str:
    exec_count = getattr(exc, "exec_count", None)
    ename = getattr(exc, "ename", None)
    if ename is not None:
        cell = getattr(exc, "cell_index", None)
        where = f"cell [{exec_count}]" + (f" (cell index {cell})" if cell is not None else "")
        return f"{where}: {ename}: {getattr(exc, 'evalue', '')}"
    return f"{type(exc).__name__}: {exc}"


def _merge_provenance(job: Job, wall: float, status: str, error: str | None) -> None:
    path = job.run_dir / "provenance.json"
    prov: dict[str, Any] = {}
    if path.is_file():
        try:
            prov = json.loads(path.read_text())
        except ValueError:
            prov = {}
    if not prov:  # the notebook failed before start_run(): record what we know
        from snnkit.report.run import collect_provenance

        prov = collect_provenance(job.params or {}, notebook=job.notebook)
        prov.update(notebook=job.notebook, profile=job.profile, run=job.run)
    prov["reproduce"] = {
        "status": status,
        "error": error,
        "total_wall_time_s": round(wall, 3),
        "params_hash": job.params_hash,
        "kernel": KERNEL_NAME,
        "notebook_path": str(job.notebook_path),
        "command": sys.argv,
        **job.extra_provenance,
    }
    prov["total_wall_time_s"] = round(wall, 3)
    atomic_write_text(path, json.dumps(prov, indent=2, default=str) + "\n")


def _key_metric(run_dir: Path) -> Any:
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    for key in ("test_accuracy", "val_accuracy"):
        if key in metrics:
            return metrics[key]
    return None


#: outputs of a previous attempt that are removed before every run starts (the notebook rewrites them)
_STALE_FILES = (".DONE", "metrics.json", "executed.ipynb")
_STALE_DIRS = ("figures", "tables", "tb")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _prepare_dir(job: Job, force: bool) -> None:
    """Clear a previous attempt's outputs; keep ``checkpoints/`` only to resume the same parameters.

    The previous parameter hash is read from ``provenance.json`` (which is then removed too; the
    notebook or :func:`_merge_provenance` writes a fresh one); with ``force``, a different hash, or
    no readable hash the checkpoints go too, so the run starts from scratch.
    """
    run_dir = job.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in (*_STALE_FILES, *_STALE_DIRS):
        _remove(run_dir / name)
    stale = force
    prov = run_dir / "provenance.json"
    if not stale:
        try:
            stale = json.loads(prov.read_text()).get("params_hash") != job.params_hash
        except (OSError, ValueError, AttributeError):
            stale = True
    # gone once its hash is read: a notebook failing before start_run() must not inherit its content
    prov.unlink(missing_ok=True)
    if stale and (run_dir / "checkpoints").exists():
        log.info("removing checkpoints of %s (%s)", run_dir, "--force" if force else "not the same parameters")
        _remove(run_dir / "checkpoints")


def execute_job(job: Job, force: bool = False, jobs: int = 1) -> Result:
    """Run one job with papermill (in this process); never raises for a failing notebook.

    ``jobs`` is how many runs execute at once (it shares the CPU threads out, see :func:`kernel_env`).
    """
    result = Result(job.notebook, job.run, job.profile, "failed", run_dir=str(job.run_dir))
    if job.error is not None:
        result.error = job.error
        return result
    import papermill as pm

    _prepare_dir(job, force)
    snnkit_run = {"run_dir": str(job.run_dir), "profile": job.profile, "run": job.run,
                  "reports_root": str(job.reports_root)}
    t0 = time.perf_counter()
    error = None
    try:
        with kernel_env(jobs):
            pm.execute_notebook(
                str(job.notebook_path),
                str(job.run_dir / "executed.ipynb"),
                parameters={**(job.params or {}), "snnkit_run": snnkit_run},
                kernel_name=KERNEL_NAME,
                cwd=str(job.notebook_path.parent),
                progress_bar=False,
                log_output=False,
            )
        if not (job.run_dir / "metrics.json").is_file():
            error = "the notebook finished but wrote no metrics.json (call run.finish(...))"
    except Exception as exc:  # noqa: BLE001 - one failing notebook must not stop the others
        error = _failure_text(exc)
    wall = time.perf_counter() - t0
    status = "failed" if error else "ok"
    try:
        _merge_provenance(job, wall, status, error)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not update provenance of %s: %s", job.run_dir, exc)
    if not error:
        from snnkit.train.checkpoint import mark_done

        mark_done(job.run_dir, str(job.params_hash))
    result.status, result.wall_s, result.error = status, wall, error
    result.metric = _key_metric(job.run_dir)
    return result


def _run_all(jobs: list[Job], *, force: bool, n_jobs: int) -> list[Result]:
    from tqdm.auto import tqdm

    results: dict[int, Result] = {}
    todo = []
    for i, job in enumerate(jobs):
        if job.error is None and not force and _is_done(job):
            results[i] = Result(job.notebook, job.run, job.profile, "skipped", metric=_key_metric(job.run_dir),
                                run_dir=str(job.run_dir))
        else:
            todo.append(i)
    with tqdm(total=len(jobs), initial=len(results), desc="runs", unit="run", file=sys.stderr,
              disable=None) as bar:
        if n_jobs <= 1 or len(todo) <= 1:
            for i in todo:
                bar.set_postfix_str(f"{jobs[i].notebook}/{jobs[i].run}")
                results[i] = execute_job(jobs[i], force, 1)
                bar.update(1)
        else:
            at_once = min(n_jobs, len(todo))
            with cf.ProcessPoolExecutor(max_workers=at_once, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = {pool.submit(execute_job, jobs[i], force, at_once): i for i in todo}
                for fut in cf.as_completed(futures):
                    i = futures[fut]
                    try:
                        results[i] = fut.result()
                    except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by the OS
                        results[i] = Result(jobs[i].notebook, jobs[i].run, jobs[i].profile, "failed",
                                            error=f"{type(exc).__name__}: {exc}", run_dir=str(jobs[i].run_dir))
                    bar.update(1)
    return [results[i] for i in range(len(jobs))]


# -- output -----------------------------------------------------------------------------------------
def _fmt_metric(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "—" if value is None else str(value)


def summary_table(results: list[Result]) -> str:
    """The plain-text summary: notebook, run, status, wall s, test accuracy; then each failure."""
    header = ("notebook", "run", "status", "wall s", "test_accuracy")
    rows = [(r.notebook, f"{r.profile}/{r.run}", r.status, f"{r.wall_s:.1f}", _fmt_metric(r.metric))
            for r in results]
    widths = [max(len(h), *(len(row[j]) for row in rows)) if rows else len(h) for j, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    failed = [r for r in results if r.status == "failed"]
    if failed:
        lines.append("")
        lines.append(f"{len(failed)} run(s) failed:")
        for r in failed:
            lines.append(f"  {r.notebook} {r.profile}/{r.run}: {r.error}")
            if r.run_dir:
                lines.append(f"    see {Path(r.run_dir) / 'executed.ipynb'}")
    return "\n".join(lines)


def _list(roots: Roots, out) -> None:
    if not available_notebooks(roots.notebooks):
        print(f"no notebooks in {roots.notebooks}", file=out)
    for notebook in available_notebooks(roots.notebooks):
        profiles = sorted(p.stem for p in (roots.params / notebook).glob("*.yaml"))
        print(f"{notebook}  (profiles: {', '.join(profiles) or 'none'})", file=out)
        for profile in profiles:
            try:
                runs = load_params_file(roots.params / notebook / f"{profile}.yaml")
            except UsageError as exc:
                print(f"  {profile}: {exc}", file=out)
                continue
            for run, raw in runs.items():
                job = _make_job(notebook, profile, run, raw, roots)
                state = "invalid" if job.error else ("done" if _is_done(job) else "not run")
                print(f"  {profile}/{run}: {state}", file=out)


def _dry_run(jobs: list[Job], force: bool, out) -> int:
    bad = 0
    for job in jobs:
        if job.error:
            state, bad = f"invalid: {job.error}", bad + 1
        elif _is_done(job) and not force:
            state = "skip (done, same parameter hash)"
        else:
            state = "would run"
        print(f"{job.notebook} {job.profile}/{job.run} [{job.params_hash or '-'}] -> {job.run_dir}: {state}",
              file=out)
    return 1 if bad else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="snnkit-reproduce", description="Execute the notebooks into reports/.",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="smoke", choices=("smoke", "paper"),
                   help="parameter profile (default: smoke)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="only these notebooks")
    p.add_argument("--list", action="store_true", help="list notebooks, profiles and runs")
    p.add_argument("--dry-run", action="store_true", help="show what would run; run nothing")
    p.add_argument("--force", action="store_true", help="re-run finished runs from scratch")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="parallel processes (default 1)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="ad-hoc run of one notebook (with --only) with this override; repeatable")
    p.add_argument("--name", help="directory name of the ad-hoc run (default: parameter hash)")
    p.add_argument("--root", help="repository root with notebooks/, params/, reports/")
    p.add_argument("--notebooks-dir", help="notebooks directory (default: ROOT/notebooks)")
    p.add_argument("--params-dir", help="parameter directory (default: ROOT/params)")
    p.add_argument("--reports-dir", help="reports directory (default: ROOT/reports)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 a run failed, 2 usage error)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return 2
    try:
        roots = Roots.from_args(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.list:
        _list(roots, sys.stdout)
        return 0
    try:
        jobs = plan(args, roots)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not jobs:
        print(f"nothing to run: no notebooks in {roots.notebooks}", file=sys.stderr)
    if args.dry_run:
        return _dry_run(jobs, args.force, sys.stdout)
    t0 = time.perf_counter()
    results = _run_all(jobs, force=args.force, n_jobs=args.jobs)
    try:
        from snnkit.report.index import build_index

        index = build_index(roots.reports)
        log.info("index: %s", index)
    except Exception as exc:  # noqa: BLE001 - the runs' results matter more than the index
        log.error("could not rebuild the index: %s", exc)
    print(summary_table(results))
    print(f"total wall time {time.perf_counter() - t0:.1f} s")
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
