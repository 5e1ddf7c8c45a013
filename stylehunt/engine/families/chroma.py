"""Chroma (``ChromaTransformer2DModel``): FLUX.1's layout with a text padding mask.

Layers are addressed as for FLUX.1: the double-stream blocks ``transformer_blocks.{i}.attn``, then the
single-stream blocks ``single_transformer_blocks.{j}.attn``, all over [text, image] (Chroma1-HD: 19 + 38 = 57
layers x 24 heads). The reasons for each field sit beside it.
"""

from __future__ import annotations

from .spec import Adapter, LayerGroup

__all__ = ["ADAPTER"]

ADAPTER = Adapter(
    name="chroma",
    transformer_classes=("ChromaTransformer2DModel",),
    pipeline_classes=("ChromaPipeline", "ChromaImg2ImgPipeline", "ChromaInpaintPipeline"),
    layer_groups=(
        LayerGroup("transformer_blocks", block_rows=("hidden_states", "encoder_hidden_states", "temb", "attention_mask")),
        LayerGroup("single_transformer_blocks", block_rows=("hidden_states", "temb", "attention_mask")),
    ),
    # the attention_mask (a [text, image] mask that hides the text padding) carries the batch, so it is
    # appended with the other rows
    batched=("hidden_states", "encoder_hidden_states", "timestep", "attention_mask"),
    batched_per_block=("controlnet_block_samples", "controlnet_single_block_samples"),
    # two calls per step, conditional first, each with its own attention_mask
    cfg="separate",
    # the mask reaches SDPA, so only the joint identity is exact
    identities=("joint",),
    identity_note="its text padding mask reaches the attention, and identity='image' does not take masks",
    # encode_prompt (one T5) returns embeddings, text ids and the padding mask for the prompt and the negative
    # prompt; the call takes the masks back as prompt_attention_mask / negative_prompt_attention_mask. CFG is
    # guidance_scale, which defaults to 5, so it is turned off explicitly with 1 (the default cfg_off_scale)
    encode_returns=(
        "prompt_embeds", None, "prompt_attention_mask", "negative_prompt_embeds", None, "negative_prompt_attention_mask",
    ),
    latent_packing=2,  # like FLUX.1, it packs 2 x 2 latents into a token
)
