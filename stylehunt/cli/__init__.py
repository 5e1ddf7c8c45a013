"""The ``stylehunt`` command line: thin click commands over the library, and `main`, its one error boundary.

Text of outside origin goes through `terminal.printable`; results go to stdout, messages to stderr.
Library modules never import this package.
"""

from __future__ import annotations

import errno
import io
import os
import sys

import click

from ..errors import HubOfflineError, StylehuntError
from .flagnames import flag_map, named_by_flag
from .terminal import printable

DEBUG_ENV = "STYLEHUNT_DEBUG"

#: Exit status after Ctrl-C: 128 + SIGINT, as a shell reports a program the signal ended.
EXIT_INTERRUPTED = 130

# The group, then each command module attaches its commands to it (kept apart so they can grow apart).
from .app import cli  # noqa: E402
from . import engine_cmds, index_cmds, registry_cmds, search_cmds, studio_cmds  # noqa: E402,F401

_DEBUG_HINT = f"set {DEBUG_ENV}=1 for the traceback"

#: errno -> what to do about it ({path} is filled in).
_OS_FIXES = {
    errno.EACCES: "check the permissions of {path}, or choose a location you can write to",
    errno.EPERM: "check the permissions of {path}, or choose a location you can write to",
    errno.EROFS: "{path} is on a read-only file system; choose a location you can write to",
    errno.ENOSPC: "free some disk space where {path} lives, or choose another location",
    errno.EDQUOT: "free some of your disk quota, or choose another location for {path}",
    errno.ENOENT: "check that {path} exists",
    errno.ENOTDIR: "a part of {path} is a file, not a folder; choose another location",
    errno.EISDIR: "{path} is a folder; give a file name",
    errno.EEXIST: "{path} is in the way; move it or choose another name",
    errno.ENAMETOOLONG: "use a shorter path",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) and run again",
    errno.ENFILE: "too many open files on this system: close some programs and run again",
}

#: When the Hub was needed and could not be used: what else fits the command, after the hub's own fix.
_OFFLINE_MORE = {
    "list": "`stylehunt list` without --refresh lists the index in use (the bundled one, or the last refresh)",
    "show": "a preset pulled once (`stylehunt pull REF` while online) is read offline after that",
    "generate": "a preset pulled once (`stylehunt pull REF` while online) is read offline after that",
}

#: Libraries whose exceptions mean "the network failed" (huggingface_hub talks through them).
_NETWORK_MODULES = ("httpx", "httpcore", "requests", "urllib3", "socket", "ssl")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point with the single error boundary; returns the exit status.

    Every failure becomes a short message on stderr, never a traceback (``STYLEHUNT_DEBUG=1`` shows one):

    * a usage error (a bad flag value, a missing option): click's usage line and the error naming the
      flag; exit 2;
    * a `stylehunt.errors.StylehuntError`: one ``Error:`` line and one ``Hint:`` line; exit 1; in a command
      that declares `flagnames.library_params`, the library parameters they name become its flags;
    * the user's environment (``OSError``: permissions, a full or read-only disk, a file where a folder
      should be; the network; memory): one line naming the path or the cause, and a fix; exit 1;
    * anything else is a bug in stylehunt: one line saying so, and how to report it; exit 1;
    * Ctrl-C: ``Aborted.``, exit 130 (128 + SIGINT, what shells report for an interrupted program);
      a closed stdout (``stylehunt list | head -1``): nothing more, exit 1.
    """
    try:
        status = cli.main(args=argv, prog_name="stylehunt", standalone_mode=False)
    except click.exceptions.Abort as e:  # Ctrl-C inside a command (click converts it), or a declined prompt
        click.echo("Aborted.", err=True)
        return EXIT_INTERRUPTED if isinstance(e.__cause__ or e.__context__, KeyboardInterrupt) else 1
    except KeyboardInterrupt:
        click.echo("\nAborted.", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as e:
        buffer = io.StringIO()
        e.show(file=buffer)  # usage line, "Try ... for help.", "Error: ..." (or help text)
        sys.stderr.write(printable(buffer.getvalue()))
        return e.exit_code
    except SystemExit as e:  # click's own exit when the reader of stdout went away (`stylehunt list | head -1`)
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    except Exception as e:
        if os.environ.get(DEBUG_ENV):
            raise
        message, hint = describe(e, command=_command(argv))
        click.echo(f"Error: {printable(message, newlines=False)}", err=True)
        click.echo(f"Hint: {printable(hint, newlines=False)}", err=True)
        return 1
    return status if isinstance(status, int) else 0  # an int only from ctx.exit(code); commands return None


def describe(error: Exception, command: str | None = None) -> tuple[str, str]:
    """``(message, hint)`` for an error that reached the boundary (not yet escaped for the terminal).

    ``command`` (``"list"``, ``"show"``, ...) adds what fits it to the hint of an unreachable Hub, and
    names the parameters of a library error by the command's flags (`flagnames.named_by_flag`).
    """
    if isinstance(error, StylehuntError):
        message, hint = named_by_flag(error, flag_map(cli.commands.get(command or "")))
        hint = hint or _DEBUG_HINT
        if isinstance(error, HubOfflineError) and command in _OFFLINE_MORE:
            hint = f"{hint}; {_OFFLINE_MORE[command]}"
        return message, hint
    if _is_network(error):
        return (f"network error: {_first_line(error)}",
                "check your connection, or set HF_HUB_OFFLINE=1 to use only what is already cached")
    if isinstance(error, OSError):
        return _describe_os_error(error)
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":  # torch's is a RuntimeError
        return (f"out of memory: {_first_line(error) or type(error).__name__}",
                "use smaller images, a lower-precision --dtype (bfloat16), or a device with more memory")
    return (f"unexpected {type(error).__name__}: {_first_line(error)}",
            f"this is a bug in stylehunt; please report it with the command you ran and what "
            f"{DEBUG_ENV}=1 prints")


def _command(argv: list[str] | None) -> str | None:
    """The command's name: the first word of the command line that is not an option (``-v list`` -> ``list``)."""
    words = [w for w in (sys.argv[1:] if argv is None else argv) if not w.startswith("-")]
    return words[0] if words else None


def _describe_os_error(error: OSError) -> tuple[str, str]:
    path = error.filename if error.filename is not None else error.filename2
    cause = error.strerror or _first_line(error) or type(error).__name__
    if path is None:
        return cause, "check the files and folders the command uses, and free disk space"
    path = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    fix = _OS_FIXES.get(error.errno, "check {path} and run again").format(path=path)
    setting = _setting_for(path)
    if setting:
        fix += f" (or set {setting} to a folder you can write to)"
    return f"{cause}: {path}", fix


def _setting_for(path: str) -> str | None:
    """The environment variable that chose the cache ``path`` is in, if it is in one."""
    from ..hub import cache_dir, hf_home
    from ..tiny import cache_root

    target = os.path.realpath(path)
    for setting, root in (("STYLEHUNT_CACHE", cache_root()), ("HF_HUB_CACHE", cache_dir()), ("HF_HOME", hf_home())):
        root = os.path.realpath(root)
        if target == root or target.startswith(root + os.sep):
            return setting
    return None


def _is_network(error: BaseException) -> bool:
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    return any(cls.__module__.split(".")[0] in _NETWORK_MODULES for cls in type(error).__mro__ if cls is not object)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
