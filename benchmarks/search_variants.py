"""The screened strategy's knobs against the exhaustive greedy, on search-set evidence only.

    python benchmarks/search_variants.py --jobs 2 --threads 1     # 3 seeds x 2 objectives, ~25 min on 2 cores

The model, prompts and settings are those of ``benchmarks/search.py``. Per run (model seed x
objective), every (head set, steps, prompt-seed pair) image either strategy asks for is generated
once and cached, so the exhaustive greedy and every variant of the screened one (``screen_steps`` x
``keep`` x ``rerank``) run the library's own rounds (:func:`stylehunt.headhunter.strategies.greedy`)
over the same evaluations. Held-out prompts are never generated: this is the evidence the defaults
are chosen on, not the benchmark's held-out gain.

Printed per variant: its final set's search-set gain (its score less the unguided baseline's) as a
share of the exhaustive search's, and its cost in block-rows by the cost model of docs/search.md
(per image and step: the conditional row, plus ``(N - L) / N`` for a perturbed row whose earliest
head is in block ``L``; at the first step one conditional row per prompt-seed pair and unit), against
the exhaustive search as it ran before the shared prefix (every row through every block). Then, per
variant, the median and the minimum over runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import itertools
import math
import statistics
from pathlib import Path

SCREEN_STEPS = (1, 2)
KEEP_PER_K = (4, 8, None)  # None: every unselected head, every round
RERANK_PER_K = (1.5, 2, 2.5, 3)


def _bench():
    spec = importlib.util.spec_from_file_location("search_bench", Path(__file__).with_name("search.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CachedRunner:
    """Stands in for the search's Runner in the greedy rounds: every image is generated once, and work is costed."""

    def __init__(self, runner, blocks: int, batch: int):
        self.runner = runner
        self.pairs = runner.pairs
        self.blocks = blocks
        self.batch = batch
        self.scores: dict = {}
        self.phases = itertools.count()
        self.cost = 0.0

    def first_block(self, heads) -> int:
        return min((layer for layer, _ in heads), default=self.blocks)

    def evaluate(self, phase: str, sets, pairs_name: str, steps: int) -> list[float]:
        pairs = self.pairs[pairs_name]
        todo = list(dict.fromkeys(tuple(sorted(s)) for s in sets
                                  if any((tuple(sorted(s)), steps, tuple(p)) not in self.scores for p in pairs)))
        if todo:
            values = self.runner.evaluate_pairs(f"v{next(self.phases)}", todo, pairs_name, steps)
            for heads, per_pair in zip(todo, values):
                for pair, value in zip(pairs, per_pair):
                    self.scores[(heads, steps, tuple(pair))] = value
        jobs = [(s, p) for p in range(len(pairs)) for s in sets]  # pair-major, as the runner cuts them
        for i in range(0, len(jobs), self.batch):
            unit = jobs[i : i + self.batch]
            self.cost += len({p for _, p in unit})  # the first step's shared conditional row
            for heads, _ in unit:
                perturbed = (self.blocks - self.first_block(heads)) / self.blocks
                self.cost += steps * (1 + perturbed) - 1
        return [statistics.fmean(self.scores[(tuple(sorted(s)), steps, tuple(p))] for p in pairs) for s in sets]


def analyse(args: argparse.Namespace, seed: int, objective: str) -> list[tuple[str, str, float, float]]:
    """``(variant, heads, block-rows, set score less baseline)`` for the exhaustive search and every variant."""
    import torch

    import stylehunt.headhunter.hunt as hunt
    from stylehunt.headhunter import search
    from stylehunt.headhunter.runner import Progress
    from stylehunt.headhunter.strategies import greedy
    from stylehunt.prompts import load_prompts

    if args.threads:
        torch.set_num_threads(args.threads)
    rows: list[tuple[str, str, float, float]] = []

    def variants(runner, s, pool, bar, m):
        cached = CachedRunner(runner, args.layers, args.batch_size)
        baseline = cached.evaluate("baseline", [()], "search", s.steps)[0]
        k = s.per_round
        runs = [("exhaustive (shared prefix)", dataclasses.replace(s, strategy="exhaustive"))]
        for steps, keep, rerank in itertools.product(SCREEN_STEPS, KEEP_PER_K, RERANK_PER_K):
            knobs = dict(screen_steps=steps, keep=len(pool) if keep is None else keep * k, rerank=max(k, math.ceil(rerank * k)))  # as resolved() rounds
            name = f"screened s={steps} keep={'all' if keep is None else f'{keep}k'} rerank={rerank:g}k"
            runs.append((name, dataclasses.replace(s, strategy="screened", screen_prompts=m, **knobs)))
        kept = None
        for name, settings in runs:
            cached.cost = 0.0
            results = greedy(cached, settings, pool, Progress(False, 0), m)
            kept = kept or results  # the exhaustive search's rounds go back to search()
            cost = cached.cost + m * s.steps  # the unguided baseline: one row per step
            heads = " ".join(f"{l}:{h}" for l, h in results[-1].heads)
            rows.append((name, heads, cost, results[-1].score - baseline))
        return kept

    search_set, _ = load_prompts("default").split(args.prompts, args.heldout, seed=0)
    hunt.greedy = variants
    search(_bench().build_pipeline(args.layers, args.heads, seed), objective, search_set, strategy="screened",
           rounds=args.rounds, per_round=args.per_round, steps=args.steps, height=args.resolution,
           width=args.resolution, scale=args.scale, batch_size=args.batch_size, model_id="benchmark/random-sd3",
           progress=False)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bench = _bench()
    bench.add_arguments(parser)
    args = parser.parse_args()

    runs = [(seed, objective) for seed in args.seeds for objective in args.objectives]
    results = bench.map_runs(analyse, args, runs)

    pool = args.layers * args.heads
    exhaustive_before = args.prompts * args.steps * (1 + 2 * args.rounds + 2 * sum(
        pool - r * args.per_round for r in range(args.rounds)))
    print(f"{args.layers} blocks x {args.heads} heads, {args.steps} steps, M={args.prompts}, R={args.rounds}, "
          f"k={args.per_round}; exhaustive as before the shared prefix: {exhaustive_before} block-rows")
    table: dict[str, list[tuple[float, float]]] = {}
    for (seed, objective), rows in zip(runs, results):
        print(f"\nseed {seed}, {objective}")
        print(f"  {'variant':<36} {'block-rows':>10} {'fewer':>7} {'search gain':>12}  heads")
        gain_ex = rows[0][3]
        for name, heads, cost, gain in rows:
            share = gain / gain_ex if gain_ex else float("nan")
            table.setdefault(name, []).append((exhaustive_before / cost, share))
            print(f"  {name:<36} {cost:>10.1f} {exhaustive_before / cost:>6.2f}x {100 * share:>11.1f}%  {heads}")
    print(f"\nover {len(runs)} runs (median; min)")
    print(f"  {'variant':<36} {'fewer block-rows':>18} {'search-set gain':>18}")
    for name, values in table.items():
        ratios, shares = [v[0] for v in values], [v[1] for v in values]
        print(f"  {name:<36} {statistics.median(ratios):>9.2f}x; {min(ratios):5.2f}x "
              f"{100 * statistics.median(shares):>9.1f}%; {100 * min(shares):5.1f}%")


if __name__ == "__main__":
    main()
