"""The go-live check lists every missing item and fails until none is left."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app import golive
from app.settings import PROJECT_ROOT
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
    result = run("--kommune", DATA / "kommune_complete.toml", "--service", complete_service)
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
