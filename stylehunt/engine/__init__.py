"""The engine: head-level SoftPAG guidance attached to a stock diffusers pipeline at sampling time.

Rooms inside: :mod:`.heads` (the head grid and its flat addressing; imports no torch at module
level), :mod:`.guidance` (apply / remove / the perturbed forward), :mod:`.families` (what each
transformer family needs). The names below are imported on first use, so ``stylehunt.engine.heads``
stays importable without torch.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "apply": ".guidance",
    "applied": ".guidance",
    "remove": ".guidance",
    "get_applied": ".guidance",
    "apply_table": ".guidance",
    "perturbed": ".guidance",
    "strength_table": ".guidance",
    "AppliedGuidance": ".guidance",
    "IDENTITY_MODES": ".guidance",
    "SUPPORTED_PIPELINES": ".guidance",
    "check_pipeline": ".guidance",
    "HeadGrid": ".heads",
    "LayerInfo": ".heads",
    "head_grid": ".heads",
    "attention_modules": ".heads",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
__all__ = sorted(_EXPORTS)
