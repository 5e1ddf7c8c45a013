"""The preset file format: round trips, strict validation with field-pointing errors, atomic saves."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from tests._hub_fixtures import SD3_FP, loopback_only, make_preset  # noqa: F401  (autouse fixture)
from stylehunt.errors import (
    HeadOutOfRangeError,
    InvalidPresetError,
    PresetFileError,
    PresetFormatVersionError,
)
from stylehunt.registry.fileformat import FILENAME, FORMAT_VERSION, dumps
from stylehunt.registry.names import parse_version
from stylehunt.registry.preset import Preset, loads, read_preset_file

SEARCH_PROVENANCE = {
    "kind": "search",
    "stylehunt_version": "0.1.0",
    "objective": {"text": "golden hour", "scorer": "clip"},
    "prompts": ["a cat", "a house"],
    "seeds": [0, 1],
    "settings": {"rounds": 2, "heads_per_round": 1, "strength": 1.0, "scale": 3.0, "steps": 4},
    "rounds": [
        {"added": [[1, 10]], "score": 0.25, "candidates": [{"head": [1, 10], "score": 0.25}, {"head": [0, 0], "score": 0.1}]},
        {"added": [[13, 17]], "score": 0.31},
    ],
}


def good_dict(**changes):
    data = make_preset().to_dict()
    data.update(changes)
    return data


def load_dict(data, tmp_path, name="p.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return read_preset_file(path)


# ---------------------------------------------------------------------------------------- round trip


def test_save_load_round_trip_keeps_every_field(tmp_path):
    preset = make_preset(provenance=SEARCH_PROVENANCE, metadata={"b": 1, "a": [1, 2]}, tags=("lighting", "warm"))
    path = preset.save(tmp_path / "out.json")
    loaded = Preset.from_file(path)
    assert loaded == preset
    for name in ("fingerprint", "tags", "license", "provenance", "metadata", "description"):
        assert getattr(loaded, name) == getattr(preset, name), name
    assert loaded.to_json() == path.read_text()  # stable bytes: saving again changes nothing


def test_save_to_folder_writes_the_fixed_file_name(tmp_path):
    written = make_preset().save(tmp_path / "my-preset")
    assert written == tmp_path / "my-preset" / FILENAME
    assert Preset.from_file(tmp_path / "my-preset").heads == ((1, 10), (13, 17))


def test_file_is_plain_readable_json(tmp_path):
    text = make_preset().to_json()
    data = json.loads(text)
    assert data["format_version"] == FORMAT_VERSION
    assert list(data)[:3] == ["format_version", "name", "version"]
    assert "[1, 10]" in text  # head pairs stay on one line
    assert data["model"] == {"id": make_preset().model, "fingerprint": SD3_FP}


def test_save_is_atomic_and_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    out = tmp_path / "out"
    path = make_preset().save(out / "p.json")
    before = path.read_bytes()
    bad = dataclasses.replace(make_preset(), provenance=None)
    with pytest.raises(PresetFileError, match="missing `provenance`"):
        bad.save(path)
    assert path.read_bytes() == before

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        make_preset(version="2.0.0").save(path)
    assert path.read_bytes() == before
    assert os.listdir(out) == ["p.json"]  # the temporary file is gone


def test_incomplete_preset_cannot_be_saved_and_says_what_is_missing(tmp_path):
    with pytest.raises(PresetFileError) as e:
        Preset(heads=[(0, 1)]).save(tmp_path / "x.json")
    assert "`name`, `version`, `license`, `model`, `provenance`" in str(e.value)
    assert "provenance=" in e.value.hint
    assert not (tmp_path / "x.json").exists()


def test_non_json_provenance_is_refused_at_save(tmp_path):
    with pytest.raises(PresetFileError, match="not plain JSON"):
        make_preset(provenance={"kind": "manual", "source": "x", "notes": object()}).save(tmp_path / "x.json")


# ---------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "text, message",
    [
        ("{", "malformed JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        ("[1, 2]", "expected a JSON object at the top level"),
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ('{"strength": NaN}', "NaN is not valid JSON"),
        ("", "malformed JSON"),
    ],
)
def test_malformed_json_is_reported_with_the_file(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(PresetFileError) as e:
        read_preset_file(path)
    assert message in str(e.value)
    assert str(path) in str(e.value)
    assert e.value.path == str(path)


def test_binary_and_huge_files_are_refused(tmp_path):
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(PresetFileError, match="not UTF-8"):
        read_preset_file(tmp_path / "bin.json")
    (tmp_path / "big.json").write_bytes(b" " * (2 << 20))
    with pytest.raises(PresetFileError, match="at most"):
        read_preset_file(tmp_path / "big.json")


def test_missing_file_says_so(tmp_path):
    with pytest.raises(PresetFileError, match="no such file"):
        read_preset_file(tmp_path / "nope.json")


@pytest.mark.parametrize("field", ["name", "version", "license", "model", "heads", "strength", "scale", "provenance"])
def test_each_required_field_is_required(tmp_path, field):
    data = good_dict()
    del data[field]
    with pytest.raises(PresetFileError) as e:
        load_dict(data, tmp_path)
    assert e.value.field == field
    assert f"{field}: missing required field" in str(e.value)


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"name": 3}, "name", "expected a string, but got an integer (3)"),
        ({"version": "1.0"}, "version", "semantic version"),
        ({"tags": "lighting"}, "tags", "expected a JSON array"),
        ({"tags": ["a", "a"]}, "tags[1]", "duplicate tag"),
        ({"license": "Apache 2.0"}, "license", "lowercase license id"),
        ({"heads": [[1, 10], [2]]}, "heads[1]", "expected a [layer, head] pair of integers"),
        ({"heads": [[1, 10], [2, True]]}, "heads[1]", "pair of integers"),
        ({"heads": [[1, 10], [-1, 3]]}, "heads[1]", "0-based"),
        ({"heads": []}, "heads", "non-empty"),
        ({"strength": "0.5"}, "strength", "expected a finite number"),
        ({"scale": -1}, "scale", "guidance scale w to be >= 0"),
        ({"model": "stabilityai/x"}, "model", "expected a JSON object"),
        ({"model": {"id": "/home/me/models/sd3"}}, "model.id", "Hub model id"),
        ({"model": {"id": "a/b", "revision": "x"}}, "model.revision", "unknown field"),
        ({"tag": ["x"]}, "tag", "did you mean `tags`?"),
        ({"provenance": {"kind": "guess"}}, "provenance.kind", "expected one of search, reported, manual"),
        ({"provenance": {"kind": "manual"}}, "provenance.source", "missing required field"),
        ({"metadata": []}, "metadata", "expected a JSON object"),
    ],
)
def test_mistyped_fields_point_at_the_field(tmp_path, changes, field, message):
    with pytest.raises(PresetFileError) as e:
        load_dict(good_dict(**changes), tmp_path)
    assert e.value.field == field
    assert f"{field}: " in str(e.value) and message in str(e.value)


def test_bad_fingerprint_fields_point_at_the_field(tmp_path):
    fp = dict(SD3_FP, layer_kinds=[["image_text", 20]])
    with pytest.raises(PresetFileError, match=r"model.fingerprint.layer_kinds: counts add up to 20, but num_layers is 24"):
        load_dict(good_dict(model={"id": "a/b", "fingerprint": fp}), tmp_path)
    fp = dict(SD3_FP, transformer_class="PixArtTransformer2DModel")  # a diffusers class no family guides
    with pytest.raises(PresetFileError, match="model.fingerprint.transformer_class: unsupported"):
        load_dict(good_dict(model={"id": "a/b", "fingerprint": fp}), tmp_path)


def test_heads_out_of_range_for_the_fingerprint_are_caught_at_load(tmp_path):
    data = good_dict(heads=[[1, 10], [13, 17], [2, 3], [2, 40]])
    with pytest.raises(HeadOutOfRangeError) as e:
        load_dict(data, tmp_path)
    assert "heads[3]: head 40 out of range for 24 heads in layer 2 (valid: 0-23)" in str(e.value)
    assert str(tmp_path / "p.json") in str(e.value)
    with pytest.raises(HeadOutOfRangeError, match="heads\\[0\\]: layer 24 out of range for 24 attention layers"):
        load_dict(good_dict(heads=[[24, 0]]), tmp_path)


def test_heads_without_fingerprint_are_only_checked_when_applied(tmp_path):
    data = good_dict(heads=[[2, 40]], model={"id": "owner/fine-tune"})
    assert load_dict(data, tmp_path).heads == ((2, 40),)


def test_in_memory_preset_checks_heads_against_its_fingerprint():
    with pytest.raises(HeadOutOfRangeError, match="heads\\[1\\]: head 24 out of range for 24 heads in layer 0"):
        make_preset(heads=[(0, 1), (0, 24)])


def test_duplicate_heads_are_refused(tmp_path):
    with pytest.raises(PresetFileError) as e:
        load_dict(good_dict(heads=[[1, 10], [3, 4], [1, 10]]), tmp_path)
    assert e.value.field == "heads[2]"
    assert "duplicate head [1, 10] (already heads[0])" in str(e.value)


@pytest.mark.parametrize("u", [-0.01, 1.5, 2])
def test_strength_outside_unit_interval_is_refused(tmp_path, u):
    with pytest.raises(PresetFileError) as e:
        load_dict(good_dict(strength=u), tmp_path)
    assert e.value.field == "strength"
    assert "between 0.0 and 1.0" in str(e.value)


def test_newer_format_version_says_to_upgrade(tmp_path):
    with pytest.raises(PresetFormatVersionError) as e:
        load_dict(good_dict(format_version=FORMAT_VERSION + 1, some_new_field=1), tmp_path)
    assert "written by a newer stylehunt (format_version 2)" in str(e.value)
    assert "pip install -U stylehunt" in e.value.hint
    assert e.value.found == FORMAT_VERSION + 1


@pytest.mark.parametrize("value", [0, "1", 1.0, None, True])
def test_invalid_format_version_is_refused(tmp_path, value):
    with pytest.raises(PresetFileError, match="format_version: expected a positive integer"):
        load_dict(good_dict(format_version=value), tmp_path)


def test_missing_format_version_suggests_it_is_not_a_preset(tmp_path):
    data = good_dict()
    del data["format_version"]
    with pytest.raises(PresetFileError, match="is this a stylehunt preset file"):
        load_dict(data, tmp_path)


@pytest.mark.parametrize("name", ["../etc/passwd", "/abs/name", "sd3-medium/../../x", "a//b", "Golden", "a/b/c", "x" * 97])
def test_names_with_dotdot_absolute_or_odd_shapes_are_refused(tmp_path, name):
    with pytest.raises(PresetFileError) as e:
        load_dict(good_dict(name=name), tmp_path)
    assert e.value.field == "name"


def test_search_provenance_must_match_the_heads(tmp_path):
    assert load_dict(good_dict(provenance=SEARCH_PROVENANCE), tmp_path).provenance["rounds"][1]["score"] == 0.31
    with pytest.raises(PresetFileError) as e:
        load_dict(good_dict(provenance=SEARCH_PROVENANCE, heads=[[13, 17], [1, 10]]), tmp_path)
    assert e.value.field == "provenance.rounds"
    assert '"kind": "manual"' in e.value.hint


@pytest.mark.parametrize(
    "change, field",
    [
        ({"objective": {"text": "x"}}, "provenance.objective.scorer"),
        ({"prompts": []}, "provenance.prompts"),
        ({"seeds": [0, -1]}, "provenance.seeds[1]"),
        ({"rounds": [{"added": [[1, 10]], "score": "high"}]}, "provenance.rounds[0].score"),
        ({"settings": {"x": float("inf")}}, "provenance.settings.x"),
    ],
)
def test_search_provenance_fields_are_checked(tmp_path, change, field):
    prov = dict(SEARCH_PROVENANCE, **change)
    with pytest.raises(PresetFileError) as e:
        Preset.from_dict(good_dict(provenance=prov))
    assert e.value.field == field


def test_dumps_only_changes_whitespace():
    data = make_preset(provenance=SEARCH_PROVENANCE).to_dict()
    assert json.loads(dumps(data)) == data


def test_loads_accepts_bytes_and_names_the_source():
    text = make_preset().to_json()
    assert loads(text.encode(), path="somewhere").name == "golden-hour"
    with pytest.raises(PresetFileError, match="^somewhere: strength"):
        loads(text.replace('"strength": 0.5', '"strength": 7'), path="somewhere")


def test_semver_ordering_and_errors():
    assert sorted(["1.0.0", "1.0.0-rc.2", "1.0.0-rc.10", "1.0.0-alpha", "0.9.9"], key=parse_version) == [
        "0.9.9",
        "1.0.0-alpha",
        "1.0.0-rc.2",
        "1.0.0-rc.10",
        "1.0.0",
    ]
    for bad in ["1", "1.0", "01.0.0", "v1.0.0", "1.0.0+build"]:
        with pytest.raises(InvalidPresetError):
            parse_version(bad)


# ---------------------------------------------------------------------------------------- numeric types


def _scalars():
    import numpy as np
    import torch

    return [
        (np.float32(0.5), 0.5),
        (np.float64(0.25), 0.25),
        (np.int64(1), 1.0),
        (torch.tensor(0.5), 0.5),  # a 0-dim tensor
        (torch.tensor(0.75, dtype=torch.float64), 0.75),
        (1, 1.0),
    ]


@pytest.mark.parametrize("value, expected", _scalars(), ids=lambda v: type(v).__name__)
def test_numpy_and_torch_scalars_are_accepted_as_strength_and_scale(tmp_path, value, expected):
    preset = make_preset(strength=value, scale=value)
    assert type(preset.strength) is float and type(preset.scale) is float
    assert preset.strength == expected and preset.scale == expected
    preset.save(tmp_path / "p.json")  # a plain float: the file is plain JSON
    assert read_preset_file(tmp_path / "p.json").strength == expected


def test_numpy_integers_are_accepted_in_heads():
    import numpy as np

    preset = make_preset(heads=[(np.int64(1), np.int32(10))])
    assert preset.heads == ((1, 10),) and type(preset.heads[0][0]) is int


def _bad_scalars():
    import numpy as np
    import torch

    return [np.bool_(True), torch.tensor(True), np.float32("nan"), torch.tensor(float("inf")), torch.tensor([0.5, 0.2]), np.array([0.1, 0.2]), "0.5", None, 1j]


@pytest.mark.parametrize("value", _bad_scalars(), ids=repr)
def test_bad_scalars_keep_the_messages(value):
    with pytest.raises(InvalidPresetError, match=r"Expected `strength` to be a number between 0.0 and 1.0, but got"):
        make_preset(strength=value)
    with pytest.raises(InvalidPresetError, match=r"Expected `scale` to be a finite number >= 0, but got"):
        make_preset(scale=value)


def test_out_of_range_scalars_keep_the_messages():
    import numpy as np
    import torch

    with pytest.raises(InvalidPresetError, match=r"Expected `strength` to be between 0.0 and 1.0, but got 1.5"):
        make_preset(strength=np.float64(1.5))
    with pytest.raises(InvalidPresetError, match=r"Expected `scale` to be >= 0, but got -1.0"):
        make_preset(scale=torch.tensor(-1.0))
