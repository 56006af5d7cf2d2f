"""FIT-Connect callbacks (app/callback.py): only an authentic, fresh callback wakes a submission.

The tests sign callbacks as the Zustelldienst does (HMAC-SHA512 over ``timestamp.body``) and
watch the outbox: a valid one makes the named submission due at once, so that the worker reads
its event log now; anything else changes nothing and is answered 401 or 400.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.settings import Settings
from app.store import DELIVERED, PENDING, Store
from tests.conftest import make_client
from tests.fake_zustelldienst import FakeZustelldienst
from tests.test_fitconnect import REFERENCE, adapter_for, run, stored

SECRET = "callback-geheimnis-nur-fuer-tests-0123456789"
PATH = "/callbacks/fit-connect"
SUBMISSION = "f39ab143-d91a-474a-b69f-b00f1a1873c2"
LATER = 3600.0  # the next scheduled attempt, far enough away to tell "woken" from "due anyway"


def body_for(*submission_ids: str, extra: str = "") -> bytes:
    return json.dumps({
        "type": "https://schema.fitko.de/fit-connect/submission-api/callbacks/new-submissions",
        "submissions": [{"submissionId": s, "caseId": "9eec7d3e-dc66-4f82-9f52-1520bf96a32e",
                         "destinationId": "d12caea8-f372-4eb1-b102-b0a228253a11"}
                        for s in submission_ids],
        **({"note": extra} if extra else {}),
    }).encode()


def signed(body: bytes, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha512).hexdigest()
    return {"callback-timestamp": stamp, "callback-authentication": mac,
            "content-type": "application/json"}


@pytest.fixture
def callback_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, fit_connect_callback_secret=SECRET)


@pytest.fixture
def waiting(callback_settings: Settings) -> Store:
    """A pending submission that FIT-Connect knows as SUBMISSION, next tried in an hour."""
    store = Store(callback_settings.effective_database_url)
    store.initialise()
    store.add_submission(REFERENCE, "application", {"reference": REFERENCE})
    store.save_delivery_state(REFERENCE, {"stage": "submitted", "submissionId": SUBMISSION,
                                          "caseId": "9eec7d3e-dc66-4f82-9f52-1520bf96a32e"})
    store.mark_attempt_failed(REFERENCE, "FitConnectError: events: HTTP 503",
                              time.time() + LATER, give_up=False)
    return store


@pytest.fixture
def client(callback_settings: Settings) -> Iterator[TestClient]:
    with make_client(callback_settings) as test_client:
        yield test_client


def test_a_valid_callback_makes_the_submission_due_now(
    client: TestClient, waiting: Store, caplog: pytest.LogCaptureFixture
) -> None:
    assert waiting.due(time.time()) == []
    body = body_for(SUBMISSION, extra="vertraulicher Inhalt")
    with caplog.at_level(logging.INFO):
        response = client.post(PATH, content=body, headers=signed(body))
    assert response.status_code == 204
    assert waiting.due(time.time()) == [REFERENCE]
    for record in caplog.records:
        assert "vertraulich" not in record.getMessage()
        assert "vertraulich" not in str(record.__dict__)
    (logged,) = [r for r in caplog.records if getattr(r, "event", "") == "callback"]
    assert logged.submission_id == SUBMISSION  # type: ignore[attr-defined]
    assert logged.reference == REFERENCE  # type: ignore[attr-defined]


def test_the_deprecated_submission_ids_are_read_too(client: TestClient, waiting: Store) -> None:
    body = json.dumps({"type": "x", "submissionIds": [SUBMISSION]}).encode()
    assert client.post(PATH, content=body, headers=signed(body)).status_code == 204
    assert waiting.due(time.time()) == [REFERENCE]


def test_a_callback_for_an_unknown_submission_is_acknowledged_and_changes_nothing(
    client: TestClient, waiting: Store
) -> None:
    body = body_for("00000000-0000-4000-8000-000000000000")
    assert client.post(PATH, content=body, headers=signed(body)).status_code == 204
    assert waiting.due(time.time()) == []


def _tampered(body: bytes) -> dict[str, str]:
    headers = signed(body)
    last = headers["callback-authentication"][-1]
    headers["callback-authentication"] = headers["callback-authentication"][:-1] + (
        "0" if last != "0" else "1")
    return headers


@pytest.mark.parametrize(
    "headers_for",
    [
        pytest.param(_tampered, id="wrong-mac"),
        pytest.param(lambda body: signed(body, secret="ein-anderes-geheimnis"), id="other-secret"),
        pytest.param(lambda body: signed(body_for(SUBMISSION, extra="x")), id="mac-of-other-body"),
        pytest.param(lambda body: signed(body, int(time.time()) - 301), id="older-than-5-min"),
        pytest.param(lambda body: signed(body, int(time.time()) + 120), id="in-the-future"),
        pytest.param(lambda body: {k: v for k, v in signed(body).items()
                                   if k != "callback-timestamp"}, id="no-timestamp"),
        pytest.param(lambda body: {k: v for k, v in signed(body).items()
                                   if k != "callback-authentication"}, id="no-mac"),
        pytest.param(lambda body: {"content-type": "application/json"}, id="no-headers"),
        pytest.param(lambda body: {**signed(body), "callback-timestamp": "gestern"},
                     id="timestamp-not-a-number"),
        pytest.param(lambda body: {**signed(body), "callback-authentication": "abc"},
                     id="mac-not-hex-sha512"),
    ],
)
def test_an_unauthentic_or_stale_callback_is_refused_and_changes_nothing(
    client: TestClient, waiting: Store, headers_for: object
) -> None:
    body = body_for(SUBMISSION)
    response = client.post(PATH, content=body, headers=headers_for(body))  # type: ignore[operator]
    assert response.status_code == 401
    assert waiting.due(time.time()) == []


def test_a_timestamp_a_little_ahead_is_tolerated(client: TestClient, waiting: Store) -> None:
    body = body_for(SUBMISSION)
    response = client.post(PATH, content=body, headers=signed(body, int(time.time()) + 10))
    assert response.status_code == 204


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{kein json", id="not-json"),
        pytest.param(b"\xff\xfe", id="not-utf-8"),
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(json.dumps({"type": "x"}).encode(), id="no-submission-named"),
        pytest.param(json.dumps({"submissionIds": ["'; DROP TABLE outbox; --"]}).encode(),
                     id="id-not-a-uuid"),
        pytest.param(json.dumps({"submissionIds": ["%"]}).encode(), id="like-wildcard"),
    ],
)
def test_a_malformed_body_with_a_valid_mac_is_refused(
    client: TestClient, waiting: Store, body: bytes
) -> None:
    assert client.post(PATH, content=body, headers=signed(body)).status_code == 400
    assert waiting.due(time.time()) == []
    assert waiting.status(REFERENCE) == (PENDING, 1)


def test_without_a_secret_there_is_no_callback_endpoint(settings: Settings) -> None:
    body = body_for(SUBMISSION)
    with make_client(settings) as client:
        assert client.post(PATH, content=body, headers=signed(body)).status_code == 404


def test_a_callback_lets_the_worker_finish_a_delivery_at_once(
    callback_settings: Settings, client: TestClient
) -> None:
    """End to end: the event log was unavailable, the retry is an hour away; the callback
    brings it forward and the next worker run finishes the delivery."""
    fake = FakeZustelldienst().start()
    try:
        settings = dataclasses.replace(callback_settings, delivery_retry_seconds=int(LATER))
        store = stored(settings)
        fake.fail("unavailable", path="/events")
        run(store, adapter_for(fake), settings)
        assert store.status(REFERENCE) == (PENDING, 1)
        assert store.due(time.time() + 60) == []
        submission_id = store.delivery_state(REFERENCE)["submissionId"]
        body = body_for(submission_id)
        assert client.post(PATH, content=body, headers=signed(body)).status_code == 204
        run(store, adapter_for(fake), settings)
        assert store.status(REFERENCE) == (DELIVERED, 2)
        assert fake.submit_count == 1
    finally:
        fake.stop()
