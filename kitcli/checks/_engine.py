"""The rule engine: what a rule is, what it returns, and how a run turns rules into results.

A rule is a small declarative class (the pattern of scientific-python's repo-review): a stable
code, a family, a severity, the first docstring line as its one-line description, the rest of
the docstring as the text of its docs page, and a :meth:`Rule.check` that returns an
:class:`Outcome`. Codes are stable: a rule that goes away leaves its code unused, never reused.
"""

from __future__ import annotations

import enum
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .._errors import KitError

if TYPE_CHECKING:
    from ._context import ProjectContext

CODE_RE = re.compile(r"^KIT[1-9]\d\d$")
DOCS_DIR = "docs/rules"


class Severity(enum.StrEnum):
    """How much a failing rule matters: errors set exit code 1, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


class Status(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not_applicable"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Family:
    name: str
    prefix: str
    title: str


FAMILIES: tuple[Family, ...] = (
    Family("repository", "KIT1", "Repository standards (OpenCoDE)"),
    Family("publiccode", "KIT2", "publiccode.yml"),
    Family("reuse", "KIT3", "Licensing information (REUSE)"),
    Family("ci", "KIT4", "CI and bots"),
    Family("service", "KIT5", "Online services: legal pages and OZG data"),
    Family("template", "KIT6", "Template currency and drift"),
)
FAMILY_BY_NAME = {family.name: family for family in FAMILIES}


@dataclass(frozen=True)
class Outcome:
    """What :meth:`Rule.check` returns: pass, fail with a message naming file and problem, or
    not applicable with the reason."""

    status: Status
    message: str = ""
    location: str | None = None


def passed(message: str = "") -> Outcome:
    return Outcome(Status.PASS, message)


def failed(message: str, location: str | None = None) -> Outcome:
    return Outcome(Status.FAIL, message, location)


def not_applicable(reason: str) -> Outcome:
    return Outcome(Status.NOT_APPLICABLE, reason)


class Rule:
    """Base of every rule; subclasses set the class attributes and implement :meth:`check`."""

    code: ClassVar[str]
    family: ClassVar[str]
    severity: ClassVar[Severity] = Severity.ERROR
    go_live: ClassVar[bool] = False
    """Go-live readiness: a warning by default, an error with ``--strict`` (or
    ``[check] strict = true`` in kit.toml)."""

    def check(self, project: ProjectContext) -> Outcome:
        raise NotImplementedError

    @classmethod
    def description(cls) -> str:
        return (inspect.getdoc(cls) or "").strip().splitlines()[0].rstrip(".")

    @classmethod
    def details(cls) -> str:
        """The docstring after its first line: the body of the rule's docs page (Markdown)."""
        lines = (inspect.getdoc(cls) or "").strip().splitlines()[1:]
        return "\n".join(lines).strip()

    @classmethod
    def docs_path(cls) -> str:
        return f"{DOCS_DIR}/{cls.code}.md"

    @classmethod
    def severity_for(cls, *, strict: bool) -> Severity:
        return Severity.ERROR if strict and cls.go_live else cls.severity


_REGISTRY: dict[str, type[Rule]] = {}


class RuleDefinitionError(KitError):
    """A rule class breaks the engine's conventions (a bug in the kit, found at import)."""


def register(cls: type[Rule]) -> type[Rule]:
    """Class decorator: add a rule to the registry after checking its declaration."""
    code = getattr(cls, "code", "")
    family = FAMILY_BY_NAME.get(getattr(cls, "family", ""))
    problem = None
    if not CODE_RE.fullmatch(code):
        problem = f"code {code!r} is not KIT followed by three digits"
    elif family is None:
        problem = f"family {getattr(cls, 'family', None)!r} is unknown"
    elif not code.startswith(family.prefix):
        problem = f"code {code} does not belong to family {family.name} ({family.prefix}xx)"
    elif code in _REGISTRY and _REGISTRY[code] is not cls:
        problem = f"code {code} is taken by {_REGISTRY[code].__name__}"
    elif not inspect.getdoc(cls) or inspect.getdoc(cls) == inspect.getdoc(Rule):
        problem = "it has no docstring (its first line is the rule's description)"
    if problem:
        raise RuleDefinitionError(f"rule {cls.__name__}: {problem}")
    _REGISTRY[code] = cls
    return cls


def all_rules() -> tuple[type[Rule], ...]:
    """Every rule, in code order."""
    from . import ci, publiccode, repository, reuse, service, template  # noqa: F401  (registers)

    return tuple(_REGISTRY[code] for code in sorted(_REGISTRY))


@dataclass(frozen=True)
class RuleResult:
    """One rule's result in a report; every output format is rendered from these."""

    code: str
    family: str
    severity: Severity
    status: Status
    description: str
    message: str
    location: str | None
    docs: str
    ignore_reason: str | None = None

    @property
    def is_error(self) -> bool:
        return self.status is Status.FAIL and self.severity is Severity.ERROR

    @property
    def is_warning(self) -> bool:
        return self.status is Status.FAIL and self.severity is Severity.WARNING

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "family": self.family,
            "severity": str(self.severity),
            "status": str(self.status),
            "description": self.description,
            "message": self.message,
            "location": self.location,
            "docs": self.docs,
            "ignore_reason": self.ignore_reason,
        }


def run(
    project: ProjectContext,
    rules: Iterable[type[Rule]],
    *,
    ignores: Mapping[str, str],
    docs_url: Callable[[type[Rule]], str],
) -> tuple[RuleResult, ...]:
    """Check *project* against *rules*; a rule in *ignores* is reported with its reason, not run.

    A :class:`~kitcli.KitError` raised inside a rule (a git call that failed, say) becomes that
    rule's failure, so one broken input never hides the other results.
    """
    results = []
    for rule in rules:
        if rule.code in ignores:
            outcome = Outcome(Status.IGNORED)
        else:
            try:
                outcome = rule().check(project)
            except KitError as error:
                outcome = failed(f"could not be checked: {error}")
        results.append(RuleResult(
            code=rule.code,
            family=rule.family,
            severity=rule.severity_for(strict=project.strict),
            status=outcome.status,
            description=rule.description(),
            message=outcome.message,
            location=outcome.location,
            docs=docs_url(rule),
            ignore_reason=ignores.get(rule.code) if outcome.status is Status.IGNORED else None,
        ))
    return tuple(results)
