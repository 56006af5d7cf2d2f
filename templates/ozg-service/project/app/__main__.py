"""``python -m app``: run the service with uvicorn, configured from the environment."""

from __future__ import annotations

import sys

import uvicorn

from .logs import uvicorn_log_config
from .settings import Settings, SettingsError


def main() -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        sys.stderr.write(f"Start abgebrochen: {error}\n")
        return 2
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        # uvicorn's access log would record client addresses; app.security logs requests
        # without personal data instead.
        access_log=False,
        log_config=uvicorn_log_config(settings.log_level),
        proxy_headers=True,
        server_header=False,
        log_level=settings.log_level.lower(),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
