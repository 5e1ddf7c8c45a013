"""What decides a search's result besides model, objective and prompts: defaults, validation, the pool.

Every default of the search lives here once: `SearchSettings`, `stylehunt.headhunter.search`,
`stylehunt.headhunter.atlas.render_atlas` and the ``stylehunt search`` / ``stylehunt atlas``
options (defaults and help text) are built from the constants below, so the help cannot state a
default the code does not use. It also resolves the head pool (``pool`` / ``layers``) and checks the
image size and frame count against what the pipeline accepts (`stylehunt.engine.pipeline_inputs`).
Imports no torch (the CLI reads the defaults for ``--help``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterable

# what a pipeline accepts is the engine's (next to the adapters); re-exported for the search's callers
from ..engine.pipeline_inputs import default_size, frames_problem, makes_video, size_multiple, size_multiple_for
from ..errors import SearchConfigError

__all__ = [
    "Address",
    "HeadSet",
    "STRATEGIES",
    "DEFAULT_STRATEGY",
    "DEFAULT_ROUNDS",
    "DEFAULT_PER_ROUND",
    "DEFAULT_SCALE",
    "DEFAULT_STRENGTH",
    "DEFAULT_STEPS",
    "DEFAULT_IDENTITY",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_SEED",
    "SCREEN_STEPS_DIVISOR",
    "RERANK_PER_K",
    "KEEP_PER_K",
    "HELDOUT_SEED_OFFSET",
    "DEFAULT_GRID_PROMPTS",
    "DEFAULT_THUMB",
    "MAX_THUMB",
    "DEFAULT_PRESET_VERSION",
    "DEFAULT_PRESET_LICENSE",
    "SearchSettings",
    "settings_from",
    "check_int_setting",
    "parse_layers",
    "resolve_pool",
    "check_pool_size",
    "default_size",
    "size_multiple_for",
    "image_size",
    "makes_video",
    "check_batch",
    "check_frames",
    "frames_problem",
]

Address = tuple[int, int]
HeadSet = tuple[Address, ...]

#: Search strategies: ``exhaustive`` (the paper's greedy) and ``screened`` (see `stylehunt.headhunter.hunt`).
STRATEGIES = ("exhaustive", "screened")

# The paper's style search: M = 5 prompts, R = 5 rounds of k = 3 heads, w = 3, u = 1, 20 steps, no CFG.
DEFAULT_STRATEGY = "exhaustive"
DEFAULT_ROUNDS = 5
DEFAULT_PER_ROUND = 3
DEFAULT_SCALE = 3.0
DEFAULT_STRENGTH = 1.0
DEFAULT_STEPS = 20
DEFAULT_IDENTITY = "joint"
DEFAULT_BATCH_SIZE = 8
#: Base generation seed: search pair i uses ``seed + i``.
DEFAULT_SEED = 0

#: ``screened``: screening runs ``max(1, steps // SCREEN_STEPS_DIVISOR)`` denoising steps (an eighth).
#: The first step is nearly free to screen (the candidates of a prompt-seed pair share its
#: conditional row; each perturbed row starts at its head's block), every later one is not, and on
#: the benchmark (docs/search.md) 2 steps picked the same heads as 1 in 66 of 72 comparisons.
SCREEN_STEPS_DIVISOR = 8
#: ``screened``: ``ceil(RERANK_PER_K * k)`` candidates are re-scored at full settings per round.
#: Chosen on search-set evidence only (``benchmarks/search_variants.py``): at 2.5k the screened
#: search chose the exhaustive search's heads in 5 of 6 runs, at 2k in 2.
RERANK_PER_K = 2.5
#: ``screened``: rounds after the first consider the ``KEEP_PER_K * k`` best-ranked unselected heads.
KEEP_PER_K = 4

#: Held-out pairs use seeds ``base_seed + HELDOUT_SEED_OFFSET + i`` (search pairs: ``base_seed + i``).
HELDOUT_SEED_OFFSET = 1000
#: Rows of a run folder's ``grid.png`` (the first search pairs).
DEFAULT_GRID_PROMPTS = 4
#: Cell size in px of the grid and the atlas.
DEFAULT_THUMB = 96
#: The largest atlas cell (``--thumb``) in px.
MAX_THUMB = 1024
#: Version and license id of the preset a search saves.
DEFAULT_PRESET_VERSION = "0.1.0"
DEFAULT_PRESET_LICENSE = "other"


def check_int_setting(value: Any, name: str, minimum: int, fix: str = "") -> int:
    """``value`` as an int >= ``minimum``, or a `SearchConfigError` naming ``name`` (``fix``: the hint)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SearchConfigError(f"Expected `{name}` to be an integer >= {minimum}, but got {value!r}", hint=fix or None, param=name)
    if value < minimum:
        raise SearchConfigError(f"Expected `{name}` to be >= {minimum}, but got {value}", hint=fix or None, param=name)
    return int(value)


def _float_setting(value: Any, name: str, low: float, high: float, *, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SearchConfigError(f"Expected `{name}` to be a finite number, but got {value!r}", param=name)
    if value < low or value > high or (low_open and value == low):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise SearchConfigError(f"Expected `{name}` to be in {interval}, but got {value}", param=name)
    return float(value)


@dataclass(frozen=True)
class SearchSettings:
    """Everything besides model, objective, prompts and pool that decides a search's result.

    Args:
        strategy: ``"exhaustive"`` (the paper) or ``"screened"`` (see `stylehunt.headhunter.hunt`).
        rounds: R, greedy rounds.
        per_round: k, heads added per round.
        scale: guidance scale w of the head perturbation during the search.
        strength: SoftPAG u of every searched head (the paper searches at 1.0).
        steps: denoising steps per image at the full settings.
        height, width: image size in px; ``None``: the pipeline's default.
        frames: frames per video, for a video pipeline (Wan); ``None``: the pipeline's default.
            `check_frames` refuses it for an image pipeline. A video is scored frame by
            frame (see `stylehunt.objectives.Objective`).
        cfg_scale: ``None`` (default, as in the paper): no classifier-free guidance during the
            search. A value > 1 turns it on, with an empty negative prompt, through the call
            argument the family adapter names (`stylehunt.engine.Adapter.cfg_scale_arg`).
        identity: ``"joint"`` or ``"image"`` (see `stylehunt.apply`).
        batch_size: images per pipeline call (one unit of work). Part of the configuration: it
            decides which images share a forward pass, hence the last bits of the scores.
        screen_steps, screen_prompts, rerank, keep: the ``screened`` strategy's knobs (ignored by
            ``exhaustive``): screening steps (default ``steps // SCREEN_STEPS_DIVISOR``, at least
            1), screening pairs (default: all M; fewer takes the first ones), candidates re-scored
            at full settings per round (default ``ceil(RERANK_PER_K * per_round)``), and the best-ranked
            unselected heads considered in each round after the first (default
            ``KEEP_PER_K * per_round``). `resolved` fills them.
        share_prefix: let the engine share work between rows (`stylehunt.engine.apply_table`):
            a candidate's perturbed row runs from its first head's block on, and candidates of one
            prompt-seed pair share their first step's conditional row. Results are the same up to
            float noise (so, like ``batch_size``, it is part of the configuration); ``False`` runs
            the search as before the shared prefix, to measure what it saves.

    >>> SearchSettings(rounds=0)
    Traceback (most recent call last):
    ...
    stylehunt.errors.SearchConfigError: Expected `rounds` to be >= 1, but got 0
    >>> s = SearchSettings(strategy="screened", steps=20, per_round=3).resolved(5, 64, 64)
    >>> s.screen_steps, s.screen_prompts, s.rerank, s.keep
    (2, 5, 8, 12)
    """

    strategy: str = DEFAULT_STRATEGY
    rounds: int = DEFAULT_ROUNDS
    per_round: int = DEFAULT_PER_ROUND
    scale: float = DEFAULT_SCALE
    strength: float = DEFAULT_STRENGTH
    steps: int = DEFAULT_STEPS
    height: int | None = None
    width: int | None = None
    frames: int | None = None
    cfg_scale: float | None = None
    identity: str = DEFAULT_IDENTITY
    batch_size: int = DEFAULT_BATCH_SIZE
    screen_steps: int | None = None
    screen_prompts: int | None = None
    rerank: int | None = None
    keep: int | None = None
    share_prefix: bool = True

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise SearchConfigError(
                f"Unknown search strategy {self.strategy!r}; expected one of {', '.join(STRATEGIES)}"
            )
        check_int_setting(self.rounds, "rounds", 1)
        check_int_setting(self.per_round, "per_round", 1)
        object.__setattr__(self, "scale", _float_setting(self.scale, "scale", 0.0, 1e4, low_open=True))
        object.__setattr__(self, "strength", _float_setting(self.strength, "strength", 0.0, 1.0, low_open=True))
        check_int_setting(self.steps, "steps", 1)
        for name in ("height", "width"):
            value = getattr(self, name)
            if value is not None:
                check_int_setting(value, name, 8)
        if self.frames is not None:
            check_int_setting(self.frames, "frames", 1)
        if self.cfg_scale is not None:
            value = _float_setting(self.cfg_scale, "cfg_scale", 1.0, 1e4, low_open=True)
            object.__setattr__(self, "cfg_scale", value)
        from ..engine import IDENTITY_MODES

        if self.identity not in IDENTITY_MODES:
            raise SearchConfigError(f"Expected `identity` to be one of {IDENTITY_MODES}, but got {self.identity!r}", param="identity")
        check_int_setting(self.batch_size, "batch_size", 1)
        if not isinstance(self.share_prefix, bool):
            raise SearchConfigError(f"Expected `share_prefix` to be True or False, but got {self.share_prefix!r}", param="share_prefix")
        if self.screen_steps is not None:
            check_int_setting(self.screen_steps, "screen_steps", 1)
            if self.screen_steps > self.steps:
                raise SearchConfigError(
                    f"Expected `screen_steps` <= `steps` ({self.steps}), but got {self.screen_steps}",
                    hint="screening is meant to be cheaper than the full evaluation", param="screen_steps",
                )
        if self.screen_prompts is not None:
            check_int_setting(self.screen_prompts, "screen_prompts", 1)
        for name in ("rerank", "keep"):
            value = getattr(self, name)
            if value is not None:
                check_int_setting(value, name, self.per_round, fix=f"`{name}` must be at least `per_round` (k={self.per_round})")

    def resolved(self, num_prompts: int, height: int, width: int) -> "SearchSettings":
        """Fill the defaults that depend on the run (image size, screening knobs)."""
        if self.strategy == "exhaustive":
            screen = {"screen_steps": None, "screen_prompts": None, "rerank": None, "keep": None}
        else:
            screen_prompts = self.screen_prompts if self.screen_prompts is not None else num_prompts
            if screen_prompts > num_prompts:
                raise SearchConfigError(
                    f"Expected `screen_prompts` <= the number of search prompts (`prompts`: {num_prompts}), but got {screen_prompts}",
                    hint="lower `screen_prompts`, or search on more prompts", param="screen_prompts",
                )
            screen = {
                "screen_steps": self.screen_steps if self.screen_steps is not None else max(1, self.steps // SCREEN_STEPS_DIVISOR),
                "screen_prompts": screen_prompts,
                "rerank": self.rerank if self.rerank is not None else math.ceil(RERANK_PER_K * self.per_round),
                "keep": self.keep if self.keep is not None else KEEP_PER_K * self.per_round,
            }
        return dataclasses.replace(self, height=height, width=width, **screen)

    def to_dict(self) -> dict[str, Any]:
        """The settings as recorded (run state, preset provenance); ``frames`` only when set, so an
        image search records what it recorded before videos existed (and resumes its runs)."""
        out = dataclasses.asdict(self)
        if self.frames is None:
            del out["frames"]
        return out


def settings_from(settings: SearchSettings | None, keywords: dict[str, Any], **fixed: Any) -> SearchSettings:
    """The settings a keyword front was given: ``settings`` as built, else `SearchSettings` of ``keywords``
    (and of the ``fixed`` values the front always uses, such as the atlas's one round).

    A front takes either (the CLI builds its settings once, checked before any model loads, and hands
    that object on); a keyword off its default beside ``settings`` is refused rather than dropped.

    >>> settings_from(None, {"rounds": 2}).rounds
    2
    >>> settings_from(SearchSettings(rounds=2), {"rounds": 4})
    Traceback (most recent call last):
    ...
    stylehunt.errors.SearchConfigError: give the settings either as `settings` or as keywords, not both (rounds)
    """
    if settings is None:
        return SearchSettings(**fixed, **keywords)
    if not isinstance(settings, SearchSettings):
        raise SearchConfigError(f"Expected `settings` to be a SearchSettings, but got {type(settings).__name__}",
                                param="settings")
    defaults = {f.name: f.default for f in dataclasses.fields(SearchSettings)}
    given = [k for k, v in keywords.items() if v != defaults[k]]
    if given:
        raise SearchConfigError(
            f"give the settings either as `settings` or as keywords, not both ({', '.join(given)})", param="settings"
        )
    return settings


def parse_layers(spec: str | Iterable[int] | None) -> list[int] | None:
    """``"0-5,12"`` -> ``[0, 1, 2, 3, 4, 5, 12]``; an iterable of ints passes through sorted.

    >>> parse_layers("0-2,7")
    [0, 1, 2, 7]
    """
    if spec is None:
        return None
    if not isinstance(spec, str):
        out = []
        for x in spec:
            if isinstance(x, bool) or not isinstance(x, int) or x < 0:
                raise SearchConfigError(f"Expected layer indices to be integers >= 0, but got {x!r}", param="layers")
            out.append(int(x))
        return sorted(set(out))
    out = []
    for part in spec.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        if not lo.strip().isdigit() or (sep and not hi.strip().isdigit()):
            raise SearchConfigError(
                f"cannot read layer range {part!r} in {spec!r}", hint="write layers as e.g. 0-5,12 (0-based, inclusive)",
                param="layers",
            )
        a, b = int(lo), int(hi) if sep else int(lo)
        if b < a:
            raise SearchConfigError(f"empty layer range {part!r} in {spec!r}", hint="write ranges low-high, e.g. 0-5",
                                   param="layers")
        out.extend(range(a, b + 1))
    return sorted(set(out))


def resolve_pool(grid: Any, pool: Iterable[Any] | None, layers: Any) -> list[Address]:
    """The candidate heads, sorted: ``pool`` (default every head of ``grid``) within ``layers``.

    ``grid`` is a `stylehunt.engine.HeadGrid` (read from a meta-device skeleton by the CLI,
    so a bad ``--layers`` is refused before the weights load).
    """
    if pool is None:
        addresses = list(grid)
    else:
        if isinstance(pool, (str, bytes)):
            raise SearchConfigError(f"Expected `pool` to be a list of (layer, head) pairs, but got {pool!r}", param="pool")
        addresses = []
        for i, item in enumerate(pool):
            try:
                layer, head = item
            except (TypeError, ValueError):
                raise SearchConfigError(f"pool[{i}]: expected a (layer, head) pair, but got {item!r}") from None
            if any(isinstance(x, bool) or not isinstance(x, int) for x in (layer, head)):
                raise SearchConfigError(f"pool[{i}]: expected a (layer, head) pair of integers, but got {item!r}")
            grid.check((layer, head), where=f"pool[{i}]")
            addresses.append((int(layer), int(head)))
    wanted = parse_layers(layers)
    if wanted is not None:
        for layer in wanted:
            if layer >= grid.num_layers:
                raise SearchConfigError(
                    f"layer {layer} out of range for {grid.transformer_class} with {grid.num_layers} attention layers "
                    f"(valid: 0-{grid.num_layers - 1})",
                    hint="run `stylehunt heads --model ...` to print this model's head grid", param="layers",
                )
        addresses = [a for a in addresses if a[0] in set(wanted)]
    addresses = sorted(set(addresses))
    if not addresses:
        raise SearchConfigError("the head pool is empty", hint="check `pool` / `layers`", cli_hint="check `layers`",
                                param="layers")
    return addresses


def check_pool_size(pool_size: int, settings: SearchSettings) -> None:
    """Refuse a k, or an R x k, that the pool cannot supply."""
    k, rounds = settings.per_round, settings.rounds
    if k > pool_size:
        raise SearchConfigError(
            f"`per_round` k={k} is larger than the pool of {pool_size} heads",
            hint="lower `per_round` or widen the pool (`layers`)", param="per_round",
        )
    if k * rounds > pool_size:
        raise SearchConfigError(
            f"`rounds` {rounds} x `per_round` k={k} would select {k * rounds} heads from a pool of only {pool_size}",
            hint="lower `rounds` or `per_round`, or widen the pool (`layers`)", param="per_round",
        )


def image_size(pipe: Any, settings: SearchSettings) -> tuple[int, int]:
    """``(height, width)`` of the settings, or the pipeline's default; refused unless the pipeline can take it."""
    default_h, default_w = default_size(pipe)
    h = settings.height or default_h
    w = settings.width or default_w
    multiple = size_multiple(pipe)
    if h % multiple or w % multiple:
        raise SearchConfigError(
            f"image size {h}x{w} is not a multiple of {multiple} for {type(pipe).__name__}",
            hint=f"use a height and width divisible by {multiple}",
            cli_hint=f"use a `height` divisible by {multiple}", param="height",
        )
    return h, w


def check_batch(pipe: Any, batch_size: int) -> None:
    """Refuse a ``batch_size`` larger than one call of ``pipe`` can decode (the family adapter's ``max_batch``)."""
    from ..engine.families import adapter_for_pipeline

    limit = adapter_for_pipeline(pipe).max_batch
    if limit and batch_size > limit:
        raise SearchConfigError(
            f"`batch_size` {batch_size} is more than {type(pipe).__name__} decodes in one call ({limit}): its VAE "
            "in this diffusers fails on a batch of videos",
            hint=f"use `batch_size` {limit}", param="batch_size",
        )


def check_frames(pipe: Any, frames: int | None) -> int | None:
    """``frames`` if ``pipe`` makes videos of that length (``None``, the pipeline's default, passes).

    Refused: frames for an image pipeline, and a count the pipeline would round (a Wan VAE packs 4
    frames into one latent after the first, so Wan takes 1 + 4n frames and silently rounds others).
    """
    if frames is None:
        return None
    if not makes_video(pipe):
        raise SearchConfigError(
            f"`frames` {frames} is for video pipelines, and {type(pipe).__name__} makes images",
            hint="leave `frames` out for an image model",
            param="frames",
        )
    problem = frames_problem(pipe, frames)
    if problem:
        raise SearchConfigError(f"`frames` {problem}", param="frames")
    return frames

