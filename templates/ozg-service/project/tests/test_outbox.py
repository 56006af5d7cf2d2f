"""Outbox and delivery: stored first, delivered idempotently, retried, nothing lost in a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.delivery import DirectoryAdapter, Submission, deliver_one, deliver_pending
from app.forms import FormDefinition
from app.settings import PROJECT_ROOT, Settings
from app.store import DELIVERED, FAILED, PENDING, Store
from tests.conftest import SECRET, submit


class FlakyAdapter:
    """Fails the first *failures* deliveries, then writes like the directory adapter."""

    name = "flaky"

    def __init__(self, directory: Path, failures: int) -> None:
        self.inner = DirectoryAdapter(directory)
        self.failures = failures
        self.calls = 0

    def deliver(self, submission: Submission) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("Gegenstelle nicht erreichbar")
        self.inner.deliver(submission)


def stored(settings: Settings, reference: str = "A-2025-0000-0001") -> Store:
    store = Store(settings.effective_database_url)
    store.initialise()
    store.add_submission(reference, "application", {"reference": reference, "data": {"a": "b"}})
    return store


def test_directory_adapter_is_idempotent(tmp_path: Path) -> None:
    adapter = DirectoryAdapter(tmp_path / "out")
    submission = Submission("A-1", "application", {"reference": "A-1", "data": {"x": "ä"}})
    adapter.deliver(submission)
    first = (tmp_path / "out" / "A-1.json").read_bytes()
    adapter.deliver(submission)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["A-1.json"]
    assert (tmp_path / "out" / "A-1.json").read_bytes() == first
    assert json.loads(first)["data"]["x"] == "ä"


def test_failed_delivery_is_retried_until_it_succeeds(settings: Settings) -> None:
    store = stored(settings)
    adapter = FlakyAdapter(settings.outbox_dir, failures=2)
    now = time.time()
    assert deliver_one(store, adapter, "A-2025-0000-0001", settings, now) == "retry"
    assert store.status("A-2025-0000-0001") == (PENDING, 1)
    assert deliver_pending(store, adapter, settings, now + 1).retried == 1
    assert deliver_pending(store, adapter, settings, now + 2).delivered == 1
    assert store.status("A-2025-0000-0001") == (DELIVERED, 3)
    assert [p.name for p in settings.outbox_dir.glob("*.json")] == ["A-2025-0000-0001.json"]
    # Delivered submissions are not delivered again.
    assert deliver_pending(store, adapter, settings, now + 3).delivered == 0
    assert adapter.calls == 3


def test_retries_wait_longer_each_time(settings: Settings) -> None:
    import dataclasses

    slow = dataclasses.replace(settings, delivery_retry_seconds=30)
    store = stored(slow)
    adapter = FlakyAdapter(slow.outbox_dir, failures=10)
    now = time.time()
    deliver_one(store, adapter, "A-2025-0000-0001", slow, now)
    assert store.due(now + 29) == []
    assert store.due(now + 31) == ["A-2025-0000-0001"]
    deliver_one(store, adapter, "A-2025-0000-0001", slow, now + 31)
    assert store.due(now + 31 + 59) == []
    assert store.due(now + 31 + 61) == ["A-2025-0000-0001"]


def test_delivery_gives_up_after_the_maximum_and_can_be_retried(settings: Settings) -> None:
    import dataclasses

    limited = dataclasses.replace(settings, delivery_max_attempts=2)
    store = stored(limited)
    adapter = FlakyAdapter(limited.outbox_dir, failures=5)
    now = time.time()
    deliver_one(store, adapter, "A-2025-0000-0001", limited, now)
    assert deliver_one(store, adapter, "A-2025-0000-0001", limited, now + 1) == "failed"
    assert store.status("A-2025-0000-0001") == (FAILED, 2)
    assert store.due(now + 10_000) == []
    assert store.retry_failed(now) == 1
    assert store.due(now + 1) == ["A-2025-0000-0001"]


def test_personal_data_is_removed_from_the_outbox_after_delivery(settings: Settings) -> None:
    store = stored(settings)
    deliver_pending(store, DirectoryAdapter(settings.outbox_dir), settings)
    assert store.claim("A-2025-0000-0001", time.time(), 60) is None
    import sqlite3

    with sqlite3.connect(settings.data_dir / "service.sqlite3") as db:
        (payload,) = db.execute("SELECT payload FROM outbox").fetchone()
    assert payload == "{}"


def test_a_failing_adapter_does_not_fail_the_submission(
    client: TestClient, form: FormDefinition, settings: Settings
) -> None:
    svc = client.app.state.service
    svc.adapter = FlakyAdapter(settings.outbox_dir, failures=1)
    reference = submit(client, form)
    assert svc.store.status(reference) == (PENDING, 1)
    assert not list(settings.outbox_dir.glob("*.json"))
    deliver_pending(svc.store, svc.adapter, settings)
    assert [p.stem for p in settings.outbox_dir.glob("*.json")] == [reference]


CRASHING_SUBMISSION = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from fastapi.testclient import TestClient
    from app.main import create_app
    from app.settings import Settings
    from tests.conftest import fill_form, load_form, PROJECT_ROOT

    data = Path(sys.argv[1])
    settings = Settings(environment="development", secret_key=sys.argv[2],
                        secure_cookies=False, hsts=False, data_dir=data,
                        outbox_dir=data / "outbox", delivery_interval=0)

    with TestClient(create_app(settings)) as client:
        service = client.app.state.service
        submit_application = service.submit_application

        def killed_before_delivery(session_id):
            submitted = submit_application(session_id)
            print("REFERENCE=" + submitted.reference, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # dies after storing, before delivering

        service.submit_application = killed_before_delivery
        form = load_form(PROJECT_ROOT / "form.toml")
        token = fill_form(client, form)
        client.post("/antrag/pruefen", data={"csrf_token": token})
    print("not killed", flush=True)
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_crash_between_storing_and_delivering_loses_nothing(tmp_path: Path) -> None:
    data = tmp_path / "var"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    crashed = subprocess.run([sys.executable, "-c", CRASHING_SUBMISSION, str(data), SECRET],
                             cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                             timeout=120, check=False)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    reference = crashed.stdout.split("REFERENCE=", 1)[1].split()[0]
    outbox = data / "outbox"
    assert not list(outbox.glob("*.json")) if outbox.exists() else True

    # A fresh process delivers what the killed one had stored, exactly once ...
    worker_env = {**env, "SERVICE_ENV": "development", "SERVICE_DATA_DIR": str(data),
                  "SERVICE_DELIVERY_RETRY_SECONDS": "0"}
    for _ in range(2):  # ... however often the worker runs.
        worker = subprocess.run([sys.executable, "-m", "app.delivery"], cwd=PROJECT_ROOT,
                                env=worker_env, capture_output=True, text=True, timeout=60,
                                check=False)
        assert worker.returncode == 0, worker.stderr
    files = list(outbox.glob("*.json"))
    assert [p.stem for p in files] == [reference]
    delivered = json.loads(files[0].read_text(encoding="utf-8"))
    assert delivered["reference"] == reference
    assert not list(outbox.glob(".tmp-*"))
    store = Store(f"sqlite:///{data / 'service.sqlite3'}")
    assert store.status(reference) == (DELIVERED, 1)


def test_a_delivery_interrupted_by_a_crash_is_retried_when_its_lease_expires(
    settings: Settings,
) -> None:
    store = stored(settings)
    now = time.time()
    assert store.claim("A-2025-0000-0001", now, 120) is not None  # then the worker dies
    assert store.due(now + 60) == []  # another worker leaves it alone meanwhile
    assert store.due(now + 121) == ["A-2025-0000-0001"]
    assert deliver_pending(store, DirectoryAdapter(settings.outbox_dir), settings,
                           now + 121).delivered == 1


def test_store_rejects_unknown_database_urls() -> None:
    with pytest.raises(ValueError, match="nicht unterstützt"):
        Store("mysql://example")


def test_postgres_urls_use_the_postgres_dialect() -> None:
    store = Store("postgresql://user@localhost/db")
    assert store.postgres
    assert store._sql("SELECT 1 WHERE a = ? AND b = ?") == "SELECT 1 WHERE a = %s AND b = %s"
