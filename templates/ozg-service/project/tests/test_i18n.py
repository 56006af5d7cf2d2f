"""Languages: German first, English second, every string translatable."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.forms import FormDefinition
from app.i18n import LANGUAGES, Translator, load_catalogue
from app.main import APP_DIR


def test_catalogues_have_the_same_keys() -> None:
    german, english = load_catalogue("de"), load_catalogue("en")
    assert set(german) == set(english)
    assert all(value.strip() for value in english.values())


def test_every_key_used_in_templates_and_code_exists() -> None:
    catalogue = load_catalogue("de")
    sources = [*APP_DIR.glob("templates/**/*.html"), *APP_DIR.glob("*.py")]
    used: set[str] = set()
    for path in sources:
        used |= set(re.findall(r"""\bt\(\s*['"]([a-z_0-9]+\.[a-z_0-9.]+)['"]\s*[,)]""",
                               path.read_text(encoding="utf-8")))
        used |= set(re.findall(r"""labels\(\s*['"]([a-z_0-9]+\.[a-z_0-9.]+)['"]\s*[,)]""",
                               path.read_text(encoding="utf-8")))
    assert used, "no translation keys found"
    assert sorted(used - set(catalogue)) == []
    for status in (403, 404, 405, 413, 500):
        assert f"page_error.{status}_title" in catalogue


def test_every_form_text_has_an_english_version(form: FormDefinition) -> None:
    for page in form.pages:
        assert page.title.get("en"), page.id
        for field in page.fields:
            assert field.label.get("en"), field.name
            if field.hint:
                assert field.hint.get("en"), field.name
            for option in field.options:
                assert option.label.get("en"), (field.name, option.value)


def test_language_switch_and_lang_attribute(client: TestClient, form: FormDefinition) -> None:
    german = client.get("/").text
    assert '<html lang="de">' in german
    assert re.search(r'href="/\?lang=en" lang="en" hreflang="en"', german)
    english = client.get("/?lang=en").text
    assert '<html lang="en">' in english
    assert re.search(r'href="/" lang="de" hreflang="de"', english)
    assert "Start now" in english
    page = client.get(f"/antrag/{form.pages[0].id}?lang=en").text
    assert form.pages[0].title["en"] in page
    assert f'action="/antrag/{form.pages[0].id}?lang=en"' in page


def test_unknown_language_falls_back_to_german(client: TestClient) -> None:
    assert '<html lang="de">' in client.get("/?lang=xx").text


def test_texts_can_be_overridden_from_service_toml() -> None:
    translator = Translator({"de": {"start": {"button": "Antrag starten"}}})
    assert translator.t("de", "start.button") == "Antrag starten"
    assert translator.t("en", "start.button") == "Start now"
    assert set(LANGUAGES) == {"de", "en"}
