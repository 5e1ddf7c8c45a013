"""Overhead of stylehunt's head guidance against diffusers' own PAG, measured side by side in one run.

1. Time per denoising step: ``StableDiffusion3Pipeline`` with one preset (all heads of one layer,
   u = 1, identity="image": the same guidance) vs ``StableDiffusion3PAGPipeline`` on that layer, on
   the same tiny model at 256 px (1024 image tokens + 333 text tokens), with CFG, interleaved runs,
   median over repeats. Also printed: identity="joint", a 3-head preset, and the plain pipeline.
2. Peak tensor memory of one transformer forward on the same batch ([uncond, cond, cond]) with the
   last row's heads perturbed vs without: every storage an op allocates is counted until it is
   freed (weights excluded), so the ratio is exact on CPU where no allocator statistics exist.

Run:  .venv/bin/python benchmarks/overhead.py [--repeats 7] [--steps 10] [--layer 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
import weakref

import torch
from diffusers import StableDiffusion3PAGPipeline
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import stylehunt
from stylehunt.engine import perturbed, strength_table
from stylehunt.tiny import load_tiny_pipeline


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


def time_call(pipe, steps: int, **kwargs) -> float:
    start = time.perf_counter()
    pipe("a lighthouse at dusk", num_inference_steps=steps, output_type="latent",
         generator=torch.Generator().manual_seed(0), **kwargs)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--layer", type=int, default=1)
    parser.add_argument("--guidance-scale", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    pipe = load_tiny_pipeline("sd3")
    pipe.set_progress_bar_config(disable=True)
    pag = StableDiffusion3PAGPipeline.from_pipe(pipe, pag_applied_layers=[f"blocks.{args.layer}"])
    pag.set_progress_bar_config(disable=True)
    grid = stylehunt.head_grid(pipe)
    layer = stylehunt.Preset(heads=[(args.layer, h) for h in range(grid.layers[args.layer].heads)], strength=1.0)
    few = stylehunt.Preset(heads=[(args.layer, 0), (0, 1), (args.layer, 2)], strength=0.5)
    call = dict(guidance_scale=args.guidance_scale, height=256, width=256)
    tokens = (256 // pipe.vae_scale_factor // pipe.transformer.config.patch_size) ** 2

    def ours(preset, identity):
        def run():
            stylehunt.apply(pipe, preset, scale=3.0, identity=identity)
            try:
                return time_call(pipe, args.steps, **call)
            finally:
                stylehunt.remove(pipe)
        return run

    contenders = {
        "diffusers StableDiffusion3PAGPipeline (layer)": lambda: time_call(pag, args.steps, pag_scale=3.0, **call),
        "stylehunt layer preset, identity=image": ours(layer, "image"),
        "stylehunt layer preset, identity=joint": ours(layer, "joint"),
        "stylehunt 3-head preset, identity=joint": ours(few, "joint"),
        "plain StableDiffusion3Pipeline (no PAG)": lambda: time_call(pipe, args.steps, **call),
    }
    for fn in contenders.values():  # warm-up
        fn()
    times = {name: [] for name in contenders}
    for _ in range(args.repeats):  # interleaved, so drifts in machine load hit every contender alike
        for name, fn in contenders.items():
            times[name].append(fn())
    median = {name: statistics.median(v) for name, v in times.items()}

    print(f"tiny SD3 at 256 px: {tokens} image tokens; {args.steps} steps, CFG {args.guidance_scale}, "
          f"median of {args.repeats} interleaved runs, torch threads {torch.get_num_threads()}")
    for name, value in median.items():
        print(f"  {name:<48} {value * 1e3:8.2f} ms/step")
    baseline = median["diffusers StableDiffusion3PAGPipeline (layer)"]
    for identity in ("image", "joint"):
        ratio = median[f"stylehunt layer preset, identity={identity}"] / baseline
        note = "same guidance as diffusers PAG" if identity == "image" else "stylehunt's default"
        print(f"time ratio (stylehunt identity={identity} / diffusers PAG, same layer; {note}): "
              f"{ratio:.3f}  (target <= 1.05)")

    # Peak memory: one forward on the same [uncond, cond, cond] batch, last row perturbed or not.
    recorded = []
    handle = pipe.transformer.register_forward_pre_hook(lambda m, a, kw: recorded.append(kw), with_kwargs=True)
    pipe("a lighthouse at dusk", num_inference_steps=1, output_type="latent", **call)
    handle.remove()
    kwargs = dict(recorded[0])
    kwargs = {k: torch.cat([v, v[1:]]) if k in ("hidden_states", "encoder_hidden_states", "pooled_projections", "timestep")
              else v for k, v in kwargs.items()}
    text_len = kwargs["encoder_hidden_states"].shape[1]
    table = strength_table(grid, [layer], [1.0])[None]
    peaks = {}
    with torch.no_grad():
        for name, ctx in (
            ("without perturbed heads", None),
            ("with perturbed heads, identity=image", "image"),
            ("with perturbed heads, identity=joint", "joint"),
        ):
            meter = PeakTensorMemory()
            if ctx is None:
                with meter:
                    pipe.transformer(**kwargs)
            else:
                with perturbed(pipe, table, start=2, identity=ctx, text_len=text_len), meter:
                    pipe.transformer(**kwargs)
            peaks[name] = meter.peak
    print(f"peak tensor memory of one forward, batch {kwargs['hidden_states'].shape[0]} "
          f"({tokens} image + {text_len} text tokens):")
    for name, value in peaks.items():
        print(f"  {name:<48} {value / 2**20:8.2f} MiB")
    worst = max(peaks["with perturbed heads, identity=image"], peaks["with perturbed heads, identity=joint"])
    print(f"memory ratio (with / without perturbed heads, worst identity): "
          f"{worst / peaks['without perturbed heads']:.3f}  (target <= 1.15)")


if __name__ == "__main__":
    main()
