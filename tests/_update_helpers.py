"""A tiny kit-style template set for the update, diff and template-test tests.

Its layers are called ``base`` and ``svc`` (on top of base). It has the layout of the kit's own
set (a dispatching ``copier.yml``, ``templates/<name>/project``, ``kit-template.toml`` with
managed and seeded globs, one answers file per layer) but only a few short files, so that
hundreds of updates run in reasonable time.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .conftest import git

COPIER_YML = """\
_subdirectory: "templates/{{ template }}/project"
_answers_file: ".copier-answers.{{ template }}.yml"
_templates_suffix: .jinja
_envops:
  keep_trailing_newline: true

template:
  type: str
  choices: [base, svc]
  default: base

name:
  type: str
  default: demo
"""

ANSWERS_JINJA = (
    "# Changes here will be overwritten by Copier; NEVER EDIT MANUALLY\n{{ _copier_answers|to_nice_yaml -}}\n"
)

TINY_TOML = """\
description = "A tiny template for tests"
kit_check = false  # a toy: it is not meant to meet the kit's repository standards
test_command = "{python} -c \\"import pathlib, sys; sys.exit(0 if pathlib.Path('LICENSE').is_file() else 1)\\""

[files]
managed = ["LICENSE", "ci.yml", "machinery/**"]
seeded = ["README.md", "form.toml"]

[[matrix]]
id = "default"
data = {}

[[matrix]]
id = "named"
data = { name = "other" }
"""

SVC_TOML = """\
description = "A tiny layer on top of the tiny base"
kit_check = false
extends = ["base"]

[files]
managed = ["extra/**"]
seeded = ["extra.toml"]
"""


def numbered(label: str, count: int = 20) -> str:
    return "".join(f"{label} line {n}\n" for n in range(1, count + 1))


TINY_FILES = {
    "LICENSE": numbered("licence"),
    "ci.yml": numbered("ci"),
    "machinery/core.py": numbered("# core"),
    "form.toml": numbered("# form"),
    "README.md.jinja": "# {{ name }}\n" + numbered("readme", 19),
}
SVC_FILES = {
    "extra/service.py": numbered("# service"),
    "extra.toml": numbered("# extra data"),
}
MANAGED = ("LICENSE", "ci.yml", "machinery/core.py")
SEEDED = ("README.md", "form.toml")


class TinyTemplate:
    """A git repository with the tiny template set; ``release`` commits and tags."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def project_file(self, template: str, relpath: str) -> Path:
        return self.path / "templates" / template / "project" / relpath

    def write(self, relpath: str, text: str, template: str = "base") -> None:
        target = self.project_file(template, relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def remove(self, relpath: str, template: str = "base") -> None:
        self.project_file(template, relpath).unlink()

    def read(self, relpath: str, template: str = "base") -> str:
        return self.project_file(template, relpath).read_text(encoding="utf-8")

    def release(self, tag: str) -> None:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", f"Release {tag}")
        git(self.path, "tag", tag)


def make_tiny(path: Path, *, svc: bool = False, tag: str | None = "v1.0.0") -> TinyTemplate:
    path.mkdir(parents=True, exist_ok=True)
    (path / "copier.yml").write_text(COPIER_YML, encoding="utf-8")
    layers = {"base": (TINY_TOML, TINY_FILES)}
    if svc:
        layers["svc"] = (SVC_TOML, SVC_FILES)
    for name, (toml, files) in layers.items():
        (path / "templates" / name / "project").mkdir(parents=True)
        (path / "templates" / name / "kit-template.toml").write_text(toml, encoding="utf-8")
        (path / "templates" / name / "project" / "{{ _copier_conf.answers_file }}.jinja").write_text(
            ANSWERS_JINJA, encoding="utf-8")
        for relpath, text in files.items():
            target = path / "templates" / name / "project" / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    git(path, "init", "-q")
    template = TinyTemplate(path)
    if tag:
        template.release(tag)
    else:
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", "Template")
    return template


def snapshot(project: Path) -> dict[str, str]:
    """Every file outside ``.git`` with its digest, plus HEAD, the index and the status."""
    state = {}
    for directory, dirnames, filenames in os.walk(project):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            path = Path(directory, name)
            state[path.relative_to(project).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
        for name in dirnames:
            state[Path(directory, name).relative_to(project).as_posix() + "/"] = "dir"
    if (project / ".git").exists():
        state[":HEAD"] = git(project, "rev-parse", "HEAD").strip()
        state[":status"] = git(project, "status", "--porcelain", "--untracked-files=all")
        state[":index"] = git(project, "ls-files", "--stage")
    return state
