"""The registry: the preset as a distributable artifact.

Modules, bottom to top (each imports only those above it in this list):

* :mod:`.names`: preset names and semantic versions.
* :mod:`.fields`: field checks with JSON-path errors, and the architecture fingerprint.
* :mod:`.fileformat`: the preset file ``stylehunt_preset.json`` (dicts and text; no :class:`Preset`).
* :mod:`.references`: what a reference string means (name, ``hf-hub:``, path).
* :mod:`.discovery`: finding preset repos anyone published on the Hub (model search, version tags).
* :mod:`.indexfile`: the catalogue file ``index.json``; :mod:`.index`: the catalogue in use,
  model aliases, listing (the registry, or the Hub through :mod:`.discovery`), version selection.
* :mod:`.origins`: each bundled version's provenance kind and label, recorded in ``index.json``.
* :mod:`.locate`: finding, downloading and verifying the file a reference names.
* :mod:`.publish`: pushing a preset to the Hub (model card, tag).
* :mod:`.preset`: :class:`Preset`, and the functions that build presets from all of the above.
* :mod:`.check`: checking an index as its maintainers review it (every entry, pin, fingerprint).
* :mod:`.submit`: proposing a published preset to the index repo (a checked pull request).

Every Hub call goes through :mod:`stylehunt.hub`. Nothing here imports torch.
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
