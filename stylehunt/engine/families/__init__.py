"""Per-family knowledge: one module per model family, each declaring one `spec.Adapter`.

Owns the list of known families (`BUILTIN`, `register_adapter`, the entry point group ``stylehunt.adapters``)
and the lookups the generic engine uses instead of branching on a family's name: `adapter_for_pipeline`,
`adapter_for_transformer`, `supported_transformers`, `check_diffusers_version`. Nothing here imports torch.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

from ...errors import UnsupportedModelError
from . import (chroma, ernieimage, flux, flux2, flux3, hunyuanvideo15, ltx, ltx2, qwenimage, qwenimage21, sd3, unet,
               wan, zimage)
from .refused import REFUSED_TRANSFORMERS, refusal_for
from .spec import Adapter

__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "REFUSED_PIPELINES",
    "REFUSED_TRANSFORMERS",
    "register_adapter",
    "adapters",
    "adapter_named",
    "adapter_for_transformer",
    "adapter_for_pipeline",
    "unwrap_compiled",
    "check_diffusers_version",
    "check_diffusers_for_class",
    "supported_transformers",
    "is_supported_transformer",
    "supported_pipelines",
    "SUPPORTED_TRANSFORMERS",
    "SUPPORTED_PIPELINES",
]

logger = logging.getLogger(__name__)

#: The built-in families, in the order error messages and listings name them. A built-in family is one
#: module that builds an ``ADAPTER`` (or, like ``unet``, more than one), listed here.
BUILTIN: tuple[Adapter, ...] = (
    sd3.ADAPTER, flux.ADAPTER, chroma.ADAPTER, zimage.ADAPTER, qwenimage.ADAPTER, flux2.ADAPTER, wan.ADAPTER,
    unet.SDXL, unet.SD,
    hunyuanvideo15.ADAPTER,
    ernieimage.ADAPTER,
    ltx.ADAPTER,
    ltx2.ADAPTER,
    flux3.ADAPTER,
    qwenimage21.ADAPTER,
)

#: Entry point group a package uses to add an adapter: ``name = "pkg.module:ADAPTER"`` (loaded on the
#: first lookup, by `adapters`).
ENTRY_POINT_GROUP = "stylehunt.adapters"

#: Pipelines refused by class name, with the reason: they cache per-row attention keys and values
#: (a KV cache) across steps, so an appended perturbed row has no cache entry to read.
REFUSED_PIPELINES = {
    "Flux2KleinKVPipeline": "it caches reference-image keys/values per batch row (kv_cache)",
    "GlmImagePipeline": "it caches keys/values per batch row (kv_cache)",
}

_registered: list[Adapter] = list(BUILTIN)
_entry_points_loaded = False


def register_adapter(adapter: Adapter) -> Adapter:
    """Add a family (or replace the one of the same name); returns ``adapter``. Third parties call it
    (or name their ``Adapter`` in the entry point group `ENTRY_POINT_GROUP`).

    Lookups try adapters in registration order, so a third-party adapter for a transformer class
    a built-in family already covers is consulted only for its own pipeline classes.
    """
    if not isinstance(adapter, Adapter):
        raise TypeError(f"register_adapter expects a stylehunt Adapter, but got {type(adapter).__name__}")
    for i, known in enumerate(_registered):
        if known.name == adapter.name:
            _registered[i] = adapter
            return adapter
    _registered.append(adapter)
    return adapter


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            register_adapter(ep.load())
        except Exception as e:  # a broken plugin must not stop the built-in families from working
            logger.warning("ignoring stylehunt adapter entry point %s (%s): %s", ep.name, ep.value, e)


def adapters() -> tuple[Adapter, ...]:
    """Every known family: the built-in ones, then registered and entry-point ones."""
    _load_entry_points()
    return tuple(_registered)


def adapter_named(name: str) -> Adapter | None:
    """The family called ``name``, or ``None``."""
    return next((a for a in adapters() if a.name == name), None)


def supported_transformers() -> tuple[str, ...]:
    """Transformer classes whose heads stylehunt can address.

    >>> supported_transformers()
    ('SD3Transformer2DModel', 'FluxTransformer2DModel', 'ChromaTransformer2DModel', 'ZImageTransformer2DModel',
     'QwenImageTransformer2DModel', 'Flux2Transformer2DModel', 'WanTransformer3DModel', 'UNet2DConditionModel',
      'HunyuanVideo15Transformer3DModel', 'ErnieImageTransformer2DModel', 'LTXVideoTransformer3DModel',
      'LTX2VideoTransformer3DModel', 'Flux3Transformer2DModel', 'QwenImage21Transformer2DModel')
    """
    return tuple(dict.fromkeys(cls for a in adapters() for cls in a.transformer_classes))


def is_supported_transformer(transformer_class: str) -> bool:
    """Whether some family covers ``transformer_class``; entry points are read only if no known one does.

    Validating a preset's fingerprint is on every command's path (``stylehunt list`` parses the
    index); reading every installed distribution's entry points costs about 20 ms, needed only for a
    class no built-in or registered family covers.
    """
    if any(transformer_class in a.transformer_classes for a in _registered):
        return True
    return transformer_class in supported_transformers()


def supported_pipelines() -> tuple[str, ...]:
    """Pipeline classes (and their subclasses) ``apply`` accepts."""
    return tuple(dict.fromkeys(cls for a in adapters() for cls in a.pipeline_classes))


def _families() -> str:
    return "; ".join(f"{a.name}: {', '.join(a.pipeline_classes)}" for a in adapters())


def adapter_for_transformer(transformer_class: str) -> Adapter:
    """The family whose transformer class is named ``transformer_class`` (as diffusers saves it).

    >>> adapter_for_transformer("ChromaTransformer2DModel").pipeline_classes
    ('ChromaPipeline', 'ChromaImg2ImgPipeline', 'ChromaInpaintPipeline')
    """
    for adapter in adapters():
        if transformer_class in adapter.transformer_classes:
            return check_diffusers_version(adapter)
    refusal = refusal_for(transformer_class)
    if refusal is not None:  # a diffusers transformer no adapter covers, with the reason (refused.py)
        raise UnsupportedModelError(
            f"stylehunt does not guide {transformer_class}: {refusal.reason}",
            hint="docs/families.md lists every diffusers transformer class, supported or not, and why",
        )
    raise UnsupportedModelError(
        f"unsupported transformer class {transformer_class}; supported: {', '.join(supported_transformers())}",
        hint=f"supported families: {_families()}",
    )


@functools.lru_cache(maxsize=1)
def _installed_diffusers() -> tuple[str, tuple[int, ...]]:
    """The installed diffusers release, as text and as numbers (``"0.43.0.dev0"`` -> ``(0, 43, 0)``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version("diffusers")
    except PackageNotFoundError:  # diffusers is a dependency; no metadata means a source tree on sys.path
        return "unknown", ()
    return text, tuple(int(n) for n in re.findall(r"\d+", text)[:3])


def check_diffusers_version(adapter: Adapter) -> Adapter:
    """``adapter``, unless the installed diffusers predates ``adapter.min_diffusers``: then an error naming
    both versions (`adapter_for_transformer`, `adapter_for_pipeline` and the model and tiny-model loaders
    call it, so an old diffusers is named before anything is built, not met as a missing class or argument)."""
    if not adapter.min_diffusers:
        return adapter
    text, installed = _installed_diffusers()
    needed = tuple(int(n) for n in adapter.min_diffusers.split("."))
    if installed and installed < needed:
        raise UnsupportedModelError(
            f"the {adapter.name} family needs diffusers>={adapter.min_diffusers}, and diffusers {text} is installed",
            hint=f'upgrade it: pip install -U "diffusers>={adapter.min_diffusers}"',
        )
    return adapter


def check_diffusers_for_class(class_name: Any) -> None:
    """Refuse a pipeline or transformer class name of a family the installed diffusers is too old for."""
    for adapter in BUILTIN:
        if class_name in adapter.transformer_classes or class_name in adapter.pipeline_classes:
            check_diffusers_version(adapter)


def unwrap_compiled(module: Any) -> Any:
    """The module a ``torch.compile(module)`` wrapper (``OptimizedModule``) compiles; anything else as it is."""
    inner = getattr(module, "_orig_mod", None)
    return module if inner is None or type(module).__name__ != "OptimizedModule" else inner


def adapter_for_pipeline(pipe: Any) -> Adapter:
    """The family that guides ``pipe``: its class (or a base class) and its transformer's must match."""
    names = [cls.__name__ for cls in type(pipe).__mro__]
    refused = next((n for n in names if n in REFUSED_PIPELINES), None)
    if refused is not None:
        raise UnsupportedModelError(
            f"pipeline class {type(pipe).__name__} is not supported: {REFUSED_PIPELINES[refused]}, and stylehunt "
            "guides by appending perturbed rows to the batch",
            hint="use the same model through a pipeline without a KV cache",
        )
    candidates = [a for a in adapters() if set(names).intersection(a.pipeline_classes)]
    for adapter in candidates:
        if type(unwrap_compiled(getattr(pipe, adapter.denoisers[0], None))).__name__ in adapter.transformer_classes:
            return check_diffusers_version(adapter)
    # the denoiser the (first) matching family names: `transformer`, or a U-Net pipeline's `unet`
    transformer = type(unwrap_compiled(getattr(pipe, candidates[0].denoisers[0] if candidates else "transformer", None))).__name__
    if transformer in REFUSED_TRANSFORMERS:
        adapter_for_transformer(transformer)  # raises with the table's reason
    if candidates:
        adapter_for_transformer(transformer)  # raises for a transformer class no family knows
        raise UnsupportedModelError(
            f"{type(pipe).__name__} holds a {transformer}, but its family "
            f"({', '.join(a.name for a in candidates)}) expects "
            f"{', '.join(c for a in candidates for c in a.transformer_classes)}"
        )
    raise UnsupportedModelError(
        f"unsupported pipeline class {type(pipe).__name__}; supported: {', '.join(supported_pipelines())}",
        hint=f"supported families: {_families()}",
    )


def __getattr__(name: str) -> tuple[str, ...]:
    # Computed on access so that registered and entry-point adapters count too.
    if name == "SUPPORTED_TRANSFORMERS":
        return supported_transformers()
    if name == "SUPPORTED_PIPELINES":
        return supported_pipelines()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
