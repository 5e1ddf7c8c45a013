"""The tiny Qwen-Image pipeline: `diffusers.QwenImagePipeline` with a Qwen-Image-shaped
``QwenImageTransformer2DModel`` (2 double-stream blocks x 4 heads x head dim 16), a 2-layer
Qwen2.5-VL text encoder (with a 2-block vision tower, which the edit pipelines use) and the in-memory
Qwen2 tokenizer plus the vision tokens; the causal 3-D VAE has 4 latent channels and the real
downscale factor 8, and the pipeline packs 2 x 2 latents into 16 transformer input channels.
`edit_processor` gives the Qwen2-VL processor the edit pipelines need on top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .components import qwen2_tokenizer, seeded

if TYPE_CHECKING:
    from diffusers import QwenImagePipeline
    from transformers import Qwen2VLProcessor

__all__ = ["build_qwenimage_pipeline", "edit_processor"]

_TEXT_DIM = 16  # Qwen2.5-VL hidden size = the transformer's joint_attention_dim
_LATENT_CHANNELS = 4
# The Qwen2-VL special tokens the edit pipelines' prompt template and processor use.
_VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")


def _tokenizer():
    tokenizer = qwen2_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": list(_VISION_TOKENS)})
    return tokenizer


def _transformer():
    from diffusers import QwenImageTransformer2DModel

    return QwenImageTransformer2DModel(
        patch_size=2,  # the pipeline packs 2 x 2 latents per token
        in_channels=4 * _LATENT_CHANNELS,
        out_channels=_LATENT_CHANNELS,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=4,
        joint_attention_dim=_TEXT_DIM,
        axes_dims_rope=(8, 4, 4),  # must sum to the head dim
    )


def _text_encoder(tokenizer):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = dict(zip(_VISION_TOKENS, tokenizer.convert_tokens_to_ids(list(_VISION_TOKENS))))
    special = {
        "bos_token_id": tokenizer.pad_token_id,  # Qwen2.5-VL: <|endoftext|>
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": _TEXT_DIM,
            "intermediate_size": 32,
            "num_hidden_layers": 2,  # the pipelines read the last hidden state
            "num_attention_heads": 2,
            "num_key_value_heads": 1,  # grouped-query attention, as Qwen2.5-VL-7B
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            "rope_theta": 1000000.0,
            **special,
        },
        vision_config={
            "depth": 2,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_heads": 2,
            "out_hidden_size": _TEXT_DIM,
            "fullatt_block_indexes": [1],  # windowed attention, then a full-attention block
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        **special,
    )
    return Qwen2_5_VLForConditionalGeneration(config)


def _vae():
    from diffusers import AutoencoderKLQwenImage

    return AutoencoderKLQwenImage(
        base_dim=8,
        z_dim=_LATENT_CHANNELS,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],  # 3 downsamples: vae_scale_factor 8, as the real VAE
        latents_mean=[0.0] * _LATENT_CHANNELS,
        latents_std=[1.0] * _LATENT_CHANNELS,
    )


def build_qwenimage_pipeline(seed: int) -> QwenImagePipeline:
    """The tiny Qwen-Image pipeline; weights depend only on ``seed``."""
    from diffusers import FlowMatchEulerDiscreteScheduler, QwenImagePipeline

    tokenizer = _tokenizer()
    return QwenImagePipeline(
        transformer=seeded(seed, 0, _transformer),
        vae=seeded(seed, 1, _vae),
        text_encoder=seeded(seed, 2, lambda: _text_encoder(tokenizer)),
        tokenizer=tokenizer,
        # Qwen-Image's dynamic shifting (the pipeline computes `mu` from the image sequence length),
        # without a terminal shift: with one the 1-step schedule of a search's screening pass is NaN.
        scheduler=FlowMatchEulerDiscreteScheduler(
            use_dynamic_shifting=True,
            base_shift=0.5,
            max_shift=0.9,
            base_image_seq_len=256,
            max_image_seq_len=8192,
            time_shift_type="exponential",
        ),
    )


def edit_processor(tokenizer) -> Qwen2VLProcessor:
    """The Qwen2-VL processor of the edit pipelines, over the tiny pipeline's ``tokenizer``
    (``QwenImageEditPipeline.from_pipe(pipe, processor=edit_processor(pipe.tokenizer))``).

    Built in memory (no Hub). The edit pipelines hand it their ~1 megapixel condition image; it
    shrinks that to at most 56 x 56 px (4 x 4 patches of 14 px, merged 2 x 2 into 4 image tokens),
    so the tiny text encoder's vision tower stays cheap.
    """
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    return Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(size={"shortest_edge": 28 * 28, "longest_edge": 56 * 56}),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
    )
