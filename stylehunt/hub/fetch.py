"""Reading from the Hub: raw downloads, checked downloads (size, blob hash, pinned sha256), the cached copy, tags.

A checked download (:func:`download_file`) never holds more of a file than the caller allows:
the size the Hub announces (``Content-Length``, or ``X-Linked-Size`` for LFS files) is read from
a metadata request first, and a file over ``max_bytes`` is refused before any of it is downloaded;
the file on disk is checked again (a regular file, at most ``max_bytes``) and hashed in chunks.
The caller then reads it (through :func:`stylehunt.files.read_regular_file`, with the same limit).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import constants
from huggingface_hub.errors import HfHubHTTPError

from ..errors import PresetFileError, PresetIntegrityError
from .cache import is_under, repo_folder
from .connection import api, cache_dir, endpoint, hf_download, is_offline
from .names import check_repo_id, check_revision, is_valid_revision
from .translate import hub_errors

__all__ = ["download", "HubFile", "download_file", "cached_file", "list_tags"]

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
    """``hf_hub_download`` stamped with our library name, into :func:`cache_dir` (or ``cache``); raw errors.

    ``revision`` must follow git's ref rules (:func:`~.names.check_revision`); nothing else is checked.
    """
    if revision is not None:
        check_revision(revision)
    return hf_download(
        repo_id,
        filename,
        revision=revision,
        repo_type=repo_type,
        cache_dir=str(cache_dir(cache)),
        local_files_only=local_files_only,
        endpoint=endpoint(),
    )


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
    (:class:`PresetReferenceError`). The file's size is read from the Hub's metadata first: over
    ``max_bytes`` (or not announced) raises :class:`PresetFileError` before anything is
    downloaded. With ``HF_HUB_OFFLINE=1`` only the cache is used (a file pulled at ``revision``
    before is found by the same ``revision``). A cached copy whose bytes do not match its blob name
    (a corrupted cache) is re-fetched when online, and raises :class:`PresetIntegrityError` when
    offline. A file whose sha256 differs from ``expected_sha256`` raises
    :class:`PresetIntegrityError`. Errors are translated by :func:`~.translate.hub_errors`
    (``what``, ``missing_note`` and ``missing_hint`` are passed on).
    """
    check_repo_id(repo_id)
    revision = check_revision(revision or constants.DEFAULT_REVISION)
    what = what or f"hf-hub:{repo_id}@{revision}"
    offline = is_offline()
    kwargs = dict(revision=revision, cache_dir=str(cache_dir()), endpoint=endpoint(), token=token)
    with hub_errors(repo_id, revision, what, filename, missing_note=missing_note, missing_hint=missing_hint):
        if not offline:
            announced = hf_download(repo_id, filename, dry_run=True, **kwargs).file_size  # a metadata request
            if announced is None:
                raise PresetFileError(
                    f"{what}: the Hub did not announce the size of {filename}, so it was not downloaded",
                    hint=f"check that HF_ENDPOINT ({endpoint()}) is a Hugging Face Hub",
                )
            if announced > max_bytes:
                raise _too_large(what, filename, announced, max_bytes, "on the Hub")
        path = Path(hf_download(repo_id, filename, local_files_only=offline, **kwargs))
        digest = _digest(path, what, filename, max_bytes)
        mismatch = _blob_mismatch(path, digest)
        if mismatch and not offline:
            logger.warning("%s: the cached %s is corrupted; downloading it again", what, filename)
            path = Path(hf_download(repo_id, filename, force_download=True, **kwargs))
            digest = _digest(path, what, filename, max_bytes)
            mismatch = _blob_mismatch(path, digest)
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

    Raises :class:`PresetIntegrityError` if the cached bytes are corrupted, :class:`PresetFileError`
    if the copy is over ``max_bytes`` or not a regular file, :class:`PresetReferenceError` if
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
