"""``stylehunt list / show / pull / publish`` through the real entry point and its error boundary."""

from __future__ import annotations

import io
import json
import logging

import pytest
import torch

from stylehunt.cli import main
from stylehunt.errors import PresetReferenceError
from tests._hub_fixtures import WRITE_TOKEN, fake_hub, loopback_only, make_preset, publish  # noqa: F401

PAPER = ["sd3-medium/paper-l0h23", "sd3-medium/paper-l11h15", "sd3-medium/paper-l13h17", "sd3-medium/paper-l1h10"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Error: ") and lines[1].startswith("Hint: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


# ---------------------------------------------------------------------------------------- list


def test_list_table(capsys):
    from stylehunt.registry import list_presets

    code, out, err = run(capsys, "list")
    assert code == 0 and err == ""
    lines = out.strip().splitlines()
    assert lines[0].split() == ["NAME", "LATEST", "MODEL", "KIND", "LABEL", "(else", "DESCRIPTION)"]
    assert [line.split()[0] for line in lines[1:]] == list_presets()  # every bundled preset, sorted
    assert all(line.split()[1] == "1.0.0" for line in lines[1:])
    rows = {line.split()[0]: line.split(None, 4)[2:] for line in lines[1:]}
    assert rows["sd3-medium/red-horizontal-banding"] == ["sd3-medium", "reported", "Red + Horizontal banding"]
    assert rows["sd3-medium/paper-l1h10"][:2] == ["sd3-medium", "reported"]  # no label recorded: the description
    assert rows["sd3-medium/paper-l1h10"][2].startswith("SD3-medium head L1H10 alone")
    assert rows["tiny-sd3/warm"] == ["tiny-sd3", "searched", "warmth"]  # a search's style text


def test_list_pattern_model_and_json(capsys):
    code, out, _ = run(capsys, "list", "sd3-medium/paper-l1*", "--model", "sd3-medium", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and [r["name"] for r in rows] == PAPER[1:]
    assert rows[0]["model_id"] == "stabilityai/stable-diffusion-3-medium-diffusers"
    assert rows[0]["versions"] == ["1.0.0"] and "shadow" in rows[1]["tags"]

    code, out, err = run(capsys, "list", "--model", "flux.1-dev")
    assert code == 0 and out == "" and "No presets match" in err


def test_list_unknown_model_is_one_line_with_a_hint(capsys):
    code, out, err = run(capsys, "list", "--model", "sd3-mediun")
    assert code == 1 and out == ""
    assert_one_line_error(err, "unknown model 'sd3-mediun'", "sd3-medium")


# ---------------------------------------------------------------------------------------- show


def test_show_bundled_preset(capsys):
    code, out, err = run(capsys, "show", "sd3-medium/paper-l13h17")
    assert code == 0 and err == ""
    assert out.splitlines()[0] == "sd3-medium/paper-l13h17 1.0.0"
    for fragment in [
        "heads (1):    L13H17",
        "strength u:   1.0",
        "scale w:      3.0",
        "stabilityai/stable-diffusion-3-medium-diffusers (sd3-medium)",
        "SD3Transformer2DModel, 24 attention layers x 24 heads, head dim 64",
        "provenance:   reported: arXiv:2506.10978",
        "not re-measured here",
        "source:       bundled with stylehunt",
        "versions:     1.0.0",
    ]:
        assert fragment in out, fragment


def test_show_json_is_the_file_plus_its_source(capsys):
    code, out, _ = run(capsys, "show", "sd3-medium/paper-l1h10@1", "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["preset"]["heads"] == [[1, 10]] and data["preset"]["format_version"] == 1
    assert data["source"]["kind"] == "bundled" and data["source"]["ref"] == "sd3-medium/paper-l1h10@1.0.0"
    assert len(data["source"]["sha256"]) == 64


def test_show_search_provenance(capsys, tmp_path):
    prov = {
        "kind": "search",
        "stylehunt_version": "0.1.0",
        "objective": {"text": "golden hour", "scorer": "pickscore"},
        "prompts": ["a cat"],
        "seeds": [0, 1, 2],
        "settings": {"rounds": 2, "heads_per_round": 1},
        "rounds": [{"added": [[1, 10]], "score": 20.5}, {"added": [[13, 17]], "score": 21.25}],
    }
    path = make_preset(provenance=prov).save(tmp_path / "p.json")
    code, out, _ = run(capsys, "show", str(path))
    assert code == 0
    assert 'search (stylehunt 0.1.0): "golden hour" scored by pickscore, 1 prompts, seeds [0, 1, 2]' in out
    assert "round 2: +L13H17  score 21.25" in out
    assert f"source:       {path}" in out


def test_show_bad_inputs_are_one_line_errors(capsys, tmp_path):
    code, out, err = run(capsys, "show", "stabilityai/golden-hour")
    assert code == 1 and out == ""
    assert_one_line_error(err, "write 'hf-hub:stabilityai/golden-hour'", "Hint: stylehunt show hf-hub:stabilityai/golden-hour")

    code, _, err = run(capsys, "show", "sd3-medium/paper-l1h10@3")
    assert code == 1
    assert_one_line_error(err, "available: 1.0.0")

    bad = tmp_path / "bad.json"
    bad.write_text(make_preset().to_json().replace('"strength": 0.5', '"strength": 1.5'))
    code, _, err = run(capsys, "show", str(bad))
    assert code == 1
    assert_one_line_error(err, f"{bad}: strength: expected the SoftPAG strength u to be between 0.0 and 1.0, but got 1.5")


def test_debug_variable_shows_the_traceback(capsys, monkeypatch):
    monkeypatch.setenv("STYLEHUNT_DEBUG", "1")
    with pytest.raises(PresetReferenceError):
        main(["show", "stabilityai/golden-hour"])


# ---------------------------------------------------------------------------------------- pull


def test_pull_then_show_offline(capsys, fake_hub, monkeypatch):
    commit = publish(fake_hub, "alice/golden-hour", make_preset())
    code, out, err = run(capsys, "pull", "hf-hub:alice/golden-hour@v1.0.0")
    assert code == 0
    assert out.strip().endswith(f"snapshots/{commit}/stylehunt_preset.json")
    assert f"(commit {commit})" in err and "now loads offline" in err

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, out, _ = run(capsys, "show", "hf-hub:alice/golden-hour@v1.0.0")
    assert code == 0 and f"hf-hub:alice/golden-hour@v1.0.0 (commit {commit})" in out
    code, _, err = run(capsys, "show", "hf-hub:alice/other")
    assert code == 1
    assert_one_line_error(err, "not in the local cache", "stylehunt pull")


def test_pull_bundled_is_a_no_op(capsys):
    code, out, err = run(capsys, "pull", "sd3-medium/paper-l0h23")
    assert code == 0 and "nothing to download" in err
    assert out.strip().endswith("sd3-medium/paper-l0h23/1.0.0/stylehunt_preset.json")


# ---------------------------------------------------------------------------------------- publish


def test_publish_dry_run_confirm_and_repeat(capsys, fake_hub, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", WRITE_TOKEN)
    path = make_preset().save(tmp_path / "golden.json")
    image = tmp_path / "look.png"
    from PIL import Image

    Image.new("RGB", (4, 4)).save(image)  # a real image: publish refuses bytes that only carry the suffix

    code, out, _ = run(capsys, "publish", str(path), "--repo", "alice/golden-hour", "--preview", str(image), "--dry-run")
    assert code == 0 and "Would publish golden-hour 1.0.0 to alice/golden-hour and tag it v1.0.0" in out
    assert f"previews/look.png  ({image.stat().st_size} bytes)" in out and "hf-hub:alice/golden-hour@v1.0.0" in out
    assert fake_hub.state.requests == []

    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out, err = run(capsys, "publish", str(path), "--repo", "alice/golden-hour")
    assert code == 1 and "Aborted." in err and fake_hub.state.writes() == []

    code, out, err = run(capsys, "publish", str(path), "--repo", "alice/golden-hour", "--preview", str(image), "--yes")
    assert code == 0 and out.strip() == "hf-hub:alice/golden-hour@v1.0.0"
    assert "Published golden-hour 1.0.0" in err and "new repo" in err
    assert "previews/look.png" in fake_hub.state.files("alice/golden-hour", "v1.0.0")

    code, _, err = run(capsys, "publish", str(path), "--repo", "alice/golden-hour", "--yes")
    assert code == 1
    assert_one_line_error(err, "already has version 1.0.0", "publish with a higher --version")

    code, out, _ = run(capsys, "publish", str(path), "--repo", "alice/golden-hour", "--version", "1.0.1", "-y")
    assert code == 0 and out.strip() == "hf-hub:alice/golden-hour@v1.0.1"


def test_publish_invalid_file_fails_before_the_network(capsys, fake_hub, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run(capsys, "publish", str(bad), "--repo", "alice/x", "--yes")
    assert code == 1 and "malformed JSON" in err
    assert fake_hub.state.requests == []


# ---------------------------------------------------------------------------------------- with the engine


def _meta_sd3_pipeline(name: str, **config):
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    with torch.device("meta"):
        transformer = SD3Transformer2DModel(**config)
    pipe = StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(), vae=None,
        text_encoder=None, tokenizer=None, text_encoder_2=None, tokenizer_2=None, text_encoder_3=None, tokenizer_3=None,
    )
    pipe.register_to_config(_name_or_path=name)
    return pipe


def test_references_apply_and_carry_the_architecture(caplog):
    """apply() takes registry references; the file's fingerprint and model id reach the engine's checks."""
    import stylehunt
    from stylehunt.errors import ArchitectureMismatchError

    tiny = _meta_sd3_pipeline("tiny", num_layers=2, num_attention_heads=4, attention_head_dim=8,
                              caption_projection_dim=32, joint_attention_dim=32, pooled_projection_dim=64)
    with pytest.raises(ArchitectureMismatchError) as e:
        stylehunt.apply(tiny, "sd3-medium/paper-l1h10")
    assert "24 layers x 24 heads" in str(e.value) and "2 layers x 4 heads" in str(e.value)
    assert stylehunt.get_applied(tiny) is None  # nothing changed in the pipeline

    finetune = _meta_sd3_pipeline(
        "someone/sd3-finetune", sample_size=128, patch_size=2, in_channels=16, num_layers=24, attention_head_dim=64,
        num_attention_heads=24, joint_attention_dim=4096, caption_projection_dim=1536, pooled_projection_dim=2048,
        out_channels=16, pos_embed_max_size=192,
    )
    with caplog.at_level(logging.WARNING):
        stylehunt.apply(finetune, "sd3-medium/paper-l1h10")
    assert "someone/sd3-finetune" in caplog.text and "same architecture" in caplog.text
    assert stylehunt.get_applied(finetune).presets[0].name == "sd3-medium/paper-l1h10"
    stylehunt.remove(finetune)


def test_publish_errors_name_the_parameter_in_python_and_the_flag_in_the_cli(capsys, fake_hub, monkeypatch, tmp_path):
    """#22: push_preset's errors say `name`, `version`, `images` (and carry them as ``param``); the same bad
    input given to `stylehunt publish` says --name, --version, --preview."""
    from stylehunt.errors import InvalidPresetError, VersionExistsError
    from stylehunt.registry.publish import push_preset

    monkeypatch.setenv("HF_TOKEN", WRITE_TOKEN)
    preset = make_preset()
    path = preset.save(tmp_path / "golden.json")
    fake = tmp_path / "look.png"
    fake.write_text("not a picture")

    def refused(error, **kwargs):
        with pytest.raises(error) as info:
            push_preset(preset, "alice/golden-hour", **kwargs)
        text = f"{info.value} {info.value.hint}"
        assert "--" not in text, text
        return info.value

    e = refused(InvalidPresetError, name="Golden Hour", dry_run=True)
    assert e.param == "name" and str(e).startswith("`name`: expected `slug`"), e
    e = refused(InvalidPresetError, version="v1", dry_run=True)
    assert e.param == "version" and str(e).startswith("`version`: "), e
    e = refused(InvalidPresetError, images=[fake])
    assert e.param == "images" and "as `images`" in e.hint, e.hint
    e = refused(InvalidPresetError, images=[tmp_path / "missing.png"], dry_run=True)
    assert e.param == "images" and "does not exist" in str(e), e
    assert fake_hub.state.writes() == []
    push_preset(preset, "alice/golden-hour")
    e = refused(VersionExistsError, version="1.0.0")
    assert e.param == "version" and e.hint.endswith("publish with a higher `version`"), e.hint
    e = refused(VersionExistsError)  # the file's own version: no parameter was given
    assert e.param is None and "`version`" in e.hint

    code, _, err = run(capsys, "publish", str(path), "--repo", "alice/golden-hour", "--name", "Golden Hour")
    assert code == 1
    assert_one_line_error(err, "Error: --name: expected `slug`")
    code, _, err = run(capsys, "publish", str(path), "--repo", "alice/golden-hour", "--version", "v1")
    assert code == 1
    assert_one_line_error(err, "Error: --version: ")
    code, _, err = run(capsys, "publish", str(path), "--repo", "alice/golden-hour", "--preview", str(fake))
    assert code == 1
    assert_one_line_error(err, "Error: --preview: preview image", "Hint: give a PNG, JPEG, WebP or GIF picture as --preview")
    code, _, err = run(capsys, "publish", str(path), "--repo", "alice/golden-hour", "--version", "1.0.0", "--yes")
    assert code == 1
    assert_one_line_error(err, "Error: --version: alice/golden-hour already has version 1.0.0",
                          "publish with a higher --version")
    code, _, err = run(capsys, "publish", str(path), "--repo", "alice/golden-hour", "--yes")
    assert code == 1
    assert_one_line_error(err, "Error: alice/golden-hour already has version 1.0.0", "publish with a higher --version")
    assert "`" not in err.replace("`slug`", ""), err
