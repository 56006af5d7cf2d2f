"""Bad input in the running service: every field type, limits, markup, and how errors are shown.

Uses tests/data/all_types_form.toml, so these tests hold whatever the project's form.toml says.
"""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from app.forms import (
    Field,
    FormDefinition,
    FormDefinitionError,
    Option,
    date_example,
    hint_text,
    load_form,
    parse_form,
    validate_field,
)
from tests.conftest import csrf, fill_form

VALID_ONE = {"name": "Erika", "mail": "erika@example.org", "plz": "86150",
             "datum": "27.03.1985", "zahl": "3"}
VALID_TWO = {"text": "Hallo", "wahl": "a", "liste": "x", "ok": "yes"}
TODAY = dt.date(2025, 6, 15)


def post_one(client: TestClient, **changes: str) -> tuple[int, str]:
    token = csrf(client.get("/antrag/eins").text)
    data = {**VALID_ONE, **changes, "csrf_token": token}
    response = client.post("/antrag/eins", data=data, follow_redirects=False)
    return response.status_code, response.text


def error_summary_targets(html: str) -> list[str]:
    summary = re.search(r'<div class="error-summary".*?</div>', html, re.S)
    assert summary, "no error summary"
    return re.findall(r'href="#([^"]+)"', summary.group(0))


def test_missing_required_fields_show_summary_and_messages_beside_each_field(
    test_form_client: TestClient,
) -> None:
    token = csrf(test_form_client.get("/antrag/eins").text)
    response = test_form_client.post("/antrag/eins", data={"csrf_token": token})
    assert response.status_code == 422
    html = response.text
    assert html.index('class="error-summary"') < html.index("<h1")  # summary at the top
    assert "<title>Fehler:" in html
    targets = error_summary_targets(html)
    assert targets == ["f-name", "f-mail", "f-plz", "f-datum", "f-zahl"]
    for target in targets:
        # The link target exists, and the message is tied to the field.
        assert f'id="{target}"' in html
        assert f'id="{target}-error"' in html
        assert re.search(rf'id="{target}"[^>]*aria-describedby="[^"]*{target}-error', html)
        assert re.search(rf'id="{target}"[^>]*aria-invalid="true"', html)


def test_missing_choices_link_to_the_first_option(test_form_client: TestClient) -> None:
    token = csrf(test_form_client.get("/antrag/eins").text)
    test_form_client.post("/antrag/eins", data={**VALID_ONE, "csrf_token": token})
    response = test_form_client.post("/antrag/zwei", data={"csrf_token": token})
    assert response.status_code == 422
    assert error_summary_targets(response.text) == ["f-text", "f-wahl-0", "f-liste", "f-ok"]
    assert "Bitte bestätigen Sie" in response.text
    assert "Bitte wählen Sie bei „Wahl“ eine Antwort aus." in response.text


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        pytest.param({"name": "x" * 21}, "name", "höchstens 20 Zeichen", id="text-too-long"),
        pytest.param({"mail": "kein-at-zeichen"}, "mail", "E-Mail-Adresse im Format",
                     id="email-malformed"),
        pytest.param({"mail": "a@b"}, "mail", "E-Mail-Adresse im Format", id="email-no-tld"),
        pytest.param({"plz": "8615"}, "plz", "Postleitzahl mit 5 Ziffern", id="postcode-short"),
        pytest.param({"plz": "8615A"}, "plz", "Postleitzahl mit 5 Ziffern",
                     id="postcode-letters"),
        pytest.param({"datum": "31.02.2001"}, "datum", "gültiges Datum", id="date-impossible"),
        pytest.param({"datum": "morgen"}, "datum", "gültiges Datum", id="date-text"),
        pytest.param({"datum": "01.01.2999"}, "datum", "nicht in der Zukunft",
                     id="date-in-future"),
        pytest.param({"zahl": "drei"}, "zahl", "ganze Zahl", id="number-text"),
        pytest.param({"zahl": "11"}, "zahl", "höchstens 10", id="number-over-max"),
        pytest.param({"zahl": "0"}, "zahl", "mindestens 1", id="number-under-min"),
    ],
)
def test_malformed_values_are_rejected_and_kept(
    test_form_client: TestClient, changes: dict[str, str], field: str, message: str
) -> None:
    status, html = post_one(test_form_client, **changes)
    assert status == 422
    assert error_summary_targets(html) == [f"f-{field}"]
    error = re.search(rf'<p id="f-{field}-error" class="error-message">(.*?)</p>', html, re.S)
    assert error
    assert message in html_lib.unescape(error.group(1))
    # The entered value is shown again so that it can be corrected.
    assert f'value="{escape(changes[field])}"' in html


def test_textarea_over_its_limit(test_form_client: TestClient) -> None:
    token = csrf(test_form_client.get("/antrag/eins").text)
    test_form_client.post("/antrag/eins", data={**VALID_ONE, "csrf_token": token})
    response = test_form_client.post(
        "/antrag/zwei", data={**VALID_TWO, "text": "y" * 51, "csrf_token": token})
    assert response.status_code == 422
    assert "höchstens 50 Zeichen" in html_lib.unescape(response.text)
    assert ">" + "y" * 51 + "</textarea>" in response.text


def test_unknown_option_is_rejected(test_form_client: TestClient) -> None:
    token = csrf(test_form_client.get("/antrag/eins").text)
    test_form_client.post("/antrag/eins", data={**VALID_ONE, "csrf_token": token})
    response = test_form_client.post(
        "/antrag/zwei", data={**VALID_TWO, "wahl": "erfunden", "csrf_token": token})
    assert response.status_code == 422
    assert error_summary_targets(response.text) == ["f-wahl-0"]


SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_markup_in_text_fields_is_shown_escaped_and_never_executed(
    test_form_client: TestClient,
) -> None:
    # In the error state (value kept) ...
    status, html = post_one(test_form_client, name=SCRIPT)
    assert status == 422
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert str(escape(SCRIPT)) in html
    # ... and on the check page after a valid submission.
    token = csrf(test_form_client.get("/antrag/eins").text)
    test_form_client.post("/antrag/eins",
                          data={**VALID_ONE, "name": "<b>Erika</b>", "csrf_token": token})
    response = test_form_client.post("/antrag/zwei", data={
        **VALID_TWO, "text": "<script>alert(1)</script>", "csrf_token": token})
    assert response.status_code == 200
    check = test_form_client.get("/antrag/pruefen").text
    assert "&lt;b&gt;Erika&lt;/b&gt;" in check
    assert "<script>alert" not in check
    assert "&lt;script&gt;alert" in check


def test_optional_field_may_stay_empty_and_shows_optional(test_form_client: TestClient) -> None:
    token = csrf(test_form_client.get("/antrag/eins").text)
    test_form_client.post("/antrag/eins", data={**VALID_ONE, "csrf_token": token})
    html = test_form_client.get("/antrag/zwei").text
    assert "(optional)" in html
    response = test_form_client.post("/antrag/zwei", data={**VALID_TWO, "csrf_token": token},
                                     follow_redirects=False)
    assert response.status_code == 303


def test_error_messages_are_english_on_english_pages(test_form_client: TestClient) -> None:
    token = csrf(test_form_client.get("/antrag/eins?lang=en").text)
    response = test_form_client.post("/antrag/eins?lang=en", data={"csrf_token": token})
    assert "There is a problem" in response.text
    assert "Enter “Name”." in response.text


# --- the validation rules themselves, table-driven ------------------------------------------

TEXT = Field("t", "text", {"de": "T"}, max_length=5)
EMAIL = Field("e", "email", {"de": "E"}, max_length=254)
DATE_FUTURE = Field("d", "date", {"de": "D"}, min_date="today")
NUMBER = Field("n", "number", {"de": "N"}, min=1, max=10)
SELECT = Field("s", "select", {"de": "S"}, options=(Option("a", {"de": "A"}),))
OPTIONAL = Field("o", "text", {"de": "O"}, required=False, max_length=5)


@pytest.mark.parametrize(
    ("field", "raw", "stored", "error"),
    [
        pytest.param(TEXT, "  abc  ", "abc", None, id="text-stripped"),
        pytest.param(TEXT, "abcdef", "abcdef", "error.too_long", id="text-too-long"),
        pytest.param(TEXT, "a\x00b", "ab", None, id="control-characters-dropped"),
        pytest.param(TEXT, "   ", "", "error.required", id="blank-is-missing"),
        pytest.param(OPTIONAL, "", "", None, id="optional-empty"),
        pytest.param(EMAIL, "max@example.org", "max@example.org", None, id="email-ok"),
        pytest.param(EMAIL, "max@@example.org", "max@@example.org", "error.email",
                     id="email-double-at"),
        pytest.param(DATE_FUTURE, "16.06.2025", "2025-06-16", None, id="date-de"),
        pytest.param(DATE_FUTURE, "2025-06-16", "2025-06-16", None, id="date-iso"),
        pytest.param(DATE_FUTURE, "14.06.2025", "14.06.2025", "error.date_not_past",
                     id="date-in-past"),
        pytest.param(NUMBER, "7", "7", None, id="number-ok"),
        pytest.param(NUMBER, "7.5", "7.5", "error.number", id="number-decimal"),
        pytest.param(SELECT, "a", "a", None, id="select-ok"),
        pytest.param(SELECT, "b", "", "error.choose", id="select-unknown"),
    ],
)
def test_validate_field(field: Field, raw: str, stored: str, error: str | None) -> None:
    value, found = validate_field(field, raw, TODAY)
    assert value == stored
    assert (found.key if found else None) == error


@pytest.mark.parametrize(
    ("toml_data", "message"),
    [
        pytest.param({"pages": []}, "mindestens eine Seite", id="no-pages"),
        pytest.param({"form": {"title": {"de": "A"}},
                      "pages": [{"id": "x", "title": {"de": "X"},
                                 "fields": [{"name": "a", "type": "colour",
                                             "label": {"de": "A"}}]}]},
                     "type 'colour' ist unbekannt", id="unknown-type"),
        pytest.param({"form": {"title": {"de": "A"}},
                      "pages": [{"id": "pruefen", "title": {"de": "X"}, "fields": []}]},
                     "reserviert", id="reserved-page-id"),
        pytest.param({"form": {"title": {"de": "A"}},
                      "pages": [{"id": "x", "title": {"de": "X"},
                                 "fields": [{"name": "a", "type": "radio",
                                             "label": {"de": "A"}}]}]},
                     "braucht eine Liste options", id="radio-without-options"),
        pytest.param({"form": {"title": {"de": "A"}},
                      "pages": [{"id": "x", "title": {"en": "X"},
                                 "fields": [{"name": "a", "label": {"de": "A"}}]}]},
                     "deutschen Text", id="no-german-title"),
    ],
)
def test_invalid_form_definitions_are_refused_with_a_clear_message(
    toml_data: dict, message: str
) -> None:
    with pytest.raises(FormDefinitionError, match=r"form\.toml ist fehlerhaft") as error:
        parse_form(toml_data)
    assert message in str(error.value)


# --- hints computed from today ---


def test_date_examples_follow_today_and_the_limits() -> None:
    today = dt.date(2026, 12, 3)
    birth = Field("geburt", "date", {"de": "Geburtsdatum"}, max_date="today")
    appointment = Field("termin", "date", {"de": "Termin"}, min_date="today")
    window = Field("frist", "date", {"de": "Frist"}, min_date="today", max_date="2026-12-10")
    assert date_example(birth, today) == dt.date(1986, 3, 27)
    assert date_example(appointment, today) == dt.date(2026, 12, 17)
    assert date_example(window, today) == dt.date(2026, 12, 10)
    assert hint_text(appointment, "Zum Beispiel {beispiel}", today) == "Zum Beispiel 17.12.2026"
    assert hint_text(appointment, "Ohne Beispiel", today) == "Ohne Beispiel"


def test_every_date_hint_example_is_accepted_by_its_own_field(client: TestClient,
                                                              form: FormDefinition) -> None:
    today = dt.date.today()
    checked = 0
    for page in form.pages:
        html = client.get(f"/antrag/{page.id}").text
        assert "{beispiel}" not in html
        for field in page.fields:
            if field.type != "date" or not field.hint:
                continue
            hint = html.split(f'id="f-{field.name}-hint"', 1)[1].split("</div>", 1)[0]
            example = re.search(r"\d{2}\.\d{2}\.\d{4}", hint)
            assert example, hint
            assert validate_field(field, example.group(0), today)[1] is None, example.group(0)
            checked += 1
    assert checked >= 1 or not any(f.type == "date" for p in form.pages for f in p.fields)


def test_the_example_placeholder_is_refused_outside_date_fields(tmp_path: Path) -> None:
    broken = tmp_path / "form.toml"
    broken.write_text(
        '[form]\ntitle = { de = "A", en = "A" }\n[[pages]]\nid = "p"\n'
        'title = { de = "P", en = "P" }\n[[pages.fields]]\nname = "n"\ntype = "text"\n'
        'label = { de = "N", en = "N" }\n'
        'hint = { de = "Wie {beispiel}", en = "Like {beispiel}" }\n',
        encoding="utf-8")
    with pytest.raises(FormDefinitionError, match="beispiel"):
        load_form(broken)


def test_the_declaration_is_asked_once_on_the_check_answers_page(
    client: TestClient, form: FormDefinition
) -> None:
    fill_form(client, form)
    pages = {page.id: client.get(f"/antrag/{page.id}").text for page in form.pages}
    check = client.get("/antrag/pruefen").text
    assert all("richtig und vollständig" not in html for html in pages.values())
    assert check.count("richtig und vollständig") == 1
