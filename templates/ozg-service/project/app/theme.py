"""Colours from kommune.toml, checked for contrast and served as CSS custom properties.

The stylesheet app/static/app.css is the same for every municipality; only the few custom
properties built here differ.
"""

from __future__ import annotations

import re

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
MIN_CONTRAST = 4.5
DEFAULT_PRIMARY = "#1f4e79"
DEFAULT_ON_PRIMARY = "#ffffff"
# Backgrounds that links are shown on (page body and footer, see app.css).
LINK_BACKGROUNDS = ("#ffffff", "#f3f2f1")
FALLBACK_LINK = "#0b0c0c"


def relative_luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of a ``#rrggbb`` colour."""
    channels = []
    for start in (1, 3, 5):
        c = int(colour[start : start + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    red, green, blue = channels
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2.1 contrast ratio of two ``#rrggbb`` colours (1.0 to 21.0)."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def theme_problems(primary: str, on_primary: str) -> list[str]:
    """Why the two colours cannot be used, in German; empty when they can."""
    problems = [
        f"Farbe {value!r} ({name}) ist keine Hexfarbe wie #1f4e79."
        for name, value in (("theme.primary", primary), ("theme.on_primary", on_primary))
        if not HEX_COLOUR.match(value)
    ]
    if problems:
        return problems
    ratio = contrast_ratio(primary, on_primary)
    if ratio < MIN_CONTRAST:
        problems.append(
            f"Zu wenig Kontrast: Hauptfarbe {primary} und Textfarbe {on_primary} haben "
            f"{ratio:.2f}:1, nötig sind mindestens {MIN_CONTRAST}:1."
        )
    return problems


def _link_colour(primary: str, on_primary: str) -> str:
    for candidate in (primary, on_primary):
        if all(contrast_ratio(candidate, bg) >= MIN_CONTRAST for bg in LINK_BACKGROUNDS):
            return candidate
    return FALLBACK_LINK


def theme_css(primary: str, on_primary: str) -> str:
    """The custom properties for app.css; unusable colours fall back to the defaults."""
    if theme_problems(primary, on_primary):
        primary, on_primary = DEFAULT_PRIMARY, DEFAULT_ON_PRIMARY
    return (
        ":root{"
        f"--color-primary:{primary.lower()};"
        f"--color-on-primary:{on_primary.lower()};"
        f"--color-link:{_link_colour(primary, on_primary).lower()};"
        "}\n"
    )
