"""stylehunt: training-free style presets for Diffusion Transformers.

A preset is a small set of attention heads perturbed at sampling time (SoftPAG) to steer images
toward a style. ``apply`` / ``applied`` / ``remove`` guide a stock diffusers pipeline with presets;
``load_preset`` / ``list_presets`` reach the registry; ``search`` makes new presets. See ``docs/``.
Importing this package is cheap: no network access, and neither torch, diffusers nor any scorer.
"""

from __future__ import annotations

__version__ = "0.1.0"

from ._lazy import lazy_exports  # noqa: E402
from .errors import (  # noqa: E402  (stdlib-only module: cheap)
    StylehuntError,
    InvalidPresetError,
    HeadOutOfRangeError,
    UnsupportedModelError,
    GuidanceError,
    NonFiniteGuidanceError,
    ArchitectureMismatchError,
    DeviceError,
    StorageError,
    PresetFileError,
    PresetFormatVersionError,
    PresetReferenceError,
    PresetNotFoundError,
    RegistryIndexError,
    PresetIntegrityError,
    HubRepoNotFoundError,
    HubOfflineError,
    HubError,
    VersionExistsError,
    HubRevisionNotFoundError,
    ObjectiveError,
    ScorerUnavailableError,
    PromptSourceError,
    SearchConfigError,
    ResumeMismatchError,
    SearchError,
)

#: public name -> the module of the room that owns it, imported on first use (PEP 562), so that importing
#: the package stays cheap and ``stylehunt.Preset.load(...)`` and ``stylehunt.list_presets()`` work without torch.
_EXPORTS = {
    # engine: guidance on a pipeline, and the head grid
    "apply": ".api",
    "applied": ".api",
    "remove": ".api",
    "get_applied": ".api",
    "apply_table": ".engine",
    "AppliedGuidance": ".engine",
    "HeadGrid": ".engine",
    "LayerInfo": ".engine",
    "head_grid": ".engine",
    # guider: the same guidance as a diffusers guider, for modular pipelines
    "StyleHeadGuidance": ".guider",
    # registry: the preset and where presets come from
    "Preset": ".registry",
    "load_preset": ".registry",
    "list_presets": ".registry",
    # search: making presets
    "search": ".headhunter",
    "SearchSettings": ".headhunter",
    "SearchResult": ".headhunter",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "__version__",
    "Preset",
    "apply",
    "applied",
    "remove",
    "get_applied",
    "apply_table",
    "AppliedGuidance",
    "load_preset",
    "list_presets",
    "search",
    "SearchSettings",
    "SearchResult",
    "HeadGrid",
    "LayerInfo",
    "head_grid",
    "StyleHeadGuidance",
    "StylehuntError",
    "InvalidPresetError",
    "HeadOutOfRangeError",
    "UnsupportedModelError",
    "GuidanceError",
    "NonFiniteGuidanceError",
    "ArchitectureMismatchError",
    "DeviceError",
    "StorageError",
    "PresetFileError",
    "PresetFormatVersionError",
    "PresetReferenceError",
    "PresetNotFoundError",
    "RegistryIndexError",
    "PresetIntegrityError",
    "HubRepoNotFoundError",
    "HubOfflineError",
    "HubError",
    "VersionExistsError",
    "HubRevisionNotFoundError",
    "ObjectiveError",
    "ScorerUnavailableError",
    "PromptSourceError",
    "SearchConfigError",
    "ResumeMismatchError",
    "SearchError",
]
