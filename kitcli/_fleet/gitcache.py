"""Checkouts of projects named by git URL, kept in the kit's cache and refreshed on each run."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from .. import _git
from .._errors import UserError
from .._paths import cache_dir


class Unreachable(UserError):
    def __init__(self, *, url: str, problem: str) -> None:
        self.url = url
        super().__init__(f"{url} cannot be cloned or fetched: {problem}")


def checkout_dir(url: str, ref: str | None) -> Path:
    key = hashlib.sha256(f"{url}\n{ref or ''}".encode()).hexdigest()[:16]
    return cache_dir() / "fleet" / "clones" / key


def fetch(url: str, ref: str | None = None) -> Path:
    """A working tree of *url* at *ref* (default: the remote HEAD), cloned or fetched into the cache.

    The checkout is the kit's own: it is reset to the remote state on every call.
    """
    target = checkout_dir(url, ref)
    try:
        if (target / ".git").is_dir():
            _git.run(target, "fetch", "--quiet", "--depth", "1", "origin", ref or "HEAD")
            _git.run(target, "checkout", "--quiet", "--force", "--detach", "FETCH_HEAD")
            _git.run(target, "clean", "-q", "-d", "-f", "-x")
        else:
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            args = ["clone", "--quiet", "--depth", "1"]
            if ref:
                args += ["--branch", ref]
            _git.run(target.parent, *args, "--", url, str(target))
    except _git.GitFailed as error:
        if not (target / ".git").is_dir():
            shutil.rmtree(target, ignore_errors=True)
        problem = str(error).split(": ", 1)[-1]
        raise Unreachable(url=url, problem=problem) from error
    return target
