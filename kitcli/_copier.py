"""The one adapter around Copier.

Every call into Copier goes through this module and uses only its public API (``run_copy``,
``run_update``, ``copier.errors``), so a change in Copier's internals has one
place to be fixed. Copier is imported lazily: ``kit --help`` must not pay for it.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._errors import UserError


@dataclass(frozen=True)
class Render:
    """One Copier operation: which template version, where, with which answers."""

    src: str
    dst: Path
    vcs_ref: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    answers_file: str | None = None
    defaults: bool = True
    overwrite: bool = True
    skip_answered: bool = True
    pretend: bool = False
    conflict: Literal["inline", "rej"] = "inline"
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What Copier reported besides its effect on disk."""

    warnings: tuple[str, ...] = ()


@contextlib.contextmanager
def _translated_errors() -> Iterator[list[str]]:
    """Turn Copier's exceptions into :class:`UserError` and collect its warnings."""
    import jinja2
    from copier import errors

    collected: list[str] = []
    captured_err = io.StringIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with contextlib.redirect_stderr(captured_err):
                yield collected
        except errors.InteractiveSessionError as error:
            raise UserError(f"{error}; run with --defaults or pass the answers with --data") from error
        except errors.UnsafeTemplateError as error:
            features = str(error).strip().splitlines()[0].rstrip(".") if str(error).strip() else "unsafe features"
            raise UserError(
                f"{features}: the template needs --trust, which the kit never uses; "
                "remove its tasks, migrations and Jinja extensions, or use plain Copier"
            ) from error
        except errors.UserMessageError as error:
            raise UserError(_one_line(str(error))) from error
        except (errors.CopierError, ValueError) as error:
            raise UserError(_one_line(str(error))) from error
        except jinja2.TemplateError as error:
            # A template file Copier cannot compile or render (unknown filter, undefined name).
            name = getattr(error, "name", None) or getattr(error, "filename", None)
            line = getattr(error, "lineno", None)
            where = f" in {name}" + (f" line {line}" if line else "") if name else ""
            raise UserError(f"the template has a Jinja error{where}: {_one_line(str(error))}") from error
        except Exception as error:
            # Copier runs git through plumbum; its failures are not part of Copier's public API.
            if type(error).__module__.startswith("plumbum"):
                stderr = getattr(error, "stderr", "") or str(error)
                raise UserError(f"git failed while rendering the template: {_one_line(stderr)}") from error
            raise
        finally:
            collected.extend(
                _one_line(str(item.message)) for item in caught if issubclass(item.category, errors.CopierWarning)
            )


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


def _common(render: Render) -> dict[str, Any]:
    """Keyword arguments every kit call into Copier shares: no prompts beyond the defaults the
    caller chose, no output, and never anything that needs ``--trust``."""
    return {
        "data": dict(render.data),
        "vcs_ref": render.vcs_ref,
        "answers_file": render.answers_file,
        "defaults": render.defaults,
        "pretend": render.pretend,
        "quiet": True,
        "unsafe": False,
        "skip_tasks": True,
    }


def copy(render: Render) -> Outcome:
    """Render a template into ``render.dst`` (``copier copy``)."""
    from copier import run_copy

    with _translated_errors() as collected:
        run_copy(render.src, render.dst, overwrite=render.overwrite, exclude=list(render.exclude), **_common(render))
    return Outcome(warnings=tuple(collected))


def update(render: Render) -> Outcome:
    """Update the project at ``render.dst`` to ``render.vcs_ref`` (``copier update``)."""
    from copier import run_update

    with _translated_errors() as collected:
        run_update(
            render.dst,
            overwrite=True,
            skip_answered=render.skip_answered,
            conflict=render.conflict,
            **_common(render),
        )
    return Outcome(warnings=tuple(collected))
