"""Greedy attention-head search (HeadHunter), resumable and distributable.

:func:`search` finds a preset: a small set of ``(layer, head)`` addresses whose SoftPAG perturbation,
used as guidance, raises an objective on generated images. Two strategies:

* ``"exhaustive"`` is the paper's procedure exactly. Each of ``rounds`` rounds scores every head
  still in the pool *with the already chosen set included* (``S + {c}``), averaged over the M
  prompt-seed pairs at the full settings, and adds the ``per_round`` best to ``S``.
* ``"screened"`` spends most generations on cheap screening. In each round the candidates are
  first scored at ``screen_steps`` denoising steps (default a quarter of ``steps``) on the first
  ``screen_prompts`` pairs (default all); only the ``rerank`` best are re-scored at the full
  settings, and the round picks from those full scores. Rounds after the first consider only the
  ``keep`` best-ranked unselected heads (by the latest scores each head has): heads far below the
  top are not generated again. ``benchmarks/search.py`` measures it against the exhaustive
  strategy (forward rows, wall time, held-out objective).

Mechanics (``docs/search.md`` has the reasoning):

* **One unit of work** is one pipeline call of ``batch_size`` images. Each image is a *job*, a
  (head set, prompt-seed pair) couple; its row of the per-row strength table
  (:func:`stylehunt.apply_table`) perturbs its own head set, so one call evaluates several
  candidates side by side. Jobs are laid out candidate-major and cut into units by the settings
  alone, so a unit holds the same images whether it runs in a single process, on any rank of a
  distributed run, or after a resume. Each image has its own ``torch.Generator`` seeded by its pair,
  and prompt embeddings are computed once per prompt, so a row never depends on its neighbours.
* **Determinism.** Candidates are sorted by address; rankings sort by ``(-score, address)``.
* **Resume.** With ``out=``, ``state.json`` in the run folder holds a hash of the configuration
  (model and architecture fingerprint, settings, objective, prompts, seeds, pool) and every
  unit's scores; it is rewritten atomically (temporary file + ``os.replace``) after every unit.
  A resumed run replays the same deterministic algorithm, taking recorded units from the state
  and computing the rest, so it ends with exactly the heads (and scores) of an uninterrupted run.
* **Distributed.** Under ``accelerate launch`` (or ``torchrun``) the pending units of each phase
  are dealt out ``num_processes`` at a time with ``PartialState.split_between_processes`` and the
  scores gathered with ``accelerate.utils.gather_object``; every process then holds all scores
  and makes the same choices. Only the main process writes files.

Example (tiny random-weight model, weight-free objective)::

    from stylehunt.search import search
    from stylehunt.tiny import load_tiny_pipeline
    pipe = load_tiny_pipeline("sd3")
    result = search(pipe, "brightness", ["a house", "a dog"], rounds=2, per_round=1,
                    steps=2, height=64, width=64, model_id="tiny-sd3")
    result.heads, result.rounds[0].score
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import torch

from ..files import atomic_write_bytes as _atomic_write
from ..errors import ResumeMismatchError, SearchConfigError, SearchError, StylehuntError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from ..registry.preset import Preset

__all__ = [
    "search",
    "SearchSettings",
    "SearchResult",
    "RoundResult",
    "STRATEGIES",
    "STATE_FILE",
    "SCORES_FILE",
    "CURVE_FILE",
    "GRID_FILE",
    "read_state",
    "parse_layers",
]

logger = logging.getLogger(__name__)

#: Search strategies, see the module docstring.
STRATEGIES = ("exhaustive", "screened")

STATE_FILE = "state.json"
SCORES_FILE = "scores.json"
CURVE_FILE = "curve.png"
GRID_FILE = "grid.png"
#: Version of the ``state.json`` layout; a state of another version is not resumed.
STATE_FORMAT = 1
#: Held-out pairs use seeds ``base_seed + HELDOUT_SEED_OFFSET + i`` (search pairs: ``base_seed + i``).
HELDOUT_SEED_OFFSET = 1000

Address = tuple[int, int]
HeadSet = tuple[Address, ...]


# --------------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------------


def _int_setting(value: Any, name: str, minimum: int, fix: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SearchConfigError(f"Expected `{name}` to be an integer >= {minimum}, but got {value!r}", hint=fix or None)
    if value < minimum:
        raise SearchConfigError(f"Expected `{name}` to be >= {minimum}, but got {value}", hint=fix or None)
    return int(value)


def _float_setting(value: Any, name: str, low: float, high: float, *, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SearchConfigError(f"Expected `{name}` to be a finite number, but got {value!r}")
    if value < low or value > high or (low_open and value == low):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise SearchConfigError(f"Expected `{name}` to be in {interval}, but got {value}")
    return float(value)


@dataclass(frozen=True)
class SearchSettings:
    """Everything besides model, objective, prompts and pool that decides a search's result.

    Args:
        strategy: ``"exhaustive"`` (the paper) or ``"screened"`` (see the module docstring).
        rounds: R, greedy rounds.
        per_round: k, heads added per round.
        scale: guidance scale w of the head perturbation during the search.
        strength: SoftPAG u of every searched head (the paper searches at 1.0).
        steps: denoising steps per image at the full settings.
        height, width: image size in px; ``None``: the pipeline's default.
        cfg_scale: ``None`` (default, as in the paper): no classifier-free guidance during the
            search. A value > 1 turns it on (SD3 ``guidance_scale``; FLUX ``true_cfg_scale`` with an
            empty negative prompt).
        identity: ``"joint"`` or ``"image"`` (see :func:`stylehunt.apply`).
        batch_size: images per pipeline call (one unit of work). Part of the configuration: it
            decides which images share a forward pass, hence the last bits of the scores.
        screen_steps, screen_prompts, rerank, keep: the ``screened`` strategy's knobs (ignored by
            ``exhaustive``): screening steps (default ``steps // 4``), screening pairs (default:
            all M; fewer takes the first ones), candidates re-scored at full settings per round
            (default ``2 * per_round``), and the best-ranked unselected heads considered in each
            round after the first (default ``4 * per_round``).

    >>> SearchSettings(rounds=0)
    Traceback (most recent call last):
    ...
    stylehunt.errors.SearchConfigError: Expected `rounds` to be >= 1, but got 0
    """

    strategy: str = "exhaustive"
    rounds: int = 5
    per_round: int = 3
    scale: float = 3.0
    strength: float = 1.0
    steps: int = 20
    height: int | None = None
    width: int | None = None
    cfg_scale: float | None = None
    identity: str = "joint"
    batch_size: int = 8
    screen_steps: int | None = None
    screen_prompts: int | None = None
    rerank: int | None = None
    keep: int | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise SearchConfigError(
                f"Unknown search strategy {self.strategy!r}; expected one of {', '.join(STRATEGIES)}"
            )
        _int_setting(self.rounds, "rounds", 1)
        _int_setting(self.per_round, "per_round", 1)
        object.__setattr__(self, "scale", _float_setting(self.scale, "scale", 0.0, 1e4, low_open=True))
        object.__setattr__(self, "strength", _float_setting(self.strength, "strength", 0.0, 1.0, low_open=True))
        _int_setting(self.steps, "steps", 1)
        for name in ("height", "width"):
            value = getattr(self, name)
            if value is not None:
                _int_setting(value, name, 8)
        if self.cfg_scale is not None:
            value = _float_setting(self.cfg_scale, "cfg_scale", 1.0, 1e4, low_open=True)
            object.__setattr__(self, "cfg_scale", value)
        from ..engine.guidance import IDENTITY_MODES

        if self.identity not in IDENTITY_MODES:
            raise SearchConfigError(f"Expected `identity` to be one of {IDENTITY_MODES}, but got {self.identity!r}")
        _int_setting(self.batch_size, "batch_size", 1)
        if self.screen_steps is not None:
            _int_setting(self.screen_steps, "screen_steps", 1)
            if self.screen_steps > self.steps:
                raise SearchConfigError(
                    f"Expected `screen_steps` <= steps ({self.steps}), but got {self.screen_steps}",
                    hint="screening is meant to be cheaper than the full evaluation",
                )
        if self.screen_prompts is not None:
            _int_setting(self.screen_prompts, "screen_prompts", 1)
        for name in ("rerank", "keep"):
            value = getattr(self, name)
            if value is not None:
                _int_setting(value, name, self.per_round, fix=f"`{name}` must be at least per_round (k={self.per_round})")

    def resolved(self, num_prompts: int, height: int, width: int) -> "SearchSettings":
        """Fill the defaults that depend on the run (image size, screening knobs)."""
        if self.strategy == "exhaustive":
            screen = {"screen_steps": None, "screen_prompts": None, "rerank": None, "keep": None}
        else:
            screen_prompts = self.screen_prompts if self.screen_prompts is not None else num_prompts
            if screen_prompts > num_prompts:
                raise SearchConfigError(
                    f"Expected `screen_prompts` <= the number of search prompts ({num_prompts}), but got {screen_prompts}"
                )
            screen = {
                "screen_steps": self.screen_steps if self.screen_steps is not None else max(1, self.steps // 4),
                "screen_prompts": screen_prompts,
                "rerank": self.rerank if self.rerank is not None else 2 * self.per_round,
                "keep": self.keep if self.keep is not None else 4 * self.per_round,
            }
        return dataclasses.replace(self, height=height, width=width, **screen)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


@dataclass
class RoundResult:
    """One greedy round."""

    round: int
    #: heads added this round, best first
    added: tuple[Address, ...]
    #: the whole selected set after this round
    heads: tuple[Address, ...]
    #: mean objective of ``heads`` on the search pairs at the full settings
    score: float
    #: full-setting score of ``previous heads + {candidate}`` for every candidate scored at full settings
    candidates: dict[Address, float]
    #: screening score of every candidate screened this round (``screened`` strategy only)
    screened: dict[Address, float] = field(default_factory=dict)
    #: mean objective of ``heads`` on the held-out pairs (None without held-out prompts)
    heldout: float | None = None


@dataclass
class SearchResult:
    """What :func:`search` returns."""

    preset: "Preset"
    rounds: list[RoundResult]
    #: mean objective without guidance on the search pairs
    baseline: float
    #: mean objective without guidance / with the preset on the held-out pairs (None without them)
    heldout_baseline: float | None
    heldout_score: float | None
    settings: SearchSettings
    #: transformer forward rows (batch rows entering the transformer, perturbed rows included) by stage
    forward_rows: dict[str, int]
    #: seconds spent generating and scoring, by stage
    seconds: dict[str, float]
    #: grid images by column ("no guidance", "round 1", ...), one per grid pair (main process only)
    images: dict[str, list["Image.Image"]]
    grid_pairs: list[tuple[str, int]]
    run_dir: Path | None = None

    @property
    def heads(self) -> tuple[Address, ...]:
        return self.preset.heads

    @property
    def heldout_gain(self) -> float | None:
        """Held-out objective of the preset minus that of no guidance."""
        if self.heldout_score is None or self.heldout_baseline is None:
            return None
        return self.heldout_score - self.heldout_baseline

    @property
    def search_rows(self) -> int:
        """Forward rows spent choosing the heads (everything but the held-out evaluation)."""
        return sum(v for k, v in self.forward_rows.items() if k != "heldout")

    @property
    def search_seconds(self) -> float:
        return sum(v for k, v in self.seconds.items() if k != "heldout")


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


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
                raise SearchConfigError(f"Expected layer indices to be integers >= 0, but got {x!r}")
            out.append(int(x))
        return sorted(set(out))
    out = []
    for part in spec.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        if not lo.strip().isdigit() or (sep and not hi.strip().isdigit()):
            raise SearchConfigError(
                f"cannot read layer range {part!r} in {spec!r}", hint="write layers as e.g. 0-5,12 (0-based, inclusive)"
            )
        a, b = int(lo), int(hi) if sep else int(lo)
        if b < a:
            raise SearchConfigError(f"empty layer range {part!r} in {spec!r}", hint="write ranges low-high, e.g. 0-5")
        out.extend(range(a, b + 1))
    return sorted(set(out))


def _rank(candidates: Iterable[Address], scores: dict[Address, float]) -> list[Address]:
    """Best first; ties broken by the smaller address, so rankings are deterministic."""
    return sorted(candidates, key=lambda c: (-scores[c], c))


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def _config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(config).encode("utf-8")).hexdigest()


def _differences(saved: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(saved, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(saved) | set(new)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in saved or key not in new:
                out.append((sub, saved.get(key, "<absent>"), new.get(key, "<absent>")))
            else:
                out.extend(_differences(saved[key], new[key], sub))
        return out
    if saved != new:
        return [(path, saved, new)]
    return []


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."



def _json_bytes(obj: Any) -> bytes:
    """Indented JSON with ``[layer, head]`` pairs kept on one line."""
    from ..registry.fileformat import dumps

    return dumps(obj).encode("utf-8")


def read_state(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The parsed ``state.json`` of a run folder, or ``None`` when there is none."""
    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SearchConfigError(
            f"{path}: cannot read the search state ({e})",
            hint="the file is written atomically, so this is not an interrupted write; delete the folder to start over",
        ) from None
    if not isinstance(data, dict) or data.get("state_format") != STATE_FORMAT:
        raise SearchConfigError(
            f"{path}: not a stylehunt search state of format {STATE_FORMAT} (got {_short(data.get('state_format') if isinstance(data, dict) else data)})",
            hint="resume with the stylehunt version that started the run, or choose another --out",
        )
    return data


# --------------------------------------------------------------------------------------------------
# Distribution (accelerate)
# --------------------------------------------------------------------------------------------------


class _Dist:
    """Process group view; a single process when not launched by accelerate/torchrun."""

    def __init__(self) -> None:
        from accelerate import PartialState

        # Without cpu=True a CPU-only machine reports a world of 1 even under torchrun.
        self.state = PartialState(cpu=not torch.cuda.is_available())

    @property
    def is_main(self) -> bool:
        return self.state.is_main_process

    @property
    def num_processes(self) -> int:
        return self.state.num_processes

    @property
    def process_index(self) -> int:
        return self.state.process_index

    def map(self, items: list[Any], fn: Callable[[Any], Any]) -> list[Any]:
        """``[fn(x) for x in items]`` with the items dealt out over the processes, gathered in order."""
        if self.num_processes == 1:
            return [fn(x) for x in items]
        from accelerate.utils import gather_object

        with self.state.split_between_processes(list(items)) as mine:
            out = [fn(x) for x in mine]
        return gather_object(out)

    def barrier(self) -> None:
        if self.num_processes > 1:
            self.state.wait_for_everyone()


# --------------------------------------------------------------------------------------------------
# Run state (state.json)
# --------------------------------------------------------------------------------------------------


class _Store:
    """Recorded unit results; saved after every unit by the main process when a run folder is set."""

    def __init__(self, path: Path | None, config: dict[str, Any], writer: bool, data: dict[str, Any] | None = None):
        self.path = path
        self.writer = writer and path is not None
        self.config = config
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.data = data or {
            "state_format": STATE_FORMAT,
            "config_hash": _config_hash(config),
            "config": config,
            "status": "running",
            "created": now,
            "phases": {},
        }

    def phase(self, name: str, sets: list[HeadSet], pairs: str, steps: int, batch: int) -> dict[str, Any]:
        meta = {"sets": [[list(a) for a in s] for s in sets], "pairs": pairs, "steps": steps, "batch_size": batch}
        phases = self.data["phases"]
        if name not in phases:
            phases[name] = {**meta, "units": {}}
        else:
            got = {k: phases[name].get(k) for k in meta}
            if got != meta:
                raise SearchError(
                    f"the recorded phase {name!r} in {self.path} evaluated other candidates than this run asks for; "
                    "the state file was edited or written by a different stylehunt",
                    hint="delete the run folder to start over",
                )
        return phases[name]

    def save(self, status: str | None = None) -> None:
        if status is not None:
            self.data["status"] = status
        if self.writer:
            self.data["updated"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            _atomic_write(self.path, _canonical(self.data).encode("utf-8"))


def _open_store(out: Path | None, resume: bool, config: dict[str, Any], writer: bool) -> tuple[_Store, bool]:
    """Create or reopen the run state; raises before any work when the folder holds another search."""
    if out is None:
        if resume:
            raise SearchConfigError("resume=True needs a run folder", hint="pass out=<the run folder to resume>")
        return _Store(None, config, writer), False
    if out.exists() and not out.is_dir():
        raise SearchConfigError(f"run folder {out} exists and is not a folder", hint="choose another --out")
    saved = read_state(out) if out.is_dir() else None
    if saved is None:
        if resume and not out.is_dir():
            raise SearchConfigError(
                f"nothing to resume: run folder {out} does not exist", hint="check the path, or start a run with --out"
            )
        if resume:
            logger.warning("run folder %s has no %s yet (the run stopped before its first save); starting it", out, STATE_FILE)
        return _Store(out / STATE_FILE, config, writer), False
    if not resume:
        raise SearchConfigError(
            f"run folder {out} already holds a search ({STATE_FILE}, status {saved.get('status')!r})",
            hint=f"resume it with --resume {out} (resume=True), or choose another --out",
        )
    if saved.get("config_hash") != _config_hash(config):
        diffs = _differences(saved.get("config", {}), config)
        listing = "; ".join(f"{p}: run has {_short(a)}, now {_short(b)}" for p, a, b in diffs[:6])
        more = f" (and {len(diffs) - 6} more)" if len(diffs) > 6 else ""
        raise ResumeMismatchError(
            f"cannot resume {out}: it was made with a different configuration: {listing or 'hash differs'}{more}",
            differences=tuple(diffs),
            hint="resume with the run's own settings (the CLI fills omitted options from the run), or start a new --out",
        )
    if writer:  # temporary files of a write that was killed before its os.replace
        for stale in out.glob(f".{STATE_FILE}.*.tmp"):
            stale.unlink(missing_ok=True)
    return _Store(out / STATE_FILE, config, writer, data=saved), True


# --------------------------------------------------------------------------------------------------
# Image generation (one pipeline call = one unit)
# --------------------------------------------------------------------------------------------------


class _Sampler:
    """Generates images for jobs (head set, prompt, seed) on one pipeline and counts transformer rows."""

    def __init__(self, pipe: Any, grid: Any, settings: SearchSettings):
        self.pipe = pipe
        self.grid = grid
        self.settings = settings
        self.family = "flux" if "Flux" in type(pipe.transformer).__name__ else "sd3"
        self.max_heads = max(grid.heads_per_layer)
        self.rows = 0
        self._embeds: dict[tuple[str, bool], dict[str, torch.Tensor]] = {}
        self._hook = None
        self._previous_bar: Any = None

    def __enter__(self) -> "_Sampler":
        transformer = self.pipe.transformer
        # the module that first sees the (possibly extended) latent batch: SD3's patch embedding,
        # FLUX's x_embedder (FLUX's pos_embed is the RoPE over token ids, not the batch)
        embedder = getattr(transformer, "x_embedder" if self.family == "flux" else "pos_embed", None)
        if embedder is None:  # pragma: no cover - both supported classes have one
            raise SearchError(f"cannot find the input embedder of {type(transformer).__name__} to count rows")

        def count(_module, args, kwargs):
            x = args[0] if args else next(iter(kwargs.values()))
            self.rows += int(x.shape[0])

        self._hook = embedder.register_forward_pre_hook(count, with_kwargs=True)
        self._previous_bar = getattr(self.pipe, "_progress_bar_config", None)
        self.pipe.set_progress_bar_config(disable=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if self._previous_bar is None:
            if hasattr(self.pipe, "_progress_bar_config"):
                del self.pipe._progress_bar_config
        else:
            self.pipe._progress_bar_config = self._previous_bar

    # -- prompts --------------------------------------------------------------------------------
    def _encode(self, prompt: str) -> dict[str, torch.Tensor]:
        cfg = self.settings.cfg_scale is not None
        key = (prompt, cfg)
        if key in self._embeds:
            return self._embeds[key]
        pipe = self.pipe
        device = pipe._execution_device
        with torch.no_grad():
            if self.family == "sd3":
                pe, npe, ppe, nppe = pipe.encode_prompt(
                    prompt=prompt,
                    prompt_2=None,
                    prompt_3=None,
                    device=device,
                    num_images_per_prompt=1,
                    do_classifier_free_guidance=cfg,
                    negative_prompt="" if cfg else None,
                )
                out = {"prompt_embeds": pe, "pooled_prompt_embeds": ppe}
                if cfg:
                    out.update(negative_prompt_embeds=npe, negative_pooled_prompt_embeds=nppe)
            else:
                pe, ppe, _ = pipe.encode_prompt(prompt=prompt, prompt_2=None, device=device, num_images_per_prompt=1)
                out = {"prompt_embeds": pe, "pooled_prompt_embeds": ppe}
                if cfg:
                    npe, nppe, _ = pipe.encode_prompt(prompt="", prompt_2=None, device=device, num_images_per_prompt=1)
                    out.update(negative_prompt_embeds=npe, negative_pooled_prompt_embeds=nppe)
        self._embeds[key] = out
        return out

    def _call_kwargs(self, prompts: list[str]) -> dict[str, Any]:
        parts = [self._encode(p) for p in prompts]
        kwargs: dict[str, Any] = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        cfg = self.settings.cfg_scale
        if self.family == "sd3":
            kwargs["guidance_scale"] = cfg if cfg is not None else 1.0  # <= 1: the pipeline skips CFG
        elif cfg is not None:
            kwargs["true_cfg_scale"] = cfg
        return kwargs

    # -- generation -----------------------------------------------------------------------------
    def table(self, sets: list[HeadSet]) -> torch.Tensor:
        table = torch.zeros(len(sets), self.grid.num_layers, self.max_heads)
        for i, heads in enumerate(sets):
            for layer, head in heads:
                table[i, layer, head] = self.settings.strength
        return table

    def generate(self, sets: list[HeadSet], pairs: list[tuple[str, int]], steps: int) -> list["Image.Image"]:
        """One pipeline call: image i uses head set ``sets[i]`` and prompt-seed pair ``pairs[i]``."""
        from ..engine.guidance import apply_table, remove

        s = self.settings
        table = self.table(sets)
        guided = bool(table.any())
        kwargs = self._call_kwargs([p for p, _ in pairs])
        generators = [torch.Generator().manual_seed(int(seed)) for _, seed in pairs]
        if guided:
            apply_table(self.pipe, table, scale=s.scale, identity=s.identity)
        try:
            out = self.pipe(
                **kwargs,
                generator=generators,
                num_inference_steps=steps,
                height=s.height,
                width=s.width,
                output_type="pil",
            )
        finally:
            if guided:
                remove(self.pipe)
        return list(out.images)


# --------------------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------------------


class _Progress:
    """An overall bar (with ETA) and a per-round bar, on the main process and a terminal only."""

    def __init__(self, enabled: bool, total: int):
        self.enabled = enabled
        self.overall = None
        self.current = None
        if enabled:
            from tqdm.auto import tqdm

            self._tqdm = tqdm
            self.overall = tqdm(total=total, desc="search", unit="img", position=0, dynamic_ncols=True)

    def stage(self, desc: str, total: int) -> None:
        if not self.enabled:
            return
        if self.current is not None:
            self.current.close()
        self.current = self._tqdm(total=total, desc=desc, unit="img", position=1, leave=False, dynamic_ncols=True)

    def update(self, n: int) -> None:
        if self.enabled:
            self.overall.update(n)
            if self.current is not None:
                self.current.update(n)

    def retotal(self, total: int) -> None:
        if self.enabled and total != self.overall.total:
            self.overall.total = total
            self.overall.refresh()

    def close(self) -> None:
        if self.enabled:
            if self.current is not None:
                self.current.close()
            self.overall.close()


# --------------------------------------------------------------------------------------------------
# The runner: phases of jobs, cut into units, cached in the store, spread over processes
# --------------------------------------------------------------------------------------------------


class _Runner:
    def __init__(self, sampler: _Sampler, objective: Callable, store: _Store, dist: _Dist,
                 pairs: dict[str, list[tuple[str, int]]], progress: _Progress):
        self.sampler = sampler
        self.objective = objective
        self.store = store
        self.dist = dist
        self.pairs = pairs
        self.progress = progress
        self.rows: dict[str, int] = {}
        self.seconds: dict[str, float] = {}

    def evaluate(self, phase: str, sets: list[HeadSet], pairs_name: str, steps: int) -> list[float]:
        """Mean objective of each head set over the pairs ``pairs_name``."""
        per_pair = self.evaluate_pairs(phase, sets, pairs_name, steps)
        return [sum(v) / len(v) for v in per_pair]

    def evaluate_pairs(self, phase: str, sets: list[HeadSet], pairs_name: str, steps: int) -> list[list[float]]:
        pairs = self.pairs[pairs_name]
        batch = self.sampler.settings.batch_size
        jobs = [(s, p) for s in range(len(sets)) for p in range(len(pairs))]
        units = [jobs[i : i + batch] for i in range(0, len(jobs), batch)]
        meta = self.store.phase(phase, sets, pairs_name, steps, batch)
        stage = phase.rsplit(".", 1)[-1]
        pending = [i for i in range(len(units)) if str(i) not in meta["units"]]
        done = len(jobs) - sum(len(units[i]) for i in pending)
        if done:
            self.progress.update(done)
        n = self.dist.num_processes
        for start in range(0, len(pending), n):
            wave = pending[start : start + n]

            def run(index: int) -> dict[str, Any]:
                unit = units[index]
                before, t0 = self.sampler.rows, time.perf_counter()
                images = self.sampler.generate([sets[s] for s, _ in unit], [pairs[p] for _, p in unit], steps)
                scores = self._score(images, [pairs[p][0] for _, p in unit], phase, [sets[s] for s, _ in unit])
                return {
                    "unit": index,
                    "scores": scores,
                    "rows": self.sampler.rows - before,
                    "seconds": round(time.perf_counter() - t0, 4),
                    "process": self.dist.process_index,
                }

            results = self.dist.map(wave, run)
            for res in results:
                meta["units"][str(res["unit"])] = {k: res[k] for k in ("scores", "rows", "seconds", "process")}
                self.rows[stage] = self.rows.get(stage, 0) + res["rows"]
                self.seconds[stage] = self.seconds.get(stage, 0.0) + res["seconds"]
            self.store.save()
            self.progress.update(sum(len(units[i]) for i in wave))
        out: list[list[float]] = [[math.nan] * len(pairs) for _ in sets]
        for i, unit in enumerate(units):
            scores = meta["units"][str(i)]["scores"]
            for (s, p), value in zip(unit, scores):
                out[s][p] = value
        return out

    def _score(self, images: list[Any], prompts: list[str], phase: str, sets: list[HeadSet]) -> list[float]:
        with torch.no_grad():
            raw = self.objective(images, prompts)
        values = torch.as_tensor(raw, dtype=torch.float64).flatten().tolist() if not isinstance(raw, list) else [float(x) for x in raw]
        if len(values) != len(images):
            raise SearchError(f"the objective returned {len(values)} scores for {len(images)} images (phase {phase})")
        for value, heads in zip(values, sets):
            if not math.isfinite(value):
                raise SearchError(
                    f"the objective returned {value} for head set {[list(h) for h in heads]} (phase {phase}); "
                    "scores must be finite to be ranked",
                )
        return values

    def account_recorded(self) -> None:
        """Add the rows and seconds of units recorded by an earlier run (on resume) to the totals."""
        for name, meta in self.store.data["phases"].items():
            stage = name.rsplit(".", 1)[-1]
            for entry in meta["units"].values():
                self.rows[stage] = self.rows.get(stage, 0) + int(entry.get("rows", 0))
                self.seconds[stage] = self.seconds.get(stage, 0.0) + float(entry.get("seconds", 0.0))


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


def _resolve_pool(grid: Any, pool: Iterable[Any] | None, layers: Any) -> list[Address]:
    if pool is None:
        addresses = list(grid)
    else:
        if isinstance(pool, (str, bytes)):
            raise SearchConfigError(f"Expected `pool` to be a list of (layer, head) pairs, but got {pool!r}")
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
                    hint="run `stylehunt heads --model ...` to print this model's head grid",
                )
        addresses = [a for a in addresses if a[0] in set(wanted)]
    addresses = sorted(set(addresses))
    if not addresses:
        raise SearchConfigError("the head pool is empty", hint="check `pool` / `layers`")
    return addresses


def _check_pool_size(pool_size: int, settings: SearchSettings) -> None:
    k, rounds = settings.per_round, settings.rounds
    if k > pool_size:
        raise SearchConfigError(
            f"per_round k={k} is larger than the pool of {pool_size} heads",
            hint="lower --per-round or widen the pool (--layers)",
        )
    if k * rounds > pool_size:
        raise SearchConfigError(
            f"{rounds} rounds x k={k} would select {k * rounds} heads from a pool of only {pool_size}",
            hint="lower --rounds or --per-round, or widen the pool (--layers)",
        )


def _objective(objective: Any, style: str) -> Any:
    from ..objectives.scorers import Objective, build_objective

    if isinstance(objective, Objective):
        if style:
            raise SearchConfigError(
                "`style` only applies when the objective is given by name; this objective is already built",
                hint="pass build_objective(name, style=...) or the name and style=",
            )
        return objective
    if isinstance(objective, (str, dict)) or callable(objective):
        return build_objective(objective, style=style)
    raise SearchConfigError(
        f"Expected `objective` to be a name, a dict, an Objective or a callable (images, prompts) -> scores, "
        f"but got {type(objective).__name__}"
    )


def _model_id(pipe: Any, model_id: str | None) -> str | None:
    if model_id is not None:
        return model_id
    name = getattr(pipe, "name_or_path", None) or getattr(getattr(pipe, "config", None), "_name_or_path", None)
    if not name or os.path.isdir(str(name)):
        return None
    return str(name)


def _default_size(pipe: Any) -> int:
    sample = getattr(pipe, "default_sample_size", None) or 64
    return int(sample) * int(getattr(pipe, "vae_scale_factor", 8))


def _size_multiple(pipe: Any, family: str) -> int:
    vae = int(getattr(pipe, "vae_scale_factor", 8))
    if family == "flux":
        return vae * 2
    return vae * int(getattr(pipe, "patch_size", None) or getattr(pipe.transformer.config, "patch_size", 1))


def _estimate_images(s: SearchSettings, pool: int, m: int, heldout: int, done_rounds: int = 0) -> int:
    """Images left to generate once ``done_rounds`` rounds are done (0: the whole run, baseline included)."""
    total = m if done_rounds == 0 else 0  # the unguided baseline
    remaining = pool - done_rounds * s.per_round
    for r in range(done_rounds, s.rounds):
        cands = remaining if (s.strategy == "exhaustive" or r == 0) else min(s.keep, remaining)
        if s.strategy == "screened" and cands > s.rerank:
            total += cands * s.screen_prompts + s.rerank * m
        else:
            total += cands * m
        total += m
        remaining -= s.per_round
    return total + (s.rounds + 1) * heldout


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
    base_seed: int = 0,
    strategy: str = "exhaustive",
    rounds: int = 5,
    per_round: int = 3,
    scale: float = 3.0,
    strength: float = 1.0,
    steps: int = 20,
    height: int | None = None,
    width: int | None = None,
    cfg_scale: float | None = None,
    identity: str = "joint",
    batch_size: int = 8,
    screen_steps: int | None = None,
    screen_prompts: int | None = None,
    rerank: int | None = None,
    keep: int | None = None,
    pool: Iterable[Any] | None = None,
    layers: str | Iterable[int] | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    model_id: str | None = None,
    name: str | None = None,
    version: str = "0.1.0",
    license: str = "other",
    grid_prompts: int = 4,
    progress: bool | None = None,
) -> SearchResult:
    """Greedy head search (HeadHunter) for a preset that raises ``objective``.

    Args:
        pipe: a supported diffusers pipeline (SD3/SD3.5/FLUX.1), on its device; nothing applied.
        objective: an :class:`~stylehunt.objectives.Objective`, a name/spec for
            :func:`~stylehunt.objectives.build_objective` (``"pickscore"``, ``"brightness"``, ...)
            or a callable ``(images, prompts) -> scores`` (higher is better).
        prompts: the M search (content) prompts: a list of strings or a ``PromptSet``.
        heldout: prompts never used to choose heads, for the held-out score (list or
            ``PromptSet``; ``None``: no held-out evaluation).
        style: style text for objectives built by name (e.g. PickScore of ``"<style>, <prompt>"``).
        seeds, heldout_seeds: one generation seed per prompt; default ``base_seed + i`` for the
            search pairs and ``base_seed + 1000 + i`` for the held-out pairs.
        strategy, rounds, per_round, scale, strength, steps, height, width, cfg_scale, identity,
        batch_size, screen_steps, screen_prompts, rerank, keep: see :class:`SearchSettings`.
        pool: the candidate heads (default: every head of the model); ``layers`` restricts the
            pool to some layers (``"0-5,12"`` or a list).
        out: run folder; gets ``state.json`` (resume), ``scores.json``, ``curve.png``,
            ``grid.png`` and ``stylehunt_preset.json``. ``None``: nothing is written.
        resume: continue the search recorded in ``out``; its configuration must be the same.
        model_id: the Hub id recorded in the preset (default: the pipeline's ``name_or_path``
            when it is not a local folder); required with ``out``.
        name, version, license: the saved preset's name (default: the run folder's name),
            semver version and license id.
        grid_prompts: rows of ``grid.png`` (the first search pairs).
        progress: tqdm bars (overall with ETA, and per round); default: on a terminal only.

    Returns a :class:`SearchResult` (``result.preset``, ``result.rounds``, held-out scores, images).
    Raises :class:`~stylehunt.errors.SearchConfigError` (bad input, found before any image is
    generated), :class:`~stylehunt.errors.ResumeMismatchError`, :class:`~stylehunt.errors.ObjectiveError`,
    :class:`~stylehunt.errors.ScorerUnavailableError`.
    """
    from .. import __version__
    from ..engine.guidance import check_pipeline, get_applied

    # ---- validation: everything cheap, before the objective's weights or any image -------------
    settings = SearchSettings(
        strategy=strategy, rounds=rounds, per_round=per_round, scale=scale, strength=strength, steps=steps,
        height=height, width=width, cfg_scale=cfg_scale, identity=identity, batch_size=batch_size,
        screen_steps=screen_steps, screen_prompts=screen_prompts, rerank=rerank, keep=keep,
    )
    grid = check_pipeline(pipe)
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
    family = "flux" if "Flux" in type(pipe.transformer).__name__ else "sd3"
    h = settings.height or _default_size(pipe)
    w = settings.width or _default_size(pipe)
    multiple = _size_multiple(pipe, family)
    if h % multiple or w % multiple:
        raise SearchConfigError(
            f"image size {h}x{w} is not a multiple of {multiple} for {type(pipe).__name__}",
            hint=f"use a height and width divisible by {multiple}",
        )
    settings = settings.resolved(len(search_prompts), h, w)
    addresses = _resolve_pool(grid, pool, layers)
    _check_pool_size(len(addresses), settings)
    _int_setting(grid_prompts, "grid_prompts", 1)
    objective = _objective(objective, style)
    objective_info = objective.describe()
    run_dir = Path(out).expanduser() if out is not None else None
    model_id = _model_id(pipe, model_id)
    preset_name = name or (_slug(run_dir.name) if run_dir is not None else "search")
    if run_dir is not None:
        _check_preset_fields(preset_name, version, license, model_id, addresses[0], grid)
        _check_report_deps()
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
    dist = _Dist()
    store, resumed = _open_store(run_dir, resume, config, writer=dist.is_main)
    objective.load()  # ScorerUnavailableError now, before any image
    dist.barrier()  # every process has read the folder before the main process writes to it
    store.save()

    # ---- the search --------------------------------------------------------------------------
    pairs = {
        "search": list(zip(search_prompts, search_seeds)),
        "heldout": list(zip(heldout_prompts, heldout_seed_list)),
    }
    if settings.strategy == "screened":
        pairs["screen"] = pairs["search"][: settings.screen_prompts]
    if progress is None:
        progress = sys.stderr.isatty()
    bar = _Progress(
        bool(progress) and dist.is_main,
        _estimate_images(settings, len(addresses), len(search_prompts), len(heldout_prompts)),
    )
    logger.info(
        "search: %s strategy, %d rounds x k=%d over %d heads, %d prompts (%d held out), %d process(es)%s",
        settings.strategy, settings.rounds, settings.per_round, len(addresses), len(search_prompts),
        len(heldout_prompts), dist.num_processes, f", resuming {run_dir}" if resumed else "",
    )
    with _Sampler(pipe, grid, settings) as sampler:
        runner = _Runner(sampler, objective, store, dist, pairs, bar)
        if resumed:
            runner.account_recorded()
        try:
            bar.stage("baseline", len(search_prompts))
            baseline = runner.evaluate("baseline", [()], "search", settings.steps)[0]
            round_results = _greedy(runner, settings, addresses, bar, len(search_prompts))
            heldout_scores: list[float] = []
            if heldout_prompts:
                sets = [()] + [r.heads for r in round_results]
                bar.stage("held-out", len(sets) * len(heldout_prompts))
                heldout_scores = runner.evaluate("heldout", sets, "heldout", settings.steps)
                for r, value in zip(round_results, heldout_scores[1:]):
                    r.heldout = value
        finally:
            bar.close()
        # grid images: main process only (not recorded, not counted)
        grid_pairs = pairs["search"][:grid_prompts]
        images: dict[str, list[Any]] = {}
        if dist.is_main:
            columns = [("no guidance", ())] + [(f"round {r.round}", r.heads) for r in round_results]
            sets = [s for _, s in columns for _ in grid_pairs]
            flat_pairs = [p for _ in columns for p in grid_pairs]
            flat: list[Any] = []
            for i in range(0, len(sets), settings.batch_size):
                flat += sampler.generate(sets[i : i + settings.batch_size], flat_pairs[i : i + settings.batch_size], settings.steps)
            for c, (label, _) in enumerate(columns):
                images[label] = flat[c * len(grid_pairs) : (c + 1) * len(grid_pairs)]
    dist.barrier()

    heldout_base = heldout_scores[0] if heldout_scores else None
    heldout_final = heldout_scores[-1] if heldout_scores else None
    preset = _build_preset(
        round_results=round_results,
        settings=settings,
        grid=grid,
        model_id=model_id,
        name=preset_name,
        version=version,
        license=license,
        style=style,
        objective=objective,
        objective_info=objective_info,
        prompt_info=prompt_info,
        heldout_info=heldout_info,
        pairs=pairs,
        baseline=baseline,
        heldout_base=heldout_base,
        heldout_final=heldout_final,
        rows=dict(runner.rows),
        pool_size=len(addresses),
        version_str=__version__,
    )
    result = SearchResult(
        preset=preset,
        rounds=round_results,
        baseline=baseline,
        heldout_baseline=heldout_base,
        heldout_score=heldout_final,
        settings=settings,
        forward_rows=dict(runner.rows),
        seconds={k: round(v, 3) for k, v in runner.seconds.items()},
        images=images,
        grid_pairs=grid_pairs,
        run_dir=run_dir,
    )
    if run_dir is not None and dist.is_main:
        _write_outputs(result, store, objective)
        store.save(status="done")
    dist.barrier()
    logger.info(
        "search done: heads %s, search score %.4g (baseline %.4g)%s",
        [list(a) for a in preset.heads], round_results[-1].score, baseline,
        "" if heldout_final is None else f", held-out {heldout_final:.4g} (baseline {heldout_base:.4g})",
    )
    return result


def _greedy(runner: _Runner, s: SearchSettings, pool: list[Address], bar: _Progress, m: int) -> list[RoundResult]:
    """The greedy rounds. ``exhaustive``: every unselected head, every round, at full settings.

    ``screened``: ``priority`` orders every unselected head by the latest evidence about it (this
    round's full scores first, then this round's screening scores, then older rankings); each
    round after the first considers only its first ``keep`` heads.
    """
    selected: list[Address] = []
    priority: list[Address] = list(pool)  # sorted by address before any evidence
    results: list[RoundResult] = []
    for r in range(1, s.rounds + 1):
        unselected = [c for c in priority if c not in selected]
        if s.strategy == "screened" and r > 1:
            unselected = unselected[: s.keep]
        candidates = sorted(unselected)
        base = tuple(selected)
        screened: dict[Address, float] = {}
        screen_order: list[Address] = []
        if s.strategy == "screened" and len(candidates) > s.rerank:
            bar.stage(f"round {r}/{s.rounds}", len(candidates) * s.screen_prompts + s.rerank * m + m)
            values = runner.evaluate(f"r{r}.screen", [base + (c,) for c in candidates], "screen", s.screen_steps)
            screened = dict(zip(candidates, values))
            screen_order = _rank(candidates, screened)
            finalists = sorted(screen_order[: s.rerank])
        else:
            bar.stage(f"round {r}/{s.rounds}", len(candidates) * m + m)
            finalists = candidates
        values = runner.evaluate(f"r{r}.full", [base + (c,) for c in finalists], "search", s.steps)
        full = dict(zip(finalists, values))
        ranked = _rank(finalists, full)
        added = tuple(ranked[: s.per_round])
        selected.extend(added)
        set_score = runner.evaluate(f"r{r}.set", [tuple(selected)], "search", s.steps)[0]
        seen = set(ranked) | set(screen_order)
        priority = ranked[s.per_round :] + [c for c in screen_order if c not in full] + [
            c for c in priority if c not in seen and c not in selected
        ]
        results.append(
            RoundResult(round=r, added=added, heads=tuple(selected), score=set_score, candidates=full, screened=screened)
        )
        logger.info("round %d/%d: added %s, score %.4g", r, s.rounds, [list(a) for a in added], set_score)
        if bar.enabled:
            left = _estimate_images(s, len(pool), m, len(runner.pairs["heldout"]), done_rounds=r)
            bar.retotal(bar.overall.n + left)
    return results



# --------------------------------------------------------------------------------------------------
# Preset and run-folder outputs
# --------------------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    import re

    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:64].strip("-") or "search"


def _check_preset_fields(name: str, version: str, license: str, model_id: str | None, head: Address, grid: Any) -> None:
    """Build and serialise a stand-in preset now, so a bad name/version/license/model id fails before the work."""
    from ..errors import InvalidPresetError
    from ..registry.preset import Preset

    if model_id is None:
        raise SearchConfigError(
            "the saved preset needs the model's Hub id, and the pipeline was loaded from a local folder",
            hint="pass model_id='org/name' (CLI: --model-id org/name)",
        )
    try:
        stand_in = Preset(
            heads=[head], name=name, version=version, license=license, model=model_id,
            fingerprint=grid.fingerprint(), provenance={"kind": "manual", "source": "validation"},
        )
        stand_in.to_dict()
    except InvalidPresetError as e:
        raise SearchConfigError(f"the run's preset cannot be saved: {e}", hint=e.hint or "check name, version, license and model_id") from None


def _check_report_deps() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SearchConfigError(
            "writing a run folder needs matplotlib (for curve.png)", hint="pip install 'stylehunt[search]'"
        ) from None


def _build_preset(*, round_results, settings, grid, model_id, name, version, license, style, objective, objective_info,
                  prompt_info, heldout_info, pairs, baseline, heldout_base, heldout_final, rows, pool_size,
                  version_str) -> "Preset":
    from ..registry.preset import Preset

    heads = [a for r in round_results for a in r.added]
    heldout = None
    if heldout_final is not None:
        heldout = {
            "baseline": heldout_base,
            "preset": heldout_final,
            "gain": heldout_final - heldout_base,
            "per_round": [r.heldout for r in round_results],
            "prompts": [p for p, _ in pairs["heldout"]],
            "seeds": [s for _, s in pairs["heldout"]],
        }
    search_settings = {
        **settings.to_dict(),
        "pool_size": pool_size,
        "objective": objective_info,
        "prompt_source": prompt_info,
        "heldout_source": heldout_info,
        "baseline_score": baseline,
        "heldout": heldout,
        "forward_rows": rows,
    }
    scorer = getattr(objective, "name", None) or objective_info.get("kind") or "objective"
    style = style or _style_of(objective_info)
    provenance = {
        "kind": "search",
        "stylehunt_version": version_str,
        "objective": {"text": style or scorer, "scorer": scorer},
        "prompts": [p for p, _ in pairs["search"]],
        "seeds": [s for _, s in pairs["search"]],
        "settings": json.loads(_canonical(search_settings)),
        "rounds": [
            {
                "added": [list(a) for a in r.added],
                "score": r.score,
                "candidates": [{"head": list(c), "score": v} for c, v in sorted(r.candidates.items())],
            }
            for r in round_results
        ],
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    gain = "" if heldout_final is None else f"; held-out {heldout_final:.4g} vs {heldout_base:.4g} without guidance"
    description = (
        f"{len(heads)} heads found by {'an' if settings.strategy[0] in 'aeiou' else 'a'} {settings.strategy} search for {scorer}"
        + (f" ({style})" if style else "")
        + f" at w={settings.scale:g}, u={settings.strength:g}{gain}"
    )
    return Preset(
        heads=heads,
        strength=settings.strength,
        scale=settings.scale,
        name=name,
        version=version,
        model=model_id,
        description=description,
        fingerprint=grid.fingerprint(),
        tags=("search",),
        license=license,
        provenance=provenance,
    )


def _style_of(info: Any) -> str:
    """The first ``style`` text in an objective's ``describe()`` (weighted sums nest terms)."""
    if isinstance(info, dict):
        if isinstance(info.get("style"), str) and info["style"].strip():
            return info["style"]
        values = info.values()
    elif isinstance(info, list):
        values = info
    else:
        return ""
    for value in values:
        found = _style_of(value)
        if found:
            return found
    return ""


def _scores_document(result: SearchResult) -> dict[str, Any]:
    return {
        "strategy": result.settings.strategy,
        "settings": result.settings.to_dict(),
        "baseline": result.baseline,
        "heads": [list(a) for a in result.heads],
        "rounds": [
            {
                "round": r.round,
                "added": [list(a) for a in r.added],
                "heads": [list(a) for a in r.heads],
                "score": r.score,
                "heldout": r.heldout,
                # best first, as the round ranked them (ties: smaller address first)
                "candidates": [{"head": list(c), "score": r.candidates[c]} for c in _rank(r.candidates, r.candidates)],
                "screened": [{"head": list(c), "score": r.screened[c]} for c in _rank(r.screened, r.screened)],
            }
            for r in result.rounds
        ],
        "heldout": {"baseline": result.heldout_baseline, "preset": result.heldout_score, "gain": result.heldout_gain},
        "forward_rows": result.forward_rows,
        "seconds": result.seconds,
    }


def _write_outputs(result: SearchResult, store: _Store, objective: Any) -> None:
    from .report import render_curve, render_grid

    run_dir = Path(result.run_dir)
    _atomic_write(run_dir / SCORES_FILE, _json_bytes(_scores_document(result)))
    label = getattr(objective, "name", "objective")
    render_curve(result, label).save(run_dir / CURVE_FILE)
    render_grid(result.images, result.grid_pairs).save(run_dir / GRID_FILE)
    result.preset.save(run_dir)
    logger.info("wrote %s", run_dir)
