"""Finding presets anyone published on the Hub: stylehunt's model search (`search_hub`), each repo's versions.

>>> hub_search_terms("golden")
('golden', None)
>>> hub_search_terms("*golden*hour")
('golden', '*golden*hour')
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import datetime

from .names import parse_version
from .references import HUB_PREFIX

__all__ = ["SORTS", "DEFAULT_LIMIT", "MAX_LIMIT", "MAX_PATTERN", "LIBRARY_TAG", "HubPreset", "check_search", "hub_search_terms", "search_hub"]

#: How ``--sort`` names an order, and huggingface_hub's name for it (the Hub sorts descending).
SORTS = {"downloads": "downloads", "likes": "likes", "updated": "last_modified"}
#: Repos listed unless told otherwise, and at most (each costs one more request for its tags).
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
#: The longest search text sent: longer than any repo id (96-character names), so it could match nothing.
MAX_PATTERN = 200
#: The tag every published preset repo carries (its model card's ``library_name`` and ``tags``).
LIBRARY_TAG = "stylehunt"
_BASE_MODEL_TAG = "base_model:adapter:"
_WILDCARDS = re.compile(r"[*?\[\]]")


@dataclass(frozen=True)
class HubPreset:
    """A preset repo on the Hub: its published versions, popularity, last update and base model."""

    repo_id: str
    versions: tuple[str, ...]  # semantic versions of its v* tags, oldest first
    downloads: int
    likes: int
    last_modified: datetime | None
    base_model: str | None  # the model id its card names (``base_model_relation: adapter``)
    tags: tuple[str, ...]

    @property
    def latest(self) -> str | None:
        """The newest release (the newest prerelease if there is no release); ``None`` if nothing is tagged."""
        if not self.versions:
            return None
        releases = [v for v in self.versions if not parse_version(v).prerelease]
        return max(releases or list(self.versions), key=parse_version)

    @property
    def reference(self) -> str:
        """What loads its newest version: ``hf-hub:owner/repo@v1.2.0`` (``hf-hub:owner/repo``, i.e. main, if untagged)."""
        latest = self.latest
        return f"{HUB_PREFIX}{self.repo_id}" + (f"@v{latest}" if latest else "")


def check_search(sort: str, limit: int, pattern: str = "*") -> None:
    """Refuse a ``sort``, ``limit`` or ``pattern`` the search cannot use (``ValueError`` naming the value and what is allowed)."""
    if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN:
        what = f"{len(pattern)} characters" if isinstance(pattern, str) else repr(pattern)
        raise ValueError(f"pattern must be text of at most {MAX_PATTERN} characters (longer than any repo id), but got {what}")
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; use one of: {', '.join(SORTS)}")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, but got {limit!r}")


def hub_search_terms(pattern: str) -> tuple[str | None, str | None]:
    """``(free text for the Hub, wildcard pattern to filter repo ids with)`` for a listing ``pattern``.

    Text without wildcards is the Hub's search as is (a case-insensitive substring of the repo id);
    a wildcard pattern sends its longest plain part and filters what comes back (`matches`);
    ``*`` is everything.
    """
    if not _WILDCARDS.search(pattern):
        return (pattern or None), None
    pieces = [p for p in _WILDCARDS.split(pattern) if p]
    return (max(pieces, key=len) if pieces else None), (None if pattern.strip("*") == "" else pattern)


def matches(repo_id: str, pattern: str) -> bool:
    """Whether a wildcard ``pattern`` matches ``owner/name``, any case; a pattern without ``/`` may match the name alone.

    >>> matches("alice/good", "good*"), matches("alice/good", "*/go*"), matches("alice/good", "bob/*")
    (True, True, False)
    """
    repo_id, pattern = repo_id.lower(), pattern.lower()
    return fnmatch.fnmatchcase(repo_id, pattern) or ("/" not in pattern and fnmatch.fnmatchcase(repo_id.split("/", 1)[-1], pattern))


def _versions(tags: list[str]) -> tuple[str, ...]:
    out = []
    for tag in tags:
        if tag.startswith("v"):
            try:
                parse_version(tag[1:])
            except ValueError:
                continue
            out.append(tag[1:])
    return tuple(sorted(out, key=parse_version))


def _base_model(tags: tuple[str, ...]) -> str | None:
    return next((t[len(_BASE_MODEL_TAG):] for t in tags if t.startswith(_BASE_MODEL_TAG)), None)


def search_hub(
    pattern: str = "*",
    *,
    base_model: str | None = None,
    sort: str = "downloads",
    limit: int = DEFAULT_LIMIT,
    token: str | None = None,
) -> list[HubPreset]:
    """Preset repos on the Hub matching ``pattern``, for ``base_model`` (a Hub model id) if given. Network.

    ``pattern`` is free text (part of the repo id) or a wildcard pattern (`hub_search_terms`);
    ``sort`` is ``downloads``, ``likes`` or ``updated``; at most ``limit`` repos (1 to
    `MAX_LIMIT`); ``pattern`` is at most `MAX_PATTERN` characters. Each repo's versions are its ``v*`` tags. Bad arguments raise ``ValueError``
    before any request; offline or unreachable raises `stylehunt.errors.HubOfflineError`
    at once; an error answer raises `stylehunt.errors.HubError`.

    ``stylehunt publish`` gives every preset repo a model card with ``library_name: stylehunt`` (and
    the tag ``stylehunt``), ``base_model`` and ``base_model_relation: adapter``; the Hub turns those
    into tags a search can filter on (``stylehunt``, ``base_model:adapter:<model id>``). A search asks
    for repos with those tags whose id contains the free text, best first, then reads each repo's
    version tags (``v1.2.0``) to say which reference loads its newest version. The registry index is not
    consulted: which model id an alias stands for is the caller's business
    (`stylehunt.registry.index.hub_model_id`).
    """
    check_search(sort, limit, pattern)
    from .. import hub

    if base_model is not None:
        hub.check_repo_id(base_model)
    search, matcher = hub_search_terms(pattern)
    filters = [LIBRARY_TAG] + ([_BASE_MODEL_TAG + base_model] if base_model else [])
    hits = hub.search_models(filters=filters, search=search, sort=SORTS[sort], limit=limit, token=token)
    if matcher is not None:
        hits = [h for h in hits if matches(h.repo_id, matcher)]
    return [
        HubPreset(
            repo_id=h.repo_id,
            versions=_versions(hub.list_tags(h.repo_id, token=token)),
            downloads=h.downloads,
            likes=h.likes,
            last_modified=h.last_modified,
            base_model=_base_model(h.tags),
            tags=h.tags,
        )
        for h in hits
    ]
