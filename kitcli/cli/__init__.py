"""The ``kit`` command line: parse arguments, make one call into the library, render, exit.

This package is the only place that prints. Library exceptions become exit codes here, in
:func:`main`, and nowhere else. Command modules are imported at start-up, but they import the
library (and so Copier) only when a command runs, which keeps ``kit --help`` fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

# Each module registers its commands on `cli` when imported (one line per module).
from . import (
    _adopt,  # noqa: F401
    _check,  # noqa: F401
    _fleet,  # noqa: F401
    _municipality,  # noqa: F401
    _new,  # noqa: F401
    _template,  # noqa: F401
    _update,  # noqa: F401
)
from ._base import cli, print_error

__all__ = ["cli", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``kit`` with *argv* (default: the process arguments) and return the exit code."""
    from .._errors import EXIT_USAGE, KitError

    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="kit", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.UsageError as error:
        # One line, like every other bad input: click's own rendering adds the usage and a blank line.
        help_hint = f"; see `{error.ctx.command_path} --help`" if error.ctx is not None else ""
        print_error(_one_line(error.format_message()).rstrip(".") + help_hint)
        return EXIT_USAGE
    except click.ClickException as error:
        print_error(_one_line(error.format_message()))
        return EXIT_USAGE
    except (click.Abort, KeyboardInterrupt):
        print_error("interrupted; nothing was written")
        return EXIT_USAGE
    except KitError as error:
        print_error(str(error))
        return error.exit_code
    return result if isinstance(result, int) else 0


def _one_line(message: str) -> str:
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
