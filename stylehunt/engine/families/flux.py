"""FLUX.1 (``FluxTransformer2DModel``).

Layers ``0 .. D-1`` are the double-stream blocks ``transformer_blocks.{i}.attn``, then
``D .. D+S-1`` the single-stream blocks ``single_transformer_blocks.{j}.attn``, all over
[text, image] (FLUX.1-dev: 19 + 38 = 57 layers, as the paper counts). The reasons for each field sit beside it.
"""

from __future__ import annotations

from .spec import Adapter, LayerGroup

__all__ = ["ADAPTER"]

_ROWS = ("hidden_states", "encoder_hidden_states", "temb")

ADAPTER = Adapter(
    name="flux",
    transformer_classes=("FluxTransformer2DModel",),
    pipeline_classes=("FluxPipeline", "FluxImg2ImgPipeline", "FluxInpaintPipeline"),
    layer_groups=(
        LayerGroup("transformer_blocks", block_rows=_ROWS),
        LayerGroup("single_transformer_blocks", block_rows=_ROWS),
    ),
    batched=("hidden_states", "encoder_hidden_states", "pooled_projections", "timestep", "guidance"),
    batched_per_block=("controlnet_block_samples", "controlnet_single_block_samples"),
    # the pipelines never batch a negative prompt with the positive one: every row of the first transformer
    # call of a step is conditional (true CFG runs a separate, later call)
    cfg="separate",
    fingerprint_family=False,  # FLUX.1 presets predate the field: their family is their transformer class's
    encode_args=(("prompt_2", None),),
    # encode_prompt knows no negative prompt (the empty prompt is encoded by a second call) and returns text
    # ids the pipeline rebuilds anyway
    encode_returns=("prompt_embeds", "pooled_prompt_embeds", None),
    encode_negative="separate",
    cfg_scale_arg="true_cfg_scale",
    cfg_off_scale=None,  # true CFG is on only when true_cfg_scale is given
    latent_packing=2,  # the pipelines pack 2 x 2 latents into a token (patch_size 1 in the config)
)
