"""``kit adopt`` and ``kit template import-cookiecutter``: bring existing work under the templates."""

from __future__ import annotations

from pathlib import Path

import click

from ._base import EXIT_CODES_HELP, echo, emit_json, print_warning
from ._template import template_group


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
