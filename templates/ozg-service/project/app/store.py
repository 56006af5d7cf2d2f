"""Server-side storage: form drafts (sessions) and the outbox of submissions.

SQLite (standard library) by default; PostgreSQL when DATABASE_URL starts with ``postgres``
(needs the optional extra ``postgres``: ``pip install -e '.[postgres]'``). Both use the same SQL;
only the parameter style differs.

Personal data never reaches the disk in plain text: drafts and payloads are sealed (app/sealing.py).
A SQLite database is created with mode 600, overwrites deleted content (``secure_delete``) and
truncates its write-ahead log after a delivery, so nothing of a delivered application stays behind.

Sessions belong to the server: only ids created here are accepted (``create_session``), and
submitting an application replaces the session by a new one in the same transaction as the
outbox row, so that however often the check-answers page is sent, one application is stored.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .sealing import Sealer, key_beside

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
    # The citizen's files of a draft, sealed; moved into the outbox payload when submitted.
    """CREATE TABLE IF NOT EXISTS uploads (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        content {blob} NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS uploads_session ON uploads (session_id)",
)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
# A replaced session answers a repeated submit with the new session for this long, no longer.
ROTATION_GRACE_SECONDS = 30


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


class NewSubmission(NamedTuple):
    """What :meth:`Store.submit_session` stores: the outbox row, and what the new session keeps
    (the Vorgangsnummer always; *keep* adds to it, e.g. the receipt)."""

    reference: str
    kind: str
    payload: Mapping[str, Any]
    keep: Mapping[str, Any] = {}


@dataclass(frozen=True)
class Submitted:
    """The outcome of :meth:`Store.submit_session`."""

    reference: str
    session_id: str  # the new session, which alone shows the confirmation
    created: bool  # False: an earlier request of the same session stored it already


@dataclass(frozen=True)
class OutboxRow:
    """One submission as ``python -m app.delivery --status`` lists it: no personal data."""

    reference: str
    kind: str
    status: str
    attempts: int
    created_at: float
    next_attempt_at: float
    last_error: str | None
    stage: str | None


@dataclass(frozen=True)
class Health:
    counts: dict[str, int]
    oldest_pending_at: float | None


class Store:
    """Drafts and outbox in one database. Safe to use from several threads and processes.

    *data_key* seals personal data (32 bytes); without it a SQLite store keeps its key in a file
    beside the database (see app/sealing.py), and a PostgreSQL store refuses to start.
    """

    def __init__(self, url: str, data_key: bytes | None = None) -> None:
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
        self.data_key = data_key
        self._sealer: Sealer | None = None
        self._local = threading.local()

    @property
    def sealer(self) -> Sealer:
        if self._sealer is None:
            if self.data_key is not None:
                self._sealer = Sealer(self.data_key)
            elif self.path is not None:
                self._sealer = Sealer(key_beside(self.path))
            else:
                raise ValueError("SERVICE_DATA_KEY fehlt: mit PostgreSQL ist er Pflicht.")
        return self._sealer

    def _seal(self, data: Mapping[str, Any], row: str) -> str:
        return self.sealer.seal(json.dumps(dict(data), ensure_ascii=False), row)

    def _open(self, stored: str, row: str) -> Any:
        return json.loads(self.sealer.open(stored, row))

    # -- connections ----------------------------------------------------------------------------

    def _sqlite(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            path = Path(str(self.path))
            _create_private(path)
            connection = sqlite3.connect(str(path), timeout=10, isolation_level=None)
            connection.execute("PRAGMA busy_timeout = 10000")
            # Deleted and overwritten content is zeroed, not left in free pages.
            connection.execute("PRAGMA secure_delete = ON")
            self._local.connection = connection
        return connection

    def truncate_log(self) -> None:
        """Fold the write-ahead log into the database and empty it (SQLite only): after it,
        the log no longer holds copies of pages whose content was deleted."""
        if self.path is not None:
            self._sqlite().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

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
            for path in (self.path, *(self.path.with_name(self.path.name + suffix)
                                      for suffix in ("-wal", "-shm"))):
                if path.exists():
                    path.chmod(0o600)  # databases created before this version, too
        _ = self.sealer  # a missing or unreadable key stops the start, not the first request
        with self._transaction() as cursor:
            for statement in SCHEMA:
                cursor.execute(statement.replace("{blob}", "BYTEA" if self.postgres else "BLOB"))
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

    def create_session(self, session_id: str) -> None:
        """Register a session id issued by the server; only registered ids are accepted."""
        with self._transaction() as cursor:
            cursor.execute(
                self._sql("INSERT INTO sessions (id, data, updated_at) VALUES (?, ?, ?)"),
                (session_id, self._seal({}, session_id), time.time()),
            )

    def load_session(self, session_id: str, max_age: int) -> dict[str, Any] | None:
        """The session's data; None when the id is unknown, expired or replaced."""
        with self._transaction(write=False) as cursor:
            cursor.execute(self._sql("SELECT data, updated_at FROM sessions WHERE id = ?"),
                           (session_id,))
            row = cursor.fetchone()
        if row is None or row[1] < time.time() - max_age:
            return None
        data = self._open(row[0], session_id)
        if not isinstance(data, dict) or "replaced_by" in data:
            return None
        return data

    def save_session(self, session_id: str, data: Mapping[str, Any]) -> bool:
        """Replace a registered session's data; False when the session no longer exists."""
        with self._transaction() as cursor:
            cursor.execute(
                self._sql("UPDATE sessions SET data = ?, updated_at = ? WHERE id = ?"),
                (self._seal(data, session_id), time.time(), session_id),
            )
            return cursor.rowcount == 1

    def submit_session(
        self,
        session_id: str,
        new_session_id: str,
        max_age: int,
        make: Callable[[Mapping[str, Any], Mapping[str, bytes]], NewSubmission | None],
    ) -> Submitted | None:
        """Turn a session's draft into exactly one outbox row, and replace the session.

        *make(data, files)* builds the :class:`NewSubmission` from the session data and its
        uploaded files (id → content) read inside the transaction (None when the draft is not
        complete); it is called again (a new reference number) if the reference number is
        taken. The files leave the uploads table in the same transaction. A request that comes
        second (a double click, fifty tabs) finds the session replaced and gets the same
        reference and the new session, for ROTATION_GRACE_SECONDS; after that, and for unknown
        sessions, None.
        """
        now = time.time()
        select = "SELECT data, updated_at FROM sessions WHERE id = ?"
        if self.postgres:
            select += " FOR UPDATE"  # SQLite's BEGIN IMMEDIATE already serialises writers
        with self._transaction(durable=True) as cursor:
            cursor.execute(self._sql(select), (session_id,))
            row = cursor.fetchone()
            if row is None or row[1] < now - max_age:
                return None
            data = self._open(row[0], session_id)
            if not isinstance(data, dict):
                return None
            if "replaced_by" in data:
                if row[1] < now - ROTATION_GRACE_SECONDS:
                    return None
                return Submitted(str(data["reference"]), str(data["replaced_by"]), created=False)
            files = self._uploads_of(cursor, session_id)
            for _ in range(5):
                made = make(data, files)
                if made is None:
                    return None
                reference, kind, payload, keep = made
                cursor.execute(
                    self._sql(
                        "INSERT INTO outbox (reference, kind, payload, created_at, status, "
                        "attempts, next_attempt_at, lease_until) VALUES (?, ?, ?, ?, ?, 0, ?, 0) "
                        "ON CONFLICT (reference) DO NOTHING"
                    ),
                    (reference, kind, self._seal(payload, reference), now, PENDING, now),
                )
                if cursor.rowcount == 1:
                    break
            else:
                raise RuntimeError("no free reference number after 5 attempts")
            cursor.execute(self._sql("DELETE FROM uploads WHERE session_id = ?"), (session_id,))
            cursor.execute(
                self._sql("INSERT INTO sessions (id, data, updated_at) VALUES (?, ?, ?)"),
                (new_session_id, self._seal({**keep, "reference": reference}, new_session_id),
                 now),
            )
            cursor.execute(
                self._sql("UPDATE sessions SET data = ?, updated_at = ? WHERE id = ?"),
                (self._seal({"replaced_by": new_session_id, "reference": reference}, session_id),
                 now, session_id),
            )
        return Submitted(reference, new_session_id, created=True)

    def purge_sessions(self, max_age: int) -> int:
        """Delete drafts older than *max_age* seconds, and their files; return how many."""
        with self._transaction() as cursor:
            cursor.execute(self._sql("DELETE FROM sessions WHERE updated_at < ?"),
                           (time.time() - max_age,))
            purged = int(cursor.rowcount)
            cursor.execute("DELETE FROM uploads WHERE session_id NOT IN (SELECT id FROM sessions)")
            purged_files = int(cursor.rowcount)
        if purged or purged_files:
            self.truncate_log()
        return purged

    # -- uploaded files -------------------------------------------------------------------------

    def add_upload(self, session_id: str, upload_id: str, content: bytes) -> bool:
        """Store a file of a draft, sealed; False when the session no longer exists."""
        with self._transaction() as cursor:
            cursor.execute(self._sql("SELECT 1 FROM sessions WHERE id = ?"), (session_id,))
            if cursor.fetchone() is None:
                return False
            cursor.execute(
                self._sql("INSERT INTO uploads (id, session_id, content, created_at) "
                          "VALUES (?, ?, ?, ?)"),
                (upload_id, session_id, self.sealer.seal_bytes(content, upload_id), time.time()),
            )
        return True

    def remove_upload(self, session_id: str, upload_id: str) -> bool:
        """Delete a file of a draft; False when this session has no such file."""
        with self._transaction() as cursor:
            cursor.execute(self._sql("DELETE FROM uploads WHERE id = ? AND session_id = ?"),
                           (upload_id, session_id))
            return cursor.rowcount == 1

    def uploads(self, session_id: str) -> dict[str, bytes]:
        """The files of a draft, id → content."""
        with self._transaction(write=False) as cursor:
            return self._uploads_of(cursor, session_id)

    def _uploads_of(self, cursor: Any, session_id: str) -> dict[str, bytes]:
        cursor.execute(self._sql("SELECT id, content FROM uploads WHERE session_id = ? "
                                 "ORDER BY created_at"), (session_id,))
        return {row[0]: self.sealer.open_bytes(bytes(row[1]), row[0])
                for row in cursor.fetchall()}

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
                    (reference, kind, self._seal(payload, reference), now, PENDING, now),
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
        return OutboxItem(row[0], row[1], self._open(row[2], row[0]), row[3], row[4], row[5],
                          row[6], json.loads(row[7]) if row[7] else {})

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

    def health(self) -> Health:
        """Submissions per status and when the oldest pending one was stored."""
        with self._transaction(write=False) as cursor:
            cursor.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status")
            counts = dict(cursor.fetchall())
            cursor.execute(self._sql("SELECT MIN(created_at) FROM outbox WHERE status = ?"),
                           (PENDING,))
            oldest = cursor.fetchone()[0]
        return Health(counts, oldest)

    def undelivered(self, limit: int = 500) -> list[OutboxRow]:
        """Pending and failed submissions, oldest first, without their payload."""
        with self._transaction(write=False) as cursor:
            cursor.execute(
                self._sql(
                    "SELECT reference, kind, status, attempts, created_at, next_attempt_at, "
                    "last_error, delivery_state FROM outbox WHERE status <> ? "
                    "ORDER BY created_at LIMIT ?"
                ),
                (DELIVERED, limit),
            )
            rows = cursor.fetchall()
        return [OutboxRow(row[0], row[1], row[2], row[3], row[4], row[5], row[6],
                          json.loads(row[7]).get("stage") if row[7] else None) for row in rows]


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


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only (SQLite gives its -wal and -shm
    files the same mode)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
