"""The tiny Qwen-Image 2.1 pipeline: `diffusers.QwenImage21Pipeline` with a Qwen-Image-2.1-shaped
``QwenImage21Transformer2DModel`` (2 single-stream blocks x 2 heads x head dim 16, block-causal, with
``causal_condition`` so the pipeline's prefix KV cache is on, as in the real model), a 2-layer Qwen3-VL
text encoder with the in-memory Qwen2 tokenizer plus the vision and chat tokens in a Qwen3-VL processor,
and the 16x Qwen-Image 2.1 VAE with 8 latent channels. Sides are multiples of 32 (one vision slot is 2 x 2
latents); 32 x 32 px is one slot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .components import qwen2_tokenizer, seeded

if TYPE_CHECKING:
    from diffusers import QwenImage21Pipeline

__all__ = ["build_qwenimage21_pipeline", "qwen3vl_text_encoder", "qwen3vl_processor"]

_TEXT_DIM = 16  # Qwen3-VL hidden size = the transformer's context_in_dim
_LATENT_CHANNELS = 8  # not 4: the pipeline takes a 4-channel (RGBA) condition image for latents
_VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")

#: A chat template that renders a message's content given as a string or as a list of text parts (the
#: pipeline measures its system turn with ``apply_chat_template`` on the list form).
_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{{ part['text'] }}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _tokenizer():
    tokenizer = qwen2_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": list(_VISION_TOKENS)})
    tokenizer.chat_template = _CHAT_TEMPLATE
    return tokenizer


def qwen3vl_processor(tokenizer=None):
    """The Qwen3-VL processor over the tiny tokenizer: 16 px patches merged 2 x 2 (one image token per 32 px)."""
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    tokenizer = tokenizer or _tokenizer()
    return Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(
            patch_size=16, merge_size=2, temporal_patch_size=2, min_pixels=32 * 32, max_pixels=64 * 64
        ),
        tokenizer=tokenizer,
        video_processor=Qwen3VLVideoProcessor(patch_size=16, merge_size=2, temporal_patch_size=2),
        chat_template=_CHAT_TEMPLATE,
    )


def qwen3vl_text_encoder(tokenizer, num_layers: int = 2):
    """A tiny ``Qwen3VLForConditionalGeneration`` (hidden size 16) over ``tokenizer``'s vocabulary."""
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    ids = dict(zip(_VISION_TOKENS, tokenizer.convert_tokens_to_ids(list(_VISION_TOKENS))))
    config = Qwen3VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": _TEXT_DIM,
            "intermediate_size": 16,
            "num_hidden_layers": num_layers,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "head_dim": 8,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [1, 1, 2]},
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={
            "depth": 2,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_heads": 2,
            "out_hidden_size": _TEXT_DIM,
            "patch_size": 16,  # one merged vision token covers 32 px: one 2 x 2 group of 16x latents
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    return Qwen3VLForConditionalGeneration(config)


def _transformer():
    from diffusers import QwenImage21Transformer2DModel

    return QwenImage21Transformer2DModel(
        patch_size=1,  # 2.1 takes latents unpatched
        in_channels=_LATENT_CHANNELS,
        out_channels=_LATENT_CHANNELS,
        num_layers=2,
        attention_head_dim=16,  # flex_attention needs >= 16
        num_attention_heads=2,
        context_in_dim=_TEXT_DIM,
        mlp_ratio=2,
        axes_dims_rope=(4, 6, 6),  # sums to the head dim
    )


def _vae():
    from diffusers import AutoencoderKLQwenImage21

    return AutoencoderKLQwenImage21(
        base_dim=4,
        decoder_base_dim=4,
        z_dim=_LATENT_CHANNELS,
        dim_mult=[1, 1, 1, 1, 1],  # four downsamples: the 16x the pipeline assumes
        num_res_blocks=1,
        attn_scales=[],
        temperal_downsample=[False, True, True, True],
        latents_mean=[0.0] * _LATENT_CHANNELS,
        latents_std=[1.0] * _LATENT_CHANNELS,
    )


def build_qwenimage21_pipeline(seed: int) -> QwenImage21Pipeline:
    """The tiny Qwen-Image 2.1 pipeline; weights depend only on ``seed``."""
    from diffusers import FlowMatchEulerDiscreteScheduler, QwenImage21Pipeline

    tokenizer = _tokenizer()
    return QwenImage21Pipeline(
        transformer=seeded(seed, 0, _transformer),
        vae=seeded(seed, 1, _vae),
        text_encoder=seeded(seed, 2, lambda: qwen3vl_text_encoder(tokenizer)),
        processor=qwen3vl_processor(tokenizer),
        scheduler=FlowMatchEulerDiscreteScheduler(),
    )
