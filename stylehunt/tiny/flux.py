"""The tiny FLUX.1 pipeline: `diffusers.FluxPipeline` with a FLUX.1-dev-shaped
``FluxTransformer2DModel`` (2 double + 2 single blocks x 2 heads x head dim 16,
``guidance_embeds=True``); the VAE has one latent channel, packed 2 x 2 into 4 transformer input
channels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .components import CLIP_HIDDEN, clip_config, clip_tokenizer, seeded, t5_encoder, t5_tokenizer, vae

if TYPE_CHECKING:
    from diffusers import FluxPipeline

__all__ = ["build_flux_pipeline"]

_T5_DIM = 32


def _transformer():
    from diffusers import FluxTransformer2DModel

    return FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,  # 1 latent channel packed 2 x 2
        num_layers=2,
        num_single_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=_T5_DIM,  # = T5 d_model
        pooled_projection_dim=CLIP_HIDDEN,  # = CLIP pooled output
        guidance_embeds=True,  # FLUX.1-dev-shaped (distilled guidance input)
        axes_dims_rope=(4, 4, 8),  # must sum to the head dim
    )


def build_flux_pipeline(seed: int) -> FluxPipeline:
    """The tiny FLUX.1 pipeline; weights depend only on ``seed``."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline
    from transformers import CLIPTextModel

    clip_tok = clip_tokenizer()
    t5_tok = t5_tokenizer()
    return FluxPipeline(
        transformer=seeded(seed, 0, _transformer),
        # Real FLUX VAE constants (16 latent channels there, 1 here).
        vae=seeded(seed, 1, lambda: vae(1, scaling_factor=0.3611, shift_factor=0.1159)),
        text_encoder=seeded(seed, 2, lambda: CLIPTextModel(clip_config(len(clip_tok)))),
        text_encoder_2=seeded(seed, 3, lambda: t5_encoder(len(t5_tok), _T5_DIM)),
        tokenizer=clip_tok,
        tokenizer_2=t5_tok,
        # FLUX.1-dev's scheduler: the pipeline computes `mu` from the image sequence length.
        scheduler=FlowMatchEulerDiscreteScheduler(
            shift=3.0,
            use_dynamic_shifting=True,
            base_shift=0.5,
            max_shift=1.15,
            base_image_seq_len=256,
            max_image_seq_len=4096,
        ),
    )
