"""``kit template import-cookiecutter``: turn a cookiecutter template into a Copier template.

The source is read and rendered with the ``cookiecutter`` package. The result is a Copier
template skeleton::

    DEST/
      copier.yml        questions converted from cookiecutter.json, settings, notes
      project/          the former ``{{cookiecutter.project_slug}}/`` directory
      includes/         cookiecutter's ``templates/`` (files to include), if it has one

How each cookiecutter feature is converted (docs/maintainers/cookiecutter.md explains why):

- string, number and ``null`` variables become ``str`` (``yaml`` for ``null``) questions; a
  default that references other variables keeps its Jinja with ``cookiecutter.x`` turned into
  ``x``; lists become choices (first entry is the default); booleans ``bool``; objects ``json``.
- private ``_x`` variables (cookiecutter keeps them as written) become ``private_x`` questions
  with ``when: false`` and their literal default (Jinja in it is protected with ``{% raw %}``);
  ``__x`` variables (rendered once) become ``derived_x`` questions with ``when: false`` and
  their templated default. ``when: false`` answers are computed, never asked nor recorded.
- Copier renders only files with the ``.jinja`` suffix: every file cookiecutter renders gets
  it; files matched by ``_copy_without_render`` and binary files do not, so both engines copy
  them byte for byte.
- ``{% include %}`` and its kin name files by their place in the project directory or in
  cookiecutter's ``templates/``; they are rewritten to the file's place in the Copier template
  (``project/...``, or ``includes/`` where ``templates/`` is copied).
- hooks are not converted (a template the kit uses runs no code); they are listed with what
  they do.

After writing, the import renders the source with cookiecutter and the result with Copier for
the default answers and reports every file that differs.
"""

from __future__ import annotations

import ast
import filecmp
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import _cookiecutter, _copier
from .._errors import UserError

SUBDIRECTORY = "project"
SUFFIX = ".jinja"
ANSWERS_TEMPLATE = "{{ _copier_conf.answers_file }}.jinja"
ANSWERS_FILE = ".copier-answers.yml"
ANSWERS_TEMPLATE_TEXT = (
    "# Changes here will be overwritten by Copier; NEVER EDIT MANUALLY\n"
    "{{ _copier_answers|to_nice_yaml -}}\n"
)
JINJA_SYNTAX = re.compile(r"\{\{|\{%|\{#")
# Jinja tags and comments, and raw blocks (left untouched), in the order they occur.
_TAG_RE = re.compile(
    r"(?P<raw>\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\})"
    r"|(?P<comment>\{#.*?#\})"
    r"|(?P<tag>\{\{.*?\}\}|\{%.*?%\})",
    re.DOTALL,
)
_ATTR_RE = re.compile(r"(?<![\w.])cookiecutter\s*\.\s*(?P<name>[A-Za-z_]\w*)")
_ITEM_RE = re.compile(r"(?<![\w.])cookiecutter\s*\[\s*(?P<q>['\"])(?P<name>[^'\"]+)(?P=q)\s*\]")
_BARE_RE = re.compile(r"(?<![\w.])cookiecutter\b")
# A template cookiecutter loads by name: from the project directory or the template's templates/.
_LOAD_RE = re.compile(r"^(?P<head>\{%-?\s*(?:include|import|extends|from)\s+)(?P<q>['\"])(?P<name>[^'\"]+)(?P=q)")
_DYNAMIC_LOAD_RE = re.compile(r"^\{%-?\s*(?:include|import|extends|from)\s+[^'\"\s]")
# cookiecutter's directory of files to include, and where the Copier template keeps them (its
# templates/ would be mistaken for the kit's directory of templates).
SOURCE_INCLUDES_DIR = "templates"
INCLUDES_DIR = "includes"
# Filters and tags of cookiecutter's default Jinja extensions, which Copier lacks.
_EXTENSION_RE = re.compile(
    r"\|\s*(?P<filter>jsonify|slugify)\b|(?P<call>random_ascii_string|uuid4)\s*\(|\{%-?\s*(?P<tag>now)\b"
)
_HOOK_ACTIONS = (
    (re.compile(r"\bsys\.exit\(|\bexit\s+[1-9]|raise SystemExit"), "can abort generation",
     "a Copier `validator` on the question"),
    (re.compile(r"\bos\.remove\(|\bos\.unlink\(|\.unlink\(|shutil\.rmtree\(|\brm\s+-"), "removes files",
     "conditional file names ({% if %}name{% endif %})"),
    (re.compile(r"\bsubprocess\.|\bos\.system\(|^\s*(git|npm|pip|poetry|uv|make)\s", re.MULTILINE),
     "runs commands", "Copier `_tasks` (they need --trust, which the kit never uses)"),
    (re.compile(r"\.write_text\(|open\([^)]*['\"][wa]['\"]|>\s*\S"), "writes files",
     "a templated file"),
)


@dataclass(frozen=True)
class ImportOptions:
    src: Path
    """The cookiecutter template directory (with ``cookiecutter.json``)."""
    dest: Path
    """Where the Copier template is written; must not exist or be empty."""
    verify: bool = True
    """Render both templates with the default answers and compare them."""


@dataclass(frozen=True)
class ConvertedQuestion:
    name: str
    """The question's name in ``copier.yml``."""
    source: str
    """The variable's name in ``cookiecutter.json``."""
    kind: str
    """``str``, ``choice``, ``bool``, ``json``, ``yaml``, ``private`` or ``derived``."""


@dataclass(frozen=True)
class Hook:
    path: str
    summary: str
    actions: tuple[str, ...]
    instead: tuple[str, ...]
    """What a Copier template would use instead, one entry per action."""


@dataclass(frozen=True)
class ImportResult:
    src: Path
    dest: Path
    questions: tuple[ConvertedQuestion, ...]
    rendered: tuple[str, ...]
    """Files Copier renders (paths in ``project/``, with the ``.jinja`` suffix)."""
    copied: tuple[str, ...]
    """Files copied without rendering (``_copy_without_render`` or binary)."""
    hooks: tuple[Hook, ...]
    warnings: tuple[str, ...]
    verified: bool
    mismatches: tuple[str, ...] = ()
    """Files whose Copier rendering differs from cookiecutter's for the default answers."""

    def to_json(self) -> dict[str, Any]:
        return {
            "src": str(self.src),
            "dest": str(self.dest),
            "questions": [vars(q) for q in self.questions],
            "rendered": list(self.rendered),
            "copied": list(self.copied),
            "hooks": [{**vars(h), "actions": list(h.actions), "instead": list(h.instead)} for h in self.hooks],
            "warnings": list(self.warnings),
            "verified": self.verified,
            "mismatches": list(self.mismatches),
        }


# --- names and references --------------------------------------------------------------------


def question_names(variables: Iterable[str]) -> dict[str, str]:
    """Map each cookiecutter variable to its Copier question name (Copier reserves ``_x``)."""
    names: dict[str, str] = {}
    taken = {v for v in variables if not v.startswith("_")}
    for variable in variables:
        if variable in _cookiecutter.SPECIAL_KEYS:
            continue
        if not variable.startswith("_"):
            names[variable] = variable
            continue
        stem = variable.lstrip("_")
        base = f"derived_{stem}" if variable.startswith("__") else f"private_{stem}"
        candidate, number = base, 2
        while candidate in taken:
            candidate, number = f"{base}_{number}", number + 1
        taken.add(candidate)
        names[variable] = candidate
    return names


@dataclass
class _Rewriter:
    """Rewrites ``cookiecutter.x`` to the question name inside Jinja tags, noting problems."""

    names: Mapping[str, str]
    loadable: Mapping[str, str] = field(default_factory=dict)
    """Name a cookiecutter template loads (``{% include 'x' %}``) → its path in the Copier template."""
    undefined: dict[str, str] = field(default_factory=dict)
    """Unknown variable → where it was first referenced."""
    notes: list[str] = field(default_factory=list)

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _name(self, match: re.Match[str], where: str) -> str:
        variable = match.group("name")
        if variable in self.names:
            return self.names[variable]
        if variable in _cookiecutter.RUNTIME_KEYS or variable in _cookiecutter.SPECIAL_KEYS:
            self._note(f"{where}: `cookiecutter.{variable}` is set by cookiecutter itself and has no "
                       "Copier equivalent; left unconverted, edit it by hand")
        else:
            self.undefined.setdefault(variable, where)
        return match.group(0)

    def _load(self, match: re.Match[str], where: str) -> str:
        name = match.group("name")
        target = self.loadable.get(name)
        if target is None:
            self._note(f"{where}: loads {name!r}, which neither the project directory nor templates/ "
                       "holds; fix the path by hand")
            return match.group(0)
        return f"{match.group('head')}{match.group('q')}{target}{match.group('q')}"

    def expression(self, text: str, where: str) -> str:
        text = _LOAD_RE.sub(lambda m: self._load(m, where), text)
        if _DYNAMIC_LOAD_RE.match(text):
            self._note(f"{where}: loads a template by a computed name; Copier looks names up from the "
                       "template's root, adjust it by hand")
        text = _ITEM_RE.sub(lambda m: self._name(m, where), text)
        text = _ATTR_RE.sub(lambda m: self._name(m, where), text)
        if _BARE_RE.search(text):
            self._note(f"{where}: uses the whole `cookiecutter` context; Copier has no such "
                       "variable, edit it by hand")
        if found := _EXTENSION_RE.search(text):
            used = found.group("filter") or found.group("call") or found.group("tag")
            self._note(f"{where}: uses `{used}` from cookiecutter's Jinja extensions, which Copier "
                       "lacks (loading them needs --trust); replace it by hand")
        return text

    def template(self, text: str, where: str) -> str:
        """Rewrite every Jinja tag of *text*; raw blocks, comments and plain text stay as they are."""

        def replace(match: re.Match[str]) -> str:
            if match.group("tag") is None:
                return match.group(0)
            return self.expression(match.group("tag"), where)

        return _TAG_RE.sub(replace, text)


def _protect(value: Any) -> Any:
    """A literal value Copier will not render (private ``_x`` variables are never rendered)."""
    if isinstance(value, str) and JINJA_SYNTAX.search(value):
        if "endraw" in value:
            raise UserError(
                f"a private variable's value contains '{{% endraw %}}' and cannot be kept literal: {value!r}"
            )
        return "{% raw %}" + value + "{% endraw %}"
    if isinstance(value, list):
        return [_protect(item) for item in value]
    return value


def _has_jinja(value: Any) -> bool:
    if isinstance(value, str):
        return bool(JINJA_SYNTAX.search(value))
    if isinstance(value, dict):
        return any(_has_jinja(k) or _has_jinja(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_jinja(v) for v in value)
    return False


# --- questions -------------------------------------------------------------------------------


def _help(prompts: Mapping[str, Any], variable: str) -> tuple[str | None, Mapping[str, str]]:
    prompt = prompts.get(variable)
    if isinstance(prompt, str):
        return prompt, {}
    if isinstance(prompt, dict):
        labels = {str(k): str(v) for k, v in prompt.items() if k != "__prompt__"}
        text = prompt.get("__prompt__")
        return (str(text) if text is not None else None), labels
    return None, {}


def _scalar_text(value: Any) -> str:
    # cookiecutter renders every non-string scalar through str() before asking for it.
    return value if isinstance(value, str) else str(value)


def convert_questions(
    variables: Mapping[str, Any], rewriter: _Rewriter
) -> tuple[dict[str, dict[str, Any]], list[ConvertedQuestion], list[str]]:
    """``cookiecutter.json`` variables → ``copier.yml`` questions, in the order cookiecutter asks."""
    prompts = variables.get("__prompts__")
    if not isinstance(prompts, dict):
        prompts = {}
    questions: dict[str, dict[str, Any]] = {}
    converted: list[ConvertedQuestion] = []
    warnings: list[str] = []
    # cookiecutter handles objects in a second pass, after every other variable.
    ordered = [k for k, v in variables.items() if not isinstance(v, dict)]
    ordered += [k for k, v in variables.items() if isinstance(v, dict)]
    for variable in ordered:
        if variable not in rewriter.names:
            continue
        help_text, labels = _help(prompts, variable)
        kind, spec = _question(variable, variables[variable], labels, rewriter, warnings)
        if variable.startswith("__"):
            kind = "derived"
        if kind in ("private", "derived"):
            spec["when"] = False
        elif help_text:
            spec = {"type": spec.pop("type"), "help": help_text, **spec}
        name = rewriter.names[variable]
        questions[name] = spec
        converted.append(ConvertedQuestion(name=name, source=variable, kind=kind))
    return questions, converted, warnings


def _question(
    variable: str, raw: Any, labels: Mapping[str, str], rewriter: _Rewriter, warnings: list[str]
) -> tuple[str, dict[str, Any]]:
    """The kind and ``copier.yml`` specification of one variable."""
    where = f"cookiecutter.json {variable!r}"
    if variable.startswith("_") and not variable.startswith("__"):
        return "private", {"type": _literal_type(raw), "default": _protect(raw)}
    if isinstance(raw, bool):
        return "bool", {"type": "bool", "default": raw}
    if isinstance(raw, list):
        if not raw:
            raise UserError(f"{where}: the list of choices is empty; give at least one choice")
        if any(isinstance(option, dict | list) for option in raw):
            raise UserError(f"{where}: choices must be single values, not lists or objects")
        options = [rewriter.template(_scalar_text(option), where) for option in raw]
        choices: list[str] | dict[str, str] = {labels.get(o, o): o for o in options} if labels else options
        return "choice", {"type": "str", "choices": choices, "default": options[0]}
    if isinstance(raw, dict):
        if _has_jinja(raw):
            warnings.append(f"{where}: Jinja inside an object default is rendered by cookiecutter "
                            "but not by Copier; the default is kept as written")
        return "json", {"type": "json", "default": raw}
    if raw is None:
        return "yaml", {"type": "yaml", "default": None}
    return "str", {"type": "str", "default": rewriter.template(_scalar_text(raw), where)}


def _literal_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if value is None:
        return "yaml"
    return "json"


# --- files -----------------------------------------------------------------------------------


def _escape_name(name: str) -> str:
    """A path component Copier renders to exactly *name*."""
    if not JINJA_SYNTAX.search(name):
        return name
    return "{% raw %}" + name + "{% endraw %}"


@dataclass
class _Files:
    rendered: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)


def convert_files(template_dir: Path, target: Path, context: Mapping[str, Any], rewriter: _Rewriter) -> _Files:
    """Copy *template_dir* into *target*, walking it exactly as cookiecutter does."""
    files = _Files()

    def copy_raw(src: Path, dst: Path) -> None:
        shutil.copyfile(src, dst)
        shutil.copymode(src, dst)

    for root, dirs, names in os.walk(template_dir):
        rel_root = Path(root).relative_to(template_dir)
        out_root = target / _rewrite_path(rel_root, rewriter)
        out_root.mkdir(parents=True, exist_ok=True)
        render_dirs = []
        for directory in sorted(dirs):
            rel = os.path.normpath(rel_root / directory)
            if _cookiecutter.is_copy_only(rel, context):
                # cookiecutter renders this directory's path, then copies its content as it is.
                out_dir = out_root / rewriter.template(directory, f"path {rel}")
                for inner_root, _, inner_names in os.walk(template_dir / rel):
                    inner_rel = Path(inner_root).relative_to(template_dir / rel)
                    escaped = Path(*(_escape_name(part) for part in inner_rel.parts))
                    (out_dir / escaped).mkdir(parents=True, exist_ok=True)
                    for inner in sorted(inner_names):
                        copy_raw(Path(inner_root) / inner, out_dir / escaped / _escape_name(inner))
                        files.copied.append(str((out_dir / escaped / _escape_name(inner)).relative_to(target)))
            else:
                render_dirs.append(directory)
        dirs[:] = render_dirs
        for name in sorted(names):
            rel = os.path.normpath(rel_root / name)
            src = template_dir / rel
            out_name = rewriter.template(name, f"path {rel}")
            if _cookiecutter.is_copy_only(rel, context) or _cookiecutter.is_binary(src):
                if out_name.endswith(SUFFIX):
                    rewriter.notes.append(
                        f"{rel}: is copied without rendering but ends with {SUFFIX}, which Copier "
                        "renders; rename it or check the result"
                    )
                copy_raw(src, out_root / out_name)
                files.copied.append(str((out_root / out_name).relative_to(target)))
                continue
            text = src.read_text(encoding="utf-8")
            if "\r\n" in text:
                rewriter.notes.append(
                    f"{rel}: has Windows line endings, which cookiecutter keeps and Copier writes as "
                    "'\\n'; convert the file or check the result"
                )
            out = out_root / (out_name + SUFFIX)
            out.write_text(rewriter.template(text, str(rel)), encoding="utf-8", newline="")
            shutil.copymode(src, out)
            files.rendered.append(str(out.relative_to(target)))
    return files


def _loadable(src: Path, template_dir: Path, context: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, str]:
    """Where each file cookiecutter can ``{% include %}`` by name lives in the Copier template.

    cookiecutter's loader searches the project directory, then ``templates/`` beside it; Copier's
    searches the template's root. Files of the project directory are found under ``project/``
    (rendered ones with their ``.jinja`` suffix); ``templates/`` is copied to ``includes/``.
    """
    plain = _Rewriter(names=names)
    found: dict[str, str] = {}
    includes = src / SOURCE_INCLUDES_DIR
    if includes.is_dir():
        for path in sorted(includes.rglob("*")):
            if path.is_file():
                name = path.relative_to(includes).as_posix()
                found[name] = f"{INCLUDES_DIR}/{name}"
    for path in sorted(template_dir.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(template_dir)
        converted = _rewrite_path(rel, plain).as_posix()
        copied = _cookiecutter.is_copy_only(rel.as_posix(), context) or _cookiecutter.is_binary(path)
        found[rel.as_posix()] = f"{SUBDIRECTORY}/{converted}" + ("" if copied else SUFFIX)
    return found


def _copy_includes(source: Path, target: Path, rewriter: _Rewriter) -> None:
    """cookiecutter's ``templates/`` (files for ``{% include %}``) as ``includes/``, references rewritten."""
    if not source.is_dir():
        return
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            shutil.copyfile(path, out)
            continue
        out.write_text(rewriter.template(text, f"{INCLUDES_DIR}/{path.relative_to(source).as_posix()}"),
                       encoding="utf-8", newline="")


def _rewrite_path(rel: Path, rewriter: _Rewriter) -> Path:
    if rel == Path():
        return rel
    return Path(*(rewriter.template(part, f"path {rel}") for part in rel.parts))


# --- hooks -----------------------------------------------------------------------------------


def describe_hook(path: Path) -> Hook:
    """What a hook does, from its docstring or leading comments and the calls it makes."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return Hook(path=f"hooks/{path.name}", summary="unreadable", actions=(), instead=())
    summary = ""
    if path.suffix == ".py":
        try:
            docstring = ast.get_docstring(ast.parse(text))
        except SyntaxError:  # hooks are Jinja templates: some only parse once rendered
            docstring = None
        summary = docstring.strip().splitlines()[0] if docstring else ""
    if not summary:
        comments = []
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("#!") or not stripped:
                continue
            if stripped.startswith("#"):
                comments.append(stripped.lstrip("#").strip())
                continue
            break
        summary = " ".join(comments)
    if not summary:
        summary = f"{len(text.splitlines())} lines, no description"
    actions, instead = [], []
    for pattern, action, replacement in _HOOK_ACTIONS:
        if pattern.search(text):
            actions.append(action)
            instead.append(replacement)
    return Hook(path=f"hooks/{path.name}", summary=summary, actions=tuple(actions), instead=tuple(instead))


# --- copier.yml --------------------------------------------------------------------------------


def _dump(data: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)


def render_copier_yml(
    *, src: Path, variables: Mapping[str, Any], questions: Mapping[str, Mapping[str, Any]],
    hooks: Iterable[Hook], warnings: Iterable[str],
) -> str:
    envops: dict[str, Any] = {"keep_trailing_newline": True, "undefined": "jinja2.StrictUndefined"}
    env_vars = variables.get("_jinja2_env_vars")
    if isinstance(env_vars, dict):
        envops.update(env_vars)
    new_lines = variables.get("_new_lines")
    if isinstance(new_lines, str) and new_lines:
        envops["newline_sequence"] = new_lines
    settings = {
        "_min_copier_version": "9.17.2",
        "_subdirectory": SUBDIRECTORY,
        "_templates_suffix": SUFFIX,
        "_envops": envops,
    }
    header = [
        f"# Imported from the cookiecutter template {src.name} by `kit template import-cookiecutter`.",
        "# Files ending in .jinja are rendered, all others are copied as they are",
        "# (cookiecutter's _copy_without_render and binary files).",
        "# Questions with `when: false` are cookiecutter's private variables: computed, never asked.",
    ]
    notes = [f"#   {h.path}: {h.summary}" + (f" ({', '.join(h.actions)})" if h.actions else "") for h in hooks]
    if notes:
        header += ["#", "# Not converted (hooks run code; a kit template runs none):", *notes]
    warned = [f"#   {w}" for w in warnings]
    if warned:
        header += ["#", "# Check by hand:", *warned]
    body = _dump(settings)
    for name, spec in questions.items():
        body += "\n" + _dump({name: dict(spec)})
    return "\n".join(header) + "\n" + body


# --- the command -----------------------------------------------------------------------------


def _check_dest(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise UserError(f"destination {str(dest)!r} is a file; choose a new directory")
    if dest.is_dir() and any(dest.iterdir()):
        raise UserError(f"destination {str(dest)!r} is not empty; choose a new or empty directory")


def import_cookiecutter(options: ImportOptions) -> ImportResult:
    """Convert the cookiecutter template at ``options.src`` into a Copier template at ``options.dest``.

    Raises:
        UserError: the source is no cookiecutter template, its JSON is invalid, it references
            undefined variables, or the destination is not empty. Nothing is written then.
    """
    src = options.src.expanduser().absolute()
    dest = options.dest.expanduser().absolute()
    _cookiecutter.check_template_dir(src)
    _check_dest(dest)
    context = _cookiecutter.load_context(src)
    variables: dict[str, Any] = context["cookiecutter"]
    # cookiecutter computes every default first: invalid defaults fail here, as they would there.
    defaults = _cookiecutter.resolve_answers(src)
    template_dir = _cookiecutter.project_template_dir(src, context)
    names = question_names(variables)
    rewriter = _Rewriter(names=names, loadable=_loadable(src, template_dir, context, names))
    questions, converted, warnings = convert_questions(variables, rewriter)
    hooks = tuple(describe_hook(path) for path in _cookiecutter.find_hooks(src))
    if variables.get("_extensions"):
        warnings.append(
            f"_extensions {variables['_extensions']} are not loaded: Copier needs --trust for Jinja "
            "extensions, which the kit never uses; replace what they provide by hand"
        )

    anchor = dest.parent
    while not anchor.exists():
        anchor = anchor.parent
    scratch = Path(tempfile.mkdtemp(prefix=".kit-import-", dir=anchor))
    try:
        work = scratch / "template"
        project = work / SUBDIRECTORY
        project.mkdir(parents=True)
        files = convert_files(template_dir, project, context, rewriter)
        _copy_includes(src / SOURCE_INCLUDES_DIR, work / INCLUDES_DIR, rewriter)
        if rewriter.undefined:
            variable, where = next(iter(rewriter.undefined.items()))
            raise UserError(
                f"cookiecutter template {src}: {where} references undefined variable "
                f"'cookiecutter.{variable}'; define it in cookiecutter.json or fix the reference"
            )
        warnings = [*warnings, *dict.fromkeys(rewriter.notes)]
        (project / ANSWERS_TEMPLATE).write_text(ANSWERS_TEMPLATE_TEXT, encoding="utf-8")
        (work / "copier.yml").write_text(
            render_copier_yml(src=src, variables=variables, questions=questions, hooks=hooks, warnings=warnings),
            encoding="utf-8",
        )
        # Check what cookiecutter renders before anything lands at DEST: a template whose files
        # reference undefined variables fails here.
        expected = _cookiecutter.render(src, defaults, scratch / "cookiecutter")
        mismatches: tuple[str, ...] = ()
        if options.verify:
            actual = scratch / "copier"
            try:
                _copier.copy(_copier.Render(src=str(work), dst=actual, defaults=True))
            except UserError as error:
                # The skeleton is still worth having: the maintainer fixes what the warnings name.
                mismatches = (f"Copier cannot render the imported template: {error}",)
            else:
                mismatches = tuple(compare_trees(expected, actual, ignore=(ANSWERS_FILE,)))
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_dir():
            dest.rmdir()
        work.rename(dest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    return ImportResult(
        src=src, dest=dest, questions=tuple(converted),
        rendered=tuple(f"{SUBDIRECTORY}/{p}" for p in files.rendered),
        copied=tuple(f"{SUBDIRECTORY}/{p}" for p in files.copied),
        hooks=hooks, warnings=tuple(dict.fromkeys(warnings)), verified=options.verify,
        mismatches=mismatches,
    )


def compare_trees(expected: Path, actual: Path, *, ignore: Iterable[str] = ()) -> list[str]:
    """Relative paths that differ between two directory trees: content, presence or executable bit."""
    ignored = set(ignore)

    def listing(root: Path) -> dict[str, Path]:
        return {
            path.relative_to(root).as_posix(): path
            for path in root.rglob("*")
            if path.is_file() and path.relative_to(root).as_posix() not in ignored
        }

    left, right = listing(expected), listing(actual)
    differing = []
    for rel in sorted(set(left) | set(right)):
        if rel not in left:
            differing.append(f"{rel} (only in the Copier rendering)")
        elif rel not in right:
            differing.append(f"{rel} (only in the cookiecutter rendering)")
        elif not filecmp.cmp(left[rel], right[rel], shallow=False):
            differing.append(f"{rel} (content)")
        elif _executable(left[rel]) != _executable(right[rel]):
            differing.append(f"{rel} (executable bit)")
    return differing


def _executable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXUSR)
