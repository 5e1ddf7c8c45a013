"""``stylehunt search`` and ``stylehunt atlas``: thin commands over `stylehunt.headhunter`.

``search`` checks every option before loading the model and creates nothing until then; under
``accelerate launch -m stylehunt search ...`` every process runs this same command and the library
splits the work. ``--resume DIR`` continues the run recorded in ``DIR/command.json``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import click

from .app import cli, quiet_model_loading
from .flagnames import library_params
from .generate_args import generate_command
from .scorer_opts import SCORER_FLAGS, objective_options, scorer_options
from .params import (DEVICE_HELP, DTYPE_CHOICE, DTYPE_HELP, FiniteFloat, check_sizes_from_config, device_option, image_out,
                     model_skeleton, seed_option, writable_folder_problem)
from .terminal import printable
from ..errors import ResumeMismatchError, SearchConfigError, StorageError
from ..tiny import TINY_MODEL_LIST
from ..headhunter.settings import (  # torch-free: the defaults, their help text, the checks before loading
    DEFAULT_BATCH_SIZE,
    DEFAULT_IDENTITY,
    DEFAULT_PER_ROUND,
    DEFAULT_PRESET_LICENSE,
    DEFAULT_PRESET_VERSION,
    DEFAULT_ROUNDS,
    DEFAULT_SCALE,
    DEFAULT_SEED,
    DEFAULT_STEPS,
    DEFAULT_STRATEGY,
    DEFAULT_STRENGTH,
    DEFAULT_THUMB,
    MAX_THUMB,
    HELDOUT_SEED_OFFSET,
    KEEP_PER_K,
    RERANK_PER_K,
    SCREEN_STEPS_DIVISOR,
    STRATEGIES,
    SearchSettings,
    check_pool_size,
    resolve_pool,
)

logger = logging.getLogger(__name__)

# The options that decide the result besides the settings (`stylehunt.headhunter.command.OPTION_SETTINGS`):
# recorded in command.json as the run's inputs.
_INPUTS = (
    "model", "model_id", "style", "objective", "prompts", "prompt_column", "category", "num_prompts",
    "num_heldout", "prompt_seed", "seed", "layers", "name", "version", "license", "dtype",
)


def _option_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def _settings(opts: dict[str, Any]) -> SearchSettings:
    """The settings the options give, built and checked once: this object is what the search gets."""
    from ..headhunter.command import OPTION_SETTINGS

    return SearchSettings(**{field: opts[option] for option, fields in OPTION_SETTINGS.items() for field in fields})


def _given(ctx: click.Context, key: str) -> bool:
    source = ctx.get_parameter_source("license_" if key == "license" else key)
    return source not in (click.core.ParameterSource.DEFAULT, None)


def _recorded_value(ctx: click.Context, key: str, value: Any, path: Path) -> Any:
    """An input read from command.json, checked as the option's own type checks it on the command line."""
    param = next(p for p in ctx.command.params if p.name == ("license_" if key == "license" else key))
    if value is None and param.default is None:
        return None
    try:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise click.BadParameter("not a single option value")
        return param.type.convert(value, param, ctx)
    except click.BadParameter as e:
        raise SearchConfigError(
            f"{path}: {_option_name(key)} is recorded as {json.dumps(value)[:60]}, which the option does not take "
            f"({e.format_message()}); the file was edited or is damaged",
            hint=f"give the option again (--resume {path.parent} {_option_name(key)} ...), or start a new --out",
        ) from None


def _resume_record(ctx: click.Context, opts: dict[str, Any],
                   run_dir: Path) -> tuple[dict[str, Any], SearchSettings | None]:
    """The options and the settings of the run in ``run_dir``: its recorded settings object as it is,
    and its inputs for the options not given. An option given with another value than the run's is refused.
    ``(opts, None)`` for a run started from Python (nothing recorded: every option is given again)."""
    from ..headhunter.command import COMMAND_FILE, OPTION_SETTINGS, read_command

    record = read_command(run_dir)
    if record is None:
        return opts, None
    path = run_dir / COMMAND_FILE
    unknown = sorted(set(record.inputs) - set(_INPUTS))
    if unknown:  # a hand-edited or foreign file: an option this version would ignore silently
        raise SearchConfigError(
            f"{path}: {', '.join(repr(k)[:60] for k in unknown[:5])} is not an option search records; the file was "
            "edited or is damaged", hint=f"remove it from {path}, or start the search again with a new --out")
    merged, diffs = dict(opts), []
    recorded = {key: _recorded_value(ctx, key, record.inputs[key], path) for key in _INPUTS if key in record.inputs}
    recorded.update({option: getattr(record.settings, fields[0]) for option, fields in OPTION_SETTINGS.items()})
    for key, value in recorded.items():
        if _given(ctx, key) and opts[key] != value:
            diffs.append((_option_name(key), value, opts[key]))
        merged[key] = value
    if diffs:
        listing = "; ".join(f"{k}: the run used {a!r}, got {b!r}" for k, a, b in diffs)
        raise ResumeMismatchError(
            f"cannot resume {run_dir} with different options: {listing}",
            differences=tuple(diffs),
            hint="drop those options (omitted options are taken from the run), or start a new --out",
        )
    return merged, record.settings


def _check_folder_writable(flag: str, folder: Path) -> None:
    problem = writable_folder_problem(folder)
    if problem:
        path, why = problem
        raise StorageError(f"{flag} {folder}: cannot write to {path}: {why}", path=str(path),
                           hint=f"choose a {flag} folder in a place you can write to")


def _check_run_folder(flag: str, run_dir: Path, resume: bool) -> None:
    """The run folder, before anything is loaded: writable, not locked by another search, new/empty or a
    run, whose state (to resume) is readable and well-formed."""
    from ..headhunter.runfolder import check_run_folder, lock_holder
    from ..headhunter.store import read_state

    _check_folder_writable(flag, run_dir)
    holder = lock_holder(run_dir) if _is_main() else None  # other ranks: the main process locks it meanwhile
    if holder is not None:
        raise SearchConfigError(
            f"run folder {run_dir} is in use by another search (pid {holder})",
            hint=f"wait for that search to end, or stop it (kill {holder})" if holder.isdigit()
            else "wait for the other search on this folder to end",
        )
    check_run_folder(run_dir, resume=resume)
    if resume:
        read_state(run_dir)


def _finished(run_dir: Path, fmt: str, model: str, prompt: str) -> bool:
    """Whether ``run_dir`` holds a finished run with all its outputs; if so, say so (2026-11 #79: a --resume of a
    finished run reloaded the model and rewrote its state and preset)."""
    from ..headhunter.runfolder import RUN_FILES
    from ..headhunter.store import read_state

    state = read_state(run_dir)
    if state is None or state["status"] != "done" or not all(_own_file(run_dir / name) for name in RUN_FILES[1:]):
        return False  # an output is missing (or a link): the resume replays the run and writes the outputs again
    if not _is_main():
        return True
    from ..registry.preset import Preset

    # the same keys a finished search prints first, read back from the preset it wrote (a script reading
    # "heads" from the output of a re-run --resume gets them rather than a KeyError)
    heads = [list(a) for a in Preset.from_file(run_dir).heads]
    click.echo(f"run folder {printable(str(run_dir))} holds a finished search; nothing to resume", err=True)
    if fmt == "json":
        click.echo(json.dumps({"run_dir": str(run_dir), "heads": heads, "finished": True}, indent=2))
    else:
        click.echo(f"heads: {' '.join(f'{l}:{h}' for l, h in heads)}")
        click.echo(f"run folder: {printable(str(run_dir))}")
        click.echo(f"use it:     {printable(generate_command(model, run_dir, prompt))}")
    return True


def _own_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _load_objective(spec: str, style: str, options: dict[str, Any]):
    from ..objectives import build_objective

    return build_objective(spec, style=style, **options)


def _model_id(model: str, model_id: str | None) -> str | None:
    if model_id:
        return model_id
    if os.path.isdir(os.path.expanduser(model)):
        return None  # a local folder is not a Hub id; the preset check asks for --model-id
    return model


def _device(device: str | None, dtype: str | None) -> tuple[str, str]:
    """The device and dtype to load on: given, else each process's GPU under accelerate, else the best here."""
    from ..models import choose_device

    if not device:
        import torch

        if torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            from accelerate import PartialState

            device = str(PartialState().device)
    return choose_device(device, dtype)


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


#: Library parameter (as library errors name it: ``param``, or quoted as ```per_round```) -> the flag that
#: sets it, for the options search and atlas share (an objective's own `scale` option is quoted alike).
_SHARED_FLAGS = {
    "scale": "--scale", "strength": "--strength", "steps": "--steps", "height": "--resolution",
    "width": "--resolution", "frames": "--frames", "cfg_scale": "--cfg", "identity": "--identity",
    "batch_size": "--batch-size", "layers": "--layers", "pool": "--layers", "seeds": "--seed", "base_seed": "--seed",
}


@library_params(
    **_SHARED_FLAGS, rounds="--rounds", per_round="--per-round", screen_steps="--screen-steps",
    screen_prompts="--screen-prompts", rerank="--rerank", keep="--keep", strategy="--strategy",
    prompts="--num-prompts", num_search="--num-prompts", num_heldout="--num-heldout", name="--name",
    version="--version", license="--license", model_id="--model-id", objective="--objective", style="--style",
    out="--out", column="--prompt-column", **{setting: flag for setting, (flag, _, _) in SCORER_FLAGS.items()},
)
@cli.command()
@click.option("--model", default=None, help=f"Pipeline folder, Hub id, or {TINY_MODEL_LIST}.")
@click.option("--model-id", default=None, help="Hub id written into the preset (needed when --model is a folder).")
@click.option("--style", default="", help='Style text for the objective, e.g. "sunlit, warm glow, golden hour".')
@click.option("--objective", default="pickscore", show_default=True,
              help="Objective: pickscore, clip, aesthetic, brightness, saturation, contrast, warmth, or a weighted "
              "sum such as pickscore+0.5*aesthetic.")
@click.option("--prompts", default="default", show_default=True,
              help="Content prompts: default, parti, hf:OWNER/NAME, or a .txt/.csv/.tsv/.jsonl/.json/.parquet file.")
@click.option("--prompt-column", default=None, help="Prompt column of a table source.")
@click.option("--category", default=None, help="Keep only this category of the prompt source.")
@click.option("--num-prompts", type=click.IntRange(min=1), default=5, show_default=True,
              help="M search prompts (generation seeds SEED+0 .. SEED+M-1).")
@click.option("--num-heldout", type=click.IntRange(min=0), default=10, show_default=True,
              help="Held-out prompts (disjoint from the search prompts) for the preset's held-out score "
              f"(generation seeds SEED+{HELDOUT_SEED_OFFSET}+i); 0: none.")
@click.option("--prompt-seed", type=int, default=0, show_default=True, help="Seed of the search/held-out prompt draw.")
@click.option("--seed", type=click.IntRange(min=0), default=DEFAULT_SEED, show_default=True, callback=seed_option,
              help="Base generation seed SEED.")
@click.option("--strategy", type=click.Choice(STRATEGIES), default=DEFAULT_STRATEGY, show_default=True,
              help="exhaustive: the paper's greedy search; screened: cheap screening, full re-rank of the best.")
@click.option("--rounds", type=click.IntRange(min=1), default=DEFAULT_ROUNDS, show_default=True, help="R greedy rounds.")
@click.option("--per-round", "-k", type=click.IntRange(min=1), default=DEFAULT_PER_ROUND, show_default=True,
              help="k heads added per round.")
@click.option("--scale", "-w", type=FiniteFloat(0.0, 1e4, min_open=True), default=DEFAULT_SCALE, show_default=True,
              help="Guidance scale w during the search.")
@click.option("--strength", "-u", type=FiniteFloat(0.0, 1.0, min_open=True), default=DEFAULT_STRENGTH,
              show_default=True, help="SoftPAG u during the search.")
@click.option("--steps", type=click.IntRange(min=1), default=DEFAULT_STEPS, show_default=True, help="Denoising steps.")
@click.option("--resolution", type=click.IntRange(min=1), default=None,
              help="Image size in px, a multiple of the pixels one token covers (16 for SD3, FLUX.1, "
              "Chroma, Z-Image, Qwen-Image and FLUX.2, 8 for tiny-sd3). Default: the model's.")
@click.option("--frames", type=click.IntRange(min=1), default=None,
              help="Video models (Wan) only: frames per video, 1 + 4n for Wan; the objective scores a video frame by "
              "frame. Default: the model's (81 for Wan).")
@click.option("--cfg", type=FiniteFloat(1.0, 1e4, min_open=True), default=None,
              help="Classifier-free guidance scale during the search (default: none).")
@click.option("--identity", type=click.Choice(["joint", "image"]), default=DEFAULT_IDENTITY, show_default=True)
@click.option("--layers", default=None, help="Restrict the head pool to these layers, e.g. 0-5,12.")
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH_SIZE, show_default=True,
              help="Images per pipeline call.")
@click.option("--screen-steps", type=click.IntRange(min=1), default=None,
              help=f"screened: denoising steps while screening (default: steps // {SCREEN_STEPS_DIVISOR}, at least 1).")
@click.option("--screen-prompts", type=click.IntRange(min=1), default=None,
              help="screened: screen on the first N search prompts (default: all of them).")
@click.option("--rerank", type=click.IntRange(min=1), default=None,
              help=f"screened: candidates re-scored at full settings in each round (default: {RERANK_PER_K:g}k, rounded up).")
@click.option("--keep", type=click.IntRange(min=1), default=None,
              help=f"screened: best-ranked unselected heads considered in each round after the first "
              f"(default: {KEEP_PER_K}k).")
@click.option("--name", default=None, help="Preset name (default: the run folder's name).")
@click.option("--version", "version", default=DEFAULT_PRESET_VERSION, show_default=True, help="Preset version (semver).")
@click.option("--license", "license_", default=DEFAULT_PRESET_LICENSE, show_default=True, help="Preset license id.")
@click.option("--dtype", type=DTYPE_CHOICE, default=None, help=DTYPE_HELP)
@click.option("--device", default=None, callback=device_option,
              help="torch device (default: each process's GPU under accelerate; else cuda if available, then mps, "
              "then cpu).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="New run folder: a new or empty folder (a folder holding other files is refused).")
@click.option("--resume", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Continue the run in this folder (omitted options are taken from it).")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@scorer_options
@click.pass_context
def search(ctx: click.Context, **opts: Any) -> None:
    """Search attention heads whose guidance raises an objective; write a run folder with the preset.

    \b
    stylehunt search --model stabilityai/stable-diffusion-3-medium-diffusers \\
        --style "sunlit, warm glow, golden hour" --objective pickscore \\
        --prompts parti --num-prompts 5 --rounds 5 --per-round 3 --out runs/golden-hour
    stylehunt search --resume runs/golden-hour

    One search at a time per run folder: a second one (or a --resume) on a folder in use is
    refused, naming the pid of the search using it.
    """
    _search(ctx, opts)


def _search(ctx: click.Context, opts: dict[str, Any]) -> None:
    """
    Checked before the model loads: every option's range (click types, so the message names the flag),
    the objective name, the prompt source and column, the run folder (writable; new and empty, or
    holding the run to resume; not locked by another search), a resume folder's recorded options, k
    against the head pool and the image size against the model's size multiple (both read from the
    model's config files, no weights), the preset's name/version/license, and the scorer's weights.
    Then it loads the pipeline and calls `stylehunt.search`, which locks the folder and writes
    ``command.json`` before its first state.
    """
    opts["license"] = opts.pop("license_")
    resume_dir, out = opts.pop("resume"), opts.pop("out")
    device, fmt, progress = opts.pop("device"), opts.pop("fmt"), opts.pop("progress")
    if resume_dir is not None:
        if out is not None and Path(out).resolve() != Path(resume_dir).resolve():
            raise click.UsageError("--out and --resume name different folders; give only --resume DIR")
        run_dir = Path(resume_dir)
        _check_run_folder("--resume", run_dir, resume=True)
        opts, recorded = _resume_record(ctx, opts, run_dir)
    elif out is None:
        raise click.UsageError("give --out DIR for a new run (or --resume DIR to continue one)")
    else:
        run_dir, recorded = Path(out), None
        _check_run_folder("--out", run_dir, resume=False)
    if not opts["model"] and resume_dir is not None and not (run_dir / "command.json").exists():
        # 2026-11 #85: "give --model" alone sent the user round the options one error at a time
        raise click.UsageError(
            f"{run_dir} holds a search state but no command.json (the run was started from Python, or the file was "
            "removed), so its options are not recorded: give --resume with every option of the original search "
            "(--model, --objective, --prompts, --num-prompts, ...), exactly as first given")
    if not opts["model"]:
        raise click.UsageError(f"give --model (a folder, a Hub id, or {TINY_MODEL_LIST})")

    from ..headhunter.outputs import check_preset_fields, preset_name
    from ..prompts import load_prompts

    # 1. cheap checks, no weights: nothing is created before all of them pass (torch-free ones first)
    model_id = _model_id(opts["model"], opts["model_id"])
    if resume_dir is None and not opts["name"]:
        # recorded in command.json: a run folder renamed before --resume keeps its preset's name (2026-11 #79)
        opts["name"] = preset_name(None, run_dir)
    check_preset_fields(preset_name(opts["name"], run_dir), opts["version"], opts["license"], model_id)
    # a resumed run's recorded settings object, else the options' (built and checked once, here)
    settings = recorded or _settings(opts)
    objective = _load_objective(opts["objective"], opts["style"], objective_options(opts["objective"], opts))
    source = load_prompts(opts["prompts"], column=opts["prompt_column"], category=opts["category"])
    search_set, heldout_set = source.split(opts["num_prompts"], opts["num_heldout"], seed=opts["prompt_seed"])
    settings.resolved(len(search_set.prompts), settings.height, settings.width)  # --screen-prompts; None: the model's size
    if resume_dir is not None and _finished(run_dir, fmt, opts["model"], search_set.prompts[0]):
        return  # a finished run is left as it is: resuming it again loads nothing and rewrites nothing
    from ..engine import head_grid

    quiet_model_loading()  # a tiny model is built (and saved) on first use
    transformer = model_skeleton(opts["model"])
    grid = head_grid(transformer)
    check_pool_size(len(resolve_pool(grid, None, opts["layers"])), settings)
    check_sizes_from_config(opts["model"], transformer, {"--resolution": opts["resolution"]})
    # 2. the scorer's weights (ScorerUnavailableError when not available offline)
    objective.load()
    # 3. the model, then the search (which locks the run folder and records this command line in it)
    from ..headhunter.command import RunCommand
    from ..headhunter.hunt import search as run_search
    from ..models import load_pipeline

    device, opts["dtype"] = _device(device, opts["dtype"])  # resolved before command.json records it
    pipe = load_pipeline(opts["model"], dtype=opts["dtype"], device=device)
    heldout = heldout_set if opts["num_heldout"] > 0 else None
    result = run_search(
        pipe, objective, search_set, settings=settings, heldout=heldout, base_seed=opts["seed"],
        layers=opts["layers"], out=run_dir, resume=resume_dir is not None, model_id=model_id, name=opts["name"],
        version=opts["version"], license=opts["license"], progress=progress,
        command=None if resume_dir is not None else RunCommand(settings, {k: opts[k] for k in _INPUTS}),
    )
    if not _is_main():
        return
    summary = {
        "run_dir": str(run_dir),
        "heads": [list(a) for a in result.heads],
        "rounds": [{"added": [list(a) for a in r.added], "score": r.score, "heldout": r.heldout} for r in result.rounds],
        "baseline": result.baseline,
        "heldout_baseline": result.heldout_baseline,
        "heldout_score": result.heldout_score,
        "forward_rows": result.forward_rows,
        "block_rows": {k: round(v, 4) for k, v in result.block_rows.items()},
    }
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"heads: {' '.join(f'{l}:{h}' for l, h in result.heads)}")
    for r in result.rounds:
        extra = "" if r.heldout is None else f"  held-out {r.heldout:.4f}"
        click.echo(f"round {r.round}: +{' '.join(f'{l}:{h}' for l, h in r.added)}  score {r.score:.4f}{extra}")
    if result.heldout_score is not None:
        click.echo(f"held-out: {result.heldout_score:.4f} with the preset, {result.heldout_baseline:.4f} without "
                   f"({result.heldout_gain:+.4f})")
    click.echo(f"run folder: {printable(str(run_dir))}")
    click.echo(f"use it:     {printable(generate_command(opts['model'], run_dir, search_set.prompts[0]))}")


@library_params(**_SHARED_FLAGS, thumb="--thumb", prompt="--prompt")
@cli.command()
@click.option("--model", required=True, help=f"Pipeline folder, Hub id, or {TINY_MODEL_LIST}.")
@click.option("--prompt", required=True, help="Text prompt (the same for every cell).")
@click.option("--layers", default=None, help="Layers to show, e.g. 0-5 (default: all).")
@click.option("--seed", type=click.IntRange(min=0), default=DEFAULT_SEED, show_default=True, callback=seed_option)
@click.option("--scale", "-w", type=FiniteFloat(0.0, 1e4, min_open=True), default=DEFAULT_SCALE, show_default=True,
              help="Guidance scale w.")
@click.option("--strength", "-u", type=FiniteFloat(0.0, 1.0, min_open=True), default=DEFAULT_STRENGTH,
              show_default=True, help="SoftPAG u.")
@click.option("--steps", type=click.IntRange(min=1), default=DEFAULT_STEPS, show_default=True)
@click.option("--resolution", type=click.IntRange(min=1), default=None,
              help="Image size in px, a multiple of the pixels one token covers (default: the model's).")
@click.option("--frames", type=click.IntRange(min=1), default=None,
              help="Video models (Wan) only: frames per video, 1 + 4n for Wan. Default: the model's (81 for Wan).")
@click.option("--cfg", type=FiniteFloat(1.0, 1e4, min_open=True), default=None,
              help="Classifier-free guidance scale (default: none).")
@click.option("--identity", type=click.Choice(["joint", "image"]), default=DEFAULT_IDENTITY, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH_SIZE, show_default=True)
@click.option("--thumb", type=click.IntRange(min=1, max=MAX_THUMB), default=DEFAULT_THUMB, show_default=True,
              help=f"Cell size in px (at most {MAX_THUMB}).")
@click.option("--dtype", type=DTYPE_CHOICE, default=None, help=DTYPE_HELP)
@click.option("--device", default=None, callback=device_option, help=DEVICE_HELP)
@click.option("--progress/--no-progress", default=None)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, callback=image_out,
              help="Output image (.png, .jpg, .webp, ...); replaced atomically, a symlink there is replaced, not followed.")
def atlas(model, prompt, layers, seed, scale, strength, steps, resolution, frames, cfg, identity, batch_size, thumb,
          dtype, device, progress, out):
    """Single-head guidance for every head of some layers: one row per layer, one column per head."""
    _atlas(model, prompt, layers, seed, scale, strength, steps, resolution, frames, cfg, identity, batch_size,
           thumb, dtype, device, progress, out)


def _atlas(model, prompt, layers, seed, scale, strength, steps, resolution, frames, cfg, identity, batch_size, thumb,
           dtype, device, progress, out):
    from ..engine import head_grid
    from ..files import atomic_write_image
    from ..headhunter.atlas import render_atlas
    from ..models import load_pipeline

    if not prompt.strip():
        raise click.BadParameter("the prompt is empty", param_hint="'--prompt'")
    settings = SearchSettings(rounds=1, per_round=1, scale=scale, strength=strength, steps=steps, height=resolution,
                              width=resolution, frames=frames, cfg_scale=cfg, identity=identity, batch_size=batch_size)
    quiet_model_loading()  # a tiny model is built (and saved) on first use
    transformer = model_skeleton(model)
    resolve_pool(head_grid(transformer), None, layers)  # bad --layers before loading
    check_sizes_from_config(model, transformer, {"--resolution": resolution})
    device, dtype = _device(device, dtype)
    pipe = load_pipeline(model, dtype=dtype, device=device)
    image = render_atlas(pipe, prompt, layers=layers, seed=seed, thumb=thumb, progress=progress, settings=settings)
    atomic_write_image(image, out)
    click.echo(printable(str(out)))
