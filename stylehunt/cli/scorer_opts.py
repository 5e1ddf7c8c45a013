"""``search``'s flags for scorer weights on disk (or another Hub repo): no network needed for a scorer
the user already has.

Owns `SCORER_FLAGS` (each flag and the objective options it sets), `scorer_options` (adds them to a
click command) and `objective_options` (turns their values into `stylehunt.build_objective` options).
"""

from __future__ import annotations

import re
from typing import Any, Callable

import click

__all__ = ["SCORER_FLAGS", "scorer_options", "objective_options"]

#: option name -> (flag, {objective term: its option}, help). Each flag is one option of
#: `stylehunt.build_objective` for one term of ``--objective`` (what ``docs/objectives.md`` lists under
#: "Where the weights come from"); the help says what value it takes (a folder, a Hub id, a file).
SCORER_FLAGS: dict[str, tuple[str, dict[str, str], str]] = {
    "pickscore_model": ("--pickscore-model", {"pickscore": "model"},
                        "pickscore: the scoring model, a local folder written by save_pretrained or a Hub id."),
    "pickscore_processor": ("--pickscore-processor", {"pickscore": "processor"},
                            "pickscore: its processor (tokenizer + image processor), a local folder or a Hub id."),
    "clip_model": ("--clip-model", {"clip": "model", "aesthetic": "clip_model"},
                   "clip/aesthetic: the open_clip model, a built-in name, local-dir:PATH or hf-hub:ORG/NAME."),
    "clip_pretrained": ("--clip-pretrained", {"clip": "pretrained", "aesthetic": "clip_pretrained"},
                        "clip/aesthetic: the open_clip weights, a tag (openai, ...) or a checkpoint file."),
    "aesthetic_weights": ("--aesthetic-weights", {"aesthetic": "weights"},
                          "aesthetic: the LAION aesthetic MLP's weights file (.pth or .safetensors)."),
}


def scorer_options(command: Callable) -> Callable:
    """Add the scorer-weight flags to a click command."""
    for name, (flag, _, help_) in reversed(SCORER_FLAGS.items()):
        command = click.option(flag, name, default=None, metavar="PATH", help=help_)(command)
    return command


def objective_options(objective: str, opts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``build_objective`` options (``{term: {option: value}}``) from the flags in ``opts`` (popped from it).

    A flag for a term the objective does not have is refused (it would be silently unused).
    """
    terms = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", objective.lower()))
    options: dict[str, dict[str, Any]] = {}
    for name, (flag, targets, _) in SCORER_FLAGS.items():
        value = opts.pop(name, None)
        if value is None:
            continue
        used = [t for t in targets if t in terms]
        if not used:
            raise click.BadParameter(f"sets the weights of {' or '.join(targets)}, which --objective {objective} does "
                                     "not use; drop it", param_hint=f"'{flag}'")
        for term in used:
            options.setdefault(term, {})[targets[term]] = value
    return options
