"""Qwen-Image 2.1 (``QwenImage21Transformer2DModel``): single-stream blocks, block-causal, with a prefix KV cache.

One joint sequence per row: the text (with condition images' latents in the vision slots the encoder
reserved for them), then the target image. Layers are the blocks' attentions
``transformer_blocks.{i}.attn`` (class default 32 x 32 heads of dim 128). Why each field is what it
is sits beside it below; the exactness argument is in ``docs/engine.md``.
"""

from __future__ import annotations

from .spec import Adapter, LayerGroup

__all__ = ["ADAPTER"]

ADAPTER = Adapter(
    name="qwenimage21",
    min_diffusers="0.41",  # QwenImage21Pipeline first ships in diffusers 0.41
    transformer_classes=("QwenImage21Transformer2DModel",),
    pipeline_classes=("QwenImage21Pipeline",),
    # no block_rows: the shared prefix would leave the early layers' cache entries without the perturbed rows
    layer_groups=(LayerGroup("transformer_blocks", kind="text_image"),),
    # img_mask (the vision slots) and img_shapes hold one entry per prompt and the transformer reads row 0
    # only (every sample shares the layout): not appended. The transformer appends a t = 0 row to
    # `timestep` itself, after the batch, so the perturbed rows' timesteps line up
    batched=("hidden_states", "encoder_hidden_states", "encoder_hidden_states_mask", "timestep"),
    # true CFG as two calls per step, conditional first, combined affinely; but the negative prompt's
    # joint sequence is as long as its own text, so at the prefill step the two outputs differ in
    # length: the term goes to scheduler.step's input, which keeps the trailing (target) tokens
    cfg="separate",
    inject="scheduler",
    kept_tokens="trailing",
    # block-causal attention with padded text keys masked: only the joint identity is defined there
    identities=("joint",),
    identity_note="its attention is block-causal with the text padding masked, and identity='image' takes no masks",
    # the default processor computes a layer's prefill in one call per text/image segment (each segment's
    # queries are the last keys of its call), the cached decode over cat(cached prefix, target):
    # each call is mixed with the identity at key n_keys - n_queries + i
    query_runs=True,
    # kv_cache holds the prefix's keys/values per row of the first step's batch, reused at every later
    # step: the perturbed rows keep theirs (their prefix, perturbed, is step-independent as the
    # clean one is), so every step appends the same rows; no argument is refused
    refuse_if_set=(),
    row_caches=("kv_cache",),
    # encode_prompt (Qwen3-VL) knows no negative prompt; its third value (the vision slots) is rebuilt
    # by the pipeline for text-only embeddings
    encode_returns=("prompt_embeds", "prompt_embeds_mask", None),
    encode_negative="separate",
    cfg_scale_arg="true_cfg_scale",
    input_embedder="img_in",
    # the VAE downscales 16x and the transformer takes latents unpatched, but one vision slot is 2 x 2
    # latents: sides are multiples of 32 (the pipeline rounds down to them)
    latent_packing=2,
)
