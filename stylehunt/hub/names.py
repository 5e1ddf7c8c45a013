"""Names checked before they reach huggingface_hub: repo ids, revisions (git's ref rules), version tags.

Every repo id and revision stylehunt passes on is checked here first: `check_repo_id`, `revision_problem`
(with `is_valid_revision` and `check_revision`), and `version_tag` for a published version's tag.
"""

from __future__ import annotations

import re
from typing import Any

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from ..errors import PresetReferenceError

__all__ = ["MAX_REVISION", "check_repo_id", "revision_problem", "is_valid_revision", "check_revision", "version_tag"]

#: The longest revision accepted (git sets no limit; here a revision becomes a file name).
MAX_REVISION = 255

# git check-ref-format: no ASCII control characters (nor DEL), space, ~ ^ : ? * [ or backslash.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
_REVISION_HINT = "a revision is a tag (v1.2.0), a branch (main) or a commit id (40 hex digits)"


def check_repo_id(repo_id: Any, ref: str | None = None) -> str:
    """Validate ``owner/name`` without network; raise `PresetReferenceError`."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise PresetReferenceError(f"{repo_id!r} is not a valid Hub repo id: {e}", ref=ref or str(repo_id)) from None
    if "/" not in repo_id:
        raise PresetReferenceError(
            f"{repo_id!r} is not a valid Hub repo id: expected 'owner/name'", ref=ref or str(repo_id)
        )
    return repo_id


def revision_problem(revision: Any) -> str | None:
    """Why ``revision`` is not a valid git revision name, or ``None`` if it is one.

    huggingface_hub stores a tag or branch it resolved as the file ``<cache>/<repo>/refs/<revision>``
    and does not check the name, so a revision is a path component: ``../../../../x`` would write a
    file outside the cache. Every revision stylehunt passes on (from a reference, the registry index,
    ``STYLEHUNT_INDEX_REVISION``, a server's tag list, a publish) is checked by this function first.

    The rules are ``git check-ref-format``'s: no ``..``, no ``@{``, not ``@`` alone; no control
    character, space, ``~ ^ : ? * [`` or backslash; no leading or trailing ``/`` and no ``//``; not
    ending in ``.``; no ``/``-separated component starting with ``.`` or ending in ``.lock``; plus
    at most `MAX_REVISION` characters. A 40-hex commit id always passes.

    >>> revision_problem("../../x")
    "it contains '..'"
    """
    if not isinstance(revision, str):
        return f"expected a string, but got {type(revision).__name__}"
    if not revision:
        return "it is empty"
    if len(revision) > MAX_REVISION:
        return f"it is {len(revision)} characters long (at most {MAX_REVISION})"
    bad = _FORBIDDEN.search(revision)
    if bad:
        return f"it contains {bad.group()!r} (no control characters, space, ~ ^ : ? * [ or backslash)"
    for part, problem in (("..", "it contains '..'"), ("@{", "it contains '@{'"), ("//", "it contains '//'")):
        if part in revision:
            return problem
    if revision == "@":
        return "it is '@' alone"
    if revision.startswith("/") or revision.endswith("/"):
        return "it starts or ends with '/'"
    if revision.endswith("."):
        return "it ends with '.'"
    for component in revision.split("/"):
        if component.startswith("."):
            return f"its component {component!r} starts with '.'"
        if component.endswith(".lock"):
            return f"its component {component!r} ends with '.lock'"
    return None


def is_valid_revision(revision: Any) -> bool:
    """Whether ``revision`` follows git's ref rules (see `revision_problem`).

    >>> [is_valid_revision(r) for r in ("v1.2.0", "main", "refs/pr/1", "../x", "a b", "x.lock")]
    [True, True, True, False, False, False]
    """
    return revision_problem(revision) is None


def check_revision(revision: Any, *, ref: str | None = None) -> str:
    """Return ``revision`` if it follows git's ref rules, else raise `PresetReferenceError`.

    ``ref`` (the reference it came from, such as ``hf-hub:owner/repo@../x``) starts the message.

    >>> check_revision("v1.0.0")
    'v1.0.0'
    >>> check_revision("../../x", ref="hf-hub:o/r@../../x")
    Traceback (most recent call last):
    ...
    stylehunt.errors.PresetReferenceError: 'hf-hub:o/r@../../x': '../../x' is not a valid revision: it contains '..'
    """
    problem = revision_problem(revision)
    if problem is None:
        return revision
    where = f"{ref!r}: " if ref else ""
    raise PresetReferenceError(
        f"{where}{revision!r} is not a valid revision: {problem}", ref=ref or repr(revision), hint=_REVISION_HINT
    )


def version_tag(version: str) -> str:
    """The git tag a published version gets: ``v<version>``."""
    return f"v{version}"
