"""The exit-code contract for bad input a user can cause, one row per case.

Every row runs ``kit`` in-process on a prepared scratch directory and asserts the contract from
the README: the documented exit code, exactly one line on stderr naming the offending value, no
traceback, and nothing written or lost on disk (the scratch directory and the kit home are
compared byte for byte before and after).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kitcli.cli import main

from ._update_helpers import make_tiny
from .conftest import TemplateRepo


@dataclass
class Scratch:
    """Where a case prepares its input: a working directory, the kit home and a template repo."""

    work: Path
    kit_home: Path
    templates: TemplateRepo
    env: dict[str, str] = field(default_factory=dict)
    """Environment variables the command runs with."""
    cleanups: list[Callable[[], object]] = field(default_factory=list)

    def write(self, relpath: str, content: str | bytes, *, under: Path | None = None) -> Path:
        target = (under or self.work) / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
        return target

    def profile(self, name: str, content: str | bytes) -> Path:
        return self.write(f"config/profiles/{name}", content, under=self.kit_home)

    def registry(self, content: str | bytes) -> Path:
        return self.write("data/registry.json", content, under=self.kit_home)


Setup = Callable[[Scratch], list[str]]


def snapshot(*roots: Path) -> dict[Path, bytes | str | None]:
    """Every path under *roots* with its bytes (``None`` for a directory, the target for a link)."""
    state: dict[Path, bytes | str | None] = {}
    for root in roots:
        for path in root.rglob("*"):
            if path.is_symlink():
                state[path] = f"-> {path.readlink()}"
            else:
                state[path] = None if path.is_dir() else path.read_bytes()
    return state


# --- setups ------------------------------------------------------------------------------------


def _show(scratch: Scratch) -> list[str]:
    return ["municipality", "show", "muenchen"]


def profile_not_utf8(scratch: Scratch) -> list[str]:
    scratch.profile("broken.toml", b"\xff\xfe name = 1")
    return _show(scratch)


def profile_is_directory(scratch: Scratch) -> list[str]:
    (scratch.kit_home / "config" / "profiles" / "broken.toml").mkdir(parents=True)
    return _show(scratch)


def registry_is_list(scratch: Scratch) -> list[str]:
    scratch.registry("[1, 2]")
    return ["municipality", "search", "Hausen"]


def registry_municipalities_not_list(scratch: Scratch) -> list[str]:
    scratch.registry('{"municipalities": 5}')
    return ["municipality", "search", "Hausen"]


def registry_entry_unknown_key(scratch: Scratch) -> list[str]:
    scratch.registry('{"municipalities": [{"x": 1}]}')
    return ["municipality", "show", "Hausen"]


def registry_is_directory_on_import(scratch: Scratch) -> list[str]:
    (scratch.kit_home / "data" / "registry.json").mkdir(parents=True)
    csv = scratch.write("gemeinden.csv", "ags,name\n09162000,München\n")
    return ["municipality", "import", str(csv)]


def config_source_not_string(scratch: Scratch) -> list[str]:
    scratch.write("config/config.toml", "source = 5\n", under=scratch.kit_home)
    return ["new", "base", str(scratch.work / "P"), "--defaults"]


def symlink(target: str, *args: str) -> Setup:
    """DEST ``link`` is a symbolic link to *target* (``afile``, ``adir`` or a missing path)."""

    def setup(scratch: Scratch) -> list[str]:
        scratch.write("afile", "x\n")
        (scratch.work / "adir").mkdir()
        (scratch.work / "link").symlink_to(target)
        return ["new", "base", "link", "--defaults", *args]

    return setup


def municipality_profile(content: str) -> Setup:
    def setup(scratch: Scratch) -> list[str]:
        scratch.profile("kaputt.toml", content)
        return ["new", "base", str(scratch.work / "P"), "--defaults", "--municipality", "kaputt"]

    return setup


def data_file(name: str, content: str) -> Setup:
    def setup(scratch: Scratch) -> list[str]:
        path = scratch.write(name, content)
        return ["new", "base", str(scratch.work / "P"), "--defaults", "--data-file", str(path)]

    return setup


def csv_import(content: str) -> Setup:
    def setup(scratch: Scratch) -> list[str]:
        path = scratch.write("gemeinden.csv", content)
        return ["municipality", "import", str(path)]

    return setup


def unwritable_parent(scratch: Scratch) -> list[str]:
    locked = scratch.work / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # root writes everywhere, except into an immutable directory
        if subprocess.run(["chattr", "+i", str(locked)], capture_output=True, check=False).returncode != 0:
            pytest.skip("chattr +i is not supported here, and root may write into any directory")
        scratch.cleanups.append(lambda: subprocess.run(["chattr", "-i", str(locked)], check=False))
    else:
        locked.chmod(0o555)
        scratch.cleanups.append(lambda: locked.chmod(0o755))
    return ["new", "base", str(locked / "P"), "--defaults"]


def git_crashes_on(command: str) -> Setup:
    """``git`` on PATH crashes (SIGSEGV) on *command*, like a broken installation would."""

    def setup(scratch: Scratch) -> list[str]:
        real = shutil.which("git")
        wrapper = scratch.write("bin/git", f'#!/bin/sh\n[ "$1" = {command} ] && kill -SEGV $$\nexec {real} "$@"\n')
        wrapper.chmod(0o755)
        scratch.env["PATH"] = f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}"
        tiny = make_tiny(scratch.work / "tiny")
        return ["new", "base", str(scratch.work / "P"), "--defaults", "--source", str(tiny.path)]

    return setup


def trusting_template(scratch: Scratch) -> list[str]:
    tiny = make_tiny(scratch.work / "tiny", tag=None)
    copier_yml = tiny.path / "copier.yml"
    copier_yml.write_text(copier_yml.read_text(encoding="utf-8") + '_jinja_extensions: ["jinja2.ext.do"]\n',
                          encoding="utf-8")
    tiny.release("v1.0.0")
    return ["new", "base", str(scratch.work / "P"), "--defaults", "--source", str(tiny.path)]


def argv(*args: str) -> Setup:
    """A case that needs no preparation beyond a file named ``afile`` in the working directory."""

    def setup(scratch: Scratch) -> list[str]:
        scratch.write("afile", "x\n")
        scratch.write("adir/keep", "")
        return list(args)

    return setup


def kit_toml(content: str) -> Setup:
    def setup(scratch: Scratch) -> list[str]:
        scratch.write("kit.toml", content)
        return ["check", "."]

    return setup


def project(*args: str) -> Setup:
    """A committed project generated from the template repository in ``work/P``; *args* follow."""

    def setup(scratch: Scratch) -> list[str]:
        dest = scratch.work / "P"
        assert main(["new", "base", str(dest), "--defaults", "--source", str(scratch.templates.path)]) == 0
        return [arg.replace("{P}", str(dest)) for arg in args]

    return setup


CASES = [
    # click's usage errors: one line naming the value (click alone prints usage, blank line, error)
    pytest.param(argv("check", ".", "--format", "nonsense"), 2, "'nonsense'", id="check-format-nonsense"),
    pytest.param(argv("fleet", "status", ".", "--jobs", "0"), 2, "0 is not in the range", id="fleet-jobs-0"),
    pytest.param(argv("catalog", ".", "--jobs", "-1"), 2, "-1 is not in the range", id="catalog-jobs-negative"),
    pytest.param(argv("municipality", "search", "x", "--limit", "0"), 2, "--limit", id="search-limit-0"),
    pytest.param(argv("update", "afile"), 2, "'afile' is a file", id="update-path-is-file"),
    pytest.param(argv("diff", "afile"), 2, "'afile' is a file", id="diff-path-is-file"),
    pytest.param(argv("adopt", "afile", "-t", "base"), 2, "'afile' is a file", id="adopt-path-is-file"),
    pytest.param(argv("fleet", "publish", "afile"), 2, "'afile' is a file", id="publish-path-is-file"),
    pytest.param(argv("new", "base", "P", "--data-file", "adir"), 2, "'adir' is a directory", id="data-file-is-dir"),
    pytest.param(argv("municipality", "import", "adir"), 2, "'adir' is a directory", id="import-file-is-dir"),
    pytest.param(argv("new", "base", "P", "-d", "foo"), 2, "'foo' is not KEY=VALUE", id="data-not-key-value"),
    pytest.param(argv("completion", "tcsh"), 2, "'tcsh'", id="completion-unknown-shell"),
    pytest.param(argv("chek"), 2, "'chek'", id="unknown-command"),
    # option values that are wrong for every project
    pytest.param(project("update", "{P}", "--to", ""), 2, "--to ''", id="update-to-empty"),
    pytest.param(project("fleet", "update", "{P}", "--to", "", "--dry-run"), 2, "--to ''", id="fleet-update-to-empty"),
    pytest.param(project("fleet", "update", "{P}", "--branch", "a b"), 2, "'a b'", id="fleet-update-branch-invalid"),
    # kit new: every destination problem before anything is rendered
    pytest.param(argv("new", "base", "afile/sub", "--defaults"), 2, "/afile/sub' lies under the file",
                 id="new-dest-under-file"),
    pytest.param(argv("new", "base", "afile/a/b", "--defaults"), 2, "/afile/a/b' lies under the file",
                 id="new-dest-deep-under-file"),
    pytest.param(symlink("adir"), 2, "/link' is a symbolic link (to 'adir')", id="new-dest-symlink-to-directory"),
    pytest.param(symlink("afile"), 2, "/link' is a symbolic link (to 'afile')", id="new-dest-symlink-to-file"),
    pytest.param(symlink("gone"), 2, "/link' is a dangling symbolic link (to 'gone')", id="new-dest-symlink-dangling"),
    pytest.param(argv("new", "base", "x" * 300, "--defaults"), 2, "300 bytes long", id="new-dest-name-too-long"),
    pytest.param(argv("new", "base", "adir/" + "y" * 256 + "/P", "--defaults"), 2, "256 bytes long",
                 id="new-dest-parent-name-too-long"),
    # answers are clean text, wherever they come from
    pytest.param(argv("new", "base", "P", "--defaults", "-d", "project_name=Hunde\x1b[31msteuer"), 2,
                 "--data: the answer to 'project_name'", id="data-escape-sequence"),
    pytest.param(argv("new", "base", "P", "--defaults", "-d", "project_name=Hunde\x00steuer"), 2,
                 "U+0000 (NUL)", id="data-nul"),
    pytest.param(argv("new", "base", "P", "--defaults", "-d", "codeowners=@a\n* @evil"), 2,
                 "'codeowners'", id="data-newline-in-one-line-answer"),
    pytest.param(argv("new", "base", "P", "--defaults", "-d", "maintainer_name=A\rB"), 2, "U+000D (CR)",
                 id="data-carriage-return"),
    pytest.param(argv("new", "base", "P", "--defaults", "-d", "maintainer_name=A\x7f"), 2, "U+007F (DEL)",
                 id="data-delete"),
    pytest.param(argv("new", "base", "P", "--defaults", "-d", "maintainer_name=A\x85B"), 2, "U+0085",
                 id="data-c1-control"),
    pytest.param(argv("new", "base", "P", "--defaults", "-d", "project_name=abc\u202edcba"), 2, "U+202E",
                 id="data-bidi-override"),
    pytest.param(argv("new", "base", "P", "--defaults", "-d", "project_name=a\u2028b"), 2, "U+2028",
                 id="data-line-separator"),
    pytest.param(data_file("answers.yml", 'project_name: "Hunde\\x1bsteuer"\n'), 2,
                 "answers.yml': the answer to 'project_name'", id="data-file-escape"),
    pytest.param(data_file("answers.json", '{"codeowners": "@a\\n@b"}'), 2, "answers.json': the answer to 'codeowners'",
                 id="data-file-json-newline"),
    pytest.param(municipality_profile('id = "kaputt"\nname = "Kaputt\\u0007dorf"\n'), 2,
                 "the municipality profile 'kaputt'", id="profile-bell"),
    pytest.param(argv("new", "base", "P", "--defaults", "--municipality", ""), 2, "unknown municipality ''",
                 id="municipality-empty"),
    pytest.param(argv("new", "base", "P", "--defaults", "--municipality", "\u0966\u096f\u0967\u096c\u0968"
                      "\u0966\u0966\u0966"), 2, "is no AGS", id="municipality-ags-devanagari-digits"),
    pytest.param(argv("new", "base", "P", "--defaults", "-d", "municipality_ags=\uff10\uff19\uff11\uff16\uff12"
                      "\uff10\uff10\uff10"), 2, "is no AGS", id="data-ags-fullwidth-digits"),
    pytest.param(csv_import("ags,name\n09162000,München\n08111000,Stuttgart\n"), 2,
                 "line 3: AGS 08111000 is not Bavarian", id="import-non-bavarian-ags"),
    pytest.param(csv_import("ags,name\n09162000,Mün\x1bchen\n"), 2, "line 2: the answer to 'name'",
                 id="import-control-character"),
    pytest.param(csv_import("ags,name\n\u0660\u0669162000,München\n"), 2, "line 2: malformed AGS",
                 id="import-arabic-indic-digits"),
    pytest.param(unwritable_parent, 2, "/locked' is not writable for you", id="new-dest-parent-not-writable"),
    pytest.param(trusting_template, 2, "the template needs --trust, which the kit never uses",
                 id="new-template-needs-trust"),
    pytest.param(argv("catalog", ".", "--search", "!!!"), 2, "--search '!!!' has no letter or digit",
                 id="catalog-search-only-punctuation"),
    pytest.param(argv("catalog", ".", "--search", " - "), 2, "--search ' - ' has no letter", id="catalog-search-dash"),
    # internal failures: exit 4, one line that asks for a report and names --debug
    pytest.param(git_crashes_on("commit"), 4, "--debug", id="git-crashes-during-new"),
    # a project's kit.toml of the wrong shape
    pytest.param(kit_toml("deviation = 5\n"), 2, "deviation = 5", id="kit-toml-deviation-not-array"),
    pytest.param(kit_toml("[check]\nignore = 5\n"), 2, "ignore = 5", id="kit-toml-ignore-not-array"),
    pytest.param(kit_toml('check = "x"\n'), 2, "check = 'x'", id="kit-toml-check-not-table"),
    # the kit's own state and configuration
    pytest.param(profile_not_utf8, 2, "broken.toml", id="profile-not-utf8"),
    pytest.param(profile_is_directory, 2, "broken.toml", id="profile-is-directory"),
    pytest.param(registry_is_list, 2, "registry.json", id="registry-json-is-list"),
    pytest.param(registry_municipalities_not_list, 2, "registry.json", id="registry-municipalities-not-list"),
    pytest.param(registry_entry_unknown_key, 2, "registry.json", id="registry-entry-unknown-key"),
    pytest.param(registry_is_directory_on_import, 2, "registry.json", id="import-registry-is-directory"),
    pytest.param(config_source_not_string, 2, "source = 5", id="config-source-not-string"),
]


@pytest.mark.parametrize(("setup", "code", "names"), CASES)
def test_bad_input_keeps_the_contract(  # noqa: PLR0917 (parametrize and fixtures)
    setup: Setup,
    code: int,
    names: str,
    template_repo: TemplateRepo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kit_home = Path(os.environ["KIT_HOME"])
    kit_home.mkdir(parents=True, exist_ok=True)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    scratch = Scratch(work=work, kit_home=kit_home, templates=template_repo)
    try:
        argv = setup(scratch)
        for name, value in scratch.env.items():
            monkeypatch.setenv(name, value)
        before = snapshot(work, kit_home)
        capsys.readouterr()  # what the setup printed

        assert main(argv) == code
    finally:
        for cleanup in scratch.cleanups:
            cleanup()

    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert names in err
    assert snapshot(work, kit_home) == before
