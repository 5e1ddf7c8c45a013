"""The tiny ERNIE-Image pipeline: `diffusers.ErnieImagePipeline` with an ``ErnieImageTransformer2DModel``
(single stream over [image, text], 2 layers x 2 heads of dim 8), a 2-layer Mistral3 model with the in-memory
Qwen2 byte tokenizer (the pipeline reads the second-to-last hidden state), FLUX.2's VAE (the tiny one of `flux2`; the pipeline packs 2 x 2 latents, so a token covers
16 px) and FlowMatch Euler; no prompt enhancer (``pe``).

The transformer zero-initialises its modulation and output layers (a trained model's starting point): the
tiny one draws them at random, so that heads change its output.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .components import qwen2_tokenizer, seeded
from .flux2 import _LATENT_CHANNELS, _vae

if TYPE_CHECKING:
    from diffusers import ErnieImagePipeline

__all__ = ["build_ernieimage_pipeline"]

_TEXT_DIM = 16


def _transformer():
    import torch
    from diffusers import ErnieImageTransformer2DModel

    transformer = ErnieImageTransformer2DModel(
        hidden_size=16,
        num_attention_heads=2,
        num_layers=2,
        ffn_hidden_size=32,
        in_channels=4 * _LATENT_CHANNELS,  # the pipeline packs 2 x 2 latents
        out_channels=4 * _LATENT_CHANNELS,
        text_in_dim=_TEXT_DIM,
        rope_axes_dim=(2, 2, 4),  # sums to the head dim
    )
    with torch.no_grad():
        for linear in (transformer.adaLN_modulation[-1], transformer.final_linear):
            linear.weight.normal_(std=1 / math.sqrt(linear.in_features))
            linear.bias.normal_(std=0.1)
    return transformer


def _text_encoder(vocab_size: int):
    from transformers import Mistral3Config, Mistral3Model

    text = dict(
        model_type="mistral", vocab_size=vocab_size, hidden_size=_TEXT_DIM, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=512,
    )
    vision = dict(  # the text path never runs it
        model_type="pixtral", hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        head_dim=8, image_size=32, patch_size=16, num_channels=3,
    )
    return Mistral3Model(Mistral3Config(text_config=text, vision_config=vision, image_token_index=4))


def build_ernieimage_pipeline(seed: int) -> ErnieImagePipeline:
    """The tiny ERNIE-Image pipeline; weights depend only on ``seed``."""
    from diffusers import ErnieImagePipeline, FlowMatchEulerDiscreteScheduler

    tokenizer = qwen2_tokenizer()
    return ErnieImagePipeline(
        transformer=seeded(seed, 0, _transformer),
        vae=seeded(seed, 1, _vae),
        text_encoder=seeded(seed, 2, lambda: _text_encoder(len(tokenizer))),
        tokenizer=tokenizer,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
    )
