"""A small fleet for the fleet, catalogue and reuse tests: real projects from a real template
repository with a real tag, generated once per test module and copied for each test."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kitcli.cli import main

from .conftest import REPO_ROOT, TEMPLATE_SET_PATHS, git

# (directory, template, municipality, extra answers)
PROJECTS = (
    ("hundesteuer-augsburg", "ozg-service", "augsburg",
     {"project_name": "Hundesteuer", "leika_key": "99123456789012", "ozg_id": "10215"}),
    ("hundesteuer-muenchen", "ozg-service", "muenchen",
     {"project_name": "Hundesteuer", "leika_key": "99123456789012", "ozg_id": "10215"}),
    ("parkausweis-nuernberg", "ozg-service", "nuernberg",
     {"project_name": "Bewohnerparkausweis", "leika_key": "99108013000000", "ozg_id": "10342"}),
    ("opendata-augsburg", "base", "augsburg", {"project_name": "Offene Daten"}),
)


def kit(*args: str) -> int:
    return main(list(args))


@contextlib.contextmanager
def isolated(root: Path) -> Iterator[None]:
    """The environment the conftest gives each test, for fixtures wider than one test."""
    gitconfig = root / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Kit Test\n\temail = kit-test@example.org\n[init]\n\tdefaultBranch = main\n"
        "[commit]\n\tgpgsign = false\n[tag]\n\tgpgsign = false\n[protocol \"file\"]\n\tallow = always\n",
        encoding="utf-8",
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(root))
        patch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        patch.setenv("KIT_HOME", str(root / "kit-home"))
        patch.setenv("NO_COLOR", "1")
        for name in ("KIT_SOURCE", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
            patch.delenv(name, raising=False)
        yield


def make_template_repo(path: Path, tag: str = "v1.0.0") -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q")
    for name in TEMPLATE_SET_PATHS:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, path / name)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "Template set")
    git(path, "tag", tag)
    return path


def generate(source: Path, dest: Path, template: str, municipality: str, answers: dict[str, str]) -> Path:
    data = [arg for key, value in answers.items() for arg in ("--data", f"{key}={value}")]
    code = kit("new", template, str(dest), "--municipality", municipality, "--defaults", "--source", str(source), *data)
    assert code == 0, f"kit new {template} {dest} failed"
    return dest


@dataclass(frozen=True)
class Fleet:
    source: Path
    root: Path
    """The directory of projects."""

    def project(self, name: str) -> Path:
        return self.root / name


def build_fleet(root: Path, names: tuple[str, ...] | None = None) -> Fleet:
    source = make_template_repo(root / "template-repo")
    projects = root / "projects"
    for name, template, municipality, answers in PROJECTS:
        if names is None or name in names:
            generate(source, projects / name, template, municipality, answers)
    return Fleet(source=source, root=projects)


def copy_fleet(fleet: Fleet, dest: Path) -> Fleet:
    shutil.copytree(fleet.root, dest, symlinks=True)
    return Fleet(source=fleet.source, root=dest)


def status_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = kit("fleet", "status", *args, "--format", "json")
    out = capsys.readouterr().out
    return code, json.loads(out)


def rows_by_name(report: dict) -> dict[str, dict]:
    return {Path(row["location"]).name: row for row in report["projects"]}


def commit(project: Path, message: str = "local work") -> None:
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", message)
