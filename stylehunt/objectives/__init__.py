"""Objectives: score generated images, higher is better, for the head search and for evaluation.

An `Objective` maps ``(images, prompts)`` -- a list of PIL images and the content prompt each
was generated from -- to a float tensor of shape ``(N,)``. A video (a list of PIL frames) counts as
one sample: every objective scores it frame by frame, the mean over `VIDEO_FRAMES` evenly
spaced frames (`frame_indices`). What exists:

=====================  ==========================================================================
``pickscore``          PickScore of the image against ``"<style>, <prompt>"`` (the paper's style
                       objective): transformers ``CLIPModel`` + processor, Hub id or local folder.
``clip``               open_clip cosine similarity x ``scale`` between the image and the style text,
                       optionally minus the similarity to a ``negative`` text.
``aesthetic``          LAION improved-aesthetic-predictor MLP on normalised open_clip image embeddings.
``brightness`` ...     weight-free image statistics: ``brightness``, ``saturation``, ``contrast``,
                       ``warmth`` (see `ImageStatObjective`).
weighted sums          ``"pickscore+0.5*aesthetic"`` or `WeightedObjective`.
any callable           ``fn(images, prompts) -> scores`` via `CallableObjective`.
=====================  ==========================================================================

Loading. Model-backed objectives load their weights **once**, either explicitly with
`Objective.load` (what the search does up front, so a scorer that cannot be loaded fails
before any image is generated) or lazily on the first call; later calls reuse the loaded models.
Models are put in eval mode with ``requires_grad=False`` and scored under ``torch.no_grad()`` in
batches of ``batch_size``. Two objectives that need the same open_clip model (``clip`` and
``aesthetic`` on ViT-L-14) share one loaded copy while both are alive.

Offline. Weights come from a local folder/file or from the Hugging Face cache, through the real
loaders of transformers, open_clip and huggingface_hub. Before a Hub download, one quick request
(`stylehunt.hub.repo_status`) checks that the Hub answers; when it does not (no network) or
``HF_HUB_OFFLINE=1`` is set, only the cache is used, and a model that is not cached raises
`stylehunt.errors.ScorerUnavailableError` at once (huggingface_hub would otherwise retry
each file for about 30 s).

Modules: `base` (the `Objective` contract, input checks, device/dtype,
`CallableObjective`), `image_stats` (weight-free statistics), `clip` (PickScore
and open_clip similarity), `aesthetic` (the LAION MLP), `loading` (weights from folders,
files and the Hub; the shared open_clip copies) and `spec` (`build_objective`,
`WeightedObjective`).

``import stylehunt.objectives`` is cheap: torch, transformers, open_clip and huggingface_hub are
imported inside the functions that need them.
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
