"""Where the kit keeps its own state: configuration, the municipality registry, caches.

``KIT_HOME`` overrides everything (tests use it); otherwise the XDG base directories apply.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from ._errors import UserError

APP = "kommunal-kit"


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


def kit_home() -> Path | None:
    value = os.environ.get("KIT_HOME")
    return Path(value) if value else None


def config_dir() -> Path:
    home = kit_home()
    return home / "config" if home else _xdg("XDG_CONFIG_HOME", ".config") / APP


def data_dir() -> Path:
    home = kit_home()
    return home / "data" if home else _xdg("XDG_DATA_HOME", ".local/share") / APP


def cache_dir() -> Path:
    home = kit_home()
    return home / "cache" if home else _xdg("XDG_CACHE_HOME", ".cache") / APP


def config_file() -> Path:
    return config_dir() / "config.toml"


def load_config() -> dict[str, object]:
    """Read the user's kit configuration (``config.toml``); empty when there is none."""
    path = config_file()
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise UserError(f"kit configuration {path} is unreadable ({error}); fix or remove it") from error
