"""The SDXL and SD 1.x / 2.x U-Nets (``UNet2DConditionModel``): self-attention ``attn1`` of every transformer block.

Two adapters, ``SDXL`` and ``SD``, one grid family ``"unet"``: a preset made on SDXL base applies to
every SDXL fine-tune with the same grid. Address order, grids per model and the schedulers that can
be guided: ``docs/engine.md``, "SDXL and SD 1.x / 2.x: the U-Nets". The reasons for each choice sit
beside the fields below.
"""

from __future__ import annotations

from .spec import Adapter, LayerGroup

__all__ = ["SDXL", "SD"]

#: down blocks, then the mid block, then up blocks (within a block its ``attentions``, then their
#: ``transformer_blocks``, in order): the order the U-Net runs them. Only ``attn1``: ``attn2`` is
#: cross-attention to the text, whose map has no diagonal; text never enters ``attn1``, so the joint
#: and image identities coincide there (the identity over the level's image tokens, PAG on SD / SDXL).
#: Heads differ by resolution level (SDXL base: 10 or 20; SD 2.1: 5, 10 or 20).
_LAYERS = tuple(
    LayerGroup(blocks, "attn1", "image")
    for blocks in (
        "down_blocks.*.attentions.*.transformer_blocks",
        "mid_block.attentions.*.transformer_blocks",
        "up_blocks.*.attentions.*.transformer_blocks",
    )
)

_COMMON = dict(
    transformer_classes=("UNet2DConditionModel",),
    layer_groups=_LAYERS,
    batch_arg="sample",
    batched=(
        "sample", "timestep", "encoder_hidden_states", "class_labels", "timestep_cond", "attention_mask",
        "encoder_attention_mask", "mid_block_additional_residual",
    ),
    batched_per_block=("down_block_additional_residuals", "down_intrablock_additional_residuals"),
    cfg="uncond_first",  # one [uncond, cond] batch while do_classifier_free_guidance
    denoisers=("unet",),
    # guidance_rescale makes the pipeline's CFG non-affine, so the term goes to scheduler.step's input.
    # The step comes from the scheduler's step_index: PNDM and DDIM (SD 1.5's and 2.1's defaults) have
    # none and are refused at apply.
    inject="scheduler",
    # one transformer class, one layout: SDXL and SD fingerprints differ only in their grids
    grid_family="unet",
    encode_args=(("num_images_per_prompt", 1),),  # SD's encode_prompt has no default for it
    input_embedder="conv_in",  # rows counted at conv_in: a latent pixel is one token
    # no block_rows: the shared prefix is off, since a transformer block sits between resnets and skip
    # connections that run every row anyway
)

SDXL = Adapter(
    name="sdxl",
    pipeline_classes=(
        "StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline", "StableDiffusionXLInpaintPipeline",
    ),
    # the pooled embeddings and size conditioning ride in added_cond_kwargs (text_embeds, time_ids)
    batched_dicts=("added_cond_kwargs",),
    # SDXL's encode_prompt also returns pooled embeddings: why SDXL and SD are two adapters
    encode_returns=("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds"),
    **_COMMON,
)

SD = Adapter(
    name="sd",
    pipeline_classes=("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline"),
    batched_dicts=("added_cond_kwargs",),
    **_COMMON,
)
