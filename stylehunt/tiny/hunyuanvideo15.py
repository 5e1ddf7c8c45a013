"""The tiny HunyuanVideo 1.5 pipeline: `diffusers.HunyuanVideo15Pipeline` (text to video), built by
`build_hunyuanvideo15_pipeline`, with a ``HunyuanVideo15Transformer3DModel`` shaped like the 8.3B release
cut to 2 blocks x 2 heads, a Qwen2.5-VL text model, a T5 glyph encoder, the causal video VAE and the
pipeline's CFG guider. Each component's shape is described beside its builder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .components import qwen2_tokenizer, seeded

if TYPE_CHECKING:
    from diffusers import HunyuanVideo15Pipeline

__all__ = ["build_hunyuanvideo15_pipeline"]

_TEXT_DIM = 16  # Qwen2.5-VL hidden size = the transformer's text_embed_dim
_BYT5_DIM = 32  # the T5 encoder's d_model = the transformer's text_embed_2_dim
_LATENT_CHANNELS = 4
#: the scale of the pipeline's ``ClassifierFreeGuidance`` guider component: 6.0, the release's default, so
#: CFG is on unless a user (or the search) sets the guider's scale to 1
_GUIDANCE_SCALE = 6.0


def _transformer():
    """Shaped like the 8.3B release (double-stream blocks over [video, image, ByT5, MLLM tokens], patch 1),
    cut to 2 blocks x 2 heads of dim 8 and 1 token-refiner block."""
    from diffusers import HunyuanVideo15Transformer3DModel

    return HunyuanVideo15Transformer3DModel(
        in_channels=2 * _LATENT_CHANNELS + 1,  # latents, condition latents and the condition mask
        out_channels=_LATENT_CHANNELS,
        num_attention_heads=2,
        attention_head_dim=8,
        num_layers=2,
        num_refiner_layers=1,
        mlp_ratio=2.0,
        patch_size=1,
        patch_size_t=1,
        text_embed_dim=_TEXT_DIM,
        text_embed_2_dim=_BYT5_DIM,
        image_embed_dim=12,
        rope_axes_dim=(2, 2, 4),  # sums to the head dim
        # the pipeline's default size becomes 24 x 40 px (16:9 around a 32 px square, multiples of the VAE's 4 px)
        target_size=32,
        task_type="t2v",
    )


def _text_encoder(tokenizer):
    """A Qwen2.5-VL text model (used with the in-memory Qwen2 tokenizer), the pipeline's MLLM encoder."""
    from transformers import Qwen2_5_VLTextConfig, Qwen2_5_VLTextModel

    return Qwen2_5_VLTextModel(
        Qwen2_5_VLTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=_TEXT_DIM,
            intermediate_size=16,
            num_hidden_layers=3,  # the pipeline reads hidden_states[-3]
            num_attention_heads=2,
            num_key_value_heads=1,
            rope_scaling={"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            rope_theta=1000000.0,
            bos_token_id=tokenizer.pad_token_id,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    )


def _glyph_encoder(vocab_size: int):
    """A 2-layer T5 encoder, used with diffusers' file-free ``ByT5Tokenizer``: the glyph encoder, used only
    for quoted text in a prompt."""
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(
        T5Config(
            vocab_size=vocab_size,
            d_model=_BYT5_DIM,
            d_kv=8,
            d_ff=32,
            num_layers=2,
            num_heads=2,
            relative_attention_num_buckets=8,
            feed_forward_proj="gated-gelu",
            is_encoder_decoder=False,
            use_cache=False,
        )
    )


def _vae():
    """The HunyuanVideo 1.5 causal VAE: 4 latent channels, 4x spatial and 2x temporal compression (5 frames
    make 3 latent frames)."""
    from diffusers import AutoencoderKLHunyuanVideo15

    return AutoencoderKLHunyuanVideo15(
        in_channels=3,
        out_channels=3,
        latent_channels=_LATENT_CHANNELS,
        block_out_channels=(16, 16),
        layers_per_block=1,
        spatial_compression_ratio=4,
        temporal_compression_ratio=2,
        downsample_match_channel=False,
        upsample_match_channel=False,
    )


def build_hunyuanvideo15_pipeline(seed: int) -> HunyuanVideo15Pipeline:
    """The tiny HunyuanVideo 1.5 text-to-video pipeline; weights depend only on ``seed``.

    The pipeline pads the MLLM prompt to 1000 tokens, the ByT5 glyphs to 256 and always appends 729
    (zeroed, masked) image tokens: those lengths are fixed in the pipeline's ``__init__``, so even the
    tiny model attends over ~2000 text tokens per row (a 2-step CFG call of 5 frames at 32 x 32 px takes
    about 4 s on a CPU).
    """
    from diffusers import FlowMatchEulerDiscreteScheduler, HunyuanVideo15Pipeline
    from diffusers.guiders import ClassifierFreeGuidance
    from transformers import ByT5Tokenizer

    tokenizer = qwen2_tokenizer()
    tokenizer_2 = ByT5Tokenizer()
    return HunyuanVideo15Pipeline(
        transformer=seeded(seed, 0, _transformer),
        vae=seeded(seed, 1, _vae),
        text_encoder=seeded(seed, 2, lambda: _text_encoder(tokenizer)),
        tokenizer=tokenizer,
        text_encoder_2=seeded(seed, 3, lambda: _glyph_encoder(len(tokenizer_2))),
        tokenizer_2=tokenizer_2,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        guider=ClassifierFreeGuidance(guidance_scale=_GUIDANCE_SCALE),
    )
