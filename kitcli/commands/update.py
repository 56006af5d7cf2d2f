"""``kit update``: pull new template releases into a project, safely.

Every layer the project records (one ``.copier-answers.<template>.yml`` each, base first) is
updated with ``copier update`` to the newest release or to ``--to``. Around Copier the kit adds
what automation needs and Copier does not give:

- It refuses what cannot end well *before* writing anything: no git, a dirty tree, unmerged files,
  an interrupted earlier update, an unknown or older target version, and a question new in the
  release that has no default (Copier would crash on it), which it names with the ``--data`` to pass.
- It snapshots the project first (``HEAD``, clean tree; recorded in ``.git/kit-update.json``).
  On any error or Ctrl-C it restores that snapshot before re-raising; after a kill,
  ``kit update --abort`` restores it, as it does after a finished update (files added included).
- It finds conflicts itself (Copier exits 0 and bumps ``_commit`` anyway): files with Copier's
  inline markers, left unmerged in git, exit code 3.
- It keeps local work Copier would drop: a file the release deletes but the project changed (or
  a file the project added in a directory the release deletes) comes back as a conflict.
- ``--dry-run`` runs the same update in a throw-away clone and reports what would happen.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .. import _answers, _copier, _git, _lock, _render, _scratch, _source, _templateset, _validate
from .._answers import Answers
from .._errors import EXIT_CONFLICTS, EXIT_OK, UserError

MARKER = "kit-update.json"
CONFLICT_START = b"<<<<<<< before updating"
CONFLICT_END = b">>>>>>> after updating"
SHOWN = 8

FileStatus = Literal["added", "changed", "removed", "conflict"]
Action = Literal["updated", "up-to-date", "dry-run", "aborted"]


@dataclass(frozen=True)
class UpdateOptions:
    """Everything ``kit update`` needs to know, gathered once by the CLI."""

    project: Path = Path()
    to: str | None = None
    """Target version (a tag, branch or commit of the source); default: the newest release."""
    data: Mapping[str, str] = field(default_factory=dict)
    """Answers to questions that are new in the target version and have no default."""
    dry_run: bool = False
    abort: bool = False
    commit: bool = False


@dataclass(frozen=True)
class LayerChange:
    template: str
    answers_file: str
    old: str
    new: str
    source: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


@dataclass(frozen=True)
class FileChange:
    path: str
    status: FileStatus


@dataclass(frozen=True)
class UpdateResult:
    project: Path
    action: Action
    layers: tuple[LayerChange, ...] = ()
    files: tuple[FileChange, ...] = ()
    conflicts: tuple[str, ...] = ()
    commit: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """3 when the update left conflict markers in the project, else 0."""
        return EXIT_CONFLICTS if self.conflicts and self.action == "updated" else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "project": str(self.project),
            "action": self.action,
            "layers": [{**vars(layer), "changed": layer.changed} for layer in self.layers],
            "files": [vars(change) for change in self.files],
            "conflicts": list(self.conflicts),
            "commit": self.commit,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class _Step:
    """One layer to update: its recorded answers and where to."""

    answers: Answers
    source: _source.Source
    target: str
    data: Mapping[str, str]


def require_ref(to: str | None) -> None:
    """An empty ``--to`` (say, from an unset shell variable) must not mean "the newest release"."""
    if to is not None and not to.strip():
        raise UserError(f"--to {to!r} is empty; pass a tag, branch or commit, or leave --to out for the newest release")


def update(options: UpdateOptions) -> UpdateResult:
    """Update every template layer of the project (or dry-run it, or abort the last update)."""
    project = options.project.expanduser().absolute()
    require_ref(options.to)
    _validate.clean_text(options.data, source="--data")
    _require_repository(project)
    if options.abort:
        return abort(project)
    if options.dry_run:
        return _update(project, options)
    with _lock.project(project, command="kit update"):
        return _update(project, options)


def _update(project: Path, options: UpdateOptions) -> UpdateResult:
    marker = _read_marker(project)
    if marker is not None and marker.get("state") != "finished":
        raise UserError(
            f"an update of {project} was interrupted; run `kit update --abort` to restore the project "
            "as it was before it"
        )
    unmerged = _git.unmerged_paths(project)
    if unmerged:
        undo = "run `kit update --abort`" if marker is not None else "check out the files from HEAD"
        raise UserError(
            f"unmerged files from an earlier update: {_listing(unmerged)}; resolve the conflict markers, "
            f"`git add` and commit them, or {undo}"
        )
    dirty = _dirty_paths(project)
    if dirty:
        if marker is not None:
            raise UserError(
                f"the last kit update's changes in {project} are not committed yet: {_listing(dirty)}; "
                "commit them, or run `kit update --abort` to undo that update"
            )
        raise UserError(
            f"uncommitted changes in {project}: {_listing(dirty)}; commit or stash them, then update"
        )
    head = _head(project)
    layers = _answers.read_all(project)
    steps, changes = _plan(layers, options)
    if not steps:
        unchanged = (
            (f"--data {', '.join(sorted(options.data))}: the project already has these answers, so there is "
             "nothing to change",) if options.data else ()
        )
        return UpdateResult(project=project, action="up-to-date", layers=changes, warnings=unchanged)
    if options.dry_run:
        return _dry_run(project, steps, changes)
    if marker is not None:
        # The previous update finished and its result is committed: nothing left to abort.
        _marker_path(project).unlink(missing_ok=True)
    with _scratch.guarded("update"):  # Copier's template clones: removed even if this is killed
        return _apply(project, head, steps, changes, commit=options.commit)


def abort(project: Path) -> UpdateResult:
    """Put the project back exactly as it was before the last ``kit update``."""
    project = project.expanduser().absolute()
    _require_repository(project)
    with _lock.project(project, command="kit update --abort"):
        return _abort(project)


def _abort(project: Path) -> UpdateResult:
    marker = _read_marker(project)
    if marker is None:
        raise UserError(f"no kit update to abort in {project} (no {MARKER} in its git directory)")
    head = str(marker["head"])
    current = _head(project)
    allowed = {head, marker.get("commit")}
    if current not in allowed and not (marker.get("state") != "finished" and _git.is_ancestor(project, head, current)):
        raise UserError(
            f"commits were made since the update (HEAD is {current[:12]}, the update started at "
            f"{head[:12]}); --abort would discard them, so it refuses: `git reset --hard {head[:12]}` "
            "does it by hand"
        )
    written = marker.get("written")
    if marker.get("state") == "finished" and isinstance(written, dict):
        _restore_written(project, head, written, marker.get("empty_directories", ()))
    else:
        # Interrupted while Copier wrote: the tree was clean when it began, so every change is its.
        _restore(project, head, marker.get("empty_directories", ()))
    _marker_path(project).unlink(missing_ok=True)
    layers = tuple(LayerChange(**layer) for layer in marker.get("layers", ()))
    return UpdateResult(project=project, action="aborted", layers=layers)


# --- checks ------------------------------------------------------------------------------------


def _require_repository(project: Path) -> None:
    if not project.is_dir():
        raise UserError(f"{project}: no such project directory")
    if not _git.ok(project, "rev-parse", "--is-inside-work-tree"):
        raise UserError(
            f"{project} is not a git repository; kit update needs git to keep local work safe: "
            "run `git init && git add -A && git commit -m start` first"
        )
    if not _git.is_repo_root(project):
        top = _git.run(project, "rev-parse", "--show-toplevel").strip()
        raise UserError(f"{project} is inside the git repository {top} but not its root; run kit update there")


def _head(project: Path) -> str:
    head = _git.resolve_ref(project, "HEAD")
    if head is None:
        raise UserError(f"{project} has no commit yet; commit the generated project first")
    return head


def _dirty_paths(project: Path) -> list[str]:
    out = _git.run(project, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    return sorted(_parse_status(out))


def _listing(paths: Iterable[str]) -> str:
    items = list(paths)
    shown = ", ".join(items[:SHOWN])
    return shown + (f" (and {len(items) - SHOWN} more)" if len(items) > SHOWN else "")


def _plan(layers: list[Answers], options: UpdateOptions) -> tuple[list[_Step], tuple[LayerChange, ...]]:
    """Resolve each layer's target and refuse what Copier would get wrong; write nothing."""
    steps: list[_Step] = []
    changes: list[LayerChange] = []
    known_questions: set[str] = set()
    template_sets: dict[tuple[str, str], _templateset.TemplateSet | None] = {}
    sources: dict[str, _source.Source] = {}
    for layer in layers:
        if layer.src_path not in sources:  # a remote source is fetched once, not once per layer
            sources[layer.src_path] = _source.open_source(layer.src_path)
        source = sources[layer.src_path]
        target = options.to or source.latest_release() or "HEAD"
        target_sha = _git.resolve_ref(source.checkout, target)
        if target_sha is None:
            releases = ", ".join(source.releases()[:5]) or "none"
            raise UserError(
                f"--to {target!r} does not exist in template source {source.location} "
                f"(newest releases: {releases}); pass one of its tags"
            )
        current_sha = _git.resolve_ref(source.checkout, layer.commit)
        if current_sha is None:
            raise UserError(
                f"{layer.path}: the recorded version {layer.commit!r} of template {layer.template!r} does "
                f"not exist in {source.location}; restore the answers file from git history"
            )
        if _is_downgrade(source, layer.commit, current_sha, target, target_sha):
            raise UserError(
                f"{target} is older than the recorded version {layer.commit} of template {layer.template!r}; "
                "kit update does not downgrade: pass a newer --to"
            )
        renders_worktree = target == "HEAD" and source.is_local
        new_version = target if target != "HEAD" else _git.describe(source.checkout, target_sha)
        changes.append(LayerChange(layer.template, layer.path.as_posix(), layer.commit, new_version, source.location))
        key = (source.location, target)
        at_target = current_sha == target_sha and not renders_worktree
        if at_target and not options.data:
            continue
        if key not in template_sets:
            template_sets[key] = _template_set(source, target)
        tset = template_sets[key]
        if at_target and not _changes_answers(layer, options.data, tset):
            if tset is not None:
                known_questions.update(tset.questions_for(layer.template))
            continue
        data = dict(options.data)
        if tset is not None:
            questions = tset.questions_for(layer.template)
            known_questions.update(questions)
            unanswered = [
                name for name, spec in questions.items()
                if name not in layer.values and name not in options.data and "default" not in spec
            ]
            if unanswered:
                wanted = " ".join(f"--data {name}=VALUE" for name in unanswered)
                raise UserError(
                    f"template {layer.template!r} {target} asks {_listing(repr(n) for n in unanswered)}, "
                    f"new and without a default; answer: kit update {wanted}"
                )
            data = {key: value for key, value in options.data.items() if key in questions}
        steps.append(_Step(answers=layer, source=source, target=target, data=data))
    unknown = sorted(set(options.data) - known_questions) if all(template_sets.values()) else []
    if unknown:
        raise UserError(
            f"--data {unknown[0]}: no such question in the target version of the project's templates"
        )
    return steps, tuple(changes)


def _changes_answers(layer: Answers, data: Mapping[str, str], tset: _templateset.TemplateSet | None) -> bool:
    """Whether ``--data`` gives this layer (already at the target version) a different answer:
    then the layer is updated in place, as ``copier update --data`` does."""
    questions = tset.questions_for(layer.template) if tset is not None else layer.values
    return any(key in questions and str(layer.values.get(key)) != value for key, value in data.items())


def _template_set(source: _source.Source, ref: str) -> _templateset.TemplateSet | None:
    """The kit's view of the target version, or None for a Copier template that is no kit set."""
    try:
        return _templateset.load(source, ref)
    except UserError:
        return None


def _is_downgrade(source: _source.Source, current: str, current_sha: str, target: str, target_sha: str) -> bool:
    if current_sha == target_sha:
        return False
    old, new = _source.version_of(current), _source.version_of(target)
    if old is not None and new is not None:
        return new < old
    return _git.is_ancestor(source.checkout, target_sha, current_sha)


# --- the update --------------------------------------------------------------------------------


def _apply(project: Path, head: str, steps: list[_Step], changes: tuple[LayerChange, ...], *,
           commit: bool) -> UpdateResult:
    ignored = set(_ignored(project))
    empty = _empty_directories(project, ignored)
    _write_marker(project, {
        "state": "running",
        "head": head,
        "empty_directories": empty,
        "layers": [vars(change) for change in changes],
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    })
    try:
        warnings: list[str] = []
        stages: dict[str, dict[int, tuple[str, str]]] = {}
        guarded: dict[str, dict[int, tuple[str, str]]] = {}
        base = head
        for index, step in enumerate(steps):
            if index and _dirty_paths(project):
                # Copier refuses a dirty tree; the layers below are committed for the moment and
                # un-committed once every layer is done.
                stages.update(_unmerged_stages(project))
                _git.run(project, "add", "-A")
                _git.run(project, "-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "-m",
                         f"kit update: {steps[index - 1].answers.template} (temporary)",
                         env=_git.identity_env(project))
                base = _head(project)
            outcome = _copier.update(_copier.Render(
                src=step.answers.src_path, dst=project, answers_file=step.answers.path.as_posix(),
                vcs_ref=step.target, data=step.data, defaults=True, skip_answered=True, conflict="inline",
            ))
            warnings.extend(outcome.warnings)
            guarded.update(_guard_deletions(project, base, step.answers))
        stages.update(_unmerged_stages(project))
        stages.update(guarded)
        if base != head:
            _git.run(project, "reset", "-q", "--mixed", head)
        conflicts = _conflicted(project, head)
        _mark_unmerged(project, head, conflicts, stages)
        files = _file_changes(project, conflicts)
        written = _fingerprints(project, _changed_since(project, head))
        new_changes = _recorded_versions(project, changes)
        made = None
        if commit and not conflicts:
            moves = ", ".join(f"{c.template} {c.old} -> {c.new}" for c in new_changes if c.changed)
            sources = sorted({c.source for c in new_changes})
            _git.run(project, "add", "-A")
            _git.run(project, "commit", "-q", "--no-verify", "-m",
                     f"Update templates: {moves}\n\nSource: {', '.join(sources)}\nMade with kit update.",
                     env=_git.identity_env(project))
            made = _head(project)
        _write_marker(project, {
            **(_read_marker(project) or {}),
            "state": "finished", "commit": made, "conflicts": list(conflicts), "written": written,
            "layers": [vars(change) for change in new_changes],
        })
    except BaseException:
        _restore(project, head, empty)
        _marker_path(project).unlink(missing_ok=True)
        raise
    return UpdateResult(
        project=project, action="updated", layers=new_changes, files=files, conflicts=conflicts,
        commit=made, warnings=tuple(dict.fromkeys(warnings)),
    )


def _dry_run(project: Path, steps: list[_Step], changes: tuple[LayerChange, ...]) -> UpdateResult:
    """Run the same update in a throw-away clone; the project is only read."""
    with _scratch.guarded("update-dry-run") as scratch:
        clone = scratch.root / project.name
        _git.run(scratch.root, "clone", "--quiet", "--shared", "--no-checkout", str(project), str(clone))
        _git.run(clone, "checkout", "--quiet", "--detach", _head(project))
        result = _apply(clone, _head(clone), steps, changes, commit=False)
    return UpdateResult(
        project=project, action="dry-run", layers=result.layers, files=result.files,
        conflicts=result.conflicts, warnings=result.warnings,
    )


def _guard_deletions(project: Path, base: str, answers: Answers) -> dict[str, dict[int, tuple[str, str]]]:
    """Bring back, as conflicts, files the update deleted although the project had changed them.

    Copier removes every path the old version rendered and the new one does not, changed or not
    (and whole directories the new version dropped, files the project added there included).
    A file the project added comes back as it was; a changed one comes back between conflict
    markers, for a person to decide whether the deletion or the change wins.
    """
    deleted = [path for path in _tracked(project, base) if not (project / path).exists()]
    if not deleted:
        return {}
    rendered = _render.render([answers])
    stages: dict[str, dict[int, tuple[str, str]]] = {}
    for relpath in deleted:
        ours = _git.blob(project, base, relpath)
        template = rendered.root / relpath
        if ours is None or (template.is_file() and template.read_bytes() == ours):
            continue
        target = project / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        if not template.is_file():
            target.write_bytes(ours)
            continue
        body = ours if ours.endswith(b"\n") or not ours else ours + b"\n"
        target.write_bytes(CONFLICT_START + b"\n" + body + b"=======\n" + CONFLICT_END + b"\n")
        mode, _ = entry_at_base = _ls_tree_entry(project, base, relpath)
        sha = _git.run(project, "hash-object", "-w", "--", str(template)).strip()
        stages[relpath] = {1: (mode, sha), 2: entry_at_base}
    return stages


# --- conflicts ---------------------------------------------------------------------------------


def _conflicted(project: Path, head: str) -> tuple[str, ...]:
    """Files changed since *head* that hold Copier's conflict markers, and unmerged files."""
    candidates = set(_git.run(project, "diff", "--name-only", "-z", head).split("\0"))
    candidates |= set(_git.run(project, "ls-files", "-z", "--others", "--exclude-standard").split("\0"))
    candidates.discard("")
    found = set(_git.unmerged_paths(project))
    for relpath in candidates:
        path = project / relpath
        if path.is_file() and not path.is_symlink() and _has_markers(path):
            found.add(relpath)
    return tuple(sorted(found))


def _has_markers(path: Path) -> bool:
    with path.open("rb") as handle:
        return any(line.rstrip() in (CONFLICT_START, CONFLICT_END) for line in handle)


def _unmerged_stages(project: Path) -> dict[str, dict[int, tuple[str, str]]]:
    stages: dict[str, dict[int, tuple[str, str]]] = {}
    for record in _git.run(project, "ls-files", "-u", "-z").split("\0"):
        if not record:
            continue
        meta, relpath = record.split("\t", 1)
        mode, sha, stage = meta.split()
        stages.setdefault(relpath, {})[int(stage)] = (mode, sha)
    return stages


def _ls_tree_entry(project: Path, ref: str, relpath: str) -> tuple[str, str]:
    out = _git.run(project, "ls-tree", "-z", ref, "--", relpath).split("\0")[0]
    mode, _kind, sha = out.split("\t", 1)[0].split()
    return mode, sha


def _mark_unmerged(project: Path, head: str, conflicts: Iterable[str],
                   stages: Mapping[str, Mapping[int, tuple[str, str]]]) -> None:
    """Record each conflicted file as unmerged in git (as Copier does), so it cannot be committed by accident."""
    already = set(_git.unmerged_paths(project))
    at_head = set(_tracked(project, head))
    lines: list[str] = []
    for relpath in conflicts:
        if relpath in already:
            continue
        entry = dict(stages.get(relpath, {}))
        if relpath in at_head:
            entry[2] = _ls_tree_entry(project, head, relpath)
        else:
            entry.pop(2, None)
        if not entry:
            continue
        lines.append(f"0 {'0' * 40}\t{relpath}")
        lines.extend(f"{mode} {sha} {stage}\t{relpath}" for stage, (mode, sha) in sorted(entry.items()))
    if lines:
        _git_stdin(project, "\n".join(lines) + "\n", "update-index", "--index-info")


def _git_stdin(project: Path, text: str, *args: str) -> None:
    import subprocess

    result = subprocess.run(["git", *args], cwd=project, input=text, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise _git.GitFailed(args=args, cwd=project, stderr=result.stderr)


# --- state, restore, reporting ------------------------------------------------------------------


def _marker_path(project: Path) -> Path:
    return _git.git_dir(project) / MARKER


def _read_marker(project: Path) -> dict[str, Any] | None:
    path = _marker_path(project)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise UserError(f"{path} is unreadable ({error}); delete it if no update is in progress") from error
    if not isinstance(data, dict) or not isinstance(data.get("head"), str):
        raise UserError(f"{path} is damaged; delete it if no update is in progress")
    return data


def _write_marker(project: Path, data: Mapping[str, Any]) -> None:
    path = _marker_path(project)
    partial = path.with_name(f".{MARKER}.{os.getpid()}")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    partial.replace(path)


def _ignored(project: Path) -> list[str]:
    out = _git.run(project, "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory")
    return [path for path in out.split("\0") if path]


def _tracked(project: Path, ref: str) -> list[str]:
    return [path for path in _git.run(project, "ls-tree", "-r", "-z", "--name-only", ref).split("\0") if path]


def _empty_directories(project: Path, ignored: set[str]) -> list[str]:
    """Empty directories (git does not track them, but Copier may remove them)."""
    empty = []
    for directory, dirnames, filenames in os.walk(project):
        relative = Path(directory).relative_to(project).as_posix()
        dirnames[:] = [
            d for d in dirnames
            if d != ".git" and f"{d if relative == '.' else f'{relative}/{d}'}/" not in ignored
        ]
        if not dirnames and not filenames and relative != ".":
            empty.append(relative)
    return empty


def _restore(project: Path, head: str, empty_before: Iterable[str] = ()) -> None:
    """Reset tracked files to *head*, remove the files the update added and bring back empty
    directories it removed.

    An update only starts on a clean tree (no untracked file that git does not ignore), so every
    untracked, not ignored path now was added by the update. Ignored paths are never touched:
    they are the project's local state (a database in ``var/``, ``.venv``, ``.env``), which a
    running service keeps writing while the update runs.
    """
    _git.run(project, "reset", "-q", "--hard", head)
    added = [path for path in _git.run(project, "ls-files", "-z", "--others", "--exclude-standard").split("\0") if path]
    _remove_added(project, added, empty_before)


def _remove_added(project: Path, added: Iterable[str], empty_before: Iterable[str]) -> None:
    """Remove the paths an update added (and the directories they leave empty); bring back the
    empty directories it removed."""
    for relpath in added:
        target = project / relpath
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
        _remove_empty_parents(project, target.parent)
    for relpath in empty_before:
        (project / relpath).mkdir(parents=True, exist_ok=True)


def _changed_since(project: Path, head: str) -> list[str]:
    """Paths whose content differs from *head*: tracked ones changed or deleted, untracked added."""
    tracked = _git.run(project, "diff", "--name-only", "--no-renames", "-z", head, "--").split("\0")
    added = _git.run(project, "ls-files", "-z", "--others", "--exclude-standard").split("\0")
    return sorted({path for path in (*tracked, *added) if path})


def _fingerprint(path: Path) -> str | None:
    """What *path* holds now: ``None`` when it is absent, else a digest of its bytes (or link)."""
    try:
        if path.is_symlink():
            return "link:" + str(path.readlink())
        if path.is_dir():
            return "directory"
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _fingerprints(project: Path, paths: Iterable[str]) -> dict[str, str | None]:
    return {relpath: _fingerprint(project / relpath) for relpath in paths}


def _restore_written(project: Path, head: str, written: Mapping[str, str | None], empty_before: Iterable[str]) -> None:
    """Put back what the finished update wrote, path by path, and nothing else.

    A path the update wrote and someone changed since is not restored, and neither is anything:
    the abort refuses and names it. Paths the update did not write (a file created later, a
    database in an ignored directory) are left alone.
    """
    head_state = {relpath: _head_fingerprint(project, head, relpath) for relpath in written}
    changed_since = sorted(
        relpath for relpath, fingerprint in written.items()
        if _fingerprint(project / relpath) not in (fingerprint, head_state[relpath])
    )
    if changed_since:
        raise UserError(
            f"changed since the update wrote them: {_listing(changed_since)}; --abort would lose those "
            "changes, so it refuses and changes nothing: save them elsewhere or `git checkout HEAD -- FILE` "
            "to drop them, then run `kit update --abort` again"
        )
    _git.run(project, "reset", "-q", "--mixed", head)  # the index and HEAD; the files are put back below
    restore = [relpath for relpath, before in head_state.items() if before is not None]
    if restore:
        _git_stdin(project, "\0".join(restore), "checkout", head, "--pathspec-from-file=-", "--pathspec-file-nul")
    _remove_added(project, [relpath for relpath, before in head_state.items() if before is None], empty_before)


def _head_fingerprint(project: Path, head: str, relpath: str) -> str | None:
    """The fingerprint *relpath* would have as committed in *head*."""
    entry = _git.run(project, "ls-tree", "-z", head, "--", relpath).split("\0")[0]
    if not entry:
        return None
    mode = entry.split()[0]
    content = _git.blob(project, head, relpath) or b""
    if mode == "120000":
        return "link:" + content.decode(errors="surrogateescape")
    return hashlib.sha256(content).hexdigest()


def _remove_empty_parents(project: Path, directory: Path) -> None:
    while directory != project and project in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


def _parse_status(out: str) -> dict[str, str]:
    """``git status --porcelain=v1 -z`` as path -> two-letter code (renames: the new path)."""
    entries: dict[str, str] = {}
    records = out.split("\0")
    index = 0
    while index < len(records):
        record = records[index]
        index += 1
        if not record:
            continue
        code, relpath = record[:2], record[3:]
        if code[0] in "RC":
            index += 1  # the original path follows
        entries[relpath] = code
    return entries


def _file_changes(project: Path, conflicts: tuple[str, ...]) -> tuple[FileChange, ...]:
    status = _parse_status(_git.run(project, "status", "--porcelain=v1", "-z", "--untracked-files=all"))
    changes = []
    for relpath, code in sorted(status.items()):
        kind: FileStatus
        if relpath in conflicts:
            kind = "conflict"
        elif code == "??" or "A" in code:
            kind = "added"
        elif "D" in code:
            kind = "removed"
        else:
            kind = "changed"
        changes.append(FileChange(relpath, kind))
    return tuple(changes)


def _recorded_versions(project: Path, changes: tuple[LayerChange, ...]) -> tuple[LayerChange, ...]:
    """The layers with the version each answers file records now."""
    result = []
    for change in changes:
        try:
            now = _answers.read(project, Path(change.answers_file)).commit
        except UserError:
            now = change.new
        result.append(LayerChange(change.template, change.answers_file, change.old, now, change.source))
    return tuple(result)
