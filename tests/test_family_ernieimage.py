"""The ERNIE-Image family (``ErnieImageTransformer2DModel``) on the tiny pipeline and the class-default config on meta."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import DiffusionPipeline, ErnieImageTransformer2DModel
from PIL import Image

import stylehunt
from stylehunt.cli import main
from stylehunt.engine import strength_table
from stylehunt.registry import index as registry
from stylehunt.registry import load_preset
from tests.reference import ReferenceGuidance


@pytest.fixture(scope="module")
def ernie(tiny_ernieimage_path):
    pipe = DiffusionPipeline.from_pretrained(tiny_ernieimage_path)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(autouse=True)
def _clean(request):
    yield
    if "ernie" in request.fixturenames:
        stylehunt.remove(request.getfixturevalue("ernie"))


def run(pipe, cfg=4.0, prompts=("a cat", "a small dog")):
    """Two prompts of different lengths: the text is padded per row, under a key mask."""
    generators = [torch.Generator().manual_seed(i) for i in range(len(prompts))]
    return pipe(list(prompts), num_inference_steps=2, height=32, width=32, guidance_scale=cfg, generator=generators,
                output_type="latent").images


def test_the_class_default_grid_is_24_layers_of_24_heads():
    with torch.device("meta"):
        grid = stylehunt.head_grid(ErnieImageTransformer2DModel())
    assert (grid.num_layers, grid.heads_per_layer[0], grid.head_dim) == (24, 24, 128)
    assert grid.layers[23].module_name == "layers.23.self_attention" and grid.layers[0].kind == "image_text"


def test_tiny_grid(ernie):
    grid = stylehunt.head_grid(ernie)
    assert grid.fingerprint() == registry.model_aliases()["tiny-ernieimage"].fingerprint
    assert stylehunt.engine.size_multiple(ernie) == 16  # the VAE's 8 px times the pipeline's 2 x 2 packing


@pytest.mark.parametrize("u", [0.6, 1.0])
@pytest.mark.parametrize("cfg", [4.0, 1.0], ids=["cfg", "no-cfg"])
def test_apply_matches_the_materialising_reference(ernie, cfg, u):
    grid = stylehunt.head_grid(ernie)
    preset = stylehunt.Preset(heads=[(0, 1), (1, 0)], strength=u)
    stylehunt.apply(ernie, preset, scale=2.5)
    ours = run(ernie, cfg)
    stylehunt.remove(ernie)
    with ReferenceGuidance(ernie, strength_table(grid, [preset], [u]), 2.5):
        expected = run(ernie, cfg)
    plain = run(ernie, cfg)
    assert ours.shape[0] == 2
    assert not torch.allclose(ours, plain, atol=1e-4), "the preset must change the output for the test to mean anything"
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)


def test_the_image_identity_is_refused_naming_the_mask(ernie):
    with pytest.raises(Exception, match="identity='image'"):
        stylehunt.apply(ernie, stylehunt.Preset(heads=[(0, 0)]), identity="image")


def test_remove_is_exact(ernie):
    plain = run(ernie)
    stylehunt.apply(ernie, stylehunt.Preset(heads=[(0, 1), (1, 0)], strength=0.7), scale=3.0)
    assert "forward" in vars(ernie.transformer)
    assert not torch.equal(run(ernie), plain)
    stylehunt.remove(ernie)
    assert "forward" not in vars(ernie.transformer)
    assert torch.equal(run(ernie), plain)


def test_cli_heads_on_tiny_ernieimage(capsys):
    assert main(["heads", "--model", "tiny-ernieimage"]) == 0
    assert "ErnieImageTransformer2DModel: 2 attention layers, 4 heads" in capsys.readouterr().out
    assert main(["heads", "--model", "tiny-ernieimage", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["fingerprint"]["family"] == "ernieimage"


def test_cli_generate_with_the_bundled_preset(tmp_path, capsys):
    preset = load_preset("tiny-ernieimage/warm")
    assert preset.provenance["kind"] == "search"
    assert preset.fingerprint == registry.model_aliases()["tiny-ernieimage"].fingerprint
    out = tmp_path / "fox.png"
    assert main(["generate", "--model", "tiny-ernieimage", "--preset", "tiny-ernieimage/warm", "--prompt",
                 "a red fox in snow", "--steps", "1", "--out", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out)]
    assert Image.open(out).size == (1024, 1024)  # the size left out: the pipeline's own default (its call states it)


def test_cli_search_encodes_per_prompt_lists(tiny_ernieimage_path, tmp_path, capsys):
    """encode_prompt returns one bare list of per-prompt embeddings (encode_one_value): prompts of different
    lengths are batched by the pipeline's own padding; with --cfg the empty prompt is the negative."""
    out = tmp_path / "run"
    argv = ["search", "--model", str(tiny_ernieimage_path), "--model-id", "tiny-ernieimage", "--objective", "warmth",
            "--num-prompts", "2", "--num-heldout", "0", "--rounds", "1", "--per-round", "1", "--layers", "1",
            "--steps", "1", "--resolution", "32", "--cfg", "4", "--out", str(out)]
    assert main(argv) == 0
    preset = stylehunt.Preset.from_file(out)
    assert preset.heads[0][0] == 1 and preset.fingerprint["family"] == "ernieimage"
    assert preset.provenance["settings"]["forward_rows"]["baseline"] == 2 * 2  # 2 prompts, batched [uncond, cond]
