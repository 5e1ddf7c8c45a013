"""A new user's first hour: the commands as the docs and ``--help`` write them, the defaults they rely on.

Device defaults are tested by making torch report a GPU or MPS (``torch.cuda.is_available`` and
``torch.backends.mps.is_available`` patched): this machine has neither, so the real CUDA/MPS runs
(bfloat16 on an Ampere GPU, float16 on MPS) are untested here.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from pathlib import Path

import pytest
import torch

from stylehunt.cli import main
from stylehunt.errors import DeviceError
from stylehunt.models import choose_device

ROOT = Path(__file__).resolve().parent.parent


def _commands(text: str, prefix: str) -> list[list[str]]:
    """The ``stylehunt ...`` commands of the fenced blocks in ``text`` (continuation lines joined, comments cut)."""
    out = []
    for block in re.findall(r"```\n(.*?)```", text, flags=re.S):
        for command in re.sub(r"\\\n\s*", " ", block).splitlines():
            command = command.split("  #")[0].strip()
            if command.startswith(prefix):
                out.append(shlex.split(command)[1:])
    return out


# ---- 1. search without --resolution; the documented examples as written


def test_search_without_resolution_uses_the_models_size(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["search", "--model", "tiny-sd3", "--objective", "warmth", "--num-prompts", "2", "--num-heldout", "1",
                 "--rounds", "1", "--per-round", "1", "--steps", "2", "--out", "runs/plain"]) == 0, capsys.readouterr().err
    assert "run folder: runs/plain" in capsys.readouterr().out
    settings = json.loads((tmp_path / "runs/plain/stylehunt_preset.json").read_text())["provenance"]["settings"]
    # tiny-sd3's own size: default_sample_size 32 latents x the VAE's factor 8, as its pipeline computes it
    assert (settings["height"], settings["width"]) == (256, 256)
    # the same --out again: the hint names the CLI's flag, not the library's resume=True
    assert main(["search", "--model", "tiny-sd3", "--objective", "warmth", "--out", "runs/plain"]) == 1
    hint = capsys.readouterr().err.splitlines()[-1]
    assert "--resume runs/plain" in hint and "resume=True" not in hint, hint


def test_cli_hints_name_flags_not_python_parameters(tmp_path, monkeypatch, capsys):
    """A library error names Python parameters; leaving `search` it names the flags, from the error's data
    (``param``, and ``cli_hint`` where the hint is a Python-only form), not by rewriting its prose."""
    from stylehunt.cli import describe
    from stylehunt.errors import SearchConfigError
    from stylehunt.headhunter.runfolder import check_run_folder
    from stylehunt.headhunter.settings import SearchSettings, check_pool_size

    run = tmp_path / "run"
    run.mkdir()
    (run / "state.json").write_text("{}")
    with pytest.raises(SearchConfigError) as e:
        check_run_folder(run, resume=False)
    assert e.value.param == "out" and "(resume=True)" in e.value.hint  # from Python
    assert describe(e.value, command="search") == (
        f"--out: run folder {run} already holds a search (state.json)",
        f"resume it with --resume {run}, or choose another --out")
    with pytest.raises(SearchConfigError) as e:
        check_pool_size(4, SearchSettings(rounds=3, per_round=2))
    assert str(e.value).startswith("`rounds` 3 x `per_round` k=2") and e.value.hint == (
        "lower `rounds` or `per_round`, or widen the pool (`layers`)")
    assert describe(e.value, command="search") == (
        "--rounds 3 x --per-round k=2 would select 6 heads from a pool of only 4",
        "lower --rounds or --per-round, or widen the pool (--layers)")
    assert describe(e.value, command="list")[0] == str(e.value)  # a command without these flags leaves it
    # a scorer that is not cached, offline: the CLI's form of processor=/path is the scorer's weight flag
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    assert main(["search", "--model", "tiny-sd3", "--style", "warm", "--rounds", "1", "--per-round", "1",
                 "--out", "runs/a"]) == 1
    error, hint = capsys.readouterr().err.splitlines()[-2:]
    assert "PickScore" in error and not (tmp_path / "runs").exists(), error
    assert "=/path" not in hint and "where the Hub is reachable (`hf download laion/CLIP-ViT-H-14" in hint, hint
    assert "or give a local folder as --pickscore-processor PATH" in hint, hint


def test_search_help_example_runs_on_a_tiny_model(tmp_path, monkeypatch, capsys):
    """`search --help`'s first example, with only the model, the objective (pickscore needs weights) and the
    prompt source (parti needs a download) swapped for what works offline; no --resolution."""
    assert main(["search", "--help"]) == 0
    example = _commands("```\n" + capsys.readouterr().out + "```", "stylehunt search --model")[0]
    assert example[0] == "search"
    args = dict(zip(example[1::2], example[2::2]))
    assert "--resolution" not in args and args["--model"] == "stabilityai/stable-diffusion-3-medium-diffusers"
    args.update({"--model": "tiny-sd3", "--objective": "warmth", "--prompts": "default", "--rounds": "1",
                 "--num-prompts": "2", "--num-heldout": "1", "--per-round": "1", "--steps": "2"})
    monkeypatch.chdir(tmp_path)
    assert main(["search", *[x for kv in args.items() for x in kv]]) == 0, capsys.readouterr().err
    assert (tmp_path / "runs/golden-hour/stylehunt_preset.json").is_file()


def test_docs_search_tiny_examples_run_as_written(tmp_path, monkeypatch, capsys):
    """Every tiny-model command in docs/search.md, as a user pastes it (the Wan ones cost minutes: left to test_search)."""
    commands = [c for c in _commands((ROOT / "docs/search.md").read_text(), "stylehunt ")
                if "tiny-sd3" in c and c[0] in ("search", "generate", "atlas")]
    assert [c[0] for c in commands] == ["atlas", "search", "generate"], commands
    monkeypatch.chdir(tmp_path)
    for argv in commands[1:] + commands[:1]:  # generate uses the search's preset
        assert main(argv) == 0, (argv, capsys.readouterr().err)
    assert (tmp_path / "lighthouse.png").is_file() and (tmp_path / "atlas.png").is_file()


# ---- 2. the default device and dtype


def _machine(monkeypatch, *, cuda=False, mps=False, capability=(8, 0)):
    # each stand-in wraps the real function (functools.wraps sets __wrapped__): torch._dynamo, first
    # imported by diffusers inside the command, reads torch.backends.mps.is_available.__wrapped__, and
    # failed with an AttributeError when this test ran alone
    def fake(module, name, fn):
        monkeypatch.setattr(module, name, functools.wraps(getattr(module, name))(fn))

    fake(torch.cuda, "is_available", lambda: cuda)
    fake(torch.backends.mps, "is_available", lambda: mps)
    fake(torch.cuda, "get_device_capability", lambda device=None: capability)
    fake(torch.cuda, "device_count", lambda: 1 if cuda else 0)


@pytest.mark.parametrize("machine, expected", [
    ({"cuda": True, "mps": True}, ("cuda", "bfloat16")),
    ({"cuda": True, "capability": (7, 5)}, ("cuda", "float16")),  # a T4 or V100: no bfloat16 arithmetic
    ({"mps": True}, ("mps", "float16")),
    ({}, ("cpu", "float32")),
])
def test_choose_device_prefers_cuda_then_mps_then_cpu(monkeypatch, machine, expected):
    _machine(monkeypatch, **machine)
    assert choose_device() == expected


def test_choose_device_keeps_what_was_given(monkeypatch):
    _machine(monkeypatch, cuda=True)
    assert choose_device("cpu") == ("cpu", "float32")
    assert choose_device(None, "float32") == ("cuda", "float32")
    assert choose_device("cuda:0", "float16") == ("cuda:0", "float16")
    _machine(monkeypatch)
    with pytest.raises(DeviceError, match="no CUDA device"):
        choose_device("cuda")


@pytest.mark.parametrize("command", ["generate", "atlas", "search"])
def test_commands_load_on_the_best_device_unless_told(monkeypatch, tmp_path, command):
    """Each model-loading command asks choose_device, and passes --device/--dtype through it untouched."""
    import stylehunt.models as models

    loads = []

    class Loaded(Exception):
        pass

    def load(model, *, dtype, device):
        loads.append((device, dtype))
        raise Loaded

    monkeypatch.setattr(models, "load_pipeline", load)
    _machine(monkeypatch, mps=True)
    monkeypatch.chdir(tmp_path)
    argv = {"generate": ["generate", "--heads", "0:0", "--prompt", "a cat", "--out", "x.png"],
            "atlas": ["atlas", "--model", "tiny-sd3", "--prompt", "a cat", "--out", "x.png"],
            "search": ["search", "--model", "tiny-sd3", "--objective", "warmth", "--rounds", "1", "--out", "run"]}[command]
    for extra in ([], ["--dtype", "float32"]):
        with pytest.raises(Loaded):
            _invoke([*argv, *extra])
    assert loads == [("mps", "float16"), ("mps", "float32")]
    with pytest.raises(Loaded):
        _invoke([*argv, "--device", "cpu"])
    assert loads[-1] == ("cpu", "float32")


def _invoke(argv: list[str]) -> None:
    """The command through click without the error boundary, so the test's own exception comes through."""
    from stylehunt.cli import cli

    cli.main(args=argv, prog_name="stylehunt", standalone_mode=False)


def test_help_states_the_device_and_dtype_defaults(capsys):
    for command in ("generate", "atlas", "search"):
        assert main([command, "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert "cuda if available, else mps, else cpu" in text or "then mps, then cpu" in text, command
        assert "bfloat16 on a GPU that computes in it" in text, command


# ---- 3. an unreachable or offline Hub: one line, at once, a hint that fits


@pytest.fixture
def closed_hub(monkeypatch):
    """HF_ENDPOINT on a loopback port nothing listens on; the reachability memo is forgotten afterwards."""
    import socket

    from stylehunt.hub import connection

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(connection, "_probes", {})
    return port


_OFFLINE_COMMANDS = {
    "pull": (["pull", "hf-hub:someone/golden-hour"], "check your network connection and HF_ENDPOINT"),
    "show": (["show", "hf-hub:someone/golden-hour"], "`stylehunt pull REF` while online"),
    "list": (["list", "--refresh"], "without --refresh lists the index in use"),
    "submit": (["submit", "--dry-run", "--name", "tiny-sd3/golden", "hf-hub:someone/golden-hour@v1.0.0"],
               "check your network connection"),
    "registry check": (["registry", "check", "hf-hub:someone/index"], "check your network connection"),
    "heads": (["heads", "--model", "someone/some-model"], "or pass a local pipeline folder"),
}


@pytest.mark.parametrize("name", list(_OFFLINE_COMMANDS))
def test_an_unreachable_hub_fails_at_once_in_one_line(closed_hub, capsys, name):
    import time

    argv, hint = _OFFLINE_COMMANDS[name]
    start = time.monotonic()
    assert main(argv) == 1
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err
    assert elapsed < 10, elapsed  # huggingface_hub's own five retries take about 24 s
    lines = err.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["Error", "Hint"], err  # no retry warnings before them
    assert f"127.0.0.1:{closed_hub}" in lines[0] and "unreachable" in lines[0], err
    assert hint in lines[1] and "HF_HUB_OFFLINE" not in lines[1], err


@pytest.mark.parametrize("name", ["pull", "show", "list", "registry check", "heads"])
def test_offline_mode_names_the_flag_to_unset(monkeypatch, capsys, name):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv, _ = _OFFLINE_COMMANDS[name]
    assert main(argv) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["Error", "Hint"], err
    assert "offline mode is on (HF_HUB_OFFLINE)" in lines[0] and "unset HF_HUB_OFFLINE" in lines[1], err


# ---- 6. search without matplotlib


def test_search_without_matplotlib_draws_its_curve_with_pil(tmp_path, monkeypatch, capsys):
    """A plain install (no `stylehunt[search]`) runs a weight-free search and still writes curve.png and grid.png."""
    import sys

    from PIL import Image

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    monkeypatch.chdir(tmp_path)
    assert main(["search", "--model", "tiny-sd3", "--objective", "brightness", "--num-prompts", "2", "--num-heldout",
                 "1", "--rounds", "2", "--per-round", "1", "--steps", "2", "--resolution", "64", "--out", "run"]) == 0
    curve = Image.open(tmp_path / "run" / "curve.png")
    assert curve.size == (500, 340) and len(set(curve.convert("RGB").getdata())) > 3  # lines drawn, not a blank
    assert Image.open(tmp_path / "run" / "grid.png").size[0] > 64


# ---- 5. noise


def test_a_bundled_tiny_preset_on_its_own_tiny_model_warns_nothing(caplog):
    from stylehunt import apply, remove
    from stylehunt.tiny import load_tiny_pipeline

    pipe = load_tiny_pipeline("sd3")
    with caplog.at_level("WARNING", logger="stylehunt"):
        apply(pipe, "tiny-sd3/warm")
    remove(pipe)
    assert not [r for r in caplog.records if "fine-tune" in r.getMessage()], caplog.text


def test_cli_keeps_third_party_chatter_for_verbose(tmp_path, monkeypatch, capfd, caplog):
    """A first `search` and a `generate` with a family whose pipeline warns print stylehunt's lines only."""
    monkeypatch.chdir(tmp_path)
    caplog.set_level("WARNING")
    assert main(["generate", "--model", "tiny-qwenimage", "--preset", "tiny-qwenimage/warm", "--prompt", "a cat",
                 "--steps", "2", "--out", "q.png"]) == 0
    out, err = capfd.readouterr()
    assert out.strip() == "q.png" and err == "", err  # no true_cfg_scale note, no loading or shard bars
    assert main(["-v", "generate", "--model", "tiny-qwenimage", "--preset", "tiny-qwenimage/warm", "--prompt",
                 "a cat", "--steps", "2", "--out", "q.png"]) == 0
    # The pipeline's own note, with -v: a logger below its level makes no record at all, so the record is
    # the proof. (diffusers' handler keeps the sys.stderr of the test that imported diffusers, which an
    # earlier test's capture may have replaced: its text need not reach this test's stderr.)
    noted = [r for r in caplog.records if "true_cfg_scale" in r.getMessage()]
    assert noted or "true_cfg_scale" in capfd.readouterr().err


# ---- 8. what the config decides is checked before any weight is read


@pytest.mark.parametrize("argv, flag, message", [
    (["--model", "tiny-sd3", "--heads", "0:9", "--out", "x.png"], None, "head 9 out of range for 4 heads in layer 0"),
    (["--model", "tiny-sd3", "--heads", "0:1", "--height", "60", "--out", "x.png"], "--height", "use 56 or 64"),
    (["--model", "tiny-wan", "--heads", "0:1", "--frames", "6", "--out", "x.mp4"], "--frames", "use 5 or 9"),
])
def test_generate_checks_the_config_before_loading_weights(monkeypatch, tmp_path, capsys, argv, flag, message):
    import stylehunt.models as models

    def load(*args, **kwargs):
        raise AssertionError("the weights were loaded before the check")

    monkeypatch.setattr(models, "load_pipeline", load)
    monkeypatch.chdir(tmp_path)
    code = main(["generate", "--prompt", "a cat", *argv])
    err = capsys.readouterr().err
    assert code == (2 if flag else 1) and message in err and "weights were loaded" not in err, err
    if flag:
        assert flag in err


# ---- 9. lists in the docs are the code's lists


def _heads(heads) -> str:
    """A grid's heads per layer as the alias table writes them: one number, or the range of a U-Net's levels."""
    return str(heads) if isinstance(heads, int) else f"{min(heads)}-{max(heads)}" if len(set(heads)) > 1 else str(heads[0])


def test_docs_alias_table_is_model_aliases():
    from stylehunt.registry import model_aliases

    text = (ROOT / "docs/presets.md").read_text()
    rows = set(re.findall(r"^\| `([^`]+)` \| `([^`]+)` \| (\w[\w.]*) \| (\d+) x ([\d-]+) \((\w+)\) \|$", text, flags=re.M))
    expected = {(m.alias, m.id, m.family, str(m.fingerprint["num_layers"]), _heads(m.fingerprint["heads_per_layer"]),
                 "varies" if m.fingerprint["head_dim"] == -1 else str(m.fingerprint["head_dim"]))
                for m in model_aliases().values()}
    assert rows == expected
    assert f"Model aliases ({len(expected)};" in text


def test_docs_bundled_presets_are_the_bundled_index():
    from stylehunt.registry import list_presets

    text = (ROOT / "docs/presets.md").read_text()
    section = text[text.index("### Bundled presets"):]
    section = section[: section.index("\n## ", 1) if "\n## " in section[1:] else len(section)]
    named = set(re.findall(r"`((?:sd3-medium|tiny-[\w.]+)/[\w.-]+)`", section))
    assert named == set(list_presets())
