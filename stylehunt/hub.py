"""Every Hugging Face Hub call stylehunt makes, in one place.

* Calls are stamped once with ``library_name="stylehunt"`` (the ``_download`` / ``_HfApi`` partials).
* Everything here is Hub access shared by every room: the registry (presets, the index,
  publishing), the scorers' weights and the prompt datasets. It imports nothing from the registry;
  a caller says what its missing file means (``missing_note`` / ``missing_hint``).
* huggingface_hub's own cache, token and offline settings are used; because huggingface_hub reads
  ``HF_ENDPOINT``, ``HF_HOME`` / ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` once at import, this module
  re-reads them at call time (:func:`endpoint`, :func:`cache_dir`, :func:`is_offline`) and passes
  them explicitly, so a process that changes them (tests, notebooks) gets what it asked for.
* Downloads are checked: a cached file whose bytes no longer match the blob name huggingface_hub
  stored it under (git oid or sha256), or the sha256 the registry pins, is never returned; it is
  re-fetched when online and reported when not. :func:`cache_transaction` undoes whatever a failed
  load added to the cache.
* huggingface_hub exceptions become :mod:`stylehunt.errors` exceptions with the repo, the
  revision and a fix.

Nothing here runs at import time; every function that can touch the network says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Iterator, Sequence

from huggingface_hub import CommitOperationAdd, HfApi, constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import validate_repo_id

from . import __version__
from .errors import (
    HubError,
    HubOfflineError,
    HubRepoNotFoundError,
    HubRevisionNotFoundError,
    PresetIntegrityError,
    PresetReferenceError,
    StylehuntError,
)

__all__ = [
    # settings, read at call time
    "endpoint", "is_offline", "hf_home", "cache_dir", "datasets_cache_dir", "PROBE_TIMEOUT", "repo_status",
    # reading: raw and checked downloads, the cache, error translation
    "download", "HubFile", "download_file", "cached_file", "list_tags", "cache_transaction", "hub_errors",
    # names and writing
    "check_repo_id", "version_tag", "repo_tags", "create_repo", "commit_files", "create_tag",
]

logger = logging.getLogger(__name__)

LIBRARY = {"library_name": "stylehunt", "library_version": __version__}
#: hf_hub_download / HfApi stamped once with the library name and version.
_download = partial(hf_hub_download, **LIBRARY)
_HfApi = partial(HfApi, **LIBRARY)

_HEX40 = re.compile(r"[0-9a-f]{40}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def endpoint() -> str:
    """The Hub endpoint: ``HF_ENDPOINT`` as set now, else huggingface_hub's default."""
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def is_offline() -> bool:
    """``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``), read now as well as at huggingface_hub's import."""
    return (
        constants.HF_HUB_OFFLINE
        or _truthy(os.environ.get("HF_HUB_OFFLINE"))
        or _truthy(os.environ.get("TRANSFORMERS_OFFLINE"))
    )


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


#: seconds for the one "does the Hub answer" request of :func:`repo_status`
PROBE_TIMEOUT = 10.0


def repo_status(repo_id: str, *, repo_type: str = "model", timeout: float = PROBE_TIMEOUT) -> tuple[str, str]:
    """``(status, reason)``: ``"online"``, ``"cache-only"`` (offline or unreachable) or ``"missing"``.

    Makes at most one short request, and none in offline mode, so a caller can fall back to the
    cache at once instead of waiting out a client's retries.
    """
    if is_offline():
        return "cache-only", "offline mode is on (HF_HUB_OFFLINE=1)"
    try:
        _api().repo_info(repo_id, repo_type=repo_type, timeout=timeout)
    except RepositoryNotFoundError as e:
        return "missing", f"the Hub has no {repo_type} repository {repo_id!r} (or it is private: set HF_TOKEN) ({e})"
    except Exception as e:  # any network/server failure: fall back to the cache
        return "cache-only", f"the Hub cannot be reached ({type(e).__name__}: {e})"
    return "online", ""


def download(
    repo_id: str,
    filename: str,
    *,
    revision: str | None = None,
    repo_type: str = "model",
    cache: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
) -> str:
    """``hf_hub_download`` stamped with our library name, into :func:`cache_dir` (or ``cache``); raw errors."""
    return _download(
        repo_id,
        filename,
        revision=revision,
        repo_type=repo_type,
        cache_dir=str(cache_dir(cache)),
        local_files_only=local_files_only,
        endpoint=endpoint(),
    )


def _api(token: str | None = None) -> HfApi:
    return _HfApi(endpoint=endpoint(), token=token)


def version_tag(version: str) -> str:
    """The git tag a published version gets: ``v<version>``."""
    return f"v{version}"


def check_repo_id(repo_id: Any, ref: str | None = None) -> str:
    """Validate ``owner/name`` without network; raise :class:`PresetReferenceError`."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise PresetReferenceError(f"{repo_id!r} is not a valid Hub repo id: {e}", ref=ref or str(repo_id)) from None
    if "/" not in repo_id:
        raise PresetReferenceError(
            f"{repo_id!r} is not a valid Hub repo id: expected 'owner/name'", ref=ref or str(repo_id)
        )
    return repo_id


# --------------------------------------------------------------------------------------------------
# errors


@contextlib.contextmanager
def hub_errors(
    repo_id: str,
    revision: str | None,
    what: str,
    filename: str | None = None,
    *,
    missing_note: str | None = None,
    missing_hint: str | None = None,
) -> Iterator[None]:
    """Turn huggingface_hub exceptions into stylehunt ones naming the repo and the fix (``what`` starts the message).

    If ``filename`` is missing from the repo, ``missing_note`` ends the message and ``missing_hint`` is the hint.
    """
    at = f"{repo_id}@{revision}" if revision else repo_id
    try:
        yield
    except GatedRepoError as e:
        raise HubRepoNotFoundError(
            f"{what}: {repo_id} is a gated repository and this account has not been granted access",
            repo_id=repo_id,
            revision=revision,
            hint=f"request access on {endpoint()}/{repo_id}, then log in with `hf auth login` or set HF_TOKEN",
        ) from e
    except RepositoryNotFoundError as e:
        raise HubRepoNotFoundError(
            f"{what}: Hub repository {repo_id} does not exist or denies access (HTTP {_status(e)})",
            repo_id=repo_id,
            revision=revision,
        ) from e
    except RevisionNotFoundError as e:
        raise HubRevisionNotFoundError(
            f"{what}: {repo_id} has no revision {revision!r}", repo_id=repo_id, revision=revision
        ) from e
    except EntryNotFoundError as e:
        if isinstance(e, LocalEntryNotFoundError):
            raise HubOfflineError(
                f"{what}: {at} is not in the local cache and the Hub is unreachable"
                + (" (HF_HUB_OFFLINE is set)" if is_offline() else f" ({endpoint()})"),
                repo_id=repo_id,
                revision=revision,
            ) from e
        raise HubRepoNotFoundError(
            f"{what}: {at} has no file" + (f" {filename!r}" if filename else "") + (f"; {missing_note}" if missing_note else ""),
            repo_id=repo_id,
            revision=revision,
            hint=missing_hint,
        ) from e
    except OfflineModeIsEnabled as e:
        raise HubOfflineError(f"{what}: offline mode is enabled (HF_HUB_OFFLINE)", repo_id=repo_id, revision=revision) from e
    except HfHubHTTPError as e:
        status = _status(e)
        if status in (401, 403):
            raise HubError(
                f"{what}: the Hub refused access to {repo_id} (HTTP {status})",
                repo_id=repo_id,
                hint="use a token with write access: `hf auth login` or HF_TOKEN",
            ) from e
        raise HubError(f"{what}: Hub request for {at} failed (HTTP {status}): {_first_line(e)}", repo_id=repo_id) from e
    except OSError as e:  # connection refused, DNS, timeouts surfaced by the HTTP client
        if isinstance(e, StylehuntError):
            raise
        raise HubOfflineError(f"{what}: cannot reach the Hub at {endpoint()} ({e})", repo_id=repo_id, revision=revision) from e


def _status(e: HfHubHTTPError) -> Any:
    response = getattr(e, "response", None)
    return getattr(response, "status_code", "?")


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


# --------------------------------------------------------------------------------------------------
# downloads


@dataclass(frozen=True)
class HubFile:
    """A file from the Hub, in huggingface_hub's cache."""

    repo_id: str
    revision: str
    commit: str
    path: Path  # snapshots/<commit>/<filename>
    sha256: str


def _repo_folder(repo_id: str, repo_type: str = "model") -> Path:
    return cache_dir() / f"{repo_type}s--{repo_id.replace('/', '--')}"


def _blob_mismatch(path: Path, data: bytes) -> tuple[str, str] | None:
    """``(actual, expected)`` when the cached bytes do not match the blob name huggingface_hub gave them.

    Regular files are stored as ``blobs/<git blob oid>``, LFS files as ``blobs/<sha256>``; a
    copy-based cache (no symlinks) has no oid to compare with and passes.
    """
    blob = os.path.basename(os.path.realpath(path))
    if _HEX40.fullmatch(blob):
        actual = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    elif _HEX64.fullmatch(blob):
        actual = hashlib.sha256(data).hexdigest()
    else:
        return None
    return None if actual == blob else (actual, blob)


def download_file(
    repo_id: str,
    filename: str,
    *,
    revision: str | None = None,
    expected_sha256: str | None = None,
    token: str | None = None,
    what: str | None = None,
    missing_note: str | None = None,
    missing_hint: str | None = None,
) -> HubFile:
    """Download (or find in the cache) one file of a model repo and check its bytes. Network unless cached.

    With ``HF_HUB_OFFLINE=1`` only the cache is used (a file pulled at ``revision`` before is found
    by the same ``revision``). A cached copy whose bytes do not match its blob name (a corrupted
    cache) is re-fetched when online, and raises :class:`PresetIntegrityError` when offline. A file
    whose sha256 differs from ``expected_sha256`` raises :class:`PresetIntegrityError`. Errors are
    translated by :func:`hub_errors` (``what``, ``missing_note`` and ``missing_hint`` are passed on).
    """
    revision = revision or constants.DEFAULT_REVISION
    what = what or f"hf-hub:{repo_id}@{revision}"
    offline = is_offline()
    kwargs = dict(revision=revision, cache_dir=str(cache_dir()), endpoint=endpoint(), token=token)
    with hub_errors(repo_id, revision, what, filename, missing_note=missing_note, missing_hint=missing_hint):
        path = Path(_download(repo_id, filename, local_files_only=offline, **kwargs))
        data = path.read_bytes()
        mismatch = _blob_mismatch(path, data)
        if mismatch and not offline:
            logger.warning("%s: the cached %s is corrupted; downloading it again", what, filename)
            path = Path(_download(repo_id, filename, force_download=True, **kwargs))
            data = path.read_bytes()
            mismatch = _blob_mismatch(path, data)
    if mismatch:
        raise PresetIntegrityError(
            f"{what}: the cached {filename} is corrupted (its content hashes to {mismatch[0]}, but it was"
            f" stored as {mismatch[1]}); it was not used",
            path=str(path),
            expected=mismatch[1],
            actual=mismatch[0],
            hint=f"run `stylehunt pull hf-hub:{repo_id}@{revision}` while online to fetch it again"
            if offline
            else "the Hub served different bytes than it announced; try again later",
        )
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise PresetIntegrityError(
            f"{what}: {filename} has sha256 {digest}, but the registry pins {expected_sha256}; it was not used",
            path=str(path),
            expected=expected_sha256,
            actual=digest,
            hint="the file at that revision changed or the registry is wrong; report it, or load it by hf-hub: reference",
        )
    commit = path.relative_to(_repo_folder(repo_id) / "snapshots").parts[0] if _is_under(path, _repo_folder(repo_id)) else revision
    return HubFile(repo_id=repo_id, revision=revision, commit=commit, path=path, sha256=digest)


def cached_file(repo_id: str, filename: str, *, revision: str | None = None) -> Path | None:
    """The cached copy of a file at ``revision`` (no network), or ``None`` if there is none.

    Raises :class:`PresetIntegrityError` if the cached bytes are corrupted.
    """
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=str(cache_dir()), revision=revision or constants.DEFAULT_REVISION)
    if not isinstance(found, str):
        return None
    path = Path(found)
    mismatch = _blob_mismatch(path, path.read_bytes())
    if mismatch:
        raise PresetIntegrityError(
            f"the cached {filename} of {repo_id} is corrupted (its content hashes to {mismatch[0]}, but it was"
            f" stored as {mismatch[1]})",
            path=str(path),
            expected=mismatch[1],
            actual=mismatch[0],
        )
    return path


def _is_under(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def list_tags(repo_id: str, *, token: str | None = None) -> list[str]:
    """The tags of a Hub repo (network). Empty when offline or on any error: used for messages only."""
    if is_offline():
        return []
    try:
        refs = _api(token).list_repo_refs(repo_id)
    except (HfHubHTTPError, OSError) as e:
        logger.debug("cannot list tags of %s: %s", repo_id, e)
        return []
    return sorted(t.name for t in refs.tags)


@contextlib.contextmanager
def cache_transaction(repo_id: str, repo_type: str = "model") -> Iterator[None]:
    """Undo what a failed operation added to huggingface_hub's cache for ``repo_id``.

    On an exception, files and folders created under the repo's cache folder are removed and
    ``refs/*`` are restored; files that were there before (even a corrupted one) are left alone.
    """
    root = cache_dir()
    folder = _repo_folder(repo_id, repo_type)
    locks = root / ".locks" / folder.name
    before = _listing(folder)
    refs = {p: p.read_bytes() for p in before if p.relative_to(folder).parts[0] == "refs" and p.is_file()}
    existed = {p: p.exists() for p in (root, root / ".locks", locks, root / "CACHEDIR.TAG")}
    try:
        yield
    except BaseException:
        try:
            for p in sorted(_listing(folder) - before, key=lambda q: len(q.parts), reverse=True):
                if p.is_symlink() or p.is_file():
                    p.unlink(missing_ok=True)
            for p, content in refs.items():
                if not p.exists() or p.read_bytes() != content:
                    p.write_bytes(content)
            for d in sorted(_dirs(folder), key=lambda q: len(q.parts), reverse=True):
                if d not in before and not any(d.iterdir()):
                    d.rmdir()
            if folder.exists() and not before and not any(folder.iterdir()):
                folder.rmdir()
            if not existed[locks] and locks.is_dir():  # lock files of this repo's downloads only
                for lock in locks.glob("*.lock"):
                    lock.unlink(missing_ok=True)
            if not existed[root / "CACHEDIR.TAG"]:
                (root / "CACHEDIR.TAG").unlink(missing_ok=True)
            for d in (locks, root / ".locks", root):  # folders this call created, if now empty
                if not existed[d] and d.is_dir() and not any(d.iterdir()):
                    d.rmdir()
        except OSError as cleanup_error:  # never hide the real error
            logger.warning("could not undo cache changes for %s: %s", repo_id, cleanup_error)
        raise


def _listing(folder: Path) -> set[Path]:
    if not folder.exists():
        return set()
    out = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in filenames:
            out.add(Path(dirpath) / name)
        for name in dirnames:
            out.add(Path(dirpath) / name)
    return out


def _dirs(folder: Path) -> list[Path]:
    if not folder.exists():
        return []
    return [Path(dp) / d for dp, dns, _ in os.walk(folder) for d in dns if not (Path(dp) / d).is_symlink()]


# --------------------------------------------------------------------------------------------------
# writing (publishing uses these inside hub_errors, which translates their errors)


def repo_tags(repo_id: str, *, token: str | None = None) -> set[str] | None:
    """The tag names of a Hub repo, or ``None`` if the repo does not exist (or is hidden from ``token``). Network."""
    try:
        refs = _api(token).list_repo_refs(repo_id)
    except RepositoryNotFoundError:
        return None
    return {t.name for t in refs.tags}


def create_repo(repo_id: str, *, private: bool | None = None, token: str | None = None) -> None:
    """Create a model repo (nothing happens if it exists). Network."""
    _api(token).create_repo(repo_id, private=private, exist_ok=True)


def commit_files(
    repo_id: str, files: Sequence[tuple[str, bytes | Path]], *, message: str, description: str = "", token: str | None = None
) -> str:
    """Commit ``files`` (``(path in repo, bytes or a local file)``) to ``main`` in one commit; return its id. Network."""
    operations = [
        CommitOperationAdd(path_in_repo=path, path_or_fileobj=content if isinstance(content, bytes) else str(content))
        for path, content in files
    ]
    return _api(token).create_commit(repo_id, operations, commit_message=message, commit_description=description).oid


def create_tag(repo_id: str, tag: str, *, revision: str, message: str, token: str | None = None) -> bool:
    """Tag ``revision``; ``False`` if the tag exists already (HTTP 409: it appeared since the caller looked). Network."""
    try:
        _api(token).create_tag(repo_id, tag=tag, revision=revision, tag_message=message)
    except HfHubHTTPError as e:
        if _status(e) == 409:
            return False
        raise
    return True
