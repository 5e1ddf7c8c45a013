"""Shared fixtures: isolated caches/homes, and tiny offline pipelines built once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Point every cache and home directory at tmp_path so tests never touch the user's files."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("STYLEHUNT_CACHE", str(home / "stylehunt"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    yield home


def _tiny_path(tmp_path_factory, family: str):
    from stylehunt.tiny import save_tiny_pipeline

    return save_tiny_pipeline(tmp_path_factory.mktemp(f"tiny-{family}"), family)


@pytest.fixture(scope="session")
def tiny_sd3_path(tmp_path_factory):
    """A tiny random-weight SD3 pipeline saved with save_pretrained (load it with from_pretrained)."""
    return _tiny_path(tmp_path_factory, "sd3")


@pytest.fixture(scope="session")
def tiny_sd35_path(tmp_path_factory):
    """A tiny SD3.5-medium-shaped pipeline (rms qk-norm, one dual-attention block)."""
    return _tiny_path(tmp_path_factory, "sd3.5")


@pytest.fixture(scope="session")
def tiny_flux_path(tmp_path_factory):
    """A tiny random-weight FLUX.1 pipeline saved with save_pretrained."""
    return _tiny_path(tmp_path_factory, "flux")
