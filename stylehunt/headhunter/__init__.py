"""HeadHunter: the greedy head search that makes presets, its run folder and its report.

docs/architecture.md maps its modules. The names below are imported on first use, so
``import stylehunt.headhunter.settings`` (the CLI's ``--help``) imports no torch.
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
