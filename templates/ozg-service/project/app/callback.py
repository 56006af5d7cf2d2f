"""FIT-Connect callbacks: the Zustelldienst tells the service that a submission has news.

Optional: the router is included only when SERVICE_FIT_CONNECT_CALLBACK_SECRET is set (the
secret entered with the callback URL in FIT-Connect). As documented on docs.fitko.de/fit-connect
("Verwendung von Callbacks", "Prüfen von Callbacks"), every callback carries two headers:

- ``callback-timestamp``: Unix seconds; refused when older than 5 minutes (or more than
  :data:`FUTURE_SKEW_SECONDS` ahead), against replay;
- ``callback-authentication``: HMAC-SHA512, hex, over ``<timestamp>.<body>`` (UTF-8) with the
  secret; compared in constant time.

Nothing of the request is trusted, parsed or logged before both checks pass, and the body is
never logged. A valid callback names submissions (``submissions[].submissionId``, or the
deprecated ``submissionIds``); each pending one in the outbox becomes due at once, so that the
worker reads its event log now instead of at its next scheduled attempt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

log = logging.getLogger("app.callback")

PATH = "/callbacks/fit-connect"
MAX_AGE_SECONDS = 300
FUTURE_SKEW_SECONDS = 30
MAX_BODY_BYTES = 64 * 1024
SUBMISSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"[0-9]{1,12}")
HEX_SHA512 = re.compile(r"[0-9a-f]{128}")

router = APIRouter()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``callback-authentication`` value for *body* sent at *timestamp*."""
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha512).hexdigest()


def verify(secret: str, timestamp: str | None, mac: str | None, body: bytes,
           now: float) -> str:
    """Why the callback is refused ("" when it is authentic and fresh)."""
    if not secret:
        return "no-secret"
    if timestamp is None or mac is None:
        return "missing-header"
    if not TIMESTAMP.fullmatch(timestamp) or not HEX_SHA512.fullmatch(mac.lower()):
        return "malformed-header"
    age = now - int(timestamp)
    if age > MAX_AGE_SECONDS or age < -FUTURE_SKEW_SECONDS:
        return "stale-timestamp"
    if not hmac.compare_digest(signature(secret, timestamp, body), mac.lower()):
        return "wrong-mac"
    return ""


def submission_ids(payload: Any) -> list[str]:
    """The submission ids a callback body names; ValueError when it names none validly."""
    if not isinstance(payload, dict):
        raise ValueError("no object")
    named: list[Any] = [item.get("submissionId") for item in payload.get("submissions") or []
                        if isinstance(item, dict)]
    named += list(payload.get("submissionIds") or [])
    ids = [str(value) for value in named if isinstance(value, str)]
    if not ids or not all(SUBMISSION_ID.fullmatch(value) for value in ids):
        raise ValueError("no valid submission id")
    return sorted(set(ids))


@router.post(PATH, include_in_schema=False)
async def fit_connect_callback(request: Request) -> Response:
    svc = request.app.state.service
    body = await request.body()
    now = time.time()
    refused = "body-too-large" if len(body) > MAX_BODY_BYTES else verify(
        svc.settings.fit_connect_callback_secret, request.headers.get("callback-timestamp"),
        request.headers.get("callback-authentication"), body, now)
    if refused:
        log.warning("callback refused", extra={"event": "callback_refused", "reason": refused})
        return JSONResponse({"error": "unauthorized"}, status_code=401)
    try:
        ids = submission_ids(json.loads(body))
    except ValueError:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors too
        log.warning("callback refused", extra={"event": "callback_refused",
                                               "reason": "malformed-body"})
        return JSONResponse({"error": "bad request"}, status_code=400)
    for submission_id in ids:
        reference = await run_in_threadpool(svc.store.wake, submission_id, now)
        log.info("callback", extra={"event": "callback", "submission_id": submission_id,
                                    "reference": reference or ""})
    svc.wake.set()  # the background worker reads the news at once
    return Response(status_code=204)
