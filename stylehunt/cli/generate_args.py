"""What ``generate`` reads from its command line beyond click's types: ``--preset REF:u``, seed lists,
sweep values, and the command line that uses a search's result.

Torch-free: every check here runs before a model loads.
"""

from __future__ import annotations

import math
import os
import re
import shlex
from pathlib import Path

import click

from .params import SEED_RANGE

__all__ = ["split_preset_strength", "parse_seeds", "parse_sweep", "generate_command", "MAX_IMAGES"]

#: The most images one ``generate`` makes (seeds x sweep cells): a typo such as ``--seeds 0-10000`` is
#: refused before hours of sampling rather than discovered after.
MAX_IMAGES = 256

# A strength suffix: ':' then a plain decimal number (sign allowed, so that a negative one is refused
# with its reason rather than read as part of a name). Registry names never contain ':' (names.py:
# lowercase letters, digits, '.', '_', '-' and one '/'); hf-hub: references have their ':' first and
# a revision (git's ref rules) can never contain one; a Windows drive's ':' is followed by a slash.
_STRENGTH_SUFFIX = re.compile(r"^(?P<ref>.+):(?P<u>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)$")


def split_preset_strength(text: str) -> tuple[str, float | None]:
    """``"name:0.6"`` -> ``("name", 0.6)``; ``"name"`` -> ``("name", None)``.

    An existing file or folder whose name itself ends in ``:<number>`` is taken whole. A strength
    outside [0, 1] is refused: u is the weight of a mix, ``(1-u)A + uI``; below 0 (or above 1) the
    mixed attention row has negative weights and stops being an average of the tokens.
    """
    m = _STRENGTH_SUFFIX.match(text.strip())
    if m is None or os.path.exists(os.path.expanduser(text)):
        return text, None
    u = float(m.group("u"))
    if not (math.isfinite(u) and 0.0 <= u <= 1.0):
        raise click.BadParameter(
            f"{text!r}: the strength after ':' is u, the weight of the mix (1-u)A + uI, and must be in [0, 1]; "
            f"outside it the attention rows get negative weights. To weaken a preset lower u toward 0 "
            f"(e.g. {m.group('ref')}:0.3)", param_hint="'--preset'",
        )
    return m.group("ref"), u


def _int(text: str, flag: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text.strip()!r} is not a whole number (write e.g. {flag} 0-3 or {flag} 1,5,9)",
                                 param_hint=f"'{flag}'") from None
    if not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise click.BadParameter(f"{value} is not a 64-bit seed (use 0 to 2**64-1)", param_hint=f"'{flag}'")
    return value


def parse_seeds(spec: str, flag: str = "--seeds") -> list[int]:
    """``"0-3"`` -> ``[0, 1, 2, 3]``; ``"1,5,9"`` -> ``[1, 5, 9]``; both mix (``"0-2,7"``). Repeats are refused."""
    seeds: list[int] = []
    for part in spec.split(","):
        first, dash, last = part.strip().partition("-") if not part.strip().startswith("-") else (part, "", "")
        if dash:
            lo, hi = _int(first, flag), _int(last, flag)
            if hi < lo:
                raise click.BadParameter(f"{part.strip()!r}: a range runs upward (write {hi}-{lo})", param_hint=f"'{flag}'")
            if hi - lo >= MAX_IMAGES:
                raise click.BadParameter(f"{part.strip()!r} is {hi - lo + 1} seeds; at most {MAX_IMAGES} in one command",
                                         param_hint=f"'{flag}'")
            seeds.extend(range(lo, hi + 1))
        else:
            seeds.append(_int(part, flag))
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise click.BadParameter(f"seed {repeated[0]} is given twice in {spec!r}", param_hint=f"'{flag}'")
    return seeds


def parse_sweep(values: tuple[str, ...], flag: str, *, low: float, high: float | None) -> list[float]:
    """The numbers of a repeatable option whose values may be comma lists (``--scale 1,3,5``), each checked."""
    numbers = []
    for value in values:
        for part in value.split(","):
            try:
                x = float(part.strip())
            except ValueError:
                raise click.BadParameter(f"{part.strip()!r} is not a number (write e.g. {flag} 0.2,0.5,0.8)",
                                         param_hint=f"'{flag}'") from None
            if not math.isfinite(x) or x < low or (high is not None and x > high):
                bound = f"in [{low:g}, {high:g}]" if high is not None else f">= {low:g}"
                raise click.BadParameter(f"{part.strip()} is not a finite number {bound}", param_hint=f"'{flag}'")
            numbers.append(x)
    return numbers


def generate_command(model: str, preset: Path, prompt: str) -> str:
    """The ``stylehunt generate`` line that samples with the preset in ``preset`` (a run folder), shell-quoted."""
    folder = str(preset)
    if not (os.path.isabs(folder) or folder.startswith(".")) and os.sep not in folder and "/" not in folder:
        folder = f".{os.sep}{folder}"  # a one-segment folder written ./x reads as a path whatever the registry holds
    return shlex.join(["stylehunt", "generate", "--model", str(model), "--preset", folder, "--prompt", prompt,
                       "--out", f"{Path(folder).name or 'image'}.png"])
