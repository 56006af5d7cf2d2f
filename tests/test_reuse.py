"""`kit new --from`: another municipality's instance of an existing service. It differs from the
origin only in the municipality's data, the answers and the owner's metadata, its `kit diff` is
clean, publiccode.yml names the origin in isBasedOn, and it stays updatable from the templates."""

from __future__ import annotations

import filecmp
import json
import os
from pathlib import Path

import pytest
import yaml

from kitcli.commands.diff import DiffOptions, diff

from ._fleet_helpers import commit, generate, kit, make_template_repo
from .conftest import git

# Municipality data, answers and owner metadata: the only files an instance may differ in.
ALLOWED = {
    ".copier-answers.base.yml", ".copier-answers.ozg-service.yml", "kommune.toml", "publiccode.yml",
    "REUSE.toml", "LICENSE", "SECURITY.md", "CODEOWNERS", "README.md",
}


def files(root: Path) -> set[str]:
    found = set()
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        found.update(Path(directory, name).relative_to(root).as_posix() for name in filenames)
    return found


def differing(a: Path, b: Path) -> set[str]:
    names = files(a) | files(b)
    return {n for n in names if not (a / n).is_file() or not (b / n).is_file()
            or not filecmp.cmp(a / n, b / n, shallow=False)}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return make_template_repo(tmp_path / "template-repo")


@pytest.fixture
def origin(source: Path, tmp_path: Path) -> Path:
    return generate(source, tmp_path / "hundesteuer-augsburg", "ozg-service", "augsburg",
                    {"project_name": "Hundesteuer", "leika_key": "99123456789012", "ozg_id": "10215",
                     "fit_connect_destination": "3b8d1f0e-6c1a-4a7e-9f0d-2b5c7e9a1d44"})


def test_reuse_of_an_unchanged_service(origin: Path, source: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "hundesteuer-muenchen"
    capsys.readouterr()
    assert kit("new", "--from", str(origin), str(dest), "--municipality", "muenchen", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert [layer["version"] for layer in result["layers"]] == ["v1.0.0", "v1.0.0"]
    assert any("usedBy" in step for step in result["next_steps"])

    assert differing(origin, dest) <= ALLOWED
    assert "kommune.toml" in differing(origin, dest)
    # The FIT-Connect destination is municipality data: the receiving office is the new
    # municipality's own, and no application may go to the origin's.
    assert "3b8d1f0e" not in (dest / "kommune.toml").read_text(encoding="utf-8")
    assert not diff(DiffOptions(project=dest)).files

    answers = {}
    for layer in ("base", "ozg-service"):
        answers.update(yaml.safe_load((dest / f".copier-answers.{layer}.yml").read_text(encoding="utf-8")))
    assert answers["municipality_ags"] == "09162000"
    assert answers["leika_key"] == "99123456789012"
    assert answers["ozg_id"] == "10215"
    assert answers["license"] == "EUPL-1.2"  # the origin's licence, not München's profile default
    assert answers["fit_connect_destination"] == ""  # the receiving office is the municipality's own
    assert answers["repository_url"] == "https://gitlab.opencode.de/muenchen/hundesteuer"
    assert answers["_src_path"] == str(source)
    publiccode = yaml.safe_load((dest / "publiccode.yml").read_text(encoding="utf-8"))
    assert publiccode["isBasedOn"] == ["https://gitlab.opencode.de/augsburg/hundesteuer"]
    assert publiccode["usedBy"] == ["Landeshauptstadt München"]
    assert "Landeshauptstadt München" in (dest / "kommune.toml").read_text(encoding="utf-8")
    assert git(dest, "status", "--porcelain") == ""
    assert "Reuse Hundesteuer from" in git(dest, "log", "-1", "--format=%s")

    # It stays updatable from the templates.
    contributing = source / "templates" / "base" / "project" / "CONTRIBUTING.md"
    contributing.write_text(contributing.read_text(encoding="utf-8") + "\nNeu in 2.0.\n", encoding="utf-8")
    git(source, "commit", "-qam", "v2")
    git(source, "tag", "v2.0.0")
    assert kit("update", str(dest), "--commit") == 0
    assert "Neu in 2.0." in (dest / "CONTRIBUTING.md").read_text(encoding="utf-8")
    assert not diff(DiffOptions(project=dest)).files


def test_reuse_carries_the_origins_own_work_over(origin: Path, tmp_path: Path) -> None:
    (origin / "form.toml").write_text((origin / "form.toml").read_text(encoding="utf-8")
                                      + "# Feld für die Hunderasse\n", encoding="utf-8")
    (origin / "service.toml").write_text((origin / "service.toml").read_text(encoding="utf-8")
                                         .replace("etwa 10 Minuten Zeit", "etwa 5 Minuten Zeit"), encoding="utf-8")
    (origin / "app" / "main.py").write_text((origin / "app" / "main.py").read_text(encoding="utf-8")
                                            + "\n# Augsburg: eigene Erweiterung\n", encoding="utf-8")
    (origin / "kit.toml").write_text(
        '[[deviation]]\npath = "app/main.py"\nreason = "Hunderassen-Schnittstelle"\napproved_by = "Digitalamt"\n'
        'date = 2026-11-26\n', encoding="utf-8")
    (origin / "not-committed.txt").write_text("scratch\n", encoding="utf-8")
    git(origin, "add", "form.toml", "service.toml", "app/main.py", "kit.toml")
    git(origin, "commit", "-qm", "Augsburgs Anpassungen")

    dest = tmp_path / "hundesteuer-nuernberg"
    assert kit("new", "--from", str(origin), str(dest), "-m", "nuernberg") == 0
    for same in ("form.toml", "app/main.py", "kit.toml"):
        assert (dest / same).read_bytes() == (origin / same).read_bytes(), same
    assert (dest / "service.toml").read_bytes() == (origin / "service.toml").read_bytes()
    assert not (dest / "not-committed.txt").exists()
    assert differing(origin, dest) - {"not-committed.txt"} <= ALLOWED
    theirs = {(f.path, f.status) for f in diff(DiffOptions(project=origin)).files}
    ours = diff(DiffOptions(project=dest))
    assert {(f.path, f.status) for f in ours.files} == theirs
    assert ours.findings == ()


def test_reuse_from_a_git_url(origin: Path, tmp_path: Path) -> None:
    dest = tmp_path / "hundesteuer-url"
    assert kit("new", "--from", origin.as_uri(), str(dest), "-m", "09564000") == 0
    publiccode = yaml.safe_load((dest / "publiccode.yml").read_text(encoding="utf-8"))
    assert publiccode["isBasedOn"] == ["https://gitlab.opencode.de/augsburg/hundesteuer"]
    assert differing(origin, dest) <= ALLOWED


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--from", "{origin}", "{dest}"], "--from needs --municipality", id="no-municipality"),
    pytest.param(["--from", "{tmp}/nowhere", "{dest}", "-m", "muenchen"], "no such project directory", id="missing"),
    pytest.param(["base", "{dest}", "--from", "{origin}", "-m", "muenchen"], "not 'base'", id="wrong-template"),
    pytest.param(["--from", "{origin}", "{origin}", "-m", "muenchen"], "not empty", id="dest-not-empty"),
    pytest.param(["--from", "{tmp}", "{dest}", "-m", "muenchen"], "has no .copier-answers", id="not-a-project"),
])
def test_bad_input_writes_nothing(args: list[str], message: str, origin: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "new"
    filled = [a.format(origin=origin, dest=dest, tmp=tmp_path) for a in args]
    before = git(origin, "status", "--porcelain")
    assert kit("new", *filled) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not dest.exists()
    assert git(origin, "status", "--porcelain") == before


def test_reuse_needs_dest(origin: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert kit("new", "ozg-service") == 2
    assert "DEST" in capsys.readouterr().err


def test_origin_layers_at_different_versions_are_refused(origin: Path, source: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    answers = origin / ".copier-answers.base.yml"
    answers.write_text(answers.read_text(encoding="utf-8").replace("_commit: v1.0.0", "_commit: v0.9.0"),
                       encoding="utf-8")
    commit(origin)
    assert kit("new", "--from", str(origin), str(tmp_path / "x"), "-m", "muenchen") == 2
    assert "different versions" in capsys.readouterr().err
