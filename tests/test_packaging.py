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


def test_project_urls_are_absolute_and_each_is_an_address_the_project_names():
    """A package index shows [project.urls] beside the README: every one must open, so none is invented."""
    from stylehunt.registry.index import DEFAULT_INDEX_REPO

    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")  # (tomllib is 3.11+; the table is flat)
    table = pyproject.split("\n[project.urls]\n", 1)[1].split("\n[", 1)[0]
    urls = dict(re.findall(r'^"([^"]+)" = "([^"]+)"$', table, flags=re.M))
    assert urls and all(url.startswith("https://") for url in urls.values())
    papers = set(re.findall(r"arXiv (\d{4}\.\d{5})", README))
    assert papers and {f"https://arxiv.org/abs/{p}" for p in papers} <= set(urls.values())
    assert urls["Preset registry"] == f"https://huggingface.co/{DEFAULT_INDEX_REPO}"
    named = papers | {DEFAULT_INDEX_REPO}
    assert all(any(n in url for n in named) for url in urls.values()), "a URL the project names nowhere"
    # and the README links them as absolute links, which work on a package index page
    assert {f"https://arxiv.org/abs/{p}" for p in papers} <= set(re.findall(r"\]\(([^)]+)\)", README))
