"""huggingface_hub exceptions as stylehunt ones: the repo, the revision, and a fix."""

from __future__ import annotations

import contextlib
import errno
import os
from typing import Any, Iterator

from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from ..errors import (
    HubError,
    HubOfflineError,
    HubRepoNotFoundError,
    HubRevisionNotFoundError,
    StorageError,
    StylehuntError,
)
from .connection import cache_dir, endpoint, is_offline, unreachable

__all__ = ["hub_errors", "http_status", "is_transport_error", "local_storage_error", "offline_hint"]

#: Libraries whose exceptions mean "no answer from the Hub" (huggingface_hub's HTTP client and below).
_TRANSPORT_MODULES = ("httpx", "httpx2", "httpcore", "httpcore2", "h11", "ssl", "socket")


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
            f"{what}: Hub repository {repo_id} does not exist or denies access (HTTP {http_status(e)})",
            repo_id=repo_id,
            revision=revision,
        ) from e
    except RevisionNotFoundError as e:
        raise HubRevisionNotFoundError(
            f"{what}: {repo_id} has no revision {revision!r}", repo_id=repo_id, revision=revision
        ) from e
    except EntryNotFoundError as e:
        if isinstance(e, LocalEntryNotFoundError):
            why = ("offline mode is on (HF_HUB_OFFLINE)" if is_offline()
                   else f"the Hub is unreachable ({unreachable() or endpoint()})")
            raise HubOfflineError(
                f"{what}: {at} is not in the local cache and {why}",
                repo_id=repo_id,
                revision=revision,
                hint=offline_hint(),
            ) from e
        raise HubRepoNotFoundError(
            f"{what}: {at} has no file" + (f" {filename!r}" if filename else "") + (f"; {missing_note}" if missing_note else ""),
            repo_id=repo_id,
            revision=revision,
            hint=missing_hint,
        ) from e
    except OfflineModeIsEnabled as e:
        raise HubOfflineError(f"{what}: offline mode is enabled (HF_HUB_OFFLINE)", repo_id=repo_id, revision=revision,
                              hint=offline_hint()) from e
    except HfHubHTTPError as e:
        status = http_status(e)
        if status in (401, 403):
            raise HubError(
                f"{what}: the Hub refused access to {repo_id} (HTTP {status})",
                repo_id=repo_id,
                hint="use a token with write access: `hf auth login` or HF_TOKEN",
            ) from e
        raise HubError(f"{what}: Hub request for {at} failed (HTTP {status}): {_first_line(e)}", repo_id=repo_id) from e
    except Exception as e:  # connection refused, DNS, timeouts: an OSError, or the HTTP client's own error
        if isinstance(e, StylehuntError) or not (isinstance(e, OSError) or is_transport_error(e)):
            raise
        local = local_storage_error(e, what)
        if local is not None:
            raise local from e
        raise HubOfflineError(f"{what}: cannot reach the Hub at {endpoint()} ({e})", repo_id=repo_id, revision=revision,
                              hint=offline_hint()) from e


def offline_hint() -> str:
    """The fix when the Hub was needed and not there: unset the offline flag, or get a connection.

    The CLI adds what fits the command (`stylehunt.cli.describe`).
    """
    if is_offline():
        return "unset HF_HUB_OFFLINE (it limits stylehunt to the local cache) and run again"
    where = " and HF_ENDPOINT" if os.environ.get("HF_ENDPOINT") else ""
    return f"check your network connection{where}, then run again"


def local_storage_error(e: BaseException, what: str) -> StorageError | None:
    """The cache's own file-system error (a file where a folder should be, permissions, a full disk), named as
    such, not as "cannot reach the Hub": an ``OSError`` with a path, raised by this machine, not the network."""
    if not isinstance(e, OSError) or is_transport_error(e) or (e.filename is None and e.errno not in _NO_ROOM):
        return None
    path = os.fsdecode(e.filename) if e.filename is not None else str(cache_dir())
    cause = e.strerror or type(e).__name__
    fix = _NO_ROOM.get(e.errno, "check the permissions and the folders on the way to it")
    return StorageError(
        f"{what}: a file-system error on this machine, not the network: {cause}: {path}",
        path=path,
        hint=f"{fix}, or set HF_HOME (or HF_HUB_CACHE) to a folder you can write to",
    )


_NO_ROOM = {
    errno.ENOSPC: "free some disk space",
    errno.EDQUOT: "free some of your disk quota",
    errno.EFBIG: "raise the file-size limit (ulimit -f)",
}


def is_transport_error(e: BaseException) -> bool:
    """Whether ``e`` is the HTTP client's "no answer" (connect, read, timeout), not an HTTP status."""
    if isinstance(e, HfHubHTTPError):  # an answer, with a status
        return False
    return isinstance(e, (ConnectionError, TimeoutError)) or any(
        cls.__module__.split(".")[0] in _TRANSPORT_MODULES for cls in type(e).__mro__ if cls is not object
    )


def http_status(e: HfHubHTTPError) -> Any:
    """The HTTP status of a failed Hub request (``"?"`` if there was no response)."""
    response = getattr(e, "response", None)
    return getattr(response, "status_code", "?")


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
