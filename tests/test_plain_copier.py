"""The template set works without the kit: plain `copier copy` and `copier update`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
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


def readme_copier_lines(project: Path) -> list[str]:
    """The README's plain-Copier block: the fenced lines from the first `copier update` line on."""
    text = (project / "README.md").read_text(encoding="utf-8")
    blocks = [block.split("```", 1)[0] for block in text.split("```sh\n")[1:]]
    [block] = [b for b in blocks if b.startswith("copier update")]
    return block.strip().splitlines()


@pytest.mark.parametrize(
    ("template", "layers"),
    [
        pytest.param("base", ("base",), id="base"),
        pytest.param("ozg-service", ("base", "ozg-service"), id="ozg-service"),
    ],
)
def test_readme_plain_copier_lines_work_without_a_terminal(
    *, template_repo: TemplateRepo, tmp_path: Path, template: str, layers: tuple[str, ...]
) -> None:
    project = tmp_path / "projekt"
    assert main(["new", template, str(project), "-m", "augsburg", "--defaults",
                 "--source", str(template_repo.path)]) == 0
    template_repo.write("templates/base/project/HINWEISE.md", "Neu in v1.1.0.\n")
    template_repo.write("templates/ozg-service/project/docs/neu-v1.1.0.md", "Neu in v1.1.0.\n")
    template_repo.release("v1.1.0")
    lines = readme_copier_lines(project)
    assert [line for line in lines if line.startswith("copier")] == [
        f"copier update --defaults --skip-answered -a .copier-answers.{layer}.yml" for layer in layers
    ]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for line in lines:  # exactly as written, one after the other, with no terminal
        done = subprocess.run(["bash", "-c", line], cwd=project, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, env=env, check=False)
        assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
        assert "Traceback" not in done.stderr
    for layer in layers:
        assert answers(project, layer)["_commit"] == "v1.1.0"
    assert (project / "HINWEISE.md").is_file()
    assert (project / "docs" / "neu-v1.1.0.md").is_file() == (template == "ozg-service")
    assert git(project, "status", "--porcelain") == ""
    assert len(git(project, "log", "--format=%s").splitlines()) == 1 + len(layers)


def test_the_kit_readme_plain_copier_lines_work_without_a_terminal(template_repo: TemplateRepo,
                                                                   tmp_path: Path) -> None:
    """The kit's own README block, run as one script with only the URL pointed at a local bare copy."""
    from .conftest import REPO_ROOT

    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("The templates work without the kit, too", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    assert "copier update --defaults --skip-answered -a .copier-answers.base.yml" in block
    bare = tmp_path / "kommunal-kit.git"
    git(tmp_path, "clone", "-q", "--bare", str(template_repo.path), str(bare))
    template_repo.write("templates/base/project/HINWEISE.md", "Neu in v1.1.0.\n")
    template_repo.release("v1.1.0")
    git(template_repo.path, "push", "-q", "--tags", str(bare), "HEAD:main")
    script = block.replace("https://gitlab.example.org/kommunal-kit.git", bare.as_uri())
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-ec", script], cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, env=env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    project = tmp_path / "my-project"
    assert answers(project, "base")["_commit"] == "v1.1.0"
    assert answers(project, "base")["_src_path"] == bare.as_uri()
    assert (project / "HINWEISE.md").is_file()
    assert git(project, "status", "--porcelain") == ""
