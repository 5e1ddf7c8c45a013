"""Loading a pipeline by name: the tiny offline models, a local folder, or a Hub id.

Also whether a torch device exists here (:func:`check_device`, checked before any weights are
read). The number every image side must be a multiple of is the engine's
(:func:`stylehunt.engine.size_multiple`): it depends on the model family.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any, Collection

from .errors import DeviceError, UnsupportedModelError
from .tiny import TINY_MODEL_NAMES

__all__ = ["load_pipeline", "load_transformer_skeleton", "check_device", "DTYPES"]

logger = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16")

#: The tiny models as hints list them, from the names the loader accepts.
_TINY_MODELS = " / ".join(TINY_MODEL_NAMES)


def check_device(device: str | None) -> str | None:
    """``device`` unchanged if torch can use it on this machine; ``None`` (the CPU) passes.

    Raises :class:`~stylehunt.errors.DeviceError` for a string that is not a torch device, for
    ``meta`` (it holds no data), and for a device this machine lacks (``cuda`` without a GPU or on
    a CPU-only torch build, ``cuda:3`` with two GPUs, ``mps`` off Apple silicon). Called before a
    model is loaded, so a missing GPU costs no loading time.
    """
    if device is None:
        return None
    import torch

    def refuse(reason: str, hint: str | None = None) -> DeviceError:
        return DeviceError(f"device {device!r}: {reason}", device=device, reason=reason, hint=hint)

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise refuse(f"not a torch device ({first})", hint="write cpu, cuda, cuda:N or mps") from None
    if dev.type == "cpu":
        return device
    if dev.type == "meta":
        raise refuse("the meta device holds no data, so nothing can run on it", hint="write cpu, cuda or mps")
    backend = getattr(torch.backends, "mps", None) if dev.type == "mps" else getattr(torch, dev.type, None)
    is_available = getattr(backend, "is_available", None)
    if is_available is None or not is_available():
        raise refuse(
            f"no {dev.type.upper()} device is available (torch.{'backends.' if dev.type == 'mps' else ''}"
            f"{dev.type}.is_available() is False: no such hardware, no driver, or a torch build without it)"
        )
    count = getattr(backend, "device_count", None)
    if dev.index is not None and count is not None and dev.index >= count():
        n = count()
        raise refuse(f"this machine has {n} {dev.type} device{'s' if n != 1 else ''} (indices 0-{n - 1})",
                     hint=f"write {dev.type}:0" + (f" to {dev.type}:{n - 1}" if n > 1 else ""))
    return device


def load_pipeline(model: str | os.PathLike[str], *, dtype: str = "float32", device: str | None = None) -> Any:
    """Load a diffusers pipeline from a tiny model name (:data:`stylehunt.tiny.TINY_MODEL_NAMES`), a folder, or a Hub id.

    Hub ids go through ``DiffusionPipeline.from_pretrained`` and so use huggingface_hub's cache,
    token and ``HF_HUB_OFFLINE``. A model that cannot be found raises
    :class:`~stylehunt.errors.UnsupportedModelError` naming it; a device this machine lacks raises
    :class:`~stylehunt.errors.DeviceError` before anything is read.
    """
    if dtype not in DTYPES:
        raise UnsupportedModelError(f"Expected `dtype` to be one of {DTYPES}, but got {dtype!r}")
    check_device(device)
    from .tiny import resolve_tiny_model

    name = os.fspath(model)
    path = resolve_tiny_model(name) or name  # first: an unwritable cache fails before seconds of imports
    import torch
    from diffusers import DiffusionPipeline

    try:
        with warnings.catch_warnings():  # diffusers 0.42 renames torch_dtype; older releases only know it
            warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
            pipe = DiffusionPipeline.from_pretrained(path, torch_dtype=getattr(torch, dtype))
    except (OSError, ValueError) as e:
        raise UnsupportedModelError(
            f"could not load a pipeline from {name!r}: {e}",
            hint="pass a local folder written by save_pretrained, a Hub id available in your cache "
            f"(HF_HUB_OFFLINE=1 needs it cached), or {_TINY_MODELS}",
        ) from e
    if path != name:  # a tiny model: its id is the name, not the cache folder it was built into
        pipe.register_to_config(_name_or_path=name)
    if device:
        pipe = pipe.to(device)
    logger.info("loaded %s from %s", type(pipe).__name__, path)
    return pipe


#: Where a pipeline keeps its denoiser's config: ``transformer/``, or ``unet/`` for the SDXL and SD U-Nets.
_DENOISER_FOLDERS = ("transformer", "unet")


def _denoiser_config(diffusers: Any, path: str, name: str) -> dict[str, Any]:
    """The denoiser's ``config.json`` from the first of :data:`_DENOISER_FOLDERS` the model has."""
    error: Exception | None = None
    for subfolder in _DENOISER_FOLDERS:
        try:
            return diffusers.SD3Transformer2DModel.load_config(path, subfolder=subfolder)
        except (OSError, ValueError) as e:
            error = error or e  # the transformer/ error names what most models lack
    raise UnsupportedModelError(
        f"could not read transformer/config.json (or unet/config.json) of {name!r}: {error}",
        hint=f"pass a local pipeline folder, a cached Hub id, or {_TINY_MODELS}",
    ) from error


def load_transformer_skeleton(model: str | os.PathLike[str], *, supported: Collection[str] | None = None) -> Any:
    """The model's transformer (or U-Net) built on the ``meta`` device from its ``config.json`` alone.

    Enough for :func:`stylehunt.head_grid` (no weights read, no memory); ``model`` is a pipeline
    folder, a Hub id (its ``transformer/config.json`` must be reachable or cached) or a tiny name.
    ``supported`` names the transformer classes the caller can use (the CLI passes
    ``stylehunt.engine.heads.SUPPORTED_TRANSFORMERS``): a config naming another class is refused
    before anything is built. Without it, any diffusers model class is built; a ``_class_name``
    that is none raises :class:`~stylehunt.errors.UnsupportedModelError`.
    """
    from .tiny import resolve_tiny_model

    name = os.fspath(model)
    path = resolve_tiny_model(name) or name
    import torch
    import diffusers

    config = _denoiser_config(diffusers, path, name)
    cls_name = config.get("_class_name")
    if supported is not None and cls_name not in supported:
        raise UnsupportedModelError(
            f"unsupported transformer class {cls_name!r} in {name!r} (transformer/config.json `_class_name`); "
            f"supported: {', '.join(supported)}",
            hint="stylehunt guides the transformer classes listed (one per model family: stylehunt.engine.adapters()); "
            "check the model name, or its transformer/config.json",
        )
    cls = getattr(diffusers, cls_name, None) if isinstance(cls_name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, diffusers.ModelMixin)):
        raise UnsupportedModelError(
            f"transformer/config.json of {name!r} names {cls_name!r} as `_class_name`, which is not a diffusers model class",
            hint="check the model name, or its transformer/config.json",
        )
    with torch.device("meta"):
        return cls.from_config(config)
