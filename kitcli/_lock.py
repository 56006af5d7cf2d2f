"""One writer at a time: an advisory lock on a project (or a destination's parent).

The lock is ``fcntl.flock`` on a file, which the kernel releases when its holder dies, however it
dies: a lock left by a killed process is therefore taken over without any guessing. The file
holds the holder's PID and command, which the refusal names.

A process may nest :func:`hold` on the same file (``kit fleet update`` holds a project's lock
and calls the update, which takes it too): flock locks belong to an open file, so a second
open in the same process would refuse its own holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from . import _git, _scratch
from ._errors import Busy

LOCK_NAME = "kit.lock"
DEAD_HOLDER_GRACE = 2.0
"""Seconds to wait for a lock whose recorded holder is dead, before calling it busy."""
_local = threading.local()


@contextlib.contextmanager
def hold(lock_file: Path, *, command: str, subject: object) -> Iterator[None]:
    """Hold the lock in *lock_file* for the block; raise :class:`Busy` naming the holder if taken.

    The holder removes the file when it is done (a killed holder leaves it, unlocked). Whoever
    locked a file that was removed meanwhile opens the new one instead.
    """
    key = lock_file.absolute()
    held: set[Path] = _local.__dict__.setdefault("held", set())
    if key in held:
        yield
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(lock_file, command=command, subject=subject)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {command}\n".encode(), 0)
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
            with contextlib.suppress(OSError):
                lock_file.unlink()
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(lock_file: Path, *, command: str, subject: object) -> int:
    deadline = time.monotonic() + DEAD_HOLDER_GRACE
    while True:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, holder = _holder(fd)
            os.close(fd)
            if pid is not None and not _scratch.owner_alive(str(pid)) and time.monotonic() < deadline:
                # The holder was killed a moment ago, while a child it was starting still had
                # the lock open between fork and exec: that ends in an instant.
                time.sleep(0.02)
                continue
            raise Busy(path=subject, pid=pid, command=holder or command) from None
        try:
            same = lock_file.stat().st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the previous holder removed it after we opened it: take the new one


def project(path: Path, *, command: str) -> contextlib.AbstractContextManager[None]:
    """The lock of the git repository at *path* (in its git directory, so never committed)."""
    return hold(_git.git_dir(path) / LOCK_NAME, command=command, subject=path)


def _holder(fd: int) -> tuple[int | None, str]:
    text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
    pid_text, _, command = text.partition(" ")
    try:
        return int(pid_text), command
    except ValueError:
        return None, command
