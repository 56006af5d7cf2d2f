"""Valid answers for any form definition, used by the tests and the benchmark."""

from __future__ import annotations

import datetime as dt

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
    text = "Beispieltext mit Umlauten: äöü ß" if field.type == "textarea" else "Beispiel"
    return text[: field.max_length] if field.max_length else text


def valid_answers(definition: FormDefinition) -> dict[str, dict[str, str]]:
    return {page.id: {field.name: sample_value(field) for field in page.fields}
            for page in definition.pages}
