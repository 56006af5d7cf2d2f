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

import multiprocessing
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ._update_helpers import SVC_FILES, TINY_FILES, TinyTemplate, make_tiny, snapshot
from .conftest import git

SCENARIOS = int(os.environ.get("KIT_UPDATE_SCENARIOS", "200"))
WORKERS = 2
TWO_LAYERS_EVERY = 5
MARKERS = ("<<<<<<< before updating", ">>>>>>> after updating")

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


def _scenario(seed: int, template: TinyTemplate, pristine: Path, work: Path, two_layers: bool) -> str | None:  # noqa: PLR0911
    """Run one scenario; return a description of what went wrong, or None."""
    from kitcli.commands.update import UpdateOptions, abort, update

    rng = random.Random(seed)
    files = {**BASE_FILES, **(LAYER_FILES if two_layers else {})}
    git(template.path, "checkout", "-q", "--detach", "v1.0.0")
    notes: list[str] = []
    template_adds = _change_template(template, rng, files, seed, notes)
    tag = f"v2.{seed}.0"
    template.release(tag)

    project = work / f"p{seed}"
    shutil.copytree(pristine, project, symlinks=True)
    expect = Expectation(description=notes)
    _change_project(project, rng, files, template_adds=template_adds, seed=seed, expect=expect)
    git(project, "add", "-A")
    git(project, "commit", "-q", "--allow-empty", "-m", "local work")
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


def _worker(args: tuple[list[int], str]) -> list[str]:
    seeds, root_text = args
    root = Path(root_text)
    layers = {}
    for two in (False, True):
        template = make_tiny(root / f"template-{two}", svc=two)
        pristine = root / f"pristine-{two}"
        from kitcli.cli import main

        assert main(["new", "svc" if two else "base", str(pristine), "--defaults",
                     "--source", str(template.path)]) == 0
        layers[two] = (template, pristine)
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
