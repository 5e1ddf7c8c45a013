"""``state.json``: what makes a search resumable (``command.json`` is `stylehunt.headhunter.command`'s).

`RunStore` writes the state, `open_store` reopens it on resume, `check_state` checks a read one,
read within bounds (`stylehunt.files.read_json`). Imports no torch.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Any

from ..errors import ResumeMismatchError, SearchConfigError, SearchError
from ..files import atomic_write_bytes, read_json
from .settings import HeadSet

__all__ = [
    "STATE_FILE",
    "STATE_FORMAT",
    "canonical_json",
    "config_hash",
    "json_bytes",
    "MAX_STATE_BYTES",
    "check_state",
    "read_state",
    "RunStore",
    "open_store",
]

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"
#: Version of the ``state.json`` layout; a state of another version is not resumed.
STATE_FORMAT = 1
#: Largest ``state.json`` read back (a FLUX.1 search over every head, M = 100, needs about 15 MB).
MAX_STATE_BYTES = 256 * 1024 * 1024


def canonical_json(obj: Any) -> str:
    """Compact JSON with sorted keys: the same text for the same data (hashed, and the state's form)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def config_hash(config: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a run's configuration."""
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()


def json_bytes(obj: Any) -> bytes:
    """Indented JSON with ``[layer, head]`` pairs kept on one line (the preset file's layout)."""
    from ..registry.fileformat import dumps

    return dumps(obj).encode("utf-8")


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


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _damaged(path: Any, where: str, problem: str) -> SearchConfigError:
    return SearchConfigError(
        f"{path}: {where}: {problem}; the file was edited or is damaged, so the run cannot be resumed from it",
        hint="restore the file from a backup, or start the search again in a new run folder",
    )


def _is_int(value: Any, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: The largest score magnitude a state may record: any mean of such scores stays finite.
MAX_SCORE = 1e300

#: The phases a search records (hunt.py: baseline, heldout; strategies.py: each round's screen, full, set).
_PHASE_NAME = re.compile(r"baseline|heldout|r[1-9][0-9]{0,5}\.(?:screen|full|set)")


def _check_phase(path: Path, name: str, phase: Any) -> None:
    where = f"phases.{name}"
    if not isinstance(phase, dict):
        raise _damaged(path, where, f"expected an object, got {_short(phase)}")
    sets = phase.get("sets")
    if not isinstance(sets, list) or not all(
        isinstance(s, list) and all(isinstance(a, list) and len(a) == 2 and all(_is_int(x) for x in a) for a in s)
        for s in sets
    ):
        raise _damaged(path, f"{where}.sets", f"expected lists of [layer, head] pairs, got {_short(sets)}")
    if not isinstance(phase.get("pairs"), str):
        raise _damaged(path, f"{where}.pairs", f"expected a name, got {_short(phase.get('pairs'))}")
    for key in ("steps", "batch_size"):
        if not _is_int(phase.get(key), 1):
            raise _damaged(path, f"{where}.{key}", f"expected an integer >= 1, got {_short(phase.get(key))}")
    if phase.get("order", "candidate") not in ("pair", "candidate"):
        raise _damaged(path, f"{where}.order", f"expected \"pair\" or \"candidate\", got {_short(phase.get('order'))}")
    units = phase.get("units")
    if not isinstance(units, dict):
        raise _damaged(path, f"{where}.units", f"expected an object of unit records, got {_short(units)}")
    for key, unit in units.items():
        at = f"{where}.units.{key}"
        if not (key.isascii() and key.isdigit()):
            raise _damaged(path, at, "unit keys are unit numbers (0, 1, ...)")
        if not isinstance(unit, dict):
            raise _damaged(path, at, f"expected an object, got {_short(unit)}")
        scores = unit.get("scores")
        # 1e308 is finite, but the mean of two overflows to inf (S84f): no objective scores near that
        if not isinstance(scores, list) or not scores or not all(_is_number(v) and abs(v) <= MAX_SCORE for v in scores):
            raise _damaged(path, f"{at}.scores", f"expected a list of finite numbers, got {_short(scores)} (each "
                           f"at most {MAX_SCORE:g} in size)")
        for field, ok in (("rows", _is_int), ("process", _is_int), ("seconds", _is_number)):
            if not ok(unit.get(field)) or unit[field] < 0:
                raise _damaged(path, f"{at}.{field}", f"expected a number >= 0, got {_short(unit.get(field))}")
        if "block_rows" in unit and (not _is_number(unit["block_rows"]) or unit["block_rows"] < 0):  # absent in older states
            raise _damaged(path, f"{at}.block_rows", f"expected a number >= 0, got {_short(unit['block_rows'])}")


def check_state(data: Any, path: Path) -> dict[str, Any]:
    """``data`` if it has the shape of a ``state.json`` this version writes, else an error naming the bad field.

    Scores are checked to be finite numbers, so a hand-edited value cannot reach the ranking.
    """
    if not isinstance(data, dict) or data.get("state_format") != STATE_FORMAT:
        raise SearchConfigError(
            f"{path}: not a stylehunt search state of format {STATE_FORMAT} (got {_short(data.get('state_format') if isinstance(data, dict) else data)})",
            hint="resume with the stylehunt version that started the run, or start the search again in a new run folder",
        )
    for key, kind, name in (("config_hash", str, "a string"), ("config", dict, "an object"),
                            ("status", str, "a string"), ("phases", dict, "an object")):
        if not isinstance(data.get(key), kind):
            raise _damaged(path, key, f"expected {name}, got {_short(data.get(key))}")
    for name, phase in data["phases"].items():
        if not _PHASE_NAME.fullmatch(name):  # a hand-edited name would be kept, and never replayed, silently
            raise _damaged(path, f"phases.{_short(name, 40)}",
                           "not a phase a search runs (baseline, heldout, r<N>.screen, r<N>.full, r<N>.set)")
        _check_phase(path, name, phase)
    return data


def read_state(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The parsed and checked ``state.json`` of a run folder, or ``None`` when there is none.

    Read with `stylehunt.files.read_json` (a regular file, at most `MAX_STATE_BYTES`,
    bounded nesting, strict JSON: no ``NaN``), then checked by `check_state`; a damaged or
    hand-edited file is a `stylehunt.errors.SearchConfigError` naming it, never a crash later.
    """
    path = Path(run_dir) / STATE_FILE
    if not os.path.lexists(path):
        return None
    hint = "the file is written atomically, so this is not an interrupted write; start the search again in a new run folder"
    data = read_json(path, max_bytes=MAX_STATE_BYTES, what=f"{path} (the search state)",
                     error=lambda message, hint=hint: SearchConfigError(message, hint=hint))
    return check_state(data, path)


class RunStore:
    """Recorded unit results; saved after every unit by the main process when a run folder is set.

    ``state.json`` holds a hash of the run's configuration (model and architecture fingerprint,
    settings, objective, prompts, seeds, pool) and every finished unit's scores. It is rewritten whole
    after every unit through `stylehunt.files.atomic_write_bytes`, so a kill at any instant leaves the
    previous complete state.
    """

    def __init__(self, path: Path | None, config: dict[str, Any], writer: bool, data: dict[str, Any] | None = None):
        self.path = path
        self.writer = writer and path is not None
        self.config = config
        self.data = data or {
            "state_format": STATE_FORMAT,
            "config_hash": config_hash(config),
            "config": config,
            "status": "running",
            "created": _now(),
            "phases": {},
        }

    def phase(self, name: str, sets: list[HeadSet], pairs: str, steps: int, batch: int,
              sizes: list[int], order: str = "pair") -> dict[str, Any]:
        """The record of phase ``name`` (created empty); refused if it was recorded for other work.

        ``sizes`` are the phase's unit sizes: a recorded unit must be one of them and hold one
        score per image. ``order`` is how the jobs were cut into units (``"pair"``-major; phases
        recorded before it was written are ``"candidate"``-major).
        """
        meta = {"sets": [[list(a) for a in s] for s in sets], "pairs": pairs, "steps": steps, "batch_size": batch,
                "order": order}
        phases = self.data["phases"]
        if name not in phases:
            phases[name] = {**meta, "units": {}}
            return phases[name]
        got = {k: phases[name].get(k, "candidate" if k == "order" else None) for k in meta}
        if got != meta:
            raise SearchError(
                f"the recorded phase {name!r} in {self.path} evaluated other candidates than this run asks for; "
                "the state file was edited or written by a different stylehunt",
                hint="delete the run folder to start over",
            )
        for key, unit in phases[name]["units"].items():
            index = int(key)
            if index >= len(sizes):
                raise _damaged(self.path, f"phases.{name}.units.{key}", f"the phase has only {len(sizes)} units")
            if len(unit["scores"]) != sizes[index]:
                raise _damaged(self.path, f"phases.{name}.units.{key}.scores",
                               f"expected {sizes[index]} scores (one per image of the unit), got {len(unit['scores'])}")
        return phases[name]

    def save(self, status: str | None = None) -> None:
        if status is not None:
            self.data["status"] = status
        if self.writer:
            self.data["updated"] = _now()
            atomic_write_bytes(self.path, canonical_json(self.data).encode("utf-8"))


def open_store(out: Path | None, resume: bool, config: dict[str, Any], writer: bool) -> tuple[RunStore, bool]:
    """Create or reopen the run state; raises before any work when the folder holds another search.

    The folder itself was checked by `stylehunt.headhunter.runfolder.check_run_folder`; this
    reads (under the run's lock) the state it holds.

    A folder made with another configuration is refused, naming every difference. A damaged or
    hand-edited file is one error naming it and the bad field (`check_state`), never a crash mid-search.
    """
    if out is None:
        if resume:
            raise SearchConfigError("resume=True needs a run folder", hint="pass out=<the run folder to resume>",
                                    cli_hint="give --resume DIR", param="out")
        return RunStore(None, config, writer), False
    saved = read_state(out)
    if saved is None:
        if resume:
            logger.warning("run folder %s has no %s yet (the run stopped before its first save); starting it", out, STATE_FILE)
        return RunStore(out / STATE_FILE, config, writer), False
    if not resume:
        raise SearchConfigError(
            f"run folder {out} already holds a search ({STATE_FILE}, status {saved.get('status')!r})",
            hint="resume it (resume=True), or choose another `out`",
            cli_hint=f"resume it with --resume {out}, or choose another --out", param="out",
        )
    if saved["config_hash"] != config_hash(config):
        diffs = _differences(saved["config"], config)
        listing = "; ".join(f"{p}: run has {_short(a)}, now {_short(b)}" for p, a, b in diffs[:6])
        more = f" (and {len(diffs) - 6} more)" if len(diffs) > 6 else ""
        raise ResumeMismatchError(
            f"cannot resume {out}: it was made with a different configuration: {listing or 'hash differs'}{more}",
            differences=tuple(diffs),
            hint="resume with the run's own settings, or start the search again in a new run folder",
            cli_hint="drop those options (omitted options are taken from the run), or start a new --out",
        )
    return RunStore(out / STATE_FILE, config, writer, data=saved), True
