"""Scratch directories that a killed kit leaves behind are removed by the next kit.

Every scratch directory the kit makes is named ``kit-<purpose>-<pid>-<random>`` and holds an
``.owner`` stamp with the creating process's PID and start time. :func:`sweep` removes those
whose owner is gone (a SIGKILL runs no ``finally``), so TMPDIR, and the few places where the
kit must stage beside a destination, never fill up with half-rendered projects.

:func:`guarded` goes further for the commands that must leave nothing behind even when killed
(``kit new``): it starts a *reaper*, a tiny detached process that holds the read end of a pipe
whose write end only the kit holds. However the kit ends, the kernel closes that end; the reaper
then removes whatever scratch directory of this run still exists, and exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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


def system_tmp() -> Path:
    """The temporary directory as :mod:`tempfile` chooses it, but without its write probe when
    TMPDIR names one: that probe is a file a kill at the wrong moment would leave behind."""
    if tempfile.tempdir is None:
        for name in ("TMPDIR", "TEMP", "TMP"):
            value = os.environ.get(name)
            if value and Path(value).is_dir():
                tempfile.tempdir = value
                break
    return Path(tempfile.gettempdir())


def make(purpose: str, *, parent: Path | None = None) -> Path:
    """A new scratch directory for *purpose*, in *parent* (default: the system temp directory)."""
    base = Path(parent) if parent is not None else system_tmp()
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
    base = Path(parent) if parent is not None else system_tmp()
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


# Run with ``python -I -S -c``: no site, no kit, just the standard library; forks once so that the
# kit need not wait for it, and leaves the kit's session so that Ctrl-C or a killed process group
# does not take it along.
_REAPER = """
import fcntl, json, os, shutil, sys, time
fd, watched = int(sys.argv[1]), json.loads(sys.argv[2])
if os.fork():
    os._exit(0)
os.setsid()
while os.read(fd, 4096):
    pass
for attempt in range(100):  # a git the kit started may outlive it for a moment and still write
    left = False
    for parent, prefix in watched["directories"]:
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for name in names:
            path = os.path.join(parent, name)
            if name.startswith(prefix) and os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
                left = left or os.path.lexists(path)
    if not left:
        break
    time.sleep(0.1)
for path in watched["locks"]:  # removed the way a holder removes it: only while holding it
    for attempt in range(100):  # a child the kit was starting may hold it between fork and exec
        try:
            lock = os.open(path, os.O_RDWR)
        except OSError:
            break
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(lock)
            time.sleep(0.05)
            continue
        try:
            if os.stat(path).st_ino == os.fstat(lock).st_ino:
                os.unlink(path)
        except OSError:
            pass
        os.close(lock)
        break
"""


@dataclass(frozen=True)
class Guarded:
    """The scratch space of one guarded run: :attr:`root` in TMPDIR, more beside a destination."""

    root: Path
    purpose: str

    def beside(self, directory: Path) -> Path:
        """A scratch directory in *directory* (watched by the same reaper)."""
        return make(self.purpose, parent=directory)


@contextlib.contextmanager
def guarded(purpose: str, *, beside: Path | None = None, locks: Sequence[Path] = ()) -> Iterator[Guarded]:
    """Scratch space that nothing outlives: removed at the end of the block, and by a reaper
    process if the kit is killed. Library code that makes its own temporary directories (Copier's
    template clones) makes them inside :attr:`Guarded.root` for the duration of the block.

    Leftovers of earlier killed runs in TMPDIR (and in *beside*) are swept first. The lock files
    in *locks* (held by the caller) are removed by the reaper too, when nobody holds them.
    """
    tmp = system_tmp()
    sweep(tmp)
    if beside is not None:
        sweep(beside)
    unique = f"{purpose}-{secrets.token_hex(4)}"
    prefix = f"{PREFIX}{unique}-"
    directories = [[str(tmp), prefix]]
    if beside is not None:
        directories.append([str(beside), prefix])
    watched = json.dumps({"directories": directories, "locks": [str(path) for path in locks]})
    read_end, write_end = os.pipe()
    try:
        starter = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _REAPER, str(read_end), watched],
            pass_fds=(read_end,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        starter.wait()
    finally:
        os.close(read_end)
    try:
        root = make(unique, parent=tmp)
        saved = tempfile.tempdir
        tempfile.tempdir = str(root)
        try:
            yield Guarded(root=root, purpose=unique)
        finally:
            tempfile.tempdir = saved
            remove(root)
    finally:
        os.close(write_end)
