"""From command-line sources to fleet entries.

A source is a project directory, a directory of projects (and of status files), a manifest
(TOML listing projects by path, git URL or status file, with municipality and service), a
status file a project's CI published, or a git URL. Whatever cannot be used becomes an entry
with an error, so one broken source never stops the run; a duplicate is reported as such.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import _answers
from .._source import REMOTE_RE

PROJECT = "project"
URL = "url"
STATUS = "status file"
KINDS = (PROJECT, URL, STATUS)
MANIFEST_KEYS = ("path", "url", "status")
LABEL_KEYS = ("municipality", "service", "ref")


@dataclass(frozen=True)
class Entry:
    """One project to read, or why it cannot be read."""

    kind: str
    location: str
    """An absolute path (project, status file) or a URL as given."""
    listed_in: str
    municipality: str | None = None
    """What a manifest says about the project (a label, checked against its answers)."""
    service: str | None = None
    ref: str | None = None
    """For a git URL: the branch or tag to read (default: the remote's HEAD)."""
    error: str | None = None


def is_url(text: str) -> bool:
    return bool(REMOTE_RE.match(text))


def looks_like_project(path: Path) -> bool:
    return bool(_answers.find(path)) or (path / ".git").exists()


def resolve(sources: Sequence[str]) -> list[Entry]:
    """Every entry the sources name, in order, each project once (later duplicates are errors)."""
    entries: list[Entry] = []
    for source in sources:
        entries.extend(_from_argument(source))
    return _mark_duplicates(entries)


def _from_argument(source: str) -> Iterator[Entry]:
    listed = f"argument {source}"
    if is_url(source):
        yield Entry(URL, source, listed)
        return
    path = Path(source).expanduser().absolute()
    if not path.exists():
        yield Entry(PROJECT, str(path), listed, error=f"{source}: no such file or directory")
    elif path.is_file():
        yield from _from_file(path, listed)
    elif looks_like_project(path):
        yield Entry(PROJECT, str(path), listed)
    else:
        yield from _from_directory(path, listed)


def _from_file(path: Path, listed: str) -> Iterator[Entry]:
    if path.suffix == ".toml":
        yield from _from_manifest(path)
    elif path.suffix == ".json":
        yield Entry(STATUS, str(path), listed)
    else:
        yield Entry(PROJECT, str(path), listed, error=(
            f"{path} is a file but neither a manifest (.toml) nor a status file (.json); "
            "pass a project directory, a directory of projects, a manifest or a status file"
        ))


def _from_directory(path: Path, listed: str) -> Iterator[Entry]:
    found = False
    for child in sorted(path.iterdir(), key=lambda p: p.name):
        if child.name.startswith("."):
            continue
        if child.is_dir() and looks_like_project(child):
            found = True
            yield Entry(PROJECT, str(child), f"directory {path}")
        elif child.is_file() and child.suffix == ".json":
            found = True
            yield Entry(STATUS, str(child), f"directory {path}")
    if not found:
        yield Entry(PROJECT, str(path), listed, error=(
            f"{path} holds no projects: no .copier-answers.*.yml, no git repositories and no "
            "status files (*.json) in it or directly below it"
        ))


def _from_manifest(path: Path) -> Iterator[Entry]:
    listed = f"manifest {path}"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        yield Entry(PROJECT, str(path), listed, error=f"manifest {path} is unreadable: {_first_line(error)}")
        return
    projects = data.get("project")
    if not isinstance(projects, list) or not projects:
        yield Entry(PROJECT, str(path), listed, error=(
            f"manifest {path} lists no projects: add [[project]] tables with path, url or status"
        ))
        return
    for number, item in enumerate(projects, start=1):
        yield _manifest_entry(path, number, item)


def _manifest_problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "is no table"
    for key in LABEL_KEYS:
        if item.get(key) is not None and not isinstance(item[key], str):
            return f"`{key}` must be a string"
    unknown = sorted(set(item) - {*MANIFEST_KEYS, *LABEL_KEYS})
    if unknown:
        return f"unknown key(s) {', '.join(unknown)}; known: {', '.join((*MANIFEST_KEYS, *LABEL_KEYS))}"
    keys = [key for key in MANIFEST_KEYS if key in item]
    if len(keys) != 1 or not isinstance(item[keys[0]], str) or not item[keys[0]].strip():
        return "needs exactly one of path, url, status (a non-empty string)"
    return None


def _manifest_entry(manifest: Path, number: int, item: Any) -> Entry:
    listed = f"manifest {manifest.name} #{number}"
    problem = _manifest_problem(item)
    if problem is not None:
        return Entry(PROJECT, f"{manifest}#{number}", listed, error=f"{listed}: {problem}")
    key = next(key for key in MANIFEST_KEYS if key in item)
    value = item[key].strip()
    known = {label: item.get(label) for label in LABEL_KEYS}
    if key == "url":
        return Entry(URL, value, listed, **known)
    target = Path(value).expanduser()
    target = (target if target.is_absolute() else manifest.parent / target).absolute()
    kind = STATUS if key == "status" else PROJECT
    if not target.exists():
        return Entry(kind, str(target), listed, **known, error=f"{listed}: {key} {value!r} does not exist")
    if key == "path" and not target.is_dir():
        return Entry(kind, str(target), listed, **known, error=f"{listed}: path {value!r} is no directory")
    return Entry(kind, str(target), listed, **known)


def identity(entry: Entry) -> str:
    """What makes two entries the same project."""
    if entry.kind == URL:
        return entry.location.rstrip("/").removesuffix(".git") + f"@{entry.ref or ''}"
    return os.path.realpath(entry.location)


def _mark_duplicates(entries: Iterable[Entry]) -> list[Entry]:
    first: dict[str, Entry] = {}
    result = []
    for entry in entries:
        key = identity(entry)
        if entry.error is None and key in first:
            problem = f"duplicate entry: {entry.location} is already listed in {first[key].listed_in}"
            result.append(replace(entry, error=problem))
            continue
        if entry.error is None:
            first[key] = entry
        result.append(entry)
    return result


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
