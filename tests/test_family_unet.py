"""The SDXL and SD 1.x / 2.x U-Net family (``UNet2DConditionModel``) on tiny pipelines and real configs on meta."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from diffusers import (
    PNDMScheduler,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionInpaintPipeline,
    StableDiffusionXLImg2ImgPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPAGPipeline,
    UNet2DConditionModel,
)
from PIL import Image

import stylehunt
from stylehunt.cli import main
from stylehunt.engine import strength_table
from stylehunt.registry import index as registry
from stylehunt.registry import load_preset
from tests.reference import ReferenceGuidance
from tests.test_engine import _load, run  # 2 prompts, 3 steps, 64 px: 16 and 4 tokens at tiny-sdxl's attention levels

@pytest.fixture(scope="module")
def sdxl(tiny_sdxl_path):
    return _load(tiny_sdxl_path)


@pytest.fixture(scope="module")
def sd15(tiny_sd15_path):
    return _load(tiny_sd15_path)


@pytest.fixture(autouse=True)
def _clean(request):
    yield
    for name in ("sdxl", "sd15"):
        if name in request.fixturenames:
            stylehunt.remove(request.getfixturevalue(name))


# -- the grid: address order and real configs on meta ------------------------------------------------

# The public unet/config.json values of the three model lines (diffusers' configs on the Hub).
_SDXL = dict(
    sample_size=128, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    attention_head_dim=(5, 10, 20), transformer_layers_per_block=(1, 2, 10), cross_attention_dim=2048,
    use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816,
)
_SD = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
)
REAL = {
    "sdxl-base-1.0": ("stabilityai/stable-diffusion-xl-base-1.0", _SDXL),
    "sd1.5": ("stable-diffusion-v1-5/stable-diffusion-v1-5", dict(_SD, attention_head_dim=8, cross_attention_dim=768)),
    "sd2.1": (
        "stabilityai/stable-diffusion-2-1",
        dict(_SD, sample_size=96, attention_head_dim=(5, 10, 20, 20), cross_attention_dim=1024, use_linear_projection=True),
    ),
}


def _meta_unet(config):
    with torch.device("meta"):
        return UNet2DConditionModel(**config)


@pytest.mark.parametrize("alias", sorted(REAL))
def test_alias_fingerprints_equal_the_real_unets_built_on_meta(alias):
    hub_id, config = REAL[alias]
    entry = registry.model_aliases()[alias]
    assert entry.id == hub_id and entry.family == alias.split("-")[0]
    assert entry.fingerprint == stylehunt.head_grid(_meta_unet(config)).fingerprint()


def test_sdxl_base_addresses_down_then_mid_then_up_blocks_with_heads_by_level():
    grid = stylehunt.head_grid(_meta_unet(_SDXL))
    assert grid.num_layers == 70 and grid.head_dim == 64
    assert grid.heads_per_layer == (10,) * 4 + (20,) * 20 + (20,) * 10 + (20,) * 30 + (10,) * 6
    names = [layer.module_name for layer in grid.layers]
    assert names[0] == "down_blocks.1.attentions.0.transformer_blocks.0.attn1"
    assert names[4] == "down_blocks.2.attentions.0.transformer_blocks.0.attn1"
    assert names[24:34] == [f"mid_block.attentions.0.transformer_blocks.{i}.attn1" for i in range(10)]
    assert names[34] == "up_blocks.0.attentions.0.transformer_blocks.0.attn1"
    assert names[-1] == "up_blocks.1.attentions.2.transformer_blocks.1.attn1"
    # SD 1.5: 8 heads everywhere, head dim by level (the fingerprint's -1)
    sd15 = stylehunt.head_grid(_meta_unet(REAL["sd1.5"][1]))
    assert sd15.num_layers == 16 and sd15.heads_per_layer == (8,) * 16 and sd15.head_dim == -1
    assert [layer.head_dim for layer in sd15.layers] == [40, 40, 80, 80, 160, 160, 160, 160, 160, 160, 80, 80, 80, 40, 40, 40]


def test_a_preset_made_on_sdxl_base_passes_on_a_fine_tune_and_not_on_sd15(caplog):
    base = registry.model_aliases()["sdxl-base-1.0"]
    preset = stylehunt.Preset(heads=[(24, 19), (69, 9)], name="sdxl-style", model=base.id, fingerprint=base.fingerprint)
    fine_tune = _meta_unet(_SDXL)
    fine_tune.register_to_config(_name_or_path="someone/sdxl-anime-finetune")
    assert stylehunt.engine.check_presets(fine_tune, preset).num_layers == 70
    assert "same architecture (a fine-tune?)" in caplog.text
    with pytest.raises(stylehunt.ArchitectureMismatchError, match="16 layers"):
        stylehunt.engine.check_presets(_meta_unet(REAL["sd1.5"][1]), preset)


def test_tiny_grids(sdxl, sd15):
    grid = stylehunt.head_grid(sdxl)
    assert grid.heads_per_layer == (2, 4, 4, 4, 4, 4, 4, 4, 4, 2, 2)
    assert grid.layers[3].module_name == "mid_block.attentions.0.transformer_blocks.0.attn1"
    assert grid.fingerprint() == registry.model_aliases()["tiny-sdxl"].fingerprint
    assert stylehunt.head_grid(sd15).fingerprint() == registry.model_aliases()["tiny-sd15"].fingerprint
    assert stylehunt.engine.size_multiple(sdxl) == 8


# -- apply equals the explicit-map reference -----------------------------------------------------------


@pytest.mark.parametrize("u", [0.6, 1.0])
@pytest.mark.parametrize("cfg", [5.0, 1.0], ids=["cfg", "no-cfg"])
@pytest.mark.parametrize("family", ["sdxl", "sd15"])
def test_apply_matches_the_materialising_reference(request, family, cfg, u):
    pipe = request.getfixturevalue(family)
    grid = stylehunt.head_grid(pipe)
    rng = random.Random(7)
    heads = rng.sample(list(grid), 4)
    preset = stylehunt.Preset(heads=heads, strength=u)
    w = 2.5
    stylehunt.apply(pipe, preset, scale=w)
    ours = run(pipe, guidance_scale=cfg)
    stylehunt.remove(pipe)
    with ReferenceGuidance(pipe, strength_table(grid, [preset], [u]), w):
        expected = run(pipe, guidance_scale=cfg)
    plain = run(pipe, guidance_scale=cfg)
    assert ours.shape[0] == 2
    assert not torch.allclose(ours, plain, atol=1e-4), "the preset must change the output for the test to mean anything"
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)


def test_matches_diffusers_sdxl_pag_pipeline_on_the_mid_block(sdxl):
    """diffusers' SDXL PAG (identity self-attention in the mid block's attn1, u = 1) is a whole-layer preset."""
    w = 3.0
    pag = StableDiffusionXLPAGPipeline.from_pipe(sdxl, pag_applied_layers=["mid"])
    pag.set_progress_bar_config(disable=True)
    expected = run(pag, guidance_scale=5.0, pag_scale=w, pag_adaptive_scale=0.0)
    mid = [i for i, layer in enumerate(stylehunt.head_grid(sdxl).layers) if layer.module_name.startswith("mid_block")]
    preset = stylehunt.Preset(heads=[(i, h) for i in mid for h in range(4)], strength=1.0)
    stylehunt.apply(sdxl, preset, scale=w)
    ours = run(sdxl, guidance_scale=5.0)
    stylehunt.remove(sdxl)
    assert mid == [3, 4] and not torch.allclose(ours, run(sdxl, guidance_scale=5.0), atol=1e-4)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize(
    "family,cls,extra",
    [
        ("sdxl", StableDiffusionXLImg2ImgPipeline, {"strength": 0.7}),
        ("sdxl", StableDiffusionXLInpaintPipeline, {"strength": 0.9}),
        ("sd15", StableDiffusionImg2ImgPipeline, {"strength": 0.7}),
        ("sd15", StableDiffusionInpaintPipeline, {"strength": 0.9}),
    ],
    ids=lambda x: getattr(x, "__name__", None),
)
def test_img2img_and_inpaint_pipelines_are_guided(request, family, cls, extra):
    pipe = cls.from_pipe(request.getfixturevalue(family))
    pipe.set_progress_bar_config(disable=True)
    extra = {**extra, "image": torch.rand(1, 3, 64, 64), "guidance_scale": 4.0}
    if "Inpaint" in cls.__name__:
        extra["mask_image"] = torch.ones(1, 1, 64, 64)
    preset = stylehunt.Preset(heads=[(0, 0), (2, 1)], strength=0.8)
    stylehunt.apply(pipe, preset, scale=2.0)
    try:
        ours = run(pipe, prompt="a cat", **extra)
    finally:
        stylehunt.remove(pipe)
    with ReferenceGuidance(pipe, strength_table(stylehunt.head_grid(pipe), [preset], [0.8]), 2.0):
        expected = run(pipe, prompt="a cat", **extra)
    assert not torch.allclose(ours, run(pipe, prompt="a cat", **extra), atol=1e-4)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("family", ["sdxl", "sd15"])
def test_remove_is_exact(request, family):
    pipe = request.getfixturevalue(family)
    plain = run(pipe)
    stylehunt.apply(pipe, stylehunt.Preset(heads=[(0, 1), (3, 0)], strength=0.7), scale=3.0)
    assert "forward" in vars(pipe.unet) and "step" in vars(pipe.scheduler)
    assert not torch.equal(run(pipe), plain)
    stylehunt.remove(pipe)
    assert "forward" not in vars(pipe.unet) and "step" not in vars(pipe.scheduler)
    assert torch.equal(run(pipe), plain)


def test_a_scheduler_without_step_index_is_refused_by_name(sd15):
    pipe = StableDiffusionInpaintPipeline.from_pipe(sd15, scheduler=PNDMScheduler.from_config(sd15.scheduler.config))
    with pytest.raises(stylehunt.UnsupportedModelError, match="PNDMScheduler has no `step_index`"):
        stylehunt.apply(pipe, stylehunt.Preset(heads=[(0, 0)]))
    assert "forward" not in vars(pipe.unet)


def test_an_added_cond_entry_without_rows_is_refused(sdxl):
    """An IP-Adapter puts a list of image embeddings into ``added_cond_kwargs``: no rows to append, a clear error."""
    from stylehunt.engine.rows import select_dict_rows as _select_dict_rows
    from stylehunt.engine.families import adapter_named

    call = {"added_cond_kwargs": {"text_embeds": torch.arange(4.0)[:, None], "image_embeds": [torch.zeros(2, 3)]}}
    with pytest.raises(stylehunt.GuidanceError, match=r"`added_cond_kwargs` holds `image_embeds` \(list\)"):
        _select_dict_rows(call, adapter_named("sdxl"), [0, 1, 3, 3], 4)
    call["added_cond_kwargs"].pop("image_embeds")
    picked = _select_dict_rows(call, adapter_named("sdxl"), [0, 1, 3, 3], 4)["added_cond_kwargs"]["text_embeds"]
    assert picked.flatten().tolist() == [0.0, 1.0, 3.0, 3.0] and call["added_cond_kwargs"]["text_embeds"].shape[0] == 4


# -- the CLI, as a user types it -------------------------------------------------------------------


def test_cli_heads_on_tiny_sdxl(capsys):
    assert main(["heads", "--model", "tiny-sdxl"]) == 0
    out = capsys.readouterr().out
    assert "UNet2DConditionModel: 11 attention layers, 38 heads" in out
    assert "mid_block.attentions.0.transformer_blocks.1.attn1" in out
    assert main(["heads", "--model", "tiny-sdxl", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["fingerprint"]["family"] == "unet"


def test_cli_generate_on_tiny_sdxl_with_ad_hoc_heads(tmp_path, capsys):
    out = tmp_path / "cat.png"
    assert main(["generate", "--model", "tiny-sdxl", "--heads", "3:1,9:0", "--prompt", "a cat", "--out", str(out),
                 "--baseline"]) == 0
    assert capsys.readouterr().out.split() == [str(out), str(tmp_path / "cat.baseline.png")]
    guided, plain = (np.asarray(Image.open(p)).astype(int) for p in (out, tmp_path / "cat.baseline.png"))
    assert guided.shape == plain.shape == (64, 64, 3) and np.abs(guided - plain).max() > 0


@pytest.mark.parametrize("family, cfg", [("sdxl", ["--cfg", "4"]), ("sd15", [])], ids=["sdxl-cfg", "sd15"])
def test_cli_search_on_the_tiny_unets(family, cfg, request, tmp_path, capsys):
    """The search encodes prompts as the family's pipelines do (SDXL: pooled embeddings too), counts rows at
    ``conv_in``, and shares identical rows (SDXL's ``added_cond_kwargs`` compared too)."""
    from tests.test_search import guided_rows

    out = tmp_path / "run"
    argv = ["search", "--model", str(request.getfixturevalue(f"tiny_{family}_path")), "--model-id", f"tiny-{family}",
            "--objective", "warmth", "--num-prompts", "2", "--num-heldout", "1", "--rounds", "1", "--per-round", "1",
            "--layers", "0", "--steps", "2", "--batch-size", "4", "--resolution", "64", *cfg, "--out", str(out),
            "--format", "json"]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    preset = stylehunt.Preset.from_file(out)
    assert json.loads(stdout)["heads"] == [list(a) for a in preset.heads] and preset.heads[0][0] == 0
    assert preset.fingerprint["family"] == "unet" and preset.model == f"tiny-{family}"
    rows = 2 if cfg else 1  # batched CFG: [uncond, cond] per image
    assert preset.provenance["settings"]["forward_rows"]["baseline"] == 2 * 2 * rows
    assert preset.provenance["settings"]["forward_rows"]["full"] == guided_rows(2, 2, 2, rows, batch=4)


def test_cli_generate_with_the_bundled_tiny_sdxl_preset(tmp_path, capsys):
    preset = load_preset("tiny-sdxl/warm")
    assert preset.provenance["kind"] == "search" and preset.fingerprint == registry.model_aliases()["tiny-sdxl"].fingerprint
    out = tmp_path / "warm.png"
    assert main(["generate", "--model", "tiny-sdxl", "--preset", "tiny-sdxl/warm", "--prompt", "a red fox in snow",
                 "--steps", "4", "--out", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out)]
    assert Image.open(out).size == (64, 64)
