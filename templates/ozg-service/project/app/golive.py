"""Go-live check: ``python -m app.golive`` lists every item still missing before the service may
go live, and exits with 1 until none is left (0 then, 2 if a file cannot be read).

It checks kommune.toml and service.toml (the values the legal pages and the delivery metadata need,
the colour contrast) and that form.toml is valid and no longer the kit's sample form. In
production the service refuses to start while anything is listed (see app/main.py), unless
SERVICE_STAGING=true marks a test system.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from .content import Content, ContentError
from .forms import FormDefinitionError, load_form
from .settings import PROJECT_ROOT


@dataclass(frozen=True)
class Finding:
    label: str
    detail: str


def findings(kommune_file: Path, service_file: Path, form_file: Path) -> list[Finding]:
    """Everything still missing; empty when the service may go live."""
    content = Content.load(kommune_file, service_file)
    found = [Finding(item.label_de, reason) for item, reason in content.missing_items()]
    try:
        form = load_form(form_file)
    except FormDefinitionError as error:
        found.append(Finding("Formular", str(error)))
    else:
        if form.sample:
            found.append(Finding("Formular", "form.toml ist noch das Beispielformular des Kits "
                                 "([form] sample = true): Felder an den Dienst anpassen, dann "
                                 "die Zeile sample = true löschen"))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.golive",
        description="Prüft, ob alle Angaben für den Produktivbetrieb vorhanden sind.",
    )
    parser.add_argument("--kommune", type=Path, default=PROJECT_ROOT / "kommune.toml")
    parser.add_argument("--service", type=Path, default=PROJECT_ROOT / "service.toml")
    parser.add_argument("--form", type=Path, default=PROJECT_ROOT / "form.toml")
    args = parser.parse_args(argv)
    try:
        found = findings(args.kommune, args.service, args.form)
    except ContentError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    if not found:
        sys.stdout.write("Go-live-Prüfung bestanden: alle Angaben sind vollständig.\n")
        return 0
    sys.stdout.write(f"Go-live-Prüfung: {len(found)} Angabe(n) fehlen oder sind fehlerhaft:\n")
    for finding in found:
        sys.stdout.write(f"  - {finding.label}: {finding.detail}\n")
    sys.stdout.write("Bitte in kommune.toml, service.toml bzw. form.toml ergänzen und erneut "
                     "prüfen.\n")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
