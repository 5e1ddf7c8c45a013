"""The tiny U-Net pipelines: `diffusers.StableDiffusionXLPipeline` and `diffusers.StableDiffusionPipeline`
with a small ``UNet2DConditionModel``, built by `build_sdxl_pipeline` (SDXL-shaped, ``"sdxl"``: 11 layers)
and `build_sd15_pipeline` (SD 1.5-shaped, ``"sd15"``: 7 layers x 2 heads). Each U-Net's shape is described
beside its builder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .components import CLIP_HIDDEN, clip_config, clip_tokenizer, seeded, vae

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

__all__ = ["build_sdxl_pipeline", "build_sd15_pipeline"]

_TIME_EMBED = 8  # SDXL's addition_time_embed_dim (256 there): six size / crop ids, each embedded


def _scheduler():
    """The Euler scheduler SDXL base ships, for both pipelines: SD 1.5's PNDM has no ``step_index``, which the
    engine reads to find a denoising step."""
    from diffusers import EulerDiscreteScheduler

    # SDXL base 1.0's scheduler config
    return EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1, timestep_spacing="leading"
    )


#: What both tiny U-Nets share: 8 latents a side by default (64 px), 4 latent channels, one resnet per level.
_UNET = dict(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, norm_num_groups=8)


def _sdxl_unet():
    """SDXL-shaped: no attention in the first down block, then 1 and 2 transformer blocks per attention,
    heads by level 1 / 2 / 4 as SDXL's 5 / 10 / 20 (here: 2 and 4 heads where attention is, head dim 8),
    linear projections, the ``text_time`` size conditioning (``added_cond_kwargs``), two CLIP encoders
    whose hidden states are concatenated (64 = ``cross_attention_dim``): 11 layers."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        **_UNET,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(8, 16, 32),
        attention_head_dim=(1, 2, 4),  # diffusers' name for the number of heads per level
        transformer_layers_per_block=(1, 1, 2),
        use_linear_projection=True,
        cross_attention_dim=2 * CLIP_HIDDEN,  # both CLIP encoders' hidden states, concatenated
        addition_embed_type="text_time",
        addition_time_embed_dim=_TIME_EMBED,
        projection_class_embeddings_input_dim=6 * _TIME_EMBED + CLIP_HIDDEN,  # time ids + pooled text
    )


def _sd15_unet():
    """SD 1.5-shaped: attention in the first two down blocks, the same heads at every level with head dim
    doubling with the channels (4, then 8), one CLIP encoder: 7 layers x 2 heads."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        **_UNET,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(8, 16, 16),
        attention_head_dim=2,  # heads, the same at every level (SD 1.5: 8)
        cross_attention_dim=CLIP_HIDDEN,
    )


def build_sdxl_pipeline(seed: int) -> StableDiffusionXLPipeline:
    """The tiny SDXL pipeline; weights depend only on ``seed``."""
    from diffusers import StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    tok = clip_tokenizer()
    return StableDiffusionXLPipeline(
        unet=seeded(seed, 0, _sdxl_unet),
        vae=seeded(seed, 1, lambda: vae(4, scaling_factor=0.13025, shift_factor=None)),  # SDXL's scaling factor
        text_encoder=seeded(seed, 2, lambda: CLIPTextModel(clip_config(len(tok)))),
        text_encoder_2=seeded(seed, 3, lambda: CLIPTextModelWithProjection(clip_config(len(tok)))),
        tokenizer=tok,
        tokenizer_2=clip_tokenizer(),
        scheduler=_scheduler(),
        add_watermarker=False,
    )


def build_sd15_pipeline(seed: int) -> StableDiffusionPipeline:
    """The tiny SD 1.5 pipeline (no safety checker); weights depend only on ``seed``."""
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPTextModel

    tok = clip_tokenizer()
    return StableDiffusionPipeline(
        unet=seeded(seed, 0, _sd15_unet),
        vae=seeded(seed, 1, lambda: vae(4, scaling_factor=0.18215, shift_factor=None)),  # SD's scaling factor
        text_encoder=seeded(seed, 2, lambda: CLIPTextModel(clip_config(len(tok)))),
        tokenizer=tok,
        scheduler=_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
