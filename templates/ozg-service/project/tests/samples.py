"""Valid answers for any form definition, used by the tests and the benchmark."""

from __future__ import annotations

import datetime as dt
import struct
import zlib

from app.forms import Field, FormDefinition


def sample_value(field: Field, today: dt.date | None = None) -> str:
    """A valid answer for *field*, derived from its definition."""
    today = today or dt.date.today()
    if field.type == "email":
        return "erika.mustermann@example.org"
    if field.type == "postcode":
        return "86150"
    if field.type == "date":
        if field.min_date == "today":
            return (today + dt.timedelta(days=7)).strftime("%d.%m.%Y")
        if field.max_date == "today":
            return "27.03.1985"
        return today.strftime("%d.%m.%Y")
    if field.type == "number":
        return str(field.min if field.min is not None else 1)
    if field.type in {"select", "radio"}:
        return field.options[0].value
    if field.type == "checkbox":
        return "yes"
    if field.type == "file":
        return ""  # the server fills it in from the files uploaded (see sample_files)
    text = "Beispieltext mit Umlauten: äöü ß" if field.type == "textarea" else "Beispiel"
    return text[: field.max_length] if field.max_length else text


def valid_answers(definition: FormDefinition) -> dict[str, dict[str, str]]:
    return {page.id: {field.name: sample_value(field) for field in page.fields}
            for page in definition.pages}


def sample_pdf(text: str = "Nachweis") -> bytes:
    """A small, well-formed one-page PDF showing *text* (ASCII)."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def sample_png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG of *width* x *height* white pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    rows = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def sample_files(field: Field) -> list[tuple[str, bytes, str]]:
    """Files a file field accepts: (name, content, content type), as a browser sends them."""
    if "pdf" in field.accept:
        return [("nachweis.pdf", sample_pdf(), "application/pdf")]
    return [("foto.png", sample_png(), "image/png")]
