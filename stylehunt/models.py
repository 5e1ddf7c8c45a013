"""Loading a pipeline by name: the tiny offline models, a local folder, or a Hub id.

Also whether a torch device exists here (`check_device`, checked before any weights are
read), and the device and dtype the CLI runs on when none is given (`choose_device`). The number every image side must be a multiple of is the engine's
(`stylehunt.engine.size_multiple`): it depends on the model family.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any, Collection

from .engine.families import check_diffusers_for_class
from .errors import DeviceError, UnsupportedModelError
from .tiny import TINY_MODEL_LIST

__all__ = [
    "load_pipeline",
    "load_transformer_skeleton",
    "check_config_bounds",
    "check_device",
    "choose_device",
    "DTYPES",
    "MAX_CONFIG_LAYERS",
    "MAX_CONFIG_HEADS",
]

logger = logging.getLogger(__name__)

DTYPES = ("float32", "bfloat16", "float16")

#: The tiny models as hints list them, from the names the loader accepts.


def check_device(device: str | None) -> str | None:
    """``device`` unchanged if torch can use it on this machine; ``None`` (the CPU) passes.

    Raises `stylehunt.errors.DeviceError` for a string that is not a torch device, for
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


def choose_device(device: str | None = None, dtype: str | None = None) -> tuple[str, str]:
    """``(device, dtype)`` for a command that loads a model: what was given, else the best available.

    The device: ``device`` if given (checked by `check_device`), else CUDA, then Apple's MPS,
    then the CPU. The dtype: ``dtype`` if given, else what a user would pick on that device:
    bfloat16 on a GPU that computes in it (Ampere and later; torch.cuda.is_bf16_supported), float16
    on an older GPU and on MPS (bfloat16 there needs macOS 14 and is slower), float32 on the CPU
    (half precision there is slow and, for some ops, missing). The CLI's ``generate``, ``atlas``
    and ``search`` call this; the Python API leaves a pipeline where its user put it.
    """
    import torch

    if device is None:
        mps = getattr(torch.backends, "mps", None)
        if torch.cuda.is_available():
            device = "cuda"
        elif mps is not None and mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    else:
        check_device(device)
    if dtype is None:
        kind = torch.device(device).type
        if kind == "cuda":
            dtype = "bfloat16" if _cuda_computes_bf16(device) else "float16"
        elif kind == "mps":
            dtype = "float16"
        else:
            dtype = "float32"
    elif dtype not in DTYPES:
        raise UnsupportedModelError(f"Expected `dtype` to be one of {DTYPES}, but got {dtype!r}")
    return device, dtype


def _cuda_computes_bf16(device: str) -> bool:
    """Whether the GPU ``device`` has bfloat16 arithmetic (compute capability 8+, or ROCm): not merely emulated."""
    import torch

    if torch.version.hip:
        return True
    return torch.cuda.get_device_capability(torch.device(device))[0] >= 8


def load_pipeline(model: str | os.PathLike[str], *, dtype: str = "float32", device: str | None = None) -> Any:
    """Load a diffusers pipeline from a tiny model name (`stylehunt.tiny.TINY_MODEL_NAMES`), a folder, or a Hub id.

    Hub ids go through ``DiffusionPipeline.from_pretrained`` and so use huggingface_hub's cache,
    token and ``HF_HUB_OFFLINE``. A model that cannot be found raises
    `stylehunt.errors.UnsupportedModelError` naming it; a device this machine lacks raises
    `stylehunt.errors.DeviceError` before anything is read.
    """
    if dtype not in DTYPES:
        raise UnsupportedModelError(f"Expected `dtype` to be one of {DTYPES}, but got {dtype!r}")
    check_device(device)
    from .tiny import resolve_tiny_model

    name = os.fspath(model)
    path = resolve_tiny_model(name) or name  # first: an unwritable cache fails before seconds of imports
    cache_only = _cache_only(path, name, "model_index.json")
    _check_pipeline_class(path)
    import torch
    from diffusers import DiffusionPipeline

    try:
        with warnings.catch_warnings():  # diffusers 0.42 renames torch_dtype; older releases only know it
            warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
            pipe = DiffusionPipeline.from_pretrained(path, torch_dtype=getattr(torch, dtype), **cache_only)
    except RecursionError:  # diffusers' JSON loader recurses once per level of nesting (any component's config)
        raise config_too_deep(name, "model_index.json or a component's config file") from None
    except (OSError, ValueError) as e:
        raise UnsupportedModelError(
            f"could not load a pipeline from {name!r}: {_first_line(e)}",
            hint="pass a local folder written by save_pretrained, a Hub id available in your cache "
            f"(HF_HUB_OFFLINE=1 needs it cached), or {TINY_MODEL_LIST}",
        ) from e
    if path != name:  # a tiny model: its id is the name, not the cache folder it was built into
        pipe.register_to_config(_name_or_path=name)
    if device:
        pipe = pipe.to(device)
    logger.info("loaded %s from %s", type(pipe).__name__, path)
    return pipe


def _check_pipeline_class(path: str) -> None:
    """Refuse a local pipeline folder whose class belongs to a family this diffusers is too old for (a Hub
    id is checked by the CLI from its transformer config, before this)."""
    index = Path(path) / "model_index.json"
    try:
        if index.stat().st_size > 1 << 20:  # not an index diffusers writes: from_pretrained's checks say so
            return
        class_name = json.loads(index.read_text(encoding="utf-8")).get("_class_name")
    except (OSError, ValueError, AttributeError, RecursionError):
        return  # no readable index here: from_pretrained says what is wrong with the folder
    check_diffusers_for_class(class_name)


def _cache_only(path: str, name: str, filename: str) -> dict[str, Any]:
    """``{"local_files_only": True}`` for a Hub id while the Hub is unreachable (no 24 s of retries), else ``{}``.

    A Hub id whose ``filename`` is not cached then is refused at once, before diffusers is imported.
    """
    if os.path.exists(path):
        return {}
    from .hub import cache_dir, is_offline, offline_hint, unreachable

    if is_offline():
        why = "offline mode is on (HF_HUB_OFFLINE)"
    elif reason := unreachable():
        why = f"the Hub is unreachable ({reason})"
    else:
        return {}
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(name, filename, cache_dir=str(cache_dir()))
    except ValueError:  # not a repo id: let the loader say what is wrong with it
        return {"local_files_only": True}
    if not isinstance(cached, str):
        raise UnsupportedModelError(
            f"model {name!r}: its {filename} is not in the local cache and {why}",
            hint=f"{offline_hint()}; or pass a local pipeline folder, or {TINY_MODEL_LIST}",
        )
    return {"local_files_only": True}


def _first_line(e: BaseException) -> str:
    line = (str(e).strip().splitlines() or [type(e).__name__])[0]
    # diffusers points at "the root cause in the stacktrace above", which a stylehunt user never sees: name it
    if "stacktrace above" in line:
        line = line.replace(" Please check out the root cause in the stacktrace above.", "").rstrip(".")
        cause = e.__cause__ or e.__context__
        line += f" ({type(cause).__name__}: {_first_line(cause)})" if cause is not None else ""
    return line


#: Where a pipeline keeps its denoiser's config: ``transformer/``, or ``unet/`` for the SDXL and SD U-Nets.
_DENOISER_FOLDERS = ("transformer", "unet")


def _denoiser_config(diffusers: Any, path: str, name: str, **load_kwargs: Any) -> dict[str, Any]:
    """The denoiser's ``config.json`` from the first of `_DENOISER_FOLDERS` the model has."""
    error: Exception | None = None
    for subfolder in _DENOISER_FOLDERS:
        try:
            return diffusers.SD3Transformer2DModel.load_config(path, subfolder=subfolder, **load_kwargs)
        except (OSError, ValueError) as e:
            error = error or e  # the transformer/ error names what most models lack
        except RecursionError:  # diffusers' JSON loader recurses once per level of nesting
            raise config_too_deep(name) from None
    raise UnsupportedModelError(
        f"could not read transformer/config.json (or unet/config.json) of {name!r}: {_first_line(error)}",
        hint=f"pass a local pipeline folder, a cached Hub id, or {TINY_MODEL_LIST}",
    ) from error


def load_transformer_skeleton(model: str | os.PathLike[str], *, supported: Collection[str] | None = None) -> Any:
    """The model's transformer (or U-Net) built on the ``meta`` device from its ``config.json`` alone.

    Enough for `stylehunt.head_grid` (no weights read, no memory); ``model`` is a pipeline
    folder, a Hub id (its ``transformer/config.json`` must be reachable or cached) or a tiny name.
    ``supported`` names the transformer classes the caller can use (the CLI passes
    ``stylehunt.engine.heads.SUPPORTED_TRANSFORMERS``): a config naming another class is refused
    before anything is built. Without it, any diffusers model class is built; a ``_class_name``
    that is none raises `stylehunt.errors.UnsupportedModelError`.
    """
    from .tiny import resolve_tiny_model

    name = os.fspath(model)
    path = resolve_tiny_model(name) or name
    cache_only = _cache_only(path, name, "model_index.json")  # transformer/ or unet/: the pipeline is what is cached
    import torch
    import diffusers

    config = _denoiser_config(diffusers, path, name, **cache_only)
    check_config_bounds(config, name)
    cls_name = config.get("_class_name")
    if supported is not None and cls_name not in supported:
        raise UnsupportedModelError(
            f"unsupported transformer class {cls_name!r} in {name!r} (transformer/config.json `_class_name`); "
            f"supported: {', '.join(supported)}",
            hint="stylehunt guides the transformer classes listed (one per model family: stylehunt.engine.adapters()); "
            "check the model name, or its transformer/config.json",
        )
    check_diffusers_for_class(cls_name)  # a family newer than this diffusers: named, not "not a model class"
    cls = getattr(diffusers, cls_name, None) if isinstance(cls_name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, diffusers.ModelMixin)):
        raise UnsupportedModelError(
            f"transformer/config.json of {name!r} names {cls_name!r} as `_class_name`, which is not a diffusers model class",
            hint="check the model name, or its transformer/config.json",
        )
    with torch.device("meta"):
        return cls.from_config(config)


#: The most attention layers / heads per layer a model config may declare: every supported family has
#: far fewer (FLUX.1 57 layers, Wan 14B 40 x 40, SD3.5-large 38 x 38). A config over them is refused
#: before a transformer is built from it, even on ``meta`` (one Python module per layer: 10,000 layers
#: took 54 s and 1.75 GB).
MAX_CONFIG_LAYERS = 512
MAX_CONFIG_HEADS = 512

#: Config keys that count attention layers or heads (``num_layers``, ``num_single_layers``,
#: ``num_attention_heads``, ``num_refiner_layers``, ``n_heads``, ...).
_COUNT_KEY = re.compile(r"(num|n)_([a-z_]*_)?(layers|heads|blocks)")


def check_config_bounds(config: Any, name: str) -> None:
    """Refuse a transformer config whose layer or head counts no model has, before anything is built from it.

    A count must be an integer from 0 to `MAX_CONFIG_LAYERS` (layers, blocks) or
    `MAX_CONFIG_HEADS` (heads): building a skeleton of a million layers hangs, and
    ``num_layers: -3`` builds an empty one.
    """
    for key, value in (config.items() if isinstance(config, dict) else ()):
        if not isinstance(key, str) or not _COUNT_KEY.fullmatch(key):
            continue
        limit = MAX_CONFIG_HEADS if key.endswith("heads") else MAX_CONFIG_LAYERS
        # A U-Net config leaves num_attention_heads unset (None) and gives counts per resolution level
        # as a list (transformer_layers_per_block [1, 2, 10], attention_head_dim [5, 10, 20, 20]).
        counts = value if isinstance(value, (list, tuple)) and len(value) <= MAX_CONFIG_LAYERS else [value]
        if value is not None and not all(_count_within(v, limit) for v in counts):
            raise UnsupportedModelError(
                f"transformer/config.json of {name!r} sets {key} to {value!r}; stylehunt takes 0 to {limit}"
                f" (no supported model has more)",
                hint="check the model name, or its transformer/config.json",
            )


def _count_within(value: Any, limit: int) -> bool:
    if isinstance(value, (list, tuple)):  # SDXL's transformer_layers_per_block per down block, per layer
        return len(value) <= MAX_CONFIG_LAYERS and all(_count_within(v, limit) for v in value)
    return not isinstance(value, bool) and isinstance(value, int) and 0 <= value <= limit


def config_too_deep(name: str, file: str = "transformer/config.json") -> UnsupportedModelError:
    return UnsupportedModelError(
        f"{file} of {name!r} is nested too deeply to read (arrays and objects inside each other;"
        " stylehunt's own files nest at most 7 levels)",
        hint=f"check the model name, or its {file}",
    )


