"""StyleHeadGuidance in diffusers' modular pipelines, on tiny offline models loaded with from_pretrained.

For each family (a row of ``CASES``): the modular pipeline (its blocks, ``init_pipeline``,
``update_components`` with the standard pipeline's components) with diffusers'
ClassifierFreeGuidance first reproduces the standard pipeline, same seed; then the modular pipeline
with StyleHeadGuidance equals the standard pipeline with ``stylehunt.apply`` at the same settings,
CFG on and off.
"""

from __future__ import annotations

import importlib
import json
import logging
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import diffusers
import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline
from diffusers.guiders import AdaptiveProjectedGuidance, ClassifierFreeGuidance, ClassifierFreeZeroStarGuidance
from diffusers.guiders.guider_utils import BaseGuidance, GuiderOutput
from PIL import Image

import stylehunt
from stylehunt import StyleHeadGuidance
from stylehunt.engine import IDENTITY_MODES
from stylehunt.registry import resolve_preset
from stylehunt.tiny.qwenimage import edit_processor
from stylehunt.errors import (
    ArchitectureMismatchError,
    GuidanceError,
    HeadOutOfRangeError,
    NonFiniteGuidanceError,
    PresetNotFoundError,
    UnsupportedModelError,
)
from tests.reference import ReferencePerturbation, attention_layers
from tests._hub_fixtures import READ_TOKEN, WRITE_TOKEN, fake_hub, loopback_only  # noqa: F401

STEPS = 2
SIZE = 64
SEED = 0


def _picture():
    return Image.fromarray((np.random.RandomState(1).rand(SIZE, SIZE, 3) * 255).astype("uint8"))


@dataclass(frozen=True)
class ImageWorkflow:
    """A modular image-to-image or edit workflow whose denoise step takes the guider."""

    inputs: Callable[[], dict[str, Any]]  # the image (and strength) both calls take
    standard: str | None = None  # the diffusers class built with from_pipe; None: the standard pipeline itself
    blocks: str | None = None  # the modular blocks, if not the text-to-image row's
    components: Callable[[Any], dict[str, Any]] = lambda pipe: {}  # components the standard pipeline lacks


@dataclass(frozen=True)
class Case:
    """One modular pipeline: how to build it and call it like its standard pipeline."""

    family: str
    fixture: str  # session fixture holding the saved tiny standard pipeline
    blocks: str  # "module:Class" of the modular blocks
    cfg_scale: float  # the guider's guidance_scale when CFG is on
    #: the modular call's extra arguments, CFG on / off (SD3's modular step needs an explicit negative prompt)
    modular_kwargs: Callable[[bool], dict[str, Any]] = lambda cfg: {}
    #: the standard call's CFG arguments for the same CFG, on / off
    standard_kwargs: Callable[[float, bool], dict[str, Any]] = lambda scale, cfg: {"guidance_scale": scale if cfg else 1.0}
    identities: tuple[str, ...] = ("joint",)
    #: what the guider must equal: "apply" (the standard pipeline with stylehunt.apply) or "guider"
    #: (this modular pipeline with ReferenceStyleGuider, where the step post-processes the guider's output)
    reference: str = "apply"
    #: the guider components (Wan 2.2: one per expert), and the modular call's output
    guiders: tuple[str, ...] = ("guider",)
    output: str = "images"
    #: arguments both calls take (a video's frame count)
    call_kwargs: dict[str, Any] = field(default_factory=dict)
    #: the exception diffusers' own ClassifierFreeGuidance raises in this modular pipeline with CFG off
    cfg_off_bug: type[Exception] | None = None
    image_workflow: ImageWorkflow | None = None


CASES = [
    Case(
        family="sd3",
        fixture="tiny_sd3_path",
        blocks="diffusers.modular_pipelines:StableDiffusion3AutoBlocks",
        cfg_scale=4.0,
        modular_kwargs=lambda cfg: {"negative_prompt": ""} if cfg else {},
        identities=("joint", "image"),
        image_workflow=ImageWorkflow(lambda: {"image": _picture(), "strength": 0.75}, "StableDiffusion3Img2ImgPipeline"),
    ),
    Case(
        family="zimage",
        fixture="tiny_zimage_path",
        blocks="diffusers.modular_pipelines:ZImageAutoBlocks",
        cfg_scale=4.0,
        # ZImagePipeline forms pos + s (pos - neg): s = guidance_scale - 1; 0 turns its CFG off
        standard_kwargs=lambda scale, cfg: {"guidance_scale": scale - 1.0 if cfg else 0.0},
        image_workflow=ImageWorkflow(lambda: {"image": _picture(), "strength": 0.75}, "ZImageImg2ImgPipeline"),
    ),
    Case(
        family="qwenimage",
        fixture="tiny_qwenimage_path",
        blocks="diffusers.modular_pipelines:QwenImageAutoBlocks",
        cfg_scale=4.0,
        # QwenImagePipeline runs its true CFG only with a negative prompt (the modular step encodes "" itself)
        standard_kwargs=lambda scale, cfg: {"true_cfg_scale": scale, "negative_prompt": ""} if cfg else {"true_cfg_scale": 1.0},
        reference="guider",  # the step rescales the guider's prediction to pred_cond's norm
        image_workflow=ImageWorkflow(
            lambda: {"image": _picture()},
            "QwenImageEditPipeline",
            blocks="diffusers.modular_pipelines:QwenImageEditAutoBlocks",
            components=lambda pipe: {"processor": edit_processor(pipe.tokenizer)},
        ),
    ),
    Case(
        family="flux2",
        fixture="tiny_flux2_path",
        blocks="diffusers.modular_pipelines:Flux2KleinBaseAutoBlocks",
        cfg_scale=4.0,
        identities=("joint", "image"),
        image_workflow=ImageWorkflow(lambda: {"image": [_picture()]}),  # a reference image, as FLUX.2 edits
    ),
    Case(
        family="wan",
        fixture="tiny_wan_path",
        blocks="diffusers.modular_pipelines:Wan22Blocks",
        cfg_scale=4.0,
        standard_kwargs=lambda scale, cfg: {"guidance_scale": scale if cfg else 1.0, "guidance_scale_2": scale if cfg else 1.0},
        identities=("joint", "image"),
        guiders=("guider", "guider_2"),  # one per expert: transformer (high noise), transformer_2 (low noise)
        output="videos",
        call_kwargs={"num_frames": 5},
        # one condition: Wan's text encoder step skips the negative prompt, then returns it unassigned
        cfg_off_bug=UnboundLocalError,
    ),
]
IDS = [c.family for c in CASES]


@dataclass
class Pipes:
    case: Case
    standard: Any
    modular: Any


_LOADED: dict[str, Pipes] = {}


def no_step_bars(block):
    """docs/guider.md's recipe: diffusers hands ``set_progress_bar_config`` to the top-level blocks only."""
    if hasattr(block, "set_progress_bar_config"):
        block.set_progress_bar_config(disable=True)
    for sub in block.sub_blocks.values():
        no_step_bars(sub)


def _default_step_bars(block):
    """Every nested block back to diffusers' default (no progress-bar setting of its own)."""
    if hasattr(block, "set_progress_bar_config"):
        block.set_progress_bar_config()
    for sub in block.sub_blocks.values():
        _default_step_bars(sub)


def modular_pipeline(blocks: str, components: dict[str, Any]):
    module, name = blocks.split(":")
    blocks = getattr(importlib.import_module(module), name)()
    no_step_bars(blocks)
    modular = blocks.init_pipeline()
    modular.update_components(**{k: v for k, v in components.items() if k in modular.component_names})
    modular.set_progress_bar_config(disable=True)
    return modular


def loaded(request, case: Case) -> Pipes:
    """The case's standard pipeline (from_pretrained) and its modular pipeline, loaded once per module."""
    if case.family not in _LOADED:
        standard = DiffusionPipeline.from_pretrained(request.getfixturevalue(case.fixture))
        standard.set_progress_bar_config(disable=True)
        _LOADED[case.family] = Pipes(case, standard, modular_pipeline(case.blocks, standard.components))
    return _LOADED[case.family]


@pytest.fixture(scope="module", autouse=True)
def _unload():
    yield
    _LOADED.clear()


@pytest.fixture(params=CASES, ids=IDS)
def pipes(request):
    p = loaded(request, request.param)
    yield p
    stylehunt.remove(p.standard)


def run_modular(p: Pipes, guider, cfg: bool, prompt="a lighthouse at dusk", **kwargs):
    p.modular.update_components(**{name: guider for name in p.case.guiders})
    return p.modular(
        prompt=prompt,
        num_inference_steps=STEPS,
        height=SIZE,
        width=SIZE,
        generator=torch.Generator().manual_seed(SEED),
        output_type="pt",
        output=p.case.output,
        **p.case.modular_kwargs(cfg),
        **p.case.call_kwargs,
        **kwargs,
    )


def run_standard(p: Pipes, cfg: bool, prompt="a lighthouse at dusk", **kwargs):
    return p.standard(
        prompt=prompt,
        num_inference_steps=STEPS,
        height=SIZE,
        width=SIZE,
        generator=torch.Generator().manual_seed(SEED),
        output_type="pt",
        **p.case.standard_kwargs(p.case.cfg_scale, cfg),
        **p.case.call_kwargs,
        **kwargs,
    )[0]


class ReferenceStyleGuider(BaseGuidance):
    """An explicit reference, sharing no code with stylehunt: CFG as diffusers writes it, plus
    ``w (pred_cond - pred_style)`` where ``pred_style`` is a separate forward on the conditional
    inputs under tests/reference.py's materialising SoftPAG (every row of that forward perturbed).

    Used where the modular step post-processes the guider's output (Qwen-Image rescales it to
    ``pred_cond``'s norm), so the standard pipeline with ``apply`` (which adds the term after that) differs.
    """

    _input_predictions = ["pred_cond", "pred_uncond", "pred_reference_style"]

    def __init__(self, presets, strengths, scale, guidance_scale, start=0.0, stop=1.0):
        super().__init__(0.0, 1.0, True)
        self.presets, self.strengths, self.scale, self.guidance_scale = presets, strengths, scale, guidance_scale
        self.style_start, self.style_stop = start, stop
        self.perturbation = None
        self.register_to_config()  # a modular pipeline reads every component's config

    def _plan(self):
        plan = [(0, "pred_cond")] + ([(1, "pred_uncond")] if self.guidance_scale != 1.0 else [])
        in_interval = self.style_start <= self._step / self._num_inference_steps < self.style_stop
        return plan + ([(0, "pred_reference_style")] if in_interval else [])

    @property
    def num_conditions(self):
        return 2 if self._step is None else len(self._plan())

    @property
    def is_conditional(self):
        return self._count_prepared != 2 or self.guidance_scale == 1.0

    def prepare_inputs(self, data):
        return [self._prepare_batch(data, i, name) for i, name in self._plan()]

    def prepare_inputs_from_block_state(self, data, input_fields):
        return [self._prepare_batch_from_block_state(input_fields, data, i, name) for i, name in self._plan()]

    def prepare_models(self, denoiser):
        self._count_prepared += 1
        if self._plan()[self._count_prepared - 1][1] == "pred_reference_style":
            layers = len(attention_layers(denoiser))
            table = torch.zeros(layers, 64)
            for preset, u in zip(self.presets, self.strengths):
                for layer, head in preset.heads:
                    table[layer, head] = 1 - (1 - table[layer, head]) * (1 - u)
            self.perturbation = ReferencePerturbation(denoiser, table, "joint", 0)
            self.perturbation.__enter__()

    def cleanup_models(self, denoiser):
        if self.perturbation is not None:
            self.perturbation.__exit__(None, None, None)
            self.perturbation.close()
            self.perturbation = None

    def forward(self, pred_cond, pred_uncond=None, pred_reference_style=None):
        pred = pred_cond if pred_uncond is None else pred_uncond + self.guidance_scale * (pred_cond - pred_uncond)
        if pred_reference_style is not None:
            pred = pred + self.scale * (pred_cond - pred_reference_style)
        return GuiderOutput(pred=pred, pred_cond=pred_cond, pred_uncond=pred_uncond)


def reference(p: Pipes, presets, cfg: bool, strengths=None, scale=None, identity="joint", start=0.0, stop=1.0, **inputs):
    """What StyleHeadGuidance must give: the standard pipeline with stylehunt.apply, or (``Case.reference
    == "guider"``) the modular pipeline with :class:`ReferenceStyleGuider`."""
    if p.case.reference == "apply":
        with stylehunt.applied(p.standard, presets, strengths=strengths, scale=scale, identity=identity, start=start, stop=stop):
            return run_standard(p, cfg, **inputs)
    assert identity == "joint"
    presets = presets if isinstance(presets, list) else [presets]
    strengths = strengths or [q.strength for q in presets]
    scale = presets[0].scale if scale is None else scale
    guider = ReferenceStyleGuider(presets, strengths, scale, p.case.cfg_scale if cfg else 1.0, start, stop)
    return run_modular(p, guider, cfg, **inputs)


def two_presets():
    """Two presets sharing a head (it gets 1 - (1 - u1)(1 - u2)) on the tiny grids (2+ layers x 2+ heads)."""
    return [stylehunt.Preset(heads=[(0, 1), (1, 0)], strength=0.7), stylehunt.Preset(heads=[(1, 0)], strength=0.5)]


def close(a, b):
    return torch.allclose(a, b, atol=1e-5, rtol=0)


def transformer_forwards(transformer):
    """A list that grows by one per transformer forward (a plain forward pre-hook)."""
    calls = []
    handle = transformer.register_forward_pre_hook(lambda *a: calls.append(1))
    return calls, handle


# ------------------------------------------------------------------------------------------------
# the modular pipeline itself, then the guider against stylehunt.apply


@pytest.mark.parametrize("cfg", [True, False], ids=["cfg", "no-cfg"])
def test_modular_pipeline_with_diffusers_cfg_reproduces_the_standard_pipeline(pipes, cfg):
    guider = ClassifierFreeGuidance(guidance_scale=pipes.case.cfg_scale if cfg else 1.0)
    if not cfg and pipes.case.cfg_off_bug:  # diffusers 0.42.1; StyleHeadGuidance counts its style batch, so it runs
        with pytest.raises(pipes.case.cfg_off_bug):
            run_modular(pipes, guider, cfg)
        return
    assert close(run_modular(pipes, guider, cfg), run_standard(pipes, cfg))


def recording(guider):
    """``guider``, recording each step's batches and the largest |pred_cond - pred_cond_style| of the run."""
    guider.seen, guider.style_effect = [], 0.0
    original = guider.forward

    def forward(**predictions):  # BaseGuidance.__call__ hands it {identifier: prediction} in batch order
        guider.seen.append(list(predictions))
        if "pred_cond_style" in predictions:
            effect = (predictions["pred_cond"] - predictions["pred_cond_style"]).abs().max().item()
            guider.style_effect = max(guider.style_effect, effect)
        return original(**predictions)

    guider.forward = forward
    return guider


@pytest.mark.parametrize("cfg", [True, False], ids=["cfg", "no-cfg"])
def test_style_guider_equals_apply_with_several_presets_and_strengths(pipes, cfg):
    """The presets' own scale (3.0, Preset's default) and strengths overriding theirs."""
    presets, strengths = two_presets(), [0.6, 1.0]
    guider = recording(StyleHeadGuidance(presets, strengths=strengths, guidance_scale=pipes.case.cfg_scale if cfg else 1.0))
    out = run_modular(pipes, guider, cfg)
    assert close(out, reference(pipes, presets, cfg, strengths=strengths))
    assert guider.style_effect > 1e-3  # the style batch is perturbed
    style = ["pred_cond", "pred_uncond", "pred_cond_style"] if cfg else ["pred_cond", "pred_cond_style"]
    assert guider.seen == [style] * STEPS
    if pipes.case.reference == "guider":  # documented: the step's post-processing scales the style term too
        with stylehunt.applied(pipes.standard, presets, strengths=strengths):
            assert not close(out, run_standard(pipes, cfg))
    assert guider.presets == tuple(presets) and guider.strengths == (0.6, 1.0) and guider.scale == 3.0


def test_identity_modes_beyond_joint_equal_apply_or_are_refused_before_the_first_forward(pipes):
    preset = stylehunt.Preset(heads=[(0, 0), (1, 1)], strength=1.0)
    for identity in (m for m in IDENTITY_MODES if m != "joint"):
        guider = StyleHeadGuidance(preset, scale=2.0, identity=identity, guidance_scale=pipes.case.cfg_scale)
        if identity in pipes.case.identities:
            assert close(run_modular(pipes, guider, True), reference(pipes, preset, True, scale=2.0, identity=identity))
            continue
        calls, handle = transformer_forwards(pipes.standard.transformer)
        try:
            with pytest.raises(GuidanceError, match=f"identity='{identity}' is not supported for the {pipes.case.family} family"):
                run_modular(pipes, guider, True)
        finally:
            handle.remove()
        assert calls == []


def test_start_and_stop_bound_the_style_term_only_as_in_apply(pipes, start=0.5, stop=1.0):
    preset = stylehunt.Preset(heads=[(0, 1), (1, 1)], strength=1.0)
    guider = recording(StyleHeadGuidance(preset, scale=3.0, start=start, stop=stop, guidance_scale=pipes.case.cfg_scale))
    out = run_modular(pipes, guider, True)
    assert close(out, reference(pipes, preset, True, scale=3.0, start=start, stop=stop))
    assert guider.seen == [["pred_cond", "pred_uncond"], ["pred_cond", "pred_uncond", "pred_cond_style"]]


@pytest.mark.parametrize("case", [c for c in CASES if c.image_workflow], ids=lambda c: c.family)
def test_image_to_image_and_edit_workflows_equal_their_reference(request, case):
    p, workflow = loaded(request, case), case.image_workflow
    extra = workflow.components(p.standard)
    standard = getattr(diffusers, workflow.standard).from_pipe(p.standard, **extra) if workflow.standard else p.standard
    standard.set_progress_bar_config(disable=True)
    sibling = Pipes(case, standard, modular_pipeline(workflow.blocks or case.blocks, {**p.standard.components, **extra}))
    presets, strengths = two_presets(), [0.6, 1.0]
    guider = recording(StyleHeadGuidance(presets, strengths=strengths, guidance_scale=case.cfg_scale))
    out = run_modular(sibling, guider, True, **workflow.inputs())
    assert close(out, reference(sibling, presets, True, strengths=strengths, **workflow.inputs()))
    assert guider.style_effect > 1e-3 and guider.seen == [["pred_cond", "pred_uncond", "pred_cond_style"]] * STEPS


@pytest.mark.parametrize(
    "start,stop,steps,styled",
    [(0.0, 0.5, 2, [0]), (0.5, 1.0, 2, [1]), (0.3, 1.0, 4, [2, 3]), (0.0, 0.26, 4, [0, 1]), (0.0, 1.0, 3, [0, 1, 2])],
)
def test_the_style_interval_is_applys_rule(start, stop, steps, styled):
    """Step i of N gets the style batch when start <= i / N < stop, as apply guides step i."""
    guider = StyleHeadGuidance(stylehunt.Preset(heads=[(0, 0)]), scale=3.0, start=start, stop=stop)
    got = [i for i in range(steps) if _drive(guider, step=i, steps=steps)[0][-1].__guidance_identifier__ == "pred_cond_style"]
    assert got == styled


def test_base_cfg_guider_is_the_same_as_guidance_scale_and_leaves_the_transformer_as_it_was(pipes):
    presets = two_presets()
    before = {name: sorted(vars(m)) for name, m in pipes.standard.transformer.named_modules()}
    own = run_modular(pipes, StyleHeadGuidance(presets, scale=3.0, guidance_scale=pipes.case.cfg_scale), True)
    wrapped = StyleHeadGuidance(presets, scale=3.0, base=ClassifierFreeGuidance(guidance_scale=pipes.case.cfg_scale))
    assert torch.equal(run_modular(pipes, wrapped, True), own)
    assert {name: sorted(vars(m)) for name, m in pipes.standard.transformer.named_modules()} == before


# ------------------------------------------------------------------------------------------------
# bad input: raised before the first transformer forward


def test_a_preset_for_another_model_fails_before_the_first_forward(pipes):
    preset = stylehunt.load_preset("sd3-medium/paper-l1h10")  # SD3-medium's 24 x 24 grid, not a tiny one
    calls, handle = transformer_forwards(pipes.standard.transformer)
    try:
        with pytest.raises(ArchitectureMismatchError, match="sd3-medium/paper-l1h10"):
            run_modular(pipes, StyleHeadGuidance(preset, guidance_scale=pipes.case.cfg_scale), True)
    finally:
        handle.remove()
    assert calls == []


@pytest.mark.parametrize(
    "heads,words", [([(40, 0)], "layer 40 out of range"), ([(0, 63)], "head 63 out of range")], ids=["layer", "head"]
)
def test_heads_out_of_range_fail_at_the_first_prepare_models(pipes, heads, words):
    guider = StyleHeadGuidance(stylehunt.Preset(heads=heads), scale=3.0)
    guider.set_state(step=0, num_inference_steps=STEPS, timestep=torch.tensor(999))
    with pytest.raises(HeadOutOfRangeError, match=words):
        guider.prepare_models(pipes.standard.transformer)


def test_an_unsupported_denoiser_is_refused_by_name():
    guider = StyleHeadGuidance(stylehunt.Preset(heads=[(0, 0)]), scale=3.0)
    with pytest.raises(UnsupportedModelError, match="Linear"):
        guider.prepare_models(torch.nn.Linear(2, 2))


@pytest.mark.parametrize(
    "kwargs,error,words",
    [
        (dict(strengths=1.5), GuidanceError, "1.5"),
        (dict(strengths=[0.5, 0.5, 0.5]), GuidanceError, "3 strengths for 1 presets"),
        (dict(scale=-1.0), GuidanceError, "-1.0"),
        (dict(start=0.6, stop=0.4), GuidanceError, "start"),
        (dict(stop=1.5), GuidanceError, "1.5"),
        (dict(identity="both"), GuidanceError, "both"),
        (dict(guidance_scale=float("nan")), GuidanceError, "guidance_scale"),
        (dict(presets="tiny-sd3/no-such-style"), PresetNotFoundError, "no-such-style"),
        (dict(presets=[]), GuidanceError, "at least one preset"),
        (dict(presets=[{"heads": [[0, 0]], "colour": "red"}]), GuidanceError, "colour"),
        (dict(base=StyleHeadGuidance.__new__(StyleHeadGuidance)), GuidanceError, "diffusers.guiders"),
    ],
    ids=["strength", "strength-count", "scale", "interval", "stop", "identity", "cfg", "unknown-preset", "empty", "inline", "base"],
)
def test_bad_settings_fail_at_construction_naming_the_value(kwargs, error, words):
    args = {"presets": stylehunt.Preset(heads=[(0, 0)]), **kwargs}
    with pytest.raises(error, match=words):
        StyleHeadGuidance(**args)


# ------------------------------------------------------------------------------------------------
# batches and the prediction, driven like a modular denoise step


def _drive(guider, cfg=True, step=0, steps=2):
    cond, uncond = torch.randn(1, 4), torch.randn(1, 4)
    guider.set_state(step=step, num_inference_steps=steps, timestep=torch.tensor(999))
    data = {"encoder_hidden_states": (cond, uncond) if cfg else cond}
    return guider.prepare_inputs(data), cond, uncond


def test_the_base_guiders_guidance_scale_is_the_one_used_and_scale_defaults_to_the_presets():
    preset = stylehunt.Preset(heads=[(0, 0)], scale=2.0)
    guider = StyleHeadGuidance(preset, guidance_scale=7.0, base=ClassifierFreeGuidance(guidance_scale=2.0))
    batches, _, _ = _drive(guider)
    cond, uncond, style = torch.ones(1, 2), torch.zeros(1, 2), torch.full((1, 2), 0.5)
    for b, p in zip(batches, (cond, uncond, style)):
        b.noise_pred = p
    assert torch.equal(guider(batches).pred, uncond + 2.0 * (cond - uncond) + 2.0 * (cond - style))
    assert guider.scale == 2.0 and StyleHeadGuidance(preset, scale=0.5).scale == 0.5


def test_the_style_batch_takes_the_conditional_inputs_with_cfg_off_too():
    guider = StyleHeadGuidance(stylehunt.Preset(heads=[(0, 0)]), scale=3.0, guidance_scale=1.0)
    assert guider.num_conditions == 2  # counted before the first step (modular steps ask then)
    batches, cond, _ = _drive(guider, cfg=False)
    assert [b.__guidance_identifier__ for b in batches] == ["pred_cond", "pred_cond_style"]
    assert batches[1].encoder_hidden_states is cond
    batches, cond, uncond = _drive(StyleHeadGuidance(stylehunt.Preset(heads=[(0, 0)]), scale=3.0), cfg=True)
    assert [b.__guidance_identifier__ for b in batches] == ["pred_cond", "pred_uncond", "pred_cond_style"]
    assert batches[2].encoder_hidden_states is cond
    assert StyleHeadGuidance(stylehunt.Preset(heads=[(0, 0)]), scale=0.0, guidance_scale=1.0).num_conditions == 1


@pytest.mark.parametrize(
    "base",
    [ClassifierFreeGuidance(guidance_scale=4.0), AdaptiveProjectedGuidance(guidance_scale=4.0), ClassifierFreeZeroStarGuidance(guidance_scale=4.0)],
    ids=lambda b: type(b).__name__,
)
def test_the_style_term_is_added_after_the_base_guiders_prediction(base):
    guider = StyleHeadGuidance(stylehunt.Preset(heads=[(0, 0)]), scale=2.5, base=base)
    batches, _, _ = _drive(guider)
    preds = [torch.randn(1, 3, 8) for _ in batches]
    for b, p in zip(batches, preds):
        b.noise_pred = p
    out = guider(batches)
    fresh = type(base).from_config(base.config)
    fresh.set_state(step=0, num_inference_steps=2, timestep=torch.tensor(999))
    expected = fresh.forward(pred_cond=preds[0], pred_uncond=preds[1])
    assert torch.allclose(out.pred, expected.pred + 2.5 * (preds[0] - preds[2]))
    assert torch.equal(out.pred_cond, preds[0]) and torch.equal(out.pred_uncond, preds[1])


# ------------------------------------------------------------------------------------------------
# guider_config.json: save_pretrained / from_pretrained / push_to_hub


def test_save_and_load_round_trip_pins_references_and_stores_objects_inline(tmp_path):
    adhoc = stylehunt.Preset(heads=[(0, 1), (1, 0)], strength=0.4, scale=2.0)
    guider = StyleHeadGuidance([adhoc, "tiny-sd3/warm"], strengths=[0.8, 0.5], scale=3.0, guidance_scale=4.0)
    guider.save_pretrained(tmp_path)
    stored = json.loads((tmp_path / "guider_config.json").read_text())
    warm = resolve_preset("tiny-sd3/warm")
    assert warm.ref == f"tiny-sd3/warm@{warm.preset.version}"
    assert stored["presets"] == [{"heads": [[0, 1], [1, 0]], "strength": 0.4, "scale": 2.0}, warm.ref]
    assert stored["_class_name"] == "StyleHeadGuidance" and stored["strengths"] == [0.8, 0.5]
    loaded = StyleHeadGuidance.from_pretrained(tmp_path)
    assert dict(loaded.config) == dict(guider.config)
    assert loaded.presets == (adhoc, warm.preset) and loaded.strengths == (0.8, 0.5) and loaded.scale == 3.0


def test_a_loaded_guider_gives_the_same_images(pipes, tmp_path):
    guider = StyleHeadGuidance(two_presets(), strengths=[0.6, 1.0], scale=3.0, guidance_scale=pipes.case.cfg_scale)
    guider.save_pretrained(tmp_path)
    loaded = StyleHeadGuidance.from_pretrained(tmp_path)
    assert torch.equal(run_modular(pipes, loaded, True), run_modular(pipes, guider, True))


def test_a_file_preset_is_stored_inline_and_a_base_guider_by_its_class(tmp_path):
    preset = stylehunt.load_preset("tiny-sd3/warm")
    path = preset.save(tmp_path / "mine")
    guider = StyleHeadGuidance(path, base=ClassifierFreeZeroStarGuidance(guidance_scale=3.0, zero_init_steps=0))
    guider.save_pretrained(tmp_path / "guider")
    stored = json.loads((tmp_path / "guider" / "guider_config.json").read_text())
    assert stored["presets"][0]["name"] == preset.name and stored["presets"][0]["heads"] == [list(h) for h in preset.heads]
    assert stored["base"]["class_name"] == "ClassifierFreeZeroStarGuidance"
    assert stored["base"]["config"]["zero_init_steps"] == 0
    loaded = StyleHeadGuidance.from_pretrained(tmp_path / "guider")
    assert loaded.presets == (preset,) and loaded.presets[0].fingerprint == preset.fingerprint
    assert type(loaded.base) is ClassifierFreeZeroStarGuidance and loaded.base.config.guidance_scale == 3.0
    assert loaded.new(scale=1.5).scale == 1.5


PUSH_AND_LOAD = """
import json, sys
import stylehunt
from stylehunt import StyleHeadGuidance
from stylehunt.engine import IDENTITY_MODES

guider = StyleHeadGuidance(["tiny-sd3/warm", stylehunt.Preset(heads=[(1, 1)], strength=0.3)], scale=2.0, guidance_scale=4.0)
guider.push_to_hub("alice/warm-guider", token=sys.argv[1])
loaded = StyleHeadGuidance.from_pretrained("alice/warm-guider", token=sys.argv[2])
print(json.dumps({"pushed": json.loads(guider.to_json_string()), "loaded": json.loads(loaded.to_json_string()),
                  "same_presets": loaded.presets == guider.presets}))
"""


def test_push_to_hub_and_load_back_from_the_hub(fake_hub):
    """diffusers' push_to_hub and from_pretrained, with the stock client, against the local Hub server.

    In a fresh process: huggingface_hub reads HF_ENDPOINT once, at import, and this process imported
    it long before the server's address existed.
    """
    run = subprocess.run(
        [sys.executable, "-c", PUSH_AND_LOAD, WRITE_TOKEN, READ_TOKEN], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    stored = json.loads(fake_hub.state.files("alice/warm-guider")["guider_config.json"])
    assert stored == result["pushed"] == result["loaded"] and result["same_presets"]
    assert stored["presets"][0] == resolve_preset("tiny-sd3/warm").ref
    assert stored["presets"][1] == {"heads": [[1, 1]], "strength": 0.3, "scale": 3.0}


def test_a_style_batch_without_batched_inputs_is_refused_naming_them():
    guider = StyleHeadGuidance(stylehunt.Preset(heads=[(0, 0)]), scale=3.0)
    guider.set_state(step=0, num_inference_steps=STEPS, timestep=torch.tensor(999))
    with pytest.raises(GuidanceError, match="cannot tell the style batch's size.*guidance_embeds"):
        guider.prepare_inputs({"guidance_embeds": torch.tensor(1.0)})


def test_a_style_forward_that_raises_leaves_the_transformer_unperturbed(pipes):
    transformer = pipes.standard.transformer
    before = {name: sorted(vars(m)) for name, m in transformer.named_modules()}
    calls = []

    def fail_in_the_style_batch(module, args, kwargs):
        calls.append(1)
        if len(calls) == 2:  # CFG off: the conditional batch, then the style batch
            raise RuntimeError("out of memory (simulated)")

    handle = transformer.register_forward_pre_hook(fail_in_the_style_batch, with_kwargs=True)
    try:
        with pytest.raises(RuntimeError, match="simulated"):
            run_modular(pipes, StyleHeadGuidance(two_presets(), scale=3.0, guidance_scale=1.0), False)
    finally:
        handle.remove()
    assert {name: sorted(vars(m)) for name, m in transformer.named_modules()} == before


@pytest.mark.parametrize("pipes", [CASES[0]], indirect=True, ids=[IDS[0]])
def test_ctrl_c_during_the_style_forward_leaves_the_transformer_unperturbed(pipes):
    """Ctrl-C inside a transformer block of the style batch: the transformer is restored (torch's always_call
    hooks do not run for a KeyboardInterrupt), and a later run with diffusers' own CFG guider gives the clean
    images. The hook raises the KeyboardInterrupt SIGINT's default handler would raise: a real os.kill is
    delivered to the main thread, which under pytest-xdist need not be the thread running the test (it
    failed that way on a loaded machine)."""
    transformer = pipes.standard.transformer
    before = {name: sorted(vars(m)) for name, m in transformer.named_modules()}
    cfg = ClassifierFreeGuidance(guidance_scale=pipes.case.cfg_scale)
    clean = np.asarray(run_modular(pipes, cfg, True)[0])
    calls = []

    def interrupt_in_the_style_batch(module, args):
        calls.append(1)
        if len(calls) == 3:  # CFG on: conditional, unconditional, then the style batch's first block
            raise KeyboardInterrupt

    block = next(m for m in transformer.modules() if isinstance(m, torch.nn.ModuleList))[0]
    handle = block.register_forward_pre_hook(interrupt_in_the_style_batch)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_modular(pipes, StyleHeadGuidance("tiny-sd3/warm", scale=3.0, guidance_scale=pipes.case.cfg_scale), True)
    finally:
        handle.remove()
    assert len(calls) == 3
    assert {name: sorted(vars(m)) for name, m in transformer.named_modules()} == before
    assert np.array_equal(np.asarray(run_modular(pipes, cfg, True)[0]), clean)


@pytest.mark.parametrize("pipes", [CASES[0]], indirect=True, ids=[IDS[0]])
def test_a_huge_style_scale_raises_instead_of_a_nan_image(pipes):
    """Review 2026-12, defect 17: a scale whose term overflows the prediction's dtype raises the engine's
    NonFiniteGuidanceError, as apply does, and the transformer is left unperturbed. (A scale like 1e30
    whose term stays finite in float32 makes NaN only in the VAE decode, outside the guider: as with
    `apply` from Python, the image is the user's; `stylehunt generate` refuses to write it.)"""
    transformer = pipes.standard.transformer
    before = {name: sorted(vars(m)) for name, m in transformer.named_modules()}
    with pytest.raises(NonFiniteGuidanceError, match="guidance scale 1e\\+300 made the prediction non-finite"):
        run_modular(pipes, StyleHeadGuidance("tiny-sd3/warm", scale=1e300, guidance_scale=pipes.case.cfg_scale), True)
    assert {name: sorted(vars(m)) for name, m in transformer.named_modules()} == before


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_base_guider_with_a_non_finite_scale_is_refused(bad):
    """Defect 17 too: a base guider (object or stored config) whose guidance_scale is NaN or inf made
    its own prediction non-finite, which passed on silently as the model's."""
    preset = stylehunt.Preset(heads=[(0, 0)])
    with pytest.raises(GuidanceError, match="base guider's `guidance_scale` to be a finite number, but got (nan|inf)") as e:
        StyleHeadGuidance(preset, base=ClassifierFreeGuidance(guidance_scale=bad))
    assert e.value.param == "base"
    with pytest.raises(GuidanceError, match="stored base guider's guidance_scale to be a finite number"):
        StyleHeadGuidance(preset, base={"class_name": "ClassifierFreeGuidance", "config": {"guidance_scale": bad}})


def test_a_disabled_guider_runs_the_conditional_batch_only():
    guider = StyleHeadGuidance(stylehunt.Preset(heads=[(0, 0)]), scale=3.0, enabled=False)
    batches, _, _ = _drive(guider)
    assert guider.num_conditions == 1 and [b.__guidance_identifier__ for b in batches] == ["pred_cond"]
    guider.enable()
    assert [b.__guidance_identifier__ for b in _drive(guider)[0]] == ["pred_cond", "pred_uncond", "pred_cond_style"]
    guider.disable()
    assert [b.__guidance_identifier__ for b in _drive(guider)[0]] == ["pred_cond"]
    wrapped = StyleHeadGuidance(stylehunt.Preset(heads=[(0, 0)]), base=ClassifierFreeGuidance(guidance_scale=3.0), enabled=False)
    assert wrapped.num_conditions == 1 and StyleHeadGuidance.from_config(wrapped.config).num_conditions == 1


# --- noise (issue 18): diffusers' experimental notice and the nested step bar -------------------------------


class _Notices(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


PRESET = stylehunt.Preset(heads=[(0, 1), (1, 0)], strength=0.8)


def test_stylehunt_builds_its_guiders_without_diffusers_experimental_notice():
    """diffusers logs "Guiders are currently an experimental feature" from BaseGuidance.__init__: once for
    StyleHeadGuidance, once for its CFG base, twice more per ``new``. Only a guider the user builds logs it."""
    logger = logging.getLogger("diffusers.guiders.guider_utils")
    notices, filters = _Notices(), list(logger.filters)
    logger.addHandler(notices)
    try:
        guider = StyleHeadGuidance(PRESET, scale=2.0, guidance_scale=4.0)
        guider.new(scale=3.0)
        StyleHeadGuidance.from_config(guider.config)
        StyleHeadGuidance(PRESET, scale=2.0, base={"class_name": "ClassifierFreeGuidance", "config": {"guidance_scale": 3.0}})
        assert not [m for m in notices.messages if "experimental" in m]
        ClassifierFreeGuidance(guidance_scale=4.0)  # the user's own diffusers guider: diffusers' notice stays
        assert [m for m in notices.messages if "experimental" in m]
    finally:
        logger.removeHandler(notices)
    assert logger.filters == filters  # nothing left behind on diffusers' logger


def test_the_documented_recipe_turns_the_nested_step_bar_off(tiny_sd3_path, capfd):
    from diffusers.modular_pipelines import StableDiffusion3AutoBlocks

    standard = DiffusionPipeline.from_pretrained(tiny_sd3_path)
    printed = {}
    for recipe in (False, True):
        blocks = StableDiffusion3AutoBlocks()
        if recipe:
            no_step_bars(blocks)
        else:  # a block's setting outlives it (an earlier test's recipe may have reached a shared block)
            _default_step_bars(blocks)
        modular = blocks.init_pipeline()
        modular.update_components(**{k: v for k, v in standard.components.items() if k in modular.component_names})
        modular.update_components(guider=StyleHeadGuidance(PRESET, scale=2.0, guidance_scale=4.0))
        modular.set_progress_bar_config(disable=True)
        capfd.readouterr()
        modular(prompt="a lighthouse", negative_prompt="", num_inference_steps=2, height=SIZE, width=SIZE,
                generator=torch.Generator().manual_seed(0), output_type="pt", output="images")
        printed[recipe] = capfd.readouterr().err
    assert "2/2" in printed[False]  # diffusers' nested bar despite set_progress_bar_config(disable=True)
    assert "2/2" not in printed[True] and "it/s" not in printed[True]
