"""Readiness checks of the service's dependencies, bounded in time (no Flask imports; ``/readyz`` reports them).

Each dependency registers a check: a callable that returns a short detail when the dependency works and
raises when it does not (the exception's first line becomes the detail). :meth:`Readiness.report` runs every
check in a thread of its own and waits at most ``budget`` seconds, counted from when the check **started**:

* concurrent callers share the check in flight instead of starting their own, so ten pending ``/readyz``
  calls cost one database round trip, not ten;
* once a check has gone ``budget`` seconds without an answer, callers answer at once ("no answer for N s")
  instead of waiting for it, so a hung dependency never holds request threads for longer than ``budget``;
* a finished check's result is reused for ``fresh`` seconds.

The check thread itself is bounded by the dependency's own timeouts (the database's, see ``db.DbTimeouts``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

Check = Callable[[], str]

BUDGET_SECONDS = 1.5


class _Probe:
    def __init__(self, name: str, check: Check, required: bool) -> None:
        self.name = name
        self.check = check
        self.required = required
        self.cv = threading.Condition()
        self.started: float | None = None  # monotonic start of the check in flight
        self.finished = -float("inf")
        self.result: tuple[bool, str] = (False, "not checked yet")

    def _run(self) -> None:
        try:
            detail = self.check()
            result = (True, str(detail) if detail else "ok")
        except Exception as exc:  # any failure means "not ready": report it, never raise
            text = str(exc).strip().splitlines()
            result = (False, (text[0] if text else type(exc).__name__)[:300])
        with self.cv:
            self.result, self.started, self.finished = result, None, time.monotonic()
            self.cv.notify_all()

    def start(self, now: float, fresh: float) -> None:
        """Start a check unless one is in flight or the last result is fresh."""
        with self.cv:
            if self.started is not None or now - self.finished < fresh:
                return
            self.started = now
        threading.Thread(target=self._run, name=f"readiness-{self.name}", daemon=True).start()

    def status(self, budget: float) -> dict[str, Any]:
        with self.cv:
            while self.started is not None:
                left = self.started + budget - time.monotonic()
                if left <= 0:
                    waited = time.monotonic() - self.started
                    return {"up": False, "detail": f"no answer for {waited:.1f} s"}
                self.cv.wait(left)
            up, detail = self.result
        return {"up": up, "detail": detail}


class Readiness:
    """The registry of dependency checks (``register``) and their bounded report (``report``)."""

    def __init__(self, budget: float = BUDGET_SECONDS, fresh: float = 0.0) -> None:
        self.budget = budget
        self.fresh = fresh
        self._probes: dict[str, _Probe] = {}
        self._lock = threading.Lock()

    def register(self, name: str, check: Check, required: bool = True) -> None:
        """Add (or replace) the check of dependency ``name``; it returns a detail or raises when down. A
        dependency that is not ``required`` is reported but does not make the service unready (the service
        degrades without it)."""
        with self._lock:
            self._probes[name] = _Probe(name, check, required)

    def names(self) -> list[str]:
        with self._lock:
            return list(self._probes)

    def report(self) -> dict[str, dict[str, Any]]:
        """``{dependency: {"up": bool, "detail": str}}`` within about ``budget`` seconds."""
        with self._lock:
            probes = list(self._probes.values())
        now = time.monotonic()
        for p in probes:
            p.start(now, self.fresh)
        return {p.name: p.status(self.budget) for p in probes}

    def ready(self, report: dict[str, dict[str, Any]]) -> bool:
        """Whether every required dependency in ``report`` is up."""
        with self._lock:
            required = {name for name, p in self._probes.items() if p.required}
        return all(status["up"] for name, status in report.items() if name in required)


__all__ = ["BUDGET_SECONDS", "Check", "Readiness"]
