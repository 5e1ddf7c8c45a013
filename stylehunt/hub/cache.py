"""huggingface_hub's cache as stylehunt uses it: where a repo's files live, and undoing a failed load."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Iterator

from .connection import cache_dir

__all__ = ["repo_folder", "is_under", "cache_transaction"]

logger = logging.getLogger(__name__)


def repo_folder(repo_id: str, repo_type: str = "model") -> Path:
    """The cache folder of a repo: ``<cache>/models--owner--name``."""
    return cache_dir() / f"{repo_type}s--{repo_id.replace('/', '--')}"


def is_under(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies inside ``folder`` (lexically: symlinks are not followed)."""
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


@contextlib.contextmanager
def cache_transaction(repo_id: str, repo_type: str = "model") -> Iterator[None]:
    """Undo what a failed operation added to huggingface_hub's cache for ``repo_id``.

    On an exception, files and folders created under the repo's cache folder are removed and
    ``refs/*`` are restored; files that were there before (even a corrupted one) are left alone.
    """
    root = cache_dir()
    folder = repo_folder(repo_id, repo_type)
    locks = root / ".locks" / folder.name
    before = _listing(folder)
    refs = {p: p.read_bytes() for p in before if p.relative_to(folder).parts[0] == "refs" and p.is_file()}
    existed = {p: p.exists() for p in (root, root / ".locks", locks, root / "CACHEDIR.TAG")}
    try:
        yield
    except BaseException:
        if not root.is_dir():  # HF_HOME is a file (or gone): nothing could be created under it
            raise
        try:
            for p in sorted(_listing(folder) - before, key=lambda q: len(q.parts), reverse=True):
                if p.is_symlink() or p.is_file():
                    p.unlink(missing_ok=True)
            for p, content in refs.items():
                if not p.exists() or p.read_bytes() != content:
                    p.write_bytes(content)
            for d in sorted(_dirs(folder), key=lambda q: len(q.parts), reverse=True):
                if d not in before and not any(d.iterdir()):
                    d.rmdir()
            if folder.exists() and not before and not any(folder.iterdir()):
                folder.rmdir()
            if not existed[locks] and locks.is_dir():  # lock files of this repo's downloads only
                for lock in locks.glob("*.lock"):
                    lock.unlink(missing_ok=True)
            if not existed[root / "CACHEDIR.TAG"]:
                (root / "CACHEDIR.TAG").unlink(missing_ok=True)
            for d in (locks, root / ".locks", root):  # folders this call created, if now empty
                if not existed[d] and d.is_dir() and not any(d.iterdir()):
                    d.rmdir()
        except OSError as cleanup_error:  # never hide the real error
            logger.warning("could not undo cache changes for %s: %s", repo_id, cleanup_error)
        raise


def _listing(folder: Path) -> set[Path]:
    if not folder.exists():
        return set()
    out = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in filenames:
            out.add(Path(dirpath) / name)
        for name in dirnames:
            out.add(Path(dirpath) / name)
    return out


def _dirs(folder: Path) -> list[Path]:
    if not folder.exists():
        return []
    return [Path(dp) / d for dp, dns, _ in os.walk(folder) for d in dns if not (Path(dp) / d).is_symlink()]
