"""Qwen-Image (``QwenImageTransformer2DModel``): double-stream blocks over [text, image], renormalised true CFG.

Layers are the double-stream blocks' joint attentions ``transformer_blocks.{i}.attn`` over [text, image]
(Qwen-Image: 60 layers x 24 heads of dim 128); the text-to-image, img2img, inpaint and edit pipelines.
The reasons for each field sit beside it.
"""

from __future__ import annotations

from .spec import Adapter, LayerGroup

__all__ = ["ADAPTER"]

ADAPTER = Adapter(
    name="qwenimage",
    transformer_classes=("QwenImageTransformer2DModel",),
    # The edit pipelines concatenate the reference images' latents onto hidden_states along the sequence
    # and keep the leading (target) tokens of the output: a perturbed row carries the references too, and
    # its delta is sliced the same way at the scheduler (Adapter.kept_tokens "leading")
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
    # img_shapes is not appended to: the pipelines build it with one entry per *prompt* (before
    # num_images_per_prompt), not per row, and the transformer reads only its first entry (the RoPE grid,
    # the same for every row)
    batched=(
        "hidden_states", "encoder_hidden_states", "encoder_hidden_states_mask", "timestep", "guidance",
        "additional_t_cond",
    ),
    batched_per_block=("controlnet_block_samples",),
    # true CFG: two calls per step, conditional first, on only when true_cfg_scale > 1 *and* a negative
    # prompt (or its embeddings) is given; the search turns it off with true_cfg_scale=1, which the
    # pipeline does not warn about
    cfg="separate",
    # the combination is renormalised to the conditional prediction's norm per token
    # (comb * ||cond|| / ||comb||, comb = neg + s (cond - neg)): not affine, so a term added to the
    # transformer's outputs would be rescaled with them; it is added to scheduler.step's model_output
    inject="scheduler",
    # the text keys carry a bool padding mask at SDPA (encoder_hidden_states_mask, one row per sample)
    identities=("joint",),
    identity_note="its text padding mask reaches the attention, and identity='image' does not take masks",
    refuse_config=(
        (
            "zero_cond_t",  # Qwen-Image-Edit-2511: it also indexes modulation per entry of img_shapes
            "it doubles the timestep rows inside the forward (timestep 0 for the reference images), "
            "so rows appended to the batch no longer line up with their conditioning",
        ),
    ),
    # encode_prompt (Qwen2.5-VL) knows no negative prompt, returns the embeddings and a padding mask (None
    # when no token is padding), and pads only to the longest prompt of its own call
    encode_returns=("prompt_embeds", "prompt_embeds_mask"),
    encode_negative="separate",
    cfg_scale_arg="true_cfg_scale",
    input_embedder="img_in",
    # the pipeline packs 2 x 2 latents into a token, which the config records as patch_size 2: a token
    # covers vae_scale_factor x 2 = 16 px (the generic size rule reads it from the config)
)
