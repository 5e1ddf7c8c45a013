"""Where each bundled preset came from, as the index records it: a version's ``kind`` and ``label``.

``stylehunt list`` shows each preset's provenance kind and label; the index carries both beside the
file's pin so a listing reads one file, not every preset file. `origin_of` derives them from a
preset file, `with_origins` writes them into an index's JSON, and
``python -m stylehunt.registry.origins [registry/index.json]`` rewrites a checkout's index in place
(run it after adding a bundled preset). `check` reports an index whose fields disagree with the files.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Mapping

from .fileformat import read_preset_bytes

__all__ = ["origin_of", "with_origins", "write_origins"]


def origin_of(data: Mapping[str, Any]) -> dict[str, str]:
    """``{"kind": ..., "label": ...}`` of a preset file's JSON (or its parsed fields); ``label`` only if recorded.

    The kind is ``provenance.kind``; the label is ``metadata.label`` (a cited preset's figure label),
    else a search's style text (``provenance.objective.text``).
    """
    prov = data.get("provenance") or {}
    metadata = data.get("metadata") or {}
    out = {"kind": str(prov.get("kind"))}
    label = metadata.get("label") if isinstance(metadata, dict) else None
    if not isinstance(label, str) and prov.get("kind") == "search":
        label = (prov.get("objective") or {}).get("text")
    if isinstance(label, str):
        out["label"] = label
    return out


def with_origins(index: Mapping[str, Any], presets_root: str | os.PathLike[str]) -> dict[str, Any]:
    """A copy of an index's JSON whose bundled versions carry the ``kind`` and ``label`` of their files
    (read from ``presets_root``); Hub versions are left as they are."""
    out = json.loads(json.dumps(index))
    for entry in out.get("presets", {}).values():
        for loc in entry.get("versions", {}).values():
            if "file" not in loc:
                continue
            data = json.loads(read_preset_bytes(Path(presets_root, *loc["file"].split("/")))[1])
            loc.pop("kind", None)
            loc.pop("label", None)
            loc.update(origin_of(data))
    return out


def write_origins(index_path: str | os.PathLike[str]) -> Path:
    """Rewrite a checkout's ``index.json`` (its presets in ``presets/`` beside the index's folder) with
    every bundled version's ``kind`` and ``label``; the same layout as ``stylehunt submit`` writes."""
    path = Path(index_path)
    if path.is_dir():
        path = path / "index.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    text = json.dumps(with_origins(data, path.resolve().parent.parent / "presets"), indent=2) + "\n"
    path.write_text(text, encoding="ascii")
    return path


if __name__ == "__main__":  # python -m stylehunt.registry.origins [registry/index.json]
    print(f"wrote {write_origins(sys.argv[1] if len(sys.argv) > 1 else 'registry/index.json')}")
