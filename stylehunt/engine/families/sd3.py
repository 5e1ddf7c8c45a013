"""SD3 and SD3.5 (``SD3Transformer2DModel``).

Layers ``0 .. N-1`` are the joint attentions ``transformer_blocks.{i}.attn`` over [image, text]
(the paper's numbering). SD3.5-medium also has an image-only attention
``transformer_blocks.{i}.attn2`` in its ``dual_attention_layers``; those come after the joint
layers, in block order: layer ``N + j`` is the ``attn2`` of the j-th dual block. On SD3.5-medium
(24 blocks, dual blocks 0..12) layer 24 is ``transformer_blocks.0.attn2`` and layer 36 is
``transformer_blocks.12.attn2``.

The SD3 pipelines run classifier-free guidance as one ``[uncond, cond]`` batch, announced by
``do_classifier_free_guidance``; their skip-layer pass is a later call in the same step.
Their ``encode_prompt`` returns the prompt's and the negative prompt's embeddings and pooled
embeddings; CFG is ``guidance_scale`` (off at 1). The patch embedding ``pos_embed`` sees the batch.
"""

from __future__ import annotations

from .spec import Adapter, LayerGroup

__all__ = ["ADAPTER"]

_ROWS = ("hidden_states", "encoder_hidden_states", "temb")

ADAPTER = Adapter(
    name="sd3",
    transformer_classes=("SD3Transformer2DModel",),
    pipeline_classes=("StableDiffusion3Pipeline", "StableDiffusion3Img2ImgPipeline", "StableDiffusion3InpaintPipeline"),
    layer_groups=(
        LayerGroup("transformer_blocks", "attn", "image_text", block_rows=_ROWS),
        LayerGroup("transformer_blocks", "attn2", "image", optional=True, block_rows=_ROWS),
    ),
    batched=("hidden_states", "encoder_hidden_states", "pooled_projections", "timestep"),
    batched_per_block=("block_controlnet_hidden_states",),
    cfg="uncond_first",
    fingerprint_family=False,  # SD3 presets predate the field: their family is their transformer class's
    encode_args=(("prompt_2", None), ("prompt_3", None)),
    encode_returns=("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds"),
    input_embedder="pos_embed",
)
