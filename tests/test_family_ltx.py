"""The LTX-Video 0.9 and LTX-2 families on tiny pipelines, and the real configs on meta."""

from __future__ import annotations

import copy
import json
import random
import wave

import numpy as np
import pytest
import torch
from diffusers import LTX2VideoTransformer3DModel, LTXVideoTransformer3DModel

import stylehunt
from stylehunt import StyleHeadGuidance
from stylehunt.cli import main
from stylehunt.engine import strength_table
from stylehunt.registry import index as registry
from tests.reference import (
    BATCHED, ReferenceGuidance, ReferencePerturbation, conditional_rows, named_arguments, select_rows,
)
from tests.test_engine import _load

PROMPTS = ["a red fox in snow", "a lighthouse at dusk"]
#: LTX-2 converted checkpoints (diffusers' scripts/convert_ltx2_to_diffusers.py, version 2.0); LTX-Video 0.9's
#: transformer config is the class's defaults (scripts/convert_ltx_to_diffusers.py builds it without arguments)
_LTX2 = dict(
    in_channels=128, out_channels=128, num_attention_heads=32, attention_head_dim=128, cross_attention_dim=4096,
    audio_in_channels=128, audio_out_channels=128, audio_num_attention_heads=32, audio_attention_head_dim=64,
    audio_cross_attention_dim=2048, num_layers=48, caption_channels=3840, rope_type="split",
)
REAL = {
    "ltx-video": ("Lightricks/LTX-Video", LTXVideoTransformer3DModel, {}),
    "ltx-2": ("Lightricks/LTX-2", LTX2VideoTransformer3DModel, _LTX2),
}


@pytest.fixture(scope="module")
def ltx(tiny_ltx_path):
    return _load(tiny_ltx_path)


@pytest.fixture(scope="module")
def ltx2(tiny_ltx2_path):
    return _load(tiny_ltx2_path)


@pytest.fixture(autouse=True)
def _clean(request):
    yield
    for name in ("ltx", "ltx2"):
        if name in request.fixturenames:
            stylehunt.remove(request.getfixturevalue(name))


def run(pipe, **kwargs):
    """2 prompts, 2 steps, 64 px, 9 frames (2 x 2 x 2 latents in both tiny VAEs); latents out."""
    kwargs = {"num_inference_steps": 2, "height": 64, "width": 64, "num_frames": 9, **kwargs}
    if type(pipe).__name__ == "LTX2Pipeline":
        kwargs = {"max_sequence_length": 16, "guidance_rescale": 0.0,
                  "audio_guidance_rescale": 0.0, **kwargs}
    out = pipe(prompt=list(PROMPTS), generator=torch.Generator().manual_seed(0), output_type="latent", **kwargs)
    audio = getattr(out, "audio", None)
    return out.frames if audio is None else (out.frames, audio)


def rows(out):
    """A run's output as (rows, features): LTX-2's video and audio latents side by side."""
    return torch.cat([t.flatten(1) for t in out], dim=1) if isinstance(out, tuple) else out


class LTX2Reference:
    """LTX-2 guided from separate forwards: per step, ``eps_c`` and ``eps_pert`` (video and audio) of the first
    call's conditional rows, and ``w (eps_c - eps_pert)`` added to what each scheduler gets: the pipeline's for
    the video, its per-call copy for the audio."""

    def __init__(self, pipe, table, scale):
        self.pipe, self.table, self.scale = pipe, table, scale

    def __enter__(self):
        pipe, transformer, state = self.pipe, self.pipe.transformer, {"first": True}
        cls_forward, cls = type(transformer).forward, type(pipe.scheduler)
        self.step = step = cls.step

        def forward(*args, **kwargs):
            call = named_arguments(transformer, args, kwargs)
            if state["first"]:
                state["first"] = False
                cond = {**select_rows(call, conditional_rows(pipe, transformer, call), BATCHED), "return_dict": False}
                eps_c = cls_forward(transformer, **cond)
                ref = ReferencePerturbation(transformer, self.table, "joint", 0)
                try:
                    with ref:
                        eps_p = cls_forward(transformer, **cond)
                finally:
                    ref.close()
                state["delta"] = [c - p for c, p in zip(eps_c, eps_p)]
            return cls_forward(transformer, **call)

        def scheduler_step(scheduler, model_output, *args, **kwargs):
            video = scheduler is pipe.scheduler
            state["first"] = state["first"] or not video  # the audio step ends the denoising step
            delta = state["delta"][0 if video else 1]
            return step(scheduler, model_output + self.scale * delta.to(model_output.dtype), *args, **kwargs)

        transformer.forward = forward
        cls.step = scheduler_step
        return self

    def __exit__(self, *exc):
        del self.pipe.transformer.forward
        type(self.pipe.scheduler).step = self.step


# -- the grid: address order and real configs on meta ------------------------------------------------


@pytest.mark.parametrize("alias", sorted(REAL))
def test_alias_fingerprints_equal_the_real_transformers_built_on_meta(alias):
    hub_id, cls, config = REAL[alias]
    with torch.device("meta"):
        transformer = cls(**config)
    entry = registry.model_aliases()[alias]
    assert entry.id == hub_id and entry.family == {"ltx-video": "ltx", "ltx-2": "ltx2"}[alias]
    assert entry.fingerprint == stylehunt.head_grid(transformer).fingerprint()


def test_ltx2_addresses_video_then_audio_self_attention():
    with torch.device("meta"):
        grid = stylehunt.head_grid(LTX2VideoTransformer3DModel(**_LTX2))
    assert grid.num_layers == 96 and grid.heads_per_layer == (32,) * 96 and grid.head_dim == -1
    names = [layer.module_name for layer in grid.layers]
    assert names[0] == "transformer_blocks.0.attn1" and names[47] == "transformer_blocks.47.attn1"
    assert names[48] == "transformer_blocks.0.audio_attn1" and names[95] == "transformer_blocks.47.audio_attn1"
    assert [layer.head_dim for layer in grid.layers] == [128] * 48 + [64] * 48
    with torch.device("meta"):
        ltx = stylehunt.head_grid(LTXVideoTransformer3DModel())
    assert (ltx.num_layers, ltx.heads_per_layer[0], ltx.head_dim) == (28, 32, 64)


def test_tiny_grids(ltx, ltx2):
    assert stylehunt.head_grid(ltx).fingerprint() == registry.model_aliases()["tiny-ltx"].fingerprint
    assert stylehunt.head_grid(ltx2).fingerprint() == registry.model_aliases()["tiny-ltx2"].fingerprint
    assert stylehunt.head_grid(ltx2).heads_per_layer == (2, 2, 2, 2)
    assert stylehunt.engine.size_multiple(ltx) == 32 and stylehunt.engine.size_multiple(ltx2) == 32


# -- apply equals the explicit-map reference -----------------------------------------------------------


@pytest.mark.parametrize("u", [0.6, 1.0])
@pytest.mark.parametrize("cfg", [3.0, 1.0], ids=["cfg", "no-cfg"])
def test_ltx_apply_matches_the_materialising_reference(ltx, cfg, u):
    grid = stylehunt.head_grid(ltx)
    preset = stylehunt.Preset(heads=random.Random(3).sample(list(grid), 2), strength=u)
    # guidance_rescale: the pipeline's non-affine CFG, which the scheduler-side term goes after
    kwargs = {"guidance_scale": cfg, "guidance_rescale": 0.5 if cfg > 1 else 0.0}
    stylehunt.apply(ltx, preset, scale=2.5, identity="image" if u == 1.0 else "joint")
    ours = run(ltx, **kwargs)
    stylehunt.remove(ltx)
    with ReferenceGuidance(ltx, strength_table(grid, [preset], [u]), 2.5):
        expected = run(ltx, **kwargs)
    assert not torch.allclose(ours, run(ltx, **kwargs), atol=1e-4)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("u", [0.6, 1.0])
@pytest.mark.parametrize("cfg", [3.0, 1.0], ids=["cfg-stg-modality", "no-cfg"])
def test_ltx2_apply_matches_the_materialising_reference_on_video_and_audio(ltx2, cfg, u):
    """With CFG on, the pipeline's STG pass (block 1) and modality-isolation pass run too: the term composes."""
    grid = stylehunt.head_grid(ltx2)
    preset = stylehunt.Preset(heads=[(0, 1), (3, 0)], strength=u)  # video layer 0, audio layer 1
    kwargs = {"guidance_scale": cfg, "audio_guidance_scale": cfg, "spatio_temporal_guidance_blocks": [1]}
    if cfg == 1.0:
        kwargs.update(stg_scale=0.0, audio_stg_scale=0.0, modality_scale=1.0, audio_modality_scale=1.0)
    stylehunt.apply(ltx2, preset, scale=2.5)
    ours = run(ltx2, **kwargs)
    stylehunt.remove(ltx2)
    with LTX2Reference(ltx2, strength_table(grid, [preset], [u]), 2.5):
        expected = run(ltx2, **kwargs)
    plain = run(ltx2, **kwargs)
    for mine, unguided in zip(ours, plain):  # the video and the audio both move
        assert not torch.allclose(mine, unguided, atol=1e-4)
    torch.testing.assert_close(rows(ours), rows(expected), rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("family", ["ltx", "ltx2"])
def test_remove_is_exact(request, family):
    pipe = request.getfixturevalue(family)
    plain = run(pipe)
    stylehunt.apply(pipe, stylehunt.Preset(heads=[(0, 1), (1, 0)], strength=0.7), scale=3.0)
    assert "forward" in vars(pipe.transformer)
    assert not torch.equal(rows(run(pipe)), rows(plain))
    stylehunt.remove(pipe)
    assert "forward" not in vars(pipe.transformer) and "set_timesteps" not in vars(pipe.scheduler)
    assert torch.equal(rows(run(pipe)), rows(plain))


def test_ltx2_guidance_rescale_is_refused_naming_it(ltx2):
    plain = run(ltx2)
    stylehunt.apply(ltx2, stylehunt.Preset(heads=[(0, 1)]), scale=2.0)
    with pytest.raises(stylehunt.UnsupportedModelError, match=r"guidance_rescale=0\.7.*not affine") as e:
        run(ltx2, guidance_rescale=0.7, audio_guidance_rescale=None)
    assert "0" in e.value.hint
    stylehunt.remove(ltx2)
    assert torch.equal(rows(run(ltx2)), rows(plain))


def test_a_deepcopy_of_a_guided_scheduler_runs_its_own_methods(ltx2):
    """LTX-2 copies its scheduler for the audio latents in every call: the copy must not call back into the original."""
    stylehunt.apply(ltx2, stylehunt.Preset(heads=[(0, 1)]), scale=2.0)
    twin = copy.deepcopy(ltx2.scheduler)
    twin.set_timesteps(3)
    assert len(twin.timesteps) == 3 and twin.set_timesteps.__self__ is twin
    assert ltx2.scheduler.timesteps is None or len(ltx2.scheduler.timesteps) != 3


def test_docs_give_the_adapters_line_counts():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    doc = (root / "docs" / "engine.md").read_text()
    for name in ("ltx", "ltx2"):
        lines = len((root / "stylehunt" / "engine" / "families" / f"{name}.py").read_text().splitlines())
        assert f"`{name}.py` ({lines} lines" in doc.replace("`stylehunt/engine/families/ltx.py`", "`ltx.py`")


# -- the CLI, as a user types it -------------------------------------------------------------------


def test_cli_heads_on_the_tiny_ltx_models(capsys):
    assert main(["heads", "--model", "tiny-ltx2"]) == 0
    out = capsys.readouterr().out
    assert "LTX2VideoTransformer3DModel: 4 attention layers, 8 heads" in out
    assert "transformer_blocks.1.audio_attn1" in out
    assert main(["heads", "--model", "tiny-ltx", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["fingerprint"]["family"] == "ltx"


def test_cli_generate_writes_the_ltx2_video_and_its_audio(tmp_path, capsys):
    out = tmp_path / "fox.mp4"
    assert main(["generate", "--model", "tiny-ltx2", "--heads", "0:1,3:0", "--prompt", "a red fox in snow", "--steps",
                 "2", "--height", "64", "--width", "64", "--frames", "9", "--out", str(out), "--baseline"]) == 0
    written = capsys.readouterr().out.split()
    assert written == [str(out), str(tmp_path / "fox.wav"), str(tmp_path / "fox.baseline.mp4"),
                       str(tmp_path / "fox.baseline.wav"), str(tmp_path / "fox.frames.png")]
    with wave.open(str(tmp_path / "fox.wav")) as guided, wave.open(str(tmp_path / "fox.baseline.wav")) as plain:
        assert guided.getnchannels() == 2 and guided.getframerate() == 16000 and guided.getnframes() > 0
        a, b = (np.frombuffer(w.readframes(w.getnframes()), np.int16) for w in (guided, plain))
    assert a.shape == b.shape and np.abs(a.astype(int) - b).max() > 0


def test_cli_generate_and_search_on_tiny_ltx(tmp_path, capsys):
    out = tmp_path / "fox.mp4"
    assert main(["generate", "--model", "tiny-ltx", "--heads", "1:0", "--prompt", "a red fox in snow", "--steps", "2",
                 "--height", "64", "--width", "64", "--frames", "9", "--out", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out), str(tmp_path / "fox.frames.png")]
    run_dir = tmp_path / "run"
    assert main(["search", "--model", "tiny-ltx", "--objective", "warmth", "--num-prompts", "2", "--num-heldout", "1",
                 "--rounds", "1", "--per-round", "1", "--layers", "1", "--steps", "2", "--resolution", "64",
                 "--frames", "9", "--out", str(run_dir), "--format", "json"]) == 0
    preset = stylehunt.Preset.from_file(run_dir)
    assert preset.heads[0][0] == 1 and preset.fingerprint["family"] == "ltx" and preset.model == "tiny-ltx"


def test_ltx2_whole_block_preset_runs_through_the_models_own_mask_and_equals_the_general_path(ltx2, monkeypatch):
    """Every head of block 1's video and audio self-attention (layers 1 and 3) at one u: LTX-2's
    ``perturbation_mask`` computes it; the same preset through the attention hooks gives the same result."""
    import dataclasses

    from diffusers.models.transformers import transformer_ltx2
    from stylehunt.engine.families import adapter_named, register_adapter

    preset = stylehunt.Preset(heads=[(layer, h) for layer in (1, 3) for h in range(2)], strength=0.6)
    seen = []
    call = transformer_ltx2.LTX2PerturbedAttnProcessor.__call__

    def spy(self, attn, *args, perturbation_mask=None, **kwargs):
        seen.append(perturbation_mask is not None)
        return call(self, attn, *args, perturbation_mask=perturbation_mask, **kwargs)

    monkeypatch.setattr(transformer_ltx2.LTX2PerturbedAttnProcessor, "__call__", spy)
    stylehunt.apply(ltx2, preset, scale=2.5)
    fast = run(ltx2, guidance_scale=3.0, audio_guidance_scale=3.0)
    stylehunt.remove(ltx2)
    assert any(seen), "the fast path must hand the model its mask"
    adapter = adapter_named("ltx2")
    register_adapter(dataclasses.replace(adapter, native_mask=()))
    try:
        seen.clear()
        stylehunt.apply(ltx2, preset, scale=2.5)
        general = run(ltx2, guidance_scale=3.0, audio_guidance_scale=3.0)
        stylehunt.remove(ltx2)
    finally:
        register_adapter(adapter)
    assert not any(seen)
    assert not torch.allclose(rows(fast), rows(run(ltx2, guidance_scale=3.0, audio_guidance_scale=3.0)), atol=1e-4)
    torch.testing.assert_close(rows(fast), rows(general), rtol=1e-4, atol=2e-5)
    # a preset that is not whole blocks at one strength takes the general path
    seen.clear()
    stylehunt.apply(ltx2, stylehunt.Preset(heads=[(1, 0), (3, 0), (3, 1), (1, 1)], strength=0.6), scale=2.5,
                    strengths=None)
    stylehunt.apply(ltx2, [stylehunt.Preset(heads=[(1, 0), (3, 0)], strength=0.6),
                           stylehunt.Preset(heads=[(1, 1), (3, 1)], strength=0.3)], scale=2.5)
    run(ltx2, guidance_scale=3.0, audio_guidance_scale=3.0)
    assert not any(seen)


# -- the guider in the modular LTX pipeline -----------------------------------------------------------


def _modular_ltx(standard):
    from diffusers.modular_pipelines import LTXAutoBlocks

    from tests.test_guider import no_step_bars

    blocks = LTXAutoBlocks()
    no_step_bars(blocks)
    modular = blocks.init_pipeline()
    modular.update_components(**{k: v for k, v in standard.components.items() if k in modular.component_names})
    modular.set_progress_bar_config(disable=True)
    return modular


@pytest.mark.parametrize("cfg", [3.0, 1.0], ids=["cfg", "no-cfg"])
def test_style_guider_in_the_modular_ltx_pipeline_equals_apply(ltx, cfg):
    from diffusers.guiders import ClassifierFreeGuidance

    modular = _modular_ltx(ltx)
    call = dict(prompt="a red fox in snow", num_inference_steps=2, height=64, width=64, num_frames=9,
                output_type="pt")
    modular_call = dict(call, output="videos")

    def standard():
        return ltx(generator=torch.Generator().manual_seed(0), guidance_scale=cfg, **call).frames

    def mod(guider):
        modular.update_components(guider=guider)
        return modular(generator=torch.Generator().manual_seed(0), **modular_call)

    if cfg > 1:
        torch.testing.assert_close(mod(ClassifierFreeGuidance(guidance_scale=cfg)), standard(), rtol=1e-5, atol=1e-5)
    else:  # diffusers 0.42.1: with one condition the text step skips the negative prompt the denoise step requires
        with pytest.raises(ValueError, match="negative_prompt_embeds"):
            mod(ClassifierFreeGuidance(guidance_scale=cfg))
    preset = stylehunt.Preset(heads=[(0, 1), (1, 0)], strength=0.7)
    styled = mod(StyleHeadGuidance(preset, scale=2.5, guidance_scale=cfg))  # its style batch makes two conditions
    with stylehunt.applied(ltx, preset, scale=2.5):
        expected = standard()
    assert not torch.allclose(styled, standard(), atol=1e-4)
    torch.testing.assert_close(styled, expected, rtol=1e-4, atol=2e-5)


def test_style_guider_around_ltx2_guidance_in_the_modular_ltx2_pipeline_equals_apply(ltx2):
    """LTX-2's modular denoise step takes two guiders (video and audio), each diffusers' ``LTX2Guidance``
    (CFG + STG + modality isolation, combined in x0 space): a ``StyleHeadGuidance`` with one as its base in
    each slot runs the style batch once and adds each modality's term; it equals ``apply`` on the standard
    pipeline with the same passes (rescale off, as apply requires)."""
    from diffusers.guiders import LTX2Guidance
    from diffusers.modular_pipelines import LTX2AutoBlocks

    from tests.test_guider import no_step_bars

    blocks = LTX2AutoBlocks()
    no_step_bars(blocks)
    modular = blocks.init_pipeline()
    modular.update_components(**{k: v for k, v in ltx2.components.items() if k in modular.component_names})
    modular.set_progress_bar_config(disable=True)
    passes = dict(stg_scale=1.0, modality_scale=3.0, guidance_rescale=0.0, spatio_temporal_guidance_blocks=[1])
    preset = stylehunt.Preset(heads=[(0, 1), (3, 0)], strength=0.7)

    def mod(*guiders):
        modular.update_components(guider=guiders[0], audio_guider=guiders[1])
        out = modular(prompt=PROMPTS[0], generator=torch.Generator().manual_seed(0), num_inference_steps=2, height=64,
                      width=64, num_frames=9, max_sequence_length=16, output_type="latent")
        return torch.cat([out.values["videos"].flatten(1), out.values["audio"].flatten(1)], dim=1)

    styled = mod(*(StyleHeadGuidance(preset, scale=2.5, base=LTX2Guidance(guidance_scale=3.0, **passes))
                   for _ in range(2)))
    plain = mod(*(LTX2Guidance(guidance_scale=3.0, **passes) for _ in range(2)))
    with stylehunt.applied(ltx2, preset, scale=2.5):
        expected = ltx2(prompt=PROMPTS[0], generator=torch.Generator().manual_seed(0), num_inference_steps=2,
                        height=64, width=64, num_frames=9, max_sequence_length=16, output_type="latent", guidance_scale=3.0,
                        audio_guidance_scale=3.0, audio_guidance_rescale=0.0, audio_stg_scale=1.0,
                        audio_modality_scale=3.0, **passes)
    expected = torch.cat([expected.frames.flatten(1), expected.audio.flatten(1)], dim=1)
    assert not torch.allclose(styled, plain, atol=1e-4)
    # the modular step runs each pass as its own forward, the standard pipeline cond and uncond in one batch
    torch.testing.assert_close(styled, expected, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("model", ["tiny-ltx", "tiny-ltx2"])
def test_cli_refuses_a_size_and_a_frame_count_the_ltx_vae_would_round_before_loading(model, capsys):
    """32 px per latent and 8 frames per latent after the first, read from the VAE's config."""
    base = ["generate", "--model", model, "--heads", "0:0", "--prompt", "a fox", "--steps", "2", "--out", "fox.mp4"]
    assert main([*base, "--height", "48", "--width", "64", "--frames", "9"]) == 2
    assert "48 is not a multiple of 32" in capsys.readouterr().err
    assert main([*base, "--height", "64", "--width", "64", "--frames", "12"]) == 2
    err = capsys.readouterr().err
    assert "12 is not 1 plus a multiple of 8" in err and "use 9 or 17" in err
