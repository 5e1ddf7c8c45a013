"""Option checks that run while click parses the command line, so an error names the flag.

A value that is wrong whatever the machine (``--steps 0``, ``--scale nan``, ``--out x.xyz``) is a
usage error: click prints "Invalid value for '--flag'" and the command exits 2. A value that is
fine but unusable here (an ``--out`` folder this user cannot write, ``--device cuda`` without a GPU)
is a `stylehunt.errors.StylehuntError` naming the flag and exits 1. Either way nothing is
loaded and nothing is written first.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Any

import click

from ..errors import DeviceError, StorageError

__all__ = ["check_repo_option", "model_skeleton", "check_sizes_from_config", "check_frames_from_config", "side_limit_problem", "frames_limit_problem", "DTYPE_CHOICE", "DTYPE_HELP", "DEVICE_HELP", "FiniteFloat", "image_out", "media_out", "device_option", "seed_option", "writable_folder_problem"]

#: ``--dtype``: click checks the name; left out, `stylehunt.models.choose_device` picks it for the device.
DTYPE_CHOICE = click.Choice(["float32", "bfloat16", "float16"])
DTYPE_HELP = "Weights and compute dtype (default: bfloat16 on a GPU that computes in it, float16 on MPS or an older GPU, float32 on the CPU)."
DEVICE_HELP = "torch device, e.g. cuda:1 or cpu (default: cuda if available, else mps, else cpu)."

#: The seeds ``torch.Generator.manual_seed`` takes: a signed or unsigned 64-bit integer.
SEED_RANGE = (-(2**63), 2**64 - 1)


class FiniteFloat(click.FloatRange):
    """A float in an optional range that is also finite: ``nan``, ``inf`` and ``1e999`` are refused.

    (``click.FloatRange`` alone lets ``nan`` through: every comparison with it is false.)
    """

    name = "float"

    def _describe_range(self) -> str:  # the "[x>=0.0]" of --help; nothing to say when unbounded
        return "" if self.min is None and self.max is None else super()._describe_range()

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


def writable_folder_problem(folder: Path) -> tuple[Path, str] | None:
    """``(path, why)`` if files cannot be created in ``folder`` (or in the folders it would need), else ``None``.

    Looks at the nearest folder that exists, without creating anything: it must be a folder, and
    this user must be able to write and enter it (``os.access``, which also sees a read-only mount).
    """
    probe = Path(os.path.abspath(folder))
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    if probe.is_symlink() and not probe.exists():
        return probe, f"it is a symbolic link to {os.readlink(probe)}, which does not exist"
    if not probe.is_dir():
        return probe, "it is a file, not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return probe, "permission denied (or a read-only file system)"
    return None


def image_out(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Callback for an image ``--out``: a suffix PIL can write RGB images as, in a folder this user can write.

    The format is tried on a 1x1 image (some registered formats cannot hold RGB), so a bad suffix
    is refused before a model is loaded rather than after every image is generated.
    """
    return _out_path(ctx, param, value, video=False)


def media_out(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Callback for ``generate --out``: an image path as `image_out` takes, or an ``.mp4`` (a video model).

    Which of the two the model makes is known once it is loaded; ``generate`` checks that then.
    """
    return _out_path(ctx, param, value, video=True)


def _out_path(ctx: click.Context, param: click.Parameter, value: Path | None, *, video: bool) -> Path | None:
    if value is None:
        return None
    from PIL import Image

    from ..files import VIDEO_SUFFIX

    flag = param.opts[0] if param.opts else "--out"
    suffix = value.suffix.lower()
    if video and suffix == VIDEO_SUFFIX:
        _check_writable(flag, value)
        return value
    fmt = Image.registered_extensions().get(suffix)
    error = None
    if fmt is None or fmt not in Image.SAVE:
        error = f"{suffix!r} is not an image format PIL can write" if suffix else "it has no image suffix"
    else:
        try:
            Image.new("RGB", (1, 1)).save(io.BytesIO(), format=fmt)
        except (OSError, ValueError, KeyError) as e:
            error = f"PIL cannot write RGB images as {fmt} ({e})"
    if error:
        also = f"; {VIDEO_SUFFIX} for a video model" if video else ""
        raise click.BadParameter(f"{value.name}: {error}; use .png (or .jpg, .webp{also})", ctx=ctx, param=param)
    _check_writable(flag, value)
    return value


def _check_writable(flag: str, value: Path) -> None:
    """``value``'s folder can be created and written, and ``value`` is not a read-only file."""
    problem = writable_folder_problem(value.parent)
    if problem is None and value.exists() and not os.access(value, os.W_OK):
        problem = value, "the file exists and is read-only"
    if problem:
        path, why = problem
        raise StorageError(f"{flag} {value}: cannot write to {path}: {why}", path=str(path),
                           hint=f"choose an {flag} in a folder you can write to")


def device_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Callback for ``--device``: refuse a device this machine lacks before any model is loaded."""
    if value is None:
        return None
    from ..models import check_device

    flag = param.opts[0] if param.opts else "--device"
    try:
        return check_device(value)
    except DeviceError as e:
        raise DeviceError(f"{flag} {value}: {e.reason}", device=value, reason=e.reason, hint=e.hint) from None


def seed_option(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """Callback for ``--seed``: a seed torch takes (a 64-bit integer), not an overflow mid-command."""
    if value is not None and not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise click.BadParameter(f"{value} is not a 64-bit seed (use 0 to 2**64-1)", ctx=ctx, param=param)
    return value


def check_repo_option(repo_id: str) -> None:
    """``--repo`` is a Hub repo id (owner/name), refused naming the flag (not with the hint about preset references)."""
    from ..errors import PresetReferenceError
    from ..hub import check_repo_id

    try:
        check_repo_id(repo_id)
    except PresetReferenceError as e:
        raise click.BadParameter(f"{str(e).rstrip('.')}; give the repo to publish to as OWNER/NAME (letters, digits, '-', '_' and '.')",
                                 param_hint="'--repo'") from None


# ---- checks from the model's config files, before any weight is read (seconds, not a model load)


def model_skeleton(model: str) -> Any:
    """The model's transformer on the meta device, from its config (no weights)."""
    from ..engine.heads import SUPPORTED_TRANSFORMERS
    from ..models import load_transformer_skeleton

    return load_transformer_skeleton(model, supported=SUPPORTED_TRANSFORMERS)


def _vae_config(model: str) -> dict[str, Any] | None:
    """The model's ``vae/config.json``, or ``None`` when it cannot be read here (checked after loading then)."""
    import diffusers

    from ..hub import is_offline, unreachable
    from ..tiny import resolve_tiny_model

    path = str(resolve_tiny_model(model) or model)
    local = os.path.exists(path) or is_offline() or bool(unreachable())
    try:
        return dict(diffusers.AutoencoderKL.load_config(path, subfolder="vae", local_files_only=local))
    except (OSError, ValueError):
        return None
    except RecursionError:  # diffusers' JSON loader recurses once per level of nesting
        from ..models import config_too_deep

        raise config_too_deep(model, "vae/config.json") from None


def check_sizes_from_config(model: str, transformer: Any, sizes: dict[str, int | None]) -> None:
    """Refuse an image side (``{flag: px}``) that is not a multiple of what one token covers, from the configs."""
    from ..engine.pipeline_inputs import size_multiple_for, vae_scale_factor_from_config

    if all(v is None for v in sizes.values()) or (vae := _vae_config(model)) is None:
        return
    if (factor := vae_scale_factor_from_config(vae)) is None:
        return
    name = type(transformer).__name__
    multiple = size_multiple_for(name, getattr(transformer.config, "patch_size", None), factor)
    for flag, value in sizes.items():
        if value is not None and value % multiple:
            below, above = value // multiple * multiple, (value // multiple + 1) * multiple
            nearest = f"{below} or {above}" if below else str(above)
            raise click.BadParameter(
                f"{value} is not a multiple of {multiple} (one {name} token covers {multiple}x{multiple} pixels); "
                f"use {nearest}", param_hint=f"'{flag}'")
        if value is not None and (problem := side_limit_problem(transformer, multiple, value)):
            raise click.BadParameter(problem, param_hint=f"'{flag}'")


def side_limit_problem(transformer: Any, multiple: int, value: int) -> str | None:
    """Why an image side of ``value`` px is more than the model's position table covers, else ``None``.

    SD3's learned position embedding is cropped from a table of ``pos_embed_max_size`` tokens per
    side, Wan's rotary table has ``rope_max_seq_len`` positions per axis: past them diffusers fails
    mid-call with a shape error ("cannot be greater than pos_embed_max_size", "shape ... is invalid").
    The other families compute their rotary embedding for any size.
    """
    config = getattr(transformer, "config", {}) or {}
    for key in ("pos_embed_max_size", "rope_max_seq_len"):
        tokens = config.get(key)
        if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens > 0 and value > tokens * multiple:
            return (f"{value} is more than {type(transformer).__name__} can place: its position table ({key}) "
                    f"covers {tokens} tokens of {multiple} pixels, so at most {tokens * multiple}")
    return None


def frames_limit_problem(transformer: Any, temporal: int, frames: int) -> str | None:
    """Why ``frames`` is more than a video transformer's rotary table covers in time (Wan), else ``None``."""
    config = getattr(transformer, "config", {}) or {}
    tokens, patch = config.get("rope_max_seq_len"), config.get("patch_size")
    if not isinstance(tokens, int) or not isinstance(patch, (list, tuple)) or not patch:
        return None
    most = (tokens * int(patch[0]) - 1) * temporal + 1  # latent frames 1 + (F - 1) / temporal, patch_size[0] per token
    if frames > most:
        return (f"{frames} frames is more than {type(transformer).__name__} can place: its rotary table "
                f"(rope_max_seq_len) covers {tokens} latent frames, so at most {most}")
    return None


def check_frames_from_config(model: str, frames: int | None, transformer: Any = None) -> None:
    """Refuse a video length the model's pipeline would round (Wan: 1 + 4n; LTX: 1 + 8n), from
    ``model_index.json`` and the VAE's config."""
    if frames is None or (vae := _vae_config(model)) is None:
        return
    from ..engine.pipeline_inputs import ltx_compression

    try:
        if "spatio_temporal_scaling" in vae:  # LTX: the pipelines read vae.temporal_compression_ratio
            vae = {"scale_factor_temporal": ltx_compression(vae, "temporal_compression_ratio", "patch_size_t")}
    except (TypeError, ValueError):
        return
    if "scale_factor_temporal" not in vae:
        return
    import inspect

    import diffusers

    from ..engine.pipeline_inputs import frames_problem_for
    from ..tiny import resolve_tiny_model

    try:
        path = str(resolve_tiny_model(model) or model)
        class_name = diffusers.DiffusionPipeline.load_config(path, local_files_only=True).get("_class_name")
    except (OSError, ValueError):
        return
    except RecursionError:
        from ..models import config_too_deep

        raise config_too_deep(model, "model_index.json") from None
    cls = getattr(diffusers, str(class_name), None)
    if cls is None or "num_frames" not in inspect.signature(cls.__call__).parameters:
        return  # an image model: the loaded pipeline refuses --frames, naming it
    # what the pipeline computes (WanPipeline: vae.config.scale_factor_temporal)
    if problem := frames_problem_for(cls.__name__, int(vae["scale_factor_temporal"]), frames):
        raise click.BadParameter(problem, param_hint="'--frames'")
    if transformer is not None and (problem := frames_limit_problem(transformer, int(vae["scale_factor_temporal"]), frames)):
        raise click.BadParameter(problem, param_hint="'--frames'")
