"""The effective duplicate-detection settings, taken from :class:`moderator.config.Settings`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moderator.config import Settings


@dataclass(frozen=True)
class DedupSettings:
    """Effective duplicate-detection settings (see ``moderator.config.SETTINGS`` for the help texts);
    build them with :meth:`from_settings`."""

    backend: str = "memory"
    window_seconds: int = 86_400
    threshold: float = 0.6
    min_chars: int = 15
    flood_min_chars: int = 30
    flood_authors: int = 3
    flood_window_seconds: int = 3_600
    num_perm: int = 64
    shingle_size: int = 4
    max_entries: int = 1_000_000
    rate_limit: str = "10/60"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "moderator:dedup:"
    redis_timeout: float = 0.5
    redis_cooldown: float = 5.0
    redis_fail_mode: str = "open"
    lsh_bands: int = field(default=0)  # 0: derived from threshold and num_perm, see lsh_params()
    candidate_limit: int = 100  # ids read per fingerprint / band bucket in one look-up
    max_verify: int = 64  # exact Jaccard computations per look-up, at most

    @property
    def retention_seconds(self) -> int:
        """How long an entry must be kept: the longer of the two windows."""
        return max(self.window_seconds, self.flood_window_seconds)

    @classmethod
    def from_settings(cls, settings: Settings, overrides: Mapping[str, Any] | None = None) -> DedupSettings:
        """See :func:`from_settings`."""
        return from_settings(settings, overrides)


# setting name in moderator.config -> DedupSettings field
_SETTING_FIELDS: dict[str, str] = {
    "dup_backend": "backend",
    "dup_window_seconds": "window_seconds",
    "dup_threshold": "threshold",
    "dup_min_chars": "min_chars",
    "dup_flood_min_chars": "flood_min_chars",
    "dup_flood_authors": "flood_authors",
    "dup_flood_window_seconds": "flood_window_seconds",
    "dup_num_perm": "num_perm",
    "dup_max_entries": "max_entries",
    "rate_limit": "rate_limit",
    "redis_url": "redis_url",
    "dup_redis_prefix": "redis_prefix",
    "redis_timeout": "redis_timeout",
    "redis_cooldown": "redis_cooldown",
    "redis_fail_mode": "redis_fail_mode",
}


def from_settings(settings: Settings, overrides: Mapping[str, Any] | None = None) -> DedupSettings:
    """The duplicate-detection part of ``settings``, checked. A key of ``overrides`` named like the environment
    variable (``MODERATOR_DUP_WINDOW_SECONDS``: e.g. a test app's config) wins over the setting; a string
    value there is parsed like the variable's."""
    from moderator.config import SETTINGS

    by_name = {s.name: s for s in SETTINGS}
    values: dict[str, Any] = {}
    for name, attr in _SETTING_FIELDS.items():
        setting = by_name[name]
        if overrides is not None and overrides.get(setting.env) not in (None, ""):
            raw = overrides[setting.env]
            values[attr] = setting.parse(raw) if isinstance(raw, str) else raw
        else:
            values[attr] = getattr(settings, name)
    s = DedupSettings(**values)
    if s.backend not in {"memory", "redis"}:
        raise ValueError(f"MODERATOR_DUP_BACKEND must be 'memory' or 'redis', not {s.backend!r}")
    if not 0.0 < s.threshold <= 1.0:
        raise ValueError(f"MODERATOR_DUP_THRESHOLD must be in (0, 1], not {s.threshold}")
    if s.flood_authors < 2:
        raise ValueError("MODERATOR_DUP_FLOOD_AUTHORS must be at least 2")
    if s.redis_fail_mode not in {"open", "closed"}:
        raise ValueError(f"MODERATOR_REDIS_FAIL_MODE must be 'open' or 'closed', not {s.redis_fail_mode!r}")
    if not (s.redis_timeout > 0 and math.isfinite(s.redis_timeout)) or not s.redis_cooldown >= 0:
        raise ValueError("MODERATOR_REDIS_TIMEOUT must be positive and MODERATOR_REDIS_COOLDOWN not negative")
    return s


__all__ = ["DedupSettings"]
