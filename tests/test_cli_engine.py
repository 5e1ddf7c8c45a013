"""``stylehunt generate`` and ``stylehunt heads`` through the real entry point (with its error boundary)."""

from __future__ import annotations

import json

import numpy as np
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
