"""docs/compatibility.md's matrix is the one tests/compat_matrix.py generates, and every cell names a real test case."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stylehunt.tiny import TINY_FAMILIES
from tests import compat_matrix
from tests.compat_matrix import CELLS, CONFIGURATIONS, FAMILIES, UNTESTED

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "compatibility.md"
BEGIN, END = "<!-- BEGIN GENERATED: python -m tests.compat_matrix -->\n", "<!-- END GENERATED -->"


def test_the_docs_table_is_the_generated_one():
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, f"{DOC.name} lost its GENERATED markers"
    generated = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert generated == compat_matrix.markdown(), (
        f"{DOC.name} is out of date: paste the output of `python -m tests.compat_matrix` between its markers")


def test_every_configuration_has_one_cell_per_family():
    assert FAMILIES == TINY_FAMILIES
    keys = [conf.key for conf in CONFIGURATIONS]
    assert len(set(keys)) == len(keys)
    assert sorted((c.configuration, c.family) for c in CELLS) == sorted((k, f) for k in keys for f in FAMILIES)


@pytest.fixture(scope="module")
def collected() -> set[str]:
    """The node ids pytest collects from the modules the cells name (collecting only: no test runs)."""
    modules = sorted({c.module for c in CELLS if c.test})
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *modules],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return {line.strip() for line in out.stdout.splitlines() if "::" in line}


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_each_cell_names_a_test_case_or_why_not(cell, collected):
    if cell.status == UNTESTED:
        assert not cell.test and cell.note, "an untested cell says why, and names no test"
    else:
        assert cell.node in collected, f"{cell.node} is not collected"
