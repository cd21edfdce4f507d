"""Exceptions raised by snnkit.

Every error says what was wrong (the offending value) and what to do about it, so a notebook user
never has to read a deep traceback to find the cause.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["SnnkitError", "ConfigError", "DataError", "CheckpointError", "check_positive_int",
           "check_positive_number", "short_notebook_errors"]


class SnnkitError(Exception):
    """Base class of every error snnkit raises on purpose."""


class ConfigError(SnnkitError, ValueError):
    """A parameter is unknown, of the wrong type or out of range.

    Carries the parameter's ``key``, the offending ``value`` and a description of what is
    ``allowed``; the message names all three.
    """

    def __init__(self, key: str, value: Any, allowed: str, *, where: str | None = None):
        self.key = key
        self.value = value
        self.allowed = allowed
        self.where = where
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}parameter {key!r} = {value!r} is not allowed; expected {allowed}")

    def __reduce__(self):  # keep pickling (multiprocessing) working with the custom signature
        return (type(self), (self.key, self.value, self.allowed), {"where": self.where})


class DataError(SnnkitError, OSError):
    """A dataset cannot be found, downloaded or decoded. The message says where to put the files."""


class CheckpointError(SnnkitError, OSError):
    """A checkpoint file is missing, truncated, corrupted or incompatible; the message names the file."""


def check_positive_int(key: str, value: Any, *, allow_none: bool = False, where: str | None = None) -> Any:
    """Return ``value`` if it is an integer >= 1 (never a bool), else raise :class:`ConfigError`.

    The one boundary check for counts (epochs, batch sizes, widths, time steps, subset sizes...);
    ``allow_none`` also lets ``None`` through (an optional count).
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(key, value, "an integer >= 1" + (" or None" if allow_none else ""), where=where)
    return int(value)


def check_nonneg_int(key: str, value: Any, *, where: str | None = None) -> int:
    """Return ``value`` if it is an integer >= 0 (never a bool), else raise :class:`ConfigError` —
    :func:`check_positive_int` for sizes that may be zero (radii, paddings, warm-up epochs)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ConfigError(key, value, "an integer >= 0", where=where)
    return int(value)


def check_positive_number(
    key: str, value: Any, *, allow_none: bool = False, where: str | None = None
) -> float | None:
    """Return ``value`` as a float if it is a finite real number > 0 (never a bool), else raise
    :class:`ConfigError` — :func:`check_positive_int`'s twin for durations, rates and norms."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
        allowed = "a positive finite number" + (" or None" if allow_none else "")
        raise ConfigError(key, value, allowed, where=where)
    return float(value)


def short_notebook_errors() -> bool:
    """Inside an IPython kernel, show a :class:`SnnkitError` as one line (``ConfigError: ...``).

    A bad parameter is a message for the user, not a bug: the kernel's full traceback (and papermill's
    copy of it) would bury the one line that says what to change. Other exceptions keep their normal
    traceback. Returns True when a kernel was found and the handler installed; idempotent.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a core dependency through ipykernel
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False

    def one_line(self: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> list[str]:
        stb = [f"{etype.__name__}: {value}"]
        self._showtraceback(etype, value, stb)
        return stb

    shell.set_custom_exc((SnnkitError,), one_line)
    return True
