"""`kit fleet status|publish|update`: directories, manifests, git URLs, status files, broken
projects, divergence through the shared render and `kit diff`, parallel runs, updates on branches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from kitcli.commands.diff import DiffOptions, diff

from ._fleet_helpers import (
    Fleet,
    build_fleet,
    commit,
    copy_fleet,
    generate,
    isolated,
    kit,
    make_template_repo,
    rows_by_name,
    status_json,
)
from .conftest import git


@pytest.fixture(scope="module")
def module_fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    root = tmp_path_factory.mktemp("fleet-module")
    with isolated(root):
        return build_fleet(root)


@pytest.fixture
def fleet(module_fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fleet:
    """A copy of the module's fleet this test may change. The kit's caches (template exports,
    shared renders, kit diff's renders) are shared by the module's tests: they are keyed by
    content, and sharing them keeps the tests fast."""
    monkeypatch.setenv("KIT_HOME", str(module_fleet.root.parent / "kit-home"))
    return copy_fleet(module_fleet, tmp_path / "projects")


def test_directory_of_projects(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = status_json(capsys, str(fleet.root), "--jobs", "1")
    rows = rows_by_name(report)
    assert set(rows) == {"hundesteuer-augsburg", "hundesteuer-muenchen", "parkausweis-nuernberg", "opendata-augsburg"}
    augsburg = rows["hundesteuer-augsburg"]
    assert augsburg["municipality"] == {"ags": "09761000", "name": "Augsburg", "regierungsbezirk": "Schwaben"}
    assert augsburg["service"] == "Hundesteuer"
    assert augsburg["template"] == "ozg-service"
    assert [(t["name"], t["version"], t["behind"], t["latest"]) for t in augsburg["templates"]] == [
        ("base", "v1.0.0", 0, "v1.0.0"), ("ozg-service", "v1.0.0", 0, "v1.0.0"),
    ]
    assert augsburg["divergence"]["method"] == "shared render"
    assert augsburg["divergence"]["managed"] == augsburg["divergence"]["seeded"] == 0
    assert augsburg["check"] is not None
    assert augsburg["check"]["passed"] > 0
    assert augsburg["last_commit"]
    assert augsburg["error"] is None
    assert rows["opendata-augsburg"]["template"] == "base"
    summary = report["summary"]
    assert summary["total"] == 4
    assert summary["on_newest"] == 4
    assert summary["errors"] == 0
    assert set(summary["by_regierungsbezirk"]) == {"Oberbayern", "Mittelfranken", "Schwaben"}
    assert code == (1 if any(r["check"]["failed"] for r in rows.values()) else 0)


def test_clean_verdict_of_the_shared_render_agrees_with_kit_diff(fleet: Fleet, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # An answer the templates escape (a double quote, a backslash) cannot be predicted by
    # substitution: the project falls back to kit diff, which finds it clean as well.
    odd = generate(fleet.source, fleet.root / "odd-quotes", "ozg-service", "nuernberg",
                   {"project_name": 'Hunde "steuer" \\ online', "leika_key": "99123456789012"})
    code, report = status_json(capsys, str(fleet.root), "--no-check", "--jobs", "1")
    assert code == 0
    rows = rows_by_name(report)
    assert all(row["divergence"]["managed"] == row["divergence"]["seeded"] == 0 for row in rows.values())
    for name in (odd.name, "hundesteuer-augsburg"):
        assert not diff(DiffOptions(project=fleet.project(name))).files, name
    assert rows[odd.name]["divergence"]["method"] == "exact render"
    assert rows["hundesteuer-augsburg"]["divergence"]["method"] == "shared render"


def test_divergence_managed_seeded_declared_and_added(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    muenchen, nuernberg = fleet.project("hundesteuer-muenchen"), fleet.project("parkausweis-nuernberg")
    (muenchen / "kommune.toml").write_text("# edited\n", encoding="utf-8")
    (nuernberg / "app" / "main.py").write_text("# local change\n", encoding="utf-8")
    (nuernberg / "SECURITY.md").write_text("Unser CERT\n", encoding="utf-8")
    (nuernberg / "kit.toml").write_text(
        '[[deviation]]\npath = "SECURITY.md"\nreason = "Zentrales CERT"\napproved_by = "IT"\ndate = 2026-11-26\n'
        '\n[[deviation]]\npath = "CODE_OF_CONDUCT.md"\nreason = "alt"\napproved_by = "IT"\ndate = 2026-11-26\n',
        encoding="utf-8",
    )
    (nuernberg / "app" / "extra.py").write_text("print('mine')\n", encoding="utf-8")
    for project in (muenchen, nuernberg):
        commit(project)
    code, report = status_json(capsys, str(fleet.root), "--no-check", "--jobs", "1")
    assert code == 1
    rows = rows_by_name(report)
    m = rows["hundesteuer-muenchen"]
    assert m["divergence"]["method"] == "exact render"
    assert (m["divergence"]["managed"], m["divergence"]["seeded"]) == (0, 1)
    assert m["status"] == "ok"
    n = rows["parkausweis-nuernberg"]
    assert n["status"] == "drifting"
    assert [(f["path"], f["change"], f["ownership"], f["declared"]) for f in n["divergence"]["files"]] == [
        ("SECURITY.md", "changed", "managed", True),
        ("app/extra.py", "added", "managed", False),
        ("app/main.py", "changed", "managed", False),
    ]
    assert n["divergence"]["files"][0]["reason"] == "Zentrales CERT"
    assert (n["divergence"]["managed"], n["divergence"]["declared"], n["divergence"]["stale"]) == (3, 1, 1)
    assert report["summary"]["drifting"] == 1
    # The same files, statuses and ownership as kit diff reports.
    for name in ("hundesteuer-muenchen", "parkausweis-nuernberg"):
        theirs = diff(DiffOptions(project=fleet.project(name)))
        assert [(f.path, f.status, f.ownership, f.deviation is not None) for f in theirs.files] == [
            (f["path"], f["change"], f["ownership"], f["declared"]) for f in rows[name]["divergence"]["files"]
        ]
        assert len(theirs.stale_deviations) == rows[name]["divergence"]["stale"]


def test_manifest_with_paths_labels_and_a_git_url(fleet: Fleet, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "fleet.toml"
    url = fleet.project("parkausweis-nuernberg").as_uri()
    manifest.write_text(
        f'[[project]]\npath = "projects/hundesteuer-augsburg"\nmunicipality = "09761000"\nservice = "hundesteuer"\n\n'
        f'[[project]]\npath = "projects/hundesteuer-muenchen"\nmunicipality = "Nürnberg"\n\n'
        f'[[project]]\nurl = "{url}"\nmunicipality = "Nürnberg"\n',
        encoding="utf-8",
    )
    for _ in range(2):  # the second run fetches into the cached clone
        code, report = status_json(capsys, str(manifest), "--no-check", "--jobs", "1")
        assert code == 0
        rows = report["projects"]
        assert [r["kind"] for r in rows] == ["project", "project", "url"]
        assert rows[0]["notes"] == []
        assert "says municipality 'Nürnberg'" in rows[1]["notes"][0]
        assert rows[2]["location"] == url
        assert rows[2]["url"] == url
        assert rows[2]["municipality"]["ags"] == "09564000"
        assert rows[2]["divergence"]["managed"] == 0
        assert rows[2]["listed_in"].startswith("manifest fleet.toml #3")


def _unreachable_url(tmp: Path, fleet: Fleet) -> str:
    (tmp / "m.toml").write_text(f'[[project]]\nurl = "{(tmp / "nowhere").as_uri()}"\n', encoding="utf-8")
    return str(tmp / "m.toml")


def _duplicate(tmp: Path, fleet: Fleet) -> str:
    path = fleet.project("hundesteuer-augsburg")
    (tmp / "m.toml").write_text(f'[[project]]\npath = "{path}"\n\n[[project]]\npath = "{path}/"\n', encoding="utf-8")
    return str(tmp / "m.toml")


def _no_answers(tmp: Path, fleet: Fleet) -> str:
    project = tmp / "plain-repo"
    project.mkdir()
    (project / "README.md").write_text("hi\n", encoding="utf-8")
    git(project, "init", "-q")
    commit(project)
    return str(project)


def _corrupt_answers(tmp: Path, fleet: Fleet) -> str:
    project = fleet.project("opendata-augsburg")
    (project / ".copier-answers.base.yml").write_text("_src_path: [unclosed\n", encoding="utf-8")
    return str(project)


def _missing_path(tmp: Path, fleet: Fleet) -> str:
    return str(tmp / "does-not-exist")


def _unreadable_status(tmp: Path, fleet: Fleet) -> str:
    (tmp / "kit-status.json").write_text("{not json", encoding="utf-8")
    return str(tmp / "kit-status.json")


def _not_git(tmp: Path, fleet: Fleet) -> str:
    project = fleet.project("opendata-augsburg")
    import shutil

    shutil.rmtree(project / ".git")
    return str(project)


def _bad_manifest_entry(tmp: Path, fleet: Fleet) -> str:
    (tmp / "m.toml").write_text('[[project]]\npath = "a"\nurl = "https://example.org/x.git"\n', encoding="utf-8")
    return str(tmp / "m.toml")


@pytest.mark.parametrize(("damage", "reason"), [
    pytest.param(_unreachable_url, "cannot be cloned or fetched", id="unreachable-url"),
    pytest.param(_duplicate, "duplicate entry", id="duplicate-entries"),
    pytest.param(_no_answers, "has no .copier-answers", id="no-answers-file"),
    pytest.param(_corrupt_answers, "is no valid YAML", id="corrupt-answers"),
    pytest.param(_missing_path, "no such file or directory", id="missing-path"),
    pytest.param(_unreadable_status, "is no valid JSON", id="unreadable-status-json"),
    pytest.param(_not_git, "not the root of a git repository", id="not-git"),
    pytest.param(_bad_manifest_entry, "needs exactly one of path, url, status", id="manifest-entry"),
])
def test_broken_project_is_an_error_row(damage, reason: str, fleet: Fleet, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    broken = damage(tmp_path, fleet)
    healthy = str(fleet.project("hundesteuer-muenchen"))
    code, report = status_json(capsys, healthy, broken, "--no-check", "--jobs", "1")
    assert code == 1
    rows = report["projects"]
    assert rows[0]["error"] is None
    assert rows[0]["municipality"]["name"] == "München"
    errors = [row["error"] for row in rows[1:] if row["error"]]
    assert errors, rows
    assert any(reason in error for error in errors), errors
    assert report["summary"]["errors"] == len(errors)


@pytest.mark.parametrize("args", [
    pytest.param(["--jobs", "0"], id="jobs-0"),
    pytest.param(["--output", "no/such/dir/report.html"], id="output-dir-missing"),
    pytest.param(["--format", "pdf"], id="unknown-format"),
])
def test_unusable_arguments_exit_2(args: list[str], module_fleet: Fleet, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert kit("fleet", "status", str(module_fleet.root), *args) == 2
    err = capsys.readouterr().err.strip()
    assert err
    assert "Traceback" not in err


def test_no_source_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert kit("fleet", "status") == 2
    assert "Traceback" not in capsys.readouterr().err


def test_parallel_run_gives_the_same_rows_in_order(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    _, serial = status_json(capsys, str(fleet.root), "--no-check", "--jobs", "1")
    _, parallel = status_json(capsys, str(fleet.root), "--no-check", "--jobs", "2")
    strip = ["location", "status", "municipality", "templates", "divergence", "error"]
    assert [{k: r[k] for k in strip} for r in serial["projects"]] == [
        {k: r[k] for k in strip} for r in parallel["projects"]
    ]


def test_published_status_files_are_aggregated(fleet: Fleet, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    for name in ("hundesteuer-augsburg", "parkausweis-nuernberg"):
        assert kit("fleet", "publish", str(fleet.project(name)), "--output", str(artifacts / f"{name}.json")) in (0, 1)
    document = json.loads((artifacts / "hundesteuer-augsburg.json").read_text(encoding="utf-8"))
    assert document["kit_status_version"] == 1
    assert document["project"]["municipality"] == {"ags": "09761000", "name": "Augsburg"}
    assert document["templates"][0] == {"name": "base", "version": "v1.0.0", "src_path": str(fleet.source)}
    assert document["divergence"]["managed"] == 0
    assert document["check"]["passed"] > 0
    assert document["service"]["leika_key"] == "99123456789012"
    (artifacts / "future.json").write_text(json.dumps({**document, "kit_status_version": 99}), encoding="utf-8")

    code, report = status_json(capsys, str(artifacts), "--jobs", "1")
    assert code == 1  # the file from the future is an error row
    rows = rows_by_name(report)
    assert rows["hundesteuer-augsburg.json"]["kind"] == "status file"
    assert rows["hundesteuer-augsburg.json"]["municipality"]["name"] == "Augsburg"
    assert rows["hundesteuer-augsburg.json"]["templates"][0]["behind"] == 0
    assert rows["hundesteuer-augsburg.json"]["generated_at"] == document["generated_at"]
    assert "kit_status_version 99" in rows["future.json"]["error"]


def test_text_markdown_and_html_reports(fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert kit("fleet", "status", str(fleet.root), "--no-check", "--jobs", "1") == 0
    text = capsys.readouterr().out
    assert "Augsburg" in text
    assert "4 projects: 4 on the newest release" in text
    assert kit("fleet", "status", str(fleet.root), "--no-check", "--format", "markdown", "--jobs", "1") == 0
    markdown = capsys.readouterr().out
    assert "| Schwaben | 2 | 2 |" in markdown
    html = tmp_path / "fleet.html"
    args = ("--no-check", "--format", "html", "-o", str(html), "--jobs", "1")
    assert kit("fleet", "status", str(fleet.root), *args) == 0
    assert "Wrote" in capsys.readouterr().out
    page = html.read_text(encoding="utf-8")
    assert "Hundesteuer" in page
    assert "Mittelfranken" in page
    assert "http://" not in page.replace("http-equiv", "")
    assert "https://" not in page


def test_behind_and_fleet_update_on_branches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = make_template_repo(tmp_path / "template-repo")
    projects = tmp_path / "projects"
    clean = generate(source, projects / "clean", "base", "augsburg", {})
    conflicting = generate(source, projects / "conflicting", "base", "muenchen", {})
    dirty = generate(source, projects / "dirty", "base", "nuernberg", {})
    (conflicting / "CONTRIBUTING.md").write_text("Unsere eigenen Regeln\n", encoding="utf-8")
    commit(conflicting)
    (dirty / "notes.txt").write_text("not committed\n", encoding="utf-8")
    contributing = source / "templates" / "base" / "project" / "CONTRIBUTING.md"
    contributing.write_text(contributing.read_text(encoding="utf-8") + "\nNeu in 2.0.\n", encoding="utf-8")
    git(source, "commit", "-qam", "v2")
    git(source, "tag", "v2.0.0")

    _, report = status_json(capsys, str(projects), "--no-check", "--no-divergence", "--jobs", "1")
    assert {r["templates"][0]["behind"] for r in report["projects"]} == {1}
    assert report["summary"]["behind"] == 3
    assert report["summary"]["on_newest"] == 0

    capsys.readouterr()
    assert kit("fleet", "update", str(clean), str(dirty), "--dry-run", "--json", "--jobs", "1") == 1
    dry = {Path(r["location"]).name: r for r in json.loads(capsys.readouterr().out)["projects"]}
    assert dry["clean"]["outcome"] == "would update"
    assert dry["dirty"]["outcome"] == "error"
    assert "uncommitted changes" in dry["dirty"]["message"]
    assert git(clean, "branch", "--list").split() == ["*", "main"]

    assert kit("fleet", "update", str(projects), "--json", "--jobs", "2") == 3
    rows = {Path(r["location"]).name: r for r in json.loads(capsys.readouterr().out)["projects"]}
    assert rows["clean"]["outcome"] == "updated"
    assert rows["clean"]["moves"] == [{"template": "base", "old": "v1.0.0", "new": "v2.0.0"}]
    assert git(clean, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert "v2.0.0" in git(clean, "show", "kit/template-update:.copier-answers.base.yml")
    assert rows["conflicting"]["outcome"] == "conflicts"
    assert rows["conflicting"]["conflicts"] == ["CONTRIBUTING.md"]
    assert git(conflicting, "rev-parse", "--abbrev-ref", "HEAD").strip() == "kit/template-update"
    assert rows["dirty"]["outcome"] == "error"
    assert (dirty / "notes.txt").read_text(encoding="utf-8") == "not committed\n"

    assert kit("fleet", "update", str(projects / "clean"), "--json", "--jobs", "1") == 0
    again = json.loads(capsys.readouterr().out)["projects"][0]
    assert again["outcome"] == "up-to-date"
    assert "already updated" in again["message"]
    assert git(clean, "log", "--format=%s", "kit/template-update").count("Update templates") == 1


def test_update_skips_status_files_and_urls(fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = tmp_path / "s.json"
    assert kit("fleet", "publish", str(fleet.project("opendata-augsburg")), "-o", str(status), "--no-check") == 0
    capsys.readouterr()
    assert kit("fleet", "update", str(status), "--json", "--jobs", "1") == 0
    row = json.loads(capsys.readouterr().out)["projects"][0]
    assert row["outcome"] == "skipped"
    assert "own CI" in row["message"]


def test_status_of_a_layer_recorded_at_an_unknown_version(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    project = fleet.project("opendata-augsburg")
    answers = project / ".copier-answers.base.yml"
    data = yaml.safe_load(answers.read_text(encoding="utf-8"))
    data["_commit"] = "v9.9.9"
    answers.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    commit(project)
    code, report = status_json(capsys, str(project), "--no-check", "--jobs", "1")
    row = report["projects"][0]
    assert row["divergence"] is None
    assert "v9.9.9" in row["divergence_unavailable"]
    assert code == 0


def test_bare_kit_check_report_is_read_as_a_check_only_row(fleet: Fleet, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert kit("check", str(fleet.project("opendata-augsburg")), "--format", "json") in (0, 1)
    report = tmp_path / "kit-status.json"
    report.write_text(capsys.readouterr().out, encoding="utf-8")
    code, result = status_json(capsys, str(report), "--jobs", "1")
    row = result["projects"][0]
    assert row["error"] is None
    assert row["check"]["passed"] > 0
    assert row["divergence"] is None
    assert "kit fleet publish" in row["divergence_unavailable"]
    assert "not a status file" in row["notes"][0]
    assert code == (1 if row["check"]["failed"] else 0)
