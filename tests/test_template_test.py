"""`kit template test`: matrix renders, project tests, the update path, plain Copier templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kitcli.cli import main

from ._update_helpers import TinyTemplate, make_tiny, numbered
from .conftest import REPO_ROOT, TemplateRepo, git


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["template", "test", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def steps(case: dict[str, Any]) -> dict[str, str]:
    return {step["name"]: step["status"] for step in case["steps"]}


@pytest.fixture
def tiny(tmp_path: Path) -> TinyTemplate:
    template = make_tiny(tmp_path / "template", svc=True)
    # the current tree: a change since v1.0.0, committed and uncommitted
    template.write("ci.yml", numbered("ci") + "ci: new job\n")
    template.write("LICENSE", numbered("licence").replace("licence line 20", "licence: reworded"))
    return template


def test_matrix_and_update_path_pass(tiny: TinyTemplate, capsys: pytest.CaptureFixture[str]) -> None:
    code, result = run(capsys, "base", "--source", str(tiny.path))
    assert code == 0, json.dumps(result, indent=1)
    assert result["from"] == "v1.0.0"
    cases = {case["name"]: case for case in result["cases"]}
    assert set(cases) == {"default", "named", "update from v1.0.0"}
    assert cases["named"]["data"] == {"name": "other"}
    assert steps(cases["default"])["project tests"] == "passed"
    # the tree is dirty: a re-render at a commit would differ, so that comparison is skipped
    assert steps(cases["default"])["matches kit diff"] == "skipped"
    update = steps(cases["update from v1.0.0"])
    assert update["no local edit lost"] == "passed"
    assert update["conflicts reported"] == "passed"
    assert update["kit update --abort restores"] == "passed"


def test_every_template_and_a_committed_tree(tiny: TinyTemplate, capsys: pytest.CaptureFixture[str]) -> None:
    git(tiny.path, "add", "-A")
    git(tiny.path, "commit", "-qm", "work in progress")
    code, result = run(capsys, "--source", str(tiny.path), "--limit", "1", "--jobs", "2")
    assert code == 0, json.dumps(result, indent=1)
    names = sorted((case["template"], case["name"]) for case in result["cases"])
    assert names == [("base", "default"), ("base", "update from v1.0.0"),
                     ("svc", "defaults"), ("svc", "update from v1.0.0")]
    for case in result["cases"]:
        if case["kind"] == "matrix":
            assert steps(case)["matches kit diff"] == "passed"


def test_failing_project_tests_fail_the_case(tiny: TinyTemplate, capsys: pytest.CaptureFixture[str]) -> None:
    toml = tiny.path / "templates" / "base" / "kit-template.toml"
    failing = 'test_command = "{python} -c \\"raise SystemExit(4)\\" #'
    toml.write_text(toml.read_text().replace('test_command = "', failing), encoding="utf-8")
    code, result = run(capsys, "base", "--source", str(tiny.path), "--limit", "1", "--from", "v1.0.0")
    assert code == 1
    [matrix_case] = [case for case in result["cases"] if case["kind"] == "matrix"]
    assert steps(matrix_case)["project tests"] == "failed"
    assert "exited 4" in next(s["detail"] for s in matrix_case["steps"] if s["name"] == "project tests")


def test_conflicts_on_the_update_path_are_reported_not_failed(tiny: TinyTemplate,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    # the local edit appends to every edited file; so does the current tree here: a conflict
    tiny.write("form.toml", numbered("# form") + "# template appended\n")
    code, result = run(capsys, "base", "--source", str(tiny.path), "--limit", "1")
    assert code == 0, json.dumps(result, indent=1)
    [update] = [case for case in result["cases"] if case["kind"] == "update"]
    detail = {step["name"]: step["detail"] for step in update["steps"]}
    assert "form.toml" in detail["conflicts reported"]


def test_plain_copier_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template = tmp_path / "plain"
    (template / "project").mkdir(parents=True)
    (template / "copier.yml").write_text("_subdirectory: project\nname:\n  type: str\n  default: x\n", encoding="utf-8")
    (template / "project" / "{{ _copier_conf.answers_file }}.jinja").write_text(
        "{{ _copier_answers|to_nice_yaml }}", encoding="utf-8")
    (template / "project" / "hello.txt.jinja").write_text("hello {{ name }}\n", encoding="utf-8")
    git(template, "init", "-q")
    git(template, "add", "-A")
    git(template, "commit", "-qm", "plain")
    git(template, "tag", "v1.0.0")
    (template / "project" / "hello.txt.jinja").write_text("hello {{ name }}!\n", encoding="utf-8")
    code, result = run(capsys, "--source", str(template))
    assert code == 0, json.dumps(result, indent=1)
    assert [case["kind"] for case in result["cases"]] == ["matrix", "update"]
    assert steps(result["cases"][0])["project tests"] == "skipped"
    assert main(["template", "test", "base", "--source", str(template)]) == 2


@pytest.mark.parametrize(("args", "expected"), [
    pytest.param(["nope"], "unknown template 'nope'", id="unknown-template"),
    pytest.param(["--from", "v0.9"], "v0.9", id="unknown-from"),
])
def test_bad_input(args: list[str], expected: str, tiny: TinyTemplate, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["template", "test", *args, "--source", str(tiny.path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert expected in err


def test_source_without_copier_yml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["template", "test", "--source", str(tmp_path)]) == 2
    assert "copier.yml" in capsys.readouterr().err


def test_curated_slice_of_the_kit_template_set(template_repo: TemplateRepo, capsys: pytest.CaptureFixture[str]) -> None:
    """The kit's CI slice: the service template's first matrix entry and its update path."""
    contributing = template_repo.path / "templates" / "base" / "project" / "CONTRIBUTING.md"
    contributing.write_text(contributing.read_text(encoding="utf-8") + "\nNeu in der nächsten Version.\n",
                            encoding="utf-8")
    template_repo.commit("next version")
    code, result = run(capsys, "ozg-service", "--source", str(template_repo.path), "--limit", "1",
                       "--no-project-tests")
    assert code == 0, json.dumps(result, indent=1)
    [matrix_case, update_case] = result["cases"]
    assert steps(matrix_case)["matches kit diff"] == "passed"
    assert steps(update_case)["no local edit lost"] == "passed"


@pytest.mark.parametrize(
    ("question", "renovate_step"),
    [
        pytest.param("city:\n  type: str\n", "failed", id="new-question-without-default"),
        pytest.param("city:\n  type: str\n  default: Augsburg\n", "passed", id="new-question-with-default"),
    ],
)
def test_a_new_question_without_default_fails_the_release(
    *, tiny: TinyTemplate, capsys: pytest.CaptureFixture[str], question: str, renovate_step: str
) -> None:
    copier_yml = tiny.path / "copier.yml"
    copier_yml.write_text(copier_yml.read_text(encoding="utf-8") + "\n" + question, encoding="utf-8")
    code, result = run(capsys, "base", "--source", str(tiny.path), "--limit", "1")
    [update] = [case for case in result["cases"] if case["kind"] == "update"]
    [step] = [s for s in update["steps"] if s["name"].startswith("Renovate can update")]
    assert step["status"] == renovate_step
    assert code == (1 if renovate_step == "failed" else 0)
    if renovate_step == "failed":
        assert step["detail"].count("\n") == 0
        assert "'city'" in step["detail"]
        assert 'ValueError: Question "city" is required' in step["detail"]


def test_every_question_of_the_kits_templates_has_a_default() -> None:
    """Renovate answers new questions with their defaults; a question without one crashes it."""
    from kitcli import _source, _templateset

    tset = _templateset.load(_source.open_source(str(REPO_ROOT)), "HEAD")
    assert len(tset.questions) > 10
    assert [name for name, spec in tset.questions.items() if "default" not in spec] == []
