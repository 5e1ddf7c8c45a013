"""Every diffusers attention backend that runs on this CPU gives the native backend's guided result.

For each family (tiny pipelines, tests/conftest.py) the native backend's guided result is the reference
(tests/test_engine.py checks it against tests/reference.py's explicit maps); every other backend must
match it within float tolerance, guided, and a plain run after ``remove`` equals the plain run before
``apply`` bit for bit. GPU-only backends are reached through the same wrapper: a backend of our own is
registered in diffusers' registry and must have the mix applied to its output.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import pytest
import torch
from diffusers import DiffusionPipeline
from diffusers.models import attention_dispatch as ad
from diffusers.models._modeling_parallel import ContextParallelConfig, ParallelConfig

import stylehunt
from stylehunt.engine import dispatch
from tests.test_engine import run

#: Backends that run on this machine's CPU (benchmarks/overhead.py's backends section times these too);
#: `native` is the reference. The rest of diffusers' backends need a GPU, an NPU/XLA device or a package
#: (docs/engine.md, "Attention backends", lists them as untested).
CPU_BACKENDS = ("_native_math", "_native_flash", "flex")
PRESET = stylehunt.Preset(heads=[(0, 0), (1, 1)], strength=0.8)
SCALE = 2.0


@dataclass(frozen=True)
class Case:
    family: str
    fixture: str
    call: dict = field(default_factory=dict)
    #: backends diffusers itself cannot run for this family (the plain run fails the same way), and why
    diffusers_refuses: dict = field(default_factory=dict)


MASKED = {"_native_flash": "`attn_mask` is not supported for native flash attention"}
CASES = [
    Case("sd3", "tiny_sd3_path"),  # its processors call torch's SDPA directly: the backend is never read
    Case("flux", "tiny_flux_path", {"guidance_scale": 3.5}),
    Case("chroma", "tiny_chroma_path", {"guidance_scale": 3.0, "negative_prompt": "blurry"}, MASKED),
    Case("zimage", "tiny_zimage_path", {"guidance_scale": 3.0}, MASKED),
    Case("qwenimage", "tiny_qwenimage_path", {"true_cfg_scale": 4.0, "negative_prompt": "blurry"}),  # one prompt: no mask
    Case("flux2", "tiny_flux2_path", {"guidance_scale": 3.0}),
    Case("wan", "tiny_wan_path", {"guidance_scale": 4.0, "num_inference_steps": 2}),  # step 2 on transformer_2
    # SD3.5's dual-attention blocks, FLUX.2-dev's Mistral-conditioned transformer, and the U-Nets (whose
    # processors, like SD3's, call torch's SDPA directly)
    Case("sd3.5", "tiny_sd35_path"),
    Case("flux2-dev", "tiny_flux2_dev_path", {"guidance_scale": 3.0, "max_sequence_length": 256}),
    Case("sdxl", "tiny_sdxl_path"),
    Case("sd15", "tiny_sd15_path"),
]


def denoisers(pipe):
    return [t for t in (getattr(pipe, n, None) for n in ("transformer", "transformer_2", "unet")) if t is not None]


def set_backend(pipe, name):
    for transformer in denoisers(pipe):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            transformer.set_attention_backend(name)


def go(case, pipe):
    with warnings.catch_warnings():  # flex in eager mode on the CPU warns on every call
        warnings.simplefilter("ignore")
        return run(pipe, prompt="a lighthouse at dusk", **{"num_inference_steps": 1, "height": 32, "width": 32, **case.call})


@pytest.fixture(scope="module", params=CASES, ids=[c.family for c in CASES])
def family(request):
    """(case, pipeline, the native backend's plain and guided results)."""
    case = request.param
    pipe = DiffusionPipeline.from_pretrained(request.getfixturevalue(case.fixture))
    pipe.set_progress_bar_config(disable=True)
    plain = go(case, pipe)
    stylehunt.apply(pipe, PRESET, scale=SCALE)
    try:
        guided = go(case, pipe)
    finally:
        stylehunt.remove(pipe)
    assert not torch.allclose(guided, plain, atol=1e-3)
    yield case, pipe, guided
    stylehunt.remove(pipe)
    set_backend(pipe, "native")


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_every_cpu_backend_gives_the_native_guided_result_and_remove_is_exact(family, backend):
    case, pipe, native = family
    registry = dict(ad._AttentionBackendRegistry._backends)
    set_backend(pipe, backend)
    try:
        if backend in case.diffusers_refuses:  # diffusers cannot run it here: stylehunt adds no error of its own
            with pytest.raises(ValueError, match=case.diffusers_refuses[backend]):
                go(case, pipe)
            stylehunt.apply(pipe, PRESET, scale=SCALE)  # apply refuses no backend
            with pytest.raises(ValueError, match=case.diffusers_refuses[backend]):
                go(case, pipe)
            stylehunt.remove(pipe)
            return
        before = go(case, pipe)
        stylehunt.apply(pipe, PRESET, scale=SCALE)
        try:
            ours = go(case, pipe)
        finally:
            stylehunt.remove(pipe)
        torch.testing.assert_close(ours, native, rtol=1e-4, atol=5e-5)
        assert not torch.allclose(ours, before, atol=1e-3)
        assert torch.equal(go(case, pipe), before)
        assert ad._AttentionBackendRegistry._backends == registry  # every entry its original function again
    finally:
        set_backend(pipe, "native")


@pytest.fixture(scope="module")
def flux(tiny_flux_path):
    pipe = DiffusionPipeline.from_pretrained(tiny_flux_path)
    pipe.set_progress_bar_config(disable=True)
    yield pipe
    stylehunt.remove(pipe)


FLUX = CASES[1]


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_identity_image_through_a_backend_equals_native(flux, backend):
    """identity="image"'s second attention (image queries over their own key + the text keys) is the
    engine's own chunked computation from the backend's q, k, v: the same for every backend."""
    results = {}
    for name in ("native", backend):
        set_backend(flux, name)
        stylehunt.apply(flux, PRESET, scale=SCALE, identity="image")
        try:
            results[name] = go(FLUX, flux)
        finally:
            stylehunt.remove(flux)
            set_backend(flux, "native")
    torch.testing.assert_close(results[backend], results["native"], rtol=1e-4, atol=5e-5)


class OwnBackend:
    """Attention computed by hand in diffusers' backend layout (batch, tokens, heads, head_dim), never through
    torch's SDPA, as a GPU kernel (flash, sage, xformers) would; registered in place of ``name``."""

    def __init__(self, name):
        self.name, self.calls = name, 0
        self.saved = tuple(table[name] for table in self._tables())

    @staticmethod
    def _tables():
        r = ad._AttentionBackendRegistry
        return r._backends, r._constraints, r._supported_arg_names

    def __call__(self, query, key, value, attn_mask=None, scale=None):
        self.calls += 1
        q, k, v = (x.transpose(1, 2) for x in (query, key, value))
        logits = q @ k.transpose(-1, -2) * (q.shape[-1] ** -0.5 if scale is None else scale)
        if attn_mask is not None:
            logits = logits.masked_fill(~attn_mask.bool().view(attn_mask.shape[0], 1, 1, -1), float("-inf"))
        return (logits.softmax(-1) @ v).transpose(1, 2)

    def register(self):
        ad._AttentionBackendRegistry.register(self.name)(self)

    def unregister(self):
        for table, value in zip(self._tables(), self.saved):
            table[self.name] = value

    def select(self, pipe):  # set_attention_backend would check for the real package
        for transformer in denoisers(pipe):
            for module in transformer.modules():
                if hasattr(getattr(module, "processor", None), "_attention_backend"):
                    module.processor._attention_backend = self.name


@pytest.mark.parametrize("order", ["registered before apply", "registered after apply"])
def test_a_gpu_backend_is_reached_through_the_same_wrapper(flux, order):
    plain_native = go(FLUX, flux)
    stylehunt.apply(flux, PRESET, scale=SCALE)
    guided_native = go(FLUX, flux)
    stylehunt.remove(flux)
    own = OwnBackend(ad.AttentionBackendName.FLASH)
    try:
        if order == "registered before apply":
            own.register()
            stylehunt.apply(flux, PRESET, scale=SCALE)
        else:
            stylehunt.apply(flux, PRESET, scale=SCALE)
            own.register()
        own.select(flux)
        assert not torch.allclose(ours := go(FLUX, flux), plain_native, atol=1e-3)
        torch.testing.assert_close(ours, guided_native, rtol=1e-4, atol=5e-5)  # the mix is applied to its output
        assert own.calls > 0
        stylehunt.remove(flux)
        assert ad._AttentionBackendRegistry._backends[own.name] is own  # our wrapper is gone, theirs stays
        calls = own.calls
        torch.testing.assert_close(go(FLUX, flux), plain_native, rtol=1e-4, atol=5e-5)
        assert own.calls > calls
    finally:
        stylehunt.remove(flux)
        own.unregister()
        set_backend(flux, "native")


def test_remove_leaves_the_registry_exactly_as_it_was_and_plain_calls_are_not_wrapped(flux):
    before = dict(ad._AttentionBackendRegistry._backends)
    stylehunt.apply(flux, PRESET, scale=SCALE)
    wrapped = ad._AttentionBackendRegistry._backends
    assert all(wrapped[name] is not fn and wrapped[name].__wrapped__ is fn for name, fn in before.items())
    # a plain call while guidance is installed (another pipeline, the same process) passes straight through
    q = torch.randn(1, 8, 2, 4)
    assert torch.equal(ad.dispatch_attention_fn(q, q, q), before[ad.AttentionBackendName.NATIVE](q, q, q))
    stylehunt.apply(flux, PRESET, scale=1.0)  # re-apply: one install replaces the other
    stylehunt.remove(flux)
    assert ad._AttentionBackendRegistry._backends == before
    assert all(ad._AttentionBackendRegistry._backends[n] is fn for n, fn in before.items())
    assert dispatch.ACTIVE.mix is None


def test_context_parallelism_is_refused_at_apply_and_at_the_first_step(flux):
    """diffusers' context parallelism needs a process group and a device mesh of 2+ processes;
    stylehunt refuses it (docs/engine.md): here its config is set as enable_parallelism() sets it."""
    config = ParallelConfig(context_parallel_config=ContextParallelConfig(ulysses_degree=2))
    flux.transformer._parallel_config = config
    try:
        with pytest.raises(stylehunt.UnsupportedModelError, match=r"context parallelism .*ulysses_degree=2.* not supported"):
            stylehunt.apply(flux, PRESET)
        assert "forward" not in vars(flux.transformer)
    finally:
        flux.transformer._parallel_config = None
    # enabled after apply: the processors carry it to the backend, which is refused at the first perturbed call
    stylehunt.apply(flux, PRESET, scale=SCALE)
    processors = [m.processor for m in flux.transformer.modules() if hasattr(getattr(m, "processor", None), "_parallel_config")]
    try:
        for p in processors:
            p._parallel_config = config
        with pytest.raises(stylehunt.UnsupportedModelError, match="context parallelism"):
            go(FLUX, flux)
    finally:
        for p in processors:
            p._parallel_config = None
        stylehunt.remove(flux)
    assert not any(hasattr(fn, "__wrapped__") for fn in ad._AttentionBackendRegistry._backends.values())


def test_the_guider_perturbs_through_a_non_native_backend(tiny_zimage_path):
    """StyleHeadGuidance in a modular pipeline goes through the same wrapper: under `_native_math` it gives the
    native backend's result, and the style term is there (not the base guider's result)."""
    from diffusers.guiders import ClassifierFreeGuidance

    from stylehunt import StyleHeadGuidance
    from tests.test_guider import CASES as GUIDER_CASES
    from tests.test_guider import Pipes, modular_pipeline, run_modular

    case = next(c for c in GUIDER_CASES if c.family == "zimage")
    standard = DiffusionPipeline.from_pretrained(tiny_zimage_path)
    p = Pipes(case, standard, modular_pipeline(case.blocks, standard.components))
    out = {}
    try:
        for backend in ("native", "_native_math"):
            set_backend(standard, backend)
            out[backend] = run_modular(p, StyleHeadGuidance(PRESET, scale=SCALE, guidance_scale=4.0), True)
            out[f"{backend} cfg"] = run_modular(p, ClassifierFreeGuidance(guidance_scale=4.0), True)
    finally:
        set_backend(standard, "native")
    torch.testing.assert_close(out["_native_math"], out["native"], rtol=1e-4, atol=5e-5)
    assert not torch.allclose(out["_native_math"], out["_native_math cfg"], atol=1e-3)
    assert not hasattr(ad._AttentionBackendRegistry._backends[ad.AttentionBackendName._NATIVE_MATH], "__wrapped__")
