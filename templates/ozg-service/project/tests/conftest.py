"""Shared fixtures: settings in a temporary directory, an HTTP client, and form helpers.

The machinery tests never depend on the project's own form.toml or kommune.toml contents: the
journey is filled in from whatever form.toml defines, and bad-input tests use tests/data.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.delivery import DeliveryReport, deliver_pending
from app.forms import FormDefinition, load_form
from app.main import create_app
from app.settings import PROJECT_ROOT, Settings
from tests.samples import sample_files, valid_answers

DATA = Path(__file__).resolve().parent / "data"
SECRET = "test-secret-key-that-is-long-enough-0123456789"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
REFERENCE = re.compile(r"^[A-Z]-\d{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Development settings with all data in a temporary directory and no background worker."""
    return Settings(
        environment="development",
        secret_key=SECRET,
        secure_cookies=False,
        hsts=False,
        data_dir=tmp_path / "var",
        outbox_dir=tmp_path / "var" / "outbox",
        delivery_interval=0,
        delivery_retry_seconds=0,
    )


def make_client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), base_url="http://testserver")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with make_client(settings) as test_client:
        yield test_client


@pytest.fixture
def form() -> FormDefinition:
    """The project's own form, whatever the municipality put into form.toml."""
    return load_form(PROJECT_ROOT / "form.toml")


@pytest.fixture
def test_form_settings(settings: Settings) -> Settings:
    """Settings that use tests/data/all_types_form.toml (every field type)."""
    return dataclasses.replace(settings, form_file=DATA / "all_types_form.toml")


@pytest.fixture
def test_form_client(test_form_settings: Settings) -> Iterator[TestClient]:
    with make_client(test_form_settings) as test_client:
        yield test_client


def csrf(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def fill_form(client: TestClient, definition: FormDefinition, lang: str = "de",
              overrides: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """Fill in every page; return the CSRF token of the session."""
    query = "" if lang == "de" else f"?lang={lang}"
    token = csrf(client.get(f"/antrag/{definition.pages[0].id}{query}").text)
    answers = valid_answers(definition)
    for page in definition.pages:
        data = {**answers[page.id], **(overrides or {}).get(page.id, {}), "csrf_token": token}
        files = [(field.name, sample) for field in page.fields
                 if field.type == "file" and field.required for sample in sample_files(field)]
        response = client.post(f"/antrag/{page.id}{query}", data=data, files=files or None,
                               follow_redirects=False)
        assert response.status_code == 303, response.text
    return token


def submit(client: TestClient, definition: FormDefinition, *, deliver: bool = True) -> str:
    """Run the whole journey; return the reference number shown on the confirmation page.

    With *deliver* the worker then runs once, as the service's background task would (the test
    settings switch that task off, so that each test decides when delivery happens).
    """
    token = fill_form(client, definition)
    response = client.post("/antrag/pruefen", data={"csrf_token": token})
    assert response.status_code == 200
    reference = reference_on(response.text)
    if deliver:
        run_worker(client)
    return reference


def reference_on(html: str) -> str:
    """The Vorgangsnummer shown on a confirmation page."""
    match = re.search(r"data-reference>([^<]+)<", html)
    assert match, "no reference number on the confirmation page"
    return match.group(1)


def run_worker(client: TestClient) -> DeliveryReport:
    """One run of the delivery worker of the client's service."""
    svc = client.app.state.service  # type: ignore[attr-defined]
    return deliver_pending(svc.store, svc.adapter, svc.settings)


def read_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)
