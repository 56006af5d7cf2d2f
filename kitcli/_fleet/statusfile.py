"""The status file a project's CI publishes (``kit fleet publish``) and ``kit fleet status`` reads.

Schema (version 1), documented in docs/coordinators/fleet.md::

    {
      "kit_status_version": 1,
      "generated_at": "2026-11-26T08:00:00+00:00",
      "kit_version": "0.1.0",
      "project": {"name": "hundesteuer", "service": "Hundesteuer online", "template": "ozg-service",
                  "url": "https://…", "municipality": {"ags": "09761000", "name": "Augsburg"}},
      "templates": [{"name": "base", "version": "v1.2.0", "src_path": "https://…"}],
      "divergence": {"managed": 0, "seeded": 1, "declared": 0, "stale": 0, "method": "…",
                     "files": [{"path": "README.md", "ownership": "seeded", "change": "modified",
                                "declared": false, "reason": null}]},
      "divergence_unavailable": null,
      "check": {"passed": 30, "failed": 0, "warnings": 2, "not_applicable": 4, "ignored": 0,
                "failed_codes": []},
      "check_unavailable": null,
      "last_commit": "2026-11-20T10:00:00+01:00",
      "service": {"name": "…", "description": "…", "leika_key": "…", "ozg_id": "…", …},
      "error": null
    }

``check`` may also hold the whole report of ``kit check --format json``; its summary is read.
A bare ``kit check --format json`` report is read as well, as a row that knows only the check.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._errors import KitError, UserError
from .._version import __version__
from . import drift
from .rows import CheckSummary, Divergence, Municipality, Row, ServiceInfo, TemplateVersion

STATUS_VERSION = 1
KIND = "status file"


class BadStatusFile(UserError):
    def __init__(self, *, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(f"status file {path} {problem}")


def build(row: Row, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The status document for a project's row."""
    stamp = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    return {
        "kit_status_version": STATUS_VERSION,
        "generated_at": stamp,
        "kit_version": __version__,
        "project": {
            "name": row.name,
            "service": row.service,
            "template": row.template,
            "url": row.url,
            "municipality": {"ags": row.municipality.ags, "name": row.municipality.name} if row.municipality else None,
        },
        "templates": [{"name": t.name, "version": t.version, "src_path": t.src_path} for t in row.templates],
        "divergence": row.divergence.to_json() if row.divergence else None,
        "divergence_unavailable": row.divergence_unavailable,
        "check": row.check.to_json() if row.check else None,
        "check_unavailable": row.check_unavailable,
        "last_commit": row.last_commit,
        "service": row.info.to_json() if row.info else None,
        "error": row.error,
    }


def load(path: Path) -> Mapping[str, Any]:
    """Read and check a status file; raise :class:`BadStatusFile` with the reason."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BadStatusFile(path=path, problem=f"is unreadable ({error.__class__.__name__}: {error})") from error
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadStatusFile(path=path, problem=f"is no valid JSON ({error.msg} at line {error.lineno})") from error
    if is_check_report(data):
        return dict(data)
    if not isinstance(data, dict) or "kit_status_version" not in data:
        raise BadStatusFile(path=path, problem=(
            "is no kit status file (no kit_status_version); produce one with `kit fleet publish`"
        ))
    if data["kit_status_version"] != STATUS_VERSION:
        raise BadStatusFile(path=path, problem=(
            f"has kit_status_version {data['kit_status_version']!r}; this kit reads version {STATUS_VERSION}"
        ))
    if not isinstance(data.get("project"), dict) or not isinstance(data.get("templates"), list):
        raise BadStatusFile(path=path, problem="lacks `project` or `templates`")
    return data


def is_check_report(data: object) -> bool:
    """A report of ``kit check --format json`` (what older CI jobs publish as kit-status.json)."""
    return (isinstance(data, dict) and "kit_status_version" not in data
            and isinstance(data.get("summary"), dict) and isinstance(data.get("results"), list))


def check_report_row(path: Path, data: Mapping[str, Any], *, listed_in: str) -> Row:
    """A row from a bare ``kit check`` report: the check summary and nothing else is known."""
    missing = "not in a kit check report; publish the status with `kit fleet publish` instead"
    return Row(
        location=str(path), kind=KIND, listed_in=listed_in,
        name=Path(str(data.get("project") or path.stem)).name,
        divergence_unavailable=missing,
        check=CheckSummary.from_report_json(data),
        notes=(f"{path.name} is a `kit check --format json` report, not a status file: municipality, "
               "template versions and divergence are unknown",),
    )


def read_row(path: Path, *, listed_in: str, templates: drift.Templates) -> Row:
    data = load(path)
    if is_check_report(data):
        return check_report_row(path, data, listed_in=listed_in)
    project = data["project"]
    municipality = project.get("municipality")
    layers = []
    for item in data["templates"]:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("name", "version", "src_path")):
            raise BadStatusFile(path=path, problem="has a `templates` entry without name, version and src_path")
        layers.append(drift.LayerRecord(item["name"], item["src_path"], item["version"], {}))
    divergence = data.get("divergence")
    check = data.get("check")
    info = data.get("service")
    error = data.get("error")
    return Row(
        location=str(path),
        kind=KIND,
        listed_in=listed_in,
        name=_text(project.get("name")),
        service=_text(project.get("service")),
        template=_text(project.get("template")),
        url=_text(project.get("url")),
        municipality=Municipality(ags=str(municipality.get("ags") or ""), name=str(municipality.get("name") or ""))
        if isinstance(municipality, dict) else None,
        templates=tuple(_version(templates, layer) for layer in layers),
        divergence=Divergence.from_json(divergence) if isinstance(divergence, dict) else None,
        divergence_unavailable=_text(data.get("divergence_unavailable"))
        or (None if isinstance(divergence, dict) else "not in the status file"),
        check=CheckSummary.from_report_json(check) if isinstance(check, dict) else None,
        check_unavailable=_text(data.get("check_unavailable"))
        or (None if isinstance(check, dict) else "not in the status file"),
        last_commit=_text(data.get("last_commit")),
        generated_at=_text(data.get("generated_at")),
        info=ServiceInfo.from_json(info) if isinstance(info, dict) else None,
        error=f"the project's CI reported: {error}" if isinstance(error, str) and error else None,
    )


def _version(templates: drift.Templates, layer: drift.LayerRecord) -> TemplateVersion:
    try:
        return templates.version(layer)
    except KitError as error:
        return TemplateVersion(layer.template, layer.version, layer.src_path, unknown_reason=str(error))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
