"""The engine's correctness bar, on tiny random-weight pipelines loaded with from_pretrained."""

from __future__ import annotations

import dataclasses
import inspect
import random
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from diffusers import (
    ChromaImg2ImgPipeline,
    ChromaInpaintPipeline,
    DiffusionPipeline,
    Flux2KleinInpaintPipeline,
    FluxImg2ImgPipeline,
    FluxInpaintPipeline,
    QwenImageEditPipeline,
    QwenImageEditPlusPipeline,
    QwenImageImg2ImgPipeline,
    QwenImageInpaintPipeline,
    StableDiffusion3Img2ImgPipeline,
    StableDiffusion3InpaintPipeline,
    StableDiffusion3PAGPipeline,
    WanImageToVideoPipeline,
    WanPipeline,
    WanVideoToVideoPipeline,
    ZImageImg2ImgPipeline,
    ZImageInpaintPipeline,
)
from PIL import Image

import stylehunt
from stylehunt.engine import strength_table
from tests.reference import BATCHED, ReferenceGuidance, named_arguments, perturbed_forward, rows_of, select_rows

STEPS = 3
PROMPTS = ["a lighthouse at dusk", "a bowl of fruit"]


def _load(path):
    pipe = DiffusionPipeline.from_pretrained(path)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def sd3(tiny_sd3_path):
    return _load(tiny_sd3_path)


@pytest.fixture(scope="module")
def sd35(tiny_sd35_path):
    return _load(tiny_sd35_path)


@pytest.fixture(scope="module")
def flux(tiny_flux_path):
    return _load(tiny_flux_path)


@pytest.fixture(autouse=True)
def _clean(request):
    yield
    for name in ("sd3", "sd35", "flux"):
        if name in request.fixturenames:
            stylehunt.remove(request.getfixturevalue(name))


def run(pipe, prompt=PROMPTS, seed=0, **kwargs):
    kwargs.setdefault("num_inference_steps", STEPS)
    kwargs.setdefault("height", 64)
    kwargs.setdefault("width", 64)
    kwargs = for_video(pipe, kwargs)
    if "Flux" in type(pipe).__name__:
        kwargs.setdefault("guidance_scale", 3.5)
    # Z-Image's pipelines rewrite prompt lists in place (diffusers 0.42.1): every call gets its own copies
    prompt = list(prompt) if isinstance(prompt, list) else prompt
    kwargs = {k: list(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    # by name: the video-to-video pipeline takes `video` first, the FLUX.2 pipelines `image`
    out = pipe(prompt=prompt, generator=torch.Generator().manual_seed(seed), output_type="latent", **kwargs)
    return out.images if hasattr(out, "images") else out.frames  # video pipelines return frames


def for_video(pipe, kwargs):
    """``kwargs`` for ``pipe``: a video pipeline (Wan) makes 5 frames (2 latent frames; its default is 81) and
    calls the per-prompt count ``num_videos_per_prompt``."""
    params = inspect.signature(type(pipe).__call__).parameters
    kwargs = dict(kwargs)
    if "num_frames" in params:
        kwargs.setdefault("num_frames", 5)
    if "num_images_per_prompt" in kwargs and "num_videos_per_prompt" in params:
        kwargs["num_videos_per_prompt"] = kwargs.pop("num_images_per_prompt")
    return kwargs


def random_presets(grid, rng, n=2):
    presets = []
    for _ in range(n):
        k = rng.randint(1, 4)
        heads = rng.sample(list(grid), k)
        presets.append(stylehunt.Preset(heads=heads, strength=round(rng.uniform(0.2, 1.0), 3)))
    return presets


def module_attributes(pipe):
    denoisers = [t for t in (pipe.transformer, getattr(pipe, "transformer_2", None)) if t is not None]  # Wan 2.2
    return [{name: sorted(vars(m)) for name, m in t.named_modules()} for t in denoisers]


# 1. Equivalence with diffusers' SD3 PAG pipeline --------------------------------------------------


@pytest.mark.parametrize("layer", [0, 1])
@pytest.mark.parametrize("cfg", [4.0, 1.0], ids=["cfg", "no-cfg"])
def test_matches_diffusers_sd3_pag_pipeline(sd3, layer, cfg):
    w = 2.5
    pag = StableDiffusion3PAGPipeline.from_pipe(sd3, pag_applied_layers=[f"blocks.{layer}"])
    pag.set_progress_bar_config(disable=True)
    expected = run(pag, guidance_scale=cfg, pag_scale=w, pag_adaptive_scale=0.0)
    plain = run(sd3, guidance_scale=cfg)

    grid = stylehunt.head_grid(sd3)
    whole_layer = stylehunt.Preset(heads=[(layer, h) for h in range(grid.layers[layer].heads)], strength=1.0)
    stylehunt.apply(sd3, whole_layer, scale=w, identity="image")
    ours = run(sd3, guidance_scale=cfg)

    assert not torch.allclose(expected, plain, atol=1e-3), "PAG must change the output for the test to mean anything"
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)


# 2. Equivalence with the slow materialising reference ---------------------------------------------


@pytest.mark.parametrize("identity", ["joint", "image"])
@pytest.mark.parametrize(
    "family,seed,call",
    [
        ("sd3", 1, {"guidance_scale": 3.0}),
        ("sd35", 2, {"guidance_scale": 3.0}),
        ("flux", 3, {}),
        ("flux", 4, {"true_cfg_scale": 2.0, "negative_prompt": ["blurry", "dark"]}),
    ],
    ids=["sd3-cfg", "sd3.5-cfg", "flux", "flux-true-cfg"],
)
def test_matches_materialising_reference(request, family, seed, call, identity):
    pipe = request.getfixturevalue(family)
    grid = stylehunt.head_grid(pipe)
    rng = random.Random(seed)
    presets = random_presets(grid, rng)
    strengths = [p.strength for p in presets]
    w = rng.uniform(1.0, 4.0)

    stylehunt.apply(pipe, presets, scale=w, identity=identity)
    ours = run(pipe, num_images_per_prompt=2, **call)  # batch of 4: 2 prompts x 2 images
    stylehunt.remove(pipe)

    table = strength_table(grid, presets, strengths)
    with ReferenceGuidance(pipe, table, w, identity):
        expected = run(pipe, num_images_per_prompt=2, **call)
    plain = run(pipe, num_images_per_prompt=2, **call)

    assert ours.shape[0] == 4
    assert not torch.allclose(ours, plain, atol=1e-3)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize(
    "family,cls,extra",
    [
        ("sd3", StableDiffusion3Img2ImgPipeline, {"guidance_scale": 3.0, "strength": 0.7}),
        ("sd3", StableDiffusion3InpaintPipeline, {"guidance_scale": 3.0, "strength": 0.9}),
        ("flux", FluxImg2ImgPipeline, {"strength": 0.7}),
        ("flux", FluxInpaintPipeline, {"strength": 0.9, "true_cfg_scale": 2.0, "negative_prompt": "dark"}),
    ],
    ids=lambda x: getattr(x, "__name__", None),
)
def test_img2img_and_inpaint_siblings(request, family, cls, extra):
    base = request.getfixturevalue(family)
    pipe = cls.from_pipe(base)
    pipe.set_progress_bar_config(disable=True)
    image = torch.rand(1, 3, 64, 64)
    if "Inpaint" in cls.__name__:
        extra = {**extra, "mask_image": torch.ones(1, 1, 64, 64)}
    preset = stylehunt.Preset(heads=[(0, 0), (1, 1)], strength=0.8)
    stylehunt.apply(pipe, preset, scale=2.0)
    try:
        ours = run(pipe, prompt="a cat", image=image, **extra)
    finally:
        stylehunt.remove(pipe)
    table = strength_table(stylehunt.head_grid(pipe), [preset], [0.8])
    with ReferenceGuidance(pipe, table, 2.0):
        expected = run(pipe, prompt="a cat", image=image, **extra)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)


# 3. Neutral settings and exact removal ------------------------------------------------------------


@pytest.mark.parametrize("family", ["sd3", "sd35", "flux"])
def test_zero_strength_zero_scale_and_remove_are_exact(request, family):
    pipe = request.getfixturevalue(family)
    plain = run(pipe)
    # after a plain call: FLUX pipelines give the transformer diffusers' own hook registry on first use
    attributes = module_attributes(pipe)
    preset = stylehunt.Preset(heads=[(0, 1), (1, 0)], strength=0.7)

    stylehunt.apply(pipe, preset, strengths=0.0, scale=3.0)
    assert torch.equal(run(pipe), plain)
    stylehunt.apply(pipe, preset, scale=0.0)
    assert torch.equal(run(pipe), plain)
    stylehunt.apply(pipe, preset, scale=3.0)
    assert "forward" in vars(pipe.transformer)
    assert not torch.equal(run(pipe), plain)

    stylehunt.remove(pipe)
    assert stylehunt.get_applied(pipe) is None
    assert module_attributes(pipe) == attributes  # no attribute of ours remains, anywhere
    assert torch.equal(run(pipe), plain)
    stylehunt.remove(pipe)  # removing twice is a no-op


def test_remove_restores_a_forward_wrapped_by_someone_else(sd3):
    """A forward that was already an instance attribute (e.g. accelerate's hook) is put back, not deleted."""
    transformer = sd3.transformer
    calls = []
    cls_forward = type(transformer).forward

    def theirs(*args, **kwargs):
        calls.append(1)
        return cls_forward(transformer, *args, **kwargs)

    transformer.forward = theirs
    try:
        stylehunt.apply(sd3, stylehunt.Preset(heads=[(0, 0)]), scale=1.0)
        run(sd3)
        assert calls, "the earlier wrapper must still be called through ours"
        stylehunt.remove(sd3)
        assert vars(transformer)["forward"] is theirs
    finally:
        del transformer.forward


# 4. The guidance formula against separate forwards, per step, in the four pipeline cases ------------


@pytest.mark.parametrize(
    "family,call,kind",
    [
        ("sd3", {"guidance_scale": 4.0}, "cfg"),
        ("sd3", {"guidance_scale": 1.0}, "plain"),
        ("flux", {}, "plain"),
        ("flux", {"true_cfg_scale": 3.0, "negative_prompt": "blurry"}, "true-cfg"),
    ],
    ids=["sd3-cfg", "sd3-no-cfg", "flux-distilled", "flux-true-cfg"],
)
def test_guidance_formula_per_step(request, family, call, kind):
    pipe = request.getfixturevalue(family)
    transformer = pipe.transformer
    preset = stylehunt.Preset(heads=[(1, 0), (0, 1), (1, 1)], strength=0.6)
    w = 2.0
    g = call.get("guidance_scale", 1.0) if family == "sd3" else call.get("true_cfg_scale", 1.0)

    stylehunt.apply(pipe, preset, scale=w)
    calls, outputs = [], []
    guided_forward = transformer.forward

    def record(*args, **kwargs):
        calls.append({k: v.clone() if torch.is_tensor(v) else v for k, v in kwargs.items()})
        return guided_forward(*args, **kwargs)

    step = pipe.scheduler.step

    def record_step(model_output, *args, **kwargs):
        outputs.append(model_output.clone())
        return step(model_output, *args, **kwargs)

    transformer.forward, pipe.scheduler.step = record, record_step
    try:
        run(pipe, prompt="a cat", **call)
    finally:
        transformer.forward = guided_forward
        del pipe.scheduler.step
        stylehunt.remove(pipe)

    table = strength_table(stylehunt.head_grid(pipe), [preset], [preset.strength])
    per_step = 2 if kind == "true-cfg" else 1
    assert len(calls) == STEPS * per_step and len(outputs) == STEPS
    for i, eps in enumerate(outputs):
        main = {**calls[i * per_step], "return_dict": False}
        batch = main["hidden_states"].shape[0]
        with torch.no_grad():
            if kind == "cfg":
                cond = select_rows(main, slice(batch // 2, batch), BATCHED)
                eps_u = transformer(**select_rows(main, slice(0, batch // 2), BATCHED))[0]
            else:
                cond = main
            eps_c = transformer(**cond)[0]
            eps_p = perturbed_forward(transformer, table, "joint", cond)
            if kind == "cfg":
                eps_cfg = eps_u + g * (eps_c - eps_u)
            elif kind == "true-cfg":
                eps_n = transformer(**{**calls[i * per_step + 1], "return_dict": False})[0]
                eps_cfg = eps_n + g * (eps_c - eps_n)
            else:
                eps_cfg = eps_c
        torch.testing.assert_close(eps, eps_cfg + w * (eps_c - eps_p), rtol=1e-4, atol=2e-5)


# Composition, cost, per-row tables, interval ------------------------------------------------------


def _rows_per_call(pipe):
    rows = []
    embedder = getattr(pipe.transformer, "pos_embed", None) or pipe.transformer.x_embedder
    handle = embedder.register_forward_pre_hook(lambda m, args: rows.append(args[0].shape[0]))
    return rows, handle


def test_shared_head_combines_as_one_minus_product(sd3):
    a = stylehunt.Preset(heads=[(0, 1), (1, 2)], strength=0.5, name="a")
    b = stylehunt.Preset(heads=[(0, 1)], strength=0.5, name="b")
    combined = stylehunt.Preset(heads=[(0, 1)], strength=0.75)
    only_b_part = stylehunt.Preset(heads=[(1, 2)], strength=0.5)
    stylehunt.apply(sd3, [a, b], scale=2.0)
    both = run(sd3)
    stylehunt.apply(sd3, [combined, only_b_part], scale=2.0)
    torch.testing.assert_close(both, run(sd3), rtol=0, atol=0)


def test_cost_does_not_grow_with_the_number_of_presets(sd3):
    rows, handle = _rows_per_call(sd3)
    try:
        presets = [stylehunt.Preset(heads=[(0, h)], name=f"p{h}") for h in range(3)]
        stylehunt.apply(sd3, presets[:1], scale=1.0)
        run(sd3, guidance_scale=3.0)
        one = list(rows)
        rows.clear()
        stylehunt.apply(sd3, presets, scale=1.0)
        run(sd3, guidance_scale=3.0)
        assert rows == one == [3 * len(PROMPTS)] * STEPS  # [uncond, cond, cond perturbed]
    finally:
        handle.remove()


def test_per_row_tables_match_separate_runs(sd3):
    grid = stylehunt.head_grid(sd3)
    a = stylehunt.Preset(heads=[(0, 1)], strength=1.0)
    b = stylehunt.Preset(heads=[(1, 3), (0, 2)], strength=0.5)
    table = torch.stack([strength_table(grid, [a], [1.0]), strength_table(grid, [b], [0.5])])
    stylehunt.apply_table(sd3, table, scale=2.0)
    both = run(sd3, prompt=["a cat", "a cat"], guidance_scale=1.0)
    singles = []
    for p in (a, b):
        stylehunt.apply(sd3, p, scale=2.0)
        singles.append(run(sd3, prompt=["a cat", "a cat"], guidance_scale=1.0))
    torch.testing.assert_close(both[0], singles[0][0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(both[1], singles[1][1], rtol=1e-5, atol=1e-6)
    stylehunt.apply_table(sd3, table, scale=2.0)
    with pytest.raises(stylehunt.GuidanceError, match="2 rows .* 3 conditional rows"):
        run(sd3, prompt=["a", "b", "c"], guidance_scale=1.0)


@pytest.mark.parametrize("start,stop,guided", [(0.0, 1.0, 4), (0.25, 0.75, 2), (0.5, 1.0, 2), (0.0, 0.2, 1)])
def test_guidance_interval(sd3, start, stop, guided):
    rows, handle = _rows_per_call(sd3)
    try:
        stylehunt.apply(sd3, stylehunt.Preset(heads=[(0, 0)]), scale=1.0, start=start, stop=stop)
        run(sd3, prompt="a cat", guidance_scale=1.0, num_inference_steps=4)
    finally:
        handle.remove()
    assert rows.count(2) == guided and rows.count(1) == 4 - guided


def test_applied_context_restores_previous(sd3):
    a = stylehunt.Preset(heads=[(0, 0)], name="a")
    b = stylehunt.Preset(heads=[(1, 1)], name="b")
    stylehunt.apply(sd3, a, scale=1.0)
    with stylehunt.applied(sd3, b, strengths=0.3, scale=2.0):
        inside = stylehunt.get_applied(sd3)
        assert inside.names == ["b"] and inside.strengths == (0.3,)
    after = stylehunt.get_applied(sd3)
    assert after.names == ["a"] and after.scale == 1.0
    stylehunt.remove(sd3)
    with stylehunt.applied(sd3, b, scale=2.0):
        pass
    assert stylehunt.get_applied(sd3) is None


# Bad input: clear errors, and the pipeline stays as it was ----------------------------------------


@pytest.mark.parametrize(
    "presets,kwargs,error,message",
    [
        ([stylehunt.Preset(heads=[(2, 0)])], {}, stylehunt.HeadOutOfRangeError, r"heads\[0\]: layer 2 out of range .* \(valid: 0-1\)"),
        ([stylehunt.Preset(heads=[(0, 4)])], {}, stylehunt.HeadOutOfRangeError, r"head 4 out of range for 4 heads"),
        ([stylehunt.Preset(heads=[(0, 0)])], {"strengths": 1.5}, stylehunt.GuidanceError, r"between 0.0 and 1.0, but got 1.5"),
        ([stylehunt.Preset(heads=[(0, 0)])], {"scale": -1.0}, stylehunt.GuidanceError, r">= 0, but got -1.0"),
        ([stylehunt.Preset(heads=[(0, 0)])], {"identity": "text"}, stylehunt.GuidanceError, r"\('joint', 'image'\), but got 'text'"),
        ([stylehunt.Preset(heads=[(0, 0)])], {"start": 0.5, "stop": 0.5}, stylehunt.GuidanceError, r"start` < `stop"),
        (
            [stylehunt.Preset(heads=[(0, 0)], name="x"), stylehunt.Preset(heads=[(0, 1)], name="y")],
            {"strengths": [0.5]},
            stylehunt.GuidanceError,
            r"1 strengths for 2 presets \(x, y\)",
        ),
        (
            [stylehunt.Preset(heads=[(0, 0)], scale=2.0, name="x"), stylehunt.Preset(heads=[(0, 1)], scale=5.0, name="y")],
            {},
            stylehunt.GuidanceError,
            r"different default scales \(x: 2, y: 5\)",
        ),
        ([], {}, stylehunt.GuidanceError, r"empty list"),
    ],
)
def test_bad_input_leaves_pipeline_untouched(sd3, presets, kwargs, error, message):
    good = stylehunt.Preset(heads=[(1, 2)], strength=0.5, name="good")
    stylehunt.apply(sd3, good, scale=2.0)
    before = run(sd3)
    with pytest.raises(error, match=message):
        stylehunt.apply(sd3, presets, **kwargs)
    assert stylehunt.get_applied(sd3).names == ["good"]
    assert torch.equal(run(sd3), before)


def test_architecture_fingerprint_mismatch_and_fine_tune_warning(sd3, flux, caplog):
    fp_flux = stylehunt.head_grid(flux).fingerprint()
    foreign = stylehunt.Preset(heads=[(0, 0)], name="fluxy", model="tiny/flux", fingerprint=fp_flux)
    with pytest.raises(stylehunt.ArchitectureMismatchError, match=r"FluxTransformer2DModel.*SD3Transformer2DModel"):
        stylehunt.apply(sd3, foreign)
    assert stylehunt.get_applied(sd3) is None
    fp = stylehunt.head_grid(sd3).fingerprint()
    tuned = stylehunt.Preset(heads=[(0, 0)], name="mine", model="someone/base-model", fingerprint=fp)
    with caplog.at_level("WARNING", logger="stylehunt.engine"):
        stylehunt.apply(sd3, tuned)
    assert "same architecture" in caplog.text


def test_unsupported_pipeline_and_transformer(sd3):
    pag = StableDiffusion3PAGPipeline.from_pipe(sd3)
    with pytest.raises(stylehunt.UnsupportedModelError, match="StableDiffusion3PAGPipeline; supported: StableDiffusion3Pipeline"):
        stylehunt.apply(pag, stylehunt.Preset(heads=[(0, 0)]))
    with pytest.raises(stylehunt.UnsupportedModelError, match="got str"):
        stylehunt.head_grid("not a model")
    with pytest.raises(stylehunt.UnsupportedModelError, match="unsupported transformer class Linear"):
        stylehunt.head_grid(torch.nn.Linear(2, 2))


def test_processor_that_bypasses_sdpa_is_refused_at_run_time(sd3):
    from diffusers.models.attention_processor import JointAttnProcessor2_0

    class ManualAttention(JointAttnProcessor2_0):
        """Computes attention by hand (as a custom or third-party processor might)."""

        def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, *args, **kwargs):
            sdpa = torch.nn.functional.scaled_dot_product_attention

            def manual(q, k, v, **_):
                return torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1) @ v

            torch.nn.functional.scaled_dot_product_attention = manual
            try:
                return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask)
            finally:
                torch.nn.functional.scaled_dot_product_attention = sdpa

    original = sd3.transformer.attn_processors
    sd3.transformer.set_attn_processor(ManualAttention())
    try:
        stylehunt.apply(sd3, stylehunt.Preset(heads=[(0, 0)]), scale=1.0)
        with pytest.raises(stylehunt.UnsupportedModelError, match="0 calls to torch's scaled_dot_product_attention"):
            run(sd3)
    finally:
        stylehunt.remove(sd3)
        sd3.transformer.set_attn_processor(original)


def test_a_transformer_shared_by_two_pipelines_is_guided_once(sd3):
    other = StableDiffusion3Img2ImgPipeline.from_pipe(sd3)
    stylehunt.apply(sd3, stylehunt.Preset(heads=[(0, 0)]))
    with pytest.raises(stylehunt.GuidanceError, match="already guided through another pipeline"):
        stylehunt.apply(other, stylehunt.Preset(heads=[(0, 0)]))


@pytest.mark.parametrize("identity", ["joint", "image"])
@pytest.mark.parametrize("family", ["sd35", "flux"])
def test_perturbed_forward_matches_reference(request, family, identity):
    """The perturbation alone (no guidance), rows 1..2 of a batch of 3, against the materialising reference."""
    pipe = request.getfixturevalue(family)
    grid = stylehunt.head_grid(pipe)
    presets = random_presets(grid, random.Random(7), n=2)
    table = strength_table(grid, presets, [p.strength for p in presets])
    recorded = []
    handle = pipe.transformer.register_forward_pre_hook(lambda m, a, kw: recorded.append(kw), with_kwargs=True)
    try:
        run(pipe, prompt=["a", "b", "c"], num_inference_steps=1, **({"guidance_scale": 1.0} if family == "sd35" else {}))
    finally:
        handle.remove()
    kwargs = {**recorded[0], "return_dict": False}
    text_len = kwargs["encoder_hidden_states"].shape[1]
    with torch.no_grad():
        plain = pipe.transformer(**kwargs)[0]
        with stylehunt.engine.perturbed(pipe, torch.stack([table, table]), start=1, identity=identity, text_len=text_len):
            ours = pipe.transformer(**kwargs)[0]
        expected = perturbed_forward(pipe.transformer, table, identity, select_rows(kwargs, slice(1, 3), BATCHED))
    assert torch.equal(ours[0], plain[0])  # row 0 is not perturbed
    torch.testing.assert_close(ours[1:], expected, rtol=1e-4, atol=2e-5)
    assert not torch.allclose(ours[1:], plain[1:], atol=1e-4)
    assert "forward" not in vars(pipe.transformer.transformer_blocks[0].attn)


# Model families as table rows: a new family is one FamilyCase (its tiny fixture, siblings, calls) ----


REFERENCE_IMAGE = Image.fromarray(np.random.RandomState(0).randint(0, 256, (64, 64, 3), dtype=np.uint8))


@dataclass(frozen=True)
class FamilyCase:
    name: str  # the adapter name
    fixture: str  # session fixture with the saved tiny pipeline (tests/conftest.py)
    siblings: tuple  # img2img / inpaint / edit pipeline classes (built with from_pipe)
    cfg: dict  # pipeline kwargs that turn the pipeline's CFG on
    no_cfg: dict  # ... and off (distilled: the same call)
    extra: dict = field(default_factory=dict)  # kwargs every call gets
    identities: tuple = ("joint", "image")
    transformer_config: dict = field(default_factory=dict)  # config keys a sibling pipeline reads (diffusers bugs)
    refused_arg: str = "kv_cache"  # a transformer argument the adapter refuses (refuse_if_set)
    edit: dict = field(default_factory=dict)  # kwargs giving the pipeline itself reference images (FLUX.2)
    label: str = ""  # the test id, when a family has several cases (default: name)
    sibling_input: dict = field(default_factory=dict)  # what the siblings start from, if not an image (a video)


FAMILY_CASES = [
    FamilyCase(
        "chroma",
        "tiny_chroma_path",
        (ChromaImg2ImgPipeline, ChromaInpaintPipeline),
        cfg={"guidance_scale": 3.0, "negative_prompt": ["blurry", "a dark and gloomy scene"]},
        no_cfg={"guidance_scale": 1.0},
        extra={"max_sequence_length": 32},  # prompts of different lengths: the padding mask matters
        identities=("joint",),
        # diffusers 0.42.1's ChromaInpaintPipeline reads transformer.config.guidance_embeds, which
        # ChromaTransformer2DModel does not have (it fails the same way without stylehunt)
        transformer_config={"guidance_embeds": False},
    ),
    FamilyCase(
        "zimage",
        "tiny_zimage_path",
        (ZImageImg2ImgPipeline, ZImageInpaintPipeline),
        # CFG in one [cond, uncond] call, renormalised (not affine), and truncated at the last of the 3
        # steps (t_norm 0, 0.14, 0.4 on the tiny schedule): that call holds the conditional rows only.
        # No negative prompt list (the pipelines rewrite lists in place, and this table is shared): the
        # empty negative prompt's shorter caption still gives the [cond, uncond] batch a padding mask.
        cfg={"guidance_scale": 3.0, "cfg_normalization": 1.0, "cfg_truncation": 0.3},
        no_cfg={"guidance_scale": 0.0},  # Z-Image-Turbo's setting: the head guidance is the only one
        identities=("joint",),
        refused_arg="siglip_feats",  # omni mode
    ),
    FamilyCase(
        "qwenimage",
        "tiny_qwenimage_path",
        (QwenImageImg2ImgPipeline, QwenImageInpaintPipeline),  # the edit pipelines: test_qwenimage_edit_pipelines_*
        # true CFG (separate calls) renormalised to the conditional norm; on only with a negative prompt
        cfg={"true_cfg_scale": 4.0, "negative_prompt": ["blurry", "a dark and gloomy scene"]},
        no_cfg={"true_cfg_scale": 1.0},
        identities=("joint",),
    ),
    FamilyCase(
        "flux2",
        "tiny_flux2_path",  # FLUX.2-klein base: CFG as a second, unconditional call
        (Flux2KleinInpaintPipeline,),
        cfg={"guidance_scale": 3.0},
        no_cfg={"guidance_scale": 1.0},
        extra={"max_sequence_length": 64},
        edit={"image": REFERENCE_IMAGE},
    ),
    FamilyCase(
        "flux2",
        "tiny_flux2_dev_path",  # FLUX.2-dev: guidance-distilled, guidance_scale is embedded, one call per step
        (),
        cfg={"guidance_scale": 4.0},
        no_cfg={"guidance_scale": 1.0},
        extra={"max_sequence_length": 256},  # its system prompt comes first
        edit={"image": REFERENCE_IMAGE},
        label="flux2-dev",
    ),
    FamilyCase(
        "wan",
        # Wan 2.2 A14B-shaped: step 1 of 3 (t 999) on `transformer`, steps 2-3 (857, 600) on `transformer_2`
        "tiny_wan_path",
        (WanVideoToVideoPipeline,),  # image to video: test_wan_image_to_video_matches_the_reference
        # CFG as a second, unconditional call (the low-noise expert's own guidance_scale_2: the image-to-video test)
        cfg={"guidance_scale": 4.0, "negative_prompt": ["blurry", "a dark and gloomy scene"]},
        no_cfg={"guidance_scale": 1.0},
        sibling_input={"video": torch.rand(1, 5, 3, 64, 64), "strength": 0.8},
    ),
]
CASE_IDS = [case.label or case.name for case in FAMILY_CASES]


@pytest.fixture(scope="module", params=FAMILY_CASES, ids=CASE_IDS)
def family(request):
    pipe = _load(request.getfixturevalue(request.param.fixture))
    pipe.transformer.register_to_config(**request.param.transformer_config)
    yield request.param, pipe
    stylehunt.remove(pipe)


def family_run(case, pipe, cfg=True, **kwargs):
    return run(pipe, **{**case.extra, **(case.cfg if cfg else case.no_cfg), **kwargs})


@pytest.mark.parametrize("cfg", [True, False], ids=["cfg", "no-cfg"])
@pytest.mark.parametrize("seed,u", [(11, None), (12, 1.0)], ids=["u<1", "u=1"])
def test_family_matches_materialising_reference(family, cfg, seed, u):
    case, pipe = family
    grid = stylehunt.head_grid(pipe)
    rng = random.Random(seed)
    presets = random_presets(grid, rng)
    strengths = [u if u is not None else min(p.strength, 0.9) for p in presets]
    w = rng.uniform(1.0, 4.0)
    plain = family_run(case, pipe, cfg=cfg, num_images_per_prompt=2)
    # every identity the family allows, where they differ (on image-only layers, Wan's, they coincide)
    identities = case.identities if any(layer.kind != "image" for layer in grid.layers) else case.identities[:1]
    for identity in identities:
        stylehunt.apply(pipe, presets, scale=w, strengths=strengths, identity=identity)
        try:
            ours = family_run(case, pipe, cfg=cfg, num_images_per_prompt=2)
        finally:
            stylehunt.remove(pipe)
        with ReferenceGuidance(pipe, strength_table(grid, presets, strengths), w, identity):
            expected = family_run(case, pipe, cfg=cfg, num_images_per_prompt=2)
        assert ours.shape[0] == 4
        assert not torch.allclose(ours, plain, atol=1e-3), identity
        torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5, msg=identity)


def test_family_siblings_match_the_reference(family):
    case, base = family
    preset = stylehunt.Preset(heads=[(0, 0), (1, 1)], strength=0.8)
    start = case.sibling_input or {"image": torch.rand(1, 3, 64, 64), "strength": 0.8}
    variants = [(cls, start) for cls in case.siblings]
    if case.edit:  # the pipeline itself, editing: reference-image tokens follow the latents
        variants.append((type(base), case.edit))
    assert variants, "every family has a sibling or an edit mode to test"
    for cls, extra in variants:
        pipe = cls.from_pipe(base)
        pipe.set_progress_bar_config(disable=True)
        if "Inpaint" in cls.__name__:
            extra = {**extra, "mask_image": torch.ones(1, 1, 64, 64)}
        stylehunt.apply(pipe, preset, scale=2.0)
        try:
            ours = family_run(case, pipe, **extra)
        finally:
            stylehunt.remove(pipe)
        with ReferenceGuidance(pipe, strength_table(stylehunt.head_grid(pipe), [preset], [0.8]), 2.0):
            expected = family_run(case, pipe, **extra)
        torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5, msg=cls.__name__)


def test_family_remove_is_exact(family):
    case, pipe = family
    plain = family_run(case, pipe)
    # after a plain call: the Qwen-Image and Wan pipelines' cache_context gives the transformer diffusers' own hook
    # registry on first use
    attributes = module_attributes(pipe)
    stylehunt.apply(pipe, stylehunt.Preset(heads=[(0, 1), (1, 0)], strength=0.7), scale=3.0)
    assert not torch.equal(family_run(case, pipe), plain)
    stylehunt.remove(pipe)
    assert module_attributes(pipe) == attributes
    assert torch.equal(family_run(case, pipe), plain)


def test_family_identity_modes(family):
    case, pipe = family
    preset = stylehunt.Preset(heads=[(0, 0)])
    for mode in stylehunt.engine.IDENTITY_MODES:
        if mode in case.identities:
            stylehunt.apply(pipe, preset, identity=mode)
            assert stylehunt.get_applied(pipe).identity == mode
        else:
            with pytest.raises(stylehunt.GuidanceError, match=rf"identity='{mode}' is not supported for the {case.name} family"):
                stylehunt.apply(pipe, preset, identity=mode)
    stylehunt.remove(pipe)


def test_family_perturbed_forward_matches_reference(family):
    """Rows 1..2 of a batch of 3 perturbed alone (with the family's own masks), against the reference."""
    case, pipe = family
    grid = stylehunt.head_grid(pipe)
    presets = random_presets(grid, random.Random(7), n=2)
    table = strength_table(grid, presets, [p.strength for p in presets])
    recorded = []
    handle = pipe.transformer.register_forward_pre_hook(
        lambda m, a, kw: recorded.append(named_arguments(m, a, kw)), with_kwargs=True
    )
    try:
        family_run(case, pipe, cfg=False, prompt=["a", "bb bb", "a longer prompt"], num_inference_steps=1)
    finally:
        handle.remove()
    kwargs = {**recorded[0], "return_dict": False}
    with torch.no_grad():
        plain = rows_of(pipe.transformer(**kwargs)[0])
        with stylehunt.engine.perturbed(pipe, torch.stack([table, table]), start=1):
            ours = rows_of(pipe.transformer(**kwargs)[0])
        expected = rows_of(perturbed_forward(pipe.transformer, table, "joint", select_rows(kwargs, slice(1, 3), BATCHED)))
    assert torch.equal(ours[0], plain[0])
    torch.testing.assert_close(ours[1:], expected, rtol=1e-4, atol=2e-5)


def test_family_fingerprint_names_the_family_and_old_fingerprints_still_apply(family, flux):
    case, pipe = family
    fp = stylehunt.head_grid(pipe).fingerprint()
    assert fp["family"] == case.name
    old = {k: v for k, v in fp.items() if k != "family"}  # written before families were recorded
    stylehunt.apply(pipe, stylehunt.Preset(heads=[(0, 0)], name="old", fingerprint=old))
    stylehunt.remove(pipe)
    ours = stylehunt.Preset(heads=[(0, 0)], name="mine", model=f"tiny-{case.name}", fingerprint=fp)
    with pytest.raises(stylehunt.ArchitectureMismatchError, match=rf"the {case.name} family .* this pipeline is flux"):
        stylehunt.apply(flux, ours)
    fluxy = stylehunt.Preset(heads=[(0, 0)], name="fluxy", fingerprint=stylehunt.head_grid(flux).fingerprint())
    with pytest.raises(stylehunt.ArchitectureMismatchError, match=rf"the flux family .* this pipeline is {case.name}"):
        stylehunt.apply(pipe, fluxy)


def test_kv_cache_pipelines_and_arguments_are_refused(family):
    case, pipe = family
    kv = type("Flux2KleinKVPipeline", (type(pipe),), {}).from_pipe(pipe)
    with pytest.raises(stylehunt.UnsupportedModelError, match="Flux2KleinKVPipeline is not supported: .*kv_cache"):
        stylehunt.apply(kv, stylehunt.Preset(heads=[(0, 0)]))
    stylehunt.apply(pipe, stylehunt.Preset(heads=[(0, 0)]))
    try:
        with pytest.raises(stylehunt.UnsupportedModelError, match=f"called with `{case.refused_arg}` set"):
            pipe.transformer(**{case.refused_arg: object()})
    finally:
        stylehunt.remove(pipe)


def test_unsupported_pipeline_lists_the_families(sd3):
    pag = StableDiffusion3PAGPipeline.from_pipe(sd3)
    with pytest.raises(stylehunt.UnsupportedModelError) as info:
        stylehunt.apply(pag, stylehunt.Preset(heads=[(0, 0)]))
    for case in FAMILY_CASES:
        assert f"{case.name}: " in info.value.hint


def test_a_registered_adapter_makes_a_family(monkeypatch, flux):
    """A third party's adapter (register_adapter, or the stylehunt.adapters entry point group)."""
    from stylehunt.engine import families
    from stylehunt.engine.families.spec import Adapter, LayerGroup

    monkeypatch.setattr(families, "_registered", list(families.BUILTIN))
    toy = Adapter(
        name="toy", transformer_classes=("FluxTransformer2DModel",), pipeline_classes=("ToyPipeline",),
        layer_groups=(LayerGroup("single_transformer_blocks"),),
    )

    class EntryPoint:
        name, value = "toy", "toy_package:ADAPTER"

        def load(self):
            return toy

    monkeypatch.setattr(families, "_entry_points_loaded", False)
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: [EntryPoint()] if group == "stylehunt.adapters" else [])
    assert families.adapter_for_pipeline(flux).name == "flux"  # the first lookup loads the entry point
    assert families.adapters()[-1] is toy and "ToyPipeline" in families.supported_pipelines()
    toy_pipe = type("ToyPipeline", (), {})()
    toy_pipe.transformer = flux.transformer
    assert families.adapter_for_pipeline(toy_pipe) is toy
    assert [layer.module_name for layer in toy.attention_layers(flux.transformer)] == [
        "single_transformer_blocks.0.attn", "single_transformer_blocks.1.attn"
    ]
    replacement = families.register_adapter(dataclasses.replace(toy, cfg="none"))
    assert families.adapter_for_pipeline(toy_pipe) is replacement  # same name: replaced
    with pytest.raises(ValueError, match="`cfg` must be one of"):
        dataclasses.replace(toy, cfg="both")


def test_zimage_cfg_truncation_is_read_at_the_schedulers_step(tiny_zimage_path):
    """Z-Image's cfg_in_call finds the step from the scheduler (begin_index before the first step):
    img2img at strength 0.5 runs steps 3..5 of 6 (t_norm 0.25, 0.4, 0.625), all past cfg_truncation
    0.2, so every call holds the conditional rows only, though guidance_scale turns CFG on."""
    pipe = ZImageImg2ImgPipeline.from_pipe(_load(tiny_zimage_path))
    pipe.set_progress_bar_config(disable=True)
    call = {"prompt": ["a cat", "a dog"], "image": torch.rand(1, 3, 64, 64), "strength": 0.5, "num_inference_steps": 6,
            "guidance_scale": 3.0, "cfg_truncation": 0.2}
    preset = stylehunt.Preset(heads=[(0, 1), (2, 0)], strength=0.9)
    rows = []
    handle = pipe.transformer.t_embedder.register_forward_pre_hook(lambda m, args: rows.append(args[0].shape[0]))
    stylehunt.apply(pipe, preset, scale=2.0)
    try:
        ours = run(pipe, **call)
    finally:
        stylehunt.remove(pipe)
        handle.remove()
    assert rows == [2 + 2] * 3  # 2 conditional rows and their perturbed copies, no unconditional rows
    with ReferenceGuidance(pipe, strength_table(stylehunt.head_grid(pipe), [preset], [0.9]), 2.0):
        expected = run(pipe, **call)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)


# Qwen-Image: the guidance goes in after the renormalised true CFG; the edit pipelines ------------


def test_qwenimage_guidance_is_added_after_the_cfg_renormalisation(monkeypatch, tiny_qwenimage_path):
    """The pipelines rescale ``neg + s (cond - neg)`` to the norm of ``cond`` per token, which is not affine:
    ``w delta`` added to both transformer outputs would be rescaled with them. At ``scheduler.step`` it
    matches the reference; the same term added transformer-side misses it by more than the tolerance
    (about 30x on the tiny model, whose random text encoder keeps cond and neg close, so the rescaling is mild)."""
    from stylehunt.engine import families

    base = _load(tiny_qwenimage_path)
    case = next(c for c in FAMILY_CASES if c.name == "qwenimage")
    cls = type("TransformerSideQwenImagePipeline", (type(base),), {})
    transformer_side = dataclasses.replace(
        families.adapter_named("qwenimage"), name="qwenimage-transformer-side", pipeline_classes=(cls.__name__,),
        inject="transformer",
    )
    monkeypatch.setattr(families, "_registered", [transformer_side, *families._registered])
    variant = cls.from_pipe(base)
    preset = stylehunt.Preset(heads=[(0, 1), (1, 2), (0, 3)], strength=0.8)
    outputs = {}
    for name, pipe in (("scheduler", base), ("transformer", variant)):
        stylehunt.apply(pipe, preset, scale=3.0)
        assert ("step" in vars(pipe.scheduler)) == (name == "scheduler")
        try:
            outputs[name] = family_run(case, pipe)
        finally:
            stylehunt.remove(pipe)
    with ReferenceGuidance(base, strength_table(stylehunt.head_grid(base), [preset], [0.8]), 3.0):
        expected = family_run(case, base)
    torch.testing.assert_close(outputs["scheduler"], expected, rtol=1e-4, atol=2e-5)
    assert not torch.allclose(outputs["transformer"], expected, rtol=1e-4, atol=2e-5)


def test_qwenimage_edit_2511_zero_cond_t_is_refused(tiny_qwenimage_path):
    pipe = _load(tiny_qwenimage_path)
    pipe.transformer.register_to_config(zero_cond_t=True)  # Qwen-Image-Edit-2511's flag
    with pytest.raises(stylehunt.UnsupportedModelError, match="sets `zero_cond_t`: it doubles the timestep rows"):
        stylehunt.apply(pipe, stylehunt.Preset(heads=[(0, 0)]))
    assert "forward" not in vars(pipe.transformer) and "step" not in vars(pipe.scheduler)


@pytest.fixture(scope="module")
def qwenimage_edit_base(tiny_qwenimage_path):
    """The tiny Qwen-Image pipeline whose VAE encodes each distinct image once.

    The edit pipelines always resize the condition image to about 1 megapixel (4096 reference tokens
    on the tiny model), and its VAE encoding takes seconds on a CPU; the guided, reference and plain
    runs of both edit pipelines encode the same image, so they share one encoding.
    """
    pipe = _load(tiny_qwenimage_path)
    encode, seen = pipe.vae.encode, []

    def encode_once(x, *args, **kwargs):
        for known, out in seen:
            if known.shape == x.shape and torch.equal(known, x):
                return out
        seen.append((x.clone(), encode(x, *args, **kwargs)))
        return seen[-1][1]

    pipe.vae.encode = encode_once
    yield pipe
    del pipe.vae.encode


@pytest.mark.parametrize("cls", [QwenImageEditPipeline, QwenImageEditPlusPipeline], ids=lambda c: c.__name__)
def test_qwenimage_edit_pipelines_match_the_reference(qwenimage_edit_base, cls):
    """The reference image's tokens follow the target's in ``hidden_states`` (in the perturbed row too) and
    the pipeline keeps the target's tokens of the output; the guidance term at ``scheduler.step`` is the
    target's part of ``w delta``. True CFG on; one step, as what an edit pipeline changes is the layout
    within a step (4096 reference tokens make the materialising reference slow)."""
    from PIL import Image

    from stylehunt.tiny.qwenimage import edit_processor

    base = qwenimage_edit_base
    pipe = cls.from_pipe(base, processor=edit_processor(base.tokenizer))
    pipe.set_progress_bar_config(disable=True)
    pixels = torch.Generator().manual_seed(0)
    image = Image.fromarray((torch.rand(64, 64, 3, generator=pixels) * 255).to(torch.uint8).numpy())
    preset = stylehunt.Preset(heads=[(0, 0), (1, 1), (1, 3)], strength=0.8)
    rows = []
    handle = pipe.transformer.img_in.register_forward_pre_hook(lambda m, args: rows.append(tuple(args[0].shape[:2])))

    def edit():
        return pipe(prompt="a cat", image=image, negative_prompt="blurry", true_cfg_scale=4.0, num_inference_steps=1,
                    height=64, width=64, generator=torch.Generator().manual_seed(0), output_type="latent").images

    stylehunt.apply(pipe, preset, scale=2.0)
    try:
        ours = edit()
    finally:
        stylehunt.remove(pipe)
        handle.remove()
    target, references = 4 * 4, 64 * 64  # 64 px: 4 x 4 tokens; the condition image at 1024 px: 64 x 64
    assert rows == [(2, target + references), (1, target + references)]  # [cond, perturbed], then uncond
    with ReferenceGuidance(pipe, strength_table(stylehunt.head_grid(pipe), [preset], [0.8]), 2.0):
        expected = edit()
    plain = edit()
    assert ours.shape == (1, target, 16)
    assert not torch.allclose(ours, plain, atol=1e-3)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)


# Wan: one expert, Wan 2.2 TI2V's per-token timesteps, and image to video ---------------------------


def _guided_reference_plain(pipe, preset, scale, **call):
    """The guided run, the reference's, and the plain run of the same call."""
    stylehunt.apply(pipe, preset, scale=scale)
    try:
        assert all("forward" in vars(t) for t in (pipe.transformer, pipe.transformer_2) if t is not None)
        ours = run(pipe, **call)
    finally:
        stylehunt.remove(pipe)
    with ReferenceGuidance(pipe, strength_table(stylehunt.head_grid(pipe), [preset], [preset.strength]), scale):
        expected = run(pipe, **call)
    return ours, expected, run(pipe, **call)


@pytest.mark.parametrize("expand_timesteps", [False, True],
                         ids=["wan2.1-one-expert", "wan2.2-ti2v-per-token-timesteps"])
def test_wan_one_expert_and_per_token_timesteps_match_the_reference(tiny_wan_path, expand_timesteps):
    """One expert (Wan 2.1, no boundary_ratio), and Wan 2.2 TI2V-5B's per-token timesteps (B, tokens),
    whose rows follow the batch like the others: the perturbed rows get their conditional rows' timesteps."""
    base = _load(tiny_wan_path)
    pipe = WanPipeline(**{**base.components, "transformer_2": None}, expand_timesteps=expand_timesteps)
    pipe.set_progress_bar_config(disable=True)
    timesteps = []  # (timesteps, per row) as the transformer embeds them: a (B, tokens) timestep is flattened
    hook = pipe.transformer.condition_embedder.register_forward_pre_hook(
        lambda m, a, kw: timesteps.append((a[0].shape[0], kw["timestep_seq_len"])), with_kwargs=True)
    try:
        ours, expected, plain = _guided_reference_plain(
            pipe, stylehunt.Preset(heads=[(0, 2), (1, 1), (1, 3)], strength=0.8), 2.5,
            guidance_scale=4.0, negative_prompt=["blurry", "dark"])
    finally:
        hook.remove()
    tokens = 2 * 4 * 4  # 5 frames -> 2 latent frames, 64 px -> 8 x 8 latents -> 4 x 4 patches
    per_row, seq_len = (tokens, tokens) if expand_timesteps else (1, None)
    assert timesteps[:2] == [((2 + 2) * per_row, seq_len), (2 * per_row, seq_len)]  # [cond, perturbed], then uncond
    assert not torch.allclose(ours, plain, atol=1e-3)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)


def _wan_image_to_video(base, wan21: bool) -> WanImageToVideoPipeline:
    """Image to video from tiny-wan's parts: experts of its shape that also take the image condition (16 latent
    channels + 4 mask + 16 image-latent channels, as the real I2V models' 36). Wan 2.1 I2V: one expert whose
    cross-attention also sees CLIP image tokens (``encoder_hidden_states_image``); Wan 2.2 I2V-A14B: two experts,
    boundary_ratio 0.9, no image encoder."""
    from diffusers import WanTransformer3DModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    config = {k: v for k, v in base.transformer.config.items() if not k.startswith("_")}
    config["in_channels"] = 2 * base.vae.config.z_dim + 4
    parts = {k: base.components[k] for k in ("tokenizer", "text_encoder", "vae", "scheduler")}
    torch.manual_seed(0)
    if wan21:
        vision = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  image_size=32, patch_size=8)
        return WanImageToVideoPipeline(
            **parts, transformer=WanTransformer3DModel(**{**config, "image_dim": 16}).eval(),
            image_encoder=CLIPVisionModel(vision).eval(), image_processor=CLIPImageProcessor(crop_size=32, size=32),
        )
    experts = [WanTransformer3DModel(**config).eval() for _ in range(2)]
    return WanImageToVideoPipeline(**parts, transformer=experts[0], transformer_2=experts[1], boundary_ratio=0.9)


@pytest.mark.parametrize("wan21", [True, False], ids=["wan2.1-i2v", "wan2.2-i2v-a14b"])
def test_wan_image_to_video_matches_the_reference(tiny_wan_path, wan21):
    """The image condition rides in the latent channels of every row, the perturbed ones too; Wan 2.1's CLIP
    image tokens (encoder_hidden_states_image) follow the batch; Wan 2.2's low-noise expert has its own CFG
    scale (guidance_scale_2), and its steps (t 857 and 600 of 3, below the boundary 900) are guided too."""
    from PIL import Image

    pipe = _wan_image_to_video(_load(tiny_wan_path), wan21)
    pipe.set_progress_bar_config(disable=True)
    pixels = torch.rand(64, 64, 3, generator=torch.Generator().manual_seed(0))
    images = []  # the CLIP image tokens as the transformer embeds them, perturbed rows included
    hook = pipe.transformer.condition_embedder.register_forward_pre_hook(lambda m, a: images.append(a[2]))
    call = {"image": Image.fromarray((pixels * 255).to(torch.uint8).numpy()), "guidance_scale": 4.0, "negative_prompt": ["blurry", "dark"]}
    if not wan21:
        call["guidance_scale_2"] = 2.0
    try:
        ours, expected, plain = _guided_reference_plain(
            pipe, stylehunt.Preset(heads=[(0, 1), (1, 0), (1, 2)], strength=0.9), 2.0, **call)
    finally:
        hook.remove()
    if wan21:
        assert images[0].shape[0] == 2 + 2 and images[1].shape[0] == 2  # [cond, perturbed], then uncond
    else:
        assert images[0] is None
    assert ours.shape == (2, 16, 2, 8, 8)
    assert not torch.allclose(ours, plain, atol=1e-3)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)
