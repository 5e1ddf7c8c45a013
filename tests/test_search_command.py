"""``command.json`` as a record of the run (issue #22): the CLI records the `SearchSettings` object it
built beside its other options, and ``--resume`` hands that recorded object to the search instead of
rebuilding it option by option. Files of the first layout (one flat object of options) still resume.

CLI commands run in-process through ``stylehunt.cli.main``; the model loader and the search proper are
replaced, so what the command hands the search is observed without generating an image.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from stylehunt.cli import main
from stylehunt.errors import SearchConfigError
from stylehunt.headhunter.command import COMMAND_FORMAT, RunCommand, read_command, write_command
from stylehunt.headhunter.settings import SearchSettings

SEARCH = ["search", "--objective", "warmth", "--num-prompts", "2", "--num-heldout", "0", "--steps", "2",
          "--resolution", "64", "--rounds", "1", "--per-round", "1"]


@pytest.fixture
def handed(monkeypatch):
    """What the CLI hands `stylehunt.headhunter.hunt.search`; the search stops there (Ctrl-C, exit 130)."""
    import stylehunt.headhunter.hunt
    import stylehunt.models

    seen = {}

    def search(pipe, objective, prompts, **kwargs):
        seen.update(kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(stylehunt.models, "load_pipeline", lambda *a, **k: object())
    monkeypatch.setattr(stylehunt.headhunter.hunt, "search", search)
    return seen


def _inputs(model) -> dict:
    return {"model": str(model), "model_id": "org/tiny", "objective": "warmth", "prompts": "default",
            "num_prompts": 2, "num_heldout": 0, "name": "run"}


def test_a_new_run_records_the_settings_object_the_search_gets(tiny_sd3_path, tmp_path, monkeypatch, handed):
    monkeypatch.chdir(tmp_path)
    assert main([*SEARCH, "--model", str(tiny_sd3_path), "--model-id", "org/tiny", "--out", "run"]) == 130
    command, settings = handed["command"], handed["settings"]
    assert isinstance(command, RunCommand) and command.settings is settings
    assert (settings.rounds, settings.steps, settings.height, settings.width) == (1, 2, 64, 64)
    # the settings travel as the object; the inputs are the other options only
    assert {"steps", "resolution", "rounds"}.isdisjoint(command.inputs)
    assert command.inputs["model"] == str(tiny_sd3_path) and command.inputs["name"] == "run"


def test_resume_hands_the_search_the_recorded_settings_object(tiny_sd3_path, tmp_path, monkeypatch, handed):
    # share_prefix has no flag: a command rebuilding the settings from its options could not pass it on
    recorded = SearchSettings(rounds=1, per_round=1, steps=2, height=64, width=64, scale=2.5, share_prefix=False)
    (tmp_path / "run").mkdir()
    write_command(tmp_path / "run", RunCommand(recorded, _inputs(tiny_sd3_path)))
    monkeypatch.chdir(tmp_path)
    assert main(["search", "--resume", "run"]) == 130
    assert handed["settings"] == recorded and handed["resume"] is True and handed["command"] is None


def test_an_option_given_again_is_compared_with_the_recorded_settings(tiny_sd3_path, tmp_path, monkeypatch,
                                                                      handed, capsys):
    recorded = SearchSettings(rounds=1, per_round=1, steps=2, height=64, width=64)
    (tmp_path / "run").mkdir()
    write_command(tmp_path / "run", RunCommand(recorded, _inputs(tiny_sd3_path)))
    monkeypatch.chdir(tmp_path)
    assert main(["search", "--resume", "run", "--resolution", "32", "--steps", "2"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "--resolution: the run used 64, got 32" in err and "--steps" not in err.split("different options:")[1]
    assert not handed  # refused before the model loaded
    assert main(["search", "--resume", "run", "--resolution", "64", "--steps", "2"]) == 130  # the same: fine
    assert handed["settings"] == recorded


def test_a_first_layout_record_still_resumes(tiny_sd3_path, tmp_path, monkeypatch, handed):
    # command.json as stylehunt wrote it before the settings were recorded as one object
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "command.json").write_text(json.dumps(
        {**_inputs(tiny_sd3_path), "steps": 2, "resolution": 64, "rounds": 1, "per_round": 1, "cfg": None}))
    monkeypatch.chdir(tmp_path)
    assert main(["search", "--resume", "run"]) == 130
    assert handed["settings"] == SearchSettings(rounds=1, per_round=1, steps=2, height=64, width=64)
    assert handed["model_id"] == "org/tiny" and handed["name"] == "run"


def test_the_record_reads_back_as_written(tmp_path):
    command = RunCommand(SearchSettings(strategy="screened", rounds=3, frames=5, cfg_scale=4.0), {"model": "m"})
    write_command(tmp_path, command)
    data = json.loads((tmp_path / "command.json").read_text())
    assert data["format"] == COMMAND_FORMAT and data["settings"]["rounds"] == 3 and data["inputs"] == {"model": "m"}
    assert read_command(tmp_path) == command
    assert read_command(tmp_path / "elsewhere") is None


@pytest.mark.parametrize("data, message", [
    ({"format": 2, "settings": {"rounds": 0}, "inputs": {}}, "settings.rounds: Expected rounds to be >= 1, but got 0"),
    ({"format": 2, "settings": {"colour": "red"}, "inputs": {}}, "settings.'colour' is not a search setting"),
    ({"format": 2, "settings": [], "inputs": {}}, "settings: expected a JSON object, got []"),
    ({"format": 2, "settings": {}, "inputs": {}, "extra": 1}, "'extra' is not part of the record"),
    ({"format": 9, "settings": {}, "inputs": {}}, "format 9 is not one this stylehunt reads"),
    ({"steps": "many"}, "steps: Expected steps to be an integer >= 1, but got 'many'"),
    ({"resolution": 4}, "height: Expected height to be >= 8, but got 4"),
], ids=["a setting out of range", "an unknown setting", "settings not an object", "an unknown key",
        "a newer format", "first layout: a string for an integer", "first layout: a tiny resolution"])
def test_a_damaged_record_is_one_error_naming_the_file_and_the_field(tmp_path, data, message):
    (tmp_path / "command.json").write_text(json.dumps(data))
    with pytest.raises(SearchConfigError) as caught:
        read_command(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'command.json'}") and message in str(caught.value)
    assert caught.value.param is None  # about the file, not a parameter the caller gave


def test_the_library_refuses_a_record_of_other_settings(tmp_path):
    import stylehunt.headhunter.hunt as hunt
    from stylehunt.tiny import load_tiny_pipeline

    pipe = load_tiny_pipeline("sd3")
    settings = SearchSettings(rounds=1, per_round=1, steps=2, height=64, width=64)
    other = RunCommand(dataclasses.replace(settings, steps=3), {})
    with pytest.raises(SearchConfigError, match="`command` records other settings than the search's own"):
        hunt.search(pipe, "brightness", ["a house"], settings=settings, out=tmp_path / "run", command=other,
                    model_id="tiny-sd3")
    assert not (tmp_path / "run").exists()
