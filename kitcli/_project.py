"""A project's own kit configuration, ``kit.toml`` at its root.

It records intended deviations from the template and check ignores, each with a reason::

    [[deviation]]
    path = "SECURITY.md"            # a path or gitignore-style glob, relative to the project
    reason = "Security contact is the city's central CERT"
    approved_by = "Jane Doe (IT-Sicherheit)"
    date = 2026-11-26

    [[check.ignore]]
    code = "KIT301"
    reason = "REUSE is checked by the city's own pipeline"

    [check]
    strict = true                   # go-live readiness: `kit check` treats go-live warnings as errors
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ._errors import UserError

KIT_TOML = "kit.toml"


@dataclass(frozen=True)
class Deviation:
    path: str
    reason: str
    approved_by: str
    date: str

    def matches(self, relpath: str) -> bool:
        return relpath == self.path or fnmatch.fnmatchcase(relpath, self.path)


@dataclass(frozen=True)
class Ignore:
    code: str
    reason: str


@dataclass(frozen=True)
class ProjectConfig:
    deviations: tuple[Deviation, ...] = ()
    ignores: tuple[Ignore, ...] = ()
    strict: bool = False
    """``[check] strict``: go-live rules of ``kit check`` fail as errors, not warnings."""

    def deviation_for(self, relpath: str) -> Deviation | None:
        return next((d for d in self.deviations if d.matches(relpath)), None)


def _text(value: object, *, where: str, key: str, required: bool = True) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and (value.strip() or not required):
        return value.strip()
    raise UserError(f"{where}: `{key}` must be a non-empty string")


def _tables(value: object, *, path: Path, name: str, item_hint: str = "") -> list[tuple[str, dict[str, object]]]:
    """The tables of the array ``[[name]]``, each with where it stands, for messages."""
    if not isinstance(value, list):
        raise UserError(f"{path}: `{name} = {value!r}` must be an array of tables; write each as [[{name}]]")
    tables = []
    for index, item in enumerate(value, start=1):
        where = f"{KIT_TOML} [[{name}]] #{index}"
        if not isinstance(item, dict):
            raise UserError(f"{where} must be a table{item_hint}")
        tables.append((where, item))
    return tables


def load(project: Path) -> ProjectConfig:
    """Read ``kit.toml`` of *project*; an absent file means no deviations and no ignores."""
    path = project / KIT_TOML
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ProjectConfig()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise UserError(f"{path} is no valid TOML ({error}); fix it") from error
    deviations = [
        Deviation(
            path=_text(item.get("path"), where=where, key="path"),
            reason=_text(item.get("reason"), where=where, key="reason"),
            approved_by=_text(item.get("approved_by"), where=where, key="approved_by"),
            date=_text(item.get("date"), where=where, key="date"),
        )
        for where, item in _tables(data.get("deviation", []), path=path, name="deviation")
    ]
    check = data.get("check", {})
    if not isinstance(check, dict):
        raise UserError(f"{path}: `check = {check!r}` must be a table; write it as [check]")
    ignores = [
        Ignore(
            code=_text(item.get("code"), where=where, key="code").upper(),
            reason=_text(item.get("reason"), where=where, key="reason"),
        )
        for where, item in _tables(
            check.get("ignore", []),
            path=path,
            name="check.ignore",
            item_hint=" with code and reason",
        )
    ]
    strict = check.get("strict", False)
    if not isinstance(strict, bool):
        raise UserError(f"{KIT_TOML} [check]: `strict` must be true or false, not {strict!r}")
    return ProjectConfig(deviations=tuple(deviations), ignores=tuple(ignores), strict=strict)
