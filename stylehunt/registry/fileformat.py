"""The preset file, ``stylehunt_preset.json``: one JSON format for bundled, local and Hub presets.

A preset file is plain JSON (nothing in it can execute code) with a ``format_version``. Reading
is strict: every error names the file and the JSON path of the bad value
(``presets/x.json: heads[3]: head 40 out of range for 24 heads in layer 2 (valid: 0-23)``); a
file written by a newer format version is refused with a hint to upgrade. The full reference is
``docs/presets.md``; in short::

    {
      "format_version": 1,
      "name": "sd3-medium/paper-l1h10",            # [alias/]slug: lowercase, digits, '.', '_', '-'
      "version": "1.0.0",                           # semver
      "description": "...",
      "tags": ["lighting"],
      "license": "apache-2.0",
      "model": {"id": "stabilityai/stable-diffusion-3-medium-diffusers",
                "fingerprint": {...}},              # HeadGrid.fingerprint(); optional
      "heads": [[1, 10]],                           # (layer, head), 0-based, in selection order
      "strength": 1.0,                              # SoftPAG u in [0, 1]
      "scale": 3.0,                                 # guidance scale w >= 0
      "provenance": {"kind": "reported", "source": "...", "notes": "..."},
      "metadata": {}                                # optional, free-form JSON
    }

>>> from stylehunt.registry.fileformat import parse_version
>>> sorted(["1.10.0", "1.2.0", "1.2.0-rc.1"], key=parse_version)
['1.2.0-rc.1', '1.2.0', '1.10.0']
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..files import atomic_write_bytes
from ..errors import (
    HeadOutOfRangeError,
    InvalidPresetError,
    PresetFileError,
    PresetFormatVersionError,
)

if TYPE_CHECKING:
    from .preset import Preset

__all__ = [
    "FILENAME",
    "FORMAT_VERSION",
    "MAX_FILE_BYTES",
    "Version",
    "parse_version",
    "is_valid_name",
    "validate_name",
    "preset_to_dict",
    "preset_from_dict",
    "dumps",
    "loads",
    "read_preset_file",
    "write_preset_file",
]

#: The one file name of a preset, bundled, on disk (in a folder) and in a Hub repo.
FILENAME = "stylehunt_preset.json"
#: The format this stylehunt writes, and the newest it reads.
FORMAT_VERSION = 1
#: Preset files are small; anything larger is refused before parsing.
MAX_FILE_BYTES = 1 << 20

TOP_LEVEL_KEYS = (
    "format_version",
    "name",
    "version",
    "description",
    "tags",
    "license",
    "model",
    "heads",
    "strength",
    "scale",
    "provenance",
    "metadata",
)
REQUIRED_KEYS = ("format_version", "name", "version", "license", "model", "heads", "strength", "scale", "provenance")
MODEL_KEYS = ("id", "fingerprint")
FINGERPRINT_KEYS = ("transformer_class", "num_layers", "heads_per_layer", "head_dim", "layer_kinds")
PROVENANCE_KINDS = ("search", "reported", "manual")
SEARCH_PROVENANCE_KEYS = ("kind", "stylehunt_version", "objective", "prompts", "seeds", "settings", "rounds", "created", "notes")
SEARCH_REQUIRED = ("stylehunt_version", "objective", "prompts", "seeds", "settings", "rounds")
SOURCE_PROVENANCE_KEYS = ("kind", "source", "notes", "stylehunt_version", "created")
ROUND_KEYS = ("added", "score", "candidates")

# A name segment: lowercase alphanumerics joined by single '.', '_' or '-' (so never '..', never a
# leading '/', never a path); a name is `slug` or `alias/slug`.
_SEGMENT = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
_NAME_RE = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})?")
_SEGMENT_RE = re.compile(_SEGMENT)
_MAX_NAME = 96
_LICENSE_RE = re.compile(r"[a-z0-9][a-z0-9._+-]{0,63}")
_SEMVER_RE = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
)


# --------------------------------------------------------------------------------------------------
# versions and names


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
    """Parse a semver string; raise :class:`InvalidPresetError` naming the bad value."""
    if not isinstance(text, str) or not _SEMVER_RE.fullmatch(text):
        raise InvalidPresetError(
            f"Expected a semantic version MAJOR.MINOR.PATCH such as '1.2.0' (optionally '-rc.1'), but got {text!r}"
        )
    m = _SEMVER_RE.fullmatch(text)
    assert m is not None  # for type checkers; checked above
    pre = tuple(int(p) if p.isdigit() else p for p in m.group(4).split(".")) if m.group(4) else ()
    return Version(int(m.group(1)), int(m.group(2)), int(m.group(3)), pre)


def is_valid_name(name: Any, *, allow_alias: bool = True) -> bool:
    """Whether ``name`` is a valid preset name (``slug`` or ``alias/slug``)."""
    if not isinstance(name, str) or len(name) > _MAX_NAME:
        return False
    pattern = _NAME_RE if allow_alias else _SEGMENT_RE
    return pattern.fullmatch(name) is not None


def validate_name(name: Any, what: str = "name") -> str:
    if not is_valid_name(name):
        raise InvalidPresetError(
            f"{what}: expected `slug` or `model-alias/slug` (lowercase letters, digits and single '.', '_' or"
            f" '-' between them, at most {_MAX_NAME} characters; no '..', no leading '/'), but got {name!r}"
        )
    return name


# --------------------------------------------------------------------------------------------------
# field checks (each raises PresetFileError pointing at the field)


class _Reader:
    """Validates one file's dict; every error carries the file path and the field path."""

    def __init__(self, path: str | None):
        self.path = path

    def fail(self, field: str | None, message: str, *, hint: str | None = None) -> PresetFileError:
        where = f"{self.path}: " if self.path else ""
        at = f"{field}: " if field else ""
        return PresetFileError(f"{where}{at}{message}", path=self.path, field=field, hint=hint)

    def object(self, value: Any, field: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(field, f"expected a JSON object, but got {_describe(value)}")
        return value

    def keys(self, obj: Mapping, field: str | None, allowed: tuple[str, ...], required: tuple[str, ...]) -> None:
        prefix = f"{field}." if field else ""
        for key in obj:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                suggestion = f"; did you mean `{close[0]}`?" if close else f"; allowed: {', '.join(allowed)}"
                raise self.fail(f"{prefix}{key}", f"unknown field{suggestion}")
        for key in required:
            if key not in obj:
                raise self.fail(f"{prefix}{key}", "missing required field")

    def string(self, value: Any, field: str, *, empty: bool = False, max_len: int = 100_000) -> str:
        if not isinstance(value, str):
            raise self.fail(field, f"expected a string, but got {_describe(value)}")
        if not empty and not value.strip():
            raise self.fail(field, "expected a non-empty string")
        if len(value) > max_len:
            raise self.fail(field, f"expected at most {max_len} characters, but got {len(value)}")
        return value

    def integer(self, value: Any, field: str, *, minimum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, f"expected an integer, but got {_describe(value)}")
        if minimum is not None and value < minimum:
            raise self.fail(field, f"expected an integer >= {minimum}, but got {value}")
        return value

    def number(self, value: Any, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(field, f"expected a finite number, but got {_describe(value)}")
        return float(value)

    def array(self, value: Any, field: str, *, nonempty: bool = False) -> list:
        if not isinstance(value, list):
            raise self.fail(field, f"expected a JSON array, but got {_describe(value)}")
        if nonempty and not value:
            raise self.fail(field, "expected a non-empty array")
        return value

    def head(self, value: Any, field: str) -> tuple[int, int]:
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in value)
        ):
            raise self.fail(field, f"expected a [layer, head] pair of integers, but got {_describe(value)}")
        if value[0] < 0 or value[1] < 0:
            raise self.fail(field, f"layer and head are 0-based and must be >= 0, but got {value}")
        return (value[0], value[1])

    def heads(self, value: Any, field: str) -> list[tuple[int, int]]:
        items = self.array(value, field, nonempty=True)
        out: list[tuple[int, int]] = []
        seen: dict[tuple[int, int], int] = {}
        for i, item in enumerate(items):
            head = self.head(item, f"{field}[{i}]")
            if head in seen:
                raise self.fail(
                    f"{field}[{i}]",
                    f"duplicate head {list(head)} (already {field}[{seen[head]}]); each head may appear once",
                )
            seen[head] = i
            out.append(head)
        return out


def _describe(value: Any) -> str:
    kind = {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)
    text = json.dumps(value) if isinstance(value, (str, int, float, bool, type(None))) else None
    if text is None:
        text = json.dumps(value)[:60] if isinstance(value, (list, dict)) else repr(value)[:60]
    return f"{kind} ({text})" if value is not None else kind


def _check_fingerprint(r: _Reader, fp: Any, field: str) -> dict[str, Any]:
    from ..engine.heads import KINDS, SUPPORTED_TRANSFORMERS

    fp = r.object(fp, field)
    r.keys(fp, field, FINGERPRINT_KEYS, FINGERPRINT_KEYS)
    cls = r.string(fp["transformer_class"], f"{field}.transformer_class")
    if cls not in SUPPORTED_TRANSFORMERS:
        raise r.fail(
            f"{field}.transformer_class",
            f"unsupported transformer class {cls!r}; supported: {', '.join(SUPPORTED_TRANSFORMERS)}",
        )
    num_layers = r.integer(fp["num_layers"], f"{field}.num_layers", minimum=1)
    hpl = fp["heads_per_layer"]
    if isinstance(hpl, list):
        if len(hpl) != num_layers:
            raise r.fail(f"{field}.heads_per_layer", f"expected {num_layers} entries (num_layers), but got {len(hpl)}")
        for i, n in enumerate(hpl):
            r.integer(n, f"{field}.heads_per_layer[{i}]", minimum=1)
    else:
        r.integer(hpl, f"{field}.heads_per_layer", minimum=1)
    head_dim = r.integer(fp["head_dim"], f"{field}.head_dim", minimum=-1)
    if head_dim == 0:
        raise r.fail(f"{field}.head_dim", "expected a positive head dim (or -1 when layers differ), but got 0")
    kinds = r.array(fp["layer_kinds"], f"{field}.layer_kinds", nonempty=True)
    total = 0
    for i, run in enumerate(kinds):
        at = f"{field}.layer_kinds[{i}]"
        if not isinstance(run, list) or len(run) != 2:
            raise r.fail(at, f"expected a [kind, count] pair, but got {_describe(run)}")
        if run[0] not in KINDS:
            raise r.fail(at, f"unknown layer kind {run[0]!r}; known: {', '.join(KINDS)}")
        total += r.integer(run[1], at, minimum=1)
    if total != num_layers:
        raise r.fail(f"{field}.layer_kinds", f"counts add up to {total}, but num_layers is {num_layers}")
    return {
        "transformer_class": cls,
        "num_layers": num_layers,
        "heads_per_layer": list(hpl) if isinstance(hpl, list) else hpl,
        "head_dim": head_dim,
        "layer_kinds": [[k, n] for k, n in kinds],
    }


def _check_model_id(r: _Reader, value: Any, field: str) -> str:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    value = r.string(value, field)
    try:
        validate_repo_id(value)
    except HFValidationError as e:
        raise r.fail(
            field,
            f"expected a Hub model id such as 'stabilityai/stable-diffusion-3-medium-diffusers', but got {value!r} ({e})",
            hint="a preset names the model by its Hub id (or a tiny model name such as 'tiny-sd3'), never a local path",
        ) from None
    return value


def _json_only(r: _Reader, value: Any, field: str) -> Any:
    """Free-form JSON (settings, metadata): plain JSON values, with keys sorted for stable files."""
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise r.fail(field, f"object keys must be strings, but got {k!r}")
        return {k: _json_only(r, value[k], f"{field}.{k}") for k in sorted(value)}
    if isinstance(value, list):
        return [_json_only(r, v, f"{field}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        raise r.fail(field, f"expected a finite number, but got {value!r}")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise r.fail(field, f"expected a JSON value, but got {type(value).__name__}")


def _check_provenance(r: _Reader, value: Any, heads: list[tuple[int, int]]) -> dict[str, Any]:
    field = "provenance"
    prov = r.object(value, field)
    if "kind" not in prov:
        raise r.fail(f"{field}.kind", f"missing required field (one of: {', '.join(PROVENANCE_KINDS)})")
    kind = prov["kind"]
    if kind not in PROVENANCE_KINDS:
        raise r.fail(f"{field}.kind", f"expected one of {', '.join(PROVENANCE_KINDS)}, but got {_describe(kind)}")
    out: dict[str, Any] = {"kind": kind}
    if kind != "search":
        r.keys(prov, field, SOURCE_PROVENANCE_KEYS, ("kind", "source"))
        out["source"] = r.string(prov["source"], f"{field}.source")
        for key in ("notes", "stylehunt_version", "created"):
            if key in prov:
                out[key] = r.string(prov[key], f"{field}.{key}")
        return out

    r.keys(prov, field, SEARCH_PROVENANCE_KEYS, ("kind",) + SEARCH_REQUIRED)
    out["stylehunt_version"] = r.string(prov["stylehunt_version"], f"{field}.stylehunt_version")
    objective = r.object(prov["objective"], f"{field}.objective")
    r.keys(objective, f"{field}.objective", ("text", "scorer"), ("text", "scorer"))
    out["objective"] = {
        "text": r.string(objective["text"], f"{field}.objective.text"),
        "scorer": r.string(objective["scorer"], f"{field}.objective.scorer"),
    }
    prompts = r.array(prov["prompts"], f"{field}.prompts", nonempty=True)
    out["prompts"] = [r.string(p, f"{field}.prompts[{i}]") for i, p in enumerate(prompts)]
    seeds = r.array(prov["seeds"], f"{field}.seeds", nonempty=True)
    out["seeds"] = [r.integer(s, f"{field}.seeds[{i}]", minimum=0) for i, s in enumerate(seeds)]
    out["settings"] = _json_only(r, r.object(prov["settings"], f"{field}.settings"), f"{field}.settings")
    rounds = r.array(prov["rounds"], f"{field}.rounds", nonempty=True)
    out_rounds = []
    selected: list[tuple[int, int]] = []
    for i, rnd in enumerate(rounds):
        at = f"{field}.rounds[{i}]"
        rnd = r.object(rnd, at)
        r.keys(rnd, at, ROUND_KEYS, ("added", "score"))
        added = r.heads(rnd["added"], f"{at}.added")
        entry: dict[str, Any] = {"added": [list(h) for h in added], "score": r.number(rnd["score"], f"{at}.score")}
        if "candidates" in rnd:
            cands = r.array(rnd["candidates"], f"{at}.candidates")
            entry["candidates"] = []
            for j, cand in enumerate(cands):
                cat = f"{at}.candidates[{j}]"
                cand = r.object(cand, cat)
                r.keys(cand, cat, ("head", "score"), ("head", "score"))
                entry["candidates"].append(
                    {"head": list(r.head(cand["head"], f"{cat}.head")), "score": r.number(cand["score"], f"{cat}.score")}
                )
        selected.extend(added)
        out_rounds.append(entry)
    if selected != heads:
        raise r.fail(
            f"{field}.rounds",
            f"the heads added by the search rounds {[list(h) for h in selected]} differ from `heads`"
            f" {[list(h) for h in heads]}; a search preset's heads are exactly what its rounds selected",
            hint='if you edited the heads by hand, set provenance to {"kind": "manual", "source": "..."}',
        )
    out["rounds"] = out_rounds
    for key in ("created", "notes"):
        if key in prov:
            out[key] = r.string(prov[key], f"{field}.{key}")
    return out


# --------------------------------------------------------------------------------------------------
# dict <-> Preset


def preset_from_dict(data: Any, *, path: str | os.PathLike | None = None) -> "Preset":
    """Validate a parsed preset file and build the :class:`~stylehunt.Preset`.

    Raises :class:`~stylehunt.errors.PresetFileError` (or a subclass) naming the field.
    """
    from .preset import Preset, check_heads_in_fingerprint

    r = _Reader(str(path) if path is not None else None)
    if not isinstance(data, dict):
        raise r.fail(None, f"expected a JSON object at the top level, but got {_describe(data)}")
    if "format_version" not in data:
        raise r.fail("format_version", "missing required field; is this a stylehunt preset file?")
    fv = data["format_version"]
    if isinstance(fv, bool) or not isinstance(fv, int) or fv < 1:
        raise r.fail("format_version", f"expected a positive integer, but got {_describe(fv)}")
    if fv > FORMAT_VERSION:
        where = f"{r.path}: " if r.path else ""
        raise PresetFormatVersionError(
            f"{where}written by a newer stylehunt (format_version {fv}); this stylehunt reads format_version"
            f" {FORMAT_VERSION} and older",
            found=fv,
            supported=FORMAT_VERSION,
            path=r.path,
        )
    r.keys(data, None, TOP_LEVEL_KEYS, REQUIRED_KEYS)

    name = r.string(data["name"], "name")
    if not is_valid_name(name):
        try:
            validate_name(name)
        except InvalidPresetError as e:
            raise r.fail("name", str(e).split(": ", 1)[1]) from None
    version = r.string(data["version"], "version")
    try:
        parse_version(version)
    except InvalidPresetError as e:
        raise r.fail("version", str(e)) from None
    description = r.string(data.get("description", ""), "description", empty=True, max_len=10_000)
    tags = r.array(data.get("tags", []), "tags")
    clean_tags: list[str] = []
    for i, tag in enumerate(tags):
        tag = r.string(tag, f"tags[{i}]", max_len=64)
        if tag in clean_tags:
            raise r.fail(f"tags[{i}]", f"duplicate tag {tag!r}")
        clean_tags.append(tag)
    license_ = r.string(data["license"], "license")
    if not _LICENSE_RE.fullmatch(license_):
        raise r.fail("license", f"expected a lowercase license id such as 'apache-2.0', 'cc-by-4.0' or 'other', but got {license_!r}")

    model = r.object(data["model"], "model")
    r.keys(model, "model", MODEL_KEYS, ("id",))
    model_id = _check_model_id(r, model["id"], "model.id")
    fingerprint = _check_fingerprint(r, model["fingerprint"], "model.fingerprint") if "fingerprint" in model else None

    heads = r.heads(data["heads"], "heads")
    if fingerprint is not None:
        try:
            check_heads_in_fingerprint(heads, fingerprint)
        except HeadOutOfRangeError as e:
            where = f"{r.path}: " if r.path else ""
            raise type(e)(f"{where}{e}", hint=e.hint) from None
    strength = r.number(data["strength"], "strength")
    if not 0.0 <= strength <= 1.0:
        raise r.fail("strength", f"expected the SoftPAG strength u to be between 0.0 and 1.0, but got {strength}")
    scale = r.number(data["scale"], "scale")
    if scale < 0:
        raise r.fail("scale", f"expected the guidance scale w to be >= 0, but got {scale}")
    provenance = _check_provenance(r, data["provenance"], heads)
    metadata = _json_only(r, r.object(data.get("metadata", {}), "metadata"), "metadata")

    return Preset(
        heads=heads,
        strength=strength,
        scale=scale,
        name=name,
        version=version,
        model=model_id,
        description=description,
        fingerprint=fingerprint,
        metadata=metadata,
        tags=tuple(clean_tags),
        license=license_,
        provenance=provenance,
    )


def preset_to_dict(preset: "Preset") -> dict[str, Any]:
    """The file form of ``preset``; raises :class:`PresetFileError` if it cannot be saved as is.

    A saved preset must say what it is and where it came from: ``name``, ``version`` (semver),
    ``license``, ``model`` (a Hub id) and ``provenance`` are required. The result is validated by
    :func:`preset_from_dict`, so whatever ``save`` writes, ``load`` reads back.
    """
    missing = [f for f in ("name", "version", "license", "model", "provenance") if not getattr(preset, f)]
    if missing:
        raise PresetFileError(
            f"cannot save {preset.label}: missing {', '.join(f'`{m}`' for m in missing)}",
            field=missing[0],
            hint=(
                "a saved preset needs name, version (semver), license, model (Hub id) and provenance, e.g."
                " dataclasses.replace(preset, name='my-style', version='1.0.0', license='apache-2.0',"
                " model='stabilityai/stable-diffusion-3-medium-diffusers',"
                " provenance={'kind': 'manual', 'source': 'picked by hand'})"
            ),
        )
    try:
        raw = json.loads(json.dumps(_raw_dict(preset), allow_nan=False))
    except (TypeError, ValueError) as e:
        raise PresetFileError(f"cannot save {preset.label}: not plain JSON ({e})", hint="provenance and metadata must hold JSON values only") from None
    # Round-trip through the reader: whatever save writes, load reads back (and nested keys get a stable order).
    return _raw_dict(preset_from_dict(raw))


def _raw_dict(preset: "Preset") -> dict[str, Any]:
    model: dict[str, Any] = {"id": preset.model}
    if preset.fingerprint is not None:
        model["fingerprint"] = preset.fingerprint
    data: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "name": preset.name,
        "version": preset.version,
        "description": preset.description,
        "tags": list(preset.tags),
        "license": preset.license,
        "model": model,
        "heads": [list(h) for h in preset.heads],
        "strength": preset.strength,
        "scale": preset.scale,
        "provenance": preset.provenance,
    }
    if preset.metadata:
        data["metadata"] = preset.metadata
    return data


def dumps(data: Mapping[str, Any]) -> str:
    """Serialise a file dict: 2-space indent, fixed key order, ``[layer, head]`` pairs on one line."""
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    # [layer, head] and [kind, count] pairs on one line; only whitespace changes, so the JSON is the same.
    text = _PAIR_RE.sub(r"[\1, \2]", text)
    return text + "\n"


_PAIR_RE = re.compile(r'\[\s*("(?:[^"\\\n]|\\.)*"|-?\d+),\s*(-?\d+)\s*\]')


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(raw: bytes | str, *, path: str | os.PathLike | None = None) -> "Preset":
    """Parse and validate the bytes of a preset file."""
    where = f"{path}: " if path is not None else ""
    if isinstance(raw, bytes):
        if len(raw) > MAX_FILE_BYTES:
            raise PresetFileError(
                f"{where}file is {len(raw)} bytes; preset files are at most {MAX_FILE_BYTES}", path=_s(path)
            )
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise PresetFileError(f"{where}not UTF-8 text ({e})", path=_s(path)) from None
    try:
        data = json.loads(raw, object_pairs_hook=_no_duplicate_keys, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise PresetFileError(
            f"{where}malformed JSON: {e.msg} at line {e.lineno} column {e.colno}", path=_s(path)
        ) from None
    except ValueError as e:  # duplicate key, NaN/Infinity
        raise PresetFileError(f"{where}malformed JSON: {e}", path=_s(path)) from None
    return preset_from_dict(data, path=path)


def _s(path: str | os.PathLike | None) -> str | None:
    return None if path is None else str(path)


def read_preset_file(path: str | os.PathLike) -> "Preset":
    """Read a ``stylehunt_preset.json`` (or a folder holding one)."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / FILENAME
    try:
        with open(p, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise PresetFileError(f"{p}: no such file", path=str(p), hint="check the path (a folder must hold stylehunt_preset.json)") from None
    except OSError as e:
        raise PresetFileError(f"{p}: cannot read ({e.strerror or e})", path=str(p)) from None
    return loads(raw, path=p)


def write_preset_file(preset: "Preset", path: str | os.PathLike) -> Path:
    """Write ``preset`` to ``path`` (a ``.json`` file, or a folder that gets ``stylehunt_preset.json``)."""
    text = dumps(preset_to_dict(preset))
    p = Path(path).expanduser()
    if p.is_dir() or (not p.suffix and not p.exists()):
        p = p / FILENAME
    return atomic_write_bytes(p, text.encode("utf-8"))
