"""HeadHunter: the greedy head search that makes presets, its run folder and its report.

Modules: :mod:`.settings` (defaults, validation, head pool, image size; no torch),
:mod:`.hunt` (:func:`search`), :mod:`.strategies` (the greedy rounds), :mod:`.runner`
(units of work), :mod:`.sampler` (batched generation with per-image head sets), :mod:`.store`
(``state.json``, resume, ``command.json``), :mod:`.runfolder` (which folder a search may write, its
lock), :mod:`.distribution` (accelerate), :mod:`.results`,
:mod:`.outputs` (the preset and the run folder's files), :mod:`.report` (curve, grid, atlas).
The names below are imported on first use, so ``import stylehunt.headhunter.settings`` (the CLI's
``--help``) imports no torch.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "search": ".hunt",
    "SearchSettings": ".settings",
    "STRATEGIES": ".settings",
    "parse_layers": ".settings",
    "SearchResult": ".results",
    "RoundResult": ".results",
    "STATE_FILE": ".store",
    "read_state": ".store",
    "SCORES_FILE": ".outputs",
    "CURVE_FILE": ".outputs",
    "GRID_FILE": ".outputs",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
__all__ = sorted(_EXPORTS)
