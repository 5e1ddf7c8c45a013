"""The engine: head-level SoftPAG guidance attached to a stock diffusers pipeline at sampling time.

Modules inside:

* `heads`: the head grid and its flat addressing (imports no torch at module level);
* `families`: one adapter module per model family, declaring what the engine must know about
  it, and the adapter registry (`register_adapter`, entry point group ``stylehunt.adapters``);
* `perturbation`: SoftPAG on selected heads of selected rows, at the attention's SDPA call;
* `guided_forward`: the denoiser forward that appends perturbed rows, and where the guidance is
  added (the transformer output, or ``scheduler.step``);
* `forward_patch`: instance-level method replacement with an exact way back;
* `lifecycle`: apply / apply_table / perturbed / remove / get_applied / applied.

The names below are imported on first use, so ``import stylehunt.engine`` and
``stylehunt.engine.heads`` stay importable without torch.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "size_multiple": ".families",
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
    "transformer_of": ".heads",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
__all__ = sorted(_EXPORTS)
