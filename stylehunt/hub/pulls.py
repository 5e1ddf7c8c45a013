"""Pull requests on a Hub repo: open one with a commit, list the open ones. Callers run them inside
`translate.hub_errors`.

A pull request on the Hub is a discussion whose branch is ``refs/pr/<num>``; that revision reads
like any other (``hf-hub:owner/repo@refs/pr/3``). Titles, authors and URLs come from the Hub:
outside text, escaped by whoever prints them.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Sequence

from .connection import api
from .names import check_revision, is_valid_revision

__all__ = ["PullRequest", "MAX_PULL_REQUESTS", "open_pull_request", "list_pull_requests"]

logger = logging.getLogger(__name__)

#: The most pull requests `list_pull_requests` reads (the client pages until the server stops).
MAX_PULL_REQUESTS = 1000


@dataclass(frozen=True)
class PullRequest:
    """A pull request on a Hub repo."""

    num: int
    title: str
    status: str  # "open", "closed", "merged" or "draft"
    author: str
    url: str

    @property
    def revision(self) -> str:
        """The git reference of its branch: ``refs/pr/<num>``."""
        return f"refs/pr/{self.num}"


def open_pull_request(
    repo_id: str,
    files: Sequence[tuple[str, bytes]],
    *,
    title: str,
    description: str,
    parent_commit: str | None = None,
    token: str | None = None,
) -> tuple[PullRequest, str]:
    """Commit ``files`` (``(path in repo, bytes)``) to a new pull request on ``repo_id``; ``(pull request, commit id)``. Network.

    The pull request's branch starts at ``parent_commit`` (the commit the caller read and checked)
    when given, else at ``main``; ``title`` is the commit message and the pull request's title,
    ``description`` its first comment. Opening a pull request needs a token, not write access to
    the repo.
    """
    from huggingface_hub import CommitOperationAdd

    operations = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=content) for path, content in files]
    info = api(token).create_commit(
        repo_id,
        operations,
        commit_message=title,
        commit_description=description,
        create_pr=True,
        parent_commit=parent_commit,
    )
    revision = check_revision(info.pr_revision)  # refs/pr/<num>, parsed from the URL the Hub sent
    pr = PullRequest(num=int(revision.rsplit("/", 1)[1]), title=title, status="open", author="", url=info.pr_url)
    return pr, check_revision(info.oid)


def list_pull_requests(repo_id: str, *, status: str = "open", token: str | None = None) -> list[PullRequest]:
    """The pull requests of ``repo_id`` with ``status`` (``"open"``, ``"closed"`` or ``"all"``), newest first. Network.

    At most `MAX_PULL_REQUESTS`; entries with a number that makes no valid ``refs/pr/<num>``
    (only a hostile server sends them) are left out.
    """
    found = api(token).get_repo_discussions(repo_id, discussion_type="pull_request", discussion_status=status)
    out = []
    for d in itertools.islice(found, MAX_PULL_REQUESTS):
        if isinstance(d.num, bool) or not isinstance(d.num, int) or d.num < 0 or not is_valid_revision(f"refs/pr/{d.num}"):
            logger.debug("%s lists a pull request with number %r; ignored", repo_id, d.num)
            continue
        out.append(PullRequest(num=d.num, title=str(d.title), status=str(d.status), author=str(d.author), url=d.url))
    return out
