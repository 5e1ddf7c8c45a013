"""What a finished search leaves: the preset with its provenance, and the run folder's result files.

`build_preset` turns the rounds into a `stylehunt.registry.preset.Preset` whose
``provenance`` records how it was found (objective, prompts and seeds, every setting, every
round's candidate scores, held-out scores, forward rows). `write_outputs` writes
``scores.json``, ``curve.png``, ``grid.png`` and ``stylehunt_preset.json`` into the run folder.
`check_preset_fields` refuses, before any work, what would
make that last step fail. Imports no torch.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidPresetError, SearchConfigError
from ..files import atomic_write_bytes, atomic_write_image
from .results import RoundResult, SearchResult
from .settings import SearchSettings
from .store import canonical_json, json_bytes
from .strategies import rank

if TYPE_CHECKING:  # pragma: no cover
    from ..registry.preset import Preset

__all__ = [
    "SCORES_FILE",
    "CURVE_FILE",
    "GRID_FILE",
    "slug",
    "preset_name",
    "check_preset_fields",
    "check_preset_size",
    "build_preset",
    "style_of",
    "scores_document",
    "write_outputs",
]

logger = logging.getLogger(__name__)

SCORES_FILE = "scores.json"
CURVE_FILE = "curve.png"
GRID_FILE = "grid.png"


def slug(text: str) -> str:
    """A preset name from a folder name: lower case, runs of other characters as ``-``.

    >>> slug("Golden Hour (v2)")
    'golden-hour-v2'
    """
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return out[:64].strip("-") or "search"


def preset_name(name: str | None, run_dir: Path | None) -> str:
    """The saved preset's name: ``name``, else the run folder's name made a slug, else ``"search"``."""
    return name or (slug(run_dir.name) if run_dir is not None else "search")


#: The preset file's fields that come from search() parameters: field -> parameter.
_PRESET_PARAMETERS = {"name": "name", "version": "version", "license": "license", "model": "model_id"}


def check_preset_fields(name: str, version: str, license: str, model_id: str | None) -> None:
    """Build and serialise a stand-in preset now, so a bad name/version/license/model id fails before the work.

    Imports no torch (the CLI calls it before reading the model). The error's ``param`` is the
    parameter (``version``), which the message quotes in backquotes and the CLI names by its flag.
    """
    from ..registry.preset import Preset

    if model_id is None:
        raise SearchConfigError(
            "the saved preset needs the model's Hub id, and the pipeline was loaded from a local folder",
            hint="pass model_id='org/name'", cli_hint="give `model_id` org/name", param="model_id",
        )
    try:
        stand_in = Preset(heads=[(0, 0)], name=name, version=version, license=license, model=model_id,
                          provenance={"kind": "manual", "source": "validation"})
        stand_in.to_dict()
    except InvalidPresetError as e:
        detail = getattr(e, "detail", None)  # what is wrong with the field, without the "<field>: " before it
        param = _PRESET_PARAMETERS.get(e.param or "")
        if param and detail:
            message = f"`{param}` cannot be saved in the preset: {detail}"
        else:
            message = f"the run's preset cannot be saved: {e}"
        raise SearchConfigError(message, hint=e.hint or "check name, version, license and model_id", param=param) from None


def build_preset(*, round_results: list[RoundResult], settings: SearchSettings, grid: Any, model_id: str | None,
                 name: str, version: str, license: str, style: str, objective: Any, objective_info: dict[str, Any],
                 prompt_info: dict[str, Any] | None, heldout_info: dict[str, Any] | None,
                 pairs: dict[str, list[tuple[str, int]]], baseline: float, heldout_base: float | None,
                 heldout_final: float | None, rows: dict[str, int], pool_size: int, version_str: str) -> Preset:
    """The search's preset: the heads in selection order at the search's u and w, with full provenance."""
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
    style = style or style_of(objective_info)
    provenance = {
        "kind": "search",
        "stylehunt_version": version_str,
        "objective": {"text": style or scorer, "scorer": scorer},
        "prompts": [p for p, _ in pairs["search"]],
        "seeds": [s for _, s in pairs["search"]],
        "settings": json.loads(canonical_json(search_settings)),
        "rounds": [
            {
                "added": [list(a) for a in r.added],
                "score": r.score,
                # every candidate's score stays in scores.json: ~96 bytes a head a round would pass the
                # preset file's 1 MiB limit in 8-9 exhaustive rounds on a ~1,400-head model (FLUX.1-dev)
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


#: Bytes of a search preset other than its prompts and the descriptions of its sources, at most:
#: fields, settings, and per selected head its address in ``heads`` and in a round's ``added``.
_PRESET_BYTES_FIXED = 16 << 10
_PRESET_BYTES_PER_HEAD = 40


def check_preset_size(search: list[str], heldout: list[str], infos: list[Any], settings: SearchSettings) -> None:
    """Refuse, before anything is generated, prompts too long for the preset file the search would write.

    The preset's provenance records every prompt (the held-out ones too), and a preset file is at
    most `stylehunt.registry.fileformat.MAX_FILE_BYTES`, the limit every reader applies.
    """
    from ..registry.fileformat import MAX_FILE_BYTES

    text = len(json_bytes([search, heldout, infos]))
    size = text + _PRESET_BYTES_FIXED + _PRESET_BYTES_PER_HEAD * settings.rounds * settings.per_round
    if size > MAX_FILE_BYTES:
        raise SearchConfigError(
            f"the prompts take {text} bytes, and the preset file (which records them) would be over its limit of"
            f" {MAX_FILE_BYTES} bytes",
            hint="use shorter or fewer prompts (`prompts`, `heldout`)",
            cli_hint="use shorter or fewer prompts (--prompts, --num-prompts, --num-heldout)",
        )


def style_of(info: Any) -> str:
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
        found = style_of(value)
        if found:
            return found
    return ""


def scores_document(result: SearchResult) -> dict[str, Any]:
    """The content of ``scores.json``: every round's scores, best first, and the run's totals."""
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
                "candidates": [{"head": list(c), "score": r.candidates[c]} for c in rank(r.candidates, r.candidates)],
                "screened": [{"head": list(c), "score": r.screened[c]} for c in rank(r.screened, r.screened)],
            }
            for r in result.rounds
        ],
        "heldout": {"baseline": result.heldout_baseline, "preset": result.heldout_score, "gain": result.heldout_gain},
        "forward_rows": result.forward_rows,
        "block_rows": {k: round(v, 4) for k, v in result.block_rows.items()},
        "seconds": result.seconds,
    }


def write_outputs(result: SearchResult, objective: Any) -> None:
    """Write ``scores.json``, ``curve.png``, ``grid.png`` and the preset into ``result.run_dir``, each atomically."""
    from .report import render_curve, render_grid

    run_dir = Path(result.run_dir)
    atomic_write_bytes(run_dir / SCORES_FILE, json_bytes(scores_document(result)))
    label = getattr(objective, "name", "objective")
    atomic_write_image(render_curve(result, label), run_dir / CURVE_FILE)
    atomic_write_image(render_grid(result.images, result.grid_pairs), run_dir / GRID_FILE)
    result.preset.save(run_dir)
    logger.info("wrote %s", run_dir)
