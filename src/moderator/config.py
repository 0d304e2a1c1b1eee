"""Every setting, declared once: name, environment variable, default and help.

Settings are read from ``MODERATOR_*`` environment variables (``DATABASE_URL`` for the database).
``Settings.from_env()`` builds the effective values; ``SETTINGS`` is the table the README documents
(``tests/test_docs.py`` fails when one is missing there).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moderator import CATEGORIES

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
    # --- service (issue #3): app.py, policy.py, service_commands.py
    Setting("database_url", "DATABASE_URL", "",
            "SQLAlchemy URL of the service database; empty means SQLite $MODERATOR_HOME/moderator.db "
            "(postgresql+psycopg://user@host/db for PostgreSQL)."),
    Setting("policy_mode", "MODERATOR_POLICY_MODE", "premoderation",
            "premoderation (every comment is held for a moderator) or postmoderation "
            "(clean comments publish at once)."),
    Setting("policy_file", "MODERATOR_POLICY_FILE", "",
            "JSON or TOML policy file (mode, thresholds, reject, duplicate_action, rate_limit_action); "
            "environment variables override it."),
    *(Setting(f"threshold_{c}", f"MODERATOR_THRESHOLD_{c.upper()}", "",
              f"Flag threshold for {c}; empty means the model's own threshold.") for c in CATEGORIES),
    *(Setting(f"reject_{c}", f"MODERATOR_REJECT_{c.upper()}", "",
              f"Automatic-reject threshold for {c}; empty means off.") for c in CATEGORIES),
    Setting("duplicate_action", "MODERATOR_DUPLICATE_ACTION", "hold",
            "What happens to a duplicate or flood comment: hold (queued with the reason) or reject."),
    Setting("rate_limit_action", "MODERATOR_RATE_LIMIT_ACTION", "reject",
            "An author over the rate limit: reject (429 with Retry-After, nothing stored) or hold."),
    Setting("max_text_chars", "MODERATOR_MAX_TEXT_CHARS", 20000,
            "Longest accepted comment text, in characters.", int),
    Setting("max_content_length", "MODERATOR_MAX_CONTENT_LENGTH", 1048576,
            "Largest accepted request body, in bytes (Flask MAX_CONTENT_LENGTH).", int),
    Setting("claim_ttl", "MODERATOR_CLAIM_TTL", 600,
            "Seconds a moderator's claim on a queue item lasts.", int),
    Setting("bind", "MODERATOR_BIND", "127.0.0.1:8000", "Address `moderator serve` listens on (HOST:PORT)."),
    Setting("workers", "MODERATOR_WORKERS", 2,
            "Number of gunicorn worker processes of `moderator serve`.", int),
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
