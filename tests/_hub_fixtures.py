"""Fixtures shared by the preset/registry/Hub tests: the fake Hub, loopback-only networking, presets."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.hub_server import HubServer
from stylehunt import hub
from stylehunt.registry.preset import Preset

SD3_ID = "stabilityai/stable-diffusion-3-medium-diffusers"
SD3_FP = {
    "transformer_class": "SD3Transformer2DModel",
    "num_layers": 24,
    "heads_per_layer": 24,
    "head_dim": 64,
    "layer_kinds": [["image_text", 24]],
}
WRITE_TOKEN = "hf_alice_write"
READ_TOKEN = "hf_bob_read"


def make_preset(**overrides: Any) -> Preset:
    """A complete, saveable preset for the SD3-medium grid."""
    kwargs: dict[str, Any] = dict(
        heads=[(1, 10), (13, 17)],
        strength=0.5,
        scale=3.0,
        name="golden-hour",
        version="1.0.0",
        model=SD3_ID,
        description="Warm low sun.",
        fingerprint=SD3_FP,
        tags=("lighting",),
        license="apache-2.0",
        provenance={"kind": "manual", "source": "picked by hand for a test"},
    )
    kwargs.update(overrides)
    return Preset(**kwargs)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Fail any connection that is not to 127.0.0.1: the tests never use the real network."""
    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"test tried to connect to {address!r}; only 127.0.0.1 is allowed")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    # huggingface_hub fetches an "agent harness" list from its import-time endpoint to build the
    # user agent; give it the empty registry so no request leaves for huggingface.co.
    try:
        from huggingface_hub.utils import _detect_agent
    except ImportError:  # older huggingface_hub (make test-min) has no such lookup
        return
    if hasattr(_detect_agent, "_registry"):
        monkeypatch.setattr(_detect_agent, "_registry", {"standardEnvVars": [], "harnesses": {}})


@pytest.fixture
def fake_hub(monkeypatch):
    """A Hub-protocol server on 127.0.0.1 with user alice (write token) and bob (read token)."""
    with HubServer() as server:
        server.state.add_token(WRITE_TOKEN, "alice", orgs=("stylehunt-org",))
        server.state.add_token(READ_TOKEN, "bob", write=False)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def hub_cache() -> Path:
    return hub.cache_dir()


def cache_listing() -> dict[str, bytes | str]:
    """Every file under the HF cache (symlink targets for links), ignoring lock files."""
    root = hub.cache_dir()
    out: dict[str, bytes | str] = {}
    if not root.exists():
        return out
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if rel.startswith(".locks"):
            continue
        if p.is_symlink():
            out[rel] = "-> " + str(p.readlink())
        elif p.is_file():
            out[rel] = p.read_bytes()
        else:
            out[rel] = "<dir>"
    return out


def publish(server: HubServer, repo_id: str, preset: Preset, *, tag: str | None = None, card: bool = False) -> str:
    """Put a preset file into a repo on the server directly (no client), tagged; returns the commit.

    With ``card``, the model card ``stylehunt publish`` writes goes with it (what the Hub's search reads).
    """
    from stylehunt.registry.publish import model_card

    if (("model", repo_id)) not in server.state.repos:
        server.state.create_repo(repo_id)
    files = {"stylehunt_preset.json": preset.to_json().encode()}
    if card:
        files["README.md"] = model_card(preset, repo_id=repo_id).encode()
    oid = server.state.commit_files(repo_id, files)
    server.state.tag(repo_id, tag or f"v{preset.version}", oid)
    return oid


def index_repo(server: HubServer, repo_id: str = "stylehunt-org/registry", presets: dict | None = None) -> str:
    """A registry index repo on the server: the bundled model aliases and ``presets``; returns the commit."""
    data = json.loads((Path(__file__).resolve().parent.parent / "registry" / "index.json").read_text())
    data["presets"] = presets or {}
    if ("model", repo_id) not in server.state.repos:
        server.state.create_repo(repo_id)
    return server.state.commit_files(repo_id, {"index.json": (json.dumps(data, indent=2) + "\n").encode()})
