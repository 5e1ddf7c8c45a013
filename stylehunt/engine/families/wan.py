"""Wan 2.1 / 2.2 video (``WanTransformer3DModel``): self-attention over video tokens, two experts in 2.2 A14B.

Only the video self-attention of each block, ``blocks.{i}.attn1``, is addressable (Wan2.1-T2V-1.3B:
30 layers x 12 heads; 14B and each Wan 2.2 A14B expert: 40 x 40). The reasons for each field sit beside it.
"""

from __future__ import annotations

from .spec import Adapter, LayerGroup

__all__ = ["ADAPTER"]

ADAPTER = Adapter(
    name="wan",
    transformer_classes=("WanTransformer3DModel",),
    pipeline_classes=("WanPipeline", "WanImageToVideoPipeline", "WanVideoToVideoPipeline"),
    # attn2 is cross-attention to the text (and, in Wan 2.1 I2V, the CLIP image tokens): its map has no
    # diagonal to perturb. Text never enters attn1, so the joint and image identities coincide there (both
    # are the identity map over video tokens, diffusers' STG). A block takes its rows in hidden_states,
    # encoder_hidden_states and temb (its timestep projection)
    layer_groups=(
        LayerGroup("blocks", "attn1", "image", block_rows=("hidden_states", "encoder_hidden_states", "temb")),
    ),
    # hidden_states is (B, C, frames, H, W); timestep (B,), or (B, tokens) for Wan 2.2 TI2V-5B's per-token
    # timesteps; the rotary embedding has no batch dimension
    batched=("hidden_states", "encoder_hidden_states", "timestep", "encoder_hidden_states_image"),
    # two calls per step, conditional first (guidance_scale; Wan 2.2's low-noise expert uses
    # guidance_scale_2, which defaults to it): an affine combination, so the term is added to the output
    cfg="separate",
    # Wan 2.2 A14B: transformer for the high-noise steps, transformer_2 for the low-noise ones, switched at
    # the pipeline's boundary_ratio; both are guided with the same heads (they have the same grid), and a
    # preset does not address them separately (docs/engine.md, "Wan 2.2's two experts")
    denoisers=("transformer", "transformer_2"),
    # encode_prompt pads to 226 tokens by default but the pipelines' calls to 512: the search encodes as
    # the pipeline would
    encode_args=(("max_sequence_length", 512),),
    input_embedder="patch_embedding",  # a 3-D convolution (patch 1 x 2 x 2), where the search counts rows
)
