"""Every Hugging Face Hub call stylehunt makes, in one place.

* Calls are stamped once with ``library_name="stylehunt"`` (`connection`).
* Everything here is Hub access shared by every room: the registry (presets, the index,
  publishing), the scorers' weights and the prompt datasets. It imports nothing from the registry;
  a caller says what its missing file means (``missing_note`` / ``missing_hint``).
* huggingface_hub's own cache, token and offline settings are used; because huggingface_hub reads
  ``HF_ENDPOINT``, ``HF_HOME`` / ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` once at import, this
  package re-reads them at call time (`endpoint`, `cache_dir`, `is_offline`) and
  passes them explicitly, so a process that changes them (tests, notebooks) gets what it asked for.
* Names are checked before they reach the client (`names`): repo ids, and revisions by git's
  ref rules, so a revision from a user, an index or a hostile server's tag list can never name a
  path outside the cache (huggingface_hub stores a tag as the file ``refs/<revision>``).
* Downloads are checked (`fetch`): a file's size is read from the Hub's metadata and a file
  over the caller's limit is refused before it is downloaded; a cached file whose bytes no longer
  match the blob name huggingface_hub stored it under (git oid or sha256), or the sha256 the
  registry pins, is never returned; it is re-fetched when online and reported when not.
  `cache_transaction` (`cache`) undoes whatever a failed load added to the cache.
* huggingface_hub exceptions become `stylehunt.errors` exceptions with the repo, the
  revision and a fix (`translate`); writes for publishing are in `write`.
* Finding presets and curating the registry: the model search (`search`: filters, free
  text, sort, limit, after a one-request probe so an unreachable Hub is reported at once) and pull
  requests (`pulls`: open one with a commit, list the open ones; ``refs/pr/<num>`` revisions).

Nothing here runs at import time; every function that can touch the network says so.
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
