"""Every ``>>>`` example in the package and in docs/*.md runs, so documentation cannot drift from code.

They run here (not with --doctest-modules) so that the autouse fixtures in conftest.py isolate
them like every other test: caches in tmp_path, loopback-only network.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import stylehunt

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(stylehunt.__path__, prefix="stylehunt.")
    if info.name != "stylehunt.__main__"
)
DOCS = sorted(p.name for p in (ROOT / "docs").glob("*.md") if ">>>" in p.read_text())
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", MODULES)
def test_module_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


@pytest.mark.parametrize("name", DOCS)
def test_docs_examples(name):
    result = doctest.testfile(str(ROOT / "docs" / name), module_relative=False, optionflags=FLAGS, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in docs/{name}"


def test_the_examples_exist():
    """Guard against the collection silently finding nothing."""
    assert "stylehunt.engine" in MODULES and "stylehunt.registry" in MODULES
    assert "presets.md" in DOCS
