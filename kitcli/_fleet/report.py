"""The fleet as Markdown (for CI summaries and issues) and as one self-contained HTML file.

Both are rendered from the same cells, so the columns never disagree. The HTML report loads
nothing from anywhere (inline CSS and script, a Content-Security-Policy that forbids every
other source), so it can be mailed, archived and opened offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from .._version import __version__
from .rows import Row, Summary


@dataclass(frozen=True)
class Column:
    title: str
    numeric: bool = False


@dataclass(frozen=True)
class Cell:
    text: str
    sort: str
    css: str = ""
    lines: tuple[str, ...] = ()


COLUMNS = (
    Column("Municipality"),
    Column("AGS"),
    Column("Regierungsbezirk"),
    Column("Service"),
    Column("Templates"),
    Column("Behind", numeric=True),
    Column("Managed", numeric=True),
    Column("Seeded", numeric=True),
    Column("Declared", numeric=True),
    Column("Check failed", numeric=True),
    Column("Warnings", numeric=True),
    Column("Last commit"),
    Column("Status"),
    Column("Details"),
)
NOT_AVAILABLE = "n/a"


def _number(value: int | None, *, highlight: bool = False) -> Cell:
    if value is None:
        return Cell(NOT_AVAILABLE, "", "num muted")
    return Cell(str(value), str(value), "num status-drifting" if highlight and value else "num")


def cells(row: Row) -> list[Cell]:
    m = row.municipality
    div = row.divergence
    check = row.check
    templates = ", ".join(f"{t.name} {t.version}" for t in row.templates)
    details = [row.error] if row.error else []
    if div is not None:
        details += [f"{f.path}: {f.change} ({f.ownership}{', declared' if f.declared else ''})" for f in div.files]
    elif row.divergence_unavailable and row.error is None:
        details.append(f"divergence: {row.divergence_unavailable}")
    if check is not None and check.failed_codes:
        details.append("check failed: " + ", ".join(check.failed_codes))
    elif check is None and row.check_unavailable and row.error is None:
        details.append(f"check: {row.check_unavailable}")
    details += [f"{t.name}: {t.unknown_reason}" for t in row.templates if t.unknown_reason]
    details += list(row.notes)
    if row.generated_at:
        details.append(f"from a status file written {row.generated_at}")
    return [
        Cell(m.name if m else "", m.name if m else ""),
        Cell(m.ags if m else "", m.ags if m else ""),
        Cell(m.regierungsbezirk if m else "", m.regierungsbezirk if m else ""),
        Cell(row.service or row.name or row.location, row.service or row.name or row.location),
        Cell(templates, templates),
        _number(row.behind),
        _number(div.managed if div else None, highlight=row.drifting),
        _number(div.seeded if div else None),
        _number(div.declared if div else None),
        _number(check.failed if check else None, highlight=True),
        _number(check.warnings if check else None),
        Cell(row.last_commit or "", row.last_commit or ""),
        Cell(row.status, row.status, f"status-{row.status}"),
        Cell("; ".join(details), "; ".join(details), lines=tuple(details)),
    ]


def html(rows: Sequence[Row], summary: Summary, *, generated_at: str) -> str:
    from jinja2 import Environment, select_autoescape

    source = (resources.files("kitcli") / "reports" / "fleet.html.jinja").read_text(encoding="utf-8")
    environment = Environment(autoescape=select_autoescape(default=True, default_for_string=True),
                              keep_trailing_newline=True)
    return environment.from_string(source).render(
        rows=[cells(row) for row in rows], columns=COLUMNS, summary=summary,
        generated_at=generated_at, kit_version=__version__,
    )


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(rows: Sequence[Row], summary: Summary, *, generated_at: str) -> str:
    o = summary.overall
    lines = [
        "## Fleet status",
        "",
        f"{o.total} projects: {o.on_newest} on the newest release, {o.behind} behind, {o.drifting} drifting, "
        f"{o.failing_checks} with failing checks, {o.errors} errors (generated {generated_at}).",
        "",
    ]
    if summary.newest:
        lines += ["Newest releases: " + ", ".join(f"{k} {v}" for k, v in summary.newest.items()), ""]
    lines += [
        "| Regierungsbezirk | Projects | On newest | Behind | Drifting | Failing checks | Errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {name} | {t.total} | {t.on_newest} | {t.behind} | {t.drifting} | {t.failing_checks} | {t.errors} |"
        for name, t in summary.by_regierungsbezirk.items()
    ]
    lines += ["", "| " + " | ".join(c.title for c in COLUMNS) + " |",
              "|" + "|".join("---:" if c.numeric else "---" for c in COLUMNS) + "|"]
    lines += ["| " + " | ".join(_md(cell.text) for cell in cells(row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"
