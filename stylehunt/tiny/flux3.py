"""The tiny FLUX 3 modular pipeline: diffusers' `diffusers.Flux3AutoBlocks` (``Flux3ModularPipeline``)
over a FLUX-3-shaped ``Flux3Transformer2DModel`` (2 layers of each mode block and 2 single blocks x 2
heads x head dim 16), a 32-layer Qwen3-VL text encoder of hidden size 16 in a Qwen3-VL processor, FLUX.2's
VAE with 2 latent channels (packed 2 x 2 into 8 transformer channels), and diffusers' CFG guider.

FLUX 3 has no standard pipeline: `build_flux3_pipeline` returns the modular one (without the prompt-upsampler
step), whose components `flux3_components` builds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .components import seeded

if TYPE_CHECKING:
    from diffusers import Flux3ModularPipeline

__all__ = ["build_flux3_pipeline", "flux3_components"]

_LATENT_CHANNELS = 2
_TEXT_DIM = 16
#: the pipeline stacks hidden states 4, 8, ..., 32 of the text encoder: 8 x 16 = 128 text channels
_TEXT_LAYERS = 32  # the pipeline's default text_encoder_out_layers reach hidden state 32


def _transformer(flow_map: bool = False):
    from diffusers import Flux3Transformer2DModel

    return Flux3Transformer2DModel(
        flow_map=flow_map,  # the step-distilled models' target-timestep embedder
        in_channels=4 * _LATENT_CHANNELS,
        cond_in_channels=4 * _LATENT_CHANNELS,
        num_layers=2,
        num_single_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=8 * _TEXT_DIM,  # 8 stacked hidden states
        timestep_channels=32,
        axes_dims_rope=(4, 4, 4, 4),  # sums to the head dim
    )


def _vae():
    from diffusers import AutoencoderKLFlux2

    return AutoencoderKLFlux2(
        block_out_channels=(4,) * 4,  # vae_scale_factor 8, as the real VAE
        layers_per_block=1,
        latent_channels=_LATENT_CHANNELS,
        norm_num_groups=1,
        sample_size=256,
    )


def flux3_components(seed: int) -> dict[str, Any]:
    """The tiny FLUX 3 components by the modular pipeline's names; weights depend only on ``seed``."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    from .qwenimage21 import _tokenizer, qwen3vl_processor, qwen3vl_text_encoder

    tokenizer = _tokenizer()
    return {
        "transformer": seeded(seed, 0, _transformer),
        "vae": seeded(seed, 1, _vae),
        "text_encoder": seeded(seed, 2, lambda: qwen3vl_text_encoder(tokenizer, num_layers=_TEXT_LAYERS)),
        "tokenizer": qwen3vl_processor(tokenizer),
        "scheduler": FlowMatchEulerDiscreteScheduler(shift=3.0),
    }


def build_flux3_pipeline(seed: int) -> Flux3ModularPipeline:
    """The tiny FLUX 3 modular pipeline (``Flux3AutoBlocks``), components set, float32 on the CPU."""
    from diffusers import Flux3AutoBlocks

    blocks = Flux3AutoBlocks()
    # the prompt upsampler (a Qwen3.5 model that rewrites the prompt before encoding) is left out, as
    # diffusers documents: the prompt is encoded as given
    blocks.sub_blocks.pop("prompt_upsampler")
    pipe = blocks.init_pipeline()
    components = flux3_components(seed)
    pipe.update_components(**{k: v for k, v in components.items() if k in pipe.component_names})
    return pipe
