"""Divergence from the template, fast enough for 2,056 projects.

The naive way renders every project's templates with its own answers and compares. Most of
what a template renders does not depend on the answers, and what does mostly interpolates
them. So projects are grouped by what shapes their render besides the interpolated text: the
template layers and versions, the answers to choice questions and non-text answers, and which
text answers are empty. Each group is rendered **once, by Copier**, with every non-empty text
answer replaced by a unique token (``zkitq0007qz``); a project's expected file is that shared
render with the tokens replaced by the project's own answers.

Every file matching its prediction means the project is clean: a prediction can only be wrong
where the template transforms an answer (escapes a quote, changes case, truncates), and then it
fails to match. A project also fails the fast path when it has a file in a managed path that no
template renders (``kit diff``'s ``added``). When the fast path fails, the project is rendered on
its own, by Copier with its real answers, and compared with ``kit diff``'s rules (its ownership
of paths, its changed/missing/added, kit.toml's deviations). So the fast path only ever says
"identical"; every divergence the fleet shows comes from a render of that project. That render
uses the template export below instead of ``kit diff``'s render, which clones the template for
every layer and takes three times as long; tests check that both agree.

The shared render uses an export of the template at the recorded commit with the questions'
validators removed (a token is no valid AGS or e-mail address); validators decide whether an
answer is accepted, never what is rendered. Exports and shared renders are cached on disk, keyed
by the template commit, the answers pattern and the kit and Copier versions, and each is
written once (under a lock) even when several worker processes need it at the same time.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from .. import _answers, _copier, _git, _render, _source, _templateset
from .._errors import KitError, UserError
from .._paths import cache_dir
from .._project import KIT_TOML, ProjectConfig
from .._version import __version__
from .rows import Divergence, FileDivergence, TemplateVersion

ENGINE_VERSION = "1"
TOKEN_RE = re.compile(r"zkitq(\d{4})qz")
TOKEN_BYTES_RE = re.compile(rb"zkitq(\d{4})qz")
INCLUDE_RE = re.compile(r"^\s*(?:-\s*)?!include\s+(\S.*?)\s*$", re.MULTILINE)
VALIDATOR_RE = re.compile(r"^(?P<indent>[ \t]+)validator\s*:")
DESCRIBE_RE = re.compile(r"^(?P<tag>.+)-(?P<distance>\d+)-g(?P<sha>[0-9a-f]{4,40})$")
METHOD_SHARED = "shared render"
METHOD_EXACT = "exact render"


def token(index: int) -> str:
    return f"zkitq{index:04d}qz"


@dataclass(frozen=True)
class LayerRecord:
    """One template layer as the project recorded it."""

    template: str
    src_path: str
    version: str
    answers: Mapping[str, Any]

    @classmethod
    def of(cls, answers: _answers.Answers) -> LayerRecord:
        return cls(answers.template, answers.src_path, answers.commit, answers.user_answers)


@dataclass
class Templates:
    """What one process knows about template sources: opened once, asked many times."""

    _sources: dict[str, _source.Source | KitError] = field(default_factory=dict)
    _releases: dict[str, list[str]] = field(default_factory=dict)
    _shas: dict[tuple[str, str], str] = field(default_factory=dict)
    _sets: dict[tuple[str, str], _templateset.TemplateSet] = field(default_factory=dict)
    renders: dict[str, SharedRender] = field(default_factory=dict)
    """Shared renders this process has loaded, by group key."""

    def source(self, src_path: str) -> _source.Source:
        if src_path not in self._sources:
            try:
                if _source.is_remote(src_path):
                    # Workers share the kit's mirror of a remote source: one fetch at a time.
                    with _locked(cache_dir() / "fleet" / "sources" / _short(src_path)):
                        self._sources[src_path] = _source.open_source(src_path)
                else:
                    self._sources[src_path] = _source.open_source(src_path)
            except KitError as error:
                self._sources[src_path] = error
        found = self._sources[src_path]
        if isinstance(found, KitError):
            raise found
        return found

    def releases(self, src_path: str) -> list[str]:
        if src_path not in self._releases:
            self._releases[src_path] = self.source(src_path).releases()
        return self._releases[src_path]

    def version(self, layer: LayerRecord) -> TemplateVersion:
        """The layer's version, the newest release of its source, and how many releases lie between."""
        try:
            releases = self.releases(layer.src_path)
        except KitError as error:
            return TemplateVersion(layer.template, layer.version, layer.src_path, unknown_reason=str(error))
        latest = releases[0] if releases else None
        return TemplateVersion(
            layer.template, layer.version, layer.src_path, latest=latest,
            behind=releases_behind(releases, layer.version, self.source(layer.src_path)),
        )

    def sha(self, src_path: str, version: str) -> str:
        key = (src_path, version)
        if key not in self._shas:
            source = self.source(src_path)
            sha = _git.resolve_ref(source.checkout, version)
            if sha is None:
                raise UserError(f"recorded template version {version!r} does not exist in {src_path}")
            self._shas[key] = sha
        return self._shas[key]

    def template_set(self, src_path: str, sha: str) -> _templateset.TemplateSet:
        key = (src_path, sha)
        if key not in self._sets:
            self._sets[key] = _templateset.load(self.source(src_path), sha)
        return self._sets[key]

    def declaration(self, src_path: str, sha: str, template: str) -> _render.Declaration:
        """What the template declares about its files at *sha* (kit-template.toml), as ``kit diff`` reads it."""
        info = self.template_set(src_path, sha).templates.get(template)
        declared = self.source(src_path).read(sha, f"templates/{template}/kit-template.toml") is not None
        return _render.Declaration(
            template=template, declared=declared,
            managed=info.managed if info else (), seeded=info.seeded if info else (),
        )

    def export(self, src_path: str, sha: str) -> Path:
        """The template files at *sha* as a plain directory, without the questions' validators."""
        source = self.source(src_path)
        name = f"{_short(src_path)}-{sha}"
        target = cache_dir() / "fleet" / "templates" / name
        if target.is_dir():
            return target
        with _locked(target):
            if target.is_dir():
                return target
            work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
            try:
                with tarfile.open(fileobj=io.BytesIO(_archive(source.checkout, sha))) as tar:
                    if hasattr(tarfile, "data_filter"):
                        tar.extractall(work, filter="data")
                    else:  # pragma: no cover - Python < 3.11.4
                        tar.extractall(work)
                _strip_validators(work)
                work.rename(target)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        return target


def releases_behind(releases: Sequence[str], version: str, source: _source.Source) -> int | None:
    """How many releases are newer than *version* (a tag, a ``git describe`` string or a commit)."""
    if version in releases:
        return releases.index(version)
    match = DESCRIBE_RE.match(version)
    recorded = _source.version_of(match.group("tag") if match else version)
    if recorded is not None:
        return sum(1 for r in releases if (v := _source.version_of(r)) is not None and v > recorded)
    if _git.resolve_ref(source.checkout, version) is None:
        return None
    return sum(1 for r in releases if not _git.is_ancestor(source.checkout, r, version))


def _archive(checkout: Path, sha: str) -> bytes:
    result = subprocess.run(["git", "archive", "--format=tar", sha], cwd=checkout, capture_output=True, check=False)
    if result.returncode != 0:
        problem = result.stderr.decode(errors="replace").strip()
        raise UserError(f"cannot export template commit {sha} from {checkout}: {problem}")
    return result.stdout


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    """An exclusive lock beside *target*, so concurrent workers write each cache entry once."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no flock on Windows: workers may render twice
        yield
        return
    with open(target.parent / f"{target.name}.lock", "w") as handle:  # noqa: PTH123
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _strip_validators(root: Path) -> None:
    """Remove ``validator:`` entries from copier.yml and every question file it includes."""
    pending = [name for name in ("copier.yml", "copier.yaml") if (root / name).is_file()]
    seen: set[Path] = set()
    while pending:
        path = root / pending.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        text = path.read_text(encoding="utf-8")
        for pattern in INCLUDE_RE.findall(text):
            pending.extend(str(p.relative_to(root)) for p in sorted(root.glob(pattern.strip("'\""))))
        path.write_text(_without_validators(text), encoding="utf-8")


def _without_validators(text: str) -> str:
    kept: list[str] = []
    skip_deeper_than: int | None = None
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" \t"))
        if skip_deeper_than is not None:
            if not stripped or indent > skip_deeper_than:
                continue
            skip_deeper_than = None
        match = VALIDATOR_RE.match(line)
        if match:
            skip_deeper_than = len(match.group("indent"))
            continue
        kept.append(line)
    return "".join(kept)


# --- the shared render -----------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedFile:
    content: bytes
    layer: int
    """Index of the layer that wrote the file last."""
    tokens: bool


@dataclass(frozen=True)
class SharedRender:
    files: Mapping[str, RenderedFile]


@dataclass(frozen=True)
class Plan:
    """How one project maps onto its group's shared render."""

    key: str
    layers: tuple[tuple[str, str, str], ...]
    """Per layer: template, source, commit sha."""
    data: tuple[Mapping[str, Any], ...]
    """Per layer: the answers the shared render is made with (tokens for text)."""
    values: Mapping[int, str]
    """Token index → this project's answer."""


def plan(layers: Sequence[LayerRecord], templates: Templates) -> Plan:
    """Group *layers*' answers into fixed values and tokens, and name the group."""
    resolved: list[tuple[str, str, str]] = []
    data: list[dict[str, Any]] = []
    values: dict[int, str] = {}
    shape: list[Any] = []
    index = 0
    for layer in layers:
        sha = templates.sha(layer.src_path, layer.version)
        questions = templates.template_set(layer.src_path, sha).questions
        layer_data: dict[str, Any] = {}
        fixed: dict[str, Any] = {}
        tokens: list[str] = []
        for key in sorted(layer.answers):
            value = layer.answers[key]
            if _tokenisable(questions.get(key), value):
                layer_data[key] = token(index)
                values[index] = value
                tokens.append(key)
                index += 1
            else:
                layer_data[key] = fixed[key] = value
        resolved.append((layer.template, layer.src_path, sha))
        data.append(layer_data)
        shape.append([layer.template, layer.src_path, sha, fixed, tokens])
    payload = json.dumps(
        {"engine": ENGINE_VERSION, "kit": __version__, "copier": _copier_version(), "layers": shape},
        sort_keys=True, default=str,
    )
    return Plan(hashlib.sha256(payload.encode()).hexdigest()[:24], tuple(resolved), tuple(data), values)


def _tokenisable(question: Mapping[str, Any] | None, value: object) -> bool:
    if question is None or not isinstance(value, str) or not value or "choices" in question:
        return False
    return question.get("type", "str") in ("str", None)


def _copier_version() -> str:
    try:
        return metadata.version("copier")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


def shared_render(group: Plan, templates: Templates) -> SharedRender:
    """The group's render: from this process's memory, the disk cache, or Copier."""
    memo = templates.renders
    if group.key in memo:
        return memo[group.key]
    target = cache_dir() / "fleet" / "renders" / group.key
    if not (target / "index.json").is_file():
        with _locked(target):
            if not (target / "index.json").is_file():
                _render_to_cache(group, templates, target)
    render = _load(target)
    memo[group.key] = render
    return render


def _render_to_cache(group: Plan, templates: Templates, target: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        files = render_layers(group.layers, group.data, templates, work / "project")
        index = {path: {"layer": f.layer, "tokens": f.tokens} for path, f in files.items()}
        (work / "files").mkdir()
        for path, f in files.items():
            destination = work / "files" / path
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(f.content)
        (work / "index.json").write_text(json.dumps(index, sort_keys=True), encoding="utf-8")
        shutil.rmtree(work / "project")
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _load(target: Path) -> SharedRender:
    index = json.loads((target / "index.json").read_text(encoding="utf-8"))
    return SharedRender({
        path: RenderedFile((target / "files" / path).read_bytes(), int(meta["layer"]), bool(meta["tokens"]))
        for path, meta in index.items()
    })


def render_layers(
    layers: Sequence[tuple[str, str, str]], data: Sequence[Mapping[str, Any]], templates: Templates,
    dst: Path,
) -> dict[str, RenderedFile]:
    """Render the layers in order into *dst* as ``kit new`` does; return every file but the
    answers files, with the layer that wrote it last."""
    dst.mkdir(parents=True)
    seen: dict[str, bytes] = {}
    owner: dict[str, int] = {}
    for number, ((_template, src_path, sha), answers) in enumerate(zip(layers, data, strict=True)):
        export = templates.export(src_path, sha)
        _copier.copy(_copier.Render(src=str(export), dst=dst, data=dict(answers), defaults=True))
        for path, content in _files(dst):
            if seen.get(path) != content:
                seen[path] = content
                owner[path] = number
    return {
        path: RenderedFile(content, owner[path], bool(TOKEN_BYTES_RE.search(content) or TOKEN_RE.search(path)))
        for path, content in seen.items()
    }


def _files(root: Path) -> Iterator[tuple[str, bytes]]:
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            path = Path(directory, name)
            relpath = path.relative_to(root).as_posix()
            if "/" not in relpath and _answers.ANSWERS_RE.match(relpath):
                continue
            if path.is_file():
                yield relpath, path.read_bytes()


# --- comparing a project ---------------------------------------------------------------------


def predicted_mismatches(root: Path, group: Plan, render: SharedRender) -> tuple[list[str], set[str]]:
    """Files of *root* that differ from the prediction (none: the project is clean), and every
    path the prediction renders."""
    encoded = {index: value.encode("utf-8") for index, value in group.values.items()}

    def fill(match: re.Match[bytes]) -> bytes:
        return encoded.get(int(match.group(1)), match.group(0))

    def fill_path(match: re.Match[str]) -> str:
        return group.values.get(int(match.group(1)), match.group(0))

    mismatches = []
    paths = set()
    for path, rendered in render.files.items():
        expected = TOKEN_BYTES_RE.sub(fill, rendered.content) if rendered.tokens else rendered.content
        actual_path = TOKEN_RE.sub(fill_path, path) if rendered.tokens else path
        paths.add(actual_path)
        try:
            actual = (root / actual_path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            mismatches.append(actual_path)
            continue
        if actual != expected:
            mismatches.append(actual_path)
    return mismatches, paths


def added_files(root: Path, group: Plan, rendered_paths: set[str], templates: Templates) -> list[str]:
    """Project files in a path a layer declares managed that no layer renders (``kit diff``'s
    ``added``)."""
    globs: list[str] = []
    for template, src_path, sha in group.layers:
        info = templates.template_set(src_path, sha).templates.get(template)
        if info is not None:
            globs.extend(info.managed)
    if not globs:
        return []
    excluded = {KIT_TOML, *(p.as_posix() for p in _answers.find(root))}
    if any(ch in glob for glob in globs for ch in "*?[") or any((root / g.strip("/")).is_dir() for g in globs):
        candidates = project_files(root)
    else:
        candidates = [g.strip("/") for g in globs if (root / g.strip("/")).is_file()]
    return [
        path for path in candidates
        if path not in rendered_paths and path not in excluded and _render.matches(path, globs)
    ]


def project_files(root: Path) -> list[str]:
    """The project's files as git sees them (ignored ones left out), as ``kit diff`` lists them."""
    if (root / ".git").exists():
        out = _git.run(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", check=False)
        return [path for path in out.split("\0") if path]
    return _render.walk_files(root)


def exact(root: Path, layers: Sequence[LayerRecord], templates: Templates, config: ProjectConfig) -> Divergence:
    """Render the project alone with its real answers (Copier, from the template export: no
    clone) and compare, with ``kit diff``'s rules: its ownership (:class:`kitcli._render.Rendered`),
    its statuses (changed, missing, added in a managed path) and kit.toml's deviations."""
    resolved = [(layer.template, layer.src_path, templates.sha(layer.src_path, layer.version)) for layer in layers]
    with tempfile.TemporaryDirectory(prefix="kit-fleet-") as scratch:
        rendered = render_layers(resolved, [layer.answers for layer in layers], templates, Path(scratch) / "project")
    owners = _render.Rendered(
        root=root, files={path: resolved[f.layer][0] for path, f in rendered.items()},
        declarations=tuple(templates.declaration(src, sha, template) for template, src, sha in resolved),
        cached=False,
    )
    changes: list[tuple[str, str]] = []
    for path, expected in sorted(rendered.items()):
        try:
            actual: bytes | None = (root / path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            actual = None
        if actual != expected.content:
            changes.append((path, "missing" if actual is None else "changed"))
    excluded = {KIT_TOML, *(p.as_posix() for p in _answers.find(root))}
    changes += [
        (path, "added") for path in project_files(root)
        if path not in rendered and path not in excluded and owners.ownership(path) == "managed"
        and (root / path).is_file()
    ]
    files = []
    for path, change in sorted(changes):
        deviation = config.deviation_for(path)
        files.append(FileDivergence(
            path=path, ownership=owners.ownership(path) if change != "added" else "managed", change=change,
            declared=deviation is not None, reason=deviation.reason if deviation is not None else None,
        ))
    stale = sum(1 for d in config.deviations if not any(d.matches(f.path) for f in files))
    return Divergence(
        managed=sum(1 for f in files if f.ownership != "seeded"),
        seeded=sum(1 for f in files if f.ownership == "seeded"),
        declared=sum(1 for f in files if f.declared),
        stale=stale, method=METHOD_EXACT, files=tuple(files),
    )


def divergence(root: Path, layers: Sequence[LayerRecord], templates: Templates, config: ProjectConfig) -> Divergence:
    """The project's divergence: nothing when every file matches the shared render's prediction
    and nothing was added in a managed path, else what a render of the project alone shows."""
    group = plan(layers, templates)
    render = shared_render(group, templates)
    mismatches, rendered_paths = predicted_mismatches(root, group, render)
    if not mismatches and not added_files(root, group, rendered_paths, templates):
        return Divergence(managed=0, seeded=0, declared=0, stale=len(config.deviations), method=METHOD_SHARED)
    return exact(root, layers, templates, config)
