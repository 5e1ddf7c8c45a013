"""Shared fixtures: isolated caches/homes, and tiny offline pipelines built once per session."""

from __future__ import annotations

import os
import socket

# One intra-op thread per process unless the caller chose: `make test` runs two xdist workers on two
# cores, and two OpenMP pools of two threads each spin-wait against each other on the tiny models'
# small ops (the LoRA and precision tests took 56 s that way, 20 s with one thread each, in one run
# here). Set before torch is imported, so the children the tests start (CLI runs, the distributed
# search, the studio's search) inherit it too.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """No test reaches the network: a connection to anything but loopback is refused, as on CI.

    (It raises ConnectionRefusedError, an OSError, so code under test sees what an offline machine
    shows it. huggingface_hub's one-off agent-harness lookup is also given an empty registry.)
    """
    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in _LOOPBACK:
            raise ConnectionRefusedError(f"tests may only connect to loopback, not {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    try:
        from huggingface_hub.utils import _detect_agent

        monkeypatch.setattr(_detect_agent, "_registry", {"standardEnvVars": [], "harnesses": {}})
    except (ImportError, AttributeError):  # other huggingface_hub versions
        pass


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


@pytest.fixture(scope="session")
def tiny_chroma_path(tmp_path_factory):
    """A tiny random-weight Chroma pipeline saved with save_pretrained (T5 only, padding mask)."""
    return _tiny_path(tmp_path_factory, "chroma")


@pytest.fixture(scope="session")
def tiny_zimage_path(tmp_path_factory):
    """A tiny random-weight Z-Image pipeline saved with save_pretrained (Qwen3 + in-memory Qwen2 tokenizer)."""
    return _tiny_path(tmp_path_factory, "zimage")


@pytest.fixture(scope="session")
def tiny_qwenimage_path(tmp_path_factory):
    """A tiny random-weight Qwen-Image pipeline saved with save_pretrained (Qwen2.5-VL + in-memory Qwen2 tokenizer)."""
    return _tiny_path(tmp_path_factory, "qwenimage")


@pytest.fixture(scope="session")
def tiny_flux2_path(tmp_path_factory):
    """A tiny random-weight FLUX.2-klein base pipeline saved with save_pretrained (Qwen3 + in-memory Qwen2 tokenizer)."""
    return _tiny_path(tmp_path_factory, "flux2")


@pytest.fixture(scope="session")
def tiny_flux2_dev_path(tmp_path_factory):
    """A tiny random-weight FLUX.2-dev pipeline saved with save_pretrained (Mistral3 + in-memory Pixtral processor)."""
    return _tiny_path(tmp_path_factory, "flux2-dev")


@pytest.fixture(scope="session")
def tiny_wan_path(tmp_path_factory):
    """A tiny random-weight Wan 2.2 pipeline (two experts, UMT5, the Wan video VAE) saved with save_pretrained."""
    return _tiny_path(tmp_path_factory, "wan")


@pytest.fixture(scope="session")
def tiny_hunyuanvideo15_path(tmp_path_factory):
    """A tiny random-weight HunyuanVideo 1.5 pipeline (Qwen2.5-VL + ByT5, a CFG guider component) saved with save_pretrained."""
    return _tiny_path(tmp_path_factory, "hunyuanvideo15")


@pytest.fixture(scope="session")
def tiny_ernieimage_path(tmp_path_factory):
    """A tiny random-weight ERNIE-Image pipeline (Mistral3 encoder, FLUX.2's VAE) saved with save_pretrained."""
    return _tiny_path(tmp_path_factory, "ernieimage")


@pytest.fixture(scope="session")
def tiny_ltx_path(tmp_path_factory):
    """A tiny random-weight LTX-Video 0.9 pipeline (T5, the LTX video VAE) saved with save_pretrained."""
    return _tiny_path(tmp_path_factory, "ltx")


@pytest.fixture(scope="session")
def tiny_ltx2_path(tmp_path_factory):
    """A tiny random-weight LTX-2 pipeline (Gemma 3, connectors, video and audio VAEs, vocoder) saved with save_pretrained."""
    return _tiny_path(tmp_path_factory, "ltx2")


@pytest.fixture(scope="session")
def tiny_sdxl_path(tmp_path_factory):
    """A tiny random-weight SDXL pipeline (a small UNet2DConditionModel, two CLIP encoders) saved with save_pretrained."""
    return _tiny_path(tmp_path_factory, "sdxl")


@pytest.fixture(scope="session")
def tiny_sd15_path(tmp_path_factory):
    """A tiny random-weight SD 1.5 pipeline (a small UNet2DConditionModel, one CLIP encoder) saved with save_pretrained."""
    return _tiny_path(tmp_path_factory, "sd15")


@pytest.fixture(scope="session")
def tiny_qwenimage21_path(tmp_path_factory):
    """A tiny random-weight Qwen-Image 2.1 pipeline (block-causal, KV cache, Qwen3-VL processor) saved with save_pretrained."""
    return _tiny_path(tmp_path_factory, "qwenimage21")
