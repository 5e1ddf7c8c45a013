"""Preset references, the registry catalogue, and :func:`load_preset`.

References (:func:`parse_reference`)::

    sd3-medium/golden-hour            registry name, newest release
    sd3-medium/golden-hour@1.2.0      exactly that version
    sd3-medium/golden-hour@1 / @1.2   newest release matching
    hf-hub:owner/repo[@revision]      any Hub repo, any revision (tag v1.2.0, branch, commit)
    ./my.json, /abs/x.json, ~/p/      a local file (or a folder holding stylehunt_preset.json)

A name is never a path and never silently a Hub id: ``owner/repo`` that is not in the registry is
refused with a message suggesting ``hf-hub:owner/repo``.

The catalogue is ``index.json`` (bundled in the wheel as ``stylehunt.registry_data``): model
aliases (Hub id, family, architecture fingerprint) and, per preset name, its versions, where each
lives (a bundled file under ``presets/`` or a Hub repo and revision) and its sha256. Listing and
loading bundled presets need no network. :func:`refresh_index` fetches a newer catalogue from a
Hub repo (``STYLEHUNT_INDEX_REPO``) into huggingface_hub's cache; later calls merge it under the
bundled one, and ignore it (with a warning) if the cached copy is corrupted or invalid.

>>> list_presets("sd3-medium/paper-l1*")
['sd3-medium/paper-l11h15', 'sd3-medium/paper-l13h17', 'sd3-medium/paper-l1h10']
>>> load_preset("sd3-medium/paper-l1h10@1").heads
((1, 10),)
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import hashlib
import importlib.resources
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from ..errors import (
    HubRevisionNotFoundError,
    InvalidPresetError,
    PresetFileError,
    PresetIntegrityError,
    PresetNotFoundError,
    PresetReferenceError,
    RegistryIndexError,
)
from .preset import Preset
from ..tiny import TINY_MODEL_NAMES
from .fileformat import (
    FILENAME,
    MAX_FILE_BYTES,
    Version,
    _check_fingerprint,
    _Reader,
    is_valid_name,
    loads,
    parse_version,
    read_preset_file,
)

__all__ = [
    "INDEX_FILENAME",
    "DEFAULT_INDEX_REPO",
    "Reference",
    "ModelAlias",
    "VersionEntry",
    "IndexEntry",
    "RegistryIndex",
    "ResolvedPreset",
    "parse_reference",
    "get_index",
    "refresh_index",
    "list_presets",
    "model_aliases",
    "model_alias_for",
    "resolve_preset",
    "load_preset",
]

logger = logging.getLogger(__name__)

INDEX_FILENAME = "index.json"
INDEX_FORMAT_VERSION = 1
#: Hub repo holding a newer ``index.json``; override with ``STYLEHUNT_INDEX_REPO`` (and ``STYLEHUNT_INDEX_REVISION``).
DEFAULT_INDEX_REPO = "stylehunt/registry"
HUB_PREFIX = "hf-hub:"

_PRESETS_PACKAGE = "stylehunt.presets"
_INDEX_PACKAGE = "stylehunt.registry_data"
_SOURCE_ROOT = Path(__file__).resolve().parents[2]  # a source checkout: presets/ and registry/ live here
_SPEC_RE = re.compile(r"(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?)?")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


# --------------------------------------------------------------------------------------------------
# references


@dataclass(frozen=True)
class Reference:
    """A parsed preset reference."""

    kind: Literal["name", "hub", "path"]
    text: str
    name: str | None = None  # registry name
    spec: str | None = None  # version spec after '@' (registry)
    repo_id: str | None = None  # hf-hub
    revision: str | None = None  # hf-hub
    path: Path | None = None  # local file

    def __str__(self) -> str:
        return self.text


def _looks_like_path(text: str) -> bool:
    return (
        text.lower().endswith(".json")
        or text.startswith(("./", "../", "/", "~", ".\\", "..\\"))
        or text in (".", "..")
        or "\\" in text
        or re.match(r"[A-Za-z]:[\\/]", text) is not None
    )


def parse_reference(ref: "str | os.PathLike[str]") -> Reference:
    """Parse a reference without touching the network or the registry.

    >>> parse_reference("sd3-medium/golden-hour@1.2").spec
    '1.2'
    >>> parse_reference("hf-hub:owner/repo@v1.2.0").revision
    'v1.2.0'
    >>> parse_reference("./golden.json").kind
    'path'
    """
    if isinstance(ref, os.PathLike):
        return Reference(kind="path", text=os.fspath(ref), path=Path(ref))
    if not isinstance(ref, str):
        raise PresetReferenceError(
            f"expected a preset reference (str or path) or a Preset, but got {type(ref).__name__}: {ref!r}", ref=repr(ref)
        )
    text = ref.strip()
    if not text:
        raise PresetReferenceError("empty preset reference", ref=ref)
    if text.startswith(HUB_PREFIX):
        from ..hub import check_repo_id

        repo_id, at, revision = text[len(HUB_PREFIX) :].partition("@")
        check_repo_id(repo_id, ref=text)
        if at and not revision.strip():
            raise PresetReferenceError(f"{text!r}: empty revision after '@'", ref=text, hint="write hf-hub:owner/repo@v1.2.0")
        return Reference(kind="hub", text=text, repo_id=repo_id, revision=revision or None)
    if _looks_like_path(text):
        return Reference(kind="path", text=text, path=Path(text).expanduser())

    name, at, spec = text.partition("@")
    if ".." in name or name.startswith("/") or "\\" in name:
        raise PresetReferenceError(
            f"{text!r} is not a preset name: names never contain '..' or start with '/'",
            ref=text,
            hint="to load a local file write a path ending in .json or starting with ./",
        )
    if not is_valid_name(name) and not _is_hub_shaped(name):
        raise PresetReferenceError(
            f"{text!r} is not a valid preset name: expected `model-alias/slug` (lowercase letters, digits,"
            " '.', '_', '-')",
            ref=text,
            hint=_path_hint(text) or PresetReferenceError.hint,
        )
    if at:
        if spec.startswith("v") and _SPEC_RE.fullmatch(spec[1:]):
            raise PresetReferenceError(
                f"{text!r}: registry versions are written without 'v' (tags on the Hub have it)",
                ref=text,
                hint=f"write {name}@{spec[1:]}",
            )
        if not _SPEC_RE.fullmatch(spec):
            raise PresetReferenceError(
                f"{text!r}: expected a version after '@' such as 1.2.0, 1.2 or 1, but got {spec!r}", ref=text
            )
    return Reference(kind="name", text=text, name=name, spec=spec or None)


def _is_hub_shaped(name: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return "/" in name


def _path_hint(text: str) -> str | None:
    if os.path.exists(text):
        return f"a file or folder named {text!r} exists here; write ./{text} to load it as a path"
    return None


# --------------------------------------------------------------------------------------------------
# the index


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
        """Validate an ``index.json`` (raise :class:`RegistryIndexError` naming the field)."""

        def fail(where: str, message: str) -> RegistryIndexError:
            return RegistryIndexError(f"{source}: {where}: {message}", source=source)

        r = _Reader(source)
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
    def _parse_models(r: _Reader, raw: Any, fail) -> dict[str, ModelAlias]:
        if not isinstance(raw, dict):
            raise fail("models", "expected an object of model aliases")
        out = {}
        for alias, entry in raw.items():
            at = f"models.{alias}"
            if not is_valid_name(alias, allow_alias=False):
                raise fail(at, "a model alias is lowercase letters, digits and single '.', '_' or '-'")
            if not isinstance(entry, dict) or set(entry) != {"id", "family", "fingerprint"}:
                raise fail(at, "expected an object with exactly `id`, `family` and `fingerprint`")
            if not (_is_hub_shaped(entry["id"]) or entry["id"] in TINY_MODEL_NAMES):
                raise fail(
                    f"{at}.id",
                    f"expected a Hub model id 'owner/name' or one of {', '.join(TINY_MODEL_NAMES)}, "
                    f"but got {entry['id']!r}",
                )
            family = r.string(entry["family"], f"{at}.family")
            fingerprint = _check_fingerprint(r, entry["fingerprint"], f"{at}.fingerprint")
            out[alias] = ModelAlias(alias=alias, id=entry["id"], family=family, fingerprint=fingerprint)
        return out

    @staticmethod
    def _parse_presets(r: _Reader, raw: Any, models: Mapping[str, ModelAlias], fail, allow_files: bool) -> dict[str, IndexEntry]:
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


def _parse_location(r: _Reader, loc: Any, version: str, at: str, fail, allow_files: bool) -> VersionEntry:
    if not isinstance(loc, dict):
        raise fail(at, "expected an object with `file` or `repo` + `revision`, and `sha256`")
    r.keys(loc, at, ("file", "repo", "revision", "sha256"), ())
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
        return VersionEntry(version=version, file=rel, sha256=sha)
    if "repo" not in loc or "revision" not in loc:
        raise fail(at, "expected `file` (bundled) or `repo` + `revision` (Hub)")
    if not _is_hub_shaped(loc["repo"]):
        raise fail(f"{at}.repo", f"expected a Hub repo id 'owner/name', but got {loc['repo']!r}")
    revision = r.string(loc["revision"], f"{at}.revision")
    return VersionEntry(version=version, repo_id=loc["repo"], revision=revision, sha256=sha)


def _bundled(package: str, folder: str, *parts: str) -> Any:
    """A bundled data file: through importlib.resources when installed, else the source checkout."""
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError:
        root = _SOURCE_ROOT / folder
    return root.joinpath(*parts)


@functools.lru_cache(maxsize=1)
def _bundled_index() -> RegistryIndex:
    resource = _bundled(_INDEX_PACKAGE, "registry", INDEX_FILENAME)
    source = f"bundled {INDEX_FILENAME}"
    try:
        data = json.loads(resource.read_bytes())
    except (OSError, ValueError) as e:
        raise RegistryIndexError(f"{source}: cannot read ({e})", source=source, hint="reinstall stylehunt") from None
    return RegistryIndex.parse(data, source=source)


def _index_repo() -> tuple[str, str]:
    repo = os.environ.get("STYLEHUNT_INDEX_REPO") or DEFAULT_INDEX_REPO
    return repo, os.environ.get("STYLEHUNT_INDEX_REVISION") or "main"


def _cached_remote_index() -> RegistryIndex | None:
    from .. import hub

    repo, revision = _index_repo()
    source = f"hf-hub:{repo}@{revision} (cached)"
    try:
        path = hub.cached_file(repo, INDEX_FILENAME, revision=revision)
        if path is None:
            return None
        return RegistryIndex.parse(json.loads(path.read_bytes()), source=source, allow_files=False)
    except (PresetIntegrityError, RegistryIndexError, ValueError, OSError) as e:
        logger.warning("ignoring the refreshed registry index %s: %s; using the bundled index", source, e)
        return None


def get_index() -> RegistryIndex:
    """The catalogue in use: the bundled index, merged over a refreshed remote copy if one is cached. No network."""
    bundled = _bundled_index()
    remote = _cached_remote_index()
    return bundled if remote is None else remote.merged_under(bundled)


def refresh_index(repo_id: str | None = None, *, revision: str | None = None) -> RegistryIndex:
    """Fetch ``index.json`` from the registry's Hub repo into huggingface_hub's cache (network).

    ``repo_id`` defaults to ``STYLEHUNT_INDEX_REPO`` (else ``stylehunt/registry``), ``revision``
    to ``STYLEHUNT_INDEX_REVISION`` (else ``main``). An invalid index is refused and the cache is
    left as it was. Returns the merged index now in use.
    """
    from .. import hub

    default_repo, default_revision = _index_repo()
    repo = hub.check_repo_id(repo_id or default_repo)
    revision = revision or default_revision
    source = f"hf-hub:{repo}@{revision}"
    with hub.cache_transaction(repo):
        fetched = hub.download_file(repo, INDEX_FILENAME, revision=revision, what=f"refresh the registry index from {source}")
        try:
            data = json.loads(fetched.path.read_bytes())
        except ValueError as e:
            raise RegistryIndexError(f"{source}: malformed JSON ({e})", source=source) from None
        remote = RegistryIndex.parse(data, source=source, allow_files=False)
    if revision != default_revision or repo != default_repo:
        logger.info("refreshed %s; set STYLEHUNT_INDEX_REPO/STYLEHUNT_INDEX_REVISION to use it by default", source)
        return remote.merged_under(_bundled_index())
    return get_index()


# --------------------------------------------------------------------------------------------------
# models


def model_aliases() -> dict[str, ModelAlias]:
    """Known model aliases (``sd3-medium``, ``flux.1-dev``, ...), sorted."""
    return dict(sorted(get_index().models.items()))


def model_alias_for(model: str) -> ModelAlias | None:
    """The alias named ``model``, or whose Hub id is ``model``; ``None`` if unknown."""
    models = get_index().models
    if model in models:
        return models[model]
    for alias in models.values():
        if alias.id == model:
            return alias
    return None


# --------------------------------------------------------------------------------------------------
# listing


def list_presets(pattern: str = "*", model: str | None = None) -> list[str]:
    """Registry preset names matching the wildcard ``pattern``, sorted; optionally for one ``model``
    (an alias such as ``sd3-medium`` or its Hub id). No network.

    >>> list_presets("*l0h23")
    ['sd3-medium/paper-l0h23']
    """
    index = get_index()
    names = [n for n in sorted(index.presets) if fnmatch.fnmatchcase(n, pattern)]
    if model is not None:
        alias = model_alias_for(model)
        if alias is None:
            known = sorted(index.models)
            raise PresetNotFoundError(
                f"unknown model {model!r}; known model aliases: {', '.join(known)}",
                ref=model,
                available=tuple(known),
                suggestions=tuple(difflib.get_close_matches(model, known, n=3)),
                hint="pass an alias from `stylehunt list` or the Hub id it stands for",
            )
        names = [n for n in names if index.presets[n].model_alias == alias.alias]
    return names


# --------------------------------------------------------------------------------------------------
# resolving and loading


@dataclass(frozen=True)
class ResolvedPreset:
    """A loaded preset and exactly where it came from."""

    preset: Preset
    ref: str  # canonical reference: "name@1.2.0", "hf-hub:owner/repo@<commit>" or the path
    kind: Literal["bundled", "hub", "path"]
    path: Path  # the local file that was read (bundled, cache snapshot or user file)
    sha256: str
    repo_id: str | None = None
    revision: str | None = None
    commit: str | None = None


def _closest(text: str, names: list[str]) -> tuple[str, ...]:
    out = difflib.get_close_matches(text, names, n=3, cutoff=0.6)
    slug = text.rsplit("/", 1)[-1].lower()
    slugs = {n.rsplit("/", 1)[-1]: n for n in names}
    out += [slugs[s] for s in difflib.get_close_matches(slug, list(slugs), n=3, cutoff=0.6)]
    return tuple(dict.fromkeys(out))[:3]


def _pick_version(ref: Reference, entry: IndexEntry) -> str:
    available = entry.sorted_versions()
    spec = ref.spec
    if spec is None:
        return entry.latest
    if spec in entry.versions:
        return spec
    parts = spec.split(".")
    if len(parts) < 3:
        matching = [
            v
            for v in available
            if not parse_version(v).prerelease and [str(x) for x in _core(parse_version(v))[: len(parts)]] == parts
        ]
        if matching:
            return matching[-1]
    raise PresetNotFoundError(
        f"{entry.name} has no version matching {spec!r}; available: {', '.join(available)}",
        ref=ref.text,
        available=tuple(available),
        suggestions=(f"{entry.name}@{entry.latest}",),
        hint=f"use {entry.name}@{entry.latest} (newest) or omit the version",
    )


def _core(v: Version) -> tuple[int, int, int]:
    return (v.major, v.minor, v.patch)


def _resolve_name(ref: Reference) -> ResolvedPreset:
    index = get_index()
    name = ref.name
    assert name is not None
    entry = index.presets.get(name)
    if entry is None:
        names = sorted(index.presets)
        close = _closest(name, names)
        alias = name.split("/", 1)[0]
        if "/" in name and alias not in index.models:
            raise PresetReferenceError(
                f"{name!r} is not a registry preset (no model alias {alias!r}); to load the Hub repository"
                f" {name}, write 'hf-hub:{name}'"
                + (f"; closest registry names: {', '.join(close)}" if close else ""),
                ref=ref.text,
                hint=f"stylehunt show hf-hub:{ref.text}  (a bare owner/repo is never guessed)",
            )
        in_alias = [n for n in names if n.split("/", 1)[0] == alias] if "/" in name else []
        listed = in_alias or names
        raise PresetNotFoundError(
            f"no preset named {name!r} in the registry"
            + (f"; closest: {', '.join(close)}" if close else "")
            + f"; {'presets for ' + alias if in_alias else 'available'}: {', '.join(listed)}",
            ref=ref.text,
            available=tuple(names),
            suggestions=close,
            hint=_path_hint(ref.text) or "run `stylehunt list` to see the registry",
        )
    version = _pick_version(ref, entry)
    loc = entry.versions[version]
    canonical = f"{name}@{version}"
    if loc.bundled:
        assert loc.file is not None
        resource = _bundled("stylehunt.presets", "presets", *loc.file.split("/"))
        try:
            raw = resource.read_bytes()
        except OSError as e:
            raise PresetIntegrityError(
                f"{canonical}: bundled file {loc.file} is missing ({e})",
                path=str(resource),
                expected=loc.sha256 or "",
                actual="missing",
                hint="reinstall stylehunt: pip install --force-reinstall stylehunt",
            ) from None
        digest = hashlib.sha256(raw).hexdigest()
        if digest != loc.sha256:
            raise PresetIntegrityError(
                f"{canonical}: bundled file {loc.file} has sha256 {digest}, but the index pins {loc.sha256}",
                path=str(resource),
                expected=loc.sha256 or "",
                actual=digest,
                hint="the installed package was modified; reinstall stylehunt: pip install --force-reinstall stylehunt",
            )
        preset = loads(raw, path=f"{canonical} ({loc.file})")
        _check_identity(preset, name, version, canonical)
        return ResolvedPreset(preset=preset, ref=canonical, kind="bundled", path=Path(str(resource)), sha256=digest)

    from .. import hub

    assert loc.repo_id is not None
    with hub.cache_transaction(loc.repo_id):
        fetched = hub.download_file(
            loc.repo_id, FILENAME, revision=loc.revision, expected_sha256=loc.sha256, what=canonical
        )
        preset = loads(fetched.path.read_bytes(), path=f"{canonical} (hf-hub:{loc.repo_id}@{loc.revision})")
        _check_identity(preset, name, version, canonical)
    return ResolvedPreset(
        preset=preset,
        ref=canonical,
        kind="hub",
        path=fetched.path,
        sha256=fetched.sha256,
        repo_id=loc.repo_id,
        revision=loc.revision,
        commit=fetched.commit,
    )


def _check_identity(preset: Preset, name: str, version: str, canonical: str) -> None:
    if preset.name != name or preset.version != version:
        raise RegistryIndexError(
            f"{canonical}: the file says it is {preset.name}@{preset.version}",
            source=canonical,
            hint="the registry index points at the wrong file; report it",
        )


def _resolve_hub(ref: Reference) -> ResolvedPreset:
    from .. import hub

    assert ref.repo_id is not None
    try:
        with hub.cache_transaction(ref.repo_id):
            fetched = hub.download_file(ref.repo_id, FILENAME, revision=ref.revision, what=ref.text)
            preset = loads(fetched.path.read_bytes(), path=f"{ref.text} ({FILENAME})")
    except HubRevisionNotFoundError as e:
        tags = tuple(hub.list_tags(ref.repo_id))
        hint = None
        if ref.revision and _SPEC_RE.fullmatch(ref.revision) and f"v{ref.revision}" in tags:
            hint = f"published versions are tagged with a 'v': write hf-hub:{ref.repo_id}@v{ref.revision}"
        raise HubRevisionNotFoundError(
            f"{e}" + (f"; tags: {', '.join(tags)}" if tags else ""),
            repo_id=ref.repo_id,
            revision=ref.revision,
            available=tags,
            hint=hint or (f"use one of the tags, or omit @revision for main" if tags else None),
        ) from e
    return ResolvedPreset(
        preset=preset,
        ref=f"{HUB_PREFIX}{ref.repo_id}@{fetched.commit}",
        kind="hub",
        path=fetched.path,
        sha256=fetched.sha256,
        repo_id=ref.repo_id,
        revision=fetched.revision,
        commit=fetched.commit,
    )


def resolve_preset(ref: "str | os.PathLike[str]") -> ResolvedPreset:
    """Find, fetch (if needed), verify and parse a preset; report where it came from.

    Registry names and bundled files need no network; Hub files are downloaded into huggingface_hub's
    cache (revision-pinned) unless already there, and with ``HF_HUB_OFFLINE=1`` only the cache is
    used. Whatever fails leaves the cache as it was.
    """
    parsed = parse_reference(ref)
    if parsed.kind == "name":
        return _resolve_name(parsed)
    if parsed.kind == "hub":
        return _resolve_hub(parsed)
    assert parsed.path is not None
    path = parsed.path / FILENAME if parsed.path.is_dir() else parsed.path
    preset = read_preset_file(path)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read(MAX_FILE_BYTES + 1)).hexdigest()
    return ResolvedPreset(preset=preset, ref=str(path), kind="path", path=path, sha256=digest)


def load_preset(ref: "str | os.PathLike[str] | Preset") -> Preset:
    """Load a preset by reference (a :class:`Preset` is returned as is).

    Raises :class:`~stylehunt.errors.PresetReferenceError` (malformed reference),
    :class:`~stylehunt.errors.PresetNotFoundError` (unknown name or version, with what exists),
    :class:`~stylehunt.errors.PresetFileError` (invalid file), and the Hub errors of
    :mod:`stylehunt.hub` (repo missing or denied, offline with nothing cached, corrupted cache).
    """
    if isinstance(ref, Preset):
        return ref
    return resolve_preset(ref).preset
