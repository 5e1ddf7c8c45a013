"""The hook and cache rows of the compatibility matrix on the families beyond FLUX.1 and Wan.

tests/test_compat_hooks.py and tests/test_compat_caches.py check each configuration in depth (both
orders, several calls, every cache) on FLUX.1 and Wan 2.2; this file runs the cheapest assertion of
the rows whose behaviour could depend on the family (how its denoiser is split into blocks and
components) on every other tiny family, one step each:

* model CPU offload, then ``apply``: guided as without hooks; ``remove`` gives the plain run;
* ``apply``, then group offload at block level on the same pipeline: the same;
* First Block Cache and Pyramid Attention Broadcast with never-reuse settings, enabled before
  ``apply`` with the guidance interval starting half way: the uncached guided result; where diffusers
  itself cannot run the cache, the guided run fails as the plain run does.

The builds are the session's tiny pipelines (tests/conftest.py); each family's hook-free runs are
made once and shared by its cases.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from diffusers import DiffusionPipeline
from diffusers.hooks import FirstBlockCacheConfig, PyramidAttentionBroadcastConfig

import stylehunt
from tests.test_compat_models import CALL, denoisers, fixture_name
from tests.test_engine import for_video

PRESET = stylehunt.Preset(heads=[(0, 0), (1, 1)], strength=0.8)
SCALE = 3.0
TOL = 1e-5  # offload moves tensors to the execution device, which changes float rounding (as in test_compat_hooks)
#: The families test_compat_hooks.py and test_compat_caches.py do not cover.
FAMILIES = ("sd3", "sd3.5", "chroma", "zimage", "qwenimage", "flux2", "flux2-dev", "sdxl", "sd15")
#: Call arguments beyond test_compat_models.CALL: true CFG where the pipeline has it (a second batch half).
EXTRA = {"qwenimage": {"true_cfg_scale": 4.0, "negative_prompt": "blurry"}}


def load(request, family):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = DiffusionPipeline.from_pretrained(request.getfixturevalue(fixture_name(family)))
    pipe.set_progress_bar_config(disable=True)
    pipe.family = family
    return pipe


def run(pipe, steps=1):
    kwargs = for_video(pipe, {"num_inference_steps": steps, "height": 32, "width": 32, **CALL.get(pipe.family, {}),
                              **EXTRA.get(pipe.family, {})})
    out = pipe(prompt="a lighthouse at dusk", generator=torch.Generator().manual_seed(0), output_type="latent", **kwargs)
    return out.images if hasattr(out, "images") else out.frames


def close(a, b):
    return torch.allclose(a, b, atol=TOL, rtol=0)


@pytest.mark.parametrize("family", (*FAMILIES, "wan"))  # Wan: two experts, group offload is flux-only elsewhere
def test_offload_then_apply_and_apply_then_group_offload(request, family):
    pipe = load(request, family)
    plain = run(pipe)
    stylehunt.apply(pipe, PRESET, scale=SCALE)
    guided = run(pipe)
    stylehunt.remove(pipe)
    assert not close(guided, plain)
    # model CPU offload, then apply (offloaded to `cpu`: the hooks are installed and dropped as on CUDA)
    pipe.enable_model_cpu_offload(device="cpu")
    stylehunt.apply(pipe, PRESET, scale=SCALE)
    assert close(run(pipe), guided)
    stylehunt.remove(pipe)
    assert close(run(pipe), plain)
    pipe.remove_all_hooks()
    # apply, then group offload of each denoiser, one block per group
    stylehunt.apply(pipe, PRESET, scale=SCALE)
    for denoiser in denoisers(pipe):
        denoiser.enable_group_offload(torch.device("cpu"), offload_type="block_level", num_blocks_per_group=1)
    assert close(run(pipe), guided)
    stylehunt.remove(pipe)
    assert close(run(pipe), plain)


STEPS, START = 3, 0.5  # steps 0 and 1 plain, step 2 guided: the batch grows between two cached steps
_UNCACHED: dict[str, torch.Tensor] = {}


def cache_config(name, pipe):
    """Settings under which the cache reuses nothing (test_compat_caches.py's)."""
    if name == "first_block":
        return FirstBlockCacheConfig(threshold=0.0)
    return PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(-1, -1),
                                           current_timestep_callback=lambda: pipe.current_timestep)


#: Models diffusers 0.42.1 gives no ``enable_cache`` (not a ``CacheMixin``): no cache to combine with.
NO_CACHE = ("sd3", "sd3.5", "zimage", "sdxl", "sd15")
#: Caches diffusers 0.42.1 cannot run on the family, guided or not: the error of the plain run.
DIFFUSERS_FAILS = {
    ("chroma", "first_block"): (ValueError, "ChromaTransformerBlock.* not registered"),  # at enable_cache
    ("flux2", "first_block"): (TypeError, "unsupported operand"),  # its first block returns a list
    ("flux2-dev", "first_block"): (ValueError, "No cache context is set"),  # the pipeline sets none
}
CACHE_CASES = [(family, cache) for family in FAMILIES if family not in NO_CACHE for cache in ("first_block", "pab")]


@pytest.mark.parametrize("family", NO_CACHE)
def test_diffusers_gives_the_model_no_cache(request, family):
    assert not any(hasattr(denoiser, "enable_cache") for denoiser in denoisers(load(request, family)))


@pytest.mark.parametrize("family,cache", CACHE_CASES, ids=[f"{f}-{c}" for f, c in CACHE_CASES])
def test_a_cache_that_never_reuses_gives_the_uncached_guided_result(request, family, cache):
    if (family, cache) in DIFFUSERS_FAILS:  # the plain run fails, and the guided one the same way, no other error
        error, match = DIFFUSERS_FAILS[family, cache]
        for guided in (False, True):
            pipe = load(request, family)
            if guided:
                stylehunt.apply(pipe, PRESET, scale=SCALE, start=START)
            with pytest.raises(error, match=match):
                for denoiser in denoisers(pipe):
                    denoiser.enable_cache(cache_config(cache, pipe))
                run(pipe, STEPS)
        stylehunt.remove(pipe)
        assert stylehunt.get_applied(pipe) is None
        return
    if family not in _UNCACHED:
        pipe = load(request, family)
        stylehunt.apply(pipe, PRESET, scale=SCALE, start=START)
        _UNCACHED[family] = run(pipe, STEPS)
    pipe = load(request, family)
    for denoiser in denoisers(pipe):
        denoiser.enable_cache(cache_config(cache, pipe))
    stylehunt.apply(pipe, PRESET, scale=SCALE, start=START)
    assert torch.allclose(run(pipe, STEPS), _UNCACHED[family], atol=1e-6, rtol=0)
