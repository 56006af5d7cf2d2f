"""One row per project: what the fleet knows about it, and the fleet's summary.

A row is the same whatever the project came from (a local checkout, a git URL, a status file
its CI published). A value the kit could not determine is ``None`` with the reason beside it,
never a guess.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._municipality import REGIERUNGSBEZIRKE


@dataclass(frozen=True)
class Municipality:
    ags: str
    name: str

    @property
    def regierungsbezirk(self) -> str:
        """Derived from the AGS (digit 3 in Bavaria); empty when the AGS is not Bavarian."""
        if len(self.ags) == 8 and self.ags.startswith("09"):
            return REGIERUNGSBEZIRKE.get(self.ags[2], "")
        return ""

    def to_json(self) -> dict[str, str]:
        return {"ags": self.ags, "name": self.name, "regierungsbezirk": self.regierungsbezirk}


@dataclass(frozen=True)
class TemplateVersion:
    """One template layer of a project and how far it is behind its source's newest release."""

    name: str
    version: str
    src_path: str
    latest: str | None = None
    behind: int | None = None
    """Releases newer than ``version``; None when the source could not be read."""
    unknown_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version, "src_path": self.src_path,
            "latest": self.latest, "behind": self.behind, "unknown_reason": self.unknown_reason,
        }


@dataclass(frozen=True)
class FileDivergence:
    path: str
    ownership: str
    """``managed`` (the template keeps it current), ``seeded`` (the project owns it) or
    ``unowned`` (rendered, but declared neither way), as ``kit diff`` reports it."""
    change: str
    """``changed``, ``missing`` or ``added``, as ``kit diff`` reports it."""
    declared: bool = False
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "ownership": self.ownership, "change": self.change,
                "declared": self.declared, "reason": self.reason}


@dataclass(frozen=True)
class Divergence:
    """How a project differs from its templates rendered with its own answers."""

    managed: int
    """Divergent files outside seeded paths (managed or unowned)."""
    seeded: int
    declared: int
    stale: int
    """Deviations declared in kit.toml that match no divergent file any more."""
    method: str
    """How it was found: ``shared render`` (every file matched the render shared by the
    projects of its template versions) or ``exact render`` (rendered for this project alone,
    compared with ``kit diff``'s rules)."""
    files: tuple[FileDivergence, ...] = ()

    @property
    def undeclared_managed(self) -> int:
        return sum(1 for f in self.files if f.ownership != "seeded" and not f.declared)

    def to_json(self) -> dict[str, Any]:
        return {
            "managed": self.managed, "seeded": self.seeded, "declared": self.declared,
            "stale": self.stale, "undeclared_managed": self.undeclared_managed,
            "method": self.method, "files": [f.to_json() for f in self.files],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Divergence:
        files = tuple(
            FileDivergence(
                path=str(item.get("path", "")), ownership=str(item.get("ownership", "managed")),
                change=str(item.get("change", "changed")), declared=bool(item.get("declared", False)),
                reason=item.get("reason") if isinstance(item.get("reason"), str) else None,
            )
            for item in data.get("files", []) if isinstance(item, dict)
        )
        return cls(
            managed=_int(data.get("managed")), seeded=_int(data.get("seeded")),
            declared=_int(data.get("declared")), stale=_int(data.get("stale")),
            method=str(data.get("method", "published")), files=files,
        )


@dataclass(frozen=True)
class CheckSummary:
    """The summary of ``kit check`` (counts as in its JSON report) and the failing codes."""

    passed: int
    failed: int
    warnings: int
    not_applicable: int = 0
    ignored: int = 0
    failed_codes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed, "failed": self.failed, "warnings": self.warnings,
            "not_applicable": self.not_applicable, "ignored": self.ignored,
            "failed_codes": list(self.failed_codes),
        }

    @classmethod
    def from_report_json(cls, data: Mapping[str, Any]) -> CheckSummary:
        """From ``kit check --format json`` (its ``summary`` and ``results``) or from a summary."""
        summary = data.get("summary", data)
        if not isinstance(summary, dict):
            summary = {}
        results = data.get("results", [])
        codes = tuple(
            str(r.get("code")) for r in results
            if isinstance(r, dict) and r.get("status") == "fail" and r.get("severity") == "error"
        ) if isinstance(results, list) else tuple(str(c) for c in data.get("failed_codes", []))
        return cls(
            passed=_int(summary.get("passed")), failed=_int(summary.get("failed")),
            warnings=_int(summary.get("warnings")), not_applicable=_int(summary.get("not_applicable")),
            ignored=_int(summary.get("ignored")), failed_codes=codes,
        )


@dataclass(frozen=True)
class ServiceInfo:
    """What the catalogue shows about a service (publiccode.yml and the kit's metadata)."""

    name: str = ""
    description: str = ""
    long_description: str = ""
    leika_key: str = ""
    ozg_id: str = ""
    repository_url: str = ""
    is_based_on: tuple[str, ...] = ()
    used_by: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "description": self.description,
            "long_description": self.long_description, "leika_key": self.leika_key,
            "ozg_id": self.ozg_id, "repository_url": self.repository_url,
            "is_based_on": list(self.is_based_on), "used_by": list(self.used_by),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServiceInfo:
        def text(key: str) -> str:
            value = data.get(key)
            return value if isinstance(value, str) else ""

        def texts(key: str) -> tuple[str, ...]:
            value = data.get(key)
            return tuple(str(v) for v in value) if isinstance(value, list) else ()

        return cls(
            name=text("name"), description=text("description"),
            long_description=text("long_description"), leika_key=text("leika_key"),
            ozg_id=text("ozg_id"), repository_url=text("repository_url"),
            is_based_on=texts("is_based_on"), used_by=texts("used_by"),
        )


@dataclass(frozen=True)
class Row:
    """One project of the fleet."""

    location: str
    """Where it was read: a directory, a git URL or a status file."""
    kind: str
    """``project`` (a local checkout), ``url`` (cloned into the cache) or ``status file``."""
    listed_in: str = ""
    """Which source named it: an argument, a directory or a manifest entry."""
    name: str | None = None
    service: str | None = None
    template: str | None = None
    url: str | None = None
    municipality: Municipality | None = None
    templates: tuple[TemplateVersion, ...] = ()
    divergence: Divergence | None = None
    divergence_unavailable: str | None = None
    check: CheckSummary | None = None
    check_unavailable: str | None = None
    last_commit: str | None = None
    generated_at: str | None = None
    """For a status file: when the project's CI wrote it."""
    info: ServiceInfo | None = None
    error: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def behind(self) -> int | None:
        """Releases behind, over all layers (the largest); None when any layer is unknown."""
        values = [t.behind for t in self.templates]
        if not values or any(v is None for v in values):
            return None
        return max(v for v in values if v is not None)

    @property
    def on_newest(self) -> bool:
        return self.behind == 0

    @property
    def drifting(self) -> bool:
        """Managed files differ from the template without a declared deviation."""
        return self.divergence is not None and self.divergence.undeclared_managed > 0

    @property
    def check_failed(self) -> bool:
        return self.check is not None and self.check.failed > 0

    @property
    def has_findings(self) -> bool:
        return self.error is not None or self.drifting or self.check_failed

    @property
    def status(self) -> str:
        """One word for the row: error, drifting, failing, behind, ok."""
        if self.error is not None:
            return "error"
        if self.drifting:
            return "drifting"
        if self.check_failed:
            return "failing"
        if self.behind:
            return "behind"
        return "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "kind": self.kind,
            "listed_in": self.listed_in,
            "status": self.status,
            "name": self.name,
            "service": self.service,
            "template": self.template,
            "url": self.url,
            "municipality": self.municipality.to_json() if self.municipality else None,
            "templates": [t.to_json() for t in self.templates],
            "behind": self.behind,
            "divergence": self.divergence.to_json() if self.divergence else None,
            "divergence_unavailable": self.divergence_unavailable,
            "check": self.check.to_json() if self.check else None,
            "check_unavailable": self.check_unavailable,
            "last_commit": self.last_commit,
            "generated_at": self.generated_at,
            "service_info": self.info.to_json() if self.info else None,
            "error": self.error,
            "notes": list(self.notes),
        }


def error_row(location: str, kind: str, listed_in: str, error: str, **known: Any) -> Row:
    return Row(location=location, kind=kind, listed_in=listed_in, error=error, **known)


@dataclass(frozen=True)
class Tally:
    total: int = 0
    on_newest: int = 0
    behind: int = 0
    drifting: int = 0
    failing_checks: int = 0
    errors: int = 0

    def to_json(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass(frozen=True)
class Summary:
    """The numbers at the top of every report: all projects, and per Regierungsbezirk."""

    overall: Tally
    by_regierungsbezirk: Mapping[str, Tally] = field(default_factory=dict)
    newest: Mapping[str, str] = field(default_factory=dict)
    """Per template: the newest release any source offers."""

    def to_json(self) -> dict[str, Any]:
        return {
            **self.overall.to_json(),
            "newest_releases": dict(self.newest),
            "by_regierungsbezirk": {k: v.to_json() for k, v in self.by_regierungsbezirk.items()},
        }


def _tally(rows: Iterable[Row]) -> Tally:
    counts: Counter[str] = Counter()
    for row in rows:
        counts["total"] += 1
        if row.error is not None:
            counts["errors"] += 1
            continue
        counts["on_newest"] += row.on_newest
        counts["behind"] += bool(row.behind)
        counts["drifting"] += row.drifting
        counts["failing_checks"] += row.check_failed
    return Tally(**counts)


UNKNOWN_BEZIRK = "unbekannt"


def summarise(rows: Iterable[Row]) -> Summary:
    rows = list(rows)
    order = [*REGIERUNGSBEZIRKE.values(), UNKNOWN_BEZIRK]
    groups: dict[str, list[Row]] = {}
    newest: dict[str, str] = {}
    for row in rows:
        bezirk = (row.municipality.regierungsbezirk if row.municipality else "") or UNKNOWN_BEZIRK
        groups.setdefault(bezirk, []).append(row)
        for layer in row.templates:
            if layer.latest:
                newest.setdefault(layer.name, layer.latest)
    return Summary(
        overall=_tally(rows),
        by_regierungsbezirk={name: _tally(groups[name]) for name in order if name in groups},
        newest=newest,
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
