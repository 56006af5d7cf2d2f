"""The documentation: it builds strictly, its generated pages are current, its commands are run.

The reference pages and the terminal sessions of the getting-started, adopter and concept pages
are produced by ``python -m kitcli._docs``; these tests fail when a page no longer matches what
the code produces, and say how to fix it.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from kitcli import _docs
from kitcli.cli import cli

from .conftest import REPO_ROOT

REGENERATE = "run `python -m kitcli._docs` and commit the result"


@pytest.mark.slow
def test_generated_pages_are_current() -> None:
    produced = _docs.produce_pages(REPO_ROOT)
    stale = []
    for relpath, text in produced.items():
        path = REPO_ROOT / relpath
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(), text.splitlines(), f"{relpath} (committed)", f"{relpath} (now)", lineterm="", n=1
            )
            stale.append("\n".join(list(diff)[:40]))
    assert not stale, f"stale documentation; {REGENERATE}:\n\n" + "\n\n".join(stale)


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None,
    reason="mkdocs and mkdocs-material are not installed (pip install -e '.[docs]')",
)
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "index.html").is_file()


def _cli_paths() -> list[str]:
    paths: list[str] = []

    def walk(group: click.Group, prefix: tuple[str, ...]) -> None:
        for name, command in group.commands.items():
            if command.hidden:
                continue
            paths.append(" ".join((*prefix, name)))
            if isinstance(command, click.Group):
                walk(command, (*prefix, name))

    walk(cli, ("kit",))
    return paths


@pytest.mark.parametrize("path", _cli_paths())
def test_cli_reference_has_every_command(path: str) -> None:
    reference = (REPO_ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    assert re.search(rf"^#+ {re.escape(path)} \{{", reference, re.MULTILINE), f"{path} is missing; {REGENERATE}"


def _opening_fences(text: str) -> list[str]:
    """The info strings of the fenced blocks of a Markdown page."""
    languages: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if not inside:
                languages.append(line.lstrip()[3:].strip())
            inside = not inside
    return languages


def test_every_command_on_the_getting_started_pages_is_run() -> None:
    """Commands stand only in console blocks, which the generator runs, or which are checked otherwise."""
    pages = sorted((REPO_ROOT / "docs" / "getting-started").glob("*.md"))
    assert {page.name for page in pages} >= {"de.md", "en.md"}
    ci_script = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for page in pages:
        text = page.read_text(encoding="utf-8")
        shells = [lang for lang in _opening_fences(text) if lang in {"bash", "sh", "shell", "zsh", "text", ""}]
        assert not shells, f"{page.name}: commands belong in ```console blocks, which are run, not in {shells}"
        blocks = _docs.parse_blocks(text, where=page.name)
        assert blocks, page.name
        assert _docs.ci_commands_covered(text, ci_script, where=page.name) == [], (
            f"{page.name}: an installation command is not what .ci/run runs"
        )


def test_both_languages_show_the_same_commands() -> None:
    de, en = (
        [b.commands for b in _docs.parse_blocks((REPO_ROOT / "docs" / "getting-started" / f"{lang}.md").read_text())]
        for lang in ("de", "en")
    )
    assert de == en


# --- the session runner itself ---------------------------------------------------------------


def _render(body: str) -> str:
    return _docs.render_session(body, where="test.md", root=REPO_ROOT)


def test_session_output_is_pasted_and_paths_are_normalised() -> None:
    page = "Intro\n\n```console\n$ echo hello\nstale output\n$ pwd\n```\n"
    assert _render(page) == "Intro\n\n```console\n$ echo hello\nhello\n$ pwd\n~\n```\n"


def test_session_runs_setup_and_keeps_state_between_blocks() -> None:
    page = (
        "<!-- docs-setup\nmkdir -p sub && echo data > sub/file\n-->\n\n"
        "```console\n$ cd sub\n```\n\n<!-- docs: exit=1 -->\n```console\n$ cat file\n$ grep nothing file\n```\n"
    )
    rendered = _render(page)
    assert "$ cat file\ndata\n$ grep nothing file\n```" in rendered
    assert "mkdir -p sub" in rendered  # the setup comment stays in the page


@pytest.mark.parametrize(
    ("page", "message"),
    [
        pytest.param("```console\n$ false\n```\n", "exited with 1, the page expects 0", id="unexpected-failure"),
        pytest.param("<!-- docs: exit=3 -->\n```console\n$ true\n```\n", "the page expects 3", id="unexpected-success"),
        pytest.param(
            "<!-- docs: readme -->\n```console\n$ make everything\n```\n", "is not in ~/README.md", id="not-in-readme"
        ),
        pytest.param("<!-- docs-setup\nexit 4\n-->\n", "docs-setup failed with 4", id="failed-setup"),
    ],
)
def test_session_failures_name_the_command(page: str, message: str) -> None:
    with pytest.raises(_docs.SessionFailed, match=re.escape(message)):
        _render(page)


@pytest.mark.parametrize(
    ("page", "message"),
    [
        pytest.param("```console\n$ true\n", "not closed", id="unclosed"),
        pytest.param("```console\njust output\n```\n", "without a `$ ` command", id="no-command"),
        pytest.param("<!-- docs: sometimes -->\n```console\n$ true\n```\n", "unknown docs option", id="bad-option"),
    ],
)
def test_malformed_session_pages_are_refused(page: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        _docs.parse_session(page, where="test.md")


def test_ci_commands_must_be_in_the_ci_script() -> None:
    page = (
        "<!-- docs: ci -->\n```console\n"
        "$ python3 -m venv .venv && .venv/bin/pip install -q .\n$ source .venv/bin/activate\n```\n"
    )
    assert _docs.ci_commands_covered(page, "python3 -m venv .venv && .venv/bin/pip install -q . && pytest") == []
    assert _docs.ci_commands_covered(page, "pytest") == [
        "python3 -m venv .venv && .venv/bin/pip install -q .",
        "source .venv/bin/activate",
    ]


def test_docs_check_exits_1_and_names_stale_pages(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_docs, "stale_pages", lambda root=REPO_ROOT: ["docs/reference/cli.md"])
    assert _docs.main(["--check"]) == 1
    assert "stale: docs/reference/cli.md" in capsys.readouterr().err
    monkeypatch.setattr(_docs, "stale_pages", lambda root=REPO_ROOT: [])
    assert _docs.main(["--check"]) == 0


def test_coordinators_page_shows_the_shipped_renovate_json() -> None:
    """The central-Renovate page quotes base's renovate.json; it must be the file that ships."""
    page = (REPO_ROOT / "docs" / "coordinators" / "renovate.md").read_text(encoding="utf-8")
    shown = page.split("```json\n", 1)[1].split("```", 1)[0]
    shipped = (REPO_ROOT / "templates" / "base" / "project" / "renovate.json").read_text(encoding="utf-8")
    assert json.loads(shown) == json.loads(shipped)
