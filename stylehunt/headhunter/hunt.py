"""Greedy attention-head search (HeadHunter, arXiv 2506.10978): `search`, the entry point.

It checks every input, then drives the rounds of `strategies` through `runner` (units of work),
`sampler` (images), `store` (resume), `runfolder` (the folder and its lock), `distribution`
(accelerate) and `outputs` (the files). docs/search.md has the reasoning.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

from ..errors import SearchConfigError
from .distribution import Distributed
from .outputs import build_preset, check_preset_fields, check_preset_size, preset_name, write_outputs
from .results import RoundResult, SearchResult
from .runner import Progress, Runner
from .sampler import Sampler
from .settings import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_GRID_PROMPTS,
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
    HELDOUT_SEED_OFFSET,
    SearchSettings,
    check_batch,
    settings_from,
    check_frames,
    check_int_setting,
    check_pool_size,
    image_size,
    resolve_pool,
)
from .runfolder import RunLock, check_run_folder, discarded_unless_started, remove_stale_temps
from .command import RunCommand, write_command
from .store import STATE_FORMAT, json_bytes, open_store
from .strategies import estimate_images, greedy

__all__ = ["search"]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------
# Input normalisation
# --------------------------------------------------------------------------------------------------


def _prompt_list(prompts: Any, what: str) -> tuple[list[str], dict[str, Any] | None]:
    describe = None
    if hasattr(prompts, "prompts") and not isinstance(prompts, (str, bytes)):
        describe = prompts.describe() if hasattr(prompts, "describe") else None
        prompts = prompts.prompts
    if isinstance(prompts, (str, bytes)) or not isinstance(prompts, Sequence):
        raise SearchConfigError(
            f"Expected `{what}` to be a list of prompts or a PromptSet, but got {type(prompts).__name__}",
            hint="load prompts with stylehunt.prompts.load_prompts(...) or pass a list of strings",
        )
    out = list(prompts)
    for i, p in enumerate(out):
        if not isinstance(p, str) or not p.strip():
            raise SearchConfigError(f"{what}[{i}]: expected a non-empty prompt string, but got {p!r}")
    return out, describe


def _seed_list(seeds: Any, n: int, base: int, what: str) -> list[int]:
    if seeds is None:
        return [base + i for i in range(n)]
    seeds = list(seeds)
    if len(seeds) != n:
        raise SearchConfigError(f"got {len(seeds)} {what} for {n} prompts; give one seed per prompt")
    for i, s in enumerate(seeds):
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise SearchConfigError(f"{what}[{i}]: expected an integer >= 0, but got {s!r}")
    return [int(s) for s in seeds]


def _objective(objective: Any, style: str) -> Any:
    from ..objectives import Objective, build_objective

    if isinstance(objective, Objective):
        if style:
            raise SearchConfigError(
                "`style` only applies when the objective is given by name; this objective is already built",
                hint="pass build_objective(name, style=...) or the name and style=", param="style",
            )
        return objective
    if isinstance(objective, (str, dict)) or callable(objective):
        return build_objective(objective, style=style)
    raise SearchConfigError(
        f"Expected `objective` to be a name, a dict, an Objective or a callable (images, prompts) -> scores, "
        f"but got {type(objective).__name__}", param="objective",
    )


def _check_identity(grid: Any, identity: str) -> None:
    """The family's identity modes, checked now: the engine checks them at the first image, after the run
    folder, its ``command.json`` and ``state.json`` exist, which would then block the corrected command."""
    from ..engine.families import adapter_for_transformer

    adapter = adapter_for_transformer(grid.transformer_class)
    if identity not in adapter.identities:
        note = f": {adapter.identity_note}" if adapter.identity_note else ""
        raise SearchConfigError(
            f"`identity` {identity!r} is not supported for the {adapter.name} family{note}",
            hint=f"use `identity` {adapter.identities[0]!r}", param="identity",
        )


def _model_id(pipe: Any, model_id: str | None) -> str | None:
    if model_id is not None:
        return model_id
    name = getattr(pipe, "name_or_path", None) or getattr(getattr(pipe, "config", None), "_name_or_path", None)
    if not name or os.path.isdir(str(name)):
        return None
    return str(name)


# --------------------------------------------------------------------------------------------------
# The search
# --------------------------------------------------------------------------------------------------


def search(
    pipe: Any,
    objective: Any,
    prompts: Any,
    *,
    heldout: Any = None,
    style: str = "",
    seeds: Sequence[int] | None = None,
    heldout_seeds: Sequence[int] | None = None,
    base_seed: int = DEFAULT_SEED,
    strategy: str = DEFAULT_STRATEGY,
    rounds: int = DEFAULT_ROUNDS,
    per_round: int = DEFAULT_PER_ROUND,
    scale: float = DEFAULT_SCALE,
    strength: float = DEFAULT_STRENGTH,
    steps: int = DEFAULT_STEPS,
    height: int | None = None,
    width: int | None = None,
    frames: int | None = None,
    cfg_scale: float | None = None,
    identity: str = DEFAULT_IDENTITY,
    batch_size: int = DEFAULT_BATCH_SIZE,
    screen_steps: int | None = None,
    screen_prompts: int | None = None,
    rerank: int | None = None,
    keep: int | None = None,
    share_prefix: bool = True,
    pool: Iterable[Any] | None = None,
    layers: str | Iterable[int] | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    model_id: str | None = None,
    name: str | None = None,
    version: str = DEFAULT_PRESET_VERSION,
    license: str = DEFAULT_PRESET_LICENSE,
    grid_prompts: int = DEFAULT_GRID_PROMPTS,
    progress: bool | None = None,
    command: RunCommand | Mapping[str, Any] | None = None,
    settings: SearchSettings | None = None,
) -> SearchResult:
    """Greedy head search (HeadHunter) for a preset that raises ``objective``.

    Args:
        pipe: a diffusers pipeline of a supported family (``stylehunt.engine.adapters()``), on its
            device; nothing applied.
        objective: an `stylehunt.objectives.Objective`, a name/spec for
            `stylehunt.objectives.build_objective` (``"pickscore"``, ``"brightness"``, ...)
            or a callable ``(images, prompts) -> scores`` (higher is better).
        prompts: the M search (content) prompts: a list of strings or a ``PromptSet``.
        heldout: prompts never used to choose heads, for the held-out score (list or
            ``PromptSet``; ``None``: no held-out evaluation).
        style: style text for objectives built by name (e.g. PickScore of ``"<style>, <prompt>"``).
        seeds, heldout_seeds: one generation seed per prompt; default ``base_seed + i`` for the
            search pairs and ``base_seed + HELDOUT_SEED_OFFSET + i`` (1000 + i) for the held-out pairs.
        strategy, rounds, per_round, scale, strength, steps, height, width, frames, cfg_scale, identity,
        batch_size, screen_steps, screen_prompts, rerank, keep, share_prefix: see `SearchSettings`. On a
        video pipeline (Wan) every sample is a video of ``frames`` frames, scored frame by frame.
        pool: the candidate heads (default: every head of the model); ``layers`` restricts the
            pool to some layers (``"0-5,12"`` or a list).
        out: run folder; gets ``state.json`` (resume), ``scores.json``, ``curve.png``,
            ``grid.png`` and ``stylehunt_preset.json``. ``None``: nothing is written. A new run
            needs a new or empty folder (a folder holding other files is refused, never written
            to); the folder is locked for the life of the search (a second search on it is
            refused, naming the first one's pid); nothing is created before every input is checked.
        resume: continue the search recorded in ``out``; its configuration must be the same.
        model_id: the Hub id recorded in the preset (default: the pipeline's ``name_or_path``
            when it is not a local folder); required with ``out``.
        name, version, license: the saved preset's name (default: the run folder's name),
            semver version and license id.
        grid_prompts: rows of ``grid.png`` (the first search pairs).
        progress: tqdm bars (overall with ETA, and per round); default: on a terminal only.
        command: how a new run was started, written to ``command.json`` in the run folder before the
            search state; ignored on resume. A `stylehunt.headhunter.command.RunCommand` (the CLI's:
            these settings and its other options, read back by ``stylehunt search --resume``), or any
            JSON-ready mapping.
        settings: a `SearchSettings` already built (a front end's, checked before the model
            loaded) instead of the setting keywords above, which must then be left at their defaults.

    Returns a `SearchResult` (``result.preset``, ``result.rounds``, held-out scores, images).
    Raises `stylehunt.errors.SearchConfigError` (bad input, found before any image is
    generated), `stylehunt.errors.ResumeMismatchError`, `stylehunt.errors.ObjectiveError`,
    `stylehunt.errors.ScorerUnavailableError`.

    Example (tiny random-weight model, weight-free objective)::

        from stylehunt.headhunter import search
        from stylehunt.tiny import load_tiny_pipeline
        pipe = load_tiny_pipeline("sd3")
        result = search(pipe, "brightness", ["a house", "a dog"], rounds=2, per_round=1,
                        steps=2, height=64, width=64, model_id="tiny-sd3")
        result.heads, result.rounds[0].score
    """
    from .. import __version__
    from ..engine import check_pipeline, get_applied

    # ---- validation: everything cheap, before the objective's weights or any image -------------
    keywords = dict(
        strategy=strategy, rounds=rounds, per_round=per_round, scale=scale, strength=strength, steps=steps,
        height=height, width=width, frames=frames, cfg_scale=cfg_scale, identity=identity, batch_size=batch_size,
        screen_steps=screen_steps, screen_prompts=screen_prompts, rerank=rerank, keep=keep, share_prefix=share_prefix,
    )
    settings = given_settings = settings_from(settings, keywords)
    grid = check_pipeline(pipe)
    _check_identity(grid, settings.identity)
    if get_applied(pipe) is not None:
        raise SearchConfigError(
            "the pipeline already has stylehunt guidance applied; the search needs it bare",
            hint="call stylehunt.remove(pipe) first",
        )
    search_prompts, prompt_info = _prompt_list(prompts, "prompts")
    if not search_prompts:
        raise SearchConfigError("the prompt set is empty", hint="pass at least one prompt (the paper uses 5)")
    heldout_prompts, heldout_info = _prompt_list(heldout, "heldout") if heldout is not None else ([], None)
    search_seeds = _seed_list(seeds, len(search_prompts), base_seed, "seeds")
    heldout_seed_list = _seed_list(heldout_seeds, len(heldout_prompts), base_seed + HELDOUT_SEED_OFFSET, "heldout_seeds")
    h, w = image_size(pipe, settings)
    check_frames(pipe, settings.frames)
    check_batch(pipe, settings.batch_size)
    settings = settings.resolved(len(search_prompts), h, w)
    addresses = resolve_pool(grid, pool, layers)
    check_pool_size(len(addresses), settings)
    check_int_setting(grid_prompts, "grid_prompts", 1)
    objective = _objective(objective, style)
    objective_info = objective.describe()
    run_dir = Path(out).expanduser() if out is not None else None
    model_id = _model_id(pipe, model_id)
    saved_name = preset_name(name, run_dir)
    check_preset_size(search_prompts, heldout_prompts, [prompt_info, heldout_info, objective_info], settings)
    if run_dir is None:
        if resume:
            raise SearchConfigError("resume=True needs a run folder", hint="pass out=<the run folder to resume>",
                                    cli_hint="give --resume DIR", param="out")
    else:
        check_preset_fields(saved_name, version, license, model_id)
        if isinstance(command, RunCommand) and command.settings != given_settings:
            raise SearchConfigError("`command` records other settings than the search's own",
                                    hint="record the settings object the search is given", param="command")
        if command is not None and not resume:
            try:
                json_bytes(command.to_dict() if isinstance(command, RunCommand) else dict(command))
            except (TypeError, ValueError) as e:
                raise SearchConfigError(f"Expected `command` to be JSON-ready data, but it is not ({e})") from None
    config = {
        "state_format": STATE_FORMAT,
        "model": model_id,
        "fingerprint": grid.fingerprint(),
        "settings": settings.to_dict(),
        "objective": objective_info,
        "style": style,
        "prompts": {
            "search": [[p, s] for p, s in zip(search_prompts, search_seeds)],
            "heldout": [[p, s] for p, s in zip(heldout_prompts, heldout_seed_list)],
        },
        "pool": [list(a) for a in addresses],
    }
    pairs = {
        "search": list(zip(search_prompts, search_seeds)),
        "heldout": list(zip(heldout_prompts, heldout_seed_list)),
    }
    if settings.strategy == "screened":
        pairs["screen"] = pairs["search"][: settings.screen_prompts]
    dist = Distributed()
    with contextlib.ExitStack() as folder:
        if run_dir is not None:
            check_run_folder(run_dir, resume=resume)  # every process, reading only
        objective.load()  # ScorerUnavailableError now, before any image or file
        if run_dir is not None and dist.is_main:  # everything is checked: the first thing created
            folder.enter_context(RunLock(run_dir))
            remove_stale_temps(run_dir)
            if not resume:
                folder.enter_context(discarded_unless_started(run_dir))
        store, resumed = open_store(run_dir, resume, config, writer=dist.is_main)
        dist.barrier()  # every process has read the folder before the main process writes to it
        if command is not None and not resume and dist.is_main:
            write_command(run_dir, command)
        store.save()
        run = _hunt(pipe, grid, settings, objective, store, dist, addresses, pairs, grid_prompts, progress, resumed,
                    run_dir)
        heldout_base = run.heldout_scores[0] if run.heldout_scores else None
        heldout_final = run.heldout_scores[-1] if run.heldout_scores else None
        preset = build_preset(
            round_results=run.rounds,
            settings=settings,
            grid=grid,
            model_id=model_id,
            name=saved_name,
            version=version,
            license=license,
            style=style,
            objective=objective,
            objective_info=objective_info,
            prompt_info=prompt_info,
            heldout_info=heldout_info,
            pairs=pairs,
            baseline=run.baseline,
            heldout_base=heldout_base,
            heldout_final=heldout_final,
            rows=dict(run.rows),
            pool_size=len(addresses),
            version_str=__version__,
        )
        result = SearchResult(
            preset=preset,
            rounds=run.rounds,
            baseline=run.baseline,
            heldout_baseline=heldout_base,
            heldout_score=heldout_final,
            settings=settings,
            forward_rows=dict(run.rows),
            block_rows=dict(run.block_rows),
            seconds={k: round(v, 3) for k, v in run.seconds.items()},
            images=run.images,
            grid_pairs=run.grid_pairs,
            run_dir=run_dir,
        )
        if run_dir is not None and dist.is_main:
            write_outputs(result, objective)
            store.save(status="done")
        dist.barrier()
    logger.info(
        "search done: heads %s, search score %.4g (baseline %.4g)%s",
        [list(a) for a in preset.heads], run.rounds[-1].score, run.baseline,
        "" if heldout_final is None else f", held-out {heldout_final:.4g} (baseline {heldout_base:.4g})",
    )
    return result


class _Run(NamedTuple):
    """What the search proper found; `search` makes the preset and the result of it."""

    rounds: list[RoundResult]
    baseline: float
    heldout_scores: list[float]
    images: dict[str, list[Any]]
    grid_pairs: list[tuple[str, int]]
    rows: dict[str, int]
    block_rows: dict[str, float]
    seconds: dict[str, float]


def _hunt(pipe: Any, grid: Any, settings: SearchSettings, objective: Any, store: Any, dist: Distributed,
          addresses: list[Any], pairs: dict[str, list[tuple[str, int]]], grid_prompts: int, progress: bool | None,
          resumed: bool, run_dir: Path | None) -> _Run:
    """The search proper, on checked inputs: baseline, greedy rounds, held-out scores, grid images."""
    num_search, num_heldout = len(pairs["search"]), len(pairs["heldout"])
    if progress is None:
        progress = sys.stderr.isatty()
    bar = Progress(
        bool(progress) and dist.is_main,
        estimate_images(settings, len(addresses), num_search, num_heldout),
    )
    logger.info(
        "search: %s strategy, %d rounds x k=%d over %d heads, %d prompts (%d held out), %d process(es)%s",
        settings.strategy, settings.rounds, settings.per_round, len(addresses), num_search, num_heldout,
        dist.num_processes, f", resuming {run_dir}" if resumed else "",
    )
    with Sampler(pipe, grid, settings) as sampler:
        runner = Runner(sampler, objective, store, dist, pairs, bar)
        if resumed:
            runner.account_recorded()
        try:
            bar.stage("baseline", num_search)
            baseline = runner.evaluate("baseline", [()], "search", settings.steps)[0]
            round_results = greedy(runner, settings, addresses, bar, num_search)
            heldout_scores: list[float] = []
            if num_heldout:
                sets = [()] + [r.heads for r in round_results]
                bar.stage("held-out", len(sets) * num_heldout)
                heldout_scores = runner.evaluate("heldout", sets, "heldout", settings.steps)
                for r, value in zip(round_results, heldout_scores[1:]):
                    r.heldout = value
        finally:
            bar.close()
        # grid images: main process only (not recorded, not counted)
        grid_pairs = pairs["search"][:grid_prompts]
        images = _grid_images(sampler, round_results, grid_pairs) if dist.is_main else {}
    dist.barrier()
    return _Run(round_results, baseline, heldout_scores, images, grid_pairs, dict(runner.rows), dict(runner.block_rows),
                dict(runner.seconds))


def _grid_images(sampler: Sampler, round_results: list[RoundResult], grid_pairs: list[tuple[str, int]]) -> dict[str, list[Any]]:
    """The grid's columns: each grid pair without guidance, then with the set of each round."""
    s = sampler.settings
    columns = [("no guidance", ())] + [(f"round {r.round}", r.heads) for r in round_results]
    sets = [heads for _, heads in columns for _ in grid_pairs]
    flat_pairs = [p for _ in columns for p in grid_pairs]
    flat: list[Any] = []
    for i in range(0, len(sets), s.batch_size):
        flat += sampler.generate(sets[i : i + s.batch_size], flat_pairs[i : i + s.batch_size], s.steps)
    return {label: flat[c * len(grid_pairs) : (c + 1) * len(grid_pairs)] for c, (label, _) in enumerate(columns)}
