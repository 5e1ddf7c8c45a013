"""LTX-Video 0.9 (``LTXVideoTransformer3DModel``): self-attention over video tokens.

Only the video self-attention of each block, ``transformer_blocks.{i}.attn1``, is addressable
(LTX-Video 0.9.x 2B: 28 layers x 32 heads; 13B: 48 x 32). ``attn2`` is cross-attention to the text:
its map has no diagonal to perturb. Text never enters ``attn1``, so the joint and image identities
coincide there (the identity map over video tokens).
"""

from __future__ import annotations

from .spec import Adapter, LayerGroup

__all__ = ["ADAPTER"]

ADAPTER = Adapter(
    name="ltx",
    transformer_classes=("LTXVideoTransformer3DModel",),
    # LTXImageToVideoPipeline is left out: it hands scheduler.step the unpacked latents without the
    # conditioning frame, a layout the scheduler-side term below does not map the transformer rows to.
    pipeline_classes=("LTXPipeline",),
    # No shared prefix (block_rows empty): the rotary embedding a block gets has the batch on dim 0
    # (one grid per row), so a block cannot run on a subset of the rows.
    layer_groups=(LayerGroup("transformer_blocks", "attn1", "image"),),
    batched=("hidden_states", "encoder_hidden_states", "timestep", "encoder_attention_mask", "video_coords"),
    # One batched call [uncond, cond] while CFG is on; `guidance_rescale` (a std ratio) makes that CFG
    # non-affine, so the term goes to scheduler.step's input, where the rows keep the transformer's layout.
    cfg="uncond_first",
    inject="scheduler",
    encode_returns=("prompt_embeds", "prompt_attention_mask", "negative_prompt_embeds", "negative_prompt_attention_mask"),
    input_embedder="proj_in",
)
