"""Run-time settings, read once from environment variables.

Every setting is documented in docs/settings.md; a test keeps that page and this module in step.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

ENVIRONMENTS = ("production", "development")
DATA_KEY_BYTES = 32  # SERVICE_DATA_KEY: AES-256 (app/sealing.py)


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message says which one and what to do."""


def parse_key(text: str, source: str) -> bytes:
    """The 32-byte key from its base64 text; ValueError naming *source* when it is not one."""
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != DATA_KEY_BYTES:
        raise ValueError(
            f"{source} ist kein gültiger Schlüssel: erwartet werden 32 Byte in URL-sicherem "
            "Base64, z. B. python -c 'import secrets, base64; "
            "print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'"
        )
    return key


def new_key_text() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(DATA_KEY_BYTES)).decode()


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}={raw!r} ist kein Wahrheitswert; erlaubt sind true oder false.")


def _int(name: str, raw: str, *, minimum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} ist keine ganze Zahl.") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} ist zu klein; mindestens {minimum}.")
    return value


def _data_key(env: dict[str, str]) -> bytes | None:
    """SERVICE_DATA_KEY, or the contents of SERVICE_DATA_KEY_FILE; None when neither is set."""
    text, source = env.get("SERVICE_DATA_KEY", ""), "SERVICE_DATA_KEY"
    key_file = env.get("SERVICE_DATA_KEY_FILE", "")
    if not text and key_file:
        source = f"SERVICE_DATA_KEY_FILE={key_file!r}"
        try:
            text = Path(key_file).read_text(encoding="utf-8")
        except OSError as error:
            raise SettingsError(f"{source} ist nicht lesbar: {error.strerror}.") from None
    if not text.strip():
        return None
    try:
        return parse_key(text, source)
    except ValueError as error:
        raise SettingsError(str(error)) from None


@dataclass(frozen=True)
class Settings:
    """All settings of the service. Build it with :meth:`from_env` or directly in tests."""

    environment: str = "production"
    secret_key: str = ""
    secure_cookies: bool = True
    hsts: bool = True
    data_dir: Path = PROJECT_ROOT / "var"
    database_url: str = ""
    outbox_dir: Path = PROJECT_ROOT / "var" / "outbox"
    delivery_adapter: str = "directory"
    delivery_max_attempts: int = 10
    delivery_retry_seconds: int = 30
    delivery_interval: int = 60
    data_key: bytes | None = None  # seals personal data at rest (app/sealing.py)
    health_max_pending_age: int = 3600
    staging: bool = False  # a test system: starts despite go-live gaps, with a banner
    fit_connect_token_url: str = ""
    fit_connect_submission_url: str = ""
    fit_connect_client_id: str = ""
    fit_connect_client_secret: str = ""
    fit_connect_timeout: float = 30.0
    max_body_bytes: int = 64 * 1024
    session_max_age: int = 3600
    kommune_file: Path = PROJECT_ROOT / "kommune.toml"
    service_file: Path = PROJECT_ROOT / "service.toml"
    form_file: Path = PROJECT_ROOT / "form.toml"
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # -- FIT-Connect: routing, schema address, callbacks (docs/settings.md, docs/delivery.md) --
    fit_connect_routing_url: str = ""
    fit_connect_callback_secret: str = ""
    public_url: str = ""

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'service.sqlite3'}"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read the settings from *environ* (default: the process environment).

        Raises:
            SettingsError: a value is malformed, or production mode has no secret key.
        """
        env = dict(os.environ if environ is None else environ)
        environment = env.get("SERVICE_ENV", "production").strip().lower() or "production"
        if environment not in ENVIRONMENTS:
            raise SettingsError(
                f"SERVICE_ENV={environment!r} ist unbekannt; "
                f"erlaubt sind: {', '.join(ENVIRONMENTS)}."
            )
        production = environment == "production"
        secret_key = env.get("SERVICE_SECRET_KEY", "")
        if not secret_key:
            if production:
                raise SettingsError(
                    "SERVICE_SECRET_KEY fehlt. Im Produktivbetrieb (SERVICE_ENV=production) "
                    "startet der Dienst nur mit einem geheimen Schlüssel aus der Umgebung, z. B. "
                    "SERVICE_SECRET_KEY=$(python -c "
                    "'import secrets; print(secrets.token_urlsafe(48))'). "
                    "Für die Entwicklung: SERVICE_ENV=development."
                )
            secret_key = secrets.token_urlsafe(48)
        elif production and len(secret_key) < 32:
            raise SettingsError("SERVICE_SECRET_KEY ist zu kurz; mindestens 32 Zeichen.")
        data_dir = Path(env.get("SERVICE_DATA_DIR", "") or PROJECT_ROOT / "var")
        client_secret = env.get("SERVICE_FIT_CONNECT_CLIENT_SECRET", "")
        secret_file = env.get("SERVICE_FIT_CONNECT_CLIENT_SECRET_FILE", "")
        if secret_file and not client_secret:
            try:
                client_secret = Path(secret_file).read_text(encoding="utf-8").strip()
            except OSError as error:
                raise SettingsError(
                    f"SERVICE_FIT_CONNECT_CLIENT_SECRET_FILE={secret_file!r} ist nicht lesbar: "
                    f"{error.strerror}."
                ) from None
        return cls(
            data_key=_data_key(env),
            staging=_bool("SERVICE_STAGING", env.get("SERVICE_STAGING", "false")),
            health_max_pending_age=_int(
                "SERVICE_HEALTH_MAX_PENDING_AGE",
                env.get("SERVICE_HEALTH_MAX_PENDING_AGE", "3600"), minimum=1,
            ),
            environment=environment,
            secret_key=secret_key,
            secure_cookies=_bool(
                "SERVICE_SECURE_COOKIES", env.get("SERVICE_SECURE_COOKIES", str(production))
            ),
            hsts=_bool("SERVICE_HSTS", env.get("SERVICE_HSTS", str(production))),
            data_dir=data_dir,
            database_url=env.get("DATABASE_URL", ""),
            outbox_dir=Path(env.get("SERVICE_OUTBOX_DIR", "") or data_dir / "outbox"),
            delivery_adapter=env.get("SERVICE_DELIVERY_ADAPTER", "directory") or "directory",
            delivery_max_attempts=_int(
                "SERVICE_DELIVERY_MAX_ATTEMPTS",
                env.get("SERVICE_DELIVERY_MAX_ATTEMPTS", "10"),
                minimum=1,
            ),
            delivery_retry_seconds=_int(
                "SERVICE_DELIVERY_RETRY_SECONDS",
                env.get("SERVICE_DELIVERY_RETRY_SECONDS", "30"),
                minimum=0,
            ),
            delivery_interval=_int(
                "SERVICE_DELIVERY_INTERVAL", env.get("SERVICE_DELIVERY_INTERVAL", "60"), minimum=0
            ),
            fit_connect_token_url=env.get("SERVICE_FIT_CONNECT_TOKEN_URL", ""),
            fit_connect_submission_url=env.get("SERVICE_FIT_CONNECT_SUBMISSION_URL", ""),
            fit_connect_client_id=env.get("SERVICE_FIT_CONNECT_CLIENT_ID", ""),
            fit_connect_client_secret=client_secret,
            fit_connect_timeout=_int(
                "SERVICE_FIT_CONNECT_TIMEOUT", env.get("SERVICE_FIT_CONNECT_TIMEOUT", "30"),
                minimum=1,
            ),
            max_body_bytes=_int(
                "SERVICE_MAX_BODY_BYTES", env.get("SERVICE_MAX_BODY_BYTES", "65536"), minimum=1024
            ),
            session_max_age=_int(
                "SERVICE_SESSION_MAX_AGE", env.get("SERVICE_SESSION_MAX_AGE", "3600"), minimum=60
            ),
            kommune_file=Path(env.get("SERVICE_KOMMUNE_FILE", "") or PROJECT_ROOT / "kommune.toml"),
            service_file=Path(env.get("SERVICE_SERVICE_FILE", "") or PROJECT_ROOT / "service.toml"),
            form_file=Path(env.get("SERVICE_FORM_FILE", "") or PROJECT_ROOT / "form.toml"),
            log_level=(env.get("SERVICE_LOG_LEVEL", "INFO") or "INFO").upper(),
            host=env.get("SERVICE_HOST", "127.0.0.1") or "127.0.0.1",
            port=_int("SERVICE_PORT", env.get("SERVICE_PORT", "8000"), minimum=1),
            workers=_int("SERVICE_WORKERS", env.get("SERVICE_WORKERS", "1"), minimum=1),
            # -- FIT-Connect: routing, schema address, callbacks --
            fit_connect_routing_url=env.get("SERVICE_FIT_CONNECT_ROUTING_URL", ""),
            fit_connect_callback_secret=env.get("SERVICE_FIT_CONNECT_CALLBACK_SECRET", ""),
            public_url=env.get("SERVICE_PUBLIC_URL", "").rstrip("/"),
        )
