"""The outbox and sessions on PostgreSQL.

Runs only when TEST_DATABASE_URL names an empty PostgreSQL database (and the extra `postgres` is
installed: `pip install -e '.[postgres,test]'`); SQLite is covered by the other tests.
"""

from __future__ import annotations

import dataclasses
import os
import time

import pytest

from app.delivery import DirectoryAdapter, deliver_pending
from app.forms import FormDefinition
from app.settings import Settings
from app.store import DELIVERED, DuplicateReference, Store
from tests.conftest import make_client, submit

URL = os.environ.get("TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(
    not URL.startswith(("postgres://", "postgresql://")),
    reason="TEST_DATABASE_URL is not set to a PostgreSQL database",
)


@pytest.fixture
def store() -> Store:
    pytest.importorskip("psycopg")
    store = Store(URL)
    store.initialise()
    with store._transaction() as cursor:
        cursor.execute("DELETE FROM outbox")
        cursor.execute("DELETE FROM sessions")
    return store


def test_sessions_round_trip(store: Store) -> None:
    store.save_session("s" * 43, {"answers": {"p": {"a": "ä"}}})
    store.save_session("s" * 43, {"answers": {"p": {"a": "ö"}}})
    assert store.load_session("s" * 43, 60) == {"answers": {"p": {"a": "ö"}}}
    assert store.purge_sessions(-1) == 1


def test_outbox_on_postgres(store: Store, settings: Settings) -> None:
    store.add_submission("A-1", "application", {"reference": "A-1"})
    with pytest.raises(DuplicateReference):
        store.add_submission("A-1", "application", {"reference": "A-1"})
    now = time.time()
    assert store.due(now) == ["A-1"]
    report = deliver_pending(store, DirectoryAdapter(settings.outbox_dir), settings, now)
    assert report.delivered == 1
    assert store.status("A-1") == (DELIVERED, 1)
    assert store.counts() == {DELIVERED: 1}


def test_journey_on_postgres(store: Store, settings: Settings, form: FormDefinition) -> None:
    with make_client(dataclasses.replace(settings, database_url=URL)) as client:
        reference = submit(client, form)
    assert store.status(reference) == (DELIVERED, 1)
