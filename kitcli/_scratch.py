"""Scratch directories that a killed kit leaves behind are removed by the next kit.

Every scratch directory the kit makes is named ``kit-<purpose>-<pid>-<random>`` and holds an
``.owner`` stamp with the creating process's PID and start time. :func:`sweep` removes those
whose owner is gone (a SIGKILL runs no ``finally``), so TMPDIR, and the few places where the
kit must stage beside a destination, never fill up with half-rendered projects.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

PREFIX = "kit-"
STAMP = ".kit-owner"


def _start_time(pid: int) -> str | None:
    """The start time of process *pid* in clock ticks since boot (Linux), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None if not _alive(pid) else ""
    # Field 22, counted after the parenthesised command name (which may contain spaces).
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _own_stamp() -> str:
    return f"{os.getpid()} {_start_time(os.getpid()) or ''}"


def owner_alive(stamp: str) -> bool:
    """Whether the process a stamp (``"<pid> <start time>"``) names still runs (and is that process)."""
    pid_text, _, started = stamp.strip().partition(" ")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    now = _start_time(pid)
    if now is None:
        return False
    return not started or not now or now == started


def make(purpose: str, *, parent: Path | None = None) -> Path:
    """A new scratch directory for *purpose*, in *parent* (default: the system temp directory)."""
    base = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{purpose}-{os.getpid()}-", dir=base))
    (path / STAMP).write_text(_own_stamp(), encoding="ascii")
    return path


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def directory(purpose: str, *, parent: Path | None = None) -> Iterator[Path]:
    """A scratch directory that is removed when the block ends, however it ends."""
    path = make(purpose, parent=parent)
    try:
        yield path
    finally:
        remove(path)


def sweep(parent: Path | None = None) -> list[Path]:
    """Remove the scratch directories in *parent* whose owning process is gone; return them."""
    base = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    removed: list[Path] = []
    try:
        candidates = [entry for entry in base.iterdir() if entry.name.startswith(PREFIX)]
    except OSError:
        return removed
    for entry in candidates:
        if entry.is_symlink() or not entry.is_dir():
            continue
        try:
            stamp = (entry / STAMP).read_text(encoding="ascii")
        except OSError:
            continue  # not ours, or still being created: leave it
        if not owner_alive(stamp):
            remove(entry)
            removed.append(entry)
    return removed
