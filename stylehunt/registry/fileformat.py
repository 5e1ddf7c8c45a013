"""The preset file, ``stylehunt_preset.json``: one JSON format for bundled, local and Hub presets.

`parse_preset_dict` turns a parsed file into `stylehunt.Preset`'s keyword arguments, and
`preset_to_dict` turns a preset back into the file form; both work on plain data. The format's
reference is docs/presets.md.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import HeadOutOfRangeError, InvalidPresetError, PresetFileError, PresetFormatVersionError
from ..files import MAX_JSON_DEPTH, atomic_write_bytes, load_json, read_regular_file
from .fields import FieldReader, check_fingerprint, check_heads_in_fingerprint, describe
from .names import is_valid_name, parse_version, validate_name

__all__ = [
    "FILENAME",
    "FORMAT_VERSION",
    "MAX_FILE_BYTES",
    "PRESET_FIELDS",
    "check_given_fields",
    "parse_preset_dict",
    "parse_preset_json",
    "read_preset_bytes",
    "preset_to_dict",
    "dumps",
    "write_preset_file",
]

#: The one file name of a preset, bundled, on disk (in a folder) and in a Hub repo.
FILENAME = "stylehunt_preset.json"
#: The format this stylehunt writes, and the newest it reads.
FORMAT_VERSION = 1
#: Preset files are small; anything larger is refused before parsing.
MAX_FILE_BYTES = 1 << 20
#: The attributes of a preset that its file stores (what `preset_to_dict` reads, and the
#: keyword arguments `parse_preset_dict` returns).
PRESET_FIELDS = (
    "name",
    "version",
    "description",
    "tags",
    "license",
    "model",
    "fingerprint",
    "heads",
    "strength",
    "scale",
    "provenance",
    "metadata",
)

#: The keys of a preset file's top level: the same names, plus ``format_version``, less
#: ``fingerprint``, which the file keeps under ``model``.
TOP_LEVEL_KEYS = ("format_version",) + tuple(f for f in PRESET_FIELDS if f != "fingerprint")
REQUIRED_KEYS = ("format_version", "name", "version", "license", "model", "heads", "strength", "scale", "provenance")
MODEL_KEYS = ("id", "fingerprint")
PROVENANCE_KINDS = ("search", "reported", "manual")
SEARCH_PROVENANCE_KEYS = ("kind", "stylehunt_version", "objective", "prompts", "seeds", "settings", "rounds", "created", "notes")
SEARCH_REQUIRED = ("stylehunt_version", "objective", "prompts", "seeds", "settings", "rounds")
SOURCE_PROVENANCE_KEYS = ("kind", "source", "notes", "stylehunt_version", "created")
ROUND_KEYS = ("added", "score", "candidates")

_LICENSE_RE = re.compile(r"[a-z0-9][a-z0-9._+-]{0,63}")


# --------------------------------------------------------------------------------------------------
# field checks (each raises PresetFileError pointing at the field)


def _check_model_id(r: FieldReader, value: Any, field: str) -> str:
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


def _json_only(r: FieldReader, value: Any, field: str, depth: int = 1) -> Any:
    """Free-form JSON (settings, metadata): plain JSON values, with keys sorted for stable files.

    Nesting is bounded as in every file read (`stylehunt.files.MAX_JSON_DEPTH`), also for
    a dict given in Python (``Preset.from_dict``), so the walk cannot exhaust the stack.
    """
    if isinstance(value, (dict, list)) and depth > MAX_JSON_DEPTH:
        raise r.fail(field, f"nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise r.fail(field, f"object keys must be strings, but got {k!r}")
            r.string(k, f"{field} (a key)", empty=True, max_len=MAX_FILE_BYTES)  # no lone surrogates
        return {k: _json_only(r, value[k], f"{field}.{k}", depth + 1) for k in sorted(value)}
    if isinstance(value, list):
        return [_json_only(r, v, f"{field}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        raise r.fail(field, f"expected a finite number, but got {value!r}")
    if isinstance(value, str):
        return r.string(value, field, empty=True, max_len=MAX_FILE_BYTES)
    if value is None or isinstance(value, (int, float, bool)):
        return value
    raise r.fail(field, f"expected a JSON value, but got {type(value).__name__}")


def _check_provenance(r: FieldReader, value: Any, heads: list[tuple[int, int]]) -> dict[str, Any]:
    field = "provenance"
    prov = r.object(value, field)
    if "kind" not in prov:
        raise r.fail(f"{field}.kind", f"missing required field (one of: {', '.join(PROVENANCE_KINDS)})")
    kind = prov["kind"]
    if kind not in PROVENANCE_KINDS:
        raise r.fail(f"{field}.kind", f"expected one of {', '.join(PROVENANCE_KINDS)}, but got {describe(kind)}")
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
# file dict <-> preset fields


def parse_preset_dict(data: Any, *, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Validate a parsed preset file; return the keyword arguments of `stylehunt.Preset`.

    Raises `stylehunt.errors.PresetFileError` (or a subclass) naming the file and the field.

    A preset file is plain JSON (nothing in it can execute code). Reading is strict: every error names
    the file and the JSON path of the bad value (``presets/x.json: heads[3]: head 40 out of range for
    24 heads in layer 2 (valid: 0-23)``); a file written by a newer ``format_version`` is refused with
    a hint to upgrade.
    """
    r = FieldReader(str(path) if path is not None else None)
    if not isinstance(data, dict):
        raise r.fail(None, f"expected a JSON object at the top level, but got {describe(data)}")
    if "format_version" not in data:
        raise r.fail("format_version", "missing required field; is this a stylehunt preset file?")
    fv = data["format_version"]
    if isinstance(fv, bool) or not isinstance(fv, int) or fv < 1:
        raise r.fail("format_version", f"expected a positive integer, but got {describe(fv)}")
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
    fingerprint = check_fingerprint(r, model["fingerprint"], "model.fingerprint") if "fingerprint" in model else None

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

    return {
        "heads": heads,
        "strength": strength,
        "scale": scale,
        "name": name,
        "version": version,
        "model": model_id,
        "description": description,
        "fingerprint": fingerprint,
        "metadata": metadata,
        "tags": tuple(clean_tags),
        "license": license_,
        "provenance": provenance,
    }


def preset_to_dict(preset: Any) -> dict[str, Any]:
    """The file form of ``preset`` (a `stylehunt.Preset`: its `PRESET_FIELDS` and ``label`` are read).

    Raises `PresetFileError` if it cannot be saved as is: a saved preset must say what it is
    and where it came from, so ``name``, ``version`` (semver), ``license``, ``model`` (a Hub id) and
    ``provenance`` are required. The result is validated by `parse_preset_dict`, so whatever
    ``save`` writes, ``load`` reads back.
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
        text = json.dumps(_file_dict({f: getattr(preset, f) for f in PRESET_FIELDS}), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as e:
        raise PresetFileError(f"cannot save {preset.label}: not plain JSON ({e})", hint="provenance and metadata must hold JSON values only") from None
    raw = load_json(text, what=f"cannot save {preset.label}", error=_file_error(None))  # the depth limit of every reader
    # Round-trip through the reader: whatever save writes, load reads back (and nested keys get a stable order).
    return _file_dict(parse_preset_dict(raw))


#: What `check_given_fields` puts in the place of a field an in-memory preset may leave unset.
_UNSET_STANDINS = {"name": "unnamed", "version": "0.0.0", "license": "other", "model": "owner/model",
                   "provenance": {"kind": "manual", "source": "in memory"}}


def check_given_fields(fields: Mapping[str, Any], label: str) -> None:
    """Run the file format's checks on the fields a `stylehunt.Preset` was given, at construction.

    An in-memory preset may leave ``name``, ``version``, ``license``, ``model`` and ``provenance`` unset
    (stand-ins are checked instead), but what it sets must be what a file may hold: ``description=5``,
    ``name='../../x'``, an invalid fingerprint or non-JSON provenance are refused now, not at ``save``.
    """
    filled = {**fields, **{k: v for k, v in _UNSET_STANDINS.items() if fields.get(k) in (None, "")}}
    try:
        text = json.dumps(_file_dict(filled), allow_nan=False)
    except RecursionError:
        raise PresetFileError(f"{label}: JSON nested more than {MAX_JSON_DEPTH} levels deep (arrays and objects inside"
                              " each other)", hint="provenance and metadata must nest less deeply") from None
    except (TypeError, ValueError) as e:
        raise PresetFileError(f"{label}: not plain JSON ({e})", hint="provenance and metadata must hold JSON values only") from None
    parse_preset_dict(load_json(text, what=label, error=_file_error(None)))


def _file_dict(fields: Mapping[str, Any]) -> dict[str, Any]:
    model: dict[str, Any] = {"id": fields["model"]}
    if fields["fingerprint"] is not None:
        model["fingerprint"] = fields["fingerprint"]
    data: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "name": fields["name"],
        "version": fields["version"],
        "description": fields["description"],
        "tags": list(fields["tags"]),
        "license": fields["license"],
        "model": model,
        "heads": [list(h) for h in fields["heads"]],
        "strength": fields["strength"],
        "scale": fields["scale"],
        "provenance": fields["provenance"],
    }
    if fields["metadata"]:
        data["metadata"] = fields["metadata"]
    return data


# --------------------------------------------------------------------------------------------------
# text and files


def dumps(data: Mapping[str, Any]) -> str:
    """Serialise a file dict: 2-space indent, fixed key order, ``[layer, head]`` pairs on one line."""
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    # [layer, head] and [kind, count] pairs on one line; only whitespace changes, so the JSON is the same.
    text = _PAIR_RE.sub(r"[\1, \2]", text)
    return text + "\n"


_PAIR_RE = re.compile(r'\[\s*("(?:[^"\\\n]|\\.)*"|-?\d+),\s*(-?\d+)\s*\]')


def _file_error(path: str | os.PathLike | None) -> Callable[..., PresetFileError]:
    """How `stylehunt.files` refusals of a preset file are raised: `PresetFileError` naming it."""
    return lambda message, hint=None: PresetFileError(message, path=_s(path), hint=hint)


def parse_preset_json(raw: bytes | str, *, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Parse and validate the bytes (or text) of a preset file; return the `stylehunt.Preset` keyword arguments.

    Strict JSON (`stylehunt.files.load_json`): duplicate keys, ``NaN`` and ``Infinity`` are
    refused, as are files over `MAX_FILE_BYTES` and nesting deeper than
    `stylehunt.files.MAX_JSON_DEPTH`.
    """
    data = load_json(raw, what=_s(path), max_bytes=MAX_FILE_BYTES, error=_file_error(path))
    return parse_preset_dict(data, path=path)


def _s(path: str | os.PathLike | None) -> str | None:
    return None if path is None else str(path)


def read_preset_bytes(path: str | os.PathLike) -> tuple[Path, bytes]:
    """``(file, bytes)`` of a local ``stylehunt_preset.json`` (or a folder holding one); no network.

    Only a regular file is read (a named pipe or device is refused without blocking), and at most
    `MAX_FILE_BYTES` of it (`stylehunt.files.read_regular_file`).
    """
    p = Path(path).expanduser()
    if p.is_dir():
        if not (p / FILENAME).exists():
            raise PresetFileError(f"{p}: folder holds no {FILENAME}", path=str(p), hint="give the preset file, or the folder it is in")
        p = p / FILENAME
    return p, read_regular_file(p, max_bytes=MAX_FILE_BYTES, error=_file_error(p))


def write_preset_file(preset: Any, path: str | os.PathLike) -> Path:
    """Write ``preset`` to ``path`` (a ``.json`` file, or a folder that gets ``stylehunt_preset.json``)."""
    text = dumps(preset_to_dict(preset))
    p = Path(path).expanduser()
    if p.is_dir() or (not p.suffix and not p.exists()):
        p = p / FILENAME
    data = text.encode("utf-8")
    if len(data) > MAX_FILE_BYTES:  # every reader refuses it: never write a file stylehunt cannot load
        raise PresetFileError(
            f"{p}: the preset file would be {len(data)} bytes; the limit is {MAX_FILE_BYTES} bytes, so it was not written",
            path=str(p),
            hint="shorten the longest fields (provenance, metadata, description)",
        )
    return atomic_write_bytes(p, data)
