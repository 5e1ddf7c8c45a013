"""The Hub's model search, as stylehunt uses it to find presets: filters, free text, sort, limit.

`search_models` is ``HfApi.list_models`` with the properties a listing shows (downloads,
likes, last update, tags). It first makes one short request without retries (`probe`), so an
unreachable Hub is reported at once: ``list_models`` itself retries with back-off for about 20
seconds before it gives up. Everything the Hub returns is outside text; callers escape it before
printing it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator, Sequence

from ..errors import HubError, HubOfflineError
from .connection import LIBRARY, PROBE_TIMEOUT, api, endpoint, is_offline
from .names import check_repo_id
from .translate import http_status, is_transport_error

__all__ = ["MODEL_SORTS", "ModelHit", "probe", "search_models"]

logger = logging.getLogger(__name__)

#: What ``sort`` may be (huggingface_hub's names; the Hub sorts descending).
MODEL_SORTS = ("downloads", "likes", "last_modified", "created_at", "trending_score")
#: The properties a search asks the Hub for (``expand``): nothing else is sent back.
_EXPAND = ["author", "downloads", "likes", "lastModified", "tags", "library_name"]
_SEARCH = "cannot search the Hub"


@dataclass(frozen=True)
class ModelHit:
    """One model repo a search found (as the Hub reports it)."""

    repo_id: str
    downloads: int
    likes: int
    last_modified: datetime | None
    tags: tuple[str, ...]
    library: str | None


def probe(timeout: float = PROBE_TIMEOUT) -> str | None:
    """Why the Hub cannot be searched now (offline mode, no answer), or ``None`` if it answers.

    One request, no retries: ``GET /api/models?limit=1``. An HTTP error status still means the Hub
    answered (the search then reports it).
    """
    if is_offline():
        return "offline mode is on (HF_HUB_OFFLINE=1)"
    from huggingface_hub.utils import build_hf_headers, get_session

    try:
        get_session().get(f"{endpoint()}/api/models", params={"limit": 1}, headers=build_hf_headers(**LIBRARY), timeout=timeout)
    except Exception as e:
        if not is_transport_error(e):
            raise
        return f"no answer from {endpoint()} ({type(e).__name__}: {e})"
    return None


@contextlib.contextmanager
def _search_errors(what: str) -> Iterator[None]:
    from huggingface_hub.errors import HfHubHTTPError

    try:
        yield
    except HfHubHTTPError as e:
        raise HubError(f"{what}: the Hub answered HTTP {http_status(e)}", hint="try again later") from e
    except (KeyError, TypeError, ValueError) as e:  # not JSON, or not the Hub's fields
        raise HubError(f"{what}: the Hub's answer is malformed ({type(e).__name__}: {e})",
                       hint=f"check that HF_ENDPOINT ({endpoint()}) is a Hugging Face Hub") from e
    except Exception as e:
        if not is_transport_error(e):
            raise
        raise HubOfflineError(f"{what}: no answer from {endpoint()} ({type(e).__name__}: {e})", repo_id="") from e


def search_models(
    *,
    filters: Sequence[str] = (),
    search: str | None = None,
    sort: str = "downloads",
    limit: int,
    token: str | None = None,
) -> list[ModelHit]:
    """Model repos having every tag in ``filters`` whose id contains ``search``, best first by ``sort``. Network.

    At most ``limit`` repos (``limit`` >= 1; the Hub is asked for that many). Raises
    `HubOfflineError` at once when offline or unreachable (`probe`), `HubError`
    when the Hub answers with an error. Entries whose id is not a valid ``owner/name`` (only a
    hostile server sends them) are left out.
    """
    if sort not in MODEL_SORTS:
        raise ValueError(f"sort must be one of {', '.join(MODEL_SORTS)}, not {sort!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, not {limit!r}")
    problem = probe()
    if problem:
        raise HubOfflineError(f"{_SEARCH}: {problem}", repo_id="")
    hits = []
    with _search_errors(_SEARCH):
        found = api(token).list_models(filter=list(filters) or None, search=search or None, sort=sort, limit=limit, expand=_EXPAND)
        for info in itertools.islice(found, limit):
            try:
                check_repo_id(info.id)
            except ValueError:
                logger.debug("the search returned an invalid repo id %r; ignored", info.id)
                continue
            hits.append(
                ModelHit(
                    repo_id=info.id,
                    downloads=_count(info.downloads),
                    likes=_count(info.likes),
                    last_modified=info.last_modified,
                    tags=tuple(t for t in (info.tags or ()) if isinstance(t, str)),
                    library=info.library_name if isinstance(info.library_name, str) else None,
                )
            )
    return hits


def _count(value: object) -> int:
    """A count from the Hub (downloads, likes): a non-negative int, else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
