"""Renovate itself updates every layer of a kit service: the real CLI, not an imitation of it.

A service project (`base` + `ozg-service`) is generated from a bare template repository through
its `file://` URL, as a cooperation's projects record their forge's URL. The template set then
releases v2.0.0, which changes a file in each layer. Then:

1. `renovate --platform=local` (the copier manager only, JSON log at debug level) must find both
   answers files and propose v2.0.0 for each, in a branch of its own (the shipped renovate.json's
   `additionalBranchPrefix: "{{{packageFile}}}-"`);
2. Renovate's branch step (`getUpdatedPackageFiles` and the commit, from its installed package: the
   local platform stops before it) must, for each branch, run `copier update` from PATH without an
   artifact error ("Destination repository is dirty" when two layers share a branch) or conflict,
   commit exactly what Copier changed, and record v2.0.0 in that layer's answers file; both branches
   merged give a project at v2.0.0 in both layers that `kit diff` finds without divergence.

See `tests/renovate/` for the install (cached; skipped without Node or registry, never under CI).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kitcli.cli import main

from . import renovate as client
from .conftest import TemplateRepo, git

ANSWERS = {"base": ".copier-answers.base.yml", "ozg-service": ".copier-answers.ozg-service.yml"}
# The file v2.0.0 changes in each layer, and the line it adds.
CHANGED = {"base": "CODE_OF_CONDUCT.md", "ozg-service": "Dockerfile"}
TEMPLATE_PATHS = {"base": "templates/base/project/CODE_OF_CONDUCT.md",
                  "ozg-service": "templates/ozg-service/project/Dockerfile"}
NEW_LINE = "# Neu in v2.0.0 ({layer})\n"


@pytest.fixture(scope="module")
def renovate() -> client.Renovate:
    return client.install()


def messages(records: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    return [record for record in records if text in str(record.get("msg", ""))]


def recorded(tree: Path, layer: str) -> str:
    return str(yaml.safe_load((tree / ANSWERS[layer]).read_text(encoding="utf-8"))["_commit"])


def make_service(templates: TemplateRepo, forge: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    """A service generated from the bare template repository's URL, pushed to the forge; then the
    template set releases v2.0.0 with a change in each layer."""
    kit_url = (forge / "kommunal-kit.git").as_uri()
    git(forge, "clone", "-q", "--bare", str(templates.path), "kommunal-kit.git")
    project = forge.parent / "hundesteuer"
    assert main(["new", "ozg-service", str(project), "-m", "augsburg", "--defaults", "--source", kit_url]) == 0
    assert "Renovate" not in capsys.readouterr().err  # a URL: no warning
    for layer in ANSWERS:
        assert yaml.safe_load((project / ANSWERS[layer]).read_text(encoding="utf-8"))["_src_path"] == kit_url
    git(forge, "clone", "-q", "--bare", str(project), "hundesteuer.git")
    for layer, relpath in TEMPLATE_PATHS.items():
        target = templates.path / relpath
        target.write_text(target.read_text(encoding="utf-8") + NEW_LINE.format(layer=layer), encoding="utf-8")
    templates.release("v2.0.0")
    git(templates.path, "push", "-q", "--tags", str(forge / "kommunal-kit.git"), "HEAD:main")
    return project, kit_url


def proposed_branches(log: list[dict[str, Any]], kit_url: str) -> dict[str, list[dict[str, Any]]]:
    """The upgrades of the local run's log, by the branch Renovate proposes for them."""
    assert not messages(log, "Parsing Copier answers YAML failed"), "Renovate rejected an answers file"
    [matched] = messages(log, "file(s) for manager copier")
    assert matched["msg"] == f"Matched 2 file(s) for manager copier: {ANSWERS['base']}, {ANSWERS['ozg-service']}"
    [found] = messages(log, "packageFiles with updates")
    package_files = {entry["packageFile"]: entry for entry in found["config"]["copier"]}
    assert set(package_files) == set(ANSWERS.values())
    branches: dict[str, list[dict[str, Any]]] = {}
    for answers_file, entry in package_files.items():
        [dep] = entry["deps"]
        assert (dep["datasource"], dep["depName"], dep["currentValue"]) == ("git-tags", kit_url, "v1.0.0")
        [update] = dep["updates"]
        assert update["newValue"] == "v2.0.0", update
        upgrade = {key: dep[key] for key in ("datasource", "depName", "packageName", "depType", "currentValue",
                                             "currentVersion", "versioning")}
        branches.setdefault(update["branchName"], []).append({**upgrade, **update, "packageFile": answers_file})
    return branches


def check_branch(result: dict[str, Any], checkout: Path) -> None:
    """One branch of Renovate's: no artifact error or conflict, exactly Copier's changes committed,
    v2.0.0 recorded for its layer only."""
    assert result.get("error") is None, result["error"]
    assert result["artifactErrors"] == [], result["artifactErrors"]
    assert result["conflicted"] == []
    assert result["commit"], result
    assert result["statusAfterCommit"] == []
    [answers_file] = result["packageFiles"]
    layer = next(name for name, path in ANSWERS.items() if path == answers_file)
    other = next(name for name in ANSWERS if name != layer)
    assert result["changedBeforeCommit"] == sorted([answers_file, CHANGED[layer]]), result
    committed = git(checkout, "diff", "--name-only", "origin/main", f"origin/{result['branchName']}").split()
    assert sorted(committed) == result["changedBeforeCommit"]
    git(checkout, "checkout", "-q", result["branchName"])
    assert recorded(checkout, layer) == "v2.0.0"
    assert recorded(checkout, other) == "v1.0.0"
    assert (checkout / CHANGED[layer]).read_text(encoding="utf-8").endswith(NEW_LINE.format(layer=layer))
    assert not (checkout / answers_file).read_text(encoding="utf-8").rstrip().endswith("#copier updated")
    git(checkout, "checkout", "-q", "main")


def test_real_renovate_updates_each_layer_of_a_service_in_its_own_branch(
    renovate: client.Renovate, make_template_repo: Callable[..., TemplateRepo], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    home = Path.home()  # the test's isolated home (conftest): git identity, protocol.file allowed
    work, forge = tmp_path / "renovate", tmp_path / "forge"
    work.mkdir()
    forge.mkdir()
    project, kit_url = make_service(make_template_repo(tags=("v1.0.0",)), forge, capsys)

    # 1. the lookup, as the scheduled Renovate job runs it (here on the local platform)
    code, log = renovate.run_local(project, home=home, work=work)
    assert code == 0, f"renovate exited {code}; log in {work}"
    branches = proposed_branches(log, kit_url)

    # 2. Renovate's branch step for these upgrades, one fresh clone per branch as on a platform
    request = {
        "remote": (forge / "hundesteuer.git").as_uri(), "baseBranch": "main", "cacheDir": str(work / "cache"),
        "branches": [{"branchName": name, "localDir": str(work / f"clone-{index}"), "upgrades": upgrades}
                     for index, (name, upgrades) in enumerate(sorted(branches.items()))],
    }
    results = renovate.branch_step(request, home=home, work=work)
    errors = {r["branchName"]: [e["stderr"].strip().splitlines()[-1:] for e in r.get("artifactErrors", [])]
              for r in results}
    assert len(branches) == 2, (
        f"{sum(len(u) for u in branches.values())} answers files in {len(branches)} branch(es) {sorted(branches)}; "
        f"artifact errors of Renovate's branch step: {errors}")
    checkout = tmp_path / "review"
    git(tmp_path, "clone", "-q", str(forge / "hundesteuer.git"), str(checkout))
    for result in results:
        check_branch(result, checkout)

    # both merge requests merged: the project is at v2.0.0 in both layers, as the kit sees it too
    for result in results:
        git(checkout, "merge", "-q", "--no-edit", f"origin/{result['branchName']}")
    assert git(checkout, "status", "--porcelain") == ""
    assert {layer: recorded(checkout, layer) for layer in ANSWERS} == {"base": "v2.0.0", "ozg-service": "v2.0.0"}
    capsys.readouterr()
    assert main(["diff", str(checkout), "--stat"]) == 0, capsys.readouterr().out
    seconds = time.monotonic() - started
    (work / "timing.json").write_text(json.dumps({"seconds": round(seconds, 1)}), encoding="utf-8")
    assert seconds < 300, f"the real-Renovate test took {seconds:.0f} s; keep it under 5 minutes"
