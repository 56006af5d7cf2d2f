"""Kit projects stay updatable without the kit: plain `copier update` and exactly what Renovate runs.

Renovate's copier manager runs, in the project directory,
``copier update --skip-answered --defaults --answers-file <file> --vcs-ref <tag>``.
After either, the kit agrees with the result: `kit diff` sees no divergence and `kit update`
finds the project up to date. And after a `kit update`, plain Copier still works.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kitcli.cli import main

from .conftest import TemplateRepo, git


def copier(project: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "copier", *args], cwd=project,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def renovate(project: Path, answers_file: str, tag: str) -> None:
    copier(project, "update", "--skip-answered", "--defaults", "--answers-file", answers_file, "--vcs-ref", tag)


def plain(project: Path, answers_file: str) -> None:
    copier(project, "update", "-a", answers_file, "--defaults")


def recorded(project: Path, layer: str) -> str:
    return str(yaml.safe_load((project / f".copier-answers.{layer}.yml").read_text(encoding="utf-8"))["_commit"])


def release(repo: TemplateRepo, tag: str) -> None:
    repo.write(f"templates/base/project/HINWEIS-{tag}.md", f"Neu in {tag}.\n")
    repo.write(f"templates/ozg-service/project/docs/neu-{tag}.md", f"Neu in {tag}.\n")
    repo.release(tag)


def kit_agrees(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["diff", str(project), "--stat"]) == 0, capsys.readouterr().out
    assert main(["update", str(project)]) == 0
    assert "Up to date" in capsys.readouterr().out


@pytest.mark.parametrize("runner", ["plain", "renovate"])
def test_copier_updates_a_kit_base_project(runner: str, template_repo: TemplateRepo, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "projekt"
    assert main(["new", "base", str(project), "-m", "nuernberg", "--defaults",
                 "--source", str(template_repo.path)]) == 0
    release(template_repo, "v1.1.0")
    if runner == "plain":
        plain(project, ".copier-answers.base.yml")
    else:
        renovate(project, ".copier-answers.base.yml", "v1.1.0")
    assert recorded(project, "base") == "v1.1.0"
    assert (project / "HINWEIS-v1.1.0.md").read_text(encoding="utf-8") == "Neu in v1.1.0.\n"
    git(project, "add", "-A")
    git(project, "commit", "-qm", f"copier update ({runner})")
    kit_agrees(project, capsys)


def test_renovate_updates_each_layer_of_a_service(template_repo: TemplateRepo, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "dienst"
    assert main(["new", "ozg-service", str(project), "-m", "augsburg", "--defaults",
                 "--source", str(template_repo.path)]) == 0
    release(template_repo, "v1.1.0")
    for layer in ("base", "ozg-service"):
        renovate(project, f".copier-answers.{layer}.yml", "v1.1.0")
        git(project, "add", "-A")
        git(project, "commit", "-qm", f"Renovate: update {layer} to v1.1.0")
    assert recorded(project, "base") == recorded(project, "ozg-service") == "v1.1.0"
    assert (project / "docs" / "neu-v1.1.0.md").is_file()
    kit_agrees(project, capsys)


def test_plain_copier_works_after_kit_update(template_repo: TemplateRepo, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "dienst"
    assert main(["new", "ozg-service", str(project), "-m", "augsburg", "--defaults",
                 "--source", str(template_repo.path)]) == 0
    release(template_repo, "v1.1.0")
    assert main(["update", str(project), "--commit"]) == 0
    release(template_repo, "v1.2.0")
    renovate(project, ".copier-answers.base.yml", "v1.2.0")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "Renovate: base v1.2.0")
    plain(project, ".copier-answers.ozg-service.yml")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "copier: ozg-service v1.2.0")
    assert recorded(project, "base") == recorded(project, "ozg-service") == "v1.2.0"
    kit_agrees(project, capsys)


def test_conflict_markers_renovate_commits_fail_the_ci_check(template_repo: TemplateRepo, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Renovate commits what Copier leaves, markers included; the CI job's `kit check` fails on them."""
    project = tmp_path / "projekt"
    assert main(["new", "base", str(project), "-m", "nuernberg", "--defaults",
                 "--source", str(template_repo.path)]) == 0
    contributing = "templates/base/project/CONTRIBUTING.md"
    first = (template_repo.path / contributing).read_text(encoding="utf-8").splitlines()[0]
    template_repo.write(contributing, (template_repo.path / contributing).read_text(encoding="utf-8")
                        .replace(first, "# Mitwirken (neu in v1.1.0)", 1))
    template_repo.release("v1.1.0")
    text = (project / "CONTRIBUTING.md").read_text(encoding="utf-8")
    (project / "CONTRIBUTING.md").write_text(text.replace(first, "# Mitwirken am Projekt", 1), encoding="utf-8")
    git(project, "commit", "-qam", "CONTRIBUTING.md: eigener Titel")
    renovate(project, ".copier-answers.base.yml", "v1.1.0")
    assert "<<<<<<< before updating" in (project / "CONTRIBUTING.md").read_text(encoding="utf-8")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "Renovate: update base to v1.1.0")
    capsys.readouterr()
    assert main(["check", str(project), "--select", "KIT605"]) == 1
    out = capsys.readouterr().out
    assert "CONTRIBUTING.md (line 1)" in out
    assert "delete the <<<<<<< / ======= / >>>>>>> lines and commit" in out
