"""Evaluating head sets: phases of jobs, cut into units, recorded in the run state, spread over processes.

`Runner` scores head sets phase by phase (a round's screening, its full scoring, its set, the held-out
evaluation); `Progress` draws the bars.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, Callable

import torch

from ..errors import SearchError
from .settings import HeadSet

if TYPE_CHECKING:  # pragma: no cover
    from .distribution import Distributed
    from .sampler import Sampler
    from .store import RunStore

__all__ = ["Progress", "Runner"]


class Progress:
    """An overall bar (with ETA) and a per-round bar, on the main process and a terminal only."""

    def __init__(self, enabled: bool, total: int):
        self.enabled = enabled
        self.overall = None
        self.current = None
        if enabled:
            from tqdm.auto import tqdm

            self._tqdm = tqdm
            self.overall = tqdm(total=total, desc="search", unit="img", position=0, dynamic_ncols=True)

    def stage(self, desc: str, total: int) -> None:
        if not self.enabled:
            return
        if self.current is not None:
            self.current.close()
        self.current = self._tqdm(total=total, desc=desc, unit="img", position=1, leave=False, dynamic_ncols=True)

    def update(self, n: int) -> None:
        if self.enabled:
            self.overall.update(n)
            if self.current is not None:
                self.current.update(n)

    def retotal(self, total: int) -> None:
        if self.enabled and total != self.overall.total:
            self.overall.total = total
            self.overall.refresh()

    def close(self) -> None:
        if self.enabled:
            if self.current is not None:
                self.current.close()
            self.overall.close()


class Runner:
    """Scores head sets on named pair lists; keeps forward rows, block-rows and seconds per stage."""

    def __init__(self, sampler: Sampler, objective: Callable, store: RunStore, dist: Distributed,
                 pairs: dict[str, list[tuple[str, int]]], progress: Progress):
        self.sampler = sampler
        self.objective = objective
        self.store = store
        self.dist = dist
        self.pairs = pairs
        self.progress = progress
        self.rows: dict[str, int] = {}
        self.block_rows: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    def evaluate(self, phase: str, sets: list[HeadSet], pairs_name: str, steps: int) -> list[float]:
        """Mean objective of each head set over the pairs ``pairs_name``."""
        per_pair = self.evaluate_pairs(phase, sets, pairs_name, steps)
        return [sum(v) / len(v) for v in per_pair]

    def evaluate_pairs(self, phase: str, sets: list[HeadSet], pairs_name: str, steps: int) -> list[list[float]]:
        """``out[set][pair]``: the objective of every job of the phase, computing only unrecorded units.

        The phase's jobs, one per (head set, prompt-seed pair), are cut into units of ``batch_size`` jobs.
        Units already in the run state are taken from it; the others are generated, scored, recorded and
        saved, one wave of ``num_processes`` units at a time.
        """
        pairs = self.pairs[pairs_name]
        batch = self.sampler.settings.batch_size
        recorded = self.store.data["phases"].get(phase)
        order = recorded.get("order", "candidate") if recorded is not None else "pair"
        # Pair-major, a unit holds several head sets on the same prompt and seed, whose conditional rows are
        # identical at the first denoising step and are computed once (the engine shares identical rows).
        if order == "pair":
            jobs = [(s, p) for p in range(len(pairs)) for s in range(len(sets))]
        else:
            jobs = [(s, p) for s in range(len(sets)) for p in range(len(pairs))]
        # The cut depends on the settings alone, so a unit holds the same images in a single process, on any
        # rank of a distributed run, and after a resume (a phase recorded candidate-major by an earlier
        # version keeps its order).
        units = [jobs[i : i + batch] for i in range(0, len(jobs), batch)]
        meta = self.store.phase(phase, sets, pairs_name, steps, batch, [len(u) for u in units], order)
        stage = phase.rsplit(".", 1)[-1]
        pending = [i for i in range(len(units)) if str(i) not in meta["units"]]
        done = len(jobs) - sum(len(units[i]) for i in pending)
        if done:
            self.progress.update(done)
        n = self.dist.num_processes
        for start in range(0, len(pending), n):
            wave = pending[start : start + n]

            def run(index: int) -> dict[str, Any]:
                unit = units[index]
                before, blocks, t0 = self.sampler.rows, self.sampler.block_rows, time.perf_counter()
                images = self.sampler.generate([sets[s] for s, _ in unit], [pairs[p] for _, p in unit], steps)
                scores = self._score(images, [pairs[p][0] for _, p in unit], phase, [sets[s] for s, _ in unit])
                return {
                    "unit": index,
                    "scores": scores,
                    "rows": self.sampler.rows - before,
                    "block_rows": round(self.sampler.block_rows - blocks, 4),
                    "seconds": round(time.perf_counter() - t0, 4),
                    "process": self.dist.process_index,
                }

            results = self.dist.map(wave, run)
            for res in results:
                meta["units"][str(res["unit"])] = {k: res[k] for k in ("scores", "rows", "block_rows", "seconds", "process")}
                self.rows[stage] = self.rows.get(stage, 0) + res["rows"]
                self.block_rows[stage] = self.block_rows.get(stage, 0.0) + res["block_rows"]
                self.seconds[stage] = self.seconds.get(stage, 0.0) + res["seconds"]
            self.store.save()
            self.progress.update(sum(len(units[i]) for i in wave))
        out: list[list[float]] = [[math.nan] * len(pairs) for _ in sets]
        for i, unit in enumerate(units):
            scores = meta["units"][str(i)]["scores"]
            for (s, p), value in zip(unit, scores):
                out[s][p] = value
        return out

    def _score(self, images: list[Any], prompts: list[str], phase: str, sets: list[HeadSet]) -> list[float]:
        with torch.no_grad():
            raw = self.objective(images, prompts)
        values = torch.as_tensor(raw, dtype=torch.float64).flatten().tolist() if not isinstance(raw, list) else [float(x) for x in raw]
        if len(values) != len(images):
            raise SearchError(f"the objective returned {len(values)} scores for {len(images)} images (phase {phase})")
        for value, heads in zip(values, sets):
            if not math.isfinite(value):
                raise SearchError(
                    f"the objective returned {value} for head set {[list(h) for h in heads]} (phase {phase}); "
                    "scores must be finite to be ranked",
                )
        return values

    def account_recorded(self) -> None:
        """Add the rows and seconds of units recorded by an earlier run (on resume) to the totals."""
        for name, meta in self.store.data["phases"].items():
            stage = name.rsplit(".", 1)[-1]
            for entry in meta["units"].values():
                self.rows[stage] = self.rows.get(stage, 0) + int(entry.get("rows", 0))
                # units recorded before block-rows were counted computed every row through every block
                self.block_rows[stage] = self.block_rows.get(stage, 0.0) + float(entry.get("block_rows", entry.get("rows", 0)))
                self.seconds[stage] = self.seconds.get(stage, 0.0) + float(entry.get("seconds", 0.0))
