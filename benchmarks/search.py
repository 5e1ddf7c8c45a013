"""Exhaustive (the paper's greedy) vs screened head search, on a random-weight SD3 with a 64-head pool.

    python benchmarks/search.py                 # defaults below; about 2-3 minutes on 2 CPU cores
    python benchmarks/search.py --rounds 4 --per-round 2 --heldout 20

The model is the tiny offline SD3 pipeline (stylehunt.tiny) with a wider transformer: 4 joint
blocks x 16 heads (head dim 8), so the pool has 64 heads. The objective is deterministic and
weight-free (``warmth`` by default: mean R - B of the image). Random weights make the images noise-
like, but a head's effect on the objective is systematic: across disjoint prompt sets the per-head
effects correlate at about 0.95 for warmth (0.9 for brightness), so the held-out gain measures
something real.

Both strategies run with the same settings, prompts and seeds; the held-out prompts are disjoint
from the search prompts. Printed, in one run: transformer forward rows and wall time of the search
(held-out evaluation excluded; it is the same for both), both final objectives on the held-out
prompts, and the ratios. The target is >= 5x fewer forward rows at >= 95% of the exhaustive
strategy's held-out objective gain.
"""

from __future__ import annotations

import argparse
import logging
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--objective", default="warmth")
    parser.add_argument("--prompts", type=int, default=5, help="M search prompts")
    parser.add_argument("--heldout", type=int, default=10, help="held-out prompts (disjoint)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-round", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--scale", type=float, default=3.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--screen-steps", type=int, default=None)
    parser.add_argument("--screen-prompts", type=int, default=None)
    parser.add_argument("--rerank", type=int, default=None)
    parser.add_argument("--keep", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0, help="model weights seed")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")

    from stylehunt.prompts import load_prompts
    from stylehunt.headhunter import search

    pipe = build_pipeline(args.layers, args.heads, args.seed)
    search_set, heldout_set = load_prompts("default").split(args.prompts, args.heldout, seed=0)
    common = dict(
        heldout=heldout_set, rounds=args.rounds, per_round=args.per_round, steps=args.steps,
        height=args.resolution, width=args.resolution, scale=args.scale, batch_size=args.batch_size,
        model_id="benchmark/random-sd3", progress=False,
    )
    screened_knobs = dict(screen_steps=args.screen_steps, screen_prompts=args.screen_prompts,
                          rerank=args.rerank, keep=args.keep)
    results, walls = {}, {}
    for strategy in ("exhaustive", "screened"):
        extra = screened_knobs if strategy == "screened" else {}
        t0 = time.perf_counter()
        results[strategy] = search(pipe, args.objective, search_set, strategy=strategy, **common, **extra)
        walls[strategy] = time.perf_counter() - t0

    ex, sc = results["exhaustive"], results["screened"]
    s = sc.settings
    pool = args.layers * args.heads
    print(f"model: random-weight SD3, {args.layers} layers x {args.heads} heads = pool of {pool} heads; "
          f"{args.resolution} px, {args.steps} steps, w={args.scale:g}, u=1, no CFG")
    print(f"search: M={args.prompts} prompts, R={args.rounds}, k={args.per_round}; objective {args.objective!r}; "
          f"{args.heldout} held-out prompts")
    print(f"screened knobs: screen_steps={s.screen_steps}, screen_prompts={s.screen_prompts}, "
          f"rerank={s.rerank}, keep={s.keep}")
    print()
    print(f"{'strategy':<11} {'forward rows':>12} {'search s':>9} {'total s':>8} {'search obj':>11} "
          f"{'held-out obj':>12} {'held-out gain':>13}  heads")
    for name, r in results.items():
        heads = " ".join(f"{l}:{h}" for l, h in r.heads)
        print(f"{name:<11} {r.search_rows:>12} {r.search_seconds:>9.1f} {walls[name]:>8.1f} {r.rounds[-1].score:>11.6f} "
              f"{r.heldout_score:>12.6f} {r.heldout_gain:>+13.6f}  {heads}")
    print(f"{'no guidance':<11} {'':>12} {'':>9} {'':>8} {ex.baseline:>11.6f} {ex.heldout_baseline:>12.6f}")
    print()
    rows = ex.search_rows / sc.search_rows
    wall = ex.search_seconds / sc.search_seconds
    gain = sc.heldout_gain / ex.heldout_gain if ex.heldout_gain else float("nan")
    overlap = len(set(ex.heads) & set(sc.heads))
    print(f"screened vs exhaustive: {rows:.2f}x fewer forward rows, {wall:.2f}x less search wall time, "
          f"held-out gain {100 * gain:.1f}% of exhaustive; {overlap}/{len(ex.heads)} heads in common")
    met = rows >= 5 and gain >= 0.95
    print(f"target (>= 5x fewer rows at >= 95% of the held-out gain): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
