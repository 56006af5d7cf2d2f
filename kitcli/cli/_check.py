"""``kit check``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ._base import EXIT_CODES_HELP, cli, echo, emit_json

if TYPE_CHECKING:
    from ..commands.check import CheckReport

_STYLE: dict[str, dict[str, Any]] = {
    "pass": {"fg": "green"},
    "error": {"fg": "red", "bold": True},
    "warning": {"fg": "yellow"},
    "not_applicable": {"dim": True},
    "ignored": {"fg": "cyan"},
}
_LABEL = {"pass": "pass", "error": "FAIL", "warning": "warn", "not_applicable": "n/a", "ignored": "ignored"}


@cli.command("check", epilog=EXIT_CODES_HELP)
@click.argument("path", type=click.Path(path_type=Path), default=Path(), required=False)
@click.option("--select", "select", multiple=True, metavar="CODES",
              help="Run only these rules: comma-separated codes or prefixes, e.g. KIT2,KIT301.")
@click.option("--ignore", "ignore", multiple=True, metavar="CODES",
              help="Report these rules as ignored instead of running them (codes or prefixes). "
                   "Permanent ignores with a reason go into kit.toml ([[check.ignore]]).")
@click.option("--format", "output_format", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="json: the documented report; markdown: for CI job summaries.")
@click.option("--strict", is_flag=True,
              help="Go-live readiness: go-live rules (placeholders, incomplete data) fail as errors. "
                   "Same as [check] strict = true in kit.toml.")
def check_command(*, path: Path, select: tuple[str, ...], ignore: tuple[str, ...], output_format: str,
                  strict: bool) -> int:
    """Check that the project at PATH (default: here) meets the cooperation's standards.

    Every rule has a stable code (KIT101 ...) and a docs page that explains the fix:
    repository files (KIT1xx), publiccode.yml (KIT2xx), REUSE (KIT3xx), CI and bots (KIT4xx),
    online services (KIT5xx), template currency and drift (KIT6xx). Rules that do not apply
    to the project say so. Exit 1 when a rule at error level fails; warnings keep exit 0.

    \b
    Examples:
      kit check
      kit check --select KIT2 --format json
      kit check --strict          # before going live
    """
    from ..commands.check import CheckOptions, check

    report = check(CheckOptions(project=path, select=select, ignore=ignore, strict=strict))
    if output_format == "json":
        emit_json(report.to_json())
    elif output_format == "markdown":
        click.echo(report.to_markdown())
    else:
        render_text(report)
    return report.exit_code


def _kind(result: Any) -> str:
    if result.status == "fail":
        return str(result.severity)
    return str(result.status)


def render_text(report: CheckReport) -> None:
    from ..commands.check import family_titles

    titles = family_titles()
    current = None
    for result in report.results:
        if result.family != current:
            current = result.family
            echo()
            echo(titles.get(current, current), bold=True)
        kind = _kind(result)
        line = f"  {click.style(f'{_LABEL[kind]:<7}', **_STYLE[kind])} {result.code}  {result.description}"
        echo(line)
        if kind in ("error", "warning"):
            where = f" [{result.location}]" if result.location else ""
            echo(f"           {result.message}{where}")
            echo(f"           see {result.docs}", dim=True)
        elif kind == "not_applicable":
            echo(f"           {result.message}", dim=True)
        elif kind == "ignored":
            echo(f"           ignored: {result.ignore_reason}", fg="cyan")
    s = report.summary
    echo()
    verdict = (click.style("failed", fg="red", bold=True) if report.exit_code
               else click.style("passed", fg="green", bold=True))
    strict = " (strict)" if report.strict else ""
    echo(f"kit check {verdict}{strict}: {s.failed} failed, {s.warnings} warning(s), {s.passed} passed, "
         f"{s.not_applicable} not applicable, {s.ignored} ignored")
