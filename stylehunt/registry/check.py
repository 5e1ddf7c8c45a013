"""Checking a registry index the way its maintainers review it: every entry, every pin, every fingerprint.

>>> report = check_index()  # the bundled index: offline, every pin checked
>>> report.ok, len(report.versions) > 0
(True, True)
"""

from __future__ import annotations

import importlib.resources
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import InvalidPresetError, PresetFileError, PresetReferenceError, RegistryIndexError, StylehuntError
from .index import bundled_index, bundled_index_file, load_index_json, read_index_bytes
from .indexfile import INDEX_FILENAME, MAX_INDEX_BYTES, ModelAlias, RegistryIndex, VersionEntry
from .locate import locate_version
from .origins import origin_of
from ..engine.heads import describe_fingerprint
from .preset import Preset
from .references import HUB_PREFIX, parse_reference

__all__ = ["VersionCheck", "IndexCheck", "check_index", "fingerprint_problem"]


@dataclass(frozen=True)
class VersionCheck:
    """The verdict on one version of one name: where it points, the sha256 read, and what is wrong (nothing if ok)."""

    name: str
    version: str
    location: str
    sha256: str | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class IndexCheck:
    """What `check_index` found: problems of the index as a whole, and one verdict per version."""

    source: str
    problems: tuple[str, ...]
    versions: tuple[VersionCheck, ...]

    @property
    def failures(self) -> int:
        """How many versions failed, plus one per problem of the whole index."""
        return len(self.problems) + sum(not v.ok for v in self.versions)

    @property
    def ok(self) -> bool:
        return self.failures == 0


def fingerprint_problem(fingerprint: Mapping[str, Any] | None, alias: ModelAlias) -> str | None:
    """Why a preset's fingerprint does not match ``alias``'s model, or ``None`` if it is the same architecture."""
    if fingerprint is None:
        return f"the preset records no architecture fingerprint; the {alias.alias} alias needs {describe_fingerprint(alias.fingerprint)}"
    if dict(fingerprint) == dict(alias.fingerprint):
        return None
    differ = [
        f"{key} {fingerprint.get(key)!r} (the alias has {alias.fingerprint.get(key)!r})"
        for key in alias.fingerprint
        if fingerprint.get(key) != alias.fingerprint.get(key)
    ]
    return f"its architecture fingerprint is not the {alias.alias} alias's ({alias.id}): " + "; ".join(differ)


def _separators(name: str) -> str:
    return re.sub(r"[._-]", "-", name)


def _load(index: str | os.PathLike[str] | None) -> tuple[str, bytes, Any, bool]:
    """``(source, bytes, presets root, remote)`` of the index to check; raises if it cannot be read."""
    if index is None:
        resource = bundled_index_file()
        source = f"bundled {INDEX_FILENAME}"
        with importlib.resources.as_file(resource) as path:
            return source, read_index_bytes(path, source), None, False
    if isinstance(index, str) and index.startswith(HUB_PREFIX):
        from .. import hub

        ref = parse_reference(index)
        assert ref.repo_id is not None  # parse_reference sets it for hf-hub: references
        what = f"check the registry index {index}"
        with hub.cache_transaction(ref.repo_id):
            try:
                fetched = hub.download_file(ref.repo_id, INDEX_FILENAME, revision=ref.revision, max_bytes=MAX_INDEX_BYTES, what=what)
            except PresetFileError as e:  # over the size limit
                raise RegistryIndexError(str(e), source=index, hint=e.hint) from None
        source = f"{HUB_PREFIX}{ref.repo_id}@{fetched.revision} (commit {fetched.commit})"
        return source, read_index_bytes(fetched.path, source), None, True
    path = Path(os.fspath(index)).expanduser()
    if path.is_dir():
        path = path / INDEX_FILENAME
    # A checkout keeps the preset files next to the index's folder: registry/index.json, presets/...
    return str(path), read_index_bytes(path, str(path)), path.resolve().parent.parent / "presets", False


def check_index(index: str | os.PathLike[str] | None = None) -> IndexCheck:
    """Check every entry of a registry index (see the module docs); ``None`` is the bundled index.

    ``index`` is a path (an ``index.json``, or a folder holding one, whose bundled ``file``
    entries live in the ``presets/`` folder beside the index's folder, as in a checkout) or
    ``hf-hub:owner/repo[@revision]`` (network; any revision, such as a pull request's
    ``refs/pr/3``). Hub versions are downloaded into huggingface_hub's cache. An index that
    cannot be read (missing, too large, a missing repo, offline) raises; one that is not a valid
    index is reported as the index's one problem.

    For every version of every name: it resolves (the bundled file exists, or the Hub repo has
    ``stylehunt_preset.json`` at that revision); it is pinned by sha256 and the bytes match the pin;
    the file is a valid preset that says it is that name at that version; its architecture fingerprint
    equals its model alias's. Names are unique: the strict reader refuses a name written twice, no two
    names differ only in their separators (``golden-hour`` / ``golden_hour``), and a remote index adds
    nothing a bundled entry would shadow. Nothing raises for a failed entry: the report says what
    failed, and `IndexCheck.ok` is false. Reading the index itself may raise (a missing repo, offline).
    """
    source, raw, presets_root, remote = _load(index)
    try:
        parsed = RegistryIndex.parse(load_index_json(raw, source), source=source, allow_files=not remote)
    except RegistryIndexError as e:  # malformed JSON, a name written twice, an invalid field
        return IndexCheck(source=source, problems=(str(e),), versions=())
    bundled = bundled_index() if remote else None
    problems = []
    by_key: dict[str, list[str]] = {}
    for name in [*parsed.presets, *(n for n in (bundled.presets if bundled else ()) if n not in parsed.presets)]:
        by_key.setdefault(_separators(name), []).append(name)
    for names in by_key.values():
        if len(names) > 1:
            problems.append(f"names {', '.join(sorted(names))} differ only in '.', '_' or '-'; each name must be unique")
    results = []
    for name, entry in parsed.presets.items():
        alias = parsed.models[entry.model_alias]
        for version in entry.sorted_versions():
            results.append(_check_version(name, entry.versions[version], alias, presets_root, bundled))
    return IndexCheck(source=source, problems=tuple(problems), versions=tuple(results))


def _check_version(
    name: str, loc: VersionEntry, alias: ModelAlias, presets_root: Any, bundled: RegistryIndex | None
) -> VersionCheck:
    problems = []
    if bundled is not None:  # a remote index
        shipped = bundled.presets.get(name)
        shipped_loc = shipped.versions.get(loc.version) if shipped else None
        if loc.bundled and shipped_loc != loc:
            problems.append("a remote index cannot point at files that this stylehunt does not bundle; it is ignored")
        elif not loc.bundled and shipped is not None:
            # Any Hub version of a bundled name is a takeover (a newer version would be loaded instead of the
            # bundled one); `stylehunt submit` refuses the name, and so does the review. Its file is not fetched.
            problems.append(
                f"{name} is taken: it belongs to stylehunt (a bundled preset, version"
                f" {', '.join(shipped.sorted_versions())}); an index may not add a Hub version of it"
            )
            return VersionCheck(name=name, version=loc.version, location=loc.location, sha256=None, problems=tuple(problems))
    if not loc.bundled and loc.sha256 is None:
        problems.append("not pinned: a Hub version needs the sha256 of its stylehunt_preset.json")
    if problems and loc.bundled:
        return VersionCheck(name=name, version=loc.version, location=loc.location, sha256=None, problems=tuple(problems))
    sha256 = None
    try:
        found = locate_version(name, loc, presets_root=presets_root)
        sha256 = found.sha256
        Preset(**found.fields)  # every check a load makes
        mismatch = fingerprint_problem(found.fields["fingerprint"], alias)
        if mismatch:
            problems.append(mismatch)
        if loc.kind is not None or loc.label is not None:  # what listings show must be what the file says
            recorded, actual = {"kind": loc.kind, "label": loc.label}, {"label": None, **origin_of(found.fields)}
            if recorded != actual:
                problems.append(
                    f"the index records kind {loc.kind!r} and label {loc.label!r}, but the file says kind"
                    f" {actual['kind']!r} and label {actual['label']!r}; rewrite them with"
                    " `python -m stylehunt.registry.origins path/to/index.json`"
                )
    except (InvalidPresetError, PresetReferenceError) as e:
        problems.append(f"invalid preset file: {e}")
    except StylehuntError as e:  # does not resolve, pin mismatch, wrong identity, offline
        problems.append(str(e))
    return VersionCheck(name=name, version=loc.version, location=loc.location, sha256=sha256, problems=tuple(problems))
