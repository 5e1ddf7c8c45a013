"""Bad input through the CLI as a user types it: a clear message naming the flag, never a traceback,
and no file created or changed.

Each case runs ``python -m stylehunt`` in a fresh process with its own HOME and an offline Hub, in a
work folder holding a file the command must leave alone. Exit 2 is a wrong command line (click's
usage error naming the flag); exit 1 is everything else (the environment, the model, the result).
The tiny SD3 model is built once per module into a shared ``STYLEHUNT_CACHE``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
import torch

from stylehunt.cli import EXIT_INTERRUPTED, app, main
from stylehunt.engine.heads import SUPPORTED_TRANSFORMERS
from stylehunt.errors import DeviceError, StylehuntError, UnsupportedModelError
from stylehunt.models import check_device, load_transformer_skeleton
from stylehunt.tiny import tiny_pipeline_path

KEEP = b"\x89PNG\r\n\x1a\n a file the command must not touch"


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A STYLEHUNT_CACHE with tiny-sd3 already built, shared by every test of the module."""
    root = tmp_path_factory.mktemp("stylehunt-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STYLEHUNT_CACHE", str(root))
        tiny_pipeline_path("sd3")
    return root


@pytest.fixture
def work(tmp_path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "keep.png").write_bytes(KEEP)
    return folder


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (``None`` for a folder)."""
    return {str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes() for p in sorted(folder.rglob("*"))}


def run(args: list[str], cwd: Path, cache: Path, **env: str) -> subprocess.CompletedProcess:
    home = cwd.parent / "home"
    home.mkdir(exist_ok=True)
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "HF_HOME": str(home / "hf"),
            "HF_HUB_OFFLINE": "1", "STYLEHUNT_CACHE": str(cache), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "stylehunt", *args], capture_output=True, text=True,
                          env={**base, **env}, cwd=cwd, timeout=300)


def generate(out: str = "out.png", *extra: str) -> list[str]:
    return ["generate", "--model", "tiny-sd3", "--heads", "0:1", "--prompt", "a cat", "--steps", "1",
            "--height", "64", "--width", "64", "--out", out, *extra]


def check_refused(proc: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert "Error: " in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)
    if code == 1:  # one Error line and one Hint line
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 2 and lines[1].startswith("Hint: "), proc.stderr


GENERATE_CASES = {
    # id: (extra args, exit code, what the message must say)
    "steps-negative": (["--steps", "-1"], 2, ["'--steps'", "-1 is not in the range x>=1"]),
    "steps-zero": (["--steps", "0"], 2, ["'--steps'", "0 is not in the range x>=1"]),
    "height-zero": (["--height", "0"], 2, ["'--height'", "0 is not in the range x>=1"]),
    "height-not-a-multiple": (["--height", "65"], 2, ["'--height'", "65 is not a multiple of 8", "use 64 or 72"]),
    "width-not-a-multiple": (["--width", "100"], 2, ["'--width'", "100 is not a multiple of 8", "use 96 or 104"]),
    "true-cfg-on-sd3": (["--true-cfg-scale", "4", "--negative-prompt", "blur"], 2,
                        ["'--true-cfg-scale'", "StableDiffusion3Pipeline has no true CFG"]),
    "true-cfg-without-negative": (["--true-cfg-scale", "4"], 2, ["'--true-cfg-scale'", "--negative-prompt"]),
    "negative-prompt-on-flux2-klein": (["--model", "tiny-flux2", "--negative-prompt", "blur"], 2,
                                       ["'--negative-prompt'", "Flux2KleinPipeline takes no negative prompt"]),
    "scale-nan": (["--scale", "nan"], 2, ["'--scale'", "nan is not a finite number >= 0"]),
    "scale-negative": (["--scale", "-1"], 2, ["'--scale'", "a negative w moves every step toward the perturbed"]),
    "strength-above-one": (["--strength", "1.5"], 2, ["'--strength'", "1.5 is not a finite number in [0, 1]"]),
    "start-after-stop": (["--start", "0.6", "--stop", "0.4"], 2, ["'--start' / '--stop'", "0.6 must be below"]),
    "seed-too-large": (["--seed", str(2**64)], 2, ["'--seed'", "not a 64-bit seed"]),
    "scale-overflows": (["--scale", "1e300"], 1, ["--scale 1e+300", "non-finite", "at step 1 of 1", "lower --scale"]),
    "guidance-scale-overflows": (["--guidance-scale", "1e300"], 1, ["--guidance-scale 1e+300", "non-finite"]),
}


@pytest.mark.parametrize("case", GENERATE_CASES)
def test_generate_refuses_bad_options(case, work, cache):
    extra, code, fragments = GENERATE_CASES[case]
    before = snapshot(work)
    proc = run(generate("sub/out.png", *extra), work, cache)
    check_refused(proc, code, *fragments)
    assert snapshot(work) == before  # no out.png, no sub/, keep.png untouched


@pytest.mark.parametrize("out, fragments", [
    ("x.xyz", ["'--out'", "'.xyz' is not an image format PIL can write", "use .png"]),
    ("noext", ["'--out'", "noext: it has no image suffix"]),
])
def test_generate_refuses_an_unknown_image_suffix(out, fragments, work, cache):
    before = snapshot(work)
    check_refused(run(generate(out), work, cache), 2, *fragments)
    assert snapshot(work) == before


def test_generate_refuses_an_out_folder_it_cannot_create(work, cache):
    before = snapshot(work)
    proc = run(generate("keep.png/sub/out.png"), work, cache)
    check_refused(proc, 1, "--out keep.png/sub/out.png", f"cannot write to {work / 'keep.png'}", "not a folder")
    assert snapshot(work) == before


def test_generate_refuses_a_read_only_out_folder(work, cache):
    """A folder this user cannot write to: a read-only one, or (root writes through permissions) /proc/sys."""
    if os.geteuid() != 0:
        locked, out = work / "locked", "locked/out.png"
        locked.mkdir()
        locked.chmod(0o555)
    else:
        locked, out = Path("/proc/sys"), "/proc/sys/out.png"
        assert not os.access(locked, os.W_OK), "this test needs a folder root cannot write to"
    try:
        before = snapshot(work)
        check_refused(run(generate(out), work, cache), 1, f"--out {out}", "permission denied")
        assert snapshot(work) == before
    finally:
        if locked.is_relative_to(work):
            locked.chmod(0o755)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_generate_refuses_a_missing_gpu_before_loading(work, cache):
    before = snapshot(work)
    check_refused(run(generate("out.png", "--device", "cuda"), work, cache), 1,
                  "--device cuda: no CUDA device is available", "torch.cuda.is_available() is False")
    check_refused(run(generate("out.png", "--device", "gpu"), work, cache), 1, "--device gpu: not a torch device")
    assert snapshot(work) == before


def test_an_unwritable_cache_names_the_path_and_the_setting(work):
    before = snapshot(work)
    proc = run(generate("out.png"), work, cache=work / "keep.png" / "cache")
    check_refused(proc, 1, f"Not a directory: {work / 'keep.png' / 'cache'}", "set STYLEHUNT_CACHE to a folder")
    assert snapshot(work) == before


def test_heads_refuses_an_unknown_transformer_class(work, cache):
    config = json.loads((cache / "tiny" / "sd3-v1" / "transformer" / "config.json").read_text())
    (work / "model" / "transformer").mkdir(parents=True)
    (work / "model" / "transformer" / "config.json").write_text(json.dumps({**config, "_class_name": "Bogus"}))
    before = snapshot(work)
    proc = run(["heads", "--model", "model"], work, cache)
    check_refused(proc, 1, "unsupported transformer class 'Bogus'", "SD3Transformer2DModel, FluxTransformer2DModel")
    assert snapshot(work) == before


@pytest.mark.parametrize("bogus", ["Bogus", "__class__", "UNet2DModel", None])
def test_a_transformer_skeleton_is_built_only_for_a_model_class(bogus, tmp_path, tiny_sd3_path):
    config = json.loads((tiny_sd3_path / "transformer" / "config.json").read_text())
    (tmp_path / "transformer").mkdir()
    (tmp_path / "transformer" / "config.json").write_text(json.dumps({**config, "_class_name": bogus}))
    with pytest.raises(UnsupportedModelError, match="supported: SD3Transformer2DModel, FluxTransformer2DModel"):
        load_transformer_skeleton(tmp_path, supported=SUPPORTED_TRANSFORMERS)
    if bogus != "UNet2DModel":  # a real diffusers model class is built when the caller has no list
        with pytest.raises(UnsupportedModelError, match="not a diffusers model class"):
            load_transformer_skeleton(tmp_path)


# --- the boundary itself, in-process -------------------------------------------------------------------


@pytest.fixture
def command(monkeypatch):
    """``command(exc)`` registers ``stylehunt boom``, which raises ``exc``."""

    def register(exc: BaseException) -> None:
        def boom():
            raise exc

        monkeypatch.setitem(app.cli.commands, "boom", click.Command("boom", callback=boom))

    monkeypatch.delenv("STYLEHUNT_DEBUG", raising=False)
    return register


def test_an_unexpected_error_is_reported_as_a_bug_without_a_traceback(command, capsys, monkeypatch):
    command(RuntimeError("tensor shapes disagree\nsecond line"))
    assert main(["boom"]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "Error: unexpected RuntimeError: tensor shapes disagree",
        "Hint: this is a bug in stylehunt; please report it with the command you ran and what STYLEHUNT_DEBUG=1 prints",
    ]
    monkeypatch.setenv("STYLEHUNT_DEBUG", "1")
    with pytest.raises(RuntimeError, match="tensor shapes disagree"):
        main(["boom"])


def test_os_errors_name_the_path_and_a_fix(command, capsys):
    command(PermissionError(13, "Permission denied", "/data/run/grid.png"))
    assert main(["boom"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "Error: Permission denied: /data/run/grid.png",
        "Hint: check the permissions of /data/run/grid.png, or choose a location you can write to",
    ]
    command(OSError(28, "No space left on device", "/data/run/state.json"))
    assert main(["boom"]) == 1
    err = capsys.readouterr().err
    assert "Error: No space left on device: /data/run/state.json" in err and "free some disk space" in err
    command(ConnectionResetError(104, "Connection reset by peer"))
    assert main(["boom"]) == 1
    assert "network error" in capsys.readouterr().err


def test_messages_of_outside_origin_are_escaped(command, capsys):
    command(StylehuntError("preset 'warm\x1b[2J' is bad\nHint: forged", hint="fix\x07 it"))
    assert main(["boom"]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    assert err.splitlines() == ["Error: preset 'warm\\x1b[2J' is bad\\nHint: forged", "Hint: fix\\x07 it"]
    assert main(["boom", "--bad\x1b[2Jflag"]) == 2
    err = capsys.readouterr().err
    assert "--bad\\x1b[2Jflag" in err and "\x1b" not in err


def test_library_params_are_the_commands_own_flags():
    """The flags a command declares for library parameters (`flagnames.library_params`) are its options."""
    from stylehunt.cli import cli
    from stylehunt.cli.flagnames import flag_map

    declared = {name: flag_map(command) for name, command in cli.commands.items() if flag_map(command)}
    assert {"search", "atlas", "publish", "submit", "list"} <= set(declared)
    for name, flags in declared.items():
        options = {o for p in cli.commands[name].params for o in p.opts}
        assert set(flags.values()) <= options, (name, set(flags.values()) - options)


def test_ctrl_c_is_aborted_with_130_and_a_broken_pipe_is_quiet(command, capsys):
    command(KeyboardInterrupt())
    assert main(["boom"]) == EXIT_INTERRUPTED == 130
    assert capsys.readouterr().err.strip() == "Aborted."
    command(BrokenPipeError(32, "Broken pipe"))
    assert main(["boom"]) == 1
    assert capsys.readouterr().err == ""


# --- the same inputs through the library -------------------------------------------------------------


def test_check_device_names_what_is_missing():
    assert check_device(None) is None and check_device("cpu") == "cpu"
    with pytest.raises(DeviceError, match="not a torch device"):
        check_device("gpu")
    with pytest.raises(DeviceError, match="meta device holds no data"):
        check_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match=r"no CUDA device is available") as info:
            check_device("cuda:1")
        assert info.value.device == "cuda:1" and isinstance(info.value, ValueError)


def test_numpy_and_torch_scalars_are_numbers(tiny_sd3_path):
    import numpy as np

    import stylehunt
    from stylehunt.errors import GuidanceError
    from stylehunt.models import load_pipeline

    pipe = load_pipeline(tiny_sd3_path)
    preset = stylehunt.Preset(heads=[(0, 1), (1, 2)])
    for number in (np.float32(0.5), np.float64(0.5), np.int64(1), np.array(0.5), torch.tensor(0.5)):
        stylehunt.apply(pipe, preset, scale=number * 4, strengths=number, start=number * 0, stop=np.float32(1.0))
        applied = stylehunt.get_applied(pipe)
        assert type(applied.scale) is float and all(type(u) is float for u in applied.strengths)
        assert type(applied.start) is float and type(applied.stop) is float
    stylehunt.apply(pipe, [preset, stylehunt.Preset(heads=[(0, 0)])], strengths=torch.tensor([0.25, 0.75]), scale=2)
    assert stylehunt.get_applied(pipe).strengths == (0.25, 0.75)
    stylehunt.apply(pipe, stylehunt.Preset(heads=[(0, 1)], strength=np.float32(0.5), scale=torch.tensor(2.0)))
    assert stylehunt.get_applied(pipe).scale == 2.0 and stylehunt.get_applied(pipe).strengths == (0.5,)
    for bad in (np.bool_(True), torch.tensor(True), torch.tensor([0.5, 0.5]), np.complex64(1), "3", float("inf")):
        with pytest.raises(GuidanceError, match="scale"):
            stylehunt.apply(pipe, preset, scale=bad)
    with pytest.raises(GuidanceError, match="strength"):
        stylehunt.apply(pipe, preset, strengths=np.float32(1.5))
    stylehunt.remove(pipe)


def test_every_error_class_carries_a_parameter_and_a_cli_hint():
    """Any stylehunt error can say which parameter it is about (``param``) and give the CLI its own hint,
    whatever fields its class adds: a class that dropped them would fail where it is raised."""
    import inspect

    import stylehunt.errors as errors

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.StylehuntError)]
    assert len(classes) > 15
    for cls in classes:
        required = {name: "x" for name, p in inspect.signature(cls).parameters.items()
                    if p.kind is p.KEYWORD_ONLY and p.default is p.empty}
        error = cls("message", param="rounds", cli_hint="give --rounds", **required)
        assert (error.param, error.cli_hint) == ("rounds", "give --rounds"), cls
