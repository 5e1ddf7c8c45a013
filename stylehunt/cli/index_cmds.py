"""``stylehunt submit`` and ``stylehunt registry check``: growing and curating the registry index on the Hub.

``submit`` proposes a published preset to the index repo as a pull request, after every check
(`stylehunt.registry.submit`); ``registry check`` is what the index's maintainers run on such a
pull request, or on any index (`stylehunt.registry.check`). Text from the Hub and from preset
files is printed through `terminal.printable`; JSON output escapes every non-ASCII character.
"""

from __future__ import annotations

import json
from typing import Any

import click

from .app import cli
from .flagnames import library_params
from .terminal import printable


def _echo(*lines: str, err: bool = False) -> None:
    click.echo("\n".join(printable(line, newlines=False) for line in lines), err=err)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@library_params(name="--name", index_repo="--index-repo")
@cli.command()
@click.argument("ref")
@click.option("--name", required=True, metavar="MODEL/STYLE",
              help="The registry name to claim: a model alias and a slug, such as sd3-medium/golden-hour.")
@click.option("--index-repo", default=None, metavar="OWNER/NAME",
              help="The index repo to open the pull request on (default: STYLEHUNT_INDEX_REPO, else stylehunt/registry).")
@click.option("--dry-run", is_flag=True, help="Run every check and print the entry and the diff of index.json; open nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def submit(ref: str, name: str, index_repo: str | None, dry_run: bool, yes: bool) -> None:
    """Propose the published preset REF (hf-hub:owner/repo@v1.0.0) to the registry index as a pull request.

    Before anything is sent: the preset loads, its architecture fingerprint matches the model alias
    of --name, the name is valid and free (or already belongs to the same repo), and the version is
    new. The entry pins the commit REF resolves to and the sha256 of the preset file. Uses your
    Hugging Face token (HF_TOKEN or `hf auth login`).
    """
    from ..registry.submit import open_submission, plan_submission

    plan = plan_submission(ref, name, index_repo=index_repo, offline_ok=dry_run)
    what = "a new name" if plan.new_name else "a new version of a name this repo owns"
    summary = [
        f"{'Would open' if dry_run else 'Opening'} a pull request on {plan.index_repo}: {plan.title!r}",
        f"  preset:  {plan.reference} (commit {plan.commit})",
        f"  sha256:  {plan.sha256}",
        f"  checked: it loads; its fingerprint is the {name.split('/', 1)[0]} alias's; {what}; version {plan.version} is new",
    ]
    if dry_run:
        _echo(*summary, "Entry:", *json.dumps({plan.name: plan.entry}, indent=2).splitlines(), "Diff:", *plan.diff.splitlines())
        return
    _echo(*summary, err=True)
    if not yes:
        click.confirm(printable(f"Open the pull request on {plan.index_repo}?", newlines=False), abort=True, err=True)
    result = open_submission(plan)
    pr = result.pull_request
    assert pr is not None  # open_submission opened it
    _echo(f"Opened pull request #{pr.num} on {result.index_repo}. Maintainers review it with:",
          f"  stylehunt registry check {result.review_reference}", err=True)
    _echo(pr.url)


@cli.group()
def registry() -> None:
    """Curate a registry index (the bundled one, a file, or a Hub repo)."""


@registry.command()
@click.argument("index", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def check(index: str | None, fmt: str) -> None:
    """Check every entry of INDEX; exit 1 if any fails.

    \b
    INDEX is one of:
      path/to/index.json, or its folder (bundled files: the presets/ folder beside that folder)
      hf-hub:owner/repo[@revision], such as a pull request: hf-hub:owner/index@refs/pr/3
      nothing: the index bundled with stylehunt

    Every version must resolve, be pinned by sha256 and match its pin, be a valid preset that says
    it is that name and version, and have its model alias's architecture fingerprint; names must be
    unique.
    """
    from ..registry.check import check_index

    report = check_index(index)
    if fmt == "json":
        data: dict[str, Any] = {
            "source": report.source,
            "ok": report.ok,
            "problems": list(report.problems),
            "versions": [
                {"name": v.name, "version": v.version, "location": v.location, "sha256": v.sha256, "ok": v.ok,
                 "problems": list(v.problems)}
                for v in report.versions
            ],
        }
        click.echo(json.dumps(data, indent=2))
    else:
        names = len({v.name for v in report.versions})
        lines = [f"Checking {report.source}: {_count(names, 'name')}, {_count(len(report.versions), 'version')}"]
        for v in report.versions:
            pin = f"  sha256 {v.sha256[:12]}…" if v.sha256 else ""
            lines.append(f"{'ok  ' if v.ok else 'FAIL'}  {v.name}@{v.version}  {v.location}{pin}")
            lines += [f"      {problem}" for problem in v.problems]
        lines += [f"FAIL  (index) {problem}" for problem in report.problems]
        failed = sum(not v.ok for v in report.versions)
        if report.ok:
            lines.append(f"{_count(len(report.versions), 'version')} checked; all pass.")
        else:
            lines.append(
                f"{failed} of {_count(len(report.versions), 'version')} failed"
                + (f", and the index has {_count(len(report.problems), 'problem')}" if report.problems else "")
                + "."
            )
        _echo(*lines)
    if not report.ok:
        click.get_current_context().exit(1)
