"""The registry catalogue in use: model aliases, listing, and which version a name selects.

The catalogue is ``index.json`` (format: `indexfile`), bundled as ``stylehunt.registry_data`` with
its preset files in ``stylehunt.presets``; `refresh_index` caches a newer one from the Hub. Main names:
`get_index`, `list_presets`, `hub_model_id`, `find_version`.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import importlib.resources
import logging
import os
from pathlib import Path
from typing import Any

from ..errors import (
    HubOfflineError,
    PresetFileError,
    PresetIntegrityError,
    PresetNotFoundError,
    PresetReferenceError,
    RegistryIndexError,
)
from ..files import load_json, read_regular_file
from .discovery import DEFAULT_LIMIT, check_search
from .indexfile import INDEX_FILENAME, MAX_INDEX_BYTES, IndexEntry, ModelAlias, RegistryIndex, VersionEntry
from .names import is_hub_repo_id, parse_version
from .references import Reference, path_hint

__all__ = [
    "DEFAULT_INDEX_REPO",
    "index_location",
    "bundled_index",
    "bundled_index_file",
    "read_index_bytes",
    "load_index_json",
    "read_index_file",
    "get_index",
    "refresh_index",
    "model_aliases",
    "model_alias_for",
    "hub_model_id",
    "list_presets",
    "hub_fallback_names",
    "find_version",
    "bundled_preset_file",
]

logger = logging.getLogger(__name__)

#: Hub repo holding a newer ``index.json``; override with ``STYLEHUNT_INDEX_REPO`` (and ``STYLEHUNT_INDEX_REVISION``).
DEFAULT_INDEX_REPO = "stylehunt/registry"

_PRESETS_PACKAGE = "stylehunt.presets"
_INDEX_PACKAGE = "stylehunt.registry_data"
_SOURCE_ROOT = Path(__file__).resolve().parents[2]  # a source checkout: presets/ and registry/ live here


# --------------------------------------------------------------------------------------------------
# the catalogue: bundled, and refreshed from the Hub


def _bundled(package: str, folder: str, *parts: str) -> Any:
    """A bundled data file: through importlib.resources when installed, else the source checkout."""
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError:
        root = _SOURCE_ROOT / folder
    return root.joinpath(*parts)


def bundled_preset_file(relative: str) -> Any:
    """The bundled preset file an index entry names (``VersionEntry.file``, relative to ``presets/``)."""
    return _bundled(_PRESETS_PACKAGE, "presets", *relative.split("/"))


def _index_error(source: str, hint: str | None = None) -> Any:
    """How `stylehunt.files` refusals of an index are raised: `RegistryIndexError` naming its source."""
    return lambda message, hint=hint: RegistryIndexError(message, source=source, hint=hint)


def _what(source: str) -> str:
    return source if INDEX_FILENAME in source else f"{source} {INDEX_FILENAME}"


def read_index_bytes(path: Any, source: str, hint: str | None = None) -> bytes:
    """The bytes of an index file: a regular file of at most MAX_INDEX_BYTES (else `RegistryIndexError`)."""
    return read_regular_file(path, max_bytes=MAX_INDEX_BYTES, what=_what(source), error=_index_error(source, hint))


def load_index_json(raw: bytes, source: str, hint: str | None = None) -> Any:
    """The parsed JSON of an index's bytes: strict (no duplicate names or NaN) and depth-bounded JSON."""
    return load_json(raw, what=_what(source), max_bytes=MAX_INDEX_BYTES, error=_index_error(source, hint))


def read_index_file(path: Any, source: str, hint: str | None = None) -> Any:
    """The parsed JSON of an index file (`read_index_bytes`, then `load_index_json`).

    Refusals raise `RegistryIndexError` naming ``source`` (with ``hint``).
    """
    return load_index_json(read_index_bytes(path, source, hint), source, hint)


def bundled_index_file() -> Any:
    """The bundled ``index.json`` as a resource (read it through ``importlib.resources.as_file``)."""
    return _bundled(_INDEX_PACKAGE, "registry", INDEX_FILENAME)


@functools.lru_cache(maxsize=1)
def bundled_index() -> RegistryIndex:
    """The index shipped with stylehunt (``registry/index.json``), alone. No network."""
    resource = bundled_index_file()
    source = f"bundled {INDEX_FILENAME}"
    with importlib.resources.as_file(resource) as path:
        data = read_index_file(path, source, hint="reinstall stylehunt")
    return RegistryIndex.parse(data, source=source)


def index_location() -> tuple[str, str]:
    """``(repo, revision)`` of the registry's Hub copy: ``STYLEHUNT_INDEX_REPO`` (else `DEFAULT_INDEX_REPO`)
    and ``STYLEHUNT_INDEX_REVISION`` (else ``main``), read now."""
    repo = os.environ.get("STYLEHUNT_INDEX_REPO") or DEFAULT_INDEX_REPO
    return repo, os.environ.get("STYLEHUNT_INDEX_REVISION") or "main"


def _cached_remote_index() -> RegistryIndex | None:
    from .. import hub
    from ..hub.cache import repo_folder

    repo, revision = index_location()
    chosen = os.environ.get("STYLEHUNT_INDEX_REPO") or os.environ.get("STYLEHUNT_INDEX_REVISION")
    try:
        _checked_location(repo, revision)
    except PresetReferenceError as e:
        _warn_once(f"{e}; using the bundled index")
        return None
    if not chosen and not repo_folder(repo).is_dir():
        return None  # the default location, never refreshed (the usual case): no need for the Hub client
    source = f"hf-hub:{repo}@{revision} (cached)"
    try:
        path = hub.cached_file(repo, INDEX_FILENAME, revision=revision, max_bytes=MAX_INDEX_BYTES)
        if path is None:
            return None
        return RegistryIndex.parse(read_index_file(path, source), source=source, allow_files=False)
    except (PresetIntegrityError, PresetFileError, PresetReferenceError, RegistryIndexError, OSError) as e:
        _warn_once(f"ignoring the cached copy of the registry index {source}: {e}; using the bundled index")
        return None


#: Warnings about the index in use already printed, with the Hub cache they were about: a command reads
#: the index more than once, and printed the same warning each time (review 2026-12, E62/E64/RF06).
_WARNED: set[tuple[str, str]] = set()


def _warn_once(message: str) -> None:
    from .. import hub

    key = (message, str(hub.cache_dir()))
    if key not in _WARNED:
        _WARNED.add(key)
        logger.warning("%s", message)


def _checked_location(repo: str, revision: str) -> tuple[str, str]:
    """The index location of `index_location`, checked; a bad value is refused naming its variable."""
    from .. import hub

    return (_from_variable("STYLEHUNT_INDEX_REPO", hub.check_repo_id, repo),
            _from_variable("STYLEHUNT_INDEX_REVISION", hub.check_revision, revision))


def _from_variable(variable: str, check: Any, value: str) -> str:
    """``check(value)``; when ``value`` came from the environment variable, its error names the variable."""
    try:
        return check(value)
    except PresetReferenceError as e:
        if os.environ.get(variable) != value:
            raise
        raise PresetReferenceError(f"{variable}={value!r}: {str(e).rstrip('.')}", ref=value,
                                   hint=f"fix or unset {variable} (the registry index's Hub location)") from None


def get_index() -> RegistryIndex:
    """The catalogue in use: the bundled index, merged over a refreshed remote copy if one is cached. No network."""
    bundled = bundled_index()
    remote = _cached_remote_index()
    return bundled if remote is None else remote.merged_under(bundled)


def refresh_index(repo_id: str | None = None, *, revision: str | None = None) -> RegistryIndex:
    """Fetch ``index.json`` from the registry's Hub repo into huggingface_hub's cache (network).

    ``repo_id`` defaults to ``STYLEHUNT_INDEX_REPO`` (else ``stylehunt/registry``), ``revision``
    to ``STYLEHUNT_INDEX_REVISION`` (else ``main``). An invalid index is refused and the cache is
    left as it was. Returns the merged index now in use.

    The copy goes into huggingface_hub's cache; later calls merge it under the bundled one, and
    ignore it (with a warning) if it is corrupted or invalid.
    """
    from .. import hub

    default_repo, default_revision = index_location()
    repo = hub.check_repo_id(repo_id) if repo_id else _from_variable("STYLEHUNT_INDEX_REPO", hub.check_repo_id, default_repo)
    revision = (hub.check_revision(revision) if revision
                else _from_variable("STYLEHUNT_INDEX_REVISION", hub.check_revision, default_revision))
    source = f"hf-hub:{repo}@{revision}"
    with hub.cache_transaction(repo):
        what = f"refresh the registry index from {source}"
        try:
            fetched = hub.download_file(repo, INDEX_FILENAME, revision=revision, max_bytes=MAX_INDEX_BYTES, what=what)
        except PresetFileError as e:  # over the size limit: an index problem, not a preset's
            raise RegistryIndexError(str(e), source=source, hint=e.hint) from None
        remote = RegistryIndex.parse(read_index_file(fetched.path, source), source=source, allow_files=False)
    if revision != default_revision or repo != default_repo:
        logger.info("refreshed %s; set STYLEHUNT_INDEX_REPO/STYLEHUNT_INDEX_REVISION to use it by default", source)
        return remote.merged_under(bundled_index())
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


def _unknown_model(model: str, *, hub_ids: bool = False) -> PresetNotFoundError:
    known = sorted(get_index().models)
    return PresetNotFoundError(
        f"unknown model {model!r}; known model aliases: {', '.join(known)}",
        ref=model,
        available=tuple(known),
        suggestions=tuple(difflib.get_close_matches(model, known, n=3)),
        hint="pass an alias from `stylehunt list` or the Hub id it stands for"
        + (" (or any Hub model id, owner/name)" if hub_ids else ""),
    )


def hub_model_id(model: str) -> str:
    """The Hub model id ``model`` names: an alias's id, or a Hub id ``owner/name`` as given. No network.

    Anything else (a misspelt alias) raises `PresetNotFoundError` listing the aliases; so
    does an alias without a Hub id (a tiny model built in code: nothing on the Hub names it).

    >>> hub_model_id("sd3-medium")
    'stabilityai/stable-diffusion-3-medium-diffusers'
    """
    alias = model_alias_for(model)
    if alias is not None:
        if not is_hub_repo_id(alias.id):
            hub_aliases = sorted(a for a, m in get_index().models.items() if is_hub_repo_id(m.id))
            raise PresetNotFoundError(
                f"`model` {model!r} is built in code, not a Hub model: no preset on the Hub names it as its base model",
                ref=model,
                available=tuple(hub_aliases),
                param="model",
                hint=f"on the Hub, `model` filters by a Hub model: an alias ({', '.join(hub_aliases[:4])}, ...;"
                " `stylehunt list --models`) or any Hub id owner/name; `stylehunt list --model "
                f"{model}` lists its bundled presets",
            )
        return alias.id
    if is_hub_repo_id(model):
        return model
    raise _unknown_model(model, hub_ids=True)


def list_presets(
    pattern: str = "*",
    model: str | None = None,
    *,
    hub: bool = False,
    sort: str = "downloads",
    limit: int = DEFAULT_LIMIT,
) -> list[str]:
    """Registry preset names matching the wildcard ``pattern``, sorted; optionally for one ``model``
    (an alias such as ``sd3-medium`` or its Hub id). No network.

    With ``hub=True``, the references (``hf-hub:owner/repo@v1.2.0``) of preset repos published
    anywhere on the Hub instead, best first by ``sort`` (``downloads``, ``likes`` or ``updated``),
    at most ``limit`` (see `stylehunt.registry.discovery.search_hub`; ``pattern`` is then
    free text, and ``model`` may be any Hub model id). Network; offline or with the Hub
    unreachable, a warning is logged and the registry names are returned.

    >>> list_presets("*l0h23")
    ['sd3-medium/paper-l0h23']
    >>> list_presets("sd3-medium/paper-l1*")
    ['sd3-medium/paper-l11h15', 'sd3-medium/paper-l13h17', 'sd3-medium/paper-l1h10']
    """
    if hub:
        check_search(sort, limit, pattern)  # bad arguments are errors, online or not
        base_model = hub_model_id(model) if model is not None else None
        from .discovery import search_hub

        try:
            return [found.reference for found in search_hub(pattern, base_model=base_model, sort=sort, limit=limit)]
        except HubOfflineError as e:
            logger.warning("%s; listing the registry only", e)
        return hub_fallback_names(pattern, model)
    index = get_index()
    names = [n for n in sorted(index.presets) if fnmatch.fnmatchcase(n, pattern)]
    if model is not None:
        alias = model_alias_for(model)
        if alias is None:
            raise _unknown_model(model)
        names = [n for n in names if index.presets[n].model_alias == alias.alias]
    return names


def hub_fallback_names(pattern: str = "*", model: str | None = None) -> list[str]:
    """What a Hub listing shows offline: the registry names, reading its arguments as a Hub search does.

    ``pattern`` without wildcards is free text (``golden`` matches ``sd3-medium/golden-hour``);
    ``model`` may be any Hub model id (one without an alias has no registry presets). No network.

    >>> hub_fallback_names("l0h")
    ['sd3-medium/paper-l0h23']
    """
    if model is not None and model_alias_for(model) is None:
        hub_model_id(model)  # a misspelt alias is still an error
        return []
    if not any(c in pattern for c in "*?["):
        pattern = f"*{pattern}*"
    return list_presets(pattern, model)


# --------------------------------------------------------------------------------------------------
# which version a name selects


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
            if not parse_version(v).prerelease and [str(x) for x in parse_version(v).core[: len(parts)]] == parts
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


def find_version(ref: Reference) -> VersionEntry:
    """The version a registry-name reference selects, and where it lives. No network.

    An unknown name raises `PresetNotFoundError` listing the closest names and what exists
    (a bare ``owner/repo`` raises `PresetReferenceError` suggesting ``hf-hub:``); an unknown
    version lists the versions.

    >>> from stylehunt.registry.references import parse_reference
    >>> find_version(parse_reference("sd3-medium/paper-l1h10@1")).location
    'bundled:sd3-medium/paper-l1h10/1.0.0/stylehunt_preset.json'
    """
    index = get_index()
    name = ref.name
    assert name is not None
    entry = index.presets.get(name)
    if entry is None:
        names = sorted(index.presets)
        close = _closest(name, names)
        alias = name.split("/", 1)[0]
        from ..tiny import TINY_MODEL_NAMES

        if "/" in name and alias in TINY_MODEL_NAMES and alias not in index.models:
            # a tiny model without bundled presets (tiny-flux): not a Hub repo to suggest (2026-11 M17)
            raise PresetNotFoundError(
                f"no preset named {name!r}: the tiny model {alias} has no bundled presets"
                + (f"; closest registry names: {', '.join(close)}" if close else ""),
                ref=ref.text, available=tuple(names), suggestions=close,
                hint=f"run `stylehunt list` to see the registry, or try heads on {alias} with "
                     f"`stylehunt generate --model {alias} --heads L:H`",
            )
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
            hint=path_hint(ref.text) or "run `stylehunt list` to see the registry",
        )
    return entry.versions[_pick_version(ref, entry)]
