"""The engine's family-independent paths: guidance added at ``scheduler.step``, the output sign, the
``cfg_in_call`` hook, several denoisers and refused configs, on registered variants of the tiny
SD3 / FLUX.1 adapters (the families that need them, Qwen-Image, Z-Image and Wan, are tested in
tests/test_engine.py's family table)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from diffusers import DiffusionPipeline

import stylehunt
from stylehunt.engine import families, strength_table
from stylehunt.engine.rows import fit_to_model_output
from tests.reference import ReferenceGuidance

PROMPTS = ["a lighthouse at dusk", "a bowl of fruit"]
PRESET = stylehunt.Preset(heads=[(0, 1), (2, 0), (3, 1)], strength=0.8)
TRUE_CFG = {"true_cfg_scale": 2.5, "negative_prompt": ["blurry", "dark"]}


def _load(path):
    pipe = DiffusionPipeline.from_pretrained(path)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def flux(tiny_flux_path):
    return _load(tiny_flux_path)


@pytest.fixture(scope="module")
def sd3(tiny_sd3_path):
    return _load(tiny_sd3_path)


def run(pipe, **kwargs):
    kwargs = {"num_inference_steps": 3, "height": 64, "width": 64, **kwargs}
    return pipe(PROMPTS, generator=torch.Generator().manual_seed(0), output_type="latent", **kwargs).images


def variant(monkeypatch, pipe, base: str, **fields):
    """``pipe`` re-classed under a new pipeline class, guided by a registered variant of adapter ``base``."""
    cls = type(f"Variant{type(pipe).__name__}", (type(pipe),), {})
    adapter = dataclasses.replace(families.adapter_named(base), name=f"{base}-variant", pipeline_classes=(cls.__name__,), **fields)
    monkeypatch.setattr(families, "_registered", [adapter, *families.BUILTIN])
    out = cls.from_pipe(pipe)
    out.set_progress_bar_config(disable=True)
    return out


@pytest.mark.parametrize("cfg", [TRUE_CFG, {}], ids=["true-cfg", "no-cfg"])
def test_scheduler_injection_matches_the_reference(monkeypatch, flux, cfg):
    """FLUX's true CFG is affine, so guidance added at scheduler.step equals the reference, which adds it there."""
    pipe = variant(monkeypatch, flux, "flux", inject="scheduler")
    table = strength_table(stylehunt.head_grid(pipe), [PRESET], [0.8])
    stylehunt.apply(pipe, PRESET, scale=2.0)
    assert "step" in vars(pipe.scheduler)
    try:
        ours = run(pipe, **cfg)
    finally:
        stylehunt.remove(pipe)
    assert "step" not in vars(pipe.scheduler) and "forward" not in vars(pipe.transformer)
    with ReferenceGuidance(pipe, table, 2.0):
        expected = run(pipe, **cfg)
    plain = run(pipe, **cfg)
    assert not torch.allclose(ours, plain, atol=1e-3)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)


def test_output_sign_flips_the_term_at_the_scheduler(monkeypatch, flux):
    """A pipeline that negated the transformer output would need -delta: with sign -1 on FLUX, +w becomes -w."""
    pipe = variant(monkeypatch, flux, "flux", inject="scheduler", output_sign=-1.0)
    table = strength_table(stylehunt.head_grid(pipe), [PRESET], [0.8])
    stylehunt.apply(pipe, PRESET, scale=2.0)
    try:
        ours = run(pipe)
    finally:
        stylehunt.remove(pipe)
    with ReferenceGuidance(pipe, table, -2.0):
        expected = run(pipe)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=2e-5)


def test_a_scheduler_swapped_after_apply_is_refused(monkeypatch, flux):
    pipe = variant(monkeypatch, flux, "flux", inject="scheduler")
    stylehunt.apply(pipe, PRESET)
    patched = pipe.scheduler
    pipe.scheduler = type(patched).from_config(patched.config)
    try:
        with pytest.raises(stylehunt.GuidanceError, match="scheduler was replaced after stylehunt.apply"):
            run(pipe)
    finally:
        pipe.scheduler = patched
        stylehunt.remove(pipe)
    assert "step" not in vars(patched)


def test_cfg_in_call_decides_the_batched_layout(monkeypatch, sd3):
    calls = []

    def cfg_in_call(pipe):
        calls.append(pipe.do_classifier_free_guidance)
        return pipe.do_classifier_free_guidance

    pipe = variant(monkeypatch, sd3, "sd3", cfg_in_call=cfg_in_call)
    preset = stylehunt.Preset(heads=[(0, 1), (1, 0)], strength=0.8)
    with stylehunt.applied(sd3, preset, scale=2.0):
        builtin = run(sd3, guidance_scale=3.0)
    with stylehunt.applied(pipe, preset, scale=2.0):
        ours = run(pipe, guidance_scale=3.0)
    assert calls == [True] * 3
    assert torch.equal(ours, builtin)


def test_several_denoisers_are_hooked_and_removed_together(monkeypatch, flux):
    pipe = variant(monkeypatch, flux, "flux", denoisers=("transformer", "transformer_2"))
    second = type(flux.transformer).from_config(flux.transformer.config)
    pipe.transformer_2 = second
    stylehunt.apply(pipe, PRESET)
    assert "forward" in vars(pipe.transformer) and "forward" in vars(second)
    assert "forward" in vars(second.transformer_blocks[0].attn)  # heads (0, 1) are perturbed in both
    with pytest.raises(stylehunt.GuidanceError, match="already guided through another pipeline"):
        other = type(pipe).from_pipe(pipe)
        other.transformer = type(flux.transformer).from_config(flux.transformer.config)
        other.transformer_2 = second
        stylehunt.apply(other, PRESET)
    stylehunt.remove(pipe)
    assert "forward" not in vars(pipe.transformer) and "forward" not in vars(second)
    assert "forward" not in vars(second.transformer_blocks[0].attn)


def test_a_second_denoiser_with_another_grid_is_refused(monkeypatch, flux, sd3):
    pipe = variant(monkeypatch, flux, "flux", denoisers=("transformer", "transformer_2"))
    pipe.transformer_2 = sd3.transformer
    with pytest.raises(stylehunt.UnsupportedModelError, match="transformer_2 has a different head grid"):
        stylehunt.apply(pipe, PRESET)
    assert "forward" not in vars(pipe.transformer) and "forward" not in vars(sd3.transformer)


def test_a_refused_config_flag_names_the_key(monkeypatch, flux):
    pipe = variant(monkeypatch, flux, "flux", refuse_config=(("zero_cond_t", "it doubles the timestep batch"),))
    pipe.transformer.register_to_config(zero_cond_t=True)
    try:
        with pytest.raises(stylehunt.UnsupportedModelError, match="sets `zero_cond_t`: it doubles the timestep batch"):
            stylehunt.apply(pipe, PRESET)
    finally:
        pipe.transformer.register_to_config(zero_cond_t=False)
    stylehunt.apply(pipe, PRESET)
    stylehunt.remove(pipe)


def test_check_presets_raises_what_apply_raises(flux, sd3):
    grid = stylehunt.engine.check_presets(flux.transformer, PRESET)
    assert grid == stylehunt.head_grid(flux)
    theirs = stylehunt.Preset(heads=[(0, 0)], name="s", fingerprint=stylehunt.head_grid(sd3).fingerprint())
    with pytest.raises(stylehunt.ArchitectureMismatchError, match="the sd3 family"):
        stylehunt.engine.check_presets(flux, theirs)
    with pytest.raises(stylehunt.errors.HeadOutOfRangeError, match="99"):
        stylehunt.engine.check_presets(flux, stylehunt.Preset(heads=[(99, 0)]))


def test_fit_to_model_output_reshapes_slices_or_refuses():
    delta = torch.randn(2, 3, 1, 4, 4)
    torch.testing.assert_close(fit_to_model_output(delta, torch.zeros(2, 3, 4, 4), -1.0), -delta.squeeze(2))
    tokens = torch.randn(2, 10, 8)  # 6 image tokens + 4 reference-image tokens
    torch.testing.assert_close(fit_to_model_output(tokens, torch.zeros(2, 6, 8), 1.0), tokens[:, :6])
    with pytest.raises(stylehunt.GuidanceError, match=r"shape \(3, 6, 8\)"):
        fit_to_model_output(tokens, torch.zeros(3, 6, 8), 1.0)
