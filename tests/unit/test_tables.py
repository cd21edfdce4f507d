"""Tests of snnkit.report.tables: results tables, the tabulate-free Markdown writer, saving, comparisons."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from snnkit.report.tables import comparison_table, results_table, save_table, to_markdown

ROWS = [
    {"model": "dense", "test_accuracy": 0.8704, "epoch_time_s": 12.5},
    {"model": "mixer", "test_accuracy": 0.8853, "p_inter": 0.15},
]


def test_results_table_keeps_fractions_and_fills_missing():
    df = results_table(ROWS)
    assert list(df.columns) == ["model", "test_accuracy", "epoch_time_s", "p_inter"]
    assert df.loc[0, "test_accuracy"] == 0.8704  # fractions are kept as they are
    assert math.isnan(df.loc[0, "p_inter"]) and math.isnan(df.loc[1, "epoch_time_s"])


def test_results_table_columns_and_percent():
    df = results_table(ROWS, columns=["model", "test_accuracy"], percent=["test_accuracy"])
    assert list(df.columns) == ["model", "test_accuracy_pct"]
    assert df["test_accuracy_pct"].tolist() == pytest.approx([87.04, 88.53])
    with pytest.raises(KeyError, match="occur in no row"):
        results_table(ROWS, columns=["nope"])
    with pytest.raises(KeyError, match="percent column"):
        results_table(ROWS, percent=["nope"])
    with pytest.raises(TypeError, match="not numeric"):
        results_table(ROWS, percent=["model"])


def test_to_markdown_exact_output():
    df = pd.DataFrame(
        {"model": ["dense", "a|b"], "acc": [0.870412, float("nan")], "n": [3, 10], "ok": [True, False]}
    )
    expected = (
        "| model | acc    |   n | ok  |\n"
        "| ----- | -----: | --: | --- |\n"
        "| dense | 0.8704 |   3 | yes |\n"
        "| a\\|b  |        |  10 | no  |\n"
    )
    # header cells of numeric columns are right-aligned too
    expected = expected.replace("| acc    |", "|    acc |")
    assert to_markdown(df) == expected


def test_to_markdown_index_auto_and_format():
    df = pd.DataFrame({"f1": [0.5, 0.25]}, index=pd.Index(["cat", "dog"], name="class"))
    md = to_markdown(df, floatfmt=".2f")
    lines = md.splitlines()
    assert lines[0] == "| class |   f1 |"
    assert lines[2] == "| cat   | 0.50 |"
    assert "class" not in to_markdown(df, index=False)
    with pytest.raises(TypeError, match="DataFrame"):
        to_markdown([1, 2])


@given(
    st.lists(
        st.tuples(
            st.text(max_size=8), st.floats(allow_nan=True, allow_infinity=False), st.integers(-999, 999)
        ),
        min_size=1,
        max_size=6,
    )
)
def test_to_markdown_is_a_well_formed_table(rows):
    df = pd.DataFrame(rows, columns=["name", "value", "count"])
    md = to_markdown(df)
    lines = md.rstrip("\n").split("\n")
    assert len(lines) == len(rows) + 2
    # every line has the same number of unescaped pipes: 3 columns -> 4 separators
    for ln in lines:
        assert ln.replace("\\|", "").count("|") == 4
        assert ln.startswith("| ") and ln.endswith(" |")
    assert len({len(ln) for ln in lines}) == 1  # columns are padded to equal width


def test_tabulate_is_not_required():
    # the project does not depend on tabulate; to_markdown must work whether or not it is installed
    if importlib.util.find_spec("tabulate") is None:
        with pytest.raises(ImportError):
            pd.DataFrame({"a": [1]}).to_markdown()
    assert to_markdown(pd.DataFrame({"a": [1]})) == "|   a |\n| --: |\n|   1 |\n"


def test_save_table_writes_csv_and_md(tmp_path):
    df = results_table(ROWS)
    csv_path, md_path = save_table(df, tmp_path / "tables", "results")
    assert csv_path == tmp_path / "tables" / "results.csv" and md_path.name == "results.md"
    back = pd.read_csv(csv_path)
    pd.testing.assert_frame_equal(back, df)
    assert md_path.read_text() == to_markdown(df)
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == ["results.csv", "results.md"]
    # an indexed frame keeps its index in the CSV
    per_class = pd.DataFrame({"f1": [0.5]}, index=pd.Index(["cat"], name="class"))
    c2, _ = save_table(per_class, tmp_path, "per_class")
    assert c2.read_text().splitlines()[0] == "class,f1"
    for bad in ["", "../x", "a/b", ".hidden"]:
        with pytest.raises(ValueError, match="not allowed"):
            save_table(df, tmp_path, bad)


def test_comparison_table():
    df = comparison_table(
        {"test_accuracy": 86.5, "firing_rate": 0.02},
        {"test_accuracy": {"value": 87.04, "source": "authors' result files"}, "sparsity": 0.744},
    )
    assert list(df.columns) == ["metric", "published", "reproduced", "delta", "source"]
    assert df["metric"].tolist() == ["test_accuracy", "sparsity", "firing_rate"]
    assert df.loc[0, "delta"] == pytest.approx(86.5 - 87.04)
    assert math.isnan(df.loc[1, "reproduced"]) and math.isnan(df.loc[1, "delta"])
    assert math.isnan(df.loc[2, "published"]) and df.loc[2, "reproduced"] == 0.02
    assert df.loc[0, "source"] == "authors' result files"
    plain = comparison_table({"a": 1.0}, {"a": 2.0})
    assert list(plain.columns) == ["metric", "published", "reproduced", "delta"]
    assert np.isclose(plain.loc[0, "delta"], -1.0)
    with pytest.raises(ValueError, match="stand-in"):
        comparison_table({"a": 1.0}, {"a": 2.0}, stand_in=True)
    with pytest.raises(KeyError, match="no 'value'"):
        comparison_table({}, {"a": {"source": "x"}})
