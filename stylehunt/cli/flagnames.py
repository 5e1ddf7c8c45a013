"""Which flag a library parameter is, per command: the data the error boundary (`stylehunt.cli.main`) uses
so a library error leaving a command names the command's flag (``--per-round``), not the Python
parameter (``per_round``).
"""

from __future__ import annotations

import re

import click

from ..errors import PresetFileError, StylehuntError

#: The click command attribute holding the aliases `library_params` declares.
_ATTR = "stylehunt_library_params"

#: A library parameter as library messages quote it: ```per_round```.
_QUOTED = re.compile(r"`([a-z_]+)`")


def library_params(**flags: str):
    """Declare that library errors leaving this command name its flags: library parameter -> flag
    (``per_round="--per-round"``, ``height="--resolution"``). Put it above ``@cli.command()``.

    Declared, not derived from the options' names: an objective's own ``model`` or ``scale`` option,
    quoted in its errors, is not the command's ``--model`` or ``--scale``. Each flag must be one of
    the command's options (tests/test_cli_errors.py checks it).
    """
    def mark(command: click.Command) -> click.Command:
        setattr(command, _ATTR, dict(flags))
        return command
    return mark


def flag_map(command: click.Command | None) -> dict[str, str]:
    """Library parameter -> flag for ``command``; empty unless it declared `library_params`."""
    return dict(getattr(command, _ATTR, None) or {})


def named_by_flag(error: StylehuntError, flags: dict[str, str]) -> tuple[str, str | None]:
    """``(message, hint)`` of ``error`` as a user of a command with these ``flags`` reads them.

    The error's ``param`` is named by its flag: in the message when the message quotes it, else before
    it (``--out: run folder ... exists``). Other parameters the message or hint quote (```rounds``` x
    ```per_round```) become their flags too; the hint is ``cli_hint`` when the library gave one.
    A preset file's field (`PresetFileError`) is about the file, not an option: left as it is.
    """
    def flag(m: re.Match) -> str:
        return flags.get(m.group(1), m.group(0))

    message, hint = str(error), error.cli_hint or error.hint
    if not flags:
        return message, hint
    message = _QUOTED.sub(flag, message)
    hint = _QUOTED.sub(flag, hint) if hint else hint
    own = None if isinstance(error, PresetFileError) else flags.get(error.param or "")
    if own and own not in message:
        message = f"{own}: {message}"
    return message, hint
