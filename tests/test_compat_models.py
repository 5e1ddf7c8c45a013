"""Presets on quantized, LoRA'd and low-precision models: every tested cell of tests/compat_matrix.py.

Each case loads a tiny random-weight pipeline (tests/conftest.py) the way a user loads a real one
(``from_pretrained`` with a quantization config or a dtype, ``from_single_file`` for GGUF,
``load_lora_weights`` for a LoRA made and saved here), then checks: the guided run differs from the
plain one, it equals the materialising reference (tests/reference.py) run on the same model in the
same dtype, and after ``remove`` a plain run equals the plain run before ``apply`` bit for bit.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from diffusers import DiffusionPipeline

import stylehunt
from stylehunt.engine import strength_table
from stylehunt.engine.heads import attention_modules
from tests.compat_matrix import APPROX, params
from tests.reference import ReferenceGuidance
from tests.test_engine import for_video

PRESET = stylehunt.Preset(heads=[(0, 0), (1, 1)], strength=0.8)
SCALE = 3.0
#: Per-family call arguments beyond 1 prompt, 2 steps, 32 px (the FLUX.2-dev system prompt needs 256 tokens).
CALL = {"chroma": {"max_sequence_length": 32}, "flux2": {"max_sequence_length": 64},
        "flux2-dev": {"max_sequence_length": 256}, "flux": {"guidance_scale": 3.5}}
#: float32 tolerance of tests/test_engine.py; low precision: a few units in the last place of the latents
TOLERANCE = {torch.float32: {"rtol": 1e-4, "atol": 2e-5}, torch.bfloat16: {"rtol": 0.0, "atol": 0.1},
             torch.float16: {"rtol": 0.0, "atol": 0.02}}


def fixture_name(family: str) -> str:
    return "tiny_" + family.replace(".", "").replace("-", "_") + "_path"


def load(request, family: str, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantizers' deprecation notices
        pipe = DiffusionPipeline.from_pretrained(request.getfixturevalue(fixture_name(family)), **kwargs)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run(pipe, family: str) -> torch.Tensor:
    kwargs = for_video(pipe, {"num_inference_steps": 2, "height": 32, "width": 32, **CALL.get(family, {})})
    generator = torch.Generator().manual_seed(0)
    out = pipe(prompt="a lighthouse at dusk", generator=generator, output_type="latent", **kwargs)
    return out.images if hasattr(out, "images") else out.frames


def reference(pipe, family: str) -> torch.Tensor:
    with ReferenceGuidance(pipe, strength_table(stylehunt.head_grid(pipe), [PRESET], [PRESET.strength]), SCALE):
        return run(pipe, family)


#: The pipeline attributes that hold a denoiser (a U-Net pipeline's is ``unet``).
DENOISERS = ("transformer", "transformer_2", "unet")


def denoiser_names(pipe) -> list[str]:
    return [name for name in DENOISERS if getattr(pipe, name, None) is not None]


def denoisers(pipe) -> list:
    return [getattr(pipe, name) for name in denoiser_names(pipe)]


def check_guided(pipe, family: str, dtype=torch.float32, float32_result=None) -> torch.Tensor:
    """Plain, guided, removed and reference runs on ``pipe`` as it is; the guided latents.

    With ``float32_result`` (the guided result of the float32 pipeline), the guided latents must instead be
    at least as close to it as the reference in the same dtype is: for a model where the low-precision
    reference's own rounding exceeds :data:`TOLERANCE`."""
    plain = run(pipe, family)
    stylehunt.apply(pipe, PRESET, scale=SCALE)
    try:
        guided = run(pipe, family)
    finally:
        stylehunt.remove(pipe)
    assert guided.dtype == plain.dtype and torch.isfinite(guided).all()
    assert not torch.allclose(guided.float(), plain.float(), atol=1e-3), "the preset has no effect"
    assert torch.equal(run(pipe, family), plain), "remove is not exact"
    if float32_result is None:
        torch.testing.assert_close(guided, reference(pipe, family), **TOLERANCE[dtype])
    else:
        ours, its = ((x.float() - float32_result).abs().max() for x in (guided, reference(pipe, family)))
        assert ours <= its, f"{ours} from the float32 result, the reference {its}"
    return guided


# --- quantized transformers --------------------------------------------------------------------------


def quantization(configuration: str, pipe_components: list[str]):
    from diffusers import PipelineQuantizationConfig, QuantoConfig, TorchAoConfig

    if configuration == "torchao":
        from torchao.quantization import Int8WeightOnlyConfig

        config = TorchAoConfig(Int8WeightOnlyConfig())
    else:
        config = QuantoConfig(weights_dtype="int8")
    return PipelineQuantizationConfig(quant_mapping={name: config for name in pipe_components})


def quantized_weight_types(pipe) -> set[str]:
    """The weight types of the attention layers' projections (a model's ``_keep_in_fp32_modules``, such as
    Wan's time embedder, stay unquantized)."""
    return {type(m.weight).__name__ for t in denoisers(pipe) for a in attention_modules(t) for m in a.modules()
            if isinstance(m, torch.nn.Linear)}


@pytest.mark.parametrize("cell", params("test_quantized"))
def test_quantized(request, cell):
    family = cell.family
    index = json.loads((Path(request.getfixturevalue(fixture_name(family))) / "model_index.json").read_text())
    components = [name for name in DENOISERS if name in index]
    # torchao's integer configs compute in bfloat16 (its quantizer's default), quanto's in the model's float32
    dtype = torch.bfloat16 if cell.configuration == "torchao" else torch.float32
    pipe = load(request, family, quantization_config=quantization(cell.configuration, components), torch_dtype=dtype)
    expected = {"torchao": {"Int8Tensor"}, "quanto": {"WeightQBytesTensor"}}[cell.configuration]
    assert quantized_weight_types(pipe) == expected  # every projection of every attention layer is quantized
    check_guided(pipe, family, dtype)


def _wan_layout(weights: dict) -> dict:
    """diffusers' Wan keys -> the original checkpoint's: the two block norms swap names."""
    swap = {".norm2.": ".norm3.", ".norm3.": ".norm2."}
    return {next((k.replace(a, b) for a, b in swap.items() if a in k), k): v for k, v in weights.items()}


def _zimage_layout(weights: dict) -> dict:
    """diffusers' Z-Image keys -> the original checkpoint's: fused qkv, other names for the rest."""
    renames = {"all_final_layer.2-1.": "final_layer.", "all_x_embedder.2-1.": "x_embedder.",
               ".attention.to_out.0.": ".attention.out.", ".attention.norm_k.": ".attention.k_norm.",
               ".attention.norm_q.": ".attention.q_norm."}
    out = {}
    for key, value in weights.items():
        if ".attention.to_k.weight" in key or ".attention.to_v.weight" in key:
            continue
        if ".attention.to_q.weight" in key:
            parts = [weights[key.replace("to_q", name)] for name in ("to_q", "to_k", "to_v")]
            key, value = key.replace("to_q", "qkv"), torch.cat(parts)
        for old, new in renames.items():
            key = key.replace(old, new)
        out[key] = value
    return out


#: family -> diffusers' state dict as the family's single-file (original) checkpoint lays it out. A family
#: is listed when its layout can be written from the diffusers weights (the test checks diffusers' own
#: conversion turns it back into them). The other families' files keep diffusers' own key layout, which
#: ``from_single_file`` loads without converting (as diffusers-format GGUF files are loaded).
SINGLE_FILE_LAYOUT = {"qwenimage": dict, "wan": _wan_layout, "zimage": _zimage_layout}


def write_gguf(weights: dict, path) -> int:
    """``weights`` as a GGUF file: layer weights in Q8_0 where a row holds whole 32-value blocks, float32
    elsewhere (as the quantizing tools write them: tensors used raw, such as Z-Image's pad tokens, stay
    unquantized). The number of Q8_0 tensors."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "stylehunt-test")
    quantized = 0
    for name, value in weights.items():
        array = value.float().numpy()
        if name.endswith(".weight") and array.ndim == 2 and array.shape[-1] % 32 == 0:
            writer.add_tensor(name, gguf.quants.quantize(array, gguf.GGMLQuantizationType.Q8_0),
                              raw_dtype=gguf.GGMLQuantizationType.Q8_0)
            quantized += 1
        else:
            writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return quantized


@pytest.mark.parametrize("cell", params("test_gguf_single_file"))
def test_gguf_single_file(request, cell, tmp_path):
    """Each denoiser written as a GGUF file in the family's single-file layout, loaded with ``from_single_file``."""
    from diffusers import GGUFQuantizationConfig
    from diffusers.loaders.single_file_model import SINGLE_FILE_LOADABLE_CLASSES
    from diffusers.quantizers.gguf.utils import GGUFLinear

    from diffusers.loaders.single_file_model import _should_convert_state_dict_to_diffusers

    pipe = load(request, cell.family)
    folder, layout = request.getfixturevalue(fixture_name(cell.family)), SINGLE_FILE_LAYOUT.get(cell.family)
    for name in denoiser_names(pipe):
        transformer = getattr(pipe, name)
        cls, weights = type(transformer), {k: v.clone() for k, v in transformer.state_dict().items()}
        if layout is None:  # diffusers' layout: the loader must take it as it is, not run the converter on it
            original = weights
            assert not _should_convert_state_dict_to_diffusers(transformer.state_dict(), original)
        else:
            original = layout(weights)
            convert = SINGLE_FILE_LOADABLE_CLASSES[cls.__name__]["checkpoint_mapping_fn"]
            converted = convert(dict(original), config=transformer.config)
            assert converted.keys() == weights.keys() and all(torch.equal(converted[k], weights[k]) for k in weights)
        assert write_gguf(original, tmp_path / f"{name}.gguf") > 0
        setattr(pipe, name, cls.from_single_file(
            str(tmp_path / f"{name}.gguf"), config=str(folder), subfolder=name, torch_dtype=torch.float32,
            quantization_config=GGUFQuantizationConfig(compute_dtype=torch.float32)))
        # every projection of the perturbed attention layers whose rows hold whole Q8_0 blocks of 32 is a GGUF
        # layer in Q8_0 (FLUX.2's parallel blocks fuse theirs); the tiny SD 1.x U-Net's self-attention is 8 and 16
        # wide, too narrow for one block: its Q8_0 layers are the cross-attention and feed-forward ones
        projections = [m for a in attention_modules(getattr(pipe, name)) for m in a.modules() if isinstance(m, torch.nn.Linear)]
        quantizable = [p for p in projections if p.in_features % 32 == 0]
        assert (quantizable or cell.family == "sd15") and all(
            isinstance(p, GGUFLinear) and p.weight.quant_type == 8 for p in quantizable)
        assert any(isinstance(m, GGUFLinear) and m.weight.quant_type == 8 for m in getattr(pipe, name).modules())
    check_guided(pipe, cell.family)


# --- LoRA ----------------------------------------------------------------------------------------------


def lora_config():
    from peft import LoraConfig

    # random A and B (B is zero by default, which would make the LoRA a no-op)
    return LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v"], init_lora_weights=False)


def lora_target(pipe):
    """The denoiser a LoRA of the pipeline's ``load_lora_weights`` goes to (Wan 2.2: the first expert)."""
    return denoisers(pipe)[0]


@pytest.fixture(scope="module")
def lora_files(request, tmp_path_factory):
    """family -> two LoRA folders saved with the pipeline's own ``save_lora_weights`` (made once per module)."""
    from peft.utils import get_peft_model_state_dict

    made = {}

    def make(family: str):
        if family not in made:
            pipe = load(request, family)
            folders = []
            for seed in (1, 2):
                torch.manual_seed(seed)
                lora_target(pipe).add_adapter(lora_config(), adapter_name=f"seed{seed}")
                layers = get_peft_model_state_dict(lora_target(pipe), adapter_name=f"seed{seed}")
                folder = tmp_path_factory.mktemp(f"lora-{family}-{seed}")
                # transformer_lora_layers=..., or unet_lora_layers=... for a U-Net pipeline
                type(pipe).save_lora_weights(folder, **{f"{denoiser_names(pipe)[0]}_lora_layers": layers})
                folders.append(folder)
            made[family] = folders
        return made[family]

    return make


def adapters_of(pipe) -> tuple:
    """The loaded adapters, the active ones and their weights (what ``remove`` must leave in place)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    scalings = sorted((name, key, float(value)) for name, m in lora_target(pipe).named_modules()
                      if isinstance(m, BaseTunerLayer) for key, value in m.scaling.items())
    return pipe.get_list_adapters(), sorted(pipe.get_active_adapters()), scalings


@pytest.mark.filterwarnings("ignore:Already found a `peft_config` attribute:UserWarning")  # several adapters: meant
@pytest.mark.parametrize("cell", params("test_lora"))
def test_lora(request, cell, lora_files):
    family, (first, second) = cell.family, lora_files(cell.family)
    pipe = load(request, family)
    plain = run(pipe, family)
    # LoRAs loaded and weighted before apply: equal the reference with the LoRAs on; remove keeps them
    pipe.load_lora_weights(first, adapter_name="a")
    pipe.load_lora_weights(second, adapter_name="b")
    pipe.set_adapters(["a", "b"], [0.7, 0.4])
    with_lora = run(pipe, family)
    assert not torch.allclose(with_lora, plain, atol=1e-3), "the LoRAs have no effect"
    loaded = adapters_of(pipe)
    unfused = check_guided(pipe, family)
    assert adapters_of(pipe) == loaded
    # fused before apply equals unfused (the LoRA's own rounding); remove leaves the fused weights
    pipe.fuse_lora()
    fused_plain = run(pipe, family)
    stylehunt.apply(pipe, PRESET, scale=SCALE)
    torch.testing.assert_close(run(pipe, family), unfused, rtol=1e-4, atol=1e-4)
    # unfused while applied: the guided run with the LoRAs active again
    pipe.unfuse_lora()
    torch.testing.assert_close(run(pipe, family), unfused, rtol=1e-4, atol=1e-4)
    pipe.fuse_lora()  # and fused again while applied, then removed
    stylehunt.remove(pipe)
    assert adapters_of(pipe) == loaded
    # fuse, unfuse, fuse adds and subtracts the LoRA's delta in place: the weights differ from the first
    # fusing by their rounding, not bit for bit (check_guided has checked that remove itself is exact)
    torch.testing.assert_close(run(pipe, family), fused_plain, rtol=1e-5, atol=1e-5)
    pipe.unfuse_lora()
    pipe.unload_lora_weights()
    torch.testing.assert_close(run(pipe, family), plain, rtol=1e-5, atol=1e-5)
    # loaded, weighted and added (peft's add_adapter) after apply
    stylehunt.apply(pipe, PRESET, scale=SCALE)
    pipe.load_lora_weights(first, adapter_name="a")
    pipe.load_lora_weights(second, adapter_name="b")
    pipe.set_adapters(["a", "b"], [0.7, 0.4])
    torch.testing.assert_close(run(pipe, family), unfused, rtol=1e-4, atol=1e-4)
    torch.manual_seed(3)
    lora_target(pipe).add_adapter(lora_config(), adapter_name="c")  # the peft path; becomes the active adapter
    added = run(pipe, family)
    stylehunt.remove(pipe)
    assert "c" in lora_target(pipe).peft_config
    assert not torch.allclose(added, unfused, atol=1e-3)
    torch.testing.assert_close(added, reference(pipe, family), rtol=1e-4, atol=2e-5)


# --- precision -------------------------------------------------------------------------------------------


def output_dtypes(pipe) -> set:
    """Collects the dtypes of the denoisers' outputs (hooks run around stylehunt's forward too)."""
    seen = set()

    def hook(module, args, output):
        first = output[0] if isinstance(output, (tuple, list)) else output.sample
        seen.add((first[0] if isinstance(first, (list, tuple)) else first).dtype)  # Z-Image: a list per sample

    return seen, [t.register_forward_hook(hook) for t in denoisers(pipe)]


@pytest.mark.parametrize("cell", params("test_precision"))
def test_precision(request, cell):
    """bf16 / fp16 pipelines: no dtype error, the guided prediction stays in the model's dtype, and the result
    equals the reference run in the same dtype (which mixes in float64 and rounds once)."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[cell.configuration]
    float32_result = None
    if cell.status == APPROX:  # the note says why: compared with the float32 result instead
        float32 = load(request, cell.family)
        stylehunt.apply(float32, PRESET, scale=SCALE)
        float32_result = run(float32, cell.family)
    pipe = load(request, cell.family, torch_dtype=dtype)
    seen, handles = output_dtypes(pipe)
    try:
        check_guided(pipe, cell.family, dtype, float32_result)
    finally:
        for handle in handles:
            handle.remove()
    assert seen == {dtype}


def layerwise_casting(pipe) -> None:
    for transformer in denoisers(pipe):
        transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.float32)


def casting_hooks(pipe) -> int:
    registries = [getattr(m, "_diffusers_hook", None) for t in denoisers(pipe) for m in t.modules()]
    return sum(r is not None and r.get_hook("layerwise_casting") is not None for r in registries)


@pytest.mark.parametrize("cell", params("test_layerwise_casting"))
def test_layerwise_casting(request, cell):
    """Weights stored in float8, computed in float32: enabled before apply (the reference checks it), and after
    apply on a second copy (the same guided result); remove leaves the casting hooks working."""
    before = load(request, cell.family)
    layerwise_casting(before)
    hooks = casting_hooks(before)
    assert hooks > 0
    guided = check_guided(before, cell.family)
    assert casting_hooks(before) == hooks
    after = load(request, cell.family)
    plain = run(after, cell.family)
    stylehunt.apply(after, PRESET, scale=SCALE)
    layerwise_casting(after)
    try:
        assert torch.equal(run(after, cell.family), guided)
    finally:
        stylehunt.remove(after)
    assert casting_hooks(after) == hooks
    assert torch.equal(run(after, cell.family), run(before, cell.family))  # still cast, no longer guided
    assert not torch.equal(run(after, cell.family), plain)
