"""The tiny Chroma pipeline: `diffusers.ChromaPipeline` with a Chroma1-HD-shaped
``ChromaTransformer2DModel`` (2 double + 2 single blocks x 2 heads x head dim 16, a 1-layer
approximator) and one T5 text encoder; the VAE has one latent channel, packed 2 x 2 into 4
transformer input channels, as in `flux`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .components import seeded, t5_encoder, t5_tokenizer, vae

if TYPE_CHECKING:
    from diffusers import ChromaPipeline

__all__ = ["build_chroma_pipeline"]

_T5_DIM = 32


def _transformer():
    from diffusers import ChromaTransformer2DModel

    return ChromaTransformer2DModel(
        patch_size=1,
        in_channels=4,  # 1 latent channel packed 2 x 2
        num_layers=2,
        num_single_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=_T5_DIM,  # = T5 d_model
        axes_dims_rope=(4, 4, 8),  # must sum to the head dim
        approximator_num_channels=16,
        approximator_hidden_dim=32,
        approximator_layers=1,
    )


def build_chroma_pipeline(seed: int) -> ChromaPipeline:
    """The tiny Chroma pipeline; weights depend only on ``seed``."""
    from diffusers import ChromaPipeline, FlowMatchEulerDiscreteScheduler

    t5_tok = t5_tokenizer()
    return ChromaPipeline(
        transformer=seeded(seed, 0, _transformer),
        # The FLUX VAE constants, which Chroma shares (16 latent channels there, 1 here).
        vae=seeded(seed, 1, lambda: vae(1, scaling_factor=0.3611, shift_factor=0.1159)),
        text_encoder=seeded(seed, 2, lambda: t5_encoder(len(t5_tok), _T5_DIM)),
        tokenizer=t5_tok,
        # Chroma1-HD's scheduler: the pipeline computes `mu` from the image sequence length.
        scheduler=FlowMatchEulerDiscreteScheduler(
            shift=3.0,
            use_dynamic_shifting=True,
            base_shift=0.5,
            max_shift=1.15,
            base_image_seq_len=256,
            max_image_seq_len=4096,
        ),
    )
