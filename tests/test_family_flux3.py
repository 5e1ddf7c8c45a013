"""FLUX 3 (``Flux3Transformer2DModel``): per-mode blocks, then single blocks, through its modular pipeline, on the
tiny model and the real config on meta."""

from __future__ import annotations

import pytest
import torch
from diffusers import Flux3Transformer2DModel
from diffusers.guiders import ClassifierFreeGuidance

import stylehunt
from stylehunt.engine import strength_table
from stylehunt.guider import StyleHeadGuidance
from tests.reference import ReferenceGuidance


@pytest.fixture(scope="module")
def pipe():
    from stylehunt.tiny.flux3 import build_flux3_pipeline

    pipe = build_flux3_pipeline(0)
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            component.eval()
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(autouse=True)
def _clean(request):
    yield
    if "pipe" in request.fixturenames:
        p = request.getfixturevalue("pipe")
        stylehunt.remove(p)
        p.update_components(guider=ClassifierFreeGuidance(guidance_scale=4.0))


def run(pipe, cfg=True, **kwargs):
    """Two images of one prompt (the pipeline takes one prompt per call), 3 steps, 64 px, latents out."""
    if cfg:
        kwargs.setdefault("negative_prompt", "blurry")
    pipe.update_components(guider=kwargs.pop("guider", None) or ClassifierFreeGuidance(guidance_scale=4.0 if cfg else 1.0))
    return pipe(
        prompt="a lighthouse at dusk", num_images_per_prompt=2, num_inference_steps=3, height=64, width=64,
        generator=torch.Generator().manual_seed(0), output="latents", **kwargs,
    )


# one head in each kind of layer: text mode (0-1), image mode (2-3), reference-image mode (4-5), single (6-7)
HEADS = [(0, 1), (3, 0), (6, 1), (7, 0)]


def test_real_config_on_meta_is_5_5_5_mode_layers_then_28_single_of_24_heads():
    with torch.device("meta"):
        grid = stylehunt.head_grid(Flux3Transformer2DModel())
    assert grid.num_layers == 43 and grid.heads_per_layer == (24,) * 43 and grid.head_dim == 128
    names = [layer.module_name for layer in grid.layers]
    assert names[0] == "txt_mode_blocks.0.attn" and names[5] == "mode_blocks.image.0.attn"
    assert names[10] == "mode_blocks.image_cond.0.attn" and names[15] == "single_transformer_blocks.0.attn"
    assert [layer.kind for layer in grid.layers] == ["text"] * 5 + ["image"] * 10 + ["text_image"] * 28


def test_tiny_grid_and_size(pipe):
    grid = stylehunt.head_grid(pipe.transformer)
    assert grid.heads_per_layer == (2,) * 8 and grid.head_dim == 16
    assert stylehunt.engine.size_multiple(pipe) == 16


# every value of each setting once (CFG on/off, u < 1 and u = 1, both identities), in four runs; HEADS has a
# text mode head, which the image identity leaves alone (the reference's map for a text-only layer)
@pytest.mark.parametrize(
    "cfg,u,identity", [(True, 0.6, "joint"), (False, 1.0, "joint"), (True, 1.0, "image"), (False, 0.6, "image")]
)
def test_apply_matches_the_materialising_reference(pipe, cfg, u, identity):
    grid = stylehunt.head_grid(pipe.transformer)
    preset = stylehunt.Preset(heads=HEADS, strength=u)
    w = 2.5
    stylehunt.apply(pipe, preset, scale=w, identity=identity)
    ours = run(pipe, cfg)
    stylehunt.remove(pipe)
    with ReferenceGuidance(pipe, strength_table(grid, [preset], [u]), w, mode=identity):
        expected = run(pipe, cfg)
    plain = run(pipe, cfg)
    assert ours.shape[0] == 2
    assert not torch.allclose(ours, plain, atol=1e-4), "the preset must change the output for the test to mean anything"
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)


# with CFG only: the style batch with CFG off is the same code path in the guider (tests/test_guider.py)
@pytest.mark.parametrize("cfg", [True], ids=["cfg"])
def test_style_guider_equals_apply(pipe, cfg):
    preset = stylehunt.Preset(heads=HEADS, strength=0.8)
    stylehunt.apply(pipe, preset, scale=2.0)
    applied = run(pipe, cfg)
    stylehunt.remove(pipe)
    guider = StyleHeadGuidance(preset, scale=2.0, guidance_scale=4.0 if cfg else 1.0)
    guided = run(pipe, cfg, guider=guider)
    assert not torch.allclose(guided, run(pipe, cfg), atol=1e-4)
    torch.testing.assert_close(guided, applied, rtol=1e-4, atol=2e-5)


def test_remove_is_exact(pipe):
    plain = run(pipe)
    stylehunt.apply(pipe, stylehunt.Preset(heads=HEADS, strength=0.7), scale=3.0)
    assert "forward" in vars(pipe.transformer)
    assert not torch.equal(run(pipe), plain)
    stylehunt.remove(pipe)
    assert "forward" not in vars(pipe.transformer)
    assert torch.equal(run(pipe), plain)


def test_the_step_distilled_pipeline_is_guided_as_the_reference():
    """Flux3DistilledModularPipeline: one call per step, no guider; its flow-map transformer takes a per-row
    ``target_timestep``, appended with the perturbed rows."""
    from diffusers import Flux3DistilledAutoBlocks

    from stylehunt.tiny.components import seeded
    from stylehunt.tiny.flux3 import _transformer, flux3_components

    blocks = Flux3DistilledAutoBlocks()
    blocks.sub_blocks.pop("prompt_upsampler")
    pipe = blocks.init_pipeline()
    components = {**flux3_components(0), "transformer": seeded(0, 0, lambda: _transformer(flow_map=True))}
    pipe.update_components(**{k: v for k, v in components.items() if k in pipe.component_names})
    pipe.set_progress_bar_config(disable=True)

    def go():
        return pipe(prompt="a lighthouse at dusk", num_images_per_prompt=2, num_inference_steps=2, height=64,
                    width=64, generator=torch.Generator().manual_seed(0), output="latents")

    preset = stylehunt.Preset(heads=HEADS, strength=0.8)
    stylehunt.apply(pipe, preset, scale=2.0)
    try:
        ours = go()
    finally:
        stylehunt.remove(pipe)
    with ReferenceGuidance(pipe, strength_table(stylehunt.head_grid(pipe.transformer), [preset], [0.8]), 2.0):
        expected = go()
    assert not torch.allclose(ours, go(), atol=1e-4)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)
