"""KIT5xx: online services: legal pages, the municipality data file and OZG metadata.

A project is a service when it carries the ``ozg-service`` template layer or a
``kommune.toml``. The service renders its legal pages at run time from ``kommune.toml`` (the
municipality) and ``service.toml`` (the service); a required value that is empty appears on
the page as a visible placeholder „[fehlt: …]“. The rules read which values a page requires
from the page templates themselves (``kommune('…')`` and ``service('…')``), so they follow
the template as it evolves, and never import or run the project's code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from .._validate import AGS_RE, BAVARIAN_AGS_RE, LEIKA_RE
from ._context import KOMMUNE_TOML, SERVICE_TOML, ProjectContext
from ._engine import Outcome, Rule, Severity, failed, not_applicable, passed, register

FAMILY = "service"
NOT_A_SERVICE = "not an online service (no ozg-service template layer, no kommune.toml)"
PAGE_SUFFIXES = (".html", ".htm", ".jinja", ".jinja2", ".j2", ".njk", ".md", ".vue", ".jsx", ".tsx")
TEST_DIRS = {"tests", "test"}
REQUIRED_CALL_RE = re.compile(r"\b(kommune|service)\(\s*['\"]([^'\"]+)['\"]\s*\)")
JINJA_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
PLACEHOLDER_RE = re.compile(r"\[fehlt(?::[^\]\n]*)?\]")
# Values every service needs whatever its pages show: who the municipality is.
CORE_KOMMUNE_KEYS = ("municipality.name", "municipality.official_name", "municipality.ags")


@dataclass(frozen=True)
class LegalPage:
    title: str
    names: tuple[str, ...]
    """Stems of the page's file name (lower case), German first."""


IMPRESSUM = LegalPage("Impressum", ("impressum", "imprint", "legal-notice", "legal_notice"))
DATENSCHUTZ = LegalPage("Datenschutzerklärung", ("datenschutz", "datenschutzerklaerung", "privacy", "privacy-policy"))
BARRIEREFREIHEIT = LegalPage(
    "Erklärung zur Barrierefreiheit",
    ("barrierefreiheit", "erklaerung-zur-barrierefreiheit", "accessibility", "accessibility-statement"),
)
LEGAL_PAGES = (IMPRESSUM, DATENSCHUTZ, BARRIEREFREIHEIT)


def page_files(project: ProjectContext) -> list[str]:
    """Files that may be page templates: by suffix, outside tests and hidden directories."""
    return [
        relpath for relpath in project.files
        if relpath.endswith(PAGE_SUFFIXES)
        and not any(part in TEST_DIRS or part.startswith(".") for part in relpath.split("/")[:-1])
    ]


def find_page(project: ProjectContext, page: LegalPage) -> str | None:
    """The page template of *page*, found by its file name anywhere outside tests."""
    for relpath in page_files(project):
        stem = relpath.rsplit("/", 1)[-1].split(".", 1)[0].lower()
        if stem in page.names:
            return relpath
    return None


def lookup(data: Mapping[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def is_unfilled(value: Any) -> bool:
    """Whether the service shows a placeholder for *value* (mirrors the template's accessors).

    Texts given per language (``{de = …, en = …}``) fall back to German, so they are unfilled
    when the German text is. A list is never a placeholder: an empty list means "none".
    """
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Mapping) and ("de" in value or "en" in value):
        german = value.get("de")
        return not (isinstance(german, str) and german.strip()) and not isinstance(german, list)
    return False


def _data(project: ProjectContext, relpath: str) -> Mapping[str, Any] | None:
    doc = project.toml(relpath)
    return doc.data if doc.ok else None


def _service_or_reason(project: ProjectContext) -> Outcome | None:
    return None if project.is_service else not_applicable(NOT_A_SERVICE)


def _service_data(project: ProjectContext, relpath: str) -> Mapping[str, Any] | Outcome:
    """The parsed data file of a service, or why a rule on it does not apply."""
    reason = _service_or_reason(project)
    if reason:
        return reason
    data = _data(project, relpath)
    if data is None:
        return not_applicable(f"{relpath} is missing or invalid (see KIT509)")
    return data


def _filled(project: ProjectContext, relpath: str, dotted: str, *, label: str, empty: str) -> str | Outcome:
    """The non-empty value at *dotted* in a service's data file, or why a rule on it does not apply
    (*empty*: the rule that reports it empty instead)."""
    data = _service_data(project, relpath)
    if isinstance(data, Outcome):
        return data
    value = lookup(data, dotted)
    if is_unfilled(value):
        return not_applicable(f"{relpath} has no {label} yet (see {empty})")
    return str(value).strip()


def required_keys(project: ProjectContext, relpath: str) -> list[tuple[str, str]]:
    """(file, key) of every value the page template *relpath* requires, in order, once each."""
    found = [(f"{source}.toml", key) for source, key in REQUIRED_CALL_RE.findall(project.text(relpath) or "")]
    return list(dict.fromkeys(found))


class _LegalPageRule(Rule):
    page: ClassVar[LegalPage]

    def check(self, project: ProjectContext) -> Outcome:
        reason = _service_or_reason(project)
        if reason:
            return reason
        found = find_page(project, self.page)
        if found is None:
            names = " or ".join(f"{n}.html" for n in self.page.names[:2])
            return failed(f"no {self.page.title} page: no page template named {names} or similar")
        if not (project.text(found) or "").strip():
            return failed(f"the {self.page.title} page {found} is empty", found)
        return passed(found)


@register
class ImpressumPresent(_LegalPageRule):
    """The service has an Impressum page.

    § 5 DDG (formerly TMG) and § 18 MStV require an Impressum on every public online service:
    name and legal form, postal address, e-mail and a fast contact, who represents the
    municipality, the supervisory authority and who is responsible for the content. The rule
    looks for a page template named `impressum` (or `imprint`) outside the tests; the kit's
    `ozg-service` template has `app/templates/legal/impressum.html`.
    Does not apply to projects that are no online service.

    **How to fix:** restore the page from the template (`kit update`) or add it; link it from
    every page.
    """

    code = "KIT501"
    family = FAMILY
    page = IMPRESSUM


@register
class DatenschutzPresent(_LegalPageRule):
    """The service has a Datenschutzerklärung page.

    Art. 13 GDPR requires informing users when their data are collected: controller and
    contact, data-protection officer, purposes and legal basis (Art. 6 (1) (e) GDPR with
    Art. 4 BayDSG), recipients, retention, rights, the right to complain to the Bayerischer
    Landesbeauftragter für den Datenschutz, and server log files. The rule looks for a page
    template named `datenschutz` (or `privacy`); the kit's `ozg-service` template has
    `app/templates/legal/datenschutz.html`. Does not apply to projects that are no online
    service.

    **How to fix:** restore the page from the template (`kit update`) or add it; link it from
    every page.
    """

    code = "KIT502"
    family = FAMILY
    page = DATENSCHUTZ


@register
class BarrierefreiheitPresent(_LegalPageRule):
    """The service has an Erklärung zur Barrierefreiheit page.

    Art. 13 BayBGG and the BayDiV require an accessibility statement: compliance status
    against EN 301 549 / WCAG 2.1 AA, content that is not accessible and why, date and method
    of the assessment, a feedback mechanism, and the enforcement procedure at the LDBV. The
    rule looks for a page template named `barrierefreiheit` (or `accessibility`); the kit's
    `ozg-service` template has `app/templates/legal/barrierefreiheit.html`. Does not apply
    to projects that are no online service.

    **How to fix:** restore the page from the template (`kit update`) or add it; link it from
    every page.
    """

    code = "KIT503"
    family = FAMILY
    page = BARRIEREFREIHEIT


@register
class LegalPagesFilled(Rule):
    """The legal pages show no unfilled placeholder („[fehlt: …]“).

    The service renders Impressum, Datenschutzerklärung and Erklärung zur Barrierefreiheit from
    `kommune.toml` and `service.toml`; every required value that is empty appears on the page
    as „[fehlt: …]“. The rule reads which values each page requires from its template
    (`kommune('…')`, `service('…')`) and reports the empty ones, and it reports placeholder
    text written into a page literally. A freshly generated project shows placeholders for
    every fact the municipality's profile lacks, e.g. the data-protection officer.

    This is a **go-live** rule: a warning by default, an error with `kit check --strict` or
    `[check] strict = true` in `kit.toml`. The service's own `python -m app.golive` lists
    the same gaps.

    **How to fix:** fill in the values the message names in `kommune.toml` or `service.toml`
    (for kommune.toml preferably in the municipality profile, so that every service of the
    municipality gets them).
    """

    code = "KIT504"
    family = FAMILY
    severity = Severity.WARNING
    go_live = True

    def check(self, project: ProjectContext) -> Outcome:
        reason = _service_or_reason(project)
        if reason:
            return reason
        pages = [(page, find_page(project, page)) for page in LEGAL_PAGES]
        present = [(page, path) for page, path in pages if path]
        if not present:
            return not_applicable("the service has no legal pages (see KIT501 to KIT503)")
        data = {KOMMUNE_TOML: _data(project, KOMMUNE_TOML), SERVICE_TOML: _data(project, SERVICE_TOML)}
        problems: list[str] = []
        first: str | None = None
        for page, path in present:
            assert path is not None
            literal = list(dict.fromkeys(PLACEHOLDER_RE.findall(JINJA_RE.sub("", project.text(path) or ""))))
            empty = [
                f"{file} {key}" for file, key in required_keys(project, path)
                if data.get(file) is not None and is_unfilled(lookup(data[file] or {}, key))
            ]
            missing_files = sorted({file for file, _ in required_keys(project, path) if data.get(file) is None})
            gaps = empty + [f"{file} (missing or invalid)" for file in missing_files] + literal
            if gaps:
                first = first or path
                problems.append(f"{page.title} ({path}): {', '.join(gaps)}")
        if problems:
            return failed("placeholders for " + "; ".join(problems), first)
        return passed()


@register
class KommuneDataComplete(Rule):
    """The municipality data file kommune.toml is complete.

    `kommune.toml` is the one file in which a service differs from municipality to
    municipality. Complete means: the municipality's name, official name and AGS, and every
    value that a page of the service requires (`kommune('…')` in the page templates) are
    filled in.

    This is a **go-live** rule: a warning by default, an error with `kit check --strict` or
    `[check] strict = true` in `kit.toml`.

    **How to fix:** fill in the keys the message names, preferably in the municipality
    profile (`kit municipality show …`) so that every service of the municipality gets them,
    then `kit update` or edit `kommune.toml`.
    """

    code = "KIT505"
    family = FAMILY
    severity = Severity.WARNING
    go_live = True

    def check(self, project: ProjectContext) -> Outcome:
        reason = _service_or_reason(project)
        if reason:
            return reason
        data = _data(project, KOMMUNE_TOML)
        if data is None:
            return not_applicable(f"{KOMMUNE_TOML} is missing or invalid (see KIT509)")
        keys = list(CORE_KOMMUNE_KEYS)
        for relpath in page_files(project):
            keys += [key for file, key in required_keys(project, relpath) if file == KOMMUNE_TOML]
        empty = [key for key in dict.fromkeys(keys) if is_unfilled(lookup(data, key))]
        if empty:
            return failed(f"{KOMMUNE_TOML}: {len(empty)} empty value(s): {', '.join(empty)}", KOMMUNE_TOML)
        return passed()


@register
class AgsValid(Rule):
    """The AGS in kommune.toml is valid and Bavarian.

    The Amtlicher Gemeindeschlüssel identifies the municipality in the metadata of every
    application: 8 digits, and in Bavaria `09` followed by the Regierungsbezirk `1` to `7`
    (e.g. Augsburg 09761000). Names are no identifiers: 31 Bavarian municipality names occur
    more than once. An empty AGS is reported by KIT505, not here.

    **How to fix:** correct `municipality.ags` in `kommune.toml` (and in the municipality
    profile); `kit municipality search NAME` shows the AGS.
    """

    code = "KIT506"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        text = _filled(project, KOMMUNE_TOML, "municipality.ags", label="AGS", empty="KIT505")
        if isinstance(text, Outcome):
            return text
        if not AGS_RE.fullmatch(text):
            return failed(
                f"{KOMMUNE_TOML}: municipality.ags {text!r} is no AGS (8 digits, e.g. 09761000)", KOMMUNE_TOML
            )
        if not BAVARIAN_AGS_RE.fullmatch(text):
            return failed(
                f"{KOMMUNE_TOML}: municipality.ags {text!r} is not Bavarian (091… to 097…)", KOMMUNE_TOML
            )
        return passed(text)


@register
class LeikaKeyValid(Rule):
    """The LeiKa key in service.toml has 14 digits.

    The Leistungsschlüssel of the LeiKa catalogue identifies the administrative service; it
    goes into the metadata of every application as `urn:de:fim:leika:leistung:<14 digits>`.
    Federal keys start with 99. An empty key is reported by KIT508, not here.

    **How to fix:** correct `service.leika_key` in `service.toml` (answer `leika_key`).
    """

    code = "KIT507"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        text = _filled(project, SERVICE_TOML, "service.leika_key", label="LeiKa key", empty="KIT508")
        if isinstance(text, Outcome):
            return text
        if not LEIKA_RE.fullmatch(text):
            return failed(
                f"{SERVICE_TOML}: service.leika_key {text!r} is no LeiKa key (exactly 14 digits)", SERVICE_TOML
            )
        return passed(text)


@register
class LeikaKeySet(Rule):
    """service.toml names the service's LeiKa key (OZG metadata).

    Without a LeiKa key the receiving office and FIT-Connect cannot tell which administrative
    service an application belongs to. New projects start without one (the answer
    `leika_key` may be left empty).

    This is a **go-live** rule: a warning by default, an error with `kit check --strict` or
    `[check] strict = true` in `kit.toml`.

    **How to fix:** set `service.leika_key` in `service.toml` (answer `leika_key`); the
    LeiKa catalogue or the FIM portal names the key.
    """

    code = "KIT508"
    family = FAMILY
    severity = Severity.WARNING
    go_live = True

    def check(self, project: ProjectContext) -> Outcome:
        data = _service_data(project, SERVICE_TOML)
        if isinstance(data, Outcome):
            return data
        if is_unfilled(lookup(data, "service.leika_key")):
            return failed(f"{SERVICE_TOML}: service.leika_key is empty", SERVICE_TOML)
        return passed()


@register
class ServiceDataFilesValid(Rule):
    """kommune.toml and service.toml exist and are valid TOML.

    The service reads both files at start-up and refuses to start without them.

    **How to fix:** restore the file from the template (`kit update`) or correct the TOML
    syntax error the message names.
    """

    code = "KIT509"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        reason = _service_or_reason(project)
        if reason:
            return reason
        problems = []
        for relpath in (KOMMUNE_TOML, SERVICE_TOML):
            doc = project.toml(relpath)
            if not doc.exists:
                problems.append(f"{relpath} is missing")
            elif doc.error:
                problems.append(f"{relpath} {doc.error}")
        if problems:
            return failed("; ".join(problems), problems[0].split(" ", 1)[0])
        return passed()
