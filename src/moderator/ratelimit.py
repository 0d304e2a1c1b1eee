"""Rapid-fire check: at most N comments per author in T seconds (``MODERATOR_RATE_LIMIT``).

A thin layer over the `limits` library (the engine behind flask-limiter): its moving-window strategy
counts each author's submissions exactly, in memory (one process) or in Redis (shared by workers).
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from moderator.dedup import RateDecision

_PLAIN = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_rate(spec: str | None) -> RateLimitItem | None:
    """``"10/60"`` (10 per 60 seconds) or limits syntax (``"10 per minute"``, ``"10/hour"``);
    ``None``, ``""`` or ``"0"`` mean no limit.

    >>> parse_rate("10/60").get_expiry(), parse_rate("3 per minute").amount
    (60, 3)
    """
    if spec is None or not str(spec).strip() or str(spec).strip() == "0":
        return None
    if m := _PLAIN.match(str(spec)):
        amount, seconds = int(m.group(1)), int(m.group(2))
        if amount < 1 or seconds < 1:
            raise ValueError(f"rate limit {spec!r}: both numbers must be positive")
        return RateLimitItemPerSecond(amount, seconds)
    try:
        return parse(str(spec))
    except ValueError as exc:
        raise ValueError(f"MODERATOR_RATE_LIMIT: cannot read {spec!r} ({exc})") from exc


class RateLimiter:
    """Per-author moving-window limit.

    Parameters
    ----------
    rate : str
        ``MODERATOR_RATE_LIMIT``; empty or ``"0"`` allows everything.
    storage_uri : str, default="memory://"
        A limits storage URI: ``memory://`` or a ``redis://`` URL.
    key_prefix : str, default="moderator:dedup:rate"
        Prefix of the Redis keys (ignored in memory).
    """

    clock = staticmethod(time.time)  # the limits library's clock, used for Retry-After

    def __init__(self, rate: str = "10/60", storage_uri: str = "memory://",
                 key_prefix: str = "moderator:dedup:rate") -> None:
        self.rate = rate
        self.item = parse_rate(rate)
        self.storage: Any = None
        self.limiter: Any = None
        if self.item is None:  # no limit: no storage (the memory one starts a timer thread)
            return
        options: dict[str, Any] = {}
        if storage_uri.startswith(("redis://", "rediss://", "unix://", "redis+unix://")):
            options["key_prefix"] = key_prefix
        self.storage = storage_from_string(storage_uri, **options)
        self.limiter = MovingWindowRateLimiter(self.storage)

    def hit(self, author_id: str) -> RateDecision:
        """Count one submission by ``author_id``; a refused one is not counted."""
        if self.item is None:
            return RateDecision(True)
        if self.limiter.hit(self.item, "author", str(author_id)):
            return RateDecision(True)
        stats = self.limiter.get_window_stats(self.item, "author", str(author_id))
        return RateDecision(False, max(1, math.ceil(stats.reset_time - self.clock())))

    def reset(self, author_id: str) -> None:
        """Forget ``author_id``'s submissions (e.g. after a moderator lifts a hold)."""
        if self.item is not None:
            self.limiter.clear(self.item, "author", str(author_id))


__all__ = ["RateLimiter", "parse_rate"]
