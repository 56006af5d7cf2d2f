"""``kit adopt`` and ``kit template import-cookiecutter``: bring existing work under the templates."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ._base import EXIT_CODES_HELP, cli, echo, emit_json, print_warning, stdin_is_terminal
from ._new import parse_data
from ._template import template_group

if TYPE_CHECKING:
    from ..commands.adopt import AdoptOptions, AdoptResult

STATUS_LETTER = {"added": "A", "changed": "M", "missing": "D"}


@cli.command("adopt", epilog=EXIT_CODES_HELP)
@click.argument("path", type=click.Path(path_type=Path, file_okay=False), default=".")
@click.option("-t", "--template", required=True, help="Template to link the project to (e.g. base, ozg-service).")
@click.option("-m", "--municipality", metavar="ID|AGS|NAME",
              help="Municipality: profile id, AGS or name (default: the one the project's files name).")
@click.option("-d", "--data", "data", multiple=True, metavar="KEY=VALUE",
              help="Answer a template question (repeatable); wins over what is read from the project.")
@click.option("--vcs-ref", metavar="REF", help="Adopt this template version instead of the closest release.")
@click.option("--source", metavar="PATH_OR_URL", help="Template repository (default as for `kit new`).")
@click.option("--replay", type=click.Path(path_type=Path, dir_okay=False),
              help="cookiecutter replay file with the project's answers (default: the project's .cruft.json).")
@click.option("--add-missing", is_flag=True,
              help="Also add the template's files the project lacks (never overwriting a file).")
@click.option("--dry-run", is_flag=True, help="Write nothing; show what adoption would do.")
@click.option("--defaults", is_flag=True, help="Ask nothing; questions nothing answers take the template's defaults.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def adopt_command(*, path: Path, template: str, municipality: str | None, data: tuple[str, ...],
                  vcs_ref: str | None, source: str | None, replay: Path | None, add_missing: bool,
                  dry_run: bool, defaults: bool, as_json: bool) -> int:
    """Link the existing project at PATH (a git repository) to a release of TEMPLATE.

    Answers are read from the project (publiccode.yml, kommune.toml, pyproject.toml, CODEOWNERS,
    and a cookiecutter project's .cruft.json through the template's [cookiecutter] mapping),
    completed from the municipality profile, --data and, on a terminal, by asking. The release
    the project is closest to (fewest differing lines) is chosen unless --vcs-ref names one.
    Only the answers file(s) are written (plus, with --add-missing, the template's files the
    project lacks); then the differences to the template are shown as `kit diff` sees them.
    Exit 0 once the project is linked, also when differences remain: declare them in kit.toml,
    and `kit diff` reports those left with exit 1.

    \b
    Examples:
      kit adopt . --template base --municipality augsburg --add-missing
      kit adopt ../hundesteuer --template ozg-service --dry-run
    """
    from ..commands.adopt import AdoptOptions, adopt

    options = AdoptOptions(
        project=path, template=template, municipality=municipality, data=parse_data(data), vcs_ref=vcs_ref,
        source=source, replay=replay, add_missing=add_missing, dry_run=dry_run,
    )
    if not defaults:
        if as_json or not stdin_is_terminal():
            raise click.UsageError("no terminal to ask the remaining questions on; pass --defaults "
                                   "(and --data KEY=VALUE for what the project does not tell)")
        options = _ask_remaining(options)
    result = adopt(options)
    for warning in result.warnings:
        print_warning(warning)
    if as_json:
        emit_json(result.to_json())
        return 0
    _show(result)
    return 0


def _ask_remaining(options: AdoptOptions) -> AdoptOptions:
    """Ask on the terminal for the questions nothing answered; an empty answer keeps the default."""
    from dataclasses import replace

    from ..commands.adopt import infer

    inference = infer(options)
    if not inference.unanswered:
        return options
    echo("Not found in the project (Enter keeps the template's default):", bold=True)
    given = dict(options.data)
    for key in inference.unanswered:
        value = click.prompt(f"  {key}", default="", show_default=False)
        if value:
            given[key] = value
    return replace(options, data=given)


def _show(result: AdoptResult) -> None:
    verb = "Would adopt" if result.dry_run else "Adopted"
    echo(f"{verb} {result.project} as {result.template} {result.version}", fg="green", bold=True)
    if len(result.candidates) > 1:
        echo("  closest release (differing lines): " + ", ".join(
            f"{c.version} {c.differing_lines}" for c in result.candidates))
    for layer in result.kept:
        echo(f"  {layer.template:<12} {layer.version:<20} {layer.answers_file} (kept)")
    for layer in result.layers:
        echo(f"  {layer.template:<12} {layer.version:<20} {layer.answers_file}")
    inference = result.inference
    if inference.origins:
        echo("Answers read:")
        for key, origin in sorted(inference.origins.items()):
            echo(f"  {key:<32} {origin}")
    if inference.recorded_from:
        echo(f"Recorded cookiecutter answers: {inference.recorded_from}")
    if inference.unmapped:
        echo("  not mapped to a question: " + ", ".join(inference.unmapped), fg="yellow")
    if result.added:
        echo(("Would add" if result.dry_run else "Added") + " the template's files the project lacked:")
        for relpath in result.added:
            echo(f"  {relpath}")
    echo("Differences from the template" + (" (estimated):" if result.dry_run else " (kit diff):"), bold=True)
    for entry in result.diff:
        counts = f"+{entry.added_lines} -{entry.removed_lines}"
        echo(f"  {STATUS_LETTER.get(entry.status, '?')} {entry.path:<40} {counts:>9}  {entry.ownership}",
             fg="red" if entry.finding else None)
    if not result.diff:
        echo("  none")
    echo("Next steps:", bold=True)
    for step in result.next_steps:
        echo(f"  {step}")


@template_group.command("import-cookiecutter", epilog=EXIT_CODES_HELP)
@click.argument("src", type=click.Path(path_type=Path, file_okay=False))
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--no-verify", is_flag=True,
              help="Do not render both templates with the default answers to compare them.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def import_cookiecutter_command(*, src: Path, dest: Path, no_verify: bool, as_json: bool) -> int:
    """Convert the cookiecutter template SRC into a Copier template at DEST.

    cookiecutter.json becomes copier.yml (strings, choices, booleans, derived defaults, private
    variables), `{{ cookiecutter.x }}` becomes `{{ x }}` in file names and contents, and
    _copy_without_render files are copied unrendered. Hooks are listed, not converted. Then both
    templates are rendered with the default answers and compared; exit 1 if any file differs.

    \b
    Example:
      kit template import-cookiecutter ../cookiecutter-hundesteuer templates/hundesteuer
    """
    from ..commands.import_cookiecutter import ImportOptions, import_cookiecutter

    result = import_cookiecutter(ImportOptions(src=src, dest=dest, verify=not no_verify))
    if as_json:
        emit_json(result.to_json())
        return 1 if result.mismatches else 0
    for warning in result.warnings:
        print_warning(warning)
    echo(f"Imported {result.src} into {result.dest}", fg="green", bold=True)
    echo(f"  {len(result.questions)} questions, {len(result.rendered)} rendered files, "
         f"{len(result.copied)} copied unrendered")
    renamed = [q for q in result.questions if q.name != q.source]
    for question in renamed:
        echo(f"  {question.source} -> {question.name} ({question.kind}, computed, never asked)")
    if result.hooks:
        echo("Hooks not converted:", fg="yellow")
        for hook in result.hooks:
            echo(f"  {hook.path}: {hook.summary}")
            for action, instead in zip(hook.actions, hook.instead, strict=True):
                echo(f"    {action}; in Copier: {instead}")
    if result.mismatches:
        echo("The Copier template renders differently from cookiecutter (default answers):", fg="red")
        for mismatch in result.mismatches:
            echo(f"  {mismatch}")
        return 1
    if result.verified:
        echo("Both render byte for byte the same files for the default answers.")
    return 0
