"""FLUX.2 (``Flux2Transformer2DModel``): FLUX.2-dev and FLUX.2-klein, over [text, image (+ reference images)].

Layers are addressed as for FLUX.1: the double-stream blocks ``transformer_blocks.{i}.attn``, then
the single-stream blocks ``single_transformer_blocks.{j}.attn`` (``Flux2ParallelSelfAttention``, QKV
and the MLP input fused in one projection), all over [text, image]: klein-4B 5 + 20 x 24 heads,
klein-9B 8 + 24 x 32, dev 8 + 48 x 48, head dim 128. The blocks take their modulation per row
(``temb_mod_*``), so those carry the batch there.

The pipelines: ``Flux2KleinPipeline`` base runs CFG as two calls per step, conditional first, and
combines them affinely (``neg + s (pos - neg)``); step-distilled klein and the guidance-distilled
``Flux2Pipeline`` (dev, which passes a per-row ``guidance``) make one call. Reference images (editing,
and the inpaint pipeline's masked image) are appended to ``hidden_states`` after the latents and sliced
off the output by the pipeline, so a perturbed row carries them too and the term added to the whole
output reaches the scheduler exactly. No attention mask reaches SDPA (the padded text is attended, as in
FLUX.1), so both identity modes hold. ``txt_ids`` / ``img_ids`` are ``(B, S, 4)`` but the
transformer reads row 0 only (one position grid for every row), so they are not appended: a
perturbed row gets the same positions, and a 2-D ``(S, 4)`` grid passes through as well. The KV-cache
pipeline is refused by name, and ``kv_cache`` / ``kv_cache_mode`` by value.

``encode_prompt`` knows no negative prompt (the pipelines encode ``""`` by a second call) and returns
text ids the pipelines rebuild. CFG is ``guidance_scale`` (klein base: on above 1, default 4, so it is
turned off explicitly with 1). Like FLUX.1, the pipelines pack 2 x 2 latents into a token.
"""

from __future__ import annotations

from .spec import Adapter, LayerGroup

__all__ = ["ADAPTER"]

ADAPTER = Adapter(
    name="flux2",
    transformer_classes=("Flux2Transformer2DModel",),
    pipeline_classes=("Flux2KleinPipeline", "Flux2KleinInpaintPipeline", "Flux2Pipeline"),
    layer_groups=(
        LayerGroup(
            "transformer_blocks", block_rows=("hidden_states", "encoder_hidden_states", "temb_mod_img", "temb_mod_txt")
        ),
        LayerGroup("single_transformer_blocks", block_rows=("hidden_states", "temb_mod")),
    ),
    batched=("hidden_states", "encoder_hidden_states", "timestep", "guidance"),
    cfg="separate",
    encode_returns=("prompt_embeds", None),
    encode_negative="separate",
    latent_packing=2,
)
