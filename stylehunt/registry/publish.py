"""Publishing a preset to the Hub: one commit (preset file, model card, previews), tagged ``v<version>``.

Published versions are immutable: a version whose tag exists is refused before anything is
written. The model card's YAML metadata follows the Hub's adapter (LoRA) cards: ``library_name:
stylehunt``, ``base_model`` with ``base_model_relation: adapter`` (the base model's model tree),
tags for the family and the style, the style text as ``instance_prompt`` (where LoRA cards put
their trigger phrase) and the preview pairs as a ``widget:`` gallery. The Hub calls themselves are
`stylehunt.hub`'s.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from huggingface_hub import ModelCardData

from .. import __version__, hub
from ..engine.heads import describe_fingerprint, fingerprint_family
from ..errors import HubOfflineError, InvalidPresetError, VersionExistsError
from .fileformat import FILENAME, dumps, preset_to_dict
from .index import model_alias_for
from .names import is_hub_repo_id, parse_version, validate_name

__all__ = ["IMAGE_SUFFIXES", "PublishResult", "model_card", "push_preset", "style_text"]

logger = logging.getLogger(__name__)

#: Preview images accepted by `push_preset`.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")
#: The largest preview image uploaded (a preview is a thumbnail-sized picture on a model card).
MAX_PREVIEW_BYTES = 20 * 1024 * 1024


def check_preview_image(path: Path, shown: str | None = None) -> None:
    """Refuse a preview that is not an image PIL reads in its suffix's format: any bytes named ``.png``
    (a copy of ``/etc/passwd``) would otherwise be uploaded and published. The errors carry
    ``param="images"`` (`push_preset`'s parameter)."""
    from PIL import Image, UnidentifiedImageError

    shown = shown or str(path)
    if path.stat().st_size > MAX_PREVIEW_BYTES:
        raise InvalidPresetError(f"preview image {shown!r} is {path.stat().st_size} bytes; the limit is "
                                 f"{MAX_PREVIEW_BYTES} bytes", hint="upload a smaller image", param="images")
    expected = Image.registered_extensions().get(path.suffix.lower())
    try:
        with Image.open(path) as im:
            fmt = im.format
            im.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InvalidPresetError(f"preview image {shown!r} is not an image PIL can read ({e})",
                                 hint="give a PNG, JPEG, WebP or GIF picture as `images`", param="images") from None
    if fmt != expected:
        raise InvalidPresetError(f"preview image {shown!r} holds a {fmt} image, not {expected} as its name says",
                                 hint=f"rename it to the {fmt} suffix, or convert it", param="images")


@dataclass(frozen=True)
class PublishResult:
    """What `push_preset` uploaded (or, with ``dry_run``, would upload)."""

    repo_id: str
    version: str
    tag: str
    files: tuple[tuple[str, int], ...]  # (path in repo, size in bytes)
    dry_run: bool = False
    commit: str | None = None
    url: str | None = None
    created_repo: bool = False
    card: str = ""  # the README.md written (or, with dry_run, that would be)
    name: str | None = None  # the preset's name as published

    @property
    def reference(self) -> str:
        """The reference that loads exactly this version: ``hf-hub:owner/name@v1.2.0``."""
        return f"hf-hub:{self.repo_id}@{self.tag}"


def _family(preset: Any) -> str | None:
    """The model family tag: the alias's family, else the fingerprint's (every supported family)."""
    alias = model_alias_for(preset.model) if preset.model else None
    if alias is not None:
        return alias.family
    return fingerprint_family(preset.fingerprint) if preset.fingerprint else None


def style_text(preset: Any) -> str | None:
    """What the preset's style is called: a search's style text, else a cited preset's figure label."""
    prov = preset.provenance or {}
    if prov.get("kind") == "search":
        return prov.get("objective", {}).get("text") or None
    label = (preset.metadata or {}).get("label")
    return label if isinstance(label, str) and label else None


def _style_tag(text: str | None) -> str | None:
    """``style:<slug>`` from the style text (lowercase words joined by '-'), so a search can filter on it."""
    words = re.findall(r"[a-z0-9]+", (text or "").lower())
    return "style:" + "-".join(words)[:60].strip("-") if words else None


def _head_label(head: Sequence[int]) -> str:
    return f"L{head[0]}H{head[1]}"


def model_card(
    preset: Any, *, repo_id: str, previews: Sequence[str] = (), gallery: Sequence[tuple[str, str]] = ()
) -> str:
    """The README.md of a published preset: YAML metadata for the Hub, then a human summary.

    ``gallery`` is ``(text, path in the repo)`` per image, shown by the Hub as the ``widget:`` gallery.
    """
    version = preset.version or "0.0.0"
    family = _family(preset)
    style = style_text(preset)
    style_tag = _style_tag(style)
    tags = ["stylehunt", "style-preset", *(t for t in (family, style_tag) if t), *preset.tags]
    extra: dict[str, Any] = {"instance_prompt": style} if style else {}
    if gallery:
        extra["widget"] = [{"text": text, "output": {"url": url}} for text, url in gallery]
    if is_hub_repo_id(preset.model or ""):  # the Hub refuses a base_model that is no model id (a tiny model's name)
        extra.update(base_model=preset.model, base_model_relation="adapter")
    card_data = ModelCardData(library_name="stylehunt", license=preset.license, tags=list(dict.fromkeys(tags)), **extra)
    arch = describe_fingerprint(preset.fingerprint)
    prov = preset.provenance or {}
    lines = [
        "---",
        card_data.to_yaml().rstrip(),
        "---",
        "",
        f"# {preset.name} {version}",
        "",
        preset.description or "",
        "",
        "A [stylehunt](https://pypi.org/project/stylehunt/) style preset: training-free SoftPAG guidance on"
        f" {len(preset.heads)} attention head{'s' if len(preset.heads) != 1 else ''} of `{preset.model}`."
        " It contains no weights, only the head list and its default settings (`stylehunt_preset.json`).",
        "",
        "| | |",
        "|---|---|",
        f"| heads (layer, head), in selection order | {', '.join(_head_label(h) for h in preset.heads)} |",
        f"| strength u (SoftPAG) | {preset.strength} |",
        f"| guidance scale w | {preset.scale} |",
        f"| model | `{preset.model}` |",
        f"| architecture | {arch} |",
        f"| license | {preset.license} |",
        "",
        "## Use",
        "",
        "```python",
        "import stylehunt",
        f'stylehunt.apply(pipe, "hf-hub:{repo_id}@{hub.version_tag(version)}")',
        "image = pipe(prompt).images[0]",
        "```",
        "",
        f"or `stylehunt show hf-hub:{repo_id}@{hub.version_tag(version)}` to inspect it.",
        "",
        "## Provenance",
        "",
    ]
    kind = prov.get("kind")
    if kind == "search":
        objective = prov.get("objective", {})
        lines += [
            f"Found by a HeadHunter search with stylehunt {prov.get('stylehunt_version')}:"
            f" objective \"{objective.get('text')}\" scored by {objective.get('scorer')},"
            f" {len(prov.get('prompts', []))} prompts x seeds {prov.get('seeds')}.",
            "",
            "| round | heads added | score |",
            "|---|---|---|",
        ]
        for i, rnd in enumerate(prov.get("rounds", []), 1):
            lines.append(f"| {i} | {', '.join(_head_label(h) for h in rnd['added'])} | {rnd['score']:.4g} |")
        lines.append("")
    elif kind:
        lines += [f"{kind.capitalize()}: {prov.get('source')}", ""]
        if prov.get("notes"):
            lines += [prov["notes"], ""]
    if style:
        lines[lines.index("## Use"):lines.index("## Use")] = [f"Style: **{style}**", ""]
    shown = [url for _, url in gallery] + [p for p in previews if p not in {url for _, url in gallery}]
    if shown:
        lines += ["## Previews", ""] + [f"![preview]({p})" for p in shown] + [""]
    return "\n".join(lines)


def push_preset(
    preset: Any,
    repo_id: str,
    *,
    version: str | None = None,
    images: Sequence[str | os.PathLike] = (),
    private: bool | None = None,
    token: str | None = None,
    dry_run: bool = False,
    name: str | None = None,
    gallery: Sequence[tuple[str, str]] = (),
) -> PublishResult:
    """Publish ``preset`` as version ``version`` of Hub repo ``repo_id``. Network unless ``dry_run``.

    Creates the repo if needed, commits ``stylehunt_preset.json``, a generated ``README.md`` model
    card and the preview ``images`` (as ``previews/<name>``) in one commit, then tags it
    ``v<version>``. A version whose tag already exists is refused before anything is written
    (`VersionExistsError`). ``dry_run`` validates and returns the plan (with the card it
    would write) without any network. ``name`` renames the preset (a search result gets its
    registry name); ``gallery`` is ``(text, "previews/<image name>")`` per image for the card's
    ``widget:`` gallery, each naming one of ``images``.
    """
    hub.check_repo_id(repo_id)
    if name is not None:
        preset = replace(preset, name=validate_name(name, "`name`", param="name"))
    version_given = version is not None
    if version is not None:
        try:
            parse_version(version)
        except InvalidPresetError as e:
            raise InvalidPresetError(f"`version`: {e}", param="version") from None
        preset = replace(preset, version=version)
    file_text = dumps(preset_to_dict(preset))  # validates: name, version, license, model, provenance
    version = preset.version
    assert version is not None  # preset_to_dict requires it
    tag = hub.version_tag(version)

    previews: list[tuple[str, Path]] = []
    for image in images:
        p = Path(image).expanduser()
        if not p.is_file():
            raise InvalidPresetError(f"preview image {str(image)!r} does not exist or is not a file", param="images")
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            raise InvalidPresetError(f"preview image {str(image)!r}: expected one of {', '.join(IMAGE_SUFFIXES)}",
                                     param="images")
        if not dry_run:  # a dry run may plan images not made yet (the CLI's --previews): checked when uploading
            check_preview_image(p, str(image))
        in_repo = f"previews/{p.name}"
        if any(in_repo == q for q, _ in previews):
            raise InvalidPresetError(f"two preview images are named {p.name!r}; rename one", param="images")
        previews.append((in_repo, p))
    unknown = [url for _, url in gallery if url not in {q for q, _ in previews}]
    if unknown:
        raise InvalidPresetError(f"gallery entry {unknown[0]!r} names no preview image being uploaded")
    card = model_card(preset, repo_id=repo_id, previews=[q for q, _ in previews], gallery=gallery)
    contents: list[tuple[str, bytes | Path]] = [(FILENAME, file_text.encode()), ("README.md", card.encode())]
    contents += previews
    files = tuple((q, len(c) if isinstance(c, bytes) else c.stat().st_size) for q, c in contents)
    plan = PublishResult(repo_id=repo_id, version=version, tag=tag, files=files, dry_run=True, card=card, name=preset.name)
    if dry_run:
        return plan
    if hub.is_offline():
        raise HubOfflineError(f"cannot publish {repo_id}: offline mode is enabled (HF_HUB_OFFLINE)", repo_id=repo_id,
                              hint="publishing uploads to the Hub: unset HF_HUB_OFFLINE and run again")

    with hub.hub_errors(repo_id, None, f"publish {preset.name} {version} to {repo_id}"):
        existing = hub.repo_tags(repo_id, token=token)
        if existing is not None and tag in existing:
            raise VersionExistsError(
                f"{repo_id} already has version {version} (tag {tag}); published versions are immutable",
                repo_id=repo_id,
                version=version,
                hint=f"existing tags: {', '.join(sorted(existing))}; publish with a higher `version`",
                param="version" if version_given else None,  # else the file's own version
            )
        if existing is None:
            hub.create_repo(repo_id, private=private, token=token)
        commit = hub.commit_files(
            repo_id,
            contents,
            message=f"Publish {preset.name} {version}",
            description=f"stylehunt {__version__}: {FILENAME}, model card"
            + (f", {len(previews)} preview image(s)" if previews else ""),
            token=token,
        )
        if not hub.create_tag(repo_id, tag, revision=commit, message=f"{preset.name} {version}", token=token):
            raise VersionExistsError(
                f"{repo_id}: tag {tag} appeared while publishing (another publish of {version}?)",
                repo_id=repo_id,
                version=version,
            )
    logger.info("published %s %s to %s at %s", preset.name, version, repo_id, commit)
    return replace(plan, dry_run=False, commit=commit, url=f"{hub.endpoint()}/{repo_id}", created_repo=existing is None)
