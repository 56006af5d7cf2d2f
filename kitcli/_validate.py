"""Validators for answers, applied before anything is written.

Each validator takes the field name and value and raises :class:`InvalidValue` with a message
that says what is wrong and what is expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ._errors import InvalidValue, UncleanAnswer

AGS_RE = re.compile(r"^\d{8}$", re.ASCII)
BAVARIAN_AGS_RE = re.compile(r"^09[1-7]\d{5}$", re.ASCII)
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
EMAIL_RE = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"']+\.[A-Za-z]{2,}$")
URL_RE = re.compile(r"^https?://[^\s/?#<>\"']+\.[^\s/?#<>\"']+(?:[/?#][^\s<>\"]*)?$")
LEIKA_RE = re.compile(r"^\d{14}$", re.ASCII)
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
POSTCODE_RE = re.compile(r"^\d{5}$", re.ASCII)
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
JINJA_RE = re.compile(r"\{\{|\{%|\{#|%\}|\}\}")
# C0 and C1 control characters, DEL, the line and paragraph separators (YAML reads them as line
# breaks) and the bidirectional controls that can make a text read differently than it is stored.
UNCLEAN_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_NAMES = {0: "NUL", 9: "TAB", 10: "a line break", 13: "CR", 27: "ESC", 127: "DEL"}

LICENSES = ("EUPL-1.2", "MIT", "Apache-2.0")
MIN_CONTRAST = 4.5


def ags(field: str, value: str) -> str:
    """Check an Amtlicher Gemeindeschlüssel: eight digits, Bavarian (``091…`` to ``097…``)."""
    if not AGS_RE.fullmatch(value):
        raise InvalidValue(field=field, value=value, reason="is no AGS: expected 8 digits, e.g. 09761000")
    if not BAVARIAN_AGS_RE.fullmatch(value):
        raise InvalidValue(
            field=field,
            value=value,
            reason="is not a Bavarian AGS: Bavarian keys start with 091 to 097, e.g. 09761000",
        )
    return value


@dataclass(frozen=True)
class Pattern:
    """A validator that a value must match *regex*; empty values pass unless *required*."""

    regex: re.Pattern[str]
    reason: str
    required: bool = False

    def __call__(self, field: str, value: str) -> str:
        if (value or self.required) and not self.regex.fullmatch(value):
            raise InvalidValue(field=field, value=value, reason=self.reason)
        return value


slug = Pattern(SLUG_RE, "is no valid slug: use lower-case letters, digits and '-' (no '/', '..' or spaces)", True)
email = Pattern(EMAIL_RE, "is no e-mail address, e.g. info@augsburg.de")
url = Pattern(URL_RE, "is no http(s) URL, e.g. https://www.augsburg.de")
leika = Pattern(LEIKA_RE, "is no LeiKa key: expected exactly 14 digits")
uuid = Pattern(UUID_RE, "is no UUID (FIT-Connect destination)")
postcode = Pattern(POSTCODE_RE, "is no German postcode: expected 5 digits")
color = Pattern(COLOR_RE, "is no colour: expected #rrggbb, e.g. #005a9c", True)
date = Pattern(DATE_RE, "is no date: expected YYYY-MM-DD, e.g. 2030-12-31")


def license_id(field: str, value: str) -> str:
    if value not in LICENSES:
        raise InvalidValue(
            field=field, value=value, reason=f"is no offered licence: choose one of {', '.join(LICENSES)}"
        )
    return value


def no_jinja(field: str, value: str) -> str:
    """Refuse template syntax in answers, so no answer is ever evaluated."""
    if JINJA_RE.search(value):
        raise InvalidValue(
            field=field,
            value=value,
            reason="contains template syntax ('{{', '{%', '{#'); answers are data, remove it",
        )
    return value


def _character(char: str) -> str:
    code = ord(char)
    name = _CONTROL_NAMES.get(code)
    return f"U+{code:04X}" + (f" ({name})" if name else "")


def clean_text(answers: Mapping[str, object], *, source: str, multiline: frozenset[str] = frozenset()) -> None:
    """Refuse control characters in answers from *source* (``--data``, a file, a profile...).

    A newline is allowed only in the questions named in *multiline*; no answer may make a
    generated TOML or YAML file unparseable, or a text file binary.
    """
    for field, value in answers.items():
        if not isinstance(value, str):
            continue
        for match in UNCLEAN_RE.finditer(value):
            if match.group() == "\n" and field in multiline:
                continue
            raise UncleanAnswer(question=field, value=value, source=source, character=_character(match.group()))


def _luminance(hex_color: str) -> float:
    channels = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2.1 contrast ratio of two ``#rrggbb`` colours."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def theme_contrast(background: str, foreground: str) -> None:
    ratio = contrast_ratio(background, foreground)
    if ratio < MIN_CONTRAST:
        raise InvalidValue(
            field="theme_primary_color",
            value=background,
            reason=(
                f"has a contrast of {ratio:.2f}:1 with its text colour {foreground!r}; "
                f"WCAG AA needs at least {MIN_CONTRAST}:1, choose a darker or lighter colour"
            ),
        )


Validator = Callable[[str, str], str]

# Answer names the kit validates beyond Copier's own validators. Unlisted string answers are
# checked for template syntax only.
FIELD_VALIDATORS: Mapping[str, Validator] = {
    "municipality_ags": lambda f, v: ags(f, v) if v else v,
    "project_slug": slug,
    "municipality_id": lambda f, v: slug(f, v) if v else v,
    "municipality_email": email,
    "maintainer_email": email,
    "dpo_email": email,
    "accessibility_contact_email": email,
    "municipality_website": url,
    "municipality_organisation_uri": url,
    "repository_url": url,
    "municipality_postcode": postcode,
    "leika_key": leika,
    "fit_connect_destination": uuid,
    "license": license_id,
    "maintenance_until": date,
    "theme_primary_color": color,
    "theme_on_primary_color": color,
}


def validate_answers(answers: Mapping[str, object]) -> None:
    """Validate every answer the kit knows a rule for; raise on the first bad one."""
    for field, value in answers.items():
        if not isinstance(value, str):
            continue
        no_jinja(field, value)
        validator = FIELD_VALIDATORS.get(field)
        if validator is not None:
            validator(field, value)
    primary = answers.get("theme_primary_color")
    on_primary = answers.get("theme_on_primary_color")
    if isinstance(primary, str) and isinstance(on_primary, str):
        theme_contrast(primary, on_primary)
