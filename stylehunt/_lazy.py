"""PEP 562 lazy exports: a package names its public objects without importing the modules behind them.

``import stylehunt`` (and ``import stylehunt.engine``) must stay cheap: the CLI's ``--help``, ``list``
and ``show`` never need torch. A package lists ``{public name: submodule}`` and installs the pair of
functions this module returns as its ``__getattr__`` / ``__dir__``; the submodule is imported on the
first attribute access and the object is cached in the package namespace.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str], namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, resolving ``exports[name]`` (a relative module) on demand."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value  # next access skips __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
