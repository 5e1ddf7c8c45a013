"""HeadHunter: the greedy head search that makes presets, its run folder and its report."""

from __future__ import annotations

from .headhunter import (
    CURVE_FILE,
    GRID_FILE,
    SCORES_FILE,
    STATE_FILE,
    STRATEGIES,
    RoundResult,
    SearchResult,
    SearchSettings,
    parse_layers,
    read_state,
    search,
)

__all__ = [
    "search",
    "SearchSettings",
    "SearchResult",
    "RoundResult",
    "STRATEGIES",
    "STATE_FILE",
    "SCORES_FILE",
    "CURVE_FILE",
    "GRID_FILE",
    "read_state",
    "parse_layers",
]
