"""What the engine must know about one transformer family, as data.

A family module (``sd3.py``, ``flux.py``, ...) builds one :class:`Family`; the generic engine reads
its fields and never branches on a family's name. Nothing here imports torch: the registry reads the
vocabulary (:data:`KINDS`, the supported transformer classes) without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

__all__ = ["KINDS", "AttentionLayer", "Family"]

#: Token layout of the sequence each kind of attention layer attends over:
#:
#: * ``"image_text"``: joint sequence [image, text] (SD3 joint attention)
#: * ``"text_image"``: joint sequence [text, image] (FLUX double and single blocks)
#: * ``"image"``: image tokens only (SD3.5 ``attn2``)
KINDS = ("image_text", "text_image", "image")


class AttentionLayer(NamedTuple):
    """One addressable attention module of a transformer, as a family lists it."""

    module_name: str  # dotted path inside the transformer, e.g. "transformer_blocks.0.attn"
    module: Any  # the attention module itself
    kind: str  # one of KINDS


@dataclass(frozen=True)
class Family:
    """One transformer family: which classes it covers and how its forward and layers are laid out."""

    #: class name of the family's transformer (e.g. ``"SD3Transformer2DModel"``); lookup is by this name
    transformer_class: str
    #: pipeline classes (and their subclasses) the engine guides with this transformer
    pipelines: tuple[str, ...]
    #: transformer forward arguments that carry the batch on dim 0 (perturbed rows are appended to them)
    batched_args: tuple[str, ...]
    #: transformer forward arguments that are lists of such tensors (ControlNet residuals)
    batched_list_args: tuple[str, ...]
    #: True when the pipeline runs classifier-free guidance as one ``[uncond, cond]`` batch, announced
    #: by its ``do_classifier_free_guidance``; False when every row of the first call is conditional
    cfg_in_batch: bool
    #: every addressable attention layer of a transformer, in address order (layer ``i`` is element ``i``)
    attention_layers: Callable[[Any], list[AttentionLayer]]

