"""The registry: the preset as a distributable artifact.

Modules, bottom to top (each imports only those above it in this list):

* `names`: preset names and semantic versions.
* `fields`: field checks with JSON-path errors, and the architecture fingerprint.
* `fileformat`: the preset file ``stylehunt_preset.json`` (dicts and text; no `Preset`).
* `references`: what a reference string means (name, ``hf-hub:``, path).
* `discovery`: finding preset repos anyone published on the Hub (model search, version tags).
* `indexfile`: the catalogue file ``index.json``; `index`: the catalogue in use,
  model aliases, listing (the registry, or the Hub through `discovery`), version selection.
* `locate`: finding, downloading and verifying the file a reference names.
* `publish`: pushing a preset to the Hub (model card, tag).
* `preset`: `Preset`, and the functions that build presets from all of the above.
* `check`: checking an index as its maintainers review it (every entry, pin, fingerprint).
* `submit`: proposing a published preset to the index repo (a checked pull request).

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
