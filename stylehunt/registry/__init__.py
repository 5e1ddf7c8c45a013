"""The registry: the preset as a distributable artifact (file format, names, references, index, publishing).

Its modules are layered bottom to top as docs/architecture.md lists them, `preset` at the top.
Every Hub call goes through `stylehunt.hub`. Nothing here imports torch.
"""

from __future__ import annotations

from .._lazy import lazy_exports

# Resolved on first use: `stylehunt list` needs the index, not the Hub search, checks or submissions.
_EXPORTS = {
    "IndexCheck": ".check",
    "check_index": ".check",
    "HubPreset": ".discovery",
    "search_hub": ".discovery",
    "get_index": ".index",
    "list_presets": ".index",
    "model_alias_for": ".index",
    "model_aliases": ".index",
    "refresh_index": ".index",
    "RegistryIndex": ".indexfile",
    "Preset": ".preset",
    "ResolvedPreset": ".preset",
    "load_preset": ".preset",
    "resolve_preset": ".preset",
    "parse_reference": ".references",
    "Submission": ".submit",
    "submit_preset": ".submit",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "HubPreset",
    "IndexCheck",
    "Preset",
    "RegistryIndex",
    "ResolvedPreset",
    "Submission",
    "check_index",
    "get_index",
    "list_presets",
    "load_preset",
    "model_alias_for",
    "model_aliases",
    "parse_reference",
    "refresh_index",
    "resolve_preset",
    "search_hub",
    "submit_preset",
]
