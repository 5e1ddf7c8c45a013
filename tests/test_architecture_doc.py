"""docs/architecture.md's module tree against the source: every module it names exists, every module is named."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
PACKAGE = ROOT / "stylehunt"

# A tree line starts with its names: ``name.py`` or ``name/``, several joined by ", " (a line may end on
# "," and go on below). Its description follows after two or more spaces. A line whose first word is
# neither (a description carried over to the next line) names nothing.
_NAMES = re.compile(r"^(?P<indent> *)(?P<names>[\w.]+(?:\.py|/)(?:, *[\w.]+(?:\.py|/))*,?)(?: {2,}|$)")


def named_in_tree(text: str) -> list[str]:
    """Paths (``stylehunt/engine/heads.py``, ``stylehunt/engine/``) the first code block's tree names.

    A folder holds the lines indented below it; only the ``stylehunt/`` subtree is read.
    """
    block = text.split("```", 2)[1]
    stack: list[tuple[int, str]] = []  # (indent, folder)
    out = []
    for line in block.splitlines():
        match = _NAMES.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        names = [n.strip() for n in match["names"].split(",") if n.strip()]
        prefix = "".join(folder for _, folder in stack)
        if (prefix + names[0]).startswith("stylehunt/"):  # presets/, registry/, tests/: outside the package
            out += [prefix + n for n in names]
        # a continuation line ("chroma.py, zimage.py,") sits deeper than its folder but is not a folder
        if names[-1].endswith("/"):
            stack.append((indent, names[-1]))
    return out


NAMED = named_in_tree(DOC.read_text(encoding="utf-8"))
MODULES = sorted(p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py"))


def test_every_module_the_tree_names_exists():
    missing = [n for n in NAMED if not (ROOT / n).exists()]
    assert not missing, f"docs/architecture.md names {missing}, which do not exist: remove or rename them there"


def test_every_module_is_named_in_the_tree():
    named = set(NAMED)
    # a package's __init__.py is named by its folder line (``engine/``)
    unnamed = [m for m in MODULES if m not in named and not (m.endswith("/__init__.py") and m[: -len("__init__.py")] in named)]
    hints = []
    for m in unnamed:
        folder, _, file = m.rpartition("/")
        parent, _, name = folder.rpartition("/")
        if file == "__init__.py":  # a new package: its folder line names it
            name, file, folder = name + "/", name + "/", parent
        hints.append(
            f"{m}: add a line '{file}   <what it owns>' to docs/architecture.md's tree, indented under "
            f"'{folder.rpartition('/')[2]}/' (or add '{file}' to a comma-separated name list there)"
        )
    assert not unnamed, "modules missing from docs/architecture.md:\n" + "\n".join(hints)


def test_the_reader_on_a_small_tree():
    text = "```\nstylehunt/\n  a.py, b/   x\n    c.py  y\n      carried over\n  d.py\ntests/\n  e.py\n```"
    assert named_in_tree(text) == ["stylehunt/", "stylehunt/a.py", "stylehunt/b/", "stylehunt/b/c.py", "stylehunt/d.py"]


def test_the_tree_is_read():
    """Guard the reader: it sees the nested families folder and the continuation lines of names."""
    assert "stylehunt/engine/families/spec.py" in NAMED
    assert "stylehunt/engine/families/zimage.py" in NAMED
    assert "stylehunt/cli/params.py" in NAMED
    assert not any(n.startswith(("presets/", "tests/", "stylehunt/tests")) for n in NAMED)
