"""Reporting: run directories and metrics (``run``), figures, tables and ``reports/index.md`` (``index``).

``figures``, ``tables`` and ``index`` are imported on first access, so ``import snnkit.report`` stays
light (no matplotlib or pandas until a notebook actually draws or tabulates).
"""

from __future__ import annotations

import importlib
from typing import Any

from snnkit.report.run import Run, start_run, start_run_from

__all__ = ["Run", "start_run", "start_run_from", "build_index", "run", "figures", "tables", "index"]

_LAZY_MODULES = ("figures", "tables", "index")


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(f"snnkit.report.{name}")
    if name == "build_index":
        return importlib.import_module("snnkit.report.index").build_index
    raise AttributeError(f"module 'snnkit.report' has no attribute {name!r}")
