"""Compatibility shims for third-party packages.

torchvision on PyPI is built against CUDA torch. With the CPU torch this project pins, its compiled
extension (``torchvision/_C.so``) fails to load, and ``import torchvision`` then dies while registering
fake (meta) kernels for two operators the extension would have defined::

    RuntimeError: operator torchvision::nms does not exist

The pure-Python parts (datasets, transforms, models) do not need the compiled operators. On exactly
that error :func:`import_torchvision` defines the missing operator *schemas* (no kernels) with
``torch.library`` and imports torchvision again. Calling an operator that needs the compiled
extension (e.g. ``torchvision.ops.nms``) still fails, with torch's "no kernel" error.

Import torchvision only through this function (README.md, "Which torch you get").
"""

from __future__ import annotations

import importlib
import logging
import sys
from types import ModuleType

import torch

log = logging.getLogger(__name__)

__all__ = ["import_torchvision", "TORCHVISION_MISSING_OP_ERROR", "TORCHVISION_OP_SCHEMAS"]

#: The exact message that triggers the workaround.
TORCHVISION_MISSING_OP_ERROR = "operator torchvision::nms does not exist"

#: Schemas of the operators torchvision's ``_meta_registrations`` registers fake kernels for
#: unconditionally (all the others are guarded by ``torchvision.extension._has_ops()``).
TORCHVISION_OP_SCHEMAS: dict[str, str] = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}

# The Library object must stay alive: when it is garbage-collected its definitions are removed.
_SCHEMA_LIBRARY: torch.library.Library | None = None


def _define_missing_schemas() -> None:
    global _SCHEMA_LIBRARY
    if _SCHEMA_LIBRARY is None:
        _SCHEMA_LIBRARY = torch.library.Library("torchvision", "FRAGMENT")
    for name, schema in TORCHVISION_OP_SCHEMAS.items():
        if _op_exists(name):
            continue
        _SCHEMA_LIBRARY.define(schema)
        log.debug("defined schema torchvision::%s (no kernel)", name)


def _op_exists(name: str) -> bool:
    try:
        torch._C._dispatch_find_schema_or_throw(f"torchvision::{name}", "")
    except RuntimeError:
        return False
    return True


def _forget_torchvision() -> None:
    """Drop the half-imported torchvision modules so the next import starts from scratch."""
    for mod in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[mod]


def import_torchvision() -> ModuleType:
    """Import and return ``torchvision``, working around a CPU-torch / CUDA-torchvision mismatch.

    On ``RuntimeError("operator torchvision::nms does not exist")`` the missing operator schemas are
    defined and the import is retried once; any other error propagates unchanged.
    """
    if "torchvision" in sys.modules and hasattr(sys.modules["torchvision"], "transforms"):
        return sys.modules["torchvision"]
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as exc:
        if TORCHVISION_MISSING_OP_ERROR not in str(exc):
            raise
        log.info("torchvision's compiled ops did not load (%s); defining their schemas and retrying", exc)
    _forget_torchvision()
    _define_missing_schemas()
    return importlib.import_module("torchvision")
