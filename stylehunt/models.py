"""Loading a pipeline by name: the tiny offline models, a local folder, or a Hub id."""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

from .errors import UnsupportedModelError

__all__ = ["load_pipeline", "DTYPES"]

logger = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16")


def load_pipeline(model: str | os.PathLike[str], *, dtype: str = "float32", device: str | None = None) -> Any:
    """Load a diffusers pipeline from ``tiny-sd3`` / ``tiny-sd3.5`` / ``tiny-flux``, a folder, or a Hub id.

    Hub ids go through ``DiffusionPipeline.from_pretrained`` and so use huggingface_hub's cache,
    token and ``HF_HUB_OFFLINE``. A model that cannot be found raises
    :class:`~stylehunt.errors.UnsupportedModelError` naming it.
    """
    import torch
    from diffusers import DiffusionPipeline

    from .tiny import resolve_tiny_model

    if dtype not in DTYPES:
        raise UnsupportedModelError(f"Expected `dtype` to be one of {DTYPES}, but got {dtype!r}")
    name = os.fspath(model)
    path = resolve_tiny_model(name) or name
    try:
        with warnings.catch_warnings():  # diffusers 0.42 renames torch_dtype; older releases only know it
            warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
            pipe = DiffusionPipeline.from_pretrained(path, torch_dtype=getattr(torch, dtype))
    except (OSError, ValueError) as e:
        raise UnsupportedModelError(
            f"could not load a pipeline from {name!r}: {e}",
            hint="pass a local folder written by save_pretrained, a Hub id available in your cache "
            "(HF_HUB_OFFLINE=1 needs it cached), or tiny-sd3 / tiny-sd3.5 / tiny-flux",
        ) from e
    if path != name:  # a tiny model: its id is the name, not the cache folder it was built into
        pipe.register_to_config(_name_or_path=name)
    if device:
        pipe = pipe.to(device)
    logger.info("loaded %s from %s", type(pipe).__name__, path)
    return pipe


def load_transformer_skeleton(model: str | os.PathLike[str]) -> Any:
    """The model's transformer built on the ``meta`` device from its ``config.json`` alone.

    Enough for :func:`stylehunt.head_grid` (no weights read, no memory); ``model`` is a pipeline
    folder, a Hub id (its ``transformer/config.json`` must be reachable or cached) or a tiny name.
    """
    import torch
    import diffusers

    from .tiny import resolve_tiny_model

    name = os.fspath(model)
    path = resolve_tiny_model(name) or name
    try:
        config = diffusers.SD3Transformer2DModel.load_config(path, subfolder="transformer")
    except (OSError, ValueError) as e:
        raise UnsupportedModelError(
            f"could not read transformer/config.json of {name!r}: {e}",
            hint="pass a local pipeline folder, a cached Hub id, or tiny-sd3 / tiny-sd3.5 / tiny-flux",
        ) from e
    cls_name = config.get("_class_name")
    cls = getattr(diffusers, cls_name or "", None)
    if cls is None:
        raise UnsupportedModelError(f"unknown transformer class {cls_name!r} in {name!r}")
    with torch.device("meta"):
        return cls.from_config(config)
