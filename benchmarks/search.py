"""The cheap (screened) head search against the paper's exhaustive greedy as it ran before the shared prefix.

    python benchmarks/search.py                 # 3 model seeds x 2 objectives
    python benchmarks/search.py --seeds 0 --objectives warmth     # one run
    python benchmarks/search.py --jobs 2 --threads 1               # side by side on 2 cores: 23-26 minutes

The model is the tiny offline SD3 pipeline (stylehunt.tiny) with a deeper transformer: 16 joint
blocks x 4 heads (head dim 8), so the pool has 64 heads spread over 16 blocks, as a real model's
are spread over its depth. Each model seed gives other random weights. The objectives are
deterministic and weight-free (``warmth``: mean R - B; ``brightness``). Random weights make the
images noise-like, but a head's effect on such an objective is systematic across prompts, so the
held-out gain measures something real.

Per run, the same settings, prompts and seeds for both strategies (held-out prompts disjoint from
the search prompts, never used to choose anything):

* ``exhaustive``, with ``share_prefix=False``: every row through every block, as before;
* ``screened`` (its default knobs), with the engine's sharing on: perturbed rows from their first
  head's block on, and the first step's conditional row shared by the candidates of a pair.

Work is counted in block-rows (transformer blocks computed / blocks per row), next to forward rows
and wall time of the search (held-out evaluation excluded; it is the same for both). Printed: each
run's figures and the median over runs of the block-row ratio and of the held-out gain ratio. The
target: >= 10x fewer block-rows at >= 95% of the exhaustive search's held-out gain.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time


def build_pipeline(layers: int, heads: int, seed: int):
    """The tiny SD3 pipeline with a ``layers x heads`` transformer (head dim 8), random weights."""
    import torch
    from diffusers import SD3Transformer2DModel, StableDiffusion3Pipeline

    from stylehunt.tiny import build_tiny_pipeline

    base = build_tiny_pipeline("sd3", seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed * 1000 + 17)
        transformer = SD3Transformer2DModel(
            sample_size=32, patch_size=1, in_channels=16, out_channels=16, num_layers=layers,
            attention_head_dim=8, num_attention_heads=heads, caption_projection_dim=8 * heads,
            joint_attention_dim=64, pooled_projection_dim=64, pos_embed_max_size=96,
        ).eval()
    pipe = StableDiffusion3Pipeline(**{**base.components, "transformer": transformer})
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run_one(args: argparse.Namespace, seed: int, objective: str) -> list[dict]:
    """Both strategies on one model seed and objective: each one's figures."""
    import torch

    from stylehunt.headhunter import search
    from stylehunt.prompts import load_prompts

    if args.threads:
        torch.set_num_threads(args.threads)
    search_set, heldout_set = load_prompts("default").split(args.prompts, args.heldout, seed=0)
    common = dict(
        heldout=heldout_set, rounds=args.rounds, per_round=args.per_round, steps=args.steps,
        height=args.resolution, width=args.resolution, scale=args.scale, batch_size=args.batch_size,
        model_id="benchmark/random-sd3", progress=False,
    )
    pipe = build_pipeline(args.layers, args.heads, seed)
    out = []
    for strategy, share in (("exhaustive", False), ("screened", True)):
        t0 = time.perf_counter()
        r = search(pipe, objective, search_set, strategy=strategy, share_prefix=share, **common)
        out.append(dict(
            strategy=strategy, rows=r.search_rows, block_rows=r.search_block_rows, seconds=r.search_seconds,
            gain=r.heldout_gain, heads=" ".join(f"{l}:{h}" for l, h in r.heads), total=time.perf_counter() - t0,
        ))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The model, search settings and runs of the benchmark (shared with search_variants.py)."""
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="model weight seeds")
    parser.add_argument("--objectives", nargs="+", default=["warmth", "brightness"])
    parser.add_argument("--prompts", type=int, default=5, help="M search prompts")
    parser.add_argument("--heldout", type=int, default=10, help="held-out prompts (disjoint from the search prompts)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-round", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--scale", type=float, default=3.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs (seed x objective) side by side in this many processes; both strategies of a run "
                             "always share one process, so their times compare")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per process (0: torch's default)")


def map_runs(fn, args: argparse.Namespace, runs: list[tuple[int, str]]) -> list:
    """``fn(args, seed, objective)`` for every run, in ``args.jobs`` spawned processes when > 1."""
    if args.jobs <= 1:
        return [fn(args, seed, objective) for seed, objective in runs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as ex:
        return list(ex.map(fn, [args] * len(runs), *zip(*runs)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")

    pool = args.layers * args.heads
    print(f"model: random-weight SD3, {args.layers} blocks x {args.heads} heads = pool of {pool} heads; "
          f"{args.resolution} px, {args.steps} steps, w={args.scale:g}, u=1, no CFG")
    print(f"search: M={args.prompts} prompts, R={args.rounds}, k={args.per_round}, batch {args.batch_size}; "
          f"{args.heldout} held-out prompts; screened with its default knobs; {args.jobs} process(es)")
    print()
    runs = [(seed, objective) for seed in args.seeds for objective in args.objectives]
    figures = map_runs(run_one, args, runs)
    print(f"{'seed':>4} {'objective':<10} {'strategy':<11} {'fwd rows':>9} {'block-rows':>11} {'search s':>9} "
          f"{'held-out gain':>13}  heads")
    ratios, gains, walls = [], [], []
    for (seed, objective), (ex, sc) in zip(runs, figures):
        for r in (ex, sc):
            print(f"{seed:>4} {objective:<10} {r['strategy']:<11} {r['rows']:>9} {r['block_rows']:>11.1f} "
                  f"{r['seconds']:>9.1f} {r['gain']:>+13.6f}  {r['heads']}   (total {r['total']:.0f} s)")
        ratio = ex["block_rows"] / sc["block_rows"]
        gain = sc["gain"] / ex["gain"] if ex["gain"] else float("nan")
        wall = ex["seconds"] / sc["seconds"]
        ratios.append(ratio)
        gains.append(gain)
        walls.append(wall)
        print(f"{'':>4} {'':<10} screened vs exhaustive: {ratio:.2f}x fewer block-rows "
              f"({ex['rows'] / sc['rows']:.2f}x fewer forward rows, {wall:.2f}x less search time), "
              f"held-out gain {100 * gain:.1f}%")
    print()
    print(f"over {len(ratios)} runs: block-rows ratio median {statistics.median(ratios):.2f}x "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f}); held-out gain median {100 * statistics.median(gains):.1f}% "
          f"(min {100 * min(gains):.1f}%, max {100 * max(gains):.1f}%); search time ratio median {statistics.median(walls):.2f}x")
    met = statistics.median(ratios) >= 10 and statistics.median(gains) >= 0.95
    print(f"target (median >= 10x fewer block-rows at >= 95% of the held-out gain): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
