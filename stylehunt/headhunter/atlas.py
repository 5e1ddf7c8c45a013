"""The head atlas: single-head guidance for every head of some layers, run on a pipeline and tiled (the paper's Fig. 1).

The images are made here (the engine, through the search's `Sampler`); their layout is `report.tile`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Iterable

from ..errors import SearchConfigError
from .report import _check_atlas_size, tile
from .settings import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_IDENTITY,
    DEFAULT_SCALE,
    DEFAULT_SEED,
    DEFAULT_STEPS,
    DEFAULT_STRENGTH,
    DEFAULT_THUMB,
    MAX_THUMB,
    SearchSettings,
    check_batch,
    check_frames,
    check_int_setting,
    image_size,
    resolve_pool,
    settings_from,
)

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = ["render_atlas"]

logger = logging.getLogger(__name__)


def render_atlas(
    pipe: Any,
    prompt: str,
    *,
    layers: str | Iterable[int] | None = None,
    seed: int = DEFAULT_SEED,
    scale: float = DEFAULT_SCALE,
    strength: float = DEFAULT_STRENGTH,
    steps: int = DEFAULT_STEPS,
    height: int | None = None,
    width: int | None = None,
    frames: int | None = None,
    cfg_scale: float | None = None,
    identity: str = DEFAULT_IDENTITY,
    batch_size: int = DEFAULT_BATCH_SIZE,
    thumb: int = DEFAULT_THUMB,
    progress: bool | None = None,
    settings: SearchSettings | None = None,
) -> "Image.Image":
    """Single-head guidance for every head of ``layers`` (default: all): the paper's Fig. 1.

    One row per layer, one column per head; column 0 is the unguided image for reference. Every
    image uses the same prompt and seed, so the differences are the heads' effects. ``settings``: a
    `SearchSettings` already built (the CLI's) instead of the setting keywords, left at their defaults.
    """
    import sys

    from ..engine import check_pipeline, get_applied
    from .sampler import Sampler

    if not isinstance(prompt, str) or not prompt.strip():
        raise SearchConfigError(f"Expected a non-empty prompt, but got {prompt!r}")
    check_int_setting(thumb, "thumb", 1)
    if thumb > MAX_THUMB:
        raise SearchConfigError(f"Expected `thumb` to be at most {MAX_THUMB} px, but got {thumb}", param="thumb")
    grid = check_pipeline(pipe)
    if get_applied(pipe) is not None:
        raise SearchConfigError("the pipeline already has stylehunt guidance applied", hint="call stylehunt.remove(pipe) first")
    keywords = dict(scale=scale, strength=strength, steps=steps, height=height, width=width, frames=frames,
                    cfg_scale=cfg_scale, identity=identity, batch_size=batch_size)
    settings = settings_from(settings, keywords, rounds=1, per_round=1)  # one head at a time: one round of one
    settings = settings.resolved(1, *image_size(pipe, settings))
    check_frames(pipe, settings.frames)
    check_batch(pipe, settings.batch_size)
    heads = resolve_pool(grid, None, layers)
    layer_ids = sorted({l for l, _ in heads})
    _check_atlas_size(thumb, len(layer_ids), 1 + max(grid.layers[l].heads for l in layer_ids))
    sets = [()] + [((l, hh),) for l, hh in heads]
    bar = None
    if (sys.stderr.isatty() if progress is None else progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(sets), desc="atlas", unit="img")
    images: list[Any] = []
    with Sampler(pipe, grid, settings) as sampler:
        for i in range(0, len(sets), settings.batch_size):
            chunk = sets[i : i + settings.batch_size]
            images += sampler.generate(chunk, [(prompt, seed)] * len(chunk), settings.steps)
            if bar is not None:
                bar.update(len(chunk))
    if bar is not None:
        bar.close()
    by_head = dict(zip(sets[1:], images[1:]))
    max_heads = max(grid.layers[l].heads for l in layer_ids)
    cells = []
    for l in layer_ids:
        row = [images[0]] + [by_head.get(((l, hh),)) for hh in range(max_heads)]
        cells.append(row)
    logger.info("atlas: %d layers x up to %d heads for %r", len(layer_ids), max_heads, prompt)
    return tile(
        cells,
        col_labels=["none"] + [f"h{hh}" for hh in range(max_heads)],
        row_labels=[f"L{l}" for l in layer_ids],
        thumb=thumb,
        row_label_width=32,
    )
