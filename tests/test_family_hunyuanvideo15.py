"""The HunyuanVideo 1.5 family (``HunyuanVideo15Transformer3DModel``) on the tiny pipeline and the real config on meta."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline, HunyuanVideo15Transformer3DModel
from diffusers.guiders import AdaptiveProjectedGuidance, ClassifierFreeGuidance
from PIL import Image

import stylehunt
from stylehunt.cli import main
from stylehunt.engine import strength_table
from stylehunt.errors import UnsupportedModelError
from stylehunt.registry import index as registry
from stylehunt.registry import load_preset
from tests.reference import ReferenceGuidance


@pytest.fixture(scope="module")
def hv(tiny_hunyuanvideo15_path):
    pipe = DiffusionPipeline.from_pretrained(tiny_hunyuanvideo15_path)
    pipe.set_progress_bar_config(disable=True)
    # Test speed only: the pipeline pads every prompt to 1000 Qwen tokens and 256 ByT5 tokens and appends
    # 729 image tokens (numbers fixed in its __init__, not in any config), so the tiny model attends over
    # ~2000 tokens per row. The reference materialises every map, so these tests shorten them on the
    # instance; the CLI tests below run the pipeline as loaded.
    pipe.tokenizer_max_length, pipe.tokenizer_2_max_length, pipe.vision_num_semantic_tokens = 12, 8, 4
    return pipe


@pytest.fixture(autouse=True)
def _clean(request):
    yield
    if "hv" in request.fixturenames:
        pipe = request.getfixturevalue("hv")
        stylehunt.remove(pipe)
        pipe.guider = ClassifierFreeGuidance(guidance_scale=6.0)


def run(pipe, guider=None, prompts=("a cat", "a dog"), **kwargs):
    if guider is not None:
        pipe.guider = guider
    generators = [torch.Generator().manual_seed(i) for i in range(len(prompts))]
    kwargs = {"num_inference_steps": 2, "height": 16, "width": 16, "num_frames": 1, **kwargs}
    return pipe(list(prompts), generator=generators, output_type="latent", **kwargs).frames


# -- the grid: the real config on meta -----------------------------------------------------------------


def test_the_class_default_config_is_the_8b_release_54_blocks_of_16_heads():
    with torch.device("meta"):
        transformer = HunyuanVideo15Transformer3DModel()
    grid = stylehunt.head_grid(transformer)
    assert (grid.num_layers, grid.heads_per_layer[0], grid.head_dim) == (54, 16, 128)
    assert grid.layers[53].module_name == "transformer_blocks.53.attn" and grid.layers[0].kind == "image_text"
    for alias in ("hunyuanvideo1.5-480p-t2v", "hunyuanvideo1.5-480p-i2v"):
        assert registry.model_aliases()[alias].fingerprint == grid.fingerprint()


def test_tiny_grid(hv):
    grid = stylehunt.head_grid(hv)
    assert grid.heads_per_layer == (2, 2) and grid.fingerprint()["family"] == "hunyuanvideo15"
    assert grid.fingerprint() == registry.model_aliases()["tiny-hunyuanvideo15"].fingerprint
    assert stylehunt.engine.size_multiple(hv) == 4  # the tiny VAE's 4 px per latent, patch 1


# -- apply equals the explicit-map reference ------------------------------------------------------------


@pytest.mark.parametrize("u", [0.6, 1.0])
@pytest.mark.parametrize("cfg", [5.0, 1.0], ids=["cfg", "no-cfg"])
def test_apply_matches_the_materialising_reference(hv, cfg, u):
    grid = stylehunt.head_grid(hv)
    preset = stylehunt.Preset(heads=[(0, 1), (1, 0)], strength=u)
    w = 2.5
    stylehunt.apply(hv, preset, scale=w)
    ours = run(hv, ClassifierFreeGuidance(guidance_scale=cfg))
    stylehunt.remove(hv)
    with ReferenceGuidance(hv, strength_table(grid, [preset], [u]), w):
        expected = run(hv)
    plain = run(hv)
    assert ours.shape[0] == 2
    assert not torch.allclose(ours, plain, atol=1e-4), "the preset must change the output for the test to mean anything"
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)


def test_a_non_affine_guider_gets_the_term_after_its_combination(hv):
    """Adaptive projected guidance is not affine in the predictions: the term is added to what it hands the
    scheduler, as the reference does, not passed through the guider."""
    preset = stylehunt.Preset(heads=[(1, 1)], strength=1.0)
    apg = lambda: AdaptiveProjectedGuidance(guidance_scale=5.0, eta=0.5)  # noqa: E731
    stylehunt.apply(hv, preset, scale=3.0)
    ours = run(hv, apg(), prompts=("a cat",))
    stylehunt.remove(hv)
    with ReferenceGuidance(hv, strength_table(stylehunt.head_grid(hv), [preset], [1.0]), 3.0):
        expected = run(hv, apg(), prompts=("a cat",))
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)


def test_the_image_identity_is_refused_naming_the_mask(hv):
    with pytest.raises(Exception, match="identity='image'"):
        stylehunt.apply(hv, stylehunt.Preset(heads=[(0, 0)]), identity="image")


def test_remove_is_exact(hv):
    one = ("a cat",)
    plain = run(hv, prompts=one)
    stylehunt.apply(hv, stylehunt.Preset(heads=[(0, 1), (1, 0)], strength=0.7), scale=3.0)
    assert "forward" in vars(hv.transformer) and "step" in vars(hv.scheduler)
    assert not torch.equal(run(hv, prompts=one), plain)
    stylehunt.remove(hv)
    assert "forward" not in vars(hv.transformer) and "step" not in vars(hv.scheduler)
    assert torch.equal(run(hv, prompts=one), plain)


# -- the guider component --------------------------------------------------------------------------------


@pytest.mark.parametrize("cfg", [5.0, 1.0], ids=["cfg", "no-cfg"])
def test_style_head_guidance_as_the_pipelines_guider_equals_apply(hv, cfg):
    """HunyuanVideo 1.5's pipelines take their guidance as a `guider` component: StyleHeadGuidance fits there."""
    preset = stylehunt.Preset(heads=[(0, 0), (1, 1)], strength=0.8)
    stylehunt.apply(hv, preset, scale=2.0)
    expected = run(hv, ClassifierFreeGuidance(guidance_scale=cfg), prompts=("a cat",))
    stylehunt.remove(hv)
    ours = run(hv, stylehunt.StyleHeadGuidance([preset], scale=2.0, guidance_scale=cfg), prompts=("a cat",))
    assert "forward" not in vars(hv.transformer)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)


def test_style_head_guidance_in_the_modular_pipeline_equals_apply(hv):
    """The modular HunyuanVideo 1.5 pipeline (its token lengths are fixed properties: the full ~2000 tokens)."""
    from diffusers import HunyuanVideo15Pipeline
    from diffusers.modular_pipelines import HunyuanVideo15AutoBlocks

    standard = HunyuanVideo15Pipeline(**hv.components)  # the pipeline's own token lengths, as the modular one's
    standard.set_progress_bar_config(disable=True)
    modular = HunyuanVideo15AutoBlocks().init_pipeline()
    modular.update_components(**{k: v for k, v in hv.components.items() if k in modular.component_names})
    modular.set_progress_bar_config(disable=True)
    preset = stylehunt.Preset(heads=[(0, 0), (1, 1)], strength=0.8)
    call = dict(prompt="a cat", num_inference_steps=2, height=16, width=16, num_frames=1, output_type="pt")
    modular.update_components(guider=stylehunt.StyleHeadGuidance([preset], scale=2.0, guidance_scale=4.0))
    ours = modular(**call, generator=torch.Generator().manual_seed(0), output="videos")
    standard.guider = ClassifierFreeGuidance(guidance_scale=4.0)
    stylehunt.apply(standard, preset, scale=2.0)
    try:
        expected = standard(**call, generator=torch.Generator().manual_seed(0)).frames
    finally:
        stylehunt.remove(standard)
    plain = standard(**call, generator=torch.Generator().manual_seed(0)).frames
    assert not torch.allclose(expected, plain, atol=1e-4)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)


# -- refusals: the diffusers DiTs no family covers --------------------------------------------------------


def test_a_refused_transformer_class_is_named_with_its_reason():
    from diffusers import SanaTransformer2DModel

    with torch.device("meta"):
        sana = SanaTransformer2DModel(num_layers=1, num_attention_heads=2, attention_head_dim=8, num_cross_attention_heads=2,
                                      cross_attention_head_dim=8, cross_attention_dim=16, caption_channels=16)
    with pytest.raises(UnsupportedModelError, match="SanaTransformer2DModel: its self-attention is linear attention"):
        stylehunt.head_grid(sana)


# -- the CLI, as a user types it ---------------------------------------------------------------------------


def test_cli_heads_on_tiny_hunyuanvideo15(capsys):
    assert main(["heads", "--model", "tiny-hunyuanvideo15"]) == 0
    assert "HunyuanVideo15Transformer3DModel: 2 attention layers, 4 heads" in capsys.readouterr().out
    assert main(["heads", "--model", "tiny-hunyuanvideo15", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["fingerprint"]["family"] == "hunyuanvideo15"


def test_cli_generate_writes_a_video_with_the_bundled_preset(tmp_path, capsys):
    preset = load_preset("tiny-hunyuanvideo15/warm")
    assert preset.provenance["kind"] == "search"
    assert preset.fingerprint == registry.model_aliases()["tiny-hunyuanvideo15"].fingerprint
    out = tmp_path / "fox.mp4"
    assert main(["generate", "--model", "tiny-hunyuanvideo15", "--preset", "tiny-hunyuanvideo15/warm",
                 "--prompt", "a red fox in snow", "--steps", "2", "--frames", "5", "--out", str(out)]) == 0
    assert capsys.readouterr().out.split()[0] == str(out)
    assert out.stat().st_size > 0
    sheet = Image.open(tmp_path / "fox.frames.png")
    assert np.asarray(sheet).std() > 0


def test_cli_generate_guidance_scale_reaches_the_guider(tmp_path, capsys):
    """The pipelines take no `guidance_scale` argument: --guidance-scale sets the guider component's."""
    out = tmp_path / "cat.mp4"
    assert main(["generate", "--model", "tiny-hunyuanvideo15", "--heads", "1:0", "--guidance-scale", "1",
                 "--prompt", "a cat", "--steps", "1", "--frames", "1", "--out", str(out)]) == 0
    assert capsys.readouterr().out.split()[0] == str(out) and out.stat().st_size > 0


def test_cli_search_with_cfg_reaches_the_guider(tiny_hunyuanvideo15_path, tmp_path, capsys):
    """The pipelines take no CFG argument: ``--cfg`` reaches the guider component (2 batches a step)."""
    out = tmp_path / "run"
    argv = ["search", "--model", str(tiny_hunyuanvideo15_path), "--model-id", "tiny-hunyuanvideo15",
            "--objective", "warmth", "--num-prompts", "1", "--num-heldout", "0", "--rounds", "1", "--per-round", "1",
            "--layers", "1", "--steps", "1", "--resolution", "16", "--frames", "1", "--batch-size", "1", "--cfg", "4",
            "--out", str(out)]
    assert main(argv) == 0
    preset = stylehunt.Preset.from_file(out)
    assert preset.heads[0][0] == 1 and preset.fingerprint["family"] == "hunyuanvideo15"
    # 1 prompt x 1 step x 2 guider batches: the CFG scale reached the guider (the tiny model's own is 6)
    assert preset.provenance["settings"]["forward_rows"]["baseline"] == 2


def test_cli_search_refuses_a_batch_the_vae_cannot_decode_before_any_image(tmp_path, capsys):
    """diffusers 0.42.1's HunyuanVideo 1.5 VAE fails on 2+ videos per call: the default batch of 8 is refused."""
    assert main(["search", "--model", "tiny-hunyuanvideo15", "--objective", "warmth", "--rounds", "2", "--per-round", "1",
                 "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "--batch-size 8 is more than HunyuanVideo15Pipeline decodes in one call (1)" in err
    assert "use --batch-size 1" in err and not (tmp_path / "run" / "state.json").exists()


@pytest.mark.parametrize("scale, batches", [(1.0, 1), (4.0, 2)])
def test_a_cfg_scale_held_by_the_guider_is_set_on_a_copy_for_one_call(hv, scale, batches):
    from stylehunt.engine.families import adapter_for_pipeline

    own = hv.guider
    with adapter_for_pipeline(hv).cfg_call(hv, scale) as kwargs:
        assert kwargs == {} and hv.guider is not own and hv.guider.guidance_scale == scale
        assert hv.guider.num_conditions == batches
    assert hv.guider is own and own.guidance_scale == 6.0
