"""Group commit: the write transactions of concurrent requests in one process share one database commit.

A submission writes about nine rows and commits. Committing is the expensive part (the WAL append, the
``fsync`` with ``synchronous=FULL``, taking and releasing SQLite's single write lock), and on SQLite every
writer also queues for that lock: a busy writer backs off in sleeps of up to 100 ms, which made the
latency tail. :class:`GroupCommitter` works like :class:`moderator.service.scoring.BatchScorer`: the first request
runs its write job at once in a transaction; requests that arrive meanwhile queue their jobs, and the next
of them runs the whole queue in **one** transaction and one commit. Nobody waits for a timer, so a lone
request is never delayed.

A job's result is handed back only **after the commit returned**, so an answer built from it (a 2xx) always
means the rows are committed. When a job fails inside a shared transaction (for instance the unique
constraint on an ``Idempotency-Key`` that a concurrent retry committed first), the transaction is rolled
back and every job of the batch is run again in a transaction of its own, so one request's error never
affects another's rows. When the shared transaction fails because the database is unavailable (unreachable,
not answering in time, a full disk: :func:`moderator.storage.db.unavailable_reason`), nothing is re-run: every job of
the batch fails at once with :class:`~moderator.storage.db.DatabaseUnavailable` (answered 503), so the waiting requests
do not each sit through another timeout, and nothing of theirs was acknowledged.

On SQLite the processes of ``moderator serve --workers N`` also take an exclusive ``flock`` on a lock file
beside the database around each group transaction: a waiting worker is woken by the kernel the moment the
lock is free, instead of polling SQLite's lock with growing sleeps. Other writers (moderators' decisions,
the CLI) still use SQLite's own locking and ``busy_timeout``.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from moderator.service.batching import LeaderBatcher
from moderator.storage.db import DatabaseHealth, DatabaseUnavailable, begin_write, unavailable_reason

T = TypeVar("T")

MAX_BATCH_JOBS = 64


class _Job(Generic[T]):
    __slots__ = ("done", "error", "fn", "result")

    def __init__(self, fn: Callable[[Session], T]) -> None:
        self.fn = fn
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class GroupCommitter(LeaderBatcher[_Job[Any]]):
    """Runs ``job(session)`` callables of concurrent threads in shared write transactions.

    Parameters
    ----------
    factory
        Session factory of the service database.
    lock_path
        A file to ``flock`` around each transaction (SQLite: serialises the worker processes' writers
        without SQLite's sleep-and-retry); ``None`` for none.
    max_jobs
        Most jobs in one transaction.
    health
        Told of every commit and of every failure for unavailability (readiness reports a failing disk).
    """

    def __init__(self, factory: sessionmaker[Session], lock_path: str | os.PathLike[str] | None = None,
                 max_jobs: int = MAX_BATCH_JOBS, health: DatabaseHealth | None = None) -> None:
        super().__init__()
        self._health = health
        self._factory = factory
        self._lock_path = Path(lock_path) if lock_path is not None else None
        self._lock_fd: int | None = None
        self._lock_pid = 0
        self._max = max_jobs
        self.transactions = 0  # group transactions committed (tests, profiling)

    def run(self, job: Callable[[Session], T]) -> T:
        """Run ``job`` in a write transaction (possibly shared); return its result once committed.

        The job must only write through the session it is given, and may be run twice (a shared
        transaction that failed is rolled back and each job re-run alone). Its exception is re-raised here.
        """
        mine: _Job[T] = _Job(job)
        self._submit(mine)
        if mine.error is not None:
            raise mine.error
        return mine.result

    # ------------------------------------------------------------------ the leader's work

    def _take(self, queue: list[_Job[Any]]) -> int:
        return min(len(queue), self._max)

    def _process(self, batch: list[_Job[Any]]) -> None:
        fd = self._file_lock()
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                self._together(batch)
            except BaseException as exc:
                for item in batch:
                    item.result, item.error = None, None
                reason = unavailable_reason(exc)
                if reason is not None:  # the database, not a job, failed: re-running each would fail alike
                    if self._health is not None:
                        self._health.failed(reason, exc)
                    for item in batch:
                        item.error = DatabaseUnavailable(reason)
                        item.error.__cause__ = exc
                else:
                    for item in batch:
                        self._alone(item)
            else:
                if self._health is not None:
                    self._health.succeeded()
        finally:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _together(self, batch: list[_Job[Any]]) -> None:
        with self._factory() as session:
            begin_write(session)
            try:
                for item in batch:
                    item.result = item.fn(session)
                session.commit()
                self.transactions += 1
            except BaseException:
                session.rollback()
                raise

    def _alone(self, item: _Job[Any]) -> None:
        try:
            self._together([item])
        except BaseException as exc:
            item.result, item.error = None, exc

    def _file_lock(self) -> int | None:
        """This process's descriptor of the lock file (reopened after a fork: flock locks follow the open file)."""
        if self._lock_path is None:
            return None
        if self._lock_fd is None or self._lock_pid != os.getpid():
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._lock_pid = os.getpid()
        return self._lock_fd


__all__ = ["MAX_BATCH_JOBS", "GroupCommitter"]
