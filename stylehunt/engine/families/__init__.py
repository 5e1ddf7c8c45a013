"""Per-family knowledge: one module per transformer family, each declaring one :class:`~.spec.Family`.

The generic engine looks a family up by its transformer's class name (:func:`family_of`) and reads
the declared data; it never branches on a family's name. Adding a family means adding one module
that builds a ``FAMILY`` and listing it in :data:`FAMILIES`. Nothing here imports torch.

>>> SUPPORTED_TRANSFORMERS
('SD3Transformer2DModel', 'FluxTransformer2DModel')
>>> family_of("FluxTransformer2DModel").pipelines
('FluxPipeline', 'FluxImg2ImgPipeline', 'FluxInpaintPipeline')
"""

from __future__ import annotations

from ...errors import UnsupportedModelError
from . import flux, sd3
from .spec import Family

__all__ = ["FAMILIES", "SUPPORTED_TRANSFORMERS", "SUPPORTED_PIPELINES", "family_of"]

#: Every supported family, in the order error messages and listings name them.
FAMILIES: tuple[Family, ...] = (sd3.FAMILY, flux.FAMILY)

#: Transformer classes whose heads stylehunt can address.
SUPPORTED_TRANSFORMERS = tuple(family.transformer_class for family in FAMILIES)

#: Pipeline classes (and their subclasses) ``apply`` accepts.
SUPPORTED_PIPELINES = tuple(pipeline for family in FAMILIES for pipeline in family.pipelines)


def family_of(transformer_class: str) -> Family:
    """The family whose transformer class is named ``transformer_class`` (as diffusers saves it)."""
    for family in FAMILIES:
        if family.transformer_class == transformer_class:
            return family
    raise UnsupportedModelError(
        f"unsupported transformer class {transformer_class}; supported: {', '.join(SUPPORTED_TRANSFORMERS)}",
    )
