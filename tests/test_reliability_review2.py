"""The second bad-input review (docs/reliability.md, ../shared/reliability-review-2026-12.md): each defect
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
