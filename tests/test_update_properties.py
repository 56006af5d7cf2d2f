"""Property test of `kit update`: random local work against random template releases.

Each scenario starts from a project generated at v1.0.0 of the tiny template set, makes random
local edits, additions and deletions in managed and seeded files, releases a random change of the
template (edits, appended lines, deleted and added files) and updates to it. Afterwards:

- every local change is still there, or inside conflict markers (edited lines, added files) or
  still absent (deleted files);
- the exit code is 3 exactly when conflict markers were left, and the reported conflicts are
  exactly the files with markers;
- ``kit update --abort`` restores the project byte for byte (files, HEAD, index).

The scenarios are seeded (the failure message names the seed) and run in two worker processes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from ._update_helpers import SVC_FILES, TINY_FILES, TinyTemplate, make_tiny, numbered, snapshot
from .conftest import git

SCENARIOS = int(os.environ.get("KIT_UPDATE_SCENARIOS", "200"))
WORKERS = 2
TWO_LAYERS_EVERY = 5
MARKERS = ("<<<<<<< before updating", ">>>>>>> after updating")
GITIGNORE = ".venv/\n.env\nvar/\n"
T = TypeVar("T")

# project path -> (layer, path of the template file)
BASE_FILES = {name.removesuffix(".jinja"): ("base", name) for name in TINY_FILES}
LAYER_FILES = {name: ("svc", name) for name in SVC_FILES}


@dataclass
class Expectation:
    tokens: dict[str, list[str]] = field(default_factory=dict)
    """Project path -> lines of local work that must still be in that file."""
    deleted: set[str] = field(default_factory=set)
    """Files the project deleted: they must stay deleted."""
    description: list[str] = field(default_factory=list)


def _edit_lines(path: Path, rng: random.Random, label: str) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    written = []
    if lines and rng.random() < 0.6:
        for number in rng.sample(range(1, len(lines)), k=min(len(lines) - 1, rng.randint(1, 3))):
            token = f"{label} line {number}"
            lines[number] = token + "\n"
            written.append(token)
    if rng.random() < 0.35:
        token = f"{label} appended"
        lines.append(token + "\n")
        written.append(token)
    path.write_text("".join(lines), encoding="utf-8")
    return written


def _change_template(template: TinyTemplate, rng: random.Random, files: dict[str, tuple[str, str]],
                     seed: int, notes: list[str]) -> set[str]:
    """A random release; returns the project paths it adds."""
    added = set()
    for relpath, (layer, source_name) in files.items():
        path = template.project_file(layer, source_name)
        if not path.exists():
            continue
        roll = rng.random()
        if roll < 0.12:
            path.unlink()
            notes.append(f"template deletes {relpath}")
        elif roll < 0.7 and _edit_lines(path, rng, f"TEMPLATE-{seed} {relpath}"):
            notes.append(f"template edits {relpath}")
    for _ in range(rng.choice((0, 0, 1, 2))):
        relpath = rng.choice(("NEWS.md", "machinery/extra.py", "docs/guide.md"))
        if relpath not in added:
            template.write(relpath, "".join(f"template {relpath} {n}\n" for n in range(5)))
            added.add(relpath)
            notes.append(f"template adds {relpath}")
    return added


def _change_project(project: Path, rng: random.Random, files: dict[str, tuple[str, str]], *,
                    template_adds: set[str], seed: int, expect: Expectation) -> None:
    for relpath in files:
        path = project / relpath
        roll = rng.random()
        if roll < 0.1:
            path.unlink()
            expect.deleted.add(relpath)
            expect.description.append(f"project deletes {relpath}")
        elif roll < 0.75:
            tokens = _edit_lines(path, rng, f"LOCAL-{seed} {relpath}")
            if tokens:
                expect.tokens[relpath] = tokens
                expect.description.append(f"project edits {relpath}")
    for _ in range(rng.choice((0, 1, 2))):
        candidates = ["local.txt", "machinery/local_plugin.py", *sorted(template_adds)]
        relpath = rng.choice(candidates)
        if relpath in expect.tokens:
            continue
        token = f"LOCAL-{seed} own file {relpath}"
        (project / relpath).parent.mkdir(parents=True, exist_ok=True)
        (project / relpath).write_text(token + "\n", encoding="utf-8")
        expect.tokens[relpath] = [token]
        expect.description.append(f"project adds {relpath}")


def _marked(project: Path) -> list[str]:
    found = []
    for path in project.rglob("*"):
        if ".git" in path.relative_to(project).parts or not path.is_file():
            continue
        lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
        if any(line.rstrip() in MARKERS for line in lines):
            found.append(path.relative_to(project).as_posix())
    return sorted(found)


def _prepared(seed: int, rng: random.Random, template: TinyTemplate, pristine: Path, project: Path, *,
              two_layers: bool, local_state: bool = False) -> tuple[str, Expectation]:
    """A random release of the template and random committed local work (with *local_state*:
    ignored ``.venv``, ``.env`` and ``var/`` as a running service has them)."""
    files = {**BASE_FILES, **(LAYER_FILES if two_layers else {})}
    git(template.path, "checkout", "-q", "--detach", "v1.0.0")
    notes: list[str] = []
    template_adds = _change_template(template, rng, files, seed, notes)
    tag = f"v2.{seed}.0"
    template.release(tag)
    shutil.copytree(pristine, project, symlinks=True)
    expect = Expectation(description=notes)
    _change_project(project, rng, files, template_adds=template_adds, seed=seed, expect=expect)
    if local_state:
        (project / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
    git(project, "add", "-A")
    git(project, "commit", "-q", "--allow-empty", "-m", "local work")
    if not local_state:
        return tag, expect
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "python").write_bytes(bytes(range(256)) * 4)
    (project / ".env").write_text(f"SECRET=seed-{seed}\n", encoding="utf-8")
    (project / "var").mkdir()
    return tag, expect


def _scenario(seed: int, template: TinyTemplate, pristine: Path, work: Path, two_layers: bool) -> str | None:  # noqa: PLR0911
    """Run one scenario; return a description of what went wrong, or None."""
    from kitcli.commands.update import UpdateOptions, abort, update

    rng = random.Random(seed)
    project = work / f"p{seed}"
    tag, expect = _prepared(seed, rng, template, pristine, project, two_layers=two_layers)
    before = snapshot(project)

    def problem(text: str) -> str:
        return f"seed {seed} ({'; '.join(expect.description)}): {text}"

    try:
        result = update(UpdateOptions(project=project, to=tag))
    except Exception as error:  # any exception is a finding of this test
        return problem(f"kit update raised {type(error).__name__}: {error}")
    for relpath, tokens in expect.tokens.items():
        path = project / relpath
        if not path.is_file():
            return problem(f"{relpath} with local work is gone")
        text = path.read_text(encoding="utf-8", errors="replace")
        missing = [token for token in tokens if token not in text]
        if missing:
            return problem(f"local work lost in {relpath}: {missing}")
    for relpath in expect.deleted:
        if (project / relpath).exists():
            return problem(f"{relpath}, deleted locally, came back")
    marked = _marked(project)
    if (result.exit_code == 3) != bool(marked):
        return problem(f"exit code {result.exit_code} but conflict markers in {marked}")
    if list(result.conflicts) != marked:
        return problem(f"reported conflicts {list(result.conflicts)}, markers in {marked}")
    abort(project)
    after = snapshot(project)
    if after != before:
        differing = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        return problem(f"--abort did not restore: {differing}")
    shutil.rmtree(project)
    return None


def _layers(root: Path) -> dict[bool, tuple[TinyTemplate, Path]]:
    """A tiny template and a project generated from it at v1.0.0, with one layer and with two."""
    from kitcli.cli import main

    layers = {}
    for two in (False, True):
        template = make_tiny(root / f"template-{two}", svc=two)
        pristine = root / f"pristine-{two}"
        assert main(["new", "svc" if two else "base", str(pristine), "--defaults", "--source", str(template.path)]) == 0
        layers[two] = (template, pristine)
    return layers


def _worker(args: tuple[list[int], str]) -> list[str]:
    seeds, root_text = args
    root = Path(root_text)
    layers = _layers(root)
    failures = []
    for seed in seeds:
        two = seed % TWO_LAYERS_EVERY == 0
        template, pristine = layers[two]
        failure = _scenario(seed, template, pristine, root, two)
        if failure:
            failures.append(failure)
    return failures


def test_random_local_work_survives_random_releases(tmp_path: Path) -> None:
    seeds = list(range(1, SCENARIOS + 1))
    chunks = [(seeds[i::WORKERS], str(tmp_path / f"worker{i}")) for i in range(WORKERS)]
    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        results = pool.map(_worker, chunks)
    failures = [failure for chunk in results for failure in chunk]
    assert not failures, f"{len(failures)} of {len(seeds)} scenarios failed:\n" + "\n".join(failures[:10])


@pytest.mark.parametrize("seed", [3, 10])
def test_one_scenario_in_process(seed: int, tmp_path: Path) -> None:
    """The same scenario in the test process, for debugging a failing seed with a debugger."""
    root = tmp_path
    two = seed % TWO_LAYERS_EVERY == 0
    template = make_tiny(root / "template", svc=two)
    pristine = root / "pristine"
    from kitcli.cli import main

    assert main(["new", "svc" if two else "base", str(pristine), "--defaults", "--source", str(template.path)]) == 0
    assert _scenario(seed, template, pristine, root, two) is None


# --- the same, with a SIGKILL at a random moment and a live database ------------------------------

KILL_SCENARIOS = int(os.environ.get("KIT_KILL_SCENARIOS", "200"))


@dataclass
class Database:
    """A running service's SQLite database in ``var/`` (WAL mode), written while kit update runs."""

    path: Path
    written: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def write_until_stopped(self) -> None:
        with sqlite3.connect(self.path) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("CREATE TABLE IF NOT EXISTS submission (id INTEGER PRIMARY KEY, body TEXT)")
            connection.commit()
            while not self.stop.is_set():
                self.written += 1
                connection.execute("INSERT INTO submission (body) VALUES (?)", (f"application {self.written}",))
                connection.commit()
                time.sleep(0.005)
        connection.close()

    def rows(self) -> int:
        with sqlite3.connect(self.path) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            count = int(connection.execute("SELECT count(*) FROM submission").fetchone()[0])
        connection.close()
        return count


def _ignored_state(project: Path) -> dict[str, bytes]:
    return {path.relative_to(project).as_posix(): path.read_bytes()
            for path in [*sorted((project / ".venv").rglob("*")), project / ".env"] if path.is_file()}


def _recover(project: Path, tag: str, then: str) -> str | None:
    """After the kill: rerun the update (then abort it) or abort at once; what went wrong, or None."""
    from kitcli._errors import UserError
    from kitcli.commands.update import UpdateOptions, abort, update

    marker = project / ".git" / "kit-update.json"
    if then == "rerun":
        begun = marker.exists()
        try:
            result = _unless_busy(lambda: update(UpdateOptions(project=project, to=tag)))
        except UserError as error:
            if not begun:
                return f"the rerun was refused although no update had begun: {error}"
        else:
            if begun and result.action != "up-to-date":
                return "the rerun went ahead over an interrupted or uncommitted update"
            marked = _marked(project)
            if (result.exit_code == 3) != bool(marked):
                return f"exit code {result.exit_code} but conflict markers in {marked}"
    if marker.exists():
        _unless_busy(lambda: abort(project))
    return None


def _unless_busy(run: Callable[[], T]) -> T:
    """*run*, again after a moment while the lock is busy. Seen about once in 400 kills before the
    kit waited for locks of dead holders (`kitcli._lock.DEAD_HOLDER_GRACE`): for a moment after the
    SIGKILL, a child the killed kit was starting still held its lock. The kit now waits for that;
    this retry only keeps a machine that is slower still from failing the test."""
    from kitcli._errors import Busy

    for _ in range(20):
        try:
            return run()
        except Busy:
            time.sleep(0.1)
    return run()


def _forked_update(project: Path, tag: str) -> tuple[int, int]:
    """A child process, forked from this worker (the kit and Copier already imported, so it
    starts in a millisecond), that runs `kit update` once it reads from the returned pipe."""
    from kitcli.cli import main

    go_read, go_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 70
        try:
            os.close(go_write)
            os.read(go_read, 2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            code = main(["update", str(project), "--to", tag])
        finally:
            os._exit(code)
    os.close(go_read)
    return pid, go_write


def _kill_scenario(seed: int, layer: tuple[TinyTemplate, Path], work: Path, *, two_layers: bool,
                   duration: float, phases: dict[str, int]) -> str | None:
    """One killed update; return a description of what went wrong, or None. *phases* counts
    where the kill landed: before the update began, while it ran, after it finished."""
    rng = random.Random(seed * 7919)
    project = work / f"k{seed}"
    tag, expect = _prepared(seed, rng, *layer, project, two_layers=two_layers, local_state=True)
    ignored = _ignored_state(project)
    before = snapshot(project)
    database = Database(project / "var" / "service.db")
    writer = threading.Thread(target=database.write_until_stopped)
    # One kill in five early (before or as the update begins), the others anywhere in it.
    delay = duration * (rng.uniform(0.0, 0.1) if rng.random() < 0.2 else rng.uniform(0.0, 1.2))
    then = rng.choice(("abort", "rerun"))
    pid, go = _forked_update(project, tag)  # before the writer thread starts: fork no threads
    writer.start()
    try:
        os.write(go, b"go")
        os.close(go)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        marker = project / ".git" / "kit-update.json"
        phase = json.loads(marker.read_text(encoding="utf-8"))["state"] if marker.exists() else "not begun"
        phases[phase] = phases.get(phase, 0) + 1
        found = _recover(project, tag, then)
    except Exception as error:  # any exception is a finding of this test
        found = f"{type(error).__name__}: {error}"
    finally:
        database.stop.set()
        writer.join()
    if found is None:
        after = snapshot(project)
        differing = sorted(k for k in before.keys() | after.keys()
                           if before.get(k) != after.get(k) and not k.startswith("var/"))
        if differing:
            found = f"not restored byte for byte: {differing}"
        elif _ignored_state(project) != ignored:
            found = "ignored files (.venv, .env) changed"
        elif database.rows() != database.written:
            found = f"the database lost {database.written - database.rows()} of {database.written} submissions"
    if found is not None:
        return f"kill seed {seed} (after {delay:.2f}s, then {then}; {'; '.join(expect.description)}): {found}"
    shutil.rmtree(project)
    return None


def _kill_worker(args: tuple[list[int], str]) -> tuple[list[str], dict[str, int]]:
    seeds, root_text = args
    root = Path(root_text)
    layers = _layers(root)
    # How long one update takes on this machine, so that the kills spread over all of it.
    template, pristine = layers[True]
    timed = root / "timed"
    shutil.copytree(pristine, timed, symlinks=True)
    template.write("ci.yml", numbered("ci") + "timed\n")
    template.release("v1.9.0")
    pid, go = _forked_update(timed, "v1.9.0")
    started = time.monotonic()
    os.write(go, b"go")
    os.close(go)
    _, status = os.waitpid(pid, 0)
    duration = time.monotonic() - started
    assert os.waitstatus_to_exitcode(status) == 0
    failures = []
    phases: dict[str, int] = {}
    for seed in seeds:
        two = seed % 2 == 0
        failure = _kill_scenario(seed, layers[two], root, two_layers=two, duration=duration, phases=phases)
        if failure:
            failures.append(failure)
    return failures, phases


def test_killed_updates_lose_nothing(tmp_path: Path) -> None:
    """SIGKILL at a random moment of kit update, a database written all the while, then --abort
    or a rerun: no byte of local work lost, tracked files restored byte for byte."""
    seeds = list(range(1, KILL_SCENARIOS + 1))
    chunks = [(seeds[i::WORKERS], str(tmp_path / f"worker{i}")) for i in range(WORKERS)]
    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        results = pool.map(_kill_worker, chunks)
    failures = [failure for chunk, _ in results for failure in chunk]
    phases = {phase: sum(counts.get(phase, 0) for _, counts in results) for phase in ("not begun", "running",
                                                                                       "finished")}
    assert sum(phases.values()) == len(seeds)
    if len(seeds) >= 50:  # the kills must land in every phase, or the test proves less than it says
        assert all(phases.values()), phases
    assert not failures, f"{len(failures)} of {len(seeds)} scenarios failed:\n" + "\n".join(failures[:10])
