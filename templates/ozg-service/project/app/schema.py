"""The JSON Schema (draft 2020-12) of the application data, derived from form.toml.

The data delivered for an application is one flat JSON object, field name → string, exactly as
:func:`app.main._form_values` collects it: every field of the form is present, an unanswered
optional field is ``""``, a date is ``YYYY-MM-DD``, a number its decimal digits, a ticked
checkbox ``"yes"``; a file field is the list of its files' attachment ids (the files travel as
attachments). The schema says precisely that, field by field, so that the receiving office
(and FIT-Connect's ``submissionSchema``) can check a submission without knowing this service.

What JSON Schema cannot say is left to the form's own validation and named in the field's
``description``: date limits relative to today, and the range of a number kept as a string.
The service serves the schema at ``GET /schema/<form_id>.json`` (:data:`SCHEMA_PATH`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from .forms import CHECKED, Field, FormDefinition

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_PATH = "/schema/{form_id}.json"
NUMBER = r"^-?[0-9]{1,12}$"  # as validate_field stores it: str(int(value))
POSTCODE = r"^[0-9]{5}$"
DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def schema_uri(public_url: str, form_id: str) -> str:
    """Where the schema of *form_id* is served; a URN when the public address is unknown."""
    if not public_url:
        return f"urn:kommunal-kit:form:{form_id}"
    return public_url.rstrip("/") + SCHEMA_PATH.format(form_id=form_id)


def service_schema(form: FormDefinition, service: Mapping[str, Any],
                   public_url: str) -> tuple[str, dict[str, Any]]:
    """The path the service serves its schema at and the schema, for service.toml's form_id."""
    form_id = str(service.get("form_id") or "antrag")
    return SCHEMA_PATH.format(form_id=form_id), submission_schema(
        form, form_id=form_id, schema_id=schema_uri(public_url, form_id))


def _label(field: Field) -> str:
    return str(field.label.get("de", field.name))


def _answer(field: Field) -> dict[str, Any]:
    """The constraints on a non-empty answer to *field*."""
    notes: list[str] = []
    rule: dict[str, Any] = {"type": "string", "minLength": 1}
    if field.max_length is not None:
        rule["maxLength"] = field.max_length
    if field.type == "email":
        rule["format"] = "email"
    elif field.type == "postcode":
        rule["pattern"] = POSTCODE
    elif field.type == "date":
        rule.update(format="date", pattern=DATE)
        if field.min_date:
            notes.append(f"frühestens {field.min_date}")
        if field.max_date:
            notes.append(f"spätestens {field.max_date}")
    elif field.type == "number":
        rule["pattern"] = NUMBER
        if field.min is not None:
            notes.append(f"mindestens {field.min}")
        if field.max is not None:
            notes.append(f"höchstens {field.max}")
    elif field.type in {"select", "radio"}:
        rule = {"enum": [option.value for option in field.options]}
    elif field.type == "checkbox":
        rule = {"const": CHECKED}
    if notes:
        rule["description"] = "Vom Formular geprüft: " + ", ".join(notes)
    return rule


def _files(field: Field) -> dict[str, Any]:
    """A file field: the attachment ids of its files (FIT-Connect ``attachmentId``)."""
    return {"title": _label(field), "type": "array",
            "items": {"type": "string", "format": "uuid"},
            "minItems": 1 if field.required else 0, "maxItems": field.max_files,
            "uniqueItems": True,
            "description": "Die Dateien sind als Anlagen übermittelt, je mit dieser attachmentId."}


def field_schema(field: Field) -> dict[str, Any]:
    """The schema of one field's value: its answer, or ``""`` when the field is optional."""
    if field.type == "file":
        return _files(field)
    answer = _answer(field)
    schema: dict[str, Any] = {"title": _label(field)}
    if field.required:
        schema.update(answer)
    else:
        schema["anyOf"] = [{"const": ""}, answer]
    return schema


def submission_schema(form: FormDefinition, *, form_id: str = "antrag",
                      schema_id: str = "") -> dict[str, Any]:
    """The JSON Schema of the data of an application made with *form*.

    Args:
        form: the parsed form.toml.
        form_id: service.toml ``form_id``, part of the title.
        schema_id: the schema's ``$id`` (see :func:`schema_uri`); none when empty.
    """
    fields = [field for page in form.pages for field in page.fields]
    schema: dict[str, Any] = {"$schema": DIALECT}
    if schema_id:
        schema["$id"] = schema_id
    schema.update({
        "title": f"{form.title.get('de', 'Antrag')} ({form_id})",
        "type": "object",
        "properties": {field.name: field_schema(field) for field in fields},
        "required": [field.name for field in fields],
        "additionalProperties": False,
    })
    return schema


def schema_errors(schema: Mapping[str, Any], data: Any, *, limit: int = 5) -> list[str]:
    """Where *data* breaks *schema*: JSON paths and the failed keyword, never the values.

    Values are left out because an error message is logged and stored, and the data are a
    citizen's personal data.
    """
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    problems = sorted(validator.iter_errors(data), key=lambda error: list(error.path))
    return [f"{error.json_path} ({error.validator})" for error in problems[:limit]]
