"""What stylehunt's head guidance costs, measured side by side in one run.

1. ``prefix``: a tiny SD3 of realistic depth (``--blocks`` 24 blocks x 4 heads x head dim 8, the
   tiny model's other sizes) at 256 px (1024 image tokens), CFG on, one image. For each depth L in
   ``--depths``: the step time of a preset on every head of block L (identity="joint"; its
   perturbed row runs from block L on: the shared prefix) and of diffusers'
   ``StableDiffusion3PAGPipeline`` on the same block, against the plain pipeline. Beside each
   ours/PAG ratio, the ideal ``(2 + (N-L)/N) / 3``: PAG runs three rows through all N blocks, ours two
   rows through N blocks and the perturbed row through the last N-L (and beside ours/plain, its
   ideal ``(2 + (N-L)/N) / 2``).
2. ``memory``: peak tensor memory of one guided transformer forward (the pipeline's own call,
   captured at step 1) against the plain forward of the same rows, the perturbed copy included,
   without perturbed heads: every storage an op allocates is counted until it is freed (weights
   excluded), so the ratio is exact on CPU where no allocator statistics exist. Also printed: the
   plain forward of the pipeline's own rows only.
3. ``families``: for every tiny family, the step time with a one-head preset in the first block
   against the plain pipeline, CFG on where the family has it, next to the floor
   (plain rows + perturbed rows) / plain rows.
4. ``backends``: tiny FLUX.1 (its processors go through diffusers' attention dispatch) at
   ``--backend-size`` px, CFG on, for each diffusers attention backend in ``--backends`` (those
   that run on this CPU by default): the step time with a preset on every head of block 0 against
   the same backend plain, the ratio the median of each run's own ratio, beside the row ideal
   (plain rows + 1) / plain rows (the perturbed row runs through every block), and beside the same
   ideal from the backend's own cost of one more row (its plain transformer forward timed on the
   call's rows and one more): CPU math attention grows faster than its batch.

Step times exclude prompt encoding and decoding: ``(t(steps) - t(1)) / (steps - 1)`` on interleaved
runs, median over repeats; the prefix section's ratios are the median of each run's own ratio.

Times run on one torch thread by default (``--threads``): a row then costs the same in a batch of
two as in a batch of three, which the row-count ideals assume. With torch's default threads (2 on
this machine) a batch of three rows uses the two cores better than a batch of two, so PAG runs
below its own ideal (measured 1.41x of the plain pipeline, not 1.5x) and ours/PAG reads high.

Run:  .venv/bin/python benchmarks/overhead.py [--repeats 5] [--steps 6] [--section all] [--threads 1]
      .venv/bin/python benchmarks/overhead.py --section backends [--backends native flex] [--backend-size 256]
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import time
import warnings
import weakref

import torch
from diffusers import StableDiffusion3PAGPipeline
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import stylehunt
from stylehunt.engine.families import adapter_for_pipeline
from stylehunt.tiny import TINY_FAMILIES, load_tiny_pipeline

PROMPT = "a lighthouse at dusk"


class PeakTensorMemory(TorchDispatchMode):
    """Peak bytes of live tensor storages allocated inside the block."""

    def __init__(self):
        super().__init__()
        self.live = self.peak = 0
        self.storages: set[int] = set()

    def _free(self, key: int, nbytes: int) -> None:
        self.storages.discard(key)
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                key, nbytes = storage.data_ptr(), storage.nbytes()
                if nbytes == 0 or key in self.storages:
                    continue  # a view of something already counted
                self.storages.add(key)
                self.live += nbytes
                self.peak = max(self.peak, self.live)
                weakref.finalize(storage, self._free, key, nbytes)
        return out


def call_time(pipe, steps: int, **kwargs) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        pipe(prompt=PROMPT, num_inference_steps=steps, output_type="latent",  # by name: FLUX.2 takes `image` first
             generator=torch.Generator().manual_seed(0), **kwargs)
    return time.perf_counter() - start


def step_time(pipe, steps: int, **kwargs) -> float:
    """Seconds per denoising step, without the per-call work (prompt encoding, set-up)."""
    return (call_time(pipe, steps, **kwargs) - call_time(pipe, 1, **kwargs)) / (steps - 1)


def forward_time(pipe, kwargs: dict, steps: int) -> float:
    """Seconds per plain transformer forward on ``kwargs`` (``steps`` forwards, as a step time is taken)."""
    with torch.no_grad():
        start = time.perf_counter()
        for _ in range(steps):
            pipe.transformer(**kwargs)
    return (time.perf_counter() - start) / steps


def guided(pipe, preset, **apply_kwargs):
    def run(steps: int, **kwargs) -> float:
        stylehunt.apply(pipe, preset, **apply_kwargs)
        try:
            return step_time(pipe, steps, **kwargs)
        finally:
            stylehunt.remove(pipe)
    return run


def interleaved_runs(contenders: dict, repeats: int, steps: int) -> dict[str, list[float]]:
    """Each contender's step time in every repeat; a repeat runs every contender once, in turn."""
    for fn in contenders.values():  # warm-up
        fn(2)
    times = {name: [] for name in contenders}
    for _ in range(repeats):  # interleaved, so drifts in machine load hit every contender alike
        for name, fn in contenders.items():
            times[name].append(fn(steps))
    return times


def interleaved(contenders: dict, repeats: int, steps: int) -> dict[str, float]:
    return {name: statistics.median(v) for name, v in interleaved_runs(contenders, repeats, steps).items()}


def paired(a: list[float], b: list[float]) -> float:
    """Median over repeats of a/b, each repeat's two times taken back to back (drifts in load cancel)."""
    return statistics.median(x / y for x, y in zip(a, b))


def spread(a: list[float], b: list[float]) -> str:
    """min-max over repeats of the ratio a/b, each repeat's times taken side by side."""
    ratios = [x / y for x, y in zip(a, b)]
    return f"{min(ratios):.3f}-{max(ratios):.3f}"


def deep_sd3(blocks: int):
    """The tiny SD3 pipeline with a ``blocks``-block transformer of the same sizes (seeded weights)."""
    pipe = load_tiny_pipeline("sd3")
    config = {**pipe.transformer.config, "num_layers": blocks}
    torch.manual_seed(0)
    pipe.transformer = type(pipe.transformer).from_config(config)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def block_preset(grid, layer: int) -> stylehunt.Preset:
    return stylehunt.Preset(heads=[(layer, h) for h in range(grid.layers[layer].heads)], strength=1.0, name=f"block{layer}")


def prefix_section(args) -> None:
    pipe = deep_sd3(args.blocks)
    grid = stylehunt.head_grid(pipe)
    n = args.blocks
    call = dict(guidance_scale=4.0, height=256, width=256)
    contenders = {"plain": lambda steps: step_time(pipe, steps, **call)}
    for depth in args.depths:
        pag = StableDiffusion3PAGPipeline.from_pipe(pipe, pag_applied_layers=[f"blocks.{depth}"])
        pag.set_progress_bar_config(disable=True)
        contenders[f"ours L={depth}"] = (lambda p: lambda steps: p(steps, **call))(guided(pipe, block_preset(grid, depth), scale=3.0))
        contenders[f"pag L={depth}"] = (lambda q: lambda steps: step_time(q, steps, pag_scale=3.0, **call))(pag)
    runs = interleaved_runs(contenders, args.repeats, args.steps)
    tokens = (256 // pipe.vae_scale_factor // pipe.transformer.config.patch_size) ** 2
    print(f"[prefix] tiny SD3, {n} blocks x {grid.heads_per_layer[0]} heads, 256 px: {tokens} image tokens; CFG 4.0, "
          f"1 image; {args.steps} steps; {args.repeats} interleaved runs, times their medians, ratios the median of each "
          f"run's ratio; torch threads {torch.get_num_threads()}")
    print(f"  plain StableDiffusion3Pipeline          {statistics.median(runs['plain']) * 1e3:8.2f} ms/step")
    print(f"  {'L':>3} {'ours ms':>9} {'PAG ms':>9} {'ours/plain':>11} {'ideal':>6} {'PAG/plain':>10} {'ours/PAG':>9} "
          f"{'ideal':>7} {'/ideal':>7}  ours/PAG over repeats")
    worst_ideal, worst_late = 0.0, 0.0
    for depth in args.depths:
        ours, pag = runs[f"ours L={depth}"], runs[f"pag L={depth}"]
        ideal = (2 + (n - depth) / n) / 3  # PAG runs 3 rows through N blocks; ours 2 + 1 through N - L
        ratio = paired(ours, pag)
        worst_ideal = max(worst_ideal, ratio / ideal)
        if depth >= n // 2:
            worst_late = max(worst_late, ratio)
        print(f"  {depth:>3} {statistics.median(ours) * 1e3:9.2f} {statistics.median(pag) * 1e3:9.2f} "
              f"{paired(ours, runs['plain']):11.3f} {(2 + (n - depth) / n) / 2:6.3f} {paired(pag, runs['plain']):10.3f} "
              f"{ratio:9.3f} {ideal:7.3f} {ratio / ideal:7.3f}  "
              f"{spread(runs[f'ours L={depth}'], runs[f'pag L={depth}'])}")
    print(f"prefix: worst (ours/PAG) / ideal over L: {worst_ideal:.3f}  (target <= 1.05)")
    if any(d >= n // 2 for d in args.depths):
        print(f"prefix: worst ours/PAG for L >= {n // 2}: {worst_late:.3f}  (target <= 0.90)")


def first_forward_peak(pipe, **call) -> int:
    """Peak tensor memory of the first transformer call of a one-step pipeline call (guided or not)."""
    meter = PeakTensorMemory()
    state = {"calls": 0}

    def enter(module, args, kwargs):
        state["calls"] += 1
        if state["calls"] == 1:
            meter.__enter__()

    def leave(module, args, kwargs, out):
        if state["calls"] == 1:
            meter.__exit__(None, None, None)

    handles = [pipe.transformer.register_forward_pre_hook(enter, with_kwargs=True),
               pipe.transformer.register_forward_hook(leave, with_kwargs=True)]
    try:
        with torch.no_grad():
            pipe(PROMPT, num_inference_steps=1, output_type="latent", **call)
    finally:
        for handle in handles:
            handle.remove()
    return meter.peak


def memory_section(args) -> None:
    pipe = deep_sd3(args.blocks)
    grid = stylehunt.head_grid(pipe)
    call = dict(guidance_scale=4.0, height=256, width=256)
    recorded = []
    handle = pipe.transformer.register_forward_pre_hook(lambda m, a, kw: recorded.append(dict(kw)), with_kwargs=True)
    with torch.no_grad():
        pipe(PROMPT, num_inference_steps=1, output_type="latent", **call)
    handle.remove()
    own = first_forward_peak(pipe, **call)
    rows3 = {k: torch.cat([v, v[1:]]) if torch.is_tensor(v) and v.dim() and v.shape[0] == 2 else v
             for k, v in recorded[0].items()}
    meter = PeakTensorMemory()
    with torch.no_grad(), meter:
        pipe.transformer(**rows3)
    extended = meter.peak
    print(f"[memory] peak tensor memory of one transformer forward, tiny SD3 with {args.blocks} blocks, 256 px, CFG on:")
    print(f"  plain forward, the pipeline's 2 rows                  {own / 2**20:8.2f} MiB")
    print(f"  plain forward, 3 rows (the perturbed copy, no heads)  {extended / 2**20:8.2f} MiB")
    worst = 0.0
    for depth in args.depths:
        stylehunt.apply(pipe, block_preset(grid, depth), scale=3.0)
        try:
            peak = first_forward_peak(pipe, **call)
        finally:
            stylehunt.remove(pipe)
        worst = max(worst, peak / extended)
        print(f"  guided forward, preset at block {depth:<3}              {peak / 2**20:8.2f} MiB"
              f"  ({peak / extended:.3f} of 3-row plain, {peak / own:.3f} of 2-row plain)")
    print(f"memory ratio (guided / plain forward of the same rows, worst L): {worst:.3f}  (target <= 1.15)")


def family_call(family: str, pipe) -> dict:
    """The tiny family's call with its CFG on, where it has one (FLUX.1's true CFG needs a negative prompt;
    FLUX.2 takes none, and FLUX.2-dev's guidance_scale is embedded: one call per step)."""
    adapter = adapter_for_pipeline(pipe)
    call = {"height": 64, "width": 64}
    if adapter.cfg != "none" and not adapter.cfg_component:  # HunyuanVideo 1.5: its guider's scale (on by default)
        call[adapter.cfg_scale_arg] = 4.0
        if "negative_prompt" in inspect.signature(type(pipe).__call__).parameters:
            call["negative_prompt"] = "blurry"
    if "num_frames" in inspect.signature(type(pipe).__call__).parameters:  # video: 2 latent frames (Wan 5, LTX 9)
        call["num_frames"] = 1 + int(getattr(pipe, "vae_scale_factor_temporal", None)
                                     or getattr(pipe, "vae_temporal_compression_ratio", 4))
    call.update(adapter.call_args)  # what the family's guidance needs (LTX-2: its non-affine rescale off)
    return call


def rows_per_step(pipe, call: dict) -> int:
    """The rows one plain denoising step computes (2 under CFG, 1 without), counted where the family's
    denoisers first see them (the module the search counts at)."""
    adapter = adapter_for_pipeline(pipe)
    rows = []

    def count(module, args, kwargs):
        rows.append((args[0] if args else next(iter(kwargs.values()))).shape[0])

    denoisers = [getattr(pipe, name) for name in adapter.denoisers if getattr(pipe, name, None) is not None]
    handles = [getattr(d, adapter.input_embedder).register_forward_pre_hook(count, with_kwargs=True) for d in denoisers]
    try:
        call_time(pipe, 1, **call)
    finally:
        for handle in handles:
            handle.remove()
    return sum(rows)


def families_section(args) -> None:
    rows = []
    contenders = {}
    for family in TINY_FAMILIES:
        pipe = load_tiny_pipeline(family)
        pipe.set_progress_bar_config(disable=True)
        call = family_call(family, pipe)
        preset = stylehunt.Preset(heads=[(0, 0)], strength=1.0, name="first")
        contenders[f"{family} plain"] = (lambda p, c: lambda steps: step_time(p, steps, **c))(pipe, call)
        contenders[f"{family} ours"] = (lambda g, c: lambda steps: g(steps, **c))(guided(pipe, preset, scale=3.0), call)
        rows.append((family, rows_per_step(pipe, call)))
    median = interleaved(contenders, args.repeats, args.steps)
    print(f"[families] tiny pipelines at 64 px, one head in the first block (the whole perturbed row), CFG on where the "
          f"family has it; median of {args.repeats} interleaved runs, {args.steps} steps")
    print(f"  {'family':<10} {'plain ms':>9} {'ours ms':>9} {'ratio':>7} {'floor':>7}")
    for family, plain_rows in rows:
        plain, ours = median[f"{family} plain"], median[f"{family} ours"]
        print(f"  {family:<10} {plain * 1e3:9.2f} {ours * 1e3:9.2f} {ours / plain:7.3f} {(plain_rows + 1) / plain_rows:7.3f}")


#: diffusers attention backends that run on a CPU (the others need a GPU, an NPU/XLA device or a package)
CPU_BACKENDS = ("native", "_native_math", "_native_flash", "flex")


def backends_section(args) -> None:
    warnings.filterwarnings("ignore")  # flex in eager mode on the CPU warns on every call
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()  # set_attention_backend warns "experimental" on every switch
    pipe = load_tiny_pipeline("flux")
    pipe.set_progress_bar_config(disable=True)
    call = {**family_call("flux", pipe), "height": args.backend_size, "width": args.backend_size}
    grid = stylehunt.head_grid(pipe)
    preset = block_preset(grid, 0)

    def on(backend, fn):
        def timed(steps: int) -> float:
            pipe.transformer.set_attention_backend(backend)
            try:
                return fn(steps)
            finally:
                pipe.transformer.set_attention_backend("native")
        return timed

    recorded = []  # the first transformer call's arguments: one call's rows (FLUX.1's true CFG: 1 row, 2 calls)
    handle = pipe.transformer.register_forward_pre_hook(lambda m, a, kw: recorded.append(kw), with_kwargs=True)
    call_time(pipe, 1, **call)
    handle.remove()
    one = recorded[0]
    batch = one["hidden_states"].shape[0]
    more = {k: torch.cat([v, v[:1]]) if torch.is_tensor(v) and v.dim() and v.shape[0] == batch else v for k, v in one.items()}
    contenders = {}
    for backend in args.backends:
        for name, kwargs in ((f"{backend} forward {batch}", one), (f"{backend} forward {batch + 1}", more)):
            contenders[name] = on(backend, (lambda kw: lambda steps: forward_time(pipe, kw, steps))(kwargs))
        contenders[f"{backend} plain"] = on(backend, lambda steps: step_time(pipe, steps, **call))
        contenders[f"{backend} ours"] = on(backend, (lambda g: lambda steps: g(steps, **call))(guided(pipe, preset, scale=3.0)))
    plain_rows = rows_per_step(pipe, call)
    runs = interleaved_runs(contenders, args.repeats, args.steps)
    ideal = (plain_rows + 1) / plain_rows
    calls = plain_rows // batch
    print(f"[backends] tiny FLUX.1 ({grid.num_layers} attention layers), {args.backend_size} px, CFG on ({plain_rows} rows "
          f"per step), preset on every head of block 0; {args.steps} steps; {args.repeats} interleaved runs, times their "
          f"medians, ratios the median of each run's ratio; torch threads {torch.get_num_threads()}")
    print("  ideal: the row ideal (plain rows + 1) / plain rows; backend: the same from this backend's plain transformer\n"
          f"  forward timed on {batch} and {batch + 1} rows (a backend whose cost grows faster than its rows raises it)")
    print(f"  {'backend':<14} {'plain ms':>9} {'ours ms':>9} {'ours/plain':>11} {'ideal':>6} {'/ideal':>7} {'backend':>8} "
          f"{'/backend':>9}  ratio over repeats")
    worst = worst_own = 0.0
    for backend in args.backends:
        ours, plain = runs[f"{backend} ours"], runs[f"{backend} plain"]
        t1, t2 = (statistics.median(runs[f"{backend} forward {b}"]) for b in (batch, batch + 1))
        own = (t2 + t1 * (calls - 1)) / (t1 * calls)
        ratio = paired(ours, plain)
        worst, worst_own = max(worst, ratio / ideal), max(worst_own, ratio / own)
        print(f"  {backend:<14} {statistics.median(plain) * 1e3:9.2f} {statistics.median(ours) * 1e3:9.2f} {ratio:11.3f} "
              f"{ideal:6.3f} {ratio / ideal:7.3f} {own:8.3f} {ratio / own:9.3f}  {spread(ours, plain)}")
    print(f"backends: worst (ours/plain) / ideal: {worst:.3f}, / the backend's own row cost: {worst_own:.3f}  (target <= 1.05)")


SECTIONS = {"prefix": prefix_section, "memory": memory_section, "families": families_section, "backends": backends_section}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6, help="denoising steps per timed call (>= 2)")
    parser.add_argument("--blocks", type=int, default=24, help="transformer blocks of the deep tiny SD3")
    parser.add_argument("--depths", type=int, nargs="+", default=[0, 6, 12, 18], help="the block L of the preset")
    parser.add_argument("--section", choices=[*SECTIONS, "all"], nargs="+", default=["all"])
    parser.add_argument("--backends", nargs="+", default=list(CPU_BACKENDS),
                        help="diffusers attention backends for the backends section (default: those that run on a CPU)")
    parser.add_argument("--backend-size", type=int, default=256, help="image size (px) of the backends section")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (0: torch's default). At 1, a row costs the same in a batch of 2 as in a "
                             "batch of 3, as the row-count ideals assume; with more threads a bigger batch uses the "
                             "cores better, which flatters PAG's three rows")
    args = parser.parse_args()
    if args.steps < 2:
        parser.error(f"--steps must be at least 2 (step time is a difference of two runs), got {args.steps}")
    if any(not 0 <= d < args.blocks for d in args.depths):
        parser.error(f"--depths must be block indices below --blocks {args.blocks}, got {args.depths}")
    from diffusers.models.attention_dispatch import AttentionBackendName

    unknown = [b for b in args.backends if b not in {name.value for name in AttentionBackendName}]
    if unknown:
        parser.error(f"--backends: unknown diffusers attention backend(s) {unknown}; "
                     f"choose from {sorted(name.value for name in AttentionBackendName)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    for name, section in SECTIONS.items():
        if name in args.section or "all" in args.section:
            section(args)


if __name__ == "__main__":
    main()
