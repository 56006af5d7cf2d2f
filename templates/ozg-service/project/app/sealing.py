"""Personal data at rest: drafts and outbox payloads are stored sealed (AES-256-GCM).

The key is SERVICE_DATA_KEY (32 bytes, URL-safe base64) or the file SERVICE_DATA_KEY_FILE names.
Without either, the service keeps a key file beside its SQLite database (mode 600, created on
first start): that still keeps the data out of database dumps and backups of the database alone,
but a copy of the whole data directory holds both. ``python -m app.golive`` reports it.

Each value is bound to its row (the reference number or session id is the associated data), so
a sealed payload copied into another row does not open. Rows written before sealing existed
(plain JSON) are still read, and sealed when next written.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .settings import new_key_text, parse_key

PREFIX = "v1."
NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed value does not open with this key (wrong key, or the value was altered)."""


def key_beside(database: Path) -> bytes:
    """The key file next to *database*, created (mode 600) by whichever process comes first."""
    path = database.with_name(database.name + ".key")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(new_key_text() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            # link() never replaces: two processes starting at once end up with one key.
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink(missing_ok=True)
    return parse_key(path.read_text(encoding="ascii"), str(path))


class Sealer:
    """Seals text for one row and opens it again."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, text: str, row: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, text.encode(), row.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def seal_bytes(self, data: bytes, row: str) -> bytes:
        """A file's content: nonce and ciphertext as raw bytes (no base64, files are large)."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data, row.encode())

    def open_bytes(self, stored: bytes, row: str) -> bytes:
        try:
            return self._aead.decrypt(stored[:NONCE_BYTES], stored[NONCE_BYTES:], row.encode())
        except (InvalidTag, ValueError) as error:
            raise SealError(f"stored file {row!r} does not open with this key") from error

    def open(self, stored: str, row: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before sealing existed
        try:
            raw = base64.urlsafe_b64decode(stored.removeprefix(PREFIX))
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], row.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError) as error:
            raise SealError(f"stored value of {row!r} does not open with this key") from error
