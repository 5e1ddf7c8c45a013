"""Submitting a published preset to the registry index: a pull request on the index repo, checked first.

`plan_submission` checks everything and builds the change to ``index.json``; `open_submission` opens
the pull request; `submit_preset` does both (``dry_run`` stops after the plan).
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..errors import (
    ArchitectureMismatchError,
    HubOfflineError,
    InvalidPresetError,
    PresetFileError,
    PresetNotFoundError,
    PresetReferenceError,
    RegistryIndexError,
    VersionExistsError,
)
from .check import fingerprint_problem
from .index import bundled_index, index_location, load_index_json, read_index_bytes
from .indexfile import INDEX_FILENAME, MAX_INDEX_BYTES, ModelAlias, RegistryIndex
from .names import parse_version, validate_name
from .preset import Preset, ResolvedPreset, resolve_preset
from .references import HUB_PREFIX, parse_reference

if TYPE_CHECKING:
    from ..hub import PullRequest

__all__ = ["Submission", "plan_submission", "open_submission", "submit_preset", "provenance_summary"]

#: The longest provenance summary written into a pull request.
_MAX_SUMMARY = 400


@dataclass(frozen=True)
class Submission:
    """A submission to the registry index: what was checked, the entry, the diff, and the pull request (unless a dry run)."""

    name: str
    version: str
    reference: str  # as given: hf-hub:owner/repo@v1.0.0
    repo_id: str
    commit: str  # the preset repo's commit the entry pins
    sha256: str
    index_repo: str
    index_commit: str  # the commit of index.json the change is based on
    new_name: bool  # a new name (else a version added to an existing one)
    entry: dict[str, Any]  # the name's index entry after the change
    diff: str  # unified diff of index.json
    title: str
    description: str  # the pull request's description
    index_json: bytes  # index.json after the change
    dry_run: bool = True
    pull_request: "PullRequest | None" = None

    @property
    def review_reference(self) -> str | None:
        """``hf-hub:<index repo>@refs/pr/<num>``: what ``stylehunt registry check`` reads to review it."""
        return f"{HUB_PREFIX}{self.index_repo}@{self.pull_request.revision}" if self.pull_request else None


def provenance_summary(preset: Preset) -> str:
    """One line saying how the preset's heads were chosen (a search and its objective, or the source)."""
    prov = preset.provenance or {}
    if prov.get("kind") == "search":
        objective = prov.get("objective", {})
        rounds = prov.get("rounds", [])
        text = (
            f"search (stylehunt {prov.get('stylehunt_version')}): objective \"{objective.get('text')}\" scored by"
            f" {objective.get('scorer')}, {len(prov.get('prompts', []))} prompts x {len(prov.get('seeds', []))} seeds,"
            f" {len(rounds)} round{'s' if len(rounds) != 1 else ''}"
            + (f", final score {rounds[-1]['score']:.4g}" if rounds else "")
        )
    else:
        text = f"{prov.get('kind')}: {prov.get('source')}" + (f" ({prov['notes']})" if prov.get("notes") else "")
    text = " ".join(text.split())  # one line
    return text if len(text) <= _MAX_SUMMARY else text[: _MAX_SUMMARY - 1] + "…"


def _fenced(text: str, lang: str = "") -> str:
    """``text`` in a Markdown code fence longer than any run of backticks inside it (outside text stays code)."""
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
    return f"{fence}{lang}\n{text}\n{fence}"


def _read_index(repo: str, token: str | None) -> tuple[dict[str, Any], RegistryIndex, str, str]:
    """``(JSON, parsed index, text, commit)`` of ``index.json`` on the index repo's main branch."""
    from .. import hub

    source = f"{HUB_PREFIX}{repo}"
    what = f"read the registry index {source}"
    with hub.cache_transaction(repo):
        try:
            fetched = hub.download_file(repo, INDEX_FILENAME, max_bytes=MAX_INDEX_BYTES, token=token, what=what,
                                        missing_note="is it a stylehunt registry index repository?",
                                        missing_hint="give the index repo OWNER/NAME as `index_repo`, or set STYLEHUNT_INDEX_REPO")
        except PresetFileError as e:  # over the size limit
            raise RegistryIndexError(str(e), source=source, hint=e.hint) from None
        raw = read_index_bytes(fetched.path, source)
        data = load_index_json(raw, source)
        parsed = RegistryIndex.parse(data, source=source, allow_files=False)
    return data, parsed, raw.decode("utf-8"), fetched.commit


def _alias(alias_name: str, remote: RegistryIndex, name: str, index_repo: str) -> tuple[ModelAlias, bool]:
    """The model alias a name starts with, and whether the index repo lacks it (it then comes from this stylehunt)."""
    if alias_name in remote.models:
        return remote.models[alias_name], False
    shipped = bundled_index().models.get(alias_name)
    if shipped is not None:
        return shipped, True
    known = sorted({*remote.models, *bundled_index().models})
    raise PresetNotFoundError(
        f"`name` {name!r}: unknown model alias {alias_name!r}; known model aliases: {', '.join(known)}",
        ref=name,
        available=tuple(known),
        suggestions=tuple(difflib.get_close_matches(alias_name, known, n=3)),
        hint=f"a registry name is model-alias/slug, with an alias of {HUB_PREFIX}{index_repo} or of `stylehunt list`",
        param="name",
    )


def _check_owner(name: str, repo_id: str, remote: RegistryIndex, index_repo: str) -> bool:
    """Refuse a name another repo (or stylehunt itself) owns; return whether the name is new."""
    shipped = bundled_index().presets.get(name)
    entry = remote.presets.get(name)
    owners = sorted({v.location if v.bundled else f"{HUB_PREFIX}{v.repo_id}" for v in entry.versions.values()}) if entry else []
    if shipped is not None or any(o != f"{HUB_PREFIX}{repo_id}" for o in owners):
        owner = "stylehunt (a bundled preset)" if shipped is not None else ", ".join(owners)
        raise RegistryIndexError(
            f"`name` {name!r} is taken: it belongs to {owner}, not {HUB_PREFIX}{repo_id}",
            source=f"{HUB_PREFIX}{index_repo}",
            hint="choose another slug for `name` (only the repo that owns a name can add versions to it)",
            param="name",
        )
    return entry is None


def _new_index(data: dict[str, Any], name: str, preset: Preset, location: dict[str, str], alias: ModelAlias, add_alias: bool) -> dict[str, Any]:
    new = copy.deepcopy(data)
    if add_alias:
        new["models"][alias.alias] = {"id": alias.id, "family": alias.family, "fingerprint": alias.fingerprint}
    presets = new["presets"]
    if name in presets:
        versions = {**presets[name]["versions"], preset.version: location}
        presets[name]["versions"] = dict(sorted(versions.items(), key=lambda kv: parse_version(kv[0])))
    else:
        was_sorted = list(presets) == sorted(presets)
        presets[name] = {"description": preset.description, "tags": list(preset.tags), "versions": {preset.version: location}}
        if was_sorted:
            new["presets"] = dict(sorted(presets.items()))
    return new


def _description(s: Submission, resolved: ResolvedPreset, alias: ModelAlias, add_alias: bool, checked_prs: bool) -> str:
    preset = resolved.preset
    fp = preset.fingerprint or {}
    heads = ", ".join(f"L{layer}H{head}" for layer, head in preset.heads)
    lines = [
        f"Adds version {s.version} of `{s.name}`" + (" (a new name)" if s.new_name else "") + " to the registry index,"
        f" pinned to commit `{s.commit}` of {HUB_PREFIX}{s.repo_id} and the sha256 of its `stylehunt_preset.json`.",
        "",
        "| | |",
        "|---|---|",
        f"| version | {s.version} |",
        f"| sha256 | `{s.sha256}` |",
        f"| model alias | `{alias.alias}` (`{alias.id}`)" + (", added from stylehunt's bundled index |" if add_alias else " |"),
        f"| architecture | {fp.get('transformer_class')}, {fp.get('num_layers')} layers x {fp.get('heads_per_layer')} heads, head dim {fp.get('head_dim')} |",
        f"| heads | {len(preset.heads)}: {heads}; u = {preset.strength}, w = {preset.scale} |",
        f"| license | `{preset.license}` |",
        "",
        "Submitted as, model id and provenance (text from the preset file):",
        "",
        _fenced(f"{s.reference}\nmodel: {preset.model}\nprovenance: {provenance_summary(preset)}"),
        "",
        "Fingerprint:",
        "",
        _fenced(json.dumps(preset.fingerprint, sort_keys=True), "json"),
        "",
        "## How it was validated",
        "",
        f"Checked by stylehunt {__version__} (`stylehunt submit`) before this pull request was opened, against"
        f" `{INDEX_FILENAME}` at commit `{s.index_commit}`:",
        "",
        f"1. The preset loads: `stylehunt_preset.json` was downloaded at commit `{s.commit}` and passed stylehunt's"
        " preset validation (format, fields, heads inside its fingerprint); it says it is"
        f" `{s.name}` {s.version}.",
        f"2. Its bytes hash to sha256 `{s.sha256}`, which the entry pins.",
        f"3. Its architecture fingerprint equals the `{alias.alias}` alias's.",
        f"4. The name `{s.name}` is valid and "
        + ("new in the index." if s.new_name else f"belongs to {HUB_PREFIX}{s.repo_id}, the same repo."),
        f"5. Version {s.version} is new for that name"
        + ("; no open pull request proposes it." if checked_prs else " (open pull requests were not checked: offline)."),
        f"6. The changed `{INDEX_FILENAME}` is a valid registry index.",
        "",
        "## Review",
        "",
        "Re-check this pull request with the same checks on every entry:",
        "",
        _fenced(f"stylehunt registry check {HUB_PREFIX}{s.index_repo}@refs/pr/<this pull request's number>", "bash"),
    ]
    return "\n".join(lines) + "\n"


def submit_preset(
    ref: str, name: str, *, index_repo: str | None = None, token: str | None = None, dry_run: bool = False
) -> Submission:
    """Propose the published preset ``ref`` (``hf-hub:owner/repo@v1.0.0``) as ``name`` in the registry index. Network.

    `plan_submission` (every check; nothing written), then, unless ``dry_run``,
    `open_submission` (the pull request).

    Before anything is written anywhere it checks that the name is valid and its model alias known (to
    the index, or to this stylehunt); the name is free, or every version it has lives in the same Hub
    repo; the preset loads (downloaded and validated like any load), says it is that name, and its
    architecture fingerprint equals the alias's; the version is new for that name, and no open pull
    request already proposes it. The pull request (on ``STYLEHUNT_INDEX_REPO``, else
    ``stylehunt/registry``) pins the version to the commit it was read at and the sha256 of its bytes;
    its description gives the fingerprint, a provenance summary and how it was validated. ``dry_run``
    returns the same plan with a unified diff of ``index.json``.
    """
    plan = plan_submission(ref, name, index_repo=index_repo, token=token, offline_ok=dry_run)
    return plan if dry_run else open_submission(plan, token=token)


def open_submission(plan: Submission, *, token: str | None = None) -> Submission:
    """Open the pull request ``plan`` describes, based on the index commit it was checked against. Network."""
    from .. import hub

    if hub.is_offline():
        raise HubOfflineError(f"cannot submit to {plan.index_repo}: offline mode is enabled (HF_HUB_OFFLINE)",
                              repo_id=plan.index_repo)
    with hub.hub_errors(plan.index_repo, "main", f"open a pull request on {plan.index_repo}"):
        pr, _ = hub.open_pull_request(
            plan.index_repo, [(INDEX_FILENAME, plan.index_json)], title=plan.title, description=plan.description,
            parent_commit=plan.index_commit, token=token,
        )
    return replace(plan, dry_run=False, pull_request=pr)


def plan_submission(
    ref: str, name: str, *, index_repo: str | None = None, token: str | None = None, offline_ok: bool = False
) -> Submission:
    """Check a submission and return its plan (entry, diff, pull request text); nothing is written. Network.

    Refusals raise before any request that writes: `PresetReferenceError` /
    `InvalidPresetError` for a bad reference or name, `PresetNotFoundError` for an
    unknown model alias, `RegistryIndexError` for a name another repo owns,
    `ArchitectureMismatchError` for another architecture, `VersionExistsError` for a
    version the name has or an open pull request proposes. Offline, `HubOfflineError`
    unless ``offline_ok`` (then the cached index and preset are used, and open pull requests are
    not checked).
    """
    from .. import hub

    parsed = parse_reference(ref)
    if parsed.kind != "hub":
        raise PresetReferenceError(
            f"{ref!r}: submit takes the hf-hub: reference of a published preset, such as hf-hub:owner/repo@v1.0.0",
            ref=str(ref),
            hint="publish it first (`stylehunt publish FILE --repo OWNER/NAME`), then submit what that prints",
        )
    assert parsed.repo_id is not None  # parse_reference sets it for hf-hub: references
    validate_name(name, "`name`", param="name")
    if "/" not in name:
        raise InvalidPresetError(f"`name`: a registry name is model-alias/slug, such as sd3-medium/{name}, but got {name!r}",
                                 param="name")
    index_repo = hub.check_repo_id(index_repo or index_location()[0])
    offline = hub.is_offline()
    if offline and not offline_ok:
        raise HubOfflineError(f"cannot submit to {index_repo}: offline mode is enabled (HF_HUB_OFFLINE)", repo_id=index_repo,
                              hint="unset HF_HUB_OFFLINE; a dry run (dry_run=True) works from the cache",
                              cli_hint="unset HF_HUB_OFFLINE; `--dry-run` works from the cache")

    data, remote, old_text, index_commit = _read_index(index_repo, token)
    alias, add_alias = _alias(name.split("/", 1)[0], remote, name, index_repo)
    new_name = _check_owner(name, parsed.repo_id, remote, index_repo)

    resolved = resolve_preset(ref)
    preset = resolved.preset
    if preset.name != name:
        raise InvalidPresetError(
            f"{ref}: the file is named {preset.name!r}, not {name!r}; a registry entry's file must carry its registry name",
            hint=f"publish a new version named {name!r}, then submit that",
        )
    mismatch = fingerprint_problem(preset.fingerprint, alias)
    if mismatch:
        raise ArchitectureMismatchError(f"{ref}: {mismatch}", hint="submit it under the alias of the model it was made for")
    version = preset.version
    assert version is not None  # a preset file always has one
    existing = remote.presets.get(name)
    if existing is not None and version in existing.versions:
        raise VersionExistsError(
            f"{name} already has version {version} in {HUB_PREFIX}{index_repo}; registry versions are immutable",
            repo_id=index_repo,
            version=version,
            hint=f"versions: {', '.join(existing.sorted_versions())}; publish a higher version and submit that",
        )
    title = f"Add {name} {version}"
    if not offline:
        with hub.hub_errors(index_repo, None, f"list the pull requests of {index_repo}"):
            pending = [pr for pr in hub.list_pull_requests(index_repo, token=token) if pr.title == title]
        if pending:
            raise VersionExistsError(
                f"pull request #{pending[0].num} on {index_repo} already proposes {name} {version}",
                repo_id=index_repo,
                version=version,
                hint=f"follow it at {pending[0].url}",
            )

    assert resolved.commit is not None  # a Hub preset has one
    location = {"repo": parsed.repo_id, "revision": resolved.commit, "sha256": resolved.sha256}
    new_data = _new_index(data, name, preset, location, alias, add_alias)
    new_text = json.dumps(new_data, indent=2) + "\n"  # ASCII: no invisible characters in a reviewed diff
    RegistryIndex.parse(json.loads(new_text), source=f"{INDEX_FILENAME} as changed", allow_files=False)
    diff = "".join(
        difflib.unified_diff(
            old_text.splitlines(keepends=True), new_text.splitlines(keepends=True), f"a/{INDEX_FILENAME}", f"b/{INDEX_FILENAME}"
        )
    )
    plan = Submission(
        name=name, version=version, reference=str(ref), repo_id=parsed.repo_id, commit=resolved.commit,
        sha256=resolved.sha256, index_repo=index_repo, index_commit=index_commit, new_name=new_name,
        entry=new_data["presets"][name], diff=diff, title=title, description="", index_json=new_text.encode("ascii"),
    )
    return replace(plan, description=_description(plan, resolved, alias, add_alias, checked_prs=not offline))
