"""``python -m snnkit.reproduce`` (or ``snnkit-reproduce``): params/ → papermill → reports/.

For every notebook ``notebooks/<name>.ipynb`` and every run in ``params/<name>/<profile>.yaml`` the
notebook is executed with papermill into ``reports/<name>/<profile>/<run>/`` (``executed.ipynb``,
``metrics.json``, ``provenance.json``, ``figures/``, ``tables/``), then ``reports/index.md`` is
rebuilt.

Options::

    --profile NAME          which parameter file to use: any params/<notebook>/<NAME>.yaml that
                            exists (default: smoke); without --only, notebooks lacking it are
                            left out; a profile no notebook has is a usage error listing those
                            that exist
    --only NAME...          only these notebooks
    --runs PATTERN...       only the runs of the profile whose names match one of these shell patterns
                            (e.g. ``--runs dense 'mixer_p015*'``); a pattern matching no run is a
                            usage error listing the runs
    --list                  list notebooks, their profiles and runs (and the ad-hoc runs found under
                            reports/<notebook>/custom/, with their --set overrides), each as done /
                            interrupted at epoch e, step s / failed: <error> / not run
    --dry-run               validate and show what would run (or resume from epoch e, step s), run
                            nothing
    --force                 re-run finished runs (and start them from scratch, not from a checkpoint)
    --jobs N                run N notebooks at a time, each in its own process and kernel (default 1)
    --set KEY=VALUE         an ad-hoc run of one notebook (needs --only NAME) with overrides on top
                            of the profile's parameters (of a sweep: its common part, or the one run
                            --runs names); repeatable; VALUE is parsed as YAML
    --name NAME             the directory name of an ad-hoc run (default: its parameter hash)
    --root DIR              repository root holding notebooks/, params/, reports/ (default: the
                            current directory, which must then hold notebooks/)
    --notebooks-dir, --params-dir, --reports-dir   override each of the three separately
    --launcher local|slurm  where runs execute: worker processes here (local, the default) or one
                            Slurm job per run submitted with submitit (see "On a cluster" below)
    --slurm-partition P, --slurm-gpus-per-node N, --slurm-time MINUTES, --slurm-mem SIZE,
    --slurm-cpus-per-task N   the jobs' Slurm resources (submitit's slurm_partition, slurm_gpus_per_node,
                            slurm_time, slurm_mem, slurm_cpus_per_task)
    --submitit-dir DIR      submitit's folder of job pickles and logs (default REPORTS/.submitit)

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
such as ``1e-3`` are read as floats. An empty file (or one of only comments, or ``{}``) and a key
given twice in a mapping are usage errors.

Before a run starts, its old ``.DONE``, ``metrics.json``, ``executed.ipynb``, ``kernel.log``,
``figures/``, ``tables/`` and ``tb/`` are removed (a resumed trainer writes its earlier epochs to ``tb/`` again from the checkpoint) and ``provenance.json`` is replaced by a fresh record
of the new attempt; ``checkpoints/`` and ``progress.json`` are kept (and the run resumes from them) only when the previous attempt had the
same run identity and there is no ``--force``. The identity (``.DONE``, checkpoint
retention, the hash in ``--dry-run``) is :func:`snnkit.config.result_hash`: the parameters that change
results, so a killed run restarted with only ``device``, ``data_root``, ``progress`` or ``checkpoint``
changed resumes its checkpoints; those values are recorded in ``provenance.json``. Each notebook kernel gets
``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` = CPU cores // (runs at a time), unless OMP_NUM_THREADS is set, and
``OMP_WAIT_POLICY=PASSIVE`` when fewer cores than its threads are idle as it starts (:func:`kernel_env`).

A run whose ``<run_dir>/.DONE`` holds the same parameter hash is skipped unless ``--force``. The
marker is removed before a run starts and written only when the notebook finished and wrote its
``metrics.json``; a failing notebook leaves its partial ``executed.ipynb`` and no ``.DONE``. The
command ends with a summary table (one line per failure: the failed cell and its error, and the
``executed.ipynb`` to read only when the notebook ran in this call) and exits with 1 if any run
failed, 2 on a usage error (unknown notebook or profile, missing parameter file, bad --set, no
``notebooks/`` in the current directory without ``--root``).

While it runs. Every run executes in a worker process (``--jobs`` of them) with its own kernel; the
kernels use the IPC transport (no "TCP without encryption" warning) and write their own stderr to
``<run_dir>/kernel.log``. On a terminal, one progress line per running job shows what its trainer
writes to ``<run_dir>/progress.json`` (epoch e/E, step s/S, steps/s, ETA, "resumed from epoch e,
step s"). Ctrl-C stops the workers and their kernels (and removes the kernels' socket folders and
connection files), records the runs that were running as interrupted in their provenance, prints ONE line naming them and saying that re-running the same
command resumes them, and exits with 130.

On a cluster. With ``--launcher slurm`` every run that is not done is submitted as its own Slurm job
with submitit; the job calls :func:`execute_job`, exactly what a local worker calls, so run folders,
``.DONE``, checkpoints, resume and ``reports/index.md`` are those of a local run. The command waits for
the jobs (Ctrl-C stops waiting; the jobs go on), then rebuilds the index and prints the summary.
Re-running skips the runs whose ``.DONE`` matches and resumes the others from their checkpoints; a job
that Slurm preempts or times out is requeued by submitit and resumes the same way. ``--launcher
submitit-local`` runs the jobs through submitit's local executor (for tests; not a user option).
docs/scale.md has the details.

Ad-hoc runs: ``snnkit-reproduce --only g2gnet_fashionmnist --profile paper --set model=dense
--set epochs=5`` runs into ``reports/g2gnet_fashionmnist/custom/<name-or-hash>/``.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import datetime as _dt
import fnmatch
import json
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snnkit import config
from snnkit.errors import ConfigError, SnnkitError
from snnkit.utils import atomic_write_text, read_json_object

log = logging.getLogger("snnkit.reproduce")

__all__ = [
    "main", "Job", "Result", "Roots", "plan", "load_params_file", "execute_job",
    "available_notebooks", "available_profiles", "kernel_env", "run_state", "progress_text",
    "progress_line", "ProgressMonitor", "LAUNCHERS", "make_executor", "run_submitit",
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
    status: str  # ok | skipped | failed | interrupted
    wall_s: float = 0.0
    metric: Any = None
    error: str | None = None
    run_dir: str = ""
    executed: bool = False  # the notebook ran in this call (its executed.ipynb is this call's)
    resumed_from: dict[str, Any] | None = None  # {"epoch", "step"} when its trainer resumed a checkpoint


# -- discovery and parameter files -----------------------------------------------------------------
def available_notebooks(notebooks_dir: Path) -> list[str]:
    """Names (stems) of the notebooks in ``notebooks_dir``."""
    if not notebooks_dir.is_dir():
        return []
    return sorted(p.stem for p in notebooks_dir.glob("*.ipynb") if not p.name.startswith("."))


def available_profiles(params_dir: Path, notebooks: Sequence[str]) -> list[str]:
    """The profiles (``params/<notebook>/<profile>.yaml`` stems) that exist for any of ``notebooks``."""
    return sorted({p.stem for nb in notebooks for p in (params_dir / nb).glob("*.yaml")})


def load_params_file(path: Path) -> dict[str, dict[str, Any]]:
    """Read a parameter file: ``{run_name: params}`` (:func:`snnkit.config.read_params_file`, the two forms
    of the module docstring; values are validated later, per run).

    UsageError (naming the file) when it is missing, unparsable, empty or only comments, repeats a
    key in a mapping, or has the wrong shape.
    """
    if not path.is_file():
        raise UsageError(f"no parameter file {path}; create it (a mapping of parameters, or "
                         "{runs: {name: {...}}, common: {...}}) or choose another --profile")
    try:
        return config.read_params_file(path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


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
    patterns = list(getattr(args, "runs", None) or [])
    existing = available_profiles(roots.params, names)
    if args.profile not in existing:
        raise UsageError(f"unknown profile {args.profile!r}; profiles of {', '.join(names) or 'no notebook'} "
                         f"under {roots.params}: {', '.join(existing) or '(none)'}")
    jobs = []
    seen: list[str] = []
    used: set[str] = set()
    for notebook in names:
        path = roots.params / notebook / f"{args.profile}.yaml"
        if not args.only and not path.is_file():
            log.info("%s has no %s profile (%s): not run", notebook, args.profile, path)
            continue
        for run, raw in load_params_file(path).items():
            _check_run_name(run, str(path))
            seen.append(run)
            matched = {p for p in patterns if fnmatch.fnmatchcase(run, p)}
            if patterns and not matched:
                continue
            used |= matched
            jobs.append(_make_job(notebook, args.profile, run, raw, roots))
    unused = [p for p in patterns if p not in used]
    if unused:
        raise UsageError(f"--runs: {', '.join(map(repr, unused))} match no run of profile {args.profile!r}; its runs: "
                         f"{', '.join(dict.fromkeys(seen)) or '(none)'}")
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
    patterns = list(getattr(args, "runs", None) or [])
    if path.is_file():
        runs = load_params_file(path)
        if patterns:  # start from the one run they name
            chosen = [r for r in runs if any(fnmatch.fnmatchcase(r, p) for p in patterns)]
            if len(chosen) != 1:
                raise UsageError(f"--set with --runs starts from exactly one run of {path}; {patterns} match "
                                 f"{chosen or 'none'} of {', '.join(runs)}")
            base = runs[chosen[0]]
        elif len(runs) == 1:
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
    try:
        cores = len(os.sched_getaffinity(0))  # the cores this process may use (a Slurm job's share of a node)
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, jobs))


def _idle_cores(interval: float = 0.25) -> float | None:
    """How many of the cores this process may use were idle over the next ``interval`` seconds (from
    ``/proc/stat``; None where that cannot be read, e.g. not on Linux)."""
    try:
        cpus = os.sched_getaffinity(0)
    except AttributeError:  # pragma: no cover - not on Linux
        return None

    def read() -> dict[int, tuple[int, int]]:
        out = {}
        with open("/proc/stat") as fh:
            for line in fh:
                if line.startswith("cpu") and line[3:4].isdigit():
                    name, *fields = line.split()
                    v = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
                    out[int(name[3:])] = (v[3] + v[4], sum(v))
        return out

    try:
        before = read()
        time.sleep(interval)
        after = read()
    except (OSError, ValueError, IndexError):
        return None
    idle = 0.0
    for cpu in cpus:
        if cpu in before and cpu in after and after[cpu][1] > before[cpu][1]:
            idle += (after[cpu][0] - before[cpu][0]) / (after[cpu][1] - before[cpu][1])
    return idle


@contextlib.contextmanager
def kernel_env(jobs: int = 1) -> Iterator[None]:
    """Environment the kernel inherits: the same snnkit as this process, the inline plot backend.

    With ``jobs`` kernels running at once, each gets ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` =
    ``max(1, usable cores // jobs)`` (the cores this process may run on) so that parallel runs do not oversubscribe the cores (torch
    reads them at start-up); a user's own ``OMP_NUM_THREADS`` is left alone (and MKL's with it).
    When a kernel gets several threads but fewer cores than that are idle at its start (other processes
    are busy), it also gets ``OMP_WAIT_POLICY=PASSIVE`` (unless the user set a policy): threads that
    spin-wait for a core someone else holds made a smoke run 11x slower on this 2-core machine with one
    core taken (210 s against 19 s), while on an idle machine passive waiting costs about 30 %.
    Restored afterwards, so this process's own environment is left as it was.
    """
    import snnkit

    pkg_parent = str(Path(snnkit.__file__).resolve().parents[1])
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "MPLBACKEND", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                            "OMP_WAIT_POLICY")}
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    try:
        if pkg_parent not in parts:
            os.environ["PYTHONPATH"] = os.pathsep.join([pkg_parent, *parts])
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
        if not os.environ.get("OMP_NUM_THREADS"):
            threads = _kernel_threads(jobs)
            os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
            if threads > 1 and not os.environ.get("OMP_WAIT_POLICY"):
                idle = _idle_cores()
                if idle is not None and idle < threads - 0.5:
                    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
                    log.debug("only %.1f of %s cores idle: the kernel waits passively (OMP_WAIT_POLICY=PASSIVE)",
                             idle, threads)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _failure_text(exc: BaseException) -> str:
    """One line: the failing cell and its error (a ConfigError from the validation cell included)."""
    exec_count = getattr(exc, "exec_count", None)
    ename = getattr(exc, "ename", None)
    if ename is not None:
        cell = getattr(exc, "cell_index", None)
        where = f"cell [{exec_count}]" + (f" (cell index {cell})" if cell is not None else "")
        return _one_line(f"{where}: {ename}: {getattr(exc, 'evalue', '')}")
    return _one_line(f"{type(exc).__name__}: {exc}")


def _fresh_provenance(job: Job) -> dict[str, Any]:
    """What is known of a run before its notebook starts (the notebook's start_run() writes its own)."""
    from snnkit.report.run import collect_provenance

    prov = collect_provenance(job.params or {}, notebook=job.notebook)
    prov.update(notebook=job.notebook, profile=job.profile, run=job.run)
    return prov


def _write_provenance(job: Job, prov: dict[str, Any]) -> None:
    atomic_write_text(job.run_dir / "provenance.json", json.dumps(prov, indent=2, default=str) + "\n")


def _attempt_progress(job: Job, since: float | None) -> dict[str, Any] | None:
    """The run's progress file if this attempt (started at ``since``, epoch seconds) wrote it: one kept
    with the checkpoints from an earlier attempt says nothing about this one."""
    path = job.run_dir / PROGRESS_NAME
    return read_json_object(path) if since is None or _written_since(path, since) else None


def _merge_provenance(job: Job, wall: float | None, status: str, error: str | None,
                      since: float | None = None) -> None:
    """Add reproduce's record to the run's provenance; ``wall`` None: the time since its ``start_time``;
    ``since``: when this attempt started (its progress file must be newer to count)."""
    prov = read_json_object(job.run_dir / "provenance.json") or _fresh_provenance(job)
    if wall is None:  # interrupted: the main process did not time the worker's run
        with contextlib.suppress(TypeError, ValueError):
            wall = (_dt.datetime.now(_dt.timezone.utc) - _dt.datetime.fromisoformat(prov["start_time"])).total_seconds()
    progress = _attempt_progress(job, since)
    prov["reproduce"] = {
        "status": status,
        "error": error,
        "total_wall_time_s": None if wall is None else round(wall, 3),
        "params_hash": job.params_hash,
        "kernel": KERNEL_NAME,
        "notebook_path": str(job.notebook_path),
        "command": sys.argv,
        "resumed_from": (progress or {}).get("resumed_from"),
        **job.extra_provenance,
    }
    prov["total_wall_time_s"] = prov["reproduce"]["total_wall_time_s"]
    _write_provenance(job, prov)


def _key_metric(run_dir: Path) -> Any:
    metrics = read_json_object(run_dir / "metrics.json") or {}
    for key in ("test_accuracy", "val_accuracy"):
        if key in metrics:
            return metrics[key]
    return None


#: the progress file the trainer writes while a notebook runs (contract: ``Run.progress_file``)
PROGRESS_NAME = "progress.json"
#: the kernel process's own stderr (see :func:`_kernel_manager`)
KERNEL_LOG = "kernel.log"
#: outputs of a previous attempt that are removed before every run starts (the notebook rewrites them)
_STALE_FILES = (".DONE", "metrics.json", "executed.ipynb", KERNEL_LOG)
_STALE_DIRS = ("figures", "tables", "tb")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _prepare_dir(job: Job, force: bool) -> None:
    """Clear a previous attempt's outputs; keep ``checkpoints/`` only to resume the same run identity.

    The previous identity hash is read from ``provenance.json``; with ``force``, a different hash, or
    no readable hash the checkpoints go too (with the progress file), so the run starts from scratch.
    ``provenance.json`` is then replaced at once by a fresh record of this attempt (the notebook's
    start_run() rewrites it): a notebook failing before start_run() inherits nothing of the last
    attempt, and an attempt stopped before its notebook started still names its identity, so the next
    call keeps the checkpoints.
    """
    run_dir = job.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in (*_STALE_FILES, *_STALE_DIRS):
        _remove(run_dir / name)
    stale = force or (read_json_object(run_dir / "provenance.json") or {}).get("params_hash") != job.params_hash
    if stale:
        if (run_dir / "checkpoints").exists():
            log.info("removing checkpoints of %s (%s)", run_dir, "--force" if force else "not the same parameters")
        _remove(run_dir / "checkpoints")
        _remove(run_dir / PROGRESS_NAME)
    _write_provenance(job, _fresh_provenance(job))


def _kernel_manager(stderr: Any, ipc_dir: str) -> type:
    """The kernel manager of a run: IPC transport (the connection file and the sockets beside it in
    ``ipc_dir``, a fresh short temporary folder: socket paths are limited to ~100 characters and two
    kernels must never share one), and the kernel's own stderr into ``stderr`` (a file).

    Over TCP every ipykernel start prints "Kernel is running over TCP without encryption ... susceptible
    to eavesdropping". These kernels are private to the worker that starts them; with
    ``transport=ipc`` they talk over Unix-domain socket files instead of ports, so there is nothing to
    eavesdrop on and no warning. (Windows has no IPC transport: there the loopback-only TCP default
    stays, and its warning goes to the log file.) The kernel process's stderr (ipykernel's own
    messages, C-level library output; cell output goes to the notebook) is ``<run_dir>/kernel.log``, so
    the terminal shows only reproduce's own lines.
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum, default

    class RunKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="tcp" if os.name == "nt" else "ipc", config=True)

        @default("connection_file")
        def _connection_file_default(self) -> str:  # the IPC sockets are named after it: k-ipc-<n>
            return os.path.join(ipc_dir, "k.json")

        async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
            cmd, kw = await super()._async_pre_start_kernel(**kw)
            kw.setdefault("stderr", stderr)
            return cmd, kw

    return RunKernelManager


class _UnknownParameterFilter(logging.Filter):
    """Drops papermill's "Passed unknown parameter" warning: every parameter was validated against the
    notebook's schema before the run, and the notebook reads the ones it does not assign itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Passed unknown parameter")


_UNKNOWN_PARAMETER = _UnknownParameterFilter()


def execute_job(job: Job, force: bool = False, jobs: int = 1, ipc_root: str | None = None) -> Result:
    """Run one job with papermill (in this process); never raises for a failing notebook.

    ``jobs`` is how many runs execute at once (it shares the CPU threads out, see :func:`kernel_env`).
    The kernel's sockets and connection file go to a fresh folder inside ``ipc_root`` (default: the
    system's temporary folder), removed when the run ends. ``main`` calls it in worker processes that
    ignore Ctrl-C (the main process handles it and removes ``ipc_root`` of a worker it ended).
    """
    result = Result(job.notebook, job.run, job.profile, "failed", run_dir=str(job.run_dir))
    if job.error is not None:
        result.error = job.error
        return result
    import papermill as pm

    _prepare_dir(job, force)
    snnkit_run = {"run_dir": str(job.run_dir), "profile": job.profile, "run": job.run,
                  "reports_root": str(job.reports_root)}
    logging.getLogger("papermill").addFilter(_UNKNOWN_PARAMETER)
    t0, started = time.perf_counter(), time.time()
    error = None
    try:
        with (kernel_env(jobs), open(job.run_dir / KERNEL_LOG, "ab") as kernel_log,
              tempfile.TemporaryDirectory(prefix="" if ipc_root else "snnkit-", dir=ipc_root) as ipc_dir):
            pm.execute_notebook(
                str(job.notebook_path),
                str(job.run_dir / "executed.ipynb"),
                parameters={**(job.params or {}), "snnkit_run": snnkit_run},
                kernel_name=KERNEL_NAME,
                cwd=str(job.notebook_path.parent),
                progress_bar=False,
                log_output=False,
                kernel_manager_class=_kernel_manager(kernel_log, ipc_dir),
            )
        if not (job.run_dir / "metrics.json").is_file():
            error = "the notebook finished but wrote no metrics.json (call run.finish(...))"
    except Exception as exc:  # noqa: BLE001 - one failing notebook must not stop the others
        error = _failure_text(exc)
    wall = time.perf_counter() - t0
    status = "failed" if error else "ok"
    try:
        _merge_provenance(job, wall, status, error, since=started)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not update provenance of %s: %s", job.run_dir, exc)
    if status == "ok":
        from snnkit.train.checkpoint import mark_done

        mark_done(job.run_dir, str(job.params_hash))
    result.status, result.wall_s, result.error, result.executed = status, wall, error, True
    result.metric = _key_metric(job.run_dir)
    result.resumed_from = (_attempt_progress(job, started) or {}).get("resumed_from")
    return result


# -- progress of running jobs -------------------------------------------------------------------------
def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _epoch_step(position: dict[str, Any]) -> str:
    """``epoch e, step s`` of a progress object or a ``resumed_from``."""
    return f"epoch {position.get('epoch')}, step {position.get('step')}"


#: said after "resumed from epoch e, step s" when the newest checkpoint was unreadable (contract item 4)
FALLBACK_NOTE = "(from the previous checkpoint: the last one was corrupt)"


def _resumed_text(resumed: dict[str, Any]) -> str:
    """``resumed from epoch e, step s`` of a ``resumed_from``, with :data:`FALLBACK_NOTE` when it fell back."""
    return f"resumed from {_epoch_step(resumed)}" + (f" {FALLBACK_NOTE}" if resumed.get("fallback") else "")


def _written_since(path: Path, since: float) -> bool:
    """``path`` exists and was written at ``since`` or later (a second's slack for coarse file clocks)."""
    try:
        return path.stat().st_mtime >= since - 1.0
    except OSError:
        return False


def _progress_parts(progress: dict[str, Any]) -> list[str]:
    """The numbers of a progress object, most essential first, without the "resumed from" part."""
    parts = []
    if progress.get("phase") not in (None, "", "train"):
        parts.append(str(progress["phase"]))
    if progress.get("epochs") is not None:
        parts.append(f"epoch {progress.get('epoch')}/{progress['epochs']}")
    if progress.get("total_steps") is not None:
        parts.append(f"step {progress.get('step')}/{progress['total_steps']}")
    rate = progress.get("steps_per_s")
    parts.append(f"{rate:.3g} steps/s" if isinstance(rate, (int, float)) and rate > 0 else "— steps/s")
    eta = progress.get("eta_s")
    parts.append(f"ETA {_duration(eta)}" if isinstance(eta, (int, float)) else "ETA —")
    return parts


def progress_text(progress: dict[str, Any]) -> str:
    """One line from a progress object (contract item 3), e.g.
    ``epoch 3/20 · step 512/4700 · 2.31 steps/s · ETA 30:12 · resumed from epoch 2, step 470``."""
    parts = _progress_parts(progress)
    resumed = progress.get("resumed_from")
    if isinstance(resumed, dict):
        parts.append(_resumed_text(resumed))
    return " · ".join(parts)


def progress_line(job: Job, progress: dict[str, Any], width: int = 80) -> str:
    """A running job's terminal line, at most ``width`` characters, the essential numbers first, e.g.
    ``smoke/dense  5% · epoch 1/8 · step 40/800 · 2.31 steps/s · ETA 5:44 · resumed from epoch 1, step 3``.

    The notebook's name is shown only when it fits; then come the percentage, the numbers of
    :func:`progress_text` in order, and "resumed from …" in the longest form that fits (with the
    fallback note, without it, or just "resumed"); what still does not fit is cut with "…".
    """
    total, step = progress.get("total_steps"), progress.get("step")
    pct = f"{100 * step / total:3.0f}%" if isinstance(step, int) and isinstance(total, int) and total > 0 else ""
    resumed = progress.get("resumed_from")
    tail = [_resumed_text(resumed), f"resumed from {_epoch_step(resumed)}", "resumed"] if isinstance(
        resumed, dict) else []
    numbers = [p for p in (pct, *_progress_parts(progress)) if p]
    run = f"{job.profile}/{job.run}"
    best = ""
    for label in (f"{job.notebook} {run}", run):
        line = label
        for i, part in enumerate(numbers):
            if i > 0 and len(line) + 3 + len(part) > width:
                break
            line += (" " if i == 0 else " · ") + part
        else:
            line += next((" · " + t for t in tail if len(line) + 3 + len(t) <= width), "")
        if len(line) <= width and (line.count(" · ") > best.count(" · ") or not best):
            best = line
    best = best or line
    return best if len(best) <= width else best[: width - 1] + "…"


class ProgressMonitor:
    """One tqdm line per running job, fed from its ``<run_dir>/progress.json`` (polled in a thread).

    A job's line appears once its progress file is written in this call (an older file, e.g. kept with
    the checkpoints of an interrupted run, is not shown) and goes when the job ends. ``disable`` as in
    tqdm (None: only on a terminal).
    """

    def __init__(self, *, file: Any = None, interval: float = 0.5, disable: bool | None = None,
                 width: int | None = None):
        import threading

        self.file = file if file is not None else sys.stderr
        #: characters per line (default: the terminal's width less one, 80 when unknown)
        self.width = width or max(20, shutil.get_terminal_size((81, 24)).columns - 1)
        self.interval = interval
        self.disable = disable
        self._lock = threading.Lock()
        self._jobs: dict[Path, tuple[Job, float]] = {}
        self._bars: dict[Path, Any] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="snnkit-progress", daemon=True)

    def __enter__(self) -> ProgressMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with self._lock:
            for path in list(self._bars):
                self._close(path)

    def start(self, job: Job) -> None:
        """Watch ``job`` from now on."""
        with self._lock:
            self._jobs[job.run_dir] = (job, time.time())

    def end(self, job: Job) -> None:
        """Stop watching ``job`` and remove its line."""
        with self._lock:
            self._jobs.pop(job.run_dir, None)
            self._close(job.run_dir)

    def since(self, job: Job) -> float | None:
        """When watching ``job`` started (epoch seconds), None if it is not watched."""
        with self._lock:
            return self._jobs.get(job.run_dir, (job, None))[1]

    def running(self) -> list[Job]:
        """The watched jobs whose notebook has started in this call (its executed.ipynb is new)."""
        with self._lock:
            items = list(self._jobs.values())
        return [job for job, since in items if _written_since(job.run_dir / "executed.ipynb", since)]

    def _close(self, path: Path) -> None:
        bar = self._bars.pop(path, None)
        if bar is not None:
            bar.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> dict[Path, str]:
        """Read every watched job's progress file once and update its line; returns the lines shown."""
        from tqdm.auto import tqdm

        shown = {}
        with self._lock:
            for path, (job, since) in list(self._jobs.items()):
                file = path / PROGRESS_NAME
                progress = read_json_object(file) if _written_since(file, since) else None
                if progress is None:
                    continue
                bar = self._bars.get(path)
                if bar is None:  # the whole line is progress_line's, fitted to the width
                    bar = self._bars[path] = tqdm(
                        total=progress.get("total_steps") or 0, file=self.file, disable=self.disable,
                        leave=False, position=len(self._bars) + 1, bar_format="{desc}")
                text = progress_line(job, progress, self.width)
                bar.total = progress.get("total_steps") or bar.total
                bar.n = int(progress.get("step") or 0)
                bar.set_description_str(text, refresh=False)
                bar.refresh()
                shown[path] = text
        return shown


# -- running ----------------------------------------------------------------------------------------
class Interrupted(Exception):
    """Ctrl-C during a call: ``runs`` are the jobs that were running."""

    def __init__(self, runs: list[Job]):
        super().__init__(", ".join(f"{j.notebook} {j.profile}/{j.run}" for j in runs))
        self.runs = runs

    @classmethod
    def of(cls, exc: BaseException) -> Interrupted:
        """The :class:`Interrupted` that ``exc`` is or (a later Ctrl-C raised while it was on its way
        out) was raised during; an empty one for a Ctrl-C before any run started."""
        seen: BaseException | None = exc
        while seen is not None:
            if isinstance(seen, cls):
                return seen
            seen = seen.__context__
        return cls([])


def _ignore_sigint() -> None:
    """Ignore further Ctrl-C in this process (from the main thread only, where signals are handled).

    Called on the first Ctrl-C: what follows (ending the workers, recording the interrupted runs,
    removing temporary folders, the one line, the interpreter's shutdown joining the pool's threads)
    must run to its end, whether the user presses Ctrl-C again or GNU ``timeout`` signals both the
    process and its group. It stays ignored after :func:`main` returned 130 (the process then exits).
    """
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_init(level: int, log_queue: Any = None) -> None:
    """A worker process: Ctrl-C is the main process's to handle; snnkit logs at the main process's level
    (papermill's per-run INFO lines left out), into ``log_queue`` when given (the main process writes
    the records above its progress lines, see :class:`_LogRelay`), else to stderr."""
    import logging.handlers
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if log_queue is not None:
        root = logging.getLogger()
        root.handlers = [logging.handlers.QueueHandler(log_queue)]
        root.setLevel(level)
    else:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("papermill").setLevel(max(level, logging.WARNING))


class _LogRelay:
    """The workers' log records, handled in this process while its progress lines are shown.

    A daemon thread takes the records the workers put into :attr:`queue` and hands each to this
    process's logger of the same name; inside the ``with`` block this process's console handlers write
    through ``tqdm.write`` (``tqdm.contrib.logging.logging_redirect_tqdm``), so a log line appears above
    the progress lines instead of inside them. (Its own thread, not a QueueListener: after Ctrl-C a
    terminated worker may leave the queue unreadable, and nothing then waits for it.)
    """

    def __init__(self, ctx: Any):
        import threading

        self.queue = ctx.Queue()
        self._thread = threading.Thread(target=self._loop, name="snnkit-log-relay", daemon=True)

    def _loop(self) -> None:
        while (record := self.queue.get()) is not None:
            logging.getLogger(record.name).handle(record)  # the worker logs at this process's level

    def __enter__(self) -> _LogRelay:
        from tqdm.contrib.logging import logging_redirect_tqdm

        self._redirect = logging_redirect_tqdm()
        self._redirect.__enter__()
        self._thread.start()
        return self

    def close(self) -> None:
        """Handle the records still queued (the workers have ended), then stop."""
        self.queue.put(None)
        self._thread.join(timeout=5)

    def __exit__(self, *exc: object) -> None:
        self._redirect.__exit__(*exc)


def _pending(jobs: list[Job], force: bool) -> tuple[dict[int, Result], list[int]]:
    """The results of the jobs that need no run (done, or invalid) by index, and the indices to run."""
    results: dict[int, Result] = {}
    todo = []
    for i, job in enumerate(jobs):
        if job.error is None and not force and _is_done(job):
            results[i] = Result(job.notebook, job.run, job.profile, "skipped", metric=_key_metric(job.run_dir),
                                run_dir=str(job.run_dir))
        elif job.error is not None:  # invalid parameters: fails without running
            results[i] = execute_job(job, force)
        else:
            todo.append(i)
    return results, todo


def _run_all(jobs: list[Job], *, force: bool, n_jobs: int, monitor: ProgressMonitor | None = None) -> list[Result]:
    """Run the jobs not done yet, ``n_jobs`` at a time, each in a worker process that ignores Ctrl-C.

    Ctrl-C (KeyboardInterrupt here) ends the workers (their kernels notice within a second that their
    parent is gone and exit), removes the call's temporary folder of kernel sockets and connection files
    (a killed worker cleans up nothing), records the runs that were running as interrupted and raises
    :class:`Interrupted` naming them. In-process papermill cannot be stopped this way: nbclient's
    clean-up waits for the running cell to finish.
    """
    from tqdm.auto import tqdm

    monitor = monitor or ProgressMonitor(disable=True)
    results, todo = _pending(jobs, force)
    if not todo:
        return [results[i] for i in range(len(jobs))]
    at_once = min(n_jobs, len(todo))
    ctx = multiprocessing.get_context("spawn")
    relay = _LogRelay(ctx)
    pool = cf.ProcessPoolExecutor(max_workers=at_once, mp_context=ctx, initializer=_worker_init,
                                  initargs=(logging.getLogger("snnkit").getEffectiveLevel(), relay.queue))
    with (tempfile.TemporaryDirectory(prefix="snnkit-", ignore_cleanup_errors=True) as ipc_root,
          tqdm(total=len(jobs), initial=len(results), desc="runs", unit="run", file=sys.stderr,
               disable=None, position=0) as bar, relay, monitor):
        try:
            futures = {}
            for i in todo:
                futures[pool.submit(execute_job, jobs[i], force, at_once, ipc_root)] = i
                monitor.start(jobs[i])
            for fut in cf.as_completed(futures):
                i = futures[fut]
                monitor.end(jobs[i])
                try:
                    results[i] = fut.result()
                except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by the OS
                    results[i] = Result(jobs[i].notebook, jobs[i].run, jobs[i].profile, "failed",
                                        error=f"{type(exc).__name__}: {exc}", run_dir=str(jobs[i].run_dir))
                bar.update(1)
        except KeyboardInterrupt:
            _ignore_sigint()  # a second Ctrl-C must not cut the clean-up short (stays off: see main)
            running = monitor.running()
            workers = list((getattr(pool, "_processes", None) or {}).values())
            for proc in workers:
                proc.terminate()  # their kernels notice that their parent is gone and exit
            for proc in workers:
                proc.join(timeout=5)  # none still writes into ipc_root when it is removed
            pool.shutdown(wait=False, cancel_futures=True)
            for job in running:
                try:
                    _merge_provenance(job, None, "interrupted", "interrupted by the user (Ctrl-C)",
                                      since=monitor.since(job))
                except Exception:  # noqa: BLE001, S110 - the one-line message matters more
                    pass
            raise Interrupted(running) from None
        pool.shutdown(wait=True)
        relay.close()
    return [results[i] for i in range(len(jobs))]


# -- cluster launchers (submitit) -------------------------------------------------------------------
#: the user-facing choices of ``--launcher``
LAUNCHERS = ("local", "slurm")
#: submitit's local executor: the slurm code path without a cluster (tests); not listed in --help
TEST_LAUNCHER = "submitit-local"
#: the ``--slurm-*`` options, each named as submitit's parameter (``--slurm-time`` → ``slurm_time``)
_SLURM_OPTIONS = ("slurm_partition", "slurm_gpus_per_node", "slurm_time", "slurm_mem", "slurm_cpus_per_task")


def check_launcher(launcher: str) -> None:
    """ConfigError unless ``launcher`` is one of :data:`LAUNCHERS` (or the test launcher)."""
    if launcher not in (*LAUNCHERS, TEST_LAUNCHER):
        raise ConfigError("launcher", launcher, f"one of {', '.join(LAUNCHERS)}")


def make_executor(launcher: str, folder: Path, **slurm: Any) -> Any:
    """A submitit executor for ``launcher`` (``slurm`` or ``submitit-local``) writing to ``folder``.

    ``slurm`` holds submitit's ``slurm_*`` parameters (None values are left out); the local executor
    ignores them. ConfigError for another launcher, when submitit is not installed, or for ``slurm``
    where no Slurm is found.
    """
    check_launcher(launcher)
    if launcher == "local":
        raise ConfigError("launcher", launcher, f"a submitit launcher: {LAUNCHERS[1]} or {TEST_LAUNCHER}")
    try:
        import submitit
    except ImportError:
        raise ConfigError("launcher", launcher, "'local' unless submitit is installed "
                          "(pip install -c constraints.txt submitit)") from None
    cluster = "slurm" if launcher == "slurm" else "local"
    try:
        executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    except RuntimeError as exc:  # submitit: "Could not detect srun, are you indeed on a slurm cluster?"
        raise ConfigError("launcher", launcher, f"'local' here: no Slurm found ({exc})") from None
    if launcher == "slurm" and slurm.get("slurm_time") is None:
        log.warning("no --slurm-time: submitit asks Slurm for 5 minutes per job (jobs that time out are "
                    "requeued and resume, up to 3 times); give the minutes a run needs")
    executor.update_parameters(**{k: v for k, v in slurm.items() if v is not None})
    return executor


class _SubmititRun:
    """What one submitit job calls: :func:`execute_job`, as a local worker does.

    The run's provenance records the submitting command (``command``, as a local run records its
    own) and, beside it, the launcher and the job id. submitit calls :meth:`checkpoint` when Slurm
    preempts the job or its time runs out, and requeues what it returns: the same job without
    ``force``, so it keeps its checkpoints and resumes.
    """

    def __init__(self, launcher: str = LAUNCHERS[1], command: Sequence[str] = ()):
        self.launcher = launcher
        self.command = list(command)

    def __call__(self, job: Job, force: bool = False) -> Result:
        import dataclasses

        import submitit

        if self.command:
            sys.argv = list(self.command)  # this process runs submitit's job script: record the user's command
        extra = {**job.extra_provenance, "launcher": self.launcher, "job_id": submitit.JobEnvironment().job_id}
        return execute_job(dataclasses.replace(job, extra_provenance=extra), force)

    def checkpoint(self, job: Job, force: bool = False) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(self, job, False)


def run_submitit(jobs: list[Job], executor: Any, *, force: bool, launcher: str = LAUNCHERS[1]) -> list[Result]:
    """Submit each job that is not done as one submitit job, wait for all, return the results in order.

    Done and invalid jobs are handled here as :func:`_run_all` handles them. A job that ends without a
    result (killed, out of memory, ...) is a failed run naming its job id and submitit's log files.
    KeyboardInterrupt while waiting propagates; the submitted jobs keep running.
    """
    results, todo = _pending(jobs, force)
    submitted = []
    for i in todo:
        job = jobs[i]
        executor.update_parameters(name=f"{job.notebook}.{job.profile}.{job.run}")
        sub = executor.submit(_SubmititRun(launcher, sys.argv), job, force)
        log.info("%s %s/%s: submitted as job %s", job.notebook, job.profile, job.run, sub.job_id)
        submitted.append((i, sub))
    for i, sub in submitted:
        job = jobs[i]
        try:
            results[i] = sub.result()
        except Exception as exc:  # noqa: BLE001 - one lost job must not hide the others' results
            error = f"job {sub.job_id} ended without a result: {_one_line(str(exc), 300)} (logs: {sub.paths.folder})"
            results[i] = Result(job.notebook, job.run, job.profile, "failed", error=error, run_dir=str(job.run_dir))
    return [results[i] for i in range(len(jobs))]


# -- run states -------------------------------------------------------------------------------------
def _resume_point(job: Job) -> dict[str, Any] | None:
    """What a run of ``job`` would resume from: None when its folder holds no checkpoints of the same
    identity (the previous attempt's provenance names it), else its progress file (``{}`` if none)."""
    run_dir = job.run_dir
    ckpt = run_dir / "checkpoints"
    if job.params_hash is None or not ckpt.is_dir() or not any(ckpt.iterdir()):
        return None
    if (read_json_object(run_dir / "provenance.json") or {}).get("params_hash") != job.params_hash:
        return None
    return read_json_object(run_dir / PROGRESS_NAME) or {}


def _custom_runs(roots: Roots, notebook: str) -> list[tuple[Job, dict[str, Any]]]:
    """The ad-hoc runs of ``notebook`` found on disk (``reports/<notebook>/custom/*/``), each as a job with
    the identity its provenance records, and its ``--set`` overrides (``{}`` when not recorded)."""
    found = []
    for run_dir in sorted((roots.reports / notebook / CUSTOM_PROFILE).glob("*")):
        if not run_dir.is_dir():
            continue
        prov = read_json_object(run_dir / "provenance.json") or {}
        job = Job(notebook=notebook, profile=CUSTOM_PROFILE, run=run_dir.name, params=prov.get("params"),
                  run_dir=run_dir, notebook_path=roots.notebooks / f"{notebook}.ipynb",
                  reports_root=roots.reports, params_hash=prov.get("params_hash"))
        found.append((job, (prov.get("reproduce") or {}).get("overrides") or {}))
    return found


def run_state(job: Job) -> str:
    """What ``--list`` shows for a run: done / interrupted at epoch e, step s / failed: … / not run.

    *done*: ``.DONE`` holds the run's identity hash. *interrupted*: a previous attempt with the same
    identity left checkpoints or a progress file and no ``.DONE`` (re-running resumes it). *failed*:
    the last attempt's provenance says so (with its error). Otherwise *not run*.
    """
    if job.error:
        return f"invalid: {job.error}"
    if _is_done(job):
        return "done"
    run_dir = job.run_dir
    prov = read_json_object(run_dir / "provenance.json") or {}
    same = prov.get("params_hash") == job.params_hash
    status = (prov.get("reproduce") or {}).get("status")
    progress = read_json_object(run_dir / PROGRESS_NAME) if same else None
    has_ckpt = _resume_point(job) is not None
    where = f" at {_epoch_step(progress)}" if progress else ""
    if status == "failed" and same:
        error = (prov.get("reproduce") or {}).get("error")
        return f"failed: {error}" + (f" (checkpoints{where} kept: re-running resumes)" if has_ckpt else "")
    if progress is not None or has_ckpt:
        return f"interrupted{where}"
    return "not run"


# -- output -----------------------------------------------------------------------------------------
def _fmt_metric(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "—" if value is None else str(value)


def summary_table(results: list[Result]) -> str:
    """The plain-text summary: notebook, run, status, wall s, test accuracy; a line per run that resumed
    ("resumed from epoch e, step s"); then each failure (one line)."""
    header = ("notebook", "run", "status", "wall s", "test_accuracy")
    rows = [(r.notebook, f"{r.profile}/{r.run}", r.status, f"{r.wall_s:.1f}", _fmt_metric(r.metric))
            for r in results]
    widths = [max(len(h), *(len(row[j]) for row in rows)) if rows else len(h) for j, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    for r in results:
        if isinstance(r.resumed_from, dict):
            lines.append(f"{r.notebook} {r.profile}/{r.run} {_resumed_text(r.resumed_from)}")
    failed = [r for r in results if r.status == "failed"]
    if failed:
        lines.append("")
        lines.append(f"{len(failed)} run(s) failed:")
        for r in failed:
            lines.append(f"  {r.notebook} {r.profile}/{r.run}: {r.error}")
            if r.executed and r.run_dir:  # only an executed.ipynb written in this call is worth a look
                lines.append(f"    see {Path(r.run_dir) / 'executed.ipynb'}")
    return "\n".join(lines)


def _list(roots: Roots, out) -> None:
    from snnkit.report.index import overrides_text

    if not available_notebooks(roots.notebooks):
        print(f"no notebooks in {roots.notebooks}", file=out)
    for notebook in available_notebooks(roots.notebooks):
        profiles = available_profiles(roots.params, [notebook])
        print(f"{notebook}  (profiles: {', '.join(profiles) or 'none'})", file=out)
        for profile in profiles:
            try:
                runs = load_params_file(roots.params / notebook / f"{profile}.yaml")
            except UsageError as exc:
                print(f"  {profile}: {exc}", file=out)
                continue
            for run, raw in runs.items():
                print(f"  {profile}/{run}: {run_state(_make_job(notebook, profile, run, raw, roots))}", file=out)
        for job, overrides in _custom_runs(roots, notebook):
            shown = f" ({overrides_text(overrides)})" if overrides else ""
            print(f"  {CUSTOM_PROFILE}/{job.run}{shown}: {run_state(job)}", file=out)


def _dry_run(jobs: list[Job], force: bool, out) -> int:
    bad = 0
    for job in jobs:
        if job.error:
            state, bad = f"invalid: {job.error}", bad + 1
        elif _is_done(job) and not force:
            state = "skip (done, same parameter hash)"
        elif force or (point := _resume_point(job)) is None:
            state = "would run"
        else:
            state = f"would resume from {_epoch_step(point)}" if point else "would resume from its checkpoints"
        print(f"{job.notebook} {job.profile}/{job.run} [{job.params_hash or '-'}] -> {job.run_dir}: {state}",
              file=out)
    return 1 if bad else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="snnkit-reproduce", description="Execute the notebooks into reports/.",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="smoke",
                   help="parameter profile: any params/<notebook>/<profile>.yaml (default: smoke)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="only these notebooks")
    p.add_argument("--runs", nargs="+", metavar="PATTERN",
                   help="only the profile's runs whose names match one of these shell patterns")
    p.add_argument("--list", action="store_true", help="list notebooks, profiles and runs with their state")
    p.add_argument("--dry-run", action="store_true", help="show what would run; run nothing")
    p.add_argument("--force", action="store_true", help="re-run finished runs from scratch")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="parallel processes (default 1)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="ad-hoc run of one notebook (with --only) with this override; repeatable")
    p.add_argument("--name", help="directory name of the ad-hoc run (default: parameter hash)")
    p.add_argument("--root", help="repository root with notebooks/, params/, reports/ (default: the cwd)")
    p.add_argument("--notebooks-dir", help="notebooks directory (default: ROOT/notebooks)")
    p.add_argument("--params-dir", help="parameter directory (default: ROOT/params)")
    p.add_argument("--reports-dir", help="reports directory (default: ROOT/reports)")
    p.add_argument("--launcher", default="local", metavar="{local,slurm}",
                   help="run here (local, default) or one Slurm job per run via submitit (slurm)")
    p.add_argument("--slurm-partition", metavar="P", help="Slurm partition of the jobs")
    p.add_argument("--slurm-gpus-per-node", type=int, metavar="N", help="GPUs per job")
    p.add_argument("--slurm-time", type=int, metavar="MINUTES", help="time limit of each job, in minutes")
    p.add_argument("--slurm-mem", metavar="SIZE", help="memory per job, e.g. 32G")
    p.add_argument("--slurm-cpus-per-task", type=int, metavar="N", help="CPU cores per job")
    p.add_argument("--submitit-dir", help="submitit's job folder (default: REPORTS/.submitit)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def _interrupted_line(exc: Interrupted) -> str:
    if not exc.runs:
        return "interrupted before a notebook started; re-run the same command to continue"
    where = ""
    if len(exc.runs) == 1:
        progress = read_json_object(exc.runs[0].run_dir / PROGRESS_NAME)
        if progress:
            where = f" at {_epoch_step(progress)}"
    return (f"interrupted: {exc}{where}; re-run the same command to resume from the last checkpoint "
            "(finished runs are skipped)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 a run failed, 2 usage error, 130 interrupted by Ctrl-C).

    After an interrupt (130) Ctrl-C stays ignored in this process, which is expected to exit.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return 2
    try:
        check_launcher(args.launcher)
    except ConfigError as exc:
        print(f"error: --launcher: {exc}", file=sys.stderr)
        return 2
    try:
        roots = Roots.from_args(args)
        if args.list:
            _list(roots, sys.stdout)
            return 0
        jobs = plan(args, roots)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not jobs:
        print(f"nothing to run: no notebooks in {roots.notebooks}", file=sys.stderr)
    if args.dry_run:
        return _dry_run(jobs, args.force, sys.stdout)
    t0 = time.perf_counter()
    if args.launcher != "local":
        try:
            executor = make_executor(args.launcher, Path(args.submitit_dir or roots.reports / ".submitit"),
                                     **{key: getattr(args, key) for key in _SLURM_OPTIONS})
        except ConfigError as exc:
            print(f"error: --launcher: {exc}", file=sys.stderr)
            return 2
        try:
            results = run_submitit(jobs, executor, force=args.force, launcher=args.launcher)
        except KeyboardInterrupt:
            print("stopped waiting; the submitted jobs go on. Re-run the same command when they are done to "
                  "rebuild the index (finished runs are skipped)", file=sys.stderr)
            return 130
    else:
        try:
            results = _run_all(jobs, force=args.force, n_jobs=args.jobs, monitor=ProgressMonitor())
        except (Interrupted, KeyboardInterrupt) as exc:
            _ignore_sigint()  # the process is on its way out; the pool's threads are joined at exit
            print(_interrupted_line(Interrupted.of(exc)), file=sys.stderr)
            return 130
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
