"""`kit diff`: divergence from the recorded template versions, ownership, declared deviations, cache."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from kitcli.cli import main
from kitcli.commands.diff import DiffOptions, diff

from ._update_helpers import make_tiny, numbered, snapshot
from .conftest import TemplateRepo, git


def kit(*args: str) -> int:
    return main(list(args))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    template = make_tiny(tmp_path / "template", svc=True)
    dest = tmp_path / "p"
    assert kit("new", "svc", str(dest), "--defaults", "--source", str(template.path)) == 0
    return dest


def diff_json(project: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = kit("diff", str(project), "--json", *args)
    return code, json.loads(capsys.readouterr().out)


def test_generated_project_has_no_divergence(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, result = diff_json(project, capsys)
    assert code == 0
    assert result["files"] == []
    assert [layer["template"] for layer in result["layers"]] == ["base", "svc"]
    assert [layer["version"] for layer in result["layers"]] == ["v1.0.0", "v1.0.0"]


def test_managed_change_is_a_finding_with_a_unified_diff(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (project / "LICENSE").read_text(encoding="utf-8").replace("licence line 7", "licence: changed here")
    (project / "LICENSE").write_text(text, encoding="utf-8")
    code, result = diff_json(project, capsys)
    assert code == 1
    [entry] = result["files"]
    assert entry["path"] == "LICENSE"
    assert entry["status"] == "changed"
    assert entry["ownership"] == "managed"
    assert entry["layer"] == "base"
    assert entry["finding"] is True
    assert (entry["added_lines"], entry["removed_lines"]) == (1, 1)
    assert "--- template/LICENSE\n+++ project/LICENSE\n" in entry["diff"]
    assert "-licence line 7\n+licence: changed here\n" in entry["diff"]


def test_seeded_change_is_information(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "form.toml").write_text("# our own form\n", encoding="utf-8")
    (project / "extra.toml").unlink()
    code, result = diff_json(project, capsys)
    assert code == 0
    assert {(e["path"], e["status"], e["ownership"], e["finding"]) for e in result["files"]} == {
        ("form.toml", "changed", "seeded", False),
        ("extra.toml", "missing", "seeded", False),
    }


def test_missing_and_added_managed_files(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "ci.yml").unlink()
    (project / "machinery" / "patch.py").write_text("# added where the template owns the path\n", encoding="utf-8")
    (project / "app.py").write_text("# the project's own code: not the template's business\n", encoding="utf-8")
    code, result = diff_json(project, capsys)
    assert code == 1
    assert {(e["path"], e["status"], e["layer"]) for e in result["files"]} == {
        ("ci.yml", "missing", "base"),
        ("machinery/patch.py", "added", None),
    }


def test_ignored_files_are_not_added(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / ".gitignore").write_text("__pycache__/\n", encoding="utf-8")
    (project / "machinery" / "__pycache__").mkdir()
    (project / "machinery" / "__pycache__" / "core.cpython-311.pyc").write_bytes(b"\0\1")
    code, result = diff_json(project, capsys)
    assert code == 0
    assert result["files"] == []


def test_declared_deviation_is_shown_with_its_reason_and_stale_ones_are_reported(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "ci.yml").write_text(numbered("ci") + "ci: the city's runner\n", encoding="utf-8")
    (project / "kit.toml").write_text(
        '[[deviation]]\npath = "ci.yml"\nreason = "The city runs its own runners"\n'
        'approved_by = "Jane Doe (IT)"\ndate = 2026-11-26\n\n'
        '[[deviation]]\npath = "machinery/*"\nreason = "Patched for a bug, fixed in v1.1"\n'
        'approved_by = "Max Muster"\ndate = 2026-10-01\n',
        encoding="utf-8",
    )
    code, result = diff_json(project, capsys)
    assert code == 0
    [entry] = result["files"]
    assert entry["finding"] is False
    assert entry["deviation"] == {"path": "ci.yml", "reason": "The city runs its own runners",
                                  "approved_by": "Jane Doe (IT)", "date": "2026-11-26"}
    assert [d["path"] for d in result["stale_deviations"]] == ["machinery/*"]
    assert kit("diff", str(project)) == 0
    out = capsys.readouterr().out
    assert "The city runs its own runners" in out
    assert "stale deviation: machinery/*" in out


def test_stat_lists_files_without_diffs(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "ci.yml").write_text("replaced\n", encoding="utf-8")
    capsys.readouterr()
    assert kit("diff", str(project), "--stat") == 1
    out = capsys.readouterr().out
    assert "M ci.yml" in out
    assert "+1 -20" in out
    assert "@@" not in out
    code, result = diff_json(project, capsys, "--stat")
    assert code == 1
    assert "diff" not in result["files"][0]


def test_second_diff_reuses_the_cached_render(project: Path) -> None:
    start = time.perf_counter()
    first = diff(DiffOptions(project=project))
    first_time = time.perf_counter() - start
    start = time.perf_counter()
    second = diff(DiffOptions(project=project))
    second_time = time.perf_counter() - start
    assert not first.cached
    assert second.cached
    assert second.files == first.files
    assert second_time < first_time
    assert not diff(DiffOptions(project=project, use_cache=False)).cached


def test_diff_reads_the_project_only(project: Path) -> None:
    (project / "ci.yml").write_text("changed\n", encoding="utf-8")
    before = snapshot(project)
    assert kit("diff", str(project)) == 1
    assert snapshot(project) == before


def test_plain_copier_template_owns_every_rendered_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
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
    import subprocess
    import sys

    dest = tmp_path / "p"
    subprocess.run([sys.executable, "-m", "copier", "copy", "--defaults", str(template), str(dest)],
                   check=True, capture_output=True)
    (dest / "hello.txt").write_text("hello there\n", encoding="utf-8")
    code, result = diff_json(dest, capsys)
    assert code == 1
    assert [(e["path"], e["ownership"]) for e in result["files"]] == [("hello.txt", "managed")]


def test_kit_template_set_generated_service_has_no_divergence(template_repo: TemplateRepo, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "dienst"
    assert kit("new", "ozg-service", str(dest), "-m", "augsburg", "--defaults",
               "--source", str(template_repo.path)) == 0
    code, result = diff_json(dest, capsys)
    assert code == 0, result["files"]
    security = dest / "SECURITY.md"
    if security.is_file():
        security.write_text(security.read_text(encoding="utf-8") + "local\n", encoding="utf-8")
        code, result = diff_json(dest, capsys)
        assert code == 1
        assert [(e["path"], e["ownership"]) for e in result["files"]] == [("SECURITY.md", "managed")]


BAD_INPUTS = [
    pytest.param(lambda p: [f.unlink() for f in p.glob(".copier-answers.*")], ".copier-answers", id="no-answers"),
    pytest.param(lambda p: (p / ".copier-answers.base.yml").write_text("{{{", encoding="utf-8"), "no valid YAML",
                 id="answers-not-yaml"),
    pytest.param(lambda p: (p / ".copier-answers.base.yml").write_text("_src_path: /x\n", encoding="utf-8"),
                 "_commit", id="answers-without-commit"),
    pytest.param(lambda p: (p / "kit.toml").write_text("[[deviation]]\npath = 'x'\n", encoding="utf-8"),
                 "reason", id="deviation-without-reason"),
]


@pytest.mark.parametrize(("damage", "expected"), BAD_INPUTS)
def test_bad_input(damage: Any, expected: str, *, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    damage(project)
    before = snapshot(project)
    capsys.readouterr()
    assert kit("diff", str(project)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert expected in err
    assert snapshot(project) == before


def test_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert kit("diff", str(tmp_path / "nowhere")) == 2
    assert "nowhere" in capsys.readouterr().err
