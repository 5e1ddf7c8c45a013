"""The second bad-input review (docs/reliability.md), continued: defects 9, 10, 12, 18 and 21 and the
2026-11 rows still open, each reproduced as the review did, asserting the clear error and that nothing
changed. Commands run in-process through ``stylehunt.cli.main`` with the model loader replaced by a
failure, so "before the model loads" is checked, not assumed; models are the session's tiny pipelines.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from contextlib import redirect_stderr

import pytest

import stylehunt
from stylehunt.cli import main
from tests.test_bounded_input import tree


def run(argv, monkeypatch) -> tuple[int, str]:
    """``stylehunt ARGV`` in-process; the model must not load. Returns (exit code, stderr)."""
    import stylehunt.models

    monkeypatch.setattr(stylehunt.models, "load_pipeline", lambda *a, **k: pytest.fail("the model was loaded"))
    err = io.StringIO()
    with redirect_stderr(err):
        code = main([str(a) for a in argv])
    text = " ".join(err.getvalue().split())  # click wraps a usage error's lines
    assert "Traceback" not in text and "bug in stylehunt" not in text, text
    return code, text


TINY = ["--steps", "2", "--prompt", "a cat"]

# ---------------------------------------------------------------------------------------- 9: deep configs read by diffusers

DEEP = "[" * 50000 + "]" * 50000


def test_a_deeply_nested_guider_config_is_one_error_naming_the_file(tmp_path):
    from stylehunt import StyleHeadGuidance
    from stylehunt.errors import GuidanceError

    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "guider_config.json").write_text('{"_class_name": "StyleHeadGuidance", "x": ' + DEEP + "}")
    before = tree(tmp_path)
    with pytest.raises(GuidanceError, match="guider_config.json: JSON nested more than 64 levels deep"):
        StyleHeadGuidance.from_pretrained(tmp_path / "g")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("file", ["vae/config.json", "model_index.json"])
def test_a_deeply_nested_component_config_is_one_error_naming_it(file, tiny_sd3_path, tmp_path, monkeypatch):
    fm = tmp_path / "fm"
    shutil.copytree(tiny_sd3_path, fm)
    (fm / file).write_text('{"_class_name": "X", "x": ' + DEEP + "}")
    before = tree(tmp_path)
    if file == "model_index.json":  # read by the loader itself: the error is the loader's
        monkeypatch.undo()
        from stylehunt.errors import UnsupportedModelError
        from stylehunt.models import load_pipeline

        with pytest.raises(UnsupportedModelError, match="model_index.json or a component's config file of .* is nested too deeply"):
            load_pipeline(fm)
    else:
        code, err = run(["generate", "--model", fm, "--heads", "0:1", *TINY, "--height", "64", "--width", "64",
                         "--out", tmp_path / "x.png"], monkeypatch)
        assert code == 1 and f"vae/config.json of '{fm}' is nested too deeply to read" in err, err
    assert tree(tmp_path) == before


# ---------------------------------------------------------------------------------------- 10: the model's own limits


@pytest.mark.parametrize("args,flag,words", [
    (["--height", "8192", "--width", "8192", "--out", "x.png"], "--height",
     "8192 is more than SD3Transformer2DModel can place: its position table (pos_embed_max_size) covers 96 tokens of 8 pixels, so at most 768"),
    (["--height", "32", "--width", "4096", "--frames", "5", "--out", "x.mp4"], "--width",
     "4096 is more than WanTransformer3DModel can place: its position table (rope_max_seq_len) covers 64 tokens of 16 pixels, so at most 1024"),
    (["--height", "32", "--width", "32", "--frames", "10001", "--out", "x.mp4"], "--frames",
     "10001 frames is more than WanTransformer3DModel can place: its rotary table (rope_max_seq_len) covers 64 latent frames, so at most 253"),
], ids=["sd3 pos_embed", "wan rope width", "wan rope frames"])
def test_generate_refuses_sizes_past_the_models_position_table_before_loading(args, flag, words, request, tmp_path, monkeypatch):
    model = request.getfixturevalue("tiny_wan_path" if "--frames" in args else "tiny_sd3_path")
    monkeypatch.chdir(tmp_path)
    before = tree(tmp_path)
    code, err = run(["generate", "--model", model, "--heads", "0:1", *TINY, *args], monkeypatch)
    assert code == 2 and f"Invalid value for '{flag}': {words}" in err, err
    assert tree(tmp_path) == before


def test_the_largest_side_the_table_covers_is_accepted():
    from stylehunt.cli.params import frames_limit_problem, side_limit_problem

    sd3 = type("SD3Transformer2DModel", (), {"config": {"pos_embed_max_size": 96}})()
    wan = type("WanTransformer3DModel", (), {"config": {"rope_max_seq_len": 64, "patch_size": [1, 2, 2]}})()
    assert side_limit_problem(sd3, 8, 768) is None and side_limit_problem(sd3, 8, 776)
    assert frames_limit_problem(wan, 4, 253) is None and frames_limit_problem(wan, 4, 257)
    assert side_limit_problem(type("Flux", (), {"config": {}})(), 16, 16384) is None  # computed rope: no table


def test_search_refuses_a_resolution_past_the_position_table_before_the_run_folder(tiny_sd3_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = run(["search", "--model", tiny_sd3_path, "--model-id", "org/tiny", "--objective", "warmth", "--num-prompts", "2", "--num-heldout",
                     "0", "--steps", "2", "--resolution", "1024", "--rounds", "1", "--per-round", "1", "--out", "r/big"],
                    monkeypatch)
    assert code == 2 and "Invalid value for '--resolution': 1024 is more than SD3Transformer2DModel can place" in err
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------------------------- 12: names derived from --out


def test_a_folder_at_the_videos_contact_sheet_name_is_refused_before_generating(tiny_wan_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "g" / "vdir.frames.png").mkdir(parents=True)
    before = tree(tmp_path)
    code, err = run(["generate", "--model", tiny_wan_path, "--heads", "0:1", *TINY, "--height", "32", "--width", "32",
                     "--frames", "5", "--out", "g/vdir.mp4"], monkeypatch)
    assert code == 1 and "Error: --out g/vdir.mp4: g/vdir.frames.png would be written, but it is a folder" in err, err
    assert ".tmp" not in err and tree(tmp_path) == before and not (tmp_path / "g" / "vdir.mp4").exists()


# ---------------------------------------------------------------------------------------- 18: run-folder anomalies

SEARCH = ["search", "--objective", "warmth", "--num-prompts", "2", "--num-heldout", "0", "--steps", "2",
          "--resolution", "64", "--rounds", "1", "--per-round", "1"]


def _plant(kind: str, run_dir) -> str:
    run_dir.mkdir(parents=True)
    lock = run_dir / ".lock"
    if kind == "lock symlink":
        lock.symlink_to(run_dir.parent / "nowhere")
        return ".lock is a symbolic link, where stylehunt keeps its lock file"
    if kind == "lock hard link":
        (run_dir.parent / "mine").write_text("mine")
        os.link(run_dir.parent / "mine", lock)
        return ".lock is a file with 2 names (hard links)"
    if kind == "lock folder":
        lock.mkdir()
        return ".lock is a folder, where stylehunt keeps its lock file"
    (run_dir / ".stylehunt_preset.json.abc.tmp").mkdir()
    return ".stylehunt_preset.json.abc.tmp is a folder, where stylehunt keeps its temporary file"


@pytest.mark.parametrize("kind", ["lock symlink", "lock hard link", "lock folder", "leftover folder"])
def test_run_folder_anomalies_are_refused_before_the_model_loads(kind, tiny_sd3_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    words = _plant(kind, tmp_path / "r" / "run")
    before = tree(tmp_path)
    code, err = run([*SEARCH, "--model", tiny_sd3_path, "--out", "r/run"], monkeypatch)
    assert code == 1 and words in err, err
    assert "Hint: remove r/run/" in err and "give a file name" not in err
    assert tree(tmp_path) == before


def test_a_dangling_out_symlink_is_named_as_one(tiny_sd3_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r").symlink_to(tmp_path / "gone")
    code, err = run([*SEARCH, "--model", tiny_sd3_path, "--out", "r"], monkeypatch)
    assert code == 1 and f"it is a symbolic link to {tmp_path / 'gone'}, which does not exist" in err, err
    assert "a file, not a folder" not in err and not (tmp_path / "gone").exists()


def test_an_unknown_key_in_command_json_is_refused_naming_it(tiny_sd3_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "command.json").write_text(json.dumps({"model": str(tiny_sd3_path), "colour": "red"}))
    before = tree(tmp_path)
    code, err = run(["search", "--resume", "run"], monkeypatch)
    assert code == 1 and "run/command.json: 'colour' is not an option search records" in err, err
    assert tree(tmp_path) == before


def test_an_unknown_phase_in_state_json_is_refused_naming_it(tmp_path):
    from stylehunt.errors import SearchConfigError
    from stylehunt.headhunter.store import STATE_FORMAT, check_state

    phase = {"sets": [[]], "pairs": "search", "steps": 1, "batch_size": 1, "units": {}}
    state = {"state_format": STATE_FORMAT, "config_hash": "x", "config": {}, "status": "running",
             "phases": {"baseline": phase, "r1.full": phase, "r2.set": phase}}
    assert check_state(state, tmp_path / "state.json") is state
    state["phases"]["bogus"] = phase
    with pytest.raises(SearchConfigError, match="phases.'bogus': not a phase a search runs"):
        check_state(state, tmp_path / "state.json")


# ---------------------------------------------------------------------------------------- 2026-11 rows: the library


@pytest.mark.parametrize("call", ["remove", "get_applied", "applied"])
def test_a_value_that_is_not_a_pipeline_is_refused_by_name(call):  # 2026-11 #96 (API96a-c)
    import stylehunt
    from stylehunt.errors import GuidanceError

    fn = getattr(stylehunt, call)
    with pytest.raises(GuidanceError, match="Expected a diffusers pipeline, but got object"):
        fn(object(), "tiny-sd3/warm").__enter__() if call == "applied" else fn(object())


@pytest.fixture(scope="module")
def sd3_pipe(tiny_sd3_path):
    from diffusers import DiffusionPipeline

    return DiffusionPipeline.from_pretrained(tiny_sd3_path)


def test_strengths_as_a_string_is_refused_not_split_into_characters(sd3_pipe):  # 2026-11 #99 (API99)
    import stylehunt
    from stylehunt.errors import GuidanceError

    with pytest.raises(GuidanceError, match=r"Expected `strengths` to be a number .* but got '0.5' \(str\)"):
        stylehunt.apply(sd3_pipe, "tiny-sd3/warm", strengths="0.5")
    assert stylehunt.get_applied(sd3_pipe) is None


def test_the_same_unnamed_preset_twice_is_refused(sd3_pipe):  # 2026-11 #102 (API102, API102b)
    import stylehunt
    from stylehunt import Preset
    from stylehunt.errors import GuidanceError

    p = Preset(heads=[(0, 1)])
    for twice in ([p, p], [p, Preset(heads=[(0, 1)])]):
        with pytest.raises(GuidanceError, match="the same preset was given twice: <preset with 1 head>"):
            stylehunt.apply(sd3_pipe, twice)
        assert stylehunt.get_applied(sd3_pipe) is None
    with stylehunt.applied(sd3_pipe, [p, Preset(heads=[(0, 1)], strength=0.3)]):  # different settings: two presets
        assert len(stylehunt.get_applied(sd3_pipe).presets) == 2


# ---------------------------------------------------------------------------------------- 2026-11 rows: publish

from tests._hub_fixtures import WRITE_TOKEN, fake_hub, make_preset  # noqa: E402,F401


@pytest.mark.parametrize("content,words", [
    ("passwd", "preview image 'secret.png' is not an image PIL can read"),
    ("jpeg", "preview image 'secret.png' holds a JPEG image, not PNG as its name says"),
])
def test_publish_refuses_a_preview_that_is_not_an_image_before_the_network(content, words, fake_hub, tmp_path, monkeypatch):
    # 2026-11 #64 (L64, L66l, PB03): any bytes named .png were uploaded as previews
    from PIL import Image

    monkeypatch.setenv("HF_TOKEN", WRITE_TOKEN)
    monkeypatch.chdir(tmp_path)
    make_preset().save(tmp_path / "p.json")
    if content == "passwd":
        (tmp_path / "secret.png").write_text("root:x:0:0:root:/root:/bin/bash\n")
    else:
        Image.new("RGB", (4, 4)).save(tmp_path / "secret.png", format="JPEG")
    before = tree(tmp_path)
    code, err = run(["publish", "p.json", "--repo", "alice/x", "--preview", "secret.png", "--yes"], monkeypatch)
    assert code == 1 and words in err, err
    assert fake_hub.state.requests == [] and tree(tmp_path) == before


def test_publish_repo_is_refused_naming_the_flag(fake_hub, tmp_path, monkeypatch):  # 2026-11 #65 (L65)
    monkeypatch.chdir(tmp_path)
    make_preset().save(tmp_path / "p.json")
    code, err = run(["publish", "p.json", "--repo", "../x", "--yes"], monkeypatch)
    assert code == 2 and "Invalid value for '--repo': '../x' is not a valid Hub repo id" in err, err
    assert "give the repo to publish to as OWNER/NAME" in err and "registry name" not in err
    assert fake_hub.state.requests == []


# ---------------------------------------------------------------------------------------- 2026-11 rows: search --resume


def _finished_by_hand(run_dir, model, status="done"):
    from stylehunt.headhunter.runfolder import RUN_FILES
    from stylehunt.headhunter.store import STATE_FORMAT

    run_dir.mkdir()
    for name in RUN_FILES:
        (run_dir / name).write_bytes(b"the run's own " + name.encode())
    stylehunt.Preset.load("tiny-sd3/warm").save(run_dir)  # a valid preset, read back for its heads
    (run_dir / "command.json").write_text(json.dumps({
        "model": str(model), "model_id": "org/tiny", "objective": "warmth", "num_prompts": 2, "num_heldout": 0,
        "steps": 2, "resolution": 64, "rounds": 1, "per_round": 1, "name": "run"}))
    (run_dir / "state.json").write_text(json.dumps({
        "state_format": STATE_FORMAT, "config_hash": "x", "config": {}, "status": status, "phases": {}}))


def test_resuming_a_finished_run_loads_nothing_and_rewrites_nothing(tiny_sd3_path, tmp_path, monkeypatch, capsys):
    # 2026-11 #79 (S79): it reloaded the model and rewrote state.json and the preset
    monkeypatch.chdir(tmp_path)
    _finished_by_hand(tmp_path / "run", tiny_sd3_path)
    before = tree(tmp_path)
    code, err = run(["search", "--resume", "run"], monkeypatch)
    assert code == 0 and "run folder run holds a finished search; nothing to resume" in err, err
    out = " ".join(capsys.readouterr().out.split())
    heads = " ".join(f"{l}:{h}" for l, h in stylehunt.Preset.load("tiny-sd3/warm").heads)
    assert f"heads: {heads}" in out and "use it: stylehunt generate" in out
    assert tree(tmp_path) == before


def test_a_new_run_records_its_preset_name_so_a_renamed_folder_keeps_it(tiny_sd3_path, tmp_path, monkeypatch):
    # 2026-11 #79: the preset was named after the folder at save time, so renaming the folder renamed the preset
    import stylehunt.headhunter.hunt
    import stylehunt.models

    seen = {}

    def search(pipe, *a, command=None, **k):
        seen.update(command.inputs)
        raise KeyboardInterrupt

    monkeypatch.setattr(stylehunt.models, "load_pipeline", lambda *a, **k: object())
    monkeypatch.setattr(stylehunt.headhunter.hunt, "search", search)
    monkeypatch.chdir(tmp_path)
    assert main([*SEARCH, "--model", str(tiny_sd3_path), "--model-id", "org/tiny", "--out", "golden-hour"]) == 130
    assert seen["name"] == "golden-hour"


def test_resuming_a_state_without_command_json_says_every_option_is_needed(tiny_sd3_path, tmp_path, monkeypatch):
    # 2026-11 #85 (S85): "give --model", then the next option, one error at a time
    monkeypatch.chdir(tmp_path)
    _finished_by_hand(tmp_path / "run", tiny_sd3_path, status="running")
    (tmp_path / "run" / "command.json").unlink()
    before = tree(tmp_path)
    code, err = run(["search", "--resume", "run"], monkeypatch)
    assert code == 2 and "run holds a search state but no command.json" in err, err
    assert "give --resume with every option of the original search (--model, --objective" in err
    assert tree(tmp_path) == before


def test_a_missing_hub_model_names_the_cause_not_a_stacktrace(fake_hub):  # 2026-11 #54 (G54b)
    from stylehunt.errors import UnsupportedModelError
    from stylehunt.models import load_pipeline

    with pytest.raises(UnsupportedModelError, match="could not load a pipeline from 'alice/nomodel'") as e:
        load_pipeline("alice/nomodel")
    assert "stacktrace" not in str(e.value) and "Error: " in str(e.value)  # the cause, by its type


# ---------------------------------------------------------------------------------------- 21: smaller messages

from tests.test_bounded_input import cli, refused  # noqa: E402


@pytest.mark.parametrize("variable,value,words", [
    ("STYLEHUNT_INDEX_REPO", "../bad", "STYLEHUNT_INDEX_REPO='../bad': '../bad' is not a valid Hub repo id"),
    ("STYLEHUNT_INDEX_REVISION", "a..b", "STYLEHUNT_INDEX_REVISION='a..b': 'a..b' is not a valid revision"),
])
def test_a_bad_index_variable_is_named_once_and_refresh_names_it(variable, value, words, tmp_path, monkeypatch):
    # E62, E64, RF06 (the warning twice, calling it "the refreshed registry index"), E63 (refresh named no variable)
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    proc = cli("list", cwd=tmp_path)
    err = proc.stderr.decode()
    assert proc.returncode == 0 and err.count("WARNING") == 1 and words in err, err
    assert "using the bundled index" in err and "refreshed" not in err
    refused(cli("list", "--refresh", cwd=tmp_path), words, f"fix or unset {variable}")


def test_a_tiny_model_without_presets_is_not_sent_to_the_hub(tmp_path):  # M17
    from stylehunt.errors import PresetNotFoundError
    from stylehunt.registry import load_preset

    with pytest.raises(PresetNotFoundError, match="the tiny model tiny-flux has no bundled presets") as e:
        load_preset("tiny-flux/warm")
    assert "hf-hub:" not in str(e.value) + e.value.hint and "stylehunt list" in e.value.hint


def test_offline_publish_is_told_to_go_online_not_to_pull(tmp_path, monkeypatch):  # L66d
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    make_preset().save(tmp_path / "p.json")
    code, err = run(["publish", "p.json", "--repo", "alice/x", "--yes"], monkeypatch)
    assert code == 1 and "Hint: publishing uploads to the Hub: unset HF_HUB_OFFLINE" in err and "pull" not in err, err


# ---------------------------------------------------------------------------------------- #18: the mp4 carries its record


def test_a_generated_mp4_carries_its_parameters_and_show_reads_them_back(tiny_wan_path, tmp_path, monkeypatch, capsys):
    import shlex

    monkeypatch.chdir(tmp_path)
    prompt = "a fox; = # \\ and 'quotes'"  # the characters ffmpeg's metadata format escapes
    argv = ["generate", "--model", str(tiny_wan_path), "--heads", "0:1", "--prompt", prompt, "--steps", "1",
            "--height", "32", "--width", "32", "--frames", "5", "--baseline", "--out", "clip.mp4"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["show", "clip.mp4", "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)["stylehunt"]
    assert record["prompt"] == prompt and record["guided"] and record["frames"] == 5 and record["fps"] == 16
    assert main(["show", "clip.baseline.mp4", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["stylehunt"]["guided"] is False
    assert main(["show", "clip.mp4"]) == 0
    again = next(line for line in capsys.readouterr().out.splitlines() if "as a command:" in line)
    args = shlex.split(again.split("as a command: ", 1)[1])
    assert args[args.index("--prompt") + 1] == prompt and args[-2:] == ["--out", "again.mp4"]
    assert args[args.index("--frames") + 1] == "5" and args[args.index("--fps") + 1] == "16"
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    code, err = run(["show", "bad.mp4"], monkeypatch)
    assert code == 1 and "bad.mp4: not a video ffmpeg can read" in err and "stylehunt generate wrote" in err


# ---------------------------------------------------------------------------------------- #18: Qwen-Image edit from the CLI


def test_generate_edits_an_image_with_qwen_image_as_a_user_types_it(tmp_path, monkeypatch, capsys):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    Image.effect_noise((64, 64), 60).convert("RGB").save(tmp_path / "photo.png")
    argv = ["generate", "--model", "tiny-qwenimage", "--heads", "0:1", "--image", "photo.png", "--edit",
            "--prompt", "make it red", "--steps", "1", "--out", "edited.png"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["show", "edited.png", "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)["stylehunt"]
    assert record["pipeline"] == "QwenImageEditPipeline" and record["edit"] is True and record["image"] == "photo.png"
    assert Image.open(tmp_path / "edited.png").size == (64, 64)


@pytest.mark.parametrize("args,words", [
    (["--edit"], "--edit edits --image as the prompt says; give --image too"),
    (["--image", "photo.png", "--mask", "photo.png", "--edit"], "Invalid value for '--mask': an edit pipeline takes neither"),
    (["--image", "photo.png", "--image-strength", "0.5", "--edit"], "Invalid value for '--image-strength': an edit pipeline"),
])
def test_edit_options_that_cannot_go_together_are_refused_before_loading(args, words, tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (64, 64)).save(tmp_path / "photo.png")
    code, err = run(["generate", "--model", "tiny-qwenimage", "--heads", "0:1", *args, "--prompt", "x", "--out", "e.png"],
                    monkeypatch)
    assert code == 2 and words in err, err
    assert not (tmp_path / "e.png").exists()


@pytest.mark.parametrize("fixture,words", [
    ("tiny_sd3_path", "Invalid value for '--edit': StableDiffusion3Pipeline has no edit pipeline that stylehunt guides"),
    ("tiny_qwenimage_path", "has no Qwen2-VL processor (no readable processor/ folder) for an edit pipeline"),
])
def test_edit_on_a_model_that_cannot_edit_is_refused_before_loading(fixture, words, request, tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (64, 64)).save(tmp_path / "photo.png")
    model = request.getfixturevalue(fixture)  # a folder saved without processor/, as Qwen/Qwen-Image ships
    code, err = run(["generate", "--model", model, "--heads", "0:1", "--image", "photo.png", "--edit", "--prompt", "x",
                     "--out", "e.png"], monkeypatch)
    assert code == 2 and words in err, err
    assert not (tmp_path / "e.png").exists()


def test_edit_on_a_model_without_an_edit_pipeline_or_processor_names_the_flag(tiny_sd3_path, tiny_qwenimage_path, tmp_path):
    import click
    from diffusers import DiffusionPipeline
    from PIL import Image

    from stylehunt.cli.image_inputs import image_pipeline

    image = Image.new("RGB", (64, 64))
    with pytest.raises(click.BadParameter, match="StableDiffusion3Pipeline has no edit pipeline that stylehunt guides"):
        image_pipeline(DiffusionPipeline.from_pretrained(tiny_sd3_path), image, None, None, edit=True, model="x")
    qwen = DiffusionPipeline.from_pretrained(tiny_qwenimage_path)  # saved without a processor/, as Qwen/Qwen-Image
    with pytest.raises(click.BadParameter, match="has no Qwen2-VL processor .* load a Qwen-Image-Edit model instead"):
        image_pipeline(qwen, image, None, None, edit=True, model=str(tiny_qwenimage_path))


def test_recorded_scores_whose_mean_would_overflow_are_refused(tmp_path):  # S84f
    from stylehunt.errors import SearchConfigError
    from stylehunt.headhunter.store import STATE_FORMAT, check_state

    unit = {"scores": [1e308, 1e308], "rows": 2, "process": 0, "seconds": 1.0}
    phase = {"sets": [[]], "pairs": "search", "steps": 1, "batch_size": 1, "units": {"0": unit}}
    state = {"state_format": STATE_FORMAT, "config_hash": "x", "config": {}, "status": "running", "phases": {"baseline": phase}}
    with pytest.raises(SearchConfigError, match=r"phases.baseline.units.0.scores: expected a list of finite numbers, got "
                                                r"\[1e\+308, 1e\+308\] \(each at most 1e\+300 in size\)"):
        check_state(state, tmp_path / "state.json")
    unit["scores"] = [1e300, -1e300]
    assert check_state(state, tmp_path / "state.json") is state
