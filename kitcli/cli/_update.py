"""``kit update``, ``kit diff`` and ``kit template test``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .._errors import EXIT_FINDINGS, EXIT_OK, UserError
from ._base import EXIT_CODES_HELP, cli, echo, emit_json, print_warning
from ._new import parse_data
from ._template import template_group

PROJECT = click.Path(path_type=Path, file_okay=False)
STATUS_LETTER = {"added": "A", "changed": "M", "removed": "D", "conflict": "C", "missing": "D"}


@cli.command("update", epilog=EXIT_CODES_HELP)
@click.argument("path", type=PROJECT, default=".")
@click.option("--to", "to", metavar="REF", help="Template version to update to (default: the newest release).")
@click.option("-d", "--data", "data", multiple=True, metavar="KEY=VALUE",
              help="Answer a question that is new in the release and has no default (repeatable).")
@click.option("--dry-run", is_flag=True, help="List what would be added, changed, removed or conflict; write nothing.")
@click.option("--abort", is_flag=True, help="Put the project back exactly as it was before the last update.")
@click.option("--commit", "commit", is_flag=True,
              help="When the update is clean, commit it naming each template and version.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def update_command(*, path: Path, to: str | None, data: tuple[str, ...], dry_run: bool, abort: bool,
                   commit: bool, as_json: bool) -> int:
    """Update every template layer of the project at PATH to the newest release (or --to REF).

    The working tree must be clean. Nothing that has an answer is asked again; a question new in
    the release takes its default. Conflicts are left as inline markers (files unmerged in git)
    and give exit code 3. On an error or Ctrl-C the project is restored; after a kill, or to undo
    a finished update, run `kit update --abort`.

    \b
    Examples:
      kit update --dry-run
      kit update --to v1.2.0 --commit
      kit update --abort
    """
    from ..commands.update import UpdateOptions, update

    if abort and (dry_run or commit or to or data):
        raise UserError("--abort takes no other option: run `kit update --abort` alone")
    if dry_run and commit:
        raise UserError("--dry-run and --commit exclude each other: a dry run writes nothing")
    result = update(UpdateOptions(project=path, to=to, data=parse_data(data), dry_run=dry_run,
                                  abort=abort, commit=commit))
    for warning in result.warnings:
        print_warning(warning)
    if as_json:
        emit_json(result.to_json())
        return result.exit_code
    moves = ", ".join(f"{c.template} {c.old} -> {c.new}" for c in result.layers if c.changed)
    if result.action == "up-to-date":
        versions = ", ".join(f"{c.template} {c.old}" for c in result.layers)
        echo(f"Up to date: {versions}")
        return result.exit_code
    if result.action == "aborted":
        echo(f"Restored {result.project} as it was before the update ({moves or 'no version change'}).", fg="green")
        return result.exit_code
    title = "Would update" if result.action == "dry-run" else "Updated"
    echo(f"{title} {result.project}: {moves}", bold=True)
    for change in result.files:
        echo(f"  {STATUS_LETTER[change.status]} {change.path}", fg="red" if change.status == "conflict" else None)
    if not result.files:
        echo("  (no file changes)")
    if result.conflicts:
        verb = "would conflict" if result.action == "dry-run" else "have conflict markers to resolve"
        echo(f"{len(result.conflicts)} file(s) {verb}: {', '.join(result.conflicts)}", fg="yellow")
        if result.action == "updated":
            echo("Resolve them, `git add` and commit; or undo everything with `kit update --abort`.")
    elif result.commit:
        echo(f"Committed {result.commit[:12]}.")
    elif result.action == "updated":
        echo("Review with `git diff`, then commit; `kit update --abort` undoes the update.")
    return result.exit_code


@cli.command("diff", epilog=EXIT_CODES_HELP)
@click.argument("path", type=PROJECT, default=".")
@click.option("--stat", is_flag=True, help="Only list the files with their line counts, no diffs.")
@click.option("--no-cache", is_flag=True, help="Render the template afresh instead of reusing a cached rendering.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def diff_command(*, path: Path, stat: bool, no_cache: bool, as_json: bool) -> int:
    """Show how the project at PATH differs from its recorded template versions.

    Each template layer is rendered with the recorded answers at the recorded version and compared
    with the project: files changed, missing, and added where a template declares a managed path.
    Divergence in a managed path is a finding unless kit.toml declares it as a deviation; in a
    seeded path (owned by the project after generation) it is information. Declared deviations
    whose path no longer differs are reported as stale.

    Exit code 1 when there is a finding (undeclared divergence outside seeded paths), else 0.
    """
    from ..commands.diff import DiffOptions, diff

    result = diff(DiffOptions(project=path, use_cache=not no_cache))
    if as_json:
        payload: dict[str, Any] = result.to_json()
        if stat:
            for entry in payload["files"]:
                entry.pop("diff")
        emit_json(payload)
        return result.exit_code
    echo("Template layers: " + ", ".join(f"{layer.template} {layer.version}" for layer in result.layers))
    for entry in result.files:
        if entry.deviation is not None:
            deviation = entry.deviation
            note = f"declared: {deviation.reason} (approved by {deviation.approved_by}, {deviation.date})"
        elif entry.ownership == "seeded":
            note = "seeded: owned by the project (information)"
        else:
            note = f"{entry.ownership}: finding"
        counts = f"+{entry.added_lines} -{entry.removed_lines}"
        echo(f"  {STATUS_LETTER[entry.status]} {entry.path:<40} {counts:>9}  {note}",
             fg="red" if entry.finding else None)
    for deviation in result.stale_deviations:
        echo(f"  stale deviation: {deviation.path} no longer differs from the template "
             f"({deviation.reason}); remove it from kit.toml", fg="yellow")
    if not stat:
        for entry in result.files:
            if entry.diff:
                echo()
                echo(entry.diff.rstrip("\n"))
    if not result.files:
        echo("No divergence.")
    found = len(result.findings)
    declared = sum(1 for entry in result.files if entry.deviation is not None)
    informational = len(result.files) - found - declared
    echo(f"{found} finding(s), {declared} declared deviation(s), {informational} seeded change(s)",
         bold=True, fg="red" if found else "green")
    return EXIT_FINDINGS if found else EXIT_OK


@template_group.command("test", epilog=EXIT_CODES_HELP)
@click.argument("template", required=False)
@click.option("--source", metavar="PATH",
              help="Template repository (default as for `kit new`); any Copier template repository works.")
@click.option("--from", "from_ref", metavar="REF",
              help="Release to test the update path from (default: the previous release tag).")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Cases to run in parallel.")
@click.option("--limit", type=click.IntRange(1),
              help="Run only the first N matrix entries of each template (a CI slice).")
@click.option("--no-project-tests", is_flag=True, help="Skip running each generated project's own tests.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def template_test_command(*, template: str | None, source: str | None, from_ref: str | None, jobs: int,
                          limit: int | None, no_project_tests: bool, as_json: bool) -> int:
    """Test TEMPLATE (default: every template) of the current template tree.

    Renders each option combination the template lists as its test matrix, runs each generated
    project's own tests (`test_command` in kit-template.toml) and `kit check`, then generates a
    project from the previous release (or --from), edits managed and seeded files, updates it to
    the current tree (uncommitted changes included) and asserts that no local edit is lost and
    that conflicts are reported. Exit code 1 when a case fails.
    """
    from ..commands.template_test import TemplateTestOptions, template_test

    result = template_test(TemplateTestOptions(
        template=template, source=source, from_ref=from_ref, jobs=jobs, limit=limit,
        project_tests=not no_project_tests,
    ))
    if as_json:
        emit_json(result.to_json())
        return result.exit_code
    echo(f"Template source {result.source} (current tree), update path from {result.from_ref or 'no release'}",
         bold=True)
    for case in result.cases:
        echo(f"{'PASS' if case.passed else 'FAIL'}  {case.template} {case.name}",
             fg="green" if case.passed else "red", bold=True)
        for step in case.steps:
            detail = f": {step.detail}" if step.detail else ""
            echo(f"    {step.status:<7} {step.name}{detail}")
    failed = sum(1 for case in result.cases if not case.passed)
    echo(f"{len(result.cases) - failed} passed, {failed} failed", bold=True, fg="red" if failed else "green")
    return result.exit_code
