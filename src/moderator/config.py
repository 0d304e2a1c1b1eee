"""Every setting, declared once: name, environment variable, default and help.

Settings are read from ``MODERATOR_*`` environment variables (``DATABASE_URL`` for the database).
``Settings.from_env()`` builds the effective values; ``SETTINGS`` is the table the README documents
(``tests/test_docs.py`` fails when one is missing there).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "MODERATOR_DATA_DIR", str(PROJECT_ROOT.parent / "shared" / "data"),
            "Directory holding the labelled corpora (read in place, never copied)."),
    Setting("model", "MODERATOR_MODEL", "",
            "Path of the model artifact to serve; empty means the default in models/ (models/DEFAULT)."),
    Setting("home", "MODERATOR_HOME", "./var",
            "Directory for local state: the SQLite database, the secret key."),
)


def env_value(name: str) -> Any:
    """The effective value of one setting (environment first, then its default)."""
    for s in SETTINGS:
        if s.name == name:
            raw = os.environ.get(s.env)
            if raw is None or raw == "":
                return s.default
            return s.parse(raw)
    raise KeyError(name)


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The corpora directory: an explicit override, else ``MODERATOR_DATA_DIR``, else ``../shared/data``."""
    return Path(override) if override else Path(env_value("data_dir"))


__all__ = ["PROJECT_ROOT", "SETTINGS", "Setting", "_bool", "data_dir", "env_value"]
