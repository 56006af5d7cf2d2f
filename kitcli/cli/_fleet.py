"""``kit fleet status|publish|update`` and ``kit catalog``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ._base import EXIT_CODES_HELP, cli, color_enabled, echo, emit_json

if TYPE_CHECKING:
    from ..commands.fleet import FleetReport, Progress, UpdateProgress

JOBS_HELP = "Projects read in parallel (default: the number of CPUs, at most 8)."


class ProgressBar:
    """A progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.enabled = sys.stderr.isatty()

    def __call__(self, progress: Progress | UpdateProgress) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=progress.total, label=self.label, file=sys.stderr,
                                         color=color_enabled(), show_pos=True)
            self.bar.__enter__()
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def write_or_echo(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        output.write_text(text, encoding="utf-8")


@cli.group("fleet", epilog=EXIT_CODES_HELP)
def fleet_group() -> None:
    """See and update many projects at once (for cooperation coordinators)."""


@fleet_group.command("status", epilog=EXIT_CODES_HELP)
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help=JOBS_HELP)
@click.option("--format", "output_format", type=click.Choice(["text", "json", "markdown", "html"]),
              default="text", show_default=True, help="html: one self-contained file with a sortable table.")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), help="Write the report to FILE.")
@click.option("--no-check", is_flag=True, help="Leave out the kit check summary (faster).")
@click.option("--no-divergence", is_flag=True, help="Leave out the divergence from the templates (faster).")
def status_command(*, sources: tuple[str, ...], jobs: int | None, output_format: str, output: Path | None,
                   no_check: bool, no_divergence: bool) -> int:
    """Report every project: municipality, service, template versions, releases behind,
    divergence from the templates, kit check summary and last commit.

    A SOURCE is a project directory, a directory of projects, a manifest (TOML with
    [[project]] entries: path, url or status; municipality; service), a status file a
    project's CI published (`kit fleet publish`), or a git URL (cloned into the kit's cache).
    A project that cannot be read is a row with its error. Exit 1 when any project has an
    error, drifts (managed files changed without a declared deviation) or fails kit check.

    \b
    Examples:
      kit fleet status ~/projekte
      kit fleet status fleet.toml --format html --output fleet.html
      kit fleet status artifacts/*.json --format markdown
    """
    from ..commands.fleet import FleetStatusOptions, check_output, status

    if output is not None:
        check_output(output)
    options = FleetStatusOptions(sources=sources, divergence=not no_divergence, check=not no_check)
    if jobs is not None:
        options = FleetStatusOptions(sources=sources, jobs=jobs, divergence=not no_divergence, check=not no_check)
    bar = ProgressBar("Reading projects")
    try:
        report = status(options, progress=bar)
    finally:
        bar.close()
    if output_format == "json":
        if output is None:
            emit_json(report.to_json())
        else:
            import json

            write_or_echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n", output)
    elif output_format == "markdown":
        write_or_echo(report.to_markdown(), output)
    elif output_format == "html":
        write_or_echo(report.to_html(), output)
    else:
        write_or_echo(render_text(report), output)
    if output is not None:
        o = report.summary.overall
        echo(f"Wrote {output}: {o.total} projects, {o.on_newest} on the newest release, "
             f"{o.drifting} drifting, {o.errors} errors")
    return report.exit_code


def render_text(report: FleetReport) -> str:
    header = f"{'MUNICIPALITY':<24} {'AGS':<8}  {'SERVICE':<24} {'TEMPLATES':<32} {'BEHIND':>6}  " \
             f"{'DIVERGENCE':<12} {'CHECK':<8} {'LAST COMMIT':<10}  {'STATUS':<8} PATH"
    lines = [header]
    for row in report.rows:
        m = row.municipality
        div = row.divergence
        divergence = f"m{div.managed} s{div.seeded} d{div.declared}" if div else "n/a"
        check = f"{row.check.failed}F {row.check.warnings}W" if row.check else "n/a"
        behind = "?" if row.behind is None else str(row.behind)
        templates = ", ".join(f"{t.name} {t.version}" for t in row.templates)
        lines.append(
            f"{_cut(m.name if m else '', 24):<24} {(m.ags if m else ''):<8}  "
            f"{_cut(row.service or row.name or '', 24):<24} {_cut(templates, 32):<32} {behind:>6}  "
            f"{divergence:<12} {check:<8} {(row.last_commit or '')[:10]:<10}  {row.status:<8} {row.location}"
        )
        if row.error:
            lines.append(f"    error: {row.error}")
        if div is not None:
            lines.extend(f"    {f.path}: {f.change} ({f.ownership}{', declared' if f.declared else ''})"
                         for f in div.files if not f.declared)
        lines.extend(f"    note: {note}" for note in row.notes)
    o = report.summary.overall
    lines.append("")
    lines.append(f"{o.total} projects: {o.on_newest} on the newest release, {o.behind} behind, "
                 f"{o.drifting} drifting, {o.failing_checks} with failing checks, {o.errors} errors")
    return "\n".join(lines) + "\n"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@fleet_group.command("publish", epilog=EXIT_CODES_HELP)
@click.argument("project", type=click.Path(path_type=Path, file_okay=False), default=Path(), required=False)
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), default=Path("kit-status.json"),
              show_default=True, help="Where to write the status file ('-' for stdout).")
@click.option("--no-check", is_flag=True, help="Leave out the kit check summary.")
def publish_command(*, project: Path, output: Path, no_check: bool) -> int:
    """Write the status file of the project at PROJECT (default: here) for `kit fleet status`.

    Run it in the project's CI and publish the file as an artifact; a coordinator then reads
    the artifacts of all projects instead of cloning them. Exit 1 when the project has
    findings (the file is written all the same).

    \b
    Example (GitLab CI):
      kit fleet publish . --output kit-status.json
    """
    from ..commands.fleet import PublishOptions, publish

    to_stdout = str(output) == "-"
    result = publish(PublishOptions(project=project, output=None if to_stdout else output, check=not no_check))
    if to_stdout:
        emit_json(result.to_json())
    else:
        echo(f"Wrote {output} ({result.row.status})")
    return result.exit_code


@fleet_group.command("update", epilog=EXIT_CODES_HELP)
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option("--to", metavar="REF", help="Template version for every project (default: the newest release).")
@click.option("--branch", default="kit/template-update", show_default=True,
              help="Branch each update is committed on (created from the current branch).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help=JOBS_HELP)
@click.option("--dry-run", is_flag=True, help="Report what each update would do; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def update_command(*, sources: tuple[str, ...], to: str | None, branch: str, jobs: int | None, dry_run: bool,
                   as_json: bool) -> int:
    """Update every local project the SOURCEs name, each on a branch of its own.

    Each project is updated with `kit update` on BRANCH: a clean update is committed there
    and the project returns to the branch it was on; an update with conflicts stays on
    BRANCH with the conflict markers for a person to resolve. A project with uncommitted
    changes is left alone. Running it again is safe: up-to-date projects are reported as
    such. Exit 3 when any update left conflicts, 1 when any project failed.

    \b
    Examples:
      kit fleet update ~/projekte --dry-run
      kit fleet update fleet.toml --to v1.3.0 --branch kit/update-1.3
    """
    from ..commands.fleet import FleetUpdateOptions, update

    options = FleetUpdateOptions(sources=sources, to=to, branch=branch, dry_run=dry_run)
    if jobs is not None:
        options = FleetUpdateOptions(sources=sources, to=to, branch=branch, dry_run=dry_run, jobs=jobs)
    bar = ProgressBar("Updating projects")
    try:
        report = update(options, progress=bar)
    finally:
        bar.close()
    if as_json:
        emit_json(report.to_json())
        return report.exit_code
    for row in report.rows:
        m = row.municipality
        who = f"{m.name} ({m.ags})" if m else (row.name or "")
        moves = ", ".join(f"{mv.template} {mv.old} -> {mv.new}" for mv in row.moves)
        line = f"{row.outcome:<13} {row.location}"
        if who:
            line += f"  [{who}]"
        if moves:
            line += f"  {moves}"
        if row.branch and row.outcome in ("updated", "conflicts"):
            line += f"  on {row.branch}"
        echo(line)
        if row.conflicts:
            echo("    conflicts: " + ", ".join(row.conflicts))
        if row.message:
            echo(f"    {row.message}")
    summary = report.to_json()["summary"]
    echo(", ".join(f"{count} {outcome}" for outcome, count in summary.items() if count) or "no projects")
    return report.exit_code


@cli.command("catalog", epilog=EXIT_CODES_HELP)
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option("--search", "-s", metavar="TEXT", help="A LeiKa key (or its first digits), an OZG-ID, an AGS prefix, "
              "or words of the name, description or municipality; every word must match.")
@click.option("--format", "output_format", type=click.Choice(["text", "json", "markdown", "html"]), default="text",
              show_default=True, help="html: one self-contained, searchable page.")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), help="Write the catalogue to FILE.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help=JOBS_HELP)
def catalog_command(*, sources: tuple[str, ...], search: str | None, output_format: str, output: Path | None,
                    jobs: int | None) -> int:
    """List every service the SOURCEs hold, to find one another municipality built.

    Per service: municipality, LeiKa key, OZG-ID, description (publiccode.yml and the kit's
    metadata), template versions and repository URL. SOURCEs are as for `kit fleet status`.
    Exit 1 when a source cannot be read or the search matches nothing.

    \b
    Examples:
      kit catalog ~/projekte --search 99123456789012
      kit catalog fleet.toml --search "hunde steuer" --format json
      kit new --from https://gitlab.example/augsburg/hundesteuer.git hundesteuer -m 09162000
    """
    from ..commands.catalog import CatalogOptions, catalog
    from ..commands.fleet import check_output

    if output is not None:
        check_output(output)
    options = CatalogOptions(sources=sources, search=search)
    if jobs is not None:
        options = CatalogOptions(sources=sources, search=search, jobs=jobs)
    result = catalog(options)
    if output_format == "json":
        import json

        write_or_echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2) + "\n", output)
    elif output_format == "markdown":
        write_or_echo(result.to_markdown(), output)
    elif output_format == "html":
        write_or_echo(result.to_html(), output)
    else:
        lines = []
        for e in result.entries:
            m = e.municipality
            where = f"{m.name} ({m.ags})" if m else "?"
            ids = "  ".join(part for part in (f"LeiKa {e.leika_key}" if e.leika_key else "",
                                              f"OZG {e.ozg_id}" if e.ozg_id else "") if part)
            lines.append(f"{e.service}  [{where}]  {ids}".rstrip())
            if e.description:
                lines.append(f"    {e.description}")
            lines.append(f"    {e.versions}  {e.repository_url or e.location}")
        lines.extend(f"unreadable: {loc}: {error}" for loc, error in result.unreadable)
        matching = f" matching {result.search!r}" if result.search else ""
        lines.append(f"{len(result.entries)} of {result.total} services{matching}")
        write_or_echo("\n".join(lines) + "\n", output)
    return result.exit_code
