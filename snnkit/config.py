"""Parameter schemas (pydantic models), one per notebook, and their validation.

Each notebook's parameters are a pydantic model: a subclass of :class:`NotebookParams` (which holds the
fields every notebook has: seed, device, data_root, progress, checkpoint), defined beside its family's
code and registered under the notebook's name::

    # snnkit/models/g2g.py
    @config.register("g2gnet_fashionmnist")
    class G2GNetFashionMNISTParams(NotebookParams):
        T: int = Field(50, ge=1, le=10000, description="simulation time steps")
        ...

:func:`get_schema` imports the family modules (:data:`FAMILY_MODULES`) the first time a schema is looked
up, so a caller never has to know where a notebook's model lives. A notebook's first code cell validates
its parameters before any data is loaded::

    P = config.notebook_params("g2gnet_fashionmnist", globals())   # profile + assignments → full set

Unknown keys, values of the wrong type, out-of-range values and values outside a field's choices raise
:class:`snnkit.errors.ConfigError` naming the key, the value and what is allowed (pydantic's
``ValidationError`` is translated into that one line; an unknown key gets a "did you mean" hint).
Validation fills in the defaults of every key not given, so the returned dictionary is the complete
parameter set of the run.

Type rules (pydantic strict mode, plus NumPy scalars read as the Python scalar they hold): an ``int``
field takes integers, never a bool or a float; a ``float`` field also takes integers (converted to float)
but no bool, NaN or infinity; a ``bool`` field takes only bools; a ``str`` field only strings; a
``list[int]`` / ``list[float]`` field (e.g. per-layer epochs) a list of such numbers. ``None``
is accepted only by fields typed ``X | None``. A field's choices are a ``Literal[...]``; its bounds are
``ge``/``gt``/``le``/``lt``. :class:`Schema` reads these declarations back (:class:`FieldSpec`) for the
messages, the defaults (:func:`defaults`) and for tests that build bad values independently of the
validator. A field declared with ``json_schema_extra=NO_RESULT_EFFECT`` changes no result (device,
progress bars, ...): it is left out of the run's identity (:func:`result_hash`).
"""

from __future__ import annotations

import difflib
import importlib
import logging
import re
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types as at
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from snnkit.errors import ConfigError
from snnkit.utils import DEVICE_CHOICES

log = logging.getLogger(__name__)

__all__ = [
    "NotebookParams",
    "NO_RESULT_EFFECT",
    "FieldSpec",
    "Schema",
    "SCHEMAS",
    "FAMILY_MODULES",
    "register",
    "unregister",
    "get_schema",
    "validate",
    "defaults",
    "validate_namespace",
    "notebook_params",
    "profiles",
    "profile_params",
    "read_params_file",
    "PROVENANCE_ONLY",
    "provenance_only_keys",
    "result_params",
    "result_hash",
    "load_yaml",
    "DEVICE_CHOICES",
]

#: ``json_schema_extra`` of a field that never changes a run's results (recorded in provenance only)
NO_RESULT_EFFECT: dict[str, Any] = {"affects_results": False}


class NotebookParams(BaseModel):
    """Base of every notebook's parameter model: strict types, no unknown keys, immutable.

    Holds the fields every notebook has. A subclass adds its notebook's fields (``int``, ``float``,
    ``bool``, ``str``, a ``Literal`` of choices, each optionally ``| None``; bounds with ``ge``/``gt``/
    ``le``/``lt``) and is registered with :func:`register`. Defaults are validated at registration.
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True,
                              validate_default=True)

    seed: int = Field(42, ge=0, le=2**32 - 1, description="seeds Python, NumPy, torch, masks and data order")
    device: Literal[DEVICE_CHOICES] = Field(  # type: ignore[valid-type]
        "auto", description="auto: DirectML if importable, then CUDA, then MPS, then CPU",
        json_schema_extra=NO_RESULT_EFFECT)
    data_root: str | None = Field(None, description="dataset directory; None: $SNNKIT_DATA, system "
                                  "locations, download", json_schema_extra=NO_RESULT_EFFECT)
    progress: bool = Field(True, description="show progress bars", json_schema_extra=NO_RESULT_EFFECT)
    checkpoint: bool = Field(True, description="checkpoint during training and resume from the last one",
                             json_schema_extra=NO_RESULT_EFFECT)

    @model_validator(mode="before")
    @classmethod
    def _python_scalars(cls, data: Any) -> Any:
        """NumPy scalars count as the Python scalar they hold (``np.int64(3)`` is the int 3)."""
        if isinstance(data, Mapping):
            return {k: v.item() if isinstance(v, np.generic) else v for k, v in data.items()}
        return data


@dataclass(frozen=True)
class FieldSpec:
    """What one field of a schema allows, read off its pydantic declaration."""

    name: str
    type: type
    default: Any
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    nullable: bool = False
    help: str = ""
    affects_results: bool = True
    schema: Schema | None = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        """What this field allows, in words (used in error messages)."""
        if self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        else:
            text = {int: "an integer", float: "a finite number", bool: "true or false",
                    str: "a string", list: "a list of numbers"}[self.type]
            if self.low is not None or self.high is not None:
                lo = "(-inf" if self.low is None else ("[" if self.low_inclusive else "(") + _num(self.low)
                hi = "inf)" if self.high is None else _num(self.high) + ("]" if self.high_inclusive else ")")
                text += f" in {lo}, {hi}"
        if self.nullable:
            text += " (or null)"
        return text

    def check(self, key: str, value: Any, *, where: str | None = None) -> Any:
        """``value`` validated as this field (plain Python value); ConfigError naming ``key`` if not."""
        try:
            return self.schema.validate({self.name: value}, partial_ok=True)[self.name]
        except ConfigError as exc:
            raise ConfigError(key, value, exc.allowed, where=where) from None


def _num(bound: float) -> str:
    return str(bound) if isinstance(bound, int) else f"{bound:g}"


_BOUNDS = {at.Ge: ("low", "ge", True), at.Gt: ("low", "gt", False),
           at.Le: ("high", "le", True), at.Lt: ("high", "lt", False)}


def _field_spec(schema: Schema, name: str, info: Any) -> FieldSpec:
    kind, nullable = info.annotation, False
    if get_origin(kind) in (Union, types.UnionType):
        args = [a for a in get_args(kind) if a is not type(None)]
        nullable = len(args) < len(get_args(kind))
        kind = args[0] if len(args) == 1 else None
    choices = get_args(kind) if get_origin(kind) is Literal else None
    if choices:
        kind = type(choices[0])
    if get_origin(kind) is list and get_args(kind) in ((int,), (float,)):
        kind = list  # a list of numbers, e.g. per-layer epochs (the model validator checks its length)
    if kind not in (int, float, bool, str, list):
        raise TypeError(f"{schema.name}: field {name!r} has type {info.annotation!r}; a schema field is an "
                        "int, float, bool, str, list[int], list[float] or Literal of choices, optionally "
                        "`| None`")
    bounds: dict[str, Any] = {}
    for meta in info.metadata:
        for cls, (side, attr, inclusive) in _BOUNDS.items():
            if isinstance(meta, cls):
                bounds[side], bounds[f"{side}_inclusive"] = getattr(meta, attr), inclusive
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return FieldSpec(name, kind, info.default, choices, nullable=nullable, help=info.description or "",
                     affects_results=bool(extra.get("affects_results", True)), schema=schema, **bounds)


class Schema:
    """A notebook's registered parameter model and what the rest of snnkit reads off it.

    ``fields`` maps each key to its :class:`FieldSpec` (in the model's order); :meth:`validate` runs the
    model and turns pydantic's errors into one :class:`ConfigError`.
    """

    def __init__(self, name: str, model: type[NotebookParams]):
        if not (isinstance(model, type) and issubclass(model, NotebookParams)):
            raise TypeError(f"schema {name!r} must be a NotebookParams subclass, got {model!r}")
        self.name = name
        self.model = model
        self.fields: dict[str, FieldSpec] = {k: _field_spec(self, k, info)
                                             for k, info in model.model_fields.items()}
        self.validate({})  # a schema cannot ship a bad default

    def __repr__(self) -> str:
        return f"Schema({self.name!r}, {self.model.__name__}, {len(self.fields)} fields)"

    def __contains__(self, key: object) -> bool:
        return key in self.fields

    def defaults(self) -> dict[str, Any]:
        """Every field's default (a fresh dict, in schema order)."""
        return {key: spec.default for key, spec in self.fields.items()}

    def provenance_only(self) -> frozenset[str]:
        """The keys declared with :data:`NO_RESULT_EFFECT`."""
        return frozenset(k for k, spec in self.fields.items() if not spec.affects_results)

    def validate(self, params: Mapping[str, Any] | None, *, partial_ok: bool = False) -> dict[str, Any]:
        """Check ``params`` against the schema.

        Returns the complete parameter set (defaults filled in for keys not given) in schema order;
        with ``partial_ok=True`` only the given keys are returned (e.g. overrides).
        """
        params = {} if params is None else params
        if not isinstance(params, Mapping):
            raise ConfigError("<parameters>", params, "a mapping of parameter names to values", where=self.name)
        try:
            out = self.model.model_validate(dict(params), context={"partial": partial_ok}).model_dump()
        except ValidationError as exc:
            raise self._error(exc, params) from None
        return {k: out[k] for k in params} if partial_ok else out

    def _error(self, exc: ValidationError, params: Mapping[Any, Any]) -> ConfigError:
        """One ConfigError for pydantic's first error (an unknown key first, as it hides the others)."""
        errors = sorted(exc.errors(), key=lambda e: e["type"] not in ("extra_forbidden", "invalid_key"))
        err = errors[0]
        key = err["loc"][0] if err["loc"] else "<parameters>"
        value = params.get(key, err.get("input"))
        if err["type"] in ("extra_forbidden", "invalid_key"):
            close = difflib.get_close_matches(str(key), list(self.fields), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return ConfigError(key, value, f"a known parameter ({key!r} is unknown{hint}); known keys: "
                               f"{', '.join(sorted(self.fields))}", where=self.name)
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigError):  # raised by a model validator of the schema
            return cause
        allowed = self.fields[key].describe() if key in self.fields else err["msg"]
        return ConfigError(key, value, allowed, where=self.name)


# -- registry ---------------------------------------------------------------------------------------
#: modules whose import registers the notebooks' schemas (each family's parameter models)
FAMILY_MODULES: tuple[str, ...] = ("snnkit.models",)


class _Registry(Mapping[str, Schema]):
    """Notebook name → :class:`Schema`. Reading it first imports :data:`FAMILY_MODULES` (once)."""

    def __init__(self) -> None:
        self._schemas: dict[str, Schema] = {}
        self._discovered = False

    def _all(self) -> dict[str, Schema]:
        if not self._discovered:
            self._discovered = True
            for module in FAMILY_MODULES:
                importlib.import_module(module)
        return self._schemas

    def __getitem__(self, name: str) -> Schema:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


SCHEMAS = _Registry()


def register(name: str, model: type[NotebookParams] | None = None) -> Any:
    """Register ``model`` as the schema of notebook ``name`` (replacing any); returns the model.

    Also a class decorator: ``@register("my_notebook")``. Raises ConfigError if a default is invalid.
    """

    def add(model: type[NotebookParams]) -> type[NotebookParams]:
        SCHEMAS._schemas[name] = Schema(name, model)
        return model

    return add if model is None else add(model)


def unregister(name: str) -> None:
    """Remove a schema (tests use this to clean up fixture schemas)."""
    SCHEMAS._schemas.pop(name, None)


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


def defaults(notebook: str) -> dict[str, Any]:
    """The schema defaults of ``notebook`` (for the paper notebooks: the paper's settings)."""
    return get_schema(notebook).defaults()


#: the common parameters that never change a run's results: recorded in provenance, left out of the run's
#: identity (its hash, its ``.DONE`` marker, whether its checkpoints may be resumed)
PROVENANCE_ONLY = Schema("NotebookParams", NotebookParams).provenance_only()


def provenance_only_keys(notebook: str) -> frozenset[str]:
    """The keys of ``notebook``'s schema that change no result (:data:`PROVENANCE_ONLY` and its own)."""
    return get_schema(notebook).provenance_only()


def result_params(notebook: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The complete validated parameters of a run minus those that do not change its results."""
    drop = provenance_only_keys(notebook)
    return {k: v for k, v in validate(notebook, params).items() if k not in drop}


def result_hash(notebook: str, params: Mapping[str, Any]) -> str:
    """The run's identity: a hash of :func:`result_params` (what ``.DONE`` and checkpoints are keyed by)."""
    from snnkit.utils import params_hash

    return params_hash(result_params(notebook, params))


def validate_namespace(notebook: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the schema's keys as found in ``namespace`` (a notebook's ``globals()``); defaults fill the rest.

    Only the schema's own keys are read; unknown keys are caught earlier, by ``snnkit.reproduce``.
    """
    schema = get_schema(notebook)
    return schema.validate({key: namespace[key] for key in schema.fields if key in namespace})


# -- profiles: params/<notebook>/<profile>.yaml -------------------------------------------------------
def _params_dir(notebook: str, params_dir: str | Path | None) -> Path | None:
    """``params/<notebook>/``: under ``params_dir``, else under the cwd or its parent (a notebook runs in
    ``notebooks/``), never inside the installed package; None if there is none."""
    if params_dir is not None:
        roots = [Path(params_dir)]
    else:
        roots = [Path.cwd() / "params", Path.cwd().parent / "params"]
    return next((root / notebook for root in roots if (root / notebook).is_dir()), None)


def profiles(notebook: str, params_dir: str | Path | None = None) -> list[str]:
    """The profiles of ``notebook`` (stems of ``params/<notebook>/*.yaml``), sorted; [] if none are found."""
    folder = _params_dir(notebook, params_dir)
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder else []


def read_params_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """The runs of a parameter file, ``{run: params}``: a plain mapping is one run named ``default``; a sweep
    ``{runs: {name: {...}}, common: {...}}`` gives each run ``common`` updated by its own keys.

    ConfigError (naming the file) when it cannot be read or has another shape. Values are not validated.
    """
    path = Path(path)
    try:
        data = load_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError("params file", str(path), f"a readable YAML file ({exc})") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError("params file", str(path), "a non-empty mapping of parameters, or {runs: {name: "
                          "{...}}, common: {...}}")
    if "runs" not in data:
        return {"default": data}
    common, runs = data.get("common") or {}, data["runs"]
    if set(data) - {"runs", "common"} or not isinstance(common, dict) or not isinstance(runs, dict) or not runs \
            or not all(isinstance(p, (dict, type(None))) for p in runs.values()):
        raise ConfigError("params file", str(path), "a sweep with only 'runs' (a non-empty mapping of run name "
                          "to parameters) and 'common' (a mapping) at the top")
    return {str(name): {**common, **(p or {})} for name, p in runs.items()}


def profile_params(notebook: str, profile: str, params_dir: str | Path | None = None) -> dict[str, Any]:
    """The parameters a profile sets (validated, only the keys it sets).

    ``profile`` names ``params/<notebook>/<profile>.yaml``; for a sweep file it is ``"<profile>/<run>"``
    or just ``"<profile>"`` for its first run (its ``common`` block merged with that run's keys). An
    unknown profile or run is a ConfigError listing those that exist.
    """
    name, _, run = str(profile).partition("/")
    folder = _params_dir(notebook, params_dir)
    if folder is None or not (folder / f"{name}.yaml").is_file():
        raise ConfigError("profile", profile, "one of " + (", ".join(map(repr, profiles(notebook, params_dir)))
                          or f"the profiles in params/{notebook}/ (no such folder found)"))
    runs = read_params_file(folder / f"{name}.yaml")
    if run and run not in runs:
        raise ConfigError("profile", profile, "one of " + ", ".join(repr(f"{name}/{r}") for r in runs))
    run = run or next(iter(runs))
    log.info("parameters of profile %r, run %r (%s)", name, run, folder / f"{name}.yaml")
    return get_schema(notebook).validate(runs[run], partial_ok=True)


def notebook_params(notebook: str, namespace: Mapping[str, Any], *, params_dir: str | Path | None = None
                    ) -> dict[str, Any]:
    """A notebook's complete validated parameters from its ``globals()``.

    Every schema key the namespace defines wins (papermill injects all of a run's parameters; a user
    assigns overrides below the profile line); the profile named by ``namespace["profile"]`` (see
    :func:`profile_params`) fills what is not set, then the schema defaults. The profile file is not
    read when the namespace already sets every key, or when ``profile`` is None.

    Called from a notebook's validation cell, it also makes snnkit's own errors show as one line in
    the kernel (:func:`snnkit.errors.short_notebook_errors`): a ``ConfigError`` reads as the message,
    not as a traceback, in JupyterLab and in papermill's error report.
    """
    from snnkit.errors import short_notebook_errors

    short_notebook_errors()
    schema = get_schema(notebook)
    given = {key: namespace[key] for key in schema.fields if key in namespace}
    profile = namespace.get("profile")
    base = profile_params(notebook, profile, params_dir) if profile and len(given) < len(schema.fields) else {}
    return schema.validate({**base, **given})


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
