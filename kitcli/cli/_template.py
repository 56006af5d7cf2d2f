"""``kit template ...``: commands for template maintainers."""

from __future__ import annotations

from ._base import EXIT_CODES_HELP, cli


@cli.group("template", epilog=EXIT_CODES_HELP)
def template_group() -> None:
    """Maintain templates: test every option and update path, import cookiecutter templates."""
