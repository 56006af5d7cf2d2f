"""The one adapter around cookiecutter, and the files cookiecutter and cruft leave in projects.

The kit reads and renders cookiecutter templates with the ``cookiecutter`` package itself, never
with a re-implementation, so that an imported template is compared against what cookiecutter
really does. cookiecutter is imported lazily: ``kit --help`` must not pay for it. Nothing here
writes a replay file or runs a hook.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import UserError

CONTEXT_FILE = "cookiecutter.json"
# Keys of cookiecutter.json that configure cookiecutter instead of asking a question.
SPECIAL_KEYS = frozenset({
    "_copy_without_render", "_extensions", "_jinja2_env_vars", "_new_lines", "__prompts__",
})
# Keys cookiecutter adds to the context while it runs; a template may read them.
RUNTIME_KEYS = frozenset({"_template", "_output_dir", "_repo_dir", "_checkout"})
HOOK_NAMES = ("pre_prompt", "pre_gen_project", "post_gen_project")


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


@contextlib.contextmanager
def _translated_errors(src: Path) -> Iterator[None]:
    """Turn cookiecutter's and Jinja's exceptions into one-line :class:`UserError`s."""
    from cookiecutter import exceptions  # type: ignore[import-untyped]
    from jinja2 import TemplateError

    # cookiecutter logs at DEBUG level only, but keep its logger quiet regardless.
    logging.getLogger("cookiecutter").setLevel(logging.WARNING)
    try:
        yield
    except exceptions.ContextDecodingException as error:
        detail = str(error).split("Decoding error details:")[-1].strip(" '")
        raise UserError(f"{src / CONTEXT_FILE} is no valid JSON ({detail}); fix the file") from error
    except exceptions.UndefinedVariableInTemplate as error:
        raise UserError(
            f"cookiecutter template {src}: {error.message}: {_one_line(error.error.message or '')}; "
            "define the variable in cookiecutter.json or fix the reference"
        ) from error
    except exceptions.NonTemplatedInputDirException as error:
        raise UserError(
            f"cookiecutter template {src} has no project directory (a directory named like "
            "'{{cookiecutter.project_slug}}'); pass a cookiecutter template directory"
        ) from error
    except exceptions.CookiecutterException as error:
        raise UserError(f"cookiecutter template {src}: {_one_line(str(error)) or type(error).__name__}") from error
    except TemplateError as error:
        where = getattr(error, "filename", None) or getattr(error, "name", None)
        line = getattr(error, "lineno", None)
        at = f" in {where}" + (f" line {line}" if line else "") if where else ""
        raise UserError(f"cookiecutter template {src}: Jinja error{at}: {_one_line(str(error))}") from error
    except ValueError as error:
        raise UserError(f"cookiecutter template {src}: {_one_line(str(error))}") from error


def check_template_dir(src: Path) -> None:
    if not src.is_dir():
        raise UserError(f"{str(src)!r} is no directory; pass a local cookiecutter template directory")
    if not (src / CONTEXT_FILE).is_file():
        raise UserError(f"{str(src)!r} has no {CONTEXT_FILE}; pass a cookiecutter template directory")


def load_context(src: Path, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``cookiecutter.json`` as cookiecutter reads it (order kept), with *extra* applied."""
    from cookiecutter.generate import generate_context  # type: ignore[import-untyped]

    check_template_dir(src)
    with _translated_errors(src):
        context = generate_context(
            context_file=str(src / CONTEXT_FILE), extra_context=dict(extra or {})
        )
    variables = context.get("cookiecutter")
    if not isinstance(variables, dict):
        raise UserError(f"{src / CONTEXT_FILE} must hold a JSON object of variables")
    if "templates" in variables and isinstance(variables["templates"], dict):
        raise UserError(
            f"{src / CONTEXT_FILE} selects nested templates ('templates'); import each "
            "template directory on its own"
        )
    return dict(context)


def resolve_answers(src: Path, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every variable's value for *extra* answers and defaults otherwise, as cookiecutter computes it."""
    from cookiecutter.prompt import prompt_for_config  # type: ignore[import-untyped]

    context = load_context(src, extra)
    with _translated_errors(src):
        return dict(prompt_for_config(context, no_input=True))


def render(src: Path, answers: Mapping[str, Any], output_dir: Path) -> Path:
    """Render *src* with cookiecutter for the given resolved answers; hooks are not run.

    Returns the generated project directory (inside *output_dir*).
    """
    from cookiecutter.generate import generate_files

    context = {"cookiecutter": {**dict(answers), "_template": str(src), "_output_dir": str(output_dir),
                                "_repo_dir": str(src), "_checkout": None}}
    with _translated_errors(src):
        project = generate_files(
            repo_dir=str(src), context=context, output_dir=str(output_dir), accept_hooks=False,
        )
    return Path(project)


def project_template_dir(src: Path, context: Mapping[str, Any]) -> Path:
    """The directory of *src* that cookiecutter renders (``{{cookiecutter.project_slug}}``)."""
    from cookiecutter.find import find_template  # type: ignore[import-untyped]
    from cookiecutter.utils import create_env_with_context  # type: ignore[import-untyped]

    with _translated_errors(src):
        return Path(find_template(str(src), create_env_with_context(dict(context))))


def is_copy_only(relpath: str, context: Mapping[str, Any]) -> bool:
    """Whether cookiecutter copies *relpath* (relative to the project directory) unrendered."""
    from cookiecutter.generate import is_copy_only_path

    return bool(is_copy_only_path(relpath, dict(context)))


def is_binary(path: Path) -> bool:
    """Whether cookiecutter treats *path* as binary (copies it without rendering)."""
    from binaryornot.check import is_binary as _is_binary

    return bool(_is_binary(str(path)))


def find_hooks(src: Path) -> list[Path]:
    """The hook scripts cookiecutter would run for *src* (``hooks/<name>.*``), sorted."""
    hooks_dir = src / "hooks"
    if not hooks_dir.is_dir():
        return []
    return sorted(
        path for path in hooks_dir.iterdir()
        if path.is_file() and path.stem in HOOK_NAMES and not path.name.endswith("~")
    )


# --- what cookiecutter and cruft leave in a generated project --------------------------------


@dataclass(frozen=True)
class Recorded:
    """The answers a cookiecutter-generated project recorded, and where they came from."""

    path: Path
    """The file they were read from (``.cruft.json`` or a replay file)."""
    template: str
    """The cookiecutter template's location as recorded (a URL or path); may be empty."""
    commit: str
    """The template commit cruft recorded; empty for replay files."""
    answers: Mapping[str, Any]
    """The ``cookiecutter`` context: every variable, including private ones."""

    @property
    def public_answers(self) -> dict[str, Any]:
        return {k: v for k, v in self.answers.items() if not k.startswith("_")}


def _load_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{what} {str(path)!r}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{what} {str(path)!r} is unreadable ({_one_line(str(error))})") from error
    except json.JSONDecodeError as error:
        raise UserError(f"{what} {str(path)!r} is no valid JSON ({error}); fix or remove it") from error


def _context_of(data: Any, *, path: Path, what: str, key_path: str) -> dict[str, Any]:
    context = data.get("cookiecutter") if isinstance(data, dict) else None
    if not isinstance(context, dict):
        raise UserError(f"{what} {str(path)!r} has no {key_path} object with the recorded answers")
    return dict(context)


def read_cruft(path: Path) -> Recorded:
    """Read cruft's ``.cruft.json``: ``{"template", "commit", "context": {"cookiecutter": {...}}}``."""
    data = _load_json(path, "cruft file")
    if not isinstance(data, dict):
        raise UserError(f"cruft file {str(path)!r} must hold a JSON object")
    for key in ("template", "commit"):
        if key in data and not isinstance(data[key], str):
            raise UserError(f"cruft file {str(path)!r}: {key!r} must be a string")
    context = _context_of(data.get("context"), path=path, what="cruft file", key_path="context.cookiecutter")
    return Recorded(path=path, template=str(data.get("template", "")), commit=str(data.get("commit", "")),
                    answers=context)


def read_replay(path: Path) -> Recorded:
    """Read a cookiecutter replay file (``~/.cookiecutter_replay/<template>.json``)."""
    data = _load_json(path, "replay file")
    context = _context_of(data, path=path, what="replay file", key_path="cookiecutter")
    return Recorded(path=path, template=str(context.get("_template", "")), commit="", answers=context)
