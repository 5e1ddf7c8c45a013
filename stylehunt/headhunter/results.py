"""What a search returns: `SearchResult`, with one `RoundResult` per greedy round."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .settings import Address, SearchSettings

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from ..registry.preset import Preset

__all__ = ["RoundResult", "SearchResult"]


@dataclass
class RoundResult:
    """One greedy round."""

    round: int
    #: heads added this round, best first
    added: tuple[Address, ...]
    #: the whole selected set after this round
    heads: tuple[Address, ...]
    #: mean objective of ``heads`` on the search pairs at the full settings
    score: float
    #: full-setting score of ``previous heads + {candidate}`` for every candidate scored at full settings
    candidates: dict[Address, float]
    #: screening score of every candidate screened this round (``screened`` strategy only)
    screened: dict[Address, float] = field(default_factory=dict)
    #: mean objective of ``heads`` on the held-out pairs (None without held-out prompts)
    heldout: float | None = None


@dataclass
class SearchResult:
    """What `stylehunt.headhunter.search` returns."""

    preset: Preset
    rounds: list[RoundResult]
    #: mean objective without guidance on the search pairs
    baseline: float
    #: mean objective without guidance / with the preset on the held-out pairs (None without them)
    heldout_baseline: float | None
    heldout_score: float | None
    settings: SearchSettings
    #: transformer forward rows (batch rows entering the transformer, perturbed rows included) by stage
    forward_rows: dict[str, int]
    #: seconds spent generating and scoring, by stage
    seconds: dict[str, float]
    #: the work in block-rows (transformer blocks computed / blocks per row) by stage: forward rows
    #: less what the engine's shared prefix left out
    block_rows: dict[str, float]
    #: grid images by column ("no guidance", "round 1", ...), one per grid pair (main process only)
    images: dict[str, list[Image.Image]]
    grid_pairs: list[tuple[str, int]]
    run_dir: Path | None = None

    @property
    def heads(self) -> tuple[Address, ...]:
        return self.preset.heads

    @property
    def heldout_gain(self) -> float | None:
        """Held-out objective of the preset minus that of no guidance."""
        if self.heldout_score is None or self.heldout_baseline is None:
            return None
        return self.heldout_score - self.heldout_baseline

    @property
    def search_rows(self) -> int:
        """Forward rows spent choosing the heads (everything but the held-out evaluation)."""
        return sum(v for k, v in self.forward_rows.items() if k != "heldout")

    @property
    def search_block_rows(self) -> float:
        """Block-rows spent choosing the heads (everything but the held-out evaluation)."""
        return sum(v for k, v in self.block_rows.items() if k != "heldout")

    @property
    def search_seconds(self) -> float:
        return sum(v for k, v in self.seconds.items() if k != "heldout")
