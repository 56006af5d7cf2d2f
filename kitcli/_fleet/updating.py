"""Updating one local project of the fleet on a branch of its own (``kit fleet update``).

The update itself is ``kit update`` (:mod:`kitcli.commands.update`), which refuses what cannot end
well, snapshots the project and restores it on any error. Around it this module adds the branch:
a clean update is committed on the update branch and the project goes back to the branch it was
on; an update with conflicts stays on the update branch with the markers for a person to resolve.
Running it again finds the branch, and an update that is already there is reported as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import _answers, _git, _lock
from .._errors import KitError, UserError
from . import entries
from .rows import Municipality

DEFAULT_BRANCH = "kit/template-update"


@dataclass(frozen=True)
class UpdateSettings:
    to: str | None = None
    branch: str = DEFAULT_BRANCH
    dry_run: bool = False


@dataclass(frozen=True)
class Move:
    template: str
    old: str
    new: str

    def to_json(self) -> dict[str, str]:
        return {"template": self.template, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class UpdateRow:
    location: str
    listed_in: str
    outcome: str
    """``updated``, ``up-to-date``, ``would update``, ``conflicts``, ``skipped`` or ``error``."""
    name: str | None = None
    municipality: Municipality | None = None
    branch: str | None = None
    moves: tuple[Move, ...] = ()
    commit: str | None = None
    conflicts: tuple[str, ...] = ()
    files: int = 0
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "location": self.location, "listed_in": self.listed_in, "outcome": self.outcome,
            "name": self.name, "municipality": self.municipality.to_json() if self.municipality else None,
            "branch": self.branch, "moves": [m.to_json() for m in self.moves], "commit": self.commit,
            "conflicts": list(self.conflicts), "files": self.files, "message": self.message,
        }


def update_entry(entry: entries.Entry, settings: UpdateSettings) -> UpdateRow:
    if entry.error is not None:
        return UpdateRow(entry.location, entry.listed_in, "error", message=entry.error)
    if entry.kind != entries.PROJECT:
        return UpdateRow(entry.location, entry.listed_in, "skipped", message=(
            f"not a local checkout ({entry.kind}): kit fleet update works on local projects; "
            "remote projects update in their own CI (the template-update job)"
        ))
    project = Path(entry.location)
    name, municipality = _identity(project)
    row = UpdateRow(entry.location, entry.listed_in, "error", name=name, municipality=municipality)
    try:
        return _update(project, settings, row)
    except KitError as error:
        return UpdateRow(**{**vars(row), "outcome": "error", "message": str(error)})


def _identity(project: Path) -> tuple[str | None, Municipality | None]:
    try:
        values: dict[str, Any] = {}
        for layer in _answers.read_all(project):
            values.update(layer.user_answers)
    except KitError:
        return None, None
    ags, name = str(values.get("municipality_ags") or ""), str(values.get("municipality_name") or "")
    return (str(values.get("project_slug") or "") or None), (Municipality(ags, name) if ags or name else None)


def _update(project: Path, settings: UpdateSettings, row: UpdateRow) -> UpdateRow:
    from ..commands.update import UpdateOptions, update

    if settings.dry_run:
        result = update(UpdateOptions(project=project, to=settings.to, dry_run=True))
        outcome = "up-to-date" if result.action == "up-to-date" else "would update"
        return _row(row, result, outcome, branch=None)
    with _lock.project(project, command="kit fleet update"):
        return _update_on_branch(project, settings, row)


def _update_on_branch(project: Path, settings: UpdateSettings, row: UpdateRow) -> UpdateRow:
    from ..commands.update import UpdateOptions, update

    _require_clean(project)
    original = _current(project)
    created = _switch_to(project, settings.branch, original)
    try:
        result = update(UpdateOptions(project=project, to=settings.to, commit=True))
    except BaseException:
        _go_back(project, original, settings.branch, delete=created)
        raise
    if result.conflicts:
        return _row(row, result, "conflicts", branch=settings.branch, message=(
            f"left on branch {settings.branch} with conflict markers: resolve them, `git add` and commit, "
            "or run `kit update --abort` there"
        ))
    if result.action == "up-to-date":
        _go_back(project, original, settings.branch, delete=created)
        already = not created and _git.resolve_ref(project, settings.branch) != _git.resolve_ref(project, original)
        message = f"already updated on branch {settings.branch}" if already else None
        return _row(row, result, "up-to-date", branch=settings.branch if already else None, message=message)
    _go_back(project, original, settings.branch, delete=False)
    return _row(row, result, "updated", branch=settings.branch)


def _row(row: UpdateRow, result: Any, outcome: str, *, branch: str | None, message: str | None = None) -> UpdateRow:
    moves = tuple(Move(c.template, c.old, c.new) for c in result.layers if c.old != c.new)
    return UpdateRow(
        location=row.location, listed_in=row.listed_in, outcome=outcome, name=row.name,
        municipality=row.municipality, branch=branch, moves=moves, commit=result.commit,
        conflicts=tuple(result.conflicts), files=len(result.files), message=message,
    )


def _require_clean(project: Path) -> None:
    if not _git.is_repo_root(project):
        raise UserError(f"{project} is not the root of a git repository; kit fleet update needs git")
    if _git.resolve_ref(project, "HEAD") is None:
        raise UserError(f"{project} has no commit yet; commit the generated project first")
    dirty = _git.status_porcelain(project)
    if dirty:
        shown = ", ".join(line[3:] for line in dirty[:5])
        raise UserError(f"uncommitted changes in {project} ({shown}); commit or stash them, then run again")


def _current(project: Path) -> str:
    """The branch checked out, or the commit when HEAD is detached."""
    branch = _git.run(project, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).strip()
    return branch or _git.run(project, "rev-parse", "HEAD").strip()


def _switch_to(project: Path, branch: str, original: str) -> bool:
    """Check out *branch*, creating it at HEAD when it does not exist; True when created."""
    if not _git.ok(project, "check-ref-format", "--branch", branch):
        raise UserError(f"--branch {branch!r} is no valid git branch name")
    if original == branch:
        return False
    if _git.resolve_ref(project, f"refs/heads/{branch}") is not None:
        _git.run(project, "checkout", "--quiet", branch)
        return False
    _git.run(project, "checkout", "--quiet", "-b", branch)
    return True


def _go_back(project: Path, original: str, branch: str, *, delete: bool) -> None:
    if original == branch:
        return
    _git.run(project, "checkout", "--quiet", original)
    if delete:
        _git.run(project, "branch", "--quiet", "-D", branch, check=False)
