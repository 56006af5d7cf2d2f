"""The citizen journey: start page, form pages, check your answers, confirmation, delivery."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from app.forms import FormDefinition
from app.settings import PROJECT_ROOT, Settings
from tests.conftest import (
    REFERENCE,
    csrf,
    fill_form,
    make_client,
    read_toml,
    reference_on,
    run_worker,
    submit,
)
from tests.samples import valid_answers


def test_start_page_says_what_the_service_does_and_links_to_the_form(
    client: TestClient, form: FormDefinition
) -> None:
    response = client.get("/")
    assert response.status_code == 200
    html = response.text
    assert '<html lang="de">' in html
    assert "Das brauchen Sie" in html
    assert f'href="/antrag/{form.pages[0].id}"' in html
    assert "Jetzt starten" in html
    assert "set-cookie" not in response.headers  # no cookie before the form starts


def test_every_form_page_has_a_step_caption_and_a_back_link(
    client: TestClient, form: FormDefinition
) -> None:
    for index, page in enumerate(form.pages):
        html = client.get(f"/antrag/{page.id}").text
        assert f"Schritt {index + 1} von {len(form.pages)}" in html
        assert 'class="back-link"' in html
        for field in page.fields:
            assert f'id="{field.input_id}"' in html


def test_full_journey_ends_with_a_reference_number_and_one_delivered_file(
    client: TestClient, form: FormDefinition, settings: Settings
) -> None:
    reference = submit(client, form)
    assert REFERENCE.match(reference), reference
    files = list(settings.outbox_dir.glob("*.json"))
    assert [f.name for f in files] == [f"{reference}.json"]
    delivered = json.loads(files[0].read_text(encoding="utf-8"))
    service = read_toml(PROJECT_ROOT / "service.toml")["service"]
    kommune = read_toml(PROJECT_ROOT / "kommune.toml")["municipality"]
    assert delivered["reference"] == reference
    assert delivered["kind"] == "application"
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$", delivered["createdAt"])
    assert delivered["municipality"]["ags"] == (kommune["ags"] or None)
    metadata = delivered["metadata"]
    leika = service["leika_key"]
    expected_urn = f"urn:de:fim:leika:leistung:{leika}" if leika else None
    assert metadata["publicServiceType"]["identifier"] == expected_urn
    assert metadata["additionalReferenceInfo"]["senderReference"] == reference
    assert metadata["contentStructure"]["data"]["hash"]["type"] == "sha512"
    assert set(delivered["data"]) == {f.name for p in form.pages for f in p.fields}


def test_check_page_lists_every_answer_with_a_change_link(
    client: TestClient, form: FormDefinition
) -> None:
    fill_form(client, form)
    html = client.get("/antrag/pruefen").text
    for page in form.pages:
        for field in page.fields:
            link = f'href="/antrag/{page.id}?return=pruefen#{field.input_id}"'
            assert link in html, f"no change link for {field.name}"
    assert html.count(">Ändern<") == sum(len(p.fields) for p in form.pages)


def test_change_link_returns_to_the_check_page(client: TestClient, form: FormDefinition) -> None:
    token = fill_form(client, form)
    page = form.pages[0]
    html = client.get(f"/antrag/{page.id}?return=pruefen").text
    assert 'name="return" value="pruefen"' in html
    assert 'href="/antrag/pruefen"' in html  # the back link leads to the check page
    response = client.post(f"/antrag/{page.id}",
                           data={**valid_answers(form)[page.id], "return": "pruefen",
                                 "csrf_token": token},
                           follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/antrag/pruefen"


def test_check_page_before_completion_redirects_to_the_first_unfinished_page(
    client: TestClient, form: FormDefinition
) -> None:
    client.get(f"/antrag/{form.pages[0].id}")
    response = client.get("/antrag/pruefen", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/antrag/{form.pages[0].id}"


def test_submitting_twice_stores_one_application(
    client: TestClient, form: FormDefinition, settings: Settings
) -> None:
    token = fill_form(client, form)
    first = client.post("/antrag/pruefen", data={"csrf_token": token})
    second = client.post("/antrag/pruefen", data={"csrf_token": token})  # from the history
    assert first.status_code == second.status_code == 200
    assert reference_on(first.text) == reference_on(second.text)
    assert run_worker(client).delivered == 1
    assert len(list(settings.outbox_dir.glob("*.json"))) == 1


def test_confirmation_without_submission_redirects_to_start(client: TestClient) -> None:
    response = client.get("/antrag/bestaetigung", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_english_journey_keeps_the_language(client: TestClient, form: FormDefinition) -> None:
    token = fill_form(client, form, lang="en")
    html = client.get("/antrag/pruefen?lang=en").text
    assert '<html lang="en">' in html
    assert "Check your answers" in html
    response = client.post("/antrag/pruefen?lang=en", data={"csrf_token": token},
                           follow_redirects=False)
    assert response.headers["location"] == "/antrag/bestaetigung?lang=en"
    assert "Application submitted" in client.get(response.headers["location"]).text


def test_answers_are_kept_when_going_back(client: TestClient, form: FormDefinition) -> None:
    fill_form(client, form)
    page = form.pages[0]
    html = client.get(f"/antrag/{page.id}").text
    text_fields = [f for f in page.fields if f.type == "text"]
    for field in text_fields:
        assert re.search(rf'id="f-{field.name}"[^>]*value="[^"]+"', html), field.name


def test_unknown_form_page_is_404(client: TestClient) -> None:
    assert client.get("/antrag/gibt-es-nicht").status_code == 404


def test_first_form_page_redirect(client: TestClient, form: FormDefinition) -> None:
    response = client.get("/antrag", follow_redirects=False)
    assert response.headers["location"] == f"/antrag/{form.pages[0].id}"


def test_csrf_token_is_bound_to_the_session(client: TestClient, form: FormDefinition,
                                            settings: Settings) -> None:
    token = csrf(client.get(f"/antrag/{form.pages[0].id}").text)
    with make_client(settings) as other:
        other.get(f"/antrag/{form.pages[0].id}")
        response = other.post(f"/antrag/{form.pages[0].id}", data={"csrf_token": token})
    assert response.status_code == 403


def test_check_answers_has_a_back_link_to_the_last_page(client: TestClient,
                                                        form: FormDefinition) -> None:
    fill_form(client, form, lang="en")
    html = client.get("/antrag/pruefen?lang=en").text
    assert f'<a href="/antrag/{form.pages[-1].id}?lang=en" class="back-link">Back</a>' in html


def test_the_start_page_states_the_time_limit(client: TestClient, settings: Settings) -> None:
    minutes = settings.session_max_age // 60
    assert f"wenn Sie {minutes} Minuten lang nichts eingeben" in client.get("/").text
    assert f"for {minutes} minutes" in client.get("/?lang=en").text


def test_more_time_restarts_the_session_clock(client: TestClient, form: FormDefinition) -> None:
    token = fill_form(client, form)
    session_id = client.cookies["sid"]
    store = client.app.state.service.store  # type: ignore[attr-defined]
    with store._transaction() as cursor:  # 50 of 60 minutes have passed
        cursor.execute("UPDATE sessions SET updated_at = updated_at - 3000 WHERE id = ?",
                       (session_id,))
    assert store.load_session(session_id, 600) is None  # would be over in a 10-minute limit
    extended = client.post("/sitzung/verlaengern", data={"csrf_token": token},
                           headers={"accept": "application/json"})
    assert extended.status_code == 200
    assert extended.json() == {"expires_in": 3600}
    assert store.load_session(session_id, 600)["answers"], "the answers are kept"


def test_more_time_without_script_returns_to_the_page_and_nowhere_else(
    client: TestClient, form: FormDefinition
) -> None:
    token = fill_form(client, form)
    back = client.post("/sitzung/verlaengern", follow_redirects=False,
                       data={"csrf_token": token, "return": f"/antrag/{form.pages[1].id}"})
    assert back.headers["location"] == f"/antrag/{form.pages[1].id}"
    for evil in ("https://example.org/", "//example.org", "/antrag/../../x", ""):
        away = client.post("/sitzung/verlaengern", follow_redirects=False,
                           data={"csrf_token": token, "return": evil})
        assert away.headers["location"] == "/antrag", evil
