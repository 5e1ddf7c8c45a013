"""The guider: stylehunt's head guidance as a diffusers guider (``BaseGuidance``) for modular pipelines.

diffusers' modular pipelines (SD3, Qwen-Image, Z-Image, FLUX.2-klein base, Wan, ...) take their
guidance as a swappable ``guider`` component. `StyleHeadGuidance` is one: CFG (or any
``base`` guider) plus the style term of `stylehunt.apply`, perturbing the presets' heads
through the engine's `stylehunt.engine.perturbed`, the same code path ``apply`` uses.

Modules inside:

* `guidance`: the guider: its batches, the perturbed style batch, the prediction;
* `config`: what it stores in ``guider_config.json`` (pinned references, inline presets,
  the base guider) and how that is read back.

Importing this package imports diffusers (the guider subclasses its ``BaseGuidance``); the
top-level ``stylehunt.StyleHeadGuidance`` is resolved lazily, so ``import stylehunt`` does not.
"""

from __future__ import annotations

from .guidance import StyleHeadGuidance

__all__ = ["StyleHeadGuidance"]
