"""SD3 and SD3.5 (``SD3Transformer2DModel``).

Layers ``0 .. N-1`` are the joint attentions ``transformer_blocks.{i}.attn`` over [image, text] (the paper's
numbering), then SD3.5-medium's image-only ``attn2`` of its dual blocks (layer ``N + j``: the j-th dual
block's). The reasons for each field sit beside it.
"""

from __future__ import annotations

from .spec import Adapter, LayerGroup

__all__ = ["ADAPTER"]

_ROWS = ("hidden_states", "encoder_hidden_states", "temb")

ADAPTER = Adapter(
    name="sd3",
    transformer_classes=("SD3Transformer2DModel",),
    pipeline_classes=("StableDiffusion3Pipeline", "StableDiffusion3Img2ImgPipeline", "StableDiffusion3InpaintPipeline"),
    # SD3.5-medium also has an image-only attention transformer_blocks.{i}.attn2 in its dual_attention_layers;
    # those come after the joint layers, in block order: on SD3.5-medium (24 blocks, dual blocks 0..12) layer
    # 24 is transformer_blocks.0.attn2 and layer 36 is transformer_blocks.12.attn2
    layer_groups=(
        LayerGroup("transformer_blocks", "attn", "image_text", block_rows=_ROWS),
        LayerGroup("transformer_blocks", "attn2", "image", optional=True, block_rows=_ROWS),
    ),
    batched=("hidden_states", "encoder_hidden_states", "pooled_projections", "timestep"),
    batched_per_block=("block_controlnet_hidden_states",),
    # one [uncond, cond] batch, announced by do_classifier_free_guidance; the skip-layer pass is a later
    # call in the same step
    cfg="uncond_first",
    fingerprint_family=False,  # SD3 presets predate the field: their family is their transformer class's
    encode_args=(("prompt_2", None), ("prompt_3", None)),
    # encode_prompt returns the prompt's and the negative prompt's embeddings and pooled embeddings; CFG is
    # guidance_scale (off at 1: the defaults of cfg_scale_arg and cfg_off_scale)
    encode_returns=("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds"),
    input_embedder="pos_embed",  # the patch embedding, which sees the batch
)
