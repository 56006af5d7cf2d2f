"""``kit municipality import|search|show``."""

from __future__ import annotations

from pathlib import Path

import click

from ._base import EXIT_CODES_HELP, cli, echo, emit_json


@cli.group("municipality", epilog=EXIT_CODES_HELP)
def municipality_group() -> None:
    """Find municipalities: shipped profiles and the imported official registry."""


@municipality_group.command("import", epilog=EXIT_CODES_HELP)
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--kreise",
    type=click.Path(path_type=Path, dir_okay=False),
    help="CSV of Kreise (kreis_ags,name): lets the kit name the Landratsamt.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def import_command(*, file: Path, kreise: Path | None, as_json: bool) -> None:
    """Import the official list of municipalities from FILE (CSV with columns ags,name;
    optional kind, kreis_ags). Replaces the previous registry only when every row is valid."""
    from .._municipality import import_registry

    report = import_registry(file, kreise_path=kreise)
    if as_json:
        emit_json(vars(report))
        return
    echo(
        f"Imported {report.municipalities} municipalities"
        + (f" and {report.kreise} Kreise" if report.kreise else "")
        + f" into {report.registry}"
    )


@municipality_group.command("search", epilog=EXIT_CODES_HELP)
@click.argument("text")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Show at most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def search_command(*, text: str, limit: int, as_json: bool) -> None:
    """Search municipalities by part of the name or by AGS prefix. Exit 1 when nothing matches."""
    from .._municipality import search

    matches = search(text, limit=limit)
    if as_json:
        emit_json([vars(m) for m in matches])
    else:
        for m in matches:
            profile = f"  profile: {m.profile_id}" if m.profile_id else ""
            echo(f"{m.ags or '-':<9} {m.official_name:<40} {m.regierungsbezirk}{profile}")
        if not matches:
            echo(f"no municipality matches {text!r}")
    if not matches:
        raise click.exceptions.Exit(1)


@municipality_group.command("show", epilog=EXIT_CODES_HELP)
@click.argument("query", metavar="AGS|ID|NAME")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def show_command(*, query: str, as_json: bool) -> None:
    """Show the profile the kit would use for a municipality (shipped, user or from the registry)."""
    from .._municipality import enrich, resolve

    profile = enrich(resolve(query))
    if as_json:
        emit_json(profile.to_dict())
        return
    for key, value in profile.to_answers().items():
        shown = value
        if not value and key == "municipality_kreis" and profile.kind == "Kreisfreie Stadt":
            shown = "(kreisfrei)"
        echo(f"{key:<32} {shown or '[fehlt]'}")
    echo(f"{'origin':<32} {profile.origin}")
