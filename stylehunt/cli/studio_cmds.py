"""``stylehunt studio``: serve the local web page (the ``studio`` extra); Gradio is imported only here, when it starts."""

from __future__ import annotations

from pathlib import Path

import click

from .app import cli, quiet_model_loading
from .params import DEVICE_HELP, DTYPE_CHOICE, DTYPE_HELP, device_option
from .terminal import printable


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (127.0.0.1: this machine only; 0.0.0.0 opens it to the network).")
@click.option("--port", type=click.IntRange(0, 65535), default=7860, show_default=True, help="Port (0: any free one).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("outputs/studio"),
              show_default=True, help="Output folder: images, saved presets, previews. The page reads and writes "
              "only here and in --runs.")
@click.option("--runs", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"), show_default=True,
              help="Folder of search run folders (the same folders `stylehunt search --resume` takes).")
@click.option("--model", default=None, help="Load this model before serving (a Hub id, a folder in --out, or "
              "tiny-sd3 ...); the page's Model tab loads others.")
@click.option("--dtype", type=DTYPE_CHOICE, default=None, help=DTYPE_HELP)
@click.option("--device", default=None, callback=device_option, help=DEVICE_HELP)
def studio(host: str, port: int, out: Path, runs: Path, model: str | None, dtype: str | None, device: str | None) -> None:
    """Serve the studio: mix presets, browse heads, run searches and publish, in a browser (pip install 'stylehunt[studio]').

    \b
    stylehunt studio --model tiny-sd3        # then open http://127.0.0.1:7860
    """
    from ..studio import check_available, launch

    check_available()  # before any folder is created
    for flag, folder in (("--out", out), ("--runs", runs)):
        if folder.exists() and not folder.is_dir():
            raise click.BadParameter(f"{printable(str(folder))} is a file, not a folder", param_hint=f"'{flag}'")
    quiet_model_loading()
    click.echo(f"stylehunt studio on http://{host}:{port} (Ctrl-C stops it); folders: {printable(str(out))}, "
               f"{printable(str(runs))}", err=True)
    launch(out=out, runs=runs, host=host, port=port, model=model, device=device, dtype=dtype)
