"""Security: headers, CSRF, cookies, body limit, secret key, no external resources."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from app.forms import FormDefinition
from app.main import create_app
from app.settings import PROJECT_ROOT, Settings, SettingsError
from tests.conftest import csrf, fill_form, make_client

PAGES = ["/", "/impressum", "/datenschutz", "/barrierefreiheit", "/barrierefreiheit/feedback",
         "/antrag/pruefen", "/gibt-es-nicht", "/?lang=en"]


def all_pages(form: FormDefinition) -> list[str]:
    return PAGES + [f"/antrag/{page.id}" for page in form.pages]


def test_security_headers_on_every_page(client: TestClient, form: FormDefinition) -> None:
    for path in [*all_pages(form), "/static/app.css", "/theme.css", "/healthz"]:
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "unsafe-inline" not in csp, path
        assert "unsafe-eval" not in csp, path
        assert "default-src 'none'" in csp
        assert "script-src 'self'" in csp
        assert "style-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "camera=()" in headers["permissions-policy"]


def test_hsts_in_production(settings: Settings) -> None:
    production = dataclasses.replace(settings, environment="production", hsts=True,
                                     secure_cookies=True, staging=True)
    with make_client(production) as client:
        assert "max-age=" in client.get("/").headers["strict-transport-security"]


def test_no_inline_scripts_styles_or_external_resources(
    client: TestClient, form: FormDefinition
) -> None:
    for path in all_pages(form):
        html = client.get(path).text
        assert "<style" not in html, path
        assert " style=" not in html, path
        assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html), path
        assert not re.search(r"\son[a-z]+=", html), path
        for url in re.findall(r'(?:src|href|action)="([^"]+)"', html):
            assert url.startswith(("/", "#", "mailto:")), f"{path}: external resource {url}"


@pytest.mark.parametrize("token", [None, "", "falsch", "0" * 64], ids=["none", "empty", "wrong",
                                                                     "forged"])
def test_form_posts_without_a_valid_csrf_token_get_a_friendly_403(
    client: TestClient, form: FormDefinition, token: str | None
) -> None:
    client.get(f"/antrag/{form.pages[0].id}")
    data = {} if token is None else {"csrf_token": token}
    for path in [f"/antrag/{form.pages[0].id}", "/antrag/pruefen", "/barrierefreiheit/feedback"]:
        response = client.post(path, data=data)
        assert response.status_code == 403, path
        assert "Die Anfrage konnte nicht bearbeitet werden" in response.text
        assert 'class="site-footer"' in response.text  # the service's own design


def test_post_without_a_session_cookie_is_refused(client: TestClient,
                                                  form: FormDefinition) -> None:
    token = csrf(client.get(f"/antrag/{form.pages[0].id}").text)
    client.cookies.clear()
    response = client.post(f"/antrag/{form.pages[0].id}", data={"csrf_token": token})
    assert response.status_code == 403


def test_body_over_the_limit_is_413(client: TestClient, form: FormDefinition,
                                    settings: Settings) -> None:
    token = csrf(client.get(f"/antrag/{form.pages[0].id}").text)
    big = {"csrf_token": token, "x": "a" * (settings.max_body_bytes + 1)}
    response = client.post(f"/antrag/{form.pages[0].id}", data=big)
    assert response.status_code == 413
    assert "Ihre Eingaben sind zu umfangreich" in response.text


def test_streamed_body_over_the_limit_is_413(client: TestClient, form: FormDefinition,
                                             settings: Settings) -> None:
    def chunks():  # no Content-Length: the limit applies while reading
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b"a" * 1024

    response = client.post(f"/antrag/{form.pages[0].id}", content=chunks(),
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413


def test_unknown_page_is_a_404_in_the_service_design(client: TestClient) -> None:
    response = client.get("/gibt-es-nicht")
    assert response.status_code == 404
    assert "Seite nicht gefunden" in response.text
    assert 'href="/impressum"' in response.text
    assert client.get("/gibt-es-nicht?lang=en").text.count("Page not found") >= 1


def test_session_cookie_flags_in_production(settings: Settings, form: FormDefinition) -> None:
    production = dataclasses.replace(settings, environment="production", secure_cookies=True,
                                     staging=True)
    with make_client(production) as client:
        cookie = client.get(f"/antrag/{form.pages[0].id}").headers["set-cookie"]
    assert cookie.startswith("__Host-sid=")
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= flags
    assert not any(flag.startswith(("domain", "expires", "max-age")) for flag in flags)


def test_only_the_session_cookie_is_set(client: TestClient, form: FormDefinition) -> None:
    fill_form(client, form)
    assert set(client.cookies.keys()) == {"sid"}


def test_production_without_secret_key_refuses_to_start() -> None:
    with pytest.raises(SettingsError, match="SERVICE_SECRET_KEY fehlt"):
        Settings.from_env({"SERVICE_ENV": "production"})
    with pytest.raises(SettingsError, match="zu kurz"):
        Settings.from_env({"SERVICE_ENV": "production", "SERVICE_SECRET_KEY": "kurz"})
    with pytest.raises(SettingsError, match="unbekannt"):
        Settings.from_env({"SERVICE_ENV": "staging"})


def test_create_app_exits_with_a_message_without_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERVICE_SECRET_KEY", raising=False)
    monkeypatch.setenv("SERVICE_ENV", "production")
    with pytest.raises(SystemExit, match="Start abgebrochen: SERVICE_SECRET_KEY fehlt"):
        create_app()


def test_python_m_app_refuses_to_start_without_secret() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVICE_")}
    env["SERVICE_ENV"] = "production"
    result = subprocess.run([sys.executable, "-m", "app"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "SERVICE_SECRET_KEY fehlt" in result.stderr


def test_development_mode_works_without_secret() -> None:
    settings = Settings.from_env({"SERVICE_ENV": "development"})
    assert len(settings.secret_key) >= 32
    assert settings.secure_cookies is False


def test_production_defaults_are_secure() -> None:
    settings = Settings.from_env({"SERVICE_SECRET_KEY": "s" * 40})
    assert settings.production
    assert settings.secure_cookies
    assert settings.hsts


def test_no_api_documentation_is_exposed(client: TestClient) -> None:
    for path in ["/docs", "/redoc", "/openapi.json"]:
        assert client.get(path).status_code == 404
