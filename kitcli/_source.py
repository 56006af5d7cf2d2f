"""The template source: which repository serves the templates, and which of its versions.

A source is a git URL (``https://``, ``ssh://``, ``git@host:path``, or a ``file://`` URL ending in
``.git``: recorded as typed, and mirrored into the kit's cache for inspection) or a local working
tree (recorded as an absolute path). The kit reads the template set's metadata from that checkout;
Copier itself is always given the recorded location, so answers files never hold a relative
``_src_path``.

Renovate's copier manager reads ``_src_path`` as a URL (zod's ``url()``, i.e. WHATWG ``new URL``):
a path, and the scp-like ``git@host:path``, fail with "Invalid url" and the answers file is skipped.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from . import _git
from ._errors import UserError
from ._paths import cache_dir, config_file, load_config

REMOTE_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@[^:]+:)", re.IGNORECASE)
# A URL as the WHATWG parser behind Renovate's schema accepts it: a scheme, and a host for the
# schemes that need one.
URL_SCHEME_RE = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*):(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
SPECIAL_SCHEMES = ("http", "https", "ws", "wss", "ftp")
KIT_REPOSITORY = Path(__file__).resolve().parents[1]


def is_remote(location: str) -> bool:
    """Whether *location* is a git URL (cloned by Copier, mirrored by the kit) rather than a
    local working tree. A ``file://`` URL counts when it ends in ``.git``: that is when Copier
    clones it instead of reading it as a directory."""
    if location.lower().startswith("file://"):
        return location.rstrip("/").endswith(".git")
    return bool(REMOTE_RE.match(location))


def renovate_rejects(src_path: str) -> bool:
    """Whether Renovate's copier manager rejects *src_path* as "Invalid url" (and then ignores
    the answers file, visible only in its debug log)."""
    match = URL_SCHEME_RE.match(src_path.strip())
    if match is None:
        return True
    if match.group("scheme").lower() in SPECIAL_SCHEMES:
        host = match.group("rest").lstrip("/\\").split("/", 1)[0].rsplit("@", 1)[-1]
        return not host
    return False


def renovate_warning(location: str) -> str | None:
    """One line for a source Renovate cannot update projects from, saying how to set the URL."""
    if not renovate_rejects(location):
        return None
    if location.startswith("git@"):
        host, _, path = location.removeprefix("git@").partition(":")
        return (
            f"template source {location!r} is recorded as typed, but Renovate rejects this scp-like form "
            f"(\"Invalid url\") and will not update the project; use the URL form ssh://git@{host}/{path}"
        )
    return (
        f"template source {location} is a local path: Renovate will not be able to update this project "
        "(its copier manager needs a URL in _src_path); give the repository's URL (https://…, ssh://… or "
        f"file:///…/repo.git) with --source, KIT_SOURCE or `source = \"URL\"` in {config_file()}"
    )


@dataclass(frozen=True)
class Source:
    """A resolved template source."""

    location: str
    """What Copier is given and records as ``_src_path``: an absolute path or a URL."""
    checkout: Path
    """A local git directory with the source's history, for reading tags and files."""

    @property
    def is_local(self) -> bool:
        return not is_remote(self.location)

    def releases(self, *, prereleases: bool = False) -> list[str]:
        """Release tags, newest first, ordered by PEP 440 as Copier orders them."""
        return release_tags(_git.tags(self.checkout), prereleases=prereleases)

    def latest_release(self) -> str | None:
        releases = self.releases()
        return releases[0] if releases else None

    def resolve(self, ref: str | None) -> str:
        """The ref to render: *ref* if it exists, else the newest release, else ``HEAD``."""
        if ref is None:
            return self.latest_release() or "HEAD"
        if _git.resolve_ref(self.checkout, ref) is None:
            available = ", ".join(self.releases()[:5]) or "no release tags"
            raise UserError(
                f"--vcs-ref {ref!r} does not exist in template source {self.location} "
                f"(releases: {available}); pass a tag, branch or commit of that repository"
            )
        return ref

    def read(self, ref: str, relpath: str) -> str | None:
        """A file of the template set as Copier will see it at *ref*."""
        if ref == "HEAD" and self.is_local:
            # Copier renders a local HEAD including uncommitted changes; so does the kit.
            path = self.checkout / relpath
            return path.read_text(encoding="utf-8") if path.is_file() else None
        return _git.show(self.checkout, ref, relpath)

    def list_dir(self, ref: str, relpath: str) -> list[str]:
        if ref == "HEAD" and self.is_local:
            path = self.checkout / relpath
            return sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
        return _git.ls_tree_dirs(self.checkout, ref, relpath)


def release_tags(tags: list[str], *, prereleases: bool = False) -> list[str]:
    parsed: list[tuple[Version, str]] = []
    for tag in tags:
        try:
            version = Version(tag)
        except InvalidVersion:
            continue
        if version.is_prerelease and not prereleases:
            continue
        parsed.append((version, tag))
    return [tag for _, tag in sorted(parsed, reverse=True)]


def version_of(tag: str) -> Version | None:
    try:
        return Version(tag)
    except InvalidVersion:
        return None


def default_location() -> str | None:
    """``KIT_SOURCE``, else the user's configured source, else the repository the kit runs from."""
    if env := os.environ.get("KIT_SOURCE"):
        return env
    configured = load_config().get("source")
    if configured is not None and not (isinstance(configured, str) and configured):
        raise UserError(
            f"`source = {configured!r}` in {config_file()} is no template repository; "
            'write it as a quoted path or URL, e.g. source = "/path/to/templates"'
        )
    if isinstance(configured, str):
        return configured
    if (KIT_REPOSITORY / "copier.yml").is_file() and (KIT_REPOSITORY / ".git").exists():
        return str(KIT_REPOSITORY)
    return None


def open_source(location: str | None) -> Source:
    """Resolve *location* (or the default) to a :class:`Source`, fetching remotes into the cache."""
    location = location or default_location()
    if not location:
        raise UserError(
            "no template source: pass --source PATH_OR_URL, set KIT_SOURCE, or set `source` in the kit configuration"
        )
    if is_remote(location):
        return Source(location=location, checkout=_mirror(location))
    path = Path(location.removeprefix("file://")).expanduser().resolve()
    if not path.is_dir():
        raise UserError(f"template source {location!r} is no directory; pass a template repository")
    if _git.is_bare(path):
        if path.name.endswith(".git"):
            # Copier clones a path ending in .git as well, but Renovate needs the URL.
            url = path.as_uri()
            return Source(location=url, checkout=_mirror(url))
        raise UserError(
            f"template source {location!r} is a bare repository whose name does not end in .git; "
            "Copier reads it as a directory then: rename it to NAME.git and pass file:///…/NAME.git"
        )
    if not (path / "copier.yml").is_file() and not (path / "copier.yaml").is_file():
        raise UserError(f"template source {location!r} has no copier.yml; pass a Copier template repository")
    if not _git.is_repo_root(path):
        raise UserError(
            f"template source {location!r} is not the root of a git repository; "
            "templates are versioned by git tags, so the source must be one"
        )
    return Source(location=str(path), checkout=path)


def _mirror(url: str) -> Path:
    target = cache_dir() / "sources" / hashlib.sha256(url.encode()).hexdigest()[:16]
    try:
        if (target / "HEAD").is_file():
            _git.run(target, "fetch", "--quiet", "--prune", "--tags", "origin", "+refs/heads/*:refs/heads/*")
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            _git.run(target.parent, "clone", "--quiet", "--mirror", "--", url, str(target))
    except _git.GitFailed as error:
        raise UserError(f"template source {url!r} cannot be reached ({error}); check the URL and network") from error
    return target
