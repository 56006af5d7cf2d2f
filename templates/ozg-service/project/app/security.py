"""Security machinery: response headers, request body limit, request log, session id and CSRF.

Written as plain ASGI middleware (no per-request task switching) so that it costs little.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

log = logging.getLogger("app.request")

# No inline scripts or styles anywhere: everything the pages use is served from /static.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorPage = Callable[[int, Scope], bytes]


class BodyTooLarge(Exception):
    pass


def security_headers(*, hsts: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"permissions-policy", PERMISSIONS_POLICY.encode()),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
    ]
    if hsts:
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers


class SecurityMiddleware:
    """Adds the security headers, enforces the body size limits (413) and logs each request
    (method, path, status, duration; never query strings, bodies, cookies or addresses)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, hsts: bool,
                 error_page: ErrorPage, body_limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Pages that take files allow more (path → bytes); see app.main.upload_limits.
        self.body_limits = dict(body_limits or {})
        self.headers = security_headers(hsts=hsts)
        self.error_page = error_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "HEAD":
            # HEAD wherever GET: the GET response's status and headers, without its body.
            scope = {**scope, "method": "GET"}
            send = _without_body(send)
        started = time.perf_counter()
        status = 500
        response_started = False
        extra_headers = self.headers

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *extra_headers]
            await send(message)

        received = 0
        limit = self.body_limits.get(scope["path"], self.max_body_bytes)

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        try:
            length = _content_length(scope)
            if length is not None and length > limit:
                raise BodyTooLarge
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge:
            if response_started:
                raise
            await self._send_page(413, scope, send_with_headers)
        finally:
            log.info("request", extra={
                "event": "request", "method": method, "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            })

    async def _send_page(self, status: int, scope: Scope, send: Send) -> None:
        body = self.error_page(status, scope)
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]})
        await send({"type": "http.response.body", "body": body})


def _without_body(send: Send) -> Send:
    async def send_headers_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_headers_only


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


# --- session id and CSRF -----------------------------------------------------------------------


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def valid_session_id(value: str | None) -> str | None:
    return value if value and SESSION_ID.match(value) else None


def csrf_token(secret_key: str, session_id: str) -> str:
    """The token bound to this session (HMAC, so nothing needs to be stored for it)."""
    return hmac.new(secret_key.encode(), f"csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret_key: str, session_id: str | None, token: str | None) -> bool:
    if not session_id or not token:
        return False
    return hmac.compare_digest(csrf_token(secret_key, session_id), token)
