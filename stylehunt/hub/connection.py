"""Where the Hub is and how we talk to it: endpoint, cache and offline settings read at call time, the stamped client.

huggingface_hub reads ``HF_ENDPOINT``, ``HF_HOME`` / ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` once,
at its import; these functions re-read them now, so a process (or a test) that changes them
later still lands where it asked. `unreachable` knows in one quick connection attempt that
the Hub cannot be reached, so a command falls back to the cache (or fails) at once instead of
waiting out huggingface_hub's five retries (about 24 s) and printing a warning for each.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlsplit
from typing import TYPE_CHECKING, Any

from huggingface_hub import constants

from .. import __version__

if TYPE_CHECKING:
    from huggingface_hub import HfApi

__all__ = [
    "LIBRARY",
    "hf_download",
    "api",
    "endpoint",
    "is_offline",
    "hf_home",
    "cache_dir",
    "datasets_cache_dir",
    "PROBE_TIMEOUT",
    "repo_status",
    "unreachable",
    "CONNECT_TIMEOUT",
]

LIBRARY = {"library_name": "stylehunt", "library_version": __version__}


def hf_download(*args: Any, **kwargs: Any) -> Any:
    """``hf_hub_download`` stamped with the library name and version.

    huggingface_hub's client modules are imported here, on first use, not when this package is:
    ``stylehunt list`` reads the cache only and should not pay for them.
    With the Hub `unreachable`, only the cache is read (``local_files_only``): a cached file is
    returned, a missing one raises huggingface_hub's ``LocalEntryNotFoundError`` at once.
    """
    from huggingface_hub import hf_hub_download

    if not kwargs.get("local_files_only") and unreachable(kwargs.get("endpoint")):
        kwargs["local_files_only"] = True
    return hf_hub_download(*args, **LIBRARY, **kwargs)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def endpoint() -> str:
    """The Hub endpoint: ``HF_ENDPOINT`` as set now, else huggingface_hub's default."""
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def api(token: str | None = None) -> "HfApi":
    """An ``HfApi`` stamped with our library name, on `endpoint` (imported on first use, as above)."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint(), token=token, **LIBRARY)


def is_offline() -> bool:
    """``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``), read now as well as at huggingface_hub's import."""
    return (
        constants.HF_HUB_OFFLINE
        or _truthy(os.environ.get("HF_HUB_OFFLINE"))
        or _truthy(os.environ.get("TRANSFORMERS_OFFLINE"))
    )


#: seconds for the connection attempt of `unreachable`
CONNECT_TIMEOUT = 3.0
#: seconds an answer of `unreachable` is reused (a notebook's network may come back)
_REMEMBER = 60.0
_probes: dict[str, tuple[float, str | None]] = {}
_PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy")


def unreachable(url: str | None = None) -> str | None:
    """Why the Hub at ``url`` (default `endpoint`) cannot be reached now, or ``None`` if it may be.

    One TCP connection attempt to its host and port (at most `CONNECT_TIMEOUT` s; a refused
    port or an unknown host answers at once), remembered for a minute per endpoint. It says nothing
    about HTTP: a reachable host that fails is left to the client and its errors. Behind a proxy
    (``HTTPS_PROXY`` and the like) the proxy decides, so nothing is probed.
    """
    url = (url or endpoint()).rstrip("/")
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return None
    now = time.monotonic()
    seen = _probes.get(url)
    if seen is not None and now - seen[0] < _REMEMBER:
        return seen[1]
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    reason = None
    if host:
        try:
            import socket  # only a connectivity probe needs it; `stylehunt list` imports this module for the cache path

            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
        except OSError as e:  # refused, unknown host, no route, timeout
            reason = f"{url}: {e.strerror or str(e) or type(e).__name__}"
    _probes[url] = (now, reason)
    return reason


def hf_home() -> Path:
    """huggingface_hub's home folder (``HF_HOME``, else ``$XDG_CACHE_HOME/huggingface``), read now.

    huggingface_hub reads these variables once, at its import; we re-read them so a process (or a
    test) that changes them later still lands in the same place hf_hub_download would use.
    """
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"
    )
    return Path(os.path.expandvars(home)).expanduser()


def cache_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """huggingface_hub's cache folder (or ``explicit``), resolved from the environment as it is now (same rules)."""
    if explicit is not None:
        return Path(os.fspath(explicit)).expanduser().resolve()
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(os.path.expandvars(explicit)).expanduser().resolve()
    # resolved like hf_hub_download resolves it, so paths it returns are comparable with ours
    return (hf_home() / "hub").resolve()


def datasets_cache_dir() -> Path:
    """The ``datasets`` library's cache (``HF_DATASETS_CACHE``, else ``HF_HOME/datasets``), read now."""
    explicit = os.environ.get("HF_DATASETS_CACHE")
    return Path(os.path.expandvars(explicit)).expanduser() if explicit else hf_home() / "datasets"


#: seconds for the one "does the Hub answer" request of `repo_status`
PROBE_TIMEOUT = 10.0


def repo_status(repo_id: str, *, repo_type: str = "model", timeout: float = PROBE_TIMEOUT) -> tuple[str, str]:
    """``(status, reason)``: ``"online"``, ``"cache-only"`` (offline or unreachable) or ``"missing"``.

    Makes at most one short request, and none in offline mode, so a caller can fall back to the
    cache at once instead of waiting out a client's retries.
    """
    from huggingface_hub.errors import RepositoryNotFoundError

    if is_offline():
        return "cache-only", "offline mode is on (HF_HUB_OFFLINE=1)"
    reason = unreachable()
    if reason:
        return "cache-only", f"the Hub cannot be reached ({reason})"
    try:
        api().repo_info(repo_id, repo_type=repo_type, timeout=timeout)
    except RepositoryNotFoundError as e:
        return "missing", f"the Hub has no {repo_type} repository {repo_id!r} (or it is private: set HF_TOKEN) ({e})"
    except Exception as e:  # any network/server failure: fall back to the cache
        return "cache-only", f"the Hub cannot be reached ({type(e).__name__}: {e})"
    return "online", ""
