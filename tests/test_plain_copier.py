"""The template set works without the kit: plain `copier copy` and `copier update`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from kitcli.cli import main

from .conftest import TemplateRepo, git


def copier(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "copier", *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


def answers(project: Path, template: str) -> dict[str, object]:
    data = yaml.safe_load((project / f".copier-answers.{template}.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def release_v110(repo: TemplateRepo) -> None:
    repo.write("templates/base/project/HINWEISE.md", "Neu in v1.1.0.\n")
    repo.release("v1.1.0")


def test_plain_copier_copy_then_update(template_repo: TemplateRepo, tmp_path: Path) -> None:
    project = tmp_path / "plain"
    copier(
        tmp_path,
        "copy",
        "--defaults",
        "--vcs-ref",
        "v1.0.0",
        "-d",
        "template=base",
        "-d",
        "municipality_name=Augsburg",
        str(template_repo.path),
        str(project),
    )
    recorded = answers(project, "base")
    assert recorded["_commit"] == "v1.0.0"
    assert recorded["template"] == "base"
    assert (project / "publiccode.yml").is_file()
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "plain copier")
    release_v110(template_repo)
    copier(project, "update", "--defaults", "-a", ".copier-answers.base.yml")
    assert answers(project, "base")["_commit"] == "v1.1.0"
    assert (project / "HINWEISE.md").read_text(encoding="utf-8") == "Neu in v1.1.0.\n"


def test_plain_copier_update_of_kit_project_each_layer(template_repo: TemplateRepo, tmp_path: Path) -> None:
    project = tmp_path / "dienst"
    assert (
        main(["new", "ozg-service", str(project), "-m", "augsburg", "--defaults", "--source", str(template_repo.path)])
        == 0
    )
    release_v110(template_repo)
    copier(project, "update", "--defaults", "-a", ".copier-answers.base.yml")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "update base")
    copier(project, "update", "--defaults", "-a", ".copier-answers.ozg-service.yml")
    assert answers(project, "base")["_commit"] == "v1.1.0"
    assert answers(project, "ozg-service")["_commit"] == "v1.1.0"
    # updating base must not bring back base's README: the service layer owns it
    assert answers(project, "base")["layered_template"] == "ozg-service"
    assert (project / "HINWEISE.md").read_text(encoding="utf-8") == "Neu in v1.1.0.\n"
