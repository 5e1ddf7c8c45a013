"""stylehunt: training-free style presets for Diffusion Transformers.

A preset is a small set of attention heads perturbed at sampling time (SoftPAG) to steer images
toward a style. See ``docs/`` for the method and the architecture.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    ArchitectureMismatchError,
    GuidanceError,
    HeadOutOfRangeError,
    InvalidPresetError,
    StylehuntError,
    UnsupportedModelError,
)
from .heads import HeadGrid, LayerInfo, head_grid  # noqa: E402
from .preset import Preset  # noqa: E402
from .engine import AppliedGuidance, apply_table  # noqa: E402
from .api import apply, applied, get_applied, remove  # noqa: E402

__all__ = [
    "__version__",
    "Preset",
    "apply",
    "applied",
    "remove",
    "get_applied",
    "apply_table",
    "AppliedGuidance",
    "HeadGrid",
    "LayerInfo",
    "head_grid",
    "StylehuntError",
    "InvalidPresetError",
    "HeadOutOfRangeError",
    "UnsupportedModelError",
    "GuidanceError",
    "ArchitectureMismatchError",
]
