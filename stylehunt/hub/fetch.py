"""Reading from the Hub: raw downloads, checked downloads (size, blob hash, pinned sha256), the cached copy, tags.

`checked_metadata` vets what the Hub announces; `download_file` never holds more of a file than the
caller allows. The caller then reads it through `stylehunt.files.read_regular_file`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import constants
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError, RevisionNotFoundError

from ..errors import HubError, PresetFileError, PresetIntegrityError, StylehuntError
from .cache import is_under, repo_folder
from .connection import LIBRARY, api, cache_dir, endpoint, hf_download, is_offline
from .names import check_repo_id, check_revision, is_valid_revision
from .translate import hub_errors, is_transport_error

__all__ = ["download", "checked_metadata", "HubFile", "download_file", "cached_file", "list_tags"]

logger = logging.getLogger(__name__)

_HEX40 = re.compile(r"[0-9a-f]{40}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def download(
    repo_id: str,
    filename: str,
    *,
    revision: str | None = None,
    repo_type: str = "model",
    cache: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
) -> str:
    """``hf_hub_download`` stamped with our library name, into `cache_dir` (or ``cache``); raw errors.

    ``revision`` must follow git's ref rules (`names.check_revision`). Online, the file's
    ETag and commit are checked first (`checked_metadata`, `HubError`) and the download
    is pinned to that commit; nothing else is checked.
    """
    if revision is not None:
        check_revision(revision)
    pinned = revision
    if not local_files_only and not is_offline():
        meta, failure = _metadata_or_failure(repo_id, filename, revision=revision, repo_type=repo_type)
        if meta is None:
            return _cached_or_raise(failure, repo_id, filename, revision=revision, repo_type=repo_type, cache_dir=str(cache_dir(cache)))
        pinned = meta.commit_hash
    path = hf_download(
        repo_id,
        filename,
        revision=pinned,
        repo_type=repo_type,
        cache_dir=str(cache_dir(cache)),
        local_files_only=local_files_only,
        endpoint=endpoint(),
    )
    if pinned != revision:
        _record_ref(cache_dir(cache) / f"{repo_type}s--{repo_id.replace('/', '--')}", revision, pinned)
    return path


def _record_ref(folder: Path, revision: str | None, commit: str) -> None:
    """Write ``refs/<revision>`` as huggingface_hub does for a download by branch or tag (it did not: the
    download was pinned to ``commit``), so a later offline lookup by ``revision`` finds the copy."""
    revision = revision or constants.DEFAULT_REVISION
    if revision == commit:
        return
    ref = folder / "refs" / revision  # revision follows git's ref rules (checked): no "..", no leading "/"
    if ref.is_file() and ref.read_text() == commit:
        return
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(commit)


def checked_metadata(
    repo_id: str, filename: str, *, revision: str | None = None, repo_type: str = "model", token: str | None = None
) -> Any:
    """The Hub's metadata of a file (one ``HEAD`` request), refused unless huggingface_hub may build paths from it.

    huggingface_hub stores a download as ``blobs/<ETag>`` and locks ``<ETag>.lock``, and points
    ``snapshots/<X-Repo-Commit>/`` at it, taking both headers as the server sends them: an ETag of
    ``../../x`` would create files outside the cache. The Hub sends a git blob id (40 hex digits)
    or a sha256 (64) as ETag and a 40-hex commit id; anything else raises `HubError` naming
    the endpoint, before a byte of the file is downloaded. HTTP errors are raised as
    huggingface_hub raises them (the caller translates them).

    A download is then pinned to the commit just checked.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(repo_id, filename, repo_type=repo_type, revision=revision, endpoint=endpoint())
    meta = get_hf_file_metadata(url, token=token, endpoint=endpoint(), **LIBRARY)
    where = f"hf-hub:{repo_id}" + (f"@{revision}" if revision else "")
    for header, value, ok in (
        ("ETag", meta.etag, meta.etag is not None and (_HEX40.fullmatch(meta.etag) or _HEX64.fullmatch(meta.etag))),
        ("X-Repo-Commit", meta.commit_hash, meta.commit_hash is not None and _HEX40.fullmatch(meta.commit_hash)),
    ):
        if not ok:
            shown = "none" if value is None else repr(value[:80] + ("..." if len(value) > 80 else ""))
            raise HubError(
                f"{where}: the Hub at {endpoint()} answered for {filename} with {header} {shown}, which is not"
                f" {'a git blob id or sha256 (40 or 64 hex digits)' if header == 'ETag' else 'a commit id (40 hex digits)'};"
                " nothing was downloaded",
                repo_id=repo_id,
                hint="HF_ENDPOINT must name a Hugging Face Hub you trust; a real Hub never sends that",
            )
    return meta


def _metadata_or_failure(repo_id: str, filename: str, **kwargs: Any) -> tuple[Any, BaseException | None]:
    """``(metadata, None)``; ``(None, error)`` when the Hub gave no usable answer (no connection, an HTTP
    error other than "no such revision or file"), in which huggingface_hub falls back to its cache."""
    try:
        return checked_metadata(repo_id, filename, **kwargs), None
    except (RevisionNotFoundError, EntryNotFoundError):
        raise
    except HfHubHTTPError as e:
        return None, e
    except Exception as e:
        if isinstance(e, StylehuntError) or not (isinstance(e, OSError) or is_transport_error(e)):
            raise
        return None, e


def _cached_or_raise(failure: BaseException | None, repo_id: str, filename: str, **kwargs: Any) -> str:
    """The cached copy when the metadata request failed, as huggingface_hub would serve it; else the failure
    (an HTTP error as it was; no answer as huggingface_hub's "not in the local cache")."""
    try:
        return hf_download(repo_id, filename, local_files_only=True, **kwargs)
    except LocalEntryNotFoundError:
        if isinstance(failure, HfHubHTTPError):
            raise failure from None
        raise


@dataclass(frozen=True)
class HubFile:
    """A file from the Hub, in huggingface_hub's cache: checked, at most the caller's size limit."""

    repo_id: str
    revision: str
    commit: str
    path: Path  # snapshots/<commit>/<filename>
    sha256: str
    size: int


@dataclass(frozen=True)
class _Digest:
    size: int
    sha256: str
    git_oid: str


def _digest(path: Path, what: str, filename: str, max_bytes: int) -> _Digest:
    """Size and hashes of a cached file, read in chunks; refuse a non-regular file or one over ``max_bytes``."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise PresetFileError(
            f"{what}: the cached {filename} is not a regular file ({path}); it was not read",
            path=str(path),
            hint="delete the cached copy (`hf cache delete`) and fetch it again",
        )
    if info.st_size > max_bytes:
        raise _too_large(what, filename, info.st_size, max_bytes, "in the cache")
    sha256, size = hashlib.sha256(), 0
    oid = hashlib.sha1(b"blob %d\0" % info.st_size)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(min(1 << 16, max_bytes + 1 - size)), b""):
            size += len(chunk)
            if size > max_bytes:  # grew since the stat
                raise _too_large(what, filename, f"more than {max_bytes}", max_bytes, "in the cache")
            sha256.update(chunk)
            oid.update(chunk)
    if size != info.st_size:  # the git oid header named the stat size
        oid = hashlib.sha1(b"blob %d\0" % size)
    return _Digest(size=size, sha256=sha256.hexdigest(), git_oid=oid.hexdigest())


def _too_large(what: str, filename: str, size: int | str, max_bytes: int, where: str) -> PresetFileError:
    done = "downloaded" if where == "on the Hub" else "read"
    return PresetFileError(
        f"{what}: {filename} is {size} bytes {where}; the limit is {max_bytes} bytes, so it was not {done}",
        hint="no valid file is that large; check the repository",
    )


def _blob_mismatch(path: Path, digest: _Digest) -> tuple[str, str] | None:
    """``(actual, expected)`` when the cached bytes do not match the blob name huggingface_hub gave them.

    Regular files are stored as ``blobs/<git blob oid>``, LFS files as ``blobs/<sha256>``; a
    copy-based cache (no symlinks) has no oid to compare with and passes.
    """
    blob = os.path.basename(os.path.realpath(path))
    if _HEX40.fullmatch(blob):
        actual = digest.git_oid
    elif _HEX64.fullmatch(blob):
        actual = digest.sha256
    else:
        return None
    return None if actual == blob else (actual, blob)


def download_file(
    repo_id: str,
    filename: str,
    *,
    max_bytes: int,
    revision: str | None = None,
    expected_sha256: str | None = None,
    token: str | None = None,
    what: str | None = None,
    missing_note: str | None = None,
    missing_hint: str | None = None,
) -> HubFile:
    """Download (or find in the cache) one small file of a model repo and check it. Network unless cached.

    ``repo_id`` must be ``owner/name`` and ``revision`` must follow git's ref rules
    (`PresetReferenceError`). The file's size is read from the Hub's metadata first: over
    ``max_bytes`` (or not announced) raises `PresetFileError` before anything is
    downloaded. With ``HF_HUB_OFFLINE=1`` only the cache is used (a file pulled at ``revision``
    before is found by the same ``revision``). A cached copy whose bytes do not match its blob name
    (a corrupted cache) is re-fetched when online, and raises `PresetIntegrityError` when
    offline. A file whose sha256 differs from ``expected_sha256`` raises
    `PresetIntegrityError`. Errors are translated by `translate.hub_errors`
    (``what``, ``missing_note`` and ``missing_hint`` are passed on).

    The size the Hub announces (``Content-Length``, or ``X-Linked-Size`` for LFS files) is read from a
    metadata request first, and a file over ``max_bytes`` is refused before any of it is downloaded;
    the file on disk is checked again (a regular file, at most ``max_bytes``) and hashed in chunks.
    """
    check_repo_id(repo_id)
    revision = check_revision(revision or constants.DEFAULT_REVISION)
    what = what or f"hf-hub:{repo_id}@{revision}"
    offline = is_offline()
    kwargs = dict(revision=revision, cache_dir=str(cache_dir()), endpoint=endpoint(), token=token)
    with hub_errors(repo_id, revision, what, filename, missing_note=missing_note, missing_hint=missing_hint):
        meta = None
        if not offline:
            meta, failure = _metadata_or_failure(repo_id, filename, revision=revision, token=token)  # before any download
        if meta is not None:
            # Pinned to the commit just checked; ``refs/<revision>`` is still written (below), as huggingface_hub would.
            kwargs["revision"] = meta.commit_hash
            announced = meta.size
            if announced is None:
                raise PresetFileError(
                    f"{what}: the Hub did not announce the size of {filename}, so it was not downloaded",
                    hint=f"check that HF_ENDPOINT ({endpoint()}) is a Hugging Face Hub",
                )
            if announced > max_bytes:
                raise _too_large(what, filename, announced, max_bytes, "on the Hub")
        if meta is None and not offline:  # no usable answer: the cached copy, or the failure
            path = Path(_cached_or_raise(failure, repo_id, filename, **kwargs))
        else:
            path = Path(hf_download(repo_id, filename, local_files_only=offline, **kwargs))
        digest = _digest(path, what, filename, max_bytes)
        mismatch = _blob_mismatch(path, digest)
        if mismatch and meta is not None:
            logger.warning("%s: the cached %s is corrupted; downloading it again", what, filename)
            path = Path(hf_download(repo_id, filename, force_download=True, **kwargs))
            digest = _digest(path, what, filename, max_bytes)
            mismatch = _blob_mismatch(path, digest)
        if meta is not None:
            _record_ref(repo_folder(repo_id), revision, meta.commit_hash)
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
    if expected_sha256 is not None and digest.sha256 != expected_sha256:
        raise PresetIntegrityError(
            f"{what}: {filename} has sha256 {digest.sha256}, but the registry pins {expected_sha256}; it was not used",
            path=str(path),
            expected=expected_sha256,
            actual=digest.sha256,
            hint="the file at that revision changed or the registry is wrong; report it, or load it by hf-hub: reference",
        )
    folder = repo_folder(repo_id)
    commit = path.relative_to(folder / "snapshots").parts[0] if is_under(path, folder) else revision
    return HubFile(repo_id=repo_id, revision=revision, commit=commit, path=path, sha256=digest.sha256, size=digest.size)


def cached_file(repo_id: str, filename: str, *, max_bytes: int, revision: str | None = None) -> Path | None:
    """The cached copy of a file at ``revision`` (no network), or ``None`` if there is none.

    Raises `PresetIntegrityError` if the cached bytes are corrupted, `PresetFileError`
    if the copy is over ``max_bytes`` or not a regular file, `PresetReferenceError` if
    ``repo_id`` is not ``owner/name`` or ``revision`` breaks git's ref rules.
    """
    from huggingface_hub import try_to_load_from_cache

    check_repo_id(repo_id)
    revision = check_revision(revision or constants.DEFAULT_REVISION)
    found = try_to_load_from_cache(repo_id, filename, cache_dir=str(cache_dir()), revision=revision)
    if not isinstance(found, str):
        return None
    path = Path(found)
    mismatch = _blob_mismatch(path, _digest(path, f"hf-hub:{repo_id}@{revision}", filename, max_bytes))
    if mismatch:
        raise PresetIntegrityError(
            f"the cached {filename} of {repo_id} is corrupted (its content hashes to {mismatch[0]}, but it was"
            f" stored as {mismatch[1]})",
            path=str(path),
            expected=mismatch[1],
            actual=mismatch[0],
        )
    return path


def list_tags(repo_id: str, *, token: str | None = None) -> list[str]:
    """The tags of a Hub repo (network). Empty when offline or on any error: used for messages only.

    Tags that break git's ref rules (only a hostile server lists them) are left out, never passed on.
    """
    if is_offline():
        return []
    try:
        refs = api(token).list_repo_refs(repo_id)
    except (HfHubHTTPError, OSError) as e:
        logger.debug("cannot list tags of %s: %s", repo_id, e)
        return []
    ignored = [t.name for t in refs.tags if not is_valid_revision(t.name)]
    if ignored:
        logger.debug("%s lists tags that are not valid git ref names; ignored: %r", repo_id, ignored)
    return sorted(t.name for t in refs.tags if is_valid_revision(t.name))
