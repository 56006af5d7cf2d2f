"""Handing stored submissions on to the administration: the adapter interface and the worker.

Every valid submission is first stored in the outbox (app/store.py), then delivered by an adapter.
An adapter is any object with a ``name`` and a ``deliver(submission)`` method (see
:class:`DeliveryAdapter` and docs/delivery.md). Delivery must be idempotent: the same submission
may be delivered more than once (after a crash, a timeout or a retry), and the receiving side must
end up with it exactly once. The default :class:`DirectoryAdapter` writes ``<reference>.json``
atomically, so repeating a delivery replaces the file with identical content.

Run the worker by hand with ``python -m app.delivery`` (once) or ``--loop``; the web service also
runs it in the background, at once after each submission and every SERVICE_DELIVERY_INTERVAL
seconds. ``python -m app.delivery --status [--json]`` lists what is not delivered yet, without
personal data.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import hashlib
import importlib
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .settings import Settings, SettingsError
from .store import OutboxRow, Store

log = logging.getLogger("app.delivery")

FIT_CONNECT_METADATA_SCHEMA = (
    "https://schema.fitko.de/fit-connect/metadata/1.2.0/metadata.schema.json"
)
LEIKA_URN = "urn:de:fim:leika:leistung:"
LEASE_SECONDS = 120
SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}")
ATTACHMENT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAX_BACKOFF_SECONDS = 3600


def _ignore_state(state: Mapping[str, Any]) -> None:
    del state


@dataclass(frozen=True)
class Submission:
    """What an adapter receives: the reference number, the kind and the stored envelope.

    A staged adapter (FIT-Connect) also gets what it recorded in earlier attempts (``state``) and
    ``save_state`` to record durably, in the outbox row, each stage it completes: after a crash
    the next attempt resumes from there instead of sending the submission a second time.
    """

    reference: str
    kind: str  # "application" or "accessibility-feedback"
    envelope: Mapping[str, Any]
    state: Mapping[str, Any] = field(default_factory=dict)
    save_state: Callable[[Mapping[str, Any]], None] = _ignore_state


class DeliveryRejected(Exception):
    """The receiving side definitely refused the submission: retrying would not help.

    The worker marks it ``failed`` at once with this reason (which must hold no personal data);
    ``python -m app.delivery --retry-failed`` tries again after the cause is fixed.
    """


class DeliveryAdapter(Protocol):
    """The interface every delivery adapter implements.

    ``deliver`` returns normally when the receiving side has the submission; it raises any
    exception to have the worker retry later (with growing pauses, up to
    SERVICE_DELIVERY_MAX_ATTEMPTS times). It must be idempotent per ``submission.reference``.
    """

    name: str

    def deliver(self, submission: Submission) -> None: ...


class DirectoryAdapter:
    """Writes each submission as ``<directory>/<reference>.json`` (write to a temporary file, then
    rename: a reader never sees half a file, and a repeated delivery leaves exactly one).

    Attachments go beside it as ``<reference>.<attachmentId><suffix>`` (the suffix of the
    citizen's file name, e.g. ``.pdf``), each written the same way and before the JSON, so that
    whoever sees the JSON finds every file it names; the JSON names the file instead of holding
    the content.
    """

    name = "directory"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _write(self, target: Path, content: bytes) -> None:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed before the rename
            "wb", dir=self.directory, prefix=".tmp-", suffix=target.suffix, delete=False,
        )
        try:
            with handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            Path(handle.name).replace(target)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise

    def deliver(self, submission: Submission) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        envelope = dict(submission.envelope)
        listed = []
        for attachment in envelope.get("attachments") or []:
            if not ATTACHMENT_ID.fullmatch(str(attachment.get("id", ""))):
                raise DeliveryRejected("attachment: id is no lower-case UUID")
            suffix = Path(str(attachment.get("filename", ""))).suffix
            suffix = suffix if SAFE_SUFFIX.fullmatch(suffix) else ""
            name = f"{submission.reference}.{attachment['id']}{suffix.lower()}"
            self._write(self.directory / name, attachment_bytes(attachment))
            listed.append({key: value for key, value in attachment.items() if key != "content"}
                          | {"file": name})
        if listed:
            envelope["attachments"] = listed
        text = json.dumps(envelope, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        self._write(self.directory / f"{submission.reference}.json", text.encode())


def load_adapter(settings: Settings) -> DeliveryAdapter:
    """The adapter named by SERVICE_DELIVERY_ADAPTER: ``directory`` or ``package.module:factory``
    (a callable that takes the :class:`Settings` and returns an adapter)."""
    spec = settings.delivery_adapter
    if spec == "directory":
        return DirectoryAdapter(settings.outbox_dir)
    if spec == "fit-connect":
        from .fitconnect import FitConnectAdapter  # needs httpx and jwcrypto only when chosen

        return FitConnectAdapter.from_settings(settings)
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SettingsError(
            f"SERVICE_DELIVERY_ADAPTER={spec!r}: erwartet 'directory', 'fit-connect' oder "
            "'paket.modul:fabrik'."
        )
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise SettingsError(f"SERVICE_DELIVERY_ADAPTER={spec!r} nicht ladbar: {error}") from None
    adapter: DeliveryAdapter = factory(settings)
    return adapter


def build_envelope(
    *,
    reference: str,
    kind: str,
    data: Mapping[str, Any],
    created_at: dt.datetime,
    service: Mapping[str, Any],
    municipality: Mapping[str, Any],
    destination: str = "",
    reply_email: str = "",
    attachments: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The JSON document delivered for a submission, with FIT-Connect-shaped metadata.

    ``metadata`` follows the structure of FIT-Connect's submission metadata (publicServiceType
    with the LeiKa URN, contentStructure with the hash of ``data``, additionalReferenceInfo), so
    that a FIT-Connect adapter can send it as it is; the other keys are for the receiving office.
    *destination* is the municipality's FIT-Connect destination (kommune.toml ``[delivery]``).

    *attachments* are the citizen's files, each a mapping::

        {"id": "<UUID, lower case>", "filename": "Nachweis.pdf", "mimeType": "application/pdf",
         "content": "<the file's bytes, standard base64>", "description": "optional text"}

    They are kept in the envelope as given (``attachments``), and listed in the metadata's
    ``contentStructure.attachments`` with the SHA-512 of their bytes and purpose ``attachment``.

    Raises:
        ValueError: an attachment lacks a key, has no UUID as id, or content that is no base64.
    """
    canonical = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    leika = str(service.get("leika_key", "") or "")
    metadata: dict[str, Any] = {
        "$schema": FIT_CONNECT_METADATA_SCHEMA,
        "contentStructure": {
            "data": {
                "hash": {"type": "sha512",
                         "content": hashlib.sha512(canonical.encode()).hexdigest()},
                "submissionSchema": {
                    "schemaUri": f"urn:kommunal-kit:form:{service.get('form_id', 'antrag')}",
                    "mimeType": "application/json",
                },
            },
            "attachments": [_attachment_metadata(attachment) for attachment in attachments],
        },
        "publicServiceType": {
            "name": str(service.get("name", "")),
            "identifier": f"{LEIKA_URN}{leika}" if leika else None,
        },
        "additionalReferenceInfo": {
            "senderReference": reference,
            "applicationDate": created_at.date().isoformat(),
        },
    }
    if reply_email:
        metadata["replyChannel"] = {"eMail": {"address": reply_email}}
    return {
        "reference": reference,
        "kind": kind,
        "createdAt": created_at.isoformat(timespec="seconds"),
        "destinationId": str(destination or "") or None,
        "ozgId": str(service.get("ozg_id", "") or "") or None,
        "municipality": {
            "ags": str(municipality.get("ags", "") or "") or None,
            # The 12-digit Regionalschlüssel, if kommune.toml has one: preferred for routing.
            **({"ars": str(municipality["ars"])} if municipality.get("ars") else {}),
            "name": str(municipality.get("official_name", "") or municipality.get("name", "")),
        },
        "metadata": metadata,
        "data": dict(data),
        **({"attachments": [dict(attachment) for attachment in attachments]}
           if attachments else {}),
    }


def attachment_bytes(attachment: Mapping[str, Any]) -> bytes:
    """The decoded content of an envelope's attachment (see :func:`build_envelope`)."""
    try:
        return base64.b64decode(str(attachment["content"]), validate=True)
    except (KeyError, binascii.Error):
        raise ValueError(f"attachment {attachment.get('id')!r}: content is no base64") from None


def _attachment_metadata(attachment: Mapping[str, Any]) -> dict[str, Any]:
    missing = [key for key in ("id", "filename", "mimeType", "content") if not attachment.get(key)]
    if missing:
        raise ValueError(f"attachment lacks {', '.join(missing)}")
    if not ATTACHMENT_ID.fullmatch(str(attachment["id"])):
        raise ValueError(f"attachment id {attachment['id']!r} is no lower-case UUID")
    entry: dict[str, Any] = {
        "attachmentId": str(attachment["id"]),
        "hash": {"type": "sha512",
                 "content": hashlib.sha512(attachment_bytes(attachment)).hexdigest()},
        "purpose": "attachment",
        "filename": str(attachment["filename"]),
        "mimeType": str(attachment["mimeType"]),
    }
    if attachment.get("description"):
        entry["description"] = str(attachment["description"])
    return entry


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int
    retried: int
    gave_up: int


def deliver_one(
    store: Store, adapter: DeliveryAdapter, reference: str, settings: Settings,
    now: float | None = None,
) -> str:
    """Try to deliver one submission; return "delivered", "retry", "failed" or "skipped"."""
    now = time.time() if now is None else now
    item = store.claim(reference, now, getattr(adapter, "lease_seconds", LEASE_SECONDS))
    if item is None:
        return "skipped"  # delivered already, or another worker holds it
    def save_state(state: Mapping[str, Any]) -> None:
        store.save_delivery_state(reference, state)

    try:
        adapter.deliver(Submission(item.reference, item.kind, item.payload,
                                   item.delivery_state, save_state))
    except Exception as error:  # noqa: BLE001 - any adapter failure means: try again later
        attempts = item.attempts + 1
        give_up = isinstance(error, DeliveryRejected) or attempts >= settings.delivery_max_attempts
        pause = min(settings.delivery_retry_seconds * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)
        store.mark_attempt_failed(reference, f"{type(error).__name__}: {error}", now + pause,
                                  give_up=give_up)
        log.warning("delivery failed", extra={"event": "delivery_failed", "reference": reference,
                                             "adapter": adapter.name, "attempt": attempts,
                                             "error_type": type(error).__name__,
                                             "gave_up": give_up})
        return "failed" if give_up else "retry"
    store.mark_delivered(reference, time.time())
    log.info("delivered", extra={"event": "delivered", "reference": reference,
                                 "adapter": adapter.name})
    return "delivered"


def deliver_pending(
    store: Store, adapter: DeliveryAdapter, settings: Settings, now: float | None = None
) -> DeliveryReport:
    """Deliver every submission that is due."""
    now = time.time() if now is None else now
    outcomes = [deliver_one(store, adapter, ref, settings, now) for ref in store.due(now)]
    if "delivered" in outcomes:
        store.truncate_log()  # once per run: nothing of the delivered data stays in the log
    return DeliveryReport(outcomes.count("delivered"), outcomes.count("retry"),
                          outcomes.count("failed"))


def status_lines(rows: list[OutboxRow], now: float) -> list[str]:
    """The ``--status`` table: one line per submission not delivered yet."""
    if not rows:
        return ["Keine offenen Zustellungen."]
    lines = [f"{'VORGANGSNUMMER':<20} {'ART':<22} {'STATUS':<8} {'VERSUCHE':>8} "
             f"{'WARTET SEIT':>12}  {'STUFE':<10} FEHLER"]
    for row in rows:
        waiting = _duration(now - row.created_at)
        lines.append(f"{row.reference:<20} {row.kind:<22} {row.status:<8} {row.attempts:>8} "
                     f"{waiting:>12}  {row.stage or '-':<10} {row.last_error or ''}".rstrip())
    return lines


def _duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def main(argv: list[str] | None = None) -> int:
    """``python -m app.delivery [--loop] [--retry-failed] [--status [--json]]``."""
    from .logs import configure_logging

    parser = argparse.ArgumentParser(prog="python -m app.delivery",
                                     description="Gespeicherte Anträge zustellen.")
    parser.add_argument("--loop", action="store_true",
                        help="dauerhaft laufen (Pause: SERVICE_DELIVERY_INTERVAL)")
    parser.add_argument("--retry-failed", action="store_true",
                        help="aufgegebene Zustellungen erneut versuchen")
    parser.add_argument("--status", action="store_true",
                        help="offene und gescheiterte Zustellungen auflisten (ohne "
                             "personenbezogene Daten), nichts zustellen; Exit 1, wenn eine "
                             "gescheitert ist")
    parser.add_argument("--json", action="store_true", help="mit --status: als JSON ausgeben")
    args = parser.parse_args(argv)
    if args.json and not args.status:
        parser.error("--json gilt nur zusammen mit --status")
    try:
        settings = Settings.from_env()
        adapter = None if args.status else load_adapter(settings)
    except SettingsError as error:
        parser.exit(2, f"{error}\n")
    configure_logging(settings.log_level)
    store = Store(settings.effective_database_url, settings.data_key)
    store.initialise()
    if args.status:
        rows = store.undelivered()
        if args.json:
            json.dump([asdict(row) for row in rows], sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            sys.stdout.write("\n".join(status_lines(rows, time.time())) + "\n")
        return 1 if any(row.status == "failed" for row in rows) else 0
    if adapter is None:  # pragma: no cover - only --status has no adapter
        return 0
    if args.retry_failed:
        store.retry_failed(time.time())
    while True:
        report = deliver_pending(store, adapter, settings)
        log.info("delivery run", extra={"event": "delivery_run", "delivered": report.delivered,
                                        "retried": report.retried, "gave_up": report.gave_up})
        if not args.loop:
            return 1 if report.gave_up else 0
        time.sleep(max(settings.delivery_interval, 1))


if __name__ == "__main__":
    raise SystemExit(main())
