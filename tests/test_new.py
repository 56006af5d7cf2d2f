"""`kit new`: generation, layering, recorded versions, and every bad input (nothing written)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kitcli.cli import main

from .conftest import TemplateRepo, git


def run_kit(*args: str) -> int:
    return main(list(args))


def snapshot(path: Path) -> set[str]:
    """Every path below *path* (to prove that nothing was written)."""
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def test_new_base_records_answers_and_commits(
    template_repo: TemplateRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "projekt"
    code = run_kit(
        "new",
        "base",
        str(dest),
        "--municipality",
        "augsburg",
        "--defaults",
        "--source",
        str(template_repo.path),
        "--json",
    )
    assert code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert [layer["template"] for layer in result["layers"]] == ["base"]
    answers = yaml.safe_load((dest / ".copier-answers.base.yml").read_text(encoding="utf-8"))
    assert answers["_commit"] == "v1.0.0"
    assert answers["_src_path"] == str(template_repo.path)
    assert Path(answers["_src_path"]).is_absolute()
    assert answers["municipality_ags"] == "09761000"
    assert answers["municipality_official_name"] == "Stadt Augsburg"
    assert answers["supervisory_authority"] == "Regierung von Schwaben"
    log = git(dest, "log", "--format=%s")
    assert log.strip().splitlines() == ["Generate from kommunal-kit templates (base v1.0.0)"]
    assert git(dest, "status", "--porcelain") == ""


def test_new_service_carries_base_layer(template_repo: TemplateRepo, tmp_path: Path) -> None:
    dest = tmp_path / "dienst"
    assert (
        run_kit(
            "new",
            "ozg-service",
            str(dest),
            "-m",
            "09162000",
            "--defaults",
            "--source",
            str(template_repo.path),
            "--data",
            "leika_key=99123456789012",
        )
        == 0
    )
    base = yaml.safe_load((dest / ".copier-answers.base.yml").read_text(encoding="utf-8"))
    service = yaml.safe_load((dest / ".copier-answers.ozg-service.yml").read_text(encoding="utf-8"))
    assert base["template"] == "base"
    assert base["layered_template"] == "ozg-service"
    assert service["template"] == "ozg-service"
    assert service["leika_key"] == "99123456789012"
    assert "leika_key" not in base
    assert base["license"] == service["license"] == "MIT"  # München's profile default
    assert "ozg-service v1.0.0" in git(dest, "log", "-1", "--format=%s")


def test_new_without_tags_records_the_commit(make_template_repo, tmp_path: Path) -> None:
    repo = make_template_repo(tags=())
    dest = tmp_path / "p"
    assert run_kit("new", "base", str(dest), "--defaults", "--source", str(repo.path)) == 0
    answers = yaml.safe_load((dest / ".copier-answers.base.yml").read_text(encoding="utf-8"))
    head = git(repo.path, "rev-parse", "--short", "HEAD").strip()
    assert answers["_commit"].startswith(head[:7])


def test_new_takes_newest_release_and_vcs_ref(template_repo: TemplateRepo, tmp_path: Path) -> None:
    template_repo.write("templates/base/project/NEW_IN_2.md", "neu\n")
    template_repo.release("v2.0.0")
    newest, older = tmp_path / "newest", tmp_path / "older"
    assert run_kit("new", "base", str(newest), "--defaults", "--source", str(template_repo.path)) == 0
    assert (
        run_kit("new", "base", str(older), "--defaults", "--source", str(template_repo.path), "--vcs-ref", "v1.0.0")
        == 0
    )
    assert (newest / "NEW_IN_2.md").is_file()
    assert not (older / "NEW_IN_2.md").exists()


def test_new_into_existing_empty_directory_and_no_git(template_repo: TemplateRepo, tmp_path: Path) -> None:
    dest = tmp_path / "leer"
    dest.mkdir()
    assert run_kit("new", "base", str(dest), "--defaults", "--no-git", "--source", str(template_repo.path)) == 0
    assert (dest / ".copier-answers.base.yml").is_file()
    assert not (dest / ".git").exists()


def test_data_file_and_data_override(template_repo: TemplateRepo, tmp_path: Path) -> None:
    data_file = tmp_path / "answers.yml"
    data_file.write_text("project_name: Hundesteuer\nlicense: Apache-2.0\n", encoding="utf-8")
    dest = tmp_path / "p"
    assert (
        run_kit(
            "new",
            "base",
            str(dest),
            "--defaults",
            "--source",
            str(template_repo.path),
            "--data-file",
            str(data_file),
            "--data",
            "license=MIT",
        )
        == 0
    )
    answers = yaml.safe_load((dest / ".copier-answers.base.yml").read_text(encoding="utf-8"))
    assert answers["project_name"] == "Hundesteuer"
    assert answers["project_slug"] == "hundesteuer"
    assert answers["license"] == "MIT"


def test_municipality_without_profile_comes_from_registry(
    template_repo: TemplateRepo, tmp_path: Path, shared_data: Path
) -> None:
    assert (
        run_kit(
            "municipality",
            "import",
            str(shared_data / "bavaria-municipalities.csv"),
            "--kreise",
            str(shared_data / "bavaria-kreise.csv"),
        )
        == 0
    )
    dest = tmp_path / "p"
    assert (
        run_kit(
            "new",
            "base",
            str(dest),
            "-m",
            "09171111",
            "--defaults",
            "--source",
            str(template_repo.path),
            "--data",
            "municipality_email=rathaus@example.org",
        )
        == 0
    )
    answers = yaml.safe_load((dest / ".copier-answers.base.yml").read_text(encoding="utf-8"))
    assert answers["municipality_official_name"] == "Stadt Altötting"
    assert answers["municipality_kind"] == "Stadt"
    assert answers["municipality_kreis"] == "Altötting"
    assert answers["supervisory_authority"] == "Landratsamt Altötting"
    assert answers["municipality_regierungsbezirk"] == "Oberbayern"
    assert answers["municipality_email"] == "rathaus@example.org"


def test_jinja_in_answers_is_refused(
    template_repo: TemplateRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "p"
    assert (
        run_kit(
            "new",
            "base",
            str(dest),
            "--defaults",
            "--source",
            str(template_repo.path),
            "--data",
            "project_name={{ 7*7 }}",
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "{{ 7*7 }}" in err
    assert "49" not in err
    assert not dest.exists()


@pytest.fixture
def registry(shared_data: Path) -> None:
    assert main(["municipality", "import", str(shared_data / "bavaria-municipalities.csv")]) == 0


BAD_INPUTS = [
    pytest.param(["-m", "08111000"], "08111000", id="non-bavarian-ags"),
    pytest.param(["-m", "0916200"], "0916200", id="ags-too-short"),
    pytest.param(["-m", "09162OOO"], "09162OOO", id="ags-letters"),
    pytest.param(["-m", "Atlantis"], "Atlantis", id="unknown-municipality"),
    pytest.param(["-m", "09999999"], "09999999", id="ags-not-bavarian-district"),
    pytest.param(["--data", "no_such_question=1"], "no_such_question", id="unknown-data-key"),
    pytest.param(["--data", "template=ozg-service"], "template", id="data-sets-template"),
    pytest.param(["--data", "novalue"], "novalue", id="data-without-equals"),
    pytest.param(["--data", "license=GPL-3.0"], "GPL-3.0", id="licence-not-offered"),
    pytest.param(["--data", "municipality_email=not-an-address"], "not-an-address", id="bad-email"),
    pytest.param(["--data", "municipality_website=ftp//x"], "ftp//x", id="bad-url"),
    pytest.param(["--data", "project_slug=a/b"], "a/b", id="slug-with-slash"),
    pytest.param(["--data", "project_slug=.."], "..", id="slug-dotdot"),
    pytest.param(["--data", "project_slug=mein dienst"], "mein dienst", id="slug-with-space"),
    pytest.param(["--data", "municipality_ags=12345678"], "12345678", id="data-ags-not-bavarian"),
    pytest.param(["--data", "project_name={{ 7*7 }}"], "{{ 7*7 }}", id="jinja-expression"),
    pytest.param(["--data", "project_description={% include 'x' %}"], "{% include", id="jinja-statement"),
    pytest.param(["--data", "theme_primary_color=#777777"], "#777777", id="contrast-too-low"),
    pytest.param(["--vcs-ref", "v9.9.9"], "v9.9.9", id="unknown-vcs-ref"),
    pytest.param(["--data-file", "MISSING.yml"], "MISSING.yml", id="data-file-missing"),
]


@pytest.mark.parametrize(("extra", "named"), BAD_INPUTS)
def test_bad_input_exits_2_names_value_writes_nothing(
    template_repo: TemplateRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], named: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    dest = work / "p"
    before = snapshot(work)
    code = run_kit("new", "base", str(dest), "--defaults", "--source", str(template_repo.path), *extra)
    captured = capsys.readouterr()
    assert code == 2
    assert named in captured.err
    assert "Traceback" not in captured.err
    assert len([line for line in captured.err.splitlines() if line.strip()]) <= 3  # click usage errors add a usage line
    assert snapshot(work) == before


def test_ambiguous_name_lists_candidates(
    template_repo: TemplateRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str], registry: None
) -> None:
    dest = tmp_path / "p"
    assert run_kit("new", "base", str(dest), "-m", "Hausen", "--defaults", "--source", str(template_repo.path)) == 2
    err = capsys.readouterr().err
    for ags in ("09273125", "09474134", "09673129", "09676128"):
        assert ags in err
    assert len(err.strip().splitlines()) == 1
    assert not dest.exists()


@pytest.mark.parametrize(
    ("content", "named"),
    [
        pytest.param("project_name: [unclosed", "malformed", id="yaml-syntax"),
        pytest.param("- just\n- a list\n", "mapping", id="not-a-mapping"),
        pytest.param("project_name:\n  nested: 1\n", "single value", id="nested-value"),
    ],
)
def test_malformed_data_file(
    template_repo: TemplateRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, named: str
) -> None:
    data_file = tmp_path / "answers.yml"
    data_file.write_text(content, encoding="utf-8")
    dest = tmp_path / "p"
    assert (
        run_kit(
            "new", "base", str(dest), "--defaults", "--source", str(template_repo.path), "--data-file", str(data_file)
        )
        == 2
    )
    err = capsys.readouterr().err
    assert named in err
    assert str(data_file) in err
    assert not dest.exists()


def test_unreadable_data_file(template_repo: TemplateRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_file = tmp_path / "answers.yml"
    data_file.write_bytes(b"\xff\xfe\x00binary")
    dest = tmp_path / "p"
    assert (
        run_kit(
            "new", "base", str(dest), "--defaults", "--source", str(template_repo.path), "--data-file", str(data_file)
        )
        == 2
    )
    assert "unreadable" in capsys.readouterr().err
    assert not dest.exists()


def test_dest_not_empty(template_repo: TemplateRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "voll"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine\n", encoding="utf-8")
    assert run_kit("new", "base", str(dest), "--defaults", "--source", str(template_repo.path)) == 2
    assert "not empty" in capsys.readouterr().err
    assert snapshot(dest) == {"keep.txt"}
    assert (dest / "keep.txt").read_text(encoding="utf-8") == "mine\n"


def test_dest_is_a_file(template_repo: TemplateRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "datei"
    dest.write_text("x", encoding="utf-8")
    assert run_kit("new", "base", str(dest), "--defaults", "--source", str(template_repo.path)) == 2
    assert "is a file" in capsys.readouterr().err
    assert dest.read_text(encoding="utf-8") == "x"


def test_unknown_template(template_repo: TemplateRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_kit("new", "wohngeld", str(tmp_path / "p"), "--defaults", "--source", str(template_repo.path)) == 2
    err = capsys.readouterr().err
    assert "wohngeld" in err
    assert "base" in err
    assert "ozg-service" in err
    assert not (tmp_path / "p").exists()


def test_non_interactive_without_defaults_is_refused(
    template_repo: TemplateRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_kit("new", "base", str(tmp_path / "p"), "--source", str(template_repo.path)) == 2
    assert "--defaults" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_source_that_is_not_a_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_kit("new", "base", str(tmp_path / "p"), "--defaults", "--source", str(tmp_path)) == 2
    assert "copier.yml" in capsys.readouterr().err


def test_unreachable_remote_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = "file:///nonexistent/kit.git".replace("file://", "https://invalid.invalid")
    assert run_kit("new", "base", str(tmp_path / "p"), "--defaults", "--source", url) == 2
    assert "cannot be reached" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_kit_source_environment_variable(
    template_repo: TemplateRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIT_SOURCE", str(template_repo.path))
    assert run_kit("new", "base", str(tmp_path / "p"), "--defaults") == 0
    answers = yaml.safe_load((tmp_path / "p" / ".copier-answers.base.yml").read_text(encoding="utf-8"))
    assert answers["_src_path"] == str(template_repo.path)


def test_interrupt_during_render_leaves_nothing(
    template_repo: TemplateRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kitcli import _copier

    calls = {"n": 0}
    real_copy = _copier.copy

    def interrupted(render: _copier.Render) -> _copier.Outcome:
        calls["n"] += 1
        if calls["n"] == 2:  # after the base layer was rendered, during the service layer
            raise KeyboardInterrupt
        return real_copy(render)

    monkeypatch.setattr(_copier, "copy", interrupted)
    work = tmp_path / "work"
    work.mkdir()
    assert run_kit("new", "ozg-service", str(work / "p"), "--defaults", "--source", str(template_repo.path)) == 2
    assert "interrupted" in capsys.readouterr().err
    assert list(work.iterdir()) == []


def test_python_dash_m_entry_point(template_repo: TemplateRepo, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kitcli", "templates", "--json", "--source", str(template_repo.path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert {t["name"] for t in listing["templates"]} >= {"base", "ozg-service"}
    assert listing["latest_release"] == "v1.0.0"


def test_new_inside_the_template_repository_keeps_the_source_clean(make_template_repo) -> None:
    """`kit new demo` in an untagged clone of the kit (the Quickstart): both layers record the
    clone's commit, because no scratch file makes the source dirty between the layers."""
    repo = make_template_repo(tags=())
    head = git(repo.path, "rev-parse", "--short", "HEAD").strip()
    dest = repo.path / "augsburg-demo"
    assert run_kit("new", "ozg-service", str(dest), "-m", "augsburg", "--defaults", "--source", str(repo.path)) == 0
    for layer in ("base", "ozg-service"):
        recorded = yaml.safe_load((dest / f".copier-answers.{layer}.yml").read_text(encoding="utf-8"))
        assert recorded["_commit"] == head
    assert [p.name for p in repo.path.iterdir() if p.name.startswith(".kit-new-")] == []
