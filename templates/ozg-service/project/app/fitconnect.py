"""Delivery through FIT-Connect: the sender side of the Submission API.

Implemented against the FIT-Connect Submission API **v1** (OpenAPI ``submission-api.yaml``,
``info.version`` 1.0.7, paths under ``/v1``) and the submission metadata schema **1.2.0**
(``https://schema.fitko.de/fit-connect/metadata/1.2.0/metadata.schema.json``), as documented on
docs.fitko.de/fit-connect (sending: "Versand von Einreichungen", encryption: "Verschlüsselte
Übertragung von Antragsdaten", event log: "Ereignisprotokoll"). The stages:

0. Without a destination in kommune.toml, the Routing API finds it: ``GET /v1/routes`` at
   SERVICE_FIT_CONNECT_ROUTING_URL with ``leikaKey`` and the municipality's ``ars`` (12 digits,
   kommune.toml ``ars``) or else ``ags``; exactly one destination must come back. It is
   recorded in the outbox row (stage ``routed``) before anything is announced.
1. OAuth 2 client credentials at SERVICE_FIT_CONNECT_TOKEN_URL; the token is kept in memory
   and renewed shortly before it expires (or at once when the API answers 401).
2. ``GET /v1/destinations/{id}``: the destination must be ``active``; its ``encryptionKid``
   names the key, fetched with ``GET /v1/destinations/{id}/keys/{kid}``: an RSA JWK whose
   ``key_ops`` contain ``wrapKey``.
3. ``POST /v1/submissions`` announces the submission (destinationId, announcedAttachments,
   serviceType with ``urn:de:fim:leika:leistung:<LeiKa key>``); the answer's submissionId and
   caseId are recorded in the outbox row before anything else happens. The envelope's
   attachments (see :func:`app.delivery.build_envelope`) are announced by their ids.
4. ``PUT /v1/submissions/{id}/attachments/{attachmentId}``: each attachment as a JWE
   (``application/jose``); each uploaded id is recorded, so a resumed delivery uploads only
   the rest.
5. ``PUT /v1/submissions/{id}`` with metadata and data, each a JWE in compact serialisation
   (RSA-OAEP-256 key wrapping, A256GCM content encryption). Before anything is sent, the data
   are checked against the JSON Schema derived from form.toml (:mod:`app.schema`), whose
   address goes into ``submissionSchema.schemaUri``; a mismatch fails at once. The metadata
   carry the SHA-512 of the exact data bytes sent. The stage is recorded afterwards.
6. ``GET /v1/cases/{caseId}/events`` reads the event log back; the last event is recorded,
   and ``reject-submission`` makes the delivery fail with the problem types given.

A crash anywhere resumes from the recorded stage: after an announcement the next attempt reads
the event log first and sends nothing when the Zustelldienst already has the submission, so a
submission is announced once and submitted once.

Errors are RFC 7807 problem details; only their ``type`` (and the HTTP status) is logged and
recorded, never a body, since a body could echo personal data.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from jwcrypto import jwe, jwk

from .delivery import (
    DeliveryAdapter,
    DeliveryRejected,
    DirectoryAdapter,
    Submission,
    attachment_bytes,
)
from .forms import FormDefinitionError, load_form
from .schema import schema_errors, service_schema
from .settings import Settings, SettingsError

log = logging.getLogger("app.fitconnect")

SUBMISSION_API_VERSION = "1.0.7"  # OpenAPI info.version of the Submission API v1 implemented
METADATA_SCHEMA_VERSION = "1.2.0"
EVENT_PREFIX = "https://schema.fitko.de/fit-connect/events/"
SUBMIT_EVENT = EVENT_PREFIX + "submit-submission"
ACCEPT_EVENT = EVENT_PREFIX + "accept-submission"
REJECT_EVENT = EVENT_PREFIX + "reject-submission"
TOKEN_MARGIN_SECONDS = 60  # renew the token this long before it expires
MIN_KEY_BITS = 4096  # FIT-Connect requires RSA keys of at least 4096 bits
LEIKA_KEY = re.compile(r"\d{14}")
AGS = re.compile(r"\d{8}")
ARS = re.compile(r"\d{12}")
LEIKA_URN = "urn:de:fim:leika:leistung:"

# Stages recorded in the outbox row (Submission.state["stage"]).
ROUTED, ANNOUNCED, SUBMITTED, DONE = "routed", "announced", "submitted", "done"


class FitConnectError(Exception):
    """A failure worth another attempt (network, timeout, 5xx, token trouble)."""


def problem_type(response: httpx.Response) -> str:
    """The RFC 7807 ``type`` of an error response, or ``about:blank`` when there is none."""
    try:
        body = response.json()
    except ValueError:
        return "about:blank"
    value = body.get("type") if isinstance(body, dict) else None
    return str(value) if value else "about:blank"


def _set_payload(token: str) -> dict[str, Any]:
    """The claims of a Security Event Token (a JWS in compact form) from the event log.

    The signature is not checked here: the events only decide whether to report a rejection,
    and sending never depends on them. Checking it against the Zustelldienst's published keys
    is left to a later version.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


class FitConnectAdapter:
    """Sends applications to a FIT-Connect destination (Zustellpunkt).

    Other kinds of submission (accessibility feedback) are no Verwaltungsleistung and go to the
    directory adapter as before.
    """

    name = "fit-connect"

    def __init__(
        self,
        *,
        token_url: str,
        submission_url: str,
        client_id: str,
        client_secret: str,
        timeout: float = 30.0,
        other: DeliveryAdapter | None = None,
        on_stage: Callable[[str], None] | None = None,
        routing_url: str = "",
        data_schema: Mapping[str, Any] | None = None,
    ) -> None:
        """See :meth:`from_settings` for where each value comes from.

        Args:
            routing_url: the Routing API (without ``/v1``); needed only for envelopes without
                a destination id.
            data_schema: the JSON Schema the data must match (:func:`app.schema.submission_schema`);
                its ``$id``, if any, becomes ``submissionSchema.schemaUri``. None: not checked.
        """
        self.token_url = token_url
        self.api = submission_url.rstrip("/") + "/v1"
        self.routing = routing_url.rstrip("/") + "/v1" if routing_url else ""
        self.data_schema = data_schema
        self.client_id = client_id
        self.client_secret = client_secret
        self.other = other
        # A test hook: called with "routed", "announced", "uploaded" (after each attachment),
        # "sent" (PUT answered, not yet recorded) and "submitted", to simulate a crash between
        # two stages.
        self.on_stage = on_stage or (lambda stage: None)
        self.http = httpx.Client(timeout=timeout)
        # One delivery makes at most about a dozen requests (each may be repeated once after a
        # 401); the worker's lease must outlast them, or a second worker could start the same one.
        self.lease_seconds = max(120.0, 30 * timeout)
        self._token = ""
        self._token_expires = 0.0
        self._token_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> FitConnectAdapter:
        """The adapter for SERVICE_DELIVERY_ADAPTER=fit-connect.

        Raises:
            SettingsError: a FIT-Connect setting is missing, or kommune.toml names no destination.
        """
        missing = [
            name for name, value in (
                ("SERVICE_FIT_CONNECT_TOKEN_URL", settings.fit_connect_token_url),
                ("SERVICE_FIT_CONNECT_SUBMISSION_URL", settings.fit_connect_submission_url),
                ("SERVICE_FIT_CONNECT_CLIENT_ID", settings.fit_connect_client_id),
                ("SERVICE_FIT_CONNECT_CLIENT_SECRET", settings.fit_connect_client_secret),
            ) if not value
        ]
        if missing:
            raise SettingsError(
                f"SERVICE_DELIVERY_ADAPTER=fit-connect braucht außerdem: {', '.join(missing)} "
                "(das Secret auch als SERVICE_FIT_CONNECT_CLIENT_SECRET_FILE); siehe "
                "docs/settings.md."
            )
        try:
            kommune = tomllib.loads(settings.kommune_file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise SettingsError(f"{settings.kommune_file} ist nicht lesbar: {error}") from None
        if (not str(kommune.get("delivery", {}).get("fit_connect_destination", "") or "")
                and not settings.fit_connect_routing_url):
            raise SettingsError(
                f"{settings.kommune_file}: [delivery] fit_connect_destination ist leer; tragen "
                "Sie die Zustellpunkt-ID (Destination-ID) aus dem Self-Service-Portal ein, oder "
                "setzen Sie SERVICE_FIT_CONNECT_ROUTING_URL, damit der Routingdienst sie ermittelt."
            )
        try:
            service = tomllib.loads(settings.service_file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise SettingsError(f"{settings.service_file} ist nicht lesbar: {error}") from None
        leika = str(service.get("service", {}).get("leika_key", "") or "")
        if not LEIKA_KEY.fullmatch(leika):
            raise SettingsError(
                f"{settings.service_file}: leika_key={leika!r} ist kein LeiKa-Schlüssel; "
                "FIT-Connect braucht die 14 Ziffern der Leistung."
            )
        try:
            form = load_form(settings.form_file)
        except FormDefinitionError as error:
            raise SettingsError(str(error)) from None
        _, schema = service_schema(form, service.get("service", {}), settings.public_url)
        return cls(
            routing_url=settings.fit_connect_routing_url,
            data_schema=schema,
            token_url=settings.fit_connect_token_url,
            submission_url=settings.fit_connect_submission_url,
            client_id=settings.fit_connect_client_id,
            client_secret=settings.fit_connect_client_secret,
            timeout=settings.fit_connect_timeout,
            other=DirectoryAdapter(settings.outbox_dir),
        )

    # -- HTTP -----------------------------------------------------------------------------------

    def _access_token(self, *, renew: bool = False) -> str:
        with self._token_lock:
            if renew or not self._token or time.time() >= self._token_expires:
                try:
                    response = self.http.post(self.token_url, data={
                        "grant_type": "client_credentials",
                        "client_id": self.client_id,
                        "client_secret": self.client_secret,
                    })
                except httpx.HTTPError as error:
                    raise FitConnectError(f"token: {type(error).__name__}") from None
                if response.status_code != 200:
                    raise FitConnectError(f"token: HTTP {response.status_code}")
                body = response.json()
                self._token = str(body["access_token"])
                lifetime = float(body.get("expires_in", 300))
                self._token_expires = time.time() + max(lifetime - TOKEN_MARGIN_SECONDS, 0)
            return self._token

    def _request(self, stage: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call to the Submission API; a 401 renews the token and tries once more.

        Raises:
            FitConnectError: network trouble, a timeout, 401 twice, 429 or 5xx (retry later).
            DeliveryRejected: any other 4xx: the Zustelldienst refuses this request as it is.
        """
        extra: Mapping[str, str] = kwargs.pop("headers", {})
        for renew in (False, True):
            headers = {**extra, "Authorization": f"Bearer {self._access_token(renew=renew)}"}
            try:
                response = self.http.request(method, self.api + path, headers=headers, **kwargs)
            except httpx.HTTPError as error:
                raise FitConnectError(f"{stage}: {type(error).__name__}") from None
            if response.status_code != 401:
                break
        if response.is_success:
            return response
        kind = problem_type(response)
        log.warning("fit-connect problem", extra={"event": "fit_connect_problem", "stage": stage,
                                                  "status": response.status_code,
                                                  "problem_type": kind})
        reason = f"{stage}: HTTP {response.status_code} {kind}"
        if response.status_code in {401, 408, 429} or response.status_code >= 500:
            raise FitConnectError(reason)
        raise DeliveryRejected(reason)

    # -- stages ---------------------------------------------------------------------------------

    def _encryption_key(self, destination_id: str) -> jwk.JWK:
        destination = self._request("destination", "GET", f"/destinations/{destination_id}").json()
        if destination.get("status") != "active":
            raise DeliveryRejected(
                f"destination: Zustellpunkt nicht aktiv (status {destination.get('status')!r})"
            )
        kid = str(destination.get("encryptionKid", ""))
        key = self._request("destination", "GET", f"/destinations/{destination_id}/keys/{kid}")
        public = key.json()
        if "wrapKey" not in public.get("key_ops", []) or public.get("kty") != "RSA":
            raise DeliveryRejected("destination: Schlüssel ist kein RSA-Schlüssel mit wrapKey")
        if public.get("alg", "RSA-OAEP-256") != "RSA-OAEP-256":
            raise DeliveryRejected(f"destination: Schlüsselalgorithmus {public.get('alg')!r}")
        result = jwk.JWK(**public)
        if len(base64.urlsafe_b64decode(public["n"] + "==")) * 8 < MIN_KEY_BITS:
            raise DeliveryRejected("destination: Schlüssel kürzer als 4096 Bit")
        return result

    @staticmethod
    def _encrypt(payload: bytes, key: jwk.JWK, content_type: str = "application/json") -> str:
        token = jwe.JWE(payload, json.dumps({
            "alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": content_type,
            "kid": key.get("kid") or key.thumbprint(),
        }))
        token.add_recipient(key)
        return str(token.serialize(compact=True))

    def _route(self, leika_urn: str, municipality: Mapping[str, Any]) -> str:
        """The one destination the Routing API names for this service in this municipality.

        Raises:
            FitConnectError: network trouble, 429 or 5xx (retry later).
            DeliveryRejected: no routing URL, no area key, no route or more than one.
        """
        if not self.routing:
            raise DeliveryRejected(
                "route: keine Destination-ID (kommune.toml [delivery]) und kein "
                "SERVICE_FIT_CONNECT_ROUTING_URL")
        ars, ags = str(municipality.get("ars") or ""), str(municipality.get("ags") or "")
        area = {"ars": ars} if ARS.fullmatch(ars) else {"ags": ags} if AGS.fullmatch(ags) else {}
        if not area:
            raise DeliveryRejected("route: kein AGS (8 Ziffern) oder ARS (12 Ziffern) der Kommune")
        params = {"leikaKey": leika_urn.removeprefix(LEIKA_URN), **area}
        try:
            response = self.http.get(self.routing + "/routes", params=params)
        except httpx.HTTPError as error:
            raise FitConnectError(f"route: {type(error).__name__}") from None
        if not response.is_success:
            kind = problem_type(response)
            log.warning("fit-connect problem", extra={
                "event": "fit_connect_problem", "stage": "route",
                "status": response.status_code, "problem_type": kind})
            reason = f"route: HTTP {response.status_code} {kind}"
            if response.status_code in {408, 429} or response.status_code >= 500:
                raise FitConnectError(reason)
            raise DeliveryRejected(reason)
        found = sorted({str(route.get("destinationId") or "")
                        for route in response.json().get("routes") or []} - {""})
        where = ", ".join(f"{name}={value}" for name, value in area.items())
        if not found:
            raise DeliveryRejected(
                f"route: kein Zustellpunkt für Leistung {params['leikaKey']} und {where}; "
                "tragen Sie ihn in kommune.toml [delivery] fit_connect_destination ein")
        if len(found) > 1:
            raise DeliveryRejected(
                f"route: {len(found)} Zustellpunkte für Leistung {params['leikaKey']} und {where}; "
                "tragen Sie den richtigen in kommune.toml [delivery] fit_connect_destination ein")
        return found[0]

    def _metadata(self, envelope: Mapping[str, Any]) -> dict[str, Any]:
        """The envelope's metadata, with the schema address, after checking the data.

        Raises:
            DeliveryRejected: the data do not match the schema (sending them would only have
                them rejected); the message names the paths, never the values.
        """
        metadata: dict[str, Any] = json.loads(json.dumps(envelope["metadata"]))
        if self.data_schema is None:
            return metadata
        problems = schema_errors(self.data_schema, envelope["data"])
        if problems:
            raise DeliveryRejected("schema: Fachdaten passen nicht zum Schema: "
                                   + "; ".join(problems))
        if self.data_schema.get("$id"):
            data = metadata["contentStructure"]["data"]
            data["submissionSchema"]["schemaUri"] = str(self.data_schema["$id"])
        return metadata

    def _upload(self, submission: Submission, state: dict[str, Any], key: jwk.JWK) -> None:
        """Upload every announced attachment not yet recorded as uploaded, recording each."""
        uploaded: list[str] = list(state.get("uploaded") or [])
        for attachment in submission.envelope.get("attachments") or []:
            attachment_id = str(attachment["id"])
            if attachment_id in uploaded:
                continue
            token = self._encrypt(attachment_bytes(attachment), key,
                                  str(attachment.get("mimeType") or "application/octet-stream"))
            self._request("upload", "PUT",
                          f"/submissions/{state['submissionId']}/attachments/{attachment_id}",
                          content=token.encode(), headers={"Content-Type": "application/jose"})
            uploaded.append(attachment_id)
            state["uploaded"] = uploaded
            submission.save_state(state)
            self.on_stage("uploaded")

    def _events(self, case_id: str, submission_id: str) -> list[dict[str, Any]]:
        """The event log of the case, the events of this submission only, oldest first."""
        log_ = self._request("events", "GET", f"/cases/{case_id}/events").json()
        events: list[dict[str, Any]] = []
        for token in log_.get("eventLog", []):
            claims = _set_payload(str(token))
            if claims.get("sub") == f"submission:{submission_id}":
                for name, payload in (claims.get("events") or {}).items():
                    events.append({"type": name, "payload": payload or {}})
        return events

    def deliver(self, submission: Submission) -> None:
        if submission.kind != "application":
            if self.other is None:
                raise DeliveryRejected(f"{submission.kind}: kein Zustellweg außer FIT-Connect")
            self.other.deliver(submission)
            return
        envelope = submission.envelope
        state: dict[str, Any] = dict(submission.state)
        if state.get("stage") == DONE and state.get("lastEvent") == "reject-submission":
            # Tried again by hand (--retry-failed) after the receiving side rejected it: the
            # rejected submission is closed, so this is a new announcement.
            state = {"rejectedSubmissionId": state["submissionId"]}
        data = envelope["data"]
        metadata = self._metadata(envelope)  # checks the data before anything is sent
        service = metadata.get("publicServiceType") or {}
        if not service.get("identifier"):
            raise DeliveryRejected("announce: kein LeiKa-Schlüssel (service.toml leika_key)")
        destination_id = str(envelope.get("destinationId") or state.get("destinationId") or "")
        if not destination_id:
            destination_id = self._route(str(service["identifier"]),
                                         envelope.get("municipality") or {})
            state.update(stage=ROUTED, destinationId=destination_id)
            submission.save_state(state)
            self.on_stage(ROUTED)
        attachments = envelope.get("attachments") or []

        resumed = "submissionId" in state
        key: jwk.JWK | None = None
        if not resumed:
            key = self._encryption_key(destination_id)  # active, with a usable key, first
            announced = self._request("announce", "POST", "/submissions", json={
                "destinationId": destination_id,
                "announcedAttachments": [str(attachment["id"]) for attachment in attachments],
                "serviceType": {"name": service.get("name") or "",
                                "identifier": service["identifier"]},
            }).json()
            state.update(stage=ANNOUNCED, destinationId=destination_id,
                         submissionId=str(announced["submissionId"]),
                         caseId=str(announced["caseId"]))
            submission.save_state(state)
            self.on_stage(ANNOUNCED)

        submission_id, case_id = state["submissionId"], state["caseId"]
        if state["stage"] == ANNOUNCED:
            # Resumed after a crash or a timeout? Then the PUT may have gone through before.
            already = resumed and any(event["type"] == SUBMIT_EVENT
                                      for event in self._events(case_id, submission_id))
            if not already:
                key = key or self._encryption_key(destination_id)
                self._upload(submission, state, key)
                # The hash in the metadata is over exactly these bytes (see build_envelope).
                data_bytes = json.dumps(data, ensure_ascii=False, sort_keys=True,
                                        separators=(",", ":")).encode()
                self._request("submit", "PUT", f"/submissions/{submission_id}", json={
                    "encryptedMetadata": self._encrypt(
                        json.dumps(metadata, ensure_ascii=False).encode(), key),
                    "encryptedData": self._encrypt(data_bytes, key),
                })
                self.on_stage("sent")
            state["stage"] = SUBMITTED
            submission.save_state(state)
            self.on_stage(SUBMITTED)

        events = self._events(case_id, submission_id)
        if events:
            state["lastEvent"] = events[-1]["type"].removeprefix(EVENT_PREFIX)
        rejection = next((event for event in events if event["type"] == REJECT_EVENT), None)
        if rejection is not None:
            problems = rejection["payload"].get("problems") or []
            kinds = ", ".join(str(p.get("type", "about:blank")) for p in problems
                              if isinstance(p, dict)) or "about:blank"
            state["stage"] = DONE
            submission.save_state(state)
            raise DeliveryRejected(f"events: reject-submission {kinds}")
        state["stage"] = DONE
        submission.save_state(state)
        log.info("fit-connect submitted", extra={"event": "fit_connect_submitted",
                                                 "reference": submission.reference,
                                                 "submission_id": submission_id,
                                                 "last_event": state.get("lastEvent", "")})
