"""Deferred scoring: submissions are scored by the linear model at once, then refined by the full model.

The full model (linear + encoder, :mod:`moderator.model.classifier`) costs ~15x the linear model's time per
comment; scoring every submission with it would cut the service's intake several-fold. So with
``MODERATOR_ENCODER_MODE=deferred`` (the default, for a model that has an encoder) a submission is scored,
decided and queued with the linear model alone (its version ``<version>+linear``, its own thresholds), and the
:class:`Refiner`, a background thread, re-scores pending review items with the full model: new scores,
flags and queue priority, one ``rescored`` history row per comment (:func:`moderator.service.rescore.rescore_pending`,
which never overrides a moderator's decision).

Intake comes first. ``nice`` alone cannot give it that: the refiner shares the worker's GIL and the database's
write lock with the request threads (measured: with the refiner unrestrained, a saturated single worker took
251 submissions/s instead of ~360). So the refiner also yields: the submit path reports each submission
(:meth:`Refiner.intake`), and while submissions were in flight at least ``BUSY_UTILIZATION`` of the time
(measured over ``UTILIZATION_WINDOW``-second windows), the refiner waits, taking one small batch at most every
``SATURATED_BATCH_EVERY`` seconds so the backlog still moves; otherwise it re-scores continuously, in batches of
``BATCH``. Under a burst it falls behind and catches up after it; at moderate traffic it keeps up. Its thread
also runs at the lowest CPU priority (Linux ``nice`` 19).

One refiner works at a time per database: it holds a PostgreSQL advisory lock (or, on SQLite, an exclusive
lock on a file beside the database); the other workers' refiners wait for it. What a refiner changes is only
the queue's scores and order: in premoderation every comment is held for review anyway. In
postmoderation a comment the linear model passed is already published; the refiner only re-scores held ones.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from moderator.service.audit import Actor
from moderator.service.model_guard import still_current
from moderator.service.rescore import rescore_pending

log = logging.getLogger("moderator.service.refine")

ACTOR = Actor(ref="system:refiner", name="background re-scorer (full model)", role="admin")
LOCK_KEY = 0x6D6F6465  # "mode": the advisory lock id on PostgreSQL
BATCH = 16
SATURATED_BATCH = 4  # while intake is saturated: this many comments ...
SATURATED_BATCH_EVERY = 1.0  # ... at most once per this many seconds
BUSY_UTILIZATION = 0.5  # intake is "busy" when a submission was in flight this fraction of the time ...
UTILIZATION_WINDOW = 0.25  # ... measured over windows of this many seconds
# The refiner resumes after the last review item it looked at. On PostgreSQL, concurrent transactions can
# commit a lower id after a higher one; when idle, the refiner sweeps the whole queue at most this often.
SWEEP_EVERY = 30.0


@dataclass
class RefineStats:
    rescored: int = 0
    errors: int = 0


class Refiner:
    """Background thread: re-score pending items with ``target()`` (a ``(model, policy)`` pair or None)."""

    def __init__(self, engine: Engine, factory: sessionmaker[Session], target: Callable[[], tuple[Any, Any] | None],
                 clock: Callable[[], datetime], interval: float = 1.0, lock_file: Path | None = None,
                 source: Path | None = None) -> None:
        self.engine = engine
        self.factory = factory
        self.target = target
        self.clock = clock
        self.interval = interval
        self.lock_file = lock_file
        self.source = source  # where the worker's model comes from: writes only while it still names the model
        self.stats = RefineStats()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread: threading.Thread | None = None
        self._cursor: tuple[str, int] = ("", 0)  # (model version, last review item id looked at)
        self._last_sweep = time.monotonic()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._busy_total = 0.0  # seconds during which at least one submission was in flight
        self._busy_since = 0.0
        self._window = (time.monotonic(), 0.0)  # (start, busy total then) of the utilisation window
        self._utilization = 0.0
        self._last_saturated_batch = 0.0

    @contextlib.contextmanager
    def intake(self) -> Iterator[None]:
        """Wrap a submission: the refiner measures how busy intake keeps this worker, and yields to it."""
        with self._lock:
            if self._in_flight == 0:
                self._busy_since = time.monotonic()
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._busy_total += time.monotonic() - self._busy_since

    def intake_utilization(self) -> float:
        """Fraction of the last ``UTILIZATION_WINDOW`` seconds (or more) during which a submission was in flight."""
        now = time.monotonic()
        with self._lock:
            busy = self._busy_total + (now - self._busy_since if self._in_flight else 0.0)
        start, busy_then = self._window
        if now - start >= UTILIZATION_WINDOW:
            self._utilization = (busy - busy_then) / (now - start)
            self._window = (now, busy)
        return self._utilization

    def _batch_size(self) -> int:
        """``BATCH``; or, while intake keeps the worker busy, wait until it does not, or a small batch is due."""
        while self.intake_utilization() >= BUSY_UTILIZATION and not self._stop.is_set():
            now = time.monotonic()
            if now - self._last_saturated_batch >= SATURATED_BATCH_EVERY:
                self._last_saturated_batch = now
                return SATURATED_BATCH
            time.sleep(UTILIZATION_WINDOW / 4)
        return BATCH

    # ------------------------------------------------------------------ control
    def start(self) -> Refiner:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="moderator-refiner", daemon=True)
            self._thread.start()
        return self

    def wake(self) -> None:
        """A submission was queued: look now instead of at the next interval."""
        self._idle.clear()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until the refiner found nothing left to do (tests, benchmarks)."""
        self.wake()
        return self._idle.wait(timeout)

    # ------------------------------------------------------------------ work
    def run_once(self, batch_size: int = BATCH) -> int:
        """Re-score at most one batch; the number of comments re-scored (0: nothing left)."""
        got = self.target()
        if got is None:
            return 0
        model, policy = got
        version = str(model.version)
        after = self._cursor[1] if self._cursor[0] == version else 0  # a new model starts from the beginning
        result = rescore_pending(self.factory, model, policy, ACTOR, self.clock, batch_size,
                                 after_id=after, max_batches=1, record=False,
                                 still_current=lambda session: still_current(session, self.source, version))
        if result.stale:  # the model was replaced (promoted over): wait for this worker's reload
            return 0
        if result.last_item_id == after:  # nothing after the cursor
            if after and time.monotonic() - self._last_sweep > SWEEP_EVERY:
                self._cursor, self._last_sweep = (version, 0), time.monotonic()
                return 1  # look again from the start
            return 0
        self._cursor = (version, result.last_item_id)
        self.stats.rescored += result.rescored
        return max(1, result.rescored)

    def _run(self) -> None:
        _lower_priority()
        while not self._stop.is_set():
            try:
                with self._leadership() as leader:
                    if leader:
                        while not self._stop.is_set() and self.run_once(self._batch_size()):
                            pass
                        self._idle.set()
            except Exception as exc:  # a database outage: keep the thread, try again later
                self.stats.errors += 1
                log.exception("refiner run failed: %s", exc)
            self._wake.wait(self.interval)
            self._wake.clear()

    @contextlib.contextmanager
    def _leadership(self) -> Iterator[bool]:
        """True while this refiner holds the deployment-wide lock (PostgreSQL) or the host-wide one (SQLite)."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar())
                try:
                    yield got
                finally:
                    if got:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                    conn.rollback()
            return
        if self.lock_file is None:
            yield True
            return
        import fcntl

        with open(self.lock_file, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _lower_priority() -> None:
    """Run this thread at nice 19 (Linux schedules threads individually); elsewhere, leave it."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


__all__ = ["ACTOR", "RefineStats", "Refiner"]
