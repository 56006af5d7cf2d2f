"""Faults and concurrency: one writer at a time, and a killed `kit new` leaves nothing behind.

The processes here are real: `kit` runs as a subprocess and is killed with SIGKILL at seeded
moments, two of them race for one destination, and a lock is held by another live process.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kitcli.cli import main

from ._update_helpers import TinyTemplate, make_tiny, numbered, snapshot

KILLS = int(os.environ.get("KIT_NEW_KILLS", "12"))


def kit(*args: str) -> int:
    return main(list(args))


def _kit_process(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "kitcli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env, text=True)


def _finish(processes: list[subprocess.Popen[str]]) -> tuple[list[int], list[str]]:
    """Wait for every process; their exit codes and stderr."""
    outputs = [process.communicate()[1] for process in processes]
    return [process.returncode for process in processes], outputs


@pytest.fixture
def tiny(tmp_path: Path) -> TinyTemplate:
    return make_tiny(tmp_path / "template")


@pytest.fixture
def other_filesystem_tmp(tmp_path: Path) -> Iterator[Path]:
    """A TMPDIR on another file system than the destinations (tmpfs), when the machine has one."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second file system (/dev/shm) to put TMPDIR on")
    path = shm / f"kit-test-{os.getpid()}-{tmp_path.name}"
    path.mkdir()
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def _wait_until(condition: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if ".git" not in p.relative_to(root).parts}


# --- kit new under SIGKILL -----------------------------------------------------------------------


@pytest.mark.parametrize("tmpdir_kind", ["same-file-system", "other-file-system"])
def test_killed_new_leaves_no_half_project_and_no_scratch(tmpdir_kind: str, tiny: TinyTemplate, tmp_path: Path,
                                                          request: pytest.FixtureRequest) -> None:
    scratch_tmp = tmp_path / "tmp" if tmpdir_kind == "same-file-system" else request.getfixturevalue(
        "other_filesystem_tmp")
    scratch_tmp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(scratch_tmp)}
    reference = tmp_path / "reference"
    assert kit("new", "base", str(reference), "--defaults", "--source", str(tiny.path)) == 0
    expected = _files(reference)
    started = time.monotonic()
    process = _kit_process("new", "base", str(tmp_path / "timed"), "--defaults", "--source", str(tiny.path), env=env)
    assert _finish([process])[0] == [0]
    duration = time.monotonic() - started
    rng = random.Random(20261202)
    outcomes = {"complete": 0, "absent": 0}
    for n in range(KILLS):
        parent = tmp_path / f"run{n}"
        parent.mkdir()
        dest = parent / "deep" / "demo"
        process = _kit_process("new", "base", str(dest), "--defaults", "--source", str(tiny.path), env=env)
        time.sleep(rng.uniform(0.05, duration * 1.25))
        process.kill()
        process.communicate()
        assert _wait_until(lambda: not any(scratch_tmp.iterdir())), (
            f"kill {n}: scratch left in TMPDIR: {sorted(p.name for p in scratch_tmp.iterdir())}")
        assert _wait_until(lambda p=parent, d=dest: _files(p) <= {"deep", "deep/demo", *(
            f"deep/demo/{f}" for f in _files(d))} if d.exists() else not any(
            e.name.startswith("kit-") for e in p.rglob("*"))), f"kill {n}: scratch beside DEST: {_files(parent)}"
        if dest.exists():
            assert _files(dest) == expected, f"kill {n}: half a project in {dest}"
            outcomes["complete"] += 1
        else:
            outcomes["absent"] += 1
    assert sum(outcomes.values()) == KILLS


def test_two_new_on_one_destination_one_wins(tiny: TinyTemplate, tmp_path: Path) -> None:
    dest = tmp_path / "demo"
    processes = [_kit_process("new", "base", str(dest), "--defaults", "--source", str(tiny.path)) for _ in range(2)]
    codes, errors = _finish(processes)
    assert sorted(codes) == [0, 2], errors
    loser = errors[codes.index(2)]
    assert len(loser.strip().splitlines()) == 1, loser
    assert "Traceback" not in loser
    assert "is in use by" in loser or "not empty" in loser
    assert (dest / ".copier-answers.base.yml").is_file()
    assert (dest / ".git").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo", "template"]


# --- one writer at a time ------------------------------------------------------------------------

HOLDER = """
import sys, time
from pathlib import Path
from kitcli import _lock
with _lock.project(Path(sys.argv[1]), command=sys.argv[2]):
    print("held", flush=True)
    time.sleep(120)
"""


@contextlib.contextmanager
def _held_by_another_process(project: Path, command: str) -> Iterator[int]:
    """Another live process holds the project's lock for the block; yields its PID."""
    with subprocess.Popen([sys.executable, "-c", HOLDER, str(project), command], stdout=subprocess.PIPE,
                          text=True) as holder:
        assert holder.stdout is not None
        try:
            assert holder.stdout.readline().strip() == "held"
            yield holder.pid
        finally:
            holder.kill()


def _released(project: Path, tiny: TinyTemplate) -> Path:
    tiny.write("ci.yml", numbered("ci") + "released\n")
    tiny.release("v1.1.0")
    return project


@pytest.mark.parametrize(("argv", "holder_command"), [
    pytest.param(["update", "{P}"], "kit update", id="update-while-update"),
    pytest.param(["update", "{P}", "--abort"], "kit update", id="abort-while-update"),
    pytest.param(["update", "{P}"], "kit update --abort", id="update-while-abort"),
    pytest.param(["update", "{P}"], "kit fleet update", id="update-while-fleet-update"),
    pytest.param(["update", "{P}"], "kit adopt", id="update-while-adopt"),
])
def test_second_writer_is_refused(argv: list[str], holder_command: str, tiny: TinyTemplate, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "p"
    assert kit("new", "base", str(project), "--defaults", "--source", str(tiny.path)) == 0
    _released(project, tiny)
    before = snapshot(project)
    with _held_by_another_process(project, holder_command) as pid:
        capsys.readouterr()
        assert kit(*(arg.replace("{P}", str(project)) for arg in argv)) == 2
        err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert f"in use by process {pid} ({holder_command})" in err
    assert "run this again" in err
    assert snapshot(project) == before


def test_fleet_update_reports_a_busy_project_as_an_error_row(tiny: TinyTemplate, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "p"
    assert kit("new", "base", str(project), "--defaults", "--source", str(tiny.path)) == 0
    _released(project, tiny)
    before = snapshot(project)
    with _held_by_another_process(project, "kit update") as pid:
        capsys.readouterr()
        assert kit("fleet", "update", str(project), "--branch", "kit/up", "--json") == 1
        out = capsys.readouterr().out
    [row] = json.loads(out)["projects"]
    assert row["outcome"] == "error"
    assert f"in use by process {pid} (kit update)" in row["message"]
    assert snapshot(project) == before


def test_adopt_is_refused_while_an_update_holds_the_project(tmp_path: Path, tiny: TinyTemplate,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "p"
    assert kit("new", "base", str(project), "--defaults", "--source", str(tiny.path)) == 0
    (project / ".copier-answers.base.yml").unlink()
    subprocess.run(["git", "commit", "-qam", "unlink"], cwd=project, check=True)
    before = snapshot(project)
    with _held_by_another_process(project, "kit update") as pid:
        capsys.readouterr()
        assert kit("adopt", str(project), "-t", "base", "--defaults", "--source", str(tiny.path)) == 2
        err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert f"in use by process {pid}" in err
    assert snapshot(project) == before


def test_lock_of_a_killed_process_is_taken_over(tiny: TinyTemplate, tmp_path: Path) -> None:
    project = tmp_path / "p"
    assert kit("new", "base", str(project), "--defaults", "--source", str(tiny.path)) == 0
    _released(project, tiny)
    with _held_by_another_process(project, "kit update"):
        pass  # the holder is killed at the end of the block
    assert (project / ".git" / "kit.lock").exists()  # the file stays; the kernel dropped the lock
    assert kit("update", str(project), "--commit") == 0
    assert "released" in (project / "ci.yml").read_text(encoding="utf-8")


def test_two_concurrent_updates_never_mix_versions(tmp_path: Path) -> None:
    template = make_tiny(tmp_path / "template", svc=True)
    project = tmp_path / "p"
    assert kit("new", "svc", str(project), "--defaults", "--source", str(template.path)) == 0
    template.write("ci.yml", numbered("ci") + "base 1.1\n")
    template.write("extra/service.py", numbered("# service") + "svc 1.1\n", template="svc")
    template.release("v1.1.0")
    processes = [_kit_process("update", str(project), "--commit") for _ in range(2)]
    codes, errors = _finish(processes)
    assert sorted(codes) in ([0, 0], [0, 2]), errors  # the second either waits its turn (up to date) or is refused
    if sorted(codes) == [0, 2]:
        assert any("is in use by" in text for text in errors), errors
    versions = {path.name: path.read_text(encoding="utf-8") for path in project.glob(".copier-answers.*.yml")}
    assert len(versions) == 2
    assert all("_commit: v1.1.0" in text for text in versions.values()), versions
    assert subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True,
                          check=True).stdout == ""


# --- small promises ------------------------------------------------------------------------------


def test_update_data_at_the_newest_release_applies_the_answer(tiny: TinyTemplate, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "p"
    assert kit("new", "base", str(project), "--defaults", "--source", str(tiny.path)) == 0
    assert (project / "README.md").read_text(encoding="utf-8").startswith("# demo\n")
    assert kit("update", str(project), "--data", "name=Hundesteuer", "--commit") == 0
    assert (project / "README.md").read_text(encoding="utf-8").startswith("# Hundesteuer\n")
    assert "name: Hundesteuer" in (project / ".copier-answers.base.yml").read_text(encoding="utf-8")
    assert "_commit: v1.0.0" in (project / ".copier-answers.base.yml").read_text(encoding="utf-8")
    before = snapshot(project)
    capsys.readouterr()
    assert kit("update", str(project), "--data", "name=Hundesteuer") == 0
    err = capsys.readouterr().err
    assert "--data name: the project already has these answers, so there is nothing to change" in err
    assert snapshot(project) == before


@pytest.mark.parametrize(("environment", "author", "committer"), [
    pytest.param({"GIT_AUTHOR_NAME": "Renovate Bot", "GIT_AUTHOR_EMAIL": "bot@renovateapp.com",
                  "GIT_COMMITTER_NAME": "CI", "GIT_COMMITTER_EMAIL": "ci@example.org"},
                 "Renovate Bot <bot@renovateapp.com>", "CI <ci@example.org>", id="all-four"),
    pytest.param({"GIT_AUTHOR_NAME": "Anna Admin"}, "Anna Admin <kit@localhost>", "kommunal-kit <kit@localhost>",
                 id="author-name-only"),
    pytest.param({}, "kommunal-kit <kit@localhost>", "kommunal-kit <kit@localhost>", id="none-fallback"),
])
def test_commits_honour_the_git_identity_from_the_environment(  # noqa: PLR0917 (parametrize and fixtures)
        environment: dict[str, str], author: str, committer: str, tiny: TinyTemplate, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _released(tmp_path, tiny)  # v1.1.0, committed with the test's identity
    no_identity = tmp_path / "gitconfig"
    no_identity.write_text("[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n", encoding="utf-8")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(no_identity))
    for name in ("EMAIL", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    project = tmp_path / "p"
    assert kit("new", "base", str(project), "--defaults", "--source", str(tiny.path), "--vcs-ref", "v1.0.0") == 0
    assert kit("update", str(project), "--commit") == 0
    log = subprocess.run(["git", "log", "--format=%an <%ae>|%cn <%ce>"], cwd=project, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert log == [f"{author}|{committer}"] * 2


@pytest.mark.parametrize(("damage", "reason"), [
    pytest.param("source-gone", "the template source of layer 'base' cannot be read", id="source-gone"),
    pytest.param("objects-gone", "its git repository is damaged", id="object-store-corrupt"),
])
def test_fleet_status_reports_a_broken_project_as_an_error_row(damage: str, reason: str, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    tiny = make_tiny(tmp_path / "template")
    project = tmp_path / "p"
    assert kit("new", "base", str(project), "--defaults", "--source", str(tiny.path)) == 0
    if damage == "source-gone":
        subprocess.run(["rm", "-rf", str(tiny.path)], check=True)
    else:
        for directory in (project / ".git" / "objects").glob("??"):
            subprocess.run(["rm", "-rf", str(directory)], check=True)
    capsys.readouterr()
    assert kit("fleet", "status", str(project), "--format", "json", "--no-check") == 1
    [row] = json.loads(capsys.readouterr().out)["projects"]
    assert row["status"] == "error"
    assert reason in row["error"]
    assert kit("fleet", "status", str(project), "--no-check") == 1
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[-2:] == ["STATUS", "PATH"]
    assert table[1].split()[-2:] == ["error", str(project)]
    assert reason in table[2]


def test_next_run_sweeps_scratch_left_by_a_killed_run(tiny: TinyTemplate, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    scratch_tmp = tmp_path / "tmp"
    scratch_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch_tmp))
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = scratch_tmp / f"kit-new-0a1b2c3d-{dead.pid}-x7"
    (leftover / "copier._vcs.clone.abc").mkdir(parents=True)
    (leftover / ".kit-owner").write_text(f"{dead.pid} 1", encoding="ascii")
    not_ours = scratch_tmp / "kit-something-else"
    not_ours.mkdir()  # no owner stamp: left alone
    alive = scratch_tmp / f"kit-update-0a1b2c3d-{os.getpid()}-y8"
    alive.mkdir()
    from kitcli import _scratch

    (alive / ".kit-owner").write_text(_scratch._own_stamp(), encoding="ascii")
    assert kit("new", "base", str(tmp_path / "p"), "--defaults", "--source", str(tiny.path)) == 0
    assert sorted(path.name for path in scratch_tmp.iterdir()) == sorted([not_ours.name, alive.name])


def test_killed_update_leaves_no_template_clone_in_tmpdir(tiny: TinyTemplate, tmp_path: Path) -> None:
    project = tmp_path / "p"
    assert kit("new", "base", str(project), "--defaults", "--source", str(tiny.path)) == 0
    for n in range(20):
        tiny.write(f"machinery/many/file{n}.py", numbered(f"# {n}"))
    tiny.release("v1.1.0")
    scratch_tmp = tmp_path / "tmp"
    scratch_tmp.mkdir()
    marker = project / ".git" / "kit-update.json"
    process = _kit_process("update", str(project), env={**os.environ, "TMPDIR": str(scratch_tmp)})
    assert _wait_until(lambda: marker.exists() or process.poll() is not None, 60)
    time.sleep(0.05)
    process.kill()
    process.communicate()
    assert _wait_until(lambda: not any(scratch_tmp.iterdir())), sorted(p.name for p in scratch_tmp.iterdir())
    assert kit("update", str(project), "--abort") == 0
