"""HunyuanVideo 1.5 (``HunyuanVideo15Transformer3DModel``): double-stream blocks over [video, condition tokens].

Layers are the double-stream blocks' joint attentions ``transformer_blocks.{i}.attn`` (the 8.3B
release: 54 x 16 heads of dim 128), over [video tokens, then the condition tokens]: the (zeroed, masked
in text-to-video) 729 SigLIP image tokens, the ByT5 glyph tokens and the Qwen2.5-VL prompt tokens,
each row's valid ones first. The two token-refiner blocks inside ``context_embedder`` see the prompt
alone and are not addressable (like Z-Image's context refiners: they would change the text
conditioning only).
"""

from __future__ import annotations

from .spec import Adapter, LayerGroup

__all__ = ["ADAPTER"]

ADAPTER = Adapter(
    name="hunyuanvideo15",
    transformer_classes=("HunyuanVideo15Transformer3DModel",),
    pipeline_classes=("HunyuanVideo15Pipeline", "HunyuanVideo15ImageToVideoPipeline"),
    layer_groups=(
        # the blocks are called positionally: (hidden_states, encoder_hidden_states, temb, attention_mask,
        # freqs_cis); the mask is the per-row [condition tokens] padding mask, the RoPE has no batch
        LayerGroup(
            "transformer_blocks",
            kind="image_text",
            block_rows=("hidden_states", "encoder_hidden_states", "temb", "attention_mask"),
        ),
    ),
    batched=(
        "hidden_states", "timestep", "timestep_r", "encoder_hidden_states", "encoder_attention_mask",
        "encoder_hidden_states_2", "encoder_attention_mask_2", "image_embeds",
    ),
    # The pipelines hand CFG to their `guider` component (ClassifierFreeGuidance by default, any
    # diffusers guider in its place): one transformer call per guider batch, the conditional batch
    # first. A guider may combine the batches non-affinely (guidance_rescale, APG), so the term is
    # added where the guider's prediction meets scheduler.step.
    cfg="separate",
    inject="scheduler",
    identities=("joint",),
    identity_note=(
        "its condition tokens are padded per row with a mask at the attention, and identity='image' does not take masks"
    ),
    # the image-conditioned text length varies per row (valid tokens first), so the text_arg tells
    # nothing the joint identity needs
    encode_returns=("prompt_embeds", "prompt_embeds_mask", "prompt_embeds_2", "prompt_embeds_mask_2"),
    encode_negative="separate",
    # the pipelines take no CFG argument: the scale is the guider component's `guidance_scale`
    cfg_component="guider",
    cfg_scale_arg="guidance_scale",
    max_batch=1,
    input_embedder="x_embedder",
)
