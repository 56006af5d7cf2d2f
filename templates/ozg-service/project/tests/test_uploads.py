"""File uploads (form.toml ``type = "file"``): what is accepted, what is refused, and where the
files go: sealed with the draft, listed on check answers, delivered beside the application.

The form is tests/data/upload_form.toml (20 KB per file, 60 KB per application), so that the
limits can be crossed quickly; one test uses the default 10 MB.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.forms import DEFAULT_MAX_SIZE, parse_form
from app.main import upload_limits
from app.settings import Settings
from app.uploads import UploadRefused, check_content, clean_name, format_size
from tests.conftest import DATA, csrf, make_client, run_worker
from tests.samples import sample_pdf, sample_png

PDF = sample_pdf("Bauplan")
PNG = sample_png()
Files = list[tuple[str, tuple[str, bytes, str]]]


@pytest.fixture
def upload_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, form_file=DATA / "upload_form.toml")


@pytest.fixture
def client(upload_settings: Settings) -> Iterator[TestClient]:
    with make_client(upload_settings) as test_client:
        yield test_client


def begin(client: TestClient) -> str:
    """Answer the first page; the session's CSRF token."""
    token = csrf(client.get("/antrag/angaben").text)
    response = client.post("/antrag/angaben", data={"name": "Jürgen Groß", "csrf_token": token},
                           follow_redirects=False)
    assert response.status_code == 303
    return token


def send(client: TestClient, token: str, files: Files, **data: str) -> Any:
    return client.post("/antrag/nachweise", data={"csrf_token": token, **data}, files=files,
                       follow_redirects=False)


def ausweis(name: str = "ausweis.pdf", content: bytes = PDF,
            mime: str = "application/pdf") -> tuple[str, tuple[str, bytes, str]]:
    return ("ausweis", (name, content, mime))


def uploads_in_database(client: TestClient) -> list[bytes]:
    svc = client.app.state.service  # type: ignore[attr-defined]
    with sqlite3.connect(svc.store.path) as connection:
        return [bytes(row[0]) for row in connection.execute("SELECT content FROM uploads")]


def error_text(html: str) -> str:
    found = re.findall(r'class="error-message">.*?</span>\s*([^<]+)</p>', html, re.S)
    assert found, "no error message on the page"
    return found[0].strip()


# -- the page ------------------------------------------------------------------------------------


def test_a_file_page_takes_multipart_and_says_what_is_allowed(client: TestClient) -> None:
    begin(client)
    html = client.get("/antrag/nachweise").text
    assert 'enctype="multipart/form-data"' in html
    assert ('type="file" id="f-ausweis" name="ausweis" '
            'accept=".pdf,.png,application/pdf,image/png"') in html
    assert "PDF oder PNG, höchstens 20 KB." in html
    assert "PDF, JPG oder PNG, höchstens 20 KB je Datei, bis zu 5 Dateien." in html
    assert re.search(r'id="f-plaene"[^>]*\smultiple', html)
    assert 'aria-describedby="f-ausweis-hint"' in html


def test_a_valid_file_is_stored_sealed_and_listed_on_check_answers(client: TestClient) -> None:
    token = begin(client)
    response = send(client, token, [ausweis("Ausweis Müller.pdf")])
    assert response.status_code == 303
    assert response.headers["location"] == "/antrag/pruefen"
    stored = uploads_in_database(client)
    assert len(stored) == 1
    assert b"Bauplan" not in stored[0]  # sealed, not plain
    assert b"%PDF" not in stored[0]
    html = client.get("/antrag/pruefen").text
    assert "Ausweis Müller.pdf" in html
    assert f"({format_size(len(PDF))})" in html
    assert "Entfernen<span class=\"visually-hidden\"> Ausweis Müller.pdf</span>" in html


def test_several_files_at_once_and_a_submitted_application_delivers_them(
    client: TestClient, upload_settings: Settings
) -> None:
    token = begin(client)
    files = [ausweis(), ("plaene", ("lageplan.png", PNG, "image/png")),
             ("plaene", ("grundriss.pdf", PDF, "application/pdf"))]
    assert send(client, token, files).status_code == 303
    response = client.post("/antrag/pruefen", data={"csrf_token": token})
    assert response.status_code == 200
    assert uploads_in_database(client) == []  # moved into the sealed outbox payload
    report = run_worker(client)
    assert report.delivered == 1
    outbox = upload_settings.outbox_dir
    (document,) = [path for path in outbox.iterdir() if path.suffix == ".json"]
    envelope = json.loads(document.read_text(encoding="utf-8"))
    listed = {item["filename"]: item for item in envelope["attachments"]}
    assert sorted(listed) == ["ausweis.pdf", "grundriss.pdf", "lageplan.png"]
    assert envelope["data"]["ausweis"] == [listed["ausweis.pdf"]["id"]]
    assert envelope["data"]["plaene"] == [listed["lageplan.png"]["id"],
                                          listed["grundriss.pdf"]["id"]]
    beside = outbox / f"{document.stem}.{listed['lageplan.png']['id']}.png"
    assert beside.read_bytes() == PNG
    assert listed["lageplan.png"]["description"] == "Pläne"
    schema = client.get("/schema/antrag.json").json()
    assert schema["properties"]["plaene"]["maxItems"] == 5


def test_a_file_can_be_removed_on_check_answers_and_on_its_page(client: TestClient) -> None:
    token = begin(client)
    send(client, token, [ausweis(), ("plaene", ("a.png", PNG, "image/png")),
                         ("plaene", ("b.png", PNG, "image/png"))])
    html = client.get("/antrag/pruefen").text
    first = re.search(r'name="remove" value="([0-9a-f-]{36})">Entfernen<span '
                      r'class="visually-hidden"> a.png', html)
    assert first
    response = client.post("/antrag/dateien/entfernen", data={
        "csrf_token": token, "remove": first[1], "return": "/antrag/pruefen"},
        follow_redirects=False)
    assert response.headers["location"] == "/antrag/pruefen"
    html = client.get("/antrag/pruefen").text
    assert "a.png" not in html
    assert "b.png" in html
    assert len(uploads_in_database(client)) == 2
    # On the page itself: the button belongs to the separate form, never to "Weiter".
    page = client.get("/antrag/nachweise").text
    assert re.search(r'<button type="submit" class="button button--secondary button--small" '
                     r'form="remove-files" name="remove"', page)
    assert page.index('<form id="remove-files"') > page.index('>Weiter</button>')
    ausweis_id = re.search(r'value="([0-9a-f-]{36})">Entfernen<span class="visually-hidden"> '
                           r'ausweis.pdf', page)
    assert ausweis_id
    response = client.post("/antrag/dateien/entfernen", data={
        "csrf_token": token, "remove": ausweis_id[1], "return": "/antrag/nachweise"},
        follow_redirects=False)
    assert response.headers["location"] == "/antrag/nachweise"
    # The required file is gone: check answers sends the citizen back to choose one.
    assert client.get("/antrag/pruefen", follow_redirects=False).headers["location"] == (
        "/antrag/nachweise")


def test_removing_needs_the_session_and_goes_nowhere_else(client: TestClient) -> None:
    token = begin(client)
    send(client, token, [ausweis()])
    response = client.post("/antrag/dateien/entfernen", data={
        "csrf_token": "0" * 64, "remove": "x"}, follow_redirects=False)
    assert response.status_code == 403
    response = client.post("/antrag/dateien/entfernen", data={
        "csrf_token": token, "remove": "unknown", "return": "https://evil.example/"},
        follow_redirects=False)
    assert response.headers["location"] == "/antrag/pruefen"
    assert len(uploads_in_database(client)) == 1


def test_a_file_stays_when_another_field_of_the_page_is_wrong(settings: Settings,
                                                                tmp_path: Path) -> None:
    form = tmp_path / "form.toml"
    form.write_text((DATA / "upload_form.toml").read_text(encoding="utf-8") + """
[[pages.fields]]
name = "bemerkung"
type = "text"
label = { de = "Bemerkung", en = "Note" }
""", encoding="utf-8")
    with make_client(dataclasses.replace(settings, form_file=form)) as client:
        token = begin(client)
        response = send(client, token, [ausweis()], bemerkung="")
        assert response.status_code == 422
        assert "Bitte geben Sie „Bemerkung“ an." in response.text
        assert "ausweis.pdf" in response.text  # listed, not to be chosen again
        assert send(client, token, [], bemerkung="ok").status_code == 303


def test_a_required_file_field_needs_a_file(client: TestClient) -> None:
    token = begin(client)
    response = send(client, token, [("ausweis", ("", b"", "application/octet-stream"))])
    assert response.status_code == 422
    assert error_text(response.text) == "Bitte wählen Sie bei „Personalausweis“ eine Datei aus."
    assert '<a href="#f-ausweis">' in response.text


def test_english_messages(client: TestClient) -> None:
    token = begin(client)
    response = client.post("/antrag/nachweise?lang=en", data={"csrf_token": token},
                           files=[ausweis("a.pdf", b"")])
    assert error_text(response.text) == "The file “a.pdf” is empty. Choose another file."


# -- bad input: a clear message or a 4xx, nothing stored, the service keeps answering -----------

ZIP = io.BytesIO()
with zipfile.ZipFile(ZIP, "w", zipfile.ZIP_DEFLATED) as archive:
    archive.writestr("bomb.bin", b"\0" * 20_000_000)  # 20 MB of zeros, about 20 KB packed

BAD_FILES = {
    "empty": (ausweis("leer.pdf", b""), "Die Datei „leer.pdf“ ist leer."),
    "one byte over": (ausweis("gross.pdf", PDF + b"\0" * (20_000 - len(PDF) + 1)),
                      "Die Datei „gross.pdf“ ist größer als 20 KB."),
    "pdf named png": (ausweis("bild.png", PDF, "image/png"),
                      "Die Datei „bild.png“ ist ein PDF, ihr Name endet aber nicht auf .pdf."),
    "png named pdf": (ausweis("scan.pdf", PNG), "Die Datei „scan.pdf“ ist ein PNG, ihr Name "
                                                "endet aber nicht auf .png."),
    "jpeg not accepted here": (ausweis("foto.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 100 + b"\xff\xd9",
                                       "image/jpeg"),
                               "Die Datei „foto.jpg“ hat kein erlaubtes Format. Erlaubt sind PDF "
                               "oder PNG."),
    "executable named pdf": (ausweis("rechnung.pdf", b"MZ\x90\x00" + b"\0" * 500),
                             "Die Datei „rechnung.pdf“ hat kein erlaubtes Format."),
    "elf named pdf": (ausweis("tool.pdf", b"\x7fELF\x02\x01\x01" + b"\0" * 500),
                      "Die Datei „tool.pdf“ hat kein erlaubtes Format."),
    "zip bomb named pdf": (ausweis("bescheid.pdf", ZIP.getvalue()),
                           "Die Datei „bescheid.pdf“ hat kein erlaubtes Format."),
    "truncated pdf": (ausweis("halb.pdf", PDF[: len(PDF) // 2]),
                      "Die Datei „halb.pdf“ ist beschädigt oder unvollständig."),
    "png bomb": (ausweis("riesig.png", sample_png(1, 1)[:16] + (100_000).to_bytes(4, "big") * 2
                         + sample_png(1, 1)[24:]),
                 "Die Datei „riesig.png“ ist beschädigt oder unvollständig."),
    "path in name": (ausweis("../../etc/passwd.pdf"), "Der Dateiname ist ungültig."),
    "backslash path": (ausweis("..\\..\\boot.pdf"), "Der Dateiname ist ungültig."),
    "300 characters": (ausweis("a" * 296 + ".pdf"), "Der Dateiname ist zu lang (höchstens 120"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_a_bad_file_gets_a_message_and_nothing_is_stored(client: TestClient, case: str) -> None:
    file, message = BAD_FILES[case]
    token = begin(client)
    response = send(client, token, [file])
    assert response.status_code == 422
    assert error_text(response.text).startswith(message)
    assert uploads_in_database(client) == []
    assert client.get("/").status_code == 200


def test_a_raw_nul_in_a_file_name_is_refused(client: TestClient) -> None:
    """httpx escapes control characters in names; an attacker's client need not."""
    token = begin(client)
    boundary = "kit-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n"
            f"{token}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"ausweis\"; "
            f"filename=\"a\x00.pdf\"\r\nContent-Type: application/pdf\r\n\r\n").encode()
    body += PDF + f"\r\n--{boundary}--\r\n".encode()
    response = client.post("/antrag/nachweise", content=body, headers={
        "content-type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 422
    assert error_text(response.text).startswith("Der Dateiname ist ungültig.")
    assert uploads_in_database(client) == []


def test_more_files_than_allowed(client: TestClient) -> None:
    token = begin(client)
    many = [("plaene", (f"plan{i}.png", PNG, "image/png")) for i in range(100)]
    response = send(client, token, [ausweis(), *many])
    assert response.status_code == 422
    assert "Bei „Pläne“ können Sie höchstens 5 Dateien hochladen." in response.text
    assert len(uploads_in_database(client)) == 1  # the identity card; none of the plans
    response = send(client, token, [("plaene", (f"p{i}.png", PNG, "image/png"))
                                    for i in range(201)])
    assert response.status_code == 400  # more parts than any page takes: refused unread


def test_all_files_of_an_application_together_have_a_limit(client: TestClient) -> None:
    token = begin(client)
    big = PDF + b"\0" * (19_000 - len(PDF)) + b"%%EOF\n"
    response = send(client, token, [ausweis("a.pdf", big),
                                    *[("plaene", (f"{i}.pdf", big, "application/pdf"))
                                      for i in range(3)]])
    assert response.status_code == 422
    assert "Alle Dateien zusammen dürfen höchstens 60 KB groß sein." in response.text
    assert len(uploads_in_database(client)) == 3


def test_a_multipart_body_without_boundary_is_a_400(client: TestClient) -> None:
    token = begin(client)
    response = client.post("/antrag/nachweise", content=f"csrf_token={token}",
                           headers={"content-type": "multipart/form-data"})
    assert response.status_code == 400
    assert "Die Anfrage war fehlerhaft" in response.text
    assert uploads_in_database(client) == []
    assert client.get("/").status_code == 200


def test_a_file_sent_to_a_page_without_a_file_field_is_a_400(client: TestClient) -> None:
    token = begin(client)
    response = client.post("/antrag/angaben", data={"csrf_token": token, "name": "A"},
                           files=[ausweis()])
    assert response.status_code == 400
    response = client.post("/antrag/nachweise", data={"csrf_token": token},
                           files=[("name", ("x.pdf", PDF, "application/pdf"))])
    assert response.status_code == 400
    assert uploads_in_database(client) == []


def test_a_file_without_session_is_refused(client: TestClient) -> None:
    response = client.post("/antrag/nachweise", data={"csrf_token": "x"}, files=[ausweis()])
    assert response.status_code == 403
    assert uploads_in_database(client) == []


def test_a_body_above_the_page_limit_is_a_413(client: TestClient) -> None:
    token = begin(client)
    svc = client.app.state.service  # type: ignore[attr-defined]
    limit = upload_limits(svc.form, svc.settings.max_body_bytes)["/antrag/nachweise"]
    response = send(client, token, [ausweis("x.pdf", b"%PDF-" + b"\0" * limit)])
    assert response.status_code == 413
    assert uploads_in_database(client) == []
    assert client.get("/").status_code == 200


def test_the_default_limit_is_10_mb(settings: Settings) -> None:
    with make_client(settings) as client:  # the project's own form.toml
        svc = client.app.state.service  # type: ignore[attr-defined]
        page = next(p for p in svc.form.pages if any(f.type == "file" for f in p.fields))
        field = next(f for f in page.fields if f.type == "file")
        assert field.max_size == DEFAULT_MAX_SIZE == 10_000_000
        token = csrf(client.get(f"/antrag/{page.id}").text)
        exact = PDF + b"\0" * (DEFAULT_MAX_SIZE - len(PDF) - 6) + b"%%EOF\n"
        over = exact + b"\0"
        response = client.post(f"/antrag/{page.id}", data={"csrf_token": token},
                               files=[(field.name, ("gross.pdf", over, "application/pdf"))])
        assert "ist größer als 10,0 MB" in response.text
        response = client.post(f"/antrag/{page.id}", data={"csrf_token": token},
                               files=[(field.name, ("genau.pdf", exact, "application/pdf"))],
                               follow_redirects=False)
        assert response.status_code == 303
        assert "genau.pdf (10,0 MB)" in client.get(f"/antrag/{page.id}").text.replace(
            '</span> <span class="file-list__size">', " ")


def test_files_of_an_expired_draft_are_deleted(client: TestClient) -> None:
    token = begin(client)
    send(client, token, [ausweis()])
    svc = client.app.state.service  # type: ignore[attr-defined]
    assert svc.store.purge_sessions(-1) == 1
    assert uploads_in_database(client) == []


# -- the rules themselves -------------------------------------------------------------------------


def test_names_are_normalised_and_kept() -> None:
    assert clean_name("  Straße.pdf ") == "Straße.pdf"
    assert clean_name("e\u0301.pdf") == "\u00e9.pdf"  # NFC
    for bad in ("", ".", "..", "a/b.pdf", "a\\b.pdf", "a\x1f.pdf"):
        with pytest.raises(UploadRefused):
            clean_name(bad)


def test_content_decides_not_the_name() -> None:
    assert check_content("x.PDF", PDF, ("pdf",)).mime == "application/pdf"
    assert check_content("x.png", PNG, ("png",)).mime == "image/png"
    jpeg = b"\xff\xd8\xff\xe0" + b"\0" * 10 + b"\xff\xd9"
    assert check_content("x.jpeg", jpeg, ("jpeg",)).mime == "image/jpeg"
    with pytest.raises(UploadRefused) as refused:
        check_content("x.pdf", b"PK\x03\x04" + b"\0" * 40, ("pdf", "png"))
    assert refused.value.key == "error.file_type"


def test_form_toml_file_options_are_checked() -> None:
    base = {"form": {"title": "T"}, "pages": [{"id": "p", "title": "P", "fields": []}]}

    def problems(field: dict[str, Any]) -> str:
        data = json.loads(json.dumps(base))
        data["pages"][0]["fields"] = [{"name": "f", "label": "F", **field}]
        with pytest.raises(ValueError, match=r"form\.toml") as error:
            parse_form(data)
        return str(error.value)

    assert "max_size" in problems({"type": "file", "max_size": "zehn"})
    assert "accept" in problems({"type": "file", "accept": ["exe"]})
    assert "max_files gibt es nur mit multiple" in problems({"type": "file", "max_files": 3})
    assert "gibt es nur bei type = file" in problems({"type": "text", "accept": ["pdf"]})
    data = json.loads(json.dumps(base))
    data["pages"][0]["fields"] = [{"name": "f", "label": "F", "type": "file",
                                   "max_size": "2,5 MB", "multiple": True}]
    field = parse_form(data).pages[0].fields[0]
    assert (field.max_size, field.max_files, field.accept) == (2_500_000, 5,
                                                               ("pdf", "jpeg", "png"))
