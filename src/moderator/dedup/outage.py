"""Calls to an optional dependency (Redis) that fail fast, log little and show in ``/metrics``.

A :class:`DependencyGuard` wraps every call the duplicate index and the rate limiter make to Redis:

* **Circuit breaker.** After a failure the dependency is skipped for ``cooldown`` seconds: calls raise
  :class:`DependencyUnavailable` at once instead of each paying the client's timeout. When the cooldown
  ends one call (the first to arrive) tries again; the others keep skipping until it returns.
* **Bounded logging.** One warning when the dependency goes down (no traceback: the cause is one line), at
  most one "still unavailable" line per ``log_interval`` while it stays down, one line when it recovers.
* **Visibility.** ``moderator_dependency_up{dependency=...}`` (:func:`moderator.metrics.set_dependency_up`)
  follows each change, and :meth:`DependencyGuard.health` tells readiness checks the state and why.

Only connection-level errors (refused, reset, timed out, DNS, Redis loading or read-only) count as an
outage; any other exception is a bug and propagates unchanged.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from moderator.metrics import set_dependency_up

T = TypeVar("T")

log = logging.getLogger("moderator.dedup.outage")


def _outage_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError]
    try:
        import redis.exceptions as rex

        errors += [rex.ConnectionError, rex.TimeoutError, rex.ReadOnlyError]
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    return tuple(errors)


OUTAGE_ERRORS = _outage_errors()


class DependencyUnavailable(Exception):
    """``dependency`` could not be used: it failed just now, or it failed recently and is being skipped.

    ``retry_after`` is the number of seconds until the next attempt (at least 1).
    """

    def __init__(self, dependency: str, detail: str, retry_after: float) -> None:
        super().__init__(f"{dependency} unavailable: {detail}")
        self.dependency = dependency
        self.detail = detail
        self.retry_after = max(1, math.ceil(retry_after))


def describe(exc: BaseException) -> str:
    """One line naming an exception: its class and message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


class DependencyGuard:
    """Circuit breaker, rate-limited logging and the ``moderator_dependency_up`` gauge for one dependency.

    Parameters
    ----------
    dependency : str
        The gauge's ``dependency`` label and the name in log lines (``"redis"``).
    cooldown : float, default=5.0
        Seconds to skip the dependency after a failure.
    log_interval : float, default=60.0
        Least seconds between two "still unavailable" log lines.
    consequence : str, default=""
        Appended to the "unavailable" log line: what the service does meanwhile.
    clock : callable, default=time.monotonic
    """

    def __init__(self, dependency: str = "redis", cooldown: float = 5.0, log_interval: float = 60.0,
                 consequence: str = "", clock: Callable[[], float] = time.monotonic) -> None:
        self.dependency = dependency
        self.cooldown = float(cooldown)
        self.log_interval = float(log_interval)
        self.consequence = consequence
        self.clock = clock
        self._lock = threading.Lock()
        self._up: bool | None = None  # None: not used yet
        self._detail = "not used yet"
        self._retry_at = 0.0  # while down: when the next trial call may go through
        self._probing = False  # a trial call is in flight
        self._down_since = 0.0
        self._last_log = 0.0
        self._failures = 0  # failed calls since the last log line
        self._skipped = 0  # calls skipped by the breaker since the last log line

    # ---------------------------------------------------------------- calls

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``; :class:`DependencyUnavailable` when it fails with a connection-level error
        or when the breaker is open."""
        trial = self._admit()
        try:
            result = fn(*args, **kwargs)
        except OUTAGE_ERRORS as exc:
            self.failure(exc)
            raise DependencyUnavailable(self.dependency, describe(exc), self.cooldown) from exc
        except BaseException:
            if trial:
                with self._lock:
                    self._probing = False
            raise
        self.success()
        return result

    def _admit(self) -> bool:
        """Whether a call may go through now (True when it is the trial after a cooldown); raises when the
        breaker is open."""
        with self._lock:
            if self._up is not False:
                return False
            now = self.clock()
            if now >= self._retry_at and not self._probing:
                self._probing = True
                return True
            self._skipped += 1
            retry = max(self._retry_at - now, 0.0)
            detail = self._detail
            self._maybe_log_still_down(now)
        raise DependencyUnavailable(self.dependency, detail, retry)

    def failure(self, exc: BaseException | str) -> None:
        """Record a failed use (also for callers that catch the client's errors themselves)."""
        detail = exc if isinstance(exc, str) else describe(exc)
        with self._lock:
            now = self.clock()
            was_up = self._up is not False
            self._up = False
            self._detail = detail
            self._retry_at = now + self.cooldown
            self._probing = False
            self._failures += 1
            if was_up:
                self._down_since = now
                self._last_log = now
                self._failures = self._skipped = 0
                log.warning("%s unavailable (%s)%s; skipping it for %g s between attempts", self.dependency,
                            detail, f": {self.consequence}" if self.consequence else "", self.cooldown)
            else:
                self._maybe_log_still_down(now)
        if was_up:
            set_dependency_up(self.dependency, False)

    def success(self) -> None:
        """Record a successful use."""
        with self._lock:
            if self._up is True:
                return
            was_down = self._up is False
            now = self.clock()
            if was_down:
                log.warning("%s available again after %.0f s (%d failed and %d skipped calls since the last "
                            "report)", self.dependency, now - self._down_since, self._failures, self._skipped)
            self._up = True
            self._detail = "ok"
            self._probing = False
            self._failures = self._skipped = 0
        set_dependency_up(self.dependency, True)

    def _maybe_log_still_down(self, now: float) -> None:
        if now - self._last_log < self.log_interval:
            return
        log.warning("%s still unavailable after %.0f s (%s): %d failed and %d skipped calls in the last %.0f s",
                    self.dependency, now - self._down_since, self._detail, self._failures, self._skipped,
                    now - self._last_log)
        self._last_log = now
        self._failures = self._skipped = 0

    # ---------------------------------------------------------------- state

    @property
    def up(self) -> bool | None:
        """True / False after the last use; None before the first."""
        return self._up

    def retry_after(self) -> int:
        """Seconds until the next attempt while down (at least 1)."""
        return max(1, math.ceil(self._retry_at - self.clock()))

    def health(self, probe: Callable[[], Any] | None = None) -> tuple[bool, str]:
        """``(up, detail)``. With ``probe`` (e.g. ``client.ping``) the dependency is tried through the breaker
        first, so a readiness check notices an outage, and a recovery, without waiting for traffic."""
        if probe is not None:
            try:
                self.call(probe)
            except DependencyUnavailable as exc:
                return False, exc.detail
        with self._lock:
            return self._up is not False, self._detail


__all__ = ["OUTAGE_ERRORS", "DependencyGuard", "DependencyUnavailable", "describe"]
