"""`kit template import-cookiecutter`: the imported Copier template renders what cookiecutter renders."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from kitcli.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "cookiecutter-demo"
PROJECT_DIR = "{{cookiecutter.project_slug}}"


def tree(root: Path) -> dict[str, tuple[bytes, bool]]:
    """Every file below *root*: its bytes and whether it is executable."""
    return {
        path.relative_to(root).as_posix(): (path.read_bytes(), bool(path.stat().st_mode & stat.S_IXUSR))
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("imported") / "demo"
    assert main(["template", "import-cookiecutter", str(FIXTURE), str(dest)]) == 0
    return dest


ANSWER_SETS = [
    pytest.param({}, id="defaults"),
    pytest.param(
        {"project_name": "Kita Anmeldung", "license": "MIT", "python_version": "3.11",
         "use_docker": False, "include_tests": True, "port": "9000", "municipality": "Nürnberg"},
        id="choices-booleans-flipped",
    ),
    pytest.param(
        {"project_name": "Parkausweis", "project_slug": "anwohnerparken", "license": "Apache-2.0",
         "include_tests": True},
        id="derived-default-overridden",
    ),
]


@pytest.mark.parametrize("answers", ANSWER_SETS)
def test_imported_template_renders_byte_for_byte_what_cookiecutter_renders(
    imported: Path, tmp_path: Path, answers: dict[str, Any]
) -> None:
    from cookiecutter.main import cookiecutter
    from copier import run_copy

    generated = Path(cookiecutter(
        str(FIXTURE), no_input=True, extra_context=answers, output_dir=str(tmp_path / "cc"),
    ))
    run_copy(str(imported), tmp_path / "copier", data=answers, defaults=True, quiet=True, unsafe=False)

    expected = tree(generated)
    actual = tree(tmp_path / "copier")
    assert actual.pop(".copier-answers.yml")  # the one file Copier adds: what makes updates possible
    assert sorted(actual) == sorted(expected)
    for relpath, content in expected.items():
        assert actual[relpath] == content, relpath
    # the fixture exercises what it claims to
    assert ("Dockerfile" in expected) == answers.get("use_docker", True)
    assert any(p.startswith("test_") for p in expected) == answers.get("include_tests", False)


def test_copier_yml_converts_each_kind_of_variable(imported: Path) -> None:
    config = yaml.safe_load((imported / "copier.yml").read_text(encoding="utf-8"))
    assert config["_subdirectory"] == "project"
    assert config["_envops"]["keep_trailing_newline"] is True
    assert config["project_name"] == {
        "type": "str", "help": "Name des Online-Dienstes", "default": "Hundesteuer Online",
    }
    assert config["project_slug"]["default"] == "{{ project_name.lower().replace(' ', '-') }}"
    assert config["license"]["choices"]["EUPL-1.2 (in der Verwaltung verbreitet)"] == "EUPL-1.2"
    assert config["license"]["default"] == "EUPL-1.2"
    assert config["python_version"] == {"type": "str", "choices": ["3.12", "3.11"], "default": "3.12"}
    assert config["use_docker"] == {"type": "bool", "default": True}
    assert config["derived_display_name"] == {
        "type": "str", "default": "{{ project_name }} ({{ municipality }})", "when": False,
    }
    assert config["private_maintainers"]["when"] is False
    assert config["private_issue_hint"]["default"].startswith("{% raw %}")
    assert not any(key.startswith("_") and key not in {
        "_min_copier_version", "_subdirectory", "_templates_suffix", "_envops"} for key in config)
    project = imported / "project"
    assert (project / "{{package_name}}" / "__init__.py.jinja").is_file()
    # copied without rendering: no .jinja suffix, bytes as in the source
    for relpath in ("static/app.js", "vendor/raw/snippet.html", "static/logo.png"):
        assert (project / relpath).read_bytes() == (FIXTURE / PROJECT_DIR / relpath).read_bytes()
    assert "cookiecutter." not in (project / "README.md.jinja").read_text(encoding="utf-8")


def test_result_lists_hooks_questions_and_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "demo"
    assert main(["template", "import-cookiecutter", str(FIXTURE), str(dest), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["verified"] is True
    assert result["mismatches"] == []
    hooks = {hook["path"]: hook for hook in result["hooks"]}
    assert set(hooks) == {"hooks/pre_gen_project.py", "hooks/post_gen_project.sh"}
    pre = hooks["hooks/pre_gen_project.py"]
    assert pre["summary"] == "Refuse project slugs that are no valid Python package names."
    assert pre["actions"] == ["can abort generation"]
    assert "next steps" in hooks["hooks/post_gen_project.sh"]["summary"]
    kinds = {q["source"]: (q["name"], q["kind"]) for q in result["questions"]}
    assert kinds["_maintainers"] == ("private_maintainers", "private")
    assert kinds["__display_name"] == ("derived_display_name", "derived")
    assert kinds["use_docker"] == ("use_docker", "bool")
    assert "project/static/app.js" in result["copied"]
    assert not (dest / "hooks").exists()


def test_an_unconvertible_filter_is_named_and_reported_as_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    shutil.copytree(FIXTURE, src)
    (src / PROJECT_DIR / "slug.txt").write_text("{{ cookiecutter.project_name | slugify }}\n", encoding="utf-8")
    assert main(["template", "import-cookiecutter", str(src), str(tmp_path / "dest")]) == 1
    captured = capsys.readouterr()
    assert "slugify" in captured.err
    assert "No filter named 'slugify'" in captured.out
    assert (tmp_path / "dest" / "copier.yml").is_file()


def _bad_json(src: Path) -> None:
    (src / "cookiecutter.json").write_text('{"project_name": "x",}', encoding="utf-8")


def _undefined_in_file(src: Path) -> None:
    (src / PROJECT_DIR / "NOTICE.md").write_text(
        "{% if cookiecutter.use_docker %}{% else %}{{ cookiecutter.owner }}{% endif %}\n", encoding="utf-8"
    )


def _undefined_in_default(src: Path) -> None:
    data = json.loads((src / "cookiecutter.json").read_text(encoding="utf-8"))
    data["repo"] = "{{ cookiecutter.organisation }}/x"
    (src / "cookiecutter.json").write_text(json.dumps(data), encoding="utf-8")


def _no_context(src: Path) -> None:
    (src / "cookiecutter.json").unlink()


def _no_project_dir(src: Path) -> None:
    shutil.rmtree(src / PROJECT_DIR)


def _empty_choices(src: Path) -> None:
    data = json.loads((src / "cookiecutter.json").read_text(encoding="utf-8"))
    data["license"] = []
    (src / "cookiecutter.json").write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        pytest.param(_bad_json, "is no valid JSON", id="invalid-json"),
        pytest.param(_undefined_in_file, "undefined variable 'cookiecutter.owner'", id="undefined-in-file"),
        pytest.param(_undefined_in_default, "organisation", id="undefined-in-default"),
        pytest.param(_no_context, "has no cookiecutter.json", id="no-cookiecutter-json"),
        pytest.param(_no_project_dir, "has no project directory", id="no-project-dir"),
        pytest.param(_empty_choices, "choice", id="empty-choices"),
    ],
)
def test_bad_source_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spoil: Any, message: str
) -> None:
    src = tmp_path / "src"
    shutil.copytree(FIXTURE, src)
    spoil(src)
    dest = tmp_path / "out" / "dest"
    assert main(["template", "import-cookiecutter", str(src), str(dest)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # no destination, no scratch left


def test_non_empty_destination_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine\n", encoding="utf-8")
    assert main(["template", "import-cookiecutter", str(FIXTURE), str(dest)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]
