"""``kit catalog``: which municipality runs which service, to find one to reuse.

Every service with its municipality, LeiKa key, OZG-ID, description (publiccode.yml and the
kit's metadata), template version and repository URL, read from the same sources as
``kit fleet status`` (directories, manifests, git URLs, published status files). ``search``
matches a LeiKa key (or its first digits), an OZG-ID, an AGS prefix, or words in the name,
description and municipality, accents and case ignored; every word must match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from .._errors import EXIT_FINDINGS, EXIT_OK, UserError
from .._fleet import entries as _entries
from .._fleet import pool as _pool
from .._fleet import projects as _projects
from .._fleet.rows import Municipality, Row
from .._municipality import fold
from .._version import __version__
from .fleet import check_sources

LEIKA_URN = "urn:de:fim:leika:leistung:"

__all__ = ["Catalog", "CatalogEntry", "CatalogOptions", "catalog"]


@dataclass(frozen=True)
class CatalogOptions:
    sources: tuple[str, ...]
    search: str | None = None
    jobs: int = field(default_factory=_pool.default_jobs)


@dataclass(frozen=True)
class CatalogEntry:
    service: str
    municipality: Municipality | None
    leika_key: str
    ozg_id: str
    description: str
    long_description: str
    template: str
    versions: str
    """Each template layer and its version, e.g. ``base v1.2.0, ozg-service v1.2.0``."""
    repository_url: str
    location: str
    is_based_on: tuple[str, ...] = ()
    used_by: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "municipality": self.municipality.to_json() if self.municipality else None,
            "leika_key": self.leika_key, "ozg_id": self.ozg_id,
            "description": self.description, "long_description": self.long_description,
            "template": self.template, "versions": self.versions,
            "repository_url": self.repository_url, "location": self.location,
            "is_based_on": list(self.is_based_on), "used_by": list(self.used_by),
        }

    def haystack(self) -> str:
        m = self.municipality
        return fold(" ".join((
            self.service, self.description, self.long_description, self.template,
            m.name if m else "", m.regierungsbezirk if m else "",
        )))

    def matches(self, query: str) -> bool:
        """Every word of *query* matches: digits a LeiKa key, OZG-ID or AGS, text the words."""
        haystack = self.haystack()
        for raw in query.split():
            word = raw.removeprefix(LEIKA_URN)
            if word.isdigit():
                ags = self.municipality.ags if self.municipality else ""
                if not (self.leika_key.startswith(word) or self.ozg_id == word or ags.startswith(word)):
                    return False
            elif fold(word) not in haystack:
                return False
        return True


@dataclass(frozen=True)
class Catalog:
    entries: tuple[CatalogEntry, ...]
    unreadable: tuple[tuple[str, str], ...]
    """Sources that could not be read: location and reason."""
    search: str | None = None
    total: int = 0
    """Services read, before the search."""

    @property
    def exit_code(self) -> int:
        """1 when a source could not be read or the search matched nothing, else 0."""
        return EXIT_FINDINGS if self.unreadable or (self.search and not self.entries) else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "search": self.search,
            "total": self.total,
            "matches": len(self.entries),
            "services": [entry.to_json() for entry in self.entries],
            "unreadable": [{"location": loc, "error": error} for loc, error in self.unreadable],
        }

    def to_markdown(self) -> str:
        lines = ["## Service catalogue", ""]
        matching = f" matching {self.search!r}" if self.search else ""
        lines.append(f"{len(self.entries)} of {self.total} services{matching}.")
        lines += ["", "| Service | Municipality | AGS | LeiKa key | OZG-ID | Description | Versions | Repository |",
                  "|---|---|---|---|---|---|---|---|"]
        for e in self.entries:
            m = e.municipality
            cells = [e.service, m.name if m else "", m.ags if m else "", e.leika_key, e.ozg_id, e.description,
                     e.versions, e.repository_url]
            lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
        if self.unreadable:
            lines += ["", "Could not be read:", ""] + [f"- {loc}: {error}" for loc, error in self.unreadable]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        from jinja2 import Environment, select_autoescape

        source = (resources.files("kitcli") / "reports" / "catalog.html.jinja").read_text(encoding="utf-8")
        environment = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
        return environment.from_string(source).render(catalog=self, kit_version=__version__)


def entry_of(row: Row) -> CatalogEntry:
    info = row.info
    return CatalogEntry(
        service=(info.name if info and info.name else None) or row.service or row.name or row.location,
        municipality=row.municipality,
        leika_key=info.leika_key if info else "",
        ozg_id=info.ozg_id if info else "",
        description=info.description if info else "",
        long_description=info.long_description if info else "",
        template=row.template or "",
        versions=", ".join(f"{t.name} {t.version}" for t in row.templates),
        repository_url=(info.repository_url if info and info.repository_url else None) or row.url or "",
        location=row.location,
        is_based_on=info.is_based_on if info else (),
        used_by=info.used_by if info else (),
    )


def catalog(options: CatalogOptions) -> Catalog:
    """Read the services the sources name, and keep those matching ``options.search``."""
    if options.search is not None and not any(char.isalnum() for char in options.search):
        raise UserError(
            f"--search {options.search!r} has no letter or digit, so it would match every service; "
            "search for a service, municipality, AGS or LeiKa key, or leave --search out"
        )
    check_sources(options.sources, options.jobs)
    found = _entries.resolve(options.sources)
    settings = _projects.ReadOptions(divergence=False, check=False)
    rows = _pool.Runner(_projects.read, settings, on_error=_projects.failed).run(found, jobs=options.jobs)
    readable = [row for row in rows if row.error is None or row.info is not None]
    unreadable = tuple((row.location, row.error or "") for row in rows if row not in readable)
    every = sorted((entry_of(row) for row in readable),
                   key=lambda e: (fold(e.service), e.municipality.ags if e.municipality else ""))
    query = (options.search or "").strip()
    chosen = [e for e in every if e.matches(query)] if query else every
    return Catalog(entries=tuple(chosen), unreadable=unreadable, search=query or None, total=len(every))
