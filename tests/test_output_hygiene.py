"""Output hygiene (issue 9, part 4): text from presets, indexes and Hub repos is shown, never obeyed by the terminal.

``show``, ``list`` and ``pull`` run as a user would (``python -m stylehunt`` in a subprocess); the
raw bytes of stdout and stderr are checked for escape sequences, C1 controls and bidi overrides.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stylehunt.cli.terminal import printable
from tests._hub_fixtures import fake_hub, loopback_only, make_preset, publish  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
WARM = ROOT / "presets" / "tiny-sd3" / "warm" / "1.0.0" / "stylehunt_preset.json"

#: What a hostile preset puts in its text: clear screen, a C1 CSI colour, an OSC title, a bidi
#: override, an isolate, a zero-width space, a line separator, and a newline that fakes a line.
HOSTILE = "warm\x1b[2J\x9b31m\x1b]0;owned\x07\u202egnp.\u2066x\u200by\u2028z\nsource:       fake"
#: Byte sequences that must never reach the terminal raw.
RAW = [b"\x1b", b"\x07", "\x9b".encode(), "\u202e".encode(), "\u2066".encode(), "\u200b".encode(), "\u2028".encode()]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "stylehunt", *args], capture_output=True, cwd=cwd, env=env, timeout=60)


def assert_clean(*streams: bytes) -> None:
    for stream in streams:
        for raw in RAW:
            assert raw not in stream, (raw, stream)
        assert b"Traceback" not in stream


# ---------------------------------------------------------------------------------------- printable


@pytest.mark.parametrize(
    "char, shown",
    [
        ("\x1b", "\\x1b"),
        ("\x00", "\\x00"),
        ("\x07", "\\x07"),
        ("\r", "\\r"),
        ("\x7f", "\\x7f"),
        ("\x9b", "\\x9b"),
        ("\x85", "\\x85"),
        ("\u061c", "\\u061c"),
        ("\u200b", "\\u200b"),
        ("\u200e", "\\u200e"),
        ("\u200f", "\\u200f"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
        ("\u202a", "\\u202a"),
        ("\u202e", "\\u202e"),
        ("\u2060", "\\u2060"),
        ("\u2066", "\\u2066"),
        ("\u2069", "\\u2069"),
        ("\ufeff", "\\ufeff"),
        ("\ud800", "\\ud800"),
    ],
)
def test_printable_shows_every_unsafe_character(char, shown):
    assert printable(f"a{char}b") == f"a{shown}b"


@pytest.mark.parametrize("text", ["Warm low sun.", "tab\tseparated", "été 夕日 🌅", "👩\u200d💻", "two\nlines"])
def test_printable_keeps_ordinary_text(text):
    assert printable(text) == text


def test_one_line_values_cannot_fake_the_next_line():
    assert printable("a\nsource: fake", newlines=False) == "a\\nsource: fake"


# ---------------------------------------------------------------------------------------- show


def test_show_escapes_every_text_field_and_keeps_one_line_per_field(tmp_path):
    hostile = make_preset(
        description=HOSTILE,
        tags=("light\x1b[31m", "b\u202e"),
        provenance={"kind": "manual", "source": HOSTILE, "notes": HOSTILE},
    )
    clean = make_preset(provenance={"kind": "manual", "source": "s", "notes": "n"})
    hostile.save(tmp_path / "hostile.json")
    clean.save(tmp_path / "clean.json")
    before = (tmp_path / "hostile.json").read_bytes()

    shown = cli("show", str(tmp_path / "hostile.json"), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert_clean(shown.stdout, shown.stderr)
    out = shown.stdout.decode()
    assert "warm\\x1b[2J\\x9b31m\\x1b]0;owned\\x07\\u202egnp.\\u2066x\\u200by\\u2028z\\nsource:       fake" in out
    assert "light\\x1b[31m, b\\u202e" in out
    # the same lines as a clean preset: the newline in the description did not add a `source:` line
    baseline = cli("show", str(tmp_path / "clean.json"), cwd=tmp_path).stdout.decode()
    assert len(out.splitlines()) == len(baseline.splitlines())
    assert [line[:16] for line in out.splitlines()] == [line[:16] for line in baseline.splitlines()]  # the labels
    assert (tmp_path / "hostile.json").read_bytes() == before


def test_show_escapes_a_search_provenance(tmp_path):
    data = json.loads(WARM.read_text())
    data["provenance"]["objective"]["text"] = "warmth\x1b[8m"
    data["provenance"]["settings"]["strategy"] = "exhaustive\u202e"
    data["provenance"]["settings"]["heldout"]["preset"] = "not a number\x1b[2J"
    data["provenance"]["stylehunt_version"] = "0.1.0\x9b"
    path = tmp_path / "search.json"
    path.write_text(json.dumps(data, ensure_ascii=False))
    shown = cli("show", str(path), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert_clean(shown.stdout, shown.stderr)
    out = shown.stdout.decode()
    assert '"warmth\\x1b[8m"' in out and "strategy=exhaustive\\u202e" in out and "stylehunt 0.1.0\\x9b" in out
    assert 'held-out:     "not a number\\u001b[2J" with the preset' in out


def test_show_json_escapes_everything_and_round_trips(tmp_path):
    make_preset(description=HOSTILE, tags=("t\x1b",)).save(tmp_path / "p.json")
    shown = cli("show", str(tmp_path / "p.json"), "--format", "json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert_clean(shown.stdout)
    assert shown.stdout.isascii()  # every non-ASCII character is a \uXXXX escape
    preset = json.loads(shown.stdout)["preset"]
    assert preset["description"] == HOSTILE and preset["tags"] == ["t\x1b"]


# ---------------------------------------------------------------------------------------- list and pull


def test_list_escapes_a_hostile_refreshed_index(fake_hub, tmp_path, monkeypatch):
    index = json.loads((ROOT / "registry" / "index.json").read_text())
    index["presets"] = {
        "sd3-medium/evil": {
            "description": HOSTILE,
            "tags": ["x\x1b[5m"],
            "versions": {"1.0.0": {"repo": "alice/evil", "revision": "v1.0.0", "sha256": "0" * 64}},
        }
    }
    fake_hub.state.create_repo("stylehunt/registry")
    fake_hub.state.commit_files("stylehunt/registry", {"index.json": json.dumps(index, ensure_ascii=False).encode()})
    monkeypatch.setenv("STYLEHUNT_INDEX_REPO", "stylehunt/registry")

    listed = cli("list", "--refresh", "*evil*", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert_clean(listed.stdout, listed.stderr)
    rows = listed.stdout.decode().splitlines()
    assert len(rows) == 2 and rows[1].split()[:2] == ["sd3-medium/evil", "1.0.0"] and "warm\\x1b[2J" in rows[1]

    as_json = cli("list", "*evil*", "--format", "json", cwd=tmp_path)
    assert_clean(as_json.stdout)
    assert json.loads(as_json.stdout)[0]["tags"] == ["x\x1b[5m"]


def test_pull_escapes_a_bidi_revision(fake_hub, tmp_path):
    oid = publish(fake_hub, "alice/golden-hour", make_preset())
    fake_hub.state.tag("alice/golden-hour", "v1\u202e0.1", oid)  # valid under git's rules, misleading on screen
    pulled = cli("pull", "hf-hub:alice/golden-hour@v1\u202e0.1", cwd=tmp_path)
    assert pulled.returncode == 0, pulled.stderr
    assert_clean(pulled.stdout, pulled.stderr)
    assert "hf-hub:alice/golden-hour@v1\\u202e0.1" in pulled.stderr.decode()


def test_an_error_naming_hostile_text_is_escaped(tmp_path):
    data = json.loads(make_preset().to_json())
    data["\x1b[2Jevil\u202e"] = 1
    (tmp_path / "p.json").write_text(json.dumps(data, ensure_ascii=False))
    shown = cli("show", str(tmp_path / "p.json"), cwd=tmp_path)
    assert shown.returncode == 1
    assert_clean(shown.stdout, shown.stderr)
    assert "unknown field" in shown.stderr.decode()
