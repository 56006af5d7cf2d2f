"""The go-live check lists every missing item and fails until none is left."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app import golive
from app.main import create_app
from app.settings import PROJECT_ROOT, Settings
from tests.conftest import DATA

COMPLETE_SERVICE = """
[service]
name = { de = "Testdienst", en = "Test service" }
leika_key = "99123456789012"
[accessibility]
assessment_date = "2025-05-01"
[accessibility.enforcement]
contact = "LDBV, München"
"""


@pytest.fixture
def complete_service(tmp_path: Path) -> Path:
    path = tmp_path / "service.toml"
    path.write_text(COMPLETE_SERVICE, encoding="utf-8")
    return path


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.golive", *map(str, args)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
                          check=False)


def test_empty_profile_lists_every_missing_item_and_fails(complete_service: Path) -> None:
    result = run("--kommune", DATA / "kommune_empty.toml", "--service", complete_service)
    assert result.returncode == 1
    for label in ["Amtlicher Name der Kommune", "Amtlicher Gemeindeschlüssel",
                  "Datenschutzbeauftragte/r", "Rechtsaufsichtsbehörde",
                  "E-Mail für Rückmeldungen zur Barrierefreiheit", "Name der Vertretung"]:
        assert label in result.stdout, label


def test_complete_data_passes(complete_service: Path) -> None:
    result = run("--kommune", DATA / "kommune_complete.toml", "--service", complete_service,
                 "--form", DATA / "all_types_form.toml")
    assert result.stdout.startswith("Go-live-Prüfung bestanden"), result.stdout
    assert result.returncode == 0


def test_missing_service_data_is_listed(tmp_path: Path) -> None:
    service = tmp_path / "service.toml"
    service.write_text('[service]\nleika_key = "123"\n', encoding="utf-8")
    found = golive.findings(DATA / "kommune_complete.toml", service, PROJECT_ROOT / "form.toml")
    details = "\n".join(f.detail for f in found)
    assert "service.leika_key='123' (14 Ziffern)" in details
    assert "accessibility.assessment_date ist leer" in details


def test_weak_colour_contrast_is_listed(tmp_path: Path, complete_service: Path) -> None:
    kommune = tmp_path / "kommune.toml"
    text = (DATA / "kommune_complete.toml").read_text(encoding="utf-8")
    kommune.write_text(text.replace('on_primary = "#ffffff"', 'on_primary = "#7f7f7f"'),
                       encoding="utf-8")
    result = run("--kommune", kommune, "--service", complete_service)
    assert result.returncode == 1
    assert "Zu wenig Kontrast: Hauptfarbe #005a3c und Textfarbe #7f7f7f" in result.stdout


def test_broken_form_is_listed(tmp_path: Path, complete_service: Path) -> None:
    form = tmp_path / "form.toml"
    form.write_text("[[pages]]\nid = 'x'\n", encoding="utf-8")
    result = run("--kommune", DATA / "kommune_complete.toml", "--service", complete_service,
                 "--form", form)
    assert result.returncode == 1
    assert "form.toml ist fehlerhaft" in result.stdout


def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    result = run("--kommune", tmp_path / "fehlt.toml")
    assert result.returncode == 2
    assert "fehlt" in result.stderr


def test_the_kits_sample_form_is_listed(complete_service: Path) -> None:
    result = run("--kommune", DATA / "kommune_complete.toml", "--service", complete_service,
                 "--form", PROJECT_ROOT / "form.toml")
    assert result.returncode == 1
    assert "Beispielformular" in result.stdout
    assert "sample = true" in result.stdout


# --- production starts only when go-live passes ---


def production(settings: Settings, complete_service: Path, **changes: object) -> Settings:
    complete: dict[str, object] = {
        "environment": "production", "secure_cookies": False, "hsts": False,
        "kommune_file": DATA / "kommune_complete.toml", "service_file": complete_service,
        "form_file": DATA / "all_types_form.toml",
    }
    return dataclasses.replace(settings, **{**complete, **changes})  # type: ignore[arg-type]


def test_production_refuses_to_start_while_golive_finds_gaps(
    settings: Settings, complete_service: Path
) -> None:
    gappy = production(settings, complete_service, kommune_file=DATA / "kommune_empty.toml")
    with pytest.raises(SystemExit, match=r"python -m app\.golive findet \d+ .*SERVICE_STAGING"):
        create_app(gappy)
    sample = production(settings, complete_service, form_file=PROJECT_ROOT / "form.toml")
    with pytest.raises(SystemExit, match="Beispielformular"):
        create_app(sample)


def test_production_starts_when_golive_passes(settings: Settings, complete_service: Path) -> None:
    with TestClient(create_app(production(settings, complete_service))) as client:
        page = client.get("/")
    assert page.status_code == 200
    assert "Testsystem" not in page.text


def test_a_staging_system_starts_with_gaps_and_says_so_on_every_page(
    settings: Settings, complete_service: Path
) -> None:
    staging = production(settings, complete_service, kommune_file=DATA / "kommune_empty.toml",
                         staging=True)
    with TestClient(create_app(staging)) as client:
        for path in ("/", "/impressum", "/antrag/gibt-es-nicht", "/?lang=en"):
            text = client.get(path).text
            assert "Testsystem" in text or "Test system" in text, path


def test_python_m_app_names_the_gaps_in_one_message(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SERVICE_")}
    env.update({"SERVICE_ENV": "production", "SERVICE_SECRET_KEY": "s" * 48,
                "SERVICE_DATA_DIR": str(tmp_path), "SERVICE_KOMMUNE_FILE":
                str(DATA / "kommune_empty.toml")})
    result = subprocess.run([sys.executable, "-m", "app"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "Start abgebrochen: python -m app.golive findet" in result.stderr
    assert "Traceback" not in result.stderr
