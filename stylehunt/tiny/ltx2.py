"""The tiny LTX-2 pipeline: `diffusers.LTX2Pipeline` (video with audio) shaped like LTX-2,
with an ``LTX2VideoTransformer3DModel`` of 2 blocks, each with a video self-attention of 2 heads x
head dim 8 and an audio self-attention of 2 heads x head dim 4; a 2-layer Gemma 3 encoder (with a
1-layer SigLIP vision tower, as the real ``Gemma3ForConditionalGeneration``) with the in-memory
Qwen2 byte tokenizer; the text connectors; the LTX-2 video VAE (32x spatial, 8x temporal, as the
real one), the audio VAE (mel spectrograms) and the vocoder; the flow-matching Euler scheduler.

The configs follow diffusers' own LTX-2 pipeline tests, which build the same classes this small.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .components import qwen2_tokenizer, seeded

if TYPE_CHECKING:
    from diffusers import LTX2Pipeline

__all__ = ["build_ltx2_pipeline"]

_TEXT_DIM = 16  # Gemma's hidden size = the connectors' and the transformer's caption_channels
_TEXT_LAYERS = 2
_LATENT_CHANNELS = 4
_AUDIO_LATENT_CHANNELS = 2
_MEL_BINS = 8


def _text_encoder(vocab_size: int):
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    config = Gemma3Config(
        text_config=dict(
            vocab_size=vocab_size, hidden_size=_TEXT_DIM, intermediate_size=32, num_hidden_layers=_TEXT_LAYERS,
            num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=2048,
            sliding_window=64, pad_token_id=256, eos_token_id=258, bos_token_id=257,
        ),
        vision_config=dict(
            hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=28,
            patch_size=14,
        ),
        mm_tokens_per_image=4,
        image_token_index=vocab_size - 1,
        boi_token_index=vocab_size - 2,
        eoi_token_index=vocab_size - 3,
    )
    return Gemma3ForConditionalGeneration(config)


def _transformer():
    from diffusers import LTX2VideoTransformer3DModel

    return LTX2VideoTransformer3DModel(
        in_channels=_LATENT_CHANNELS,
        out_channels=_LATENT_CHANNELS,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=2,
        attention_head_dim=8,
        cross_attention_dim=16,
        audio_in_channels=_AUDIO_LATENT_CHANNELS * _MEL_BINS // 4,  # packed audio latents: channels x latent mel bins
        audio_out_channels=_AUDIO_LATENT_CHANNELS * _MEL_BINS // 4,
        audio_num_attention_heads=2,
        audio_attention_head_dim=4,
        audio_cross_attention_dim=8,
        num_layers=2,
        qk_norm="rms_norm_across_heads",
        caption_channels=_TEXT_DIM,
        rope_double_precision=False,
        rope_type="split",
        # LTX2PerturbedAttnProcessor in every block (as LTX-2.3): the pipeline's own STG pass perturbs
        perturbed_attn=True,
    )


def _connectors():
    from diffusers.pipelines.ltx2 import LTX2TextConnectors

    return LTX2TextConnectors(
        caption_channels=_TEXT_DIM,
        text_proj_in_factor=_TEXT_LAYERS + 1,  # every hidden state of the encoder, the embeddings' too
        video_connector_num_attention_heads=2,  # x head dim 8 = the text width
        video_connector_attention_head_dim=8,
        video_connector_num_layers=1,
        video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=2,
        audio_connector_attention_head_dim=8,
        audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None,
        connector_rope_base_seq_len=32,
        rope_theta=10000.0,
        rope_double_precision=False,
        causal_temporal_positioning=False,
        rope_type="split",
    )


def _vae():
    from diffusers import AutoencoderKLLTX2Video

    # LTX-2's compression (patch 4, then spatial, temporal and two spatio-temporal 2x blocks: 32x spatial,
    # 8x temporal, so 64 px and 9 frames make 2 x 2 x 2 latents) on 8 channels
    vae = AutoencoderKLLTX2Video(
        in_channels=3,
        out_channels=3,
        latent_channels=_LATENT_CHANNELS,
        block_out_channels=(8, 8, 8, 8),
        down_block_types=("LTX2VideoDownBlock3D",) * 4,
        decoder_block_out_channels=(8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1),
        spatio_temporal_scaling=(True,) * 4,
        decoder_spatio_temporal_scaling=(True,) * 3,
        decoder_inject_noise=(False,) * 4,
        downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        upsample_residual=(False,) * 3,
        upsample_factor=(1,) * 3,
        timestep_conditioning=False,
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
        spatial_compression_ratio=32,
        temporal_compression_ratio=8,
    )
    vae.use_framewise_encoding = False
    vae.use_framewise_decoding = False
    return vae


def _audio_vae():
    from diffusers import AutoencoderKLLTX2Audio

    return AutoencoderKLLTX2Audio(
        base_channels=4,
        output_channels=2,
        ch_mult=(1,),
        num_res_blocks=1,
        attn_resolutions=None,
        in_channels=2,
        resolution=32,
        latent_channels=_AUDIO_LATENT_CHANNELS,
        norm_type="pixel",
        causality_axis="height",
        dropout=0.0,
        mid_block_add_attention=False,
        sample_rate=16000,
        mel_hop_length=160,
        is_causal=True,
        mel_bins=_MEL_BINS,
    )


def _vocoder():
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    return LTX2Vocoder(
        in_channels=2 * _MEL_BINS,  # the audio VAE's output channels x mel bins
        hidden_channels=32,
        out_channels=2,  # stereo
        upsample_kernel_sizes=[4, 4],
        upsample_factors=[2, 2],
        resnet_kernel_sizes=[3],
        resnet_dilations=[[1, 3, 5]],
        leaky_relu_negative_slope=0.1,
        output_sampling_rate=16000,
    )


def build_ltx2_pipeline(seed: int) -> LTX2Pipeline:
    """The tiny LTX-2 pipeline; weights depend only on ``seed``."""
    from diffusers import FlowMatchEulerDiscreteScheduler, LTX2Pipeline

    tokenizer = qwen2_tokenizer()
    return LTX2Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=seeded(seed, 1, _vae),
        audio_vae=seeded(seed, 4, _audio_vae),
        text_encoder=seeded(seed, 2, lambda: _text_encoder(len(tokenizer) + 3)),
        tokenizer=tokenizer,
        connectors=seeded(seed, 3, _connectors),
        transformer=seeded(seed, 0, _transformer),
        vocoder=seeded(seed, 5, _vocoder),
    )
