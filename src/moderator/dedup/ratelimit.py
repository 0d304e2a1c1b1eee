"""Rapid-fire check: at most N comments per author in T seconds (``MODERATOR_RATE_LIMIT``).

A thin layer over the `limits` library (the engine behind flask-limiter): its moving-window strategy
counts each author's submissions exactly, in memory (one process) or in Redis (shared by workers).

In memory the counts live in :class:`MovingWindowMemory`, not in limits' ``MemoryStorage``: that one starts a
``threading.Timer`` thread on most hits to expire keys, which cost about 1 ms per submission (a third of
the service's request path). Same moving-window semantics, expired authors dropped lazily.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from limits.util import WindowStats

from moderator.dedup.types import RateDecision

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


class MovingWindowMemory:
    """In-process moving-window storage with the interface ``MovingWindowRateLimiter`` uses
    (``acquire_entry``, ``get_moving_window``, ``clear``), the same semantics as limits' ``MemoryStorage``.

    Each key keeps the timestamps of its accepted hits, newest last. An author whose newest hit is older
    than the window is forgotten on a sweep (every ``sweep_every`` hits), so memory stays bounded by the
    authors active within one window, without a timer thread.
    """

    def __init__(self, clock: Callable[[], float], sweep_every: int = 4096) -> None:
        self._clock = clock
        self._events: dict[str, deque[float]] = {}
        self._expiry: dict[str, float] = {}  # key -> the window length it was last hit with
        self._lock = threading.Lock()
        self._sweep_every = sweep_every
        self._hits = 0

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = self._clock()
        with self._lock:
            self._hits += 1
            if self._hits % self._sweep_every == 0:
                self._sweep(now)
            events = self._events.get(key)
            if events is None:
                events = self._events[key] = deque()
            while events and events[0] < now - expiry:  # older than the window: never counted again
                events.popleft()
            if len(events) + amount > limit:
                return False
            events.extend([now] * amount)
            self._expiry[key] = float(expiry)
            return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """(start of the window: the oldest hit still in it, number of hits in it)."""
        now = self._clock()
        with self._lock:
            inside = [t for t in self._events.get(key, ()) if t >= now - expiry]
        if not inside:
            return now, 0
        return inside[0], len(inside)

    def clear(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)
            self._expiry.pop(key, None)

    def _sweep(self, now: float) -> None:
        stale = [k for k, ev in self._events.items() if not ev or ev[-1] < now - self._expiry.get(k, 0.0)]
        for k in stale:
            del self._events[k]
            self._expiry.pop(k, None)

    def __len__(self) -> int:
        return len(self._events)


class _MemoryMovingWindowLimiter:
    """``MovingWindowRateLimiter``'s three calls over a :class:`MovingWindowMemory` (limits' strategies only
    accept its own storage classes)."""

    def __init__(self, storage: MovingWindowMemory) -> None:
        self.storage = storage

    def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        return self.storage.acquire_entry(item.key_for(*identifiers), item.amount, item.get_expiry())

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        start, count = self.storage.get_moving_window(item.key_for(*identifiers), item.amount, item.get_expiry())
        return WindowStats(start + item.get_expiry(), item.amount - count)

    def clear(self, item: RateLimitItem, *identifiers: str) -> None:
        self.storage.clear(item.key_for(*identifiers))


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
    guard : moderator.dedup.outage.DependencyGuard, default=None
        Wraps every call to the storage (Redis): circuit breaker, bounded logging, the dependency gauge;
        calls then raise :class:`moderator.dedup.outage.DependencyUnavailable` when Redis is down.
    storage_options : dict, default=None
        Extra options of the limits storage (for Redis: the client's timeouts).
    """

    clock = staticmethod(time.time)  # the limits library's clock, used for Retry-After

    def __init__(self, rate: str = "10/60", storage_uri: str = "memory://",
                 key_prefix: str = "moderator:dedup:rate", guard: Any | None = None,
                 storage_options: dict[str, Any] | None = None) -> None:
        self.rate = rate
        self.item = parse_rate(rate)
        self.guard = guard
        self.storage: Any = None
        self.limiter: Any = None
        if self.item is None:  # no limit: no storage (the memory one starts a timer thread)
            return
        if storage_uri == "memory://":
            self.storage = MovingWindowMemory(lambda: type(self).clock())
            self.limiter = _MemoryMovingWindowLimiter(self.storage)
            return
        options: dict[str, Any] = dict(storage_options or {})
        if storage_uri.startswith(("redis://", "rediss://", "unix://", "redis+unix://")):
            options["key_prefix"] = key_prefix
        self.storage = storage_from_string(storage_uri, **options)
        self.limiter = MovingWindowRateLimiter(self.storage)

    def hit(self, author_id: str) -> RateDecision:
        """Count one submission by ``author_id``; a refused one is not counted."""
        if self.item is None:
            return RateDecision(True)
        if self.guard is not None:
            return self.guard.call(self._hit, author_id)
        return self._hit(author_id)

    def _hit(self, author_id: str) -> RateDecision:
        assert self.item is not None
        if self.limiter.hit(self.item, "author", str(author_id)):
            return RateDecision(True)
        stats = self.limiter.get_window_stats(self.item, "author", str(author_id))
        return RateDecision(False, max(1, math.ceil(stats.reset_time - self.clock())))

    def reset(self, author_id: str) -> None:
        """Forget ``author_id``'s submissions (e.g. after a moderator lifts a hold)."""
        if self.item is None:
            return
        if self.guard is not None:
            self.guard.call(self.limiter.clear, self.item, "author", str(author_id))
        else:
            self.limiter.clear(self.item, "author", str(author_id))


__all__ = ["MovingWindowMemory", "RateLimiter", "parse_rate"]
