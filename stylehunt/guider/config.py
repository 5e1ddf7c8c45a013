"""What a `stylehunt.StyleHeadGuidance` writes to ``guider_config.json``, and how it reads it back.

Every constructor argument has a JSON form the constructor also accepts (diffusers' ``ConfigMixin``
round trip): `resolve_entries` decides each preset's form, `encode_base` / `decode_base` the base guider's.
"""

from __future__ import annotations

import math

import dataclasses
import json
import os
from typing import Any, Union

from ..errors import GuidanceError, InvalidPresetError
from ..registry import Preset, load_preset, parse_reference, resolve_preset
from ..registry.preset import preset_items

__all__ = ["PresetEntry", "resolve_entries", "preset_from_inline", "inline_preset", "encode_base", "decode_base"]

#: One preset as ``guider_config.json`` stores it: a pinned reference, or the inline fields.
PresetEntry = Union[str, dict]

_FIELDS = tuple(f.name for f in dataclasses.fields(Preset))
# Always written inline (the rest only when set), so an inline entry shows what it guides with.
_ALWAYS = ("heads", "strength", "scale")


def resolve_entries(presets: Any) -> tuple[tuple[Preset, ...], list[PresetEntry]]:
    """The presets, and how each is stored: ``presets`` is one preset, reference or inline dict, or a list of them.

    * a preset *reference* is pinned to the exact version it resolved to (``"name@1.2.0"``,
      ``"hf-hub:owner/repo@<commit>"``): the saved guider gets the same heads after a new release;
    * a preset given as an *object* (named or not) is stored inline, as its fields: an ad-hoc preset
      has no reference to pin, and a named one may have been edited in memory;
    * a local *file* is stored inline too: a path means nothing on another machine or on the Hub.
    """
    try:
        items = preset_items(presets, single=(dict,))  # an inline preset is a dict
    except InvalidPresetError as e:
        raise GuidanceError(str(e), param="presets") from None
    resolved = [_resolve_one(item) for item in items]
    return tuple(p for p, _ in resolved), [e for _, e in resolved]


def _resolve_one(item: Any) -> tuple[Preset, PresetEntry]:
    if isinstance(item, Preset):
        return item, inline_preset(item)
    if isinstance(item, dict):
        preset = preset_from_inline(item)
        return preset, inline_preset(preset)
    if isinstance(item, (str, os.PathLike)):
        if parse_reference(item).kind == "path":
            preset = load_preset(item)
            return preset, inline_preset(preset)
        found = resolve_preset(item)
        return found.preset, found.ref
    raise GuidanceError(
        f"Expected a Preset, a preset reference (str or path) or an inline preset (dict), but got "
        f"{type(item).__name__}: {item!r}"
    )


def inline_preset(preset: Preset) -> dict[str, Any]:
    """``preset``'s fields as plain JSON values (what `preset_from_inline` reads back)."""
    entry = {}
    for name in _FIELDS:
        value = getattr(preset, name)
        if name in _ALWAYS or value not in (None, "", (), {}):
            entry[name] = [list(h) for h in value] if name == "heads" else list(value) if name == "tags" else value
    try:
        json.dumps(entry, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise GuidanceError(
            f"preset {preset.label} cannot be stored in guider_config.json: a field is not plain JSON ({e})",
            hint="metadata and provenance must hold JSON values only",
        ) from None
    return entry


def preset_from_inline(entry: dict[str, Any]) -> Preset:
    """The preset an inline entry of ``guider_config.json`` describes (validated like any `Preset`)."""
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown or "heads" not in entry:
        raise GuidanceError(
            f"an inline preset needs `heads` and takes only the fields {', '.join(_FIELDS)}, but got "
            f"{', '.join(unknown) if unknown else 'no `heads`'}"
        )
    # tags as the file keeps them (a list); anything else goes to Preset as it is, to be refused there by name
    return Preset(**{k: tuple(v) if k == "tags" and isinstance(v, list) else v for k, v in entry.items()})


def encode_base(base: Any) -> dict[str, Any]:
    """``base`` as ``{"class_name": ..., "config": {...}}``; only `diffusers.guiders` classes can be rebuilt.

    A ``base`` guider is stored as its class name (a class of `diffusers.guiders`) and config.
    """
    import diffusers.guiders

    name = type(base).__name__
    if getattr(diffusers.guiders, name, None) is not type(base):
        raise GuidanceError(
            f"Expected `base` to be a guider of diffusers.guiders (e.g. ClassifierFreeGuidance), but got {name}",
            hint="guider_config.json rebuilds the base guider by its diffusers class name",
        )
    return {"class_name": name, "config": {k: v for k, v in base.config.items() if not k.startswith("_")}}


def decode_base(entry: dict[str, Any]) -> Any:
    """The guider `encode_base` stored."""
    import diffusers.guiders

    if not isinstance(entry, dict) or set(entry) != {"class_name", "config"}:
        raise GuidanceError(f"Expected a stored base guider {{'class_name': ..., 'config': {{...}}}}, but got {entry!r}")
    from diffusers.guiders.guider_utils import BaseGuidance

    name = entry["class_name"]
    # Only a public guider class: `getattr` would also hand back `__class__`, `BaseGuidance` itself, a function...
    cls = getattr(diffusers.guiders, name, None) if isinstance(name, str) and not name.startswith("_") else None
    if not (isinstance(cls, type) and issubclass(cls, BaseGuidance) and cls is not BaseGuidance):
        raise GuidanceError(f"unknown base guider class {name!r}: not a guider class of diffusers.guiders")
    if not isinstance(entry["config"], dict):
        raise GuidanceError(f"Expected the stored base guider's config to be an object, but got {entry['config']!r}")
    scale = entry["config"].get("guidance_scale", 0.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise GuidanceError(f"Expected the stored base guider's guidance_scale to be a finite number, but got {scale!r}")
    return cls.from_config(dict(entry["config"]))
