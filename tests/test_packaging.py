"""What a pip user gets: the README renders on PyPI without broken links and names files that ship."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_has_no_relative_links():
    """PyPI resolves a relative link against pypi.org, where it is a 404: the README names files instead."""
    relative = [target for target in re.findall(r"\]\(([^)]+)\)", README) if not re.match(r"[a-z]+://|#", target)]
    assert relative == []


def test_every_doc_the_readme_names_exists_and_ships_in_the_sdist():
    named = set(re.findall(r"`(docs/[\w-]+\.md)`", README))
    assert named and all((ROOT / n).is_file() for n in named)
    assert named == {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}, "the README lists every doc"
    assert "recursive-include docs *.md" in (ROOT / "MANIFEST.in").read_text(encoding="utf-8")


def test_the_wheel_carries_the_license():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = "Apache-2.0"' in pyproject and 'license-files = ["LICENSE"]' in pyproject
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
