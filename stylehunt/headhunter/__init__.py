"""HeadHunter: the greedy head search that makes presets, its run folder and its report.

Modules: `settings` (defaults, validation, head pool, image size; no torch),
`hunt` (`search`), `strategies` (the greedy rounds), `runner`
(units of work), `sampler` (batched generation with per-image head sets), `store`
(``state.json``, resume, ``command.json``), `runfolder` (which folder a search may write, its
lock), `distribution` (accelerate), `results`,
`outputs` (the preset and the run folder's files), `report` (curve, grid, tiles: drawing only), `atlas` (runs the head atlas).
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
