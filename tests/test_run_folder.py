"""Run folders never destroy user files (issue 9, part 1), checked as a user meets them: ``python -m stylehunt``.

* every output is renamed into place: a symlink planted at an output's name is replaced, never
  written through, and every file gets the permissions the umask gives;
* a new run refuses a folder that holds anything but a run's leftovers (it may be the user's);
* one search per folder: a second is refused at once, naming the holder's pid; a killed holder's
  lock is gone with it;
* every option is checked before anything is created, and errors name the flag;
* a damaged or hand-edited ``state.json`` / ``command.json`` is one clear error naming the file.

Every command runs in a subprocess with HOME, HF_HOME and STYLEHUNT_CACHE in a module-scoped tmp
folder (the tiny SD3 is built there once) and HF_HUB_OFFLINE=1. Files are compared byte for byte
before and after.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from stylehunt.errors import SearchConfigError
from stylehunt.headhunter.runfolder import LOCK_FILE, RUN_FILES, RunLock, lock_holder

SEARCH = ["search", "--model", "tiny-sd3", "--objective", "brightness", "--num-prompts", "2", "--num-heldout", "0",
          "--rounds", "1", "--per-round", "1", "--steps", "1", "--resolution", "64", "--batch-size", "8",
          "--no-progress"]
#: Library parameter names that must never reach a CLI user (they have flags).
LIBRARY_NAMES = ("per_round", "screen_prompts", "screen_steps", "num_search", "num_heldout", "cfg_scale",
                 "batch_size", "model_id", "`height`", "`width`", "`version`", "`license`", "`name`")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The environment of every command: isolated homes and caches, offline, the tiny SD3 built once."""
    home = tmp_path_factory.mktemp("runfolder-home")
    environ = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT", "STYLEHUNT_DEBUG")}
    environ.update(HOME=str(home), HF_HOME=str(home / "hf"), STYLEHUNT_CACHE=str(home / "stylehunt"),
                   XDG_CACHE_HOME=str(home / "cache"), HF_HUB_OFFLINE="1", PYTHONDONTWRITEBYTECODE="1")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STYLEHUNT_CACHE", environ["STYLEHUNT_CACHE"])
        from stylehunt.tiny import tiny_pipeline_path

        tiny_pipeline_path("sd3")
    return environ


def _run(env, cwd, *args, umask=None, timeout=120) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "stylehunt", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _snapshot(folder: Path) -> dict:
    """Every entry of ``folder`` (recursively): kind, mode, and bytes or link target. Links are not followed."""
    out = {}
    for path in sorted(folder.rglob("*")):
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            out[str(path.relative_to(folder))] = ("link", os.readlink(path))
        elif stat.S_ISREG(info.st_mode):
            out[str(path.relative_to(folder))] = ("file", stat.S_IMODE(info.st_mode), path.read_bytes())
        else:
            out[str(path.relative_to(folder))] = ("other", stat.S_IFMT(info.st_mode))
    return out


@pytest.fixture(scope="module")
def finished(env, tmp_path_factory):
    """A finished run folder, made under umask 027, once per session (never modified: tests copy it).

    Under pytest-xdist the workers share it: the first one makes it, under a lock, in the
    session's common temporary folder.
    """
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "finished-run"
    shared.mkdir(exist_ok=True)
    with open(shared / "made.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "run" / "state.json").exists():
            proc = _run(env, shared, *SEARCH, "--out", "run", umask=0o027)
            assert proc.returncode == 0, proc.stderr
    return shared / "run"


def _copy(run: Path, to: Path) -> Path:
    shutil.copytree(run, to, symlinks=True)
    return to


# --- what a run leaves ---------------------------------------------------------------------------------


def test_every_file_of_a_run_gets_the_permissions_of_the_umask_and_nothing_else_is_left(finished):
    names = sorted(os.listdir(finished))
    assert names == sorted(RUN_FILES)  # no .lock, no temporary file
    assert stat.S_IMODE(os.stat(finished).st_mode) == 0o750
    for name in names:
        assert stat.S_IMODE(os.lstat(finished / name).st_mode) == 0o640, name  # 0o666 & ~0o027, JSON and PNG alike


def test_resume_replaces_planted_symlinks_and_never_writes_through_them(env, finished, tmp_path):
    run = _copy(finished, tmp_path / "run")
    victims = {}
    for name in ("grid.png", "curve.png", "scores.json", "stylehunt_preset.json"):
        victim = tmp_path / f"user-{name}.txt"
        victim.write_bytes(f"the user's own {name}\n".encode())
        (run / name).unlink()
        (run / name).symlink_to(victim)
        victims[victim] = victim.read_bytes()
    proc = _run(env, tmp_path, "search", "--resume", run, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    for victim, content in victims.items():
        assert victim.read_bytes() == content, victim
    for name in ("grid.png", "curve.png"):
        assert not (run / name).is_symlink() and (run / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert json.loads((run / "scores.json").read_text())["heads"] == json.loads(proc.stdout)["heads"]
    assert json.loads((run / "stylehunt_preset.json").read_text())["name"] == "run"
    assert sorted(os.listdir(run)) == sorted(RUN_FILES)


def test_write_image_replaces_a_link_at_its_path(tmp_path):
    from PIL import Image

    from stylehunt.files import atomic_write_image as write_image

    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"keep me")
    (tmp_path / "atlas.png").symlink_to(victim)
    write_image(Image.new("RGB", (4, 4)), tmp_path / "atlas.png")
    assert victim.read_bytes() == b"keep me"
    assert not (tmp_path / "atlas.png").is_symlink() and Image.open(tmp_path / "atlas.png").size == (4, 4)


# --- a new run refuses a folder that is not its own ------------------------------------------------------


def test_a_new_run_refuses_a_folder_holding_other_files(env, tmp_path):
    planted = tmp_path / "common"
    planted.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"the user's file")
    (planted / "grid.png").symlink_to(victim)
    (planted / "scores.json").write_bytes(b'{"mine": true}')
    (planted / "notes.txt").write_bytes(b"notes")
    before = _snapshot(tmp_path)
    proc = _run(env, tmp_path, *SEARCH, "--out", planted)
    assert proc.returncode == 1
    assert f"run folder {planted} is not empty and holds no stylehunt run (grid.png, notes.txt, scores.json)" in proc.stderr
    assert "Hint: give a new or empty folder as --out" in proc.stderr
    assert _snapshot(tmp_path) == before


def test_a_folder_holding_only_a_killed_runs_leftovers_counts_as_empty(tmp_path):
    from stylehunt.headhunter.runfolder import check_run_folder

    folder = tmp_path / "left"
    folder.mkdir()
    (folder / LOCK_FILE).write_text("12345\n")
    (folder / ".state.json.k3j4h5.tmp").write_bytes(b"{")
    check_run_folder(folder, resume=False)  # no error
    (folder / "state.json.bak").write_bytes(b"{}")
    with pytest.raises(SearchConfigError, match=r"holds no stylehunt run \(state.json.bak\)"):
        check_run_folder(folder, resume=False)


# --- one search per folder ---------------------------------------------------------------------------------

_HOLD = """
import sys, time
from stylehunt.headhunter.runfolder import RunLock
lock = RunLock(sys.argv[1]).__enter__()
print("locked", flush=True)
time.sleep(120)
"""


def test_a_second_search_on_a_locked_folder_is_refused_naming_the_holder(env, tmp_path):
    folder = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(folder)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert (folder / LOCK_FILE).read_text() == f"{holder.pid}\n"
        before = _snapshot(tmp_path)
        proc = _run(env, tmp_path, *SEARCH, "--out", folder)
        assert proc.returncode == 1
        assert f"run folder {folder} is in use by another search (pid {holder.pid})" in proc.stderr
        assert f"kill {holder.pid}" in proc.stderr
        assert _snapshot(tmp_path) == before
        (folder / "command.json").write_text("{}")  # now it looks like a run: --resume is refused the same way
        before = _snapshot(tmp_path)
        proc = _run(env, tmp_path, "search", "--resume", folder)
        assert proc.returncode == 1 and f"in use by another search (pid {holder.pid})" in proc.stderr
        assert _snapshot(tmp_path) == before
        assert lock_holder(folder) == str(holder.pid)
        with pytest.raises(SearchConfigError, match=f"pid {holder.pid}"):
            with RunLock(folder):
                pass
        holder.send_signal(signal.SIGKILL)  # the kernel drops its lock; its .lock file stays, stale
        holder.wait(timeout=30)
        assert (folder / LOCK_FILE).exists() and lock_holder(folder) is None
        with RunLock(folder):
            assert (folder / LOCK_FILE).read_text() == f"{os.getpid()}\n"
        assert not (folder / LOCK_FILE).exists()  # released: removed
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_the_lock_file_is_never_written_through_a_link_or_a_hard_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / LOCK_FILE).symlink_to(victim)
    with pytest.raises(SearchConfigError, match="is a symbolic link"):
        with RunLock(folder):
            pass
    (folder / LOCK_FILE).unlink()
    os.link(victim, folder / LOCK_FILE)
    with pytest.raises(SearchConfigError, match="2 names"):
        with RunLock(folder):
            pass
    assert victim.read_bytes() == b"precious"


def test_a_run_that_fails_before_its_first_save_leaves_no_folder(tmp_path):
    with pytest.raises(RuntimeError):
        with RunLock(tmp_path / "new" / "run"):
            raise RuntimeError("the search failed")
    assert not (tmp_path / "new" / "run").exists()


# --- every option is checked before anything is created, naming its flag ---------------------------------------


def _with(*overrides):
    args = list(SEARCH)
    for flag, value in zip(overrides[::2], overrides[1::2]):
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    return args


@pytest.mark.parametrize(
    "overrides, code, message",
    [
        (("--version", "v1"), 1, "--version cannot be saved in the preset: Expected a semantic version"),
        (("--name", "Bad Name"), 1, "--name cannot be saved in the preset: expected `slug`"),
        (("--license", "MIT License"), 1, "--license cannot be saved in the preset: expected a lowercase license id"),
        (("--resolution", "70"), 2, "Invalid value for '--resolution': 70 is not a multiple of 8"),
        (("--strategy", "screened", "--screen-prompts", "3"), 1, "Expected --screen-prompts <= the number of search"),
        (("--strategy", "screened", "--screen-steps", "2"), 1, "Expected --screen-steps <= --steps (1)"),
        (("--strategy", "screened", "--per-round", "2", "--rounds", "1", "--rerank", "1"), 1, "--rerank must be at least --per-round"),
        (("--num-prompts", "0"), 2, "Invalid value for '--num-prompts'"),
        (("--scale", "nan"), 2, "Invalid value for '--scale'"),
        (("--seed", "-1"), 2, "Invalid value for '--seed'"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_a_bad_option_creates_nothing_and_names_its_flag(env, tmp_path, overrides, code, message):
    proc = _run(env, tmp_path, *_with(*overrides), "--out", tmp_path / "runs" / "golden")
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr
    assert not any(name in proc.stderr for name in LIBRARY_NAMES), proc.stderr
    assert not (tmp_path / "runs").exists()


def _unwritable_folder(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    # root writes through folder permissions; /proc/sys refuses even root
    assert os.path.isdir("/proc/sys") and not os.access("/proc/sys", os.W_OK), "this test needs a folder root cannot write to"
    return Path("/proc/sys")


def test_an_out_that_cannot_be_written_is_refused_before_the_model_loads(env, tmp_path):
    (tmp_path / "file.txt").write_bytes(b"a file")
    proc = _run(env, tmp_path, *SEARCH, "--out", tmp_path / "file.txt" / "run")
    assert proc.returncode == 1
    assert f"--out {tmp_path / 'file.txt' / 'run'}: cannot write to {tmp_path / 'file.txt'}: it is a file" in proc.stderr
    folder = _unwritable_folder(tmp_path)
    proc = _run(env, tmp_path, *SEARCH, "--out", folder / "run")
    assert proc.returncode == 1 and f"cannot write to {folder}: permission denied" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 2  # "Error: ..." and "Hint: ..."
    assert (tmp_path / "file.txt").read_bytes() == b"a file"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--thumb", "0", "--out", "atlas.png"], "Invalid value for '--thumb'"),
        (["--out", "atlas.txt"], "Invalid value for '--out': atlas.txt: '.txt' is not an image format"),
    ],
)
def test_atlas_refuses_bad_options_before_rendering(env, tmp_path, args, message):
    cwd = tmp_path / "work"
    cwd.mkdir()
    proc = _run(env, cwd, "atlas", "--model", "tiny-sd3", "--prompt", "a house", "--steps", "1", *args)
    assert proc.returncode == 2 and message in proc.stderr
    assert os.listdir(cwd) == []


# --- damaged records: one clear error naming the file ------------------------------------------------------------


def _edit_state(edit):
    def apply(run: Path) -> None:
        state = json.loads((run / "state.json").read_text())
        text = edit(state)
        (run / "state.json").write_text(text if isinstance(text, str) else json.dumps(state))

    return apply


def _set_score(value):
    def edit(state):
        state["phases"]["baseline"]["units"]["0"]["scores"][0] = value
        return json.dumps(state, allow_nan=True)

    return edit


def _fifo(run: Path) -> None:
    (run / "state.json").unlink()
    os.mkfifo(run / "state.json")


def _deep(state):
    state["phases"]["baseline"]["note"] = json.loads("[" * 500 + "]" * 500)
    return None


@pytest.mark.parametrize(
    "damage, message",
    [
        (_edit_state(_set_score("0.5")), 'phases.baseline.units.0.scores: expected a list of finite numbers, got ["0.5"'),
        (_edit_state(_set_score(float("nan"))), "malformed JSON: NaN is not valid JSON"),
        (_edit_state(lambda s: s.update(phases=[])), "state.json: phases: expected an object, got []"),
        (_edit_state(lambda s: s["phases"]["baseline"].update(units=[[0.5]])),
         "phases.baseline.units: expected an object of unit records"),
        (_edit_state(lambda s: s["phases"]["baseline"]["units"].update({"0": [0.5]})),
         "phases.baseline.units.0: expected an object"),
        (_edit_state(_deep), "JSON nested more than 64 levels deep"),
        (_edit_state(lambda s: "[1, 2]"), "not a stylehunt search state of format 1"),
        (_fifo, "a named pipe (FIFO), not a regular file"),
    ],
    ids=["string score", "NaN score", "phases a list", "units a list", "unit a list", "nested 500 deep",
         "not an object", "a FIFO"],
)
def test_a_damaged_state_is_one_clear_error_naming_the_file(env, finished, tmp_path, damage, message):
    run = _copy(finished, tmp_path / "run")
    damage(run)
    before = _snapshot(tmp_path)
    proc = _run(env, tmp_path, "search", "--resume", run, timeout=60)
    assert proc.returncode == 1
    assert f"{run / 'state.json'}" in proc.stderr and message in proc.stderr, proc.stderr
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "command, message",
    [
        ('{"format": 2, "settings": {"steps": "many"}, "inputs": {}}',
         "settings.steps: Expected steps to be an integer >= 1, but got 'many'"),
        ('{"format": 2, "settings": {}, "inputs": {"num_prompts": [1, 2]}}', "--num-prompts is recorded as [1, 2]"),
        ('{"rounds": [1, 2]}', "rounds: Expected rounds to be an integer >= 1, but got [1, 2]"),
        ('["--steps", "2"]', "expected a JSON object, got [\"--steps\", \"2\"]"),
        ("[" * 300 + "]" * 300, "JSON nested more than 64 levels deep"),
    ],
    ids=["a string for an integer", "a list for an integer option", "first layout: a list for an integer",
         "not an object", "nested 300 deep"],
)
def test_a_damaged_command_record_is_one_clear_error_naming_the_file(env, finished, tmp_path, command, message):
    run = _copy(finished, tmp_path / "run")
    (run / "command.json").write_text(command)
    before = _snapshot(tmp_path)
    proc = _run(env, tmp_path, "search", "--resume", run)
    assert proc.returncode == 1
    assert f"{run / 'command.json'}" in proc.stderr and message in proc.stderr, proc.stderr
    assert _snapshot(tmp_path) == before


def test_run_folder_errors_say_out_in_python_and_the_flag_in_the_cli(tmp_path, monkeypatch, capsys):
    """#22: check_run_folder's errors name search()'s `out` (``param="out"``) and Python's resume=...; the same
    folders given to `stylehunt search` name --out and --resume (in process: all refused before the model loads)."""
    from stylehunt.cli import main
    from stylehunt.headhunter.runfolder import check_run_folder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    Path("mine").mkdir()
    Path("mine/notes.txt").write_text("the user's")
    Path("held").mkdir()
    Path("held/state.json").write_text("{}")
    Path("file.txt").write_text("the user's")
    cases = [  # folder, resume, the library's hint has, the CLI's message starts with, the CLI's hint
        ("file.txt", False, "choose another `out`", None, None),
        ("mine", False, "as `out`", "--out: run folder mine is not empty",
         "give a new or empty folder as --out (or --resume a folder that holds a run)"),
        ("held", False, "choose another `out`", "--out: run folder held already holds a search",
         "resume it with --resume held, or choose another --out"),
        ("none", True, "resume=False", "nothing to resume: run folder none does not exist",
         "check the path, or start a run with --out"),
        ("mine", True, "resume=False", "nothing to resume in mine", "start the run with --out instead"),
    ]
    for folder, resume, python, message, hint in cases:
        with pytest.raises(SearchConfigError) as info:
            check_run_folder(Path(folder), resume=resume)
        e = info.value
        assert python in e.hint and "--" not in f"{e} {e.hint}", (folder, e, e.hint)
        assert e.param == (None if resume else "out"), folder
        if message is None:  # a file as --out is refused by click's own check of the option
            continue
        assert main(["search", "--model", "tiny-sd3", "--objective", "brightness",
                     "--resume" if resume else "--out", folder]) == 1
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 2 and err.splitlines()[1] == f"Hint: {hint}", err
        assert err.startswith(f"Error: {message}") and "`" not in err, err
    assert not Path("none").exists() and os.listdir("mine") == ["notes.txt"] and os.listdir("held") == ["state.json"]
