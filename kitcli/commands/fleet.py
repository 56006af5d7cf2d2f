"""``kit fleet``: every project at once, for cooperation coordinators.

``status`` reads projects (local checkouts, git URLs, directories of them, manifests, status
files published by the projects' CI) and reports per project its municipality, service,
template versions, how far behind it is, its divergence from the templates and its
``kit check`` summary. ``publish`` writes the status file a project's CI publishes.
``update`` updates many local projects, each on a branch of its own.

A broken project is a row with its error, never the end of the run.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import EXIT_CONFLICTS, EXIT_FINDINGS, EXIT_OK, UserError
from .._fleet import entries as _entries
from .._fleet import pool as _pool
from .._fleet import projects as _projects
from .._fleet import report as _report
from .._fleet import statusfile as _statusfile
from .._fleet import updating as _updating
from .._fleet.drift import Templates
from .._fleet.rows import Row, Summary, summarise
from .._fleet.updating import UpdateRow

REPORT_VERSION = 1

__all__ = [
    "FleetReport",
    "FleetStatusOptions",
    "FleetUpdateOptions",
    "FleetUpdateReport",
    "Progress",
    "PublishOptions",
    "PublishResult",
    "publish",
    "status",
    "update",
]


@dataclass(frozen=True)
class FleetStatusOptions:
    sources: tuple[str, ...]
    """Project directories, directories of projects, manifests, status files, git URLs."""
    jobs: int = field(default_factory=_pool.default_jobs)
    divergence: bool = True
    check: bool = True


@dataclass(frozen=True)
class Progress:
    """Reported after each project: how many are done, of how many, and the latest row."""

    done: int
    total: int
    row: Row


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class FleetReport:
    rows: tuple[Row, ...]
    generated_at: str

    @property
    def summary(self) -> Summary:
        return summarise(self.rows)

    @property
    def exit_code(self) -> int:
        """1 when any project has an error or findings (drift, failing checks), else 0."""
        return EXIT_FINDINGS if any(row.has_findings for row in self.rows) else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "generated_at": self.generated_at,
            "summary": self.summary.to_json(),
            "projects": [row.to_json() for row in self.rows],
        }

    def to_markdown(self) -> str:
        return _report.markdown(self.rows, self.summary, generated_at=self.generated_at)

    def to_html(self) -> str:
        return _report.html(self.rows, self.summary, generated_at=self.generated_at)


def check_sources(sources: tuple[str, ...], jobs: int) -> None:
    if not sources:
        raise UserError("no SOURCE given: pass project directories, directories of projects, manifests or status files")
    if jobs < 1:
        raise UserError(f"--jobs {jobs}: give at least 1")


def status(options: FleetStatusOptions, *, progress: ProgressCallback | None = None) -> FleetReport:
    """Read every project the sources name; rows come back in the order of the sources."""
    check_sources(options.sources, options.jobs)
    found = _entries.resolve(options.sources)
    settings = _projects.ReadOptions(divergence=options.divergence, check=options.check)
    runner = _pool.Runner(_projects.read, settings, on_error=_projects.failed)
    count = 0

    def done(_index: int, row: Row) -> None:
        nonlocal count
        count += 1
        if progress is not None:
            progress(Progress(done=count, total=len(found), row=row))

    rows = runner.run(found, jobs=options.jobs, done=done)
    return FleetReport(rows=tuple(rows), generated_at=_now())


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# --- publish ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishOptions:
    project: Path = Path()
    output: Path | None = None
    """Where to write the status file; None: only return it."""
    check: bool = True


@dataclass(frozen=True)
class PublishResult:
    document: dict[str, Any]
    output: Path | None
    row: Row

    @property
    def exit_code(self) -> int:
        return EXIT_FINDINGS if self.row.has_findings else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return self.document


def publish(options: PublishOptions) -> PublishResult:
    """The status file of one project (what its CI publishes for ``kit fleet status``)."""
    root = options.project.expanduser()
    if not root.is_dir():
        raise UserError(f"{options.project}: no such project directory; pass the project's root")
    if options.output is not None:
        check_output(options.output)
    root = root.resolve()
    entry = _entries.Entry(_entries.PROJECT, str(root), "argument")
    row = _projects.read(entry, _projects.ReadOptions(check=options.check), Templates())
    document = _statusfile.build(row)
    if options.output is not None:
        options.output.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return PublishResult(document=document, output=options.output, row=row)


def check_output(path: Path) -> None:
    """Refuse an output file whose directory does not exist, before any work is done."""
    parent = path.expanduser().absolute().parent
    if not parent.is_dir():
        raise UserError(f"--output {str(path)!r}: directory {str(parent)!r} does not exist; create it first")
    if path.is_dir():
        raise UserError(f"--output {str(path)!r} is a directory; give a file name")


# --- update ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetUpdateOptions:
    sources: tuple[str, ...]
    to: str | None = None
    """Target version for every project (default: each source's newest release)."""
    branch: str = _updating.DEFAULT_BRANCH
    jobs: int = field(default_factory=_pool.default_jobs)
    dry_run: bool = False


@dataclass(frozen=True)
class UpdateProgress:
    done: int
    total: int
    row: UpdateRow


@dataclass(frozen=True)
class FleetUpdateReport:
    rows: tuple[UpdateRow, ...]
    dry_run: bool

    def count(self, outcome: str) -> int:
        return sum(1 for row in self.rows if row.outcome == outcome)

    @property
    def exit_code(self) -> int:
        """3 when any update left conflicts, else 1 when any project failed, else 0."""
        if self.count("conflicts"):
            return EXIT_CONFLICTS
        return EXIT_FINDINGS if self.count("error") else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        outcomes = ("updated", "up-to-date", "would update", "conflicts", "skipped", "error")
        return {
            "version": REPORT_VERSION,
            "dry_run": self.dry_run,
            "summary": {outcome: self.count(outcome) for outcome in outcomes},
            "projects": [row.to_json() for row in self.rows],
        }


def update(
    options: FleetUpdateOptions, *, progress: Callable[[UpdateProgress], None] | None = None,
) -> FleetUpdateReport:
    """Update every local project the sources name, each on branch ``options.branch``."""
    check_sources(options.sources, options.jobs)
    if not options.branch.strip():
        raise UserError("--branch: give a branch name")
    from .. import _git
    from .update import require_ref

    if not _git.ok(Path.cwd(), "check-ref-format", "--branch", options.branch):
        raise UserError(f"--branch {options.branch!r} is no valid git branch name; pass one such as kit/update")
    require_ref(options.to)
    found = _entries.resolve(options.sources)
    settings = _updating.UpdateSettings(to=options.to, branch=options.branch, dry_run=options.dry_run)
    runner = _pool.Runner(_update_entry, settings, on_error=_update_failed)
    count = 0

    def done(_index: int, row: UpdateRow) -> None:
        nonlocal count
        count += 1
        if progress is not None:
            progress(UpdateProgress(done=count, total=len(found), row=row))

    rows = runner.run(found, jobs=options.jobs, done=done)
    return FleetUpdateReport(rows=tuple(rows), dry_run=options.dry_run)


def _update_entry(entry: _entries.Entry, settings: _updating.UpdateSettings, _templates: Templates) -> UpdateRow:
    return _updating.update_entry(entry, settings)


def _update_failed(entry: _entries.Entry, error: BaseException) -> UpdateRow:
    return UpdateRow(entry.location, entry.listed_in, "error",
                     message=f"unexpected {type(error).__name__} while updating it: {error}")
