"""FIT-Connect beyond the plain application: routing, attachments and the data's schema.

As in test_fitconnect.py, everything goes through real HTTP to tests/fake_zustelldienst.py,
which decrypts and checks what arrives.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.delivery import DirectoryAdapter, Submission, build_envelope
from app.fitconnect import FitConnectAdapter
from app.forms import load_form
from app.schema import service_schema
from app.settings import Settings
from app.store import DELIVERED, FAILED, PENDING, Store
from tests.conftest import DATA, make_client, submit
from tests.fake_zustelldienst import DESTINATION_ID, FakeZustelldienst
from tests.test_fitconnect import (
    APPLICATION,
    REFERENCE,
    Crash,
    _last_error,
    adapter_for,
    fit_settings,  # noqa: F401 - a fixture used below
    run,
    stored,
)

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40  # binary, not UTF-8
PHOTO = b"\xff\xd8\xff\xe0" + b"Foto" * 1000
ATTACHMENTS = [
    {"id": str(uuid.UUID(int=1)), "filename": "Nachweis.PDF", "mimeType": "application/pdf",
     "content": base64.b64encode(PDF).decode(), "description": "Meldebescheinigung"},
    {"id": str(uuid.UUID(int=2)), "filename": "../../foto.jpg", "mimeType": "image/jpeg",
     "content": base64.b64encode(PHOTO).decode()},
]


@pytest.fixture
def fake() -> Iterator[FakeZustelldienst]:
    server = FakeZustelldienst().start()
    yield server
    server.stop()


# -- routing ------------------------------------------------------------------------------------


def test_without_a_destination_the_routing_api_finds_it_and_it_is_recorded(
    settings: Settings, fake: FakeZustelldienst
) -> None:
    store = stored(settings, destination="")
    run(store, adapter_for(fake, routing_url=fake.url), settings)
    assert store.status(REFERENCE) == (DELIVERED, 1)
    assert fake.route_requests == [{"leikaKey": "99123456789012", "ags": "09189999"}]
    assert store.delivery_state(REFERENCE)["destinationId"] == DESTINATION_ID
    assert fake.received[0].data == APPLICATION


def test_a_crash_after_routing_resumes_without_asking_again(
    settings: Settings, fake: FakeZustelldienst
) -> None:
    def crash(stage: str) -> None:
        if stage == "routed":
            raise Crash(stage)

    store = stored(settings, destination="")
    run(store, adapter_for(fake, routing_url=fake.url, on_stage=crash), settings)
    assert store.status(REFERENCE) == (PENDING, 1)
    assert store.delivery_state(REFERENCE) == {"stage": "routed",
                                               "destinationId": DESTINATION_ID}
    assert fake.announced == {}
    run(store, adapter_for(fake, routing_url=fake.url), settings)
    assert store.status(REFERENCE) == (DELIVERED, 2)
    assert len(fake.route_requests) == 1
    assert fake.submit_count == 1


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        pytest.param({}, "kein Zustellpunkt für Leistung 99123456789012 und ags=09189999",
                     id="no-route"),
        pytest.param({("99123456789012", "09189999"): [DESTINATION_ID, str(uuid.uuid4())]},
                     "2 Zustellpunkte", id="ambiguous"),
    ],
)
def test_no_single_route_fails_at_once_with_what_to_do(
    settings: Settings, fake: FakeZustelldienst, routes: dict[tuple[str, str], list[str]],
    message: str,
) -> None:
    fake.routes = routes
    store = stored(settings, destination="")
    run(store, adapter_for(fake, routing_url=fake.url), settings)
    assert store.status(REFERENCE) == (FAILED, 1)  # not retried: nothing would change
    error = _last_error(settings)
    assert message in error
    assert "fit_connect_destination" in error
    assert fake.announced == {}
    run(store, adapter_for(fake, routing_url=fake.url), settings, rounds=3)
    assert len(fake.route_requests) == 1


def test_an_unavailable_routing_api_is_retried(
    settings: Settings, fake: FakeZustelldienst
) -> None:
    fake.fail("unavailable", path="/v1/routes")
    store = stored(settings, destination="")
    run(store, adapter_for(fake, routing_url=fake.url), settings)
    assert store.status(REFERENCE) == (PENDING, 1)
    run(store, adapter_for(fake, routing_url=fake.url), settings)
    assert store.status(REFERENCE) == (DELIVERED, 2)


def test_the_twelve_digit_ars_is_preferred_to_the_ags(
    settings: Settings, fake: FakeZustelldienst
) -> None:
    fake.routes = {("99123456789012", "091890000000"): [DESTINATION_ID]}
    store = stored(settings, destination="", municipality={
        "ags": "09189999", "ars": "091890000000", "official_name": "Markt Musterhausen"})
    run(store, adapter_for(fake, routing_url=fake.url), settings)
    assert store.status(REFERENCE) == (DELIVERED, 1)
    assert fake.route_requests == [{"leikaKey": "99123456789012", "ars": "091890000000"}]


def test_without_destination_or_routing_url_it_fails_clearly(
    settings: Settings, fake: FakeZustelldienst
) -> None:
    store = stored(settings, destination="")
    run(store, adapter_for(fake), settings)
    assert store.status(REFERENCE) == (FAILED, 1)
    assert "SERVICE_FIT_CONNECT_ROUTING_URL" in _last_error(settings)


def test_the_journey_routes_when_kommune_toml_names_no_destination(
    fit_settings: Settings, fake: FakeZustelldienst, tmp_path: Path  # noqa: F811
) -> None:
    kommune = tmp_path / "kommune-ohne-zustellpunkt.toml"
    kommune.write_text((DATA / "kommune_complete.toml").read_text(encoding="utf-8"),
                       encoding="utf-8")
    settings = dataclasses.replace(fit_settings, kommune_file=kommune,
                                   fit_connect_routing_url=fake.url)
    fake.routes = {("99123456789012", str(_ags(kommune))): [DESTINATION_ID]}
    with make_client(settings) as client:
        reference = submit(client, load_form(settings.form_file))
    assert Store(settings.effective_database_url).status(reference) == (DELIVERED, 1)
    assert fake.received[0].metadata["additionalReferenceInfo"]["senderReference"] == reference


def _ags(kommune: Path) -> str:
    import tomllib

    return str(tomllib.loads(kommune.read_text(encoding="utf-8"))["municipality"]["ags"])


# -- attachments --------------------------------------------------------------------------------


def test_attachments_arrive_decrypted_with_their_hashes(
    settings: Settings, fake: FakeZustelldienst
) -> None:
    store = stored(settings, attachments=ATTACHMENTS)
    run(store, adapter_for(fake), settings)
    assert fake.errors == []
    assert store.status(REFERENCE) == (DELIVERED, 1)
    (received,) = fake.received
    assert received.attachments == {ATTACHMENTS[0]["id"]: PDF, ATTACHMENTS[1]["id"]: PHOTO}
    listed = received.metadata["contentStructure"]["attachments"]
    assert listed[0] == {
        "attachmentId": ATTACHMENTS[0]["id"], "purpose": "attachment",
        "filename": "Nachweis.PDF", "mimeType": "application/pdf",
        "description": "Meldebescheinigung",
        "hash": {"type": "sha512", "content": hashlib.sha512(PDF).hexdigest()},
    }
    assert store.delivery_state(REFERENCE)["uploaded"] == [a["id"] for a in ATTACHMENTS]


def test_a_crash_between_uploads_resumes_with_the_rest_without_announcing_again(
    settings: Settings, fake: FakeZustelldienst
) -> None:
    uploads = []

    def crash_after_first(stage: str) -> None:
        if stage == "uploaded":
            uploads.append(stage)
            if len(uploads) == 1:
                raise Crash(stage)

    store = stored(settings, attachments=ATTACHMENTS)
    run(store, adapter_for(fake, on_stage=crash_after_first), settings)
    assert store.status(REFERENCE) == (PENDING, 1)
    assert store.delivery_state(REFERENCE)["uploaded"] == [ATTACHMENTS[0]["id"]]
    run(store, adapter_for(fake), settings)
    assert store.status(REFERENCE) == (DELIVERED, 2)
    assert len(fake.announced) == 1
    assert fake.uploads == 2  # the first one was not uploaded twice
    assert fake.received[0].attachments[ATTACHMENTS[1]["id"]] == PHOTO
    assert fake.errors == []


def test_a_tampered_attachment_is_refused_by_the_receiving_side(
    settings: Settings, fake: FakeZustelldienst
) -> None:
    store = Store(settings.effective_database_url)
    store.initialise()
    envelope = json.loads(json.dumps(_envelope(ATTACHMENTS)))
    envelope["attachments"][0]["content"] = base64.b64encode(PDF + b"x").decode()
    store.add_submission(REFERENCE, "application", envelope)
    run(store, adapter_for(fake), settings)
    assert store.status(REFERENCE) == (FAILED, 1)
    assert any("Hash der Anlage" in error for error in fake.errors)
    assert fake.submit_count == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"id": "../etc"}, "UUID", id="id-not-uuid"),
        pytest.param({"content": "kein base64!"}, "base64", id="content-not-base64"),
        pytest.param({"mimeType": ""}, "mimeType", id="no-mime-type"),
    ],
)
def test_malformed_attachments_are_refused_when_the_envelope_is_built(
    change: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _envelope([{**ATTACHMENTS[0], **change}])


def test_the_directory_adapter_writes_attachments_beside_the_json(tmp_path: Path) -> None:
    adapter = DirectoryAdapter(tmp_path)
    submission = Submission(REFERENCE, "application", _envelope(ATTACHMENTS))
    adapter.deliver(submission)
    adapter.deliver(submission)  # repeated: the same files, no temporary ones left
    first, second = (f"{REFERENCE}.{a['id']}" for a in ATTACHMENTS)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [f"{REFERENCE}.json", f"{first}.pdf", f"{second}.jpg"])
    assert (tmp_path / f"{first}.pdf").read_bytes() == PDF
    assert (tmp_path / f"{second}.jpg").read_bytes() == PHOTO
    document = json.loads((tmp_path / f"{REFERENCE}.json").read_text(encoding="utf-8"))
    assert [a["file"] for a in document["attachments"]] == [f"{first}.pdf", f"{second}.jpg"]
    assert all("content" not in a for a in document["attachments"])


def _envelope(attachments: list[dict[str, str]]) -> dict[str, object]:
    import datetime as dt

    return build_envelope(
        reference=REFERENCE, kind="application", data=APPLICATION,
        created_at=dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC),
        service={"leika_key": "99123456789012", "name": "Testleistung"},
        municipality={"ags": "09189999"}, destination=DESTINATION_ID, attachments=attachments,
    )


# -- the data's schema --------------------------------------------------------------------------

FORM_DATA = {"name": "Erika", "mail": "erika@example.org", "plz": "86150",
             "datum": "2026-01-31", "zahl": "7", "text": "Grüße", "wahl": "b", "liste": "x",
             "ok": "yes", "frei": ""}


def _schema(public_url: str = "https://antrag.musterhausen.de") -> dict[str, object]:
    return service_schema(load_form(DATA / "all_types_form.toml"), {"form_id": "antrag"},
                          public_url)[1]


def test_the_data_are_checked_against_the_form_schema_and_its_address_is_named(
    settings: Settings, fake: FakeZustelldienst
) -> None:
    fake.data_schema = _schema()
    store = stored(settings, data=FORM_DATA)
    run(store, adapter_for(fake, data_schema=_schema()), settings)
    assert fake.errors == []
    assert store.status(REFERENCE) == (DELIVERED, 1)
    submission_schema = fake.received[0].metadata["contentStructure"]["data"]["submissionSchema"]
    assert submission_schema == {"schemaUri": "https://antrag.musterhausen.de/schema/antrag.json",
                                 "mimeType": "application/json"}


def test_data_that_break_the_schema_are_never_sent(
    settings: Settings, fake: FakeZustelldienst
) -> None:
    store = stored(settings, data={**FORM_DATA, "plz": "8615", "name": "Erika Mustermann" * 3})
    run(store, adapter_for(fake, data_schema=_schema()), settings)
    assert store.status(REFERENCE) == (FAILED, 1)
    assert fake.announced == {}
    error = _last_error(settings)
    assert "$.name (maxLength)" in error
    assert "$.plz (pattern)" in error
    assert "Mustermann" not in error
    assert "8615" not in error


@pytest.mark.parametrize(
    ("data", "accepted", "sender_schema", "refusal"),
    [
        pytest.param(FORM_DATA, "https://antrag.musterhausen.de", "https://anderswo.example",
                     "schemaUri", id="other-schema-uri"),
        # No public URL: the schema's $id is the URN build_envelope names as well.
        pytest.param({**FORM_DATA, "wahl": "z"}, "", None, "Fachdaten verletzen das Schema",
                     id="unchecked-data-break-the-schema"),
    ],
)
def test_the_receiving_side_checks_the_data_against_the_schema_it_accepts(
    settings: Settings, fake: FakeZustelldienst, data: dict[str, str], accepted: str,
    sender_schema: str | None, refusal: str,
) -> None:
    fake.data_schema = _schema(accepted)
    store = stored(settings, data=data)
    schema = None if sender_schema is None else _schema(sender_schema)
    run(store, adapter_for(fake, data_schema=schema), settings)
    assert store.status(REFERENCE) == (FAILED, 1)
    assert len(fake.announced) == 1
    assert fake.submit_count == 0
    assert any(refusal in error for error in fake.errors), fake.errors


def test_the_service_serves_the_schema_it_names(fit_settings: Settings) -> None:  # noqa: F811
    settings = dataclasses.replace(fit_settings, public_url="https://antrag.musterhausen.de")
    with make_client(settings) as client:
        response = client.get("/schema/antrag.json")
        adapter = client.app.state.service.adapter
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/schema+json")
    schema = response.json()
    assert schema["$id"] == "https://antrag.musterhausen.de/schema/antrag.json"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert isinstance(adapter, FitConnectAdapter)
    assert adapter.data_schema == schema


def test_the_journey_sends_data_that_match_the_served_schema(
    fit_settings: Settings, fake: FakeZustelldienst  # noqa: F811
) -> None:
    with make_client(fit_settings) as client:
        fake.data_schema = client.get("/schema/antrag.json").json()
        reference = submit(client, load_form(fit_settings.form_file))
    assert Store(fit_settings.effective_database_url).status(reference) == (DELIVERED, 1)
    assert fake.errors == []
    assert set(fake.received[0].data) == set(fake.data_schema["properties"])

