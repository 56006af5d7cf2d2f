"""A fake FIT-Connect Zustelldienst for the tests: a real HTTP server on loopback.

It implements the parts of the Submission API v1 the sender uses (token, destination and its key,
announce, attachment upload, submit, the case's event log) and the Routing API's ``/v1/routes``,
holds its own RSA private key, decrypts every JWE it receives and checks the metadata, the
attachments (against their announced ids and SHA-512 hashes) and the data (against the schema
the destination accepts, ``data_schema``) as the real service and a subscriber would. It can be
told to fail: :meth:`FakeZustelldienst.fail` for the next requests, ``destination_status`` for an
inactive destination, ``reject`` for a submission the receiving side rejects, ``routes`` for
what the Routing API finds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from jwcrypto import jwe, jwk, jws

CLIENT_ID = "kommunal-kit-test"
CLIENT_SECRET = "geheim-nur-fuer-tests"
DESTINATION_ID = "3b8d1f0e-6c1a-4a7e-9f0d-2b5c7e9a1d44"
PROBLEM = "https://schema.fitko.de/fit-connect/submission-api/problems/"
EVENTS = "https://schema.fitko.de/fit-connect/events/"
METADATA_SCHEMA = "https://schema.fitko.de/fit-connect/metadata/1.2.0/metadata.schema.json"
SET_SCHEMA = "https://schema.fitko.de/fit-connect/set-payload/1.0.0/set-payload.schema.json"
REGION = "urn:de:bund:destatis:bevoelkerungsstatistik:schluessel:rs:091899990000"
TOO_LATE = 4.0  # seconds; the adapter in the tests waits 2.5
LEIKA = re.compile(r"^urn:de:fim:leika:leistung:\d{14}$")
LEIKA_KEY = "99123456789012"
AGS = "09189999"
DEFAULT_SCHEMA_URI = "urn:kommunal-kit:form:antrag"

_KEYS: dict[str, jwk.JWK] = {}


def _key(name: str) -> jwk.JWK:
    """RSA keys of 4096 bits (FIT-Connect's minimum), made once per test run: that is slow."""
    if name not in _KEYS:
        _KEYS[name] = jwk.JWK.generate(kty="RSA", size=4096, kid=f"fake-{name}")
    return _KEYS[name]


@dataclass
class Received:
    """A submission as the receiving authority would see it after decryption."""

    submission_id: str
    case_id: str
    metadata: dict[str, Any]
    data: dict[str, Any]
    attachments: dict[str, bytes] = field(default_factory=dict)


@dataclass
class FakeZustelldienst:
    destination_status: str = "active"
    reject: bool = False
    token_lifetime: int = 1800
    tokens_issued: int = 0
    announced: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # The Routing API: (leikaKey, ags or ars) → the destination ids it answers with.
    routes: dict[tuple[str, str], list[str]] = field(
        default_factory=lambda: {(LEIKA_KEY, AGS): [DESTINATION_ID]})
    route_requests: list[dict[str, str]] = field(default_factory=list)
    uploads: int = 0
    # The schema of the data the destination accepts; its $id is the schemaUri it lists.
    data_schema: dict[str, Any] | None = None
    _faults: list[tuple[str, str]] = field(default_factory=list)
    _tokens: dict[str, float] = field(default_factory=dict)
    _events: dict[str, list[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.encryption_key = _key("encryption")
        self.signing_key = _key("signing")
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeZustelldienst:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail(self, fault: str, *, times: int = 1, path: str = "") -> None:
        """Answer the next *times* API requests (whose path contains *path*) with *fault*:
        ``expired`` (401, the token no longer counts), ``unavailable`` (503), ``timeout`` (no
        answer for TOO_LATE seconds, nothing done) or ``slow`` (done, but answered too late)."""
        with self._lock:
            self._faults.extend([(fault, path)] * times)

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    @property
    def submit_count(self) -> int:
        return len(self.received)

    # -- request handling (called from the handler's threads) ----------------------------------

    def _fault_for(self, path: str) -> str:
        with self._lock:
            for index, (fault, where) in enumerate(self._faults):
                if where in path:
                    del self._faults[index]
                    return fault
        return ""

    def _event(self, submission_id: str, case_id: str, name: str,
               payload: dict[str, Any] | None = None) -> None:
        claims = {
            "$schema": SET_SCHEMA,
            "iss": "https://fake-zustelldienst.invalid", "iat": int(time.time()),
            "jti": str(uuid.uuid4()), "sub": f"submission:{submission_id}",
            "txn": f"case:{case_id}", "events": {EVENTS + name: payload or {}},
        }
        token = jws.JWS(json.dumps(claims).encode())
        token.add_signature(self.signing_key, alg="PS512",
                            protected=json.dumps({"alg": "PS512", "typ": "secevent+jwt",
                                                  "kid": self.signing_key.get("kid")}))
        self._events.setdefault(case_id, []).append(token.serialize(compact=True))

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        if method == "POST" and path == "/token":
            form = parse_qs(body.decode())
            if (form.get("grant_type") != ["client_credentials"]
                    or form.get("client_id") != [CLIENT_ID]
                    or form.get("client_secret") != [CLIENT_SECRET]):
                return 401, {"error": "invalid_client"}
            token = uuid.uuid4().hex
            with self._lock:
                self._tokens[token] = time.time() + self.token_lifetime
                self.tokens_issued += 1
            return 200, {"access_token": token, "token_type": "Bearer",
                         "expires_in": self.token_lifetime, "scope": "send:region:DE"}
        fault = self._fault_for(path)
        if fault == "unavailable" and path.startswith("/v1/routes"):
            return 503, {"type": "about:blank", "title": "Service Unavailable", "status": 503}
        if method == "GET" and urlsplit(path).path == "/v1/routes":
            return self._route(parse_qs(urlsplit(path).query))  # public: no token
        if fault == "timeout":
            time.sleep(TOO_LATE)
            return 503, {"type": PROBLEM + "timeout"}
        if fault == "unavailable":
            return 503, {"type": "about:blank", "title": "Service Unavailable", "status": 503}
        bearer = str(headers.get("Authorization", "")).removeprefix("Bearer ")
        with self._lock:
            valid = self._tokens.get(bearer, 0) > time.time() and fault != "expired"
            if fault == "expired":
                self._tokens.pop(bearer, None)
        if not valid:
            return 401, {"type": PROBLEM + "invalid-token", "title": "Unauthorized"}
        if method == "PUT" and (match := re.fullmatch(
                r"/v1/submissions/([0-9a-f-]+)/attachments/([0-9a-f-]+)", path)):
            if headers.get("Content-Type") != "application/jose":
                return 415, {"type": PROBLEM + "unsupported-media-type"}
            return self._attachment(match[1], match[2], body)
        answer = self._api(method, path, body)
        if fault == "slow":
            time.sleep(TOO_LATE)  # done, but the answer comes too late for the sender
        return answer

    def _api(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        public = json.loads(self.encryption_key.export_public())
        public.update(key_ops=["wrapKey"], alg="RSA-OAEP-256")
        if method == "GET" and path == f"/v1/destinations/{DESTINATION_ID}":
            return 200, {
                "destinationId": DESTINATION_ID, "status": self.destination_status,
                "encryptionKid": public["kid"],
                "services": [{
                    "identifier": f"urn:de:fim:leika:leistung:{LEIKA_KEY}",
                    "submissionSchemas": [{"schemaUri": self.schema_uri,
                                           "mimeType": "application/json"}],
                    "regions": [REGION],
                }],
            }
        if method == "GET" and path == f"/v1/destinations/{DESTINATION_ID}/keys/{public['kid']}":
            return 200, public
        if method == "GET" and path.startswith("/v1/destinations/"):
            return 404, {"type": PROBLEM + "destination-not-found"}
        if method == "POST" and path == "/v1/submissions":
            return self._announce(json.loads(body))
        match = re.fullmatch(r"/v1/submissions/([0-9a-f-]+)", path)
        if method == "PUT" and match:
            return self._submit(match[1], json.loads(body))
        match = re.fullmatch(r"/v1/cases/([0-9a-f-]+)/events", path)
        if method == "GET" and match:
            return 200, {"eventLog": list(self._events.get(match[1], []))}
        return 404, {"type": "about:blank", "title": "Not Found"}

    @property
    def schema_uri(self) -> str:
        return str((self.data_schema or {}).get("$id") or DEFAULT_SCHEMA_URI)

    def _route(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        params = {name: values[0] for name, values in query.items()}
        areas = [params[name] for name in ("ags", "ars", "areaId") if name in params]
        if not re.fullmatch(r"99\d{12}", params.get("leikaKey", "")) or len(areas) != 1:
            return 400, {"type": PROBLEM + "request-parameter-invalid", "title": "Bad Request",
                         "status": 400}
        with self._lock:
            self.route_requests.append(params)
        found = self.routes.get((params["leikaKey"], areas[0]), [])
        routes = [{"destinationId": destination, "destinationSignature": "e30.e30.sig",
                   "destinationName": "Markt Musterhausen, Bürgerbüro"} for destination in found]
        return 200, {"count": len(routes), "offset": 0, "totalCount": len(routes),
                     "routes": routes}

    def _open_announcement(self, submission_id: str) -> tuple[dict[str, Any] | None, Any]:
        """The announced, not yet submitted submission, or the problem answer (call with the lock
        held)."""
        announced = self.announced.get(submission_id)
        if announced is None:
            return None, (404, {"type": PROBLEM + "submission-not-found"})
        if announced["submitted"]:
            return None, (422, {"type": PROBLEM + "submission-state-invalid"})
        return announced, None

    def _attachment(self, submission_id: str, attachment_id: str,
                    body: bytes) -> tuple[int, Any]:
        with self._lock:
            announced, problem = self._open_announcement(submission_id)
            if announced is None:
                return problem
            if attachment_id not in announced["attachments"]:
                return 404, {"type": PROBLEM + "attachment-not-found"}
        try:
            content = self._decrypt(body.decode())
        except Exception as error:  # noqa: BLE001 - any defect is the sender's
            with self._lock:
                self.errors.append(f"{type(error).__name__}: {error}")
            return 422, {"type": PROBLEM + "request-body-invalid"}
        with self._lock:
            announced["uploaded"][attachment_id] = content  # a repeated PUT replaces it
            self.uploads += 1
        return 204, {}

    def _announce(self, request: dict[str, Any]) -> tuple[int, Any]:
        if request.get("destinationId") != DESTINATION_ID:
            return 404, {"type": PROBLEM + "destination-not-found"}
        if self.destination_status != "active":
            return 422, {"type": PROBLEM + "destination-state-invalid"}
        identifier = str((request.get("serviceType") or {}).get("identifier", ""))
        attachments = request.get("announcedAttachments")
        if (not LEIKA.match(identifier) or not isinstance(attachments, list)
                or not all(isinstance(a, str) and _is_uuid(a) for a in attachments)):
            return 422, {"type": PROBLEM + "request-body-invalid"}
        submission_id, case_id = str(uuid.uuid4()), str(uuid.uuid4())
        with self._lock:
            self.announced[submission_id] = {"caseId": case_id, "serviceType": identifier,
                                             "submitted": False, "attachments": attachments,
                                             "uploaded": {}}
        return 201, {"destinationId": DESTINATION_ID, "submissionId": submission_id,
                     "caseId": case_id}

    def _decrypt(self, token: str) -> bytes:
        message = jwe.JWE()
        message.deserialize(token, key=self.encryption_key)
        header = message.jose_header
        if (header.get("alg"), header.get("enc")) != ("RSA-OAEP-256", "A256GCM"):
            raise ValueError(f"JWE-Algorithmen {header.get('alg')}/{header.get('enc')}")
        if header.get("kid") != self.encryption_key.get("kid"):
            raise ValueError("JWE kid passt nicht zum Schlüssel des Zustellpunkts")
        return bytes(message.payload)

    def _submit(self, submission_id: str, request: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            announced, problem = self._open_announcement(submission_id)
            if announced is None:
                return problem
            announced["submitted"] = True  # a second PUT is refused even while this one runs
        try:
            metadata = json.loads(self._decrypt(request["encryptedMetadata"]))
            data_bytes = self._decrypt(request["encryptedData"])
            data = json.loads(data_bytes)
            self._check(metadata, data_bytes, data, announced)
        except Exception as error:  # noqa: BLE001 - any defect is the sender's
            with self._lock:
                announced["submitted"] = False
                self.errors.append(f"{type(error).__name__}: {error}")
            return 422, {"type": PROBLEM + "request-body-invalid"}
        with self._lock:
            self.received.append(Received(submission_id, announced["caseId"], metadata, data,
                                          dict(announced["uploaded"])))
            self._event(submission_id, announced["caseId"], "submit-submission")
            if self.reject:
                self._event(submission_id, announced["caseId"], "reject-submission",
                            {"problems": [{"type": EVENTS + "problems/schema-violation",
                                           "title": "Schema-Verletzung"}]})
        return 200, {"destinationId": DESTINATION_ID, "submissionId": submission_id,
                     "caseId": announced["caseId"]}

    def _check(self, metadata: dict[str, Any], data_bytes: bytes, data: Any,
               announced: dict[str, Any]) -> None:
        """The checks the metadata schema 1.2.0 and a subscriber make on what we send."""
        if metadata.get("$schema") != METADATA_SCHEMA:
            raise ValueError(f"$schema {metadata.get('$schema')!r}")
        content = metadata["contentStructure"]
        digest = content["data"]["hash"]
        expected = hashlib.sha512(data_bytes).hexdigest()
        if digest["type"] != "sha512" or digest["content"] != expected:
            raise ValueError("Hash der Fachdaten stimmt nicht")
        schema = content["data"]["submissionSchema"]
        if schema["mimeType"] != "application/json" or not schema["schemaUri"]:
            raise ValueError("submissionSchema unvollständig")
        if schema["schemaUri"] != self.schema_uri:
            raise ValueError(f"schemaUri {schema['schemaUri']!r} nimmt der Zustellpunkt nicht an")
        listed = {item["attachmentId"]: item for item in content["attachments"]}
        if sorted(listed) != sorted(announced["attachments"]) or len(listed) != len(
                content["attachments"]):
            raise ValueError("Anlagen in den Metadaten passen nicht zur Ankündigung")
        for attachment_id, item in listed.items():
            uploaded = announced["uploaded"].get(attachment_id)
            if uploaded is None:
                raise ValueError(f"Anlage {attachment_id} angekündigt, aber nicht hochgeladen")
            if item["hash"] != {"type": "sha512",
                                "content": hashlib.sha512(uploaded).hexdigest()}:
                raise ValueError(f"Hash der Anlage {attachment_id} stimmt nicht")
            if item.get("purpose") not in {"form", "attachment", "report"}:
                raise ValueError(f"purpose der Anlage {attachment_id}")
            if not item.get("mimeType"):
                raise ValueError(f"mimeType der Anlage {attachment_id} fehlt")
        if self.data_schema is not None:
            validator = Draft202012Validator(self.data_schema, format_checker=FormatChecker())
            problems = [error.json_path for error in validator.iter_errors(data)]
            if problems:
                raise ValueError(f"Fachdaten verletzen das Schema an {problems}")
        if metadata["publicServiceType"]["identifier"] != announced["serviceType"]:
            raise ValueError("publicServiceType passt nicht zur Ankündigung")
        reference = metadata.get("additionalReferenceInfo", {})
        if not reference.get("senderReference"):
            raise ValueError("senderReference fehlt")
        if not isinstance(data, dict):
            raise TypeError("Fachdaten sind kein JSON-Objekt")


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


class _Handler(BaseHTTPRequestHandler):
    fake: FakeZustelldienst

    def _respond(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, answer = self.fake.handle(self.command, self.path, self.headers, body)
        payload = b"" if status == 204 else json.dumps(answer).encode()
        self.send_response(status)
        problem = status >= 400 and "type" in answer
        self.send_header("Content-Type",
                         "application/problem+json" if problem else "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        # The client may have given up waiting (timeout fault).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = _respond

    def log_message(self, format: str, *args: Any) -> None:
        del format, args
