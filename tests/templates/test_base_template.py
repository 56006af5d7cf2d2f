"""The `base` template: repository standards that every municipal project gets.

Projects are rendered with Copier's public API from a tagged temporary copy of the template
set, then checked with the same tools a project's CI runs (`reuse lint`, check-jsonschema with
its vendored schemas, so no network is needed).
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from copier import run_copy
from jinja2 import Environment
from pathspec import GitIgnoreSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
BASE_DIR = REPO_ROOT / "templates" / "base"
LICENSE_TEXTS = BASE_DIR / "licenses"
ANSWERS_FILE = ".copier-answers.base.yml"

LICENSES = ("EUPL-1.2", "MIT", "Apache-2.0")
MAINTENANCE_TYPES = ("internal", "contract", "community", "none")

# Apart from the answers file, only these files may depend on municipality answers.
OWNER_METADATA_FILES = frozenset(
    {"publiccode.yml", "REUSE.toml", "LICENSE", "SECURITY.md", "CODEOWNERS", "README.md"}
)

MUSTERHAUSEN = {
    "municipality_id": "musterhausen",
    "municipality_name": "Musterhausen",
    "municipality_official_name": "Markt Musterhausen",
    "municipality_kind": "Markt",
    "municipality_ags": "09189154",
    "municipality_regierungsbezirk": "Oberbayern",
    "municipality_kreis": "Traunstein",
    "municipality_street": "Marktplatz 1",
    "municipality_postcode": "83278",
    "municipality_city": "Musterhausen",
    "municipality_email": "rathaus@musterhausen.example",
    "municipality_phone": "+49 861 000000",
    "municipality_website": "https://www.musterhausen.example",
    "representative_title": "Erster Bürgermeister",
    "representative_name": "Max Mustermann",
    "supervisory_authority": "Landratsamt Traunstein",
    "dpo_name": "Datenschutzbeauftragte des Marktes Musterhausen",
    "dpo_email": "datenschutz@musterhausen.example",
}
BEISPIELSTADT = {
    "municipality_id": "beispielstadt",
    "municipality_name": "Beispielstadt",
    "municipality_official_name": "Stadt Beispielstadt",
    "municipality_kind": "Kreisfreie Stadt",
    "municipality_ags": "09761000",
    "municipality_regierungsbezirk": "Schwaben",
    "municipality_street": "Rathausplatz 1",
    "municipality_postcode": "86150",
    "municipality_city": "Beispielstadt",
    "municipality_email": "info@beispielstadt.example",
    "municipality_phone": "+49 821 000000",
    "municipality_website": "https://www.beispielstadt.example",
    "representative_title": "Oberbürgermeisterin",
    "representative_name": "Erika Musterfrau",
    "supervisory_authority": "Regierung von Schwaben",
    "dpo_name": "Datenschutzbeauftragter der Stadt Beispielstadt",
    "dpo_email": "datenschutz@beispielstadt.example",
}
# Words that identify Musterhausen in rendered text (name, id, AGS, contacts, people).
MUSTERHAUSEN_MARKERS = ("musterhausen", "09189154", "83278", "mustermann", "traunstein")

# An answer that breaks naive YAML/TOML quoting: quotes, a colon and a comment sign.
TRICKY = "Stadt \"Nord\": Au #2 \\ 'ok'"


def _git(cwd: Path, *args: str) -> None:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"git {' '.join(args)} failed:\n{result.stderr}"


def _tool(cwd: Path, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a Python tool of this environment (reuse, check_jsonschema) in *cwd*."""
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def rendered_files(project: Path) -> list[str]:
    """Relative POSIX paths of every file in *project*, without git's own files."""
    return sorted(
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(project).parts
    )


def reuse_lint(project: Path) -> None:
    """Commit *project* to a fresh git repository and require `reuse lint` to pass."""
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "Generated project")
    result = _tool(project, "reuse", "lint")
    assert result.returncode == 0, result.stdout + result.stderr


def kit_template() -> dict[str, Any]:
    with (BASE_DIR / "kit-template.toml").open("rb") as handle:
        return tomllib.load(handle)


def load_publiccode(project: Path) -> dict[str, Any]:
    data = yaml.safe_load((project / "publiccode.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture
def render(template_repo: Any, tmp_path: Path) -> Callable[..., Path]:
    """Render the `base` template (release v1.0.0) with *data* into a fresh directory."""
    counter = itertools.count()

    def _render(**data: str) -> Path:
        dest = tmp_path / f"project-{next(counter)}"
        run_copy(
            str(template_repo.path),
            str(dest),
            data={"template": "base", **data},
            defaults=True,
            unsafe=False,
            quiet=True,
            vcs_ref="v1.0.0",
        )
        return dest

    return _render


# --- Licences and REUSE ----------------------------------------------------------------------


@pytest.mark.parametrize("license_id", [pytest.param(lic, id=lic) for lic in LICENSES])
def test_licence_files_and_reuse_lint(render: Callable[..., Path], license_id: str) -> None:
    project = render(license=license_id, **MUSTERHAUSEN)

    assert sorted(p.name for p in (project / "LICENSES").iterdir()) == [f"{license_id}.txt"]
    spdx_text = (LICENSE_TEXTS / f"{license_id}.txt").read_text(encoding="utf-8")
    assert (project / "LICENSES" / f"{license_id}.txt").read_text(encoding="utf-8") == spdx_text

    licence = (project / "LICENSE").read_text(encoding="utf-8")
    if license_id == "MIT":
        assert licence.splitlines()[2] == "Copyright (c) Markt Musterhausen"
        assert "<year>" not in licence
    else:
        assert licence == spdx_text

    reuse = tomllib.loads((project / "REUSE.toml").read_text(encoding="utf-8"))
    assert reuse["version"] == 1
    assert reuse["annotations"] == [
        {
            "path": "**",
            "precedence": "aggregate",
            "SPDX-FileCopyrightText": "Markt Musterhausen",
            "SPDX-License-Identifier": license_id,
        }
    ]
    reuse_lint(project)


def test_reuse_lint_passes_with_placeholders_when_no_municipality_is_given(
    render: Callable[..., Path],
) -> None:
    project = render()

    reuse = tomllib.loads((project / "REUSE.toml").read_text(encoding="utf-8"))
    assert reuse["annotations"][0]["SPDX-FileCopyrightText"].startswith("[fehlt:")
    assert "[fehlt: Sicherheitskontakt]" in (project / "SECURITY.md").read_text(encoding="utf-8")
    reuse_lint(project)


def test_security_policy_names_the_municipality_contact(render: Callable[..., Path]) -> None:
    security = (render(**MUSTERHAUSEN) / "SECURITY.md").read_text(encoding="utf-8")

    assert "rathaus@musterhausen.example" in security
    assert "[fehlt:" not in security


# --- publiccode.yml --------------------------------------------------------------------------


def assert_mandatory_publiccode_keys(data: dict[str, Any]) -> None:
    for key in (
        "publiccodeYmlVersion",
        "name",
        "url",
        "platforms",
        "developmentStatus",
        "softwareType",
        "description",
        "legal",
        "maintenance",
        "localisation",
    ):
        assert data.get(key) not in (None, "", []), key
    assert data["publiccodeYmlVersion"] == "0.4"
    assert data["platforms"] == ["web"]
    assert data["softwareType"] == "standalone/web"
    for lang, description in data["description"].items():
        assert 0 < len(description["shortDescription"]) <= 150, lang
        assert 150 <= len(description["longDescription"]) <= 10_000, lang
        assert description["features"], lang
        assert all(isinstance(feature, str) and feature for feature in description["features"])
    assert "de" in data["description"]
    assert data["legal"]["license"]
    assert data["maintenance"]["type"] in MAINTENANCE_TYPES
    assert data["localisation"]["localisationReady"] is True
    assert data["localisation"]["availableLanguages"] == ["de", "en"]
    assert data["intendedAudience"] == {"countries": ["DE"], "scope": ["local-authorities"]}


@pytest.mark.parametrize(
    ("maintenance_type", "has_contacts", "has_contractors"),
    [
        pytest.param("internal", True, False, id="internal"),
        pytest.param("community", True, False, id="community"),
        pytest.param("contract", False, True, id="contract"),
        pytest.param("none", False, False, id="none"),
    ],
)
def test_publiccode_maintenance(
    render: Callable[..., Path], maintenance_type: str, has_contacts: bool, has_contractors: bool
) -> None:
    project = render(
        maintenance_type=maintenance_type,
        maintainer_name="Digitalisierungsteam",
        maintainer_email="digital@musterhausen.example",
        **MUSTERHAUSEN,
    )
    data = load_publiccode(project)

    assert_mandatory_publiccode_keys(data)
    maintenance = data["maintenance"]
    assert maintenance["type"] == maintenance_type
    assert ("contacts" in maintenance) is has_contacts
    assert ("contractors" in maintenance) is has_contractors
    if has_contacts:
        assert maintenance["contacts"] == [
            {"name": "Digitalisierungsteam", "email": "digital@musterhausen.example"}
        ]
    if has_contractors:
        (contractor,) = maintenance["contractors"]
        assert contractor["name"] == "Digitalisierungsteam"
        # No invented contract end: a visible placeholder the project must replace.
        assert contractor["until"].startswith("[fehlt:")


def test_publiccode_fills_answers_and_keeps_ozg_metadata_out(render: Callable[..., Path]) -> None:
    data = load_publiccode(
        render(
            project_name="Hundesteuer online",
            license="MIT",
            development_status="beta",
            repository_url="https://gitlab.opencode.de/musterhausen/hundesteuer",
            **MUSTERHAUSEN,
        )
    )

    assert data["name"] == "Hundesteuer online"
    assert data["url"] == "https://gitlab.opencode.de/musterhausen/hundesteuer"
    assert data["developmentStatus"] == "beta"
    assert data["legal"]["license"] == "MIT"
    assert data["organisation"] == {
        "name": "Markt Musterhausen",
        "uri": "https://www.musterhausen.example",
    }
    assert set(data) <= {
        "publiccodeYmlVersion",
        "name",
        "url",
        "platforms",
        "developmentStatus",
        "softwareType",
        "organisation",
        "usedBy",
        "intendedAudience",
        "description",
        "legal",
        "maintenance",
        "localisation",
    }


def test_publiccode_has_no_organisation_without_its_uri(render: Callable[..., Path]) -> None:
    data = load_publiccode(render(**{**MUSTERHAUSEN, "municipality_organisation_uri": ""}))

    assert_mandatory_publiccode_keys(data)
    assert "organisation" not in data


def test_answers_with_quotes_colons_and_hashes_survive(render: Callable[..., Path]) -> None:
    project = render(
        project_name=f"Hunde: {TRICKY}",
        project_slug="hunde",
        project_description=f"Kurz: {TRICKY}",
        municipality_name="Nord",
        municipality_official_name=TRICKY,
        municipality_organisation_uri="https://nord.example/#start",
        maintainer_name=TRICKY,
        license="MIT",
    )
    data = load_publiccode(project)

    assert_mandatory_publiccode_keys(data)
    assert data["name"] == f"Hunde: {TRICKY}"
    assert data["description"]["de"]["shortDescription"] == f"Kurz: {TRICKY}"
    assert data["maintenance"]["contacts"][0]["name"] == TRICKY
    assert data["legal"]["mainCopyrightOwner"] == TRICKY
    assert data["organisation"]["uri"] == "https://nord.example/#start"
    reuse = tomllib.loads((project / "REUSE.toml").read_text(encoding="utf-8"))
    assert reuse["annotations"][0]["SPDX-FileCopyrightText"] == TRICKY
    assert f"Copyright (c) {TRICKY}\n" in (project / "LICENSE").read_text(encoding="utf-8")
    reuse_lint(project)


def test_english_short_description_stays_within_150_characters(
    render: Callable[..., Path],
) -> None:
    data = load_publiccode(
        render(
            project_name="Sehr " * 60 + "langer Name",
            project_slug="lang",
            project_description="Kurzbeschreibung",
        )
    )

    assert_mandatory_publiccode_keys(data)


# --- CI, Renovate and GitHub files validate against their schemas -----------------------------


def test_configuration_files_validate_against_builtin_schemas(render: Callable[..., Path]) -> None:
    project = render(**MUSTERHAUSEN)
    checks = {
        "renovate": ["renovate.json"],
        "gitlab-ci": [".gitlab-ci.yml", ".gitlab/kit.gitlab-ci.yml"],
        "github-workflows": sorted(
            p.relative_to(project).as_posix() for p in (project / ".github/workflows").iterdir()
        ),
        "github-issue-forms": [
            ".github/ISSUE_TEMPLATE/fehlermeldung.yml",
            ".github/ISSUE_TEMPLATE/verbesserungsvorschlag.yml",
        ],
        "github-issue-config": [".github/ISSUE_TEMPLATE/config.yml"],
    }
    failures = []
    for schema, files in checks.items():
        result = _tool(
            project,
            "check_jsonschema",
            "--no-cache",
            "--builtin-schema",
            f"vendor.{schema}",
            *files,
        )
        if result.returncode != 0:
            failures.append(f"{schema}: {result.stdout}{result.stderr}")
    assert not failures, "\n".join(failures)


def test_renovate_enables_the_copier_manager(render: Callable[..., Path]) -> None:
    config = yaml.safe_load((render() / "renovate.json").read_text(encoding="utf-8"))

    assert config["copier"] == {"enabled": True}
    assert "enabledManagers" not in config
    # one branch per answers file (issue 12; proven with the real Renovate in test_renovate_real.py)
    assert {"matchManagers": ["copier"], "additionalBranchPrefix": "{{{packageFile}}}-"}.items() <= next(
        rule for rule in config["packageRules"] if "additionalBranchPrefix" in rule).items()
    assert re.search(r"(^|/)\.copier-answers(\..+)?\.ya?ml", ANSWERS_FILE)


def test_gitlab_ci_jobs_and_stages(render: Callable[..., Path]) -> None:
    project = render()
    root = yaml.safe_load((project / ".gitlab-ci.yml").read_text(encoding="utf-8"))
    kit = yaml.safe_load((project / ".gitlab/kit.gitlab-ci.yml").read_text(encoding="utf-8"))

    assert root["include"] == [{"local": ".gitlab/kit.gitlab-ci.yml"}]
    jobs = {name: job for name, job in kit.items() if not name.startswith(".")}
    assert set(jobs) == {"reuse", "kit-check", "template-update"}
    assert {job["stage"] for job in jobs.values()} <= set(root["stages"]) == {"check", "update"}
    assert "stages" not in kit  # the including pipeline owns the stage list
    assert jobs["kit-check"]["artifacts"]["paths"] == ["kit-status.json"]
    assert jobs["template-update"]["rules"] == [
        {"if": '$CI_PIPELINE_SOURCE == "schedule" && $KIT_UPDATE == "true"'}
    ]
    script = "\n".join(jobs["template-update"]["script"])
    assert "kit update --commit" in script
    assert "KIT_UPDATE_TOKEN" in script
    assert "kit/template-update" in str(jobs["template-update"]["variables"])


def test_kit_check_job_fails_on_committed_conflict_markers_and_says_how_to_resolve(
    render: Callable[..., Path],
) -> None:
    """The job's script lines, run as GitLab runs them (one shell, stop at the first failure)."""
    project = render()
    kit = yaml.safe_load((project / ".gitlab/kit.gitlab-ci.yml").read_text(encoding="utf-8"))
    script = kit["kit-check"]["script"]
    assert "kit check . --select KIT605" in script
    readme = project / "CONTRIBUTING.md"
    readme.write_text(readme.read_text(encoding="utf-8")
                      + "<<<<<<< before updating\nalt\n=======\nneu\n>>>>>>> after updating\n", encoding="utf-8")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "Renovate: update base"]):
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)
    env_path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    done = subprocess.run(["bash", "-ec", "\n".join(script)], cwd=project, capture_output=True, text=True,
                          check=False, env={**os.environ, "PATH": env_path})
    assert done.returncode != 0
    assert "KIT605" in done.stdout
    assert "CONTRIBUTING.md (line" in done.stdout
    assert "delete the <<<<<<< / ======= / >>>>>>> lines and commit" in done.stdout
    workflow = yaml.safe_load((project / ".github/workflows/kit.yml").read_text(encoding="utf-8"))
    runs = [step.get("run", "") for step in workflow["jobs"]["kit-check"]["steps"]]
    assert "kit check . --select KIT605" in runs


def test_github_update_job_has_write_permissions_only_where_needed(
    render: Callable[..., Path],
) -> None:
    workflow = yaml.safe_load((render() / ".github/workflows/kit.yml").read_text(encoding="utf-8"))

    assert workflow["permissions"] == {"contents": "read"}
    update = workflow["jobs"]["template-update"]
    assert update["permissions"] == {"contents": "write", "pull-requests": "write"}
    steps = "\n".join(step.get("run", "") for step in update["steps"])
    assert "kit update --commit" in steps
    assert "gh pr create" in steps


# --- Layering --------------------------------------------------------------------------------


def test_layered_project_leaves_readme_and_gitlab_ci_to_the_service(
    render: Callable[..., Path],
) -> None:
    project = render(layered_template="ozg-service", **MUSTERHAUSEN)
    files = rendered_files(project)

    assert "README.md" not in files
    assert ".gitlab-ci.yml" not in files
    assert ".gitlab/kit.gitlab-ci.yml" in files
    # The "**" annotation in REUSE.toml also covers files a further layer adds.
    (project / "app").mkdir()
    (project / "app" / "main.py").write_text("print('service')\n", encoding="utf-8")
    reuse_lint(project)


# --- kit-template.toml and copier.yml --------------------------------------------------------


def test_matrix_covers_every_licence_and_maintenance_type() -> None:
    matrix = kit_template()["matrix"]
    ids = [entry["id"] for entry in matrix]

    assert len(ids) == len(set(ids))
    assert {entry["data"]["license"] for entry in matrix} == set(LICENSES)
    assert {entry["data"]["maintenance_type"] for entry in matrix} == set(MAINTENANCE_TYPES)
    questions = yaml.safe_load((REPO_ROOT / "templates/project-questions.yml").read_text("utf-8"))
    assert set(questions["license"]["choices"].values()) == set(LICENSES)
    assert set(questions["maintenance_type"]["choices"]) == set(MAINTENANCE_TYPES)


def test_every_rendered_file_is_classified_exactly_once(render: Callable[..., Path]) -> None:
    declared = kit_template()["files"]
    patterns = [(kind, p) for kind in ("managed", "seeded") for p in declared[kind]]
    specs = {pattern: GitIgnoreSpec.from_lines([pattern]) for _, pattern in patterns}
    used: set[str] = set()
    problems = []
    for entry in kit_template()["matrix"]:
        project = render(**entry["data"])
        for path in rendered_files(project):
            if path == ANSWERS_FILE:
                continue
            matches = [(kind, p) for kind, p in patterns if specs[p].match_file(path)]
            used.update(p for _, p in matches)
            if len(matches) != 1:
                problems.append(f"{entry['id']}: {path} matches {matches or 'nothing'}")
    assert not problems, "\n".join(problems)
    assert not set(declared["managed"]) & set(declared["seeded"])
    assert used == set(specs), f"patterns that match no rendered file: {set(specs) - used}"


class _IncludeTolerantLoader(yaml.SafeLoader):
    """Reads copier.yml without resolving Copier's `!include` tags."""


_IncludeTolerantLoader.add_constructor("!include", lambda loader, node: None)


@pytest.mark.parametrize("template", ["base", "ozg-service"])
def test_copier_skips_exactly_the_seeded_files_of_each_template(template: str) -> None:
    """`_skip_if_exists` in copier.yml is derived from each kit-template.toml: plain `copier update`
    leaves exactly the seeded files of the layer it updates to the project."""
    text = (REPO_ROOT / "copier.yml").read_text(encoding="utf-8")
    settings = next(yaml.load_all(text, Loader=_IncludeTolerantLoader))
    env = Environment(autoescape=False)
    rendered = (env.from_string(p).render(template=template) for p in settings["_skip_if_exists"])
    declaration = tomllib.loads((REPO_ROOT / "templates" / template / "kit-template.toml").read_text(encoding="utf-8"))
    assert {pattern for pattern in rendered if pattern} == set(declaration["files"]["seeded"])


# --- Reproducibility and owner metadata ------------------------------------------------------


def _contents(project: Path) -> dict[str, bytes]:
    return {path: (project / path).read_bytes() for path in rendered_files(project)}


def test_two_renders_with_the_same_answers_are_identical(render: Callable[..., Path]) -> None:
    answers = {"license": "MIT", "maintenance_type": "contract", **MUSTERHAUSEN}

    assert _contents(render(**answers)) == _contents(render(**answers))


def test_rendered_files_contain_no_dates(render: Callable[..., Path]) -> None:
    iso_date = re.compile(rb"\b(19|20)\d\d-[01]\d-[0-3]\d\b")
    project = render(**MUSTERHAUSEN)

    dated = [path for path, data in _contents(project).items() if iso_date.search(data)]
    assert not dated


@pytest.mark.parametrize("license_id", [pytest.param(lic, id=lic) for lic in LICENSES])
def test_municipalities_differ_only_in_owner_metadata(
    render: Callable[..., Path], license_id: str
) -> None:
    project = {"project_name": "Hundesteuer online", "license": license_id}
    first = _contents(render(**project, **MUSTERHAUSEN))
    second = _contents(render(**project, **BEISPIELSTADT))

    assert set(first) == set(second)
    differing = {path for path in first if first[path] != second[path]}
    assert differing <= OWNER_METADATA_FILES | {ANSWERS_FILE}


def test_no_file_outside_owner_metadata_mentions_the_municipality(
    render: Callable[..., Path],
) -> None:
    project = render(license="MIT", **MUSTERHAUSEN)

    mentions = {
        path: [marker for marker in MUSTERHAUSEN_MARKERS if marker in data.decode().lower()]
        for path, data in _contents(project).items()
        if path not in OWNER_METADATA_FILES and path != ANSWERS_FILE
    }
    assert {path: found for path, found in mentions.items() if found} == {}
