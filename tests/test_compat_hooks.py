"""stylehunt beside other hooks on the transformer, in either order: accelerate's offload hooks, diffusers'
group offload and layerwise casting, foreign forward wrappers, a replaced transformer.

On this CPU machine an offload "to the accelerator" is an offload to ``cpu``: the hooks are installed,
removed and re-installed exactly as on a GPU, and sequential offload keeps the weights on ``meta``
between calls, which is how a GPU offload looks to code that reads the first parameter's device.
Each test compares, in the same hook configuration, a guided run with the guided run on a pipeline
without hooks, and a plain run after ``remove`` with the plain run before ``apply``, bit for bit.
"""

from __future__ import annotations

import pytest
import torch
from accelerate import cpu_offload
from diffusers import DiffusionPipeline

import stylehunt
from stylehunt.errors import GuidanceError

PRESET = stylehunt.Preset(heads=[(0, 1), (1, 0)], strength=0.8)
SCALE = 3.0
# Offload hooks move tensors between calls and the pipeline computes its inputs on the "execution device",
# which changes float rounding: a guided run under hooks is compared with the hook-free one within this.
TOL = 1e-5

CASES = {
    "flux": ("tiny_flux_path", {"guidance_scale": 3.5, "height": 32, "width": 32}),
    "wan": ("tiny_wan_path", {"guidance_scale": 4.0, "height": 32, "width": 32, "num_frames": 5}),
}


def load(request, family):
    path = request.getfixturevalue(CASES[family][0])
    pipe = DiffusionPipeline.from_pretrained(path)
    pipe.set_progress_bar_config(disable=True)
    pipe.family = family
    return pipe


def run(pipe, seed=0):
    out = pipe(
        prompt="a lighthouse at dusk",
        generator=torch.Generator().manual_seed(seed),
        num_inference_steps=2,
        output_type="latent",
        **CASES[pipe.family][1],
    )
    return out.images if hasattr(out, "images") else out.frames


_REFERENCES: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def references(request, family):
    """(plain, guided) on a pipeline without any hook."""
    if family in _REFERENCES:
        return _REFERENCES[family]
    pipe = load(request, family)
    plain = run(pipe)
    stylehunt.apply(pipe, PRESET, scale=SCALE)
    guided = run(pipe)
    stylehunt.remove(pipe)
    assert not torch.allclose(guided, plain, atol=TOL)
    _REFERENCES[family] = plain, guided
    return plain, guided


def close(a, b):
    return torch.allclose(a, b, atol=TOL, rtol=0)


def check_guided_and_removed(pipe, guided_ref, calls=3):
    """Every one of ``calls`` generations is guided; remove gives back the configuration's plain run exactly;
    apply, applied and remove keep working."""
    for _ in range(calls):
        assert close(run(pipe), guided_ref)
    stylehunt.remove(pipe)
    assert stylehunt.get_applied(pipe) is None
    after = run(pipe)
    with stylehunt.applied(pipe, PRESET, scale=SCALE):
        assert close(run(pipe), guided_ref)
    assert stylehunt.get_applied(pipe) is None
    assert torch.equal(run(pipe), after)
    return after


@pytest.mark.parametrize("family", ["flux", "wan"])
def test_model_cpu_offload_then_apply_guides_every_call(request, family):
    plain_ref, guided_ref = references(request, family)
    pipe = load(request, family)
    pipe.enable_model_cpu_offload(device="cpu")
    plain = run(pipe)
    assert close(plain, plain_ref)
    stylehunt.apply(pipe, PRESET, scale=SCALE)
    assert torch.equal(check_guided_and_removed(pipe, guided_ref), plain)
    pipe.remove_all_hooks()  # the offload hooks come off as they would without stylehunt
    assert torch.equal(run(pipe), plain)


def test_apply_then_model_cpu_offload_and_remove_in_any_order(request):
    plain_ref, guided_ref = references(request, "flux")
    pipe = load(request, "flux")
    stylehunt.apply(pipe, PRESET, scale=SCALE)
    pipe.enable_model_cpu_offload(device="cpu")
    for _ in range(2):
        assert close(run(pipe), guided_ref)
    pipe.remove_all_hooks()  # offload off while guided: still guided
    assert close(run(pipe), guided_ref)
    pipe.enable_model_cpu_offload(device="cpu")
    stylehunt.remove(pipe)
    assert close(run(pipe), plain_ref)
    stylehunt.apply(pipe, PRESET, scale=SCALE)
    assert close(run(pipe), guided_ref)


def sequential_offload(pipe):
    """What ``enable_sequential_cpu_offload`` does to the transformer (accelerate's ``cpu_offload``).

    The pipeline method itself fails here without stylehunt, in the CLIP text encoder (accelerate 1.15
    re-wraps a CPU parameter with ``requires_grad``, which transformers 5's parameter class refuses).
    """
    cpu_offload(pipe.transformer, execution_device=torch.device("cpu"))


@pytest.mark.parametrize("order", ["offload-first", "apply-first"])
def test_sequential_cpu_offload_with_weights_on_meta(request, order):
    """Weights live on `meta` between module calls, as on a GPU offload: the engine takes devices from the batch."""
    plain_ref, guided_ref = references(request, "flux")
    pipe = load(request, "flux")
    if order == "apply-first":
        stylehunt.apply(pipe, PRESET, scale=SCALE)
    sequential_offload(pipe)
    assert next(pipe.transformer.parameters()).device.type == "meta"
    if order == "offload-first":
        assert close(run(pipe), plain_ref)
        stylehunt.apply(pipe, PRESET, scale=SCALE)
    plain = check_guided_and_removed(pipe, guided_ref)
    assert close(plain, plain_ref)


def test_perturbed_takes_the_batch_device_not_the_first_parameters(request):
    pipe = load(request, "flux")
    sequential_offload(pipe)
    grid = stylehunt.head_grid(pipe)
    table = stylehunt.engine.strength_table(grid, [PRESET], [1.0])
    pipe.transformer.forward  # the hooks are in place; the first parameter is on meta
    assert next(pipe.transformer.parameters()).device.type == "meta"
    with stylehunt.engine.perturbed(pipe, table[None], start=0):
        perturbed = run(pipe)
    assert not close(perturbed, run(pipe))


@pytest.mark.parametrize("kind", ["block_level", "leaf_level"])
@pytest.mark.parametrize("order", ["offload-first", "apply-first"])
def test_group_offload_in_either_order(request, kind, order):
    plain_ref, guided_ref = references(request, "flux")
    pipe = load(request, "flux")
    kwargs = {"num_blocks_per_group": 1} if kind == "block_level" else {}
    if order == "apply-first":
        stylehunt.apply(pipe, PRESET, scale=SCALE)
    pipe.transformer.enable_group_offload(torch.device("cpu"), offload_type=kind, **kwargs)
    if order == "offload-first":
        assert close(run(pipe), plain_ref)
        stylehunt.apply(pipe, PRESET, scale=SCALE)
    plain = check_guided_and_removed(pipe, guided_ref)
    assert close(plain, plain_ref)


@pytest.mark.parametrize("order", ["casting-first", "apply-first"])
def test_layerwise_casting_in_either_order(request, order):
    pipe = load(request, "flux")
    if order == "apply-first":
        stylehunt.apply(pipe, PRESET, scale=SCALE)
    pipe.transformer.enable_layerwise_casting(storage_dtype=torch.bfloat16, compute_dtype=torch.float32)
    stylehunt.remove(pipe)
    plain = run(pipe)  # the reference of this configuration: bf16 storage
    stylehunt.apply(pipe, PRESET, scale=SCALE)
    guided = run(pipe)
    assert not close(guided, plain)
    stylehunt.remove(pipe)
    assert torch.equal(run(pipe), plain)


def test_a_foreign_wrapper_that_replaced_forward_and_was_deleted_does_not_block_remove(request):
    """Reliability review 2026-12 #15 (API103): remove and apply kept raising, get_applied stayed set."""
    plain_ref, guided_ref = references(request, "flux")
    pipe = load(request, "flux")
    transformer = pipe.transformer
    stylehunt.apply(pipe, PRESET, scale=SCALE)
    transformer.forward = type(transformer).forward.__get__(transformer)  # someone else's forward...
    del transformer.forward  # ... taken off again, as the old message asked
    stylehunt.remove(pipe)
    assert stylehunt.get_applied(pipe) is None
    assert "forward" not in vars(transformer)
    assert torch.equal(run(pipe), plain_ref)
    stylehunt.apply(pipe, PRESET, scale=SCALE)
    assert close(run(pipe), guided_ref)


def test_remove_under_a_foreign_wrapper_is_complete_and_leaves_a_pass_through(request):
    """A wrapper set after apply holds ours in its closure: remove cannot take ours out of it, so ours
    passes calls through unchanged, and everything else is restored (remove is never partial)."""
    plain_ref, guided_ref = references(request, "flux")
    pipe = load(request, "flux")
    transformer = pipe.transformer
    stylehunt.apply(pipe, PRESET, scale=SCALE)
    ours, calls = transformer.forward, []

    def theirs(*args, **kwargs):
        calls.append(1)
        return ours(*args, **kwargs)

    transformer.forward = theirs
    assert close(run(pipe), guided_ref)
    stylehunt.remove(pipe)
    assert stylehunt.get_applied(pipe) is None
    assert all("forward" not in vars(m) for name, m in transformer.named_modules() if name)  # blocks, attentions
    assert torch.equal(run(pipe), plain_ref) and calls
    del transformer.forward
    assert torch.equal(run(pipe), plain_ref)


@pytest.mark.parametrize("name", ["transformer", "transformer_2"])
def test_a_transformer_replaced_after_apply_is_refused_at_the_next_call(request, name):
    family = "flux" if name == "transformer" else "wan"
    pipe = load(request, family)
    plain = run(pipe)
    stylehunt.apply(pipe, PRESET, scale=SCALE)
    guided = run(pipe)
    setattr(pipe, name, getattr(load(request, family), name))  # the same weights, another module
    with pytest.raises(GuidanceError, match=f"pipe.*{name}.*was replaced after stylehunt.apply"):
        run(pipe)
    stylehunt.apply(pipe, PRESET, scale=SCALE)  # guides the new one
    assert close(run(pipe), guided)
    stylehunt.remove(pipe)
    assert torch.equal(run(pipe), plain)


@pytest.mark.parametrize("how", ["transformer.compile", "torch.compile"])
@pytest.mark.parametrize("order", ["compile-first", "apply-first"])
def test_compile_fullgraph_in_either_order_without_graph_breaks(request, how, order):
    """``fullgraph=True`` fails on any graph break; the eager backend keeps the test fast (inductor compiles
    the same graph). The guided forward has no data-dependent Python branch left (the finite-value check
    is a device-side assertion under compile)."""
    from torch._dynamo.utils import counters

    plain_ref, guided_ref = references(request, "flux")
    pipe = load(request, "flux")
    torch._dynamo.reset()
    counters.clear()

    def compile_():
        if how == "transformer.compile":
            pipe.transformer.compile(backend="eager", fullgraph=True)
        else:
            pipe.transformer = torch.compile(pipe.transformer, backend="eager", fullgraph=True)

    if order == "apply-first":
        stylehunt.apply(pipe, PRESET, scale=SCALE)
    compile_()
    if order == "compile-first":
        stylehunt.apply(pipe, PRESET, scale=SCALE)
    assert stylehunt.get_applied(pipe) is not None
    assert torch.equal(run(pipe), guided_ref)
    assert not counters["graph_break"]
    assert counters["stats"]["unique_graphs"] > 0  # the transformer really ran compiled
    stylehunt.remove(pipe)
    assert torch.equal(run(pipe), plain_ref)


def test_a_guided_step_under_inductor_equals_eager(request):
    """torch.compile's default backend, inductor, generates and builds C++ here (with the machine's gcc): the
    guided forward compiles whole (``fullgraph=True``) and gives the eager guided result within float rounding
    (inductor fuses and reorders the float operations). One step of tiny FLUX.1: compiling takes most of the time."""
    from torch._dynamo.utils import counters

    pipe = load(request, "flux")
    stylehunt.apply(pipe, PRESET, scale=SCALE)
    eager = run_steps(pipe, 1)
    torch._dynamo.reset()
    counters.clear()
    pipe.transformer.compile(fullgraph=True)
    try:
        compiled = run_steps(pipe, 1)
    finally:
        torch._dynamo.reset()
    assert not counters["graph_break"] and counters["stats"]["unique_graphs"] > 0
    assert torch.allclose(compiled, eager, atol=TOL, rtol=0)
    assert sum(counters["inductor"].values()) > 0  # inductor built the code that ran (or took it from its cache)
    stylehunt.remove(pipe)


def run_steps(pipe, steps):
    out = pipe(prompt="a lighthouse at dusk", generator=torch.Generator().manual_seed(0), num_inference_steps=steps,
               output_type="latent", **CASES[pipe.family][1])
    return out.images
