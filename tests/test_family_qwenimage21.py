"""Qwen-Image 2.1 (``QwenImage21Transformer2DModel``): block-causal attention with a prefix KV cache, on the tiny
pipeline and the real config on meta."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import QwenImage21Transformer2DModel
from diffusers.models.transformers.transformer_qwenimage21 import QwenImage21FlexAttnProcessor
from PIL import Image

import stylehunt
from stylehunt.cli import main
from stylehunt.engine import strength_table
from stylehunt.registry import index as registry
from tests.reference import ReferenceGuidance
from tests.test_engine import _load, run  # 2 prompts of different lengths (padded text keys), 3 steps, 64 px


@pytest.fixture(scope="module")
def pipe(tiny_qwenimage21_path):
    return _load(tiny_qwenimage21_path)


@pytest.fixture(autouse=True)
def _clean(request):
    yield
    if "pipe" in request.fixturenames:
        stylehunt.remove(request.getfixturevalue("pipe"))


def _cfg(cfg):
    # one negative prompt per prompt: the pipeline does not repeat a single one for a batch of prompts
    return {"true_cfg_scale": 4.0, "negative_prompt": ["blurry"] * 2} if cfg else {}


# -- the grid ------------------------------------------------------------------------------------------


def test_real_config_on_meta_is_32_layers_of_32_heads():
    with torch.device("meta"):
        grid = stylehunt.head_grid(QwenImage21Transformer2DModel())
    assert grid.num_layers == 32 and grid.heads_per_layer == (32,) * 32 and grid.head_dim == 128
    assert grid.layers[31].module_name == "transformer_blocks.31.attn" and grid.layers[0].kind == "text_image"


def test_tiny_grid_and_size(pipe):
    grid = stylehunt.head_grid(pipe)
    assert grid.heads_per_layer == (2, 2) and grid.head_dim == 16
    assert stylehunt.engine.size_multiple(pipe) == 32


# -- apply equals the explicit-map reference (the full map, the cached prefix's keys included) ----------


@pytest.mark.parametrize("u", [0.6, 1.0])
@pytest.mark.parametrize("cfg", [True, False], ids=["cfg", "no-cfg"])
def test_apply_matches_the_materialising_reference(pipe, cfg, u):
    grid = stylehunt.head_grid(pipe)
    heads = random.Random(3).sample(list(grid), 2)
    preset = stylehunt.Preset(heads=heads, strength=u)
    w = 2.5
    stylehunt.apply(pipe, preset, scale=w)
    ours = run(pipe, **_cfg(cfg))
    stylehunt.remove(pipe)
    with ReferenceGuidance(pipe, strength_table(grid, [preset], [u]), w):
        expected = run(pipe, **_cfg(cfg))
    plain = run(pipe, **_cfg(cfg))
    assert ours.shape[0] == 2
    assert not torch.allclose(ours, plain, atol=1e-4), "the preset must change the output for the test to mean anything"
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)


def test_without_the_kv_cache_every_step_prefills_and_matches_the_reference(pipe):
    """use_kv_cache=False: every step is a block-causal prefill (one attention call per text/image segment)."""
    preset = stylehunt.Preset(heads=[(0, 1), (1, 0)], strength=0.8)
    stylehunt.apply(pipe, preset, scale=2.0)
    ours = run(pipe, use_kv_cache=False, **_cfg(True))
    stylehunt.remove(pipe)
    with ReferenceGuidance(pipe, strength_table(stylehunt.head_grid(pipe), [preset], [0.8]), 2.0):
        expected = run(pipe, use_kv_cache=False, **_cfg(True))
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)
    # the cache changes nothing but the work: the cached run is the same guidance
    stylehunt.apply(pipe, preset, scale=2.0)
    torch.testing.assert_close(run(pipe, **_cfg(True)), ours, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("start,stop", [(0.4, 1.0), (0.0, 0.5)])
def test_an_interval_keeps_the_cached_rows_in_step(pipe, start, stop):
    """Outside [start, stop) the perturbed rows still run (their cache entries stay row-aligned), unused: the
    cached run equals the run that prefills every step, which has no cache to keep in step."""
    preset = stylehunt.Preset(heads=[(0, 0), (1, 1)], strength=1.0)
    stylehunt.apply(pipe, preset, scale=3.0, start=start, stop=stop)
    cached = run(pipe, **_cfg(True))
    uncached = run(pipe, use_kv_cache=False, **_cfg(True))
    stylehunt.remove(pipe)
    torch.testing.assert_close(cached, uncached, rtol=1e-4, atol=2e-5)
    assert not torch.allclose(cached, run(pipe, **_cfg(True)), atol=1e-4)


def test_flex_prefill_processor_gives_the_same_guidance(pipe):
    """The flex processor runs the prefill as one call with a block mask (padded to 128 tokens)."""
    preset = stylehunt.Preset(heads=[(0, 1), (1, 0)], strength=0.7)
    stylehunt.apply(pipe, preset, scale=2.0)
    default = run(pipe, **_cfg(True))
    processors = pipe.transformer.attn_processors
    try:
        pipe.transformer.set_attn_processor(QwenImage21FlexAttnProcessor())
        flex = run(pipe, **_cfg(True))
    finally:
        pipe.transformer.set_attn_processor(processors)
    torch.testing.assert_close(flex, default, rtol=1e-4, atol=5e-5)


def test_remove_is_exact(pipe):
    plain = run(pipe, **_cfg(True))
    stylehunt.apply(pipe, stylehunt.Preset(heads=[(0, 1), (1, 0)], strength=0.7), scale=3.0)
    assert "forward" in vars(pipe.transformer) and "step" in vars(pipe.scheduler)
    assert not torch.equal(run(pipe, **_cfg(True)), plain)
    stylehunt.remove(pipe)
    assert "forward" not in vars(pipe.transformer) and "step" not in vars(pipe.scheduler)
    assert torch.equal(run(pipe, **_cfg(True)), plain)


def test_identity_image_is_refused_naming_the_reason(pipe):
    with pytest.raises(stylehunt.GuidanceError, match="block-causal"):
        stylehunt.apply(pipe, stylehunt.Preset(heads=[(0, 0)]), identity="image")


# -- aliases and the CLI, as a user types it ------------------------------------------------------------


def test_alias_fingerprints_equal_the_real_and_tiny_grids(pipe):
    real = registry.model_aliases()["qwen-image-2.1"]
    with torch.device("meta"):
        assert real.fingerprint == stylehunt.head_grid(QwenImage21Transformer2DModel()).fingerprint()
    assert real.id == "Qwen/Qwen-Image-2.1" and real.family == "qwenimage21"
    assert registry.model_aliases()["tiny-qwenimage21"].fingerprint == stylehunt.head_grid(pipe).fingerprint()


def test_cli_heads_on_tiny_qwenimage21(capsys):
    assert main(["heads", "--model", "tiny-qwenimage21"]) == 0
    out = capsys.readouterr().out
    assert "QwenImage21Transformer2DModel: 2 attention layers, 4 heads" in out and "transformer_blocks.1.attn" in out


def test_cli_generate_on_tiny_qwenimage21_with_ad_hoc_heads(tmp_path, capsys):
    out = tmp_path / "cat.png"
    # 64 px: the pipeline's own default is 1024 (its output_resolution), 256 times the tokens for a random model
    assert main(["generate", "--model", "tiny-qwenimage21", "--heads", "0:1,1:0", "--prompt", "a cat", "--out", str(out),
                 "--baseline", "--height", "64", "--width", "64"]) == 0
    assert capsys.readouterr().out.split() == [str(out), str(tmp_path / "cat.baseline.png")]
    guided, plain = (np.asarray(Image.open(p)).astype(int) for p in (out, tmp_path / "cat.baseline.png"))
    assert guided.shape == plain.shape == (64, 64, 4) and np.abs(guided - plain).max() > 0  # the VAE gives RGBA


def test_cli_search_on_tiny_qwenimage21_with_cfg(tiny_qwenimage21_path, tmp_path, capsys):
    """The search encodes prompts (and the negative one) as the pipeline does and runs with its KV cache on."""
    out = tmp_path / "run"
    argv = ["search", "--model", str(tiny_qwenimage21_path), "--model-id", "tiny-qwenimage21", "--objective", "warmth",
            "--num-prompts", "2", "--num-heldout", "1", "--rounds", "1", "--per-round", "1", "--steps", "2",
            "--resolution", "64", "--cfg", "4", "--out", str(out), "--format", "json"]
    assert main(argv) == 0
    preset = stylehunt.Preset.from_file(out)
    assert json.loads(capsys.readouterr().out)["heads"] == [list(a) for a in preset.heads]
    assert preset.fingerprint["family"] == "qwenimage21" and preset.model == "tiny-qwenimage21"


def test_cli_generate_with_the_bundled_tiny_qwenimage21_preset(tmp_path, capsys):
    preset = stylehunt.load_preset("tiny-qwenimage21/warm")
    assert preset.provenance["kind"] == "search"
    assert preset.fingerprint == registry.model_aliases()["tiny-qwenimage21"].fingerprint
    out = tmp_path / "warm.png"
    assert main(["generate", "--model", "tiny-qwenimage21", "--preset", "tiny-qwenimage21/warm", "--prompt",
                 "a red fox in snow", "--steps", "4", "--height", "64", "--width", "64", "--out", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out)]
    assert Image.open(out).size == (64, 64)


def test_docs_state_the_adapters_line_counts():
    engine_md = " ".join((Path(__file__).parents[1] / "docs" / "engine.md").read_text().split())
    for name in ("qwenimage21", "flux3"):
        n = len((Path(stylehunt.__file__).parent / "engine" / "families" / f"{name}.py").read_text().splitlines())
        assert f"`stylehunt/engine/families/{name}.py` ({n} lines)" in engine_md


# -- the modular pipeline's guider ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def modular(pipe):
    from diffusers.modular_pipelines import QwenImage21AutoBlocks

    modular = QwenImage21AutoBlocks().init_pipeline()
    modular.update_components(**{k: v for k, v in pipe.components.items() if k in modular.component_names})
    modular.set_progress_bar_config(disable=True)
    return modular


def _modular_run(modular, guider):
    from diffusers.guiders import ClassifierFreeGuidance

    modular.update_components(guider=guider)
    try:
        return modular(prompt="a lighthouse at dusk", negative_prompt="blurry", num_images_per_prompt=2,
                       num_inference_steps=3, height=64, width=64, generator=torch.Generator().manual_seed(0),
                       output="latents")
    finally:
        modular.update_components(guider=ClassifierFreeGuidance(guidance_scale=1.0))


@pytest.mark.parametrize("cfg", [4.0, 1.0], ids=["cfg", "no-cfg"])
def test_style_guider_matches_the_reference_through_the_modular_kv_caches(modular, cfg):
    """The modular loop keeps one prefix cache per guider batch: the style batch gets its own, filled by its
    first (perturbed) call."""
    from diffusers.guiders import ClassifierFreeGuidance

    from stylehunt.guider import StyleHeadGuidance

    preset = stylehunt.Preset(heads=[(0, 1), (1, 0)], strength=0.8)
    guided = _modular_run(modular, StyleHeadGuidance(preset, scale=2.0, guidance_scale=cfg))
    table = strength_table(stylehunt.head_grid(modular.transformer), [preset], [0.8])
    with ReferenceGuidance(modular, table, 2.0):
        expected = _modular_run(modular, ClassifierFreeGuidance(guidance_scale=cfg))
    assert not torch.allclose(guided, _modular_run(modular, ClassifierFreeGuidance(guidance_scale=cfg)), atol=1e-4)
    torch.testing.assert_close(guided, expected, rtol=1e-4, atol=2e-5)
