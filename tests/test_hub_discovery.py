"""Finding presets on the Hub: the model search through the stock client, `list --hub`, and the offline fallback."""

from __future__ import annotations

import json
import time

import pytest

from stylehunt import hub
from stylehunt.cli import main
from stylehunt.errors import HubError, HubOfflineError, PresetNotFoundError
from stylehunt.registry import discovery, list_presets
from stylehunt.registry.discovery import search_hub
from tests._hub_fixtures import SD3_ID, fake_hub, loopback_only, make_preset, publish  # noqa: F401

FLUX_ID = "black-forest-labs/FLUX.1-dev"
SD3 = ["sd3-medium/paper-l0h23", "sd3-medium/paper-l11h15", "sd3-medium/paper-l13h17", "sd3-medium/paper-l1h10"]


@pytest.fixture
def shelf(fake_hub):
    """Three published presets (two SD3, one FLUX; golden-hour in two versions), a repo without a card, a private one."""
    golden = make_preset(name="sd3-medium/golden-hour")
    publish(fake_hub, "alice/golden-hour", golden, card=True)
    publish(fake_hub, "alice/golden-hour", make_preset(name="sd3-medium/golden-hour", version="1.1.0"), card=True)
    fake_hub.state.tag("alice/golden-hour", "not-a-version")
    publish(fake_hub, "bob/noir", make_preset(name="sd3-medium/noir", heads=[(0, 23)]), card=True)
    publish(fake_hub, "carol/neon", make_preset(name="flux.1-dev/neon", model=FLUX_ID, fingerprint=None), card=True)
    publish(fake_hub, "dave/no-card", make_preset(name="sd3-medium/plain"))  # not findable: no card, no tags
    fake_hub.state.create_repo("erin/secret", private=True)
    fake_hub.state.commit_files("erin/secret", {"README.md": b"---\nlibrary_name: stylehunt\ntags: [stylehunt]\n---\n"})
    for repo, downloads, likes in [("alice/golden-hour", 120, 4), ("bob/noir", 300, 1), ("carol/neon", 50, 9)]:
        fake_hub.state.repos[("model", repo)].downloads = downloads
        fake_hub.state.repos[("model", repo)].likes = likes
    fake_hub.state.requests.clear()
    return fake_hub


def searches(server) -> list[dict[str, list[str]]]:
    return [q for path, q in server.state.queries if path == "/api/models" and q != {"limit": ["1"]}]


# ---------------------------------------------------------------------------------------- the Hub's search


def test_search_models_sends_what_the_stock_client_sends(shelf):
    hits = hub.search_models(filters=["stylehunt"], search="o", sort="likes", limit=10)
    assert [h.repo_id for h in hits] == ["carol/neon", "alice/golden-hour", "bob/noir"]  # most likes first
    assert hits[0].likes == 9 and hits[0].downloads == 50 and hits[0].library == "stylehunt"
    assert hits[0].last_modified is not None and f"base_model:adapter:{FLUX_ID}" in hits[0].tags
    query = searches(shelf)[-1]
    assert query["filter"] == ["stylehunt"] and query["search"] == ["o"] and query["sort"] == ["likes"]
    assert query["limit"] == ["10"] and "downloads" in query["expand"] and "lastModified" in query["expand"]
    # The probe comes first, one short request.
    assert shelf.state.queries[0] == ("/api/models", {"limit": ["1"]})


def test_search_follows_pages_and_stops_at_the_limit(shelf):
    shelf.state.page_size = 1
    hits = hub.search_models(filters=["stylehunt"], sort="downloads", limit=2)
    assert [h.repo_id for h in hits] == ["bob/noir", "alice/golden-hour"]
    assert len(searches(shelf)) == 2  # two pages of one; the third page is never asked for
    assert [h.repo_id for h in hub.search_models(filters=["stylehunt"], sort="downloads", limit=5)] == [
        "bob/noir", "alice/golden-hour", "carol/neon"
    ]


def test_private_repos_are_found_only_by_their_owner(shelf, monkeypatch):
    assert "erin/secret" not in [h.repo_id for h in hub.search_models(filters=["stylehunt"], limit=10)]
    shelf.state.add_token("hf_erin", "erin")
    monkeypatch.setenv("HF_TOKEN", "hf_erin")
    assert "erin/secret" in [h.repo_id for h in hub.search_models(filters=["stylehunt"], limit=10)]


@pytest.mark.parametrize("kwargs", [{"sort": "stars", "limit": 5}, {"limit": 0}, {"limit": True}])
def test_bad_search_arguments_are_refused_before_any_request(shelf, kwargs):
    with pytest.raises(ValueError):
        hub.search_models(filters=["stylehunt"], **kwargs)
    assert shelf.state.requests == []


def test_a_refused_search_is_one_error(shelf, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_unknown")  # the Hub answers 401 to a token it does not know
    with pytest.raises(HubError, match="cannot search the Hub: the Hub answered HTTP 401"):
        hub.search_models(filters=["stylehunt"], limit=2)


# ---------------------------------------------------------------------------------------- presets on the Hub


def test_search_hub_lists_versions_popularity_and_the_reference(shelf):
    found = search_hub()
    assert [p.repo_id for p in found] == ["bob/noir", "alice/golden-hour", "carol/neon"]  # most downloads first
    golden = found[1]
    assert golden.versions == ("1.0.0", "1.1.0") and golden.latest == "1.1.0"  # `not-a-version` is no version
    assert golden.reference == "hf-hub:alice/golden-hour@v1.1.0" and golden.base_model == SD3_ID
    assert (golden.downloads, golden.likes) == (120, 4)
    assert searches(shelf)[-1]["filter"] == ["stylehunt"]


def test_search_hub_filters_by_base_model_text_and_wildcards(shelf):
    assert [p.repo_id for p in search_hub(base_model=SD3_ID)] == ["bob/noir", "alice/golden-hour"]
    assert searches(shelf)[-1]["filter"] == ["stylehunt", f"base_model:adapter:{SD3_ID}"]
    assert [p.repo_id for p in search_hub("GOLDEN")] == ["alice/golden-hour"]  # free text, any case
    assert [p.repo_id for p in search_hub("*/n*")] == ["bob/noir", "carol/neon"]
    assert searches(shelf)[-1]["search"] == ["/n"]  # the longest plain part goes to the Hub
    for age, repo in enumerate(["bob/noir", "carol/neon", "alice/golden-hour"]):
        state = shelf.state.repos[("model", repo)]
        state.commits[state.branches["main"]].date = time.time() - 3600 * age
    assert [p.repo_id for p in search_hub(sort="updated", limit=2)] == ["bob/noir", "carol/neon"]


def test_an_untagged_repo_loads_from_main(fake_hub):
    fake_hub.state.create_repo("frank/draft")
    fake_hub.state.commit_files("frank/draft", {"README.md": b"---\nlibrary_name: stylehunt\ntags: [stylehunt]\n---\n"})
    (draft,) = search_hub()
    assert draft.versions == () and draft.latest is None and draft.reference == "hf-hub:frank/draft"


def test_list_presets_on_the_hub_returns_loadable_references(shelf):
    refs = list_presets(model="sd3-medium", hub=True)
    assert refs == ["hf-hub:bob/noir@v1.0.0", "hf-hub:alice/golden-hour@v1.1.0"]
    assert list_presets("neon", model=FLUX_ID, hub=True, sort="likes", limit=1) == ["hf-hub:carol/neon@v1.0.0"]
    from stylehunt import load_preset

    assert load_preset(refs[1]).version == "1.1.0"


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"model": "sd3-mediun"}, PresetNotFoundError, "unknown model 'sd3-mediun'"),
        ({"sort": "stars"}, ValueError, "unknown sort 'stars'; use one of: downloads, likes, updated"),
        ({"limit": 0}, ValueError, "limit must be an integer from 1 to 100, but got 0"),
        ({"limit": 101}, ValueError, "from 1 to 100"),
    ],
)
def test_bad_hub_listing_arguments_are_named_before_any_request(shelf, kwargs, error, message):
    with pytest.raises(error, match=message):
        list_presets(hub=True, **kwargs)
    assert shelf.state.requests == []


def test_offline_hub_listing_falls_back_to_the_registry(monkeypatch, caplog):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert list_presets("l1h", hub=True) == ["sd3-medium/paper-l1h10"]  # free text, as the Hub reads it
    assert "offline mode is on" in caplog.text and "listing the registry only" in caplog.text
    sd3 = list_presets(model="sd3-medium")  # the registry's, offline as online
    assert set(SD3) < set(sd3)
    assert list_presets(model="sd3-medium", hub=True) == sd3
    assert list_presets(model=SD3_ID, hub=True) == sd3
    assert list_presets(model="someone/finetune", hub=True) == []  # a Hub model without an alias
    with pytest.raises(PresetNotFoundError):
        list_presets(model="sd3-mediun", hub=True)


def test_an_unreachable_hub_is_reported_at_once(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    start = time.monotonic()
    with pytest.raises(HubOfflineError, match="no answer from http://127.0.0.1:9"):
        search_hub()
    assert list_presets("paper-l0", hub=True) == ["sd3-medium/paper-l0h23"]
    assert time.monotonic() - start < 5  # no 20 s of retries


# ---------------------------------------------------------------------------------------- stylehunt list --hub


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_list_hub_table(shelf, capsys):
    code, out, err = run(capsys, "list", "--hub")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["REFERENCE", "VERSIONS", "DOWNLOADS", "LIKES", "UPDATED", "MODEL"]
    assert lines[1].split()[:3] == ["hf-hub:bob/noir@v1.0.0", "1.0.0", "300"]
    assert lines[2].split()[:5] == ["hf-hub:alice/golden-hour@v1.1.0", "1.0.0,", "1.1.0", "120", "4"]
    assert lines[2].split()[-1] == "sd3-medium" and lines[3].split()[-1] == "flux.1-dev"


def test_cli_list_hub_json_pattern_model_sort(shelf, capsys):
    code, out, _ = run(capsys, "list", "--hub", "golden", "--model", "sd3-medium", "--sort", "likes", "--format", "json")
    (row,) = json.loads(out)
    assert code == 0 and row["reference"] == "hf-hub:alice/golden-hour@v1.1.0"
    assert row["versions"] == ["1.0.0", "1.1.0"] and row["latest"] == "1.1.0"
    assert (row["downloads"], row["likes"], row["model"], row["base_model"]) == (120, 4, "sd3-medium", SD3_ID)
    assert row["last_modified"].startswith("20")
    code, out, err = run(capsys, "list", "--hub", "nothing-like-this")
    assert code == 0 and out == "" and "No preset repos on the Hub match 'nothing-like-this'" in err


def test_cli_list_hub_offline_says_so_in_one_line(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, out, err = run(capsys, "list", "--hub", "paper-l1", "--format", "json")
    assert code == 0
    assert err.splitlines() == ["Cannot search the Hub: offline mode is on (HF_HUB_OFFLINE=1); listing the registry only."]
    assert [r["name"] for r in json.loads(out)] == ["sd3-medium/paper-l11h15", "sd3-medium/paper-l13h17", "sd3-medium/paper-l1h10"]


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["list", "--hub", "--limit", "0"], "Invalid value for '--limit': 0 is not in the range 1<=x<=100"),
        (["list", "--hub", "--sort", "stars"], "Invalid value for '--sort': 'stars' is not one of 'downloads', 'likes', 'updated'"),
        (["list", "--sort", "likes"], "--sort only applies to --hub"),
        (["list", "--limit", "3", "--sort", "likes"], "--sort and --limit only apply to --hub"),
    ],
)
def test_cli_list_hub_bad_input_is_a_usage_error(fake_hub, capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and fragment in err
    assert fake_hub.state.requests == []


def test_cli_list_hub_unknown_model_is_named(fake_hub, capsys):
    code, out, err = run(capsys, "list", "--hub", "--model", "sd3-mediun")
    assert code == 1 and out == "" and "unknown model 'sd3-mediun'" in err and "sd3-medium" in err
    assert fake_hub.state.requests == []


def test_hub_text_is_escaped_in_the_table(fake_hub, capsys):
    fake_hub.state.create_repo("mallory/x")
    fake_hub.state.commit_files("mallory/x", {"README.md": b"---\nlibrary_name: stylehunt\ntags: [stylehunt]\n---\n"})
    fake_hub.state.tag("mallory/x", "v1.0.0")
    fake_hub.state.tag("mallory/x", "v1.0.0-\u202eevil")  # not a git ref name: never listed
    code, out, _ = run(capsys, "list", "--hub")
    assert code == 0 and "\u202e" not in out and "hf-hub:mallory/x@v1.0.0" in out


def test_cli_choices_are_the_discovery_constants():
    from stylehunt.cli import registry_cmds

    assert registry_cmds.HUB_SORTS == tuple(discovery.SORTS)
    assert (registry_cmds.HUB_LIMIT, registry_cmds.HUB_MAX_LIMIT) == (discovery.DEFAULT_LIMIT, discovery.MAX_LIMIT)
