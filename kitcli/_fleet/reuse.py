"""``kit new --from``: another municipality's instance of an existing service (*Einer für Alle*).

The new instance is rendered by ``kit new`` from the origin's template source at the origin's
recorded version, with the origin's service answers and the new municipality's profile, so it
stays updatable from the templates. Then every file of the origin that does not depend on the
municipality or the owner is copied over byte for byte (its code, form, texts, tests, kit.toml):
the same service, not a fresh starter. Which files depend on the municipality is not guessed:
the origin's answers and the new answers are both rendered, and the files the two renders differ
in depend on them. Of those, the municipality's data (kommune.toml) and the owner's metadata
(publiccode.yml, LICENSE, REUSE.toml, SECURITY.md, CODEOWNERS) keep the new render; in the
others (README.md, whose title names the municipality) the origin's own changes are
merged into the new render (``git merge-file``), and where they conflict the new render stays
and a warning says so. ``publiccode.yml`` names the origin in ``isBasedOn``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .. import _answers, _git, _render
from .._errors import UserError
from .._municipality import Profile
from . import entries, gitcache

if TYPE_CHECKING:
    from ..commands.new import NewOptions, NewResult

THEME_KEYS = ("theme_primary_color", "theme_on_primary_color")
OWNER_KEYS = ("repository_url", "maintainer_name", "maintainer_email", "codeowners", "fit_connect_destination",
              "is_based_on")
"""Answers that belong to the owner, not to the service: recomputed for the new municipality."""
DESCRIPTION_KEYS = ("project_description", "project_long_description")
NOT_PASSED = ("template", "layered_template")
OWN_FILES = ("kommune.toml", "publiccode.yml", "LICENSE", "REUSE.toml", "SECURITY.md", "CODEOWNERS")
"""Municipality data and owner metadata: never taken from the origin."""


def municipality_keys() -> frozenset[str]:
    return frozenset(Profile(id="x", name="x").to_answers()) - {"license"} | frozenset(THEME_KEYS)


def reuse(options: NewOptions) -> NewResult:
    """Run ``kit new`` for ``options.origin`` (see the module docstring); returns its result."""
    from ..commands.new import new

    given = options.origin or ""
    if not options.municipality:
        raise UserError("--from needs --municipality: the municipality the new instance is for")
    origin = _origin_checkout(given)
    layers = _answers.read_all(origin)
    template = layers[-1].template
    if options.template and options.template != template:
        raise UserError(
            f"--from {options.origin}: the origin is a {template!r} project, not {options.template!r}; "
            "leave out TEMPLATE"
        )
    if len({layer.commit for layer in layers}) != 1:
        listed = ", ".join(f"{layer.template} {layer.commit}" for layer in layers)
        raise UserError(f"--from {options.origin}: its layers are at different versions ({listed}); "
                        "update the origin to one version first")
    answers = service_answers(layers, based_on=based_on(origin, given, layers))
    dest = options.dest.expanduser().absolute()
    existed = dest.exists()
    result = new(replace(
        options, origin=None, template=template, source=options.source or layers[0].src_path,
        vcs_ref=options.vcs_ref or layers[0].commit, extra_answers={**answers, **options.extra_answers},
        git=False, defaults=True,
    ))
    try:
        copied, removed, unmerged = _adopt_origin_files(origin, dest, layers)
        commit = None
        if options.git:
            rendered = ", ".join(f"{layer.template} {layer.version}" for layer in result.layers)
            commit = _git.init_and_commit(dest, (
                f"Reuse {answers.get('project_name', template)} from {answers['is_based_on']}\n\n"
                f"Generated from kommunal-kit templates ({rendered}); {copied} files taken over from "
                f"the origin, {removed} removed as there."
            ))
    except BaseException:
        _undo(dest, existed)
        raise
    holder = (result.municipality.official_name or result.municipality.name) if result.municipality else "?"
    steps = (*result.next_steps,
             f"ask the maintainers of {answers['is_based_on']} to list {holder!r} in usedBy of their publiccode.yml")
    warnings = (*result.warnings, *(
        f"{path}: the origin's changes conflict with the new municipality's version; "
        f"compare with {given} and carry them over by hand" for path in unmerged
    ))
    if "isBasedOn" not in _text(dest / "publiccode.yml"):
        warnings = (*warnings, f"template version {layers[0].commit} has no is_based_on question: add "
                    f"`isBasedOn: [{answers['is_based_on']}]` to publiccode.yml by hand")
    return replace(result, commit=commit, next_steps=steps, warnings=warnings)


def _origin_checkout(origin: str) -> Path:
    if entries.is_url(origin):
        return gitcache.fetch(origin)
    path = Path(origin).expanduser()
    if not path.is_dir():
        raise UserError(f"--from {origin!r}: no such project directory or git URL")
    return path.resolve()


def based_on(origin: Path, given: str, layers: Iterable[_answers.Answers]) -> str:
    """The origin's repository URL: publiccode.yml ``url``, else the URL given, else its answers."""
    try:
        data = yaml.safe_load((origin / "publiccode.yml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data = None
    url = data.get("url") if isinstance(data, dict) else None
    if isinstance(url, str) and url.strip():
        return url.strip()
    if entries.is_url(given):
        return given
    for layer in layers:
        recorded = layer.user_answers.get("repository_url")
        if isinstance(recorded, str) and recorded.strip():
            return recorded.strip()
    raise UserError(f"--from {given}: the origin names no repository URL (publiccode.yml url or repository_url)")


def service_answers(layers: Iterable[_answers.Answers], *, based_on: str) -> dict[str, str]:
    """The origin's answers without the municipality's and the owner's, and ``is_based_on``."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer.user_answers)
    dropped = municipality_keys() | set(OWNER_KEYS) | set(NOT_PASSED)
    names = [str(merged.get(k) or "") for k in ("municipality_official_name", "municipality_name")]
    kept = {key: str(value) for key, value in merged.items() if key not in dropped and value is not None}
    for key in DESCRIPTION_KEYS:
        if key in kept and any(name and name in kept[key] for name in names):
            # A description naming the origin's municipality is the default or written like it:
            # let the template word it for the new municipality.
            del kept[key]
    kept["is_based_on"] = based_on
    return kept


def _origin_files(origin: Path) -> list[str]:
    """What the origin publishes: its committed files (all files when it is no git repository),
    without its answers files."""
    answers = {p.as_posix() for p in _answers.find(origin)}
    if (origin / ".git").exists():
        listed = _git.run(origin, "ls-files", "-z", "--cached").split("\0")
    else:
        listed = _render.walk_files(origin)
    return [path for path in listed if path and path not in answers and (origin / path).is_file()]


def _adopt_origin_files(origin: Path, dest: Path, layers: list[_answers.Answers]) -> tuple[int, int, list[str]]:
    """Take over the origin's own work (see the module docstring). Returns how many files were
    copied or merged, how many removed, and which could not be merged."""
    theirs = _render.render(layers)
    ours = _render.render(_answers.read_all(dest))
    dependent = {
        path for path in set(theirs.files) | set(ours.files)
        if _bytes(theirs.root / path) != _bytes(ours.root / path)
    }
    origin_files = set(_origin_files(origin))
    copied, unmerged = 0, []
    for path in sorted(origin_files):
        target, mine = dest / path, _bytes(origin / path)
        if path in dependent:
            if path in OWN_FILES or mine is None or mine == _bytes(theirs.root / path):
                continue
            merged = _merge(ours=target, base=theirs.root / path, theirs=origin / path)
            if merged is None:
                unmerged.append(path)
                continue
            mine = merged
        if mine is None or _bytes(target) == mine:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(mine)
        shutil.copymode(origin / path, target)
        copied += 1
    removed = 0
    for path in sorted(set(ours.files) - dependent - origin_files):
        (dest / path).unlink(missing_ok=True)
        removed += 1
    return copied, removed, unmerged


def _merge(*, ours: Path, base: Path, theirs: Path) -> bytes | None:
    """The origin's change (base → theirs) applied to the new render (ours), or None on conflict."""
    if not ours.is_file() or not base.is_file():
        return None
    result = subprocess.run(
        ["git", "merge-file", "-p", "--", str(ours), str(base), str(theirs)],
        capture_output=True, check=False,
    )
    return result.stdout if result.returncode == 0 else None


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _undo(dest: Path, existed: bool) -> None:
    """Leave *dest* as it was before: gone, or the empty directory it was."""
    if not existed:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
