"""Small helpers around the ``git`` command line (the kit's only VCS)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from ._errors import InternalError

# Used only when the user has no git identity configured (a fresh machine), so that the kit's
# initial commit never fails; the user's own identity always wins.
FALLBACK_IDENTITY = {"name": "kommunal-kit", "email": "kit@localhost"}


class GitFailed(InternalError):
    """A git command the kit needed failed unexpectedly (not something the user gave wrongly).

    Where a git failure does follow from bad input (an unreachable URL, a missing ref), the caller
    checks first or turns this into a :class:`~kitcli._errors.UserError` naming the value.
    """

    def __init__(self, *, args: tuple[str, ...], cwd: Path, stderr: str) -> None:
        self.args_ = args
        self.cwd = cwd
        self.stderr = stderr
        last = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
        self.message = f"git {' '.join(args)} failed in {cwd}: {last}"
        super().__init__(self.message)


def run(cwd: Path, *args: str, env: Mapping[str, str] | None = None, check: bool = True) -> str:
    """Run ``git *args`` in *cwd* and return stdout; raise :class:`GitFailed` when it fails."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=full_env, check=False)
    if check and result.returncode != 0:
        raise GitFailed(args=args, cwd=cwd, stderr=result.stderr)
    return result.stdout


def ok(cwd: Path, *args: str) -> bool:
    """Whether ``git *args`` succeeds in *cwd*."""
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False).returncode == 0


def is_repo_root(path: Path) -> bool:
    if not path.is_dir():
        return False
    top = run(path, "rev-parse", "--show-toplevel", check=False).strip()
    return bool(top) and Path(top).resolve() == path.resolve()


def is_bare(path: Path) -> bool:
    """Whether *path* itself is a bare repository (a git directory without a working tree)."""
    if not path.is_dir():
        return False
    if run(path, "rev-parse", "--is-bare-repository", check=False).strip() != "true":
        return False
    return Path(run(path, "rev-parse", "--absolute-git-dir").strip()).resolve() == path.resolve()


def identity_env(cwd: Path) -> dict[str, str]:
    """Author/committer variables for the fallback identity, or nothing if git has one.

    ``GIT_AUTHOR_*`` and ``GIT_COMMITTER_*`` from the environment (a CI job, Renovate) always win:
    only the variables the environment leaves unset get the fallback.
    """
    if run(cwd, "config", "user.email", check=False).strip():
        return {}
    fallback = {
        "GIT_AUTHOR_NAME": FALLBACK_IDENTITY["name"],
        "GIT_AUTHOR_EMAIL": FALLBACK_IDENTITY["email"],
        "GIT_COMMITTER_NAME": FALLBACK_IDENTITY["name"],
        "GIT_COMMITTER_EMAIL": FALLBACK_IDENTITY["email"],
    }
    return {name: value for name, value in fallback.items() if not os.environ.get(name)}


def init_and_commit(path: Path, message: str) -> str:
    """Initialise a repository in *path*, commit everything, return the commit id."""
    run(path, "init", "-q")
    run(path, "add", "-A")
    run(path, "commit", "-q", "--no-verify", "-m", message, env=identity_env(path))
    return run(path, "rev-parse", "HEAD").strip()


def commit_all(path: Path, message: str) -> str:
    run(path, "add", "-A")
    run(path, "commit", "-q", "--no-verify", "-m", message, env=identity_env(path))
    return run(path, "rev-parse", "HEAD").strip()


def status_porcelain(path: Path) -> list[str]:
    return [line for line in run(path, "status", "--porcelain", "--untracked-files=all").splitlines() if line]


def unmerged_paths(path: Path) -> list[str]:
    out = run(path, "diff", "--name-only", "--diff-filter=U")
    return sorted({line for line in out.splitlines() if line})


def tags(path: Path) -> list[str]:
    return [line for line in run(path, "tag", "--list").splitlines() if line]


def resolve_ref(path: Path, ref: str) -> str | None:
    """The commit id *ref* names in *path*, or None when it names nothing."""
    out = run(path, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False).strip()
    return out or None


def describe(path: Path, ref: str = "HEAD") -> str:
    """What Copier records as ``_commit``: ``git describe --tags --always``."""
    return run(path, "describe", "--tags", "--always", ref).strip()


def show(path: Path, ref: str, relpath: str) -> str | None:
    """The text of *relpath* at *ref*, or None when it does not exist there."""
    result = subprocess.run(["git", "show", f"{ref}:{relpath}"], cwd=path, capture_output=True, check=False)
    return result.stdout.decode("utf-8") if result.returncode == 0 else None


def ls_tree_dirs(path: Path, ref: str, relpath: str) -> list[str]:
    out = run(path, "ls-tree", "-d", "--name-only", f"{ref}:{relpath}", check=False)
    return [line for line in out.splitlines() if line]


def last_commit_date(path: Path) -> str | None:
    out = run(path, "log", "-1", "--format=%cI", check=False).strip()
    return out or None


def damage(path: Path) -> str | None:
    """Why the repository's object store cannot give HEAD's commit and tree, or None if it can."""
    if not ok(path, "rev-parse", "--verify", "-q", "HEAD"):
        return None  # no commit yet: nothing to be damaged
    result = subprocess.run(["git", "cat-file", "-e", "HEAD^{tree}"], cwd=path, capture_output=True, text=True,
                            check=False)
    if result.returncode == 0:
        return None
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    return lines[0] if lines else "HEAD's tree is missing"


def blob(path: Path, ref: str, relpath: str) -> bytes | None:
    """The bytes of *relpath* at *ref* (exactly as committed), or None when it does not exist there."""
    result = subprocess.run(["git", "cat-file", "blob", f"{ref}:{relpath}"], cwd=path, capture_output=True, check=False)
    return result.stdout if result.returncode == 0 else None


def git_dir(path: Path) -> Path:
    """The repository's private directory (``.git``, or a worktree's own git directory)."""
    return Path(run(path, "rev-parse", "--absolute-git-dir").strip())


def is_ancestor(path: Path, older: str, newer: str) -> bool:
    """Whether commit *older* is an ancestor of (or equal to) commit *newer*."""
    return ok(path, "merge-base", "--is-ancestor", older, newer)
