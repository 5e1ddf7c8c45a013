"""Qwen-Image (``QwenImageTransformer2DModel``): double-stream blocks over [text, image], renormalised true CFG.

Layers are the double-stream blocks' joint attentions ``transformer_blocks.{i}.attn``, over
[text, image] (Qwen-Image: 60 layers x 24 heads of dim 128). The text keys carry a bool padding
mask at SDPA (``encoder_hidden_states_mask``, one row per sample), so only the joint identity is exact.

The pipelines run true CFG as two calls per step, conditional first, and then *renormalise* the
combination to the conditional prediction's norm per token: ``comb * ||cond|| / ||comb||`` with
``comb = neg + s (cond - neg)``. That is not affine, so a term added to the transformer's outputs would
be rescaled with them; the guidance is added to the ``model_output`` handed to ``scheduler.step``
instead. CFG is on only when ``true_cfg_scale > 1`` *and* a negative prompt (or its embeddings) is
given; the search turns it off with ``true_cfg_scale=1``, which the pipeline does not warn about.

The edit pipelines concatenate the reference images' latents onto ``hidden_states`` along the
sequence and keep the leading (target) tokens of the output, so a perturbed row carries the
references too and its delta is sliced the same way at the scheduler.

``img_shapes`` is not appended to: the pipelines build it with one entry per *prompt* (before
``num_images_per_prompt``), not per row, and the transformer reads only its first entry (the RoPE
grid, the same for every row). Qwen-Image-Edit-2511's ``zero_cond_t`` is refused: it doubles the
timestep rows inside the forward and indexes modulation per entry of ``img_shapes``.

``encode_prompt`` (Qwen2.5-VL) knows no negative prompt, returns the embeddings and a padding mask
(``None`` when no token is padding), and pads only to the longest prompt of its own call. The
pipeline packs 2 x 2 latents into a token, which the transformer's config records as ``patch_size``
2, so a token covers ``vae_scale_factor x 2`` = 16 px.
"""

from __future__ import annotations

from .spec import Adapter, LayerGroup

__all__ = ["ADAPTER"]

ADAPTER = Adapter(
    name="qwenimage",
    transformer_classes=("QwenImageTransformer2DModel",),
    pipeline_classes=(
        "QwenImagePipeline",
        "QwenImageImg2ImgPipeline",
        "QwenImageInpaintPipeline",
        "QwenImageEditPipeline",
        "QwenImageEditPlusPipeline",
    ),
    layer_groups=(
        LayerGroup(
            "transformer_blocks",
            block_rows=("hidden_states", "encoder_hidden_states", "encoder_hidden_states_mask", "temb"),
        ),
    ),
    batched=(
        "hidden_states", "encoder_hidden_states", "encoder_hidden_states_mask", "timestep", "guidance",
        "additional_t_cond",
    ),
    batched_per_block=("controlnet_block_samples",),
    cfg="separate",
    inject="scheduler",
    identities=("joint",),
    identity_note="its text padding mask reaches the attention, and identity='image' does not take masks",
    refuse_config=(
        (
            "zero_cond_t",
            "it doubles the timestep rows inside the forward (timestep 0 for the reference images), "
            "so rows appended to the batch no longer line up with their conditioning",
        ),
    ),
    encode_returns=("prompt_embeds", "prompt_embeds_mask"),
    encode_negative="separate",
    cfg_scale_arg="true_cfg_scale",
    input_embedder="img_in",
)
