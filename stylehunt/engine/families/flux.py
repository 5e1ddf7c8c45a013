"""FLUX.1 (``FluxTransformer2DModel``).

Layers ``0 .. D-1`` are the double-stream blocks ``transformer_blocks.{i}.attn``, then
``D .. D+S-1`` the single-stream blocks ``single_transformer_blocks.{j}.attn``, all over
[text, image] (FLUX.1-dev: 19 + 38 = 57 layers, as the paper counts).

The FLUX pipelines never batch a negative prompt with the positive one: every row of the first
transformer call of a step is conditional (true CFG runs a separate, later call).
"""

from __future__ import annotations

from typing import Any

from .spec import AttentionLayer, Family

__all__ = ["FAMILY"]


def attention_layers(transformer: Any) -> list[AttentionLayer]:
    """The double-stream blocks' attentions, then the single-stream blocks'."""
    double = [
        AttentionLayer(f"transformer_blocks.{i}.attn", b.attn, "text_image")
        for i, b in enumerate(transformer.transformer_blocks)
    ]
    single = [
        AttentionLayer(f"single_transformer_blocks.{j}.attn", b.attn, "text_image")
        for j, b in enumerate(transformer.single_transformer_blocks)
    ]
    return double + single


FAMILY = Family(
    transformer_class="FluxTransformer2DModel",
    pipelines=("FluxPipeline", "FluxImg2ImgPipeline", "FluxInpaintPipeline"),
    batched_args=("hidden_states", "encoder_hidden_states", "pooled_projections", "timestep", "guidance"),
    batched_list_args=("controlnet_block_samples", "controlnet_single_block_samples"),
    cfg_in_batch=False,
    attention_layers=attention_layers,
)
