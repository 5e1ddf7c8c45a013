"""Publishing and pulling through the stock huggingface_hub client against the fake Hub on 127.0.0.1."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from huggingface_hub import HfApi

from stylehunt import hub
from stylehunt.errors import (
    HubError,
    HubOfflineError,
    HubRepoNotFoundError,
    HubRevisionNotFoundError,
    InvalidPresetError,
    PresetFileError,
    PresetIntegrityError,
    PresetReferenceError,
    VersionExistsError,
)
from stylehunt.registry.preset import Preset
from stylehunt.registry import load_preset, resolve_preset
from tests._hub_fixtures import (  # noqa: F401
    READ_TOKEN,
    SD3_ID,
    WRITE_TOKEN,
    cache_listing,
    fake_hub,
    loopback_only,
    make_preset,
    publish,
)

def _png() -> bytes:
    """A real 1x1 PNG: publishing checks that a preview is an image PIL reads."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, format="PNG")
    return buf.getvalue()


PNG = _png()


@pytest.fixture
def writer(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", WRITE_TOKEN)


# ---------------------------------------------------------------------------------------- publish


def test_push_to_hub_creates_repo_commits_card_and_tags(fake_hub, writer, tmp_path):
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    preset = make_preset()
    result = preset.push_to_hub("alice/golden-hour", images=[image])
    assert result.created_repo and not result.dry_run
    assert result.reference == "hf-hub:alice/golden-hour@v1.0.0"

    files = fake_hub.state.files("alice/golden-hour", "v1.0.0")
    assert sorted(files) == [".gitattributes", "README.md", "previews/cat.png", "stylehunt_preset.json"]
    assert files["previews/cat.png"] == PNG
    assert Preset.from_dict(json.loads(files["stylehunt_preset.json"])) == preset
    assert fake_hub.state.repos[("model", "alice/golden-hour")].tags["v1.0.0"] == result.commit

    card = files["README.md"].decode()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["library_name"] == "stylehunt"
    assert meta["base_model"] == SD3_ID and meta["base_model_relation"] == "adapter"
    assert meta["license"] == "apache-2.0"
    assert {"stylehunt", "sd3", "lighting"} <= set(meta["tags"])
    assert "L1H10, L13H17" in card and "![preview](previews/cat.png)" in card
    assert 'stylehunt.apply(pipe, "hf-hub:alice/golden-hour@v1.0.0")' in card

    # Every request carried the library stamp.
    assert all("stylehunt/" in ua for ua in fake_hub.state.user_agents if ua), fake_hub.state.user_agents
    # And the stock client reads back what the card declares.
    info = HfApi(endpoint=fake_hub.url).model_info("alice/golden-hour", revision="v1.0.0")
    assert info.library_name == "stylehunt" and info.card_data["base_model_relation"] == "adapter"


def test_publishing_an_existing_version_is_refused_before_any_write(fake_hub, writer):
    make_preset().push_to_hub("alice/golden-hour")
    head = fake_hub.state.repos[("model", "alice/golden-hour")].branches["main"]
    writes = len(fake_hub.state.writes())
    with pytest.raises(VersionExistsError) as e:
        make_preset(description="changed").push_to_hub("alice/golden-hour")
    assert e.value.version == "1.0.0" and "v1.0.0" in e.value.hint
    assert len(fake_hub.state.writes()) == writes
    assert fake_hub.state.repos[("model", "alice/golden-hour")].branches["main"] == head

    result = make_preset(description="changed").push_to_hub("alice/golden-hour", version="1.1.0")
    assert not result.created_repo
    assert sorted(fake_hub.state.repos[("model", "alice/golden-hour")].tags) == ["v1.0.0", "v1.1.0"]
    assert load_preset("hf-hub:alice/golden-hour@v1.0.0").description == "Warm low sun."
    assert load_preset("hf-hub:alice/golden-hour@v1.1.0").version == "1.1.0"


def test_dry_run_validates_and_sends_nothing(fake_hub, writer, tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(PNG)
    plan = make_preset().push_to_hub("alice/new", dry_run=True, images=[image], version="2.0.0")
    assert plan.dry_run and plan.tag == "v2.0.0"
    assert [f for f, _ in plan.files] == ["stylehunt_preset.json", "README.md", "previews/a.png"]
    assert dict(plan.files)["previews/a.png"] == len(PNG)
    assert fake_hub.state.requests == []


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"version": "2"}, InvalidPresetError, "semantic version"),
        ({"images": ["missing.png"]}, InvalidPresetError, "does not exist"),
    ],
)
def test_bad_publish_arguments_fail_before_the_network(fake_hub, writer, kwargs, error, message):
    with pytest.raises(error, match=message):
        make_preset().push_to_hub("alice/x", **kwargs)
    assert fake_hub.state.requests == []


def test_bad_repo_id_and_incomplete_preset_are_refused(fake_hub, writer):
    with pytest.raises(PresetReferenceError, match="owner/name"):
        make_preset().push_to_hub("no-owner")
    with pytest.raises(PresetFileError, match="missing `license`"):
        make_preset(license=None).push_to_hub("alice/x")
    assert fake_hub.state.requests == []


def test_publish_without_write_access_is_refused(fake_hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", READ_TOKEN)
    with pytest.raises(HubError) as e:
        make_preset().push_to_hub("alice/golden-hour")
    assert "refused access" in str(e.value) and "write access" in e.value.hint
    assert ("model", "alice/golden-hour") not in fake_hub.state.repos


def test_publish_offline_is_refused(fake_hub, writer, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubOfflineError):
        make_preset().push_to_hub("alice/x")
    assert fake_hub.state.requests == []


# ---------------------------------------------------------------------------------------- pull / load


def test_pull_then_load_offline_by_the_same_reference(fake_hub, monkeypatch):
    commit = publish(fake_hub, "alice/golden-hour", make_preset())
    resolved = resolve_preset("hf-hub:alice/golden-hour@v1.0.0")
    assert resolved.commit == commit and resolved.revision == "v1.0.0"
    assert resolved.path.is_relative_to(hub.cache_dir())  # huggingface_hub's own cache
    assert f"snapshots/{commit}/stylehunt_preset.json" in resolved.path.as_posix()
    resolve_preset("hf-hub:alice/golden-hour")  # main, too

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    n = len(fake_hub.state.requests)
    assert load_preset("hf-hub:alice/golden-hour@v1.0.0").heads == ((1, 10), (13, 17))
    assert load_preset(f"hf-hub:alice/golden-hour@{commit}").name == "golden-hour"
    assert load_preset("hf-hub:alice/golden-hour").name == "golden-hour"
    assert len(fake_hub.state.requests) == n  # no request offline


def test_revision_pinned_loads_ignore_later_commits(fake_hub):
    publish(fake_hub, "alice/golden-hour", make_preset())
    publish(fake_hub, "alice/golden-hour", make_preset(version="1.1.0", strength=0.9))
    assert load_preset("hf-hub:alice/golden-hour@v1.0.0").strength == 0.5
    assert load_preset("hf-hub:alice/golden-hour").strength == 0.9


def test_offline_with_nothing_cached(fake_hub, monkeypatch):
    publish(fake_hub, "alice/golden-hour", make_preset())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubOfflineError) as e:
        load_preset("hf-hub:alice/golden-hour@v1.0.0")
    assert "not in the local cache" in str(e.value) and "HF_HUB_OFFLINE" in str(e.value)
    assert "unset HF_HUB_OFFLINE" in e.value.hint
    assert fake_hub.state.requests == [] and cache_listing() == {}


def test_unreachable_hub_with_nothing_cached(monkeypatch):
    import huggingface_hub.utils._http as hf_http

    sleeps: list[float] = []
    monkeypatch.setattr(hf_http.time, "sleep", sleeps.append)  # the client's retry backoff, not waited out here
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: connection refused
    with pytest.raises(HubOfflineError, match="not in the local cache"):
        load_preset("hf-hub:alice/golden-hour")
    assert cache_listing() == {}
    assert sleeps == []  # one refused connection attempt, not the client's five retries (about 24 s)


def test_missing_repo(fake_hub):
    with pytest.raises(HubRepoNotFoundError) as e:
        load_preset("hf-hub:alice/nothing-here")
    assert e.value.repo_id == "alice/nothing-here"
    assert "does not exist or denies access" in str(e.value) and "HF_TOKEN" in e.value.hint
    assert cache_listing() == {}


def test_private_repo_denies_access_without_the_owner_token(fake_hub, monkeypatch):
    fake_hub.state.create_repo("alice/secret", private=True)
    fake_hub.state.commit_files("alice/secret", {"stylehunt_preset.json": make_preset().to_json().encode()})
    with pytest.raises(HubRepoNotFoundError, match="denies access"):
        load_preset("hf-hub:alice/secret")
    monkeypatch.setenv("HF_TOKEN", READ_TOKEN)
    with pytest.raises(HubRepoNotFoundError, match="denies access"):
        load_preset("hf-hub:alice/secret")
    assert cache_listing() == {}
    monkeypatch.setenv("HF_TOKEN", WRITE_TOKEN)
    assert load_preset("hf-hub:alice/secret").name == "golden-hour"


def test_gated_repo_says_how_to_get_access(fake_hub, monkeypatch):
    fake_hub.state.create_repo("alice/gated", gated=True)
    fake_hub.state.commit_files("alice/gated", {"stylehunt_preset.json": make_preset().to_json().encode()})
    monkeypatch.setenv("HF_TOKEN", READ_TOKEN)
    with pytest.raises(HubRepoNotFoundError, match="gated") as e:
        load_preset("hf-hub:alice/gated")
    assert "request access" in e.value.hint
    fake_hub.state.repos[("model", "alice/gated")].granted.add("bob")
    assert load_preset("hf-hub:alice/gated").name == "golden-hour"


def test_unknown_revision_lists_tags_and_spots_a_missing_v(fake_hub):
    publish(fake_hub, "alice/golden-hour", make_preset())
    with pytest.raises(HubRevisionNotFoundError) as e:
        load_preset("hf-hub:alice/golden-hour@1.0.0")
    assert e.value.available == ("v1.0.0",)
    assert "tags: v1.0.0" in str(e.value)
    assert "write hf-hub:alice/golden-hour@v1.0.0" in e.value.hint
    assert cache_listing() == {}


def test_repo_without_a_preset_file(fake_hub):
    fake_hub.state.create_repo("alice/a-model")
    with pytest.raises(HubRepoNotFoundError, match="has no file 'stylehunt_preset.json'"):
        load_preset("hf-hub:alice/a-model")


def test_invalid_preset_on_the_hub_leaves_the_cache_as_it_was(fake_hub):
    publish(fake_hub, "alice/golden-hour", make_preset())
    load_preset("hf-hub:alice/golden-hour@v1.0.0")
    before = cache_listing()
    bad = make_preset().to_dict()
    bad["heads"] = [[1, 10], [1, 10]]
    fake_hub.state.commit_files("alice/golden-hour", {"stylehunt_preset.json": json.dumps(bad).encode()})
    with pytest.raises(PresetFileError, match=r"heads\[1\]: duplicate head"):
        load_preset("hf-hub:alice/golden-hour")
    assert cache_listing() == before  # no new snapshot, refs/main not added


def test_corrupted_cache_is_refetched_online_and_refused_offline(fake_hub, monkeypatch, caplog):
    publish(fake_hub, "alice/golden-hour", make_preset())
    path = resolve_preset("hf-hub:alice/golden-hour@v1.0.0").path
    blob = os.path.realpath(path)
    good = open(blob, "rb").read()
    corrupted = good.replace(b'"strength": 0.5', b'"strength": 0.9')
    with open(blob, "wb") as f:
        f.write(corrupted)

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PresetIntegrityError) as e:
        load_preset("hf-hub:alice/golden-hour@v1.0.0")
    assert "is corrupted" in str(e.value) and "not used" in str(e.value)
    assert "stylehunt pull" in e.value.hint
    assert open(blob, "rb").read() == corrupted  # reported, left for a re-pull

    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert load_preset("hf-hub:alice/golden-hour@v1.0.0").strength == 0.5  # re-fetched, never the bad bytes
    assert open(blob, "rb").read() == good
    assert "corrupted; downloading it again" in caplog.text


# ---------------------------------------------------------------------------------------- the server


def test_fake_hub_speaks_the_client_protocol(fake_hub, writer):
    api = HfApi(endpoint=fake_hub.url, token=WRITE_TOKEN)
    url = api.create_repo("alice/proto")
    assert url.repo_id == "alice/proto"
    with pytest.raises(Exception) as e:
        api.create_repo("alice/proto")
    assert e.value.response.status_code == 409
    api.create_repo("alice/proto", exist_ok=True)
    info = api.upload_file(path_or_fileobj=b"hello", path_in_repo="dir/a.txt", repo_id="alice/proto")
    api.create_tag("alice/proto", tag="t1", revision=info.oid)
    assert [t.name for t in api.list_repo_refs("alice/proto").tags] == ["t1"]
    tree = {f.path: f for f in api.list_repo_tree("alice/proto", recursive=True)}
    assert set(tree) == {".gitattributes", "dir", "dir/a.txt"} and tree["dir/a.txt"].size == 5
    assert [f.path for f in api.list_repo_tree("alice/proto")] == [".gitattributes", "dir"]
    assert api.file_exists("alice/proto", "dir/a.txt") and not api.file_exists("alice/proto", "nope")
    assert api.model_info("alice/proto", revision="t1").sha == info.oid
    assert api.whoami()["name"] == "alice"
