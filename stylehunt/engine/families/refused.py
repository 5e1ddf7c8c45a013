"""The diffusers transformers no family adapter covers, as data: class name -> why ``apply`` refuses it.

Two kinds of entry (`REFUSAL_KINDS`): ``"unguidable"``, where stylehunt's mechanism (one
self-attention call per layer whose output is mixed with its values, perturbed rows appended to the
batch) cannot give the head perturbation exactly, and ``"no_adapter"``, where it could but no adapter
declares the family yet (the reason names what differs). ``docs/families.md`` is generated from this
table and the adapters (``tests/test_families_table.py`` checks it, and that every transformer class
a diffusers pipeline takes is in one or the other). Nothing here imports torch.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["REFUSAL_KINDS", "Refusal", "REFUSED_TRANSFORMERS", "refusal_for"]

#: ``"unguidable"``: cannot be guided exactly; ``"no_adapter"``: could be, no adapter yet.
REFUSAL_KINDS = ("unguidable", "no_adapter")


class Refusal(NamedTuple):
    kind: str  # one of REFUSAL_KINDS
    reason: str  # completes "stylehunt does not guide <class>: ..."


def _u(reason: str) -> Refusal:
    return Refusal("unguidable", reason)


def _n(reason: str) -> Refusal:
    return Refusal("no_adapter", reason)


_LINEAR = (
    "its self-attention is linear attention (kernel feature maps and two matmuls, no attention map and no "
    "SDPA call), so there is no map to perturb at the call where stylehunt mixes heads"
)
_AUDIO = "it generates audio, and stylehunt's search and CLI score and write images and videos"

#: Transformer class (as diffusers names it) -> why it is refused. Adapters win: a class a family
#: adapter covers is never looked up here (and the table test fails if one is in both).
REFUSED_TRANSFORMERS: dict[str, Refusal] = {
    # -- cannot be guided exactly ----------------------------------------------------------------
    "SanaTransformer2DModel": _u(_LINEAR),
    "SanaVideoTransformer3DModel": _u(_LINEAR),
    "SanaWMTransformer3DModel": _u(
        "most of its self-attention layers are gated delta-net linear attention (no attention map, no SDPA call)"
    ),
    "AnyFlowFARTransformer3DModel": _u(
        "its causal frame-autoregressive processor computes attention without torch's SDPA or diffusers' "
        "dispatch, where stylehunt mixes heads"
    ),
    "MochiTransformer3DModel": _u(
        "its attention processor makes one attention call per sample (it drops each row's padded text "
        "tokens), and stylehunt mixes exactly one attention call per layer"
    ),
    "NucleusMoEImageTransformer2DModel": _u(
        "its attention is asymmetric (queries over the image tokens, keys over [image, text]), so the "
        "identity map of a query has no key of the same index"
    ),
    "PRXTransformer2DModel": _u(
        "its attention is asymmetric (queries over the image tokens, keys over [image, text]), so the "
        "identity map of a query has no key of the same index"
    ),
    "Cosmos3OmniTransformer": _u(
        "it attends with grouped-query attention inside the attention call (fewer value heads than query "
        "heads, enable_gqa), and stylehunt's mix needs one value head per query head"
    ),
    "GlmImageTransformer2DModel": _u(
        "its pipeline caches keys/values per batch row (kv_cache), and stylehunt appends perturbed rows"
    ),
    "OmniGenTransformer2DModel": _u(
        "its forward takes per-sample inputs keyed by the sample's index in the batch (input_image_sizes), "
        "which appended rows would not extend"
    ),
    "Transformer2DModel": _u("VQ-Diffusion denoises discrete codebook tokens, not latents through a scheduler's step"),
    "UVit2DModel": _u("aMUSEd predicts masked codebook tokens (MaskGIT), not a denoising prediction to guide"),
    "RFD4ProteinaTransformer": _u("it generates protein structures, not images or videos"),
    "AceStepTransformer1DModel": _u(_AUDIO),
    "LongCatAudioDiTTransformer": _u(_AUDIO),
    "StableAudioDiTModel": _u(_AUDIO),
    "StableAudio3DiTModel": _u(_AUDIO),
    "MiniMaxMusic3Transformer1DModel": _u(_AUDIO),
    # -- no adapter yet: what an adapter would have to declare -------------------------------------
    "Krea2Transformer2DModel": _n("single-stream, grouped-query heads repeated before SDPA; CFG as separate calls"),
    "Lumina2Transformer2DModel": _n(
        "single-stream with 2 + 2 refiners; CFG renormalised (cfg_normalization) with truncation, output negated"
    ),
    "LuminaNextDiT2DModel": _n("Lumina-Next: cross-attention DiT with its own rotary layout"),
    "HiDreamImageTransformer2DModel": _n(
        "double + single blocks with Llama tokens appended inside every block (per-layer hidden states)"
    ),
    "HunyuanImageTransformer2DModel": _n(
        "double + single blocks; CFG through a non-affine guider component (AdaptiveProjectedMixGuidance)"
    ),
    "HunyuanVideoTransformer3DModel": _n("double + single blocks over [video, text] with a text mask"),
    "HunyuanVideoFramepackTransformer3DModel": _n("history latents of earlier sections concatenated per call"),
    "HunyuanDiT2DModel": _n("cross-attention DiT; its rotary embedding is a tuple the batch does not ride on"),
    "CogView3PlusTransformer2DModel": _n("joint attention over [text, image]; CFG batched [uncond, cond]"),
    "CogView4Transformer2DModel": _n("joint attention over [text, image]; CFG as separate calls"),
    "CogVideoXTransformer3DModel": _n("joint attention over [text, video]; CFG batched, optionally dynamic"),
    "ConsisIDTransformer3DModel": _n("CogVideoX with identity-preserving face features passed per row"),
    "CosmosTransformer3DModel": _n("cross-attention DiT; a padding mask broadcast over the batch; CFG in x0 space"),
    "LongCatImageTransformer2DModel": _n("FLUX-like double + single blocks; CFG renormalised (enable_cfg_renorm)"),
    "OvisImageTransformer2DModel": _n("FLUX-like double + single blocks; CFG as separate calls"),
    "BriaTransformer2DModel": _n("FLUX-like double + single blocks; CFG batched, optionally normalised"),
    "BriaFiboTransformer2DModel": _n("per-layer text-encoder states passed as a list of B-row tensors"),
    "BriaFibo2Transformer2DModel": _n("per-layer text-encoder states passed as a list of B-row tensors"),
    "AuraFlowTransformer2DModel": _n("joint + single blocks; CFG batched [uncond, cond]"),
    "PixArtTransformer2DModel": _n("cross-attention DiT (attn1 self, attn2 to text); CFG batched [uncond, cond]"),
    "DiTTransformer2DModel": _n("class-conditional (ImageNet labels, no prompt); CFG batched"),
    "Ideogram4Transformer2DModel": _n("the unconditional prediction comes from a second module, unconditional_transformer"),
    "Kandinsky5Transformer3DModel": _n("text blocks, then visual self- and cross-attention; CFG as separate calls"),
    "Kandinsky6Transformer3DModel": _n("text blocks, then visual self- and cross-attention"),
    "Kandinsky6SRTransformer3DModel": _n("a super-resolution stage conditioned on a low-resolution video"),
    "HeliosTransformer3DModel": _n("Wan-like self/cross-attention blocks with history frames"),
    "MotifVideoTransformer3DModel": _n("double + single blocks; CFG through a guider component"),
    "AllegroTransformer3DModel": _n("cross-attention DiT (attn1 self, attn2 to text); CFG batched"),
    "LatteTransformer3DModel": _n("alternating spatial and temporal cross-attention DiT blocks"),
    "EasyAnimateTransformer3DModel": _n("joint attention over [text, video]; CFG batched"),
    "SkyReelsV2Transformer3DModel": _n("Wan-shaped, with diffusion-forcing per-frame timesteps"),
    "WanVACETransformer3DModel": _n("Wan with VACE control blocks fed per-row context hints"),
    "WanAnimateTransformer3DModel": _n("Wan with face and pose conditioning encoders"),
    "WanAnimate2Transformer3DModel": _n("Wan with face and pose conditioning encoders"),
    "ChronoEditTransformer3DModel": _n("Wan-shaped image-edit video model with temporal reasoning tokens"),
    "AnyFlowTransformer3DModel": _n("Wan-shaped flow-map model (two timesteps per call)"),
    "JoyImageEditTransformer3DModel": _n("image-edit transformer with reference tokens in the sequence"),
    "JoyImageEditPlusTransformer3DModel": _n("image-edit transformer with reference tokens in the sequence"),
    "MiniMaxH3Transformer3DModel": _n("per-row inputs the generic row appending does not extend"),
    "DreamLiteTransformer2DModel": _n("a mobile U-Net-like transformer with its own block layout"),
}


def refusal_for(transformer_class: str) -> Refusal | None:
    """Why ``transformer_class`` is refused, or ``None`` when it is not in the table."""
    return REFUSED_TRANSFORMERS.get(transformer_class)
