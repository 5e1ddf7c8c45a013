"""References, the registry index, bundled presets, listing, and the remote index refresh."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
import torch

from stylehunt import hub
from stylehunt.registry import index as registry
from stylehunt.errors import (
    HubOfflineError,
    PresetFileError,
    PresetIntegrityError,
    PresetNotFoundError,
    PresetReferenceError,
    RegistryIndexError,
)
from stylehunt.engine.heads import head_grid
from stylehunt.registry.preset import Preset
from stylehunt.registry.fileformat import dumps
from stylehunt.registry import RegistryIndex, list_presets, load_preset, parse_reference, resolve_preset
from tests._hub_fixtures import SD3_ID, cache_listing, fake_hub, loopback_only, make_preset, publish  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
PAPER = {
    "sd3-medium/paper-l1h10": (1, 10),
    "sd3-medium/paper-l13h17": (13, 17),
    "sd3-medium/paper-l0h23": (0, 23),
    "sd3-medium/paper-l11h15": (11, 15),
}
# Made by a real search run on the tiny demo model (see its provenance).
TINY = {"tiny-sd3/warm", "tiny-chroma/warm", "tiny-zimage/warm", "tiny-qwenimage/warm", "tiny-flux2/warm",
        "tiny-wan/warm", "tiny-sdxl/warm", "tiny-hunyuanvideo15/warm",
        "tiny-ernieimage/warm", "tiny-ltx/warm", "tiny-ltx2/warm", "tiny-qwenimage21/warm"}
# Cited from the paper's figures: tests/test_cited_presets.py checks each against the paper.
CITED = {"sd3-medium/" + n for n in (
    "dark", "shearing", "shadow", "blue", "dark-shearing", "shadow-blue", "red", "horizontal-banding", "high-resolution",
    "rainbow-neon", "red-horizontal-banding", "high-resolution-rainbow-neon", "blurred-brown-sunlight", "red-blazing-colors",
    "more-white", "darker")}
BUNDLED = sorted([*PAPER, *TINY, *CITED])

# The public transformer/config.json values (from the models' published configs), independent of index.json.
_SD3 = dict(
    sample_size=128, patch_size=2, in_channels=16, num_layers=24, attention_head_dim=64, num_attention_heads=24,
    joint_attention_dim=4096, caption_projection_dim=1536, pooled_projection_dim=2048, out_channels=16,
    pos_embed_max_size=192,
)
_FLUX = dict(
    patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128, num_attention_heads=24,
    joint_attention_dim=4096, pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=(16, 56, 56),
)
_FLUX2 = dict(
    patch_size=1, in_channels=128, num_layers=8, num_single_layers=48, attention_head_dim=128, num_attention_heads=48,
    joint_attention_dim=15360, timestep_guidance_channels=256, mlp_ratio=3.0, axes_dims_rope=(32, 32, 32, 32),
    rope_theta=2000, eps=1e-6,
)
_KLEIN_4B = dict(num_layers=5, num_single_layers=20, num_attention_heads=24, joint_attention_dim=7680, guidance_embeds=False)
_KLEIN_9B = dict(num_layers=8, num_single_layers=24, num_attention_heads=32, joint_attention_dim=12288, guidance_embeds=False)
_WAN_14B = dict(
    patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=16, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
    eps=1e-6, added_kv_proj_dim=None,
)
REAL_CONFIGS = {
    "sd3-medium": ("SD3Transformer2DModel", "stabilityai/stable-diffusion-3-medium-diffusers", _SD3),
    "sd3.5-medium": (
        "SD3Transformer2DModel",
        "stabilityai/stable-diffusion-3.5-medium",
        dict(_SD3, pos_embed_max_size=384, dual_attention_layers=tuple(range(13)), qk_norm="rms_norm"),
    ),
    "sd3.5-large": (
        "SD3Transformer2DModel",
        "stabilityai/stable-diffusion-3.5-large",
        dict(_SD3, num_layers=38, num_attention_heads=38, caption_projection_dim=2432, qk_norm="rms_norm"),
    ),
    "flux.1-dev": ("FluxTransformer2DModel", "black-forest-labs/FLUX.1-dev", _FLUX),
    "flux.1-schnell": ("FluxTransformer2DModel", "black-forest-labs/FLUX.1-schnell", dict(_FLUX, guidance_embeds=False)),
    "chroma1-hd": (
        "ChromaTransformer2DModel",
        "lodestones/Chroma1-HD",
        dict(patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
             num_attention_heads=24, joint_attention_dim=4096, axes_dims_rope=(16, 56, 56)),
    ),
    # Z-Image-Turbo and the Z-Image base model share the transformer config (the base adds `siglip_feat_dim: null`,
    # the same module); only their 30 main layers are addressable.
    **{
        alias: ("ZImageTransformer2DModel", hub_id, dict(
            all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=3840, n_layers=30, n_refiner_layers=2,
            n_heads=30, n_kv_heads=30, norm_eps=1e-5, qk_norm=True, cap_feat_dim=2560, rope_theta=256.0,
            t_scale=1000.0, axes_dims=[32, 48, 48], axes_lens=[1536, 512, 512],
        ))
        for alias, hub_id in (("z-image-turbo", "Tongyi-MAI/Z-Image-Turbo"), ("z-image", "Tongyi-MAI/Z-Image"))
    },
    "qwen-image": (
        "QwenImageTransformer2DModel",
        "Qwen/Qwen-Image",
        dict(patch_size=2, in_channels=64, out_channels=16, num_layers=60, attention_head_dim=128,
             num_attention_heads=24, joint_attention_dim=3584, guidance_embeds=False, axes_dims_rope=(16, 56, 56)),
    ),
    # FLUX.2 (diffusers' scripts/convert_flux2_to_diffusers.py); klein base and its step-distilled klein share
    # the transformer config
    **{
        alias: ("Flux2Transformer2DModel", hub_id, dict(_FLUX2, **config))
        for alias, hub_id, config in (
            ("flux.2-dev", "black-forest-labs/FLUX.2-dev", {}),
            *((f"flux.2-klein{base}-4b", f"black-forest-labs/FLUX.2-klein{base}-4B", _KLEIN_4B) for base in ("", "-base")),
            *((f"flux.2-klein{base}-9b", f"black-forest-labs/FLUX.2-klein{base}-9B", _KLEIN_9B) for base in ("", "-base")),
        )
    },
    # Wan (diffusers' scripts/convert_wan_to_diffusers.py): Wan2.2-T2V-A14B's two experts each have Wan2.1-T2V-14B's
    # config, so the two aliases share a fingerprint
    **{
        alias: ("WanTransformer3DModel", hub_id, dict(_WAN_14B, **config))
        for alias, hub_id, config in (
            ("wan2.1-t2v-14b", "Wan-AI/Wan2.1-T2V-14B-Diffusers", {}),
            ("wan2.2-t2v-a14b", "Wan-AI/Wan2.2-T2V-A14B-Diffusers", {}),
            ("wan2.1-t2v-1.3b", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", dict(num_attention_heads=12, ffn_dim=8960,
                                                                         num_layers=30)),
            ("wan2.2-ti2v-5b", "Wan-AI/Wan2.2-TI2V-5B-Diffusers", dict(num_attention_heads=24, ffn_dim=14336,
                                                                       num_layers=30, in_channels=48, out_channels=48)),
        )
    },
}


@pytest.fixture
def custom_index(monkeypatch, tmp_path):
    """Replace the bundled index by one built in the test; returns a function taking {name: {version: location}}."""

    def install(presets: dict, models: dict | None = None) -> RegistryIndex:
        data = json.loads((ROOT / "registry" / "index.json").read_text())
        if models is not None:
            data["models"] = models
        data["presets"] = {
            name: {"description": f"{name} test", "tags": ["t"], "versions": versions} for name, versions in presets.items()
        }
        index = RegistryIndex.parse(data, source="test index")
        monkeypatch.setattr(registry, "bundled_index", lambda: index)
        return index

    return install


def bundled_location(name: str) -> dict:
    return json.loads((ROOT / "registry" / "index.json").read_text())["presets"][name]["versions"]["1.0.0"]


# ---------------------------------------------------------------------------------------- the index


@pytest.mark.parametrize("alias", sorted(REAL_CONFIGS))
def test_alias_fingerprints_equal_the_real_models_built_on_meta(alias):
    import diffusers

    cls_name, hub_id, config = REAL_CONFIGS[alias]
    with torch.device("meta"):
        transformer = getattr(diffusers, cls_name)(**config)
    entry = registry.model_aliases()[alias]
    assert entry.id == hub_id
    assert entry.fingerprint == head_grid(transformer).fingerprint()


def test_model_aliases_are_the_documented_five_plus_the_tiny_demo_model():
    assert sorted(registry.model_aliases()) == sorted([*REAL_CONFIGS, "tiny-sd3", "tiny-chroma", "tiny-zimage", "tiny-qwenimage", "tiny-flux2",
                                                        "tiny-wan",
                                                        # HunyuanVideo 1.5 (tests/test_family_hunyuanvideo15.py checks them on meta)
                                                        "hunyuanvideo1.5-480p-t2v", "hunyuanvideo1.5-480p-i2v",
                                                        "tiny-hunyuanvideo15", "tiny-ernieimage",
                                                        # the U-Nets' (tests/test_family_unet.py checks them on meta)
                                                        "sdxl-base-1.0", "sd1.5", "sd2.1", "tiny-sdxl", "tiny-sd15",
                                                        # LTX (tests/test_family_ltx.py checks them on meta),
                                                        # Qwen-Image 2.1 (tests/test_family_qwenimage21.py)
                                                        "ltx-video", "ltx-2", "tiny-ltx", "tiny-ltx2",
                                                        "qwen-image-2.1", "tiny-qwenimage21"])
    assert registry.model_alias_for(SD3_ID).alias == "sd3-medium"
    assert registry.model_alias_for("flux.1-dev").family == "flux"
    assert registry.model_alias_for("someone/else") is None


def test_bundled_presets_match_their_pins_and_the_paper():
    index = registry.get_index()
    assert sorted(index.presets) == BUNDLED
    for name, head in PAPER.items():
        entry = index.presets[name]
        loc = entry.versions["1.0.0"]
        raw = (ROOT / "presets" / loc.file).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == loc.sha256
        preset = load_preset(name)
        assert preset.name == name and preset.version == "1.0.0"
        assert preset.heads == (head,)  # single heads, as the paper reports them; never invented lists
        assert preset.model == SD3_ID and preset.fingerprint == index.models["sd3-medium"].fingerprint
        assert preset.provenance["kind"] == "reported"
        assert "2506.10978" in preset.provenance["source"]
        assert "not re-measured here" in preset.provenance["notes"] and "not re-measured here" in preset.description
        assert entry.description == preset.description and entry.tags == preset.tags
        assert raw.decode() == dumps(preset.to_dict())  # the bundled bytes are exactly what save() writes


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(format_version=2), "newer stylehunt"),
        (lambda d: d["presets"]["sd3-medium/paper-l1h10"]["versions"]["1.0.0"].update(file="../../etc/passwd"), "no '..'"),
        (lambda d: d["presets"]["sd3-medium/paper-l1h10"]["versions"]["1.0.0"].update(file="/etc/stylehunt_preset.json"), "not absolute"),
        (lambda d: d["presets"]["sd3-medium/paper-l1h10"]["versions"]["1.0.0"].pop("sha256"), "always pinned"),
        (lambda d: d["presets"]["sd3-medium/paper-l1h10"]["versions"]["1.0.0"].update(sha256="abc"), "64 lowercase hex"),
        (lambda d: d["presets"].update({"nomodel/x": d["presets"]["sd3-medium/paper-l1h10"]}), "unknown model alias 'nomodel'"),
        (lambda d: d["presets"].update({"sd3-medium/../x": {}}), "registry name"),
        (lambda d: d["models"]["sd3-medium"]["fingerprint"].update(num_layers=0), "num_layers"),
        (lambda d: d["presets"]["sd3-medium/paper-l1h10"]["versions"].update({"1.0": {}}), "semantic version"),
    ],
)
def test_bad_index_is_refused_naming_the_field(mutate, message):
    data = json.loads((ROOT / "registry" / "index.json").read_text())
    mutate(data)
    with pytest.raises(RegistryIndexError) as e:
        RegistryIndex.parse(data, source="idx")
    assert message in str(e.value) + (e.value.hint or "")


def test_tampered_bundled_file_is_detected(custom_index):
    loc = dict(bundled_location("sd3-medium/paper-l1h10"), sha256="0" * 64)
    custom_index({"sd3-medium/paper-l1h10": {"1.0.0": loc}})
    with pytest.raises(PresetIntegrityError, match="has sha256 .* but the index pins 0000"):
        load_preset("sd3-medium/paper-l1h10")


def test_index_pointing_at_the_wrong_file_is_detected(custom_index):
    custom_index({"sd3-medium/other": {"1.0.0": bundled_location("sd3-medium/paper-l1h10")}})
    with pytest.raises(RegistryIndexError, match="the file says it is sd3-medium/paper-l1h10@1.0.0"):
        load_preset("sd3-medium/other")


# ---------------------------------------------------------------------------------------- references


@pytest.mark.parametrize(
    "ref, kind, fields",
    [
        ("sd3-medium/golden-hour", "name", {"name": "sd3-medium/golden-hour", "spec": None}),
        ("sd3-medium/golden-hour@1.2.0", "name", {"spec": "1.2.0"}),
        ("sd3-medium/golden-hour@1", "name", {"spec": "1"}),
        ("sd3-medium/golden-hour@1.2", "name", {"spec": "1.2"}),
        ("sd3-medium/golden-hour@1.2.0-rc.1", "name", {"spec": "1.2.0-rc.1"}),
        ("hf-hub:owner/repo", "hub", {"repo_id": "owner/repo", "revision": None}),
        ("hf-hub:owner/repo@v1.2.0", "hub", {"revision": "v1.2.0"}),
        ("hf-hub:Owner/Repo.x@0123456789abcdef0123456789abcdef01234567", "hub", {"repo_id": "Owner/Repo.x"}),
        ("./golden.json", "path", {}),
        ("golden.json", "path", {}),
        ("/abs/dir/golden.json", "path", {}),
        ("../up/", "path", {}),
        ("~/presets/x", "path", {}),
        ("Owner/Repo", "name", {"name": "Owner/Repo"}),  # hub-shaped: refused at resolution, with a hint
    ],
)
def test_parse_reference(ref, kind, fields):
    parsed = parse_reference(ref)
    assert parsed.kind == kind
    for key, value in fields.items():
        assert getattr(parsed, key) == value


def test_parse_reference_accepts_path_objects(tmp_path):
    assert parse_reference(tmp_path / "x").kind == "path"


@pytest.mark.parametrize(
    "ref, message",
    [
        ("", "empty preset reference"),
        ("sd3-medium/../../etc/passwd", "never contain '..'"),
        ("sd3-medium/..", "never contain '..'"),
        ("sd3-medium/a..b", "never contain '..'"),
        ("hf-hub:owner", "expected 'owner/name'"),
        ("hf-hub:a/b/c", "not a valid Hub repo id"),
        ("hf-hub:owner/repo@", "empty revision"),
        ("sd3-medium/x@latest", "expected a version after '@'"),
        ("sd3-medium/x@v1.2.0", "without 'v'"),
        ("has space", "not a valid preset name"),
    ],
)
def test_bad_references_are_refused(ref, message):
    with pytest.raises(PresetReferenceError) as e:
        parse_reference(ref)
    assert message in str(e.value) + (e.value.hint or "")
    assert e.value.ref == ref.strip() or e.value.ref == ref


def test_absolute_paths_are_files_never_names(tmp_path):
    with pytest.raises(PresetFileError, match="malformed JSON"):
        load_preset("/etc/hostname.json" if Path("/etc/hostname.json").exists() else str(_not_json(tmp_path)))


def _not_json(tmp_path: Path) -> Path:
    path = tmp_path / "passwd.json"
    path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    return path


def test_non_string_reference_is_refused():
    with pytest.raises(PresetReferenceError, match="got int"):
        load_preset(3)


def test_a_preset_object_passes_through():
    p = make_preset()
    assert load_preset(p) is p
    assert Preset.load("sd3-medium/paper-l0h23").heads == ((0, 23),)


# ---------------------------------------------------------------------------------------- resolution


def test_bare_owner_repo_is_refused_with_an_hf_hub_suggestion():
    with pytest.raises(PresetReferenceError) as e:
        load_preset("stabilityai/golden-hour")
    assert "write 'hf-hub:stabilityai/golden-hour'" in str(e.value)


def test_unknown_name_lists_what_exists_and_the_closest():
    with pytest.raises(PresetNotFoundError) as e:
        load_preset("sd3-medium/paper-l1h1")
    assert e.value.suggestions[0] == "sd3-medium/paper-l1h10"
    assert set(e.value.available) == set(BUNDLED)
    assert "closest: sd3-medium/paper-l1h10" in str(e.value)
    with pytest.raises(PresetNotFoundError) as e:
        load_preset("paper-l13h17")  # the alias is missing: the slug still finds it
    assert "sd3-medium/paper-l13h17" in e.value.suggestions


def test_a_folder_holding_a_preset_is_a_path_unless_a_registry_name_too(tmp_path, monkeypatch):
    """A search's run folder (``runs/x``, or ``golden``) is passed on as search printed it (issue 18);
    a folder named exactly like a registry preset is refused, not guessed either way."""
    monkeypatch.chdir(tmp_path)
    make_preset().save(tmp_path / "golden")
    assert load_preset("golden").name == "golden-hour"
    assert load_preset("./golden").name == "golden-hour"
    (tmp_path / "empty").mkdir()
    with pytest.raises(PresetFileError) as e:
        load_preset("empty")  # a folder without a preset file: a search that has not finished
    assert "empty is a folder here but holds no stylehunt_preset.json" in str(e.value)
    assert "stylehunt search --resume empty" in e.value.hint
    make_preset().save(tmp_path / "sd3-medium" / "paper-l1h10")
    with pytest.raises(PresetReferenceError) as e:
        load_preset("sd3-medium/paper-l1h10")
    assert "both a folder here holding a preset and a registry preset" in str(e.value)
    assert "./sd3-medium/paper-l1h10" in e.value.hint and "sd3-medium/paper-l1h10@1.0.0" in e.value.hint
    assert load_preset("./sd3-medium/paper-l1h10").name == "golden-hour"


def test_version_selection(custom_index):
    loc = bundled_location("sd3-medium/paper-l1h10")
    # One real file serves every version here; identity checks are what we bypass.
    custom_index({"sd3-medium/x": {v: loc for v in ["1.0.0", "1.2.0", "1.2.3", "1.10.0", "2.0.0-rc.1", "0.9.0"]}})
    pick = lambda spec: registry._pick_version(parse_reference(f"sd3-medium/x{spec}"), registry.get_index().presets["sd3-medium/x"])
    assert pick("") == "1.10.0"  # newest release; prereleases only on request
    assert pick("@1") == "1.10.0"
    assert pick("@1.2") == "1.2.3"
    assert pick("@1.2.0") == "1.2.0"
    assert pick("@0") == "0.9.0"
    assert pick("@2.0.0-rc.1") == "2.0.0-rc.1"
    with pytest.raises(PresetNotFoundError) as e:
        pick("@2")
    assert e.value.available == ("0.9.0", "1.0.0", "1.2.0", "1.2.3", "1.10.0", "2.0.0-rc.1")
    assert "available: 0.9.0, 1.0.0" in str(e.value)
    with pytest.raises(PresetNotFoundError, match="no version matching '1.3'"):
        pick("@1.3")


def test_unknown_version_of_a_real_preset():
    with pytest.raises(PresetNotFoundError) as e:
        load_preset("sd3-medium/paper-l1h10@1.1.0")
    assert e.value.available == ("1.0.0",)
    assert "sd3-medium/paper-l1h10@1.0.0" in e.value.hint


def test_resolve_reports_where_a_preset_came_from(tmp_path):
    resolved = resolve_preset("sd3-medium/paper-l1h10@1")
    assert resolved.kind == "bundled" and resolved.ref == "sd3-medium/paper-l1h10@1.0.0"
    assert resolved.path.read_bytes() and hashlib.sha256(resolved.path.read_bytes()).hexdigest() == resolved.sha256
    path = make_preset().save(tmp_path / "mine.json")
    local = resolve_preset(str(path))
    assert local.kind == "path" and local.path == path and local.preset.name == "golden-hour"


def test_invalid_local_file_raises_the_file_error(tmp_path):
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(PresetFileError, match="format_version"):
        load_preset(tmp_path / "bad.json")


# ---------------------------------------------------------------------------------------- listing


def test_list_presets_wildcards_sorted_and_model_filter():
    assert list_presets() == BUNDLED
    assert list_presets("sd3-medium/paper-l1*") == ["sd3-medium/paper-l11h15", "sd3-medium/paper-l13h17", "sd3-medium/paper-l1h10"]
    assert list_presets("*l0h23") == ["sd3-medium/paper-l0h23"]
    assert list_presets("flux*") == []
    assert list_presets(model="sd3-medium") == sorted([*PAPER, *CITED])
    assert list_presets(model=SD3_ID) == sorted([*PAPER, *CITED])
    assert list_presets(model="flux.1-dev") == []


def test_list_presets_refuses_an_unknown_model():
    with pytest.raises(PresetNotFoundError) as e:
        list_presets(model="sd3-mediun")
    assert e.value.suggestions[0] == "sd3-medium"
    assert "flux.1-dev" in e.value.available


def test_listing_and_loading_need_no_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    assert list_presets() == BUNDLED
    assert load_preset("sd3-medium/paper-l11h15").heads == ((11, 15),)


# ---------------------------------------------------------------------------------------- hub-located versions


def test_registry_version_on_the_hub_is_pinned_by_sha256(fake_hub, custom_index):
    preset = make_preset(name="sd3-medium/golden-hour", version="1.1.0")
    commit = publish(fake_hub, "alice/golden-hour", preset)
    good_sha = hashlib.sha256(preset.to_json().encode()).hexdigest()
    custom_index(
        {
            "sd3-medium/golden-hour": {
                "1.1.0": {"repo": "alice/golden-hour", "revision": commit, "sha256": good_sha},
                "1.2.0": {"repo": "alice/golden-hour", "revision": commit, "sha256": "f" * 64},
            }
        }
    )
    resolved = resolve_preset("sd3-medium/golden-hour@1.1")
    assert resolved.kind == "hub" and resolved.commit == commit and resolved.sha256 == good_sha
    assert resolved.preset.heads == preset.heads
    before = cache_listing()
    with pytest.raises(PresetIntegrityError, match="but the registry pins ffff"):
        load_preset("sd3-medium/golden-hour@1.2.0")
    assert cache_listing() == before


# ---------------------------------------------------------------------------------------- remote index


def _remote_index(preset_repo: str, commit: str, sha: str | None = None) -> dict:
    data = json.loads((ROOT / "registry" / "index.json").read_text())
    loc = {"repo": preset_repo, "revision": commit}
    if sha:
        loc["sha256"] = sha
    data["presets"] = {
        "flux.1-dev/neon": {"description": "remote only", "tags": ["neon"], "versions": {"1.0.0": loc}},
        # A remote index cannot redirect a bundled version: the bundled entry wins.
        "sd3-medium/paper-l1h10": {"versions": {"1.0.0": loc, "9.0.0": loc}},
    }
    return data


def test_refresh_index_merges_a_remote_catalogue(fake_hub, monkeypatch):
    monkeypatch.setenv("STYLEHUNT_INDEX_REPO", "stylehunt-org/registry")
    neon = make_preset(name="flux.1-dev/neon", model="black-forest-labs/FLUX.1-dev", fingerprint=None)
    commit = publish(fake_hub, "alice/neon", neon)
    fake_hub.state.create_repo("stylehunt-org/registry")
    fake_hub.state.commit_files("stylehunt-org/registry", {"index.json": json.dumps(_remote_index("alice/neon", commit)).encode()})
    assert "flux.1-dev/neon" not in list_presets()

    registry.refresh_index()
    assert list_presets("flux*") == ["flux.1-dev/neon"]
    entry = registry.get_index().presets["sd3-medium/paper-l1h10"]
    assert entry.versions["1.0.0"].bundled and sorted(entry.versions) == ["1.0.0", "9.0.0"]
    assert load_preset("flux.1-dev/neon").name == "flux.1-dev/neon"

    # The refreshed catalogue is read from the cache afterwards, offline.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert list_presets("flux*") == ["flux.1-dev/neon"]
    assert load_preset("flux.1-dev/neon@1").version == "1.0.0"


def test_invalid_remote_index_is_refused_and_the_cache_kept(fake_hub, monkeypatch):
    monkeypatch.setenv("STYLEHUNT_INDEX_REPO", "stylehunt-org/registry")
    fake_hub.state.create_repo("stylehunt-org/registry")
    fake_hub.state.commit_files("stylehunt-org/registry", {"index.json": json.dumps(_remote_index("alice/neon", "main")).encode()})
    registry.refresh_index()
    good = cache_listing()
    bad = _remote_index("alice/neon", "main")
    bad["presets"]["flux.1-dev/neon"]["versions"]["1.0.0"]["sha256"] = "nope"
    fake_hub.state.commit_files("stylehunt-org/registry", {"index.json": json.dumps(bad).encode()})
    with pytest.raises(RegistryIndexError, match="64 lowercase hex"):
        registry.refresh_index()
    assert cache_listing() == good  # the previous refresh still serves
    assert list_presets("flux*") == ["flux.1-dev/neon"]


def test_corrupted_cached_index_is_reported_and_not_used(fake_hub, monkeypatch, caplog):
    monkeypatch.setenv("STYLEHUNT_INDEX_REPO", "stylehunt-org/registry")
    fake_hub.state.create_repo("stylehunt-org/registry")
    fake_hub.state.commit_files("stylehunt-org/registry", {"index.json": json.dumps(_remote_index("alice/neon", "main")).encode()})
    registry.refresh_index()
    blob = next((hub.cache_dir() / "models--stylehunt-org--registry" / "blobs").iterdir())
    text = blob.read_text().replace("remote only", "tampered!!")
    blob.write_text(text)
    with caplog.at_level(logging.WARNING, logger="stylehunt.registry"):
        assert list_presets("flux*") == []  # the bundled index serves
    assert "is corrupted" in caplog.text


def test_refresh_while_offline_says_so(fake_hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubOfflineError):
        registry.refresh_index("stylehunt-org/registry")
    assert cache_listing() == {}


def test_bundled_tiny_preset_applies_by_name_to_the_tiny_model(tiny_sd3_path):
    """The tiny alias's fingerprint is the real tiny model's, and its search-made preset applies by name."""
    import stylehunt
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(tiny_sd3_path)
    pipe.set_progress_bar_config(disable=True)
    assert registry.model_aliases()["tiny-sd3"].fingerprint == head_grid(pipe).fingerprint()
    preset = load_preset("tiny-sd3/warm")
    assert preset.provenance["kind"] == "search" and preset.model == "tiny-sd3"
    entry = registry.get_index().presets["tiny-sd3/warm"]
    raw = (ROOT / "presets" / entry.versions["1.0.0"].file).read_bytes()
    assert hashlib.sha256(raw).hexdigest() == entry.versions["1.0.0"].sha256
    assert list_presets(model="tiny-sd3") == ["tiny-sd3/warm"]
    run = lambda: pipe("a cat", num_inference_steps=2, height=64, width=64, output_type="latent",
                       generator=torch.Generator().manual_seed(0)).images
    plain = run()
    with stylehunt.applied(pipe, "tiny-sd3/warm@1"):
        assert stylehunt.get_applied(pipe).names == ["tiny-sd3/warm@1.0.0"]
        guided = run()
    assert not torch.equal(guided, plain) and torch.equal(run(), plain)
