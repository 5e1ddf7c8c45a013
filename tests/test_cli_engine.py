"""``stylehunt generate`` and ``stylehunt heads`` through the real entry point (with its error boundary)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from stylehunt.cli import main


def test_heads_table_and_json(tiny_sd35_path, capsys):
    assert main(["heads", "--model", str(tiny_sd35_path)]) == 0
    out = capsys.readouterr().out
    assert "3 attention layers, 12 heads" in out and "transformer_blocks.0.attn2" in out
    assert main(["heads", "--model", str(tiny_sd35_path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["num_layers"] == 3 and data["fingerprint"]["layer_kinds"] == [["image_text", 2], ["image", 1]]


def test_generate_writes_guided_and_baseline_images(tiny_sd3_path, tmp_path, capsys):
    out = tmp_path / "img" / "cat.png"
    argv = ["generate", "--model", str(tiny_sd3_path), "--heads", "0:1,1:2", "--heads", "1:0", "--strength", "0.5",
            "--scale", "4", "--prompt", "a cat", "--steps", "3", "--height", "64", "--width", "64", "--out", str(out),
            "--baseline"]
    assert main(argv) == 0
    printed = capsys.readouterr().out.split()
    baseline = tmp_path / "img" / "cat.baseline.png"
    assert printed == [str(out), str(baseline)]
    guided, plain = np.asarray(Image.open(out)), np.asarray(Image.open(baseline))
    assert guided.shape == plain.shape == (64, 64, 3)
    assert np.abs(guided.astype(int) - plain.astype(int)).max() > 0


def test_generate_on_the_embedded_default_model(tmp_path, capsys):
    out = tmp_path / "default.png"
    assert main(["generate", "--heads", "0:0", "--prompt", "a cat", "--steps", "2", "--height", "64", "--width", "64",
                 "--out", str(out)]) == 0
    assert out.exists()


def test_bad_head_is_one_line_and_exit_1(tiny_sd3_path, tmp_path, capsys):
    code = main(["generate", "--model", str(tiny_sd3_path), "--heads", "0:9", "--prompt", "x", "--out",
                 str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert code == 1
    assert "Error: " in err and "head 9 out of range for 4 heads in layer 0" in err and "Hint: " in err
    assert "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["generate", "--heads", "0x9", "--prompt", "x", "--out", str(tmp_path / "x.png")]) == 2
    assert "'0x9' is not LAYER:HEAD" in capsys.readouterr().err
    assert main(["generate", "--prompt", "x", "--out", str(tmp_path / "x.png")]) == 2
    assert "at least one --preset" in capsys.readouterr().err


def test_unloadable_model_names_it(tmp_path, capsys):
    assert main(["heads", "--model", str(tmp_path / "nowhere")]) == 1
    assert "nowhere" in capsys.readouterr().err


def test_generate_writes_the_format_its_suffix_names(tiny_sd3_path, tmp_path, capsys):
    out = tmp_path / "new" / "cat.jpg"
    assert main(["generate", "--model", str(tiny_sd3_path), "--heads", "0:1", "--prompt", "a cat", "--steps", "1",
                 "--height", "64", "--width", "72", "--out", str(out), "--baseline"]) == 0
    assert capsys.readouterr().out.split() == [str(out), str(tmp_path / "new" / "cat.baseline.jpg")]
    with Image.open(out) as image:
        assert image.format == "JPEG" and image.size == (72, 64)


def test_generate_replaces_a_planted_link_instead_of_writing_through_it(tiny_sd3_path, tmp_path):
    """--out (and its baseline) may be symlinks planted by someone else: the link is replaced, its target untouched."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"user data\n")
    out = tmp_path / "cat.png"
    out.symlink_to(victim)
    (tmp_path / "cat.baseline.png").symlink_to(victim)
    argv = ["generate", "--model", str(tiny_sd3_path), "--heads", "0:1", "--prompt", "a cat", "--steps", "1",
            "--height", "64", "--width", "64", "--out", str(out), "--baseline"]
    assert main(argv) == 0
    assert victim.read_bytes() == b"user data\n"
    for path in (out, tmp_path / "cat.baseline.png"):
        assert not path.is_symlink() and Image.open(path).size == (64, 64)


# --- video models (Wan): an mp4 and a contact sheet ------------------------------------------------------


def _read_video(path):
    """Frames and fps of an mp4, read back with the backend that wrote it (imageio's ffmpeg plugin)."""
    import imageio

    with imageio.get_reader(path, "ffmpeg") as reader:
        return np.stack([np.asarray(frame) for frame in reader]), reader.get_meta_data()["fps"]


def test_generate_on_tiny_wan_writes_an_mp4_and_a_contact_sheet(tiny_wan_path, tmp_path, capsys):
    """NAME.mp4 and NAME.baseline.mp4 (5 frames of 32 x 48 at --fps) and NAME.frames.png, the guided frames above
    the baseline's; links planted at all three names are replaced, their target untouched."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"user data\n")
    out, baseline, sheet = tmp_path / "clip.mp4", tmp_path / "clip.baseline.mp4", tmp_path / "clip.frames.png"
    for path in (out, baseline, sheet):
        path.symlink_to(victim)
    argv = ["generate", "--model", str(tiny_wan_path), "--heads", "0:1,1:2", "--scale", "4", "--prompt", "a cat",
            "--steps", "2", "--height", "32", "--width", "48", "--frames", "5", "--fps", "8", "--baseline",
            "--out", str(out)]
    assert main(argv) == 0
    assert capsys.readouterr().out.split() == [str(out), str(baseline), str(sheet)]
    assert victim.read_bytes() == b"user data\n" and not any(p.is_symlink() for p in (out, baseline, sheet))
    (guided, fps), (plain, _) = _read_video(out), _read_video(baseline)
    assert guided.shape == plain.shape == (5, 32, 48, 3) and fps == 8
    assert np.abs(guided.astype(int) - plain.astype(int)).max() > 0
    with Image.open(sheet) as image:  # all 5 frames (fewer than 8) in one row per video, plus labels
        assert 5 * 48 <= image.width < 5 * 48 + 80 and 2 * 32 <= image.height < 2 * 32 + 30


@pytest.mark.parametrize("model, flags, fragments", [
    ("wan", ["--out", "x.png"], ["'--out'", "WanPipeline makes videos; give --out NAME.mp4", "NAME.frames.png"]),
    ("wan", ["--frames", "6", "--out", "x.mp4"], ["'--frames'", "6 is not 1 plus a multiple of 4", "use 5 or 9"]),
    ("sd3", ["--frames", "5", "--out", "x.mp4"], ["'--frames'", "StableDiffusion3Pipeline makes images", "drop --frames"]),
    ("sd3", ["--out", "x.mp4"], ["'--out'", "StableDiffusion3Pipeline makes images, not videos", "NAME.png"]),
    ("sd3", ["--fps", "8", "--out", "x.png"], ["'--fps'", "--fps is for videos, but --out x.png names an image"]),
])
def test_video_flags_with_an_image_model_and_image_outputs_with_a_video_model_are_refused(
        model, flags, fragments, request, tmp_path, capsys):
    path = request.getfixturevalue(f"tiny_{model}_path")
    argv = ["generate", "--model", str(path), "--heads", "0:1", "--prompt", "a cat", "--steps", "1", "--height", "32",
            "--width", "32", *[str(tmp_path / f) if f.startswith("x.") else f for f in flags]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert all(f in err for f in fragments), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]  # nothing written


def test_an_mp4_without_the_video_extra_is_refused_before_loading(tmp_path, capsys, monkeypatch):
    import sys

    import stylehunt.models

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as if `stylehunt[video]` were not installed
    monkeypatch.setattr(stylehunt.models, "load_pipeline", lambda *a, **k: pytest.fail("the model was loaded"))
    argv = ["generate", "--model", "tiny-wan", "--heads", "0:1", "--prompt", "a cat", "--out", str(tmp_path / "x.mp4")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "writing an mp4 video needs imageio and imageio-ffmpeg" in err and "pip install 'stylehunt[video]'" in err
