"""Z-Image (``ZImageTransformer2DModel``): one single-stream transformer over [image, caption], list inputs.

Addresses: the main layers ``layers.{i}.attention``, layer ``i`` at address ``i`` (Z-Image-Turbo: 30 x
30), joint attention over [image, caption] with a padding mask; the refiner blocks before them are not
addressable (docs/engine.md, "Z-Image: the main layers only"). The reasons for each field sit beside it.
"""

from __future__ import annotations

from typing import Any

from .spec import Adapter, LayerGroup

__all__ = ["ADAPTER", "cfg_in_call"]


def cfg_in_call(pipe: Any) -> bool:
    """Whether this step's transformer call holds ``[cond, uncond]``: the Z-Image loops' ``apply_cfg``.

    CFG is on when ``guidance_scale > 0``, except at steps whose normalised time
    ``(1000 - t) / 1000`` exceeds ``cfg_truncation`` (when that is ``<= 1``), where the loops set the
    scale to 0 and call the transformer with the conditional rows only. The step is the scheduler's
    (``step_index``, or ``begin_index`` before the first ``step``), computed in float32 as the loops do.
    """
    if not pipe.do_classifier_free_guidance:
        return False
    truncation = pipe._cfg_truncation
    if truncation is None or float(truncation) > 1:
        return True
    scheduler = pipe.scheduler
    index = scheduler.step_index
    if index is None:
        index = getattr(scheduler, "begin_index", None) or 0
    t_norm = ((1000 - scheduler.timesteps[index].float()) / 1000).item()
    return not t_norm > truncation


ADAPTER = Adapter(
    name="zimage",
    transformer_classes=("ZImageTransformer2DModel",),
    pipeline_classes=("ZImagePipeline", "ZImageImg2ImgPipeline", "ZImageInpaintPipeline"),
    # The 2 context_refiner blocks attend over the caption alone, with no timestep and no image: perturbing
    # them would change only the text conditioning, the same at every step. The 2 image-only noise_refiner
    # blocks run first: addressing them after the main layers would contradict the execution order the
    # shared prefix relies on, and first would shift every main layer off the model's own numbering. A
    # fingerprint fixes the grid, so this is decided once
    layer_groups=(
        LayerGroup(
            "layers", attn="attention", kind="image_text", block_rows=("x", "attn_mask", "freqs_cis", "adaln_input")
        ),
    ),
    # the pipelines call the transformer positionally with x (a list of per-sample latents, each
    # (C, 1, H, W)), t (a tensor) and cap_feats (per-sample caption embeddings of their own lengths), and get
    # back a list of per-sample outputs
    batch_arg="x",
    batched=("t",),
    batched_per_sample=("x", "cap_feats"),
    # with CFG on, one call holds [cond..., uncond...] (prompt_embeds + negative_prompt_embeds), but
    # cfg_truncation turns it off for late steps: cfg_in_call recomputes the loop's apply_cfg
    cfg="cond_first",
    cfg_in_call=cfg_in_call,
    output="per_sample_list",
    # the loop combines pos + s (pos - neg), may renormalise it (cfg_normalization, not affine), squeezes the
    # frame axis and negates it before scheduler.step: the guidance is added there, with sign -1
    inject="scheduler",
    output_sign=-1.0,
    identities=("joint",),
    identity_note=(
        "its [image, caption] sequence is padded per row with a mask, and identity='image' does not take masks"
    ),
    refuse_if_set=("siglip_feats", "image_noise_mask"),  # omni mode: layout [caption, image, siglip]
    # Z-Image-Turbo runs without CFG (guidance_scale 0; the pipeline's test is > 0): every row is
    # conditional, and the head guidance is the only one
    cfg_off_scale=0.0,
    # rows are counted at t_embedder, whose input is the timestep batch (the patch embedding sees the rows'
    # tokens concatenated)
    input_embedder="t_embedder",
    # the 2 x 2 patch is the config's all_patch_size, not the patch_size key the generic size rule reads:
    # declared here, so sides are multiples of 16
    latent_packing=2,
)
