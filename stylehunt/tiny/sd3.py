"""The tiny SD3 and SD3.5 pipelines: `diffusers.StableDiffusion3Pipeline` with a small
``SD3Transformer2DModel`` (2 blocks x 4 heads x head dim 8, ``sample_size=32, patch_size=1``: the
default resolution is 256 px, 1024 image tokens). SD3.5 is SD3.5-medium-shaped:
``qk_norm="rms_norm"`` and ``dual_attention_layers=(0,)`` (block 0 also has the image-only ``attn2``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .components import CLIP_HIDDEN, clip_config, clip_tokenizer, seeded, t5_encoder, t5_tokenizer, vae

if TYPE_CHECKING:
    from diffusers import StableDiffusion3Pipeline

__all__ = ["build_sd3_pipeline"]

# SD3 concatenates both CLIP encoders (64) and pads them to the T5 width, as the real models do
# (768 + 1280 -> 4096).
_T5_DIM = 64


def _transformer(sd35: bool):
    from diffusers import SD3Transformer2DModel

    extra = {"qk_norm": "rms_norm", "dual_attention_layers": (0,)} if sd35 else {}
    return SD3Transformer2DModel(
        sample_size=32,  # default resolution 32 latent px * 8 = 256 px -> 1024 image tokens
        patch_size=1,
        in_channels=16,  # 16 latent channels as the real SD3 VAE (the SD3 inpaint pipeline insists)
        out_channels=16,
        num_layers=2,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_projection_dim=32,
        joint_attention_dim=_T5_DIM,  # = T5 d_model
        pooled_projection_dim=2 * CLIP_HIDDEN,  # = both CLIP projections concatenated
        pos_embed_max_size=96,  # up to 768 px
        **extra,
    )


def build_sd3_pipeline(seed: int, *, sd35: bool) -> StableDiffusion3Pipeline:
    """The tiny SD3 (or, with ``sd35``, SD3.5) pipeline; weights depend only on ``seed``."""
    from diffusers import FlowMatchEulerDiscreteScheduler, StableDiffusion3Pipeline
    from transformers import CLIPTextModelWithProjection

    clip_tok = clip_tokenizer()
    t5_tok = t5_tokenizer()
    return StableDiffusion3Pipeline(
        transformer=seeded(seed, 0, lambda: _transformer(sd35)),
        # Real SD3 VAE constants (16 latent channels there, 4 here).
        vae=seeded(seed, 1, lambda: vae(16, scaling_factor=1.5305, shift_factor=0.0609)),
        text_encoder=seeded(seed, 2, lambda: CLIPTextModelWithProjection(clip_config(len(clip_tok)))),
        text_encoder_2=seeded(seed, 3, lambda: CLIPTextModelWithProjection(clip_config(len(clip_tok)))),
        text_encoder_3=seeded(seed, 4, lambda: t5_encoder(len(t5_tok), _T5_DIM)),
        tokenizer=clip_tok,
        tokenizer_2=clip_tokenizer(),
        tokenizer_3=t5_tok,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),  # as SD3 / SD3.5 ship
    )
