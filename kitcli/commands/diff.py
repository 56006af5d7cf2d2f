"""``kit diff``: how a project differs from what its recorded template versions render.

The API other commands build on (``kit check``'s drift rules, the fleet view)::

    result = diff(DiffOptions(project=Path("my-project")))
    for entry in result.files:        # FileDiff: path, status, ownership, layer, deviation, diff
        ...
    result.findings                   # undeclared divergence outside seeded paths
    result.stale_deviations           # declared in kit.toml, but the path no longer differs

Each layer (``.copier-answers.<template>.yml``) is rendered with its recorded answers at its
recorded ``_commit`` into one tree (cached, see :mod:`kitcli._render`) and compared with the
project's files:

- ``changed``: the template renders the path and the project's bytes differ;
- ``missing``: the template renders the path and the project lacks it;
- ``added``: the project has a file where a template declares a managed path, but the template
  renders none there.

Every entry carries its ownership (``managed``, ``seeded`` or ``unowned``, from the templates'
``kit-template.toml``) and the declared deviation from ``kit.toml`` that covers it, if any.
An entry is a *finding* unless it is declared or in a seeded path (seeded files belong to the
project after generation; their divergence is information).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .. import _answers, _git, _project, _render
from .._errors import EXIT_FINDINGS, EXIT_OK, UserError
from .._project import Deviation

Status = Literal["changed", "missing", "added"]


@dataclass(frozen=True)
class DiffOptions:
    """What ``kit diff`` compares."""

    project: Path = Path()
    use_cache: bool = True
    """Reuse a cached render of the same versions and answers (``--no-cache`` renders afresh)."""
    context: int = 3
    """Lines of context in the unified diffs."""


@dataclass(frozen=True)
class LayerVersion:
    template: str
    version: str
    answers_file: str
    source: str


@dataclass(frozen=True)
class FileDiff:
    """One path where the project differs from its templates."""

    path: str
    status: Status
    ownership: _render.Ownership
    layer: str | None
    """The template layer that renders the path (None for ``added``: no layer renders it)."""
    deviation: Deviation | None
    """The declared deviation from ``kit.toml`` that covers this path, if any."""
    diff: str
    """Unified diff from the template's rendering (``template/``) to the project (``project/``)."""
    added_lines: int
    removed_lines: int

    @property
    def finding(self) -> bool:
        """Undeclared divergence outside seeded paths."""
        return self.deviation is None and self.ownership != "seeded"

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "ownership": self.ownership,
            "layer": self.layer,
            "finding": self.finding,
            "deviation": None if self.deviation is None else _deviation_json(self.deviation),
            "added_lines": self.added_lines,
            "removed_lines": self.removed_lines,
            "diff": self.diff,
        }


@dataclass(frozen=True)
class DiffResult:
    project: Path
    layers: tuple[LayerVersion, ...]
    files: tuple[FileDiff, ...]
    stale_deviations: tuple[Deviation, ...]
    cached: bool
    """Whether the template rendering came from the cache."""

    @property
    def findings(self) -> tuple[FileDiff, ...]:
        return tuple(entry for entry in self.files if entry.finding)

    @property
    def exit_code(self) -> int:
        """1 when there is a finding (undeclared divergence outside seeded paths), else 0."""
        return EXIT_FINDINGS if self.findings else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "project": str(self.project),
            "layers": [vars(layer) for layer in self.layers],
            "files": [entry.to_json() for entry in self.files],
            "findings": len(self.findings),
            "stale_deviations": [_deviation_json(d) for d in self.stale_deviations],
            "cached": self.cached,
        }


def _deviation_json(deviation: Deviation) -> dict[str, str]:
    return {"path": deviation.path, "reason": deviation.reason,
            "approved_by": deviation.approved_by, "date": deviation.date}


def diff(options: DiffOptions) -> DiffResult:
    """Compare the project with its templates' rendering of the recorded versions and answers."""
    project = options.project.expanduser().resolve()
    if not project.is_dir():
        raise UserError(f"{options.project}: no such project directory")
    layers = _answers.read_all(project)
    config = _project.load(project)
    rendered = _render.render(layers, use_cache=options.use_cache)
    excluded = {layer.path.as_posix() for layer in layers} | {_project.KIT_TOML}

    entries: list[FileDiff] = []
    for relpath, layer in sorted(rendered.files.items()):
        theirs = rendered.root / relpath
        ours = project / relpath
        if not ours.is_file():
            text, added, removed = _unified(relpath, theirs.read_bytes(), None, options.context)
            status: Status = "missing"
        else:
            template_bytes, project_bytes = _changed(theirs, ours)
            if template_bytes is None or project_bytes is None:
                continue
            text, added, removed = _unified(relpath, template_bytes, project_bytes, options.context)
            status = "changed"
        entries.append(FileDiff(
            path=relpath, status=status, ownership=rendered.ownership(relpath), layer=layer,
            deviation=config.deviation_for(relpath), diff=text, added_lines=added, removed_lines=removed,
        ))
    for relpath in _project_files(project):
        if relpath in rendered.files or relpath in excluded or rendered.ownership(relpath) != "managed":
            continue
        text, added, removed = _unified(relpath, None, (project / relpath).read_bytes(), options.context)
        entries.append(FileDiff(
            path=relpath, status="added", ownership="managed", layer=None,
            deviation=config.deviation_for(relpath), diff=text, added_lines=added, removed_lines=removed,
        ))
    entries.sort(key=lambda entry: entry.path)
    divergent = [entry.path for entry in entries]
    stale = tuple(d for d in config.deviations if not any(d.matches(path) for path in divergent))
    return DiffResult(
        project=project,
        layers=tuple(
            LayerVersion(layer.template, layer.commit, layer.path.as_posix(), layer.src_path) for layer in layers
        ),
        files=tuple(entries),
        stale_deviations=stale,
        cached=rendered.cached,
    )


def _changed(theirs: Path, ours: Path) -> tuple[bytes | None, bytes | None]:
    """Both contents when they differ, else ``(None, None)`` (sizes first: most files match)."""
    if theirs.stat().st_size == ours.stat().st_size:
        template_bytes = theirs.read_bytes()
        project_bytes = ours.read_bytes()
        if template_bytes == project_bytes:
            return None, None
        return template_bytes, project_bytes
    return theirs.read_bytes(), ours.read_bytes()


def _project_files(project: Path) -> list[str]:
    """The project's files as git sees them (ignored files left out), or all files without git."""
    if _git.ok(project, "rev-parse", "--is-inside-work-tree"):
        out = _git.run(project, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
        return sorted({path for path in out.split("\0") if path and (project / path).is_file()})
    return [path for path in _render.walk_files(project) if not (project / path).is_symlink()]


def _unified(relpath: str, template: bytes | None, project: bytes | None, context: int) -> tuple[str, int, int]:
    """Unified diff text and the counts of added and removed lines."""
    before = _lines(template)
    after = _lines(project)
    if before is None or after is None:
        return f"Binary files template/{relpath} and project/{relpath} differ\n", 0, 0
    lines = list(difflib.unified_diff(
        before, after,
        fromfile="/dev/null" if template is None else f"template/{relpath}",
        tofile="/dev/null" if project is None else f"project/{relpath}",
        n=context,
    ))
    added = sum(1 for line in lines[2:] if line.startswith("+"))
    removed = sum(1 for line in lines[2:] if line.startswith("-"))
    text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    return text, added, removed


def _lines(content: bytes | None) -> list[str] | None:
    if content is None:
        return []
    if b"\0" in content[:8192]:
        return None
    try:
        return content.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return None
