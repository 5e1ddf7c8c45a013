"""The run folder on disk: which folder a search may write to (`check_run_folder`), and one search
at a time in it (`RunLock`). Every file in it is written by `stylehunt.files.atomic_write_bytes`.
Imports no torch.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import stat
from pathlib import Path
from typing import Any, Iterator

from ..errors import SearchConfigError
from ..files import read_regular_file
from ..registry.fileformat import FILENAME as PRESET_FILE
from .outputs import CURVE_FILE, GRID_FILE, SCORES_FILE
from .command import COMMAND_FILE
from .store import STATE_FILE

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_FILE", "RUN_FILES", "check_run_folder", "lock_holder", "remove_stale_temps", "RunLock", "discarded_unless_started"]

logger = logging.getLogger(__name__)

#: The lock file of a run folder: locked with ``flock`` while a search runs; holds the holder's pid.
LOCK_FILE = ".lock"
#: Every file a search writes into its run folder (besides `LOCK_FILE`).
RUN_FILES = (COMMAND_FILE, STATE_FILE, SCORES_FILE, CURVE_FILE, GRID_FILE, PRESET_FILE)

# The temporary siblings atomic_write_bytes makes: ".<name>.<random>.tmp".
_TEMP = re.compile(r"\.(?:%s)\.[^/]+\.tmp" % "|".join(re.escape(n) for n in RUN_FILES))
_LISTED = 5  # foreign entries named in a refusal


def _is_leftover(name: str) -> bool:
    """The lock file or a temporary file of a killed write: stylehunt's, and nothing to keep."""
    return name == LOCK_FILE or _TEMP.fullmatch(name) is not None


def check_run_folder(folder: Path, *, resume: bool) -> None:
    """Refuse a run folder the search must not write to; reads only, creates nothing.

    A new run needs ``folder`` to be absent or empty; ``resume`` needs a folder that holds a run
    (``state.json`` or the CLI's ``command.json``). The errors carry ``param="out"``.

    A run folder is precious twice over: it holds hours of scores, and it is a path the user typed,
    which may name a folder of their own. So a new run takes only a folder that does not exist yet or is
    empty (stylehunt's own leftovers of a killed run, the lock file and temporary files, count as
    empty). A folder that holds a run is resumed, never restarted over; a folder that holds anything
    else may be the user's, and is never written to.
    """
    if os.path.lexists(folder) and not folder.is_dir():
        raise SearchConfigError(f"run folder {folder} exists and is not a folder", hint="choose another `out`", param="out")
    if folder.is_dir():
        _check_leftovers(folder)
    if resume:
        if not folder.is_dir():
            raise SearchConfigError(f"nothing to resume: run folder {folder} does not exist",
                                    hint="check the path, or start a new run there (resume=False)",
                                    cli_hint="check the path, or start a run with --out")
        if not any(os.path.lexists(folder / name) for name in (STATE_FILE, COMMAND_FILE)):
            raise SearchConfigError(f"nothing to resume in {folder}: no {COMMAND_FILE} and no {STATE_FILE}",
                                    hint="start a new run there instead (resume=False)",
                                    cli_hint="start the run with --out instead")
        return
    if not folder.is_dir():
        return
    entries = sorted(os.listdir(folder))
    held = [name for name in (STATE_FILE, COMMAND_FILE) if name in entries]
    if held:
        raise SearchConfigError(
            f"run folder {folder} already holds a search ({', '.join(held)})",
            hint="resume it (resume=True), or choose another `out`",
            cli_hint=f"resume it with --resume {folder}, or choose another --out",
            param="out",
        )
    foreign = [name for name in entries if not _is_leftover(name)]
    if foreign:
        listing = ", ".join(foreign[:_LISTED]) + (f" and {len(foreign) - _LISTED} more" if len(foreign) > _LISTED else "")
        raise SearchConfigError(
            f"run folder {folder} is not empty and holds no stylehunt run ({listing}); "
            "a search would overwrite files there, so it is not used",
            hint="give a new or empty folder as `out` (or resume a folder that holds a run: resume=True)",
            cli_hint="give a new or empty folder as --out (or --resume a folder that holds a run)",
            param="out",
        )


def _check_leftovers(folder: Path) -> None:
    """The lock and temporary files must be what stylehunt makes (regular files of one name): a link or a
    folder in their place is refused here, before the model loads, not by the lock or the write after it."""
    for name in sorted(os.listdir(folder)):
        if not _is_leftover(name):
            continue
        path = folder / name
        info = os.lstat(path)
        if stat.S_ISDIR(info.st_mode):
            what = "a folder"
        elif stat.S_ISLNK(info.st_mode):
            what = "a symbolic link"
        elif not stat.S_ISREG(info.st_mode):
            what = "not a regular file"
        elif name == LOCK_FILE and info.st_nlink != 1:
            what = f"a file with {info.st_nlink} names (hard links)"
        else:
            continue
        kind = "lock file" if name == LOCK_FILE else "temporary file"
        raise SearchConfigError(
            f"{path} is {what}, where stylehunt keeps its {kind} (a regular file of its own); it is not used",
            hint=f"remove {path} (no search is using it), or choose another run folder")


def remove_stale_temps(folder: Path) -> None:
    """Delete the temporary files of writes killed before their rename; call only with the lock held."""
    for name in os.listdir(folder):
        if _TEMP.fullmatch(name):
            (folder / name).unlink(missing_ok=True)


def _busy(folder: Path, pid: str) -> SearchConfigError:
    return SearchConfigError(
        f"run folder {folder} is in use by another search (pid {pid}); two searches writing one folder would corrupt it",
        hint=f"wait for that search to end, or stop it (kill {pid})" if pid.isdigit() else
        "wait for the other search on this folder to end, or stop it",
    )


def _holder_pid(path: Path) -> str:
    try:
        text = read_regular_file(path, max_bytes=64).decode("ascii", "replace").strip()
    except Exception:  # noqa: BLE001 - the pid is a courtesy; the lock itself is what counts
        return "unknown"
    return text if text.isdigit() else "unknown"


def _open_lock_file(path: Path, *, create: bool) -> int:
    """An fd on the lock file; a symlink, a non-regular file or a file with other names (hard links) is refused."""
    flags = os.O_RDWR | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags | (os.O_CREAT if create else 0), 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise SearchConfigError(f"{path} is a symbolic link; stylehunt never writes through links",
                                    hint=f"remove {path} (no search is using it)") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        what = "not a regular file" if not stat.S_ISREG(info.st_mode) else f"a file with {info.st_nlink} names (hard links)"
        raise SearchConfigError(f"{path} is {what}; stylehunt writes its lock file only as a file of its own",
                                hint=f"remove {path} (no search is using it)")
    return fd


def _still_named(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (a holder's release unlinks it)."""
    try:
        here, there = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def lock_holder(folder: Path) -> str | None:
    """The pid (as text, ``"unknown"`` if unreadable) of the search holding ``folder``'s lock, else ``None``.

    Creates nothing: without a ``.lock`` file no search holds the folder. For an early refusal; the
    search itself takes the lock with `RunLock`.
    """
    path = folder / LOCK_FILE
    if fcntl is None or not os.path.lexists(path):
        return None
    try:
        fd = _open_lock_file(path, create=False)
    except (OSError, SearchConfigError):
        return None  # RunLock reports what is wrong with it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return _holder_pid(path)
        return None
    finally:
        os.close(fd)  # closing drops the probe's shared lock
    return None


class RunLock:
    """An exclusive lock on a run folder for the life of a search (``with RunLock(folder): ...``).

    Creates the folder and its ``.lock``, locks it with ``flock(LOCK_EX | LOCK_NB)`` and writes
    this process's pid into it; a folder locked by another process is refused at once
    (`stylehunt.errors.SearchConfigError` naming the holder's pid). Leaving the block
    deletes ``.lock`` and unlocks it, and removes the folder again if it made it and nothing was
    written (a run that failed before its first save leaves nothing); a killed process's lock is
    dropped by the kernel.

    The kernel drops the ``flock`` when its process ends, however it ends (even ``kill -9``), so a
    stale ``.lock`` never blocks a later run. Only the main process of a distributed run locks; the
    others never write. Without ``fcntl`` (Windows) there is no lock: nothing stops two searches on
    one folder there.
    """

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None
        self._made = False

    def __enter__(self) -> "RunLock":
        self._made = not os.path.lexists(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        if fcntl is None:  # pragma: no cover - Windows
            logger.info("no fcntl on this system: %s is not locked against a second search", self.folder)
            return self
        for _ in range(100):  # a holder releasing meanwhile unlinks the file: lock the new one
            fd = _open_lock_file(self.path, create=True)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise _busy(self.folder, _holder_pid(self.path)) from None
                logger.warning("cannot lock %s (%s): make sure no other search uses this folder", self.path,
                               e.strerror or e)
                return self  # a file system without flock: run unlocked, as on Windows
            if _still_named(fd, self.path):
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode("ascii"))
                self._fd = fd
                return self
            os.close(fd)
        raise SearchConfigError(f"could not lock {self.path}: it keeps being replaced",
                                hint="make sure no other program is using the run folder")

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            try:
                if _still_named(self._fd, self.path):
                    self.path.unlink()  # before unlocking: a waiter then finds no file, or a new one
            except OSError:
                pass
            finally:
                os.close(self._fd)
                self._fd = None
        if self._made:
            with contextlib.suppress(OSError):  # not empty: the run wrote something, keep it
                self.folder.rmdir()


@contextlib.contextmanager
def discarded_unless_started(folder: Path) -> Iterator[None]:
    """A new run that fails before its first unit of work is saved leaves no run behind.

    Its ``command.json`` and ``state.json`` would only block the corrected command ("already holds a
    search", or "cannot resume ... the run used ..."): they hold no work, so they are removed when the
    block raises (any exception, Ctrl-C included) and ``state.json`` records no finished unit. A run
    with a finished unit is kept for ``--resume``. Inside `RunLock`, which then removes the
    folder too if it made it.
    """
    try:
        yield
    except BaseException:
        try:
            from .store import read_state

            state = read_state(folder)
            started = state is not None and any(phase["units"] for phase in state["phases"].values())
        except (SearchConfigError, OSError):
            started = True  # unreadable: keep it, never delete what cannot be checked
        if not started:
            for name in (STATE_FILE, COMMAND_FILE):
                with contextlib.suppress(OSError):
                    (folder / name).unlink()
        raise
