"""Publishing a preset to the Hub: one commit (preset file, model card, previews), tagged ``v<version>``.

Published versions are immutable: a version whose tag exists is refused before anything is
written. The model card's YAML metadata (``library_name: stylehunt``, ``base_model`` with
``base_model_relation: adapter``, the model family as a tag) lets the Hub list presets by model.
The Hub calls themselves are :mod:`stylehunt.hub`'s.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from huggingface_hub import ModelCardData

from .. import __version__, hub
from ..errors import HubOfflineError, InvalidPresetError, VersionExistsError
from .fileformat import FILENAME, dumps, preset_to_dict
from .index import model_alias_for
from .names import parse_version

__all__ = ["IMAGE_SUFFIXES", "PublishResult", "model_card", "push_preset"]

logger = logging.getLogger(__name__)

#: Preview images accepted by :func:`push_preset`.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")


@dataclass(frozen=True)
class PublishResult:
    """What :func:`push_preset` uploaded (or, with ``dry_run``, would upload)."""

    repo_id: str
    version: str
    tag: str
    files: tuple[tuple[str, int], ...]  # (path in repo, size in bytes)
    dry_run: bool = False
    commit: str | None = None
    url: str | None = None
    created_repo: bool = False

    @property
    def reference(self) -> str:
        """The reference that loads exactly this version: ``hf-hub:owner/name@v1.2.0``."""
        return f"hf-hub:{self.repo_id}@{self.tag}"


def _family(preset: Any) -> str | None:
    alias = model_alias_for(preset.model) if preset.model else None
    if alias is not None:
        return alias.family
    cls = (preset.fingerprint or {}).get("transformer_class")
    return {"SD3Transformer2DModel": "sd3", "FluxTransformer2DModel": "flux"}.get(cls)


def _head_label(head: Sequence[int]) -> str:
    return f"L{head[0]}H{head[1]}"


def model_card(preset: Any, *, repo_id: str, previews: Sequence[str] = ()) -> str:
    """The README.md of a published preset: YAML metadata for the Hub, then a human summary."""
    version = preset.version or "0.0.0"
    family = _family(preset)
    tags = ["stylehunt", "style-preset"] + ([family] if family else []) + [t for t in preset.tags if t not in ("stylehunt", family)]
    card_data = ModelCardData(
        library_name="stylehunt",
        license=preset.license,
        base_model=preset.model,
        base_model_relation="adapter",
        tags=list(dict.fromkeys(tags)),
    )
    fp = preset.fingerprint
    arch = (
        f"{fp['transformer_class']}, {fp['num_layers']} attention layers x {fp['heads_per_layer']} heads, head dim {fp['head_dim']}"
        if fp
        else "not recorded"
    )
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
    if previews:
        lines += ["## Previews", ""] + [f"![preview]({p})" for p in previews] + [""]
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
) -> PublishResult:
    """Publish ``preset`` as version ``version`` of Hub repo ``repo_id``. Network unless ``dry_run``.

    Creates the repo if needed, commits ``stylehunt_preset.json``, a generated ``README.md`` model
    card and the preview ``images`` (as ``previews/<name>``) in one commit, then tags it
    ``v<version>``. A version whose tag already exists is refused before anything is written
    (:class:`VersionExistsError`). ``dry_run`` validates and returns the plan without any network.
    """
    hub.check_repo_id(repo_id)
    if version is not None:
        try:
            parse_version(version)
        except InvalidPresetError as e:
            raise InvalidPresetError(f"version: {e}") from None
        preset = replace(preset, version=version)
    file_text = dumps(preset_to_dict(preset))  # validates: name, version, license, model, provenance
    version = preset.version
    assert version is not None  # preset_to_dict requires it
    tag = hub.version_tag(version)

    previews: list[tuple[str, Path]] = []
    for image in images:
        p = Path(image).expanduser()
        if not p.is_file():
            raise InvalidPresetError(f"preview image {str(image)!r} does not exist or is not a file")
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            raise InvalidPresetError(f"preview image {str(image)!r}: expected one of {', '.join(IMAGE_SUFFIXES)}")
        in_repo = f"previews/{p.name}"
        if any(in_repo == q for q, _ in previews):
            raise InvalidPresetError(f"two preview images are named {p.name!r}; rename one")
        previews.append((in_repo, p))
    card = model_card(preset, repo_id=repo_id, previews=[q for q, _ in previews])
    contents: list[tuple[str, bytes | Path]] = [(FILENAME, file_text.encode()), ("README.md", card.encode())]
    contents += previews
    files = tuple((q, len(c) if isinstance(c, bytes) else c.stat().st_size) for q, c in contents)
    plan = PublishResult(repo_id=repo_id, version=version, tag=tag, files=files, dry_run=True)
    if dry_run:
        return plan
    if hub.is_offline():
        raise HubOfflineError(f"cannot publish {repo_id}: offline mode is enabled (HF_HUB_OFFLINE)", repo_id=repo_id)

    with hub.hub_errors(repo_id, None, f"publish {preset.name} {version} to {repo_id}"):
        existing = hub.repo_tags(repo_id, token=token)
        if existing is not None and tag in existing:
            raise VersionExistsError(
                f"{repo_id} already has version {version} (tag {tag}); published versions are immutable",
                repo_id=repo_id,
                version=version,
                hint=f"existing tags: {', '.join(sorted(existing))}; publish with a higher --version",
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
