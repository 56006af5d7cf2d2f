"""Server-side storage: form drafts (sessions) and the outbox of submissions.

SQLite (standard library) by default; PostgreSQL when DATABASE_URL starts with ``postgres``
(needs the optional extra ``postgres``: ``pip install -e '.[postgres]'``). Both use the same SQL;
only the parameter style differs.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sessions (
        id TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS outbox (
        reference TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at DOUBLE PRECISION NOT NULL,
        lease_until DOUBLE PRECISION NOT NULL,
        delivered_at DOUBLE PRECISION,
        last_error TEXT,
        delivery_state TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at)",
)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class DuplicateReference(Exception):
    """A submission with this reference number is already stored."""


@dataclass(frozen=True)
class OutboxItem:
    reference: str
    kind: str
    payload: dict[str, Any]
    created_at: float
    status: str
    attempts: int
    last_error: str | None
    # What a staged adapter (FIT-Connect) has done so far: ids and stage names, no personal data.
    delivery_state: dict[str, Any] = field(default_factory=dict)


class Store:
    """Drafts and outbox in one database. Safe to use from several threads and processes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = url.startswith(("postgres://", "postgresql://"))
        if self.postgres:
            self.path = None
        elif url.startswith("sqlite:///"):
            self.path = Path(url.removeprefix("sqlite:///"))
        else:
            raise ValueError(
                f"DATABASE_URL {url!r} wird nicht unterstützt: sqlite:///pfad oder postgresql://…"
            )
        self._local = threading.local()

    # -- connections ----------------------------------------------------------------------------

    def _sqlite(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(str(self.path), timeout=10, isolation_level=None)
            connection.execute("PRAGMA busy_timeout = 10000")
            self._local.connection = connection
        return connection

    @contextmanager
    def _transaction(self, *, write: bool = True, durable: bool = False) -> Iterator[Any]:
        """A cursor in one transaction; *durable* waits until the commit is on disk."""
        if self.postgres:
            import psycopg  # optional dependency, only needed for PostgreSQL

            with psycopg.connect(self.url) as connection, connection.cursor() as cursor:
                yield cursor
            return
        connection = self._sqlite()
        # Drafts may be lost in a power cut; submissions may not (the outbox write is synced).
        connection.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
        connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield connection.cursor()
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    def initialise(self) -> None:
        """Create the tables if needed (idempotent)."""
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._sqlite().execute("PRAGMA journal_mode = WAL")
        with self._transaction() as cursor:
            for statement in SCHEMA:
                cursor.execute(statement)
            # Databases created before delivery_state existed get the column added.
            if self.postgres:
                cursor.execute("ALTER TABLE outbox ADD COLUMN IF NOT EXISTS delivery_state TEXT")
            else:
                cursor.execute("PRAGMA table_info(outbox)")
                if "delivery_state" not in {row[1] for row in cursor.fetchall()}:
                    cursor.execute("ALTER TABLE outbox ADD COLUMN delivery_state TEXT")

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    # -- sessions -------------------------------------------------------------------------------

    def load_session(self, session_id: str, max_age: int) -> dict[str, Any]:
        with self._transaction(write=False) as cursor:
            cursor.execute(self._sql("SELECT data, updated_at FROM sessions WHERE id = ?"),
                           (session_id,))
            row = cursor.fetchone()
        if row is None or row[1] < time.time() - max_age:
            return {}
        data = json.loads(row[0])
        return data if isinstance(data, dict) else {}

    def save_session(self, session_id: str, data: Mapping[str, Any]) -> None:
        with self._transaction() as cursor:
            cursor.execute(
                self._sql(
                    "INSERT INTO sessions (id, data, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET data = excluded.data, "
                    "updated_at = excluded.updated_at"
                ),
                (session_id, json.dumps(data, ensure_ascii=False), time.time()),
            )

    def purge_sessions(self, max_age: int) -> int:
        """Delete drafts older than *max_age* seconds; return how many."""
        with self._transaction() as cursor:
            cursor.execute(self._sql("DELETE FROM sessions WHERE updated_at < ?"),
                           (time.time() - max_age,))
            return cursor.rowcount

    # -- outbox ---------------------------------------------------------------------------------

    def add_submission(self, reference: str, kind: str, payload: Mapping[str, Any]) -> None:
        """Store a submission durably; raise DuplicateReference if the reference exists."""
        now = time.time()
        try:
            with self._transaction(durable=True) as cursor:
                cursor.execute(
                    self._sql(
                        "INSERT INTO outbox (reference, kind, payload, created_at, status, "
                        "attempts, next_attempt_at, lease_until) VALUES (?, ?, ?, ?, ?, 0, ?, 0)"
                    ),
                    (reference, kind, json.dumps(payload, ensure_ascii=False), now, PENDING, now),
                )
        except Exception as error:
            if "unique" in str(error).lower() or "duplicate" in str(error).lower():
                raise DuplicateReference(reference) from error
            raise

    def due(self, now: float, limit: int = 50) -> list[str]:
        """References of pending submissions whose next attempt is due."""
        with self._transaction(write=False) as cursor:
            cursor.execute(
                self._sql(
                    "SELECT reference FROM outbox WHERE status = ? AND next_attempt_at <= ? "
                    "AND lease_until <= ? ORDER BY created_at LIMIT ?"
                ),
                (PENDING, now, now, limit),
            )
            return [row[0] for row in cursor.fetchall()]

    def claim(self, reference: str, now: float, lease_seconds: float) -> OutboxItem | None:
        """Lease a pending submission for delivery so that no other worker delivers it meanwhile."""
        with self._transaction() as cursor:
            cursor.execute(
                self._sql(
                    "UPDATE outbox SET lease_until = ? WHERE reference = ? AND status = ? "
                    "AND lease_until <= ?"
                ),
                (now + lease_seconds, reference, PENDING, now),
            )
            if cursor.rowcount != 1:
                return None
            cursor.execute(
                self._sql(
                    "SELECT reference, kind, payload, created_at, status, attempts, last_error, "
                    "delivery_state FROM outbox WHERE reference = ?"
                ),
                (reference,),
            )
            row = cursor.fetchone()
        return OutboxItem(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5], row[6],
                          json.loads(row[7]) if row[7] else {})

    def save_delivery_state(self, reference: str, state: Mapping[str, Any]) -> None:
        """Record durably what a staged adapter has done, before it goes on to the next stage."""
        with self._transaction(durable=True) as cursor:
            cursor.execute(
                self._sql("UPDATE outbox SET delivery_state = ? WHERE reference = ?"),
                (json.dumps(dict(state), sort_keys=True), reference),
            )

    def delivery_state(self, reference: str) -> dict[str, Any]:
        """The recorded delivery state of a submission ({} when none)."""
        with self._transaction(write=False) as cursor:
            cursor.execute(
                self._sql("SELECT delivery_state FROM outbox WHERE reference = ?"), (reference,)
            )
            row = cursor.fetchone()
        return json.loads(row[0]) if row and row[0] else {}

    def mark_delivered(self, reference: str, now: float) -> None:
        # The personal data is no longer needed once delivered: keep only the bookkeeping.
        with self._transaction(durable=True) as cursor:
            cursor.execute(
                self._sql(
                    "UPDATE outbox SET status = ?, delivered_at = ?, payload = '{}', "
                    "attempts = attempts + 1, lease_until = 0, last_error = NULL "
                    "WHERE reference = ?"
                ),
                (DELIVERED, now, reference),
            )

    def mark_attempt_failed(
        self, reference: str, error: str, next_attempt_at: float, *, give_up: bool
    ) -> None:
        with self._transaction(durable=True) as cursor:
            cursor.execute(
                self._sql(
                    "UPDATE outbox SET status = ?, attempts = attempts + 1, next_attempt_at = ?, "
                    "lease_until = 0, last_error = ? WHERE reference = ?"
                ),
                (FAILED if give_up else PENDING, next_attempt_at, error[:500], reference),
            )

    def retry_failed(self, now: float) -> int:
        """Put submissions that gave up back in the queue; return how many."""
        with self._transaction() as cursor:
            cursor.execute(
                self._sql("UPDATE outbox SET status = ?, attempts = 0, next_attempt_at = ? "
                          "WHERE status = ?"),
                (PENDING, now, FAILED),
            )
            return cursor.rowcount

    def status(self, reference: str) -> tuple[str, int] | None:
        with self._transaction(write=False) as cursor:
            cursor.execute(
                self._sql("SELECT status, attempts FROM outbox WHERE reference = ?"), (reference,)
            )
            row = cursor.fetchone()
        return None if row is None else (row[0], row[1])

    def counts(self) -> dict[str, int]:
        with self._transaction(write=False) as cursor:
            cursor.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status")
            return dict(cursor.fetchall())

    def wake(self, submission_id: str, now: float) -> str | None:
        """Make the pending submission that FIT-Connect knows as *submission_id* due at *now*
        (a callback said there is news about it); its reference, or None when none is pending.

        *submission_id* must be a UUID (the caller checks): it is matched inside the recorded
        delivery state.
        """
        with self._transaction() as cursor:
            cursor.execute(
                self._sql("SELECT reference, delivery_state FROM outbox WHERE status = ? "
                          "AND delivery_state LIKE ?"),
                (PENDING, f'%"{submission_id}"%'),
            )
            found = [row[0] for row in cursor.fetchall()
                     if json.loads(row[1] or "{}").get("submissionId") == submission_id]
            for reference in found:
                cursor.execute(
                    self._sql("UPDATE outbox SET next_attempt_at = ? WHERE reference = ?"),
                    (now, reference),
                )
        return found[0] if found else None
