"""The second bad-input review (docs/reliability.md): each defect
reproduced as the review did, asserting the clear error and that nothing changed.

Hub cases run against ``tests/hub_server.py`` with a hostile variant (``HubState.resolve_headers``);
CLI cases run ``python -m stylehunt`` in a subprocess (HOME, HF_HOME, STYLEHUNT_CACHE in tmp_path).
"""

from __future__ import annotations

import json

import pytest

from stylehunt.cli import main
from stylehunt.errors import HubError
from stylehunt.registry import check_index, load_preset
from tests._hub_fixtures import cache_listing, fake_hub, index_repo, loopback_only, make_preset, publish  # noqa: F401
from tests.test_bounded_input import cli, refused
from tests.test_bounded_input import tree as _tree


def tree(folder):
    """Every file under ``folder`` (see test_bounded_input), less huggingface_hub's own agent list."""
    return {k: v for k, v in _tree(folder).items() if not k.endswith(".agent_harnesses.json")}

# ---------------------------------------------------------------------------------------- 1: hostile ETag


def _evil(server, tmp_path, header: str, value: str) -> str:
    """alice/evil: a valid preset served with one hostile header; returns the path the ETag aims at."""
    publish(server, "alice/evil", make_preset())
    target = tmp_path / "PWNED"
    if header == "ETag" and value == "traversal":
        value = '"' + "../" * 40 + str(target).lstrip("/") + '"'
    server.state.resolve_headers["alice/evil"] = {header: value}
    return str(target)


HOSTILE = [
    ("ETag", "traversal", "answered for stylehunt_preset.json with ETag '../../"),
    ("ETag", '"abc"', "with ETag 'abc', which is not a git blob id or sha256"),
    ("X-Repo-Commit", "../../../../x", "with X-Repo-Commit '../../../../x', which is not a commit id"),
]


@pytest.mark.parametrize("command", ["pull", "show"])
@pytest.mark.parametrize("header,value,message", HOSTILE)
def test_cli_a_hostile_etag_or_commit_is_refused_before_any_download(command, header, value, message, fake_hub, tmp_path):
    target = _evil(fake_hub, tmp_path, header, value)
    before = tree(tmp_path)
    proc = cli(command, "hf-hub:alice/evil", cwd=tmp_path)
    refused(proc, "hf-hub:alice/evil", message, "nothing was downloaded")
    assert "HF_ENDPOINT" in proc.stderr.decode()
    assert tree(tmp_path) == before  # no PWNED, no PWNED.lock, no cache entry
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "PWNED.lock").exists()
    assert [m for m, _ in fake_hub.state.requests if "/resolve/" in _] == ["HEAD"]  # the metadata request only
    assert target


def test_generate_preset_reference_with_a_hostile_etag_writes_nothing(fake_hub, tmp_path):
    _evil(fake_hub, tmp_path, "ETag", "traversal")
    with pytest.raises(HubError, match="nothing was downloaded"):
        load_preset("hf-hub:alice/evil")  # what generate --preset hf-hub:... and registry names call
    assert cache_listing() == {} and not (tmp_path / "PWNED").exists()


def test_registry_check_of_an_index_pointing_at_a_hostile_endpoint_plants_nothing(fake_hub, monkeypatch, tmp_path):
    good = make_preset(name="sd3-medium/evil")
    commit = publish(fake_hub, "alice/evil", good)
    fake_hub.state.resolve_headers["alice/evil"] = {"ETag": '"' + "../" * 40 + str(tmp_path / "PWNED").lstrip("/") + '"'}
    import hashlib

    data = {"presets": {"sd3-medium/evil": {"versions": {"1.0.0": {
        "repo": "alice/evil", "revision": commit, "sha256": hashlib.sha256(good.to_json().encode()).hexdigest()}}}}}
    index_repo(fake_hub, "stylehunt-org/registry", data["presets"])
    report = check_index("hf-hub:stylehunt-org/registry")
    assert not report.ok and "which is not a git blob id or sha256" in report.versions[0].problems[0]
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "PWNED.lock").exists()
    assert not any(k.startswith("models--alice--evil") for k in cache_listing())


def test_an_honest_hub_still_pins_the_revision_for_offline_use(fake_hub, monkeypatch):
    commit = publish(fake_hub, "alice/golden-hour", make_preset())
    assert load_preset("hf-hub:alice/golden-hour").name == "golden-hour"
    assert cache_listing()["models--alice--golden-hour/refs/main"] == commit.encode()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fake_hub.state.requests.clear()
    assert load_preset("hf-hub:alice/golden-hour").name == "golden-hour" and fake_hub.state.requests == []


# ---------------------------------------------------------------------------------------- 6: bundled names


def test_registry_check_refuses_a_hub_version_of_a_bundled_name(fake_hub, capsys):
    hijack = make_preset(name="tiny-sd3/warm", version="9.0.0", description="not the bundled preset")
    commit = publish(fake_hub, "alice/hijack", hijack)
    import hashlib

    sha = hashlib.sha256(hijack.to_json().encode()).hexdigest()
    index_repo(fake_hub, "stylehunt-org/registry")
    data = json.loads(fake_hub.state.files("stylehunt-org/registry")["index.json"])
    data["presets"]["tiny-sd3/warm"] = {"versions": {"9.0.0": {"repo": "alice/hijack", "revision": commit, "sha256": sha}}}
    num = fake_hub.state.open_pr("stylehunt-org/registry", {"index.json": json.dumps(data).encode()}, title="t", author="alice")
    fake_hub.state.requests.clear()
    code = main(["registry", "check", f"hf-hub:stylehunt-org/registry@refs/pr/{num}"])
    out = capsys.readouterr().out
    assert code == 1 and "FAIL  tiny-sd3/warm@9.0.0" in out
    assert "tiny-sd3/warm is taken: it belongs to stylehunt (a bundled preset" in out
    assert not any("alice/hijack" in path for _, path in fake_hub.state.requests)  # the contributor's file is not fetched


# ---------------------------------------------------------------------------------------- 2, 13, 14: writes


def _limited(limit: int):
    """A ``preexec_fn`` that sets ``ulimit -f`` (RLIMIT_FSIZE, in bytes) in the child, as the review's shell did."""
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _script(code: str, cwd, limit: int | None = None, **env: str):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **env},
                          preexec_fn=_limited(limit) if limit else None)


def test_a_video_encode_cut_short_by_ulimit_keeps_the_users_file(tmp_path):
    keep = tmp_path / "keep.mp4"
    keep.write_bytes(b"precious\n")
    code = ("from PIL import Image; from stylehunt.files import atomic_write_video\n"
            "frames = [Image.effect_noise((64, 64), 60 + 10 * i).convert('RGB') for i in range(9)]\n"
            "from stylehunt.errors import StorageError\n"
            "try:\n    atomic_write_video(frames, 'keep.mp4', fps=8)\n"
            "except StorageError as e:\n    print('REFUSED', e, '|', e.hint)\n")
    proc = _script(code, tmp_path, limit=1024)
    assert "REFUSED could not encode the video keep.mp4" in proc.stdout, (proc.stdout, proc.stderr)
    assert "it was left as it was" in proc.stdout and "ulimit -f" in proc.stdout
    assert keep.read_bytes() == b"precious\n" and sorted(p.name for p in tmp_path.iterdir()) == ["home", "keep.mp4"]


def test_cli_generate_video_under_ulimit_keeps_the_users_mp4(tiny_wan_path, tmp_path):
    import subprocess
    import sys

    keep = tmp_path / "keep.mp4"
    keep.write_bytes(b"precious\n")
    proc = subprocess.run(
        [sys.executable, "-m", "stylehunt", "generate", "--model", str(tiny_wan_path), "--heads", "0:1", "--prompt",
         "a", "--steps", "2", "--height", "32", "--width", "32", "--frames", "5", "--out", "keep.mp4"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, preexec_fn=_limited(1024))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("Error: could not encode the video keep.mp4"), proc.stderr
    assert keep.read_bytes() == b"precious\n" and sorted(p.name for p in tmp_path.iterdir()) == ["home", "keep.mp4"]


@pytest.mark.parametrize("exe,fragment", [("/nonexistent/ffmpeg", "does not run"), ("/bin/false", "exited with status 1")])
def test_a_broken_video_encoder_is_refused_before_loading(exe, fragment, tmp_path, monkeypatch):
    import stylehunt.models

    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", exe)
    monkeypatch.setattr(stylehunt.models, "load_pipeline", lambda *a, **k: pytest.fail("the model was loaded"))
    keep = tmp_path / "x.mp4"
    keep.write_bytes(b"precious")
    argv = ["generate", "--model", "tiny-wan", "--heads", "0:1", "--prompt", "a cat", "--out", str(keep)]
    import io
    from contextlib import redirect_stderr

    err = io.StringIO()
    with redirect_stderr(err):
        assert main(argv) == 1
    assert f"the video encoder (IMAGEIO_FFMPEG_EXE) cannot be used: " in err.getvalue() and fragment in err.getvalue()
    assert "unset IMAGEIO_FFMPEG_EXE" in err.getvalue() and keep.read_bytes() == b"precious"


def test_a_full_write_names_the_file_and_keeps_it(tmp_path):
    keep = tmp_path / "p.json"
    keep.write_bytes(b"{}")
    code = ("from stylehunt.files import atomic_write_bytes\nfrom stylehunt.errors import StorageError\n"
            "try:\n    atomic_write_bytes('p.json', b'x' * 100000)\n"
            "except StorageError as e:\n    print('REFUSED', e, '|', e.hint, '|', e.path)\n")
    proc = _script(code, tmp_path, limit=4096)
    assert "REFUSED could not write p.json: File too large; it was left as it was | " in proc.stdout, proc.stderr
    assert "ulimit -f" in proc.stdout and proc.stdout.strip().endswith("| p.json")
    assert keep.read_bytes() == b"{}" and sorted(p.name for p in tmp_path.iterdir()) == ["home", "p.json"]


def test_a_folder_in_the_way_is_named_not_the_temporary_file(tmp_path):
    from stylehunt.files import atomic_write_bytes

    (tmp_path / "x.json").mkdir()
    with pytest.raises(IsADirectoryError) as e:
        atomic_write_bytes(tmp_path / "x.json", b"{}")
    assert e.value.filename == str(tmp_path / "x.json") and ".tmp" not in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "x.json"]


# ---------------------------------------------------------------------------------------- 4, 5: search outputs

from tests.test_run_folder import SEARCH, _run, env, finished  # noqa: E402,F401


def test_a_search_preset_keeps_candidate_scores_in_scores_json_only(finished):
    preset = json.loads((finished / "stylehunt_preset.json").read_text())
    scores = json.loads((finished / "scores.json").read_text())
    assert all("candidates" not in r for r in preset["provenance"]["rounds"])
    assert all(r["candidates"] for r in scores["rounds"])


def test_saving_a_preset_over_the_read_limit_is_refused_and_writes_nothing(tmp_path):
    from stylehunt.errors import PresetFileError
    from stylehunt.registry.fileformat import MAX_FILE_BYTES

    # API112: a search preset's provenance is free-form enough to pass the limit (a long source here)
    big = make_preset(provenance={"kind": "manual", "source": "x", "notes": "x" * 99_000}, metadata={
        f"k{i}": "y" * 99_000 for i in range(11)})
    with pytest.raises(PresetFileError, match=f"would be .* bytes; the limit is {MAX_FILE_BYTES} bytes, so it was not written"):
        big.save(tmp_path / "p.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_prompts_too_long_for_the_preset_are_refused_before_anything_is_made(env, tmp_path):
    (tmp_path / "big8.txt").write_text("".join(f"prompt {i} " + "a" * 72_000 + "\n" for i in range(8)))
    proc = _run(env, tmp_path, *SEARCH, "--prompts", "big8.txt", "--num-heldout", "6", "--out", "r/big8b")
    assert proc.returncode == 1, proc.stderr
    assert "the preset file (which records them) would be over its limit of 1048576 bytes" in proc.stderr
    assert "--num-prompts" in proc.stderr and not (tmp_path / "r").exists()


def test_an_identity_the_family_lacks_is_refused_before_the_run_folder(env, tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STYLEHUNT_CACHE", env["STYLEHUNT_CACHE"])
        from stylehunt.tiny import tiny_pipeline_path

        tiny_pipeline_path("zimage")
    args = [a if a != "tiny-sd3" else "tiny-zimage" for a in SEARCH]
    proc = _run(env, tmp_path, *args, "--layers", "0", "--identity", "image", "--out", "r/idimg")
    assert proc.returncode == 1 and "--identity 'image' is not supported for the zimage family" in proc.stderr, proc.stderr
    assert "use --identity 'joint'" in proc.stderr and not (tmp_path / "r").exists()


@pytest.mark.parametrize("units", [{}, {"0": {"scores": [0.5]}}], ids=["no unit", "a unit"])
def test_a_new_run_that_fails_before_its_first_unit_leaves_nothing(tmp_path, units):
    from stylehunt.headhunter.runfolder import RunLock, discarded_unless_started
    from stylehunt.headhunter.store import RunStore

    run = tmp_path / "r" / "run"
    with pytest.raises(KeyboardInterrupt):
        with RunLock(run), discarded_unless_started(run):
            (run / "command.json").write_text("{}")
            store = RunStore(run / "state.json", {}, writer=True)
            store.phase("baseline", [[]], "search", 1, 1, [1])["units"].update(units)
            store.save()
            raise KeyboardInterrupt  # Ctrl-C, or any failure, before (or after) the first unit
    if units:
        assert sorted(p.name for p in run.iterdir()) == ["command.json", "state.json"]  # work to resume: kept
    else:
        assert not run.exists()


# ---------------------------------------------------------------------------------------- 7, 8, 9: bounds


def _model_folder(tmp_path, config_text: str):
    fm = tmp_path / "fm"
    (fm / "transformer").mkdir(parents=True)
    (fm / "transformer" / "config.json").write_text(config_text)
    return fm


@pytest.mark.parametrize("config,fragment", [
    ({"num_layers": 1000000, "num_attention_heads": 24}, "sets num_layers to 1000000; stylehunt takes 0 to 512"),
    ({"num_layers": 2, "num_attention_heads": 1000000}, "sets num_attention_heads to 1000000; stylehunt takes 0 to 512"),
    ({"num_layers": -3, "num_attention_heads": 2}, "sets num_layers to -3; stylehunt takes 0 to 512"),
], ids=["million layers", "million heads", "negative layers"])
def test_cli_heads_refuses_huge_counts_in_a_config_at_once(config, fragment, tmp_path):
    import time

    fm = _model_folder(tmp_path, json.dumps({"_class_name": "SD3Transformer2DModel", **config}))
    before = tree(tmp_path)
    started = time.monotonic()
    proc = cli("heads", "--model", str(fm), cwd=tmp_path, timeout=120)
    refused(proc, fragment, "(no supported model has more)")
    assert time.monotonic() - started < 60 and tree(tmp_path) == before


def test_cli_heads_refuses_a_deeply_nested_config_naming_it(tmp_path):
    fm = _model_folder(tmp_path, '{"_class_name": "SD3Transformer2DModel", "x": ' + "[" * 50000 + "]" * 50000 + "}")
    proc = cli("heads", "--model", str(fm), cwd=tmp_path, timeout=120)
    refused(proc, "transformer/config.json of", "is nested too deeply to read")
    assert "bug in stylehunt" not in proc.stderr.decode()


def test_cli_atlas_thumb_has_an_upper_bound(tmp_path):
    proc = cli("atlas", "--model", "tiny-sd3", "--prompt", "a cat", "--steps", "2", "--resolution", "64", "--layers",
               "0", "--thumb", "100000", "--out", "at.png", cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "Invalid value for '--thumb': 100000 is not in the range 1<=x<=1024" in proc.stderr.decode()
    assert not (tmp_path / "at.png").exists()


def test_the_atlas_canvas_is_bounded_before_any_image():
    from stylehunt.errors import SearchConfigError
    from stylehunt.headhunter.report import MAX_ATLAS_PIXELS, _check_atlas_size

    _check_atlas_size(1024, 8, 9)  # 8 layers x 8 heads at the largest cell: fits
    with pytest.raises(SearchConfigError, match=f"the limit is {MAX_ATLAS_PIXELS} pixels") as e:
        _check_atlas_size(1024, 57, 25)  # FLUX.1 at the largest cell
    assert "use `thumb` 302 or less" in e.value.hint
    _check_atlas_size(302, 57, 25)  # the size the hint names fits


# ---------------------------------------------------------------------------------------- 11: local errors during Hub access


def test_cli_a_file_as_hf_home_is_a_local_error_not_a_network_one(fake_hub, tmp_path):
    import os

    publish(fake_hub, "alice/good", make_preset())
    (tmp_path / "afile").write_bytes(b"x")
    before = tree(tmp_path)
    proc = subprocess_cli(tmp_path, "show", "hf-hub:alice/good", HF_HOME="afile")
    refused(proc, "a file-system error on this machine, not the network: Not a directory: afile/", "set HF_HOME")
    assert "cannot reach the Hub" not in proc.stderr.decode() and "WARNING" not in proc.stderr.decode()
    assert tree(tmp_path) == before and os.environ["HF_ENDPOINT"] == fake_hub.url


def test_cli_a_full_disk_during_a_hub_download_names_the_limit(fake_hub, tmp_path):
    publish(fake_hub, "alice/good", make_preset(description="x" * 9_000, provenance={"kind": "manual", "source": "y" * 20_000}))
    proc = subprocess_cli(tmp_path, "pull", "hf-hub:alice/good", limit=8192)
    refused(proc, "a file-system error on this machine, not the network: File too large", "ulimit -f")
    assert cache_listing() == {}


def subprocess_cli(cwd, *args: str, limit: int | None = None, **env: str):
    """``python -m stylehunt ARGS`` as :func:`cli`, with extra environment and an optional ``ulimit -f``."""
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "stylehunt", *args], capture_output=True, cwd=cwd, timeout=120,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "200", **env},
                          preexec_fn=_limited(limit) if limit else None)


# ---------------------------------------------------------------------------------------- 16: the tiny-model cache


def test_a_tiny_build_killed_with_sigkill_leaves_nothing_for_good_and_the_cache_is_shareable(tmp_path):
    import os
    import signal
    import stat
    import subprocess
    import sys
    import time

    from stylehunt.tiny import cache_root, tiny_pipeline_path

    tiny = cache_root() / "tiny"
    child = subprocess.Popen([sys.executable, "-c", "from stylehunt.tiny import tiny_pipeline_path; tiny_pipeline_path('sd3')"],
                             env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    deadline = time.monotonic() + 120
    while not list(tiny.glob(".sd3-v1.tmp-*")) and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)  # kill -9 during the build
    child.wait()
    assert list(tiny.glob(".sd3-v1.tmp-*")), "the child was killed before it started building"
    old = os.umask(0o022)
    try:
        final = tiny_pipeline_path("sd3")
    finally:
        os.umask(old)
    assert sorted(p.name for p in tiny.iterdir()) == ["sd3-v1"]  # the killed build's folder is gone
    assert stat.S_IMODE(final.stat().st_mode) == 0o755  # not mkdtemp's 0700: other users can read it


# ---------------------------------------------------------------------------------------- 17, 21: StyleHeadGuidance, Preset


@pytest.mark.parametrize("base,words", [
    ({"class_name": "__class__", "config": {}}, "unknown base guider class '__class__'"),
    ({"class_name": "BaseGuidance", "config": {}}, "unknown base guider class 'BaseGuidance'"),
    ({"class_name": "ClassifierFreeGuidance", "config": {"guidance_scale": float("nan")}}, "guidance_scale to be a finite number"),
    ({"class_name": "ClassifierFreeGuidance", "config": {"guidance_scale": float("inf")}}, "guidance_scale to be a finite number"),
])
def test_a_stored_base_guider_is_checked_by_name(base, words):
    from stylehunt import StyleHeadGuidance
    from stylehunt.errors import GuidanceError

    with pytest.raises(GuidanceError, match=words):
        StyleHeadGuidance("tiny-sd3/warm", base=base)


def test_an_inline_preset_with_bad_tags_is_refused_by_name():
    from stylehunt import StyleHeadGuidance
    from stylehunt.errors import InvalidPresetError

    with pytest.raises(InvalidPresetError, match="Expected `tags` to be a list of strings, but got 5"):
        StyleHeadGuidance([{"heads": [[0, 1]], "strength": 0.5, "scale": 3.0, "tags": 5}])


@pytest.mark.parametrize("kwargs,words", [
    ({"description": 5}, "description: expected a string"),
    ({"name": "../../x"}, "name: expected `slug`"),
    ({"fingerprint": {"x": 1}}, "model.fingerprint.x: unknown field"),
    ({"provenance": {"kind": "manual", "source": object()}}, "not plain JSON"),
    ({"version": "v1"}, "version: "),
], ids=["description", "name", "fingerprint", "provenance", "version"])
def test_the_preset_constructor_refuses_what_save_would(kwargs, words):
    from stylehunt import Preset
    from stylehunt.errors import InvalidPresetError

    with pytest.raises(InvalidPresetError, match=words):
        Preset(heads=[(0, 1)], strength=0.5, **kwargs)
    assert Preset(heads=[(0, 1)], strength=0.5).label == "<preset with 1 head>"  # an anonymous preset is fine
