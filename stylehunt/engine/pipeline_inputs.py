"""What a pipeline accepts: image sizes (the multiple one token covers, the default), video frame counts.

Read from a loaded pipeline, or (``*_for``, `vae_scale_factor_from_config`) from config files before
loading; torch-free. The family-specific part (the patch and latent packing) comes from the adapters.
"""

from __future__ import annotations

import inspect
from typing import Any, Mapping

# the adapters are imported inside the functions: headhunter.settings imports this module for the CLI's --help

__all__ = [
    "size_multiple",
    "size_multiple_for",
    "vae_scale_factor_from_config",
    "ltx_compression",
    "default_size",
    "makes_video",
    "frames_problem",
    "frames_problem_for",
]


def _call_parameters(pipe: Any) -> Any:
    return inspect.signature(pipe.__call__).parameters


def size_multiple(pipe: Any) -> int:
    """What every image height and width must be a multiple of for the loaded ``pipe``.

    One token covers this many pixels per side: the VAE's downscale factor times the transformer's
    patch size times the latents its family packs into a token (`Adapter.size_multiple`);
    16 for SD3, SD3.5, FLUX.1 and Chroma, 8 for the tiny SD3 models. SD3 pipelines refuse other
    sizes with a traceback and FLUX.1 / Chroma silently round them down, so callers check first.
    Video pipelines name the VAE's spatial factor ``vae_scale_factor_spatial`` (Wan) or
    ``vae_spatial_compression_ratio`` (LTX).
    """
    from .families import adapter_for_pipeline

    adapter = adapter_for_pipeline(pipe)
    denoiser = getattr(pipe, adapter.denoisers[0])
    patch = getattr(pipe, "patch_size", None) or getattr(denoiser.config, "patch_size", 1)
    factor = (
        getattr(pipe, "vae_scale_factor", None) or getattr(pipe, "vae_scale_factor_spatial", None)
        or getattr(pipe, "vae_spatial_compression_ratio", 8)  # the LTX pipelines' name
    )
    return adapter.size_multiple(int(factor), patch)


def size_multiple_for(transformer_class: str, patch_size: int | None, vae_scale_factor: int) -> int:
    """Image sides must be multiples of this: one token covers this many pixels per side.

    The VAE's downscale factor times the transformer's patch size times the latents its family's
    pipelines pack into a token (FLUX.1 and Chroma pack 2x2 whatever the config says; see
    `stylehunt.engine.Adapter.latent_packing`). Torch-free, so the CLI can refuse a size
    from the model's config files before loading it.

    >>> size_multiple_for("SD3Transformer2DModel", 2, 8), size_multiple_for("FluxTransformer2DModel", 1, 8)
    (16, 16)
    >>> size_multiple_for("SD3Transformer2DModel", 1, 8), size_multiple_for("ChromaTransformer2DModel", 1, 8)
    (8, 16)
    """
    from .families import adapter_for_transformer

    return adapter_for_transformer(transformer_class).size_multiple(vae_scale_factor, patch_size)


def vae_scale_factor_from_config(vae: Mapping[str, Any]) -> int | None:
    """The VAE's spatial downscale factor from its ``config.json``, as the pipelines compute it, or ``None``.

    >>> vae_scale_factor_from_config({"block_out_channels": [128, 256, 512, 512]})
    8
    >>> vae_scale_factor_from_config({"temperal_downsample": [False, True, True]})
    8
    """
    try:
        if "temperal_downsample" in vae:  # Qwen-Image's and Wan's causal 3-D VAE: a factor 2 per entry
            return 2 ** len(vae["temperal_downsample"])
        if "spatio_temporal_scaling" in vae:  # the LTX VAEs, as diffusers computes it
            return ltx_compression(vae, "spatial_compression_ratio", "patch_size")
        return 2 ** (len(vae["block_out_channels"]) - 1)
    except (KeyError, TypeError):
        return None


def ltx_compression(vae: Mapping[str, Any], key: str, patch: str) -> int:
    """An LTX VAE's compression (``key``), or what diffusers derives: the patch times 2 per scaling block."""
    return int(vae.get(key) or int(vae.get(patch) or 1) * 2 ** sum(bool(x) for x in vae["spatio_temporal_scaling"]))


def default_size(pipe: Any) -> tuple[int, int]:
    """The pipeline's default ``(height, width)`` in px.

    The defaults its call states when they are numbers (Wan: 480 x 832), else
    ``default_sample_size x vae_scale_factor`` per side (the SD3 and FLUX pipelines compute it so).
    """
    params = _call_parameters(pipe)
    stated = [params[k].default if k in params else None for k in ("height", "width")]
    if all(isinstance(v, int) and not isinstance(v, bool) for v in stated):
        return int(stated[0]), int(stated[1])
    side = int(getattr(pipe, "default_sample_size", None) or 64) * int(getattr(pipe, "vae_scale_factor", 8))
    return side, side


def makes_video(pipe: Any) -> bool:
    """Whether ``pipe`` makes videos: its call takes ``num_frames`` (Wan; also LTX, CogVideoX, HunyuanVideo).

    Read from the pipeline itself, so any video pipeline a family adapter accepts counts, with no
    per-family flag. Its output holds ``frames`` (one list of frames per video) instead of ``images``.
    """
    return "num_frames" in _call_parameters(pipe)


def frames_problem(pipe: Any, frames: int) -> str | None:
    """Why the video pipeline ``pipe`` would not make exactly ``frames`` frames, or ``None``."""
    step = int(getattr(pipe, "vae_scale_factor_temporal", None) or getattr(pipe, "vae_temporal_compression_ratio", 1) or 1)
    return frames_problem_for(type(pipe).__name__, step, frames)


def frames_problem_for(pipeline_class: str, temporal_factor: int, frames: int) -> str | None:
    """`frames_problem` from the pipeline's class name and its VAE's temporal factor (config files).

    >>> frames_problem_for("WanPipeline", 4, 81) is None
    True
    >>> frames_problem_for("WanPipeline", 4, 8)
    "8 is not 1 plus a multiple of 4 (WanPipeline's VAE packs 4 frames into one latent after the first, and the pipeline would round the count); use 5 or 9"
    """
    step = temporal_factor
    if (frames - 1) % step == 0:
        return None
    below, above = (frames - 1) // step * step + 1, ((frames - 1) // step + 1) * step + 1
    return (
        f"{frames} is not 1 plus a multiple of {step} ({pipeline_class}'s VAE packs {step} frames into one "
        f"latent after the first, and the pipeline would round the count); use {below} or {above}"
    )
