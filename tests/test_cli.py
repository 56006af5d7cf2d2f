"""The CLI's contracts: help everywhere, version, completion, NO_COLOR, and a fast --help."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kitcli.cli import cli, main


def all_command_paths() -> list[list[str]]:
    import click

    paths: list[list[str]] = [[]]

    def walk(group: click.Group, prefix: list[str]) -> None:
        for name, command in group.commands.items():
            paths.append([*prefix, name])
            if isinstance(command, click.Group):
                walk(command, [*prefix, name])

    walk(cli, [])
    return paths


@pytest.mark.parametrize("path", all_command_paths(), ids=lambda p: " ".join(p) or "kit")
def test_every_command_has_help(path: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage: kit" in out
    assert "Exit codes" in out or path == ["completion"]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from kitcli import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"kit {__version__}"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", shell]) == 0
    assert "_KIT_COMPLETE" in capsys.readouterr().out


def test_unknown_command_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "frobnicate" in capsys.readouterr().err


def test_no_color_means_no_escape_codes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kitcli", "new", "base", "/nonexistent/x", "--defaults", "--source", "/nonexistent"],
        capture_output=True,
        text=True,
        check=False,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "\x1b[" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_help_does_not_import_copier() -> None:
    code = "import sys; from kitcli.cli import main; main(['--help']); print('copier' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.stdout.strip().endswith("False")
