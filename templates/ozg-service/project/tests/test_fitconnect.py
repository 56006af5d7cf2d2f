"""The FIT-Connect adapter against a fake Zustelldienst on loopback: delivered exactly once.

Every test sends through real HTTP to tests/fake_zustelldienst.py, which decrypts with its own
private key and checks metadata and data; faults are switched on there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.delivery import build_envelope, deliver_pending, load_adapter
from app.fitconnect import FitConnectAdapter
from app.logs import JsonFormatter
from app.settings import PROJECT_ROOT, Settings, SettingsError
from app.store import DELIVERED, FAILED, PENDING, Store
from tests.conftest import DATA, make_client, submit
from tests.fake_zustelldienst import (
    CLIENT_ID,
    CLIENT_SECRET,
    DESTINATION_ID,
    FakeZustelldienst,
)

LEIKA_KEY = "99123456789012"
REFERENCE = "A-2026-7K3M-9QXD"
APPLICATION = {"vorname": "Erika", "nachname": "Mustermann", "strasse": "Rathausplatz 1",
               "umlaute": "Grüße aus Musterhausen", "anzahl": 3}


@pytest.fixture
def fake() -> Iterator[FakeZustelldienst]:
    server = FakeZustelldienst().start()
    yield server
    server.stop()


@pytest.fixture
def fit_settings(settings: Settings, fake: FakeZustelldienst, tmp_path: Path) -> Settings:
    kommune = tmp_path / "kommune.toml"
    kommune.write_text((DATA / "kommune_complete.toml").read_text(encoding="utf-8")
                       + f'\n[delivery]\nfit_connect_destination = "{DESTINATION_ID}"\n',
                       encoding="utf-8")
    service = tmp_path / "service.toml"
    service.write_text(re.sub(r'(?m)^leika_key = ".*"$', f'leika_key = "{LEIKA_KEY}"',
                              (PROJECT_ROOT / "service.toml").read_text(encoding="utf-8")),
                       encoding="utf-8")
    return dataclasses.replace(
        settings, delivery_adapter="fit-connect", kommune_file=kommune, service_file=service,
        fit_connect_token_url=f"{fake.url}/token", fit_connect_submission_url=fake.url,
        fit_connect_client_id=CLIENT_ID, fit_connect_client_secret=CLIENT_SECRET,
        fit_connect_timeout=10, delivery_max_attempts=3,
    )


def adapter_for(fake: FakeZustelldienst, **kwargs: object) -> FitConnectAdapter:
    options: dict[str, object] = {"token_url": f"{fake.url}/token", "submission_url": fake.url,
                                  "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                  "timeout": 2.5, **kwargs}
    return FitConnectAdapter(**options)  # type: ignore[arg-type]


def stored(settings: Settings, reference: str = REFERENCE, **options: Any) -> Store:
    store = Store(settings.effective_database_url)
    store.initialise()
    envelope = build_envelope(**{
        "reference": reference, "kind": "application", "data": APPLICATION,
        "created_at": dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC),
        "service": {"leika_key": LEIKA_KEY, "name": "Testleistung", "form_id": "antrag"},
        "municipality": {"ags": "09189999", "official_name": "Markt Musterhausen"},
        "destination": DESTINATION_ID, "reply_email": "erika@example.org", **options,
    })
    store.add_submission(reference, "application", envelope)
    return store


def run(store: Store, adapter: FitConnectAdapter, settings: Settings, rounds: int = 1) -> None:
    """Run the worker *rounds* times, each a little later (the retry pause is 0 in the tests)."""
    for offset in range(rounds):
        deliver_pending(store, adapter, settings, time.time() + offset)


def test_an_application_arrives_decrypted_and_intact(
    settings: Settings, fake: FakeZustelldienst
) -> None:
    store = stored(settings)
    adapter = adapter_for(fake)
    run(store, adapter, settings)
    assert fake.errors == []
    assert store.status(REFERENCE) == (DELIVERED, 1)
    (received,) = fake.received
    assert received.data == APPLICATION
    assert received.metadata["publicServiceType"]["identifier"] == (
        f"urn:de:fim:leika:leistung:{LEIKA_KEY}")
    assert received.metadata["additionalReferenceInfo"]["senderReference"] == REFERENCE
    state = store.delivery_state(REFERENCE)
    assert state == {"stage": "done", "destinationId": DESTINATION_ID,
                     "submissionId": received.submission_id, "caseId": received.case_id,
                     "lastEvent": "submit-submission"}


def test_the_token_is_reused_until_shortly_before_it_expires(
    settings: Settings, fake: FakeZustelldienst
) -> None:
    adapter = adapter_for(fake)
    for number in range(2):
        store = stored(settings, f"A-2026-0000-000{number}")
        run(store, adapter, settings)
    assert fake.submit_count == 2
    assert fake.tokens_issued == 1
    fake.token_lifetime = 30  # shorter than the renewal margin: every call gets a fresh token
    adapter = adapter_for(fake)
    run(stored(settings, "A-2026-0000-0009"), adapter, settings)
    assert fake.tokens_issued > 2


def test_the_journey_delivers_through_fit_connect(
    fit_settings: Settings, fake: FakeZustelldienst
) -> None:
    from app.forms import load_form

    with make_client(fit_settings) as client:
        assert isinstance(client.app.state.service.adapter, FitConnectAdapter)
        reference = submit(client, load_form(fit_settings.form_file))
    store = Store(fit_settings.effective_database_url)
    assert store.status(reference) == (DELIVERED, 1)
    (received,) = fake.received
    assert received.metadata["additionalReferenceInfo"]["senderReference"] == reference
    assert received.data  # the answers of the journey


@pytest.mark.parametrize(
    ("fault", "path", "rounds", "tokens"),
    [
        pytest.param("expired", "/v1/submissions", 1, 2, id="401-token-expired-renews-at-once"),
        pytest.param("unavailable", "/v1/submissions", 2, 1, id="503-on-announce"),
        pytest.param("unavailable", "/events", 2, 1, id="503-on-event-log"),
        pytest.param("timeout", "/v1/submissions/", 2, 1, id="timeout-on-submit"),
        pytest.param("slow", "/v1/submissions/", 2, 1, id="submit-arrives-answer-times-out"),
    ],
)
def test_faults_are_retried_and_deliver_exactly_once(
    settings: Settings, fake: FakeZustelldienst, fault: str, path: str, rounds: int, tokens: int
) -> None:
    store = stored(settings)
    adapter = adapter_for(fake)
    fake.fail(fault, path=path)
    run(store, adapter, settings)
    if rounds > 1:
        assert store.status(REFERENCE) == (PENDING, 1)
        run(store, adapter, settings, rounds - 1)
    assert store.status(REFERENCE) == (DELIVERED, rounds)
    assert fake.submit_count == 1
    assert len(fake.announced) == 1
    assert fake.tokens_issued == tokens
    assert fake.errors == []


def test_wrong_client_credentials_are_retried_not_lost(
    settings: Settings, fake: FakeZustelldienst
) -> None:
    store = stored(settings)
    run(store, adapter_for(fake, client_secret="falsch"), settings)
    assert store.status(REFERENCE) == (PENDING, 1)
    run(store, adapter_for(fake), settings)
    assert store.status(REFERENCE) == (DELIVERED, 2)
    assert fake.submit_count == 1


def test_an_inactive_destination_fails_at_once_with_the_reason(
    settings: Settings, fake: FakeZustelldienst
) -> None:
    fake.destination_status = "inactive"
    store = stored(settings)
    run(store, adapter_for(fake), settings)
    item = store.status(REFERENCE)
    assert item == (FAILED, 1)
    assert fake.announced == {}
    error = _last_error(settings)
    assert "nicht aktiv" in error
    assert "Mustermann" not in error


def test_a_rejected_submission_fails_with_the_problem_type(
    settings: Settings, fake: FakeZustelldienst, caplog: pytest.LogCaptureFixture
) -> None:
    fake.reject = True
    store = stored(settings)
    with caplog.at_level(logging.INFO):
        run(store, adapter_for(fake), settings)
    assert store.status(REFERENCE) == (FAILED, 1)
    assert fake.submit_count == 1
    error = _last_error(settings)
    assert "reject-submission" in error
    assert "schema-violation" in error
    assert store.delivery_state(REFERENCE)["lastEvent"] == "reject-submission"
    for record in caplog.records:
        assert "Mustermann" not in record.getMessage()
        assert "Mustermann" not in str(record.__dict__)


def test_retrying_a_rejected_submission_announces_it_anew(
    settings: Settings, fake: FakeZustelldienst
) -> None:
    fake.reject = True
    store = stored(settings)
    run(store, adapter_for(fake), settings)
    rejected = store.delivery_state(REFERENCE)["submissionId"]
    fake.reject = False
    assert store.retry_failed(time.time()) == 1
    run(store, adapter_for(fake), settings)
    assert store.status(REFERENCE) == (DELIVERED, 1)
    assert len(fake.announced) == 2
    assert fake.submit_count == 2
    state = store.delivery_state(REFERENCE)
    assert state["rejectedSubmissionId"] == rejected
    assert state["submissionId"] != rejected
    assert state["lastEvent"] == "submit-submission"


def test_the_lease_outlasts_the_requests_of_one_delivery(fake: FakeZustelldienst) -> None:
    assert adapter_for(fake, timeout=30).lease_seconds >= 30 * 30


def test_a_refused_announcement_logs_only_the_problem_type(
    settings: Settings, fake: FakeZustelldienst, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(settings.effective_database_url)
    store.initialise()
    envelope = build_envelope(
        reference=REFERENCE, kind="application", data=APPLICATION,
        created_at=dt.datetime.now(dt.UTC), service={"leika_key": "123", "name": "x"},
        municipality={}, destination=DESTINATION_ID,
    )
    store.add_submission(REFERENCE, "application", envelope)
    with caplog.at_level(logging.WARNING):
        run(store, adapter_for(fake), settings)
    assert store.status(REFERENCE) == (FAILED, 1)
    assert "request-body-invalid" in _last_error(settings)
    problems = [r for r in caplog.records if getattr(r, "event", "") == "fit_connect_problem"]
    assert [r.problem_type for r in problems] == [  # type: ignore[attr-defined]
        "https://schema.fitko.de/fit-connect/submission-api/problems/request-body-invalid"]
    line = json.loads(JsonFormatter().format(problems[0]))
    assert line["stage"] == "announce"
    assert line["status"] == 422
    assert line["problem_type"].endswith("/request-body-invalid")


class Crash(RuntimeError):
    pass


@pytest.mark.parametrize("stage", ["announced", "sent", "submitted"])
def test_a_crash_between_stages_resumes_and_submits_exactly_once(
    settings: Settings, fake: FakeZustelldienst, stage: str
) -> None:
    crashes = [stage]

    def crash_once(reached: str) -> None:
        if reached in crashes:
            crashes.remove(reached)
            raise Crash(reached)

    store = stored(settings)
    run(store, adapter_for(fake, on_stage=crash_once), settings)
    assert store.status(REFERENCE) == (PENDING, 1)
    assert store.delivery_state(REFERENCE)["stage"] in {"announced", "submitted"}
    # The next worker is a new process: a new adapter, nothing in memory but the outbox row.
    run(store, adapter_for(fake), settings)
    assert store.status(REFERENCE) == (DELIVERED, 2)
    assert len(fake.announced) == 1
    assert fake.submit_count == 1
    assert fake.errors == []
    assert fake.received[0].data == APPLICATION


KILLED_WORKER = textwrap.dedent("""
    import os, signal, sys
    from app.delivery import deliver_pending
    from app.fitconnect import FitConnectAdapter
    from app.settings import Settings
    from app.store import Store
    from tests.fake_zustelldienst import CLIENT_ID, CLIENT_SECRET

    database, url, stage = sys.argv[1:4]

    def killed(reached):
        if reached == stage:
            os.kill(os.getpid(), signal.SIGKILL)

    adapter = FitConnectAdapter(token_url=url + "/token", submission_url=url,
                                client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                timeout=2.5, on_stage=killed)
    deliver_pending(Store(database), adapter, Settings(environment="development"))
    print("not killed", flush=True)
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
@pytest.mark.parametrize("stage", ["announced", "sent", "submitted"])
def test_a_worker_killed_between_stages_is_resumed_once_its_lease_expires(
    settings: Settings, fake: FakeZustelldienst, stage: str
) -> None:
    store = stored(settings)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WORKER, settings.effective_database_url, fake.url, stage],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert len(fake.announced) == 1
    # The killed worker still holds the lease: nobody touches the submission until it expires.
    adapter = adapter_for(fake)
    assert store.due(time.time()) == []
    deliver_pending(store, adapter, settings, time.time() + adapter.lease_seconds + 1)
    assert store.status(REFERENCE) == (DELIVERED, 1)
    assert len(fake.announced) == 1
    assert fake.submit_count == 1
    assert fake.received[0].data == APPLICATION


def test_feedback_still_goes_to_the_directory(settings: Settings, fake: FakeZustelldienst) -> None:
    from app.delivery import DirectoryAdapter

    store = Store(settings.effective_database_url)
    store.initialise()
    store.add_submission("B-1", "accessibility-feedback", {"reference": "B-1", "data": {}})
    run(store, adapter_for(fake, other=DirectoryAdapter(settings.outbox_dir)), settings)
    assert store.status("B-1") == (DELIVERED, 1)
    assert (settings.outbox_dir / "B-1.json").exists()
    assert fake.announced == {}


def test_load_adapter_builds_it_from_the_settings(fit_settings: Settings) -> None:
    assert isinstance(load_adapter(fit_settings), FitConnectAdapter)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"fit_connect_token_url": ""}, "SERVICE_FIT_CONNECT_TOKEN_URL", id="token"),
        pytest.param({"fit_connect_client_secret": ""}, "SERVICE_FIT_CONNECT_CLIENT_SECRET",
                     id="secret"),
        pytest.param({"kommune_file": DATA / "kommune_complete.toml"}, "fit_connect_destination",
                     id="no-destination"),
        pytest.param({"service_file": DATA / "kommune_complete.toml"}, "leika_key",
                     id="no-leika-key"),
    ],
)
def test_missing_fit_connect_settings_are_named(
    fit_settings: Settings, change: dict[str, object], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        load_adapter(dataclasses.replace(fit_settings, **change))  # type: ignore[arg-type]


def test_the_client_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("aus-der-datei\n", encoding="utf-8")
    settings = Settings.from_env({"SERVICE_ENV": "development",
                                  "SERVICE_FIT_CONNECT_CLIENT_SECRET_FILE": str(secret)})
    assert settings.fit_connect_client_secret == "aus-der-datei"
    with pytest.raises(SettingsError, match="nicht lesbar"):
        Settings.from_env({"SERVICE_ENV": "development",
                           "SERVICE_FIT_CONNECT_CLIENT_SECRET_FILE": str(tmp_path / "nein")})


def _last_error(settings: Settings) -> str:
    import sqlite3

    with sqlite3.connect(settings.data_dir / "service.sqlite3") as db:
        (error,) = db.execute("SELECT last_error FROM outbox").fetchone()
    return str(error)
