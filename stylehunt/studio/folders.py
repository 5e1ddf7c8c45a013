"""The two folders the studio may touch (outputs, search runs) and the check every page-sent path goes through."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import StylehuntError

__all__ = ["Folders", "PathOutsideError"]


class PathOutsideError(StylehuntError, ValueError):
    """A path sent by the page leaves the folders the user chose when starting the studio."""


@dataclass(frozen=True)
class Folders:
    """``out`` (images, saved presets, previews, the server's upload cache) and ``runs`` (search run folders).

    Both are resolved once, when the studio starts; the page names files only relative to them.
    """

    out: Path
    runs: Path

    @classmethod
    def create(cls, out: str | os.PathLike[str], runs: str | os.PathLike[str]) -> "Folders":
        made = []
        for folder in (out, runs):
            path = Path(folder).expanduser()
            path.mkdir(parents=True, exist_ok=True)
            made.append(path.resolve())
        return cls(out=made[0], runs=made[1])

    def inside(self, text: str, *, root: str = "out", what: str = "path", exists: bool = False) -> Path:
        """``text`` (relative, from the page) as a path inside the ``root`` folder, or `PathOutsideError`.

        Refused: an empty name, an absolute path or ``~``, a NUL byte, and anything that lands outside
        the folder once ``..`` and symbolic links are resolved (a link inside that points out is
        outside). ``exists`` also asks for the path to be there.
        """
        base = self.out if root == "out" else self.runs
        flag = "--out" if root == "out" else "--runs"
        name = (text or "").strip()
        fix = f"name a file inside the {flag} folder {base} by its relative path (e.g. my-preset.json)"
        if not name:
            raise PathOutsideError(f"the {what} is empty", hint=fix)
        if "\0" in name or os.path.isabs(name) or name.startswith("~") or ":" in name[:3]:
            raise PathOutsideError(f"the {what} {name!r} is not a path relative to the {flag} folder", hint=fix)
        target = (base / name).resolve()  # follows every symbolic link on the way, and '..'
        if target != base and base not in target.parents:
            raise PathOutsideError(f"the {what} {name!r} leads outside the {flag} folder {base}", hint=fix)
        if exists and not target.exists():
            raise PathOutsideError(f"the {what} {name!r} does not exist in the {flag} folder {base}", hint=fix)
        return target

    def existing(self, text: str, *, what: str = "file") -> Path:
        """An existing file or folder named relative to the output folder, else to the runs folder."""
        found = self.inside(text, what=what)
        if found.exists():
            return found
        found = self.inside(text, root="runs", what=what)
        if found.exists():
            return found
        raise PathOutsideError(f"the {what} {text.strip()!r} is in neither the --out folder {self.out} nor the "
                               f"--runs folder {self.runs}", hint="check the name (relative to one of them)")

    def within(self, path: Path) -> bool:
        """Whether ``path`` (already resolved) lies in one of the two folders."""
        path = Path(path).resolve()
        return any(path == base or base in path.parents for base in (self.out, self.runs))
