"""The application form, defined declaratively in form.toml, and the validation of its answers.

A municipality changes pages and fields in form.toml only; see the comments at the top of that file
for every supported key. Values are kept as strings: dates as ``YYYY-MM-DD``, checkboxes as
``"yes"`` or ``""``.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .uploads import FILE_TYPES

FIELD_TYPES = ("text", "textarea", "email", "postcode", "date", "number", "select", "radio",
               "checkbox", "file")
DEFAULT_MAX_LENGTH = {"text": 200, "textarea": 2000, "email": 254}
RESERVED_PAGE_IDS = ("pruefen", "bestaetigung", "absenden")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
PAGE_ID = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\".]{2,}$")
POSTCODE = re.compile(r"^[0-9]{5}$")
DATE_DE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
DATE_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
INTEGER = re.compile(r"^[+-]?\d{1,12}$")
# Control characters other than tab, line feed and carriage return never belong in an answer.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CHECKED = "yes"
FILE_TYPE_KEYS = tuple(FILE_TYPES)  # "pdf", "jpeg", "png": app/uploads.py knows their content
DEFAULT_MAX_SIZE = 10_000_000  # bytes per file
DEFAULT_MAX_FILES = 5  # with multiple = true
DEFAULT_MAX_TOTAL_SIZE = 50_000_000  # bytes per application, all files together
SIZE = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(B|KB|MB)\s*$", re.IGNORECASE)
SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1_000_000}


class FormDefinitionError(ValueError):
    """form.toml is invalid; the message lists every problem with its location."""


@dataclass(frozen=True)
class Option:
    value: str
    label: Mapping[str, str]


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    label: Mapping[str, str]
    required: bool = True
    hint: Mapping[str, str] | None = None
    max_length: int | None = None
    min: int | None = None
    max: int | None = None
    min_date: str | None = None  # "today" or YYYY-MM-DD
    max_date: str | None = None
    options: tuple[Option, ...] = ()
    autocomplete: str = ""
    width: str = ""  # "short", "medium" or "" (full)
    summary_label: Mapping[str, str] | None = None
    # type = "file": bytes per file, the accepted types, how many files
    max_size: int = DEFAULT_MAX_SIZE
    accept: tuple[str, ...] = FILE_TYPE_KEYS
    max_files: int = 1

    @property
    def input_id(self) -> str:
        """The id the error summary links to (the first option for radio groups)."""
        return f"f-{self.name}-0" if self.type == "radio" else f"f-{self.name}"

    def option_label(self, value: str, lang: str) -> str:
        for option in self.options:
            if option.value == value:
                return option.label.get(lang) or option.label.get("de", value)
        return value


@dataclass(frozen=True)
class Page:
    id: str
    title: Mapping[str, str]
    fields: tuple[Field, ...]
    intro: Mapping[str, str] | None = None


@dataclass(frozen=True)
class FormDefinition:
    title: Mapping[str, str]
    pages: tuple[Page, ...]
    sample: bool = False  # still the kit's sample form ([form] sample = true)
    max_total_size: int = DEFAULT_MAX_TOTAL_SIZE  # all uploaded files of an application

    @property
    def file_fields(self) -> tuple[Field, ...]:
        return tuple(field for page in self.pages for field in page.fields
                     if field.type == "file")

    def page(self, page_id: str) -> Page | None:
        return next((page for page in self.pages if page.id == page_id), None)

    def index(self, page_id: str) -> int:
        return next(i for i, page in enumerate(self.pages) if page.id == page_id)


@dataclass(frozen=True)
class FieldError:
    """A validation error: a catalogue key and its parameters, translated when rendered."""

    key: str
    params: Mapping[str, Any]


# --- loading -----------------------------------------------------------------------------------


def _labels(raw: Any, where: str, problems: list[str], *, required: bool = True) -> dict[str, str]:
    if raw is None and not required:
        return {}
    if isinstance(raw, str):
        return {"de": raw}
    if not isinstance(raw, Mapping) or not isinstance(raw.get("de"), str) or not raw["de"].strip():
        problems.append(f"{where}: braucht mindestens einen deutschen Text (de = \"…\")")
        return {}
    return {lang: str(text) for lang, text in raw.items()}


def _int_or_none(raw: Any, where: str, problems: list[str]) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        problems.append(f"{where}: {raw!r} ist keine ganze Zahl")
        return None
    return raw


def _date_limit(raw: Any, where: str, problems: list[str]) -> str | None:
    if raw is None:
        return None
    if raw == "today":
        return raw
    if isinstance(raw, dt.date):
        return raw.isoformat()
    if isinstance(raw, str) and DATE_ISO.match(raw):
        return raw
    problems.append(f"{where}: {raw!r} ist weder \"today\" noch ein Datum JJJJ-MM-TT")
    return None


def _size(raw: Any, where: str, problems: list[str], default: int) -> int:
    """A size as bytes (an integer) or text such as ``"10 MB"`` or ``"500 KB"``."""
    if raw is None:
        return default
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return raw
    if isinstance(raw, str) and (match := SIZE.match(raw)):
        size = int(float(match[1].replace(",", ".")) * SIZE_UNITS[match[2].lower()])
        if size > 0:
            return size
    problems.append(f"{where}: {raw!r} ist keine Größe; z. B. \"10 MB\", \"500 KB\" oder Bytes")
    return default


def _file_options(raw: Mapping[str, Any], where: str,
                  problems: list[str]) -> tuple[int, tuple[str, ...], int]:
    """max_size, accept and max_files of a file field."""
    max_size = _size(raw.get("max_size"), f"{where}: max_size", problems, DEFAULT_MAX_SIZE)
    accept = raw.get("accept", list(FILE_TYPE_KEYS))
    if (not isinstance(accept, list) or not accept
            or not all(isinstance(key, str) and key in FILE_TYPE_KEYS for key in accept)):
        problems.append(f"{where}: accept {accept!r} muss eine Liste aus "
                        + ", ".join(FILE_TYPE_KEYS) + " sein")
        accept = list(FILE_TYPE_KEYS)
    multiple = raw.get("multiple", False)
    if not isinstance(multiple, bool):
        problems.append(f"{where}: multiple {multiple!r} ist weder true noch false")
        multiple = False
    max_files = _int_or_none(raw.get("max_files"), f"{where}: max_files", problems)
    if max_files is not None and (not multiple or not 1 <= max_files <= 20):
        problems.append(f"{where}: max_files gibt es nur mit multiple = true, von 1 bis 20")
        max_files = None
    if max_files is None:
        max_files = DEFAULT_MAX_FILES if multiple else 1
    return max_size, tuple(dict.fromkeys(accept)), max_files


def _field(raw: Mapping[str, Any], where: str, problems: list[str]) -> Field | None:
    name = raw.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        problems.append(f"{where}: name {name!r} muss mit einem Kleinbuchstaben beginnen "
                        "(a-z, 0-9, _; höchstens 40 Zeichen)")
        return None
    where = f"{where} ({name})"
    field_type = raw.get("type", "text")
    if field_type not in FIELD_TYPES:
        problems.append(f"{where}: type {field_type!r} ist unbekannt; erlaubt: "
                        + ", ".join(FIELD_TYPES))
        return None
    options: list[Option] = []
    if field_type in {"select", "radio"}:
        raw_options = raw.get("options")
        if not isinstance(raw_options, list) or not raw_options:
            problems.append(f"{where}: {field_type} braucht eine Liste options")
        else:
            for j, raw_option in enumerate(raw_options):
                value = raw_option.get("value") if isinstance(raw_option, Mapping) else None
                if not isinstance(value, str) or not value:
                    problems.append(f"{where}: options[{j}] braucht value = \"…\"")
                    continue
                options.append(Option(value, _labels(raw_option.get("label"),
                                                     f"{where}: options[{j}].label", problems)))
    max_length = _int_or_none(raw.get("max_length"), f"{where}: max_length", problems)
    if max_length is None and field_type in DEFAULT_MAX_LENGTH:
        max_length = DEFAULT_MAX_LENGTH[field_type]
    hint = _labels(raw.get("hint"), f"{where}: hint", problems, required=False) or None
    if hint and field_type != "date" and any(EXAMPLE in text for text in hint.values()):
        problems.append(f"{where}: hint: {EXAMPLE} gibt es nur bei Datumsfeldern (type = date)")
    file_keys = {"max_size", "accept", "multiple", "max_files"} & set(raw)
    if file_keys and field_type != "file":
        problems.append(f"{where}: {', '.join(sorted(file_keys))} gibt es nur bei type = file")
    max_size, accept, max_files = (_file_options(raw, where, problems) if field_type == "file"
                                   else (DEFAULT_MAX_SIZE, FILE_TYPE_KEYS, 1))
    width = raw.get("width", "")
    if width not in {"", "short", "medium"}:
        problems.append(f"{where}: width {width!r} ist unbekannt; erlaubt: short, medium")
    return Field(
        name=name,
        type=field_type,
        label=_labels(raw.get("label"), f"{where}: label", problems),
        required=bool(raw.get("required", True)),
        hint=hint,
        max_length=max_length,
        min=_int_or_none(raw.get("min"), f"{where}: min", problems),
        max=_int_or_none(raw.get("max"), f"{where}: max", problems),
        min_date=_date_limit(raw.get("min_date"), f"{where}: min_date", problems),
        max_date=_date_limit(raw.get("max_date"), f"{where}: max_date", problems),
        options=tuple(options),
        autocomplete=str(raw.get("autocomplete", "")),
        width=str(width),
        summary_label=_labels(raw.get("summary_label"), f"{where}: summary_label", problems,
                              required=False) or None,
        max_size=max_size,
        accept=accept,
        max_files=max_files,
    )


def parse_form(data: Mapping[str, Any]) -> FormDefinition:
    """Build the form from parsed TOML; raise one error that lists every problem."""
    problems: list[str] = []
    title = _labels(lookup_table(data, "form").get("title"), "form.title", problems)
    pages: list[Page] = []
    seen_pages: set[str] = set()
    seen_fields: set[str] = set()
    raw_pages = data.get("pages")
    if not isinstance(raw_pages, list) or not raw_pages:
        problems.append("pages: mindestens eine Seite ([[pages]]) ist nötig")
        raw_pages = []
    for i, raw_page in enumerate(raw_pages):
        page_id = raw_page.get("id")
        where = f"pages[{i}]"
        if not isinstance(page_id, str) or not PAGE_ID.match(page_id):
            problems.append(f"{where}: id {page_id!r} muss mit einem Kleinbuchstaben beginnen "
                            "(a-z, 0-9, -)")
            continue
        if page_id in RESERVED_PAGE_IDS or page_id in seen_pages:
            problems.append(f"{where}: id {page_id!r} ist reserviert oder doppelt")
            continue
        seen_pages.add(page_id)
        fields: list[Field] = []
        raw_fields = raw_page.get("fields")
        if not isinstance(raw_fields, list) or not raw_fields:
            problems.append(
                f"{where} ({page_id}): mindestens ein Feld ([[pages.fields]]) ist nötig")
            raw_fields = []
        for j, raw_field in enumerate(raw_fields):
            field = _field(raw_field, f"{where}.fields[{j}]", problems)
            if field is None:
                continue
            if field.name in seen_fields:
                problems.append(f"{where}.fields[{j}]: name {field.name!r} kommt doppelt vor")
                continue
            seen_fields.add(field.name)
            fields.append(field)
        pages.append(Page(
            id=page_id,
            title=_labels(raw_page.get("title"), f"{where}.title", problems),
            intro=_labels(raw_page.get("intro"), f"{where}.intro", problems, required=False)
            or None,
            fields=tuple(fields),
        ))
    sample = lookup_table(data, "form").get("sample", False)
    if not isinstance(sample, bool):
        problems.append(f"form.sample: {sample!r} ist weder true noch false")
    max_total = _size(lookup_table(data, "form").get("max_total_size"), "form.max_total_size",
                      problems, DEFAULT_MAX_TOTAL_SIZE)
    if problems:
        raise FormDefinitionError("form.toml ist fehlerhaft:\n- " + "\n- ".join(problems))
    return FormDefinition(title=title, pages=tuple(pages), sample=sample is True,
                          max_total_size=max_total)


def lookup_table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def load_form(path: Path) -> FormDefinition:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise FormDefinitionError(f"{path} fehlt.") from None
    except tomllib.TOMLDecodeError as error:
        raise FormDefinitionError(f"{path} ist kein gültiges TOML: {error}") from None
    return parse_form(data)


# --- validation --------------------------------------------------------------------------------


def _resolve_date(limit: str, today: dt.date) -> dt.date:
    return today if limit == "today" else dt.date.fromisoformat(limit)


def parse_date(text: str) -> dt.date | None:
    """``27.3.2024``, ``27.03.2024`` or ``2024-03-27``; None when it is no valid date."""
    if match := DATE_DE.match(text):
        day, month, year = (int(part) for part in match.groups())
    elif match := DATE_ISO.match(text):
        year, month, day = (int(part) for part in match.groups())
    else:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


EXAMPLE = "{beispiel}"


def date_example(field: Field, today: dt.date) -> dt.date:
    """A plausible date for the field's hint, computed from *today* and its limits."""
    latest = _resolve_date(field.max_date, today) if field.max_date else None
    earliest = _resolve_date(field.min_date, today) if field.min_date else None
    if latest is not None and latest <= today and earliest is None:
        return dt.date(latest.year - 40, 3, 27)  # a date of birth, say
    example = max(earliest or today, today) + dt.timedelta(days=14)
    if latest is not None and example > latest:
        example = latest
    return example


def hint_text(field: Field, text: str, today: dt.date) -> str:
    """The hint with ``{beispiel}`` replaced by :func:`date_example` as it is typed in."""
    if EXAMPLE not in text:
        return text
    return text.replace(EXAMPLE, f"{date_example(field, today):%d.%m.%Y}")


def format_date(iso: str, lang: str) -> str:
    try:
        value = dt.date.fromisoformat(iso)
    except ValueError:
        return iso
    return value.strftime("%d.%m.%Y") if lang == "de" else value.isoformat()


def clean(raw: str) -> str:
    """Strip surrounding white space and drop control characters; normalise line ends."""
    return CONTROL.sub("", raw.replace("\r\n", "\n").replace("\r", "\n")).strip()


def validate_field(
    field: Field, raw: str, today: dt.date
) -> tuple[str, FieldError | None]:
    """The stored value for *raw* and the error, if any."""
    value = clean(raw)
    if field.type == "file":
        return _validate_files(field, value)
    if field.type == "checkbox":
        value = CHECKED if value else ""
    if not value:
        if field.required:
            key = "error.checkbox_required" if field.type == "checkbox" else (
                "error.choose" if field.type in {"select", "radio"} else "error.required")
            return "", FieldError(key, {})
        return "", None
    if field.max_length is not None and len(value) > field.max_length:
        return value, FieldError("error.too_long", {"max": field.max_length, "length": len(value)})
    if field.type == "email" and not EMAIL.match(value):
        return value, FieldError("error.email", {})
    if field.type == "postcode":
        compact = value.replace(" ", "")
        if not POSTCODE.match(compact):
            return value, FieldError("error.postcode", {})
        return compact, None
    if field.type == "number":
        if not INTEGER.match(value):
            return value, FieldError("error.number", {})
        number = int(value)
        if field.min is not None and number < field.min:
            return value, FieldError("error.number_min", {"min": field.min})
        if field.max is not None and number > field.max:
            return value, FieldError("error.number_max", {"max": field.max})
        return str(number), None
    if field.type == "date":
        date = parse_date(value)
        if date is None:
            return value, FieldError("error.date", {})
        if field.min_date and date < _resolve_date(field.min_date, today):
            key = "error.date_not_past" if field.min_date == "today" else "error.date_min"
            return value, FieldError(key, {"date": _resolve_date(field.min_date, today)})
        if field.max_date and date > _resolve_date(field.max_date, today):
            key = "error.date_not_future" if field.max_date == "today" else "error.date_max"
            return value, FieldError(key, {"date": _resolve_date(field.max_date, today)})
        return date.isoformat(), None
    if field.type in {"select", "radio"} and value not in {o.value for o in field.options}:
        return "", FieldError("error.choose", {})
    return value, None


def file_ids(value: str) -> list[str]:
    """The ids of the files a file field's answer names (the server writes it, comma-separated)."""
    return [part for part in value.split(",") if part]


def _validate_files(field: Field, value: str) -> tuple[str, FieldError | None]:
    ids = file_ids(value)
    if not ids and field.required:
        key = "error.files_required" if field.max_files > 1 else "error.file_required"
        return "", FieldError(key, {})
    if len(ids) > field.max_files:
        return ",".join(ids), FieldError("error.files_max", {"max": field.max_files})
    return ",".join(ids), None


def validate_page(
    page: Page, form: Mapping[str, str], today: dt.date | None = None
) -> tuple[dict[str, str], dict[str, FieldError]]:
    """Validate the submitted *form* for *page*: the values to keep and the errors by field."""
    today = today or dt.date.today()
    values: dict[str, str] = {}
    errors: dict[str, FieldError] = {}
    for field in page.fields:
        value, error = validate_field(field, form.get(field.name, ""), today)
        values[field.name] = value
        if error is not None:
            errors[field.name] = error
            # Redisplay exactly what was entered, so the citizen can correct it.
            values[field.name] = clean(form.get(field.name, ""))
    return values, errors


def first_invalid_page(
    definition: FormDefinition, answers: Mapping[str, Mapping[str, str]],
    today: dt.date | None = None,
) -> Page | None:
    """The first page whose stored answers are missing or no longer valid."""
    for page in definition.pages:
        stored = answers.get(page.id)
        if stored is None or validate_page(page, stored, today)[1]:
            return page
    return None
