"""Preset names and semantic versions: what a valid name looks like, and how versions order.

Used by the preset file (its ``name`` and ``version`` fields), the registry index (its names,
aliases and versions) and references (``name@spec``), so it sits below all three.

>>> from stylehunt.registry.names import parse_version
>>> sorted(["1.10.0", "1.2.0", "1.2.0-rc.1"], key=parse_version)
['1.2.0-rc.1', '1.2.0', '1.10.0']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidPresetError

__all__ = ["MAX_NAME", "Version", "parse_version", "is_valid_name", "validate_name", "is_hub_repo_id"]

#: The longest preset name accepted.
MAX_NAME = 96

# A name segment: lowercase alphanumerics joined by single '.', '_' or '-' (so never '..', never a
# leading '/', never a path); a name is `slug` or `alias/slug`.
_SEGMENT = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
_NAME_RE = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})?")
_SEGMENT_RE = re.compile(_SEGMENT)
_SEMVER_RE = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
)


@dataclass(frozen=True, order=False)
class Version:
    """A semantic version ``MAJOR.MINOR.PATCH[-prerelease]`` (no build metadata), ordered by semver rules."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...] = ()

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return core + ("-" + ".".join(str(p) for p in self.prerelease) if self.prerelease else "")

    @property
    def core(self) -> tuple[int, int, int]:
        """``(major, minor, patch)``, without the prerelease."""
        return (self.major, self.minor, self.patch)

    def _key(self) -> tuple:
        # A release sorts after its prereleases; numeric identifiers sort before alphanumeric ones.
        pre = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: "Version") -> bool:
        return self._key() < other._key()

    def __le__(self, other: "Version") -> bool:
        return self._key() <= other._key()

    def __gt__(self, other: "Version") -> bool:
        return self._key() > other._key()

    def __ge__(self, other: "Version") -> bool:
        return self._key() >= other._key()


def parse_version(text: Any) -> Version:
    """Parse a semver string; raise `InvalidPresetError` naming the bad value."""
    m = _SEMVER_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise InvalidPresetError(
            f"Expected a semantic version MAJOR.MINOR.PATCH such as '1.2.0' (optionally '-rc.1'), but got {text!r}"
        )
    pre = tuple(int(p) if p.isdigit() else p for p in m.group(4).split(".")) if m.group(4) else ()
    return Version(int(m.group(1)), int(m.group(2)), int(m.group(3)), pre)


def is_valid_name(name: Any, *, allow_alias: bool = True) -> bool:
    """Whether ``name`` is a valid preset name (``slug`` or ``alias/slug``; a bare ``slug`` without ``allow_alias``)."""
    if not isinstance(name, str) or len(name) > MAX_NAME:
        return False
    pattern = _NAME_RE if allow_alias else _SEGMENT_RE
    return pattern.fullmatch(name) is not None


def validate_name(name: Any, what: str = "name", *, param: str | None = None) -> str:
    """Return ``name`` if it is a valid preset name, else raise `InvalidPresetError` saying what one looks like.

    ``what`` starts the message; ``param`` is the caller's parameter the name came from (the error's ``param``).
    """
    if not is_valid_name(name):
        raise InvalidPresetError(
            f"{what}: expected `slug` or `model-alias/slug` (lowercase letters, digits and single '.', '_' or"
            f" '-' between them, at most {MAX_NAME} characters; no '..', no leading '/'), but got {name!r}",
            param=param,
        )
    return name


# A strict subset of what huggingface_hub's validate_repo_id accepts (alphanumeric runs joined by
# single '-', '_' or '.'): ids like every real one are accepted without importing the client's
# validators, which pull in its HTTP stack (~0.1 s on every `stylehunt list`); anything else is
# judged by huggingface_hub itself.
_PLAIN_REPO_PART = r"[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)*"
_PLAIN_REPO_ID = re.compile(rf"{_PLAIN_REPO_PART}/{_PLAIN_REPO_PART}")


def is_hub_repo_id(text: Any) -> bool:
    """Whether ``text`` is shaped like a Hub repo id ``owner/name`` (no network).

    >>> is_hub_repo_id("stabilityai/stable-diffusion-3-medium-diffusers"), is_hub_repo_id("a--b/c"), is_hub_repo_id("x")
    (True, False, False)
    """
    if not isinstance(text, str) or "/" not in text:
        return False  # an owner/name id has a slash, whatever else huggingface_hub would accept
    if len(text) <= 96 and _PLAIN_REPO_ID.fullmatch(text) and not text.endswith(".git"):
        return True
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return "/" in text
