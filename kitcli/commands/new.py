"""``kit new``: generate a project from a template of the set, with a municipality's data."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import _answers, _copier, _git, _lock, _municipality, _scratch, _source, _templateset, _validate
from .._errors import UserError
from .._municipality import Profile

MUNICIPALITY_FIELDS_SHOWN_MISSING = (
    "municipality_street",
    "municipality_postcode",
    "municipality_email",
    "municipality_phone",
    "municipality_website",
    "representative_title",
    "representative_name",
    "supervisory_authority",
    "content_responsible",
    "dpo_name",
    "dpo_email",
    "accessibility_contact_email",
)


@dataclass(frozen=True)
class NewOptions:
    """Everything ``kit new`` needs to know, gathered once by the CLI."""

    template: str
    dest: Path
    municipality: str | None = None
    data: Mapping[str, str] = field(default_factory=dict)
    data_file: Path | None = None
    defaults: bool = False
    source: str | None = None
    vcs_ref: str | None = None
    git: bool = True
    interactive: bool = False
    """Whether Copier may ask questions on a terminal (only without ``defaults``)."""
    extra_answers: Mapping[str, str] = field(default_factory=dict)
    """Answers supplied by other commands (e.g. reuse of another project), below ``data``."""
    origin: str | None = None
    """``--from``: a project directory or git URL whose service this one reuses (see
    :mod:`kitcli._fleet.reuse`); ``template`` may then be empty."""


@dataclass(frozen=True)
class Layer:
    template: str
    version: str
    answers_file: str


@dataclass(frozen=True)
class NewResult:
    dest: Path
    template: str
    source: str
    layers: tuple[Layer, ...]
    municipality: Profile | None
    commit: str | None
    missing: tuple[str, ...]
    next_steps: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "dest": str(self.dest),
            "template": self.template,
            "source": self.source,
            "layers": [vars(layer) for layer in self.layers],
            "municipality": None
            if self.municipality is None
            else {
                "id": self.municipality.id,
                "name": self.municipality.name,
                "ags": self.municipality.ags,
                "origin": self.municipality.origin,
            },
            "commit": self.commit,
            "missing": list(self.missing),
            "next_steps": list(self.next_steps),
            "warnings": list(self.warnings),
        }


def check_destination(dest: Path) -> None:
    """Refuse, before anything is rendered, every destination that could not become the project."""
    shown = str(dest)
    anchor, missing = _existing_ancestor(dest)
    if anchor.is_dir():
        name_max = os.pathconf(anchor, "PC_NAME_MAX")
        for part in missing:
            if len(os.fsencode(part)) > name_max:
                raise UserError(
                    f"destination {shown[:80]!r}...: the name {part[:20]!r}... is {len(os.fsencode(part))} bytes "
                    f"long, the file system allows {name_max}; choose a shorter name"
                )
        if len(os.fsencode(shown)) >= os.pathconf(anchor, "PC_PATH_MAX"):
            raise UserError(
                f"destination {shown[:80]!r}... is longer than the file system allows; choose a shorter path"
            )
    if dest.is_symlink():
        target = str(dest.readlink())
        kind = "a dangling symbolic link" if not dest.exists() else "a symbolic link"
        raise UserError(f"destination {shown!r} is {kind} (to {target!r}); give the real directory or a new name")
    if dest.exists() and not dest.is_dir():
        raise UserError(f"destination {shown!r} is a file; choose a new directory")
    if dest.is_dir() and any(dest.iterdir()):
        raise UserError(f"destination {shown!r} is not empty; choose a new or empty directory")
    if not anchor.is_dir():
        raise UserError(f"destination {shown!r} lies under the file {str(anchor)!r}; choose a path under a directory")
    writable = dest.parent if anchor == dest else anchor
    if not os.access(writable, os.W_OK | os.X_OK):
        raise UserError(
            f"destination {shown!r}: the directory {str(writable)!r} is not writable for you; "
            "choose another place or change its permissions"
        )


def _existing_ancestor(dest: Path) -> tuple[Path, list[str]]:
    """The nearest existing path at or above *dest* (a directory, or the file in the way), and
    the names below it that ``kit new`` would create."""
    missing: list[str] = []
    for path in (dest, *dest.parents):
        try:
            path.lstat()
        except OSError:  # missing, under a file, or a name too long to look up
            missing.insert(0, path.name)
            continue
        return path, missing
    return Path(dest.anchor), missing


def read_data_file(path: Path) -> dict[str, str]:
    """Answers from a YAML, JSON or TOML file: a flat mapping of question names to values."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"--data-file {str(path)!r}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"--data-file {str(path)!r} is unreadable ({error})") from error
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        first = str(error).strip().splitlines()[0]
        raise UserError(f"--data-file {str(path)!r} is malformed ({first}); give a mapping of answers") from error
    if not isinstance(data, dict):
        raise UserError(f"--data-file {str(path)!r} must hold a mapping of question names to values")
    answers: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, dict | list) or value is None:
            raise UserError(f"--data-file {str(path)!r}: value of {key!r} must be a single value")
        answers[str(key)] = value if isinstance(value, str) else json.dumps(value)
    return answers


def gather_answers(
    options: NewOptions, tset: _templateset.TemplateSet, layers: tuple[str, ...]
) -> tuple[dict[str, str], Profile | None]:
    """Profile answers, then ``--data-file``, then ``--data``; every key must be a question."""
    questions: dict[str, Mapping[str, Any]] = {}
    for layer in layers:
        questions.update(tset.questions_for(layer))
    multiline = frozenset(key for key, spec in questions.items() if spec.get("multiline"))
    profile = None
    answers: dict[str, str] = {}
    if options.municipality is not None:  # an empty --municipality is bad input, not "none"
        profile = _municipality.enrich(_municipality.resolve(options.municipality))
        from_profile = {k: v for k, v in profile.to_answers().items() if k in questions}
        origin = (f"the municipality registry (AGS {profile.ags})" if profile.origin == "registry"
                  else f"the municipality profile {profile.id!r}")
        _validate.clean_text(from_profile, source=origin, multiline=multiline)
        answers.update(from_profile)
    _validate.clean_text(options.extra_answers, source="the answers taken from the existing project",
                         multiline=multiline)
    answers.update(options.extra_answers)
    given: dict[str, str] = {}
    if options.data_file:
        from_file = read_data_file(options.data_file)
        _validate.clean_text(from_file, source=f"--data-file {str(options.data_file)!r}", multiline=multiline)
        given.update(from_file)
    _validate.clean_text(options.data, source="--data", multiline=multiline)
    given.update(options.data)
    for key in given:
        if key == "template":
            raise UserError("--data template=...: the template is chosen by the TEMPLATE argument")
        if key not in questions or key == "layered_template":
            raise UserError(
                f"--data {key}: no such question in template {options.template!r}; "
                f"questions: {', '.join(sorted(k for k in questions if k != 'layered_template'))}"
            )
    answers.update(given)
    for key, value in answers.items():
        choices = questions.get(key, {}).get("choices")
        if choices:
            allowed = [str(v) for v in (choices.values() if isinstance(choices, dict) else choices)]
            if str(value) not in allowed:
                raise UserError(f"{key}: {value!r} is not one of {', '.join(allowed)}")
    literal_defaults = {
        key: str(spec.get("default"))
        for key, spec in questions.items()
        if isinstance(spec.get("default"), str) and "{" not in str(spec.get("default"))
    }
    _validate.validate_answers({**{k: v for k, v in literal_defaults.items() if k.startswith("theme_")}, **answers})
    return answers, profile


def new(options: NewOptions) -> NewResult:
    """Generate a project; on any error or interruption nothing is left behind."""
    if options.origin is not None:
        from .._fleet.reuse import reuse

        return reuse(options)
    dest = options.dest.expanduser().absolute()
    check_destination(dest)
    if not options.defaults and not options.interactive:
        raise UserError("no terminal to ask the template's questions on; pass --defaults (and --data KEY=VALUE)")
    source = _source.open_source(options.source)
    ref = source.resolve(options.vcs_ref)
    tset = _templateset.load(source, ref)
    tset.template(options.template)
    layers = tset.layers(options.template)
    answers, profile = gather_answers(options, tset, layers)

    # Render outside the destination's tree (a scratch directory inside the template repository
    # itself, `kit new demo` in a clone of the kit, would make the source dirty for later layers),
    # in scratch space that a reaper removes even if this process is killed.
    anchor = dest.parent if dest.is_dir() else _existing_ancestor(dest)[0]  # where scratch may be staged
    lock_file = _lock_file(dest)
    with (  # the reaper first: it must be watching before the lock file exists
        _scratch.guarded("new", beside=anchor, locks=[lock_file]) as scratch,
        _lock.hold(lock_file, command="kit new", subject=dest),
    ):
        check_destination(dest)  # again: another kit new may have finished meanwhile
        work = scratch.root / dest.name
        work.mkdir()
        renovate = _source.renovate_warning(source.location)
        warnings: list[str] = [renovate] if renovate else []
        recorded: dict[str, str] = {}
        result_layers: list[Layer] = []
        for layer in layers:
            layer_questions = tset.questions_for(layer)
            data = {k: v for k, v in {**recorded, **answers}.items() if k in layer_questions}
            data["template"] = layer
            if "layered_template" in layer_questions:
                data["layered_template"] = options.template if options.template != layer else ""
            outcome = _copier.copy(
                _copier.Render(
                    src=source.location,
                    dst=work,
                    vcs_ref=ref,
                    data=data,
                    defaults=options.defaults,
                )
            )
            warnings.extend(outcome.warnings)
            layer_answers = _answers.read(work, _answers_file_of(work, layer))
            # Answers typed at Copier's prompts get the same validation as --data, still in scratch.
            _validate.validate_answers(layer_answers.user_answers)
            recorded.update({k: str(v) for k, v in layer_answers.user_answers.items()})
            result_layers.append(Layer(layer, layer_answers.commit, str(layer_answers.path)))
        commit = None
        if options.git:
            versions = ", ".join(f"{layer.template} {layer.version}" for layer in result_layers)
            commit = _git.init_and_commit(
                work, f"Generate from kommunal-kit templates ({versions})\n\nSource: {source.location}"
            )
        _move_into_place(work, dest, anchor, scratch)

    info = tset.template(options.template)
    missing = tuple(k for k in MUNICIPALITY_FIELDS_SHOWN_MISSING if k in recorded and not recorded[k])
    steps = [f"cd {dest}", *info.next_steps]
    if missing:
        steps.append("before going live, fill in the missing municipality data listed above "
                     "(in kommune.toml; python -m app.golive names each key)")
    return NewResult(
        dest=dest,
        template=options.template,
        source=source.location,
        layers=tuple(result_layers),
        municipality=profile,
        commit=commit,
        missing=missing,
        next_steps=tuple(steps),
        warnings=tuple(dict.fromkeys(warnings)),
    )


def _lock_file(dest: Path) -> Path:
    """One lock per destination, in the temporary directory: a lock file beside DEST would show."""
    key = hashlib.sha256(os.fsencode(dest)).hexdigest()[:24]
    return _scratch.system_tmp() / f"kit-new-{key}.lock"


def _move_into_place(work: Path, dest: Path, anchor: Path, scratch: _scratch.Guarded) -> None:
    """Move the finished project to *dest* in one rename; across file systems, copy it into
    scratch space in *anchor* (the nearest existing directory above *dest*, watched by the
    reaper) first, so that *dest* appears complete or not at all."""
    staging = work
    if work.stat().st_dev != anchor.stat().st_dev:
        staging = scratch.beside(anchor) / dest.name
    try:
        if staging is not work:
            shutil.copytree(work, staging, symlinks=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        # rename(2) replaces an empty directory atomically; a non-empty one makes it fail.
        staging.rename(dest)
    except OSError as error:
        raise UserError(f"destination {str(dest)!r} cannot be created ({error.strerror}); choose another") from error
    finally:
        if staging is not work:
            _scratch.remove(staging.parent)


def _answers_file_of(work: Path, template: str) -> Path:
    expected = Path(f".copier-answers.{template}.yml")
    if (work / expected).is_file():
        return expected
    found = _answers.find(work)
    if not found:
        raise UserError(f"template {template!r} recorded no answers file; it is not a kit template")
    return found[-1]
