"""What users of LoRA tools expect from ``generate``, run as they type it (issue 18): run folders as
presets, parameters in the PNG read back by ``show``, ``--preset REF:u``, sweeps into a grid, several
seeds, ``--save-preset``.

Commands go through the real entry point (``stylehunt.cli.main``, with its error boundary) on the
tiny SD3 model built offline (the default ``--model``); ``--steps``/``--height``/``--width`` only
keep them fast.
"""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest
from PIL import Image

import stylehunt
from stylehunt.cli import main
from stylehunt.headhunter.report import _LABEL_H, _PAD

FAST = ["--steps", "2", "--height", "64", "--width", "64"]


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if a command loads a model (for refusals that must come first)."""

    def load(*a, **k):
        raise AssertionError("the model was loaded before the bad input was refused")

    monkeypatch.setattr("stylehunt.models.load_pipeline", load)


# --- run folders are references -------------------------------------------------------------------------


def test_a_search_run_folder_is_a_preset_everywhere_and_search_prints_the_command(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prompts.txt").write_text("a red house\na small dog\n")
    code, out, err = _run(capsys, "search", "--model", "tiny-sd3", "--objective", "brightness", "--prompts",
                          "prompts.txt", "--num-prompts", 2, "--num-heldout", 0, "--rounds", 1, "--per-round", 1,
                          "--steps", 2, "--resolution", 64, "--out", "runs/bright")
    assert code == 0, err
    assert "run folder: runs/bright" in out
    line = next(l for l in out.splitlines() if l.startswith("use it:"))
    command = shlex.split(line[len("use it:"):])
    assert command[:2] == ["stylehunt", "generate"] and command[command.index("--preset") + 1] == "runs/bright"
    assert command[command.index("--prompt") + 1] == "a red house" and command[command.index("--model") + 1] == "tiny-sd3"

    code, out, err = _run(capsys, *command[1:], *FAST)  # the printed command, as a user pastes it
    assert code == 0, err
    written = tmp_path / command[command.index("--out") + 1]
    assert out.split() == [str(written.relative_to(tmp_path))] and written.is_file()

    code, out, err = _run(capsys, "show", "runs/bright")
    assert code == 0, err
    saved = stylehunt.Preset.from_file(tmp_path / "runs" / "bright")
    assert f"{saved.name} {saved.version}" in out and f"source:       runs/bright" in out

    from stylehunt.tiny import load_tiny_pipeline

    pipe = load_tiny_pipeline("sd3")
    stylehunt.apply(pipe, "runs/bright")  # the Python API takes it too
    assert stylehunt.get_applied(pipe).presets[0].heads == saved.heads
    stylehunt.remove(pipe)


def test_a_folder_without_a_preset_file_is_still_a_registry_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny-sd3" / "warm").mkdir(parents=True)  # an empty folder does not shadow the registry preset
    code, out, err = _run(capsys, "show", "tiny-sd3/warm")
    assert code == 0, err and "bundled with stylehunt" in out
    (tmp_path / "runs" / "half").mkdir(parents=True)
    code, _, err = _run(capsys, "show", "runs/half")
    assert code == 1 and "runs/half is a folder here but holds no stylehunt_preset.json" in err
    assert "stylehunt search --resume runs/half" in err


# --- parameters in the PNG ------------------------------------------------------------------------------


def test_png_records_its_parameters_and_show_reads_them_back_as_a_command(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, "generate", "--preset", "tiny-sd3/warm:0.6", "--prompt", "a cat, at dusk",
                          "--negative-prompt", "blurry", "--guidance-scale", "2", "--seed", "7", "--out", "cat.png",
                          "--baseline", *FAST)
    assert code == 0, err
    with Image.open(tmp_path / "cat.png") as image:
        text = dict(image.text)
    record = json.loads(text["stylehunt"])
    assert record["presets"][0] | {"heads": None} == {"ref": "tiny-sd3/warm", "name": "tiny-sd3/warm", "version": "1.0.0",
                                                      "heads": None, "strength": 0.6}
    assert (record["seed"], record["steps"], record["width"], record["model"]) == (7, 2, 64, "tiny-sd3")
    assert (record["scale"], record["guidance_scale"], record["negative_prompt"]) == (3.0, 2.0, "blurry")
    # A1111's layout: the prompt, "Negative prompt:", then "Key: value" pairs (a value holding ',' quoted)
    lines = text["parameters"].splitlines()
    assert lines[:2] == ["a cat, at dusk", "Negative prompt: blurry"]
    assert "Steps: 2, Seed: 7, Size: 64x64, Model: tiny-sd3, CFG scale: 2, Style presets: tiny-sd3/warm@1.0.0:0.6, " \
           "Style scale: 3" in lines[2]

    code, out, err = _run(capsys, "show", "cat.png")
    assert code == 0, err
    assert "tiny-sd3/warm@1.0.0  u=0.6" in out and "seed:         7" in out and "negative:     blurry" in out
    again = shlex.split(next(l for l in out.splitlines() if "as a command:" in l).split("as a command:")[1])
    code, _, err = _run(capsys, *again[1:])  # the command show prints makes the same image
    assert code == 0, err
    assert np.array_equal(_pixels(tmp_path / "again.png"), _pixels(tmp_path / "cat.png"))
    code, out, _ = _run(capsys, "show", "cat.baseline.png")
    assert "baseline (unguided twin of)" in out
    code, out, _ = _run(capsys, "show", "cat.png", "--format", "json")
    assert json.loads(out)["stylehunt"] == record


def test_the_first_command_a_user_types_with_no_other_flag(tmp_path, monkeypatch, capsys):
    """No --steps, no size, no --model: the defaults (20 steps at tiny-sd3's own 256 px)."""
    monkeypatch.chdir(tmp_path)
    assert _run(capsys, "generate", "--preset", "tiny-sd3/warm:0.6", "--prompt", "a cat", "--out", "cat.png")[0] == 0
    code, out, err = _run(capsys, "show", "cat.png")
    assert code == 0, err
    assert "tiny-sd3/warm@1.0.0  u=0.6" in out and "steps:        20" in out and "size:         256x256" in out


def test_show_reads_another_tools_parameters_and_refuses_images_without_any(tmp_path, monkeypatch, capsys):
    from PIL.PngImagePlugin import PngInfo

    monkeypatch.chdir(tmp_path)
    info = PngInfo()
    info.add_text("parameters", "a house\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1")
    Image.new("RGB", (8, 8)).save("a1111.png", pnginfo=info)
    code, out, _ = _run(capsys, "show", "a1111.png")
    assert code == 0 and "parameters written by another tool" in out and "Sampler: Euler a" in out
    Image.new("RGB", (8, 8)).save("plain.png")
    Image.new("RGB", (8, 8)).save("photo.jpg")
    code, _, err = _run(capsys, "show", "plain.png")
    assert code == 1 and "plain.png: no generation parameters in this PNG" in err and "Traceback" not in err
    code, _, err = _run(capsys, "show", "gone.png")
    assert code == 1 and "gone.png: no such image file" in err
    code, _, err = _run(capsys, "show", "photo.jpg")
    assert code == 1 and "a JPEG image; generation parameters are read from PNG files" in err


# --- --preset REF:u, several presets, reversed style ----------------------------------------------------


def test_preset_strength_suffix_is_the_strength_flag_and_several_presets_mix(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    base = ["generate", "--prompt", "a cat", *FAST]
    assert _run(capsys, *base, "--preset", "tiny-sd3/warm:0.4", "--out", "suffix.png")[0] == 0
    assert _run(capsys, *base, "--preset", "tiny-sd3/warm", "--strength", "0.4", "--out", "flag.png")[0] == 0
    assert _run(capsys, *base, "--preset", "tiny-sd3/warm", "--out", "default.png")[0] == 0
    assert np.array_equal(_pixels("suffix.png"), _pixels("flag.png"))
    assert not np.array_equal(_pixels("suffix.png"), _pixels("default.png"))  # the preset's own u is 1
    # REF:u keeps its own u; --strength sets the others
    code, _, err = _run(capsys, *base, "--preset", "tiny-sd3/warm:0.4", "--heads", "1:2", "--strength", "0.7",
                        "--out", "two.png")
    assert code == 0, err
    record = json.loads(Image.open("two.png").text["stylehunt"])
    assert [p["strength"] for p in record["presets"]] == [0.4, 0.7]


@pytest.mark.parametrize("argv, message", [
    (["--heads", "0:1", "--scale", "-2"], "a negative w moves every step toward the perturbed prediction"),
    (["--heads", "0:1", "--scale", "1,-1"], "-1: a negative w"),
    (["--preset", "tiny-sd3/warm:-0.5"], "the strength after ':' is u, the weight of the mix (1-u)A + uI"),
    (["--preset", "tiny-sd3/warm:1.5"], "must be in [0, 1]"),
    (["--heads", "0:1", "--strength", "-0.1"], "u is the weight of the mix"),
    (["--preset", "tiny-sd3/warm:0.5", "--strength", "0.2,0.4"], "drop the ':u' from --preset"),
    (["--preset", "tiny-sd3/warm:0.5", "--heads", "1:2", "--strength", "0.2", "--strength", "0.3"], "not both"),
    (["--heads", "0:1", "--seeds", "3-1"], "a range runs upward (write 1-3)"),
    (["--heads", "0:1", "--seeds", "0-2", "--num-images", "2"], "leave out --num-images"),
    (["--heads", "0:1", "--seeds", "1,x"], "'x' is not a whole number"),
    (["--heads", "0:1", "--seeds", "0-999"], "at most 256"),
    (["--heads", "0:1", "--num-images", "20", "--strength", "0.1,0.2,0.3,0.4,0.5", "--scale", "1,2,3"],
     "would sample 300 images"),
])
def test_bad_strengths_scales_and_seeds_are_refused_before_loading(argv, message, tmp_path, capsys, no_model):
    code, _, err = _run(capsys, "generate", *argv, "--prompt", "x", "--out", tmp_path / "x.png")
    assert code == 2, err
    assert message in " ".join(err.split()) and "Traceback" not in err
    assert not list(tmp_path.glob("*.png"))


def test_a_registry_name_never_takes_a_colon_but_a_file_named_so_is_taken_whole(tmp_path, monkeypatch, capsys):
    from stylehunt.cli.generate_args import split_preset_strength

    assert split_preset_strength("hf-hub:owner/repo@v1.0.0:0.5") == ("hf-hub:owner/repo@v1.0.0", 0.5)
    assert split_preset_strength("hf-hub:owner/repo") == ("hf-hub:owner/repo", None)
    assert split_preset_strength("C:\\presets\\a.json") == ("C:\\presets\\a.json", None)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "odd:0.5").mkdir()
    assert split_preset_strength("odd:0.5") == ("odd:0.5", None)


# --- sweeps and seeds -----------------------------------------------------------------------------------


def test_strength_and_scale_sweep_make_one_labelled_grid_of_the_single_images(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, "generate", "--heads", "0:1,1:2", "--strength", "0.2,0.8", "--scale", "1,4",
                          "--prompt", "a cat", "--out", "grid.png", *FAST)
    assert code == 0, err and out.split() == ["grid.png"]
    grid = _pixels("grid.png")
    left = 48
    assert grid.shape == (_LABEL_H + 2 * (64 + _PAD) + _PAD, left + 2 * (64 + _PAD) + _PAD, 3)
    for (row, w), (col, u) in [((0, "1"), (0, "0.2")), ((1, "4"), (1, "0.8"))]:  # two opposite corners
        if True:
            single = f"u{u}-w{w}.png"
            assert _run(capsys, "generate", "--heads", "0:1,1:2", "--strength", u, "--scale", w, "--prompt", "a cat",
                        "--out", single, *FAST)[0] == 0
            top, x = _LABEL_H + _PAD + row * (64 + _PAD), left + _PAD + col * (64 + _PAD)
            assert np.array_equal(grid[top:top + 64, x:x + 64], _pixels(single)), (u, w)
    record = json.loads(Image.open("grid.png").text["stylehunt"])
    assert record["grid"] == {"strength": [0.2, 0.8], "scale": [1.0, 4.0]}
    code, out, _ = _run(capsys, "show", "grid.png")
    assert "u=(grid)" in out and "grid strength: 0.2, 0.8" in out and "scale w:      (grid)" in out
    again = shlex.split(next(l for l in out.splitlines() if "as a command:" in l).split("as a command:")[1])
    assert "0.2,0.8" in again and "1,4" in again
    assert _run(capsys, *again[1:])[0] == 0 and np.array_equal(_pixels("again.png"), grid)  # the same grid again
    label_row = _LABEL_H + _PAD + 64 // 2 - 5  # where tile() writes a row's label
    assert (grid[label_row:label_row + 10, :left] < 128).any() and (grid[:_LABEL_H, left:] < 128).any()  # labels drawn


def test_seeds_and_num_images_write_one_predictable_file_per_seed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, "generate", "--heads", "0:1", "--prompt", "a cat", "--seeds", "0-1,5",
                          "--baseline", "--out", "cat.png", *FAST)
    assert code == 0, err
    assert out.split() == ["cat-0.png", "cat-0.baseline.png", "cat-1.png", "cat-1.baseline.png", "cat-5.png",
                           "cat-5.baseline.png"]
    code, out, err = _run(capsys, "generate", "--heads", "0:1", "--prompt", "a cat", "--seed", "5", "--num-images",
                          "2", "--out", "n.png", *FAST)
    assert code == 0, err and out.split() == ["n-5.png", "n-6.png"]
    assert np.array_equal(_pixels("n-5.png"), _pixels("cat-5.png"))
    assert not np.array_equal(_pixels("n-5.png"), _pixels("n-6.png"))
    assert json.loads(Image.open("n-6.png").text["stylehunt"])["seed"] == 6


def test_an_output_name_that_is_a_folder_is_refused_before_loading(tmp_path, monkeypatch, capsys, no_model):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cat-1.png").mkdir()
    code, _, err = _run(capsys, "generate", "--heads", "0:1", "--prompt", "x", "--num-images", "2", "--out", "cat.png")
    assert code == 1 and "cat-1.png would be written, but it is a folder" in err


# --- --save-preset --------------------------------------------------------------------------------------


def test_save_preset_writes_the_heads_with_the_strength_and_scale_used(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, "generate", "--heads", "0:1,1:2", "--strength", "0.5", "--scale", "4", "--prompt",
                          "a cat", "--out", "adhoc.png", "--save-preset", "mine.json", *FAST)
    assert code == 0, err and out.split() == ["adhoc.png", "mine.json"]
    saved = stylehunt.Preset.from_file("mine.json")
    assert (saved.heads, saved.strength, saved.scale, saved.model) == (((0, 1), (1, 2)), 0.5, 4.0, "tiny-sd3")
    assert saved.name == "mine" and saved.fingerprint["num_layers"] == 2
    code, _, err = _run(capsys, "generate", "--preset", "mine.json", "--prompt", "a cat", "--out", "again.png", *FAST)
    assert code == 0, err
    assert np.array_equal(_pixels("again.png"), _pixels("adhoc.png"))


@pytest.mark.parametrize("argv, message", [
    (["--heads", "0:1", "--heads", "1:0", "--save-preset", "a.json"], "but 2 --heads were given"),
    (["--heads", "0:1", "--scale", "1,2", "--save-preset", "a.json"], "give the one to save"),
    (["--heads", "0:1", "--save-preset", "a.yaml"], "a preset file ends in .json"),
])
def test_save_preset_refusals_come_before_loading(argv, message, tmp_path, capsys, no_model):
    code, _, err = _run(capsys, "generate", *argv, "--prompt", "x", "--out", tmp_path / "x.png")
    assert code == 2 and message in err


# --- img2img, inpainting, reference images --------------------------------------------------------------


def _record(path) -> dict:
    with Image.open(path) as image:
        return json.loads(image.text["stylehunt"])


def test_image_and_mask_switch_to_the_img2img_and_inpaint_pipelines_and_stay_guided(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 80, 3), dtype=np.uint8)).save("start.png")
    Image.fromarray(np.full((48, 80, 3), 200, dtype=np.uint8)).save("grey.png")
    mask = np.zeros((48, 80), dtype=np.uint8)
    mask[:, 40:] = 255
    Image.fromarray(mask).save("mask.png")
    base = ["generate", "--heads", "0:1,1:2", "--prompt", "a cat", "--steps", "2"]
    code, out, err = _run(capsys, *base, "--image", "start.png", "--image-strength", "0.5", "--out", "i2i.png",
                          "--baseline")
    assert code == 0, err
    record = _record("i2i.png")
    assert record["pipeline"] == "StableDiffusion3Img2ImgPipeline" and record["image_strength"] == 0.5
    assert (record["width"], record["height"]) == (80, 48)  # the input image's size by default
    assert not np.array_equal(_pixels("i2i.png"), _pixels("i2i.baseline.png"))  # guidance acts on img2img
    assert _run(capsys, *base, "--image", "grey.png", "--image-strength", "0.5", "--out", "grey-out.png")[0] == 0
    assert not np.array_equal(_pixels("grey-out.png"), _pixels("i2i.png"))  # the image is used
    code, out, err = _run(capsys, "show", "i2i.png")
    assert "StableDiffusion3Img2ImgPipeline" in out and "--image start.png --image-strength 0.5" in out

    code, out, err = _run(capsys, *base, "--image", "start.png", "--mask", "mask.png", "--out", "inpaint.png",
                          "--baseline")
    assert code == 0, err
    assert _record("inpaint.png")["pipeline"] == "StableDiffusion3InpaintPipeline"
    assert _record("inpaint.png")["mask"] == "mask.png"
    assert not np.array_equal(_pixels("inpaint.png"), _pixels("inpaint.baseline.png"))


@pytest.mark.parametrize("family, pipeline", [("flux", "FluxImg2ImgPipeline"), ("qwenimage", "QwenImageImg2ImgPipeline")])
def test_img2img_on_other_families(family, pipeline, request, tmp_path, capsys):
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "s.png")
    out = tmp_path / "o.png"
    code, _, err = _run(capsys, "generate", "--model", request.getfixturevalue(f"tiny_{family}_path"), "--heads", "0:1",
                        "--prompt", "a cat", "--steps", "2", "--image", tmp_path / "s.png", "--out", out, "--baseline")
    assert code == 0, err
    assert _record(out)["pipeline"] == pipeline
    assert not np.array_equal(_pixels(out), _pixels(tmp_path / "o.baseline.png"))


def test_flux2_takes_image_as_a_reference_and_refuses_a_strength_for_it(tiny_flux2_path, tmp_path, capsys):
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "r.png")
    out = tmp_path / "o.png"
    base = ["generate", "--model", tiny_flux2_path, "--heads", "0:1", "--prompt", "a cat", "--steps", "2", "--image",
            tmp_path / "r.png", "--out", out]
    code, _, err = _run(capsys, *base, "--image-strength", "0.5")
    assert code == 2 and "Flux2KleinPipeline takes --image as a reference image" in err and not out.exists()
    code, _, err = _run(capsys, *base)
    assert code == 0, err and _record(out)["pipeline"] == "Flux2KleinPipeline" and _record(out)["image"]


@pytest.mark.parametrize("argv, message", [
    (["--mask", "{m}"], "--mask marks what to repaint in --image; give --image too"),
    (["--image-strength", "0.5"], "give --image too"),
    (["--image", "{i}", "--image-strength", "0"], "0<x<=1"),
    (["--image", "{i}", "--mask", "{small}"], "the mask is 8x8 px but --image is 16x16 px"),
    (["--image", "{txt}"], "not an image PIL can read"),
])
def test_image_option_refusals_come_before_loading(argv, message, tmp_path, capsys, no_model):
    Image.new("RGB", (16, 16)).save(tmp_path / "i.png")
    Image.new("L", (16, 16)).save(tmp_path / "m.png")
    Image.new("L", (8, 8)).save(tmp_path / "small.png")
    (tmp_path / "t.txt").write_text("not an image")
    names = {"i": tmp_path / "i.png", "m": tmp_path / "m.png", "small": tmp_path / "small.png", "txt": tmp_path / "t.txt"}
    argv = [a.format(**names) for a in argv]
    code, _, err = _run(capsys, "generate", "--heads", "0:1", "--prompt", "x", *argv, "--out", tmp_path / "x.png")
    assert code == 2 and message in err, err


def test_a_family_without_an_image_pipeline_is_refused_naming_it(tiny_wan_path, tmp_path, capsys):
    Image.new("RGB", (16, 16)).save(tmp_path / "i.png")
    code, _, err = _run(capsys, "generate", "--model", tiny_wan_path, "--heads", "0:1", "--prompt", "x", "--image",
                        tmp_path / "i.png", "--out", tmp_path / "v.mp4")
    assert code == 2 and "WanPipeline has no image-to-image (--image) pipeline that stylehunt guides" in err
    assert not list(tmp_path.glob("v*"))


# --- local scorer weights as search flags ---------------------------------------------------------------

from tests.test_objectives import tiny_aesthetic, tiny_open_clip  # noqa: E402,F401  (module-scoped fixtures)


def test_search_scores_with_local_scorer_weights_given_as_flags(tiny_open_clip, tiny_aesthetic, tmp_path, monkeypatch,
                                                                capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may come from the Hub
    (tmp_path / "prompts.txt").write_text("a red house\na small dog\n")
    weights, _ = tiny_aesthetic
    code, out, err = _run(capsys, "search", "--model", "tiny-sd3", "--objective", "aesthetic", "--clip-model",
                          f"local-dir:{tiny_open_clip}", "--aesthetic-weights", weights, "--prompts", "prompts.txt",
                          "--num-prompts", 2, "--num-heldout", 0, "--rounds", 1, "--per-round", 1, "--layers", 0,
                          "--steps", 2, "--resolution", 64, "--out", "runs/pretty")
    assert code == 0, err
    scorer = stylehunt.Preset.from_file("runs/pretty").provenance["settings"]["objective"]
    assert scorer["weights"] == str(weights) and scorer["clip_model"] == f"local-dir:{tiny_open_clip}"


def test_a_scorer_flag_for_a_term_the_objective_lacks_is_refused(tmp_path, capsys, no_model):
    code, _, err = _run(capsys, "search", "--model", "tiny-sd3", "--objective", "brightness", "--aesthetic-weights",
                        tmp_path / "mlp.pth", "--resolution", 64, "--out", tmp_path / "run")
    assert code == 2 and "'--aesthetic-weights'" in err and "--objective brightness does not use" in err
    assert not (tmp_path / "run").exists()


def test_video_seeds_write_one_mp4_each_and_the_contact_sheet_carries_the_parameters(tiny_wan_path, tmp_path, capsys):
    out = tmp_path / "clip.mp4"
    code, printed, err = _run(capsys, "generate", "--model", tiny_wan_path, "--heads", "0:1", "--prompt", "a cat",
                              "--steps", "2", "--height", "32", "--width", "48", "--frames", "5", "--num-images", "2",
                              "--out", out)
    assert code == 0, err
    assert printed.split() == [str(tmp_path / n) for n in ("clip-0.mp4", "clip-0.frames.png", "clip-1.mp4",
                                                            "clip-1.frames.png")]
    record = _record(tmp_path / "clip-1.frames.png")
    assert (record["seed"], record["width"], record["height"], record["pipeline"]) == (1, 48, 32, "WanPipeline")
    code, printed, _ = _run(capsys, "show", tmp_path / "clip-1.frames.png")
    assert code == 0 and "seed:         1" in printed
    code, _, err = _run(capsys, "generate", "--model", tiny_wan_path, "--heads", "0:1", "--prompt", "a cat",
                        "--scale", "1,2", "--out", tmp_path / "sweep.mp4")
    assert code == 2 and "a video model writes an mp4; run one command per value" in err
