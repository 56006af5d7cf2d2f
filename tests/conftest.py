"""Shared fixtures: isolated git and kit state, and throw-away copies of this template repository.

Tests never touch the developer's own git configuration or kit data, never use the network, and
create the release tags they need in temporary copies of the repository (a CI clone may have none).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
MUNICIPALITIES_CSV = SHARED_DATA / "bavaria-municipalities.csv"
KREISE_CSV = SHARED_DATA / "bavaria-kreise.csv"

# What a template repository copy contains: the template set, nothing of the kit's own code.
TEMPLATE_SET_PATHS = ("copier.yml", "templates")


def git(cwd: Path, *args: str) -> str:
    """Run git in *cwd* and return its stdout; fail the test on a non-zero exit."""
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}:\n{result.stderr}")
    return result.stdout


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Give every test its own git identity, kit home and configuration, and no colour."""
    home = tmp_path_factory.mktemp("home")
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Kit Test\n\temail = kit-test@example.org\n"
        "[init]\n\tdefaultBranch = main\n"
        "[commit]\n\tgpgsign = false\n[tag]\n\tgpgsign = false\n"
        '[protocol "file"]\n\tallow = always\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("KIT_HOME", str(home / "kit-home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    for name in ("KIT_SOURCE", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)
    # Copier runs git through plumbum, whose environment is a copy of os.environ taken at import:
    # without this, its git would keep the first test's configuration for the whole session.
    from plumbum import local

    for name in ("HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setitem(local.env, name, os.environ[name])  # type: ignore[arg-type]


def _copy_template_set(dest: Path) -> None:
    for name in TEMPLATE_SET_PATHS:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / name)


class TemplateRepo:
    """A temporary git repository holding a copy of the kit's template set, with real tags."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def commit(self, message: str) -> str:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.path, "rev-parse", "HEAD").strip()

    def tag(self, name: str) -> None:
        git(self.path, "tag", name)

    def release(self, tag: str, message: str | None = None) -> str:
        """Commit everything and tag it as release *tag*."""
        sha = self.commit(message or f"Release {tag}")
        self.tag(tag)
        return sha

    def write(self, relpath: str, text: str) -> Path:
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return target


@pytest.fixture
def make_template_repo(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., TemplateRepo]:
    """Build a template repository copy; by default tagged ``v1.0.0``."""

    def factory(*, tags: tuple[str, ...] = ("v1.0.0",)) -> TemplateRepo:
        path = tmp_path_factory.mktemp("template-repo")
        git(path, "init", "-q")
        _copy_template_set(path)
        repo = TemplateRepo(path)
        repo.commit("Template set")
        for tag in tags:
            repo.tag(tag)
        return repo

    return factory


@pytest.fixture
def template_repo(make_template_repo: Callable[..., TemplateRepo]) -> TemplateRepo:
    """A template repository copy tagged ``v1.0.0``."""
    return make_template_repo()


@pytest.fixture
def shared_data() -> Path:
    """The reference municipality data beside the checkout, or a skip that says why."""
    if not MUNICIPALITIES_CSV.is_file() or not KREISE_CSV.is_file():
        pytest.skip(f"reference data not found at {SHARED_DATA} (../shared is absent in this checkout)")
    return SHARED_DATA
