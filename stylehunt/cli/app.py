"""The ``stylehunt`` click group: global options only. Commands attach themselves in their modules."""

from __future__ import annotations

import logging
import os
import sys
import warnings

import click

from .. import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stylehunt")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Training-free style presets for Diffusion Transformers (SD3, SD3.5, FLUX.1, Chroma, Z-Image,
    Qwen-Image, FLUX.2, Wan video) and the SDXL / SD 1.x U-Nets."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    ctx = click.get_current_context()
    ctx.obj = {"verbose": verbose}
    if not verbose:
        _quiet_third_parties(ctx)


#: Libraries whose warnings and log lines a user did not ask for (deprecations inside diffusers, its
#: "Guiders are experimental", a pipeline's note on an argument stylehunt passes, huggingface_hub's
#: retries): shown with -v. stylehunt's own warnings and progress always show.
THIRD_PARTIES = ("diffusers", "transformers", "huggingface_hub", "accelerate", "torch", "open_clip", "timm",
                 "datasets", "httpx", "httpx2", "urllib3", "PIL")


def _quiet_third_parties(ctx: click.Context) -> None:
    """Third-party warnings and log lines below errors off for this command; put back when it ends.

    Set before those libraries are imported (their verbosity variables are read at import) and
    after (their loggers' levels), so the same holds when a command runs inside a process that
    imported them already (a test, a notebook).
    """
    for variable, value in (("DIFFUSERS_VERBOSITY", "error"), ("TRANSFORMERS_VERBOSITY", "error"),
                            ("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")):
        os.environ.setdefault(variable, value)
    loggers = [logging.getLogger(name) for name in THIRD_PARTIES]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)

    def restore() -> None:
        for logger, old in zip(loggers, levels):
            logger.setLevel(old)

    ctx.call_on_close(restore)
    ctx.with_resource(warnings.catch_warnings())
    warnings.filterwarnings("ignore", module=rf"({'|'.join(THIRD_PARTIES)})(\.|$)")


def quiet_model_loading() -> None:
    """Silence diffusers'/transformers' loading bars (noise for a one-line command) unless ``-v`` was given.

    Called by the commands that load or build a model (a tiny one is built on first use), before
    they do: importing diffusers and
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
    from huggingface_hub.utils import disable_progress_bars

    dlog.disable_progress_bar()
    tlog.disable_progress_bar()  # also the "Writing model shards" bar of building a tiny model
    disable_progress_bars()
    # Import-time notices of optional quantization backends that diffusers imports while loading any
    # model (torchao 0.18 under torch 2.14: pytree deprecations and diffusers' "Unable to import
    # `torchao` Tensor objects"): about those libraries, not the user's command
    logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
    logging.getLogger("diffusers.quantizers").setLevel(logging.ERROR)
