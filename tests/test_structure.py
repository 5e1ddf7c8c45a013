"""The package's shape, checked from its source: rooms, one-way imports, no private reach-ins, module size.

The import graph is read with ``ast`` from every module of ``stylehunt/``, counting imports inside
functions too (a lazy import is still a dependency); imports under ``if TYPE_CHECKING:`` are
annotations only and are left out. The rules are the ones docs/architecture.md states.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "stylehunt"
MAX_LINES = 500
#: A module docstring is a map (what the module is, what it owns, its main names); the reasoning sits
#: beside the code it explains, as ``#`` / ``#:`` comments and function docstrings (design issue #22).
MAX_DOCSTRING_LINES = 8

#: room -> the rooms it may import (besides itself). A room is a top-level module or subpackage of
#: stylehunt; "root" is stylehunt/__init__.py (imported for __version__). "engine.heads" is the
#: engine's torch-free addressing vocabulary, the only part of the engine the registry may use;
#: "engine.families" (torch-free adapter data) is what the model and tiny-model loaders read to refuse
#: a diffusers older than a family needs.
ALLOWED = {
    "root": {"errors", "_lazy"},
    "errors": set(),
    "scalars": set(),
    "_lazy": set(),
    "files": {"errors"},
    "hub": {"errors", "_lazy", "root"},
    "tiny": {"errors", "engine.families"},
    "engine": {"errors", "_lazy", "scalars"},
    "registry": {"errors", "_lazy", "scalars", "files", "hub", "tiny", "engine.heads", "root"},
    "objectives": {"errors", "_lazy", "hub", "root"},
    "prompts": {"errors", "_lazy", "hub", "files"},
    "models": {"errors", "tiny", "hub", "engine.families"},
    "api": {"engine", "registry", "errors"},
    "guider": {"engine", "registry", "errors", "files", "scalars"},
    "headhunter": {"engine", "registry", "objectives", "prompts", "files", "errors", "_lazy", "root"},
    "studio": {"api", "engine", "registry", "headhunter", "models", "tiny", "files", "errors"},
    "cli": None,  # the CLI sits on top of everything
    "__main__": {"cli"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


SOURCES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _runtime_imports(tree: ast.AST):
    """Import nodes outside ``if TYPE_CHECKING:`` blocks, at any depth."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _imports(name: str) -> list[tuple[str, str]]:
    """``(target module, imported name or "")`` for every runtime import of ours in module ``name``."""
    path = SOURCES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, "") for a in node.names if a.name.split(".")[0] == "stylehunt"]
            continue
        if node.level:
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        if target.split(".")[0] != "stylehunt":
            continue
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            out.append((sub, "") if sub in SOURCES else (target, alias.name))
    return out


GRAPH = {name: sorted({t for t, _ in _imports(name) if t in SOURCES and t != name}) for name in SOURCES}


def _room(module: str) -> str:
    parts = module.split(".")
    return "root" if len(parts) == 1 else parts[1]


def test_no_import_cycles():
    """Tarjan's strongly connected components over the module graph: every component is one module."""
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_graph_sees_function_level_imports():
    """Guard the checker itself: the CLI loads models only inside its command functions, and it is seen."""
    source = SOURCES["stylehunt.cli.engine_cmds"].read_text(encoding="utf-8")
    assert "\n    from ..models import" in source and "\nfrom ..models import" not in source
    assert "stylehunt.models" in GRAPH["stylehunt.cli.engine_cmds"]


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_room_imports_run_one_way(name):
    room = _room(name)
    assert room in ALLOWED, f"{name}: room {room!r} is not described in ALLOWED (and docs/architecture.md)"
    allowed = ALLOWED[room]
    if allowed is None:
        return
    bad = []
    for target in GRAPH[name]:
        other = _room(target)
        if other == room:
            continue
        if other in allowed or (other == "engine" and any(
                target.startswith(f"stylehunt.{part}") and part in allowed for part in ("engine.heads", "engine.families"))):
            continue
        bad.append(target)
    assert not bad, f"{name} (room {room!r}) imports {bad}; {room!r} may import only {sorted(allowed)}"


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_no_private_names_from_another_room(name):
    bad = [
        f"{target}.{imported}"
        for target, imported in _imports(name)
        if imported.startswith("_") and not imported.startswith("__") and _room(target) != _room(name)
    ]
    assert not bad, f"{name} imports private names of another room: {bad}; give them a public name where they live"


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_no_module_over_the_size_limit(name):
    lines = len(SOURCES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{SOURCES[name].relative_to(PACKAGE.parent)} has {lines} lines (limit {MAX_LINES}): split it by responsibility"


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_module_docstring_is_a_short_map(name):
    path = SOURCES[name].relative_to(PACKAGE.parent)
    docstring = ast.get_docstring(ast.parse(SOURCES[name].read_text(encoding="utf-8")), clean=False)
    assert docstring, f"{path} has no module docstring: add a few lines saying what the module is and what it owns"
    lines = len(docstring.splitlines())
    assert lines <= MAX_DOCSTRING_LINES, (
        f"{path} has a {lines}-line module docstring (limit {MAX_DOCSTRING_LINES}): keep the docstring a map "
        "(what the module is, what it owns, its main names) and put the reasoning beside the code it explains "
        "(a `#` or `#:` comment, or the function's docstring)"
    )


def test_submodules_do_not_import_their_own_package_init():
    """``from . import x`` must name a submodule: a package __init__ imports its modules, not the reverse."""
    bad = []
    for name, path in SOURCES.items():
        if path.name == "__init__.py":
            continue
        package = name.rpartition(".")[0]
        bad += [f"{name} -> {package}.{n}" for t, n in _imports(name) if t == package and n and package != "stylehunt"]
    assert not bad, f"submodules importing names from their own package __init__: {bad}"


def test_every_package_ships_in_the_wheel():
    """pyproject.toml lists packages explicitly (presets/ and registry/ are mapped in): a new room must be listed."""
    import tomllib

    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    packages = {name for name, path in SOURCES.items() if path.name == "__init__.py"}
    assert packages <= listed, f"packages missing from pyproject.toml [tool.setuptools] packages: {sorted(packages - listed)}"


@pytest.mark.parametrize("package", sorted(n for n, p in SOURCES.items() if p.name == "__init__.py"))
def test_no_public_name_is_also_a_submodule(package):
    """Importing ``pkg.x`` sets the attribute ``pkg.x`` to the module, hiding a function ``pkg.x`` for good."""
    source = SOURCES[package].read_text(encoding="utf-8")
    tree = ast.parse(source)
    public: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) in ("__all__", "_EXPORTS") for t in node.targets):
            value = node.value
            if isinstance(value, ast.Dict):
                public |= {k.value for k in value.keys if isinstance(k, ast.Constant)}
            elif isinstance(value, (ast.List, ast.Tuple)):
                public |= {e.value for e in value.elts if isinstance(e, ast.Constant)}
    submodules = {name.rpartition(".")[2] for name in SOURCES if name.rpartition(".")[0] == package}
    assert not public & submodules, f"{package} exports {sorted(public & submodules)}, which are also its submodules"
