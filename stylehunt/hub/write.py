"""Writes for publishing: tags, repos, commits. Callers run them inside `translate.hub_errors`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from huggingface_hub import CommitOperationAdd
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from .connection import api
from .names import check_revision, is_valid_revision
from .translate import http_status

__all__ = ["repo_tags", "create_repo", "commit_files", "create_tag"]

logger = logging.getLogger(__name__)


def repo_tags(repo_id: str, *, token: str | None = None) -> set[str] | None:
    """The tag names of a Hub repo, or ``None`` if the repo does not exist (or is hidden from ``token``). Network.

    Tags that break git's ref rules (only a hostile server lists them) are left out.
    """
    try:
        refs = api(token).list_repo_refs(repo_id)
    except RepositoryNotFoundError:
        return None
    ignored = [t.name for t in refs.tags if not is_valid_revision(t.name)]
    if ignored:
        logger.debug("%s lists tags that are not valid git ref names; ignored: %r", repo_id, ignored)
    return {t.name for t in refs.tags if is_valid_revision(t.name)}


def create_repo(repo_id: str, *, private: bool | None = None, token: str | None = None) -> None:
    """Create a model repo (nothing happens if it exists). Network."""
    api(token).create_repo(repo_id, private=private, exist_ok=True)


def commit_files(
    repo_id: str, files: Sequence[tuple[str, bytes | Path]], *, message: str, description: str = "", token: str | None = None
) -> str:
    """Commit ``files`` (``(path in repo, bytes or a local file)``) to ``main`` in one commit; return its id. Network."""
    operations = [
        CommitOperationAdd(path_in_repo=path, path_or_fileobj=content if isinstance(content, bytes) else str(content))
        for path, content in files
    ]
    return api(token).create_commit(repo_id, operations, commit_message=message, commit_description=description).oid


def create_tag(repo_id: str, tag: str, *, revision: str, message: str, token: str | None = None) -> bool:
    """Tag ``revision``; ``False`` if the tag exists already (HTTP 409: it appeared since the caller looked). Network.

    Both ``tag`` and ``revision`` (a commit id the server returned) must follow git's ref rules.
    """
    check_revision(tag)
    check_revision(revision)
    try:
        api(token).create_tag(repo_id, tag=tag, revision=revision, tag_message=message)
    except HfHubHTTPError as e:
        if http_status(e) == 409:
            return False
        raise
    return True
