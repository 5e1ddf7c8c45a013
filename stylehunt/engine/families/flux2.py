"""FLUX.2 (``Flux2Transformer2DModel``): FLUX.2-dev and FLUX.2-klein, over [text, image (+ reference images)].

Layers as for FLUX.1: the double-stream blocks ``transformer_blocks.{i}.attn``, then the single-stream
blocks ``single_transformer_blocks.{j}.attn`` (klein-4B 5 + 20 x 24 heads, klein-9B 8 + 24 x 32,
dev 8 + 48 x 48, head dim 128). The reasons for each field sit beside it.
"""

from __future__ import annotations

from .spec import Adapter, LayerGroup

__all__ = ["ADAPTER"]

ADAPTER = Adapter(
    name="flux2",
    transformer_classes=("Flux2Transformer2DModel",),
    # the KV-cache pipeline is refused by name (families.REFUSED_PIPELINES), kv_cache / kv_cache_mode by value.
    # Reference images (editing, the inpaint pipeline's masked image) are appended to hidden_states after
    # the latents and sliced off the output by the pipeline: a perturbed row carries them too, and the term
    # added to the whole output reaches the scheduler exactly
    pipeline_classes=("Flux2KleinPipeline", "Flux2KleinInpaintPipeline", "Flux2Pipeline"),
    # the single blocks are Flux2ParallelSelfAttention (QKV and the MLP input in one projection); the blocks
    # take their modulation per row (temb_mod_*), so those carry the batch there. No attention mask reaches
    # SDPA (the padded text is attended, as in FLUX.1), so both identity modes hold
    layer_groups=(
        LayerGroup(
            "transformer_blocks", block_rows=("hidden_states", "encoder_hidden_states", "temb_mod_img", "temb_mod_txt")
        ),
        LayerGroup("single_transformer_blocks", block_rows=("hidden_states", "temb_mod")),
    ),
    # guidance: dev's per-row guidance embedding. txt_ids / img_ids are (B, S, 4) but the transformer reads
    # row 0 only (one position grid for every row), so they are not appended (a 2-D (S, 4) grid passes too)
    batched=("hidden_states", "encoder_hidden_states", "timestep", "guidance"),
    # klein base: two calls per step, conditional first, combined affinely (neg + s (pos - neg)); step-
    # distilled klein and the guidance-distilled dev make one call. CFG is guidance_scale (klein base: on
    # above 1, default 4, so turned off explicitly with 1)
    cfg="separate",
    # encode_prompt knows no negative prompt (the pipelines encode "" by a second call) and returns text ids
    # the pipelines rebuild
    encode_returns=("prompt_embeds", None),
    encode_negative="separate",
    latent_packing=2,  # like FLUX.1, the pipelines pack 2 x 2 latents into a token
)
