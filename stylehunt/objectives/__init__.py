"""Objectives: what a head search maximises (scorers, image statistics, weighted sums, the spec parser)."""

from __future__ import annotations

from .scorers import (
    Objective,
    PickScoreObjective,
    ClipObjective,
    AestheticObjective,
    ImageStatObjective,
    WeightedObjective,
    CallableObjective,
    build_objective,
    list_objectives,
    IMAGE_STATS,
    DEFAULT_PICKSCORE_MODEL,
    DEFAULT_PICKSCORE_PROCESSOR,
    DEFAULT_CLIP_MODEL,
    DEFAULT_CLIP_PRETRAINED,
    DEFAULT_AESTHETIC_WEIGHTS,
)

__all__ = [
    "Objective",
    "PickScoreObjective",
    "ClipObjective",
    "AestheticObjective",
    "ImageStatObjective",
    "WeightedObjective",
    "CallableObjective",
    "build_objective",
    "list_objectives",
    "IMAGE_STATS",
    "DEFAULT_PICKSCORE_MODEL",
    "DEFAULT_PICKSCORE_PROCESSOR",
    "DEFAULT_CLIP_MODEL",
    "DEFAULT_CLIP_PRETRAINED",
    "DEFAULT_AESTHETIC_WEIGHTS",
]
