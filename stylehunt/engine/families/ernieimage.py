"""ERNIE-Image (``ErnieImageTransformer2DModel``): one single stream over [image, text], CFG in one batch.

Layers are ``layers.{i}.self_attention`` (the release: 24 x 24 heads of dim 128), joint attention over
[image tokens, text tokens]; each row's text is padded to the batch's longest with a key mask, so only
the joint identity is exact.
"""

from __future__ import annotations

from .spec import Adapter, LayerGroup

__all__ = ["ADAPTER"]

ADAPTER = Adapter(
    name="ernieimage",
    min_diffusers="0.38",  # ErnieImagePipeline first ships in diffusers 0.38
    transformer_classes=("ErnieImageTransformer2DModel",),
    pipeline_classes=("ErnieImagePipeline",),
    # The blocks take their stream sequence-first ([tokens, batch, width], and the modulation too), so the
    # shared prefix, which slices rows on dim 0, is off for this family (no block_rows).
    layer_groups=(LayerGroup("layers", attn="self_attention", kind="image_text"),),
    # hidden_states: the 2 x 2-packed latents (B, C, H, W); text_bth: the prompts' embeddings padded to the
    # longest, text_lens: each row's length (the key mask and the image tokens' RoPE read it)
    batched=("hidden_states", "timestep", "text_bth", "text_lens"),
    # one call per step holding [uncond, cond] while guidance_scale > 1: c + s (c - u), affine
    cfg="uncond_first",
    identities=("joint",),
    identity_note="its text is padded per row with a key mask, and identity='image' does not take masks",
    text_arg="text_bth",
    # encode_prompt returns one value, a list with one (tokens, width) tensor per prompt (no padding, no
    # mask), which the pipeline takes back as prompt_embeds; it knows no negative prompt
    encode_returns=("prompt_embeds",),
    encode_one_value=True,
    encode_negative="separate",
)
