"""The guider: stylehunt's head guidance as a diffusers guider (``BaseGuidance``) for modular pipelines.

`guidance` holds `StyleHeadGuidance`; `config` what it stores in ``guider_config.json``. Importing
this package imports diffusers; the top-level ``stylehunt.StyleHeadGuidance`` is resolved lazily.
"""

from __future__ import annotations

from .guidance import StyleHeadGuidance

__all__ = ["StyleHeadGuidance"]
