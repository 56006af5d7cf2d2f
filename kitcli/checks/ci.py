"""KIT4xx: CI configuration and bots, validated against check-jsonschema's vendored schemas.

Validation runs check-jsonschema's own command in-process with its built-in (vendored)
schemas, which need no network. Nothing of it is re-implemented here.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Sequence
from typing import Any

from ._context import ProjectContext
from ._engine import Outcome, Rule, Severity, failed, not_applicable, passed, register

FAMILY = "ci"
RENOVATE_LOCATIONS = (
    "renovate.json", "renovate.json5", ".github/renovate.json", ".github/renovate.json5",
    ".gitlab/renovate.json", ".gitlab/renovate.json5", ".renovaterc", ".renovaterc.json",
    ".renovaterc.json5",
)
# Renovate's default pattern for the copier manager's files.
COPIER_PATTERN = re.compile(r"(^|/)\.copier-answers(\..+)?\.ya?ml")


def validate(project: ProjectContext, schema: str, relpaths: Sequence[str], extra: Sequence[str] = ()) -> list[str]:
    """Problems check-jsonschema finds in *relpaths* against built-in *schema* (one per error)."""
    from check_jsonschema import main as check_jsonschema  # type: ignore[import-untyped]

    args = ["--builtin-schema", schema, *extra, "--output-format", "json",
            *(str(project.path(p)) for p in relpaths)]
    import click

    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = check_jsonschema.main(args=args, prog_name="check-jsonschema", standalone_mode=False)
    except click.ClickException as error:
        # e.g. a file that cannot be opened: a finding about that file, not bad input to kit check
        return [f"{', '.join(relpaths)}: check-jsonschema cannot read it ({error.format_message()})"]
    if code == 0:
        return []
    try:
        report: dict[str, Any] = json.loads(out.getvalue())
    except ValueError:
        return [f"check-jsonschema failed (exit {code}) on {', '.join(relpaths)}"]
    root = str(project.root) + "/"
    problems = []
    for item in report.get("parse_errors", []):
        problems.append(f"{str(item.get('filename', '')).removeprefix(root)}: cannot be parsed: {item.get('message')}")
    for item in report.get("errors", []):
        name = str(item.get("filename", "")).removeprefix(root)
        best = item.get("best_deep_match") or item
        problems.append(f"{name} {best.get('path', '')}: {best.get('message', item.get('message'))}")
    return problems or [f"check-jsonschema failed (exit {code}) on {', '.join(relpaths)}"]


def _summary(problems: list[str]) -> str:
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return problems[0] + more


def gitlab_files(project: ProjectContext) -> list[str]:
    files = [".gitlab-ci.yml"] if project.is_file(".gitlab-ci.yml") else []
    files += [f".gitlab/{name}" for name in project.names_in(".gitlab")
              if re.search(r"\.gitlab-ci\.ya?ml$", name)]
    return files


def workflow_files(project: ProjectContext) -> list[str]:
    return [f".github/workflows/{name}" for name in project.names_in(".github/workflows")
            if name.endswith((".yml", ".yaml"))]


@register
class GitlabCiValid(Rule):
    """GitLab CI configuration is valid (.gitlab-ci.yml and .gitlab/*.gitlab-ci.yml).

    Validated with check-jsonschema against its vendored GitLab CI schema
    (`vendor.gitlab-ci`, with GitLab's `!reference` tags understood). An invalid pipeline
    file fails only when GitLab runs it; this rule finds the error before the push.
    Does not apply when the project has no GitLab CI file.

    **How to fix:** correct the key the message names; GitLab's CI editor (Build → Pipeline
    editor → Validate) shows the same problems.
    """

    code = "KIT401"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        files = gitlab_files(project)
        if not files:
            return not_applicable("the project has no .gitlab-ci.yml")
        problems = validate(project, "vendor.gitlab-ci", files,
                            ("--data-transform", "gitlab-ci", "--regex-variant", "nonunicode"))
        if problems:
            return failed(_summary(problems), problems[0].split(" ", 1)[0].rstrip(":"))
        return passed(", ".join(files))


@register
class GithubWorkflowsValid(Rule):
    """GitHub Actions workflows are valid (.github/workflows/*.yml).

    Validated with check-jsonschema against its vendored workflow schema
    (`vendor.github-workflows`). Does not apply when the project has no workflow.

    **How to fix:** correct the key the message names.
    """

    code = "KIT402"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        files = workflow_files(project)
        if not files:
            return not_applicable("the project has no .github/workflows/*.yml")
        problems = validate(project, "vendor.github-workflows", files)
        if problems:
            return failed(_summary(problems), problems[0].split(" ", 1)[0].rstrip(":"))
        return passed(", ".join(files))


@register
class RenovateConfigValid(Rule):
    """Renovate configuration is valid (renovate.json and its other locations).

    Validated with check-jsonschema against its vendored Renovate schema
    (`vendor.renovate`). Renovate ignores an invalid configuration and opens an issue
    instead of updating anything. Does not apply when there is no Renovate configuration.

    **How to fix:** correct the key the message names; `npx --package renovate
    renovate-config-validator` gives the same verdict.
    """

    code = "KIT403"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        found = project.first_file(RENOVATE_LOCATIONS)
        if found is None:
            return not_applicable("the project has no Renovate configuration")
        problems = validate(project, "vendor.renovate", [found], ("--regex-variant", "nonunicode"))
        if problems:
            return failed(_summary(problems), found)
        return passed(found)


def _renovate_config(project: ProjectContext, found: str) -> dict[str, Any] | Outcome:
    """The Renovate configuration in *found* as a mapping, or why it cannot be read (KIT403's business)."""
    try:
        config = json.loads(project.text(found) or "")
    except ValueError:
        return not_applicable(f"{found} is not plain JSON (JSON5 is not read; see KIT403)")
    if not isinstance(config, dict):
        return not_applicable(f"{found} is no JSON object (see KIT403)")
    return config


def _copier_disabled_by(config: dict[str, Any]) -> str | None:
    enabled_managers = config.get("enabledManagers")
    if isinstance(enabled_managers, list) and "copier" not in enabled_managers:
        return "enabledManagers does not list copier"
    copier = config.get("copier")
    if isinstance(copier, dict) and copier.get("enabled") is False:
        return "copier.enabled is false"
    for index, rule in enumerate(config.get("packageRules") or []):
        if not isinstance(rule, dict) or rule.get("enabled") is not False:
            continue
        managers = rule.get("matchManagers")
        if isinstance(managers, list) and "copier" in managers and len(rule) <= 3:
            return f"packageRules[{index}] disables the copier manager"
    if isinstance(copier, dict):
        patterns = copier.get("managerFilePatterns", copier.get("fileMatch"))
        if isinstance(patterns, list) and patterns and not any("copier-answers" in str(p) for p in patterns):
            return "copier.managerFilePatterns does not match .copier-answers.*.yml"
    return None


@register
class RenovateCopierEnabled(Rule):
    """Renovate's copier manager is enabled, so template updates arrive as merge requests.

    Projects generated by the kit get template updates through Renovate's copier manager,
    which reads the `.copier-answers.*.yml` files. The rule fails when the project has no
    Renovate configuration, or when that configuration switches the copier manager off
    (`enabledManagers` without `copier`, `copier.enabled: false`, a package rule that
    disables the manager, or file patterns that miss the answers files). Presets named in
    `extends` are not resolved. Does not apply to projects not generated by the kit.

    **How to fix:** keep the `renovate.json` of the kit's `base` template, or add
    `"copier": {"enabled": true}` and `copier` to `enabledManagers` if you use that list.
    """

    code = "KIT404"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        if not project.is_kit_project:
            return not_applicable("the project was not generated from a kit template (no .copier-answers.*.yml)")
        found = project.first_file(RENOVATE_LOCATIONS)
        if found is None:
            return failed("renovate.json is missing: template updates will not arrive automatically", "renovate.json")
        config = _renovate_config(project, found)
        if not isinstance(config, dict):
            return config
        reason = _copier_disabled_by(config)
        if reason:
            return failed(f"{found}: {reason}; template updates will not arrive", found)
        return passed(found)


# A branch setting that names the answers file ({{packageFile}} or {{{packageFile}}}, not packageFileDir).
PER_FILE = re.compile(r"\{\{\{?\s*packageFile\s*\}\}\}?")
BRANCH_KEYS = ("additionalBranchPrefix", "branchTopic", "branchName")


def _copier_scopes(config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The parts of a Renovate configuration that apply to the copier manager's updates."""
    scopes: list[tuple[str, dict[str, Any]]] = [("the top level", config)]
    if isinstance(config.get("copier"), dict):
        scopes.append(("copier", config["copier"]))
    for index, rule in enumerate(config.get("packageRules") or []):
        if not isinstance(rule, dict):
            continue
        managers = rule.get("matchManagers")
        unconstrained = not any(key.startswith(("match", "exclude")) for key in rule)
        if unconstrained or (isinstance(managers, list) and "copier" in managers):
            scopes.append((f"packageRules[{index}]", rule))
    return scopes


def _one_branch_for_all_layers(config: dict[str, Any]) -> str | None:
    """Why Renovate would put every answers file into one branch, or None."""
    scopes = _copier_scopes(config)
    for where, scope in scopes:
        if scope.get("groupName"):
            return f"{where} groups the copier updates (groupName {scope['groupName']!r})"
    if any(PER_FILE.search(str(scope.get(key, ""))) for _, scope in scopes for key in BRANCH_KEYS):
        return None
    return ("every answers file names the same template repository, so without a copier package rule "
            'with "additionalBranchPrefix": "{{{packageFile}}}-" their updates share one branch')


@register
class RenovateBranchPerLayer(Rule):
    """Renovate updates each template layer in its own branch.

    A project with two or more answers files (a service: `base` and `ozg-service`) records the
    same template repository in each, so Renovate's default branch name is the same for both.
    Renovate then runs `copier update` for both files one after the other in one checkout, and
    the second run stops with "Destination repository is dirty; cannot continue": no layer is
    updated. A package rule for the copier manager that puts the answers file into the branch
    name gives each layer its own branch and merge request. Presets named in `extends` are not
    resolved. Does not apply to projects with fewer than two answers files.

    **How to fix:** keep the `renovate.json` of the kit's `base` template, or add this package
    rule:

    ```json
    {"matchManagers": ["copier"], "additionalBranchPrefix": "{{{packageFile}}}-"}
    ```
    """

    code = "KIT406"
    family = FAMILY

    def check(self, project: ProjectContext) -> Outcome:
        layers = project.answers.layers
        if len(layers) < 2:
            return not_applicable("the project has fewer than two answers files")
        found = project.first_file(RENOVATE_LOCATIONS)
        if found is None:
            return not_applicable("the project has no Renovate configuration (see KIT404)")
        config = _renovate_config(project, found)
        if not isinstance(config, dict):
            return config
        reason = _one_branch_for_all_layers(config)
        if reason:
            files = ", ".join(layer.path.as_posix() for layer in layers)
            return failed(f"{found}: {reason}; Renovate then fails on the second of {files} "
                          "(Destination repository is dirty)", found)
        return passed(f"{found}: one branch per answers file ({len(layers)})")


@register
class CiRunsKitCheck(Rule):
    """CI runs `kit check`.

    The checks of this page help only if they run on every change. The kit's CI include
    (`.gitlab/kit.gitlab-ci.yml`, job `kit-check`) does that; the rule looks for `kit check`
    in the GitLab CI files and GitHub workflows. Does not apply to projects not generated by
    the kit.

    **How to fix:** include the kit's CI file from `.gitlab-ci.yml`
    (`include: [{local: .gitlab/kit.gitlab-ci.yml}]`) or add a job that runs `kit check` or
    `kit fleet publish`.
    """

    code = "KIT405"
    family = FAMILY
    severity = Severity.WARNING

    def check(self, project: ProjectContext) -> Outcome:
        if not project.is_kit_project:
            return not_applicable("the project was not generated from a kit template (no .copier-answers.*.yml)")
        entry_points = ([".gitlab-ci.yml"] if project.is_file(".gitlab-ci.yml") else []) + workflow_files(project)
        if not entry_points:
            return failed("no CI configuration (.gitlab-ci.yml or .github/workflows/) runs kit check", ".gitlab-ci.yml")
        runs = [f for f in entry_points if _runs_kit_check(project, f)]
        if not runs:
            return failed(f"none of {', '.join(entry_points)} runs kit check", entry_points[0])
        return passed(", ".join(runs))


def _runs_kit_check(project: ProjectContext, relpath: str) -> bool:
    """Whether *relpath*, or a .gitlab/ CI file it names (an include), runs ``kit check``
    (directly or through ``kit fleet publish``)."""
    text = project.text(relpath) or ""
    texts = [text]
    if relpath == ".gitlab-ci.yml":
        texts += [project.text(f) or "" for f in gitlab_files(project) if f != relpath and f in text]
    # `kit fleet publish` runs the check and keeps it for the fleet view; comments do not count.
    commands = "\n".join(line for t in texts for line in t.splitlines() if not line.lstrip().startswith("#"))
    return re.search(r"\bkit\s+(check|fleet\s+publish)\b", commands) is not None
