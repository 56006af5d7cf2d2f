"""The ``kit`` command line: parse arguments, make one call into the library, render, exit.

This package is the only place that prints. Library exceptions become exit codes here, in
:func:`main`, and nowhere else. Command modules are imported at start-up, but they import the
library (and so Copier) only when a command runs, which keeps ``kit --help`` fast.
"""

from __future__ import annotations

import os
import sys
import traceback
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
    args = list(argv) if argv is not None else sys.argv[1:]
    options = args[: args.index("--")] if "--" in args else args
    debug = "--debug" in options or os.environ.get("KIT_DEBUG", "") not in ("", "0")
    try:
        result = cli.main(args=args, prog_name="kit", standalone_mode=False)
    except (Exception, KeyboardInterrupt) as error:
        return _exit_code(error, debug=debug)
    return result if isinstance(result, int) else 0


def _exit_code(error: BaseException, *, debug: bool) -> int:
    """Report *error* in one line and return its exit code: the one place where errors become codes."""
    from .._errors import EXIT_INTERNAL, EXIT_USAGE, InternalError, KitError

    if isinstance(error, click.exceptions.Exit):
        return error.exit_code
    if isinstance(error, click.UsageError):
        # One line, like every other bad input: click's own rendering adds the usage and a blank line.
        help_hint = f"; see `{error.ctx.command_path} --help`" if error.ctx is not None else ""
        print_error(_one_line(error.format_message()).rstrip(".") + help_hint)
        return EXIT_USAGE
    if isinstance(error, click.ClickException | click.Abort | KeyboardInterrupt):
        message = "interrupted; nothing was written" if not isinstance(error, click.ClickException) else (
            _one_line(error.format_message()))
        print_error(message)
        return EXIT_USAGE
    if isinstance(error, InternalError):
        _report_internal(str(error), debug=debug)
        return EXIT_INTERNAL
    if isinstance(error, KitError):
        print_error(str(error))
        return error.exit_code
    _report_internal(f"{type(error).__name__}: {_one_line(str(error)) or 'no message'}", debug=debug)
    return EXIT_INTERNAL


def _report_internal(message: str, *, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    hint = "" if debug else "; rerun with --debug to see the traceback"
    print_error(f"internal error: {_one_line(message)}{hint}; please report it to the kit's maintainers")


def _one_line(message: str) -> str:
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
