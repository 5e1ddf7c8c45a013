"""The run folder's records: ``state.json`` (what makes a search resumable) and the CLI's ``command.json``.

``state.json`` holds a hash of the run's configuration (model and architecture fingerprint,
settings, objective, prompts, seeds, pool) and every finished unit's scores. :class:`RunStore`
rewrites it whole after every unit through :func:`stylehunt.files.atomic_write_bytes`, so a kill
at any instant leaves the previous complete state; :func:`open_store` reopens it on resume and
refuses a folder made with another configuration, naming every difference. Imports no torch.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from ..errors import ResumeMismatchError, SearchConfigError, SearchError
from ..files import atomic_write_bytes
from .settings import HeadSet

__all__ = [
    "STATE_FILE",
    "STATE_FORMAT",
    "COMMAND_FILE",
    "canonical_json",
    "config_hash",
    "json_bytes",
    "read_state",
    "RunStore",
    "open_store",
    "write_command",
    "read_command",
]

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"
#: Version of the ``state.json`` layout; a state of another version is not resumed.
STATE_FORMAT = 1
#: The CLI's options of a run (CLI runs only), read back by ``stylehunt search --resume``.
COMMAND_FILE = "command.json"


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


class RunStore:
    """Recorded unit results; saved after every unit by the main process when a run folder is set."""

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

    def phase(self, name: str, sets: list[HeadSet], pairs: str, steps: int, batch: int) -> dict[str, Any]:
        """The record of phase ``name`` (created empty); refused if it was recorded for other work."""
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
            self.data["updated"] = _now()
            atomic_write_bytes(self.path, canonical_json(self.data).encode("utf-8"))


def open_store(out: Path | None, resume: bool, config: dict[str, Any], writer: bool) -> tuple[RunStore, bool]:
    """Create or reopen the run state; raises before any work when the folder holds another search."""
    if out is None:
        if resume:
            raise SearchConfigError("resume=True needs a run folder", hint="pass out=<the run folder to resume>")
        return RunStore(None, config, writer), False
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
        return RunStore(out / STATE_FILE, config, writer), False
    if not resume:
        raise SearchConfigError(
            f"run folder {out} already holds a search ({STATE_FILE}, status {saved.get('status')!r})",
            hint=f"resume it with --resume {out} (resume=True), or choose another --out",
        )
    if saved.get("config_hash") != config_hash(config):
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
    return RunStore(out / STATE_FILE, config, writer, data=saved), True


def write_command(run_dir: Path, options: dict[str, Any]) -> None:
    """Record the CLI options of a new run in ``run_dir/command.json`` (atomically)."""
    atomic_write_bytes(run_dir / COMMAND_FILE, json_bytes(options))


def read_command(run_dir: Path) -> dict[str, Any] | None:
    """The CLI options recorded for the run in ``run_dir``; ``None`` for a run started from Python.

    Refused when ``run_dir`` does not exist or holds neither ``command.json`` nor ``state.json``.
    """
    if not run_dir.is_dir():
        raise SearchConfigError(f"nothing to resume: run folder {run_dir} does not exist", hint="check the --resume path")
    path = run_dir / COMMAND_FILE
    if not path.is_file():
        if not (run_dir / STATE_FILE).is_file():
            raise SearchConfigError(f"nothing to resume in {run_dir}: no {COMMAND_FILE} and no {STATE_FILE}",
                                    hint="start the run with --out instead")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SearchConfigError(f"{path}: cannot read the run's command line ({e})") from None
