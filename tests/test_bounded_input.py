"""Bounded, well-formed input (issue 9, part 3): nothing stylehunt reads can hang it, fill memory or exhaust the stack.

* every file is read through one reader (``stylehunt.files``): regular files only, a size limit,
  a JSON nesting limit, strict JSON;
* a Hub file is refused from the size the Hub announces, before it is downloaded;
* every revision that reaches huggingface_hub follows git's ref rules.

The CLI cases run ``python -m stylehunt`` in a subprocess as a user would (HOME, HF_HOME and
STYLEHUNT_CACHE are in tmp_path, see conftest.py), and check that user files are unchanged byte
for byte and that no traceback is printed.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stylehunt import hub
from stylehunt.errors import PresetFileError, PresetReferenceError, RegistryIndexError, StylehuntError
from stylehunt.files import MAX_JSON_DEPTH, atomic_write_bytes, atomic_write_video, load_json, read_json, read_regular_file
from stylehunt.registry import index as registry_index
from stylehunt.registry import load_preset, parse_reference, refresh_index, resolve_preset
from stylehunt.registry.fileformat import MAX_FILE_BYTES
from stylehunt.registry.indexfile import RegistryIndex
from stylehunt.registry.preset import read_preset_file
from tests._hub_fixtures import cache_listing, fake_hub, loopback_only, make_preset, publish  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = sorted((ROOT / "presets").rglob("stylehunt_preset.json"))


def nested(depth: int) -> str:
    """A preset file (valid but for its depth) whose metadata nests ``depth`` levels of arrays."""
    data = json.loads(make_preset().to_json())
    text = json.dumps(data)[:-1] + ', "metadata": {"deep": ' + "[" * depth + "]" * depth + "}}"
    return text


def cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -m stylehunt ARGS`` with this test's environment (isolated HOME, HF_HOME, ...)."""
    assert os.environ["HOME"].startswith(str(cwd))  # conftest isolated it in this test's tmp_path
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "stylehunt", *args], capture_output=True, cwd=cwd, env=env, timeout=timeout
    )


def refused(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """The one-line error of a refused command (exit 1, no traceback), checked for ``fragments``."""
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, (proc.returncode, err)
    assert "Traceback" not in err and err.startswith("Error: "), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def tree(folder: Path) -> dict[str, bytes | str]:
    """Every file under ``folder`` with its bytes (symlinks as their target), to compare before/after."""
    out: dict[str, bytes | str] = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_fifo():
            out[rel] = "<fifo>"
        elif p.is_file():
            out[rel] = p.read_bytes()
    return out


# ---------------------------------------------------------------------------------------- the one reader


def json_depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((json_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((json_depth(v) for v in value), default=0)
    return 0


def test_the_depth_limit_is_far_above_what_valid_files_need():
    depths = [json_depth(json.loads(p.read_text())) for p in [*BUNDLED, ROOT / "registry" / "index.json"]]
    assert max(depths) <= 8 and 4 * max(depths) <= MAX_JSON_DEPTH
    # a search preset made by a real run is among them (its provenance is the deepest structure)
    assert any(json.loads(p.read_text())["provenance"]["kind"] == "search" for p in BUNDLED)


def test_json_deeper_than_the_limit_is_refused_before_parsing():
    assert load_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    with pytest.raises(StylehuntError, match=f"x.json: JSON nested more than {MAX_JSON_DEPTH} levels deep"):
        load_json("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), what="x.json")
    with pytest.raises(StylehuntError, match="nested more than"):
        load_json('{"a": ' * 100_000 + "1" + "}" * 100_000)  # would be a RecursionError (or worse) unchecked
    # brackets inside strings (escaped quotes included) are text, not nesting
    text = json.dumps({"s": "[" * 1000 + '\\"{' * 100})
    assert load_json(text) == json.loads(text)


@pytest.mark.parametrize(
    "raw, message",
    [
        ('{"a": 1, "a": 2}', "malformed JSON: duplicate key 'a'"),
        ('{"a": NaN}', "NaN is not valid JSON"),
        ('{"a": -Infinity}', "-Infinity is not valid JSON"),
        ("{", "malformed JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        (b"\xff", "not UTF-8 text"),
        (b" " * 31, "file is 31 bytes; the limit is 30 bytes"),
        (" " * 31, "file is more than 30 bytes; the limit is 30 bytes"),
    ],
)
def test_load_json_refusals_name_the_file_and_use_the_callers_error(raw, message):
    with pytest.raises(RegistryIndexError) as e:
        load_json(raw, what="idx.json", max_bytes=30, error=lambda m, hint=None: RegistryIndexError(m, source="s"))
    assert str(e.value).startswith("idx.json: ") and message in str(e.value)


def test_strict_can_be_turned_off():
    assert load_json('{"a": 1, "a": 2, "b": NaN}', strict=False)["a"] == 2


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "preset.json"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_non_regular_files_are_refused_without_blocking(kind, fifo, tmp_path):
    path = {"fifo": fifo, "device": Path("/dev/zero"), "folder": tmp_path}[kind]
    started = time.monotonic()
    with pytest.raises(StylehuntError, match="not a regular file; stylehunt reads only regular files") as e:
        read_regular_file(path, max_bytes=100)
    assert time.monotonic() - started < 5
    assert {"fifo": "named pipe (FIFO)", "device": "character device", "folder": "a folder"}[kind] in str(e.value)
    assert e.value.hint


def test_a_file_over_the_limit_is_refused_from_its_size_and_never_read_past_it(tmp_path, monkeypatch):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 5000)
    with pytest.raises(StylehuntError, match="file is 5000 bytes; the limit is 100 bytes"):
        read_regular_file(big, max_bytes=100)
    # a file that grows after its size was taken is still cut at the limit (max_bytes + 1 are read)
    real_fstat = os.fstat
    monkeypatch.setattr(os, "fstat", lambda fd: os.stat_result((*real_fstat(fd)[:6], 10, *real_fstat(fd)[7:])))
    with pytest.raises(StylehuntError, match="file is more than 100 bytes"):
        read_regular_file(big, max_bytes=100)


def test_read_json_is_both(tmp_path):
    (tmp_path / "ok.json").write_text('{"a": [1]}')
    assert read_json(tmp_path / "ok.json", max_bytes=100) == {"a": [1]}
    with pytest.raises(StylehuntError, match="no such file"):
        read_json(tmp_path / "missing.json", max_bytes=100)


# ---------------------------------------------------------------------------------------- atomic writes


def test_written_files_get_the_umask_permissions_and_keep_a_replaced_files(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "new.json", b"{}")
        assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o640
    finally:
        os.umask(old)
    (tmp_path / "new.json").chmod(0o604)
    atomic_write_bytes(tmp_path / "new.json", b"[]")
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o604


def test_a_symlink_is_replaced_never_followed(tmp_path):
    user = tmp_path / "user.txt"
    user.write_bytes(b"the user's file")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "scores.json").symlink_to(user)
    atomic_write_bytes(tmp_path / "run" / "scores.json", b"{}")
    assert user.read_bytes() == b"the user's file"
    assert not (tmp_path / "run" / "scores.json").is_symlink()
    assert (tmp_path / "run" / "scores.json").read_bytes() == b"{}"


def test_a_video_is_encoded_beside_its_target_and_renamed_over_a_planted_link(tmp_path, monkeypatch):
    """The mp4 is encoded into a temporary sibling (never through a link at its name) and readable back with the
    same backend, frames and size intact; a failed encode leaves the old file and no temporary file."""
    import imageio
    import numpy as np
    import stylehunt.files
    from PIL import Image

    frames = [Image.new("RGB", (48, 32), (40 * i, 100, 200 - 40 * i)) for i in range(5)]
    folder = tmp_path / "out"
    folder.mkdir()
    user = folder / "user.txt"
    user.write_bytes(b"the user's file")
    (folder / "clip.mp4").symlink_to(user)
    old = os.umask(0o027)
    try:
        atomic_write_video(frames, folder / "clip.mp4", fps=16)
    finally:
        os.umask(old)
    assert user.read_bytes() == b"the user's file" and not (folder / "clip.mp4").is_symlink()
    assert stat.S_IMODE((folder / "clip.mp4").stat().st_mode) == 0o640
    with imageio.get_reader(folder / "clip.mp4", "ffmpeg") as reader:
        read = [np.asarray(frame) for frame in reader]
        assert reader.get_meta_data()["fps"] == 16
    assert len(read) == 5 and read[0].shape == (32, 48, 3)
    assert np.abs(read[4].astype(int) - np.asarray(frames[4], dtype=int)).mean() < 8  # H.264 is lossy, not wrong
    before = (folder / "clip.mp4").read_bytes()

    def half_written(video, path, fps, comment):
        Path(path).write_bytes(b"\x00" * 100)
        raise OSError("disk full")

    monkeypatch.setattr(stylehunt.files, "_encode_mp4", half_written)  # the encoder atomic_write_video calls
    with pytest.raises(OSError, match="disk full"):
        atomic_write_video(frames, folder / "clip.mp4", fps=16)
    assert (folder / "clip.mp4").read_bytes() == before and sorted(os.listdir(folder)) == ["clip.mp4", "user.txt"]


# ---------------------------------------------------------------------------------------- preset files


def test_a_deeply_nested_preset_file_is_refused(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(nested(500))
    assert path.stat().st_size < 4000
    with pytest.raises(PresetFileError, match="nested more than 64 levels deep") as e:
        read_preset_file(path)
    assert e.value.path == str(path) and str(path) in str(e.value)


def test_preset_nesting_is_bounded_for_dicts_given_in_python_too():
    deep: dict = {}
    level = deep
    for _ in range(5000):
        level["a"] = {}
        level = level["a"]
    from stylehunt.registry.preset import preset_from_dict

    data = json.loads(make_preset().to_json())
    data["metadata"] = deep
    with pytest.raises(PresetFileError, match="nested more than 64 levels deep"):
        preset_from_dict(data)
    with pytest.raises(PresetFileError, match="golden-hour@1.0.0: JSON nested more than 64 levels deep"):
        make_preset(metadata=deep)  # refused by the constructor, before save


def test_a_lone_surrogate_in_a_preset_is_refused(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(make_preset().to_json().replace('"Warm low sun."', '"Warm \\ud800 sun."'))
    with pytest.raises(PresetFileError, match="description: expected Unicode text, but it holds the lone surrogate"):
        read_preset_file(path)


def test_a_fifo_preset_is_refused_at_once(fifo):
    with pytest.raises(PresetFileError, match="named pipe") as e:
        load_preset(str(fifo))
    assert e.value.path == str(fifo)


def test_a_folder_without_a_preset_file_says_so(tmp_path):
    with pytest.raises(PresetFileError, match="folder holds no stylehunt_preset.json"):
        load_preset(str(tmp_path) + "/")


# ---------------------------------------------------------------------------------------- revisions


GOOD_REVISIONS = ["main", "v1.2.0", "v1.2.0-rc.1", "refs/pr/1", "a" * 40, "0123abc", "release/2024.05", "x@y", "feature_x", "ü-tag"]
BAD_REVISIONS = [
    ("../../../../x", "'..'"),
    ("a..b", "'..'"),
    ("/main", "starts or ends with '/'"),
    ("main/", "starts or ends with '/'"),
    ("a//b", "'//'"),
    ("v1\x1b[2J", "'\\x1b'"),
    ("v\n1", "'\\n'"),
    ("a b", "' '"),
    ("a~1", "'~'"),
    ("a^", "'^'"),
    ("a:b", "':'"),
    ("a?", "'?'"),
    ("a*", "'*'"),
    ("a[1]", "'['"),
    ("a\\b", "'\\\\'"),
    ("\x7f", "'\\x7f'"),
    ("a@{1}", "'@{'"),
    ("@", "'@' alone"),
    ("x.lock", "ends with '.lock'"),
    ("refs/x.lock/y", "ends with '.lock'"),
    ("v1.", "ends with '.'"),
    (".hidden", "starts with '.'"),
    ("refs/.x", "starts with '.'"),
    ("", "empty"),
    ("v" * 256, "at most 255"),
]


@pytest.mark.parametrize("revision", GOOD_REVISIONS)
def test_git_ref_rules_accept(revision):
    assert hub.revision_problem(revision) is None and hub.check_revision(revision) == revision


@pytest.mark.parametrize("revision, problem", BAD_REVISIONS)
def test_git_ref_rules_refuse(revision, problem):
    assert problem in hub.revision_problem(revision)
    with pytest.raises(PresetReferenceError, match="is not a valid revision") as e:
        hub.check_revision(revision)
    assert "tag (v1.2.0)" in e.value.hint


@pytest.mark.parametrize("revision, problem", BAD_REVISIONS[:8])
def test_a_reference_with_a_bad_revision_is_refused_when_parsed(revision, problem):
    ref = f"hf-hub:alice/golden-hour@{revision}"
    if not revision:
        problem = "empty revision after '@'"
    with pytest.raises(PresetReferenceError, match="not a valid revision|empty revision") as e:
        parse_reference(ref)
    assert problem in str(e.value) and e.value.ref == ref


def test_every_path_to_huggingface_hub_checks_the_revision(fake_hub):
    for call in (
        lambda: hub.download("alice/x", "f.json", revision="../x"),
        lambda: hub.download_file("alice/x", "f.json", revision="../x", max_bytes=10),
        lambda: hub.cached_file("alice/x", "f.json", revision="../x", max_bytes=10),
        lambda: hub.create_tag("alice/x", "../x", revision="a" * 40, message="m"),
        lambda: hub.create_tag("alice/x", "v1.0.0", revision="../../x", message="m"),
        lambda: refresh_index("alice/registry", revision="../x"),
    ):
        with pytest.raises(PresetReferenceError, match="not a valid revision"):
            call()
    assert fake_hub.state.requests == []


def test_an_index_with_a_bad_revision_is_refused():
    data = json.loads((ROOT / "registry" / "index.json").read_text())
    data["presets"]["sd3-medium/paper-l1h10"]["versions"]["1.0.0"] = {"repo": "alice/x", "revision": "../../x"}
    with pytest.raises(RegistryIndexError, match=r"versions.1.0.0.revision: '../../x' is not a valid git revision"):
        RegistryIndex.parse(data, source="idx")


def test_a_bad_index_revision_setting_falls_back_to_the_bundled_index(monkeypatch, caplog):
    monkeypatch.setenv("STYLEHUNT_INDEX_REVISION", "../../x")
    with caplog.at_level(logging.WARNING):
        assert "sd3-medium/paper-l1h10" in registry_index.get_index().presets
    assert "not a valid revision" in caplog.text


def test_a_bad_index_repo_setting_falls_back_to_the_bundled_index(monkeypatch, caplog):
    monkeypatch.setenv("STYLEHUNT_INDEX_REPO", "../x")
    with caplog.at_level(logging.WARNING):
        assert "sd3-medium/paper-l1h10" in registry_index.get_index().presets
    assert "is not a valid Hub repo id" in caplog.text
    with pytest.raises(PresetReferenceError, match="'../x' is not a valid Hub repo id"):
        refresh_index()


def test_hostile_tags_are_never_passed_on(fake_hub, caplog):
    oid = publish(fake_hub, "alice/golden-hour", make_preset())
    for tag in ("../../../../x", "v2\x1b[31m", "a b"):
        fake_hub.state.tag("alice/golden-hour", tag, oid)
    with caplog.at_level(logging.DEBUG, logger="stylehunt.hub"):
        assert hub.list_tags("alice/golden-hour") == ["v1.0.0"]
        assert hub.repo_tags("alice/golden-hour") == {"v1.0.0"}
    assert "../../../../x" in caplog.text  # the debug log says what was ignored
    with pytest.raises(StylehuntError) as e:
        load_preset("hf-hub:alice/golden-hour@v9")
    assert e.value.available == ("v1.0.0",) and "\x1b" not in str(e.value) and "../" not in str(e.value)


def test_a_hostile_revision_writes_nothing_outside_the_cache(fake_hub, tmp_path):
    oid = publish(fake_hub, "alice/golden-hour", make_preset())
    fake_hub.state.tag("alice/golden-hour", "../../../../x", oid)
    before = tree(tmp_path)
    with pytest.raises(PresetReferenceError):
        load_preset("hf-hub:alice/golden-hour@../../../../x")
    assert tree(tmp_path) == before and fake_hub.state.requests == []


# ---------------------------------------------------------------------------------------- Hub sizes


def test_an_oversized_hub_preset_is_refused_before_it_is_downloaded(fake_hub):
    fake_hub.state.create_repo("alice/huge")
    fake_hub.state.commit_files("alice/huge", {"stylehunt_preset.json": b" " * 100_000_000})  # LFS, as on the Hub
    with pytest.raises(PresetFileError) as e:
        load_preset("hf-hub:alice/huge")
    assert "stylehunt_preset.json is 100000000 bytes on the Hub" in str(e.value)
    assert f"the limit is {MAX_FILE_BYTES} bytes, so it was not downloaded" in str(e.value)
    assert fake_hub.state.bytes_sent() < 2 << 20
    assert [m for m, _ in fake_hub.state.requests] == ["HEAD"]
    assert cache_listing() == {}


def test_an_oversized_regular_file_is_refused_from_its_content_length(fake_hub):
    fake_hub.state.create_repo("alice/mid")
    fake_hub.state.commit_files("alice/mid", {"stylehunt_preset.json": b" " * (3 << 20)})  # a regular file
    with pytest.raises(PresetFileError, match=f"is {3 << 20} bytes on the Hub; the limit is {MAX_FILE_BYTES}"):
        load_preset("hf-hub:alice/mid")
    assert fake_hub.state.bytes_sent() < 2 << 20 and cache_listing() == {}


def test_a_small_lfs_preset_loads_through_the_cdn_redirect(fake_hub):
    fake_hub.state.create_repo("alice/lfs")
    fake_hub.state.commit_files("alice/lfs", {"stylehunt_preset.json": make_preset().to_json().encode()}, lfs=("stylehunt_preset.json",))
    resolved = resolve_preset("hf-hub:alice/lfs")
    assert resolved.preset == make_preset()
    assert resolved.path.resolve().name == resolved.sha256  # stored as an LFS blob (named by its sha256)
    assert any(p.startswith("/lfs-cdn/") for _, p in fake_hub.state.requests)


def test_an_oversized_cached_file_is_not_read_offline(fake_hub, monkeypatch):
    fake_hub.state.create_repo("alice/big")
    fake_hub.state.commit_files("alice/big", {"stylehunt_preset.json": b" " * (2 << 20)})
    hub.download("alice/big", "stylehunt_preset.json")  # the raw download knows no limit
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PresetFileError, match=f"is {2 << 20} bytes in the cache; the limit is {MAX_FILE_BYTES} bytes, so it was not read"):
        load_preset("hf-hub:alice/big")


def test_an_oversized_or_nested_remote_index_is_refused_and_the_cache_left_alone(fake_hub):
    fake_hub.state.create_repo("stylehunt/registry")
    fake_hub.state.commit_files("stylehunt/registry", {"index.json": b"[" * 1000 + b"]" * 1000})
    with pytest.raises(RegistryIndexError, match="hf-hub:stylehunt/registry@main index.json: JSON nested more than 64 levels"):
        refresh_index("stylehunt/registry")
    fake_hub.state.commit_files("stylehunt/registry", {"index.json": b" " * (9 << 20)})
    with pytest.raises(RegistryIndexError, match=f"index.json is {9 << 20} bytes on the Hub; the limit is {8 << 20}"):
        refresh_index("stylehunt/registry")
    assert cache_listing() == {}


# ---------------------------------------------------------------------------------------- through the CLI


def test_cli_show_refuses_a_nested_preset_and_leaves_it_unchanged(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(nested(500))
    before = path.read_bytes()
    proc = cli("show", str(path), cwd=tmp_path)
    refused(proc, str(path), "nested more than 64 levels deep")
    assert path.read_bytes() == before


def test_cli_show_refuses_a_fifo_within_seconds(fifo, tmp_path):
    started = time.monotonic()
    proc = cli("show", str(fifo), cwd=tmp_path, timeout=20)
    refused(proc, str(fifo), "a named pipe (FIFO), not a regular file")
    assert time.monotonic() - started < 20 and fifo.is_fifo()


@pytest.mark.parametrize("command", ["show", "pull"])
def test_cli_refuses_a_hostile_revision_before_any_request(command, fake_hub, tmp_path):
    oid = publish(fake_hub, "alice/golden-hour", make_preset())
    fake_hub.state.tag("alice/golden-hour", "../../../../x", oid)
    before = tree(tmp_path)
    proc = cli(command, "hf-hub:alice/golden-hour@../../../../x", cwd=tmp_path)
    refused(proc, "'../../../../x' is not a valid revision: it contains '..'")
    assert fake_hub.state.requests == [] and tree(tmp_path) == before


def test_cli_pull_refuses_an_oversized_hub_preset(fake_hub, tmp_path):
    fake_hub.state.create_repo("alice/huge")
    fake_hub.state.commit_files("alice/huge", {"stylehunt_preset.json": b" " * 100_000_000})
    proc = cli("pull", "hf-hub:alice/huge", cwd=tmp_path)
    refused(proc, "is 100000000 bytes on the Hub", f"the limit is {MAX_FILE_BYTES} bytes")
    assert fake_hub.state.bytes_sent() < 2 << 20
    assert not list((tmp_path / "home" / "hf").rglob("*.incomplete"))


def test_cli_pull_refuses_a_nested_hub_preset_and_keeps_the_cache_clean(fake_hub, tmp_path):
    fake_hub.state.create_repo("alice/deep")
    fake_hub.state.commit_files("alice/deep", {"stylehunt_preset.json": nested(500).encode()})
    proc = cli("pull", "hf-hub:alice/deep", cwd=tmp_path)
    refused(proc, "hf-hub:alice/deep", "nested more than 64 levels deep")
    assert cache_listing() == {}

