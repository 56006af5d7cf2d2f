"""`kit update`: clean updates, conflicts, dry runs, abort, new questions, layers and every bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import yaml

from kitcli.cli import main

from ._update_helpers import TinyTemplate, make_tiny, numbered, snapshot
from .conftest import git


def kit(*args: str) -> int:
    return main(list(args))


@pytest.fixture
def tiny(tmp_path: Path) -> TinyTemplate:
    return make_tiny(tmp_path / "template")


@pytest.fixture
def tiny_svc(tmp_path: Path) -> TinyTemplate:
    return make_tiny(tmp_path / "template-svc", svc=True)


def generate(template: TinyTemplate, dest: Path, name: str = "base", *extra: str) -> Path:
    assert kit("new", name, str(dest), "--defaults", "--source", str(template.path), *extra) == 0
    return dest


def commit_all(project: Path, message: str = "local work") -> None:
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", message)


def edit_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[number - 1] = text + "\n"
    path.write_text("".join(lines), encoding="utf-8")


def recorded_commit(project: Path, layer: str = "base") -> str:
    data = yaml.safe_load((project / f".copier-answers.{layer}.yml").read_text(encoding="utf-8"))
    return str(data["_commit"])


def test_clean_update_keeps_local_edits_and_abort_restores(
    tiny: TinyTemplate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = generate(tiny, tmp_path / "p")
    edit_line(project / "ci.yml", 2, "ci: local change")
    commit_all(project)
    before = snapshot(project)
    tiny.write("ci.yml", numbered("ci").replace("ci line 18", "ci: template change"))
    tiny.write("NEW.md", "new in v1.1.0\n")
    tiny.release("v1.1.0")
    capsys.readouterr()

    assert kit("update", str(project), "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["action"] == "updated"
    assert result["conflicts"] == []
    assert {f["path"]: f["status"] for f in result["files"]} == {
        ".copier-answers.base.yml": "changed", "NEW.md": "added", "ci.yml": "changed",
    }
    text = (project / "ci.yml").read_text(encoding="utf-8")
    assert "ci: local change" in text
    assert "ci: template change" in text
    assert recorded_commit(project) == "v1.1.0"

    assert kit("update", str(project), "--abort") == 0
    assert snapshot(project) == before
    assert not (project / ".git" / "kit-update.json").exists()


def test_conflict_exits_3_leaves_markers_unmerged_and_abort_restores(
    tiny: TinyTemplate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = generate(tiny, tmp_path / "p")
    edit_line(project / "LICENSE", 5, "licence: local wording")
    commit_all(project)
    before = snapshot(project)
    tiny.write("LICENSE", numbered("licence").replace("licence line 5", "licence: new wording"))
    tiny.release("v1.1.0")
    capsys.readouterr()

    assert kit("update", str(project)) == 3
    out = capsys.readouterr().out
    assert "LICENSE" in out
    assert "conflict" in out
    text = (project / "LICENSE").read_text(encoding="utf-8")
    assert "<<<<<<< before updating" in text
    assert ">>>>>>> after updating" in text
    assert "licence: local wording" in text
    assert "licence: new wording" in text
    assert git(project, "diff", "--name-only", "--diff-filter=U").split() == ["LICENSE"]

    # a second update is refused while the conflict is unresolved
    assert kit("update", str(project)) == 2
    assert "LICENSE" in capsys.readouterr().err

    assert kit("update", str(project), "--abort") == 0
    assert snapshot(project) == before


def test_commit_names_each_template_and_version(tiny_svc: TinyTemplate, tmp_path: Path) -> None:
    project = generate(tiny_svc, tmp_path / "p", "svc")
    tiny_svc.write("ci.yml", numbered("ci") + "ci: appended\n")
    tiny_svc.write("extra/service.py", numbered("# service") + "# appended\n", template="svc")
    tiny_svc.release("v1.1.0")

    assert kit("update", str(project), "--commit") == 0
    assert git(project, "status", "--porcelain") == ""
    message = git(project, "log", "-1", "--format=%B")
    assert "base v1.0.0 -> v1.1.0" in message
    assert "svc v1.0.0 -> v1.1.0" in message
    assert len(git(project, "log", "--format=%H").split()) == 2
    assert recorded_commit(project, "base") == recorded_commit(project, "svc") == "v1.1.0"
    assert (project / "extra" / "service.py").read_text(encoding="utf-8").endswith("# appended\n")
    # the commit can be undone as a whole, too
    assert kit("update", str(project), "--abort") == 0
    assert len(git(project, "log", "--format=%H").split()) == 1
    assert recorded_commit(project) == "v1.0.0"


def test_commit_is_skipped_when_conflicts_are_left(tiny: TinyTemplate, tmp_path: Path) -> None:
    project = generate(tiny, tmp_path / "p")
    edit_line(project / "ci.yml", 3, "ci: mine")
    commit_all(project)
    tiny.write("ci.yml", numbered("ci").replace("ci line 3", "ci: theirs"))
    tiny.release("v1.1.0")
    assert kit("update", str(project), "--commit") == 3
    assert len(git(project, "log", "--format=%H").split()) == 2


def test_conflicts_in_two_layers_stay_unmerged(tiny_svc: TinyTemplate, tmp_path: Path) -> None:
    project = generate(tiny_svc, tmp_path / "p", "svc")
    edit_line(project / "ci.yml", 3, "ci: mine")
    edit_line(project / "extra" / "service.py", 3, "# service: mine")
    commit_all(project)
    before = snapshot(project)
    tiny_svc.write("ci.yml", numbered("ci").replace("ci line 3", "ci: theirs"))
    tiny_svc.write("extra/service.py", numbered("# service").replace("line 3", "theirs"), template="svc")
    tiny_svc.release("v1.1.0")
    assert kit("update", str(project)) == 3
    assert git(project, "diff", "--name-only", "--diff-filter=U").split() == ["ci.yml", "extra/service.py"]
    assert git(project, "rev-parse", "HEAD").strip() == before[":HEAD"]  # no temporary commit left
    assert kit("update", str(project), "--abort") == 0
    assert snapshot(project) == before


def test_dry_run_lists_every_kind_of_change_and_writes_nothing(
    tiny: TinyTemplate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = generate(tiny, tmp_path / "p")
    edit_line(project / "LICENSE", 5, "licence: local")
    commit_all(project)
    before = snapshot(project)
    tiny.write("LICENSE", numbered("licence").replace("licence line 5", "licence: theirs"))
    tiny.write("ci.yml", numbered("ci") + "more\n")
    tiny.write("NEW.md", "new\n")
    tiny.remove("machinery/core.py")
    tiny.release("v1.1.0")
    capsys.readouterr()

    assert kit("update", str(project), "--dry-run", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["action"] == "dry-run"
    assert {f["path"]: f["status"] for f in result["files"]} == {
        ".copier-answers.base.yml": "changed", "LICENSE": "conflict", "NEW.md": "added",
        "ci.yml": "changed", "machinery/core.py": "removed",
    }
    assert result["conflicts"] == ["LICENSE"]
    assert snapshot(project) == before
    assert not (project / ".git" / "kit-update.json").exists()


def test_up_to_date(tiny: TinyTemplate, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = generate(tiny, tmp_path / "p")
    before = snapshot(project)
    capsys.readouterr()
    assert kit("update", str(project)) == 0
    assert "Up to date: base v1.0.0" in capsys.readouterr().out
    assert snapshot(project) == before


def test_new_question_takes_its_default(tiny: TinyTemplate, tmp_path: Path) -> None:
    project = generate(tiny, tmp_path / "p")
    copier_yml = tiny.path / "copier.yml"
    copier_yml.write_text(copier_yml.read_text() + "colour:\n  type: str\n  default: blue\n", encoding="utf-8")
    tiny.write("colour.txt.jinja", "{{ colour }}\n")
    tiny.release("v1.1.0")
    assert kit("update", str(project)) == 0
    assert (project / "colour.txt").read_text(encoding="utf-8") == "blue\n"


def test_new_question_without_default_is_refused_naming_the_data_to_pass(
    tiny: TinyTemplate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = generate(tiny, tmp_path / "p")
    copier_yml = tiny.path / "copier.yml"
    copier_yml.write_text(copier_yml.read_text() + "ags:\n  type: str\n", encoding="utf-8")
    tiny.write("ags.txt.jinja", "{{ ags }}\n")
    tiny.release("v1.1.0")
    before = snapshot(project)
    capsys.readouterr()

    assert kit("update", str(project)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "'ags'" in err
    assert "--data ags=VALUE" in err
    assert snapshot(project) == before

    assert kit("update", str(project), "--data", "ags=09761000") == 0
    assert (project / "ags.txt").read_text(encoding="utf-8") == "09761000\n"


def test_changed_file_deleted_by_the_release_comes_back_as_conflict(tiny: TinyTemplate, tmp_path: Path) -> None:
    project = generate(tiny, tmp_path / "p")
    edit_line(project / "ci.yml", 4, "ci: kept locally")
    (project / "machinery" / "local_plugin.py").write_text("# ours\n", encoding="utf-8")
    commit_all(project)
    tiny.remove("ci.yml")
    tiny.remove("machinery/core.py")  # the whole directory goes away in v1.1.0
    tiny.remove("LICENSE")  # unchanged locally: simply removed
    tiny.release("v1.1.0")

    assert kit("update", str(project)) == 3
    text = (project / "ci.yml").read_text(encoding="utf-8")
    assert text.startswith("<<<<<<< before updating\n")
    assert text.endswith("=======\n>>>>>>> after updating\n")
    assert "ci: kept locally" in text
    assert (project / "machinery" / "local_plugin.py").read_text(encoding="utf-8") == "# ours\n"
    assert not (project / "LICENSE").exists()
    assert not (project / "machinery" / "core.py").exists()
    assert git(project, "diff", "--name-only", "--diff-filter=U").split() == ["ci.yml"]


def test_both_added_same_path_keeps_local_content(tiny: TinyTemplate, tmp_path: Path) -> None:
    project = generate(tiny, tmp_path / "p")
    (project / "NOTES.md").write_text("our notes\n", encoding="utf-8")
    commit_all(project)
    tiny.write("NOTES.md", "template notes\n")
    tiny.release("v1.1.0")
    code = kit("update", str(project))
    text = (project / "NOTES.md").read_text(encoding="utf-8")
    assert "our notes" in text
    assert code == (3 if "<<<<<<<" in text else 0)


def test_interrupt_restores_the_project(tiny_svc: TinyTemplate, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from kitcli import _copier

    project = generate(tiny_svc, tmp_path / "p", "svc")
    before = snapshot(project)
    tiny_svc.write("ci.yml", numbered("ci") + "x\n")
    tiny_svc.write("extra/service.py", numbered("# service") + "x\n", template="svc")
    tiny_svc.release("v1.1.0")
    real_update = _copier.update
    calls = []

    def interrupted_on_second_layer(render: _copier.Render) -> _copier.Outcome:
        calls.append(render.answers_file)
        if len(calls) == 2:
            (project / "half-written.txt").write_text("partial\n", encoding="utf-8")
            raise KeyboardInterrupt
        return real_update(render)

    monkeypatch.setattr(_copier, "update", interrupted_on_second_layer)
    capsys.readouterr()
    assert kit("update", str(project)) == 2
    assert "interrupted" in capsys.readouterr().err
    assert calls == [".copier-answers.base.yml", ".copier-answers.svc.yml"]
    assert snapshot(project) == before
    assert not (project / ".git" / "kit-update.json").exists()


def _interrupt_update(project: Path, signum: signal.Signals,
                      while_running: Callable[[], object] = lambda: None) -> Path:
    """Start `kit update` in a process, wait until it has begun, then send it *signum*."""
    marker = project / ".git" / "kit-update.json"
    process = subprocess.Popen([sys.executable, "-m", "kitcli", "update", str(project)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    while_running()
    time.sleep(0.05)  # somewhere inside Copier's work, which takes far longer
    os.kill(process.pid, signum)
    process.wait()
    return marker


def test_killed_update_is_reported_and_abort_restores(tiny_svc: TinyTemplate, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    project = generate(tiny_svc, tmp_path / "p", "svc")
    before = snapshot(project)
    for n in range(30):
        tiny_svc.write(f"extra/many/file{n}.py", numbered(f"# {n}"), template="svc")
    tiny_svc.write("ci.yml", numbered("ci") + "x\n")
    tiny_svc.release("v1.1.0")
    marker = _interrupt_update(project, signal.SIGKILL)
    assert json.loads(marker.read_text())["state"] == "running"
    capsys.readouterr()
    assert kit("update", str(project)) == 2
    err = capsys.readouterr().err
    assert "interrupted" in err
    assert "kit update --abort" in err
    assert kit("update", str(project), "--abort") == 0
    assert snapshot(project) == before
    assert not marker.exists()


def test_abort_refuses_when_commits_were_made_after_the_update(tiny: TinyTemplate, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    project = generate(tiny, tmp_path / "p")
    tiny.write("ci.yml", numbered("ci") + "x\n")
    tiny.release("v1.1.0")
    assert kit("update", str(project)) == 0
    commit_all(project, "accept the update")
    (project / "mine.txt").write_text("later work\n", encoding="utf-8")
    commit_all(project, "later work")
    before = snapshot(project)
    capsys.readouterr()
    assert kit("update", str(project), "--abort") == 2
    assert "discard" in capsys.readouterr().err
    assert snapshot(project) == before


@pytest.mark.parametrize("commit", [False, True], ids=["uncommitted", "committed"])
def test_abort_refuses_to_discard_a_file_changed_after_the_update(commit: bool, tiny: TinyTemplate, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    project = generate(tiny, tmp_path / "p")
    tiny.write("ci.yml", numbered("ci") + "from the template\n")
    tiny.write("machinery/new.py", "new\n")
    tiny.release("v1.1.0")
    assert kit("update", str(project), *(["--commit"] if commit else [])) == 0
    with (project / "ci.yml").open("a", encoding="utf-8") as handle:
        handle.write("edited after the update\n")
    before = snapshot(project)
    capsys.readouterr()
    assert kit("update", str(project), "--abort") == 2
    err = capsys.readouterr().err
    assert "changed since the update wrote them: ci.yml;" in err
    assert len(err.strip().splitlines()) == 1
    assert snapshot(project) == before
    # Dropping the later change (back to HEAD) makes the abort safe again.
    git(project, "checkout", "HEAD", "--", "ci.yml")
    assert kit("update", str(project), "--abort") == 0
    assert (project / "ci.yml").read_text(encoding="utf-8") == numbered("ci")
    assert not (project / "machinery" / "new.py").exists()


def test_abort_leaves_what_the_update_did_not_write(tiny: TinyTemplate, tmp_path: Path) -> None:
    project = generate(tiny, tmp_path / "p")
    tiny.write("ci.yml", numbered("ci") + "from the template\n")
    tiny.release("v1.1.0")
    assert kit("update", str(project)) == 0
    (project / "notes.txt").write_text("my notes, written after the update\n", encoding="utf-8")
    (project / "form.toml").write_text("# my form, edited after the update\n", encoding="utf-8")
    assert kit("update", str(project), "--abort") == 0
    assert (project / "ci.yml").read_text(encoding="utf-8") == numbered("ci")
    assert (project / "notes.txt").read_text(encoding="utf-8") == "my notes, written after the update\n"
    assert (project / "form.toml").read_text(encoding="utf-8") == "# my form, edited after the update\n"
    assert recorded_commit(project) == "v1.0.0"
    assert git(project, "diff", "--cached", "--name-only") == ""


def test_next_update_after_a_committed_update_proceeds(tiny: TinyTemplate, tmp_path: Path) -> None:
    project = generate(tiny, tmp_path / "p")
    tiny.write("ci.yml", numbered("ci") + "x\n")
    tiny.release("v1.1.0")
    assert kit("update", str(project)) == 0
    commit_all(project, "accept the update")
    tiny.write("ci.yml", numbered("ci") + "x\ny\n")
    tiny.release("v1.2.0")
    assert kit("update", str(project), "--commit") == 0
    assert recorded_commit(project) == "v1.2.0"


# --- bad input: one line, the documented exit code, nothing changed -----------------------------


def _not_git(project: Path, tiny: TinyTemplate) -> None:
    shutil.rmtree(project / ".git")


def _no_answers(project: Path, tiny: TinyTemplate) -> None:
    (project / ".copier-answers.base.yml").unlink()
    commit_all(project)


def _answers_not_yaml(project: Path, tiny: TinyTemplate) -> None:
    (project / ".copier-answers.base.yml").write_text("_commit: [unclosed\n", encoding="utf-8")
    commit_all(project)


def _answers_without(key: str) -> Callable[[Path, TinyTemplate], None]:
    def damage(project: Path, tiny: TinyTemplate) -> None:
        path = project / ".copier-answers.base.yml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        del data[key]
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        commit_all(project)
    return damage


def _source_gone(project: Path, tiny: TinyTemplate) -> None:
    tiny.path.rename(tiny.path.with_name("moved-away"))


def _source_unreachable_url(project: Path, tiny: TinyTemplate) -> None:
    path = project / ".copier-answers.base.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["_src_path"] = "https://127.0.0.1:9/kommunal-kit.git"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    commit_all(project)


def _dirty(project: Path, tiny: TinyTemplate) -> None:
    (project / "ci.yml").write_text("uncommitted\n", encoding="utf-8")
    (project / "untracked.txt").write_text("new\n", encoding="utf-8")


def _unmerged(project: Path, tiny: TinyTemplate) -> None:
    edit_line(project / "ci.yml", 3, "ci: mine")
    commit_all(project)
    tiny.write("ci.yml", numbered("ci").replace("ci line 3", "ci: theirs"))
    tiny.release("v1.1.0")
    subprocess.run([sys.executable, "-m", "copier", "update", "--defaults", "-a", ".copier-answers.base.yml"],
                   cwd=project, check=True, capture_output=True)


def _interrupted(project: Path, tiny: TinyTemplate) -> None:
    head = git(project, "rev-parse", "HEAD").strip()
    (project / ".git" / "kit-update.json").write_text(json.dumps({"state": "running", "head": head}))


def _released(project: Path, tiny: TinyTemplate) -> None:
    tiny.write("ci.yml", numbered("ci") + "x\n")
    tiny.release("v1.1.0")


def _downgrade(project: Path, tiny: TinyTemplate) -> None:
    _released(project, tiny)
    assert kit("update", str(project), "--commit") == 0


BAD_INPUTS = [
    pytest.param(_not_git, [], "not a git repository", id="not-a-git-repository"),
    pytest.param(_no_answers, [], ".copier-answers", id="no-answers-file"),
    pytest.param(_answers_not_yaml, [], "no valid YAML", id="answers-not-yaml"),
    pytest.param(_answers_without("_commit"), [], "_commit", id="answers-without-commit"),
    pytest.param(_answers_without("_src_path"), [], "_src_path", id="answers-without-src-path"),
    pytest.param(_source_gone, [], "template source", id="source-gone"),
    pytest.param(_source_unreachable_url, [], "cannot be reached", id="source-unreachable"),
    pytest.param(_released, ["--to", "v9.9.9"], "v9.9.9", id="to-unknown-tag"),
    pytest.param(_downgrade, ["--to", "v1.0.0"], "does not downgrade", id="downgrade"),
    pytest.param(_dirty, [], "ci.yml, untracked.txt", id="dirty-tree"),
    pytest.param(_unmerged, [], "unmerged files from an earlier update: ci.yml", id="unmerged-files"),
    pytest.param(_interrupted, [], "kit update --abort", id="interrupted-update"),
    pytest.param(_released, ["--data", "nope=1"], "nope", id="data-unknown-question"),
    pytest.param(lambda p, t: None, ["--abort"], "no kit update to abort", id="abort-without-update"),
    pytest.param(lambda p, t: None, ["--abort", "--commit"], "--abort", id="abort-with-options"),
    pytest.param(lambda p, t: None, ["--dry-run", "--commit"], "exclude", id="dry-run-and-commit"),
]


@pytest.mark.parametrize(("damage", "args", "expected"), BAD_INPUTS)
def test_bad_input_one_line_exit_2_nothing_changed(
    damage: Callable[[Path, TinyTemplate], None], args: list[str], expected: str, *,
    tiny: TinyTemplate, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    project = generate(tiny, tmp_path / "p")
    damage(project, tiny)
    before = snapshot(project)
    capsys.readouterr()
    assert kit("update", str(project), *args) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    assert expected in err
    assert "Traceback" not in captured.err + captured.out
    assert snapshot(project) == before


def test_missing_project_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert kit("update", str(tmp_path / "nowhere")) == 2
    assert "nowhere" in capsys.readouterr().err


LOCAL_STATE = {
    "var/app.db": b"SQLite format 3\x00" + bytes(range(256)) * 8,
    "var/outbox/1.json": b'{"id": 1}\n',
    ".venv/bin/python": b"#!/bin/sh\n",
    ".env": b"SECRET_KEY=local\n",
}


def _with_local_state(project: Path) -> None:
    """The ignored state of a running service: database, outbox, virtual environment, secrets."""
    (project / ".gitignore").write_text(".venv/\n.env\n", encoding="utf-8")
    (project / "var").mkdir()
    (project / "var" / ".gitignore").write_text("*\n!.gitignore\n", encoding="utf-8")  # as ozg-service has it
    commit_all(project, "ignore local state")
    for relpath, data in LOCAL_STATE.items():
        (project / relpath).parent.mkdir(parents=True, exist_ok=True)
        (project / relpath).write_bytes(data)


def _written_while_running(project: Path) -> dict[str, bytes]:
    """What the service writes while the update runs: a WAL file and a new delivery."""
    new = {"var/app.db-wal": b"wal frame\n", "var/outbox/2.json": b'{"id": 2}\n'}
    for relpath, data in new.items():
        (project / relpath).write_bytes(data)
    return new


def _assert_local_state(project: Path, expected: Mapping[str, bytes]) -> None:
    for relpath, data in expected.items():
        assert (project / relpath).read_bytes() == data, relpath


def test_abort_after_commit_keeps_ignored_local_state(tiny: TinyTemplate, tmp_path: Path) -> None:
    project = generate(tiny, tmp_path / "p")
    _with_local_state(project)
    before = snapshot(project)
    tiny.write("ci.yml", numbered("ci") + "x\n")
    tiny.write("NEW.md", "new in v1.1.0\n")
    tiny.release("v1.1.0")

    assert kit("update", str(project), "--commit") == 0
    new = _written_while_running(project)
    assert kit("update", str(project), "--abort") == 0

    _assert_local_state(project, {**LOCAL_STATE, **new})
    for relpath in new:
        (project / relpath).unlink()
    assert snapshot(project) == before


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "sigkill"])
def test_interrupted_update_keeps_ignored_local_state(tiny_svc: TinyTemplate, tmp_path: Path,
                                                      signum: signal.Signals) -> None:
    project = generate(tiny_svc, tmp_path / "p", "svc")
    _with_local_state(project)
    before = snapshot(project)
    for n in range(30):
        tiny_svc.write(f"extra/many/file{n}.py", numbered(f"# {n}"), template="svc")
    tiny_svc.release("v1.1.0")
    new: dict[str, bytes] = {}
    marker = _interrupt_update(project, signum, while_running=lambda: new.update(_written_while_running(project)))
    if marker.exists():
        assert kit("update", str(project), "--abort") == 0
    _assert_local_state(project, {**LOCAL_STATE, **new})
    for relpath in new:
        (project / relpath).unlink()
    assert snapshot(project) == before
