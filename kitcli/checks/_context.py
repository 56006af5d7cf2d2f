"""What the rules look at: one project, with every shared input loaded at most once.

Rules never read the same file twice or call git twice: they ask the :class:`ProjectContext`,
which loads each input (a file's text, publiccode.yml, the answers files, kit.toml, the git
remote, the template diff) on first use and keeps it for the rest of the run.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .. import _answers, _git
from .._errors import KitError
from .._project import ProjectConfig

if TYPE_CHECKING:
    from ..commands.diff import DiffResult

PUBLICCODE = "publiccode.yml"
SERVICE_TEMPLATE = "ozg-service"
KOMMUNE_TOML = "kommune.toml"
SERVICE_TOML = "service.toml"
SKIP_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".mypy_cache",
                       ".pytest_cache", ".ruff_cache", "dist", "build", ".nox"})


@dataclass(frozen=True)
class Document:
    """A parsed data file: ``data`` when it parsed, else ``error``; ``exists`` tells the two
    "nothing" cases apart."""

    path: str
    exists: bool
    data: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.exists and self.error is None


@dataclass(frozen=True)
class AnswersState:
    """The template layers recorded in the project, and answers files that could not be read."""

    layers: tuple[_answers.Answers, ...]
    problems: tuple[str, ...]

    def values(self) -> dict[str, Any]:
        """Every layer's answers, later layers winning."""
        merged: dict[str, Any] = {}
        for layer in self.layers:
            merged.update(layer.user_answers)
        return merged


@dataclass(frozen=True)
class DeclaredLicense:
    expression: str
    source: str
    """Where the expression was declared, e.g. ``publiccode.yml legal.license``."""


@dataclass(frozen=True)
class DiffState:
    """The template diff (``kitcli.commands.diff``), or why there is none."""

    result: DiffResult | None = None
    unavailable: str | None = None


class ProjectContext:
    """One project under check. Not thread-safe; one instance per run."""

    def __init__(self, root: Path, *, config: ProjectConfig | None = None, strict: bool = False) -> None:
        self.root = root
        self.config = config or ProjectConfig()
        self.strict = strict
        self._texts: dict[str, str | None] = {}
        self._tomls: dict[str, Document] = {}

    # --- files ---------------------------------------------------------------------------

    def path(self, relpath: str) -> Path:
        return self.root / relpath

    def is_file(self, relpath: str) -> bool:
        return self.path(relpath).is_file()

    def is_dir(self, relpath: str) -> bool:
        return self.path(relpath).is_dir()

    def text(self, relpath: str) -> str | None:
        """The file's text, or None when it is absent or not UTF-8 text."""
        if relpath not in self._texts:
            try:
                self._texts[relpath] = self.path(relpath).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                self._texts[relpath] = None
        return self._texts[relpath]

    @cached_property
    def files(self) -> tuple[str, ...]:
        """Every file of the project (``/``-separated), without VCS, dependency and build
        directories; the same walk serves every rule that searches."""
        found: list[str] = []
        for directory, dirs, names in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            base = os.path.relpath(directory, self.root).replace(os.sep, "/")
            prefix = "" if base == "." else base + "/"
            found.extend(prefix + name for name in sorted(names))
        return tuple(found)

    def first_file(self, candidates: Iterable[str]) -> str | None:
        return next((c for c in candidates if self.is_file(c)), None)

    def names_in(self, relpath: str) -> tuple[str, ...]:
        """File names directly inside directory *relpath* (empty when it does not exist)."""
        directory = self.path(relpath)
        if not directory.is_dir():
            return ()
        return tuple(sorted(p.name for p in directory.iterdir() if p.is_file()))

    def toml(self, relpath: str) -> Document:
        if relpath not in self._tomls:
            text = self.text(relpath)
            if text is None:
                exists = self.is_file(relpath)
                doc = Document(relpath, exists, error="is not UTF-8 text" if exists else None)
            else:
                try:
                    doc = Document(relpath, True, tomllib.loads(text))
                except tomllib.TOMLDecodeError as error:
                    doc = Document(relpath, True, error=f"is no valid TOML ({error})")
            self._tomls[relpath] = doc
        return self._tomls[relpath]

    @cached_property
    def publiccode(self) -> Document:
        text = self.text(PUBLICCODE)
        if text is None:
            exists = self.is_file(PUBLICCODE)
            return Document(PUBLICCODE, exists, error="is not UTF-8 text" if exists else None)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            return Document(PUBLICCODE, True, error=f"is no valid YAML{where}: {problem}")
        if not isinstance(data, dict):
            return Document(PUBLICCODE, True, error="is no YAML mapping of keys")
        return Document(PUBLICCODE, True, data)

    # --- kit metadata --------------------------------------------------------------------

    @cached_property
    def answers(self) -> AnswersState:
        layers, problems = [], []
        for relpath in _answers.find(self.root):
            try:
                layers.append(_answers.read(self.root, relpath))
            except KitError as error:
                problems.append(str(error))
        layers.sort(key=lambda a: (a.template != "base", a.template))
        return AnswersState(tuple(layers), tuple(problems))

    @property
    def is_kit_project(self) -> bool:
        return bool(self.answers.layers or self.answers.problems)

    @cached_property
    def is_service(self) -> bool:
        """An online service: it carries the ozg-service layer or its data files."""
        return (
            any(layer.template == SERVICE_TEMPLATE for layer in self.answers.layers)
            or self.is_file(f".copier-answers.{SERVICE_TEMPLATE}.yml")
            or self.is_file(KOMMUNE_TOML)
        )

    @cached_property
    def declared_license(self) -> DeclaredLicense | None:
        """The project's licence as declared in publiccode.yml, the answers or pyproject.toml."""
        doc = self.publiccode
        if doc.ok:
            legal = doc.data.get("legal")
            if isinstance(legal, dict) and isinstance(legal.get("license"), str) and legal["license"].strip():
                return DeclaredLicense(legal["license"].strip(), "publiccode.yml legal.license")
        answered = self.answers.values().get("license")
        if isinstance(answered, str) and answered.strip():
            return DeclaredLicense(answered.strip(), "the template answers (license)")
        pyproject = self.toml("pyproject.toml")
        if pyproject.ok:
            project = pyproject.data.get("project", {})
            declared = project.get("license") if isinstance(project, dict) else None
            if isinstance(declared, str) and declared.strip():
                return DeclaredLicense(declared.strip(), "pyproject.toml project.license")
        return None

    # --- git and the template ------------------------------------------------------------

    @cached_property
    def git_remote(self) -> str | None:
        """The URL of ``origin``, else of the first remote; None outside git or without one."""
        names = _git.run(self.root, "remote", check=False).split()
        if not names:
            return None
        name = "origin" if "origin" in names else names[0]
        url = _git.run(self.root, "remote", "get-url", name, check=False).strip()
        return url or None

    @cached_property
    def diff(self) -> DiffState:
        """The project's differences from its template (``kit diff``), computed once for every
        drift rule."""
        from ..commands.diff import DiffOptions, diff

        try:
            return DiffState(result=diff(DiffOptions(project=self.root)))
        except KitError as error:
            return DiffState(unavailable=str(error))
