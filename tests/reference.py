"""An independent, slow reference for head-level SoftPAG guidance.

It shares no code with ``stylehunt.engine``:

* attention is recomputed by *materialising* every map ``A = softmax(Q K^T * scale + mask)`` (the
  model's own attention mask, as SDPA applies it: additive when float, keep-where-True when bool) and forming
  ``A' = (1-u) A + u I`` with an explicit identity matrix (joint identity) or the masked PAG map
  (image identity: image queries see their own image key plus all text keys), then ``A' V``;
* the current layer is tracked with ordinary ``register_forward_pre_hook`` hooks;
* guidance is formed from *separate* forwards, the way the paper writes it:
  ``eps = eps_cfg + w (eps_c - eps_pert)``.
"""

from __future__ import annotations

import functools
import inspect
import math

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode


def attention_layers(transformer):
    """(module, kind) in stylehunt's documented address order (written out independently)."""
    name = type(transformer).__name__
    if name == "SD3Transformer2DModel":
        blocks = transformer.transformer_blocks
        out = [(b.attn, "image_text") for b in blocks]
        out += [(b.attn2, "image") for b in blocks if getattr(b, "attn2", None) is not None]
        return out
    if name == "ZImageTransformer2DModel":  # the main layers only; the refiners are not addressable
        return [(layer.attention, "image_text") for layer in transformer.layers]
    if name == "QwenImageTransformer2DModel":  # one kind of block: double-stream, joint over [text, image]
        return [(b.attn, "text_image") for b in transformer.transformer_blocks]
    if name == "HunyuanVideo15Transformer3DModel":  # double-stream blocks, joint over [video, condition tokens]
        return [(b.attn, "image_text") for b in transformer.transformer_blocks]
    if name == "ErnieImageTransformer2DModel":  # single stream over [image, text]
        return [(layer.self_attention, "image_text") for layer in transformer.layers]
    if name == "QwenImage21Transformer2DModel":  # single-stream blocks over [text (+ condition images), target]
        return [(b.attn, "text_image") for b in transformer.transformer_blocks]
    if name == "Flux3Transformer2DModel":  # text mode, image mode, reference-image mode blocks, then single blocks
        out = [(b.attn, "text") for b in transformer.txt_mode_blocks]
        out += [(b.attn, "image") for b in transformer.mode_blocks["image"]]
        out += [(b.attn, "image") for b in transformer.mode_blocks["image_cond"]]
        return out + [(b.attn, "text_image") for b in transformer.single_transformer_blocks]
    if name == "WanTransformer3DModel":  # video self-attention only (attn2 is cross-attention to the text)
        return [(b.attn1, "image") for b in transformer.blocks]
    if name == "LTXVideoTransformer3DModel":  # video self-attention only (attn2 is cross-attention to the text)
        return [(b.attn1, "image") for b in transformer.transformer_blocks]
    if name == "LTX2VideoTransformer3DModel":  # every block's video self-attention, then every block's audio one
        blocks = transformer.transformer_blocks
        return [(b.attn1, "image") for b in blocks] + [(b.audio_attn1, "image") for b in blocks]
    if name == "UNet2DConditionModel":  # self-attention of every transformer block: down, mid, up blocks
        out = []
        levels = [*transformer.down_blocks, transformer.mid_block, *transformer.up_blocks]
        for level in levels:
            for attention in getattr(level, "attentions", None) or []:
                out += [(b.attn1, "image") for b in attention.transformer_blocks]
        return out
    # FLUX.1, Chroma and FLUX.2: the double-stream blocks, then the single-stream blocks
    out = [(b.attn, "text_image") for b in transformer.transformer_blocks]
    out += [(b.attn, "text_image") for b in transformer.single_transformer_blocks]
    return out


def identity_map(n: int, text_len: int, kind: str, mode: str, logits: torch.Tensor) -> torch.Tensor:
    """The perturbed attention map for one head (rows x keys), materialised.

    With fewer queries than keys (a cached prefix, or the earlier segments of a block-causal
    attention, come first) query ``i`` is key ``n_keys - n_queries + i``: the identity sits there.
    A text-only attention has no image query, so the image identity leaves its map as it is.
    """
    rows, keys = logits.shape
    if kind == "text" and mode == "image":
        return torch.softmax(logits, dim=-1)
    eye = torch.zeros(rows, keys, dtype=logits.dtype)
    eye[torch.arange(rows), keys - rows + torch.arange(rows)] = 1.0
    if mode == "joint" or kind == "image" or kind == "text":
        return eye
    assert rows == keys, "the image identity map is defined for self-attention over the whole sequence"
    mask = torch.zeros(n, n, dtype=logits.dtype)
    img = slice(0, n - text_len) if kind == "image_text" else slice(text_len, n)
    mask[img, img] = float("-inf")
    idx = torch.arange(n)[img]
    mask[idx, idx] = 0.0
    return torch.softmax(logits + mask, dim=-1)


class ReferencePerturbation(TorchFunctionMode):
    """Recompute SDPA with materialised, SoftPAG-modified maps for the given per-layer strengths."""

    def __init__(self, transformer, table: torch.Tensor, mode: str, text_len: int):
        super().__init__()
        self.table = table  # (num_layers, max_heads)
        self.mode = mode
        self.text_len = text_len
        self.current = None
        self.handles = []
        for index, (module, kind) in enumerate(attention_layers(transformer)):
            self.handles.append(module.register_forward_pre_hook(self._enter(index, kind)))
            self.handles.append(module.register_forward_hook(self._leave))

    def _enter(self, index, kind):
        def hook(module, args):
            self.current = (index, kind)

        return hook

    def _leave(self, module, args, output):
        self.current = None  # attention outside the addressed layers (Z-Image's refiners) is left alone

    def close(self):
        for h in self.handles:
            h.remove()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is not F.scaled_dot_product_attention or self.current is None:
            return func(*args, **kwargs)
        names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale")
        bound = dict(zip(names, args))
        bound.update(kwargs)
        q, k, v = bound["query"], bound["key"], bound["value"]
        mask = bound.get("attn_mask")
        index, kind = self.current
        scale = bound.get("scale") or 1.0 / math.sqrt(q.shape[-1])
        logits = (q.double() @ k.double().transpose(-1, -2)) * scale  # (B, H, N, N)
        if mask is not None:
            assert self.mode == "joint", "the image identity map is defined without masks"
            logits = logits.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else logits + mask.double()
        attn = torch.softmax(logits, dim=-1)
        # a query whose keys are all masked out (HunyuanVideo 1.5's padding tokens) attends to nothing:
        # SDPA gives it a zero output, where the softmax over no keys is NaN
        attn = attn.nan_to_num(0.0)
        n = q.shape[-2]
        for h in range(q.shape[1]):
            u = float(self.table[index, h]) if h < self.table.shape[1] else 0.0
            if u == 0.0:
                continue
            for b in range(q.shape[0]):
                target = identity_map(n, self.text_len, kind, self.mode, logits[b, h])
                attn[b, h] = (1 - u) * attn[b, h] + u * target
        return (attn @ v.double()).to(q.dtype)


def perturbed_forward(transformer, table, mode, kwargs):
    """One transformer forward with the reference perturbation (plain forward, no stylehunt)."""
    text = kwargs.get("encoder_hidden_states")
    ref = ReferencePerturbation(transformer, table, mode, 0 if text is None else text.shape[1])
    try:
        with ref:
            return transformer(**kwargs)[0]
    finally:
        ref.close()


def named_arguments(transformer, args, kwargs):
    """A transformer call's arguments by name (Z-Image's pipelines pass ``x, t, cap_feats`` positionally)."""
    bound = inspect.signature(type(transformer).forward).bind(transformer, *args, **kwargs).arguments
    bound.pop("self")
    return {**bound, **bound.pop("kwargs", {})}


def rows_of(output):
    """A transformer output as one tensor with the rows on dim 0 (Z-Image returns a list per sample)."""
    return torch.stack(list(output)) if isinstance(output, (list, tuple)) else output


def select_rows(kwargs, rows, batched):
    def pick(k, v):
        if k in batched and isinstance(v, dict):  # SDXL's added_cond_kwargs: a dict of batched tensors
            return {key: pick(k, value) for key, value in v.items()}
        if k in batched and (isinstance(v, list) or torch.is_tensor(v) and v.dim() > 0):
            return v[rows]
        return v

    return {k: pick(k, v) for k, v in kwargs.items()}


BATCHED = (
    "hidden_states", "encoder_hidden_states", "pooled_projections", "timestep", "guidance", "attention_mask",
    "x", "t", "cap_feats",  # Z-Image: x and cap_feats are lists with one entry per row
    "encoder_hidden_states_mask",  # Qwen-Image's text padding mask
    "encoder_hidden_states_image",  # Wan 2.1 I2V's CLIP image tokens
    # HunyuanVideo 1.5: the prompt's padding mask, the ByT5 glyph tokens and mask, the SigLIP image tokens
    "encoder_attention_mask", "encoder_hidden_states_2", "encoder_attention_mask_2", "image_embeds",
    "text_bth", "text_lens",  # ERNIE-Image's padded text and each row's length
    "sample", "added_cond_kwargs",  # the U-Nets' latents and SDXL's pooled text and size ids
    "encoder_attention_mask", "video_coords",  # LTX's text padding mask and token coordinates
    "audio_hidden_states", "audio_encoder_hidden_states", "audio_timestep", "sigma", "audio_sigma",  # LTX-2's audio
    "audio_encoder_attention_mask", "audio_coords",
)


def conditional_rows(pipe, transformer, call):
    """The rows of a step's first transformer call that hold the conditional prediction."""
    name = type(transformer).__name__
    if name == "SD3Transformer2DModel" and pipe.do_classifier_free_guidance:  # [uncond, cond]
        batch = call["hidden_states"].shape[0]
        return slice(batch // 2, batch)
    if name == "ErnieImageTransformer2DModel" and pipe.do_classifier_free_guidance:  # [uncond, cond]
        batch = call["hidden_states"].shape[0]
        return slice(batch // 2, batch)
    if name == "UNet2DConditionModel" and pipe.do_classifier_free_guidance:  # [uncond, cond]
        batch = call["sample"].shape[0]
        return slice(batch // 2, batch)
    if name in ("LTXVideoTransformer3DModel", "LTX2VideoTransformer3DModel") and pipe.do_classifier_free_guidance:
        batch = call["hidden_states"].shape[0]  # [uncond, cond]
        return slice(batch // 2, batch)
    if name == "ZImageTransformer2DModel":
        # [cond, uncond] when the loop runs CFG at this step: guidance_scale > 0 and the step's
        # normalised time t (the transformer's `t`) not past cfg_truncation
        batch, truncation = len(call["x"]), pipe._cfg_truncation
        truncated = truncation is not None and float(truncation) <= 1 and float(call["t"][0]) > truncation
        return slice(0, batch // 2) if pipe.do_classifier_free_guidance and not truncated else slice(0, batch)
    return slice(None)


def as_scheduler_input(transformer, call, delta):
    """``delta`` (transformer rows) as the pipeline hands the prediction to ``scheduler.step``."""
    if type(transformer).__name__ == "ZImageTransformer2DModel":
        return -delta.squeeze(2)  # the Z-Image loops squeeze the frame axis and negate
    if type(transformer).__name__ == "QwenImageTransformer2DModel":
        # the edit loops append the reference images' tokens after the target's and keep the
        # target's: the first shape in img_shapes, (frames, rows, columns) of tokens
        frames, rows, columns = call["img_shapes"][0][0]
        return delta[:, : frames * rows * columns]
    if type(transformer).__name__ == "QwenImage21Transformer2DModel":
        # the pipeline keeps the target image's tokens, the last of the joint sequence
        frames, rows, columns = call["img_shapes"][0][-1]
        return delta[:, delta.shape[1] - frames * rows * columns :]
    if type(transformer).__name__ == "Flux2Transformer2DModel":
        # the FLUX.2 loops append reference-image tokens (time coordinate 10, 20, ... in img_ids) after
        # the generated image's (time coordinate 0) and keep the generated ones
        return delta[:, : int((call["img_ids"][0, :, 0] == 0).sum())]
    return delta


class ReferenceGuidance:
    """Run a stock pipeline and add ``w (eps_c - eps_pert)`` at the scheduler, from separate forwards.

    The transformer's calls (Wan 2.2: both experts') are recorded; the first call of each step holds the
    conditional rows (second half under SD3 CFG, first half under Z-Image CFG, all rows otherwise). ``scheduler.step``
    then receives the pipeline's own ``eps_cfg`` plus ``w * (eps_c - eps_pert)``, laid out as the
    pipeline hands its prediction over (Z-Image: negated, frame axis squeezed; Qwen-Image-Edit: the
    target image's tokens only; FLUX.2: the generated image's tokens, without the reference images').
    """

    def __init__(self, pipe, table, scale, mode="joint"):
        self.pipe, self.table, self.scale, self.mode = pipe, table, scale, mode
        self.delta = None

    def __enter__(self):
        pipe = self.pipe
        step = pipe.scheduler.step
        state = {"first": True}
        # Wan 2.2's second expert runs the low-noise steps: it gets the same heads
        first = pipe.unet if hasattr(pipe, "unet") else pipe.transformer  # the SDXL / SD pipelines' U-Net
        self.denoisers = [t for t in (first, getattr(pipe, "transformer_2", None)) if t is not None]
        for transformer in self.denoisers:
            transformer.forward = self._forward(transformer, state)

        def scheduler_step(model_output, *args, **kwargs):
            state["first"] = True
            return step(model_output + self.scale * self.delta.to(model_output.dtype), *args, **kwargs)

        pipe.scheduler.step = scheduler_step
        return self

    def _forward(self, transformer, state):
        pipe, cls_forward = self.pipe, type(transformer).forward

        # the bound forward's signature: modular pipelines pass only the arguments forward names
        @functools.wraps(cls_forward.__get__(transformer))
        def forward(*args, **kwargs):
            call = named_arguments(transformer, args, kwargs)
            out = cls_forward(transformer, **call)
            if state["first"]:
                state["first"] = False
                cond = select_rows(call, conditional_rows(pipe, transformer, call), BATCHED)
                # Qwen-Image 2.1's prefix KV cache: the clean and the perturbed forwards keep their own,
                # filled at the pipeline's prefill step and read at every later one
                c_cache, p_cache = self._own_caches(call)
                eps_c = rows_of(cls_forward(transformer, **{**cond, **c_cache, "return_dict": False})[0])
                eps_p = rows_of(
                    perturbed_forward(transformer, self.table, self.mode, {**cond, **p_cache, "return_dict": False})
                )
                self.delta = as_scheduler_input(transformer, call, eps_c - eps_p)
            return out

        return forward

    def _own_caches(self, call):
        cache = call.get("kv_cache")
        if cache is None:
            return {}, {}
        if call.get("kv_cache_mode") == "extract":
            self.caches = [type(cache)(len(cache.layer_caches)) for _ in range(2)]
        return ({"kv_cache": c} for c in self.caches)

    def __exit__(self, *exc):
        for transformer in self.denoisers:
            del transformer.forward
        del self.pipe.scheduler.step
