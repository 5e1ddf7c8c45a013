"""``command.json``: how a run was started, read back by ``stylehunt search --resume`` and the studio.

`RunCommand` is the record: the validated `SearchSettings` the search ran with, and the inputs that
are not settings (model, objective, prompts, ...) as the front end gave them. `write_command` and
`read_command` store it. Imports no torch.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import SearchConfigError
from ..files import atomic_write_bytes, read_json
from .settings import SearchSettings
from .store import _short, json_bytes

__all__ = ["COMMAND_FILE", "COMMAND_FORMAT", "MAX_COMMAND_BYTES", "OPTION_SETTINGS", "RunCommand", "write_command",
           "read_command"]

COMMAND_FILE = "command.json"
#: The layout of ``command.json``: ``{"format": 2, "settings": {...}, "inputs": {...}}``. A file without
#: ``format`` is the first layout, one flat object of the CLI's options (read by `read_command` too).
COMMAND_FORMAT = 2
#: Largest ``command.json`` read back (a few hundred bytes of options).
MAX_COMMAND_BYTES = 1024 * 1024

#: The CLI's options that are search settings, and the `SearchSettings` fields each one sets
#: (``--resolution`` both sides, ``--cfg`` the CFG scale): the keys of the first layout that are not inputs.
OPTION_SETTINGS: dict[str, tuple[str, ...]] = {
    **{name: (name,) for name in ("strategy", "rounds", "per_round", "scale", "strength", "steps", "frames",
                                  "identity", "batch_size", "screen_steps", "screen_prompts", "rerank", "keep")},
    "resolution": ("height", "width"),
    "cfg": ("cfg_scale",),
}


@dataclass(frozen=True)
class RunCommand:
    """A run's record: ``settings`` (the object the search got, unresolved: ``None`` stays the model's
    default) and ``inputs``, the front end's other values (JSON-ready: model, objective, prompts, ...).
    """

    settings: SearchSettings
    inputs: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"format": COMMAND_FORMAT, "settings": self.settings.to_dict(), "inputs": dict(self.inputs)}


def write_command(run_dir: Path, command: RunCommand | Mapping[str, Any]) -> None:
    """Record how a new run was started in ``run_dir/command.json`` (atomically): a `RunCommand`, or
    any JSON-ready mapping a Python caller keeps there (`read_command` reads back only the former)."""
    data = command.to_dict() if isinstance(command, RunCommand) else dict(command)
    atomic_write_bytes(run_dir / COMMAND_FILE, json_bytes(data))


def read_command(run_dir: Path) -> RunCommand | None:
    """The record of the run in ``run_dir``; ``None`` when there is none (a run started from Python).

    Read within bounds (`stylehunt.files.read_json`); the settings are checked by `SearchSettings`
    itself, the inputs are left to the front end that recorded them. A damaged or hand-edited file is
    one `SearchConfigError` naming it and the bad field.
    """
    path = run_dir / COMMAND_FILE
    if not os.path.lexists(path):
        return None
    what = f"{path} (the run's command line)"
    data = read_json(path, max_bytes=MAX_COMMAND_BYTES, what=what, error=SearchConfigError)
    if not isinstance(data, dict):
        raise _damaged(what, f"expected a JSON object, got {_short(data)}")
    if "format" not in data:
        return _flat(data, what)
    if data["format"] != COMMAND_FORMAT:
        raise SearchConfigError(f"{what}: format {_short(data['format'])} is not one this stylehunt reads "
                                f"(it reads {COMMAND_FORMAT})", hint="resume it with the stylehunt that started it")
    extra = sorted(set(data) - {"format", "settings", "inputs"})
    if extra:
        raise _damaged(what, f"{_short(extra[0])} is not part of the record")
    for key in ("settings", "inputs"):
        if not isinstance(data.get(key), dict):
            raise _damaged(what, f"{key}: expected a JSON object, got {_short(data.get(key))}")
    return RunCommand(_settings(data["settings"], what, "settings."), dict(data["inputs"]))


def _flat(data: dict[str, Any], what: str) -> RunCommand:
    """A first-layout file: the settings options become `SearchSettings`, the rest stay inputs."""
    values, inputs = {}, {}
    for key, value in data.items():
        if key in OPTION_SETTINGS:
            values.update({name: value for name in OPTION_SETTINGS[key]})
        else:
            inputs[key] = value
    return RunCommand(_settings(values, what, ""), inputs)


def _settings(values: dict[str, Any], what: str, prefix: str) -> SearchSettings:
    known = {f.name for f in dataclasses.fields(SearchSettings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise _damaged(what, f"{prefix}{_short(unknown[0])} is not a search setting")
    try:
        return SearchSettings(**values)
    except SearchConfigError as e:
        # about the file, not a parameter the caller gave: no `param`, and the name without its quotes
        name = f"{prefix}{e.param}: " if e.param else prefix
        raise _damaged(what, f"{name}{str(e).replace('`', '')}") from None


def _damaged(what: str, problem: str) -> SearchConfigError:
    return SearchConfigError(f"{what}: {problem}; the file was edited or is damaged",
                             hint="give every option again, or start the search again in a new run folder")

