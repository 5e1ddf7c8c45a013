"""The tiny offline pipelines: shapes, save/load round trip, determinism, and the build-once cache."""

from __future__ import annotations

import os
from operator import attrgetter
from pathlib import Path

import diffusers
import pytest
import torch
from diffusers import DiffusionPipeline, FluxPipeline, WanTransformer3DModel

import stylehunt.engine.families as families
import stylehunt.tiny as tiny
from stylehunt.engine.families import adapter_named, check_diffusers_version
from stylehunt.errors import StylehuntError, UnsupportedModelError
from stylehunt.tiny import (
    TINY_FAMILIES,
    build_tiny_pipeline,
    load_tiny_pipeline,
    resolve_tiny_model,
    save_tiny_pipeline,
    tiny_pipeline_path,
)

EXPECTED_CLASSES = {
    "sd3": ("StableDiffusion3Pipeline", "SD3Transformer2DModel"),
    "sd3.5": ("StableDiffusion3Pipeline", "SD3Transformer2DModel"),
    "flux": ("FluxPipeline", "FluxTransformer2DModel"),
    "chroma": ("ChromaPipeline", "ChromaTransformer2DModel"),
    "zimage": ("ZImagePipeline", "ZImageTransformer2DModel"),
    "qwenimage": ("QwenImagePipeline", "QwenImageTransformer2DModel"),
    "wan": ("WanPipeline", "WanTransformer3DModel"),
    "flux2": ("Flux2KleinPipeline", "Flux2Transformer2DModel"),
    "flux2-dev": ("Flux2Pipeline", "Flux2Transformer2DModel"),
    "sdxl": ("StableDiffusionXLPipeline", "UNet2DConditionModel"),
    "sd15": ("StableDiffusionPipeline", "UNet2DConditionModel"),
    "hunyuanvideo15": ("HunyuanVideo15Pipeline", "HunyuanVideo15Transformer3DModel"),
    "ernieimage": ("ErnieImagePipeline", "ErnieImageTransformer2DModel"),
    "ltx": ("LTXPipeline", "LTXVideoTransformer3DModel"),
    "ltx2": ("LTX2Pipeline", "LTX2VideoTransformer3DModel"),
    "qwenimage21": ("QwenImage21Pipeline", "QwenImage21Transformer2DModel"),
}

TOKENIZERS = {
    "sd3": ("tokenizer", "tokenizer_2", "tokenizer_3"),
    "sd3.5": ("tokenizer", "tokenizer_2", "tokenizer_3"),
    "flux": ("tokenizer", "tokenizer_2"),
    "chroma": ("tokenizer",),
    "zimage": ("tokenizer",),
    "qwenimage": ("tokenizer",),
    "wan": ("tokenizer",),
    "flux2": ("tokenizer",),
    "flux2-dev": ("tokenizer.tokenizer",),  # the Pixtral processor's tokenizer
    "sdxl": ("tokenizer", "tokenizer_2"),
    "sd15": ("tokenizer",),
    "hunyuanvideo15": ("tokenizer", "tokenizer_2"),  # Qwen2 bytes, ByT5 bytes
    "ernieimage": ("tokenizer",),
    "ltx": ("tokenizer",),
    "ltx2": ("tokenizer",),
    "qwenimage21": ("processor.tokenizer",),  # the Qwen3-VL processor's tokenizer
}

FIXTURES = {"sd3": "tiny_sd3_path", "sd3.5": "tiny_sd35_path", "flux": "tiny_flux_path", "chroma": "tiny_chroma_path",
            "zimage": "tiny_zimage_path", "qwenimage": "tiny_qwenimage_path", "wan": "tiny_wan_path",
            "flux2": "tiny_flux2_path", "flux2-dev": "tiny_flux2_dev_path", "sdxl": "tiny_sdxl_path",
            "sd15": "tiny_sd15_path", "hunyuanvideo15": "tiny_hunyuanvideo15_path",
            "ernieimage": "tiny_ernieimage_path", "ltx": "tiny_ltx_path", "ltx2": "tiny_ltx2_path",
            "qwenimage21": "tiny_qwenimage21_path"}

#: Families whose images are not RGB (Qwen-Image 2.1's VAE is RGBA).
CHANNELS = {"qwenimage21": 4}


#: Frames per call for the video families (their pipelines default to 81).
VIDEO_FRAMES = {"wan": 5, "hunyuanvideo15": 1, "ltx": 9, "ltx2": 9}
#: VAE downscale factors that are not the real models' 8: the tiny HunyuanVideo 1.5 VAE is diffusers' test
#: config (4x; the real one is 16x, which needs five VAE levels); the LTX VAEs: 32, as the real ones
VAE_FACTORS = {"hunyuanvideo15": 4, "ernieimage": 16, "ltx": 32, "ltx2": 32, "qwenimage21": 16}  # ERNIE-Image counts its 2 x 2 packing

def _too_new(family: str) -> str:
    """The diffusers release ``family`` needs when the installed one is older (see `check_diffusers_version`)."""
    adapter = adapter_named(family)
    try:
        adapter is None or check_diffusers_version(adapter)
    except UnsupportedModelError:
        return adapter.min_diffusers
    return ""


#: The families the installed diffusers can build: every one with the pinned diffusers; on the declared
#: minimum (`make test-min`) the newer families are checked by the refusal test below instead.
AVAILABLE = tuple(f for f in TINY_FAMILIES if not _too_new(f))


@pytest.fixture(params=AVAILABLE)
def family_and_path(request):
    return request.param, request.getfixturevalue(FIXTURES[request.param])


def _load(path) -> DiffusionPipeline:
    pipe = DiffusionPipeline.from_pretrained(path, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _state(pipe) -> dict[str, torch.Tensor]:
    out = {}
    for name, component in pipe.components.items():
        if isinstance(component, torch.nn.Module):
            out.update({f"{name}.{k}": v for k, v in component.state_dict().items()})
    return out


def _run(pipe, size: int = 64, **kwargs) -> torch.Tensor:
    kwargs.setdefault("height", size)
    kwargs.setdefault("width", size)
    out = pipe(
        prompt="a cat",  # by name: the FLUX.2 pipelines take `image` first
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
        output_type="pt",
        **kwargs,
    )
    return out.images if hasattr(out, "images") else out.frames  # video pipelines return frames


def test_families():
    assert TINY_FAMILIES == (
        "sd3", "sd3.5", "flux", "chroma", "zimage", "qwenimage", "flux2", "flux2-dev", "wan", "sdxl", "sd15",
        "hunyuanvideo15", "ernieimage",
        "ltx", "ltx2", "qwenimage21",
    )


def test_saved_pipeline_loads_into_the_right_classes(family_and_path):
    family, path = family_and_path
    pipe = _load(path)
    pipe_cls, transformer_cls = (getattr(diffusers, name) for name in EXPECTED_CLASSES[family])
    assert type(pipe) is pipe_cls
    denoiser = pipe.unet if hasattr(pipe, "unet") else pipe.transformer  # the SDXL / SD pipelines' U-Net
    assert type(denoiser) is transformer_cls
    factor = getattr(pipe, "vae_scale_factor", None) or getattr(pipe, "vae_scale_factor_spatial", None)  # video: _spatial
    assert (factor or pipe.vae_spatial_compression_ratio) == VAE_FACTORS.get(family, 8)  # LTX: _compression_ratio
    assert denoiser.dtype == torch.float32
    assert pipe.device.type == "cpu"


def test_saved_pipeline_has_the_weights_that_were_built(family_and_path):
    family, path = family_and_path
    built, loaded = _state(build_tiny_pipeline(family)), _state(_load(path))
    assert built.keys() == loaded.keys()
    assert all(torch.equal(built[k], loaded[k]) for k in built)


def test_tokenizers_survive_save_and_load(family_and_path):
    family, path = family_and_path
    built, loaded = build_tiny_pipeline(family), _load(path)
    for name in TOKENIZERS[family]:
        tokenizer = attrgetter(name)
        assert type(tokenizer(loaded)) is type(tokenizer(built))
        text = "A photo of a Cat, 2 legs!"
        ids = tokenizer(loaded)(text).input_ids
        assert ids == tokenizer(built)(text).input_ids
        assert tokenizer(loaded).unk_token_id not in ids[1:-1]  # every character is in the vocabulary


def test_two_step_generation_gives_a_finite_image(family_and_path):
    family, path = family_and_path
    pipe = _load(path)
    kwargs = {"guidance_scale": 3.5} if family == "flux" else {}
    frames = VIDEO_FRAMES.get(family)
    if frames:
        kwargs["num_frames"] = frames
    image = _run(pipe, 64, **kwargs)
    channels = CHANNELS.get(family, 3)
    assert image.shape == ((1, frames, channels, 64, 64) if frames else (1, channels, 64, 64))
    assert torch.isfinite(image).all()
    assert torch.equal(image, _run(pipe, 64, **kwargs))  # same seed, same image


def test_pil_output_has_the_requested_size(tiny_sd3_path):
    pipe = _load(tiny_sd3_path)
    image = pipe("a cat", num_inference_steps=2, height=64, width=128).images[0]
    assert image.size == (128, 64)


def test_sd3_transformer_shapes(tiny_sd3_path, tiny_sd35_path):
    sd3, sd35 = _load(tiny_sd3_path).transformer, _load(tiny_sd35_path).transformer
    for t in (sd3, sd35):
        assert t.config.num_layers == 2 and t.config.num_attention_heads == 4
        assert t.config.patch_size == 1 and t.config.sample_size == 32
    assert sd3.config.qk_norm is None
    assert all(block.attn2 is None for block in sd3.transformer_blocks)
    assert sd35.config.qk_norm == "rms_norm"
    assert tuple(sd35.config.dual_attention_layers) == (0,)
    assert [block.attn2 is not None for block in sd35.transformer_blocks] == [True, False]


def test_sd3_default_resolution_is_256px_with_1024_image_tokens(tiny_sd3_path):
    pipe = _load(tiny_sd3_path)
    seen = []
    hook = pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["hidden_states"].shape), with_kwargs=True
    )
    try:
        # Default height/width and the default max_sequence_length (256).
        image = pipe("a cat", num_inference_steps=1, output_type="pt").images
    finally:
        hook.remove()
    assert image.shape == (1, 3, 256, 256)
    assert torch.isfinite(image).all()
    _, _, h, w = seen[0]
    assert h * w == 1024


def test_flux_is_dev_shaped_and_supports_true_cfg(tiny_flux_path):
    pipe = _load(tiny_flux_path)
    t = pipe.transformer
    assert t.config.guidance_embeds is True
    assert len(t.transformer_blocks) >= 1 and len(t.single_transformer_blocks) >= 1
    assert pipe.vae.config.latent_channels == 1 and t.config.in_channels == 4
    assert pipe.scheduler.config.use_dynamic_shifting is True
    calls = []
    hook = t.register_forward_pre_hook(lambda *a: calls.append(1))
    try:
        image = _run(pipe, 64, guidance_scale=3.5, true_cfg_scale=2.0, negative_prompt="blurry")
    finally:
        hook.remove()
    assert image.shape == (1, 3, 64, 64) and torch.isfinite(image).all()
    assert len(calls) == 4  # 2 steps x (cond + uncond)


def test_zimage_is_turbo_shaped(tiny_zimage_path):
    """Turbo's structure at tiny size: 2 noise and 2 context refiners before the main layers, a 2 x 2 patch,
    Turbo's fixed-shift schedule, and the chat-templated Qwen prompt the pipeline encodes."""
    pipe = _load(tiny_zimage_path)
    t = pipe.transformer
    assert len(t.noise_refiner) == len(t.context_refiner) == 2 and len(t.layers) >= 2
    assert t.config.all_patch_size == [2] and t.config.in_channels == pipe.vae.config.latent_channels
    assert pipe.scheduler.config.use_dynamic_shifting is False and pipe.scheduler.config.shift == 3.0
    text = pipe.tokenizer.apply_chat_template([{"role": "user", "content": "a cat"}], tokenize=False,
                                              add_generation_prompt=True, enable_thinking=True)
    assert text == "<|im_start|>user\na cat<|im_end|>\n<|im_start|>assistant\n"
    assert pipe.tokenizer(text).input_ids[0] == pipe.tokenizer.convert_tokens_to_ids("<|im_start|>")


def test_wan_is_a14b_shaped_and_runs_both_experts(tiny_wan_path):
    """Wan2.2-T2V-A14B's structure: two experts of the same shape switched at boundary_ratio 0.875, the
    video VAE (8x spatial, 4x temporal), UniPC over flow sigmas; a 2-step call runs one step on each."""
    pipe = _load(tiny_wan_path)
    t, t2 = pipe.transformer, pipe.transformer_2
    shape = lambda m: {k: v for k, v in m.config.items() if k != "_name_or_path"}
    assert type(t2) is WanTransformer3DModel and shape(t2) == shape(t)
    assert not all(torch.equal(a, b) for a, b in zip(t.parameters(), t2.parameters()))
    assert pipe.config.boundary_ratio == 0.875 and not pipe.config.expand_timesteps
    assert tuple(t.config.patch_size) == (1, 2, 2) and t.config.in_channels == pipe.vae.config.z_dim
    assert (pipe.vae_scale_factor_spatial, pipe.vae_scale_factor_temporal) == (8, 4)
    assert pipe.scheduler.config.prediction_type == "flow_prediction" and pipe.scheduler.config.use_flow_sigmas
    calls = []
    hooks = [m.register_forward_pre_hook(lambda m, a, k, name=name: calls.append((name, k["hidden_states"].shape)),
                                         with_kwargs=True) for name, m in (("transformer", t), ("transformer_2", t2))]
    try:
        video = _run(pipe, 32, num_frames=5, guidance_scale=4.0)
    finally:
        for hook in hooks:
            hook.remove()
    assert video.shape == (1, 5, 3, 32, 32) and torch.isfinite(video).all()
    latents = (1, 16, 2, 4, 4)  # 5 frames -> 2 latent frames, 32 px -> 4 x 4 latents
    assert calls == [("transformer", latents)] * 2 + [("transformer_2", latents)] * 2  # (cond + uncond) per step


def test_flux2_is_klein_base_and_dev_shaped(tiny_flux2_path, tiny_flux2_dev_path):
    """klein base embeds no guidance and is not step-distilled, so CFG is a second call per step; dev embeds
    guidance and makes one call. Both stack three text-encoder layers into the transformer's text width and
    patchify 2 x 2 latents of FLUX.2's own VAE."""
    klein, dev = _load(tiny_flux2_path), _load(tiny_flux2_dev_path)
    assert klein.transformer.config.guidance_embeds is False and klein.config.is_distilled is False
    assert dev.transformer.config.guidance_embeds is True
    for pipe in (klein, dev):
        t = pipe.transformer
        assert len(t.transformer_blocks) >= 1 and len(t.single_transformer_blocks) >= 1
        assert t.config.in_channels == 4 * pipe.vae.config.latent_channels
        assert t.config.joint_attention_dim == 3 * pipe.text_encoder.config.get_text_config().hidden_size
        assert type(pipe.vae).__name__ == "AutoencoderKLFlux2"
    for pipe, guidance, calls_per_step in ((klein, 4.0, 2), (klein, 1.0, 1), (dev, 4.0, 1)):
        calls = []
        hook = pipe.transformer.register_forward_pre_hook(lambda *a: calls.append(1))
        try:
            image = _run(pipe, 64, guidance_scale=guidance)
        finally:
            hook.remove()
        assert image.shape == (1, 3, 64, 64) and torch.isfinite(image).all()
        assert len(calls) == 2 * calls_per_step


@pytest.mark.parametrize("family", AVAILABLE)
def test_same_seed_same_weights_other_seed_other_weights(family):
    a, b, c = (_state(build_tiny_pipeline(family, seed=s)) for s in (0, 0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    differ = [k for k in a if not torch.equal(a[k], c[k])]
    assert any(k.startswith(("transformer.", "unet.")) for k in differ)
    assert any(k.startswith("text_encoder.") for k in differ)


def test_building_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_pipeline("sd3")
    assert torch.equal(torch.rand(3), expected)


def _stamp(folder: Path):
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return [(str(p.relative_to(folder)), p.stat().st_ino, p.stat().st_mtime_ns) for p in files]


def test_tiny_pipeline_path_builds_once_under_stylehunt_cache(tmp_path, monkeypatch):
    cache = tmp_path / "elsewhere"
    monkeypatch.setenv("STYLEHUNT_CACHE", str(cache))
    path = tiny_pipeline_path("sd3")
    assert path == cache / "tiny" / "sd3-v1"
    assert (path / "model_index.json").is_file()
    first = _stamp(path)
    calls = []
    monkeypatch.setattr(tiny, "save_tiny_pipeline", lambda *a, **k: calls.append(a))
    assert tiny_pipeline_path("sd3") == path
    assert calls == []
    assert _stamp(path) == first
    assert sorted(p.name for p in (cache / "tiny").iterdir()) == ["sd3-v1"]  # no temporary leftovers


def test_tiny_pipeline_path_default_is_under_home(_isolated_home, monkeypatch):
    monkeypatch.delenv("STYLEHUNT_CACHE")
    monkeypatch.setattr(tiny, "save_tiny_pipeline", _fake_save)
    assert tiny_pipeline_path("flux") == _isolated_home / ".cache" / "stylehunt" / "tiny" / "flux-v1"


def _fake_save(path, family="sd3", seed=0):
    (Path(path) / "model_index.json").write_text("{}")
    return Path(path)


def test_interrupted_build_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEHUNT_CACHE", str(tmp_path))

    def crash(path, family="sd3", seed=0):
        (Path(path) / "half-written.safetensors").write_bytes(b"\0" * 10)
        raise KeyboardInterrupt

    monkeypatch.setattr(tiny, "save_tiny_pipeline", crash)
    with pytest.raises(KeyboardInterrupt):
        tiny_pipeline_path("sd3.5")
    assert list((tmp_path / "tiny").iterdir()) == []

    monkeypatch.setattr(tiny, "save_tiny_pipeline", _fake_save)
    path = tiny_pipeline_path("sd3.5")
    assert sorted(p.name for p in path.iterdir()) == ["model_index.json"]


def test_incomplete_cache_folder_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEHUNT_CACHE", str(tmp_path))
    broken = tmp_path / "tiny" / "sd3-v1"
    broken.mkdir(parents=True)
    (broken / "junk").write_text("x")
    monkeypatch.setattr(tiny, "save_tiny_pipeline", _fake_save)
    assert tiny_pipeline_path("sd3") == broken
    assert sorted(p.name for p in broken.iterdir()) == ["model_index.json"]


def test_concurrent_build_keeps_the_first_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEHUNT_CACHE", str(tmp_path))
    final = tmp_path / "tiny" / "sd3-v1"

    def other_process_wins(path, family="sd3", seed=0):
        _fake_save(path)
        final.mkdir(parents=True)
        (final / "model_index.json").write_text('{"first": true}')
        return Path(path)

    monkeypatch.setattr(tiny, "save_tiny_pipeline", other_process_wins)
    assert tiny_pipeline_path("sd3") == final
    assert (final / "model_index.json").read_text() == '{"first": true}'
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == ["sd3-v1"]


def test_load_tiny_pipeline_uses_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("STYLEHUNT_CACHE", str(tmp_path))
    pipe = load_tiny_pipeline("flux")
    assert type(pipe) is FluxPipeline
    assert (tmp_path / "tiny" / "flux-v1" / "model_index.json").is_file()
    assert _state(pipe).keys() == _state(build_tiny_pipeline("flux")).keys()


@pytest.mark.parametrize(
    "name, family",
    [
        ("tiny-sd3", "sd3"),
        ("tiny-sd3.5", "sd3.5"),
        ("tiny-flux", "flux"),
        ("tiny-chroma", "chroma"),
        ("tiny-zimage", "zimage"),
        ("tiny-qwenimage", "qwenimage"),
        ("tiny-flux2", "flux2"),
        ("tiny-flux2-dev", "flux2-dev"),
        ("tiny-wan", "wan"),
        ("tiny-sdxl", "sdxl"),
        ("tiny-sd15", "sd15"),
        ("tiny-ltx", "ltx"),
        ("tiny-hunyuanvideo15", "hunyuanvideo15"),
        ("tiny-SD3", None),
        ("tiny-sd3.0", None),
        ("tiny-", None),
        ("sd3", None),
        ("stabilityai/stable-diffusion-3-medium-diffusers", None),
        ("./tiny-sd3", None),
        ("", None),
    ],
)
def test_resolve_tiny_model(name, family, monkeypatch):
    monkeypatch.setattr(tiny, "save_tiny_pipeline", _fake_save)
    resolved = resolve_tiny_model(name)
    if family is None:
        assert resolved is None
    else:
        assert resolved == tiny_pipeline_path(family)
        assert resolved.name == f"{family}-v1"


@pytest.mark.parametrize(
    "call",
    [
        lambda: build_tiny_pipeline("sdxl-turbo"),
        lambda: save_tiny_pipeline(os.devnull, "sdxl-turbo"),
        lambda: tiny_pipeline_path("sdxl-turbo"),
        lambda: load_tiny_pipeline("sdxl-turbo"),
    ],
    ids=["build", "save", "path", "load"],
)
def test_unknown_family_names_the_value_and_the_choices(call):
    with pytest.raises(UnsupportedModelError) as info:
        call()
    assert isinstance(info.value, ValueError) and isinstance(info.value, StylehuntError)
    assert info.value.family == "sdxl-turbo" and info.value.available == TINY_FAMILIES
    assert "tiny-sd3.5" in info.value.hint
    message = str(info.value)
    assert "'sdxl-turbo'" in message
    for family in TINY_FAMILIES:
        assert repr(family) in message


@pytest.mark.parametrize("family", ["sd3", "flux"])
def test_built_pipeline_is_in_eval_mode_and_repeatable(family):
    """Constructors build in train mode; dropout there would make identical calls differ."""
    pipe = build_tiny_pipeline(family)
    pipe.set_progress_bar_config(disable=True)
    assert not any(m.training for m in pipe.components.values() if isinstance(m, torch.nn.Module))
    run = lambda: pipe("a cat", num_inference_steps=2, height=64, width=64, output_type="latent",
                       generator=torch.Generator().manual_seed(0)).images
    assert torch.equal(run(), run())


@pytest.mark.parametrize("installed", ["0.37.0", "0.41.2", "0.43.0.dev0"])
def test_a_family_newer_than_the_installed_diffusers_is_refused_naming_the_version(installed, monkeypatch):
    """#18: on an older diffusers a tiny model of a newer family is refused with the release it needs,
    before its builder imports a class that diffusers lacks (which said "a bug in stylehunt")."""
    numbers = tuple(int(n) for n in installed.split(".")[:3])
    monkeypatch.setattr(families, "_installed_diffusers", lambda: (installed, numbers))
    needs = {a.name: a.min_diffusers for a in families.BUILTIN if a.min_diffusers}
    assert needs == {"ernieimage": "0.38", "ltx2": "0.38", "qwenimage21": "0.41", "flux3": "0.42"}
    for family in TINY_FAMILIES:
        needed = needs.get(family, "")
        if needed and numbers < tuple(int(n) for n in needed.split(".")):
            with pytest.raises(UnsupportedModelError, match=rf"needs diffusers>={needed}, and diffusers {installed}") as e:
                build_tiny_pipeline(family)
            assert f'pip install -U "diffusers>={needed}"' in e.value.hint
        else:
            assert tiny._check_family(family) == family
    flux3 = adapter_named("flux3")
    if numbers < (0, 42):
        with pytest.raises(UnsupportedModelError, match="flux3 family needs diffusers>=0.42"):
            families.adapter_for_transformer("Flux3Transformer2DModel")
    else:
        assert families.adapter_for_transformer("Flux3Transformer2DModel") is flux3
