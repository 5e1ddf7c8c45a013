"""Submitting presets to the registry index (pull requests on the test Hub) and checking an index as maintainers do."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from stylehunt import hub
from stylehunt.cli import main
from stylehunt.errors import (
    ArchitectureMismatchError,
    HubOfflineError,
    HubRepoNotFoundError,
    InvalidPresetError,
    PresetNotFoundError,
    PresetReferenceError,
    RegistryIndexError,
    VersionExistsError,
)
from stylehunt.registry import RegistryIndex, check_index, list_presets, load_preset, submit_preset
from stylehunt.registry import index as registry
from tests._hub_fixtures import (  # noqa: F401
    READ_TOKEN,
    SD3_FP,
    SD3_ID,
    WRITE_TOKEN,
    fake_hub,
    index_repo,
    loopback_only,
    make_preset,
    publish,
)

ROOT = Path(__file__).resolve().parent.parent
INDEX = "stylehunt-org/registry"
SD35_FP = {
    "transformer_class": "SD3Transformer2DModel",
    "num_layers": 37,
    "heads_per_layer": 24,
    "head_dim": 64,
    "layer_kinds": [["image_text", 24], ["image", 13]],
}


@pytest.fixture
def hub_index(fake_hub, monkeypatch):
    """An index repo (bundled aliases, no presets) as STYLEHUNT_INDEX_REPO; bob (a write token) submits."""
    index_repo(fake_hub, INDEX)
    fake_hub.state.add_token("hf_bob_write", "bob")
    monkeypatch.setenv("STYLEHUNT_INDEX_REPO", INDEX)
    monkeypatch.setenv("HF_TOKEN", "hf_bob_write")
    return fake_hub


def golden(version: str = "1.0.0", **overrides) -> object:
    return make_preset(name="sd3-medium/golden-hour", version=version, **overrides)


def index_on(server, revision: str = "main") -> dict:
    return json.loads(server.state.files(INDEX, revision)["index.json"])


def sha(preset) -> str:
    return hashlib.sha256(preset.to_json().encode()).hexdigest()


# ---------------------------------------------------------------------------------------- submit


def test_submit_opens_a_pull_request_with_a_pinned_entry(hub_index):
    commit = publish(hub_index, "bob/golden-hour", golden())
    base = hub_index.state.repos[("model", INDEX)].branches["main"]
    result = submit_preset("hf-hub:bob/golden-hour@v1.0.0", "sd3-medium/golden-hour")

    pr = result.pull_request
    assert pr.num == 1 and pr.revision == "refs/pr/1" and pr.url.endswith(f"/{INDEX}/discussions/1")
    assert result.review_reference == f"hf-hub:{INDEX}@refs/pr/1" and not result.dry_run
    # main is untouched; the pull request branch holds the new entry, based on the commit that was checked
    assert index_on(hub_index)["presets"] == {}
    state = hub_index.state.repos[("model", INDEX)].prs[1]
    assert state.base == base and state.author == "bob" and state.title == "Add sd3-medium/golden-hour 1.0.0"
    entry = index_on(hub_index, "refs/pr/1")["presets"]["sd3-medium/golden-hour"]
    assert entry == {
        "description": "Warm low sun.",
        "tags": ["lighting"],
        "versions": {"1.0.0": {"repo": "bob/golden-hour", "revision": commit, "sha256": sha(golden())}},
    }
    RegistryIndex.parse(index_on(hub_index, "refs/pr/1"), source="the pull request")
    # the description: fingerprint, provenance summary, how it was validated, how to review
    text = state.description
    for fragment in [
        "## How it was validated",
        f"`stylehunt_preset.json` was downloaded at commit `{commit}`",
        f"sha256 `{sha(golden())}`, which the entry pins",
        "fingerprint equals the `sd3-medium` alias's",
        "is valid and new in the index",
        "no open pull request proposes it",
        f"against `index.json` at commit `{base}`",
        "provenance: manual: picked by hand for a test",
        json.dumps(SD3_FP, sort_keys=True),
        f"stylehunt registry check hf-hub:{INDEX}@refs/pr/",
    ]:
        assert fragment in text, fragment
    # the stock client lists it; the pull request revision reads like any other
    assert [(p.num, p.title, p.author) for p in hub.list_pull_requests(INDEX)] == [(1, "Add sd3-medium/golden-hour 1.0.0", "bob")]
    assert check_index(f"hf-hub:{INDEX}@refs/pr/1").ok


def test_merged_submission_is_picked_up_by_refresh(hub_index, capsys):
    publish(hub_index, "bob/golden-hour", golden())
    submit_preset("hf-hub:bob/golden-hour@v1.0.0", "sd3-medium/golden-hour")
    hub_index.state.merge_pr(INDEX, 1)
    assert "sd3-medium/golden-hour" not in list_presets()
    registry.refresh_index()
    assert list_presets("sd3-medium/golden*") == ["sd3-medium/golden-hour"]
    assert load_preset("sd3-medium/golden-hour@1").heads == golden().heads


def test_the_owning_repo_adds_a_version(hub_index):
    c1 = publish(hub_index, "bob/golden-hour", golden())
    index_repo(hub_index, INDEX, {"sd3-medium/golden-hour": {
        "description": "Warm low sun.", "versions": {"1.0.0": {"repo": "bob/golden-hour", "revision": c1, "sha256": sha(golden())}}}})
    c2 = publish(hub_index, "bob/golden-hour", golden("1.1.0", description="Warmer."))
    result = submit_preset("hf-hub:bob/golden-hour@v1.1.0", "sd3-medium/golden-hour")
    assert not result.new_name and "belongs to hf-hub:bob/golden-hour, the same repo" in result.description
    versions = index_on(hub_index, "refs/pr/1")["presets"]["sd3-medium/golden-hour"]["versions"]
    assert list(versions) == ["1.0.0", "1.1.0"] and versions["1.1.0"]["revision"] == c2


def test_dry_run_shows_the_entry_and_the_diff_and_writes_nothing(hub_index, capsys):
    publish(hub_index, "bob/golden-hour", golden())
    code = main(["submit", "hf-hub:bob/golden-hour@v1.0.0", "--name", "sd3-medium/golden-hour", "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "Would open a pull request on stylehunt-org/registry: 'Add sd3-medium/golden-hour 1.0.0'" in out
    assert '  "sd3-medium/golden-hour": {' in out
    assert "--- a/index.json\n+++ b/index.json\n" in out and '-  "presets": {}\n+  "presets": {\n' in out
    assert f'+          "sha256": "{sha(golden())}"' in out
    assert hub_index.state.writes() == [] and hub_index.state.repos[("model", INDEX)].prs == {}


def test_cli_submit_asks_then_prints_the_pull_request(hub_index, capsys, monkeypatch):
    publish(hub_index, "bob/golden-hour", golden())
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("n\n"))
    assert main(["submit", "hf-hub:bob/golden-hour@v1.0.0", "--name", "sd3-medium/golden-hour"]) == 1
    assert hub_index.state.writes() == []
    capsys.readouterr()
    assert main(["submit", "hf-hub:bob/golden-hour@v1.0.0", "--name", "sd3-medium/golden-hour", "--yes"]) == 0
    out, err = capsys.readouterr()
    assert out.strip().endswith(f"/{INDEX}/discussions/1")
    assert f"stylehunt registry check hf-hub:{INDEX}@refs/pr/1" in err


def test_anyone_with_a_write_token_may_open_one_but_not_a_read_token(hub_index, monkeypatch):
    publish(hub_index, "bob/golden-hour", golden())
    monkeypatch.setenv("HF_TOKEN", READ_TOKEN)
    with pytest.raises(Exception, match="HTTP 403|refused access"):
        submit_preset("hf-hub:bob/golden-hour@v1.0.0", "sd3-medium/golden-hour")
    assert hub_index.state.repos[("model", INDEX)].prs == {}


def _refused(server, error, match, ref, name, **kwargs):
    with pytest.raises(error, match=match):
        submit_preset(ref, name, **kwargs)
    assert server.state.writes() == [], "a refused submission wrote to the Hub"
    assert server.state.repos[("model", INDEX)].prs == {}


def test_unknown_model_alias_is_refused_before_any_write(hub_index):
    publish(hub_index, "bob/golden-hour", golden())
    _refused(hub_index, PresetNotFoundError, "unknown model alias 'sd3-mediun'", "hf-hub:bob/golden-hour@v1.0.0", "sd3-mediun/golden-hour")


def test_a_name_owned_by_another_repo_is_refused_before_any_write(hub_index):
    c1 = publish(hub_index, "alice/golden-hour", golden())
    index_repo(hub_index, INDEX, {"sd3-medium/golden-hour": {
        "versions": {"1.0.0": {"repo": "alice/golden-hour", "revision": c1, "sha256": sha(golden())}}}})
    publish(hub_index, "bob/golden-hour", golden("2.0.0"))
    _refused(hub_index, RegistryIndexError, "is taken: it belongs to hf-hub:alice/golden-hour, not hf-hub:bob/golden-hour",
             "hf-hub:bob/golden-hour@v2.0.0", "sd3-medium/golden-hour")


def test_a_bundled_name_is_refused_before_any_write(hub_index):
    publish(hub_index, "bob/l1h10", make_preset(name="sd3-medium/paper-l1h10", version="2.0.0"))
    _refused(hub_index, RegistryIndexError, r"belongs to stylehunt \(a bundled preset\)", "hf-hub:bob/l1h10@v2.0.0", "sd3-medium/paper-l1h10")


def test_an_existing_version_is_refused_before_any_write(hub_index):
    c1 = publish(hub_index, "bob/golden-hour", golden())
    index_repo(hub_index, INDEX, {"sd3-medium/golden-hour": {
        "versions": {"1.0.0": {"repo": "bob/golden-hour", "revision": c1, "sha256": sha(golden())}}}})
    _refused(hub_index, VersionExistsError, "already has version 1.0.0", "hf-hub:bob/golden-hour@v1.0.0", "sd3-medium/golden-hour")


def test_a_version_an_open_pull_request_proposes_is_refused(hub_index):
    publish(hub_index, "bob/golden-hour", golden())
    hub_index.state.open_pr(INDEX, {"x": b"1"}, title="Add sd3-medium/golden-hour 1.0.0", author="carol")
    _refused_prs = len(hub_index.state.repos[("model", INDEX)].prs)
    with pytest.raises(VersionExistsError, match="pull request #1 .* already proposes"):
        submit_preset("hf-hub:bob/golden-hour@v1.0.0", "sd3-medium/golden-hour")
    assert hub_index.state.writes() == [] and len(hub_index.state.repos[("model", INDEX)].prs) == _refused_prs


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"fingerprint": SD35_FP}, "its architecture fingerprint is not the sd3-medium alias's .*num_layers 37"),
        ({"fingerprint": None}, "the preset records no architecture fingerprint"),
    ],
)
def test_a_fingerprint_that_does_not_match_is_refused_before_any_write(hub_index, overrides, match):
    publish(hub_index, "bob/golden-hour", golden(**overrides))
    _refused(hub_index, ArchitectureMismatchError, match, "hf-hub:bob/golden-hour@v1.0.0", "sd3-medium/golden-hour")


@pytest.mark.parametrize(
    "ref, name, error, match",
    [
        ("sd3-medium/paper-l1h10", "sd3-medium/x", PresetReferenceError, "submit takes the hf-hub: reference"),
        ("./golden.json", "sd3-medium/x", PresetReferenceError, "submit takes the hf-hub: reference"),
        ("hf-hub:bob/golden-hour@v1.0.0", "Golden Hour", InvalidPresetError, "`name`: expected"),
        ("hf-hub:bob/golden-hour@v1.0.0", "golden-hour", InvalidPresetError, "model-alias/slug"),
        ("hf-hub:bob/golden-hour@v1.0.0", "sd3-medium/other-name", InvalidPresetError, "the file is named 'sd3-medium/golden-hour'"),
        ("hf-hub:bob/golden-hour@v9.0.0", "sd3-medium/golden-hour", HubRepoNotFoundError, "no revision 'v9.0.0'"),
    ],
)
def test_bad_references_and_names_are_refused_before_any_write(hub_index, ref, name, error, match):
    publish(hub_index, "bob/golden-hour", golden())
    _refused(hub_index, error, match, ref, name)


def test_submitting_offline_is_refused_but_a_dry_run_uses_the_cache(hub_index, monkeypatch):
    publish(hub_index, "bob/golden-hour", golden())
    submit_preset("hf-hub:bob/golden-hour@v1.0.0", "sd3-medium/golden-hour", dry_run=True)  # fills the cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubOfflineError, match="offline mode is enabled"):
        submit_preset("hf-hub:bob/golden-hour@v1.0.0", "sd3-medium/golden-hour")
    plan = submit_preset("hf-hub:bob/golden-hour@v1.0.0", "sd3-medium/golden-hour", dry_run=True)
    assert plan.dry_run and "open pull requests were not checked: offline" in plan.description
    assert hub_index.state.writes() == []


def test_a_missing_index_repo_is_named(fake_hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", WRITE_TOKEN)
    publish(fake_hub, "alice/golden-hour", golden())
    with pytest.raises(HubRepoNotFoundError, match="nobody/index"):
        submit_preset("hf-hub:alice/golden-hour@v1.0.0", "sd3-medium/golden-hour", index_repo="nobody/index")
    assert fake_hub.state.writes() == []


def test_an_alias_the_index_lacks_comes_from_the_bundled_index(hub_index):
    data = index_on(hub_index)
    del data["models"]["sd3-medium"]
    hub_index.state.commit_files(INDEX, {"index.json": json.dumps(data).encode()})
    publish(hub_index, "bob/golden-hour", golden())
    result = submit_preset("hf-hub:bob/golden-hour@v1.0.0", "sd3-medium/golden-hour", dry_run=True)
    assert '+    "sd3-medium": {' in result.diff and "added from stylehunt's bundled index" in result.description
    RegistryIndex.parse(json.loads(result.index_json), source="planned")


# ---------------------------------------------------------------------------------------- registry check


def _bundled_versions() -> int:
    return sum(len(e.versions) for e in registry.bundled_index().presets.values())


def test_check_the_bundled_index_and_a_checkout(capsys):
    assert check_index().ok
    code = main(["registry", "check"])
    out, _ = capsys.readouterr()
    n, names = _bundled_versions(), len(registry.bundled_index().presets)
    assert code == 0 and out.splitlines()[0].startswith(f"Checking bundled index.json: {names} names, {n} versions")
    assert out.splitlines()[-1] == f"{n} versions checked; all pass."
    assert main(["registry", "check", str(ROOT / "registry")]) == 0  # a folder holding index.json, presets/ beside it


def _checkout(tmp_path: Path, mutate) -> Path:
    """A copy of the source layout (registry/index.json, presets/), changed by ``mutate(index_data, presets_dir)``."""
    import shutil

    shutil.copytree(ROOT / "presets", tmp_path / "presets")
    (tmp_path / "registry").mkdir()
    data = json.loads((ROOT / "registry" / "index.json").read_text())
    mutate(data, tmp_path / "presets")
    (tmp_path / "registry" / "index.json").write_text(json.dumps(data, indent=2))
    return tmp_path / "registry" / "index.json"


def test_check_reports_every_failing_entry_and_exits_1(tmp_path, capsys):
    def mutate(data, presets):
        data["presets"]["sd3-medium/paper-l0h23"]["versions"]["1.0.0"]["sha256"] = "0" * 64  # wrong pin
        f = presets / "sd3-medium/paper-l11h15/1.0.0/stylehunt_preset.json"
        f.unlink()  # does not resolve
        data["presets"]["sd3-medium/paper_l1h10"] = data["presets"]["sd3-medium/paper-l1h10"]  # confusable name
        data["models"]["sd3-medium"]["fingerprint"]["head_dim"] = 32  # no file matches its alias now

    path = _checkout(tmp_path, mutate)
    report = check_index(path)
    assert not report.ok
    verdicts = {f"{v.name}@{v.version}": v for v in report.versions}
    assert "the index pins 0000" in verdicts["sd3-medium/paper-l0h23@1.0.0"].problems[0]
    assert "paper-l11h15" in verdicts["sd3-medium/paper-l11h15@1.0.0"].problems[0]
    assert any("head_dim 64 (the alias has 32)" in p for p in verdicts["sd3-medium/paper-l13h17@1.0.0"].problems)
    assert any("the file says it is sd3-medium/paper-l1h10@1.0.0" in p for p in verdicts["sd3-medium/paper_l1h10@1.0.0"].problems)
    assert verdicts["tiny-sd3/warm@1.0.0"].ok
    assert report.problems == ("names sd3-medium/paper-l1h10, sd3-medium/paper_l1h10 differ only in '.', '_' or '-'; each name must be unique",)

    code = main(["registry", "check", str(path)])
    out, err = capsys.readouterr()
    assert code == 1 and err == ""
    assert "FAIL  sd3-medium/paper-l0h23@1.0.0" in out and "ok    tiny-sd3/warm@1.0.0" in out
    assert "FAIL  (index) names sd3-medium/paper-l1h10, sd3-medium/paper_l1h10" in out
    n = _bundled_versions() + 1  # and the confusable copy
    # every sd3-medium file (its alias changed) and the confusable copy
    failed = sum(name.startswith("sd3-medium/") for name in registry.bundled_index().presets) + 1
    assert out.splitlines()[-1] == f"{failed} of {n} versions failed, and the index has 1 problem."
    assert main(["registry", "check", str(path), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and len(data["versions"]) == n and data["problems"]


def test_check_an_invalid_index_file_is_one_failure(tmp_path, capsys):
    bad = tmp_path / "index.json"
    bad.write_text('{"format_version": 1, "models": {}, "presets": {}, "presets": {}}')
    report = check_index(bad)
    assert not report.ok and "duplicate key 'presets'" in report.problems[0]
    assert main(["registry", "check", str(bad)]) == 1
    assert "FAIL  (index)" in capsys.readouterr().out


def test_check_a_pull_request_on_the_hub(hub_index, capsys):
    good = golden()
    c1 = publish(hub_index, "bob/golden-hour", good)
    noir = make_preset(name="sd3-medium/noir", heads=[(0, 23)])
    c2 = publish(hub_index, "carol/noir", noir)
    flux = make_preset(name="sd3-medium/flux-look", fingerprint=SD35_FP)
    c3 = publish(hub_index, "dave/look", flux)
    data = index_on(hub_index)
    data["presets"] = {
        "sd3-medium/golden-hour": {"versions": {"1.0.0": {"repo": "bob/golden-hour", "revision": c1, "sha256": sha(good)}}},
        "sd3-medium/noir": {"versions": {
            "1.0.0": {"repo": "carol/noir", "revision": c2},  # unpinned
            "1.1.0": {"repo": "carol/noir", "revision": "v9.9.9", "sha256": sha(noir)},  # no such revision
        }},
        "sd3-medium/flux-look": {"versions": {"1.0.0": {"repo": "dave/look", "revision": c3, "sha256": sha(flux)}}},
        "sd3-medium/paper-l1h10": {"versions": {
            "1.0.0": {"repo": "bob/golden-hour", "revision": c1, "sha256": sha(good)},  # shadowed by the bundled file
            "2.0.0": {"file": "x/y/stylehunt_preset.json", "sha256": "0" * 64},  # a file stylehunt does not bundle
        }},
    }
    num = hub_index.state.open_pr(INDEX, {"index.json": json.dumps(data).encode()}, title="many", author="bob")
    code = main(["registry", "check", f"hf-hub:{INDEX}@refs/pr/{num}", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["source"].startswith(f"hf-hub:{INDEX}@refs/pr/{num} (commit ")
    problems = {f"{v['name']}@{v['version']}": v["problems"] for v in report["versions"]}
    assert problems["sd3-medium/golden-hour@1.0.0"] == []
    assert problems["sd3-medium/noir@1.0.0"] == ["not pinned: a Hub version needs the sha256 of its stylehunt_preset.json"]
    assert "has no revision 'v9.9.9'" in problems["sd3-medium/noir@1.1.0"][0]
    assert "not the sd3-medium alias's" in problems["sd3-medium/flux-look@1.0.0"][0]
    assert "sd3-medium/paper-l1h10 is taken: it belongs to stylehunt" in problems["sd3-medium/paper-l1h10@1.0.0"][0]
    assert "cannot point at files that this stylehunt does not bundle" in problems["sd3-medium/paper-l1h10@2.0.0"][0]
    assert hub_index.state.writes() == []


def test_check_a_missing_index_repo_is_an_error(fake_hub, capsys):
    code = main(["registry", "check", "hf-hub:nobody/index@refs/pr/1"])
    _, err = capsys.readouterr()
    assert code == 1 and err.startswith("Error: check the registry index hf-hub:nobody/index@refs/pr/1")


def test_submit_errors_name_the_parameter_in_python_and_the_flag_in_the_cli(hub_index, capsys, monkeypatch):
    """#22: submit_preset's refusals say `name` / `index_repo` (and carry ``param="name"``); the same bad
    input given to `stylehunt submit` says --name / --index-repo."""
    ref = "hf-hub:bob/golden-hour@v1.0.0"
    publish(hub_index, "bob/golden-hour", golden())
    c1 = publish(hub_index, "alice/golden-hour", golden())
    index_repo(hub_index, INDEX, {"sd3-medium/taken": {
        "versions": {"1.0.0": {"repo": "alice/golden-hour", "revision": c1, "sha256": sha(golden())}}}})

    def refused(error, name, **kwargs):
        with pytest.raises(error) as info:
            submit_preset(ref, name, **kwargs)
        text = f"{info.value} {info.value.hint}"
        assert "--" not in text, text
        return info.value

    cases = [  # name, error, the library's words, the CLI's words
        ("Golden Hour", InvalidPresetError, "`name`: expected `slug`", "Error: --name: expected `slug`"),
        ("golden-hour", InvalidPresetError, "`name`: a registry name is model-alias/slug",
         "Error: --name: a registry name is model-alias/slug"),
        ("sd3-mediun/golden-hour", PresetNotFoundError, "`name` 'sd3-mediun/golden-hour': unknown model alias",
         "Error: --name 'sd3-mediun/golden-hour': unknown model alias"),
        ("sd3-medium/taken", RegistryIndexError, "`name` 'sd3-medium/taken' is taken",
         "Error: --name 'sd3-medium/taken' is taken"),
    ]
    for name, error, python, cli in cases:
        e = refused(error, name)
        assert e.param == "name" and str(e).startswith(python), e
        assert main(["submit", ref, "--name", name]) == 1
        err = capsys.readouterr().err
        assert err.startswith(cli) and "`name`" not in err, err
    assert "choose another slug for `name`" in e.hint
    assert "Hint: choose another slug for --name" in err
    e = refused(HubRepoNotFoundError, "sd3-medium/golden-hour", index_repo="bob/golden-hour")  # a repo, not an index
    assert "as `index_repo`" in e.hint, e.hint
    assert main(["submit", ref, "--name", "sd3-medium/golden-hour", "--index-repo", "bob/golden-hour"]) == 1
    assert "Hint: give the index repo OWNER/NAME as --index-repo, or set" in capsys.readouterr().err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    e = refused(HubOfflineError, "sd3-medium/golden-hour")
    assert "dry_run=True" in e.hint, e.hint
    assert main(["submit", ref, "--name", "sd3-medium/golden-hour"]) == 1
    assert "Hint: unset HF_HUB_OFFLINE; `--dry-run` works from the cache" in capsys.readouterr().err
    assert hub_index.state.writes() == []
