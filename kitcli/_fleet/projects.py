"""Reading one project of the fleet into a row: a local checkout, a git URL or a status file."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .. import _answers, _git, _municipality, _project
from .._errors import KitError
from . import drift, entries, gitcache, statusfile
from .rows import CheckSummary, Municipality, Row, ServiceInfo, error_row

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader


CHECK_FAMILIES = ("KIT1", "KIT2", "KIT3", "KIT4", "KIT5")
"""The rule families the fleet's check column runs (all but KIT6xx, see :func:`run_check`)."""


@dataclass(frozen=True)
class ReadOptions:
    """What to find out about each project (the slow parts can be left out)."""

    divergence: bool = True
    check: bool = True


def read(entry: entries.Entry, options: ReadOptions, templates: drift.Templates) -> Row:
    """The row for *entry*; every problem becomes the row's error, nothing is raised."""
    if entry.error is not None:
        return error_row(entry.location, entry.kind, entry.listed_in, entry.error)
    try:
        if entry.kind == entries.STATUS:
            return statusfile.read_row(Path(entry.location), listed_in=entry.listed_in, templates=templates)
        if entry.kind == entries.URL:
            root = gitcache.fetch(entry.location, entry.ref)
            return read_project(root, entry, options, templates, url=entry.location)
        return read_project(Path(entry.location), entry, options, templates)
    except KitError as error:
        return error_row(entry.location, entry.kind, entry.listed_in, str(error))


def failed(entry: entries.Entry, error: BaseException) -> Row:
    """The row for an entry whose reading failed unexpectedly (a bug, a vanished file)."""
    return error_row(entry.location, entry.kind, entry.listed_in,
                     f"unexpected {type(error).__name__} while reading it: {error}")


def read_project(
    root: Path, entry: entries.Entry, options: ReadOptions, templates: drift.Templates, *, url: str | None = None,
) -> Row:
    if not root.is_dir():
        return error_row(entry.location, entry.kind, entry.listed_in, f"{root} is no directory")
    # A .git entry marks a repository root (a .git file: a worktree or submodule); a directory
    # inside another repository has none. Cheaper than asking git, once per project.
    is_git = (root / ".git").exists()
    try:
        layers = _answers.read_all(root)
    except KitError as error:
        last = _git.last_commit_date(root) if is_git else None
        return error_row(entry.location, entry.kind, entry.listed_in, str(error), last_commit=last)
    values = merged(layers)
    records = [drift.LayerRecord.of(layer) for layer in layers]
    versions = tuple(templates.version(record) for record in records)
    damaged = _git.damage(root) if is_git else None
    unreadable = next((v for v in versions if v.unknown_reason), None)
    broken = (
        f"its git repository is damaged ({damaged}); restore it from a clone or a backup" if damaged
        else f"the template source of layer {unreadable.name!r} cannot be read ({unreadable.unknown_reason}); "
             "fix _src_path in its answers file" if unreadable
        else None
    )
    municipality = municipality_of(values)
    notes = list(label_mismatches(entry, municipality, values))
    not_git = None if is_git else (
        f"{root} is not the root of a git repository: the fleet reads versions and dates from git"
    )
    divergence = divergence_unavailable = None
    try:
        config = _project.load(root)
    except KitError as problem:
        config, divergence_unavailable = None, str(problem)
    if options.divergence and config is not None:
        try:
            divergence = drift.divergence(root, records, templates, config)
        except KitError as problem:
            divergence_unavailable = str(problem)
    elif not options.divergence:
        divergence_unavailable = "not computed (--no-divergence)"
    check, check_unavailable = run_check(root) if options.check else (None, "not run (--no-check)")
    return Row(
        location=entry.location,
        kind=entry.kind,
        listed_in=entry.listed_in,
        name=_text(values.get("project_slug")) or root.name,
        service=_text(values.get("project_name")) or entry.service,
        template=layers[-1].template,
        url=url or _text(values.get("repository_url")) or None,
        municipality=municipality,
        templates=versions,
        divergence=divergence,
        divergence_unavailable=divergence_unavailable,
        check=check,
        check_unavailable=check_unavailable,
        last_commit=_git.last_commit_date(root) if is_git else None,
        info=service_info(root, values),
        error=broken or not_git,
        notes=tuple(notes),
    )


def merged(layers: Sequence[_answers.Answers]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for layer in layers:
        values.update(layer.user_answers)
    return values


def municipality_of(values: Mapping[str, Any]) -> Municipality | None:
    ags, name = _text(values.get("municipality_ags")), _text(values.get("municipality_name"))
    return Municipality(ags=ags, name=name) if ags or name else None


def label_mismatches(entry: entries.Entry, municipality: Municipality | None, values: Mapping[str, Any]) -> list[str]:
    """Where a manifest's labels disagree with what the project's answers say."""
    notes = []
    if entry.municipality:
        label = entry.municipality.strip()
        known = municipality or Municipality("", "")
        if label not in (known.ags, known.name) and _municipality.fold(label) != _municipality.fold(known.name):
            notes.append(f"{entry.listed_in} says municipality {label!r}; the answers say "
                         f"{known.name or '?'} ({known.ags or 'no AGS'})")
    if entry.service:
        label = entry.service.strip()
        name, slug = _text(values.get("project_name")), _text(values.get("project_slug"))
        if label not in (slug, name):
            notes.append(f"{entry.listed_in} says service {label!r}; the answers say "
                         f"{name or '?'} ({slug or 'no slug'})")
    return notes


def run_check(root: Path) -> tuple[CheckSummary | None, str | None]:
    """The summary of ``kit check`` for *root* without the KIT6xx rules, or why there is none.

    KIT6xx (template currency and drift) are what the fleet's Behind and Divergence columns
    report, computed once for the whole fleet; running them again per project would render
    every project alone, which is the slow way the fleet avoids.
    """
    from ..commands.check import CheckOptions, check

    try:
        report = check(CheckOptions(project=root, select=CHECK_FAMILIES))
    except KitError as error:
        return None, str(error)
    finally:
        _forget_schemas()
    return CheckSummary.from_report_json(report.to_json()), None


def _forget_schemas() -> None:
    """Drop the validators check-jsonschema caches per run (KIT4xx runs it in-process).

    Its loader keeps every validator it built in an ``lru_cache`` of 128 entries, each holding the
    parsed GitLab CI schema (about 10 MiB): one process checking a fleet would grow to over a GiB.
    The cache is a library internal, hence the guard: without it nothing is cleared.
    """
    try:
        from check_jsonschema.schema_loader.main import SchemaLoader  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - kit check runs without it
        return
    cached = getattr(SchemaLoader, "_get_validator", None)
    if cached is not None and hasattr(cached, "cache_clear"):
        cached.cache_clear()


def service_info(root: Path, values: Mapping[str, Any]) -> ServiceInfo:
    """Catalogue data: publiccode.yml first, the kit's metadata (service.toml, answers) for
    what publiccode.yml has no place for (LeiKa key, OZG-ID)."""
    publiccode = _yaml_mapping(root / "publiccode.yml")
    description = publiccode.get("description")
    language: Mapping[str, Any] = {}
    if isinstance(description, dict):
        chosen: Any = description.get("de") or next(iter(description.values()), {})
        language = chosen if isinstance(chosen, dict) else {}
    service = _toml_mapping(root / "service.toml").get("service", {})
    service = service if isinstance(service, dict) else {}
    name = publiccode.get("name")
    return ServiceInfo(
        name=_text(name) or _text(values.get("project_name")),
        description=_text(language.get("shortDescription")) or _text(values.get("project_description")),
        long_description=_text(language.get("longDescription")) or _text(values.get("project_long_description")),
        leika_key=_text(service.get("leika_key")) or _text(values.get("leika_key")),
        ozg_id=_text(service.get("ozg_id")) or _text(values.get("ozg_id")),
        repository_url=_text(publiccode.get("url")) or _text(values.get("repository_url")),
        is_based_on=_texts(publiccode.get("isBasedOn")),
        used_by=_texts(publiccode.get("usedBy")),
    )


def _yaml_mapping(path: Path) -> Mapping[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _toml_mapping(path: Path) -> Mapping[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _texts(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, list):
        return tuple(str(v) for v in value if isinstance(v, str | int))
    return ()
