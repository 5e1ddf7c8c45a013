"""What ``generate`` reads from its command line beyond click's types: ``--preset REF:u``, seed lists,
sweep values, and the command line that uses a search's result.

Torch-free: every check here runs before a model loads.
"""

from __future__ import annotations

import math
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .params import SEED_RANGE

__all__ = ["GenerateArgs", "read_generate_args", "split_preset_strength", "parse_seeds", "parse_sweep",
           "generate_command", "save_adhoc_preset", "MAX_IMAGES"]

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


#: Why ``--scale`` takes no negative w (the guided prediction is eps + w (eps_c - eps_perturbed)).
NEGATIVE_SCALE = (
    "a negative w moves every step toward the perturbed prediction (w = -1 is the model with these heads' "
    "attention mixed toward identity, unguided); that undoes the style only to first order and otherwise samples "
    "the degraded model the guidance steers away from, so stylehunt refuses it. For less of a style lower w toward 0 "
    "(0 = no guidance) or the strength u (REF:0.3)"
)


def parse_sweep(values: tuple[str, ...], flag: str, *, low: float, high: float | None, below: str = "") -> list[float]:
    """The numbers of a repeatable option whose values may be comma lists (``--scale 1,3,5``), each checked."""
    numbers = []
    for value in values:
        for part in value.split(","):
            try:
                x = float(part.strip())
            except ValueError:
                raise click.BadParameter(f"{part.strip()!r} is not a number (write e.g. {flag} 0.2,0.5,0.8)",
                                         param_hint=f"'{flag}'") from None
            if below and x < low:
                raise click.BadParameter(f"{part.strip()}: {below}", param_hint=f"'{flag}'")
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


@dataclass(frozen=True)
class GenerateArgs:
    """``generate``'s presets, strengths, scales and seeds as read from the command line (no model yet)."""

    refs: list[str]  # the --preset references, without their ':u'
    labels: list[str]  # how each preset was given (REF as typed, or "--heads L:H,...")
    own: list[float | None]  # one per preset (--preset then --heads): its REF:u, else None
    given: list[float]  # --strength, once for all or once per preset (not a sweep)
    strength_sweep: list[float] | None
    scale: float | None
    scale_sweep: list[float] | None
    seeds: list[int]

    @property
    def sweep(self) -> bool:
        return self.strength_sweep is not None or self.scale_sweep is not None


def read_generate_args(presets: tuple[str, ...], head_specs: tuple[str, ...], strengths: tuple[str, ...],
                       scales: tuple[str, ...], seed: int, seed_spec: str | None, num_images: int | None,
                       save_preset: Path | None, model: str) -> GenerateArgs:
    """Check and combine the options that say what to sample; every error names its flag."""
    split = [split_preset_strength(p) for p in presets]
    own = [u for _, u in split] + [None] * len(head_specs)
    count = len(own)
    values = parse_sweep(strengths, "--strength", low=0.0, high=1.0,
                         below="u is the weight of the mix (1-u)A + uI and must be in [0, 1]")
    swept = any("," in v for v in strengths)
    if swept and any(u is not None for u in own):
        raise click.BadParameter("a --strength sweep sets every preset's u; drop the ':u' from --preset",
                                 param_hint="'--strength'")
    if not swept and len(values) not in (0, 1, count):
        raise click.BadParameter(f"got {len(values)} --strength values for {count} presets; give one, or one per "
                                 "preset (or a comma list to sweep)", param_hint="'--strength'")
    if not swept and len(values) > 1 and any(u is not None for u in own):
        raise click.BadParameter("give strengths either as --preset REF:u or as one --strength per preset, not both",
                                 param_hint="'--strength'")
    scale_values = parse_sweep(scales, "--scale", low=0.0, high=None, below=NEGATIVE_SCALE)
    ctx = click.get_current_context(silent=True)
    seed_given = ctx is not None and ctx.get_parameter_source("seed") != click.core.ParameterSource.DEFAULT
    if seed_spec is not None and (num_images is not None or seed_given):
        raise click.UsageError("--seeds lists every seed; leave out " + ("--num-images" if num_images else "--seed"))
    seeds = parse_seeds(seed_spec) if seed_spec is not None else [seed + i for i in range(num_images or 1)]
    args = GenerateArgs(
        refs=[r for r, _ in split], labels=[r for r, _ in split] + [f"--heads {h}" for h in head_specs], own=own,
        given=[] if swept else values, strength_sweep=values if swept else None,
        scale=scale_values[0] if len(scale_values) == 1 else None,
        scale_sweep=scale_values if len(scale_values) > 1 else None, seeds=seeds,
    )
    images = len(seeds) * len(args.strength_sweep or [0]) * len(args.scale_sweep or [0])
    if images > MAX_IMAGES:
        raise click.UsageError(f"this command would sample {images} images; at most {MAX_IMAGES} at once")
    if save_preset is not None:
        _check_save_preset(save_preset, head_specs, args, model)
    return args


def _check_save_preset(path: Path, head_specs: tuple[str, ...], args: GenerateArgs, model: str) -> None:
    from ..registry.names import is_hub_repo_id
    from ..tiny import TINY_MODEL_NAMES
    from .params import writable_folder_problem

    if model not in TINY_MODEL_NAMES and not is_hub_repo_id(model):
        raise click.BadParameter(f"a preset file names its model by Hub id, and --model {model} is a local folder; "
                                 "load the model by its Hub id, or save from Python with Preset(...).save()",
                                 param_hint="'--save-preset'")
    if len(head_specs) != 1:
        raise click.BadParameter(f"saves the one ad-hoc --heads preset, but {len(head_specs)} --heads were given",
                                 param_hint="'--save-preset'")
    if args.sweep:
        raise click.BadParameter("a sweep uses several u or w; give the one to save (no comma list)",
                                 param_hint="'--save-preset'")
    if path.suffix and path.suffix.lower() != ".json":
        raise click.BadParameter(f"{path.name}: a preset file ends in .json (or name a folder)",
                                 param_hint="'--save-preset'")
    folder = path if (path.is_dir() or not path.suffix) else path.parent
    problem = writable_folder_problem(folder)
    if problem:
        where, why = problem
        raise click.BadParameter(f"cannot write to {where}: {why}", param_hint="'--save-preset'")


def save_adhoc_preset(preset: Any, path: Path, *, pipe: Any, model: str, scale: float | None, used: float) -> Path:
    """Write the ``--heads`` preset with the u and w it was sampled with, the model's fingerprint, and manual provenance."""
    import dataclasses

    from ..engine import head_grid
    from ..headhunter.outputs import slug
    from ..headhunter.settings import DEFAULT_PRESET_LICENSE, DEFAULT_PRESET_VERSION

    stem = path.stem if path.suffix else path.name
    heads = ",".join(f"{l}:{h}" for l, h in preset.heads)
    saved = dataclasses.replace(
        preset, name=slug(stem), version=DEFAULT_PRESET_VERSION, license=DEFAULT_PRESET_LICENSE, model=model,
        strength=used, scale=preset.scale if scale is None else scale,
        fingerprint=head_grid(pipe.transformer).fingerprint(),
        description=f"heads {heads}, picked by hand",
        provenance={"kind": "manual", "source": f"stylehunt generate --heads {heads}"},
    )
    return saved.save(path)
