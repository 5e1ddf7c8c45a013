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

__all__ = [
    "__version__",
    "Preset",
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
