"""stylehunt: training-free style presets for Diffusion Transformers.

A preset is a small set of attention heads perturbed at sampling time (SoftPAG) to steer images
toward a style. ``apply`` / ``applied`` / ``remove`` guide a stock diffusers pipeline with presets;
``load_preset`` / ``list_presets`` reach the registry; ``search`` makes new presets. See ``docs/``.
Importing this package does no network access and imports neither diffusers nor any scorer.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    StylehuntError,
    InvalidPresetError,
    HeadOutOfRangeError,
    UnsupportedModelError,
    GuidanceError,
    ArchitectureMismatchError,
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
from .heads import HeadGrid, LayerInfo, head_grid  # noqa: E402
from .preset import Preset  # noqa: E402
from .engine import AppliedGuidance, apply_table  # noqa: E402
from .api import apply, applied, get_applied, remove  # noqa: E402
from .registry import list_presets, load_preset  # noqa: E402
from .headhunter import SearchResult, SearchSettings, search  # noqa: E402

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
    "StylehuntError",
    "InvalidPresetError",
    "HeadOutOfRangeError",
    "UnsupportedModelError",
    "GuidanceError",
    "ArchitectureMismatchError",
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
