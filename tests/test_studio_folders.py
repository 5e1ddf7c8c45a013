"""The studio without a browser: path confinement, no UI library unless started, the missing-extra error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from stylehunt.studio.folders import Folders, PathOutsideError


@pytest.fixture
def folders(tmp_path):
    return Folders.create(tmp_path / "out", tmp_path / "runs")


@pytest.mark.parametrize("name, said", [
    ("../../etc/passwd", "leads outside"),
    ("a/../../b.json", "leads outside"),
    ("/etc/passwd", "not a path relative"),
    ("~/x.json", "not a path relative"),
    ("C:/x.json", "not a path relative"),
    ("a\0b", "not a path relative"),
    ("  ", "is empty"),
])
def test_page_paths_outside_the_folders_are_refused(folders, name, said):
    with pytest.raises(PathOutsideError, match=said) as e:
        folders.inside(name, what="preset file")
    assert "--out" in str(e.value) + (e.value.hint or "")


def test_a_symlink_leading_out_is_outside(folders, tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text("{}")
    (folders.out / "link.json").symlink_to(secret)
    (folders.runs / "dir").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(PathOutsideError, match="leads outside"):
        folders.inside("link.json")
    with pytest.raises(PathOutsideError, match="leads outside"):
        folders.inside("dir/secret.json", root="runs")
    with pytest.raises(PathOutsideError, match="leads outside"):
        folders.existing("link.json")


def test_names_inside_resolve_in_their_folder(folders):
    (folders.out / "sub").mkdir()
    (folders.runs / "run-1").mkdir()
    assert folders.inside("sub/../new.json") == folders.out / "new.json"
    assert folders.existing("run-1") == folders.runs / "run-1"
    with pytest.raises(PathOutsideError, match="neither"):
        folders.existing("missing.json")


def test_studio_preset_refs_that_are_paths_are_confined(folders):
    from stylehunt.studio.work import Studio

    studio = Studio(folders)
    for ref in ("../../etc/passwd.json", "/etc/passwd", "./../x.json"):
        with pytest.raises(PathOutsideError):
            studio.preset(ref)
    with pytest.raises(PathOutsideError):
        studio.model_source("../..")


def test_search_run_folder_is_confined(folders):
    from stylehunt.studio.searches import SearchJob

    for run in ("../escape", "/tmp/x", ""):
        with pytest.raises(PathOutsideError):
            SearchJob.new(folders, {}, run=run, model="tiny-sd3", objective="warmth", style="", prompts="", rounds=1,
                          per_round=1, strategy="exhaustive", steps=1, resolution=None, device=None, dtype=None)
    assert not any(folders.runs.parent.glob("escape"))


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    return set(out.stdout.split())


def test_stylehunt_and_its_help_import_no_ui_library():
    loaded = _modules_after("import stylehunt, stylehunt.studio, stylehunt.studio.work, stylehunt.studio.searches\n"
                            "from stylehunt.cli import main\n"
                            "import contextlib, io\n"
                            "with contextlib.redirect_stdout(io.StringIO()):\n"
                            "    main(['--help']); main(['studio', '--help'])")
    assert not {"gradio", "fastapi", "uvicorn"} & loaded


def test_studio_without_the_extra_says_what_to_install(monkeypatch, capsys, tmp_path):
    import importlib.util

    from stylehunt.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a))
    assert main(["studio", "--out", str(tmp_path / "o"), "--runs", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "Gradio" in err and "pip install 'stylehunt[studio]'" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_the_studio_listens_on_this_machine_only_by_default():
    import inspect

    from stylehunt.cli.studio_cmds import studio
    from stylehunt.studio import launch

    assert {p.name: p.default for p in studio.params}["host"] == "127.0.0.1"
    assert inspect.signature(launch).parameters["host"].default == "127.0.0.1"


def test_studio_refuses_a_file_as_a_folder_before_starting(tmp_path, capsys):
    from stylehunt.cli import main

    (tmp_path / "out").write_text("a file")
    assert main(["studio", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "is a file" in err and not (tmp_path / "runs").exists()
