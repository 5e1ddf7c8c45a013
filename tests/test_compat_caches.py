"""stylehunt with diffusers' caches (``transformer.enable_cache``), enabled before or after ``apply``.

Each cache is run twice. With settings under which it never reuses anything, the guided result must
equal the uncached guided result: the cache's hooks see the extended batch and change nothing. The
guidance interval starts half way, so the batch grows by the perturbed rows between two steps, which
a cache holding the previous step's tensors must survive. With settings under which it reuses all it
can, the guided run must differ from the same cache's plain run (the guidance is not frozen or
dropped), and ``remove`` must give back that plain run bit for bit.
"""

from __future__ import annotations

import pytest
import torch
from diffusers import DiffusionPipeline
from diffusers.hooks import (
    FasterCacheConfig,
    FirstBlockCacheConfig,
    MagCacheConfig,
    PyramidAttentionBroadcastConfig,
    SeaCacheConfig,
    TaylorSeerCacheConfig,
)

import stylehunt
from stylehunt.errors import UnsupportedModelError

STEPS = 3
PRESET = stylehunt.Preset(heads=[(0, 1), (1, 0)], strength=0.8)
SCALE = 3.0
START = 0.5  # steps 0 and 1 of 3 plain, step 2 guided
CALLS = {
    "flux": {"guidance_scale": 3.5, "height": 32, "width": 32},
    # CFG as a second, unconditional call per step, and two experts
    "wan": {"guidance_scale": 4.0, "height": 32, "width": 32, "num_frames": 5, "negative_prompt": "blurry"},
}
FIXTURES = {"flux": "tiny_flux_path", "wan": "tiny_wan_path"}


def config(name, pipe, reuse):
    """A cache's config that reuses everything it may (``reuse``) or nothing."""
    timestep = lambda: pipe.current_timestep  # noqa: E731
    big = 1e9
    return {
        "first_block": lambda: FirstBlockCacheConfig(threshold=big if reuse else 0.0),
        "mag": lambda: MagCacheConfig(
            threshold=big if reuse else 0.0,
            mag_ratios=[1.0] * STEPS,
            num_inference_steps=STEPS,
            retention_ratio=0.0,
            max_skip_steps=3 if reuse else 0,
        ),
        "sea": lambda: SeaCacheConfig(threshold=big if reuse else 0.0, retention_steps=0 if reuse else 99, cache_end_steps=0),
        "taylorseer": lambda: TaylorSeerCacheConfig(
            cache_interval=2, disable_cache_before_step=1 if reuse else 99, taylor_factors_dtype=torch.float32
        ),
        "pab": lambda: PyramidAttentionBroadcastConfig(
            spatial_attention_block_skip_range=2,
            spatial_attention_timestep_skip_range=(-1, 1001) if reuse else (-1, -1),
            current_timestep_callback=timestep,
        ),
    }[name]()


def load(request, family):
    pipe = DiffusionPipeline.from_pretrained(request.getfixturevalue(FIXTURES[family]))
    pipe.set_progress_bar_config(disable=True)
    pipe.family = family
    return pipe


def run(pipe):
    out = pipe(
        prompt="a lighthouse at dusk",
        generator=torch.Generator().manual_seed(0),
        num_inference_steps=STEPS,
        output_type="latent",
        **CALLS[pipe.family],
    )
    return out.images if hasattr(out, "images") else out.frames


def enable(pipe, cfg):
    for name in ("transformer", "transformer_2"):
        if getattr(pipe, name, None) is not None:
            getattr(pipe, name).enable_cache(cfg())


_UNCACHED: dict[str, torch.Tensor] = {}


def uncached(request, family):
    """The guided result (interval from START) without a cache."""
    if family not in _UNCACHED:
        pipe = load(request, family)
        stylehunt.apply(pipe, PRESET, scale=SCALE, start=START)
        _UNCACHED[family] = run(pipe)
    return _UNCACHED[family]


CASES = [
    *[(family, cache) for cache in ("first_block", "mag", "sea", "taylorseer", "pab") for family in ("flux",)],
    ("wan", "pab"),  # PAB with CFG as separate calls
    ("wan", "first_block"),
]


@pytest.mark.parametrize("order", ["cache-first", "apply-first"])
@pytest.mark.parametrize("family,cache", CASES, ids=[f"{f}-{c}" for f, c in CASES])
def test_a_cache_that_never_reuses_gives_the_uncached_result_across_the_interval_bound(request, family, cache, order):
    reference = uncached(request, family)
    pipe = load(request, family)
    if order == "apply-first":
        stylehunt.apply(pipe, PRESET, scale=SCALE, start=START)
    enable(pipe, lambda: config(cache, pipe, reuse=False))
    if order == "cache-first":
        stylehunt.apply(pipe, PRESET, scale=SCALE, start=START)
    assert torch.allclose(run(pipe), reference, atol=1e-6, rtol=0)
    assert torch.allclose(run(pipe), reference, atol=1e-6, rtol=0)  # the cache's state after a call is clean


@pytest.mark.parametrize("order", ["cache-first", "apply-first"])
@pytest.mark.parametrize("cache", ["first_block", "mag", "taylorseer", "pab"])
def test_a_cache_that_reuses_keeps_the_guidance_and_remove_is_exact(request, cache, order):
    pipe = load(request, "flux")
    enable(pipe, lambda: config(cache, pipe, reuse=True))
    plain = run(pipe)
    stylehunt.apply(pipe, PRESET, scale=SCALE, start=START)
    if order == "apply-first":  # the cache off and on again while guided
        pipe.transformer.disable_cache()
        enable(pipe, lambda: config(cache, pipe, reuse=True))
    guided = run(pipe)
    assert not torch.allclose(guided, plain, atol=1e-3)
    assert torch.equal(run(pipe), guided)
    stylehunt.remove(pipe)
    assert torch.equal(run(pipe), plain)


def faster_cache(pipe):
    return FasterCacheConfig(
        spatial_attention_block_skip_range=2,
        current_timestep_callback=lambda: pipe.current_timestep,
        is_guidance_distilled=True,
    )


def test_faster_cache_is_refused_at_apply_and_at_the_next_call(request):
    pipe = load(request, "flux")
    plain = run(pipe)
    pipe.transformer.enable_cache(faster_cache(pipe))
    with pytest.raises(UnsupportedModelError, match="faster_cache.*halves") as info:
        stylehunt.apply(pipe, PRESET, scale=SCALE)
    assert "disable_cache()" in info.value.hint
    assert stylehunt.get_applied(pipe) is None
    pipe.transformer.disable_cache()
    stylehunt.apply(pipe, PRESET, scale=SCALE)
    pipe.transformer.enable_cache(faster_cache(pipe))  # after apply: refused before the first step
    with pytest.raises(UnsupportedModelError, match="FasterCache"):
        run(pipe)
    pipe.transformer.disable_cache()
    stylehunt.remove(pipe)
    assert torch.equal(run(pipe), plain)
