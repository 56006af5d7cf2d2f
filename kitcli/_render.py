"""What a project's recorded template layers render, and who owns each rendered path.

``kit diff``, the loss guard of ``kit update`` and the drift rules of ``kit check`` compare a
project with what its templates render for the recorded versions and answers. Rendering is the
expensive part, and it depends only on the source, the recorded ``_commit`` of each layer, the
answers and the kit's version, so renders are cached under ``<cache>/renders/<key>``. An entry is
built in a temporary directory and renamed into place: a killed or concurrent run never leaves a
half-written entry behind. A recorded ``_commit`` names a release tag or ``git describe`` output,
which do not move; ``use_cache=False`` renders afresh (for a re-tagged release).

Ownership comes from each template's ``kit-template.toml`` (``[files] managed`` and ``seeded``,
gitignore-style globs). A template without that file (any plain Copier template) owns every path
it renders as managed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from . import _copier, _git, _source
from ._answers import Answers
from ._errors import UserError
from ._paths import cache_dir
from ._version import __version__

Ownership = Literal["managed", "seeded", "unowned"]

CACHE_FORMAT = 1
KEEP_ENTRIES = 32
STALE_TEMP_SECONDS = 3600
MANIFEST = "manifest.json"
TREE = "tree"


@dataclass(frozen=True)
class Declaration:
    """What one template layer declares about the paths it renders."""

    template: str
    declared: bool
    """False when the template has no ``kit-template.toml``: every path it renders is managed."""
    managed: tuple[str, ...] = ()
    seeded: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rendered:
    """The recorded layers of a project rendered into one tree (read-only: it may be cached)."""

    root: Path
    files: Mapping[str, str]
    """Rendered file (posix path relative to the root) -> the layer that rendered it last.

    Answers files are left out: they are Copier's record, not template content."""
    declarations: tuple[Declaration, ...]
    cached: bool

    def ownership(self, relpath: str) -> Ownership:
        """Managed, seeded or unowned: the topmost layer whose globs match decides."""
        for declaration in reversed(self.declarations):
            if matches(relpath, declaration.managed):
                return "managed"
            if matches(relpath, declaration.seeded):
                return "seeded"
        owner = self.files.get(relpath)
        if owner is not None and not self.declaration(owner).declared:
            return "managed"
        return "unowned"

    def declaration(self, template: str) -> Declaration:
        return next(d for d in self.declarations if d.template == template)


def render(layers: Sequence[Answers], *, use_cache: bool = True) -> Rendered:
    """Render *layers* (in order, into one tree) at their recorded versions with their answers."""
    key = _cache_key(layers)
    renders = cache_dir() / "renders"
    entry = renders / key
    if use_cache:
        loaded = _load(entry)
        if loaded is not None:
            with contextlib.suppress(OSError):
                os.utime(entry)
            return loaded
    renders.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".tmp-", dir=renders))
    try:
        files, declarations = _render_into(scratch / TREE, layers)
        (scratch / MANIFEST).write_text(json.dumps({
            "format": CACHE_FORMAT,
            "files": files,
            "declarations": [vars(d) for d in declarations],
        }, sort_keys=True), encoding="utf-8")
        if entry.exists():
            # Another run finished first, or the caller asked for a fresh render.
            retired = renders / f".tmp-old-{key}-{os.getpid()}"
            with contextlib.suppress(OSError):
                entry.rename(retired)
                shutil.rmtree(retired, ignore_errors=True)
        try:
            scratch.rename(entry)
        except OSError:
            # A concurrent run put its identical entry in place between our check and rename.
            shutil.rmtree(scratch, ignore_errors=True)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    _prune(renders)
    loaded = _load(entry)
    if loaded is None:  # pragma: no cover - only if the cache directory vanished under us
        raise UserError(f"render cache {entry} disappeared while in use; run the command again")
    return Rendered(root=loaded.root, files=loaded.files, declarations=loaded.declarations, cached=False)


def matches(relpath: str, patterns: Iterable[str]) -> bool:
    """Whether *relpath* (posix, relative) matches one of the gitignore-style *patterns*.

    Patterns are anchored at the project root, as ``kit-template.toml`` documents them (unlike
    gitignore, ``LICENSE`` does not match ``vendor/x/LICENSE``); ``*`` stays within one directory,
    ``**`` spans directories, and a pattern that matches a directory matches everything below it.
    """
    return any(_compiled(pattern).match(relpath) for pattern in patterns)


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    text = pattern.strip().strip("/")
    out = []
    index = 0
    while index < len(text):
        char = text[index]
        if text.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
            continue
        if text.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = text.find("]", index + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = text[index + 1:end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                index = end
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile(f"^{''.join(out)}(?:/.*)?$")


def _cache_key(layers: Sequence[Answers]) -> str:
    payload = {
        "format": CACHE_FORMAT,
        "kit": __version__,
        "layers": [
            {
                "src": layer.src_path,
                "commit": layer.commit,
                "template": layer.template,
                "answers_file": layer.path.as_posix(),
                "answers": layer.user_answers,
            }
            for layer in layers
        ],
    }
    text = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _load(entry: Path) -> Rendered | None:
    try:
        data = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or not (entry / TREE).is_dir():
        return None
    declarations = tuple(
        Declaration(
            template=str(d["template"]), declared=bool(d["declared"]),
            managed=tuple(d["managed"]), seeded=tuple(d["seeded"]),
        )
        for d in data["declarations"]
    )
    return Rendered(root=entry / TREE, files=dict(data["files"]), declarations=declarations, cached=True)


def _render_into(tree: Path, layers: Sequence[Answers]) -> tuple[dict[str, str], list[Declaration]]:
    files: dict[str, str] = {}
    declarations: list[Declaration] = []
    before: dict[str, bytes] = {}
    for layer in layers:
        source = _source.open_source(layer.src_path)
        sha = _git.resolve_ref(source.checkout, layer.commit)
        if sha is None:
            raise UserError(
                f"{layer.path}: the recorded version {layer.commit!r} of template {layer.template!r} "
                f"does not exist in {source.location}; restore the answers file from git history"
            )
        _copier.copy(_copier.Render(
            src=source.location, dst=tree, vcs_ref=sha, data=layer.user_answers,
            answers_file=layer.path.as_posix(), defaults=True, overwrite=True,
        ))
        after = _digests(tree)
        for relpath, digest in after.items():
            if before.get(relpath) != digest:
                files[relpath] = layer.template
        before = after
        declarations.append(_declaration(source, sha, layer.template))
    for layer in layers:
        files.pop(layer.path.as_posix(), None)
    return files, declarations


def _declaration(source: _source.Source, sha: str, template: str) -> Declaration:
    text = source.read(sha, f"templates/{template}/kit-template.toml")
    if text is None:
        return Declaration(template=template, declared=False)
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UserError(
            f"templates/{template}/kit-template.toml at {sha[:12]} in {source.location} is no valid TOML: {error}"
        ) from error
    section = data.get("files", {})
    return Declaration(
        template=template, declared=True,
        managed=tuple(str(p) for p in section.get("managed", ())),
        seeded=tuple(str(p) for p in section.get("seeded", ())),
    )


def _digests(root: Path) -> dict[str, bytes]:
    digests = {}
    for relpath in walk_files(root):
        digests[relpath] = hashlib.sha1((root / relpath).read_bytes(), usedforsecurity=False).digest()
    return digests


def walk_files(root: Path) -> list[str]:
    """Every file below *root* as a posix path relative to it, without ``.git``."""
    found: list[str] = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        base = Path(directory).relative_to(root)
        found.extend((base / name).as_posix() for name in filenames)
    return sorted(found)


def _prune(renders: Path) -> None:
    """Keep the newest entries; remove temporary directories a killed run left behind."""
    now = time.time()
    entries = []
    for child in renders.iterdir():
        try:
            mtime = child.stat().st_mtime
        except OSError:
            continue
        if child.name.startswith(".tmp-"):
            if now - mtime > STALE_TEMP_SECONDS:
                shutil.rmtree(child, ignore_errors=True)
        elif child.is_dir():
            entries.append((mtime, child))
    for _, child in sorted(entries, reverse=True)[KEEP_ENTRIES:]:
        shutil.rmtree(child, ignore_errors=True)
