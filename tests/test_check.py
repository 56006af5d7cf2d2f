"""`kit check` as a command: fresh projects pass, foreign projects get the generic rules, select,
ignore and strict behave, every output format comes from one report, and bad input exits 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from kitcli.checks import Rule, Severity, not_applicable, register
from kitcli.checks._engine import RuleDefinitionError
from kitcli.cli import main

from .conftest import REPO_ROOT, TemplateRepo, git
from .test_check_rules import (
    Generated,
    copy_project,
    generated_fixture,  # noqa: F401  (the session fixture `generated`)
    result_for,
    run_check,
)

SCHEMA = json.loads((REPO_ROOT / "docs" / "reference" / "check-json-schema.json").read_text(encoding="utf-8"))
KIT_SPECIFIC = ("KIT404", "KIT405", "KIT5", "KIT6")


@pytest.mark.parametrize("template", ["base", "ozg-service"])
def test_fresh_project_passes(generated: Generated, capsys: pytest.CaptureFixture[str], template: str) -> None:
    project = generated.base if template == "base" else generated.service
    status, report = run_check(project, capsys)
    errors = [r for r in report["results"] if r["status"] == "fail" and r["severity"] == "error"]  # type: ignore[union-attr]
    assert errors == []
    assert status == 0
    jsonschema.validate(report, SCHEMA)


def test_service_rules_apply_only_to_services(generated: Generated, capsys: pytest.CaptureFixture[str]) -> None:
    _, base = run_check(generated.base, capsys, "--select", "KIT5")
    assert {r["status"] for r in base["results"]} == {"not_applicable"}  # type: ignore[union-attr]
    _, service = run_check(generated.service, capsys, "--select", "KIT5")
    assert "not_applicable" not in {r["status"] for r in service["results"] if r["code"] != "KIT507"}  # type: ignore[union-attr]


@pytest.fixture
def plain_project(tmp_path: Path) -> Path:
    """A Python project the kit did not generate."""
    project = tmp_path / "plain"
    project.mkdir()
    (project / "README.md").write_text("# plain\n\nA small tool.\n", encoding="utf-8")
    (project / "pyproject.toml").write_text('[project]\nname = "plain"\nversion = "1.0"\nlicense = "MIT"\n',
                                            encoding="utf-8")
    (project / "plain.py").write_text("print('hi')\n", encoding="utf-8")
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "init")
    return project


def test_plain_project_runs_generic_rules(plain_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, report = run_check(plain_project, capsys)
    jsonschema.validate(report, SCHEMA)
    results = {r["code"]: r for r in report["results"]}  # type: ignore[union-attr]
    for code, result in results.items():
        if code.startswith(KIT_SPECIFIC):
            assert result["status"] == "not_applicable", result
            assert result["message"], f"{code} does not say why it does not apply"
    assert results["KIT101"]["status"] == "pass"
    assert results["KIT104"]["message"] == "LICENSES/MIT.txt missing: pyproject.toml project.license declares MIT"
    for code in ("KIT102", "KIT106", "KIT107", "KIT108", "KIT201", "KIT301"):
        assert results[code]["status"] == "fail", code
    assert status == 1


def test_text_output_groups_by_family_and_explains(
    plain_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (plain_project / "kit.toml").write_text(
        '[[check.ignore]]\ncode = "KIT301"\nreason = "REUSE runs in the city pipeline"\n', encoding="utf-8"
    )
    assert main(["check", str(plain_project)]) == 1
    out = capsys.readouterr().out
    assert "Repository standards (OpenCoDE)" in out
    assert "FAIL    KIT106" in out
    assert "SECURITY.md is missing at the root of the repository" in out
    assert "see docs/rules/KIT106.md" in out
    assert "ignored: REUSE runs in the city pipeline" in out
    assert "not generated from a kit template" in out
    assert "kit check failed:" in out


def test_ignores_from_kit_toml_and_command_line(generated: Generated, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    project = copy_project(generated.base, tmp_path / "project")
    (project / "SECURITY.md").unlink()
    (project / "kit.toml").write_text(
        '[[check.ignore]]\ncode = "KIT106"\nreason = "Policy lives in the city\'s central repository"\n',
        encoding="utf-8",
    )
    status, report = run_check(project, capsys, "--select", "KIT1", "--ignore", "KIT110")
    kit106, kit110 = result_for(report, "KIT106"), result_for(report, "KIT110")
    assert (kit106["status"], kit106["ignore_reason"]) == ("ignored", "Policy lives in the city's central repository")
    assert (kit110["status"], kit110["ignore_reason"]) == ("ignored", "ignored on the command line (--ignore)")
    assert report["summary"]["ignored"] == 2  # type: ignore[index]
    assert status == 0


def test_select_accepts_prefixes_and_commas(generated: Generated, capsys: pytest.CaptureFixture[str]) -> None:
    _, report = run_check(generated.base, capsys, "--select", "kit2,KIT301", "--select", "KIT101")
    codes = [r["code"] for r in report["results"]]  # type: ignore[union-attr]
    assert codes == sorted(codes)
    assert set(codes) == {f"KIT2{n:02d}" for n in range(1, 12)} | {"KIT301", "KIT101"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--select", "KIT999"], "--select 'KIT999': no rule has this code or prefix", id="unknown-code"),
        pytest.param(["--ignore", "KIT1,XYZ"], "--ignore 'XYZ': no rule has this code or prefix", id="not-a-code"),
        pytest.param(["--format", "yaml"], "Invalid value for '--format'", id="unknown-format"),
    ],
)
def test_bad_arguments_exit_2(generated: Generated, capsys: pytest.CaptureFixture[str], args: list[str],
                              message: str) -> None:
    assert main(["check", str(generated.base), *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    ("kit_toml", "message"),
    [
        pytest.param('[[check.ignore]]\ncode = "KIT777"\nreason = "x"\n',
                     "kit.toml [[check.ignore]] code 'KIT777': no rule has this code", id="unknown-ignore"),
        pytest.param('[[check.ignore]]\ncode = "KIT301"\n', "`reason` must be a non-empty string", id="no-reason"),
        pytest.param("[check]\nstrict = 'yes'\n", "`strict` must be true or false", id="strict-not-bool"),
        pytest.param("[check\n", "is no valid TOML", id="invalid-toml"),
    ],
)
def test_bad_kit_toml_exits_2(generated: Generated, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              kit_toml: str, message: str) -> None:
    project = copy_project(generated.base, tmp_path / "project")
    (project / "kit.toml").write_text(kit_toml, encoding="utf-8")
    assert main(["check", str(project)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_bad_path_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    path = tmp_path / "nothing"
    if kind == "file":
        path.write_text("x", encoding="utf-8")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert len(err.strip().splitlines()) == 1


def test_markdown_for_ci_job_summaries(plain_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(plain_project), "--format", "markdown", "--select", "KIT1"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("## kit check failed")
    assert "| ❌ | [KIT106](docs/rules/KIT106.md) | SECURITY.md at the root of the repository |" in out
    assert "<details><summary>Other rules</summary>" in out


def test_one_report_feeds_every_format(generated: Generated, capsys: pytest.CaptureFixture[str]) -> None:
    from kitcli.commands.check import CheckOptions, check

    report = check(CheckOptions(project=generated.service, select=("KIT5",)))
    data = report.to_json()
    jsonschema.validate(data, SCHEMA)
    markdown = report.to_markdown()
    assert main(["check", str(generated.service), "--select", "KIT5"]) == report.exit_code
    text = capsys.readouterr().out
    for result in data["results"]:
        assert result["code"] in markdown
        assert result["code"] in text
    assert data["summary"]["warnings"] == report.summary.warnings > 0


def test_docs_url_setting(generated: Generated, capsys: pytest.CaptureFixture[str]) -> None:
    from kitcli._paths import config_file

    config_file().parent.mkdir(parents=True, exist_ok=True)
    config_file().write_text('docs_url = "https://example.org/kit/rules/"\n', encoding="utf-8")
    _, report = run_check(generated.base, capsys, "--select", "KIT101")
    assert result_for(report, "KIT101")["docs"] == "https://example.org/kit/rules/KIT101.md"


def test_newer_template_release_is_a_warning(template_repo: TemplateRepo, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from kitcli.commands.new import NewOptions, new

    dest = tmp_path / "project"
    new(NewOptions(template="base", dest=dest, municipality="augsburg", defaults=True,
                   source=str(template_repo.path)))
    status, report = run_check(dest, capsys, "--select", "KIT601")
    assert result_for(report, "KIT601")["status"] == "pass"
    template_repo.write("templates/base/project/NEWS.md", "Neu\n")
    template_repo.release("v1.1.0")
    status, report = run_check(dest, capsys, "--select", "KIT601")
    result = result_for(report, "KIT601")
    assert (result["status"], result["severity"]) == ("fail", "warning")
    assert result["message"] == "a newer template release exists: base v1.0.0 (newest v1.1.0)"
    assert status == 0


def test_unreachable_template_source_is_reported_not_raised(generated: Generated, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    project = copy_project(generated.base, tmp_path / "project")
    answers = project / ".copier-answers.base.yml"
    lines = [f"_src_path: {(tmp_path / 'gone.git').as_uri()}" if line.startswith("_src_path:") else line
             for line in answers.read_text(encoding="utf-8").splitlines()]
    answers.write_text("\n".join(lines) + "\n", encoding="utf-8")
    status, report = run_check(project, capsys, "--select", "KIT601")
    result = result_for(report, "KIT601")
    assert result["status"] == "fail"
    assert str(result["message"]).startswith("could not be checked: template source")
    assert status == 0


def test_check_help_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from kitcli.cli import main\n"
        "assert main(['check', '--help']) == 0\n"
        "heavy = [m for m in ('copier', 'reuse', 'check_jsonschema', 'jsonschema', 'license_expression') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "--strict" in result.stdout


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        pytest.param({"code": "KIT12", "family": "repository"}, "is not KIT followed by three digits", id="code"),
        pytest.param({"code": "KIT199", "family": "nowhere"}, "family 'nowhere' is unknown", id="family"),
        pytest.param({"code": "KIT299", "family": "repository"}, "does not belong to family repository", id="prefix"),
        pytest.param({"code": "KIT101", "family": "repository"}, "KIT101 is taken by ReadmePresent", id="taken"),
    ],
)
def test_rule_declarations_are_checked(attributes: dict[str, str], problem: str) -> None:
    from kitcli.checks import all_rules

    all_rules()
    rule = type("Broken", (Rule,), {"__doc__": "A rule.", "check": lambda self, p: not_applicable("x"),
                                    **attributes})
    with pytest.raises(RuleDefinitionError, match=problem):
        register(rule)


def test_rule_without_docstring_is_refused() -> None:
    rule = type("Undocumented", (Rule,), {"code": "KIT198", "family": "repository", "severity": Severity.ERROR})
    with pytest.raises(RuleDefinitionError, match="no docstring"):
        register(rule)


def test_declared_deviation_is_no_drift(generated: Generated, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    project = copy_project(generated.base, tmp_path / "project")
    security = project / "SECURITY.md"
    security.write_text(security.read_text(encoding="utf-8") + "\nCERT der Stadt: cert@augsburg.de\n", encoding="utf-8")
    status, report = run_check(project, capsys, "--select", "KIT602")
    assert (result_for(report, "KIT602")["status"], status) == ("fail", 1)
    (project / "kit.toml").write_text(
        '[[deviation]]\npath = "SECURITY.md"\nreason = "Zentrales CERT"\napproved_by = "IT-Sicherheit"\n'
        "date = 2026-01-15\n",
        encoding="utf-8",
    )
    status, report = run_check(project, capsys, "--select", "KIT602,KIT603")
    assert [r["status"] for r in report["results"]] == ["pass", "pass"]  # type: ignore[union-attr]
    assert status == 0
