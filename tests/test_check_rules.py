"""`kit check`: every rule broken on purpose, at least once, asserting its code and the exit code.

Each case copies a freshly generated project (made once per session from the template set),
breaks one thing and runs `kit check --select CODE --format json` in-process.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kitcli.cli import main

from .conftest import TemplateRepo, _copy_template_set, git

Breaker = Callable[[Path], None]


@dataclass(frozen=True)
class Generated:
    base: Path
    service: Path
    template_repo: Path


def _isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Kit Test\n\temail = kit-test@example.org\n[init]\n\tdefaultBranch = main\n"
        "[commit]\n\tgpgsign = false\n[tag]\n\tgpgsign = false\n",
        encoding="utf-8",
    )
    for name, value in {
        "HOME": home, "GIT_CONFIG_GLOBAL": gitconfig, "KIT_HOME": home / "kit-home",
        "XDG_CONFIG_HOME": home / ".config", "XDG_CACHE_HOME": home / ".cache",
        "XDG_DATA_HOME": home / ".local" / "share",
    }.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("KIT_SOURCE", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session", name="generated")
def generated_fixture(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """A base and an ozg-service project for Augsburg, generated once with defaults."""
    from kitcli.commands.new import NewOptions, new

    root = tmp_path_factory.mktemp("check-session")
    with pytest.MonkeyPatch.context() as monkeypatch:
        home = root / "home"
        home.mkdir()
        _isolate(monkeypatch, home)
        repo = TemplateRepo(root / "template-repo")
        repo.path.mkdir()
        git(repo.path, "init", "-q")
        _copy_template_set(repo.path)
        repo.release("v1.0.0", "Template set")
        # A URL Renovate accepts, as a cooperation's projects record it (KIT604).
        bare = root / "kit.git"
        git(root, "clone", "-q", "--bare", str(repo.path), str(bare))
        projects = {}
        for template in ("base", "ozg-service"):
            dest = root / "projects" / template
            new(NewOptions(template=template, dest=dest, municipality="augsburg", defaults=True,
                           source=bare.as_uri()))
            projects[template] = dest
    return Generated(base=projects["base"], service=projects["ozg-service"], template_repo=repo.path)


def copy_project(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest, symlinks=True)
    return dest


def run_check(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = main(["check", str(path), "--format", "json", *args])
    captured = capsys.readouterr()
    assert code in (0, 1), captured.err
    return code, json.loads(captured.out)


def result_for(report: dict[str, object], code: str) -> dict[str, object]:
    results = report["results"]
    assert isinstance(results, list)
    return next(r for r in results if r["code"] == code)


# --- ways to break a project ---------------------------------------------------------------


def remove(*relpaths: str) -> Breaker:
    def apply(project: Path) -> None:
        for relpath in relpaths:
            target = project / relpath
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
    return apply


def write(relpath: str, text: str) -> Breaker:
    def apply(project: Path) -> None:
        target = project / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return apply


def replace(relpath: str, old: str, new: str) -> Breaker:
    def apply(project: Path) -> None:
        target = project / relpath
        text = target.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {relpath}"
        target.write_text(text.replace(old, new), encoding="utf-8")
    return apply


def append(relpath: str, text: str) -> Breaker:
    def apply(project: Path) -> None:
        with (project / relpath).open("a", encoding="utf-8") as handle:
            handle.write(text)
    return apply


def move(relpath: str, to: str) -> Breaker:
    def apply(project: Path) -> None:
        (project / to).parent.mkdir(parents=True, exist_ok=True)
        (project / relpath).rename(project / to)
    return apply


def edit_yaml(relpath: str, change: Callable[[dict[str, object]], None]) -> Breaker:
    def apply(project: Path) -> None:
        target = project / relpath
        data = yaml.safe_load(target.read_text(encoding="utf-8"))
        change(data)
        target.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return apply


def set_key(dotted: str, value: object) -> Callable[[dict[str, object]], None]:
    def change(data: dict[str, object]) -> None:
        *parents, last = dotted.split(".")
        node: dict[str, object] = data
        for part in parents:
            child = node.setdefault(part, {})
            assert isinstance(child, dict)
            node = child
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return change


_DELETE = object()


def edit_json(relpath: str, change: Callable[[dict[str, Any]], None]) -> Breaker:
    def apply(project: Path) -> None:
        target = project / relpath
        data = json.loads(target.read_text(encoding="utf-8"))
        change(data)
        target.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return apply


def drop_package_rule(key: str) -> Callable[[dict[str, Any]], None]:
    """Remove the package rules that have *key* (the shipped configuration before issue 12)."""
    def change(data: dict[str, Any]) -> None:
        data["packageRules"] = [rule for rule in data["packageRules"] if key not in rule]
    return change


def add_package_rule(rule: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["packageRules"].append(rule)
    return change


def remote(url: str) -> Breaker:
    def apply(project: Path) -> None:
        git(project, "remote", "add", "origin", url)
    return apply


def both(*breakers: Breaker) -> Breaker:
    def apply(project: Path) -> None:
        for breaker in breakers:
            breaker(project)
    return apply


MIT_TEXT = (
    "MIT License\n\nCopyright (c) Stadt Augsburg\n\nPermission is hereby granted, free of charge, to any person "
    "obtaining a copy of this software and associated documentation files (the \"Software\"), to deal in the "
    "Software without restriction.\n"
)
BAD_WORKFLOW = "name: broken\non: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps: 5\n"
BAD_GITLAB_JOB = "\nbroken-job:\n  stage: check\n  script: 1\n  unknown_key: true\n"

ERROR, WARNING = 1, 0
B, S = "base", "ozg-service"

CASES = [
    pytest.param(B, remove("README.md"), "KIT101", ERROR, id="KIT101-missing-readme"),
    pytest.param(B, write("README.md", "  \n"), "KIT101", ERROR, id="KIT101-empty-readme"),
    pytest.param(B, remove("LICENSE"), "KIT102", ERROR, id="KIT102-missing-license"),
    pytest.param(B, write("LICENSE", MIT_TEXT), "KIT103", ERROR, id="KIT103-mit-text-for-eupl"),
    pytest.param(B, remove("LICENSES/EUPL-1.2.txt"), "KIT104", ERROR, id="KIT104-missing-licenses-text"),
    pytest.param(B, replace("README.md", "EUPL-1.2", "MIT"), "KIT105", ERROR, id="KIT105-readme-names-mit"),
    pytest.param(B, move("SECURITY.md", ".github/SECURITY.md"), "KIT106", ERROR, id="KIT106-security-not-at-root"),
    pytest.param(B, remove("SECURITY.md"), "KIT106", ERROR, id="KIT106-missing-security"),
    pytest.param(B, remove("CODE_OF_CONDUCT.md"), "KIT107", ERROR, id="KIT107-missing-code-of-conduct"),
    pytest.param(B, remove("CONTRIBUTING.md"), "KIT108", ERROR, id="KIT108-missing-contributing"),
    pytest.param(B, write("CODEOWNERS", "* @CHANGE-ME\n"), "KIT109", ERROR, id="KIT109-change-me-owner"),
    pytest.param(B, write("CODEOWNERS", "* @kommune/maintainers\n"), "KIT109", ERROR, id="KIT109-kommune-fallback"),
    pytest.param(B, write("CODEOWNERS", "# [fehlt: Verantwortliche]\n"), "KIT109", ERROR, id="KIT109-no-owner"),
    pytest.param(B, write("CONTRIBUTING.md", "Kontakt: [fehlt: E-Mail]\n"), "KIT110", WARNING,
                 id="KIT110-placeholder-is-warning"),
    pytest.param(B, move("publiccode.yml", "publiccode.yaml"), "KIT201", ERROR, id="KIT201-wrong-extension"),
    pytest.param(B, remove("publiccode.yml"), "KIT201", ERROR, id="KIT201-missing"),
    pytest.param(B, write("publiccode.yml", "name: [unclosed\n"), "KIT202", ERROR, id="KIT202-invalid-yaml"),
    pytest.param(B, write("publiccode.yml", "- a list\n"), "KIT202", ERROR, id="KIT202-not-a-mapping"),
    pytest.param(B, edit_yaml("publiccode.yml", set_key("url", _DELETE)), "KIT203", ERROR, id="KIT203-no-url"),
    pytest.param(B, edit_yaml("publiccode.yml", set_key("description.de.features", [])), "KIT203", ERROR,
                 id="KIT203-empty-features"),
    pytest.param(B, edit_yaml("publiccode.yml", set_key("description.de.shortDescription", "x" * 151)),
                 "KIT204", ERROR, id="KIT204-short-too-long"),
    pytest.param(B, edit_yaml("publiccode.yml", set_key("description.en.longDescription", "too short")),
                 "KIT204", ERROR, id="KIT204-long-too-short"),
    pytest.param(B, edit_yaml("publiccode.yml", set_key("developmentStatus", "alpha")), "KIT205", ERROR,
                 id="KIT205-development-status"),
    pytest.param(B, edit_yaml("publiccode.yml", set_key("softwareType", "webapp")), "KIT205", ERROR,
                 id="KIT205-software-type"),
    pytest.param(B, edit_yaml("publiccode.yml", set_key("legal.license", "EUPL 1.2")), "KIT206", ERROR,
                 id="KIT206-not-spdx"),
    pytest.param(B, edit_yaml("publiccode.yml", set_key("localisation.availableLanguages", ["Deutsch"])),
                 "KIT207", ERROR, id="KIT207-language-name"),
    pytest.param(B, edit_yaml("publiccode.yml", set_key("maintenance.contacts", _DELETE)), "KIT208", ERROR,
                 id="KIT208-internal-without-contacts"),
    pytest.param(B, edit_yaml("publiccode.yml", set_key("maintenance.type", "none")), "KIT208", ERROR,
                 id="KIT208-none-with-contacts"),
    pytest.param(B, edit_yaml("publiccode.yml", set_key("organisation.uri", _DELETE)), "KIT209", ERROR,
                 id="KIT209-organisation-without-uri"),
    pytest.param(B, remote("https://gitlab.opencode.de/somewhere-else/project.git"), "KIT210", ERROR,
                 id="KIT210-url-not-remote"),
    pytest.param(B, edit_yaml("publiccode.yml", set_key("publiccodeYmlVersion", 0.4)), "KIT211", ERROR,
                 id="KIT211-unquoted-version"),
    pytest.param(B, remove("REUSE.toml"), "KIT301", ERROR, id="KIT301-no-licensing-information"),
    pytest.param(B, write("extra.py", "# SPDX-FileCopyrightText: Stadt Augsburg\n"
                                      "# SPDX-License-Identifier: GPL-3.0-or-later\n"), "KIT301", ERROR,
                 id="KIT301-licence-text-missing"),
    pytest.param(B, append(".gitlab-ci.yml", BAD_GITLAB_JOB),
                 "KIT401", ERROR, id="KIT401-invalid-gitlab-ci"),
    pytest.param(B, write(".github/workflows/broken.yml", BAD_WORKFLOW), "KIT402", ERROR,
                 id="KIT402-invalid-workflow"),
    pytest.param(B, write("renovate.json", '{"copier": {"enabled": "yes"}}\n'), "KIT403", ERROR,
                 id="KIT403-invalid-renovate"),
    pytest.param(B, write("renovate.json", '{"enabledManagers": ["pep621"]}\n'), "KIT404", ERROR,
                 id="KIT404-copier-not-enabled"),
    pytest.param(B, remove("renovate.json"), "KIT404", ERROR, id="KIT404-no-renovate"),
    pytest.param(B, remove(".gitlab-ci.yml", ".github/workflows"), "KIT405", WARNING, id="KIT405-no-ci"),
    pytest.param(S, edit_json("renovate.json", drop_package_rule("matchManagers")), "KIT406", ERROR,
                 id="KIT406-service-layers-share-a-branch"),
    pytest.param(S, edit_json("renovate.json", add_package_rule({"matchManagers": ["copier"], "groupName": "kit"})),
                 "KIT406", ERROR, id="KIT406-copier-updates-grouped"),
    pytest.param(S, remove("app/templates/legal/impressum.html"), "KIT501", ERROR, id="KIT501-no-impressum"),
    pytest.param(S, remove("app/templates/legal/datenschutz.html"), "KIT502", ERROR, id="KIT502-no-datenschutz"),
    pytest.param(S, remove("app/templates/legal/barrierefreiheit.html"), "KIT503", ERROR,
                 id="KIT503-no-barrierefreiheit"),
    pytest.param(S, replace("app/templates/legal/impressum.html", "{% endblock %}\n",
                            "<p>[fehlt: Öffnungszeiten]</p>\n{% endblock %}\n"), "KIT504", WARNING,
                 id="KIT504-literal-placeholder"),
    pytest.param(S, replace("kommune.toml", 'street = "Rathausplatz 1"', 'street = ""'), "KIT505", WARNING,
                 id="KIT505-empty-street"),
    pytest.param(S, replace("kommune.toml", '"09761000"', '"01001000"'), "KIT506", ERROR, id="KIT506-not-bavarian"),
    pytest.param(S, replace("kommune.toml", '"09761000"', '"0976100"'), "KIT506", ERROR, id="KIT506-seven-digits"),
    pytest.param(S, replace("service.toml", 'leika_key = ""', 'leika_key = "9901234"'), "KIT507", ERROR,
                 id="KIT507-short-leika"),
    pytest.param(S, lambda p: None, "KIT508", WARNING, id="KIT508-no-leika-in-fresh-project"),
    pytest.param(S, remove("service.toml"), "KIT509", ERROR, id="KIT509-missing-service-toml"),
    pytest.param(S, write("kommune.toml", "[municipality\n"), "KIT509", ERROR, id="KIT509-invalid-kommune-toml"),
    pytest.param(B, replace("SECURITY.md", "Sicherheitslücken melden", "Melden"), "KIT602", ERROR,
                 id="KIT602-managed-file-changed"),
    pytest.param(B, remove("CONTRIBUTING.md"), "KIT602", ERROR, id="KIT602-managed-file-missing"),
    pytest.param(B, write("kit.toml", '[[deviation]]\npath = "SECURITY.md"\nreason = "eigene Meldestelle"\n'
                                      'approved_by = "IT-Sicherheit"\ndate = 2026-01-15\n'), "KIT603", WARNING,
                 id="KIT603-stale-deviation"),
    pytest.param(B, replace(".copier-answers.base.yml", "_src_path: ", "_src_path: ../relative # "), "KIT604",
                 ERROR, id="KIT604-relative-src-path"),
    pytest.param(B, write(".copier-answers.base.yml", "_src_path: [\n"), "KIT604", ERROR,
                 id="KIT604-corrupt-answers"),
    pytest.param(S, append("README.md", "<<<<<<< before updating\nalt\n=======\nneu\n>>>>>>> after updating\n"),
                 "KIT605", ERROR, id="KIT605-conflict-markers-in-seeded-file"),
    pytest.param(B, replace(".copier-answers.base.yml", "_src_path: file://", "_src_path: "), "KIT604",
                 ERROR, id="KIT604-absolute-path"),
    pytest.param(B, replace(".copier-answers.base.yml", "_src_path: file://", "_src_path: git@example.org:"),
                 "KIT604", ERROR, id="KIT604-scp-like"),
]


@pytest.mark.parametrize(("template", "breaker", "code", "exit_code"), CASES)
def test_rule_fails_when_broken(
    *, generated: Generated, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    template: str, breaker: Breaker, code: str, exit_code: int,
) -> None:
    project = copy_project(generated.base if template == B else generated.service, tmp_path / "project")
    breaker(project)
    status, report = run_check(project, capsys, "--select", code)
    result = result_for(report, code)
    assert result["status"] == "fail", result
    assert result["severity"] == ("error" if exit_code == ERROR else "warning")
    assert result["message"]
    assert result["docs"] == f"docs/rules/{code}.md"
    assert status == exit_code


def test_every_rule_is_broken_at_least_once() -> None:
    from kitcli.checks import all_rules

    broken = {case.values[2] for case in CASES}
    assert {rule.code for rule in all_rules()} - broken <= {"KIT601"}  # KIT601 needs a new release: test_check.py


@pytest.mark.parametrize("code", sorted({str(case.values[2]) for case in CASES}))
def test_rule_passes_or_does_not_apply_on_fresh_project(
    generated: Generated, capsys: pytest.CaptureFixture[str], code: str
) -> None:
    """The breaking cases above fail because of the break, not because the fresh project fails."""
    template = next(case.values[0] for case in CASES if case.values[2] == code)
    project = generated.base if template == B else generated.service
    _, report = run_check(project, capsys, "--select", code)
    result = result_for(report, code)
    go_live_warning = result["severity"] == "warning" and code in ("KIT110", "KIT504", "KIT505", "KIT508")
    assert result["status"] in ("pass", "not_applicable") or go_live_warning, result


@pytest.mark.parametrize(
    ("template", "breaker", "code"),
    [
        pytest.param(B, write("CONTRIBUTING.md", "[fehlt: E-Mail]\n"), "KIT110", id="KIT110"),
        pytest.param(S, lambda p: None, "KIT504", id="KIT504"),
        pytest.param(S, lambda p: None, "KIT505", id="KIT505"),
        pytest.param(S, lambda p: None, "KIT508", id="KIT508"),
    ],
)
def test_go_live_rules_are_errors_in_strict_mode(
    *, generated: Generated, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    template: str, breaker: Breaker, code: str,
) -> None:
    project = copy_project(generated.base if template == B else generated.service, tmp_path / "project")
    breaker(project)
    status, report = run_check(project, capsys, "--select", code, "--strict")
    assert result_for(report, code)["severity"] == "error"
    assert status == 1
    (project / "kit.toml").write_text("[check]\nstrict = true\n", encoding="utf-8")
    status, report = run_check(project, capsys, "--select", code)
    assert (status, report["strict"]) == (1, True)


def test_filled_in_service_passes_go_live_rules(
    generated: Generated, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = copy_project(generated.service, tmp_path / "project")
    kommune = (project / "kommune.toml").read_text(encoding="utf-8")
    kommune = kommune.replace('= ""', '= "ausgefüllt"').replace('vat_id = "ausgefüllt"', 'vat_id = ""')
    (project / "kommune.toml").write_text(kommune, encoding="utf-8")
    service = (project / "service.toml").read_text(encoding="utf-8")
    service = service.replace('leika_key = ""', 'leika_key = "99123456789012"')
    service = service.replace('assessment_date = ""', 'assessment_date = "2026-01-15"')
    service = service.replace('contact = ""', 'contact = "https://www.ldbv.bayern.de"')
    (project / "service.toml").write_text(service, encoding="utf-8")
    status, report = run_check(project, capsys, "--select", "KIT5", "--strict")
    failing = [r for r in report["results"] if r["status"] == "fail"]  # type: ignore[union-attr]
    assert failing == []
    assert status == 0
