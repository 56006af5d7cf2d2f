"""The web service: citizen journey, legal pages and accessibility feedback.

Start it with ``python -m app`` or ``uvicorn --factory app.main:create_app``. Everything a
municipality changes lives in kommune.toml, service.toml and form.toml, not here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import golive
from .callback import router as callback_router
from .content import ITEMS_BY_KEY, Content, ContentError
from .delivery import DeliveryAdapter, build_envelope, deliver_pending, load_adapter
from .forms import (
    CHECKED,
    Field,
    FieldError,
    FormDefinition,
    FormDefinitionError,
    Page,
    file_ids,
    first_invalid_page,
    format_date,
    hint_text,
    load_form,
    validate_page,
)
from .i18n import DEFAULT_LANGUAGE, LANGUAGES, Translator, negotiate, pick
from .logs import configure_logging
from .schema import service_schema
from .security import (
    SecurityMiddleware,
    csrf_ok,
    csrf_token,
    new_session_id,
    valid_session_id,
)
from .settings import Settings, SettingsError
from .store import DuplicateReference, NewSubmission, Store, Submitted
from .theme import theme_css
from .uploads import (
    FILE_TYPES,
    UploadRefused,
    accept_attribute,
    check_content,
    clean_name,
    format_size,
    read_limited,
)

log = logging.getLogger("app.service")

APP_DIR = Path(__file__).resolve().parent
FORM_PREFIX = "/antrag"
CHECK_PAGE = f"{FORM_PREFIX}/pruefen"
CONFIRMATION_PAGE = f"{FORM_PREFIX}/bestaetigung"
NEW_APPLICATION = f"{FORM_PREFIX}/neu"
EXTEND_SESSION = "/sitzung/verlaengern"
REMOVE_FILE = f"{FORM_PREFIX}/dateien/entfernen"
RETURN_PATH = re.compile(r"^/antrag(/[a-z0-9-]+)?$")
# A page with a file field takes this many file parts at most; more is refused as a whole (400).
MAX_FILE_PARTS = 200
FEEDBACK_PAGE = "/barrierefreiheit/feedback"
REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U


class CsrfFailed(Exception):
    """The form was sent without the token of this session, or its session is unknown or over."""


def new_reference(prefix: str, now: dt.datetime) -> str:
    """A Vorgangsnummer such as ``A-2025-7K3M-9QXD`` (40 random bits)."""
    rand = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"{prefix}-{now:%Y}-{rand[:4]}-{rand[4:]}"


def feedback_page(translator: Translator) -> Page:
    """The accessibility feedback form; its labels come from the catalogues."""

    def labels(key: str) -> dict[str, str]:
        return {lang: translator.t(lang, key) for lang in LANGUAGES}

    return Page(
        id="feedback",
        title=labels("feedback.title"),
        fields=(
            Field("problem", "textarea", labels("feedback.problem_label"),
                  hint=labels("feedback.problem_hint"), max_length=2000),
            Field("page_address", "text", labels("feedback.page_label"), required=False,
                  hint=labels("feedback.page_hint"), max_length=300),
            Field("email", "email", labels("feedback.email_label"), required=False,
                  hint=labels("feedback.email_hint"), autocomplete="email"),
        ),
    )


@dataclass
class Service:
    """Everything the routes need, built once at start-up."""

    settings: Settings
    content: Content
    form: FormDefinition
    translator: Translator
    store: Store
    adapter: DeliveryAdapter
    env: Environment
    theme_css: bytes
    theme_version: str
    asset_version: str
    feedback: Page
    # Set when a submission is stored: the background worker delivers it at once.
    wake: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    # -- rendering ------------------------------------------------------------------------------

    def link(self, lang: str, path: str, fragment: str = "", **params: str) -> str:
        query = {key: value for key, value in params.items() if value}
        if lang != DEFAULT_LANGUAGE:
            query["lang"] = lang
        url = path + ("?" + urlencode(query) if query else "")
        return url + (f"#{fragment}" if fragment else "")

    def placeholder(self, lang: str, key: str) -> Markup:
        item = ITEMS_BY_KEY.get(key)
        label = (item.label_de if lang == "de" else item.label_en) if item else key
        text = self.translator.t(lang, "common.missing", label=label)
        return Markup('<span class="placeholder">{}</span>').format(text)

    def render(self, template: str, lang: str, path: str, status: int = 200,
               **context: Any) -> HTMLResponse:
        # Pages may show what the citizen entered: never kept by the browser or a proxy.
        return HTMLResponse(self.render_bytes(template, lang, path, **context), status_code=status,
                            headers={"cache-control": "no-store"})

    def render_bytes(self, template: str, lang: str, path: str, **context: Any) -> bytes:
        content = self.content
        other = next(code for code in LANGUAGES if code != lang)

        def t(key: str, **params: Any) -> str:
            if any(isinstance(value, Markup) for value in params.values()):
                # A placeholder is markup: escape the text, then insert it unescaped.
                text = escape(self.translator.t(lang, key))
                return Markup(text).format(**params)  # noqa: S704 - escaped just above
            return self.translator.t(lang, key, **params)

        def kommune(path_: str) -> Any:
            """A kommune.toml value, or the visible placeholder when a required one is empty."""
            value = content.text("kommune", path_)
            return value or self.placeholder(lang, f"kommune:{path_}")

        def service(path_: str) -> Any:
            value = content.localized(path_, lang)
            if isinstance(value, str):
                value = value.strip()
            return value or self.placeholder(lang, f"service:{path_}")

        def optional(source: str, path_: str) -> str:
            return content.text(source, path_)

        values = {
            "lang": lang,
            "other_lang": other,
            "t": t,
            "pick": lambda value: pick(value, lang),
            "hint_of": lambda field: hint_text(field, pick(field.hint, lang), dt.date.today())
            if field.hint else "",
            "link": lambda p, fragment="", **params: self.link(lang, p, fragment, **params),
            "switch_url": self.link(other, path, **context.pop("switch_params", {})),
            "kommune": kommune,
            "service": service,
            "optional": optional,
            "municipality": content.municipality_name,
            "service_name": pick(content.localized("service.name", lang), lang)
            or t("common.service_fallback"),
            "theme_version": self.theme_version,
            "asset_version": self.asset_version,
            "current_path": path,
            "staging": self.settings.staging,
            "session_minutes": max(self.settings.session_max_age // 60, 1),
            "session_seconds": self.settings.session_max_age,
            # The warning comes this long before the end: two minutes, at most half the time.
            "session_warn_seconds": min(120, self.settings.session_max_age // 2),
            "errors": None,
            **context,
        }
        return self.env.get_template(template).render(values).encode()

    def error_bytes(self, status: int, scope: Mapping[str, Any]) -> bytes:
        lang = _lang_from_query(scope.get("query_string", b""))
        key = status if status in {400, 403, 404, 405, 413} else 500
        return self.render_bytes("error.html", lang, "/", status_key=key)

    # -- sessions -------------------------------------------------------------------------------

    async def session(self, request: Request) -> tuple[str | None, dict[str, Any]]:
        """The session of this request; (None, {}) when its id was not issued here, has expired
        or was replaced when the application was submitted."""
        session_id = valid_session_id(request.cookies.get(self.cookie_name))
        if session_id is None:
            return None, {}
        data = await run_in_threadpool(self.store.load_session, session_id,
                                       self.settings.session_max_age)
        return (None, {}) if data is None else (session_id, data)

    async def open_session(self, request: Request) -> tuple[str, dict[str, Any], bool]:
        """The request's session, or a new one issued and registered now (then True)."""
        session_id, data = await self.session(request)
        if session_id is not None:
            return session_id, data, False
        session_id = new_session_id()
        await run_in_threadpool(self.store.create_session, session_id)
        return session_id, {}, True

    async def posted_session(self, request: Request,
                             form: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The session of a form post: its token must match and the server must know it."""
        session_id = await self.check_csrf(request, form)
        data = await run_in_threadpool(self.store.load_session, session_id,
                                       self.settings.session_max_age)
        if data is None:
            log.info("session unknown", extra={"event": "session_unknown",
                                               "path": request.url.path})
            raise CsrfFailed
        return session_id, data

    async def save(self, session_id: str, data: Mapping[str, Any]) -> None:
        if not await run_in_threadpool(self.store.save_session, session_id, dict(data)):
            raise CsrfFailed  # expired and purged between reading and writing

    @property
    def cookie_name(self) -> str:
        # The __Host- prefix binds the cookie to this host and path /; browsers need Secure for it.
        return "__Host-sid" if self.settings.secure_cookies else "sid"

    def set_cookie(self, response: Response, session_id: str) -> None:
        response.set_cookie(self.cookie_name, session_id, path="/", httponly=True,
                            secure=self.settings.secure_cookies, samesite="lax")

    async def check_csrf(self, request: Request, form: Mapping[str, Any]) -> str:
        session_id = valid_session_id(request.cookies.get(self.cookie_name))
        token = form.get("csrf_token")
        if not csrf_ok(self.settings.secret_key, session_id,
                       token if isinstance(token, str) else None):
            log.warning("csrf rejected", extra={"event": "csrf_rejected",
                                                "path": request.url.path})
            raise CsrfFailed
        return str(session_id)

    # -- uploaded files -------------------------------------------------------------------------

    async def take_uploads(self, session_id: str, data: Mapping[str, Any], page: Page,
                           posted: FormData) -> tuple[dict[str, Any], dict[str, FieldError]]:
        """Check and store the files chosen on *page*: the draft's file list afterwards and an
        error for each file field whose file was refused. Files accepted are stored even when
        another field of the page has an error, so that nobody has to choose them again."""
        files = dict(data.get("files", {}))
        errors: dict[str, FieldError] = {}
        total = sum(int(meta["size"]) for meta in files.values())
        for field in page.fields:
            if field.type != "file":
                continue
            chosen = [item for item in posted.getlist(field.name)
                      if isinstance(item, UploadFile) and item.filename]
            have = sum(1 for meta in files.values() if meta["field"] == field.name)
            if have + len(chosen) > field.max_files:
                errors[field.name] = FieldError("error.files_max", {"max": field.max_files})
                continue
            for upload in chosen:
                shown = str(upload.filename)[:60]
                try:
                    name = clean_name(str(upload.filename))
                    content = await read_limited(upload, field.max_size, upload.size)
                    kind = check_content(name, content, field.accept)
                    if total + len(content) > self.form.max_total_size:
                        raise UploadRefused("error.files_total",
                                            size=format_size(self.form.max_total_size))
                except UploadRefused as refused:
                    errors[field.name] = FieldError(refused.key, {**refused.params, "file": shown})
                    log.info("upload refused", extra={"event": "upload_refused",
                                                      "page": page.id, "reason": refused.key})
                    break
                upload_id = str(uuid.uuid4())
                if not await run_in_threadpool(self.store.add_upload, session_id, upload_id,
                                               content):
                    raise CsrfFailed  # the session ended meanwhile
                files[upload_id] = {"field": field.name, "name": name, "size": len(content),
                                    "mime": kind.mime}
                total += len(content)
        return files, errors

    def file_views(self, files: Mapping[str, Any], field: Field, lang: str) -> list[dict[str, Any]]:
        """A field's files as the pages list them."""
        return [{"id": file_id, "name": meta["name"], "size": format_size(int(meta["size"]), lang)}
                for file_id, meta in files.items() if meta["field"] == field.name]

    # -- submissions ----------------------------------------------------------------------------

    def attachments(self, files: Mapping[str, Any], values: Mapping[str, Any],
                    contents: Mapping[str, bytes]) -> list[dict[str, Any]]:
        """The envelope's attachments: the files the answers name, in form order."""
        found = []
        for field in self.form.file_fields:
            for file_id in values.get(field.name) or []:
                meta = files[file_id]
                found.append({"id": file_id, "filename": meta["name"], "mimeType": meta["mime"],
                              "content": base64.b64encode(contents[file_id]).decode("ascii"),
                              "description": pick(field.label, "de")})
        return found

    def envelope(self, reference: str, kind: str, data: Mapping[str, Any],
                 reply_email: str, now: dt.datetime,
                 attachments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        municipality = self.content.kommune.get("municipality", {})
        service = {**self.content.service.get("service", {}),
                   "name": pick(self.content.localized("service.name", "de"), "de")}
        return build_envelope(reference=reference, kind=kind, data=data, created_at=now,
                              service=service, municipality=municipality,
                              destination=self.content.kommune.get("delivery", {}).get(
                                  "fit_connect_destination", ""),
                              reply_email=reply_email, attachments=attachments or ())

    def store_submission(self, prefix: str, kind: str, data: Mapping[str, Any],
                         reply_email: str) -> str:
        now = dt.datetime.now(dt.UTC)
        for _ in range(5):
            reference = new_reference(prefix, now)
            try:
                self.store.add_submission(reference, kind,
                                          self.envelope(reference, kind, data, reply_email, now))
            except DuplicateReference:
                continue
            log.info("stored", extra={"event": "stored", "reference": reference, "kind": kind})
            return reference
        raise RuntimeError("no free reference number after 5 attempts")

    def submit_application(self, session_id: str) -> Submitted | None:
        """Store the session's application once, however often this runs; None when the draft
        is incomplete or the session unknown."""
        now = dt.datetime.now(dt.UTC)
        prefix = str(self.content.service.get("service", {}).get("reference_prefix", "A") or "A")

        def make(data: Mapping[str, Any], contents: Mapping[str, bytes]) -> NewSubmission | None:
            answers = data.get("answers", {})
            if not answers or first_invalid_page(self.form, answers) is not None:
                return None
            values = _form_values(self.form, answers)
            reply = next((values[f.name] for p in self.form.pages for f in p.fields
                          if f.type == "email" and values.get(f.name)), "")
            attachments = self.attachments(data.get("files", {}), values, contents)
            reference = new_reference(prefix, now)
            return NewSubmission(reference, "application", self.envelope(
                reference, "application", values, reply, now, attachments))

        submitted = self.store.submit_session(session_id, new_session_id(),
                                              self.settings.session_max_age, make)
        if submitted is not None and submitted.created:
            log.info("stored", extra={"event": "stored", "reference": submitted.reference,
                                      "kind": "application"})
        return submitted


def _submitted(data: Mapping[str, Any]) -> bool:
    """The session holds only the Vorgangsnummer of an application it sent."""
    return bool(data.get("reference")) and not data.get("answers")


@contextlib.asynccontextmanager
async def _posted_form(request: Request, *, max_files: int) -> AsyncIterator[FormData]:
    """The posted form; files a page takes are spooled to a temporary file above 1 MB, and
    closed (deleted) when the block ends."""
    posted = await request.form(max_files=max_files)
    try:
        yield posted
    finally:
        await posted.close()


def _lang_from_query(query_string: bytes) -> str:
    for part in query_string.split(b"&"):
        key, _, value = part.partition(b"=")
        if key == b"lang":
            return negotiate(value.decode("ascii", "ignore"))
    return DEFAULT_LANGUAGE


def _display(field: Field, value: str, lang: str, translator: Translator) -> str:
    if not value:
        return translator.t(lang, "check.not_given")
    if field.type == "date":
        return format_date(value, lang)
    if field.type in {"select", "radio"}:
        return field.option_label(value, lang)
    if field.type == "checkbox":
        return translator.t(lang, "check.yes") if value == CHECKED else value
    return value


def _form_values(form: FormDefinition, answers: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """All answers as one flat mapping (field name → value), as delivered: text, or for a file
    field the list of its files' attachment ids."""
    values: dict[str, Any] = {}
    for page in form.pages:
        for field in page.fields:
            value = answers.get(page.id, {}).get(field.name, "")
            values[field.name] = file_ids(value) if field.type == "file" else value
    return values


def _with_files(form: FormDefinition, answers: Mapping[str, Mapping[str, str]],
                files: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """*answers* with each answered file field naming exactly the files the draft holds."""
    updated = {page_id: dict(values) for page_id, values in answers.items()}
    for page in form.pages:
        for field in page.fields:
            if field.type == "file" and page.id in updated:
                updated[page.id][field.name] = _file_answer(files, field)
    return updated


def _alternatives(items: list[str], word: str) -> str:
    """``PDF, JPG oder PNG``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def _file_answer(files: Mapping[str, Any], field: Field) -> str:
    return ",".join(file_id for file_id, meta in files.items() if meta["field"] == field.name)


def build_service(settings: Settings) -> Service:
    configure_logging(settings.log_level)
    content = Content.load(settings.kommune_file, settings.service_file)
    form = load_form(settings.form_file)
    translator = Translator(content.service.get("texts"))
    store = Store(settings.effective_database_url, settings.data_key)
    store.initialise()
    env = Environment(
        loader=FileSystemLoader(APP_DIR / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["date_display"] = format_date
    css = theme_css(*content.theme).encode()
    static_digest = hashlib.sha256()
    for path in sorted((APP_DIR / "static").iterdir()):
        static_digest.update(path.read_bytes())
    return Service(
        settings=settings, content=content, form=form, translator=translator, store=store,
        adapter=load_adapter(settings), env=env, theme_css=css,
        theme_version=hashlib.sha256(css).hexdigest()[:12],
        asset_version=static_digest.hexdigest()[:12], feedback=feedback_page(translator),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application. Without *settings* they come from the environment; a missing
    secret key in production stops the start with a message saying what to do."""
    if settings is None:
        try:
            settings = Settings.from_env()
        except SettingsError as error:
            raise SystemExit(f"Start abgebrochen: {error}") from None
    try:
        svc = build_service(settings)
    except (ContentError, FormDefinitionError, SettingsError) as error:
        # A broken kommune.toml, service.toml or form.toml: say which and what is wrong.
        raise SystemExit(f"Start abgebrochen: {error}") from None
    if settings.production and not settings.staging:
        # Citizens never see a placeholder: production starts only when go-live passes.
        gaps = golive.findings(settings.kommune_file, settings.service_file, settings.form_file)
        if gaps:
            listed = "; ".join(f"{gap.label}: {gap.detail}" for gap in gaps[:3])
            more = f" (und {len(gaps) - 3} weitere)" if len(gaps) > 3 else ""
            raise SystemExit(
                f"Start abgebrochen: python -m app.golive findet {len(gaps)} fehlende oder "
                f"fehlerhafte Angabe(n): {listed}{more}. Für ein Testsystem: SERVICE_STAGING=true."
            )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = None
        if settings.delivery_interval > 0:
            task = asyncio.create_task(_background(svc))
        log.info("started", extra={"event": "started", "environment": settings.environment})
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(title="Online-Dienst", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.service = svc
    app.add_middleware(SecurityMiddleware, max_body_bytes=settings.max_body_bytes,
                       hsts=settings.hsts, error_page=svc.error_bytes,
                       body_limits=upload_limits(svc.form, settings.max_body_bytes))
    app.mount("/static", StaticFiles(directory=APP_DIR / "static"), name="static")
    _routes(app, svc)
    if settings.fit_connect_callback_secret:  # FIT-Connect callbacks (app/callback.py)
        app.include_router(callback_router)
    return app


def upload_limits(form: FormDefinition, max_body_bytes: int) -> dict[str, int]:
    """The body size a page with file fields takes: its files at their limits (at most the
    application's total), the text fields' limit, and room for the multipart framing."""
    limits = {}
    for page in form.pages:
        files = sum(f.max_size * f.max_files for f in page.fields if f.type == "file")
        if files:
            framing = 1024 * (MAX_FILE_PARTS + 16)
            limits[f"{FORM_PREFIX}/{page.id}"] = (min(files, form.max_total_size)
                                                  + max_body_bytes + framing)
    return limits


async def _background(svc: Service) -> None:
    """Deliver what is due and forget expired drafts: at once when a submission was stored
    (``svc.wake``), otherwise every SERVICE_DELIVERY_INTERVAL seconds. Runs in its own thread,
    so a slow receiving side never holds up a request."""
    while True:
        svc.wake.clear()
        try:
            await asyncio.to_thread(deliver_pending, svc.store, svc.adapter, svc.settings)
            purged = await asyncio.to_thread(svc.store.purge_sessions,
                                             svc.settings.session_max_age)
            if purged:
                log.info("sessions purged", extra={"event": "sessions_purged", "purged": purged})
        except Exception:
            log.exception("background run failed", extra={"event": "background_failed"})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(svc.wake.wait(), svc.settings.delivery_interval)


def _routes(app: FastAPI, svc: Service) -> None:
    form = svc.form
    t = svc.translator.t

    def lang_of(request: Request) -> str:
        return negotiate(request.query_params.get("lang"))

    def redirect(url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, _: CsrfFailed) -> Response:
        return svc.render("error.html", lang_of(request), "/", status=403, status_key=403)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        status = error.status_code if error.status_code in {400, 404, 405, 413} else 500
        return svc.render("error.html", lang_of(request), "/", status=error.status_code,
                          status_key=status)

    @app.exception_handler(Exception)
    async def server_error(request: Request, error: Exception) -> Response:
        log.error("unhandled error", extra={"event": "server_error",
                                            "error_type": type(error).__name__})
        return svc.render("error.html", lang_of(request), "/", status=500, status_key=500)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        """``ok``, or ``degraded`` with the reasons: a delivery gave up, or the oldest pending
        submission waits longer than SERVICE_HEALTH_MAX_PENDING_AGE. Always 200: the service
        itself still takes applications; monitoring alerts on the status."""
        health = await run_in_threadpool(svc.store.health)
        problems = []
        if health.counts.get("failed"):
            problems.append("failed_deliveries")
        oldest = None
        if health.oldest_pending_at is not None:
            oldest = round(max(time.time() - health.oldest_pending_at, 0))
            if oldest > svc.settings.health_max_pending_age:
                problems.append("pending_too_long")
        return JSONResponse({"status": "degraded" if problems else "ok", "problems": problems,
                             "outbox": health.counts, "oldest_pending_seconds": oldest},
                            headers={"cache-control": "no-store"})

    @app.get("/theme.css", include_in_schema=False)
    async def theme() -> Response:
        return Response(svc.theme_css, media_type="text/css",
                        headers={"cache-control": "public, max-age=3600"})

    schema_path, data_schema = service_schema(form, svc.content.service.get("service", {}),
                                              svc.settings.public_url)

    @app.get(schema_path, include_in_schema=False)  # the data's JSON Schema (app/schema.py)
    async def submission_schema() -> JSONResponse:
        return JSONResponse(data_schema, media_type="application/schema+json",
                            headers={"cache-control": "public, max-age=3600"})

    @app.get("/", response_class=HTMLResponse)
    async def start(request: Request) -> Response:
        lang = lang_of(request)
        return svc.render("start.html", lang, "/", first_page=form.pages[0].id)

    # -- the form ---------------------------------------------------------------------------

    def render_page(request: Request, lang: str, page: Page, session_id: str,
                    values: Mapping[str, str], errors: Mapping[str, FieldError] | None,
                    return_to: str, status: int = 200,
                    files: Mapping[str, Any] | None = None) -> Response:
        index = form.index(page.id)
        if return_to:
            back = svc.link(lang, CHECK_PAGE)
        elif index == 0:
            back = svc.link(lang, "/")
        else:
            back = svc.link(lang, f"{FORM_PREFIX}/{form.pages[index - 1].id}")
        found = messages(page, errors, lang)
        display = {
            field.name: (format_date(values.get(field.name, ""), lang)
                         if field.type == "date" and not (errors and field.name in errors)
                         else values.get(field.name, ""))
            for field in page.fields
        }
        return svc.render(
            "form_page.html", lang, request.url.path, status=status, page=page, index=index,
            total=len(form.pages), values=display, field_errors=found,
            errors=summary(page, found), csrf=csrf_token(svc.settings.secret_key, session_id),
            action=svc.link(lang, request.url.path), return_to=return_to, back=back,
            switch_params={"return": return_to} if return_to else {},
            uploads={field.name: svc.file_views(files or {}, field, lang)
                     for field in page.fields if field.type == "file"},
            accept_of=lambda field: accept_attribute(field.accept),
            file_types=lambda field: _alternatives([FILE_TYPES[key].label for key in field.accept],
                                                   t(lang, "form.or")),
            size_of=lambda size: format_size(size, lang),
            remove_action=svc.link(lang, REMOVE_FILE),
        )

    def messages(page: Page, errors: Mapping[str, FieldError] | None,
                 lang: str) -> dict[str, str]:
        """Translated error messages by field name, in page order, naming each field."""
        found: dict[str, str] = {}
        for field in page.fields:
            if errors and field.name in errors:
                params = dict(errors[field.name].params)
                if "date" in params:
                    params["date"] = format_date(str(params["date"]), lang)
                for key, value in params.items():
                    if isinstance(value, tuple):  # alternatives: "PDF, JPG oder PNG"
                        params[key] = _alternatives(list(value), t(lang, "form.or"))
                label = pick(field.summary_label or field.label, lang)
                found[field.name] = t(lang, errors[field.name].key, label=label, **params)
        return found

    def summary(page: Page, found: Mapping[str, str]) -> list[tuple[str, str]] | None:
        return [(f.input_id, found[f.name]) for f in page.fields if f.name in found] or None

    @app.get(FORM_PREFIX)
    async def form_start(request: Request) -> Response:
        return redirect(svc.link(lang_of(request), f"{FORM_PREFIX}/{form.pages[0].id}"))

    @app.get(CHECK_PAGE, response_class=HTMLResponse)
    async def check_answers(request: Request) -> Response:
        lang = lang_of(request)
        session_id, data = await svc.session(request)
        if session_id is not None and _submitted(data):
            return render_submitted(request, lang, session_id, data["reference"])
        answers = data.get("answers", {})
        missing = first_invalid_page(form, answers)
        if session_id is None or missing is not None:
            target = missing or form.pages[0]
            return redirect(svc.link(lang, f"{FORM_PREFIX}/{target.id}"))
        files = data.get("files", {})
        rows = [
            (page, [(field, svc.file_views(files, field, lang) if field.type == "file" else
                     _display(field, answers[page.id].get(field.name, ""), lang, svc.translator))
                    for field in page.fields])
            for page in form.pages
        ]
        return svc.render("check.html", lang, request.url.path, rows=rows,
                          csrf=csrf_token(svc.settings.secret_key, session_id),
                          remove_action=svc.link(lang, REMOVE_FILE),
                          action=svc.link(lang, CHECK_PAGE),
                          back=svc.link(lang, f"{FORM_PREFIX}/{form.pages[-1].id}"))

    @app.post(CHECK_PAGE)
    async def submit(request: Request) -> Response:
        """Store the application and hand it to the background worker; never waits for the
        receiving side. A repeated or concurrent post of the same session stores nothing new
        and shows the same confirmation, under the new session id issued with it."""
        lang = lang_of(request)
        posted = await request.form()
        _, current = await svc.session(request)
        if current.get("reference") and not current.get("answers"):
            # Sent again from the browser's history after submitting: it is stored already.
            return redirect(svc.link(lang, CONFIRMATION_PAGE))
        session_id = await svc.check_csrf(request, posted)
        submitted = await run_in_threadpool(svc.submit_application, session_id)
        if submitted is None:
            _, data = await svc.session(request)
            missing = first_invalid_page(form, data.get("answers", {})) if data else None
            if not data:
                raise CsrfFailed  # the session is unknown or over
            return redirect(svc.link(lang, f"{FORM_PREFIX}/{(missing or form.pages[0]).id}"))
        svc.wake.set()
        response = redirect(svc.link(lang, CONFIRMATION_PAGE))
        svc.set_cookie(response, submitted.session_id)
        return response

    def render_submitted(request: Request, lang: str, session_id: str,
                         reference: str) -> Response:
        """What Back shows after submitting: the Vorgangsnummer, not an empty form."""
        return svc.render("submitted.html", lang, request.url.path, reference=reference,
                          csrf=csrf_token(svc.settings.secret_key, session_id),
                          action=svc.link(lang, NEW_APPLICATION))

    @app.post(EXTEND_SESSION)
    async def extend_session(request: Request) -> Response:
        """More time (WCAG 2.2.1): the session counts from now again. The script asks for
        JSON and stays on the page; without it the citizen returns to the page they were on."""
        lang = lang_of(request)
        posted = await request.form()
        session_id, data = await svc.posted_session(request, posted)
        await svc.save(session_id, data)
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"expires_in": svc.settings.session_max_age},
                                headers={"cache-control": "no-store"})
        target = posted.get("return")
        if not isinstance(target, str) or not RETURN_PATH.match(target):
            target = FORM_PREFIX  # never a redirect to somewhere else
        return redirect(svc.link(lang, target))

    @app.post(REMOVE_FILE)
    async def remove_file(request: Request) -> Response:
        """Remove one uploaded file, from its form page or from check answers."""
        lang = lang_of(request)
        posted = await request.form()
        session_id, data = await svc.posted_session(request, posted)
        files = dict(data.get("files", {}))
        file_id = posted.get("remove")
        if isinstance(file_id, str) and file_id in files:
            await run_in_threadpool(svc.store.remove_upload, session_id, file_id)
            del files[file_id]
            answers = _with_files(form, data.get("answers", {}), files)
            await svc.save(session_id, {**data, "answers": answers, "files": files})
            log.info("upload removed", extra={"event": "upload_removed"})
        target = posted.get("return")
        if not isinstance(target, str) or not RETURN_PATH.match(target):
            target = CHECK_PAGE
        return redirect(svc.link(lang, target))

    @app.post(NEW_APPLICATION)
    async def new_application(request: Request) -> Response:
        """Start over after submitting: the same session, an empty draft."""
        lang = lang_of(request)
        session_id, _ = await svc.posted_session(request, await request.form())
        await svc.save(session_id, {})
        return redirect(svc.link(lang, f"{FORM_PREFIX}/{form.pages[0].id}"))

    @app.get(CONFIRMATION_PAGE, response_class=HTMLResponse)
    async def confirmation(request: Request) -> Response:
        lang = lang_of(request)
        _, data = await svc.session(request)
        reference = data.get("reference")
        if not reference:
            return redirect(svc.link(lang, "/"))
        return svc.render("confirmation.html", lang, request.url.path, reference=reference)

    @app.get(FORM_PREFIX + "/{page_id}", response_class=HTMLResponse)
    async def form_page(request: Request, page_id: str) -> Response:
        page = form.page(page_id)
        if page is None:
            raise StarletteHTTPException(404)
        lang = lang_of(request)
        session_id, data, new = await svc.open_session(request)
        if _submitted(data):
            return render_submitted(request, lang, session_id, data["reference"])
        return_to = "pruefen" if request.query_params.get("return") == "pruefen" else ""
        response = render_page(request, lang, page, session_id,
                               data.get("answers", {}).get(page.id, {}), None, return_to,
                               files=data.get("files", {}))
        if new:
            svc.set_cookie(response, session_id)
        return response

    @app.post(FORM_PREFIX + "/{page_id}", response_class=HTMLResponse)
    async def form_page_post(request: Request, page_id: str) -> Response:
        page = form.page(page_id)
        if page is None:
            raise StarletteHTTPException(404)
        lang = lang_of(request)
        file_fields = {field.name for field in page.fields if field.type == "file"}
        async with _posted_form(request, max_files=MAX_FILE_PARTS if file_fields else 0) as posted:
            if any(isinstance(value, UploadFile) and key not in file_fields
                   for key, value in posted.multi_items()):
                raise StarletteHTTPException(400)  # a file where this page asks for none
            session_id, data = await svc.posted_session(request, posted)
            if _submitted(data):  # a page sent again from the history after submitting
                return redirect(svc.link(lang, request.url.path))
            files, upload_errors = (await svc.take_uploads(session_id, data, page, posted)
                                    if file_fields else (data.get("files", {}), {}))
        raw = {key: value for key, value in posted.items() if isinstance(value, str)}
        for field in page.fields:
            if field.type == "file":
                raw[field.name] = _file_answer(files, field)
        values, errors = validate_page(page, raw)
        errors = {**errors, **upload_errors}
        return_to = "pruefen" if raw.get("return") == "pruefen" else ""
        if errors:
            if files != data.get("files", {}):
                await svc.save(session_id, {**data, "files": files})
            log.info("invalid input", extra={"event": "invalid_input", "page": page.id,
                                             "errors": sorted(errors)})
            return render_page(request, lang, page, session_id, values, errors, return_to,
                               status=422, files=files)
        answers = {**data.get("answers", {}), page.id: values}
        await svc.save(session_id, {**data, "answers": answers, "files": files})
        index = form.index(page.id)
        if return_to or index == len(form.pages) - 1:
            return redirect(svc.link(lang, CHECK_PAGE))
        return redirect(svc.link(lang, f"{FORM_PREFIX}/{form.pages[index + 1].id}"))

    # -- legal pages and feedback ---------------------------------------------------------------

    for route, template in (("/impressum", "legal/impressum.html"),
                            ("/datenschutz", "legal/datenschutz.html"),
                            ("/barrierefreiheit", "legal/barrierefreiheit.html")):
        async def legal(request: Request, template: str = template, route: str = route) -> Response:
            return svc.render(template, lang_of(request), route)

        app.add_api_route(route, legal, methods=["GET"], response_class=HTMLResponse)

    def render_feedback(request: Request, lang: str, session_id: str, values: Mapping[str, str],
                        errors: Mapping[str, FieldError] | None, status: int = 200) -> Response:
        found = messages(svc.feedback, errors, lang)
        return svc.render(
            "feedback.html", lang, FEEDBACK_PAGE, status=status, page=svc.feedback,
            values=values, field_errors=found, errors=summary(svc.feedback, found),
            csrf=csrf_token(svc.settings.secret_key, session_id),
            action=svc.link(lang, FEEDBACK_PAGE),
        )

    @app.get(FEEDBACK_PAGE, response_class=HTMLResponse)
    async def feedback(request: Request) -> Response:
        session_id, _, new = await svc.open_session(request)
        response = render_feedback(request, lang_of(request), session_id, {}, None)
        if new:
            svc.set_cookie(response, session_id)
        return response

    @app.post(FEEDBACK_PAGE, response_class=HTMLResponse)
    async def feedback_post(request: Request) -> Response:
        lang = lang_of(request)
        posted = await request.form()
        session_id, data = await svc.posted_session(request, posted)
        raw = {key: value for key, value in posted.items() if isinstance(value, str)}
        values, errors = validate_page(svc.feedback, raw)
        if errors:
            return render_feedback(request, lang, session_id, values, errors, status=422)
        reference = await run_in_threadpool(svc.store_submission, "B", "accessibility-feedback",
                                            values, values.get("email", ""))
        await svc.save(session_id, {**data, "feedback_reference": reference})
        svc.wake.set()
        return redirect(svc.link(lang, FEEDBACK_PAGE + "/danke"))

    @app.get(FEEDBACK_PAGE + "/danke", response_class=HTMLResponse)
    async def feedback_thanks(request: Request) -> Response:
        lang = lang_of(request)
        _, data = await svc.session(request)
        reference = data.get("feedback_reference")
        if not reference:
            return redirect(svc.link(lang, FEEDBACK_PAGE))
        return svc.render("feedback_thanks.html", lang, request.url.path, reference=reference)

