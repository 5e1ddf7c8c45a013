"""Every Hugging Face Hub call stylehunt makes, stamped ``library_name="stylehunt"``.

`connection` (endpoint, cache, offline flag read at call time), `names` (repo ids and revisions
checked first), `fetch` (checked downloads), `cache` (undoing a failed load), `translate`
(huggingface_hub errors to stylehunt's), `write` (publishing), `search` and `pulls` (finding
presets, curating the index). It imports nothing from the registry; nothing runs at import time.
"""

from __future__ import annotations

from .._lazy import lazy_exports

# Imported on first use: huggingface_hub's client pulls in its HTTP stack (about 0.1 s), which
# `stylehunt list` and `show` of a bundled preset never need.
_EXPORTS = {
    "cache_transaction": ".cache",
    "PROBE_TIMEOUT": ".connection",
    "cache_dir": ".connection",
    "datasets_cache_dir": ".connection",
    "endpoint": ".connection",
    "hf_home": ".connection",
    "is_offline": ".connection",
    "repo_status": ".connection",
    "unreachable": ".connection",
    "offline_hint": ".translate",
    "HubFile": ".fetch",
    "cached_file": ".fetch",
    "download": ".fetch",
    "download_file": ".fetch",
    "list_tags": ".fetch",
    "check_repo_id": ".names",
    "check_revision": ".names",
    "is_valid_revision": ".names",
    "revision_problem": ".names",
    "version_tag": ".names",
    "MAX_PULL_REQUESTS": ".pulls",
    "PullRequest": ".pulls",
    "list_pull_requests": ".pulls",
    "open_pull_request": ".pulls",
    "MODEL_SORTS": ".search",
    "ModelHit": ".search",
    "probe": ".search",
    "search_models": ".search",
    "hub_errors": ".translate",
    "commit_files": ".write",
    "create_repo": ".write",
    "create_tag": ".write",
    "repo_tags": ".write",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    # settings, read at call time
    "endpoint", "is_offline", "hf_home", "cache_dir", "datasets_cache_dir", "PROBE_TIMEOUT", "repo_status", "unreachable",
    # reading: raw and checked downloads, the cache, error translation
    "download", "HubFile", "download_file", "cached_file", "list_tags", "cache_transaction", "hub_errors", "offline_hint",
    # names and writing
    "check_repo_id", "check_revision", "is_valid_revision", "revision_problem", "version_tag",
    "repo_tags", "create_repo", "commit_files", "create_tag",
    # finding presets, and pull requests on the registry index
    "MODEL_SORTS", "ModelHit", "probe", "search_models",
    "PullRequest", "MAX_PULL_REQUESTS", "open_pull_request", "list_pull_requests",
]
