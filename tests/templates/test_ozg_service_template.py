"""The `ozg-service` template: a running, accessible, legally complete online service.

Projects are rendered as adopters get them: `base` (with layered_template="ozg-service") and then
`ozg-service` on top, both from a tagged temporary copy of the template set, with Copier's public
API. The generated project's own test suite (journey, bad input, security, axe-core in headless
Chromium) runs in a fresh virtual environment in the one test marked `slow`.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from copier import run_copy
from pathspec import GitIgnoreSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
LAYER_DIR = REPO_ROOT / "templates" / "ozg-service"

# Apart from the answers files, only these files may differ between two municipalities: the
# data file the service reads at run time, and repository metadata that names its owner.
ALLOWED_TO_DIFFER = frozenset({
    "kommune.toml", ".copier-answers.base.yml", ".copier-answers.ozg-service.yml",
    "publiccode.yml", "REUSE.toml", "LICENSE", "SECURITY.md", "CODEOWNERS", "README.md",
})
CODE_SUFFIXES = (".py", ".html", ".css", ".js", ".toml", ".yml", ".yaml", ".json", ".md")

AUGSBURG = {
    "municipality_id": "augsburg", "municipality_name": "Augsburg",
    "municipality_official_name": "Stadt Augsburg", "municipality_kind": "Kreisfreie Stadt",
    "municipality_ags": "09761000", "municipality_regierungsbezirk": "Schwaben",
    "municipality_street": "Rathausplatz 1", "municipality_postcode": "86150",
    "municipality_city": "Augsburg", "municipality_website": "https://www.augsburg.de",
    "supervisory_authority": "Regierung von Schwaben",
}
NUERNBERG = {
    "municipality_id": "nuernberg", "municipality_name": "Nürnberg",
    "municipality_official_name": "Stadt Nürnberg", "municipality_kind": "Kreisfreie Stadt",
    "municipality_ags": "09564000", "municipality_regierungsbezirk": "Mittelfranken",
    "municipality_street": "Rathausplatz 2", "municipality_postcode": "90403",
    "municipality_city": "Nürnberg", "municipality_website": "https://www.nuernberg.de",
    "supervisory_authority": "Regierung von Mittelfranken",
    "theme_primary_color": "#7a1a1a", "theme_on_primary_color": "#ffffff",
}
# An answer that breaks naive TOML quoting.
TRICKY = "Stadt \"Nord\": Au #2 \\ 'ok'\tEnde"


def kit_template() -> dict[str, Any]:
    with (LAYER_DIR / "kit-template.toml").open("rb") as handle:
        return tomllib.load(handle)


def rendered_files(project: Path) -> list[str]:
    return sorted(
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(project).parts
    )


def _run(cwd: Path, *args: str, env: dict[str, str] | None = None,
         timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, check=False,
                          env=env, timeout=timeout)


@pytest.fixture
def render(template_repo: Any, tmp_path: Path) -> Callable[..., Path]:
    """Render base (layered) and ozg-service (release v1.0.0) into a fresh directory."""
    counter = itertools.count()

    def _render(*, layers: tuple[str, ...] = ("base", "ozg-service"), **data: str) -> Path:
        dest = tmp_path / f"project-{next(counter)}"
        for layer in layers:
            extra = {"layered_template": "ozg-service"} if layer == "base" else {}
            run_copy(
                str(template_repo.path),
                str(dest),
                data={"template": layer, **extra, **data},
                defaults=True,
                unsafe=False,
                quiet=True,
                vcs_ref="v1.0.0",
                overwrite=True,
            )
        return dest

    return _render


# --- refusals at generation time ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param({"theme_primary_color": "#ffcc00"},
                     r"Hauptfarbe #ffcc00 und Textfarbe #ffffff .* 1\.5\d:1", id="light-primary"),
        pytest.param({"theme_on_primary_color": "#777777"},
                     r"Hauptfarbe #1f4e79 und Textfarbe #777777 .* 1\.9\d:1", id="grey-text"),
        pytest.param({"theme_primary_color": "#767676", "theme_on_primary_color": "#ffffff"},
                     None, id="exactly-4.54-passes"),
        pytest.param({"theme_primary_color": "#777777", "theme_on_primary_color": "#ffffff"},
                     r"4\.48:1", id="just-below-4.5"),
        pytest.param({"theme_primary_color": "#ffdd00", "theme_on_primary_color": "#0b0c0c"},
                     None, id="dark-text-on-yellow-passes"),
    ],
)
def test_generation_refuses_colours_below_4_5_to_1(
    render: Callable[..., Path], data: dict[str, str], expected: str | None
) -> None:
    if expected is None:
        project = render(layers=("ozg-service",), **data)
        kommune = tomllib.loads((project / "kommune.toml").read_text(encoding="utf-8"))
        assert kommune["theme"]["primary"] == data["theme_primary_color"]
        return
    with pytest.raises(ValueError, match="Zu wenig Kontrast") as error:
        render(layers=("ozg-service",), **data)
    assert re.search(expected, str(error.value)), str(error.value)
    assert "4.5:1" in str(error.value)


@pytest.mark.parametrize("key", ["1234", "99123456789012345", "9912345678901a", "99 1234567890"])
def test_generation_refuses_a_leika_key_that_is_not_14_digits(
    render: Callable[..., Path], key: str
) -> None:
    with pytest.raises(ValueError, match="genau 14 Ziffern"):
        render(layers=("ozg-service",), leika_key=key)


def test_service_identifiers_go_to_service_toml_destination_to_kommune_toml(
    render: Callable[..., Path],
) -> None:
    """LeiKa key and OZG-ID describe the service (the same in every municipality); the FIT-Connect
    destination is the receiving authority's, so it is municipality data."""
    project = render(layers=("ozg-service",), leika_key="99123456789012", ozg_id="10215",
                     fit_connect_destination="3b8d1f0e-6c1a-4a7e-9f0d-2b5c7e9a1d44", **AUGSBURG)
    service_text = (project / "service.toml").read_text(encoding="utf-8")
    service = tomllib.loads(service_text)["service"]
    kommune = tomllib.loads((project / "kommune.toml").read_text(encoding="utf-8"))
    assert service["leika_key"] == "99123456789012"
    assert service["ozg_id"] == "10215"
    assert kommune["delivery"]["fit_connect_destination"] == "3b8d1f0e-6c1a-4a7e-9f0d-2b5c7e9a1d44"
    assert "3b8d1f0e" not in service_text
    assert "99123456789012" not in (project / "kommune.toml").read_text(encoding="utf-8")


# --- municipality data -------------------------------------------------------------------------


def test_kommune_toml_carries_the_profile_and_survives_awkward_values(
    render: Callable[..., Path],
) -> None:
    project = render(layers=("ozg-service",),
                     **{**AUGSBURG, "representative_name": TRICKY, "dpo_address": TRICKY})
    kommune = tomllib.loads((project / "kommune.toml").read_text(encoding="utf-8"))
    assert kommune["municipality"]["official_name"] == "Stadt Augsburg"
    assert kommune["municipality"]["ags"] == "09761000"
    assert kommune["municipality"]["address"] == {
        "street": "Rathausplatz 1", "postcode": "86150", "city": "Augsburg"}
    assert kommune["imprint"]["supervisory_authority"] == "Regierung von Schwaben"
    assert kommune["representative"]["name"] == TRICKY
    assert kommune["data_protection_officer"]["address"] == TRICKY
    assert kommune["theme"] == {"primary": "#1f4e79", "on_primary": "#ffffff"}


def test_without_profile_every_value_stays_empty(render: Callable[..., Path]) -> None:
    project = render()
    kommune = tomllib.loads((project / "kommune.toml").read_text(encoding="utf-8"))
    assert kommune["municipality"]["name"] == ""
    assert kommune["municipality"]["ags"] == ""
    assert kommune["data_protection_officer"]["name"] == ""
    assert (project / "README.md").read_text(encoding="utf-8").startswith(
        "# Online-Dienst – Kommune (noch nicht festgelegt)\n")


def test_two_municipalities_differ_only_in_data_answers_and_owner_metadata(
    render: Callable[..., Path],
) -> None:
    augsburg, nuernberg = render(**AUGSBURG), render(**NUERNBERG)
    files = rendered_files(augsburg)
    assert files == rendered_files(nuernberg)
    differing = {
        name for name in files
        if (augsburg / name).read_bytes() != (nuernberg / name).read_bytes()
    }
    assert "kommune.toml" in differing
    assert differing <= ALLOWED_TO_DIFFER, sorted(differing - ALLOWED_TO_DIFFER)
    # No Python module, page template, stylesheet, script or test differs.
    assert not {name for name in differing
                if name.startswith(("app/", "tests/", "benchmarks/", "docs/"))}
    # The README differs in its title line only.
    readme_a = (augsburg / "README.md").read_text(encoding="utf-8").splitlines()
    readme_n = (nuernberg / "README.md").read_text(encoding="utf-8").splitlines()
    assert readme_a[0] == "# Online-Dienst – Stadt Augsburg"
    assert readme_n[0] == "# Online-Dienst – Stadt Nürnberg"
    assert readme_a[1:] == readme_n[1:]
    for project, name in ((augsburg, "augsburg"), (nuernberg, "nürnberg")):
        for path in files:
            if path.endswith(CODE_SUFFIXES) and path not in ALLOWED_TO_DIFFER:
                text = (project / path).read_text(encoding="utf-8").lower()
                assert name not in text, f"{path} names the municipality"


# --- repository standards and CI -----------------------------------------------------------------


def test_layered_project_passes_reuse_lint(render: Callable[..., Path]) -> None:
    project = render(**AUGSBURG)
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-q", "-m", "Generated project")):
        assert _run(project, "git", *args).returncode == 0
    result = _run(project, sys.executable, "-m", "reuse", "lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_files_validate_against_check_jsonschema_builtin_schemas(
    render: Callable[..., Path],
) -> None:
    project = render(**AUGSBURG)
    gitlab = yaml.safe_load((project / ".gitlab-ci.yml").read_text(encoding="utf-8"))
    assert gitlab["include"] == [{"local": ".gitlab/kit.gitlab-ci.yml"}]
    assert gitlab["stages"] == ["test", "check", "update"]
    assert (project / ".gitlab" / "kit.gitlab-ci.yml").is_file()
    for schema, files in (
        ("vendor.gitlab-ci", [".gitlab-ci.yml", ".gitlab/kit.gitlab-ci.yml"]),
        ("vendor.github-workflows", sorted(
            p.relative_to(project).as_posix()
            for p in (project / ".github" / "workflows").glob("*.yml"))),
    ):
        result = _run(project, sys.executable, "-m", "check_jsonschema",
                      "--builtin-schema", schema, *files)
        assert result.returncode == 0, result.stdout + result.stderr
    workflow = (project / ".github" / "workflows" / "service.yml").read_text(encoding="utf-8")
    for step in ("ruff check", "python -m pytest", "SERVICE_REQUIRE_BROWSER"):
        assert step in workflow
        assert step in (project / ".gitlab-ci.yml").read_text(encoding="utf-8")


def test_publiccode_is_complete_for_the_service(render: Callable[..., Path]) -> None:
    project = render(**AUGSBURG)
    publiccode = yaml.safe_load((project / "publiccode.yml").read_text(encoding="utf-8"))
    for key in ("publiccodeYmlVersion", "name", "url", "platforms", "developmentStatus",
                "softwareType", "legal", "maintenance", "localisation", "description"):
        assert key in publiccode, key
    assert publiccode["localisation"]["availableLanguages"] == ["de", "en"]
    assert publiccode["maintenance"]["contacts"]
    assert 0 < len(publiccode["description"]["de"]["shortDescription"]) <= 150


def test_generated_code_passes_ruff(render: Callable[..., Path]) -> None:
    pytest.importorskip("ruff")
    project = render(**AUGSBURG)
    result = _run(project, sys.executable, "-m", "ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_kit_template_declares_every_rendered_file_exactly_once(
    render: Callable[..., Path],
) -> None:
    declaration = kit_template()
    managed = GitIgnoreSpec.from_lines(declaration["files"]["managed"])
    seeded = GitIgnoreSpec.from_lines(declaration["files"]["seeded"])
    project = render(layers=("ozg-service",))
    files = [f for f in rendered_files(project) if f != ".copier-answers.ozg-service.yml"]
    assert files
    for name in files:
        assert managed.match_file(name) != seeded.match_file(name), name
    copier_yml = (REPO_ROOT / "copier.yml").read_text(encoding="utf-8")
    skipped = set(re.findall(r"\{% if template == 'ozg-service' %\}(.+?)\{% endif %\}",
                             copier_yml))
    assert skipped == set(declaration["files"]["seeded"])
    assert {entry["id"] for entry in declaration["matrix"]} >= {"augsburg-defaults"}


def test_seeded_files_survive_an_update(render: Callable[..., Path],
                                        template_repo: Any) -> None:
    from copier import run_update

    project = render(**AUGSBURG)
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-q", "-m", "Generated project")):
        assert _run(project, "git", *args).returncode == 0
    form = project / "form.toml"
    form.write_text(form.read_text(encoding="utf-8") + "\n# Eigene Änderung\n", encoding="utf-8")
    (template_repo.path / "templates/ozg-service/project/form.toml").write_text(
        "# neue Vorlage\n", encoding="utf-8")
    template_repo.release("v1.1.0")
    assert _run(project, "git", "commit", "-qam", "Eigenes Formular").returncode == 0
    run_update(str(project), data={"template": "ozg-service"}, defaults=True, overwrite=True,
               unsafe=False, quiet=True, vcs_ref="v1.1.0",
               answers_file=".copier-answers.ozg-service.yml")
    assert form.read_text(encoding="utf-8").endswith("# Eigene Änderung\n")


# --- the generated project's own test suite ------------------------------------------------------

MATRIX = {entry["id"]: entry["data"] for entry in kit_template().get("matrix", [])}


def _chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def pip_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pip cache for every fresh venv of the session (the registry is asked once)."""
    return tmp_path_factory.mktemp("pip-cache")


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("matrix_id", sorted(MATRIX))
def test_generated_project_passes_its_own_tests_in_a_fresh_venv(
    render: Callable[..., Path], pip_cache: Path, matrix_id: str
) -> None:
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium (/usr/bin/chromium or CHROMIUM_PATH): the generated project's "
                    "accessibility tests need it")
    project = render(**MATRIX[matrix_id])
    env_dir = project / ".venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("SERVICE_", "VIRTUAL_ENV", "PYTHON"))}
    env.update({"PIP_CACHE_DIR": str(pip_cache), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "SERVICE_REQUIRE_BROWSER": "1", "CHROMIUM_PATH": chromium})
    install = _run(project, python, "-m", "pip", "install", "--quiet", "-e", ".[test,postgres]",
                   env=env)
    assert install.returncode == 0, install.stdout + install.stderr
    tests = _run(project, python, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", env=env)
    assert tests.returncode == 0, tests.stdout[-5000:] + tests.stderr[-2000:]
    assert "passed" in tests.stdout.strip().splitlines()[-1]
    skipped = [line for line in tests.stdout.splitlines() if line.startswith("SKIPPED")]
    if os.environ.get("TEST_DATABASE_URL"):  # .ci/run starts PostgreSQL: nothing may skip
        assert skipped == [], skipped
    else:  # only the PostgreSQL tests may skip; the browser tests ran
        assert all("TEST_DATABASE_URL" in line for line in skipped), skipped
    shutil.rmtree(env_dir)
