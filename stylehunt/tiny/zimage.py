"""The tiny Z-Image pipeline: `diffusers.ZImagePipeline` with a Z-Image-Turbo-shaped
``ZImageTransformer2DModel`` (4 main layers x 2 heads x head dim 16, and Turbo's 2 noise + 2
context refiner blocks), a 2-layer Qwen3 text encoder and the in-memory Qwen2 tokenizer; the VAE
has 4 latent channels, which the transformer patchifies 2 x 2 itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .components import qwen2_tokenizer, seeded, vae

if TYPE_CHECKING:
    from diffusers import ZImagePipeline

__all__ = ["build_zimage_pipeline"]

_TEXT_DIM = 16  # Qwen3 hidden size = the transformer's cap_feat_dim
_LATENT_CHANNELS = 4


def _transformer():
    import torch
    from diffusers import ZImageTransformer2DModel

    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,),
        all_f_patch_size=(1,),
        in_channels=_LATENT_CHANNELS,
        dim=32,
        n_layers=4,
        n_refiner_layers=2,  # as Turbo: 2 image-only noise refiners, 2 text-only context refiners
        n_heads=2,
        n_kv_heads=2,
        qk_norm=True,
        cap_feat_dim=_TEXT_DIM,
        axes_dims=[4, 6, 6],  # must sum to the head dim (16)
        axes_lens=[1536, 512, 512],  # Turbo's: the first axis covers up to 512 caption tokens, then the image
    )
    # The constructor leaves the two pad tokens as torch.empty (whatever memory held): make them
    # seeded random values, as learned ones would be.
    with torch.no_grad():
        transformer.x_pad_token.normal_()
        transformer.cap_pad_token.normal_()
    return transformer


def _text_encoder(vocab_size: int):
    from transformers import Qwen3Config, Qwen3Model

    return Qwen3Model(
        Qwen3Config(
            vocab_size=vocab_size,
            hidden_size=_TEXT_DIM,
            intermediate_size=32,
            num_hidden_layers=2,  # the pipeline reads hidden_states[-2]
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=8,
            max_position_embeddings=512,  # the pipeline pads every prompt to max_sequence_length 512
        )
    )


def build_zimage_pipeline(seed: int) -> ZImagePipeline:
    """The tiny Z-Image pipeline; weights depend only on ``seed``."""
    from diffusers import FlowMatchEulerDiscreteScheduler, ZImagePipeline

    tokenizer = qwen2_tokenizer()
    return ZImagePipeline(
        transformer=seeded(seed, 0, _transformer),
        # Z-Image's VAE is FLUX's: its constants (16 latent channels there, 4 here).
        vae=seeded(seed, 1, lambda: vae(_LATENT_CHANNELS, scaling_factor=0.3611, shift_factor=0.1159)),
        text_encoder=seeded(seed, 2, lambda: _text_encoder(len(tokenizer))),
        tokenizer=tokenizer,
        # Z-Image-Turbo's scheduler: a fixed shift (the pipeline's `mu` is ignored without dynamic shifting).
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0),
    )
