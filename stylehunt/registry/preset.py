"""The in-memory preset, and the functions that build presets from files and references.

`Preset` is a validated set of attention heads plus default strength and scale. This module is the top of
the registry: the modules below it work on plain data (the file format on dicts, `locate` on references and
bytes) and this one turns what they return into presets: `resolve_preset` / `load_preset` for any reference,
`read_preset_file`, `loads` and `preset_from_dict` for a file, its text or its parsed JSON.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..scalars import as_real
from ..errors import InvalidPresetError
from .fields import check_heads_in_fingerprint
from .fileformat import (
    PRESET_FIELDS,
    check_given_fields,
    dumps,
    parse_preset_dict,
    parse_preset_json,
    preset_to_dict,
    read_preset_bytes,
    write_preset_file,
)
from .locate import PresetOrigin, locate_preset

if TYPE_CHECKING:
    from .publish import PublishResult

__all__ = ["Preset", "ResolvedPreset", "resolve_preset", "load_preset", "read_preset_file", "loads", "preset_from_dict",
           "preset_items"]


def _finite_float(value: Any) -> float | None:
    """``value`` as a plain float if it is a finite real number (`stylehunt.scalars.as_real`), else ``None``."""
    number = as_real(value)
    return number if number is not None and math.isfinite(number) else None


def _check_unit_interval(value: Any, what: str) -> float:
    number = _finite_float(value)
    if number is None:
        raise InvalidPresetError(f"Expected `{what}` to be a number between 0.0 and 1.0, but got {value!r}")
    if not 0.0 <= number <= 1.0:
        raise InvalidPresetError(f"Expected `{what}` to be between 0.0 and 1.0, but got {number}")
    return number


def _check_scale(value: Any, what: str = "scale") -> float:
    number = _finite_float(value)
    if number is None:
        raise InvalidPresetError(f"Expected `{what}` to be a finite number >= 0, but got {value!r}")
    if number < 0:
        raise InvalidPresetError(f"Expected `{what}` to be >= 0, but got {number}")
    return number


def _normalise_heads(heads: Iterable[Any]) -> tuple[tuple[int, int], ...]:
    if isinstance(heads, (str, bytes)):
        raise InvalidPresetError(f"Expected `heads` to be a list of (layer, head) pairs, but got {heads!r}")
    out: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for i, item in enumerate(heads):
        if (
            isinstance(item, (str, bytes))
            or not hasattr(item, "__len__")
            or len(item) != 2
            or not all(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in item)
        ):
            raise InvalidPresetError(f"heads[{i}]: expected a (layer, head) pair of integers, but got {item!r}")
        layer, head = int(item[0]), int(item[1])
        if layer < 0 or head < 0:
            raise InvalidPresetError(f"heads[{i}]: layer and head are 0-based and must be >= 0, but got {item!r}")
        if (layer, head) in seen:
            raise InvalidPresetError(f"heads[{i}]: duplicate head {(layer, head)}; each head may appear once")
        seen.add((layer, head))
        out.append((layer, head))
    if not out:
        raise InvalidPresetError("Expected `heads` to name at least one (layer, head) pair, but got an empty list")
    return tuple(out)


def _check_tags(tags: Any) -> tuple[str, ...]:
    if isinstance(tags, (str, bytes)) or not isinstance(tags, Iterable):
        raise InvalidPresetError(f"Expected `tags` to be a list of strings, but got {tags!r}")
    out = tuple(tags)
    for t in out:
        if not isinstance(t, str) or not t.strip():
            raise InvalidPresetError(f"Expected `tags` to be non-empty strings, but got {t!r}")
    return out


@dataclass(frozen=True)
class Preset:
    """A set of attention heads to perturb with SoftPAG, with its default strength and scale.

    Args:
        heads: ``(layer, head)`` pairs, 0-based, in selection order (see `stylehunt.engine.heads`
            for the addressing scheme).
        strength: SoftPAG ``u`` in ``[0, 1]``: each head's attention map becomes ``(1-u) A + u I``.
        scale: default guidance scale ``w`` (used when `stylehunt.apply` gets no ``scale``).
        name, version, model, description: identity; may be empty for ad-hoc presets.
        fingerprint: architecture fingerprint of the model the heads were chosen on; heads outside
            its grid are refused here, and the engine refuses other architectures.
        tags, license, provenance: catalogue fields of a preset file (see ``docs/presets.md``);
            ``provenance`` says how the heads were chosen (``{"kind": "search" | "reported" |
            "manual", ...}``).

    Files: `load` takes any reference (registry name, ``hf-hub:owner/repo``, path),
    `save` writes ``stylehunt_preset.json``, `push_to_hub` publishes a version.

    >>> Preset(heads=[(12, 5), (3, 17)], strength=0.5).heads
    ((12, 5), (3, 17))
    >>> Preset(heads=[(0, 1)], strength=1.5)
    Traceback (most recent call last):
    ...
    stylehunt.errors.InvalidPresetError: Expected `strength` to be between 0.0 and 1.0, but got 1.5
    """

    heads: tuple[tuple[int, int], ...]
    strength: float = 1.0
    scale: float = 3.0
    name: str | None = None
    version: str | None = None
    model: str | None = None
    description: str = ""
    #: architecture fingerprint (``HeadGrid.fingerprint()``) of the model the preset was made for;
    #: when set, applying to a different architecture raises ArchitectureMismatchError.
    fingerprint: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    tags: tuple[str, ...] = field(default=(), compare=False, repr=False)
    license: str | None = field(default=None, compare=False, repr=False)
    #: how the heads were chosen (search settings and scores, or the published source)
    provenance: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "heads", _normalise_heads(self.heads))
        object.__setattr__(self, "strength", _check_unit_interval(self.strength, "strength"))
        object.__setattr__(self, "scale", _check_scale(self.scale))
        object.__setattr__(self, "tags", _check_tags(self.tags))
        if self.license is not None and not isinstance(self.license, str):
            raise InvalidPresetError(f"Expected `license` to be a string such as 'apache-2.0', but got {self.license!r}")
        if self.provenance is not None and not isinstance(self.provenance, dict):
            raise InvalidPresetError(f"Expected `provenance` to be a dict, but got {self.provenance!r}")
        if self.fingerprint is not None:
            if not isinstance(self.fingerprint, dict):
                raise InvalidPresetError(f"Expected `fingerprint` to be a dict (HeadGrid.fingerprint()), but got {self.fingerprint!r}")
            check_heads_in_fingerprint(self.heads, self.fingerprint)
        check_given_fields({f: getattr(self, f) for f in PRESET_FIELDS}, self.label)

    @property
    def label(self) -> str:
        """How error messages and listings name this preset."""
        if self.name:
            return f"{self.name}@{self.version}" if self.version else self.name
        return f"<preset with {len(self.heads)} head{'s' if len(self.heads) != 1 else ''}>"

    # ---------------------------------------------------------------------------------- files

    @classmethod
    def load(cls, ref: "str | os.PathLike[str] | Preset") -> "Preset":
        """Load a preset by reference: ``"sd3-medium/paper-l1h10[@1.0.0]"``, ``"hf-hub:owner/repo[@rev]"``
        or a path to a ``.json`` file (see `load_preset`)."""
        return load_preset(ref)

    @classmethod
    def from_file(cls, path: "str | os.PathLike[str]") -> "Preset":
        """Read a local ``stylehunt_preset.json`` (or a folder holding one); no registry, no network."""
        return read_preset_file(path)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Preset":
        """Build a preset from the parsed JSON of a preset file, validating every field."""
        return preset_from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready file form (raises `stylehunt.errors.PresetFileError` if incomplete)."""
        return preset_to_dict(self)

    def to_json(self) -> str:
        """The exact text `save` writes."""
        return dumps(preset_to_dict(self))

    def save(self, path: "str | os.PathLike[str]") -> Path:
        """Write the preset file atomically; a folder (or a path without suffix) gets ``stylehunt_preset.json``.

        Returns the path written.
        """
        return write_preset_file(self, path)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        version: str | None = None,
        images: "Sequence[str | os.PathLike[str]]" = (),
        private: bool | None = None,
        token: str | None = None,
        dry_run: bool = False,
    ) -> "PublishResult":
        """Publish this preset as ``v<version>`` of Hub repo ``repo_id`` (see `stylehunt.registry.publish.push_preset`)."""
        from .publish import push_preset  # imports huggingface_hub: only when publishing

        return push_preset(self, repo_id, version=version, images=images, private=private, token=token, dry_run=dry_run)


# --------------------------------------------------------------------------------------------------
# presets from files and references


def preset_from_dict(data: Any, *, path: "str | os.PathLike[str] | None" = None) -> Preset:
    """Validate the parsed JSON of a preset file and build the `Preset`.

    Raises `stylehunt.errors.PresetFileError` (or a subclass) naming the field (and ``path``, if given).
    """
    return Preset(**parse_preset_dict(data, path=path))


def loads(raw: bytes | str, *, path: "str | os.PathLike[str] | None" = None) -> Preset:
    """Parse and validate the bytes (or text) of a preset file."""
    return Preset(**parse_preset_json(raw, path=path))


def read_preset_file(path: "str | os.PathLike[str]") -> Preset:
    """Read a ``stylehunt_preset.json`` (or a folder holding one)."""
    file, raw = read_preset_bytes(path)
    return loads(raw, path=file)


@dataclass(frozen=True, kw_only=True)
class ResolvedPreset(PresetOrigin):
    """A loaded preset and exactly where it came from."""

    preset: Preset


def resolve_preset(ref: "str | os.PathLike[str]") -> ResolvedPreset:
    """Find, fetch (if needed), verify and parse a preset; report where it came from.

    Registry names and bundled files need no network; Hub files are downloaded into huggingface_hub's
    cache (revision-pinned) unless already there, and with ``HF_HUB_OFFLINE=1`` only the cache is
    used. Whatever fails leaves the cache as it was.
    """
    found = locate_preset(ref)
    return ResolvedPreset(preset=Preset(**found.fields), **found.origin())


def load_preset(ref: "str | os.PathLike[str] | Preset") -> Preset:
    """Load a preset by reference (a `Preset` is returned as is).

    Raises `stylehunt.errors.PresetReferenceError` (malformed reference),
    `stylehunt.errors.PresetNotFoundError` (unknown name or version, with what exists),
    `stylehunt.errors.PresetFileError` (invalid file), and the Hub errors of
    `stylehunt.hub` (repo missing or denied, offline with nothing cached, corrupted cache).

    >>> load_preset("sd3-medium/paper-l1h10@1").heads
    ((1, 10),)
    """
    if isinstance(ref, Preset):
        return ref
    return resolve_preset(ref).preset


def preset_items(presets: Any, *, single: tuple[type, ...] = ()) -> list[Any]:
    """``presets`` as a list: one `Preset`, reference (a string or a path) or other ``single`` item (the guider's
    inline dicts) becomes a list of one; any other iterable is listed as it is (its items are checked by whoever
    resolves them). The one normaliser of "a preset or a list of them" for `stylehunt.apply` and the guider."""
    if isinstance(presets, (Preset, str, os.PathLike, *single)):
        return [presets]
    if isinstance(presets, (bytes, dict)) or not isinstance(presets, Iterable):
        raise InvalidPresetError(
            f"Expected `presets` to be a Preset, a preset reference or a list of them, but got {type(presets).__name__}"
        )
    return list(presets)
