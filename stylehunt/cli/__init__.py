"""The ``stylehunt`` command line: thin click commands over the library.

One error boundary (:func:`main`): a :class:`~stylehunt.errors.StylehuntError` (or a click usage
error) prints one line plus a hint on stderr and exits 1; set ``STYLEHUNT_DEBUG=1`` for the
traceback. Results go to stdout, messages to stderr. Library modules never import this package.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from .. import __version__
from ..errors import StylehuntError

DEBUG_ENV = "STYLEHUNT_DEBUG"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stylehunt")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Training-free style presets for Diffusion Transformers (SD3, SD3.5, FLUX.1)."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if verbose == 0:  # loading bars of diffusers/transformers are noise for a one-line command
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        try:
            import diffusers.utils.logging as dlog
            import transformers.utils.logging as tlog

            dlog.disable_progress_bar()
            tlog.disable_progress_bar()
        except ImportError:  # pragma: no cover
            pass


def _register_commands() -> None:
    # Each module adds its commands to `cli`; kept in separate files so they can grow apart.
    from . import engine_cmds  # noqa: F401

    for optional in ("registry_cmds", "search_cmds"):
        try:
            __import__(f"{__name__}.{optional}")
        except ModuleNotFoundError as e:  # pragma: no cover - module not written yet
            if e.name != f"{__name__}.{optional}":
                raise


_register_commands()


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
