"""Legal pages built from kommune.toml and service.toml, placeholders, and the footer."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.content import REQUIRED_ITEMS
from app.forms import FormDefinition
from app.settings import Settings
from tests.conftest import DATA, make_client

LEGAL_PAGES = ["/impressum", "/datenschutz", "/barrierefreiheit", "/barrierefreiheit/feedback"]


@pytest.fixture
def complete(settings: Settings) -> Iterator[TestClient]:
    with make_client(dataclasses.replace(
        settings, kommune_file=DATA / "kommune_complete.toml")) as client:
        yield client


@pytest.fixture
def empty(settings: Settings) -> Iterator[TestClient]:
    empty_settings = dataclasses.replace(settings, kommune_file=DATA / "kommune_empty.toml")
    with make_client(empty_settings) as client:
        yield client


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_impressum_names_provider_address_representative_authority_and_responsible(
    complete: TestClient,
) -> None:
    page = text_of(complete.get("/impressum").text)
    for expected in ["Markt Musterhausen", "Körperschaft des öffentlichen Rechts",
                     "Marktplatz 1", "83999 Musterhausen", "rathaus@musterhausen.example",
                     "+49 8000 1234-0", "Erste Bürgermeisterin: Erika Mustermann",
                     "DE999999999", "Landratsamt Traunstein", "Max Muster", "§ 5 DDG",
                     "§ 18 Abs. 2 MStV"]:
        assert expected in page, expected
    assert "[fehlt" not in page


def test_privacy_notice_has_every_article_13_item(complete: TestClient) -> None:
    page = text_of(complete.get("/datenschutz").text)
    for expected in ["Verantwortlicher", "Markt Musterhausen", "Datenschutzbeauftragte",
                     "datenschutz@musterhausen.example", "Art. 6 Abs. 1 Buchst. e DSGVO",
                     "Art. 4 Abs. 1 BayDSG", "Empfänger", "Dauer der Speicherung",
                     "Art. 15 DSGVO", "Art. 21 DSGVO", "Bayerische Landesbeauftragte für den "
                     "Datenschutz", "Server-Protokolle", "IP-Adressen", "TDDDG",
                     "Pflicht zur Bereitstellung"]:
        assert expected in page, expected


def test_accessibility_statement_has_status_issues_assessment_feedback_enforcement(
    complete: TestClient,
) -> None:
    html = complete.get("/barrierefreiheit").text
    page = text_of(html)
    for expected in ["EN 301 549", "WCAG", "2.1", "Nicht barrierefreie Inhalte",
                     "Erstellung dieser Erklärung", "Methode:", "barrierefrei@musterhausen.example",
                     "sechs Wochen", "Landesamt für Digitalisierung, Breitband und Vermessung",
                     "BayBGG", "BayDiV"]:
        assert expected in page, expected
    assert 'href="/barrierefreiheit/feedback"' in html


def test_missing_data_shows_visible_placeholders(empty: TestClient) -> None:
    imprint = empty.get("/impressum").text
    assert '<span class="placeholder">[fehlt: Amtlicher Name der Kommune]</span>' in imprint
    assert "[fehlt: Name der Vertretung]" in imprint
    assert "[fehlt: Rechtsaufsichtsbehörde]" in imprint
    privacy = empty.get("/datenschutz").text
    assert "[fehlt: Datenschutzbeauftragte/r]" in privacy
    statement = empty.get("/barrierefreiheit").text
    assert "[fehlt: E-Mail für Rückmeldungen zur Barrierefreiheit]" in statement
    english = empty.get("/impressum?lang=en").text
    assert "[missing: official name of the municipality]" in english


def test_vat_id_is_only_shown_when_there_is_one(empty: TestClient) -> None:
    assert "Umsatzsteuer" not in empty.get("/impressum").text


def test_every_page_links_the_legal_pages_in_its_footer(
    client: TestClient, form: FormDefinition
) -> None:
    paths = ["/", *LEGAL_PAGES, "/gibt-es-nicht"] + [f"/antrag/{p.id}" for p in form.pages]
    for path in paths:
        footer = client.get(path).text.split('<footer class="site-footer">', 1)[1]
        for target in LEGAL_PAGES:
            assert f'href="{target}"' in footer, f"{path} lacks {target}"


def test_footer_links_keep_the_language(client: TestClient) -> None:
    footer = client.get("/?lang=en").text.split("<footer", 1)[1]
    assert 'href="/impressum?lang=en"' in footer


def test_feedback_form_stores_and_delivers_a_report(complete: TestClient,
                                                    settings: Settings) -> None:
    from tests.conftest import csrf, run_worker

    token = csrf(complete.get("/barrierefreiheit/feedback").text)
    response = complete.post("/barrierefreiheit/feedback",
                             data={"csrf_token": token, "problem": "Kontrast zu schwach",
                                   "page_address": "/antrag/person"})
    assert response.status_code == 200
    assert "Vielen Dank für Ihre Rückmeldung" in response.text
    assert run_worker(complete).delivered == 1
    files = list(settings.outbox_dir.glob("B-*.json"))
    assert len(files) == 1
    assert "Kontrast zu schwach" in files[0].read_text(encoding="utf-8")


def test_feedback_form_requires_a_description(complete: TestClient) -> None:
    from tests.conftest import csrf

    token = csrf(complete.get("/barrierefreiheit/feedback").text)
    response = complete.post("/barrierefreiheit/feedback",
                             data={"csrf_token": token, "email": "kaputt"})
    assert response.status_code == 422
    assert 'href="#f-problem"' in response.text
    assert 'href="#f-email"' in response.text


def test_placeholder_labels_cover_every_required_item() -> None:
    for item in REQUIRED_ITEMS:
        assert item.label_de
        assert item.label_en
