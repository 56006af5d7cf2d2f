"""``kit check``: does a project meet the cooperation's standards?

Runs the rules of :mod:`kitcli.checks` against a project and returns one report that every
output format (text, JSON, Markdown) is rendered from. Findings are data, not errors: the
command raises only for bad input (a missing directory, an unknown rule code, a broken
kit.toml).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import _paths, _project
from .._errors import EXIT_FINDINGS, EXIT_OK, UserError
from .._version import __version__
from ..checks import FAMILIES, ProjectContext, Rule, RuleResult, Severity, Status, all_rules, run

REPORT_VERSION = 1
TOKEN_RE = re.compile(r"^KIT\d{0,3}$")
CLI_IGNORE_REASON = "ignored on the command line (--ignore)"


@dataclass(frozen=True)
class CheckOptions:
    """What ``kit check`` checks and how."""

    project: Path = Path()
    select: tuple[str, ...] = ()
    """Codes or prefixes (``KIT2``) of the rules to run; empty: all."""
    ignore: tuple[str, ...] = ()
    """Codes or prefixes of rules to report as ignored instead of running them."""
    strict: bool = False
    """Go-live readiness: go-live rules fail as errors (also ``[check] strict`` in kit.toml)."""
    docs_url: str | None = None
    """Base URL of the rule pages; default: the ``docs_url`` setting, else ``docs/rules/``."""


@dataclass(frozen=True)
class Summary:
    passed: int
    failed: int
    warnings: int
    not_applicable: int
    ignored: int

    def to_json(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass(frozen=True)
class CheckReport:
    project: Path
    strict: bool
    results: tuple[RuleResult, ...]

    @property
    def summary(self) -> Summary:
        statuses = [r.status for r in self.results]
        return Summary(
            passed=statuses.count(Status.PASS),
            failed=sum(1 for r in self.results if r.is_error),
            warnings=sum(1 for r in self.results if r.is_warning),
            not_applicable=statuses.count(Status.NOT_APPLICABLE),
            ignored=statuses.count(Status.IGNORED),
        )

    @property
    def exit_code(self) -> int:
        """1 when a rule at error level failed; warnings do not change it."""
        return EXIT_FINDINGS if any(r.is_error for r in self.results) else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        """The report as documented in docs/reference/check-json-schema.json."""
        return {
            "version": REPORT_VERSION,
            "kit_version": __version__,
            "project": str(self.project),
            "strict": self.strict,
            "summary": self.summary.to_json(),
            "results": [r.to_json() for r in self.results],
        }

    def to_markdown(self) -> str:
        """A report for CI job summaries (GitLab, GitHub): problems first, the rest folded."""
        return render_markdown(self)


def parse_codes(values: Iterable[str], *, option: str, known: Iterable[str]) -> tuple[str, ...]:
    """Split comma-separated codes and prefixes and check each matches at least one rule."""
    codes = tuple(known)
    tokens: list[str] = []
    for value in values:
        for raw in value.split(","):
            token = raw.strip().upper()
            if not token:
                continue
            if not TOKEN_RE.fullmatch(token) or not any(code.startswith(token) for code in codes):
                raise UserError(
                    f"{option} {raw.strip()!r}: no rule has this code or prefix; codes run from "
                    f"{codes[0]} to {codes[-1]} (kit check --help, docs/rules/index.md)"
                )
            tokens.append(token)
    return tuple(dict.fromkeys(tokens))


def _matches(code: str, tokens: Iterable[str]) -> bool:
    return any(code.startswith(token) for token in tokens)


def docs_link(base: str | None) -> Any:
    def link(rule: type[Rule]) -> str:
        return f"{base.rstrip('/')}/{rule.code}.md" if base else rule.docs_path()

    return link


def check(options: CheckOptions) -> CheckReport:
    """Check the project at ``options.project`` against the selected rules."""
    root = options.project.expanduser()
    if not root.exists():
        raise UserError(f"{options.project}: no such directory; pass the project's directory")
    if not root.is_dir():
        raise UserError(f"{options.project} is a file; pass the project's directory")
    root = root.resolve()
    rules = all_rules()
    known = [rule.code for rule in rules]
    select = parse_codes(options.select, option="--select", known=known)
    ignore = parse_codes(options.ignore, option="--ignore", known=known)
    config = _project.load(root)
    ignores: dict[str, str] = {}
    for item in config.ignores:
        tokens = parse_codes([item.code], option=f"{_project.KIT_TOML} [[check.ignore]] code", known=known)
        ignores.update({code: item.reason for code in known if _matches(code, tokens)})
    for code in known:
        if _matches(code, ignore):
            ignores.setdefault(code, CLI_IGNORE_REASON)
    chosen = [rule for rule in rules if not select or _matches(rule.code, select)]
    strict = options.strict or config.strict
    base = options.docs_url if options.docs_url is not None else _configured_docs_url()
    context = ProjectContext(root, config=config, strict=strict)
    results = run(context, chosen, ignores=ignores, docs_url=docs_link(base))
    return CheckReport(project=root, strict=strict, results=results)


def _configured_docs_url() -> str | None:
    value = _paths.load_config().get("docs_url")
    return value if isinstance(value, str) and value else None


# --- Markdown ------------------------------------------------------------------------------

_MARK = {
    Status.PASS: "✅",
    Status.NOT_APPLICABLE: "⚪",
    Status.IGNORED: "🔕",
}


def mark(result: RuleResult) -> str:
    if result.status is Status.FAIL:
        return "❌" if result.severity is Severity.ERROR else "⚠️"
    return _MARK[result.status]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _detail(result: RuleResult) -> str:
    if result.status is Status.IGNORED:
        return f"ignored: {result.ignore_reason}"
    return result.message


def _table(results: Iterable[RuleResult]) -> list[str]:
    lines = ["| | Rule | Description | Result |", "|---|---|---|---|"]
    lines += [
        f"| {mark(r)} | [{r.code}]({r.docs}) | {_cell(r.description)} | {_cell(_detail(r))} |"
        for r in results
    ]
    return lines


def render_markdown(report: CheckReport) -> str:
    s = report.summary
    verdict = "failed" if report.exit_code else "passed"
    lines = [
        f"## kit check {verdict}",
        "",
        f"{s.failed} failed, {s.warnings} warning(s), {s.passed} passed, "
        f"{s.not_applicable} not applicable, {s.ignored} ignored"
        + (" (strict: go-live rules count as errors)" if report.strict else ""),
        "",
    ]
    problems = [r for r in report.results if r.status is Status.FAIL]
    problems.sort(key=lambda r: (r.severity is not Severity.ERROR, r.code))
    if problems:
        lines += [*_table(problems), ""]
    rest = [r for r in report.results if r.status is not Status.FAIL]
    if rest:
        lines += ["<details><summary>Other rules</summary>", "", *_table(rest), "", "</details>", ""]
    return "\n".join(lines)


def family_titles() -> Mapping[str, str]:
    return {family.name: family.title for family in FAMILIES}
