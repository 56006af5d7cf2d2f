"""The template set a source serves: its templates, their questions and their declarations.

The root ``copier.yml`` dispatches to ``templates/<name>/project`` and ``!include``s the question
files; each template declares its description, managed and seeded paths and its test matrix in
``templates/<name>/kit-template.toml``.
"""

from __future__ import annotations

import fnmatch
import subprocess
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from ._errors import UserError
from ._source import Source

TEMPLATES_DIR = "templates"


@dataclass(frozen=True)
class TemplateInfo:
    """One template of the set, as declared in its ``kit-template.toml``."""

    name: str
    description: str
    managed: tuple[str, ...] = ()
    seeded: tuple[str, ...] = ()
    matrix: tuple[Mapping[str, Any], ...] = ()
    cookiecutter_mapping: Mapping[str, str] = field(default_factory=dict)
    extends: tuple[str, ...] = ()
    """Templates applied first, each as its own layer (``ozg-service`` extends ``base``)."""
    next_steps: tuple[str, ...] = ()


@dataclass(frozen=True)
class TemplateSet:
    """What a source serves at one ref."""

    source: Source
    ref: str
    settings: Mapping[str, Any]
    questions: Mapping[str, Mapping[str, Any]]
    templates: Mapping[str, TemplateInfo]

    def template(self, name: str) -> TemplateInfo:
        try:
            return self.templates[name]
        except KeyError:
            known = ", ".join(sorted(self.templates)) or "none"
            raise UserError(f"unknown template {name!r}; templates in {self.source.location}: {known}") from None

    def layers(self, name: str) -> tuple[str, ...]:
        """The templates a project made from *name* carries, in the order they are applied."""
        order: list[str] = []

        def visit(current: str, trail: tuple[str, ...]) -> None:
            if current in trail:
                raise UserError(f"templates extend each other in a cycle: {' -> '.join((*trail, current))}")
            for parent in self.template(current).extends:
                visit(parent, (*trail, current))
            if current not in order:
                order.append(current)

        visit(name, ())
        return tuple(order)

    def questions_for(self, name: str) -> dict[str, Mapping[str, Any]]:
        """Questions that apply to template *name* (those whose ``when`` names it, or all)."""
        return {key: spec for key, spec in self.questions.items() if key != "template" and _applies(spec, name)}


def _applies(spec: Mapping[str, Any], template: str) -> bool:
    when = spec.get("when")
    if when is None or when is True:
        return True
    if when is False:
        return False
    text = str(when)
    if "template ==" in text:
        return f"'{template}'" in text or f'"{template}"' in text
    return True


class _Include:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern


# The C loader when PyYAML has it: parsing the question files is most of the kit's own work in `kit new`.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[valid-type,misc]
    pass


def _include(loader: yaml.SafeLoader, node: yaml.Node) -> _Include:
    return _Include(str(loader.construct_scalar(node)))  # type: ignore[arg-type]


_Loader.add_constructor("!include", _include)


def _load_documents(source: Source, ref: str, relpath: str, seen: set[str]) -> list[dict[str, Any]]:
    text = source.read(ref, relpath)
    if text is None:
        raise UserError(f"{relpath} is missing in template source {source.location} at {ref}")
    if relpath in seen:
        return []
    seen.add(relpath)
    try:
        documents = list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as error:
        raise UserError(f"{relpath} in template source {source.location} is no valid YAML: {error}") from error
    merged: list[dict[str, Any]] = []
    for document in documents:
        if isinstance(document, _Include):
            for included in _expand(source, ref, document.pattern):
                merged.extend(_load_documents(source, ref, included, seen))
        elif isinstance(document, dict):
            merged.append(document)
    return merged


def _expand(source: Source, ref: str, pattern: str) -> list[str]:
    if not any(ch in pattern for ch in "*?["):
        return [pattern]
    if ref == "HEAD" and source.is_local:
        return sorted(str(p.relative_to(source.checkout)) for p in source.checkout.glob(pattern))
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", ref],
        cwd=source.checkout,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    return sorted(path for path in listing if fnmatch.fnmatch(path, pattern))


def load(source: Source, ref: str) -> TemplateSet:
    """Read the template set *source* serves at *ref*."""
    documents = _load_documents(source, ref, "copier.yml", set())
    combined: dict[str, Any] = {}
    for document in documents:
        combined.update(document)
    settings = {key: value for key, value in combined.items() if key.startswith("_")}
    questions = {
        key: (value if isinstance(value, dict) else {"default": value})
        for key, value in combined.items()
        if not key.startswith("_")
    }
    templates: dict[str, TemplateInfo] = {}
    for name in source.list_dir(ref, TEMPLATES_DIR):
        declaration = source.read(ref, f"{TEMPLATES_DIR}/{name}/kit-template.toml")
        if declaration is None:
            if "project" in source.list_dir(ref, f"{TEMPLATES_DIR}/{name}"):
                templates[name] = TemplateInfo(name=name, description="")
            continue
        try:
            data = tomllib.loads(declaration)
        except tomllib.TOMLDecodeError as error:
            raise UserError(f"templates/{name}/kit-template.toml is no valid TOML: {error}") from error
        files = data.get("files", {})
        templates[name] = TemplateInfo(
            name=name,
            description=str(data.get("description", "")),
            managed=tuple(files.get("managed", ())),
            seeded=tuple(files.get("seeded", ())),
            matrix=tuple(data.get("matrix", ())),
            cookiecutter_mapping=dict(data.get("cookiecutter", {}).get("mapping", {})),
            extends=tuple(data.get("extends", ())),
            next_steps=tuple(data.get("next_steps", ())),
        )
    return TemplateSet(source=source, ref=ref, settings=settings, questions=questions, templates=templates)
