"""``stylehunt search`` and ``stylehunt atlas``: thin commands over :mod:`stylehunt.headhunter`.

``search`` checks everything it can before loading the model (objective name, prompt source and
column, a resume folder's configuration, k against the head pool read from the model's config on
the meta device, the scorer's weights), then loads the pipeline and calls
:func:`stylehunt.search`. Under ``accelerate launch -m stylehunt search ...`` every process
runs this same command; the library splits the work.

Resuming: ``--resume DIR`` continues the run in DIR. The command line of the run is kept in
``DIR/command.json``; options not given again are taken from it, and an option given with another
value is refused with the difference named.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import click

from .app import cli
from ..errors import ResumeMismatchError, SearchConfigError
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
    HELDOUT_SEED_OFFSET,
    KEEP_PER_K,
    RERANK_PER_K,
    SCREEN_STEPS_DIVISOR,
    STRATEGIES,
    SearchSettings,
    check_pool_size,
    resolve_pool,
)
from ..headhunter.store import STATE_FILE, read_command, write_command

logger = logging.getLogger(__name__)

# Options that decide the result: recorded in command.json and checked on --resume.
_RECORDED = (
    "model", "model_id", "style", "objective", "prompts", "prompt_column", "category", "num_prompts",
    "num_heldout", "prompt_seed", "seed", "strategy", "rounds", "per_round", "scale", "strength", "steps",
    "resolution", "cfg", "identity", "layers", "batch_size", "screen_steps", "screen_prompts", "rerank",
    "keep", "name", "version", "license", "dtype",
)


def _option_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def _merge_resume(ctx: click.Context, opts: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Fill options not given from the run's command.json; refuse options given with another value."""
    saved = read_command(run_dir)
    if saved is None:
        return opts  # a run started from Python: every option must be given again; the library compares
    merged = dict(opts)
    diffs = []
    for key in _RECORDED:
        if key not in saved:
            continue
        source = ctx.get_parameter_source("license_" if key == "license" else key)
        given = source not in (click.core.ParameterSource.DEFAULT, None)
        if not given:
            merged[key] = saved[key]
        elif opts[key] != saved[key]:
            diffs.append((_option_name(key), saved[key], opts[key]))
    if diffs:
        listing = "; ".join(f"{k}: the run used {a!r}, got {b!r}" for k, a, b in diffs)
        raise ResumeMismatchError(
            f"cannot resume {run_dir} with different options: {listing}",
            differences=tuple(diffs),
            hint="drop those options (omitted options are taken from the run), or start a new --out",
        )
    return merged


def _load_objective(spec: str, style: str):
    from ..objectives import build_objective

    return build_objective(spec, style=style)


def _pool_check(model: str, layers: str | None, rounds: int, per_round: int, settings_kwargs: dict[str, Any]) -> None:
    """k against the pool, from the model's transformer config on the meta device (no weights)."""
    from ..engine import head_grid
    from ..models import load_transformer_skeleton

    grid = head_grid(load_transformer_skeleton(model))
    pool = resolve_pool(grid, None, layers)
    check_pool_size(len(pool), SearchSettings(rounds=rounds, per_round=per_round, **settings_kwargs))


def _model_id(model: str, model_id: str | None) -> str | None:
    if model_id:
        return model_id
    if os.path.isdir(os.path.expanduser(model)):
        return None  # a local folder is not a Hub id; search() asks for --model-id
    return model


def _device(device: str | None) -> str | None:
    if device:
        return device
    import torch

    if torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from accelerate import PartialState

        return str(PartialState().device)
    return None


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


@cli.command()
@click.option("--model", default=None, help="Pipeline folder, Hub id, or tiny-sd3 / tiny-sd3.5 / tiny-flux.")
@click.option("--model-id", default=None, help="Hub id written into the preset (needed when --model is a folder).")
@click.option("--style", default="", help='Style text for the objective, e.g. "sunlit, warm glow, golden hour".')
@click.option("--objective", default="pickscore", show_default=True,
              help="Objective: pickscore, clip, aesthetic, brightness, saturation, contrast, warmth, or a weighted "
              "sum such as pickscore+0.5*aesthetic.")
@click.option("--prompts", default="default", show_default=True,
              help="Content prompts: default, parti, hf:OWNER/NAME, or a .txt/.csv/.tsv/.jsonl/.json/.parquet file.")
@click.option("--prompt-column", default=None, help="Prompt column of a table source.")
@click.option("--category", default=None, help="Keep only this category of the prompt source.")
@click.option("--num-prompts", type=int, default=5, show_default=True,
              help="M search prompts (generation seeds SEED+0 .. SEED+M-1).")
@click.option("--num-heldout", type=int, default=10, show_default=True,
              help="Held-out prompts (disjoint from the search prompts) for the preset's held-out score "
              f"(generation seeds SEED+{HELDOUT_SEED_OFFSET}+i); 0: none.")
@click.option("--prompt-seed", type=int, default=0, show_default=True, help="Seed of the search/held-out prompt draw.")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True, help="Base generation seed SEED.")
@click.option("--strategy", type=click.Choice(STRATEGIES), default=DEFAULT_STRATEGY, show_default=True,
              help="exhaustive: the paper's greedy search; screened: cheap screening, full re-rank of the best.")
@click.option("--rounds", type=int, default=DEFAULT_ROUNDS, show_default=True, help="R greedy rounds.")
@click.option("--per-round", "-k", type=int, default=DEFAULT_PER_ROUND, show_default=True, help="k heads added per round.")
@click.option("--scale", "-w", type=float, default=DEFAULT_SCALE, show_default=True,
              help="Guidance scale w during the search.")
@click.option("--strength", "-u", type=float, default=DEFAULT_STRENGTH, show_default=True,
              help="SoftPAG u during the search.")
@click.option("--steps", type=int, default=DEFAULT_STEPS, show_default=True, help="Denoising steps.")
@click.option("--resolution", type=int, default=None, help="Image size in px (default: the model's).")
@click.option("--cfg", type=float, default=None, help="Classifier-free guidance scale during the search (default: none).")
@click.option("--identity", type=click.Choice(["joint", "image"]), default=DEFAULT_IDENTITY, show_default=True)
@click.option("--layers", default=None, help="Restrict the head pool to these layers, e.g. 0-5,12.")
@click.option("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, show_default=True, help="Images per pipeline call.")
@click.option("--screen-steps", type=int, default=None,
              help=f"screened: denoising steps while screening (default: steps // {SCREEN_STEPS_DIVISOR}, at least 1).")
@click.option("--screen-prompts", type=int, default=None,
              help="screened: screen on the first N search prompts (default: all of them).")
@click.option("--rerank", type=int, default=None,
              help=f"screened: candidates re-scored at full settings in each round (default: {RERANK_PER_K}k).")
@click.option("--keep", type=int, default=None,
              help=f"screened: best-ranked unselected heads considered in each round after the first "
              f"(default: {KEEP_PER_K}k).")
@click.option("--name", default=None, help="Preset name (default: the run folder's name).")
@click.option("--version", "version", default=DEFAULT_PRESET_VERSION, show_default=True, help="Preset version (semver).")
@click.option("--license", "license_", default=DEFAULT_PRESET_LICENSE, show_default=True, help="Preset license id.")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default="float32", show_default=True)
@click.option("--device", default=None, help="torch device (default: cpu, or each process's GPU under accelerate).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="New run folder.")
@click.option("--resume", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Continue the run in this folder (omitted options are taken from it).")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def search(ctx: click.Context, **opts: Any) -> None:
    """Search attention heads whose guidance raises an objective; write a run folder with the preset.

    \b
    stylehunt search --model stabilityai/stable-diffusion-3-medium-diffusers \\
        --style "sunlit, warm glow, golden hour" --objective pickscore \\
        --prompts parti --num-prompts 5 --rounds 5 --per-round 3 --out runs/golden-hour
    stylehunt search --resume runs/golden-hour
    """
    opts["license"] = opts.pop("license_")
    resume_dir, out = opts.pop("resume"), opts.pop("out")
    device, fmt, progress = opts.pop("device"), opts.pop("fmt"), opts.pop("progress")
    if resume_dir is not None:
        if out is not None and Path(out).resolve() != Path(resume_dir).resolve():
            raise click.UsageError("--out and --resume name different folders; give only --resume DIR")
        opts = _merge_resume(ctx, opts, Path(resume_dir))
        run_dir = Path(resume_dir)
    elif out is None:
        raise click.UsageError("give --out DIR for a new run (or --resume DIR to continue one)")
    else:
        run_dir = Path(out)
    if not opts["model"]:
        raise click.UsageError("give --model (a folder, a Hub id, or tiny-sd3 / tiny-sd3.5 / tiny-flux)")

    from ..prompts import load_prompts
    from ..headhunter.hunt import search as run_search

    # 1. cheap checks, no weights
    objective = _load_objective(opts["objective"], opts["style"])
    source = load_prompts(opts["prompts"], column=opts["prompt_column"], category=opts["category"])
    if opts["num_heldout"] < 0:
        raise SearchConfigError(f"Expected --num-heldout >= 0, but got {opts['num_heldout']}")
    search_set, heldout_set = source.split(opts["num_prompts"], opts["num_heldout"], seed=opts["prompt_seed"])
    settings_kwargs = dict(
        strategy=opts["strategy"], scale=opts["scale"], strength=opts["strength"], steps=opts["steps"],
        height=opts["resolution"], width=opts["resolution"], cfg_scale=opts["cfg"], identity=opts["identity"],
        batch_size=opts["batch_size"], screen_steps=opts["screen_steps"], screen_prompts=opts["screen_prompts"],
        rerank=opts["rerank"], keep=opts["keep"],
    )
    SearchSettings(rounds=opts["rounds"], per_round=opts["per_round"], **settings_kwargs)
    _pool_check(opts["model"], opts["layers"], opts["rounds"], opts["per_round"], settings_kwargs)
    if resume_dir is None and (run_dir / STATE_FILE).exists():
        raise SearchConfigError(f"run folder {run_dir} already holds a search", hint=f"continue it with --resume {run_dir}")
    # 2. the scorer's weights (ScorerUnavailableError when not available offline)
    objective.load()
    # 3. the model, then the search
    from ..models import load_pipeline

    pipe = load_pipeline(opts["model"], dtype=opts["dtype"], device=_device(device))
    if resume_dir is None and _is_main():
        write_command(run_dir, {k: opts[k] for k in _RECORDED})
    heldout = heldout_set if opts["num_heldout"] > 0 else None
    result = run_search(
        pipe, objective, search_set, heldout=heldout, base_seed=opts["seed"], rounds=opts["rounds"],
        per_round=opts["per_round"], layers=opts["layers"], out=run_dir, resume=resume_dir is not None,
        model_id=_model_id(opts["model"], opts["model_id"]), name=opts["name"], version=opts["version"],
        license=opts["license"], progress=progress, **settings_kwargs,
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
    click.echo(f"run folder: {run_dir}")


@cli.command()
@click.option("--model", required=True, help="Pipeline folder, Hub id, or tiny-sd3 / tiny-sd3.5 / tiny-flux.")
@click.option("--prompt", required=True, help="Text prompt (the same for every cell).")
@click.option("--layers", default=None, help="Layers to show, e.g. 0-5 (default: all).")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
@click.option("--scale", "-w", type=float, default=DEFAULT_SCALE, show_default=True, help="Guidance scale w.")
@click.option("--strength", "-u", type=float, default=DEFAULT_STRENGTH, show_default=True, help="SoftPAG u.")
@click.option("--steps", type=int, default=DEFAULT_STEPS, show_default=True)
@click.option("--resolution", type=int, default=None, help="Image size in px (default: the model's).")
@click.option("--cfg", type=float, default=None, help="Classifier-free guidance scale (default: none).")
@click.option("--identity", type=click.Choice(["joint", "image"]), default=DEFAULT_IDENTITY, show_default=True)
@click.option("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, show_default=True)
@click.option("--thumb", type=int, default=DEFAULT_THUMB, show_default=True, help="Cell size in px.")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default="float32", show_default=True)
@click.option("--device", default=None)
@click.option("--progress/--no-progress", default=None)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output PNG.")
def atlas(model, prompt, layers, seed, scale, strength, steps, resolution, cfg, identity, batch_size, thumb, dtype,
          device, progress, out):
    """Single-head guidance for every head of some layers: one row per layer, one column per head."""
    from ..engine import head_grid
    from ..models import load_pipeline, load_transformer_skeleton
    from ..headhunter.report import render_atlas

    SearchSettings(rounds=1, per_round=1, scale=scale, strength=strength, steps=steps, height=resolution,
                   width=resolution, cfg_scale=cfg, identity=identity, batch_size=batch_size)
    resolve_pool(head_grid(load_transformer_skeleton(model)), None, layers)  # bad --layers before loading
    pipe = load_pipeline(model, dtype=dtype, device=device)
    image = render_atlas(pipe, prompt, layers=layers, seed=seed, scale=scale, strength=strength, steps=steps,
                         height=resolution, width=resolution, cfg_scale=cfg, identity=identity,
                         batch_size=batch_size, thumb=thumb, progress=progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    click.echo(str(out))
