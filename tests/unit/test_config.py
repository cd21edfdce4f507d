"""snnkit.config: typed schemas; every bad parameter set is a ConfigError naming key and value."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Literal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field

from snnkit import config
from snnkit.config import FieldSpec, NotebookParams, get_schema, load_yaml, validate
from snnkit.errors import ConfigError

NB = "g2gnet_fashionmnist"
SCHEMA = get_schema(NB)


def test_defaults_are_the_paper_settings():
    d = SCHEMA.defaults()
    assert d["hidden_dim"] == 2048 and d["n_hidden"] == 3 and d["T"] == 50
    assert d["beta"] == 0.9 and d["threshold"] == 1.0 and d["lr"] == 1e-3 and d["weight_decay"] == 1e-4
    assert d["batch_size"] == 256 and d["epochs"] == 20 and d["enc"] == "current" and d["model"] == "dense"
    assert d["seed"] == 42 and d["device"] == "auto" and d["data_root"] is None and d["progress"] is True
    assert validate(NB, {}) == d == config.defaults(NB)
    assert list(validate(NB, {"T": 5})) == list(SCHEMA.fields)  # complete, in schema order


def test_conversions_numpy_and_int_for_float():
    out = validate(NB, {"T": np.int64(7), "lr": 1, "enc_scale": np.float32(2.5), "amp": np.bool_(True)})
    assert out["T"] == 7 and type(out["T"]) is int
    assert out["lr"] == 1.0 and type(out["lr"]) is float
    assert out["enc_scale"] == 2.5 and type(out["enc_scale"]) is float
    assert out["amp"] is True


@pytest.mark.parametrize(
    "key,value,fragment",
    [
        ("T", True, "an integer"),  # bool is never an int
        ("lr", False, "finite number"),
        ("T", 2.0, "an integer"),
        ("hidden_dim", 0, "[1, 65536]"),
        ("beta", 1.5, "[0, 1]"),
        ("threshold", 0.0, "(0, inf)"),
        ("val_fraction", 0.5, "[0, 0.5)"),
        ("enc", "latency", "'current', 'rate'"),
        ("device", "tpu", "'auto', 'cpu'"),
        ("amp", 1, "true or false"),
        ("seed", None, "integer"),
        ("lr", math.nan, "finite"),
        ("dataset", 3, "'fashionmnist'"),
    ],
)
def test_bad_values_name_key_value_and_allowed(key, value, fragment):
    with pytest.raises(ConfigError) as info:
        validate(NB, {key: value})
    msg = str(info.value)
    assert repr(key) in msg and repr(value) in msg and fragment in msg
    assert info.value.key == key


def test_unknown_key_suggests_closest_and_lists_known():
    with pytest.raises(ConfigError) as info:
        validate(NB, {"hiden_dim": 64})
    msg = str(info.value)
    assert "'hiden_dim'" in msg and "64" in msg and "did you mean 'hidden_dim'" in msg
    assert "known keys" in msg and "weight_decay" in msg


def test_nullable_and_partial():
    assert validate(NB, {"grad_clip": None, "train_subset": None})["grad_clip"] is None
    assert SCHEMA.validate({"T": 3}, partial_ok=True) == {"T": 3}
    with pytest.raises(ConfigError):
        SCHEMA.validate({"grad_clip": -1.0}, partial_ok=True)


def test_registry_and_bad_schema_definitions():
    class Tmp(NotebookParams):
        x: int = Field(1, ge=0)
        mode: Literal["a", "b"] | None = "a"

    assert config.register("tmp_test_nb", Tmp) is Tmp
    try:
        s = get_schema("tmp_test_nb")
        assert s.model is Tmp and "tmp_test_nb" in config.SCHEMAS
        assert validate("tmp_test_nb", {"x": 3}) == {**config.defaults("tmp_test_nb"), "x": 3, "mode": "a"}
        assert s.fields["mode"] == FieldSpec("mode", str, "a", ("a", "b"), nullable=True)
        assert s.fields["x"].describe() == "an integer in [0, inf)"
    finally:
        config.unregister("tmp_test_nb")
    with pytest.raises(ConfigError, match="tmp_test_nb"):
        get_schema("tmp_test_nb")

    class BadDefault(NotebookParams):
        x: int = Field(-1, ge=0)

    with pytest.raises(ConfigError, match="'x' = -1"):  # a bad default is caught when the schema is registered
        config.register("tmp_bad", BadDefault)

    class BadType(NotebookParams):
        x: list[str] = []

    with pytest.raises(TypeError, match="'x'"):
        config.register("tmp_bad", BadType)
    assert "tmp_bad" not in config.SCHEMAS
    with pytest.raises(ConfigError):
        validate(NB, ["T", 3])  # not a mapping


def test_get_schema_imports_the_family_modules():
    """A caller needs no import of snnkit.models: the first lookup imports the families, which register."""
    code = ("import sys; from snnkit import config; assert 'snnkit.models' not in sys.modules; "
            f"print(config.get_schema({NB!r}).model.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "snnkit.models.g2g"


def test_provenance_only_keys_are_read_off_the_field_markers():
    assert config.PROVENANCE_ONLY == {"device", "data_root", "progress", "checkpoint"}
    assert config.provenance_only_keys(NB) == config.PROVENANCE_ONLY

    class Tmp(NotebookParams):
        workers: int = Field(2, ge=0, json_schema_extra=config.NO_RESULT_EFFECT)
        lr: float = 0.1

    config.register("tmp_prov", Tmp)
    try:
        assert config.provenance_only_keys("tmp_prov") == config.PROVENANCE_ONLY | {"workers"}
        base = config.result_hash("tmp_prov", {})
        assert config.result_hash("tmp_prov", {"workers": 7, "device": "cpu", "progress": False}) == base
        assert config.result_hash("tmp_prov", {"lr": 0.2}) != base
        assert config.result_hash("tmp_prov", {"seed": 1}) != base
        assert "workers" not in config.result_params("tmp_prov", {"workers": 7})
    finally:
        config.unregister("tmp_prov")


# -- profiles ---------------------------------------------------------------------------------------------
@pytest.fixture()
def params_dir(tmp_path):
    folder = tmp_path / "params" / NB
    folder.mkdir(parents=True)
    (folder / "small.yaml").write_text("T: 7\nhidden_dim: 32\nlr: 1e-2\n")
    (folder / "sweep.yaml").write_text("common: {T: 9, epochs: 2}\nruns:\n  a: {hidden_dim: 16}\n"
                                       "  b: {hidden_dim: 64, T: 11}\n")
    return tmp_path / "params"


def test_notebook_params_fill_from_profile_then_defaults(params_dir):
    out = config.notebook_params(NB, {"profile": "small", "T": 3, "unrelated": object()}, params_dir=params_dir)
    assert out == {**config.defaults(NB), "T": 3, "hidden_dim": 32, "lr": 1e-2}  # the namespace's T wins
    # a sweep: its common block merged with the named run, or with its first run
    assert config.notebook_params(NB, {"profile": "sweep/b"}, params_dir=params_dir) == {
        **config.defaults(NB), "T": 11, "epochs": 2, "hidden_dim": 64}
    assert config.notebook_params(NB, {"profile": "sweep"}, params_dir=params_dir) == {
        **config.defaults(NB), "T": 9, "epochs": 2, "hidden_dim": 16}
    assert config.notebook_params(NB, {"profile": None, "T": 4}, params_dir=params_dir) == {
        **config.defaults(NB), "T": 4}
    assert config.profiles(NB, params_dir) == ["small", "sweep"]


def test_notebook_params_unknown_profile_or_run_lists_what_exists(params_dir):
    with pytest.raises(ConfigError) as info:
        config.notebook_params(NB, {"profile": "smok"}, params_dir=params_dir)
    assert info.value.key == "profile" and "'small', 'sweep'" in str(info.value) and "'smok'" in str(info.value)
    with pytest.raises(ConfigError, match="'sweep/a', 'sweep/b'"):
        config.notebook_params(NB, {"profile": "sweep/c"}, params_dir=params_dir)
    (params_dir / NB / "bad.yaml").write_text("T: 0\n")
    with pytest.raises(ConfigError, match="'T' = 0"):  # a profile's values are validated too
        config.notebook_params(NB, {"profile": "bad"}, params_dir=params_dir)


def test_notebook_params_need_no_profile_file_when_every_key_is_set(tmp_path):
    """papermill injects a run's complete parameters: the profile named in the cell is then not read."""
    full = {**config.defaults(NB), "T": 5}
    assert config.notebook_params(NB, {**full, "profile": "missing"}, params_dir=tmp_path) == full


def test_notebook_in_jupyter_finds_the_repositorys_profile(monkeypatch):
    """JupyterLab runs a notebook in notebooks/: its profile is read from ../params/<notebook>/."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(root / "notebooks")
    smoke = next(iter(config.read_params_file(root / "params" / NB / "smoke.yaml").values()))  # its first run
    out = config.notebook_params(NB, {"profile": "smoke", "seed": 3})
    assert out == validate(NB, {**smoke, "seed": 3}) and out["dataset"] == "fashionmnist-embedded"


def test_the_repositorys_profiles_are_valid():
    profiles = config.profiles(NB)
    assert {"smoke", "cpu", "paper"} <= set(profiles)
    for profile in profiles:
        for params in config.read_params_file(config._params_dir(NB, None) / f"{profile}.yaml").values():
            validate(NB, params)


def test_load_yaml_reads_exponent_floats():
    assert load_yaml("lr: 1e-3\nb: 1.0e-4\nc: 3\nd: abc\ne: -2E+2") == {
        "lr": 1e-3, "b": 1e-4, "c": 3, "d": "abc", "e": -200.0}


# -- hypothesis: bad parameter sets ----------------------------------------------------------------
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**9, 10**9), st.text(max_size=8),
                     st.floats(allow_nan=True, allow_infinity=True))


def _fits(field: FieldSpec, value) -> bool:
    try:
        field.check("k", value)
        return True
    except ConfigError:
        return False


@st.composite
def bad_param_sets(draw):
    """A valid base set plus exactly one defect: an unknown key, or a value its field rejects."""
    good_keys = draw(st.lists(st.sampled_from(sorted(SCHEMA.fields)), max_size=5, unique=True))
    params = {k: SCHEMA.fields[k].default for k in good_keys}
    if draw(st.booleans()):
        key = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in SCHEMA.fields))
        value = draw(_scalars)
    else:
        key = draw(st.sampled_from(sorted(SCHEMA.fields)))
        field = SCHEMA.fields[key]
        candidates = _scalars
        if field.choices:
            candidates = st.one_of(_scalars, st.sampled_from([c + "x" for c in field.choices]))
        if field.low is not None or field.high is not None:
            lo, hi = field.low, field.high
            outside = []
            if lo is not None:
                outside.append(st.floats(max_value=lo, allow_nan=False).filter(lambda v: v < lo or
                                                                               not field.low_inclusive))
            if hi is not None:
                outside.append(st.floats(min_value=hi, allow_nan=False).filter(lambda v: v > hi or
                                                                              not field.high_inclusive))
            candidates = st.one_of(candidates, *outside)
        value = draw(candidates.filter(lambda v: not _fits(field, v)))
    params[key] = value
    return key, value, params


@given(bad_param_sets())
def test_every_bad_parameter_set_is_a_config_error(case):
    key, value, params = case
    try:
        validate(NB, params)
    except ConfigError as exc:
        assert exc.key == key
        msg = str(exc)
        assert repr(key) in msg and repr(value) in msg
    else:  # pragma: no cover - the test fails here
        pytest.fail(f"{params!r} was accepted")


@st.composite
def good_param_sets(draw):
    out = {}
    for key, field in SCHEMA.fields.items():
        if not draw(st.booleans()):
            continue
        if field.nullable and draw(st.booleans()):
            out[key] = None
        elif field.choices:
            out[key] = draw(st.sampled_from(field.choices))
        elif field.type is bool:
            out[key] = draw(st.booleans())
        elif field.type is str:
            out[key] = draw(st.text(max_size=10))
        elif field.type is int:
            out[key] = draw(st.integers(int(field.low if field.low is not None else -1000),
                                        int(field.high if field.high is not None else 10**6)))
        else:
            v = draw(st.floats(field.low if field.low is not None else -1e6,
                               field.high if field.high is not None else 1e6,
                               exclude_min=not field.low_inclusive, exclude_max=not field.high_inclusive))
            out[key] = v
    # G2GNet's cross-field rules (tested on their own in test_experiments_g2gnet.py): sparse models need
    # groups dividing hidden_dim (mixer: at most its square root), dynamic sparse training a sparse model
    full = {**SCHEMA.defaults(), **out}
    if full["model"] != "dense" and (full["hidden_dim"] % full["groups"] or 784 % full["groups"]
                                     or full["hidden_dim"] // full["groups"] < full["groups"]):
        out["groups"] = 1
    if full["model"] == "dense" and full["sparsity_mode"] == "dynamic":
        out["sparsity_mode"] = "static"
    return out


@given(good_param_sets())
def test_good_parameter_sets_pass_and_round_trip(params):
    out = validate(NB, params)
    assert set(out) == set(SCHEMA.fields)
    for key, value in params.items():
        assert out[key] == value
    assert validate(NB, out) == out


# -- bad values built from each field's declaration, independently of the validator -----------------
_WRONG_TYPE = {
    int: ["3", 1.5, True, [1], {"a": 1}],
    float: ["0.1", True, [0.1], {"a": 1.0}],
    bool: [1, 0, "true", "yes", None],
    str: [3, 1.5, True, ["auto"]],
}


def _declared_bad_values(field: FieldSpec) -> list:
    bad = list(_WRONG_TYPE[field.type])
    if not field.nullable and field.type is not bool:
        bad.append(None)
    if field.type is float:
        bad += [float("nan")]
    if field.choices:
        bad += [c.upper() + "_" for c in field.choices] + [""]
    if field.low is not None:
        bad.append(field.low - 1 if field.type is int else field.low - 1e-3)
        if not field.low_inclusive:
            bad.append(field.low)
    if field.high is not None:
        bad.append(field.high + 1 if field.type is int else field.high + 1e-3)
        if not field.high_inclusive:
            bad.append(field.high)
    return bad


_DECLARED_CASES = [(k, v) for k, f in sorted(SCHEMA.fields.items()) for v in _declared_bad_values(f)]


@pytest.mark.parametrize("key,value", _DECLARED_CASES, ids=[f"{k}={v!r}" for k, v in _DECLARED_CASES])
def test_declared_bad_values_are_rejected(key, value):
    with pytest.raises(ConfigError) as err:
        validate(NB, {key: value})
    assert err.value.key == key and repr(key) in str(err.value)


@pytest.mark.parametrize("kv", ["T=0", "seed=-1", "seed=99999999999999999999999", "enc=latency", "lr=abc",
                                "hidden_dim=1.5", "bogus_key=1"])
def test_reproduce_set_rejects_bad_values_before_running(kv, tmp_path, capsys):
    from snnkit import reproduce

    rc = reproduce.main(["--only", NB, "--set", kv, "--dry-run", "--reports-dir", str(tmp_path)])
    assert rc == 2
    assert repr(kv.split("=")[0]) in capsys.readouterr().err
    assert not any(tmp_path.iterdir()), "nothing may be written for a rejected parameter set"


@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_an_accepted_seed_works_downstream(seed):
    """Whatever the schema accepts as a seed, seed_everything (and so every notebook) can use."""
    from snnkit.utils import seed_everything

    try:
        validate(NB, {"seed": seed})
    except ConfigError:
        return
    seed_everything(seed)
