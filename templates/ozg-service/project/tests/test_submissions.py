"""Submitting: off the request path, exactly one Vorgang per application, sessions the server owns,
and no personal data left on disk.

The concurrency tests run the service in a real uvicorn server on loopback and send from many
threads at once, as double clicks and impatient reloads do.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from app.delivery import DirectoryAdapter, Submission, deliver_pending
from app.forms import FormDefinition
from app.main import create_app
from app.settings import PROJECT_ROOT, Settings
from app.store import Store
from tests.conftest import (
    DATA,
    SECRET,
    fill_form,
    make_client,
    reference_on,
    run_worker,
    submit,
)
from tests.fake_zustelldienst import CLIENT_ID, CLIENT_SECRET, DESTINATION_ID, FakeZustelldienst
from tests.samples import valid_answers

NAME = "Zacharias Quellenbrünner"  # unmistakable in a byte search of the database files


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live(settings: Settings) -> Iterator[tuple[str, Settings]]:
    """The service in a real uvicorn server (background worker off): its base URL."""
    yield from _serve(settings)


def _serve(settings: Settings) -> Iterator[tuple[str, Settings]]:
    app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", settings
    server.should_exit = True
    thread.join(10)


def _filled_session(base: str, form: FormDefinition,
                    overrides: dict[str, str] | None = None) -> tuple[dict[str, str], str]:
    """Fill in the whole form over HTTP; return the session cookie and the CSRF token."""
    with httpx.Client(base_url=base) as client:
        token = _token(client.get(f"/antrag/{form.pages[0].id}").text)
        for page, answers in valid_answers(form).items():
            data = {**answers, **{k: v for k, v in (overrides or {}).items() if k in answers},
                    "csrf_token": token}
            assert client.post(f"/antrag/{page}", data=data).status_code == 303
        return dict(client.cookies), token


def _token(html: str) -> str:
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def _outbox_rows(settings: Settings) -> list[str]:
    store = Store(settings.effective_database_url)
    with store._transaction(write=False) as cursor:
        cursor.execute("SELECT reference FROM outbox")
        return [row[0] for row in cursor.fetchall()]


# --- exactly one Vorgang per application ---


@pytest.mark.parametrize("senders", [2, 50])
def test_concurrent_submits_of_one_session_store_one_application(
    live: tuple[str, Settings], form: FormDefinition, senders: int
) -> None:
    base, settings = live
    cookies, token = _filled_session(base, form)
    start = threading.Barrier(senders)

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=base, cookies=cookies) as client:
            start.wait()
            return client.post("/antrag/pruefen", data={"csrf_token": token})

    with ThreadPoolExecutor(senders) as pool:
        responses = list(pool.map(send, range(senders)))
    assert [r.status_code for r in responses] == [303] * senders
    assert {r.headers["location"] for r in responses} == {"/antrag/bestaetigung"}
    new_ids = {r.cookies.get("sid") for r in responses}
    assert len(new_ids) == 1, "every sender gets the same new session"
    (new_id,) = new_ids
    assert new_id
    assert new_id != cookies["sid"]

    rows = _outbox_rows(settings)
    assert len(rows) == 1
    with httpx.Client(base_url=base, cookies={"sid": new_id}) as client:
        assert reference_on(client.get("/antrag/bestaetigung").text) == rows[0]
    with httpx.Client(base_url=base, cookies=cookies) as client:  # the old id shows nothing
        old = client.get("/antrag/bestaetigung")
        assert old.status_code == 303
        assert old.headers["location"] == "/"


@pytest.fixture
def fake() -> Iterator[FakeZustelldienst]:
    server = FakeZustelldienst().start()
    yield server
    server.stop()


def test_concurrent_submits_reach_fit_connect_once(
    settings: Settings, form: FormDefinition, fake: FakeZustelldienst, tmp_path: Path
) -> None:
    kommune = tmp_path / "kommune.toml"
    kommune.write_text((DATA / "kommune_complete.toml").read_text(encoding="utf-8")
                       + f'\n[delivery]\nfit_connect_destination = "{DESTINATION_ID}"\n',
                       encoding="utf-8")
    service = tmp_path / "service.toml"
    service.write_text(re.sub(r'(?m)^leika_key = ".*"$', 'leika_key = "99123456789012"',
                              (PROJECT_ROOT / "service.toml").read_text(encoding="utf-8")),
                       encoding="utf-8")
    fit = dataclasses.replace(
        settings, delivery_adapter="fit-connect", kommune_file=kommune, service_file=service,
        fit_connect_token_url=f"{fake.url}/token", fit_connect_submission_url=fake.url,
        fit_connect_client_id=CLIENT_ID, fit_connect_client_secret=CLIENT_SECRET,
        delivery_interval=3600,  # only the wake-up after the submission delivers
    )
    served = _serve(fit)
    base, _ = next(served)
    try:
        cookies, token = _filled_session(base, form)
        start = threading.Barrier(20)

        def send(_: int) -> int:
            with httpx.Client(base_url=base, cookies=cookies) as client:
                start.wait()
                return client.post("/antrag/pruefen", data={"csrf_token": token}).status_code

        with ThreadPoolExecutor(20) as pool:
            assert list(pool.map(send, range(20))) == [303] * 20
        (reference,) = _outbox_rows(fit)
        store = Store(fit.effective_database_url)
        deadline = time.monotonic() + 30
        while store.status(reference) != ("delivered", 1):
            assert time.monotonic() < deadline, store.status(reference)
            time.sleep(0.05)
    finally:
        next(served, None)
    assert fake.submit_count == 1
    assert fake.errors == []
    assert fake.received[0].metadata["additionalReferenceInfo"]["senderReference"] == reference


def test_a_repeated_submit_long_after_the_first_stores_nothing(
    client: TestClient, form: FormDefinition, settings: Settings
) -> None:
    token = fill_form(client, form)
    old_id = client.cookies["sid"]
    first = client.post("/antrag/pruefen", data={"csrf_token": token})
    reference = reference_on(first.text)
    store = client.app.state.service.store  # type: ignore[attr-defined]
    with store._transaction() as cursor:  # the grace for late duplicates is over
        cursor.execute("UPDATE sessions SET updated_at = updated_at - 60 WHERE id = ?", (old_id,))
    client.cookies.clear()
    client.cookies.set("sid", old_id)
    late = client.post("/antrag/pruefen", data={"csrf_token": token}, follow_redirects=False)
    assert late.status_code == 403
    assert _outbox_rows(settings) == [reference]


# --- sessions the server owns ---


def test_an_invented_session_id_is_replaced_by_one_the_server_issues(
    client: TestClient, form: FormDefinition, settings: Settings
) -> None:
    invented = "A" * 43  # well-formed, but never issued
    client.cookies.set("sid", invented)
    response = client.get(f"/antrag/{form.pages[0].id}")
    issued = response.cookies.get("sid")
    assert issued
    assert issued != invented
    store = Store(settings.effective_database_url)
    assert store.load_session(invented, 3600) is None
    assert store.load_session(issued, 3600) == {}


def test_a_post_with_an_invented_session_is_refused_and_stores_nothing(
    client: TestClient, form: FormDefinition, settings: Settings
) -> None:
    from app.security import csrf_token

    invented = "B" * 43
    client.cookies.set("sid", invented)
    page = form.pages[0]
    # Even with a token that matches the id (as if the attacker knew the secret key):
    data = {**valid_answers(form)[page.id], "csrf_token": csrf_token(SECRET, invented)}
    response = client.post(f"/antrag/{page.id}", data=data, follow_redirects=False)
    assert response.status_code == 403
    store = Store(settings.effective_database_url)
    with store._transaction(write=False) as cursor:
        cursor.execute("SELECT COUNT(*) FROM sessions WHERE id = ?", (invented,))
        assert cursor.fetchone()[0] == 0


def test_submitting_rotates_the_session(client: TestClient, form: FormDefinition) -> None:
    token = fill_form(client, form)
    before = client.cookies["sid"]
    response = client.post("/antrag/pruefen", data={"csrf_token": token}, follow_redirects=False)
    after = response.cookies.get("sid")
    assert after
    assert after != before
    store = client.app.state.service.store  # type: ignore[attr-defined]
    assert store.load_session(before, 3600) is None
    assert "reference" in (store.load_session(after, 3600) or {})


# --- off the request path ---


class HangingAdapter:
    """Holds every delivery until released, then writes like the directory adapter."""

    name = "hanging"

    def __init__(self, directory: Path) -> None:
        self.inner = DirectoryAdapter(directory)
        self.entered = threading.Event()
        self.release = threading.Event()

    def deliver(self, submission: Submission) -> None:
        self.entered.set()
        assert self.release.wait(30), "never released"
        self.inner.deliver(submission)


def test_submit_answers_while_the_receiving_side_hangs_and_the_worker_delivers_at_once(
    settings: Settings, form: FormDefinition
) -> None:
    # An hour between worker runs: only the wake-up after the submission can start delivery.
    worker_on = dataclasses.replace(settings, delivery_interval=3600)
    with make_client(worker_on) as client:
        svc = client.app.state.service  # type: ignore[attr-defined]
        hanging = HangingAdapter(settings.outbox_dir)
        svc.adapter = hanging
        reference = submit(client, form, deliver=False)  # returned while nothing is delivered
        assert hanging.entered.wait(10), "the worker did not start the delivery"
        assert client.get("/healthz").json()["outbox"] == {"pending": 1}
        assert not list(settings.outbox_dir.glob("*.json"))
        hanging.release.set()
        deadline = time.monotonic() + 10
        while not (settings.outbox_dir / f"{reference}.json").exists():
            assert time.monotonic() < deadline, "not delivered after the release"
            time.sleep(0.05)


# --- data at rest ---


def _database_files(settings: Settings) -> list[Path]:
    database = settings.data_dir / "service.sqlite3"
    return [path for path in (database, database.with_name("service.sqlite3-wal"),
                              database.with_name("service.sqlite3-shm")) if path.exists()]


def _grep(paths: list[Path], text: str) -> list[str]:
    needles = {text.encode("utf-8"), text.encode("utf-16-le")}
    return [path.name for path in paths if any(n in path.read_bytes() for n in needles)]


def test_no_personal_data_in_the_database_files_before_or_after_delivery(
    client: TestClient, form: FormDefinition, settings: Settings
) -> None:
    text_field = next(f for p in form.pages for f in p.fields if f.type == "text")
    page = next(p for p in form.pages if text_field in p.fields)
    token = fill_form(client, form, overrides={page.id: {text_field.name: NAME}})
    draft_files = _database_files(settings)
    assert draft_files
    assert _grep(draft_files, NAME) == [], "the draft is stored in plain text"
    reference = reference_on(client.post("/antrag/pruefen", data={"csrf_token": token}).text)
    assert _grep(_database_files(settings), NAME) == [], "the outbox is stored in plain text"
    assert run_worker(client).delivered == 1
    delivered = (settings.outbox_dir / f"{reference}.json").read_text(encoding="utf-8")
    assert NAME in delivered  # the receiving side gets it, of course
    files = _database_files(settings)
    assert _grep(files, NAME) == []
    wal = settings.data_dir / "service.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0, "the log was not truncated"
    svc = client.app.state.service  # type: ignore[attr-defined]
    with svc.store._transaction(write=False) as cursor:
        cursor.execute("SELECT payload FROM outbox WHERE reference = ?", (reference,))
        assert cursor.fetchone()[0] == "{}"


def test_database_and_key_files_are_private(client: TestClient, form: FormDefinition,
                                            settings: Settings) -> None:
    submit(client, form)
    files = [*_database_files(settings), settings.data_dir / "service.sqlite3.key"]
    assert len(files) >= 2
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_an_older_database_is_made_private_on_start(settings: Settings) -> None:
    database = settings.data_dir / "service.sqlite3"
    database.parent.mkdir(parents=True)
    Store(settings.effective_database_url).initialise()
    database.chmod(0o644)
    Store(settings.effective_database_url).initialise()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_sealed_data_needs_its_key(settings: Settings) -> None:
    from app.sealing import SealError
    from app.settings import new_key_text, parse_key

    key = parse_key(new_key_text(), "test")
    store = Store(settings.effective_database_url, key)
    store.initialise()
    store.add_submission("A-1", "application", {"data": {"name": NAME}})
    other = Store(settings.effective_database_url, parse_key(new_key_text(), "test"))
    with pytest.raises(SealError):
        other.claim("A-1", time.time(), 60)
    item = store.claim("A-1", time.time() + 61, 60)
    assert item is not None
    assert item.payload == {"data": {"name": NAME}}


def test_a_sealed_payload_does_not_open_in_another_row(settings: Settings) -> None:
    from app.sealing import SealError

    store = Store(settings.effective_database_url)
    store.initialise()
    store.add_submission("A-1", "application", {"data": {"name": NAME}})
    store.add_submission("A-2", "application", {"data": {"name": "x"}})
    with store._transaction() as cursor:  # someone swaps the payloads in the database
        cursor.execute("UPDATE outbox SET payload = (SELECT payload FROM outbox "
                       "WHERE reference = 'A-1') WHERE reference = 'A-2'")
    with pytest.raises(SealError):
        store.claim("A-2", time.time(), 60)


def test_rows_from_before_sealing_are_still_delivered(settings: Settings) -> None:
    store = Store(settings.effective_database_url)
    store.initialise()
    with store._transaction() as cursor:
        cursor.execute(
            "INSERT INTO outbox (reference, kind, payload, created_at, status, attempts, "
            "next_attempt_at, lease_until) VALUES ('A-0', 'application', ?, 0, 'pending', 0, "
            "0, 0)", (json.dumps({"reference": "A-0", "data": {"a": "ä"}}),))
    report = deliver_pending(store, DirectoryAdapter(settings.outbox_dir), settings)
    assert report.delivered == 1
    assert json.loads((settings.outbox_dir / "A-0.json").read_text("utf-8"))["data"] == {"a": "ä"}


# --- operations ---


def test_healthz_is_degraded_when_a_delivery_gave_up_or_waits_too_long(settings: Settings) -> None:
    patient = dataclasses.replace(settings, health_max_pending_age=60)
    with make_client(patient) as client:
        store = client.app.state.service.store  # type: ignore[attr-defined]
        assert client.get("/healthz").json()["status"] == "ok"
        store.add_submission("A-1", "application", {"data": {}})
        healthy = client.get("/healthz").json()
        assert healthy["status"] == "ok"
        assert healthy["oldest_pending_seconds"] <= 60
        with store._transaction() as cursor:
            cursor.execute("UPDATE outbox SET created_at = created_at - 61")
        late = client.get("/healthz").json()
        assert late["status"] == "degraded"
        assert late["problems"] == ["pending_too_long"]
        store.mark_attempt_failed("A-1", "DeliveryRejected: abgelehnt", 0, give_up=True)
        failed = client.get("/healthz").json()
        assert failed["status"] == "degraded"
        assert failed["problems"] == ["failed_deliveries"]
        assert failed["outbox"] == {"failed": 1}


def _delivery_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SERVICE_ENV": "development", "SERVICE_DATA_DIR": str(settings.data_dir),
           "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.run([sys.executable, "-m", "app.delivery", *args], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=60, check=False)


def test_status_lists_open_deliveries_without_personal_data(settings: Settings) -> None:
    store = Store(settings.effective_database_url)
    store.initialise()
    store.add_submission("A-2026-0000-0001", "application", {"data": {"name": NAME}})
    store.add_submission("A-2026-0000-0002", "application", {"data": {"name": NAME}})
    store.mark_attempt_failed("A-2026-0000-0002", "DeliveryRejected: Ziel inaktiv", 0,
                              give_up=True)
    table = _delivery_cli(settings, "--status")
    assert table.returncode == 1, table.stderr  # one gave up
    assert "A-2026-0000-0001" in table.stdout
    assert "pending" in table.stdout
    assert "Ziel inaktiv" in table.stdout
    listed = _delivery_cli(settings, "--status", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["reference"], r["status"]) for r in rows] == [
        ("A-2026-0000-0001", "pending"), ("A-2026-0000-0002", "failed")]
    assert NAME not in table.stdout + listed.stdout + table.stderr + listed.stderr
    assert store.status("A-2026-0000-0001") == ("pending", 0)  # --status delivers nothing


def test_status_with_nothing_open(settings: Settings) -> None:
    result = _delivery_cli(settings, "--status")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Keine offenen Zustellungen."


def test_json_without_status_is_a_usage_error(settings: Settings) -> None:
    result = _delivery_cli(settings, "--json")
    assert result.returncode == 2
    assert "--json" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_malformed_data_key_stops_the_start_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "SERVICE_ENV": "development", "SERVICE_DATA_DIR": str(tmp_path),
           "SERVICE_DATA_KEY": "zu-kurz", "PYTHONPATH": str(PROJECT_ROOT)}
    result = subprocess.run([sys.executable, "-m", "app.delivery", "--status"], cwd=PROJECT_ROOT,
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "SERVICE_DATA_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_create_app_works_with_a_data_key_from_a_file(tmp_path: Path, settings: Settings) -> None:
    from app.settings import new_key_text

    key_file = tmp_path / "data.key"
    key_file.write_text(new_key_text() + "\n", encoding="utf-8")
    from_env = Settings.from_env({"SERVICE_ENV": "development", "SERVICE_DATA_KEY_FILE":
                                  str(key_file), "SERVICE_DATA_DIR": str(tmp_path / "var")})
    assert from_env.data_key is not None
    assert len(from_env.data_key) == 32
    with TestClient(create_app(dataclasses.replace(settings, data_key=from_env.data_key))) as c:
        assert c.get("/healthz").status_code == 200
    assert not (settings.data_dir / "service.sqlite3.key").exists()


# --- after submitting ---


def test_back_after_submitting_shows_the_vorgangsnummer_not_an_empty_form(
    client: TestClient, form: FormDefinition
) -> None:
    reference = submit(client, form)
    for path in (f"/antrag/{form.pages[-1].id}", "/antrag/pruefen"):
        page = client.get(path)
        assert page.status_code == 200
        assert "bereits abgesendet" in page.text
        assert reference_on(page.text) == reference
        assert 'type="text"' not in page.text  # no form field to fill in again


def test_a_form_page_sent_again_after_submitting_starts_no_new_draft(
    client: TestClient, form: FormDefinition
) -> None:
    token = fill_form(client, form)
    client.post("/antrag/pruefen", data={"csrf_token": token})
    new_token = _token(client.get(f"/antrag/{form.pages[0].id}").text)
    page = form.pages[0]
    again = client.post(f"/antrag/{page.id}",
                        data={**valid_answers(form)[page.id], "csrf_token": new_token})
    assert "bereits abgesendet" in again.text


def test_a_new_application_can_be_started_after_submitting(
    client: TestClient, form: FormDefinition, settings: Settings
) -> None:
    first = submit(client, form)
    token = _token(client.get(f"/antrag/{form.pages[0].id}").text)
    started = client.post("/antrag/neu", data={"csrf_token": token}, follow_redirects=False)
    assert started.status_code == 303
    assert started.headers["location"] == f"/antrag/{form.pages[0].id}"
    assert "bereits abgesendet" not in client.get(started.headers["location"]).text
    second = submit(client, form)
    assert second != first
    assert sorted(_outbox_rows(settings)) == sorted([first, second])


def test_pages_with_entered_data_are_never_cached(client: TestClient,
                                                  form: FormDefinition) -> None:
    token = fill_form(client, form)
    for path in (f"/antrag/{form.pages[0].id}", "/antrag/pruefen"):
        assert client.get(path).headers["cache-control"] == "no-store", path
    confirmation = client.post("/antrag/pruefen", data={"csrf_token": token})
    assert confirmation.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/", "/impressum", "/antrag/pruefen", "/healthz", "/theme.css"])
def test_head_is_answered_wherever_get_is(client: TestClient, path: str) -> None:
    got = client.get(path, follow_redirects=False)
    head = client.head(path, follow_redirects=False)
    assert head.status_code == got.status_code
    assert head.content == b""
    assert head.headers.get("content-type") == got.headers.get("content-type")
