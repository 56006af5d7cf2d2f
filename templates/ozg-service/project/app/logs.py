"""Structured logs: one JSON object per line on standard output.

Logs never contain personal data: no form values, no IP addresses, no query strings, no cookies.
Only the keys in ALLOWED_KEYS pass; anything else given as ``extra`` is dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

ALLOWED_KEYS = frozenset({
    "event", "method", "path", "status", "duration_ms", "reference", "kind", "adapter",
    "attempt", "error_type", "gave_up", "delivered", "retried", "page", "errors", "reason",
    "environment", "purged",
    # FIT-Connect (app/fitconnect.py): stage names, ids and RFC 7807 problem types only
    "stage", "problem_type", "submission_id", "last_event",
})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k in ALLOWED_KEYS})
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: messages and tracebacks may quote submitted values.
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False, default=str)


def uvicorn_log_config(level: str = "INFO") -> dict[str, object]:
    """uvicorn's own messages as JSON lines too; its access log (client addresses) stays off."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "app.logs.JsonFormatter"}},
        "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stdout"}},
        "loggers": {
            "uvicorn": {"handlers": ["stdout"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        },
    }


def configure_logging(level: str = "INFO") -> None:
    """Send the service's logs (logger ``app``) as JSON lines to standard output."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("app")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
