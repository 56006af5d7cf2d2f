"""The outbox and sessions on PostgreSQL.

Runs only when TEST_DATABASE_URL names an empty PostgreSQL database (and the extra `postgres` is
installed: `pip install -e '.[postgres,test]'`); SQLite is covered by the other tests.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.delivery import DirectoryAdapter, deliver_pending
from app.forms import FormDefinition
from app.settings import Settings
from app.store import DELIVERED, DuplicateReference, NewSubmission, Store, Submitted
from tests.conftest import make_client, submit

URL = os.environ.get("TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(
    not URL.startswith(("postgres://", "postgresql://")),
    reason="TEST_DATABASE_URL is not set to a PostgreSQL database",
)


KEY = bytes(range(32))
NAME = "Zacharias Quellenbrünner"


@pytest.fixture
def store() -> Store:
    pytest.importorskip("psycopg")
    store = Store(URL, KEY)
    store.initialise()
    with store._transaction() as cursor:
        cursor.execute("DELETE FROM outbox")
        cursor.execute("DELETE FROM sessions")
        cursor.execute("DELETE FROM uploads")
    return store


def test_a_store_without_a_data_key_refuses_to_start() -> None:
    with pytest.raises(ValueError, match="SERVICE_DATA_KEY"):
        Store(URL).initialise()


def test_sessions_round_trip(store: Store) -> None:
    assert not store.save_session("s" * 43, {"answers": {}}), "an unknown id is not stored"
    store.create_session("s" * 43)
    assert store.save_session("s" * 43, {"answers": {"p": {"a": "ä"}}})
    assert store.save_session("s" * 43, {"answers": {"p": {"a": "ö"}}})
    assert store.load_session("s" * 43, 60) == {"answers": {"p": {"a": "ö"}}}
    assert store.load_session("t" * 43, 60) is None
    assert store.purge_sessions(-1) == 1


def test_outbox_on_postgres(store: Store, settings: Settings) -> None:
    store.add_submission("A-1", "application", {"reference": "A-1", "data": {"name": NAME}})
    with pytest.raises(DuplicateReference):
        store.add_submission("A-1", "application", {"reference": "A-1"})
    with store._transaction() as cursor:
        cursor.execute("SELECT payload FROM outbox WHERE reference = 'A-1'")
        assert NAME not in cursor.fetchone()[0], "stored in plain text"
    now = time.time()
    assert store.due(now) == ["A-1"]
    report = deliver_pending(store, DirectoryAdapter(settings.outbox_dir), settings, now)
    assert report.delivered == 1
    assert store.status("A-1") == (DELIVERED, 1)
    assert store.counts() == {DELIVERED: 1}
    with store._transaction() as cursor:
        cursor.execute("SELECT payload FROM outbox WHERE reference = 'A-1'")
        assert cursor.fetchone()[0] == "{}"


def test_uploaded_files_are_sealed_move_with_the_submission_and_expire(store: Store) -> None:
    content = b"%PDF-1.4 " + NAME.encode() + b" %%EOF"
    store.create_session("s" * 43)
    store.create_session("t" * 43)
    assert store.add_upload("s" * 43, "u1", content)
    assert store.add_upload("t" * 43, "u2", content)
    assert not store.add_upload("x" * 43, "u3", content), "no files for unknown sessions"
    with store._transaction() as cursor:
        cursor.execute("SELECT content FROM uploads")
        assert all(NAME.encode() not in bytes(row[0]) for row in cursor.fetchall())
    seen: list[dict[str, bytes]] = []

    def make(data: object, files: dict[str, bytes]) -> NewSubmission:
        seen.append(dict(files))
        return NewSubmission("A-F1", "application", {"data": data}, {"receipt": "r"})

    submitted = store.submit_session("s" * 43, "n" * 43, 3600, make)
    assert submitted is not None
    assert seen == [{"u1": content}]
    assert store.uploads("s" * 43) == {}
    assert store.load_session("n" * 43, 3600) == {"receipt": "r", "reference": "A-F1"}
    assert not store.remove_upload("s" * 43, "u2"), "another session's file stays"
    with store._transaction() as cursor:
        cursor.execute("UPDATE sessions SET updated_at = 0 WHERE id = %s", ("t" * 43,))
    store.purge_sessions(3600)
    assert store.uploads("t" * 43) == {}


def test_concurrent_submits_of_one_session_store_one_row(store: Store) -> None:
    store.create_session("s" * 43)
    store.save_session("s" * 43, {"answers": {"p": {"name": NAME}}})
    start = threading.Barrier(20)

    def make(data: object, files: object) -> NewSubmission:
        return NewSubmission(f"A-{uuid.uuid4().hex[:8]}", "application", {"data": data})

    def send(index: int) -> Submitted | None:
        start.wait()
        return store.submit_session("s" * 43, f"{index:02d}" + "n" * 41, 3600, make)

    with ThreadPoolExecutor(20) as pool:
        results = [r for r in pool.map(send, range(20)) if r is not None]
    assert len(results) == 20
    assert sum(r.created for r in results) == 1
    assert len({(r.reference, r.session_id) for r in results}) == 1
    assert store.counts() == {"pending": 1}
    assert store.load_session("s" * 43, 3600) is None
    assert store.load_session(results[0].session_id, 3600) == {"reference": results[0].reference}


def test_journey_on_postgres(store: Store, settings: Settings, form: FormDefinition) -> None:
    on_postgres = dataclasses.replace(settings, database_url=URL, data_key=KEY)
    with make_client(on_postgres) as client:
        reference = submit(client, form)
    assert store.status(reference) == (DELIVERED, 1)
