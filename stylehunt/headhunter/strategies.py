"""The greedy rounds of the two strategies, the ranking rule, and the image count they will cost.

`greedy` runs the rounds of ``exhaustive`` (the paper's) or ``screened``, `rank` orders candidates
deterministically, `estimate_images` counts the images a search will generate.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Iterable

from .results import RoundResult
from .settings import Address, SearchSettings

if TYPE_CHECKING:  # pragma: no cover
    from .runner import Progress, Runner

__all__ = ["rank", "greedy", "estimate_images"]

logger = logging.getLogger(__name__)


def rank(candidates: Iterable[Address], scores: dict[Address, float]) -> list[Address]:
    """Best first; ties broken by the smaller address, so rankings are deterministic.

    >>> rank([(0, 1), (0, 0), (1, 2)], {(0, 0): 0.5, (0, 1): 0.5, (1, 2): 0.9})
    [(1, 2), (0, 0), (0, 1)]
    """
    return sorted(candidates, key=lambda c: (-scores[c], c))


def greedy(runner: Runner, s: SearchSettings, pool: list[Address], bar: Progress, m: int) -> list[RoundResult]:
    """The greedy rounds.

    * ``exhaustive`` (the paper): each round scores every unselected head ``c`` as ``S + {c}`` at the
      full settings on all M pairs and adds the ``k`` best to ``S``.
    * ``screened``: when a round has more candidates than ``rerank``, it first scores them all at
      ``screen_steps`` on the first ``screen_prompts`` pairs, re-scores only the ``rerank`` best at
      the full settings and picks from those full scores; rounds after the first consider only the
      ``keep`` best-ranked unselected heads. ``priority`` orders every unselected head by the latest
      evidence about it (this round's full scores first, then this round's screening scores, then older
      rankings).
    """
    selected: list[Address] = []
    priority: list[Address] = list(pool)  # sorted by address before any evidence
    results: list[RoundResult] = []
    for r in range(1, s.rounds + 1):
        unselected = [c for c in priority if c not in selected]
        if s.strategy == "screened" and r > 1:
            unselected = unselected[: s.keep]
        candidates = sorted(unselected)
        base = tuple(selected)
        screened: dict[Address, float] = {}
        screen_order: list[Address] = []
        if s.strategy == "screened" and len(candidates) > s.rerank:
            bar.stage(f"round {r}/{s.rounds}", len(candidates) * s.screen_prompts + s.rerank * m + m)
            values = runner.evaluate(f"r{r}.screen", [base + (c,) for c in candidates], "screen", s.screen_steps)
            screened = dict(zip(candidates, values))
            screen_order = rank(candidates, screened)
            finalists = sorted(screen_order[: s.rerank])
        else:
            bar.stage(f"round {r}/{s.rounds}", len(candidates) * m + m)
            finalists = candidates
        values = runner.evaluate(f"r{r}.full", [base + (c,) for c in finalists], "search", s.steps)
        full = dict(zip(finalists, values))
        ranked = rank(finalists, full)
        added = tuple(ranked[: s.per_round])
        selected.extend(added)
        set_score = runner.evaluate(f"r{r}.set", [tuple(selected)], "search", s.steps)[0]
        seen = set(ranked) | set(screen_order)
        priority = ranked[s.per_round :] + [c for c in screen_order if c not in full] + [
            c for c in priority if c not in seen and c not in selected
        ]
        results.append(
            RoundResult(round=r, added=added, heads=tuple(selected), score=set_score, candidates=full, screened=screened)
        )
        logger.info("round %d/%d: added %s, score %.4g", r, s.rounds, [list(a) for a in added], set_score)
        if bar.enabled:
            left = estimate_images(s, len(pool), m, len(runner.pairs["heldout"]), done_rounds=r)
            bar.retotal(bar.overall.n + left)
    return results


def estimate_images(s: SearchSettings, pool: int, m: int, heldout: int, done_rounds: int = 0) -> int:
    """Images left to generate once ``done_rounds`` rounds are done (0: the whole run, baseline included).

    ``s`` is resolved (`SearchSettings.resolved`); ``pool``, ``m`` and ``heldout`` are the
    numbers of candidate heads, search pairs and held-out pairs.
    """
    total = m if done_rounds == 0 else 0  # the unguided baseline
    remaining = pool - done_rounds * s.per_round
    for r in range(done_rounds, s.rounds):
        cands = remaining if (s.strategy == "exhaustive" or r == 0) else min(s.keep, remaining)
        if s.strategy == "screened" and cands > s.rerank:
            total += cands * s.screen_prompts + s.rerank * m
        else:
            total += cands * m
        total += m
        remaining -= s.per_round
    return total + (s.rounds + 1) * heldout
