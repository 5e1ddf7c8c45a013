"""SD3 and SD3.5 (``SD3Transformer2DModel``).

Layers ``0 .. N-1`` are the joint attentions ``transformer_blocks.{i}.attn`` over [image, text]
(the paper's numbering). SD3.5-medium also has an image-only attention
``transformer_blocks.{i}.attn2`` in its ``dual_attention_layers``; those come after the joint
layers, in block order: layer ``N + j`` is the ``attn2`` of the j-th dual block. On SD3.5-medium
(24 blocks, dual blocks 0..12) layer 24 is ``transformer_blocks.0.attn2`` and layer 36 is
``transformer_blocks.12.attn2``.

The SD3 pipelines run classifier-free guidance as one ``[uncond, cond]`` batch.
"""

from __future__ import annotations

from typing import Any

from .spec import AttentionLayer, Family

__all__ = ["FAMILY"]


def attention_layers(transformer: Any) -> list[AttentionLayer]:
    """The joint attentions of every block, then the ``attn2`` of the dual blocks (SD3.5)."""
    blocks = transformer.transformer_blocks
    joint = [AttentionLayer(f"transformer_blocks.{i}.attn", b.attn, "image_text") for i, b in enumerate(blocks)]
    extra = [
        AttentionLayer(f"transformer_blocks.{i}.attn2", b.attn2, "image")
        for i, b in enumerate(blocks)
        if getattr(b, "attn2", None) is not None
    ]
    return joint + extra


FAMILY = Family(
    transformer_class="SD3Transformer2DModel",
    pipelines=("StableDiffusion3Pipeline", "StableDiffusion3Img2ImgPipeline", "StableDiffusion3InpaintPipeline"),
    batched_args=("hidden_states", "encoder_hidden_states", "pooled_projections", "timestep"),
    batched_list_args=("block_controlnet_hidden_states",),
    cfg_in_batch=True,
    attention_layers=attention_layers,
)
