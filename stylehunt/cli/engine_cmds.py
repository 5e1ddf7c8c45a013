"""``stylehunt generate`` and ``stylehunt heads``.

``generate`` writes an image, or for a video model (Wan) an mp4 and a contact sheet of its frames;
every file is replaced atomically (a symlink at its name is replaced, never written through).
"""

from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path

import click

from .app import cli, quiet_model_loading
from .image_inputs import read_image
from .params import DEVICE_HELP, DTYPE_CHOICE, DTYPE_HELP, FiniteFloat, device_option, media_out, seed_option
from ..files import VIDEO_SUFFIX, atomic_write_audio, atomic_write_image, atomic_write_video, check_video_writer
from ..tiny import TINY_MODEL_LIST

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "tiny-sd3"
#: Frames per second of the mp4 of a video model (Wan 2.1 and 2.2 make 16 frames per second of video).
DEFAULT_FPS = 16
#: The tiny models as the help lists them, from the names the loader accepts.


def _parse_heads(spec: str) -> list[tuple[int, int]]:
    """``"12:5,3:17"`` -> ``[(12, 5), (3, 17)]``."""
    heads = []
    for part in spec.split(","):
        layer, sep, head = part.strip().partition(":")
        if not sep or not layer.strip().isdigit() or not head.strip().isdigit():
            raise click.BadParameter(
                f"{part.strip()!r} is not LAYER:HEAD (write e.g. --heads 12:5,3:17)", param_hint="--heads"
            )
        heads.append((int(layer), int(head)))
    return heads


@cli.command()
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help=f"Pipeline folder, Hub id, or {TINY_MODEL_LIST} (built offline).")
@click.option("--preset", "presets", multiple=True, metavar="REF[:U]",
              help="Preset reference (registry name, hf-hub:owner/repo, a file, or a search's run folder), "
              "optionally with its strength u after ':' (sd3-medium/paper-l1h10:0.6). Repeatable.")
@click.option("--heads", "head_specs", multiple=True, metavar="L:H,...",
              help="An ad-hoc preset from (layer, head) pairs, e.g. 12:5,3:17. Repeatable.")
@click.option("--strength", "strengths", multiple=True, metavar="U[,U...]",
              help="SoftPAG u in [0, 1]: once for all presets (a REF:U keeps its own), or once per preset (in order: "
              "--preset then --heads). A comma list (0.2,0.5,0.8) is a sweep: one grid column per value.")
@click.option("--scale", "scales", multiple=True, metavar="W[,W...]",
              help="Head guidance scale w >= 0 (default: the presets' own, else 3). Several values (1,3,5) are a "
              "sweep: one grid row per value.")
@click.option("--identity", type=click.Choice(["joint", "image"]), default="joint", show_default=True,
              help="joint: every token attends to itself; image: diffusers' SD3 PAG semantics.")
@click.option("--prompt", required=True, help="Text prompt.")
@click.option("--negative-prompt", default=None, help="Negative prompt (SD3 CFG, or FLUX.1 / Qwen-Image true CFG).")
@click.option("--guidance-scale", type=FiniteFloat(), default=None,
              help="The pipeline's own guidance_scale (SD3 CFG; FLUX distilled guidance).")
@click.option("--true-cfg-scale", type=FiniteFloat(), default=None,
              help="True CFG scale (needs --negative-prompt; FLUX.1 and Qwen-Image pipelines only).")
@click.option("--steps", type=click.IntRange(min=1), default=20, show_default=True, help="Denoising steps.")
@click.option("--height", type=click.IntRange(min=1), default=None,
              help="Image height in px, a multiple of the pixels one token covers (16 for SD3 and FLUX.1, "
              "8 for tiny-sd3). Default: the model's.")
@click.option("--width", type=click.IntRange(min=1), default=None, help="Image width in px (as --height).")
@click.option("--seed", type=int, default=0, show_default=True, callback=seed_option,
              help="Seed (the first of --num-images).")
@click.option("--seeds", "seed_spec", default=None, metavar="SEEDS",
              help="Several seeds, as ranges and lists (0-3, or 1,5,9): one file per seed, NAME-<seed>.png.")
@click.option("--num-images", type=click.IntRange(min=1), default=None,
              help="Images from consecutive seeds starting at --seed, written as NAME-<seed>.png.")
@click.option("--start", type=FiniteFloat(0.0, 1.0), default=0.0, show_default=True,
              help="Guide from this fraction of the steps.")
@click.option("--stop", type=FiniteFloat(0.0, 1.0), default=1.0, show_default=True,
              help="Guide until this fraction of the steps.")
@click.option("--frames", type=click.IntRange(min=1), default=None,
              help="Video models (Wan, LTX) only: frames per video, 1 + 4n for Wan, 1 + 8n for LTX. Default: the "
              "model's (81 for Wan, 161 for LTX, 121 for LTX-2).")
@click.option("--fps", type=click.IntRange(min=1), default=None,
              help=f"Video models only: frames per second of the mp4 (default: the rate the pipeline takes, 24 for "
              f"LTX-2, 25 for LTX; else {DEFAULT_FPS}).")
@click.option("--baseline/--no-baseline", default=False,
              help="Also write the unguided image (same seed) next to --out, as NAME.baseline.png; for a video, "
              "NAME.baseline.mp4 and a second row (the baseline under the guided video) on the contact sheet.")
@click.option("--dtype", type=DTYPE_CHOICE, default=None, help=DTYPE_HELP)
@click.option("--device", default=None, callback=device_option, help=DEVICE_HELP)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, callback=media_out,
              help="Output path: an image (.png, .jpg, .webp, ...), or .mp4 for a video model (Wan), which also "
              "gets a contact sheet of sampled frames, NAME.frames.png. A PNG records the generation parameters "
              "(read them with `stylehunt show NAME.png`).")
@click.option("--image", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              callback=read_image, help="Start from this image (img2img; the model's Img2Img pipeline), or for FLUX.2 "
              "give it as a reference image. Default size: the image's.")
@click.option("--mask", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              callback=read_image, help="Inpaint --image where this mask is white (the model's Inpaint pipeline).")
@click.option("--image-strength", type=FiniteFloat(0.0, 1.0, min_open=True), default=None,
              help="img2img/inpaint: how far --image is noised before denoising (diffusers' `strength`; 1 replaces "
              "it; default: the pipeline's, 0.6 for most).")
@click.option("--edit", is_flag=True, default=False,
              help="Edit --image as the prompt says (Qwen-Image: QwenImageEditPipeline) instead of img2img.")
@click.option("--save-preset", type=click.Path(dir_okay=True, path_type=Path), default=None, metavar="FILE",
              help="Also save the --heads preset (with the u and w used) as a preset file (.json, or a folder).")
def generate(model, presets, head_specs, strengths, scales, identity, prompt, negative_prompt, guidance_scale,
             true_cfg_scale, steps, height, width, seed, seed_spec, num_images, start, stop, frames, fps, baseline,
             dtype, device, out, image, mask, image_strength, edit, save_preset):
    """Generate an image (or a video) with presets applied, and optionally the unguided baseline.

    Every option is checked before the model loads, except what needs the model (the size multiple,
    whether the pipeline takes --true-cfg-scale, whether it makes images or videos, its frame
    count), which is checked before the first step. Nothing is written unless every sample came out
    finite. A video model writes NAME.mp4 (H.264, diffusers' export_to_video settings, with imageio and
    imageio-ffmpeg: pip install 'stylehunt[video]') and NAME.frames.png, 8 evenly spaced frames in a
    row (the baseline's below them with --baseline).

    \b
    stylehunt generate --preset runs/bright:0.6 --prompt "a cat" --seeds 0-3 --out cat.png
    stylehunt generate --preset tiny-sd3/warm --strength 0.2,0.5,1 --scale 1,3,5 --prompt "a cat" --out grid.png
    stylehunt generate --preset tiny-sd3/warm --image photo.png --mask mask.png --prompt "a cat" --out fixed.png

    Several seeds write NAME-<seed>.png; a sweep writes one labelled grid (docs/cli.md).
    """
    video_out = out.suffix.lower() == VIDEO_SUFFIX
    for flag, value in (("--frames", frames), ("--fps", fps)):
        if value is not None and not video_out:
            raise click.BadParameter(f"{flag} is for videos, but --out {out.name} names an image; a video model "
                                     f"writes --out NAME{VIDEO_SUFFIX}", param_hint=f"'{flag}'")
    if video_out:
        check_video_writer()
    if not presets and not head_specs:
        raise click.UsageError("give at least one --preset REF or --heads L:H,...")
    if start >= stop:
        raise click.BadParameter(f"--start {start:g} must be below --stop {stop:g}", param_hint="'--start' / '--stop'")
    if true_cfg_scale is not None and negative_prompt is None:
        raise click.BadParameter("true CFG compares against a negative prompt; give --negative-prompt too",
                                 param_hint="'--true-cfg-scale'")
    # generate's own modules load here, not with the CLI: `stylehunt list` and `--help` never pay for them
    from .generate_args import read_generate_args, save_adhoc_preset
    from .generate_run import cell_strengths, plan_outputs, run_plan, sample, write_images
    from .image_inputs import check_image_options, image_pipeline, image_size
    from .imagemeta import generation_record, png_text

    check_image_options(image, mask, image_strength, edit)
    args = read_generate_args(presets, head_specs, strengths, scales, seed, seed_spec, num_images, save_preset, model)
    if video_out and args.sweep:
        raise click.UsageError("a --strength/--scale sweep makes one grid image, and a video model writes an mp4; "
                               "run one command per value")
    plan = plan_outputs(out, args.seeds, strengths=args.strength_sweep, scales=args.scale_sweep, baseline=baseline)
    from ..api import resolve_presets
    from ..models import choose_device, load_pipeline
    from ..registry import Preset

    chosen = resolve_presets(args.refs) + [Preset(heads=_parse_heads(s)) for s in head_specs]
    scale = args.scale
    if scale is None and not args.scale_sweep and len({p.scale for p in chosen}) > 1:
        defaults = ", ".join(f"{p.label}: {p.scale:g}" for p in chosen)
        raise click.BadParameter(f"the presets have different default scales ({defaults}); choose one",
                                 param_hint="'--scale'")
    quiet_model_loading()
    _check_from_config(model, chosen, height=height, width=width, frames=frames)
    if edit:
        from .image_inputs import check_edit_from_config

        check_edit_from_config(model)
    device, dtype = choose_device(device, dtype)
    pipe = load_pipeline(model, dtype=dtype, device=device)
    pipe.set_progress_bar_config(disable=True)
    height, width = image_size(pipe, image, height, width)
    video = _check_for_pipeline(pipe, height=height, width=width, true_cfg_scale=true_cfg_scale, out=out,
                                frames=frames, fps=fps, negative_prompt=negative_prompt)
    pipe, image_kwargs = image_pipeline(pipe, image, mask, image_strength, edit=edit, model=model)
    kwargs = {"num_inference_steps": steps, "output_type": "np", **image_kwargs}
    # a size left out is left to the pipeline's own default (ERNIE-Image's call takes no None for it)
    kwargs.update({k: v for k, v in (("height", height), ("width", width)) if v is not None})
    if frames is not None:
        kwargs["num_frames"] = frames
    from ..engine.families import adapter_for_pipeline

    kwargs.update(adapter_for_pipeline(pipe).call_args)  # what the family's guidance needs (LTX-2: no rescale)
    rate = inspect.signature(type(pipe).__call__).parameters.get("frame_rate")  # LTX: frames per second
    if video and rate is not None:
        kwargs["frame_rate"] = fps = fps or rate.default  # the mp4 plays at the rate the model made the video for
    for key, value in (("negative_prompt", negative_prompt), ("guidance_scale", guidance_scale),
                       ("true_cfg_scale", true_cfg_scale)):
        if value is not None:
            kwargs[key] = value
    if guidance_scale is not None:
        _guider_scale(pipe, kwargs)
    flags = {"guidance_scale": guidance_scale, "true_cfg_scale": true_cfg_scale, "dtype": dtype}

    def draw(seed: int, what: str):
        return sample(pipe, prompt, seed, kwargs, video=video, what=what, flags=flags)

    def record(seed, picture, used, w, guided, grid):
        return generation_record(
            model=model, prompt=prompt, negative_prompt=negative_prompt, seed=seed, steps=steps,
            size=(picture[0] if video else picture).size, presets=list(zip(args.labels, chosen)), strengths=used,
            scale=w if w is not None else chosen[0].scale, identity=identity, start=start, stop=stop,
            guidance_scale=guidance_scale, true_cfg_scale=true_cfg_scale, guided=guided, grid=grid,
            inputs={"pipeline": type(pipe).__name__, "image_strength": image_strength, **({"edit": True} if edit else {}),
                    **{k: v.info.get("path") if v is not None else None for k, v in (("image", image), ("mask", mask))},
                    **({"frames": len(picture), "fps": fps or DEFAULT_FPS} if video else {})})

    files = run_plan(pipe, chosen, plan, draw=draw, own=args.own, given=args.given, scale=scale,
                     apply_kwargs=dict(identity=identity, start=start, stop=stop), record=record)
    out.parent.mkdir(parents=True, exist_ok=True)
    if video:
        written = []
        for seed, path, base in plan.outputs:
            mine = [(p, frames_, m) for p, frames_, m in files if p in (path, base)]
            written += _write_videos(mine, path, fps or DEFAULT_FPS, png_text)
    else:
        written = write_images(files, png_text)
    if save_preset is not None:
        used = cell_strengths(args.own, args.given, None)[-1]
        written.append(save_adhoc_preset(chosen[-1], save_preset, pipe=pipe, model=model, scale=scale,
                                         used=chosen[-1].strength if used is None else used))
    for path in written:
        click.echo(str(path))


def _guider_scale(pipe, kwargs: dict) -> None:
    """A pipeline whose CFG scale lives on a component (HunyuanVideo 1.5's guider; the family adapter's
    ``cfg_component``) takes no ``guidance_scale`` argument: the command's own pipeline gets a copy of the
    component with --guidance-scale instead."""
    from ..engine.families import adapter_for_pipeline

    adapter = adapter_for_pipeline(pipe)
    if adapter.cfg_component:
        held = getattr(pipe, adapter.cfg_component)
        setattr(pipe, adapter.cfg_component, held.new(**{adapter.cfg_scale_arg: kwargs.pop("guidance_scale")}))


def _check_from_config(model: str, chosen: list, *, height: int | None, width: int | None, frames: int | None) -> None:
    """Before any weight is read (a real model loads for seconds to minutes): the presets' heads and family,
    the size multiple and a video's frame count, from the model's config files."""
    from ..engine import check_presets
    from .params import check_frames_from_config, check_sizes_from_config, model_skeleton

    transformer = model_skeleton(model)
    check_presets(transformer, chosen)
    check_sizes_from_config(model, transformer, {"--height": height, "--width": width})
    check_frames_from_config(model, frames, transformer)




def _write_videos(videos: list, out: Path, fps: int, png_text: Any) -> list[Path]:
    """Each ``(path, frames, record)`` as an mp4 (encoded into a temporary sibling, renamed into place) carrying
    its record in the ``comment`` tag, then the contact sheet, a PNG carrying the guided video's record."""
    from ..headhunter.report import contact_sheet
    from .imagemeta import TEXT_KEY

    written = []
    for path, frames, record in videos:
        written.append(atomic_write_video(frames, path, fps=fps, comment=png_text(record)[TEXT_KEY]))
        if getattr(frames, "audio", None) is not None:  # the model's sound track (LTX-2), beside its video
            samples, rate = frames.audio
            written.append(atomic_write_audio(samples, path.with_suffix(".wav"), rate=rate))
    sheet = out.with_name(f"{out.stem}.frames.png")
    labels = ["guided", "baseline"][: len(videos)]
    text = png_text(next(record for path, _, record in videos if path == out))
    atomic_write_image(contact_sheet([frames for _, frames, _ in videos], row_labels=labels), sheet, text=text)
    return [Path(p) for p in written] + [sheet]


def _check_for_pipeline(pipe, *, height: int | None, width: int | None, true_cfg_scale: float | None, out: Path,
                        frames: int | None, fps: int | None, negative_prompt: str | None) -> bool:
    """The options only the loaded pipeline can judge, checked before the first step; whether it makes videos."""
    from ..engine import size_multiple
    from ..engine.pipeline_inputs import frames_problem, makes_video

    name = type(pipe).__name__
    video = makes_video(pipe)
    if not video:
        for flag, value in (("--frames", frames), ("--fps", fps)):
            if value is not None:
                raise click.BadParameter(f"{name} makes images, not videos; drop {flag}", param_hint=f"'{flag}'")
        if out.suffix.lower() == VIDEO_SUFFIX:
            raise click.BadParameter(f"{name} makes images, not videos; give --out NAME.png (or .jpg, .webp)",
                                     param_hint="'--out'")
    elif out.suffix.lower() != VIDEO_SUFFIX:
        raise click.BadParameter(
            f"{name} makes videos; give --out NAME{VIDEO_SUFFIX} (a contact sheet of its frames, NAME.frames.png, "
            "is written next to it)", param_hint="'--out'",
        )
    elif frames is not None and (problem := frames_problem(pipe, frames)):
        raise click.BadParameter(problem, param_hint="'--frames'")
    if true_cfg_scale is not None and "true_cfg_scale" not in inspect.signature(pipe.__call__).parameters:
        raise click.BadParameter(
            f"{type(pipe).__name__} has no true CFG (no `true_cfg_scale` argument); use --guidance-scale",
            param_hint="'--true-cfg-scale'",
        )
    if negative_prompt is not None and "negative_prompt" not in inspect.signature(pipe.__call__).parameters:
        raise click.BadParameter(
            f"{name} takes no negative prompt (FLUX.2 runs its CFG against the empty prompt); drop --negative-prompt",
            param_hint="'--negative-prompt'",
        )
    multiple = size_multiple(pipe)
    for flag, value in (("--height", height), ("--width", width)):
        if value is not None and value % multiple:
            below, above = value // multiple * multiple, (value // multiple + 1) * multiple
            nearest = f"{below} or {above}" if below else str(above)
            raise click.BadParameter(
                f"{value} is not a multiple of {multiple} (one {type(pipe).__name__} token covers "
                f"{multiple}x{multiple} pixels); use {nearest}",
                param_hint=f"'{flag}'",
            )
    return video


@cli.command()
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help=f"Pipeline folder, Hub id (config only is read), or {TINY_MODEL_LIST}.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def heads(model, fmt):
    """Print a model's head grid: layers, heads per layer, module names.

    Only transformer/config.json is read; the transformer is built on the meta device (no weights).
    """
    from ..engine.heads import SUPPORTED_TRANSFORMERS, head_grid
    from ..models import load_transformer_skeleton

    quiet_model_loading()  # a tiny model is built (and saved) on first use
    grid = head_grid(load_transformer_skeleton(model, supported=SUPPORTED_TRANSFORMERS))
    if fmt == "json":
        click.echo(json.dumps({**grid.to_dict(), "fingerprint": grid.fingerprint()}, indent=2))
    else:
        click.echo(grid.format())
