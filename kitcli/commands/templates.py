"""``kit templates``: the templates a source serves, with versions and descriptions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import _git, _source, _templateset


@dataclass(frozen=True)
class TemplateEntry:
    name: str
    description: str
    extends: tuple[str, ...]


@dataclass(frozen=True)
class TemplateListing:
    source: str
    latest_release: str | None
    releases: tuple[str, ...]
    commit: str
    templates: tuple[TemplateEntry, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "latest_release": self.latest_release,
            "releases": list(self.releases),
            "commit": self.commit,
            "templates": [
                {
                    "name": t.name,
                    "description": t.description,
                    "extends": list(t.extends),
                    "version": self.latest_release or self.commit,
                }
                for t in self.templates
            ],
        }


def list_templates(location: str | None = None) -> TemplateListing:
    source = _source.open_source(location)
    ref = source.resolve(None)
    tset = _templateset.load(source, ref)
    return TemplateListing(
        source=source.location,
        latest_release=source.latest_release(),
        releases=tuple(source.releases()),
        commit=_git.describe(source.checkout, ref),
        templates=tuple(
            TemplateEntry(info.name, info.description, info.extends)
            for info in sorted(tset.templates.values(), key=lambda i: (bool(i.extends), i.name))
        ),
    )
