"""The engine: head-level SoftPAG guidance attached to a stock diffusers pipeline at sampling time.

docs/architecture.md maps its modules. The names below are imported on first use, so
``import stylehunt.engine`` and ``stylehunt.engine.heads`` stay importable without torch.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "size_multiple": ".pipeline_inputs",
    "apply": ".lifecycle",
    "applied": ".lifecycle",
    "remove": ".lifecycle",
    "get_applied": ".lifecycle",
    "apply_table": ".lifecycle",
    "perturbed": ".lifecycle",
    "check_pipeline": ".lifecycle",
    "check_presets": ".lifecycle",
    "check_settings": ".lifecycle",
    "skipped_block_rows": ".lifecycle",
    "AppliedGuidance": ".guided_forward",
    "GuidanceSettings": ".guided_forward",
    "strength_table": ".perturbation",
    "IDENTITY_MODES": ".heads",
    "SUPPORTED_PIPELINES": ".families",
    "register_adapter": ".families",
    "adapters": ".families",
    "Adapter": ".families.spec",
    "LayerGroup": ".families.spec",
    "HeadGrid": ".heads",
    "LayerInfo": ".heads",
    "head_grid": ".heads",
    "attention_modules": ".heads",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
__all__ = sorted(_EXPORTS)
