"""Objectives: score generated samples, higher is better, for the head search and for evaluation.

An `Objective` maps ``(images, prompts)`` to a float tensor ``(N,)``; a video is scored frame by frame.
Modules: `base` (the contract, `CallableObjective`), `image_stats` (weight-free), `clip`
(PickScore, open_clip), `aesthetic` (the LAION MLP), `loading` (weights, offline-aware), `spec`
(`build_objective`, weighted sums). docs/objectives.md lists them and where their weights come from.
Nothing heavy is imported until a function needs it.
"""

from __future__ import annotations

from .aesthetic import DEFAULT_AESTHETIC_WEIGHTS, AestheticObjective
from .base import VIDEO_FRAMES, CallableObjective, Objective, frame_indices
from .clip import DEFAULT_PICKSCORE_MODEL, DEFAULT_PICKSCORE_PROCESSOR, ClipObjective, PickScoreObjective
from .image_stats import IMAGE_STATS, ImageStatObjective
from .loading import DEFAULT_CLIP_MODEL, DEFAULT_CLIP_PRETRAINED
from .spec import WeightedObjective, build_objective, list_objectives

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
    "VIDEO_FRAMES",
    "frame_indices",
    "DEFAULT_PICKSCORE_MODEL",
    "DEFAULT_PICKSCORE_PROCESSOR",
    "DEFAULT_CLIP_MODEL",
    "DEFAULT_CLIP_PRETRAINED",
    "DEFAULT_AESTHETIC_WEIGHTS",
]
