"""The data pages are built from: kommune.toml (the municipality), service.toml (this service).

Both files are read at start-up. An empty value that a page needs is shown as a visible
placeholder („[fehlt: …]“) and reported by the go-live check (``python -m app.golive``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .theme import theme_problems

LEIKA_KEY = re.compile(r"^[0-9]{14}$")
AGS = re.compile(r"^09[1-7][0-9]{5}$")


class ContentError(RuntimeError):
    """kommune.toml or service.toml cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class Item:
    """One value a page or the delivery needs, with its label for placeholders and the check."""

    source: str  # "kommune" or "service"
    path: str  # dotted key in that file
    label_de: str
    label_en: str
    pattern: re.Pattern[str] | None = None
    hint: str = ""


# Everything the legal pages, the delivery metadata and the go-live check rely on.
REQUIRED_ITEMS: tuple[Item, ...] = (
    Item("kommune", "municipality.name", "Name der Kommune", "name of the municipality"),
    Item("kommune", "municipality.official_name", "Amtlicher Name der Kommune",
         "official name of the municipality"),
    Item("kommune", "municipality.ags", "Amtlicher Gemeindeschlüssel (AGS)",
         "official municipality key (AGS)", AGS, "8 Ziffern, in Bayern 091… bis 097…"),
    Item("kommune", "municipality.address.street", "Straße und Hausnummer", "street address"),
    Item("kommune", "municipality.address.postcode", "Postleitzahl", "postcode",
         re.compile(r"^[0-9]{5}$"), "5 Ziffern"),
    Item("kommune", "municipality.address.city", "Ort", "town"),
    Item("kommune", "municipality.email", "E-Mail-Adresse der Kommune",
         "e-mail address of the municipality"),
    Item("kommune", "municipality.phone", "Telefonnummer der Kommune",
         "telephone number of the municipality"),
    Item("kommune", "representative.title", "Amtsbezeichnung der Vertretung",
         "title of the legal representative"),
    Item("kommune", "representative.name", "Name der Vertretung",
         "name of the legal representative"),
    Item("kommune", "imprint.supervisory_authority", "Rechtsaufsichtsbehörde",
         "supervisory authority"),
    Item("kommune", "imprint.content_responsible", "Inhaltlich verantwortlich",
         "person responsible for content"),
    Item("kommune", "data_protection_officer.name", "Datenschutzbeauftragte/r",
         "data protection officer"),
    Item("kommune", "data_protection_officer.email", "E-Mail der/des Datenschutzbeauftragten",
         "e-mail of the data protection officer"),
    Item("kommune", "accessibility_contact.email", "E-Mail für Rückmeldungen zur Barrierefreiheit",
         "e-mail for accessibility feedback"),
    Item("service", "service.leika_key", "LeiKa-Leistungsschlüssel", "LeiKa service key",
         LEIKA_KEY, "14 Ziffern"),
    Item("service", "accessibility.assessment_date", "Datum der Prüfung der Barrierefreiheit",
         "date of the accessibility assessment", re.compile(r"^\d{4}-\d{2}-\d{2}$"),
         "JJJJ-MM-TT"),
    Item("service", "accessibility.enforcement.contact",
         "Kontakt der Durchsetzungsstelle (Anschrift oder Website)",
         "contact of the enforcement body (address or website)"),
)

ITEMS_BY_KEY = {f"{item.source}:{item.path}": item for item in REQUIRED_ITEMS}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ContentError(f"{path} fehlt.") from None
    except tomllib.TOMLDecodeError as error:
        raise ContentError(f"{path} ist kein gültiges TOML: {error}") from None


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """The value at dotted *path* in *data*, or ``""`` when any part is absent."""
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return ""
        node = node[part]
    return node


@dataclass(frozen=True)
class Content:
    """kommune.toml and service.toml as read at start-up."""

    kommune: Mapping[str, Any]
    service: Mapping[str, Any]

    @classmethod
    def load(cls, kommune_file: Path, service_file: Path) -> Content:
        return cls(kommune=_read_toml(kommune_file), service=_read_toml(service_file))

    def value(self, source: str, path: str) -> Any:
        return lookup(self.kommune if source == "kommune" else self.service, path)

    def text(self, source: str, path: str) -> str:
        value = self.value(source, path)
        return value.strip() if isinstance(value, str) else ""

    @property
    def municipality_name(self) -> str:
        return self.text("kommune", "municipality.official_name") or self.text(
            "kommune", "municipality.name"
        )

    @property
    def theme(self) -> tuple[str, str]:
        return self.text("kommune", "theme.primary"), self.text("kommune", "theme.on_primary")

    def localized(self, path: str, lang: str) -> Any:
        """A service.toml value that may be given per language (``{de = …, en = …}``)."""
        value = lookup(self.service, path)
        if isinstance(value, Mapping) and ("de" in value or "en" in value):
            value = value.get(lang) or value.get("de", "")
        return self._fill(value)

    def _fill(self, value: Any) -> Any:
        # Service texts name the municipality as {municipality} so that service.toml stays the
        # same for every municipality; the name comes from kommune.toml.
        if isinstance(value, str):
            return value.replace("{municipality}", self.municipality_name or "")
        if isinstance(value, list):
            return [self._fill(item) for item in value]
        return value

    def missing_items(self) -> list[tuple[Item, str]]:
        """Every required item that is empty or malformed, with the reason (German)."""
        found: list[tuple[Item, str]] = []
        for item in REQUIRED_ITEMS:
            value = self.text(item.source, item.path)
            file_name = f"{item.source}.toml"
            if not value:
                found.append((item, f"{file_name}: {item.path} ist leer"))
            elif item.pattern and not item.pattern.match(value):
                found.append((item, f"{file_name}: {item.path}={value!r} ({item.hint})"))
        theme = Item("kommune", "theme", "Farben", "colours")
        found.extend((theme, f"kommune.toml: {problem}") for problem in theme_problems(*self.theme))
        return found
