"""Typed parameter schemas, one per notebook, and their validation.

Every notebook's first code cell validates its parameters against the schema registered here under
the notebook's name, before any data is loaded::

    from snnkit.config import validate
    params = validate("g2gnet_fashionmnist", {"T": 50, "hidden_dim": 2048})

Unknown keys, values of the wrong type, out-of-range values and values outside a field's choices
raise :class:`snnkit.errors.ConfigError` naming the key, the value and what is allowed. Validation
fills in the defaults of every key not given, so the returned dictionary is the complete parameter
set of the run (and what its hash is computed from).

Type rules: an ``int`` field takes Python or NumPy integers, never a bool; a ``float`` field also
takes integers (converted to float) but no bool, NaN or infinity; a ``bool`` field takes only
bools; a ``str`` field only strings. ``None`` is accepted only by ``nullable`` fields.

The defaults of ``g2gnet_fashionmnist`` are the paper's settings (Konstantaropoulos et al.,
arXiv 2508.14140, and the authors' code): 3 × FC 2048 + LIF, T=50, current encoding, β=0.9,
θ=1.0 (both learnable), arctan surrogate with α=2, Adam lr 1e-3, weight decay 1e-4, batch 256,
20 epochs.
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from snnkit.errors import ConfigError
from snnkit.utils import DEVICE_CHOICES

__all__ = [
    "Field",
    "Schema",
    "SCHEMAS",
    "register",
    "unregister",
    "get_schema",
    "validate",
    "validate_namespace",
    "PROVENANCE_ONLY",
    "result_params",
    "result_hash",
    "common_fields",
    "load_yaml",
    "DEVICE_CHOICES",
]

_TYPES = (int, float, bool, str)


def _is_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a core dependency
        return False
    return isinstance(value, np.bool_)


class Field:
    """One typed parameter: its type, default and the constraints on its value.

    ``low``/``high`` bound numeric fields (inclusive unless ``low_inclusive``/``high_inclusive`` is
    False); ``choices`` restricts a field to a set of values; ``nullable`` lets it be ``None``.
    The default itself is checked when the field is made, so a schema cannot ship a bad default.
    """

    __slots__ = ("type", "default", "choices", "low", "high", "low_inclusive", "high_inclusive",
                 "nullable", "help")

    def __init__(
        self,
        type: type,  # noqa: A002 - the natural name in a schema definition
        default: Any,
        *,
        choices: Iterable[Any] | None = None,
        low: float | None = None,
        high: float | None = None,
        low_inclusive: bool = True,
        high_inclusive: bool = True,
        nullable: bool = False,
        help: str = "",  # noqa: A002
    ):
        if type not in _TYPES:
            raise TypeError(f"Field type must be one of int, float, bool, str; got {type!r}")
        if (low is not None or high is not None) and type not in (int, float):
            raise TypeError(f"low/high bounds only apply to int and float fields, not {type.__name__}")
        self.type = type
        self.choices = tuple(choices) if choices is not None else None
        self.low = low
        self.high = high
        self.low_inclusive = low_inclusive
        self.high_inclusive = high_inclusive
        self.nullable = nullable
        self.help = help
        self.default = self.check("<default>", default)

    # -- description --------------------------------------------------------------------------
    def describe(self) -> str:
        """What this field allows, in words (used in error messages)."""
        if self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        else:
            text = {int: "an integer", float: "a finite number", bool: "true or false",
                    str: "a string"}[self.type]
            if self.low is not None or self.high is not None:
                lo = "(-inf" if self.low is None else ("[" if self.low_inclusive else "(") + f"{self.low:g}"
                hi = "inf)" if self.high is None else f"{self.high:g}" + ("]" if self.high_inclusive else ")")
                text += f" in {lo}, {hi}"
        if self.nullable:
            text += " (or null)"
        return text

    def __repr__(self) -> str:
        return f"Field({self.type.__name__}, {self.default!r}: {self.describe()})"

    # -- checking -----------------------------------------------------------------------------
    def check(self, key: str, value: Any, *, where: str | None = None) -> Any:
        """Return ``value`` converted to a plain Python value of this field's type.

        Raises ConfigError (naming ``key``, ``value`` and what is allowed) if it does not fit.
        """
        if value is None:
            if self.nullable:
                return None
            raise ConfigError(key, value, self.describe(), where=where)
        converted = self._convert(value)
        if converted is None:
            raise ConfigError(key, value, self.describe(), where=where)
        if self.choices is not None and converted not in self.choices:
            raise ConfigError(key, value, self.describe(), where=where)
        if self.low is not None:
            if converted < self.low or (not self.low_inclusive and converted == self.low):
                raise ConfigError(key, value, self.describe(), where=where)
        if self.high is not None:
            if converted > self.high or (not self.high_inclusive and converted == self.high):
                raise ConfigError(key, value, self.describe(), where=where)
        return converted

    def _convert(self, value: Any) -> Any:
        """The value as a plain Python ``self.type``, or None if its type does not fit."""
        if self.type is bool:
            return bool(value) if _is_bool(value) else None
        if self.type is str:
            return str(value) if isinstance(value, str) else None
        if _is_bool(value):
            return None
        if self.type is int:
            return int(value) if isinstance(value, numbers.Integral) else None
        # float
        if isinstance(value, (numbers.Integral, numbers.Real)):
            out = float(value)
            return out if math.isfinite(out) else None
        return None


class Schema:
    """A notebook's parameter set: field name → :class:`Field`."""

    def __init__(self, name: str, fields: Mapping[str, Field]):
        if not isinstance(name, str) or not name:
            raise TypeError(f"Schema name must be a non-empty string, got {name!r}")
        for key, field in fields.items():
            if not isinstance(field, Field):
                raise TypeError(f"Schema {name!r}: field {key!r} must be a Field, got {type(field).__name__}")
        self.name = name
        self.fields: dict[str, Field] = dict(fields)

    def __repr__(self) -> str:
        return f"Schema({self.name!r}, {len(self.fields)} fields)"

    def __contains__(self, key: object) -> bool:
        return key in self.fields

    def defaults(self) -> dict[str, Any]:
        """Every field's default (a fresh dict)."""
        return {key: field.default for key, field in self.fields.items()}

    def _unknown(self, key: Any, value: Any) -> ConfigError:
        known = sorted(self.fields)
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return ConfigError(key, value, f"a known parameter ({key!r} is unknown{hint}); known keys: "
                           f"{', '.join(known)}", where=self.name)

    def validate(self, params: Mapping[str, Any] | None, *, partial_ok: bool = False) -> dict[str, Any]:
        """Check ``params`` against the schema.

        Returns the complete parameter set (defaults filled in for keys not given) in schema order;
        with ``partial_ok=True`` only the given keys are checked and returned (e.g. overrides).
        """
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise ConfigError("<parameters>", params, "a mapping of parameter names to values",
                              where=self.name)
        for key, value in params.items():
            if not isinstance(key, str) or key not in self.fields:
                raise self._unknown(key, value)
        checked = {key: self.fields[key].check(key, value, where=self.name) for key, value in params.items()}
        if partial_ok:
            return checked
        return {key: checked[key] if key in checked else field.default for key, field in self.fields.items()}

    def extend(self, name: str, fields: Mapping[str, Field]) -> Schema:
        """A new schema with this one's fields plus (or overridden by) ``fields``."""
        return Schema(name, {**self.fields, **fields})


def common_fields() -> dict[str, Field]:
    """The fields every notebook schema has: seed, device, data_root, progress."""
    return {
        "seed": Field(int, 42, low=0, high=2**32 - 1, help="seeds Python, NumPy, torch, masks and data order"),
        "device": Field(str, "auto", choices=DEVICE_CHOICES,
                        help="auto: DirectML if importable, then CUDA, then MPS, then CPU"),
        "data_root": Field(str, None, nullable=True,
                           help="dataset directory; None: $SNNKIT_DATA, system locations, download"),
        "progress": Field(bool, True, help="show tqdm progress bars"),
    }


SCHEMAS: dict[str, Schema] = {}


def register(schema: Schema) -> Schema:
    """Add (or replace) ``schema`` in :data:`SCHEMAS` under its name; returns it."""
    if not isinstance(schema, Schema):
        raise TypeError(f"register() takes a Schema, got {type(schema).__name__}")
    SCHEMAS[schema.name] = schema
    return schema


def unregister(name: str) -> None:
    """Remove a schema (tests use this to clean up fixture schemas)."""
    SCHEMAS.pop(name, None)


def get_schema(notebook: str) -> Schema:
    """The schema registered for ``notebook``; ConfigError listing the known notebooks if none."""
    try:
        return SCHEMAS[notebook]
    except (KeyError, TypeError):
        known = ", ".join(sorted(SCHEMAS)) or "(none)"
        raise ConfigError("notebook", notebook, f"a notebook with a registered schema: {known}") from None


def validate(notebook: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate ``params`` for ``notebook`` and return the complete parameter set."""
    return get_schema(notebook).validate(params)


#: parameters that never change a run's results: recorded in provenance, left out of the run's identity
#: (its hash, its ``.DONE`` marker, whether its checkpoints may be resumed)
PROVENANCE_ONLY = frozenset({"device", "data_root", "progress", "checkpoint"})


def result_params(notebook: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The complete validated parameters of a run minus those that do not change its results."""
    return {k: v for k, v in validate(notebook, params).items() if k not in PROVENANCE_ONLY}


def result_hash(notebook: str, params: Mapping[str, Any]) -> str:
    """The run's identity: a hash of :func:`result_params` (what ``.DONE`` and checkpoints are keyed by)."""
    from snnkit.utils import params_hash

    return params_hash(result_params(notebook, params))


def validate_namespace(notebook: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the schema's keys as found in ``namespace`` (a notebook's ``globals()``).

    Convenience for a notebook's first code cell, whose parameters are plain variables. Only the
    schema's own keys are read; unknown keys are caught earlier, by ``snnkit.reproduce``.
    """
    schema = get_schema(notebook)
    return schema.validate({key: namespace[key] for key in schema.fields if key in namespace})


# -- YAML with YAML-1.2-style floats ---------------------------------------------------------------
class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` (no dot) as a float, as YAML 1.2 and Python do, and rejects
    a key given twice in a mapping (PyYAML alone silently keeps the last value: ``{T: 5, T: 6}`` is
    ``{T: 6}``). Keys brought in by a ``<<`` merge may still be overridden, as YAML intends.
    """

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    duplicate = key in seen
                except TypeError:  # an unhashable key: the base constructor reports it
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"found duplicate key {key!r} (a key may appear only once)", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
for _first in "-+0123456789.":
    _Loader.yaml_implicit_resolvers[_first] = [
        (tag, rx) for tag, rx in _Loader.yaml_implicit_resolvers.get(_first, [])
        if tag != "tag:yaml.org,2002:float"
    ]
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789."))


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` that reads ``1e-3`` as a float (PyYAML alone reads it as a string) and raises
    ``yaml.YAMLError`` on a key given twice in a mapping."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


# -- the notebooks' schemas -------------------------------------------------------------------
def _g2gnet_fashionmnist() -> Schema:
    """Parameters of ``notebooks/g2gnet_fashionmnist.ipynb`` (defaults: the paper's settings)."""
    fields = {
        **common_fields(),
        "dataset": Field(str, "fashionmnist", choices=("fashionmnist", "fashionmnist-embedded"),
                         help="full Fashion-MNIST, or the small subset shipped with snnkit"),
        "train_subset": Field(int, None, low=1, nullable=True,
                              help="use at most this many training samples (class-stratified)"),
        "test_subset": Field(int, None, low=1, nullable=True,
                             help="use at most this many test samples (class-stratified)"),
        "val_fraction": Field(float, 0.0, low=0.0, high=0.5, high_inclusive=False,
                              help="fraction of the training set held out for validation"),
        "model": Field(str, "dense", choices=("dense",), help="network variant"),
        "hidden_dim": Field(int, 2048, low=1, high=65536, help="neurons per hidden layer"),
        "n_hidden": Field(int, 3, low=1, high=16, help="number of hidden FC+LIF layers"),
        "T": Field(int, 50, low=1, high=10000, help="simulation time steps"),
        "enc": Field(str, "current", choices=("current", "rate"), help="input encoding"),
        "enc_scale": Field(float, 1.0, help="current encoding: input = enc_scale * x + enc_bias"),
        "enc_bias": Field(float, 0.0, help="current encoding bias"),
        "beta": Field(float, 0.9, low=0.0, high=1.0, help="LIF membrane decay"),
        "threshold": Field(float, 1.0, low=0.0, low_inclusive=False, help="LIF firing threshold"),
        "learn_beta": Field(bool, True, help="learn beta (one scalar per layer)"),
        "learn_threshold": Field(bool, True, help="learn threshold (one scalar per layer)"),
        "reset": Field(str, "subtract", choices=("subtract", "zero"), help="reset mechanism"),
        "surrogate": Field(str, "atan", choices=("atan", "fast_sigmoid"), help="surrogate gradient"),
        "surrogate_alpha": Field(float, 2.0, low=0.0, low_inclusive=False, help="surrogate slope"),
        "epochs": Field(int, 20, low=1, high=10000, help="training epochs"),
        "batch_size": Field(int, 256, low=1, high=65536, help="mini-batch size"),
        "lr": Field(float, 1e-3, low=0.0, low_inclusive=False, help="Adam learning rate"),
        "weight_decay": Field(float, 1e-4, low=0.0, help="Adam weight decay"),
        "lr_schedule": Field(str, "none", choices=("none", "cosine"), help="learning-rate schedule"),
        "grad_clip": Field(float, None, low=0.0, low_inclusive=False, nullable=True,
                           help="clip the gradient norm to this value (None: no clipping)"),
        "amp": Field(bool, False, help="automatic mixed precision"),
        "checkpoint": Field(bool, True, help="checkpoint every epoch and resume from the last one"),
    }
    return Schema("g2gnet_fashionmnist", fields)


register(_g2gnet_fashionmnist())
