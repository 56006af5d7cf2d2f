"""Evidence the citizen uploads (form.toml fields of ``type = "file"``): what is accepted.

A file is judged by its content, never by its name or the browser's Content-Type: the first
bytes must be those of an allowed type (PDF, JPEG, PNG), the name must end as that type does,
and the content must look complete (a PDF ends with ``%%EOF``, a PNG starts with its header
chunk and declares sane dimensions, a JPEG ends with its end-of-image marker). Anything else,
a ZIP or an executable renamed ``.pdf`` included, is refused before anything is stored.

Size is checked while reading: never more than the field's limit plus one byte is read into
memory. Accepted files are stored sealed with the draft (:meth:`app.store.Store.add_upload`)
and delivered as attachments; see docs/delivery.md.
"""

from __future__ import annotations

import re
import struct
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

MAX_NAME_LENGTH = 120
# Larger images are no evidence a person took with a camera, but a decompression bomb.
MAX_IMAGE_PIXELS = 100_000_000
NAME_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass(frozen=True)
class FileType:
    key: str  # as written in form.toml's accept
    mime: str
    suffixes: tuple[str, ...]
    label: str  # as named to the citizen


FILE_TYPES: Mapping[str, FileType] = {
    "pdf": FileType("pdf", "application/pdf", (".pdf",), "PDF"),
    "jpeg": FileType("jpeg", "image/jpeg", (".jpg", ".jpeg"), "JPG"),
    "png": FileType("png", "image/png", (".png",), "PNG"),
}


class UploadRefused(Exception):
    """A file is not accepted; *key* names the catalogue message, *params* its values."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class Readable(Protocol):
    async def read(self, size: int = -1) -> bytes: ...


def sniff(head: bytes) -> FileType | None:
    """The type the first bytes belong to, or None for anything not accepted anywhere."""
    if head.startswith(b"%PDF-"):
        return FILE_TYPES["pdf"]
    if head.startswith(b"\xff\xd8\xff"):
        return FILE_TYPES["jpeg"]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return FILE_TYPES["png"]
    return None


def clean_name(raw: str) -> str:
    """The file name as shown and delivered; refuses names no browser sends for a real file."""
    name = unicodedata.normalize("NFC", raw.strip())
    if not name or NAME_FORBIDDEN.search(name) or name in {".", ".."}:
        raise UploadRefused("error.file_name")
    if len(name) > MAX_NAME_LENGTH:
        raise UploadRefused("error.file_name_long", max=MAX_NAME_LENGTH)
    return name


async def read_limited(upload: Readable, limit: int, size: int | None = None) -> bytes:
    """The file's content, never more than *limit* + 1 bytes read; refused when larger. A
    *size* known beforehand (the multipart parser's) refuses it without reading at all."""
    if size is not None and size > limit:
        raise UploadRefused("error.file_too_large", size=format_size(limit))
    content = await upload.read(limit + 1)
    if len(content) > limit:
        raise UploadRefused("error.file_too_large", size=format_size(limit))
    return content


def check_content(name: str, data: bytes, accept: tuple[str, ...]) -> FileType:
    """The type of *data*, when it is one of *accept*, named like it and looks complete."""
    allowed = tuple(FILE_TYPES[key].label for key in accept)  # joined with "oder" when shown
    if not data:
        raise UploadRefused("error.file_empty")
    found = sniff(data[:16])
    if found is None or found.key not in accept:
        raise UploadRefused("error.file_type", types=allowed)
    if not name.lower().endswith(found.suffixes):
        raise UploadRefused("error.file_suffix", type=found.label, suffix=found.suffixes[0])
    if not _complete(found, data):
        raise UploadRefused("error.file_damaged", type=found.label)
    return found


def _complete(found: FileType, data: bytes) -> bool:
    if found.key == "pdf":
        return b"%%EOF" in data[-1024:]
    if found.key == "png":
        # The first chunk is IHDR: length 13, then width and height (big-endian).
        if len(data) < 33 or data[12:16] != b"IHDR":
            return False
        width, height = struct.unpack(">II", data[16:24])
        return 0 < width * height <= MAX_IMAGE_PIXELS
    return data.rstrip(b"\x00").endswith(b"\xff\xd9")  # JPEG: end of image


def format_size(size: int, lang: str = "de") -> str:
    """``2,4 MB``, ``380 KB``: as a person reads sizes (decimal units, as file managers do)."""
    if size >= 1_000_000:
        text = f"{size / 1_000_000:.1f} MB"
    elif size >= 1000:
        text = f"{round(size / 1000)} KB"
    else:
        text = f"{size} Bytes" if lang == "de" else f"{size} bytes"
    return text.replace(".", ",") if lang == "de" else text


def accept_attribute(accept: tuple[str, ...]) -> str:
    """The HTML ``accept`` attribute: a hint for the browser's file dialog, nothing more."""
    types = [FILE_TYPES[key] for key in accept]
    return ",".join([*(s for t in types for s in t.suffixes), *(t.mime for t in types)])
