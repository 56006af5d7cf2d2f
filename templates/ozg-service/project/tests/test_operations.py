"""Operations: health check, logs without personal data, documented settings, theme CSS."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.forms import FormDefinition
from app.main import create_app
from app.settings import PROJECT_ROOT, Settings
from app.theme import contrast_ratio, theme_css
from tests.conftest import DATA, fill_form, make_client, submit


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_logs_are_json_and_contain_no_personal_data(
    settings: Settings, form: FormDefinition, capsys: pytest.CaptureFixture[str]
) -> None:
    with make_client(settings) as client:
        fill_form(client, form, overrides={form.pages[0].id: {}})
        client.get("/?lang=en&name=Geheimname")
        reference = submit(client, form)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert any(entry.get("event") == "request" for entry in lines)
    assert any(entry.get("reference") == reference for entry in lines)
    text = json.dumps(lines, ensure_ascii=False)
    for secret in ["erika.mustermann@example.org", "Beispiel", "86150", "Geheimname",
                   "testclient", "csrf"]:
        assert secret not in text, secret


def test_every_setting_is_documented() -> None:
    source = (PROJECT_ROOT / "app" / "settings.py").read_text(encoding="utf-8")
    names = set(re.findall(r'"((?:SERVICE_|DATABASE_)[A-Z_]+)"', source))
    docs = (PROJECT_ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert names, "no settings found"
    assert sorted(n for n in names if f"`{n}`" not in docs) == []


def test_theme_css_comes_from_kommune_toml(settings: Settings) -> None:
    custom = dataclasses.replace(settings, kommune_file=DATA / "kommune_complete.toml")
    with make_client(custom) as client:
        css = client.get("/theme.css").text
    assert "--color-primary:#005a3c" in css
    assert "--color-on-primary:#ffffff" in css


def test_theme_falls_back_when_contrast_is_too_low() -> None:
    assert "--color-primary:#1f4e79" in theme_css("#ffff00", "#ffffff")


def test_link_colour_is_readable_on_every_background() -> None:
    css = theme_css("#ffcc00", "#000000")  # light primary: links must not use it
    link = re.search(r"--color-link:(#[0-9a-f]{6})", css).group(1)
    assert contrast_ratio(link, "#ffffff") >= 4.5
    assert contrast_ratio(link, "#f3f2f1") >= 4.5


def test_contrast_ratio_matches_wcag_examples() -> None:
    assert round(contrast_ratio("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast_ratio("#767676", "#ffffff"), 2) == 4.54


def test_stylesheet_and_scripts_are_served_by_the_service(client: TestClient) -> None:
    css = client.get("/static/app.css")
    assert css.status_code == 200
    assert "text/css" in css.headers["content-type"]
    assert "@import" not in css.text
    assert "url(http" not in css.text
    assert client.get("/static/app.js").status_code == 200


def test_settings_from_environment(tmp_path: Path) -> None:
    settings = Settings.from_env({
        "SERVICE_ENV": "development", "SERVICE_DATA_DIR": str(tmp_path),
        "SERVICE_MAX_BODY_BYTES": "2048", "DATABASE_URL": "postgresql://db/x",
    })
    assert settings.max_body_bytes == 2048
    assert settings.outbox_dir == tmp_path / "outbox"
    assert settings.effective_database_url == "postgresql://db/x"


def test_unexpected_errors_show_a_friendly_page_and_log_no_details(
    settings: Settings, form: FormDefinition, capsys: pytest.CaptureFixture[str]
) -> None:
    with make_client(settings) as client:
        client.get(f"/antrag/{form.pages[0].id}")

        def broken(*_: object) -> None:
            raise RuntimeError("Geheimer Wert aus dem Formular")

        client.app.state.service.store.load_session = broken
        response = TestClient(client.app, raise_server_exceptions=False,
                              cookies=client.cookies).get(f"/antrag/{form.pages[0].id}")
    assert response.status_code == 500
    assert "Es ist ein Fehler aufgetreten" in response.text
    logged = capsys.readouterr().out
    assert "RuntimeError" in logged
    assert "Geheimer Wert" not in logged


def test_a_broken_form_stops_the_start_with_a_message(settings: Settings, tmp_path: Path) -> None:
    broken = tmp_path / "form.toml"
    broken.write_text('[[pages]]\nid = "x"\n', encoding="utf-8")
    with pytest.raises(SystemExit, match=r"Start abgebrochen: form\.toml ist fehlerhaft"):
        create_app(dataclasses.replace(settings, form_file=broken))
