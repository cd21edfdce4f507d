"""Result tables: build them with pandas, write them as CSV and Markdown.

Units: values are kept as they come. Accuracies and other rates stay fractions in ``[0, 1]``, exactly
as in ``metrics.json``, so a table and the metrics it came from never disagree. Where a human-facing
table wants percentages, name the columns in ``results_table(..., percent=[...])``: each such column
``x`` is replaced by ``x_pct`` = 100 · x, so the unit is always visible in the column name.

Markdown is produced by a small pipe-table writer of our own (:func:`to_markdown`); pandas'
``DataFrame.to_markdown`` would need the optional ``tabulate`` package.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from snnkit.utils import atomic_write_text

log = logging.getLogger(__name__)

__all__ = ["results_table", "to_markdown", "save_table", "comparison_table"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def results_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    percent: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per run (or model, or fold) from a list of dicts such as ``metrics.json`` objects.

    ``columns`` selects and orders the columns (a name missing from every row is an error; a value
    missing from one row is ``NaN``); by default all keys, in first-seen order. Values are kept as
    they are (fractions stay fractions); each column named in ``percent`` is replaced by
    ``<name>_pct`` holding 100 times its value.
    """
    rows = list(rows)
    df = pd.DataFrame([dict(r) for r in rows])
    if columns is not None:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise KeyError(f"results_table: columns {missing} occur in no row; available: {list(df.columns)}")
        df = df.loc[:, list(columns)]
    for col in percent or ():
        if col not in df.columns:
            raise KeyError(f"results_table: percent column {col!r} not in the table; have {list(df.columns)}")
        if not pd.api.types.is_numeric_dtype(df[col]):
            raise TypeError(f"results_table: percent column {col!r} is not numeric (dtype {df[col].dtype})")
        df[col] = df[col] * 100.0
        df = df.rename(columns={col: f"{col}_pct"})
    return df.reset_index(drop=True)


def _cell(value: Any, floatfmt: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        v = float(value)
        if math.isnan(v):
            return ""
        return format(v, floatfmt)
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    text = str(value)
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("\r\n", " ")
        .replace("\n", " ")
        .replace("\r", " ")
    )


def to_markdown(df: pd.DataFrame, *, floatfmt: str = ".4g", index: bool | None = None) -> str:
    """A GitHub pipe table of ``df`` (no ``tabulate`` needed).

    Floats are written with ``floatfmt``; ``NaN``/``None`` as an empty cell; booleans as yes/no; ``|``
    inside a cell is escaped. Numeric columns are right-aligned, the others left-aligned. The index is
    included when ``index`` is true, by default when it is not a plain 0..n-1 range.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"to_markdown expects a pandas DataFrame, got {type(df).__name__}")
    if index is None:
        index = not (isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1)
    frame = df.reset_index() if index else df
    headers = [_cell(str(c), floatfmt) for c in frame.columns]
    numeric = [
        pd.api.types.is_numeric_dtype(frame.iloc[:, j]) and not pd.api.types.is_bool_dtype(frame.iloc[:, j])
        for j in range(frame.shape[1])
    ]
    body = [[_cell(v, floatfmt) for v in row] for row in frame.itertuples(index=False, name=None)]
    widths = [max([3, len(h)] + [len(r[j]) for r in body]) for j, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        padded = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "| " + " | ".join(("-" * (w - 1) + ":") if num else "-" * w for w, num in zip(widths, numeric)) + " |"
    )
    return "\n".join([line(headers), rule, *(line(r) for r in body)]) + "\n"


def save_table(
    df: pd.DataFrame, directory: str | os.PathLike, name: str, *, floatfmt: str = ".4g", caption: str = ""
) -> tuple[Path, Path]:
    """Write ``df`` as ``<directory>/<name>.csv`` (full precision) and ``<name>.md``, each atomically.

    ``name`` is a plain file stem (letters, digits, ``._-``); ``caption`` (a Markdown line) heads the
    ``.md`` file, separated from the table by a blank line. Returns ``(csv_path, md_path)``.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(f"table name {name!r} is not allowed; use letters, digits, '.', '_' or '-' only")
    directory = Path(directory)
    index = not (isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1)
    csv_path = directory / f"{name}.csv"
    md_path = directory / f"{name}.md"
    atomic_write_text(csv_path, df.to_csv(index=index))
    atomic_write_text(md_path, (caption + "\n\n" if caption else "") + to_markdown(df, floatfmt=floatfmt, index=index))
    log.debug("saved table %s (.csv, .md)", directory / name)
    return csv_path, md_path


def comparison_table(
    reproduced: Mapping[str, Any],
    published: Mapping[str, Any],
    *,
    stand_in: bool = False,
) -> pd.DataFrame:
    """Published beside reproduced numbers: columns ``metric``, ``published``, ``reproduced``, ``delta``.

    ``delta`` = reproduced − published. Both mappings must use the same units (the caller converts,
    e.g. fractions to percent). A published entry may be a number or a mapping with ``value`` and
    optionally ``source``; if any has a source, a ``source`` column is added. Rows follow the order of
    ``published``, then metrics only reproduced; a side that lacks a metric is ``NaN``. Results on a
    stand-in dataset are never put beside a paper's number: ``stand_in=True`` raises ``ValueError``.
    """
    if stand_in:
        raise ValueError(
            "comparison_table: these results come from a stand-in dataset and must not be compared with "
            "published numbers; report them without the published column"
        )
    metrics = list(published) + [k for k in reproduced if k not in published]
    records = []
    any_source = False
    for m in metrics:
        pub = published.get(m)
        source = None
        if isinstance(pub, Mapping):
            if "value" not in pub:
                raise KeyError(f"comparison_table: published entry {m!r} = {pub!r} has no 'value'")
            source = pub.get("source")
            pub = pub["value"]
        any_source = any_source or source is not None
        p = float(pub) if pub is not None else math.nan
        r_raw = reproduced.get(m)
        r = float(r_raw) if r_raw is not None else math.nan
        records.append({"metric": m, "published": p, "reproduced": r, "delta": r - p, "source": source})
    df = pd.DataFrame(records, columns=["metric", "published", "reproduced", "delta", "source"])
    if not any_source:
        df = df.drop(columns="source")
    return df
