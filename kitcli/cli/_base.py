"""The root command group and the output helpers every command module shares."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from .._version import __version__

EXIT_CODES_HELP = """\b
Exit codes:
  0  success
  1  findings: a check failed or divergence was found
  2  bad input or usage (nothing was written)
  3  an update left conflicts to resolve
  4  internal error: a bug or a failing tool (git); rerun with --debug and report it"""

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def color_enabled() -> bool | None:
    """``False`` when NO_COLOR is set (https://no-color.org), else let click decide (tty)."""
    return False if os.environ.get("NO_COLOR") else None


def print_error(message: str) -> None:
    click.echo(click.style("kit: error: ", fg="red", bold=True) + message, err=True, color=color_enabled())


def print_warning(message: str) -> None:
    click.echo(click.style("kit: warning: ", fg="yellow") + message, err=True, color=color_enabled())


def echo(message: str = "", **style: Any) -> None:
    click.echo(click.style(message, **style) if style else message, color=color_enabled())


def emit_json(payload: Any) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False, indent=2, default=str))


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


@click.group(
    context_settings=CONTEXT,
    epilog=EXIT_CODES_HELP,
)
@click.version_option(__version__, "-V", "--version", prog_name="kit", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, expose_value=False, is_eager=True,
              help="On an internal error, show the traceback (also KIT_DEBUG=1).")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Start, run and keep current municipal online services from shared templates.

    `kit new` generates a project for a municipality; `kit templates` lists the templates;
    `kit municipality` finds municipalities. Shell completion: `kit completion bash`.
    """
    if color_enabled() is False:
        ctx.color = False


@cli.command("completion", epilog='Example: eval "$(kit completion bash)"')
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(*, shell: str) -> None:
    """Print the shell completion script for SHELL."""
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # the Choice above allows only shells click supports
    click.echo(completer(cli, {}, "kit", "_KIT_COMPLETE").source())
