"""The ``stylehunt`` click group: global options only. Commands attach themselves in their modules."""

from __future__ import annotations

import logging
import os
import sys

import click

from .. import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stylehunt")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Training-free style presets for Diffusion Transformers (SD3, SD3.5, FLUX.1, Chroma, Z-Image,
    Qwen-Image, FLUX.2, Wan video)."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if verbose == 0:
        # Import-time notices of optional quantization backends that diffusers imports with any model
        # class (torchao 0.18 under torch 2.14: pytree deprecations and diffusers' "Unable to import
        # `torchao` Tensor objects"): about those libraries, not the user's command. Naming a logger
        # imports nothing.
        logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
        logging.getLogger("diffusers.quantizers").setLevel(logging.ERROR)
    click.get_current_context().obj = {"verbose": verbose}


def quiet_model_loading() -> None:
    """Silence diffusers'/transformers' loading bars (noise for a one-line command) unless ``-v`` was given.

    Called by the commands that load a model, just before they do: importing diffusers and
    transformers costs seconds, so commands that never load one (``list``, ``show``, ``--help``)
    must not pay for it here.
    """
    ctx = click.get_current_context(silent=True)
    verbose = ((ctx.find_root().obj if ctx else None) or {}).get("verbose", 0)
    if verbose:
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    dlog.disable_progress_bar()
    tlog.disable_progress_bar()
