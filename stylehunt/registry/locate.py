"""Finding a preset file by reference: read or download it, verify it, validate it, say where it came from.

`locate_preset` returns plain data (`LocatedPreset`: the validated fields and their `PresetOrigin`);
`stylehunt.registry.preset.resolve_preset` turns it into a `stylehunt.Preset`.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping

from ..errors import (
    HubRevisionNotFoundError,
    PresetFileError,
    PresetIntegrityError,
    PresetNotFoundError,
    PresetReferenceError,
    RegistryIndexError,
)
from ..files import read_regular_file
from .fileformat import FILENAME, MAX_FILE_BYTES, parse_preset_json, read_preset_bytes
from .index import bundled_preset_file, find_version, get_index
from .indexfile import VersionEntry
from .names import is_valid_name
from .references import HUB_PREFIX, Reference, is_version_spec, parse_reference

if TYPE_CHECKING:
    from ..hub import HubFile

__all__ = ["PresetOrigin", "LocatedPreset", "locate_preset", "locate_version"]

#: How a Hub repo without a preset file is reported (see `stylehunt.hub.hub_errors`).
_NOT_A_PRESET_REPO = "is it a stylehunt preset repository?"
_PRESET_REPO_HINT = "a preset repository holds stylehunt_preset.json at its root (publish with `stylehunt publish`)"


# keyword-only: the subclasses add a field without a default after these defaults
@dataclass(frozen=True, kw_only=True)
class PresetOrigin:
    """Exactly where a preset file came from: what `LocatedPreset` and `ResolvedPreset` share."""

    ref: str  # canonical reference: "name@1.2.0", "hf-hub:owner/repo@<commit>" or the path
    kind: Literal["bundled", "hub", "path"]
    path: Path  # the local file that was read (bundled, cache snapshot or user file)
    sha256: str
    repo_id: str | None = None
    revision: str | None = None
    commit: str | None = None

    def origin(self) -> dict[str, Any]:
        """The origin fields alone, as keyword arguments for another `PresetOrigin`."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(PresetOrigin)}


@dataclass(frozen=True, kw_only=True)
class LocatedPreset(PresetOrigin):
    """A preset file found, verified and validated, and exactly where it came from."""

    fields: Mapping[str, Any]  # the keyword arguments of Preset (see fileformat.parse_preset_dict)


def locate_preset(ref: "str | os.PathLike[str]") -> LocatedPreset:
    """Find, fetch (if needed), verify and validate the preset file ``ref`` names.

    Registry names and bundled files need no network; Hub files are downloaded into
    huggingface_hub's cache unless already there. Raises the errors of
    `stylehunt.registry.load_preset`.

    A registry name is looked up in the catalogue (`index.find_version`) and read from the bundled
    ``presets/`` (checked against the index's sha256 pin) or downloaded from its pinned Hub repo; an
    ``hf-hub:`` reference is downloaded from any repo and revision; a path is read from disk. Hub
    downloads are revision-pinned and run inside `stylehunt.hub.cache_transaction`, so a file that fails
    any check (pin, validation, identity) leaves the cache as it was.
    """
    parsed = parse_reference(ref)
    if parsed.kind == "name":
        return _locate_name(parsed)
    if parsed.kind == "hub":
        return _locate_hub(parsed)
    assert parsed.path is not None  # parse_reference sets it for paths
    if isinstance(ref, str) and is_valid_name(parsed.text) and parsed.text in get_index().presets:
        # a run folder named exactly like a registry preset: neither is guessed
        raise PresetReferenceError(
            f"{parsed.text!r} is both a folder here holding a preset and a registry preset",
            ref=parsed.text, hint=f"write ./{parsed.text} for the folder, or {parsed.text}@"
            f"{get_index().presets[parsed.text].latest} for the registry preset",
        )
    path, raw = read_preset_bytes(parsed.path)
    fields = parse_preset_json(raw, path=path)
    return LocatedPreset(fields=fields, ref=str(path), kind="path", path=path, sha256=hashlib.sha256(raw).hexdigest())


def _download_preset(repo_id: str, revision: str | None, what: str, expected_sha256: str | None = None) -> "HubFile":
    from .. import hub

    return hub.download_file(
        repo_id,
        FILENAME,
        max_bytes=MAX_FILE_BYTES,
        revision=revision,
        expected_sha256=expected_sha256,
        what=what,
        missing_note=_NOT_A_PRESET_REPO,
        missing_hint=_PRESET_REPO_HINT,
    )


def _read_fetched(fetched: "HubFile", what: str) -> bytes:
    """The bytes of a downloaded preset file: read with the file-size limit, and the very bytes hub checked."""
    _, raw = read_preset_bytes(fetched.path)
    actual = hashlib.sha256(raw).hexdigest()
    if actual != fetched.sha256:
        raise PresetIntegrityError(
            f"{what}: the cached {FILENAME} changed while it was being read; it was not used",
            path=str(fetched.path),
            expected=fetched.sha256,
            actual=actual,
            hint="try again; if it persists, delete the cached copy (`hf cache delete`)",
        )
    return raw


def _locate_name(ref: Reference) -> LocatedPreset:
    assert ref.name is not None  # parse_reference sets it for names
    try:
        entry = find_version(ref)
    except (PresetNotFoundError, PresetReferenceError) as e:
        if not os.path.isdir(os.path.expanduser(ref.text)):
            raise
        # A folder here that holds no preset file yet: most likely a search's run folder, still running or stopped
        raise PresetFileError(
            f"{ref.text} is a folder here but holds no {FILENAME} (a search still running, or stopped before its "
            f"end?), and no registry preset has that name either",
            path=ref.text, hint=f"finish the search (stylehunt search --resume {ref.text}), or write ./{ref.text} "
            "for a folder holding a preset",
        ) from e
    return locate_version(ref.name, entry)


def locate_version(name: str, loc: VersionEntry, *, presets_root: Any = None) -> LocatedPreset:
    """The preset file that version ``loc`` of registry name ``name`` points at: read, pin-checked, validated.

    A bundled ``file`` is read from the installed ``presets/`` (or ``presets_root``, a folder or
    resource, for an index being checked elsewhere); a Hub version is downloaded at its revision
    and checked against its sha256 pin. The file must say it is ``name`` at ``loc.version``.
    """
    version = loc.version
    canonical = f"{name}@{version}"
    if loc.bundled:
        assert loc.file is not None  # what `bundled` means
        resource = bundled_preset_file(loc.file) if presets_root is None else presets_root.joinpath(*loc.file.split("/"))
        raw = _read_bundled(resource, loc, canonical)
        digest = hashlib.sha256(raw).hexdigest()
        if digest != loc.sha256:
            raise PresetIntegrityError(
                f"{canonical}: bundled file {loc.file} has sha256 {digest}, but the index pins {loc.sha256}",
                path=str(resource),
                expected=loc.sha256 or "",
                actual=digest,
                hint="the installed package was modified; reinstall stylehunt: pip install --force-reinstall stylehunt",
            )
        fields = parse_preset_json(raw, path=f"{canonical} ({loc.file})")
        _check_identity(fields, name, version, canonical)
        return LocatedPreset(fields=fields, ref=canonical, kind="bundled", path=Path(str(resource)), sha256=digest)

    from .. import hub

    assert loc.repo_id is not None  # an index entry is a bundled file or a Hub repo
    with hub.cache_transaction(loc.repo_id):
        fetched = _download_preset(loc.repo_id, loc.revision, canonical, expected_sha256=loc.sha256)
        fields = parse_preset_json(_read_fetched(fetched, canonical), path=f"{canonical} (hf-hub:{loc.repo_id}@{loc.revision})")
        _check_identity(fields, name, version, canonical)
    return LocatedPreset(
        fields=fields,
        ref=canonical,
        kind="hub",
        path=fetched.path,
        sha256=fetched.sha256,
        repo_id=loc.repo_id,
        revision=loc.revision,
        commit=fetched.commit,
    )


def _read_bundled(resource: Any, loc: VersionEntry, canonical: str) -> bytes:
    """A bundled preset file's bytes (a regular file of at most MAX_FILE_BYTES); anything else means a damaged install."""

    def damaged(message: str, hint: str | None = None) -> PresetIntegrityError:
        return PresetIntegrityError(
            message,
            path=str(resource),
            expected=loc.sha256 or "",
            actual="unreadable",
            hint="reinstall stylehunt: pip install --force-reinstall stylehunt",
        )

    with importlib.resources.as_file(resource) as file:
        return read_regular_file(file, max_bytes=MAX_FILE_BYTES, what=f"{canonical}: bundled file {loc.file}", error=damaged)


def _check_identity(fields: Mapping[str, Any], name: str | None, version: str, canonical: str) -> None:
    """The file an index entry points at must say it is that entry."""
    if fields["name"] != name or fields["version"] != version:
        raise RegistryIndexError(
            f"{canonical}: the file says it is {fields['name']}@{fields['version']}",
            source=canonical,
            hint="the registry index points at the wrong file; report it",
        )


def _locate_hub(ref: Reference) -> LocatedPreset:
    from .. import hub

    assert ref.repo_id is not None  # parse_reference sets it for hf-hub: references
    try:
        with hub.cache_transaction(ref.repo_id):
            fetched = _download_preset(ref.repo_id, ref.revision, ref.text)
            fields = parse_preset_json(_read_fetched(fetched, ref.text), path=f"{ref.text} ({FILENAME})")
    except HubRevisionNotFoundError as e:
        tags = tuple(hub.list_tags(ref.repo_id))
        hint = None
        if ref.revision and is_version_spec(ref.revision) and f"v{ref.revision}" in tags:
            hint = f"published versions are tagged with a 'v': write hf-hub:{ref.repo_id}@v{ref.revision}"
        raise HubRevisionNotFoundError(
            f"{e}" + (f"; tags: {', '.join(tags)}" if tags else ""),
            repo_id=ref.repo_id,
            revision=ref.revision,
            available=tags,
            hint=hint or ("use one of the tags, or omit @revision for main" if tags else None),
        ) from e
    return LocatedPreset(
        fields=fields,
        ref=f"{HUB_PREFIX}{ref.repo_id}@{fetched.commit}",
        kind="hub",
        path=fetched.path,
        sha256=fetched.sha256,
        repo_id=ref.repo_id,
        revision=fetched.revision,
        commit=fetched.commit,
    )
