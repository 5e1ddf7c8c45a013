"""Published model cards as the Hub reads them, and finding presets on the Hub: against tests/hub_server.py.

The card's metadata is read back with huggingface_hub's own ModelCard.load from the local Hub, the
gallery images are the files the widget names, and `list --hub` finds a preset through its base model.
"""

from __future__ import annotations

import dataclasses
import io
import json

import pytest
from huggingface_hub import ModelCard
from PIL import Image

from stylehunt.cli import main
from stylehunt.registry import model_aliases
from stylehunt.registry.publish import model_card
from tests._hub_fixtures import WRITE_TOKEN, fake_hub, loopback_only, make_preset  # noqa: F401

TINY_WARM = "presets/tiny-sd3/warm/1.0.0/stylehunt_preset.json"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def alice(fake_hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", WRITE_TOKEN)
    return fake_hub


def _root():
    from pathlib import Path

    return Path(__file__).resolve().parents[1]


def test_card_metadata_and_preview_gallery_round_trip(alice, capsys, tmp_path):
    """publish --previews 1 (drawn on the tiny model): the card the Hub stores has the adapter metadata and a gallery of the pair."""
    from stylehunt.registry import Preset

    searched = Preset.from_file(_root() / TINY_WARM)  # a search result, for a (hypothetical) model on the Hub
    path = dataclasses.replace(searched, model="someone/sd3-mini", name="sd3-mini").save(tmp_path / "warm.json")
    code, out, err = run(capsys, "publish", str(path), "--repo", "alice/warm", "--previews", "1",
                         "--model", "tiny-sd3", "--steps", "2", "--preview-prompt", "a lighthouse at dusk", "--yes")
    assert code == 0, err
    assert out.strip() == "hf-hub:alice/warm@v1.0.0"
    files = alice.state.files("alice/warm", "v1.0.0")
    data = ModelCard(files["README.md"].decode()).data.to_dict()  # as huggingface_hub parses the card the Hub stores
    assert data["library_name"] == "stylehunt" and data["base_model"] == "someone/sd3-mini"
    assert data["base_model_relation"] == "adapter"
    assert {"stylehunt", "sd3", "style:warmth"} <= set(data["tags"])
    assert data["instance_prompt"] == "warmth"  # the search's style text, where LoRA cards put the trigger
    widget = data["widget"]
    assert [w["output"]["url"] for w in widget] == ["previews/pair-1.png", "previews/pair-1.baseline.png"]
    assert widget[0]["text"].startswith("a lighthouse at dusk") and "baseline" in widget[1]["text"]
    styled, baseline = (Image.open(io.BytesIO(files[w["output"]["url"]])) for w in widget)
    assert styled.size == baseline.size == (256, 256)
    assert styled.tobytes() != baseline.tobytes()  # the preset's guidance changed the image, same seed


def test_dry_run_prints_the_card_and_name_renames_without_the_network(alice, capsys):
    code, out, _ = run(capsys, "publish", str(_root() / TINY_WARM), "--repo", "alice/warm", "--name", "tiny-sd3/warmth",
                       "--previews", "2", "--dry-run")
    assert code == 0 and "Would publish tiny-sd3/warmth 1.0.0 to alice/warm" in out
    assert "previews/pair-2.baseline.png  (generated)" in out
    meta = out.split("README.md:\n", 1)[1]
    assert meta.startswith("---\n") and "instance_prompt: warmth" in meta and "url: previews/pair-2.png" in meta
    assert "# tiny-sd3/warmth 1.0.0" in meta
    assert "base_model" not in meta.split("\n---\n")[0]  # tiny-sd3 is built in code: no Hub model to name
    assert alice.state.requests == []


def test_name_gives_a_search_result_its_registry_name(alice, capsys, tmp_path):
    path = make_preset(name="golden-hour").save(tmp_path / "result.json")
    code, _, err = run(capsys, "publish", str(path), "--repo", "alice/golden", "--name", "sd3-medium/golden-hour", "--yes")
    assert code == 0, err
    uploaded = json.loads(alice.state.files("alice/golden", "v1.0.0")["stylehunt_preset.json"])
    assert uploaded["name"] == "sd3-medium/golden-hour"

    code, _, err = run(capsys, "publish", str(path), "--repo", "alice/golden", "--name", "Bad Name", "--version", "1.0.1", "-y")
    assert code == 1 and "--name" in err and "Bad Name" in err


def test_preview_options_need_previews(alice, capsys):
    code, _, err = run(capsys, "publish", str(_root() / TINY_WARM), "--repo", "alice/warm", "--model", "tiny-sd3", "--dry-run")
    assert code != 0 and "--model only applies to --previews N" in err


def _one_alias_per_family():
    seen = {}
    for alias in sorted(model_aliases().values(), key=lambda a: a.alias):
        if alias.fingerprint["transformer_class"] not in {a.fingerprint["transformer_class"] for a in seen.values()}:
            seen[alias.family] = alias
    return seen


@pytest.mark.parametrize("family", sorted(_one_alias_per_family()))
def test_family_tag_comes_from_the_fingerprint_for_every_family(family):
    """A fine-tune (no alias) of every supported family gets its family tag from the fingerprint alone."""
    alias = _one_alias_per_family()[family]
    preset = make_preset(model="someone/finetune", fingerprint=alias.fingerprint, heads=[(0, 0)])
    card = model_card(preset, repo_id="alice/x")
    meta = card.split("---")[1]
    # the fingerprint's own family: the alias's, except the U-Nets, whose SDXL and SD 1.x/2.x grids share "unet"
    expected = alias.fingerprint.get("family") or family
    assert f"\n- {expected}\n" in meta and "base_model: someone/finetune" in meta


def test_list_hub_finds_a_published_preset_through_its_base_model(alice, capsys, tmp_path):
    path = make_preset(name="sd3-medium/golden-hour").save(tmp_path / "g.json")
    assert run(capsys, "publish", str(path), "--repo", "alice/golden-hour", "--yes")[0] == 0
    code, out, _ = run(capsys, "list", "--hub", "--model", "sd3-medium", "--format", "json")
    assert code == 0 and [r["repo_id"] for r in json.loads(out)] == ["alice/golden-hour"]
    assert json.loads(out)[0]["model"] == "sd3-medium"
    code, out, err = run(capsys, "list", "--hub", "--model", "flux.1-dev")
    assert code == 0 and out == "" and "No preset repos on the Hub match" in err
    # A wildcard without '/' matches the repo's name as well as owner/name.
    code, out, _ = run(capsys, "list", "--hub", "golden*", "--format", "json")
    assert [r["repo_id"] for r in json.loads(out)] == ["alice/golden-hour"]


def test_list_hub_refuses_a_tiny_model_and_an_endless_pattern_before_any_request(alice, capsys):
    code, out, err = run(capsys, "list", "--hub", "--model", "tiny-sd3")
    assert code == 1 and out == ""
    assert "'tiny-sd3' is built in code, not a Hub model" in err and "stylehunt list --models" in err
    assert "Error: --model 'tiny-sd3'" in err and "Hint: on the Hub, --model filters" in err, err  # the flag (#22)
    from stylehunt.errors import PresetNotFoundError
    from stylehunt.registry.index import hub_model_id

    with pytest.raises(PresetNotFoundError) as info:
        hub_model_id("tiny-sd3")
    assert info.value.param == "model" and str(info.value).startswith("`model` 'tiny-sd3'")
    assert info.value.hint.startswith("on the Hub, `model` filters"), info.value.hint  # from Python: the parameter
    code, out, err = run(capsys, "list", "--hub", "x" * 100_000)
    assert code != 0 and "100000 characters" in err and "at most 200" in err
    assert alice.state.requests == []


def test_list_models_shows_every_alias_with_its_hub_id_family_and_grid(capsys):
    code, out, err = run(capsys, "list", "--models")
    assert code == 0 and err == ""
    lines = out.strip().splitlines()
    assert lines[0].split() == ["NAME", "HUB", "ID", "FAMILY", "LAYERS", "x", "HEADS"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert sorted(rows) == sorted(model_aliases())
    assert rows["sd3-medium"].split() == ["sd3-medium", "stabilityai/stable-diffusion-3-medium-diffusers", "sd3", "24", "x", "24"]
    assert "built in code" in rows["tiny-sd3"]
    code, out, _ = run(capsys, "list", "--models", "--format", "json")
    assert {r["name"]: r["num_layers"] for r in json.loads(out)}["flux.1-dev"] == 57
    code, _, err = run(capsys, "list", "--models", "--hub")
    assert code != 0 and "leave out --hub" in err


def test_previews_refuse_a_video_model_before_generating_or_writing(alice, capsys):
    code, _, err = run(capsys, "publish", str(_root() / "presets/tiny-wan/warm/1.0.0/stylehunt_preset.json"), "--repo",
                       "alice/wan", "--previews", "1", "--model", "tiny-wan", "--yes")
    assert code != 0 and "tiny-wan generates videos; nothing was published" in err and "--preview IMAGE" in err
    assert alice.state.writes() == []
