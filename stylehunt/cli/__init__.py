"""The ``stylehunt`` command line: thin click commands over the library.

One error boundary (:func:`main`): a :class:`~stylehunt.errors.StylehuntError` (or a click usage
error) prints one line plus a hint on stderr and exits 1; set ``STYLEHUNT_DEBUG=1`` for the
traceback. Results go to stdout, messages to stderr. Library modules never import this package.
"""

from __future__ import annotations

import os
import sys

import click

from ..errors import StylehuntError

DEBUG_ENV = "STYLEHUNT_DEBUG"

# The group, then each command module attaches its commands to it (kept apart so they can grow apart).
from .app import cli  # noqa: E402
from . import engine_cmds, registry_cmds, search_cmds  # noqa: E402,F401


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point with the single error boundary."""
    try:
        cli.main(args=argv, prog_name="stylehunt", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except StylehuntError as e:
        if os.environ.get(DEBUG_ENV):
            raise
        click.echo(f"Error: {e}", err=True)
        hint = e.hint or f"set {DEBUG_ENV}=1 for the traceback"
        click.echo(f"Hint: {hint}", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
