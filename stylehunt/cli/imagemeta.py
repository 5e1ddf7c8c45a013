"""Generation parameters inside the PNGs and mp4s ``generate`` writes, and ``show IMAGE.png`` / ``show VIDEO.mp4``
reading them back.

Two text chunks, as the tools users know write them: ``parameters`` in A1111's layout (the prompt,
a ``Negative prompt:`` line, then ``Key: value`` pairs; what A1111, Forge, Civitai and many
viewers parse and show), and ``stylehunt``, the same record as JSON (what ``show`` reads; like
ComfyUI's ``prompt`` chunk, a machine-readable copy). JPEG and WebP outputs carry no text. An mp4
carries the JSON record in its ``comment`` metadata tag (what ffmpeg, VLC and mediainfo show).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

__all__ = ["TEXT_KEY", "A1111_KEY", "generation_record", "png_text", "is_image_path", "show_image", "read_video_comment"]

#: The PNG text chunk holding the JSON record, and the one holding A1111's "parameters" text.
TEXT_KEY, A1111_KEY = "stylehunt", "parameters"
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".mp4")


def generation_record(*, model: str, prompt: str, negative_prompt: str | None, seed: int, steps: int,
                      size: tuple[int, int], presets: Sequence[tuple[str, Any]], strengths: Sequence[float] | None,
                      scale: float | None, identity: str, start: float, stop: float, guidance_scale: float | None,
                      true_cfg_scale: float | None, guided: bool, grid: dict[str, list[float]] | None = None,
                      inputs: dict[str, Any] | None = None) -> dict:
    """The parameters one output was made with; ``presets`` are ``(reference as typed, Preset)`` pairs.

    ``strengths`` (one u per preset) and ``scale`` are what the engine used, the presets' own values
    where the command line gave none; a baseline (``guided=False``) records them too, as the
    settings it is the unguided twin of. ``inputs``: the pipeline class, and ``--image``, ``--mask``
    and ``--image-strength`` (paths as given).
    """
    from .. import __version__

    entries = []
    for i, (ref, preset) in enumerate(presets):
        entries.append({"ref": ref, "name": preset.name or None, "version": preset.version or None,
                        "heads": [list(h) for h in preset.heads],
                        "strength": strengths[i] if strengths is not None else preset.strength})
    w = scale if scale is not None else (presets[0][1].scale if presets else None)
    record = {"stylehunt": __version__, "model": model, "prompt": prompt, "negative_prompt": negative_prompt,
              "seed": seed, "steps": steps, "width": size[0], "height": size[1], "guided": guided,
              "presets": entries, "scale": w, "identity": identity, "start": start, "stop": stop,
              "guidance_scale": guidance_scale, "true_cfg_scale": true_cfg_scale}
    record.update(inputs or {})
    if grid:
        record["grid"] = grid
    return record


def _value(value: Any) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return json.dumps(text) if any(c in text for c in ',"\n') else text  # A1111 quotes a value holding its separator


def _preset_text(entry: dict) -> str:
    """``name@version:u``, or for ad-hoc heads ``L0H1+L1H2:u``."""
    if entry["name"] and entry["version"]:
        label = f"{entry['name']}@{entry['version']}"
    else:
        label = "+".join(f"L{layer}H{head}" for layer, head in entry["heads"]) or entry["ref"]
    u = entry["strength"]
    return label if u is None else f"{label}:{u:g}"  # None: a strength sweep's grid (its "Grid strength")


def a1111_text(record: dict) -> str:
    """``record`` as A1111's ``parameters`` text."""
    pairs = [("Steps", record["steps"]), ("Seed", record["seed"]), ("Size", f"{record['width']}x{record['height']}"),
             ("Model", record["model"])]
    if record["guidance_scale"] is not None:
        pairs.append(("CFG scale", record["guidance_scale"]))
    if record["true_cfg_scale"] is not None:
        pairs.append(("True CFG scale", record["true_cfg_scale"]))
    if record.get("image"):
        pairs.append(("Init image", record["image"]))
        if record.get("mask"):
            pairs.append(("Mask", record["mask"]))
        if record.get("image_strength") is not None:
            pairs.append(("Denoising strength", record["image_strength"]))  # A1111's name for diffusers' strength
    if record["guided"]:
        pairs += [("Style presets", " ".join(_preset_text(e) for e in record["presets"])),
                  ("Style scale", record["scale"]), ("Style identity", record["identity"]),
                  ("Style interval", f"{record['start']:g}-{record['stop']:g}")]
    else:
        pairs.append(("Style", "none (baseline)"))
    for axis, values in (record.get("grid") or {}).items():
        pairs.append((f"Grid {axis}", ",".join(f"{v:g}" for v in values)))
    pairs.append(("Version", f"stylehunt {record['stylehunt']}"))
    lines = [record["prompt"]]
    if record["negative_prompt"]:
        lines.append(f"Negative prompt: {record['negative_prompt']}")
    lines.append(", ".join(f"{key}: {_value(value)}" for key, value in pairs))
    return "\n".join(lines)


def png_text(record: dict) -> dict[str, str]:
    """The text chunks of one PNG: A1111's ``parameters`` and the JSON record."""
    return {A1111_KEY: a1111_text(record), TEXT_KEY: json.dumps(record)}


def is_image_path(ref: str) -> bool:
    """Whether ``show REF`` names an image file here rather than a preset."""
    return Path(ref).suffix.lower() in _IMAGE_SUFFIXES and Path(ref).is_file()


def show_image(path: str, fmt: str) -> list[str]:
    """The lines ``show IMAGE`` prints (text) or the one JSON line; raises when the image has no parameters."""
    from ..errors import StylehuntError
    from ..files import read_image_text

    if Path(path).suffix.lower() == ".mp4":
        comment = read_video_comment(path)
        text = {} if comment is None else {TEXT_KEY: comment}
        if comment is None or fmt != "json":
            try:
                record = json.loads(comment) if comment is not None else None
            except ValueError:
                record = None
            if isinstance(record, dict) and "presets" in record:
                return [json.dumps({"stylehunt": record}, indent=2)] if fmt == "json" else _record_lines(path, record)
            raise StylehuntError(f"{path}: no generation parameters in this video",
                                 hint="stylehunt generate writes them into the mp4s it makes (--out NAME.mp4)")
    else:
        text = read_image_text(path)
    record = None
    if TEXT_KEY in text:
        try:
            record = json.loads(text[TEXT_KEY])
        except ValueError:
            record = None
    if fmt == "json":
        if record is None and A1111_KEY not in text:
            raise StylehuntError(f"{path}: no generation parameters in this PNG")
        return [json.dumps({"stylehunt": record, "parameters": text.get(A1111_KEY)}, indent=2)]
    if isinstance(record, dict) and "presets" in record:
        return _record_lines(path, record)
    if A1111_KEY in text:  # another tool's image (A1111, Forge, ...): its own text, as written
        return [f"{path} (parameters written by another tool):", *text[A1111_KEY].splitlines()]
    raise StylehuntError(f"{path}: no generation parameters in this PNG",
                         hint="stylehunt generate writes them into the PNGs it makes (--out NAME.png)")


def _record_lines(path: str, r: dict) -> list[str]:
    lines = [f"{path}", f"  prompt:       {r.get('prompt')}"]
    if r.get("negative_prompt"):
        lines.append(f"  negative:     {r['negative_prompt']}")
    lines += [f"  model:        {r.get('model')}" + (f" ({r['pipeline']})" if r.get("pipeline") else ""),
              f"  seed:         {r.get('seed')}",
              f"  steps:        {r.get('steps')}",
              f"  size:         {r.get('width')}x{r.get('height')}"]
    for key, label in (("guidance_scale", "CFG scale:   "), ("true_cfg_scale", "true CFG:    "),
                       ("image", "image:       "), ("mask", "mask:        "), ("image_strength", "image strength:"),
                       ("frames", "frames:      "), ("fps", "fps:         ")):
        if r.get(key) is not None:
            lines.append(f"  {label} {r[key]}")
    presets = r.get("presets") or []
    what = "guided" if r.get("guided") else "baseline (unguided twin of)"
    lines.append(f"  presets:      {what}")
    for e in presets if isinstance(presets, list) else []:
        name = f"{e.get('name')}@{e.get('version')}" if e.get("name") else "(ad hoc)"
        heads = ", ".join(f"L{h[0]}H{h[1]}" for h in e.get("heads") or [])
        u = e.get("strength")
        lines.append(f"    {e.get('ref')}  {name}  u={'(grid)' if u is None else u}  heads {heads}")
    w = "(grid)" if (r.get("grid") or {}).get("scale") else r.get("scale")
    lines.append(f"  scale w:      {w}   identity {r.get('identity')}, guided over steps {r.get('start')}-{r.get('stop')} of 1")
    for axis, values in (r.get("grid") or {}).items():
        lines.append(f"  grid {axis}:{' ' * max(1, 8 - len(axis))}{', '.join(str(v) for v in values)}")
    lines.append(f"  stylehunt:    {r.get('stylehunt')}")
    again = rerun_command(r)
    if again:
        lines.append(f"  as a command: {again}")
    return lines


def rerun_command(r: dict) -> str | None:
    """The ``stylehunt generate`` line that makes this image again (same model, presets, seed, settings);
    ``None`` for ad-hoc presets with different strengths beside registry ones (no command line says that)."""
    import shlex

    args = ["stylehunt", "generate", "--model", str(r.get("model"))]
    grid = r.get("grid") or {}
    if grid.get("strength"):  # a strength sweep sets every preset's u
        r = {**r, "presets": [{**e, "strength": None} for e in r.get("presets") or []]}
    if r.get("guided"):
        entries = r.get("presets") or []
        adhoc = [e for e in entries if not e.get("name")]
        for e in entries:
            if e.get("name"):
                u = e.get("strength")
                args += ["--preset", e.get("ref") if u is None else f"{e.get('ref')}:{u:g}"]
        for e in adhoc:
            args += ["--heads", ",".join(f"{h[0]}:{h[1]}" for h in e.get("heads") or [])]
        # REF:u sets a registry preset's u; --strength sets the ad-hoc ones' (once for all of them, or once each)
        us = [e.get("strength") for e in adhoc]
        if grid.get("strength"):
            args += ["--strength", ",".join(f"{u:g}" for u in grid["strength"])]
        elif len(set(us)) == 1:
            args += ["--strength", f"{us[0]:g}"]
        elif us and len(adhoc) == len(entries):
            for u in us:
                args += ["--strength", f"{u:g}"]
        elif us:
            return None
        args += ["--scale", ",".join(f"{w:g}" for w in grid["scale"]) if grid.get("scale") else f"{r.get('scale'):g}"]
    args += ["--prompt", str(r.get("prompt")), "--seed", str(r.get("seed")), "--steps", str(r.get("steps")),
             "--height", str(r.get("height")), "--width", str(r.get("width"))]
    if r.get("negative_prompt"):
        args += ["--negative-prompt", r["negative_prompt"]]
    for key in ("guidance_scale", "true_cfg_scale", "image", "mask", "image_strength", "frames", "fps"):
        if r.get(key) is not None:
            value = r[key]
            args += [f"--{key.replace('_', '-')}", f"{value:g}" if isinstance(value, float) else str(value)]
    if r.get("edit"):
        args.append("--edit")
    return shlex.join(args + ["--out", "again.mp4" if r.get("frames") else "again.png"])


#: The longest mp4 comment read back (a generation record is a few KB).
MAX_VIDEO_COMMENT = 1 << 20


def read_video_comment(path: str | Path) -> str | None:
    """The ``comment`` metadata tag of the mp4 at ``path`` (``None`` if it has none); a regular file only.

    ffmpeg prints the container's tags as an ``ffmetadata`` file (``key=value`` lines, with ``=``, ``;``,
    ``#``, backslash and newline escaped by a backslash); only the bytes of the tags are read, at most
    `MAX_VIDEO_COMMENT`, within a timeout. Raises `StylehuntError` naming a file ffmpeg cannot read.
    """
    import subprocess

    import imageio_ffmpeg

    from ..errors import StylehuntError

    p = Path(path)
    if not p.is_file():
        raise StylehuntError(f"{p}: not a regular file")
    try:
        proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(p), "-f", "ffmetadata",
                               "-"], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired, RuntimeError) as e:
        raise StylehuntError(f"{p}: cannot read its metadata with ffmpeg ({e})") from None
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise StylehuntError(f"{p}: not a video ffmpeg can read ({lines[-1] if lines else proc.returncode})",
                             hint="give an mp4 that stylehunt generate wrote (--out NAME.mp4)")
    text = proc.stdout[: MAX_VIDEO_COMMENT * 2].decode("utf-8", "replace")
    entries, key, value, escaped = {}, None, [], False
    for line in text.splitlines(keepends=True):
        if key is None:
            if line.startswith((";", "#", "[")) or "=" not in line:
                continue
            key, rest = line.split("=", 1)
            line = rest
        for ch in line:
            if escaped:
                value.append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == "\n":
                entries[key], key, value = "".join(value), None, []
                break
            else:
                value.append(ch)
    if key is not None:
        entries[key] = "".join(value)
    comment = entries.get("comment")
    if comment is not None and len(comment) > MAX_VIDEO_COMMENT:
        raise StylehuntError(f"{p}: a comment of {len(comment)} characters, more than {MAX_VIDEO_COMMENT}")
    return comment
