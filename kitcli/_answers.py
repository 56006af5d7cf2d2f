"""Reading the answers files Copier leaves in a project (``.copier-answers.<template>.yml``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ._errors import UserError

# libyaml's safe loader when PyYAML has it: the same YAML, ten times faster (`kit fleet status`
# reads two answers files per project, for every project of the fleet).
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ANSWERS_GLOB = ".copier-answers*.yml"
ANSWERS_RE = re.compile(r"^\.copier-answers(?:\.(?P<name>.+))?\.ya?ml$")


@dataclass(frozen=True)
class Answers:
    """One template layer recorded in a project."""

    path: Path
    """The answers file, relative to the project root."""
    template: str
    src_path: str
    commit: str
    values: Mapping[str, Any]

    @property
    def user_answers(self) -> dict[str, Any]:
        return {k: v for k, v in self.values.items() if not k.startswith("_")}


class CorruptAnswers(UserError):
    def __init__(self, *, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(f"{path}: {problem}; restore it from git history or run `kit adopt`")


def read(project: Path, relpath: Path) -> Answers:
    path = project / relpath
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except FileNotFoundError:
        raise UserError(f"{relpath}: no such answers file in {project}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise CorruptAnswers(path=relpath, problem=f"is no valid YAML ({_first_line(error)})") from error
    if not isinstance(data, dict):
        raise CorruptAnswers(path=relpath, problem="is no mapping of answers")
    for key in ("_src_path", "_commit"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise CorruptAnswers(path=relpath, problem=f"has no {key}")
    match = ANSWERS_RE.match(relpath.name)
    template = str(data.get("template") or (match and match.group("name")) or "default")
    return Answers(path=relpath, template=template, src_path=data["_src_path"], commit=data["_commit"], values=data)


def find(project: Path) -> list[Path]:
    """The answers files at the root of *project*, relative to it, sorted by name."""
    return sorted(
        path.relative_to(project)
        for path in project.glob(ANSWERS_GLOB)
        if path.is_file() and ANSWERS_RE.match(path.name)
    )


def read_all(project: Path) -> list[Answers]:
    files = find(project)
    if not files:
        raise UserError(
            f"{project} has no .copier-answers.*.yml: it was not generated from a template; "
            "use `kit adopt` to link it to one"
        )
    layers = [read(project, relpath) for relpath in files]
    # base first, then the layers built on it: the order they were applied in
    return sorted(layers, key=lambda a: (a.template != "base", a.template))


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
