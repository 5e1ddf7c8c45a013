"""``stylehunt list`` (``--hub``: presets anyone published), ``show``, ``pull`` and ``publish``: thin
commands over `stylehunt.registry`.

Results go to stdout (``--format json`` for scripts), messages to stderr; errors reach the one
error boundary in `stylehunt.cli.main`. Preset files and indexes come from anyone: every
line of text output goes through `terminal.printable` (one line stays one line; escape
sequences are shown, not obeyed), and JSON output escapes every non-ASCII character.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .app import cli
from .flagnames import library_params
from .terminal import printable


def _heads_text(heads: Any) -> str:
    return ", ".join(f"L{layer}H{head}" for layer, head in heads)


def _score(value: Any) -> str:
    """A score as ``.5g`` (anything else in a hand-written file as its JSON)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.5g}"
    return json.dumps(value)


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2))  # ensure_ascii: control, bidi and all non-ASCII characters as \uXXXX


def _echo(*lines: str, err: bool = False) -> None:
    """Print each line through `printable`, a newline inside a value shown as ``\\n``."""
    click.echo("\n".join(printable(line, newlines=False) for line in lines), err=err)


#: ``list --hub`` choices; equal to stylehunt.registry.discovery's SORTS, DEFAULT_LIMIT and MAX_LIMIT (a
#: test checks), written out so that building the command line does not import the registry.
HUB_SORTS = ("downloads", "likes", "updated")
HUB_LIMIT, HUB_MAX_LIMIT = 20, 100


#: How a listing names a provenance kind: the paper reported it, a search found it, or someone picked it.
_KIND_WORDS = {"reported": "reported", "search": "searched", "manual": "manual"}


def _origin(loc: Any) -> tuple[str, str | None]:
    """``(kind, label)`` of a registry version, as the index records them (no network, one file read).

    The bundled index carries each bundled version's provenance kind and label (the file's
    ``metadata.label``, a cited preset's figure label, else a search's style text), written by
    `stylehunt.registry.origins` and checked against the files by ``registry check``; reading
    every preset file instead made ``list`` slow to start. ``label`` is ``None`` when none is recorded
    (the table then shows the index's description); an entry without a kind (a Hub version, an index
    written before these fields) shows ``-``, or its bundled file's kind, read as JSON, not checked.
    """
    if loc.kind is not None:
        return _KIND_WORDS.get(loc.kind, loc.kind), loc.label
    if not loc.bundled:
        return "-", None
    import importlib.resources

    from ..registry.fileformat import read_preset_bytes
    from ..registry.index import bundled_preset_file
    from ..registry.origins import origin_of

    try:
        with importlib.resources.as_file(bundled_preset_file(loc.file)) as path:
            origin = origin_of(json.loads(read_preset_bytes(path)[1]))
        return _KIND_WORDS.get(origin["kind"], origin["kind"]), origin.get("label")
    except (OSError, ValueError, AttributeError):  # unreadable, not JSON, or not the format: `show` says why
        return "-", None


def _registry_rows(names: list[str]) -> list[dict[str, Any]]:
    from ..registry import get_index

    index = get_index()
    rows = []
    for name in names:
        entry = index.presets[name]
        alias = index.models[entry.model_alias]
        kind, label = _origin(entry.versions[entry.latest])
        rows.append(
            {
                "name": name,
                "latest": entry.latest,
                "versions": entry.sorted_versions(),
                "model": alias.alias,
                "model_id": alias.id,
                "kind": kind,
                "label": label,
                "tags": list(entry.tags),
                "description": entry.description,
            }
        )
    return rows


def _echo_registry(rows: list[dict[str, Any]], fmt: str, pattern: str, model: str | None) -> None:
    if fmt == "json":
        _echo_json(rows)
        return
    if not rows:
        _echo(f"No presets match {pattern!r}" + (f" for model {model}" if model else "") + ".", err=True)
        return
    header = ("NAME", "LATEST", "MODEL", "KIND", "LABEL (else DESCRIPTION)")
    cells = [(r["name"], r["latest"], r["model"], r["kind"], _clip(r["label"] or r["description"] or "-", 72)) for r in rows]
    _echo_table(header, cells)


def _echo_models(fmt: str) -> None:
    """``list --models``: every model alias, its Hub id, family and head grid."""
    from ..registry import model_aliases
    from ..registry.names import is_hub_repo_id

    rows = []
    for alias in sorted(model_aliases().values(), key=lambda a: a.alias):
        fp = alias.fingerprint
        rows.append({"name": alias.alias, "id": alias.id, "family": alias.family, "transformer_class": fp["transformer_class"],
                     "num_layers": fp["num_layers"], "heads_per_layer": fp["heads_per_layer"], "head_dim": fp["head_dim"]})
    if fmt == "json":
        _echo_json(rows)
        return
    header = ("NAME", "HUB ID", "FAMILY", "LAYERS x HEADS")
    cells = [(r["name"], r["id"] if is_hub_repo_id(r["id"]) else "- (tiny, built in code)", r["family"],
              f"{r['num_layers']} x {r['heads_per_layer']}") for r in rows]
    _echo_table(header, cells)


def _list_hub(pattern: str, model: str | None, fmt: str, sort: str, limit: int) -> None:
    """``list --hub``: preset repos on the Hub; offline, one line saying so and the registry."""
    from ..errors import HubOfflineError
    from ..registry import model_alias_for
    from ..registry.discovery import MAX_PATTERN, search_hub
    from ..registry.index import hub_fallback_names, hub_model_id

    if len(pattern) > MAX_PATTERN:
        raise click.BadParameter(
            f"{len(pattern)} characters; a Hub search takes at most {MAX_PATTERN} (a repo id is shorter)", param_hint="PATTERN"
        )
    base_model = hub_model_id(model) if model is not None else None
    try:
        found = search_hub(pattern, base_model=base_model, sort=sort, limit=limit)
    except HubOfflineError as e:
        message = str(e)
        _echo(f"{message[:1].upper()}{message[1:]}; listing the registry only.", err=True)
        _echo_registry(_registry_rows(hub_fallback_names(pattern, model)), fmt, pattern, model)
        return
    rows = []
    for p in found:
        alias = model_alias_for(p.base_model) if p.base_model else None
        rows.append(
            {
                "repo_id": p.repo_id,
                "reference": p.reference,
                "versions": list(p.versions),
                "latest": p.latest,
                "downloads": p.downloads,
                "likes": p.likes,
                "last_modified": p.last_modified.isoformat() if p.last_modified else None,
                "base_model": p.base_model,
                "model": alias.alias if alias else None,
                "tags": list(p.tags),
            }
        )
    if fmt == "json":
        _echo_json(rows)
        return
    if not rows:
        _echo(f"No preset repos on the Hub match {pattern!r}" + (f" for model {model}" if model else "") + ".", err=True)
        return
    cells = [
        (
            r["reference"],
            _clip(", ".join(r["versions"]) or "-", 24),
            str(r["downloads"]),
            str(r["likes"]),
            r["last_modified"][:10] if r["last_modified"] else "-",
            r["model"] or r["base_model"] or "-",
        )
        for r in rows
    ]
    header = ("REFERENCE", "VERSIONS", "DOWNLOADS", "LIKES", "UPDATED", "MODEL")
    _echo_table(header, cells)


def _echo_table(header: tuple[str, ...], cells: list[tuple[str, ...]]) -> None:
    """Columns padded to their widest cell; the last column is not padded."""
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header) - 1)]
    _echo(*("  ".join([*(f"{c[i]:<{w}}" for i, w in enumerate(widths)), c[-1]]) for c in [header, *cells]))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@library_params(model="--model")
@cli.command("list")
@click.argument("pattern", default="*")
@click.option("--model", "-m", default=None, metavar="M", help="Only presets for this model (alias such as sd3-medium, or its Hub id).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--refresh", is_flag=True, help="First fetch the newest registry index from the Hub (STYLEHUNT_INDEX_REPO).")
@click.option("--hub", "hub_search", is_flag=True,
              help="Search the Hub for preset repos anyone published (network); PATTERN is then free text.")
@click.option("--sort", type=click.Choice(HUB_SORTS), default=HUB_SORTS[0], show_default=True, help="With --hub: best first by this.")
@click.option("--limit", type=click.IntRange(1, HUB_MAX_LIMIT), default=HUB_LIMIT, show_default=True, metavar="N",
              help="With --hub: at most N repos.")
@click.option("--models", "models", is_flag=True, help="List the model aliases instead: name, Hub id, family, layers x heads.")
def list_(pattern: str, model: str | None, fmt: str, refresh: bool, hub_search: bool, sort: str, limit: int, models: bool) -> None:
    """List registry presets whose name matches PATTERN (wildcards, e.g. 'sd3-medium/*'): each one's
    newest version, model, kind (reported by a paper, searched, manual) and label.

    With --hub, list preset repos published anywhere on the Hub instead: their versions (v* tags),
    downloads, likes, last update and the hf-hub: reference that loads the newest version. Offline,
    one line says so and the registry is listed.
    """
    from ..registry import list_presets, refresh_index

    ctx = click.get_current_context()
    given = [f"--{n}" for n in ("sort", "limit") if ctx.get_parameter_source(n) != click.core.ParameterSource.DEFAULT]
    if given and not hub_search:
        raise click.UsageError(
            f"{' and '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} to --hub (a Hub search); add --hub or leave"
            f" {'it' if len(given) == 1 else 'them'} out"
        )
    if models:
        clash = [f for f, on in (("--hub", hub_search), ("--model", model is not None), ("PATTERN", pattern != "*")) if on]
        if clash:
            raise click.UsageError(f"--models lists every model alias; leave out {', '.join(clash)}")
    if refresh:
        refresh_index()
        _echo("Refreshed the registry index.", err=True)
    if models:
        _echo_models(fmt)
        return
    if hub_search:
        _list_hub(pattern, model, fmt, sort, limit)
        return
    _echo_registry(_registry_rows(list_presets(pattern, model=model)), fmt, pattern, model)


@cli.command()
@click.argument("ref")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def show(ref: str, fmt: str) -> None:
    """Show a preset: heads, strength, scale, model, provenance and where it came from; or the generation
    parameters written into an image or a video (`stylehunt show cat.png`, `stylehunt show clip.mp4`).

    REF is a registry name (sd3-medium/paper-l1h10[@1.0.0]), hf-hub:owner/repo[@revision], a path, a
    search's run folder, a PNG that `stylehunt generate` (or A1111, Forge, ...) wrote, or an mp4 it wrote.
    """
    from .imagemeta import is_image_path, show_image

    if Path(ref).suffix.lower() in (".png", ".jpg", ".jpeg", ".webp") and not Path(ref).exists():
        from ..errors import StylehuntError

        raise StylehuntError(f"{ref}: no such image file", hint="give the path of a PNG that stylehunt generate wrote")
    if is_image_path(ref):
        lines = show_image(ref, fmt)
        click.echo(lines[0]) if fmt == "json" else _echo(*lines)
        return
    from ..engine.heads import describe_fingerprint
    from ..registry import get_index, model_alias_for, resolve_preset

    resolved = resolve_preset(ref)
    preset = resolved.preset
    source = {
        "ref": resolved.ref,
        "kind": resolved.kind,
        "path": str(resolved.path),
        "sha256": resolved.sha256,
        "repo_id": resolved.repo_id,
        "revision": resolved.revision,
        "commit": resolved.commit,
    }
    if fmt == "json":
        _echo_json({"source": source, "preset": preset.to_dict()})
        return
    alias = model_alias_for(preset.model) if preset.model else None
    lines = [
        f"{preset.name} {preset.version}",
        f"  description:  {preset.description}",
        f"  model:        {preset.model}" + (f" ({alias.alias})" if alias else ""),
        f"  architecture: {describe_fingerprint(preset.fingerprint)}",
        f"  heads ({len(preset.heads)}):    {_heads_text(preset.heads)}",
        f"  strength u:   {preset.strength}",
        f"  scale w:      {preset.scale}",
        f"  tags:         {', '.join(preset.tags) or '-'}",
        f"  license:      {preset.license}",
    ]
    prov = preset.provenance or {}
    if prov.get("kind") == "search":
        objective = prov.get("objective", {})
        lines.append(
            f"  provenance:   search (stylehunt {prov.get('stylehunt_version')}): \"{objective.get('text')}\""
            f" scored by {objective.get('scorer')}, {len(prov.get('prompts', []))} prompts, seeds {prov.get('seeds')}"
        )
        settings = prov.get("settings", {})
        # Scalars only: nested records (prompt lists, per-round held-out scores) are in --format json.
        flat = {k: v for k, v in sorted(settings.items()) if not isinstance(v, (dict, list))}
        lines.append("  settings:     " + ", ".join(f"{k}={v}" for k, v in flat.items()))
        heldout = settings.get("heldout")
        if isinstance(heldout, dict) and "preset" in heldout:  # free-form settings: any JSON may be here
            prompts = heldout.get("prompts", [])
            lines.append(
                f"  held-out:     {_score(heldout['preset'])} with the preset, {_score(heldout.get('baseline', float('nan')))} "
                f"without ({len(prompts) if isinstance(prompts, list) else '?'} prompts)"
            )
        for i, rnd in enumerate(prov.get("rounds", []), 1):
            lines.append(f"    round {i}: +{_heads_text(rnd['added'])}  score {rnd['score']:.4g}")
    else:
        lines.append(f"  provenance:   {prov.get('kind')}: {prov.get('source')}")
        if prov.get("notes"):
            lines.append(f"                {prov['notes']}")
    where = {
        "bundled": f"bundled with stylehunt ({resolved.path})",
        "hub": f"hf-hub:{resolved.repo_id}@{resolved.revision} (commit {resolved.commit})",
        "path": str(resolved.path),
    }[resolved.kind]
    lines.append(f"  source:       {where}")
    lines.append(f"  sha256:       {resolved.sha256}")
    if resolved.kind != "path" and not resolved.ref.startswith("hf-hub:"):  # a registry name
        lines.append(f"  versions:     {', '.join(get_index().presets[preset.name].sorted_versions())}")
    _echo(*lines)


@cli.command()
@click.argument("ref")
def pull(ref: str) -> None:
    """Download a preset into the Hugging Face cache, so REF later loads with HF_HUB_OFFLINE=1.

    Prints the cached file's path.
    """
    from ..registry import resolve_preset

    resolved = resolve_preset(ref)
    if resolved.kind == "hub":
        _echo(
            f"Pulled {resolved.preset.name} {resolved.preset.version} from hf-hub:{resolved.repo_id}@{resolved.revision}"
            f" (commit {resolved.commit}); `{ref}` now loads offline.",
            err=True,
        )
    elif resolved.kind == "bundled":
        _echo(f"{resolved.ref} is bundled with stylehunt; nothing to download.", err=True)
    else:
        _echo(f"{resolved.path} is a local file; nothing to download.", err=True)
    _echo(str(resolved.path))


#: What the preview pairs show when no --preview-prompt is given (the paper's Fig. 3 prompts).
PREVIEW_PROMPTS = (
    "smiling girl holding a cat, in a flower garden",
    "A macro shot of a red apple",
    "a close up portrait of an elderly Japanese man, soft lighting, 8k",
    "A German shepherd bounding through a pine forest",
)


def _preview_gallery(label: str, count: int, prompts: tuple[str, ...]) -> list[tuple[str, str, str, int]]:
    """``(text, repo path, prompt, seed)`` per image: for pair i (seed i), the styled image, then the baseline."""
    gallery = []
    for i in range(count):
        prompt = prompts[i % len(prompts)]
        gallery.append((f"{prompt} (stylehunt {label})", f"previews/pair-{i + 1}.png", prompt, i))
        gallery.append((f"{prompt} (baseline, no guidance)", f"previews/pair-{i + 1}.baseline.png", prompt, i))
    return gallery


def _render_previews(preset: Any, model: str, gallery: list[tuple[str, str, str, int]], steps: int | None,
                     folder: Path) -> list[Path]:
    """Generate the gallery's images on ``model`` with the preset's own scale and strength; PNG files in ``folder``."""
    import torch

    from ..api import applied
    from ..engine.pipeline_inputs import makes_video
    from ..models import load_pipeline
    from .app import quiet_model_loading

    quiet_model_loading()
    pipe = load_pipeline(model)
    if makes_video(pipe):
        raise click.UsageError(f"--previews makes still images, but {model} generates videos; nothing was published."
                               " Attach your own images with --preview IMAGE instead")
    pipe.set_progress_bar_config(disable=True)
    kwargs = {} if steps is None else {"num_inference_steps": steps}
    paths = []
    for text, url, prompt, seed in gallery:
        styled = not url.endswith(".baseline.png")

        def draw():
            return pipe(prompt=prompt, generator=torch.Generator().manual_seed(seed), **kwargs).images[0]

        if styled:
            with applied(pipe, preset):
                picture = draw()
        else:
            picture = draw()
        path = folder / url.split("/", 1)[1]
        picture.save(path)
        paths.append(path)
    return paths


#: push_preset's parameters; its ``images`` are the --preview files (and the --previews pairs, which this command makes).
@library_params(name="--name", version="--version", images="--preview")
@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--repo", "repo_id", required=True, metavar="OWNER/NAME", help="Hub repo to publish to (created if needed).")
@click.option("--version", "version", default=None, help="Version to publish (default: the file's `version`).")
@click.option("--name", "name", default=None, metavar="ALIAS/SLUG",
              help="Publish under this registry name (e.g. sd3-medium/golden-hour) instead of the file's.")
@click.option("--preview", "previews", multiple=True, type=click.Path(path_type=Path), metavar="IMAGE",
              help="Preview image to upload to previews/ and show in the model card. Repeatable.")
@click.option("--previews", "pairs", type=click.IntRange(1, 8), default=None, metavar="N",
              help="Generate N baseline-and-styled pairs (seeds 0..N-1) with the preset's settings and show them as the"
              " card's gallery.")
@click.option("--model", "-m", default=None, metavar="M",
              help="With --previews: the pipeline to generate on (default: the preset's model).")
@click.option("--preview-prompt", "preview_prompts", multiple=True, metavar="TEXT",
              help="With --previews: a prompt for the pairs (repeatable; default: four of the paper's prompts).")
@click.option("--steps", type=click.IntRange(1), default=None,
              help="With --previews: sampling steps (default: the preset's metadata.settings, else the pipeline's).")
@click.option("--private", is_flag=True, default=None, help="Create the repo as private (if it does not exist).")
@click.option("--dry-run", is_flag=True, help="Validate and show the model card and files it would upload; no network, no images.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def publish(file: Path, repo_id: str, version: str | None, name: str | None, previews: tuple[Path, ...], pairs: int | None,
            model: str | None, preview_prompts: tuple[str, ...], steps: int | None, private: bool | None,
            dry_run: bool, yes: bool) -> None:
    """Publish the preset FILE to a Hub repo as version v<version> (preset file, model card, previews).

    A version that already exists on the repo is refused. Uses your Hugging Face token (HF_TOKEN or
    `hf auth login`).
    """
    import tempfile

    from ..registry import Preset
    from ..registry.publish import push_preset

    given = [flag for flag, on in (("--model", model), ("--preview-prompt", preview_prompts), ("--steps", steps)) if on]
    if given and pairs is None:
        raise click.UsageError(f"{', '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} to --previews N; add it or leave"
                               f" {'it' if len(given) == 1 else 'them'} out")
    from ..registry.publish import IMAGE_SUFFIXES, check_preview_image
    from .params import check_repo_option

    check_repo_option(repo_id)

    for image in previews:  # before the plan, the network and the confirmation: the user's own files
        if image.is_file() and image.suffix.lower() in IMAGE_SUFFIXES:
            check_preview_image(image)
    preset = Preset.from_file(file)
    gallery = _preview_gallery(name or preset.name or "preset", pairs or 0, preview_prompts or PREVIEW_PROMPTS)
    settings = (preset.metadata or {}).get("settings") or {}
    if steps is None and isinstance(settings.get("num_inference_steps"), int):
        steps = settings["num_inference_steps"]
    with tempfile.TemporaryDirectory(prefix="stylehunt-previews-") as folder:
        planned = [*previews, *(Path(folder) / url.split("/", 1)[1] for _, url, _, _ in gallery)]
        for path in planned[len(previews):]:
            path.touch()  # the plan checks that the files exist; generated only when publishing
        kwargs = dict(version=version, name=name, private=private, gallery=[(text, url) for text, url, _, _ in gallery])
        plan = push_preset(preset, repo_id, images=planned, dry_run=True, **kwargs)
        if dry_run:
            _echo(
                f"Would publish {plan.name} {plan.version} to {repo_id} and tag it {plan.tag}:",
                *(f"  {path}  ({size} bytes)" if size or not path.startswith("previews/pair-") else f"  {path}  (generated)"
                  for path, size in plan.files),
                f"It would then load as: {plan.reference}",
                "",
                "README.md:",
            )
            click.echo(printable(plan.card))
            return
        if not yes:
            click.confirm(printable(f"Publish {plan.name} {plan.version} to {repo_id} (tag {plan.tag})?", newlines=False),
                          abort=True, err=True)
        if gallery:
            _render_previews(preset, model or preset.model, gallery, steps, Path(folder))
        result = push_preset(preset, repo_id, images=planned, **kwargs)
    _echo(
        f"Published {result.name} {result.version} to {result.url} (commit {result.commit}, tag {result.tag}"
        + (", new repo" if result.created_repo else "")
        + ").",
        err=True,
    )
    _echo(result.reference)
