"""The registry catalogue file, ``index.json``: its schema and its strict reader.

The catalogue names model aliases (Hub id, family, architecture fingerprint) and, per preset
name, its versions: where each lives (a bundled file under ``presets/``, or a Hub repo and
revision) and its sha256. Which catalogue is in use (the bundled one, merged over a refreshed copy
from the Hub) is `index`'s business; the format is documented in ``docs/presets.md``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import InvalidPresetError, PresetFileError, RegistryIndexError
from ..tiny import TINY_MODEL_NAMES
from .fields import FieldReader, check_fingerprint
from .fileformat import FILENAME
from .names import is_hub_repo_id, is_valid_name, parse_version

__all__ = ["INDEX_FILENAME", "INDEX_FORMAT_VERSION", "MAX_INDEX_BYTES", "ModelAlias", "VersionEntry", "IndexEntry", "RegistryIndex"]

logger = logging.getLogger(__name__)

INDEX_FILENAME = "index.json"
#: The catalogue format this stylehunt reads.
INDEX_FORMAT_VERSION = 1
#: An index larger than this is refused before it is read (the bundled one is a few KB; each
#: preset version adds about 300 bytes).
MAX_INDEX_BYTES = 8 << 20
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ModelAlias:
    """A short model name (``sd3-medium``) for a Hub id and its architecture fingerprint."""

    alias: str
    id: str
    family: str
    fingerprint: dict[str, Any] = field(compare=False, repr=False)


@dataclass(frozen=True)
class VersionEntry:
    """Where one version of a registry preset lives, and its sha256."""

    version: str
    file: str | None = None  # relative to the bundled presets/ folder
    repo_id: str | None = None
    revision: str | None = None
    sha256: str | None = None
    # the file's provenance kind and label, for listings (stylehunt.registry.origins writes them; a
    # registry check compares them with the file); not part of where the version lives
    kind: str | None = field(default=None, compare=False)
    label: str | None = field(default=None, compare=False)

    @property
    def bundled(self) -> bool:
        return self.file is not None

    @property
    def location(self) -> str:
        return f"bundled:{self.file}" if self.file else f"hf-hub:{self.repo_id}@{self.revision}"


@dataclass(frozen=True)
class IndexEntry:
    """One registry name and its versions."""

    name: str
    description: str
    tags: tuple[str, ...]
    versions: Mapping[str, VersionEntry] = field(repr=False)

    @property
    def model_alias(self) -> str:
        return self.name.split("/", 1)[0]

    def sorted_versions(self) -> list[str]:
        return sorted(self.versions, key=parse_version)

    @property
    def latest(self) -> str:
        """The newest release (the newest prerelease if there is no release)."""
        releases = [v for v in self.versions if not parse_version(v).prerelease]
        return max(releases or list(self.versions), key=parse_version)


@dataclass(frozen=True)
class RegistryIndex:
    """The catalogue: model aliases and preset names."""

    models: Mapping[str, ModelAlias]
    presets: Mapping[str, IndexEntry]
    source: str

    @classmethod
    def parse(cls, data: Any, *, source: str, allow_files: bool = True) -> "RegistryIndex":
        """Validate an ``index.json`` (raise `RegistryIndexError` naming the field)."""

        def fail(where: str, message: str) -> RegistryIndexError:
            return RegistryIndexError(f"{source}: {where}: {message}", source=source)

        r = FieldReader(source)
        if not isinstance(data, dict):
            raise fail("(top level)", "expected a JSON object")
        fv = data.get("format_version")
        if isinstance(fv, bool) or not isinstance(fv, int) or fv < 1:
            raise fail("format_version", f"expected a positive integer, but got {fv!r}")
        if fv > INDEX_FORMAT_VERSION:
            raise RegistryIndexError(
                f"{source}: written for a newer stylehunt (format_version {fv}; this one reads {INDEX_FORMAT_VERSION})",
                source=source,
                hint="upgrade stylehunt: pip install -U stylehunt",
            )
        for key in data:
            if key not in ("format_version", "models", "presets"):
                raise fail(key, "unknown field")
        try:
            models = cls._parse_models(r, data.get("models"), fail)
            presets = cls._parse_presets(r, data.get("presets"), models, fail, allow_files)
        except PresetFileError as e:  # a field check from the preset-file reader
            raise RegistryIndexError(str(e), source=source) from None
        return cls(models=models, presets=presets, source=source)

    @staticmethod
    def _parse_models(r: FieldReader, raw: Any, fail) -> dict[str, ModelAlias]:
        if not isinstance(raw, dict):
            raise fail("models", "expected an object of model aliases")
        out = {}
        for alias, entry in raw.items():
            at = f"models.{alias}"
            if not is_valid_name(alias, allow_alias=False):
                raise fail(at, "a model alias is lowercase letters, digits and single '.', '_' or '-'")
            if not isinstance(entry, dict) or set(entry) != {"id", "family", "fingerprint"}:
                raise fail(at, "expected an object with exactly `id`, `family` and `fingerprint`")
            if not (is_hub_repo_id(entry["id"]) or entry["id"] in TINY_MODEL_NAMES):
                raise fail(
                    f"{at}.id",
                    f"expected a Hub model id 'owner/name' or one of {', '.join(TINY_MODEL_NAMES)}, "
                    f"but got {entry['id']!r}",
                )
            family = r.string(entry["family"], f"{at}.family")
            fingerprint = check_fingerprint(r, entry["fingerprint"], f"{at}.fingerprint")
            out[alias] = ModelAlias(alias=alias, id=entry["id"], family=family, fingerprint=fingerprint)
        return out

    @staticmethod
    def _parse_presets(r: FieldReader, raw: Any, models: Mapping[str, ModelAlias], fail, allow_files: bool) -> dict[str, IndexEntry]:
        if not isinstance(raw, dict):
            raise fail("presets", "expected an object of preset names")
        out = {}
        for name, entry in raw.items():
            at = f"presets.{name}"
            if not is_valid_name(name) or "/" not in name:
                raise fail(at, "a registry name is `model-alias/slug` (lowercase, no '..', no leading '/')")
            if name.split("/")[0] not in models:
                raise fail(at, f"unknown model alias {name.split('/')[0]!r}; known: {', '.join(sorted(models))}")
            if not isinstance(entry, dict):
                raise fail(at, "expected an object")
            r.keys(entry, at, ("description", "tags", "versions"), ("versions",))
            description = r.string(entry.get("description", ""), f"{at}.description", empty=True)
            tags = tuple(r.string(t, f"{at}.tags[{i}]") for i, t in enumerate(r.array(entry.get("tags", []), f"{at}.tags")))
            versions_raw = r.object(entry["versions"], f"{at}.versions")
            if not versions_raw:
                raise fail(f"{at}.versions", "expected at least one version")
            versions = {}
            for version, loc in versions_raw.items():
                vat = f"{at}.versions.{version}"
                try:
                    parse_version(version)
                except InvalidPresetError as e:
                    raise fail(vat, str(e)) from None
                versions[version] = _parse_location(r, loc, version, vat, fail, allow_files)
            out[name] = IndexEntry(name=name, description=description, tags=tags, versions=versions)
        return out

    def merged_under(self, base: "RegistryIndex") -> "RegistryIndex":
        """This (remote) index with ``base`` (bundled) on top: bundled entries win on any conflict."""
        models = {**self.models, **base.models}
        presets: dict[str, IndexEntry] = {}
        for name, entry in self.presets.items():
            if name.split("/")[0] not in models:
                continue
            versions = {v: loc for v, loc in entry.versions.items() if not loc.bundled}
            if versions:
                presets[name] = IndexEntry(name=name, description=entry.description, tags=entry.tags, versions=versions)
        for name, entry in base.presets.items():
            if name in presets:
                versions = {**presets[name].versions, **entry.versions}
                presets[name] = IndexEntry(name=name, description=entry.description, tags=entry.tags, versions=versions)
            else:
                presets[name] = entry
        return RegistryIndex(models=models, presets=dict(sorted(presets.items())), source=f"{base.source} + {self.source}")


def _parse_location(r: FieldReader, loc: Any, version: str, at: str, fail, allow_files: bool) -> VersionEntry:
    if not isinstance(loc, dict):
        raise fail(at, "expected an object with `file` or `repo` + `revision`, and `sha256`")
    r.keys(loc, at, ("file", "repo", "revision", "sha256", "kind", "label"), ())
    origin = {key: r.string(loc[key], f"{at}.{key}", empty=True) for key in ("kind", "label") if key in loc}
    sha = loc.get("sha256")
    if sha is not None and (not isinstance(sha, str) or not _SHA256_RE.fullmatch(sha)):
        raise fail(f"{at}.sha256", f"expected 64 lowercase hex digits, but got {sha!r}")
    if "file" in loc:
        if "repo" in loc or "revision" in loc:
            raise fail(at, "give either `file` (bundled) or `repo` + `revision` (Hub), not both")
        rel = loc["file"]
        parts = rel.split("/") if isinstance(rel, str) else []
        if (
            not parts
            or rel.startswith("/")
            or "\\" in rel
            or ":" in rel
            or any(p in ("", ".", "..") for p in parts)
            or parts[-1] != FILENAME
        ):
            raise fail(
                f"{at}.file",
                f"expected a relative path inside presets/ ending in /{FILENAME} (no '..', not absolute), but got {rel!r}",
            )
        if sha is None:
            raise fail(f"{at}.sha256", "missing: bundled files are always pinned")
        if not allow_files:
            logger.debug("%s: bundled location ignored in a remote index", at)
        return VersionEntry(version=version, file=rel, sha256=sha, **origin)
    if "repo" not in loc or "revision" not in loc:
        raise fail(at, "expected `file` (bundled) or `repo` + `revision` (Hub)")
    if not is_hub_repo_id(loc["repo"]):
        raise fail(f"{at}.repo", f"expected a Hub repo id 'owner/name', but got {loc['repo']!r}")
    revision = r.string(loc["revision"], f"{at}.revision")
    from ..hub import revision_problem  # only a Hub location needs the Hub client

    problem = revision_problem(revision)
    if problem:
        raise fail(f"{at}.revision", f"{revision!r} is not a valid git revision: {problem}")
    return VersionEntry(version=version, repo_id=loc["repo"], revision=revision, sha256=sha, **origin)
