"""Committed notebooks carry no outputs or execution counts, and each has what the pipeline needs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_stripped(path: Path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert not cell.get("outputs"), f"{path.name} cell {i} has outputs: run `make strip`"
        assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_and_profiles(path: Path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    for profile in ("smoke", "paper"):
        params = ROOT / "params" / path.stem / f"{profile}.yaml"
        assert params.is_file(), f"missing {params.relative_to(ROOT)}"
        assert isinstance(yaml.safe_load(params.read_text()), dict)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_names_a_profile(path: Path):
    """The parameters cell names an existing profile (which fills what it does not set), `snnkit_run = None`,
    and assigns nothing but schema keys (overrides)."""
    import ast

    from snnkit import config

    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", []))
    values = {}
    for node in ast.parse(cell.source).body:
        assert isinstance(node, ast.Assign), f"{path.name}: parameters cell may hold only assignments"
        values[node.targets[0].id] = ast.literal_eval(node.value)
    assert values.pop("snnkit_run") is None
    assert values.pop("profile") in config.profiles(path.stem, ROOT / "params")
    assert set(values) <= set(config.get_schema(path.stem).fields)


def test_nbstripout_has_nothing_to_strip():
    """`make strip` (nbstripout) is the way outputs and metadata are removed; committed notebooks are its fixpoint."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "nbstripout", "--verify", *map(str, NOTEBOOKS)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"run `make strip` and commit: {proc.stdout}{proc.stderr}"
