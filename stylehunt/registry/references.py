"""Preset references: what a string (or path) passed to ``load_preset`` or ``apply`` means.

`parse_reference` reads one without touching the network or the registry; docs/presets.md lists the forms.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import PresetReferenceError
from .fileformat import FILENAME
from .names import is_hub_repo_id, is_valid_name

__all__ = ["HUB_PREFIX", "Reference", "parse_reference", "is_preset_folder", "is_version_spec", "path_hint"]

HUB_PREFIX = "hf-hub:"
_SPEC_RE = re.compile(r"(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?)?")


def is_version_spec(text: str) -> bool:
    """Whether ``text`` is a version spec as written after ``@`` in a registry reference: ``1``, ``1.2`` or ``1.2.0[-rc.1]``."""
    return _SPEC_RE.fullmatch(text) is not None


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


def is_preset_folder(text: str) -> bool:
    """Whether ``text`` names a folder here that holds ``stylehunt_preset.json`` (a run folder, a saved preset)."""
    folder = os.path.expanduser(text)
    return os.path.isdir(folder) and os.path.isfile(os.path.join(folder, FILENAME))


def parse_reference(ref: "str | os.PathLike[str]") -> Reference:
    """Parse a reference without touching the network or the registry.

    >>> parse_reference("sd3-medium/golden-hour@1.2").spec
    '1.2'
    >>> parse_reference("hf-hub:owner/repo@v1.2.0").revision
    'v1.2.0'
    >>> parse_reference("./golden.json").kind
    'path'

    ::

        sd3-medium/golden-hour            registry name, newest release
        sd3-medium/golden-hour@1.2.0      exactly that version
        sd3-medium/golden-hour@1 / @1.2   newest release matching
        hf-hub:owner/repo[@revision]      any Hub repo, any revision (tag v1.2.0, branch, commit; git's ref rules)
        ./my.json, /abs/x.json, ~/p/      a local file (or a folder holding stylehunt_preset.json)
        runs/golden-hour                  a folder holding stylehunt_preset.json (a search's run folder)

    A name is never silently a Hub id: ``owner/repo`` that is not in the registry is refused (by the
    lookup in `index`) with a message suggesting ``hf-hub:owner/repo``. The one name-shaped text read
    as a path is a folder that holds a preset file here (``search`` prints its run folder as ``runs/x``,
    and a user passes it on as written); a folder without one is left to the registry, whose error then
    says to write ``./x``.
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
        from ..hub import check_repo_id, check_revision

        repo_id, at, revision = text[len(HUB_PREFIX) :].partition("@")
        check_repo_id(repo_id, ref=text)
        if at and not revision.strip():
            raise PresetReferenceError(f"{text!r}: empty revision after '@'", ref=text, hint="write hf-hub:owner/repo@v1.2.0")
        if at:
            check_revision(revision, ref=text)  # git's ref rules: a revision becomes a file name in the cache
        return Reference(kind="hub", text=text, repo_id=repo_id, revision=revision or None)
    if _looks_like_path(text) or is_preset_folder(text):
        return Reference(kind="path", text=text, path=Path(text).expanduser())

    name, at, spec = text.partition("@")
    if ".." in name or name.startswith("/") or "\\" in name:
        raise PresetReferenceError(
            f"{text!r} is not a preset name: names never contain '..' or start with '/'",
            ref=text,
            hint="to load a local file write a path ending in .json or starting with ./",
        )
    if not is_valid_name(name) and not is_hub_repo_id(name):
        raise PresetReferenceError(
            f"{text!r} is not a valid preset name: expected `model-alias/slug` (lowercase letters, digits,"
            " '.', '_', '-')",
            ref=text,
            hint=path_hint(text) or PresetReferenceError.hint,
        )
    if at:
        if spec.startswith("v") and is_version_spec(spec[1:]):
            raise PresetReferenceError(
                f"{text!r}: registry versions are written without 'v' (tags on the Hub have it)",
                ref=text,
                hint=f"write {name}@{spec[1:]}",
            )
        if not is_version_spec(spec):
            raise PresetReferenceError(
                f"{text!r}: expected a version after '@' such as 1.2.0, 1.2 or 1, but got {spec!r}", ref=text
            )
    return Reference(kind="name", text=text, name=name, spec=spec or None)


def path_hint(text: str) -> str | None:
    """A hint for a name that is also a local file or folder here (write ``./name`` to load it), else ``None``."""
    if os.path.exists(text):
        return f"a file or folder named {text!r} exists here; write ./{text} to load it as a path"
    return None
