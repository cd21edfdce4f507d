"""Reporting: run directories and metrics (``run``), figures, tables, ``reports/index.md`` (``index``)
and the results block every notebook ends with (:func:`standard_results`, in ``results``).

``figures``, ``tables``, ``index`` and ``results`` are imported on first access, so ``import
snnkit.report`` stays light (no matplotlib or pandas until a notebook actually draws or tabulates).
"""

from __future__ import annotations

import importlib
from typing import Any

from snnkit.report.run import Run, start_run, start_run_from

__all__ = ["Run", "start_run", "start_run_from", "build_index", "standard_results", "run", "figures", "tables",
           "index", "results"]

_LAZY_MODULES = ("figures", "tables", "index", "results", "stdp_figures", "explore")
_LAZY_FUNCTIONS = {"build_index": "index", "standard_results": "results"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(f"snnkit.report.{name}")
    if name in _LAZY_FUNCTIONS:
        return getattr(importlib.import_module(f"snnkit.report.{_LAZY_FUNCTIONS[name]}"), name)
    raise AttributeError(f"module 'snnkit.report' has no attribute {name!r}")
