"""Translations: one catalogue per language in app/locales/<lang>.toml, German first.

A project overrides single texts in service.toml under ``[texts.de]`` / ``[texts.en]`` without
touching the catalogues. Texts use ``{name}`` placeholders filled by :meth:`Translator.t`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"
LOCALES_DIR = Path(__file__).resolve().parent / "locales"


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": "x"}}`` → ``{"a.b": "x"}``."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def load_catalogue(lang: str, locales_dir: Path = LOCALES_DIR) -> dict[str, str]:
    with (locales_dir / f"{lang}.toml").open("rb") as handle:
        return flatten(tomllib.load(handle))


class _Defaults(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Translator:
    """Looks texts up by key and language; falls back to German, then to the key itself."""

    def __init__(self, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.catalogues = {lang: load_catalogue(lang) for lang in LANGUAGES}
        for lang, texts in (overrides or {}).items():
            if lang in self.catalogues and isinstance(texts, Mapping):
                self.catalogues[lang].update(flatten(texts))

    def t(self, lang: str, key: str, **params: Any) -> str:
        catalogue = self.catalogues.get(lang, self.catalogues[DEFAULT_LANGUAGE])
        text = catalogue.get(key) or self.catalogues[DEFAULT_LANGUAGE].get(key, key)
        return text.format_map(_Defaults(params)) if params else text


def pick(value: Any, lang: str) -> str:
    """A per-language value (``{de = …, en = …}``) in *lang*, falling back to German."""
    if isinstance(value, Mapping):
        return str(value.get(lang) or value.get(DEFAULT_LANGUAGE) or "")
    return "" if value is None else str(value)


def negotiate(requested: str | None) -> str:
    """The language to use for a request's ``lang`` query parameter."""
    return requested if requested in LANGUAGES else DEFAULT_LANGUAGE
