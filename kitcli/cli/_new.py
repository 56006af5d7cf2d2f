"""``kit new`` and ``kit templates``."""

from __future__ import annotations

from pathlib import Path

import click

from ._base import EXIT_CODES_HELP, cli, echo, emit_json, print_warning, stdin_is_terminal


def parse_data(values: tuple[str, ...]) -> dict[str, str]:
    data: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--data")
        data[key.strip()] = value
    return data


@cli.command("new", epilog=EXIT_CODES_HELP)
@click.argument("template")
@click.argument("dest", type=click.Path(path_type=Path), required=False)
@click.option("--from", "origin", metavar="PROJECT_OR_URL",
              help="Reuse this project's service for --municipality (then give only DEST): same code and form, "
                   "the new municipality's data, publiccode.yml isBasedOn pointing to it.")
@click.option("-m", "--municipality", metavar="ID|AGS|NAME", help="Municipality: profile id, AGS or name.")
@click.option(
    "-d", "--data", "data", multiple=True, metavar="KEY=VALUE", help="Answer a template question (repeatable)."
)
@click.option(
    "--data-file", type=click.Path(path_type=Path, dir_okay=False), help="Answers from a YAML, JSON or TOML file."
)
@click.option("--defaults", is_flag=True, help="Ask nothing; take defaults for unanswered questions.")
@click.option(
    "--source",
    metavar="PATH_OR_URL",
    help="Template repository (default: KIT_SOURCE, the configured source, or this kit's repository).",
)
@click.option(
    "--vcs-ref", metavar="REF", help="Template version: a tag, branch or commit (default: the newest release)."
)
@click.option("--no-git", is_flag=True, help="Do not initialise a git repository.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def new_command(
    *,
    template: str,
    dest: Path | None,
    origin: str | None,
    municipality: str | None,
    data: tuple[str, ...],
    data_file: Path | None,
    defaults: bool,
    source: str | None,
    vcs_ref: str | None,
    no_git: bool,
    as_json: bool,
) -> None:
    """Generate a new project from TEMPLATE into DEST (which must not exist or be empty).

    Every answer is validated before anything is written; the project is rendered in a
    temporary directory and moved into place, so an error or Ctrl-C leaves nothing behind.

    \b
    Examples:
      kit new ozg-service hundesteuer --municipality augsburg --defaults
      kit new --from ../hundesteuer-augsburg hundesteuer-muenchen --municipality muenchen
    """
    from ..commands.new import NewOptions, new

    if dest is None:
        if origin is None:
            raise click.UsageError("Missing argument 'DEST'.")
        template, dest = "", Path(template)

    result = new(
        NewOptions(
            template=template,
            dest=dest,
            municipality=municipality,
            data=parse_data(data),
            data_file=data_file,
            defaults=defaults,
            source=source,
            vcs_ref=vcs_ref,
            git=not no_git,
            interactive=stdin_is_terminal(),
            origin=origin,
        )
    )
    for warning in result.warnings:
        print_warning(warning)
    if as_json:
        emit_json(result.to_json())
        return
    who = f" for {result.municipality.official_name or result.municipality.name}" if result.municipality else ""
    echo(f"Created {result.dest}{who}", fg="green", bold=True)
    for layer in result.layers:
        echo(f"  {layer.template:<12} {layer.version:<20} {layer.answers_file}")
    if result.missing:
        echo("Missing municipality data (shown as placeholders until filled in):", fg="yellow")
        echo("  " + ", ".join(result.missing))
    echo("Next steps:", bold=True)
    for step in result.next_steps:
        echo(f"  {step}")


@cli.command("templates", epilog=EXIT_CODES_HELP)
@click.option("--source", metavar="PATH_OR_URL", help="Template repository (default as for `kit new`).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def templates_command(*, source: str | None, as_json: bool) -> None:
    """List the templates of the template set with their versions and descriptions."""
    from ..commands.templates import list_templates

    listing = list_templates(source)
    if as_json:
        emit_json(listing.to_json())
        return
    version = listing.latest_release or f"untagged (commit {listing.commit})"
    echo(f"Template source: {listing.source}")
    echo(f"Newest release:  {version}")
    for item in listing.templates:
        layers = f" (applied on {', '.join(item.extends)})" if item.extends else ""
        echo(f"  {item.name:<14} {item.description}{layers}")
