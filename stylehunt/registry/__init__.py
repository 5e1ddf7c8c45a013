"""The registry: the preset as a distributable artifact.

The preset file format (:mod:`.fileformat`), the in-memory :class:`Preset` (:mod:`.preset`),
references, the bundled and remote index and model aliases (:mod:`.index`). Every Hub call goes
through :mod:`stylehunt.hub`. Nothing here imports torch.
"""

from __future__ import annotations

from .preset import Preset
from .index import (
    RegistryIndex,
    ResolvedPreset,
    get_index,
    list_presets,
    load_preset,
    model_alias_for,
    model_aliases,
    parse_reference,
    refresh_index,
    resolve_preset,
)

__all__ = [
    "Preset",
    "RegistryIndex",
    "ResolvedPreset",
    "get_index",
    "list_presets",
    "load_preset",
    "model_alias_for",
    "model_aliases",
    "parse_reference",
    "refresh_index",
    "resolve_preset",
]
