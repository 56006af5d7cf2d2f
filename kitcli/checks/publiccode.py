"""KIT2xx: publiccode.yml, the metadata OpenCoDE and other public-sector catalogues read.

The constraints follow the publiccode.yml standard (0.4) as summarised in the kit's product
brief: mandatory keys, description lengths, enumerations, an SPDX licence, language codes,
maintenance contacts, organisation.uri, and a url that matches the repository.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping
from typing import Any

from ._context import PUBLICCODE, ProjectContext
from ._engine import Outcome, Rule, failed, not_applicable, passed, register

FAMILY = "publiccode"
SHORT_MAX = 150
LONG_MIN, LONG_MAX = 150, 10_000
DEVELOPMENT_STATUS = ("concept", "development", "beta", "stable", "obsolete")
SOFTWARE_TYPES = (
    "standalone/mobile", "standalone/iot", "standalone/desktop", "standalone/web",
    "standalone/backend", "standalone/other", "addon", "library", "configurationFiles",
)
MAINTENANCE_TYPES = ("internal", "contract", "community", "none")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
URL_RE = re.compile(r"^(?:https?|ssh|git)://[^\s/]+\S*$|^git@[^\s:]+:\S+$")
URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
MANDATORY = (
    "publiccodeYmlVersion", "name", "url", "platforms", "developmentStatus", "softwareType",
    "description", "legal.license", "maintenance.type", "localisation.localisationReady",
    "localisation.availableLanguages",
)
DESCRIPTION_KEYS = ("shortDescription", "longDescription", "features")
NOT_PARSED = "publiccode.yml is missing or no valid YAML (see KIT201, KIT202)"


def lookup(data: Mapping[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


def _data(project: ProjectContext) -> Mapping[str, Any] | Outcome:
    doc = project.publiccode
    if not doc.ok:
        return not_applicable(NOT_PARSED)
    data: Mapping[str, Any] = doc.data
    return data


def _descriptions(data: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    description = data.get("description")
    if not isinstance(description, Mapping):
        return {}
    return {str(lang): block for lang, block in description.items() if isinstance(block, Mapping)}


@register
class PubliccodePresent(Rule):
    """publiccode.yml at the root, with exactly that name.

    OpenCoDE and the other catalogues of the public sector find a project by a file named
    exactly `publiccode.yml` at the root of the default branch; `publiccode.yaml`,
    `PublicCode.yml` or a copy in a subdirectory are not read.

    **How to fix:** add `publiccode.yml` at the root (the kit's `base` template generates one)
    or rename the existing file.
    """

    code = "KIT201"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        if project.is_file(PUBLICCODE):
            return passed()
        near = [
            name for name in project.names_in(".")
            if name.lower() in ("publiccode.yml", "publiccode.yaml")
        ] + [d + "/publiccode.yml" for d in (".github", ".gitlab", "docs") if project.is_file(f"{d}/publiccode.yml")]
        if near:
            return failed(f"found {near[0]}, but catalogues read only publiccode.yml at the root", near[0])
        return failed("publiccode.yml is missing at the root of the repository", PUBLICCODE)


@register
class PubliccodeValidYaml(Rule):
    """publiccode.yml is valid YAML with a mapping at the top.

    **How to fix:** correct the syntax error at the line the message names; an editor with
    YAML support or `python -c "import yaml,sys; yaml.safe_load(open('publiccode.yml'))"`
    shows it.
    """

    code = "KIT202"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        doc = project.publiccode
        if not doc.exists:
            return not_applicable("there is no publiccode.yml (see KIT201)")
        if doc.error:
            return failed(f"publiccode.yml {doc.error}", PUBLICCODE)
        return passed()


@register
class PubliccodeMandatoryKeys(Rule):
    """publiccode.yml has every mandatory key.

    Mandatory: `publiccodeYmlVersion`, `name`, `url`, `platforms`, `developmentStatus`,
    `softwareType`, `description.<lang>.shortDescription`, `.longDescription` and
    `.features` (for every language given, at least one), `legal.license`,
    `maintenance.type`, `localisation.localisationReady` and
    `localisation.availableLanguages`. Keys that are present but empty count as missing.

    **How to fix:** add the keys the message lists. The kit's `base` template shows a complete
    file; the standard is at <https://yml.publiccode.tools>.
    """

    code = "KIT203"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        data = _data(project)
        if isinstance(data, Outcome):
            return data
        missing = [key for key in MANDATORY if _empty(lookup(data, key))]
        if "description" not in missing:
            descriptions = _descriptions(data)
            if not descriptions:
                missing.append("description.<lang>")
            for lang, block in descriptions.items():
                missing.extend(f"description.{lang}.{key}" for key in DESCRIPTION_KEYS if _empty(block.get(key)))
        if missing:
            return failed(f"publiccode.yml lacks {', '.join(missing)}", PUBLICCODE)
        return passed()


@register
class PubliccodeDescriptionLengths(Rule):
    """publiccode.yml descriptions have the required lengths.

    `shortDescription` has at most 150 characters; `longDescription` has 150 to 10,000
    characters, for every language.

    **How to fix:** shorten or extend the text the message names (answers
    `project_description` and `project_long_description` in kit projects).
    """

    code = "KIT204"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        data = _data(project)
        if isinstance(data, Outcome):
            return data
        problems = []
        for lang, block in _descriptions(data).items():
            short, long_ = block.get("shortDescription"), block.get("longDescription")
            if isinstance(short, str) and len(short) > SHORT_MAX:
                problems.append(
                    f"description.{lang}.shortDescription has {len(short)} characters (at most {SHORT_MAX})"
                )
            if isinstance(long_, str) and not LONG_MIN <= len(long_) <= LONG_MAX:
                problems.append(
                    f"description.{lang}.longDescription has {len(long_)} characters ({LONG_MIN} to {LONG_MAX:,})"
                )
        if problems:
            return failed(f"publiccode.yml: {'; '.join(problems)}", PUBLICCODE)
        return passed()


@register
class PubliccodeEnumerations(Rule):
    """publiccode.yml uses the allowed values for enumerated keys.

    `developmentStatus`: concept, development, beta, stable, obsolete.
    `softwareType`: standalone/mobile, standalone/iot, standalone/desktop, standalone/web,
    standalone/backend, standalone/other, addon, library, configurationFiles.
    `maintenance.type`: internal, contract, community, none.

    **How to fix:** use one of the listed values (they are case-sensitive).
    """

    code = "KIT205"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        data = _data(project)
        if isinstance(data, Outcome):
            return data
        problems = []
        for key, allowed in (
            ("developmentStatus", DEVELOPMENT_STATUS),
            ("softwareType", SOFTWARE_TYPES),
            ("maintenance.type", MAINTENANCE_TYPES),
        ):
            value = lookup(data, key)
            if value is not None and value not in allowed:
                problems.append(f"{key} {value!r} is not one of {', '.join(allowed)}")
        if problems:
            return failed(f"publiccode.yml: {'; '.join(problems)}", PUBLICCODE)
        return passed()


@functools.cache
def _licensing() -> Any:
    from license_expression import get_spdx_licensing  # type: ignore[import-untyped]

    return get_spdx_licensing()


def spdx_problem(expression: str) -> str | None:
    """Why *expression* is no valid SPDX licence expression, or None when it is one."""
    try:
        info = _licensing().validate(expression, strict=True)
    except Exception as error:  # license_expression raises assorted errors on bad input
        return str(error) or type(error).__name__
    if info.errors:
        return "; ".join(str(e) for e in info.errors)
    return None


@register
class PubliccodeSpdxLicense(Rule):
    """publiccode.yml legal.license is a valid SPDX licence expression.

    Catalogues and licence scanners read `legal.license` as an SPDX expression: an
    identifier from the SPDX licence list such as `EUPL-1.2`, `MIT` or `Apache-2.0`, or a
    combination such as `EUPL-1.2 OR MIT`. Names like "EUPL 1.2" or "MIT License" are not
    identifiers.

    **How to fix:** write the SPDX identifier (<https://spdx.org/licenses/>).
    """

    code = "KIT206"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        data = _data(project)
        if isinstance(data, Outcome):
            return data
        value = lookup(data, "legal.license")
        if _empty(value):
            return not_applicable("legal.license is missing (see KIT203)")
        if not isinstance(value, str):
            return failed(f"publiccode.yml legal.license must be a string, not {type(value).__name__}", PUBLICCODE)
        problem = spdx_problem(value)
        if problem:
            return failed(f"publiccode.yml legal.license {value!r} is no SPDX expression: {problem}", PUBLICCODE)
        return passed(value)


@register
class PubliccodeLanguageCodes(Rule):
    """publiccode.yml uses language codes (BCP 47) for descriptions and languages.

    The keys under `description` and the entries of `localisation.availableLanguages` are
    language tags such as `de`, `en` or `de-DE`, not names like `Deutsch` or `german`.

    **How to fix:** replace the value the message names with its code.
    """

    code = "KIT207"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        data = _data(project)
        if isinstance(data, Outcome):
            return data
        bad: list[str] = []
        description = data.get("description")
        if isinstance(description, Mapping):
            bad.extend(f"description key {lang!r}" for lang in description if not LANGUAGE_RE.fullmatch(str(lang)))
        languages = lookup(data, "localisation.availableLanguages")
        if languages is not None and not isinstance(languages, list):
            bad.append("localisation.availableLanguages (not a list)")
        elif isinstance(languages, list):
            bad.extend(
                f"localisation.availableLanguages entry {lang!r}"
                for lang in languages if not LANGUAGE_RE.fullmatch(str(lang))
            )
        if bad:
            return failed(f"publiccode.yml: {', '.join(bad)} is no language code such as de or en", PUBLICCODE)
        return passed()


def _people(value: Any, key: str) -> list[str]:
    """Problems of a contacts/contractors list: must be a non-empty list of entries with a name."""
    if not isinstance(value, list) or not value:
        return [f"maintenance.{key} must be a non-empty list"]
    problems = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping) or _empty(item.get("name")):
            problems.append(f"maintenance.{key}[{index}] has no name")
    return problems


@register
class PubliccodeMaintenance(Rule):
    """publiccode.yml has maintenance contacts exactly when maintenance is internal or community.

    - `internal` or `community`: `maintenance.contacts` lists at least one person with a
      `name`; there are no `contractors`.
    - `contract`: `maintenance.contractors` lists at least one contractor with `name` and
      `until` (a date, YYYY-MM-DD); there are no `contacts`.
    - `none`: neither `contacts` nor `contractors`.

    **How to fix:** add or remove the list the message names, or correct `maintenance.type`.
    """

    code = "KIT208"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        data = _data(project)
        if isinstance(data, Outcome):
            return data
        maintenance = data.get("maintenance")
        kind = lookup(data, "maintenance.type")
        if not isinstance(maintenance, Mapping) or kind not in MAINTENANCE_TYPES:
            return not_applicable("maintenance.type is missing or unknown (see KIT203, KIT205)")
        contacts, contractors = maintenance.get("contacts"), maintenance.get("contractors")
        problems: list[str] = []
        if kind in ("internal", "community"):
            problems += _people(contacts, "contacts")
            if contractors is not None:
                problems.append(f"maintenance.contractors must be absent when maintenance.type is {kind}")
        elif kind == "contract":
            problems += _people(contractors, "contractors")
            for index, item in enumerate(contractors if isinstance(contractors, list) else []):
                until = item.get("until") if isinstance(item, Mapping) else None
                if not isinstance(until, dt.date) and not (
                    isinstance(until, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", until)
                ):
                    problems.append(f"maintenance.contractors[{index}].until {until!r} is no date (YYYY-MM-DD)")
            if contacts is not None:
                problems.append("maintenance.contacts must be absent when maintenance.type is contract")
        else:
            problems += [f"maintenance.{key} must be absent when maintenance.type is none"
                         for key, value in (("contacts", contacts), ("contractors", contractors)) if value is not None]
        if problems:
            return failed(f"publiccode.yml: {'; '.join(problems)}", PUBLICCODE)
        return passed(str(kind))


@register
class PubliccodeOrganisationUri(Rule):
    """publiccode.yml organisation has a uri.

    When `organisation` is present, `organisation.uri` identifies the organisation (its
    website or another URI) so that catalogues can group its projects.

    **How to fix:** add `organisation.uri`, e.g. `https://www.augsburg.de` (answer
    `municipality_organisation_uri` in kit projects), or remove `organisation`.
    """

    code = "KIT209"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        data = _data(project)
        if isinstance(data, Outcome):
            return data
        if "organisation" not in data:
            return not_applicable("publiccode.yml has no organisation")
        uri = lookup(data, "organisation.uri")
        if _empty(uri):
            return failed("publiccode.yml has organisation but no organisation.uri", PUBLICCODE)
        if not isinstance(uri, str) or not URI_RE.fullmatch(uri):
            return failed(f"publiccode.yml organisation.uri {uri!r} is no URI", PUBLICCODE)
        return passed(uri)


def repository_key(url: str) -> str:
    """``host/path`` of a git URL in any of its spellings, for comparison."""
    text = url.strip()
    scp = re.match(r"^[\w.-]+@([^:/]+):(.+)$", text)
    if scp:
        host, path = scp.groups()
    else:
        match = re.match(r"^[a-z][a-z0-9+.-]*://(?:[^@/]+@)?([^/:]+)(?::\d+)?/?(.*)$", text, re.IGNORECASE)
        if not match:
            return text.lower().rstrip("/")
        host, path = match.groups()
    path = path.strip("/").removesuffix(".git").strip("/")
    return f"{host.lower()}/{path.lower()}"


@register
class PubliccodeUrlMatchesRemote(Rule):
    """publiccode.yml url is the repository's git remote.

    `url` tells catalogues where the code lives. When the repository has a git remote
    (`origin`, else the first), both must name the same repository; the spelling may differ
    (`https://…`, `git@host:…`, with or without `.git`). The rule does not apply without a
    remote.

    **How to fix:** correct `url` (answer `repository_url` in kit projects) or the remote.
    """

    code = "KIT210"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        data = _data(project)
        if isinstance(data, Outcome):
            return data
        url = data.get("url")
        if not isinstance(url, str) or not url.strip():
            return not_applicable("url is missing (see KIT203)")
        remote = project.git_remote
        if remote is None:
            return not_applicable("the repository has no git remote to compare url with")
        if repository_key(url) != repository_key(remote):
            return failed(f"publiccode.yml url {url} is not the git remote {remote}", PUBLICCODE)
        return passed(url)


@register
class PubliccodeValueTypes(Rule):
    """publiccode.yml values have the expected types.

    `publiccodeYmlVersion` is a version string such as `"0.4"`, `url` a repository URL
    (https, ssh or git), `platforms` and `description.<lang>.features` lists of text, and
    `localisation.localisationReady` `true` or `false`.

    **How to fix:** correct the value the message names; quote the version (`"0.4"`), since
    YAML reads an unquoted 0.4 as a number.
    """

    code = "KIT211"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        data = _data(project)
        if isinstance(data, Outcome):
            return data
        problems = []
        version = data.get("publiccodeYmlVersion")
        if version is not None and not (isinstance(version, str) and re.fullmatch(r"0\.\d+(\.\d+)?", version)):
            problems.append(f"publiccodeYmlVersion {version!r} must be a quoted version such as \"0.4\"")
        url = data.get("url")
        if isinstance(url, str) and url and not URL_RE.fullmatch(url):
            problems.append(f"url {url!r} is no repository URL")
        platforms = data.get("platforms")
        if platforms is not None and not (isinstance(platforms, list) and all(isinstance(p, str) for p in platforms)):
            problems.append("platforms must be a list such as [web]")
        for lang, block in _descriptions(data).items():
            features = block.get("features")
            if features is not None and not (isinstance(features, list) and all(isinstance(f, str) for f in features)):
                problems.append(f"description.{lang}.features must be a list of texts")
        ready = lookup(data, "localisation.localisationReady")
        if ready is not None and not isinstance(ready, bool):
            problems.append(f"localisation.localisationReady {ready!r} must be true or false")
        if problems:
            return failed(f"publiccode.yml: {'; '.join(problems)}", PUBLICCODE)
        return passed()
