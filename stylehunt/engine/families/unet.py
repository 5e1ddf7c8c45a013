"""The SDXL and SD 1.x / 2.x U-Nets (``UNet2DConditionModel``): self-attention ``attn1`` of every transformer block.

Addresses: the self-attention ``attn1`` of every transformer block of every attention module,
down blocks first (in order), then the mid block, then the up blocks (in order); within a block, its
``attentions`` in order and each one's ``transformer_blocks`` in order. That is the order the U-Net
runs them. ``attn2`` is cross-attention to the text: its map has no diagonal to perturb, and text
never enters ``attn1``, so the joint and image identities coincide (the identity map over the
level's image tokens, as PAG was first shown on SD / SDXL). Heads differ by resolution level:

* SDXL base 1.0: 70 layers; down block 1 (2 x 2 blocks, 10 heads), down block 2 (2 x 10, 20
  heads), the mid block (10, 20 heads), up block 0 (3 x 10, 20 heads), up block 1 (3 x 2, 10
  heads); head dim 64. Layer 4 is ``down_blocks.2.attentions.0.transformer_blocks.0.attn1``, layer 24
  the mid block's first.
* SD 1.5: 16 layers x 8 heads (down 6, mid 1, up 9), head dim 40 / 80 / 160 by level (-1 in the
  fingerprint: layers differ). SD 2.1: the same 16 layers with 5 / 10 / 20 heads of dim 64.

Both pipeline families share the grid family ``"unet"`` (one transformer class, one layout), so a
preset made on SDXL base applies to every SDXL fine-tune with the same grid. They are two adapters
because their prompts encode differently: SDXL's ``encode_prompt`` also returns pooled embeddings
and the U-Net takes them, with the size conditioning, in the dict ``added_cond_kwargs``
(``text_embeds``, ``time_ids``), whose tensors carry the batch.

The pipelines run CFG as one ``[uncond, cond]`` batch (``do_classifier_free_guidance``) and may
rescale it (``guidance_rescale``, not affine), so the term is added to ``scheduler.step``'s input.
The step is read from the scheduler's ``step_index`` (Euler, DPM-Solver, ...; SDXL base ships Euler);
schedulers without it (PNDM, DDIM: SD 1.5's and 2.1's defaults) are refused when applied. The U-Net's
forward takes ``sample`` and a scalar ``timestep``; ControlNet residuals and T2I-Adapter residuals
carry the batch. The shared prefix is off: a transformer block sits between resnets and skip
connections that run every row anyway. Rows are counted at ``conv_in``; a latent pixel is one token.
"""

from __future__ import annotations

from .spec import Adapter, LayerGroup

__all__ = ["SDXL", "SD"]

#: down blocks, then the mid block, then up blocks: the order the U-Net runs them
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
    cfg="uncond_first",
    denoisers=("unet",),
    inject="scheduler",
    grid_family="unet",
    encode_args=(("num_images_per_prompt", 1),),  # SD's encode_prompt has no default for it
    input_embedder="conv_in",
)

SDXL = Adapter(
    name="sdxl",
    pipeline_classes=(
        "StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline", "StableDiffusionXLInpaintPipeline",
    ),
    batched_dicts=("added_cond_kwargs",),
    encode_returns=("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds"),
    **_COMMON,
)

SD = Adapter(
    name="sd",
    pipeline_classes=("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline"),
    batched_dicts=("added_cond_kwargs",),
    **_COMMON,
)
