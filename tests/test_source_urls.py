"""Template sources as Renovate reads them: which `_src_path` `kit new` records, the one-line warning
for a local path, `file://…/x.git` everywhere, and KIT604's verdict.

Renovate's copier manager parses `_src_path` with zod's `url()` (WHATWG `new URL`); the cases in
`RENOVATE_VERDICTS` were checked against that schema in Renovate 39.264.1. Remote URLs are served
from a local bare repository through git's `url.<base>.insteadOf`: real git, no network.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from kitcli import _source
from kitcli.cli import main

from .conftest import TemplateRepo, git

RENOVATE_VERDICTS = [
    pytest.param("https://gitlab.opencode.de/kommunal-kit/kit.git", False, id="https"),
    pytest.param("ssh://git@gitlab.opencode.de/kommunal-kit/kit.git", False, id="ssh-url"),
    pytest.param("file:///srv/git/kit.git", False, id="file-url"),
    pytest.param("git@gitlab.opencode.de:kommunal-kit/kit.git", True, id="scp-like"),
    pytest.param("/srv/git/kit", True, id="absolute-path"),
    pytest.param("../kit", True, id="relative-path"),
    pytest.param("~/kit", True, id="home-path"),
    pytest.param("https://", True, id="https-without-host"),
]


@pytest.mark.parametrize(("src_path", "rejected"), RENOVATE_VERDICTS)
def test_renovate_rejects_what_its_schema_rejects(src_path: str, rejected: bool) -> None:
    assert _source.renovate_rejects(src_path) is rejected


@pytest.fixture
def bare(template_repo: TemplateRepo, tmp_path: Path) -> Path:
    """A bare clone of the template repository, as a forge serves it."""
    path = tmp_path / "forge" / "kit.git"
    path.parent.mkdir()
    git(tmp_path, "clone", "-q", "--bare", str(template_repo.path), str(path))
    return path


def serve(bare: Path, url: str) -> None:
    """Make git (and so Copier and the kit) fetch *url* from *bare*."""
    git(bare, "config", "--global", f"url.{bare.as_uri()}.insteadOf", url)


def recorded_source(project: Path) -> str:
    answers = yaml.safe_load((project / ".copier-answers.base.yml").read_text(encoding="utf-8"))
    return str(answers["_src_path"])


@pytest.mark.parametrize(
    ("given", "served_as"),
    [
        pytest.param("https://gitlab.example.org/kommunal-kit/kit.git", True, id="https"),
        pytest.param("ssh://git@gitlab.example.org/kommunal-kit/kit.git", True, id="ssh-url"),
        pytest.param("BARE_URL", False, id="file-url-of-bare-repository"),
    ],
)
def test_a_url_is_recorded_unchanged_without_warning(
    *, bare: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str, served_as: bool
) -> None:
    url = bare.as_uri() if given == "BARE_URL" else given
    if served_as:
        serve(bare, url)
    project = tmp_path / "projekt"
    capsys.readouterr()
    assert main(["new", "base", str(project), "-m", "augsburg", "--defaults", "--source", url]) == 0
    assert recorded_source(project) == url
    assert "Renovate" not in capsys.readouterr().err


def test_scp_like_url_is_recorded_with_a_hint_for_the_url_form(
    bare: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "git@gitlab.example.org:kommunal-kit/kit.git"
    serve(bare, url)
    project = tmp_path / "projekt"
    capsys.readouterr()
    assert main(["new", "base", str(project), "-m", "augsburg", "--defaults", "--source", url]) == 0
    assert recorded_source(project) == url
    warnings = [line for line in capsys.readouterr().err.splitlines() if "Renovate" in line]
    assert len(warnings) == 1
    assert "ssh://git@gitlab.example.org/kommunal-kit/kit.git" in warnings[0]


def test_a_bare_repository_path_is_recorded_as_its_file_url(
    bare: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "projekt"
    assert main(["new", "base", str(project), "-m", "augsburg", "--defaults", "--source", str(bare)]) == 0
    assert recorded_source(project) == bare.as_uri()
    assert "Renovate" not in capsys.readouterr().err


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_a_local_working_tree_is_recorded_as_a_path_with_one_warning_line(
    *, template_repo: TemplateRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    given = str(template_repo.path) if form == "path" else template_repo.path.as_uri()
    project = tmp_path / "projekt"
    capsys.readouterr()
    assert main(["new", "base", str(project), "-m", "augsburg", "--defaults", "--source", given]) == 0
    assert recorded_source(project) == str(template_repo.path)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "Renovate" in line]
    assert len(warnings) == 1, warnings
    for named in ("will not be able to update", "--source", "KIT_SOURCE", "config.toml"):
        assert named in warnings[0]


def test_the_warning_is_part_of_the_json_result(
    template_repo: TemplateRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "projekt"
    assert main(["new", "base", str(project), "--defaults", "--source", str(template_repo.path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [w for w in result["warnings"] if "Renovate" in w]


def test_a_bare_repository_not_named_dot_git_is_refused(
    bare: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unnamed = bare.rename(bare.with_name("kit"))
    assert main(["new", "base", str(tmp_path / "p"), "--defaults", "--source", unnamed.as_uri()]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "bare repository" in err
    assert ".git" in err
    assert not (tmp_path / "p").exists()


def test_update_and_diff_treat_a_file_url_as_a_repository(
    template_repo: TemplateRepo, bare: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "dienst"
    url = bare.as_uri()
    assert main(["new", "ozg-service", str(project), "-m", "augsburg", "--defaults", "--source", url]) == 0
    template_repo.write("templates/base/project/HINWEIS.md", "Neu.\n")
    template_repo.release("v1.1.0")
    git(template_repo.path, "push", "-q", "--tags", str(bare), "HEAD:main")
    capsys.readouterr()
    assert main(["diff", str(project), "--stat"]) == 0, capsys.readouterr().err
    assert main(["update", str(project), "--commit"]) == 0, capsys.readouterr().err
    assert (project / "HINWEIS.md").is_file()
    assert recorded_source(project) == url
    assert main(["diff", str(project), "--stat"]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("src_path", "reason"),
    [
        pytest.param("/srv/git/kit", 'is a path, not a URL: Renovate\'s copier manager rejects it ("Invalid url")',
                     id="absolute-path"),
        pytest.param("../kit", "is relative: later updates cannot find it", id="relative-path"),
        pytest.param("git@gitlab.example.org:kommunal-kit/kit.git",
                     "write it as ssh://git@gitlab.example.org/kommunal-kit/kit.git", id="scp-like"),
        pytest.param("BARE_URL", None, id="file-url-passes"),
    ],
)
def test_kit604_gives_renovates_reason(
    *, bare: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], src_path: str, reason: str | None
) -> None:
    project = tmp_path / "projekt"
    assert main(["new", "base", str(project), "--defaults", "--source", bare.as_uri()]) == 0
    answers = project / ".copier-answers.base.yml"
    value = bare.as_uri() if src_path == "BARE_URL" else src_path
    answers.write_text(answers.read_text(encoding="utf-8").replace(bare.as_uri(), value), encoding="utf-8")
    capsys.readouterr()
    code = main(["check", str(project), "--select", "KIT604", "--format", "json"])
    result = next(r for r in json.loads(capsys.readouterr().out)["results"] if r["code"] == "KIT604")
    if reason is None:
        assert (code, result["status"]) == (0, "pass"), result
    else:
        assert (code, result["status"]) == (1, "fail"), result
        assert reason in result["message"]
        assert "Invalid url" in result["message"]
