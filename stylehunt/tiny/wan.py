"""The tiny Wan pipeline: `diffusers.WanPipeline` shaped like Wan2.2-T2V-A14B, with two
``WanTransformer3DModel`` experts (2 blocks x 4 heads x head dim 8 each), ``transformer`` for the
high-noise steps and ``transformer_2`` for the low-noise ones, switched at ``boundary_ratio`` 0.875
as in A14B; a 2-layer UMT5 text encoder with the in-memory T5 tokenizer; the Wan 2.1 video VAE
(``AutoencoderKLWan``, 16 latent channels, 8x spatial and 4x temporal compression: 5 frames make 2
latent frames); A14B's UniPC flow scheduler (shift 3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .components import seeded, t5_tokenizer

if TYPE_CHECKING:
    from diffusers import WanPipeline

__all__ = ["build_wan_pipeline"]

_TEXT_DIM = 32  # UMT5 d_model = the transformer's text_dim
_LATENT_CHANNELS = 16  # the Wan 2.1 VAE's z_dim (its latents_mean / latents_std have 16 entries)
_BOUNDARY_RATIO = 0.875  # Wan2.2-T2V-A14B's: timesteps >= 875 go to `transformer`


def _transformer():
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=4,
        attention_head_dim=8,  # RoPE splits it into 4 (frames) + 2 (rows) + 2 (columns)
        in_channels=_LATENT_CHANNELS,
        out_channels=_LATENT_CHANNELS,
        text_dim=_TEXT_DIM,
        freq_dim=32,
        ffn_dim=64,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=64,
    )


def _text_encoder(vocab_size: int):
    from transformers import UMT5Config, UMT5EncoderModel

    return UMT5EncoderModel(
        UMT5Config(
            vocab_size=vocab_size,
            d_model=_TEXT_DIM,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            feed_forward_proj="gated-gelu",  # umt5-xxl's
            is_encoder_decoder=False,
            use_cache=False,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )


def _vae():
    from diffusers import AutoencoderKLWan

    # Three spatial downsamplings (8x), two of them temporal too (4x), as the real Wan 2.1 VAE; its
    # default latents_mean / latents_std are the real ones. Base width 8: at 4 the random decoder's frames
    # barely follow the latents (latents moved by 0.12, a tenth of their spread, moved the decoded pixels,
    # in [-1, 1], by 0.0014 on average, against 0.019 at 8), so guidance hardly showed in the frames.
    return AutoencoderKLWan(
        base_dim=8,
        z_dim=_LATENT_CHANNELS,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )


def build_wan_pipeline(seed: int) -> WanPipeline:
    """The tiny Wan 2.2 (two-expert) pipeline; weights depend only on ``seed``.

    Two experts, so that guiding both (every present denoiser gets the same heads) is exercised: on the
    tiny schedule a 2-step call runs step 1 on ``transformer`` and step 2 on ``transformer_2``.
    """
    from diffusers import UniPCMultistepScheduler, WanPipeline

    tokenizer = t5_tokenizer()
    return WanPipeline(
        tokenizer=tokenizer,
        text_encoder=seeded(seed, 2, lambda: _text_encoder(len(tokenizer))),
        vae=seeded(seed, 1, _vae),
        # Wan's scheduler (diffusers' conversion script): UniPC over flow sigmas, shift 3 for T2V.
        scheduler=UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=3.0
        ),
        transformer=seeded(seed, 0, _transformer),
        transformer_2=seeded(seed, 3, _transformer),
        boundary_ratio=_BOUNDARY_RATIO,
    )
