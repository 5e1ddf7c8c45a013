"""The tiny LTX-Video pipeline: `diffusers.LTXPipeline` shaped like LTX-Video 0.9, with an
``LTXVideoTransformer3DModel`` of 2 blocks x 2 heads x head dim 8; a 2-layer T5 v1.1 encoder with the
in-memory T5 tokenizer; the LTX video VAE (``AutoencoderKLLTXVideo``) with the real compression
(patch 4 and three 2x down blocks: 32x spatial, 8x temporal, so 9 frames make 2 latent frames) on
8 channels; the flow-matching Euler scheduler with LTX-Video's dynamic shift.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .components import seeded, t5_encoder, t5_tokenizer

if TYPE_CHECKING:
    from diffusers import LTXPipeline

__all__ = ["build_ltx_pipeline"]

_TEXT_DIM = 32  # T5 d_model = the transformer's caption_channels
_LATENT_CHANNELS = 8


def _transformer():
    from diffusers import LTXVideoTransformer3DModel

    return LTXVideoTransformer3DModel(
        in_channels=_LATENT_CHANNELS,
        out_channels=_LATENT_CHANNELS,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=2,
        attention_head_dim=12,  # RoPE splits the 24 channels into 3 axes x 4 frequencies x (cos, sin)
        cross_attention_dim=24,
        num_layers=2,
        caption_channels=_TEXT_DIM,
    )


def _vae():
    from diffusers import AutoencoderKLLTXVideo

    vae = AutoencoderKLLTXVideo(
        latent_channels=_LATENT_CHANNELS,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False),  # the real 0.9 VAE's: 8x temporal, 8x spatial
        decoder_spatio_temporal_scaling=(True, True, True, False),
        patch_size=4,  # x 8 = 32 px per latent, as the real VAE
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    return vae


def build_ltx_pipeline(seed: int) -> LTXPipeline:
    """The tiny LTX-Video 0.9 pipeline; weights depend only on ``seed``."""
    from diffusers import FlowMatchEulerDiscreteScheduler, LTXPipeline

    tokenizer = t5_tokenizer()
    return LTXPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(
            # LTX-Video's resolution-dependent shift, without its shift_terminal=0.1: that stretch divides by
            # zero on a 1-step schedule (diffusers 0.42.1: NaN timesteps, then an IndexError in step)
            use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05, base_image_seq_len=1024,
            max_image_seq_len=4096,
        ),
        vae=seeded(seed, 1, _vae),
        text_encoder=seeded(seed, 2, lambda: t5_encoder(len(tokenizer), _TEXT_DIM)),
        tokenizer=tokenizer,
        transformer=seeded(seed, 0, _transformer),
    )
