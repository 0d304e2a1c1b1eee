"""Webhook delivery: durable, at-least-once, never on the path of intake or decisions. No Flask imports.

The change and its event commit together (the outbox, :mod:`moderator.service.events`); everything here runs
afterwards, in a :class:`DeliveryWorker` (a background thread of each service worker process, or
``moderator webhooks deliver``):

1. **Fan-out** (:func:`fan_out`): events after the stored cursor (``webhook_cursor``, read in the feed's
   commit-safe order, :func:`moderator.service.feed.events_after`) become one ``webhook_deliveries`` row per
   matching endpoint (enabled, its event filter matches, added before the event); the cursor moves in the same
   transaction. The cursor row is locked (``FOR UPDATE``; SQLite: the write lock), and (event, endpoint) is
   unique, so concurrent workers never fan out an event twice.
2. **Claim** (:func:`claim_chunks`; :func:`claim` for one-shot runs): due pending deliveries are leased by
   moving ``next_attempt_at`` past the time their sending may take, in a short transaction; on PostgreSQL
   ``SELECT ... FOR UPDATE SKIP LOCKED``, so several workers or instances each take different rows. A worker
   killed mid-send leaves a lease that expires: another worker sends again (at least once). A busy worker
   records the last round's outcomes, fans out and claims in one transaction (:func:`round_trip`).
3. **Send** (:class:`Sender`, outside any transaction): the payload is rendered now
   (:func:`moderator.service.feed.render`), signed (:func:`moderator.service.webhooks.sign`) and POSTed with
   a timeout, no redirects followed; the address connected to is checked by the SSRF guard at every
   connection. A worker sends ``MODERATOR_WEBHOOK_CONCURRENCY`` deliveries at once, at most half of them to
   one endpoint, so a slow or dead endpoint cannot hold up the others. 2xx is success; anything else (or no
   answer) is retried after :data:`RETRY_DELAYS` (with ±20% jitter: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h,
   2 h, 4 h, then 8 h: 12 attempts over about 31 hours), then marked ``failed``. An endpoint whose last
   ``MODERATOR_WEBHOOK_FAILING_AFTER`` attempts all failed is marked ``failing`` (its deliveries continue; one
   success makes it ``active``).
4. **Retention**: events older than ``MODERATOR_EVENTS_RETENTION_DAYS`` are deleted (with their deliveries),
   at most hourly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from moderator.service import feed, webhooks
from moderator.service.webhooks import Guard, UnsafeUrl
from moderator.storage.db import begin_write, insert_rows
from moderator.storage.models import Event, WebhookCursor, WebhookDelivery, WebhookEndpoint

log = logging.getLogger("moderator.service.delivery")

RETRY_DELAYS = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800, 28800)  # seconds after attempt n
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.2
LEASE_MARGIN = 30.0  # seconds a claim outlives the send timeout
FAN_OUT_BATCH = 500
PRUNE_EVERY = 3600.0
MAX_ERROR = 500
ROUND_INTERVAL = 0.25  # seconds between a busy worker's rounds (claim, prepare, record)
SATURATED_ROUND_INTERVAL = 1.0  # ... and while intake keeps the process busy
SATURATED_SENDERS = 2  # chunks a round may start then
BODY_CACHE_SECONDS = 5.0  # a rendered payload is reused this long (the same event to several endpoints)
CHUNK = 20  # deliveries to one endpoint a sender takes at once (in order, over one kept-alive connection)


def retry_delay(attempts: int, rng: random.Random | None = None) -> float | None:
    """Seconds until the next attempt after ``attempts`` failed ones; None once they are exhausted."""
    if attempts >= MAX_ATTEMPTS:
        return None
    base = RETRY_DELAYS[attempts - 1]
    return base * (1 + (rng or random).uniform(-JITTER, JITTER))


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# ---------------------------------------------------------------- fan-out


def _matches(endpoint: WebhookEndpoint, event: Event) -> bool:
    return (endpoint.events is None or event.type in endpoint.events) and event.created_at >= endpoint.created_at


def _events_waiting(session: Session) -> bool:
    cur = session.get(WebhookCursor, 1)
    start = (cur.txid, cur.event_id) if cur is not None else feed.START
    return bool(feed.events_after(session, start, 1))


def fan_out(factory: sessionmaker[Session], now: datetime, batch: int = FAN_OUT_BATCH) -> int:
    """Turn events past the cursor into deliveries; returns how many events it moved past."""
    with factory() as session:  # a read first: most polls find nothing and must not take the write lock
        if not _events_waiting(session):
            return 0
    with factory() as session:
        begin_write(session)
        n = _fan_out_in(session, now, batch)
        session.commit()
        return n


def _fan_out_in(session: Session, now: datetime, batch: int = FAN_OUT_BATCH) -> int:
    """:func:`fan_out` in the caller's write transaction."""
    stmt = select(WebhookCursor).where(WebhookCursor.id == 1)
    if _postgres(session):
        stmt = stmt.with_for_update()
    cur = session.scalar(stmt)
    if cur is None:  # the migration inserts it; recreate it if someone deleted it (another worker may too)
        if _postgres(session):
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
        session.execute(upsert(WebhookCursor).values(id=1, txid=0, event_id=0).on_conflict_do_nothing())
        cur = session.scalar(stmt)
        assert cur is not None
    found = feed.events_after(session, (cur.txid, cur.event_id), batch)
    if not found:
        return 0
    endpoints = list(session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.status != "disabled")))
    rows = [{"event_id": e.id, "endpoint_id": ep.id, "status": "pending", "attempts": 0, "next_attempt_at": now,
             "last_attempt_at": None, "last_error": None, "last_status_code": None, "delivered_at": None,
             "created_at": now}
            for e in found for ep in endpoints if _matches(ep, e)]
    if rows:
        existing = {(ev, ep) for ev, ep in session.execute(
            select(WebhookDelivery.event_id, WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.event_id.in_([e.id for e in found])))}
        rows = [r for r in rows if (r["event_id"], r["endpoint_id"]) not in existing]  # redelivered already
    if rows:
        insert_rows(session, WebhookDelivery.__table__, rows)
    cur.txid, cur.event_id = feed.position(found[-1])
    session.flush()
    return len(found)


# ---------------------------------------------------------------- claiming and recording


def claim(factory: sessionmaker[Session], now: datetime, limit: int, lease: float,
          skip_endpoints: Collection[int] = ()) -> list[tuple[int, int]]:
    """Lease up to ``limit`` due deliveries to this worker; returns their (id, endpoint id). Deliveries to
    ``skip_endpoints`` (those already holding their share of this worker's senders) are left for later."""
    if limit <= 0:
        return []
    due = (select(WebhookDelivery.id, WebhookDelivery.endpoint_id)
           .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
           .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
                  WebhookEndpoint.status != "disabled")
           .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id))
    if skip_endpoints:
        due = due.where(WebhookDelivery.endpoint_id.not_in(list(skip_endpoints)))
    with factory() as session:  # read first: an idle poll takes no lock
        if session.execute(due.limit(1)).first() is None:
            return []
    with factory() as session:
        begin_write(session)
        stmt = due.limit(limit)
        if _postgres(session):
            stmt = stmt.with_for_update(of=WebhookDelivery, skip_locked=True)
        claimed = [(i, e) for i, e in session.execute(stmt)]
        ids = [i for i, _ in claimed]
        if ids:
            session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                            .values(next_attempt_at=now + timedelta(seconds=lease))
                            .execution_options(synchronize_session=False))
        session.commit()
        return claimed


def _due(now: datetime) -> Any:
    return (select(WebhookDelivery.endpoint_id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
                   WebhookEndpoint.status != "disabled"))


def claim_chunks(factory: sessionmaker[Session], now: datetime, slots: int, chunk: int, lease: float,
                 allowed: Callable[[int], int]) -> list[list[int]]:
    """Lease due deliveries in per-endpoint chunks (one sender sends a chunk in order, over one connection):
    at most ``slots`` chunks of at most ``chunk`` deliveries, at most ``allowed(endpoint id)`` chunks per
    endpoint. Returns the chunks' delivery ids."""
    if slots <= 0:
        return []
    with factory() as session:  # read first: an idle poll takes no lock
        if session.execute(_due(now).limit(1)).first() is None:
            return []
    with factory() as session:
        begin_write(session)
        chunks = _claim_chunks_in(session, now, slots, chunk, lease, allowed)
        session.commit()
    return chunks


def _claim_chunks_in(session: Session, now: datetime, slots: int, chunk: int, lease: float,
                     allowed: Callable[[int], int]) -> list[list[int]]:
    """:func:`claim_chunks` in the caller's write transaction."""
    if slots <= 0:
        return []
    endpoints = [ep for ep in session.scalars(_due(now).group_by(WebhookDelivery.endpoint_id)
                                              .order_by(func.min(WebhookDelivery.next_attempt_at)))
                 if allowed(ep) > 0]
    chunks: list[list[int]] = []
    postgres = _postgres(session)
    for ep in endpoints:
        n = min(allowed(ep), slots - len(chunks))
        if n <= 0:
            break
        stmt = (select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == ep,
                                                  WebhookDelivery.status == "pending",
                                                  WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(n * chunk))
        if postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        ids = list(session.scalars(stmt))
        if not ids:
            continue
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                        .values(next_attempt_at=now + timedelta(seconds=lease))
                        .execution_options(synchronize_session=False))
        chunks += [ids[i:i + chunk] for i in range(0, len(ids), chunk)]
    return chunks


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status_code: int | None = None
    error: str | None = None


Outcome = tuple[int, int, Attempt | None, datetime]  # (delivery id, endpoint id, attempt or None: not sent, when)


def record(factory: sessionmaker[Session], outcomes: Sequence[Outcome], failing_after: int,
           rng: random.Random | None = None) -> None:
    """Store attempts' outcomes on their deliveries and endpoints, in one transaction (one commit for a whole
    round of sends: the write lock is what intake needs most)."""
    if not outcomes:
        return
    with factory() as session:
        begin_write(session)
        for delivery_id, endpoint_id, attempt, now in outcomes:
            _record(session, delivery_id, endpoint_id, attempt, now, failing_after, rng)
        session.commit()


def round_trip(factory: sessionmaker[Session], now: datetime, outcomes: Sequence[Outcome], failing_after: int,
               slots: int, chunk: int, lease: float, allowed: Callable[[int], int],
               rng: random.Random | None = None) -> tuple[int, list[list[int]]]:
    """One round of a busy worker in one write transaction (one commit): record ``outcomes``, fan out new
    events, claim chunks. Reads first, and takes the write lock only when there is something to do. Returns
    (events fanned out, chunks claimed)."""
    with factory() as session:
        work = bool(outcomes) or _events_waiting(session) or (
            slots > 0 and session.execute(_due(now).limit(1)).first() is not None)
    if not work:
        return 0, []
    with factory() as session:
        begin_write(session)
        for delivery_id, endpoint_id, attempt, at in outcomes:
            _record(session, delivery_id, endpoint_id, attempt, at, failing_after, rng)
        fanned = _fan_out_in(session, now)
        chunks = _claim_chunks_in(session, now, slots, chunk, lease, allowed)
        session.commit()
    return fanned, chunks


def _record(session: Session, delivery_id: int, endpoint_id: int, attempt: Attempt | None, now: datetime,
            failing_after: int, rng: random.Random | None) -> None:
    d = session.get(WebhookDelivery, delivery_id)
    if d is None or d.status != "pending":  # removed, or redelivered/finished meanwhile
        return
    if attempt is None:  # claimed but not sent (its chunk ran out of time): due again, no attempt counted
        d.next_attempt_at = now
        session.flush()
        return
    d.attempts += 1
    d.last_attempt_at, d.last_status_code, d.last_error = now, attempt.status_code, attempt.error
    ep = update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    if attempt.ok:
        d.status, d.delivered_at, d.next_attempt_at = "delivered", now, None
        session.execute(ep.values(consecutive_failures=0, last_success_at=now))
        session.execute(ep.where(WebhookEndpoint.status == "failing").values(status="active"))
    else:
        delay = retry_delay(d.attempts, rng)
        if delay is None:
            d.status, d.next_attempt_at = "failed", None
        else:
            d.next_attempt_at = now + timedelta(seconds=delay)
        session.execute(ep.values(consecutive_failures=WebhookEndpoint.consecutive_failures + 1,
                                  last_failure_at=now))
        session.execute(ep.where(WebhookEndpoint.status == "active",
                                 WebhookEndpoint.consecutive_failures >= failing_after).values(status="failing"))
    session.flush()


def prune(factory: sessionmaker[Session], now: datetime, retention_days: float) -> int:
    """Delete events older than the retention (their deliveries go with them); returns how many."""
    cutoff = now - timedelta(days=retention_days)
    # The newest event always stays: SQLite gives a new row the largest id + 1, so an emptied table would
    # hand out ids again that cursors (the feed's, the fan-out's) have already passed.
    expired = (Event.created_at < cutoff, Event.id < select(func.max(Event.id)).scalar_subquery())
    with factory() as session:
        if session.scalar(select(Event.id).where(*expired).limit(1)) is None:
            return 0
    with factory() as session:
        begin_write(session)
        old = select(Event.id).where(*expired)
        session.execute(delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(old)))
        n = session.execute(delete(Event).where(*expired)).rowcount  # type: ignore[attr-defined]
        session.commit()
        return int(n or 0)


def worker_engine(url: str, settings: Any) -> Any:
    """The delivery worker's own engine. On SQLite its commits are not fsynced (``synchronous=NORMAL``): what
    it writes is bookkeeping whose loss on a power cut only means a delivery is sent again (at least once
    holds), and intake's next fsynced commit makes it durable anyway (the WAL is written in order). Its
    commits then cost intake, which waits for the same write lock, almost nothing."""
    from moderator.storage.db import make_engine

    return make_engine(url, settings=settings.replace(sqlite_synchronous="NORMAL"), pool_size=2, max_overflow=2) \
        if url.startswith("sqlite") else make_engine(url, settings=settings, pool_size=2, max_overflow=2)


# ---------------------------------------------------------------- sending


class _BlockedConnection(Exception):
    """The guard refused the address a connection was about to use."""

    def __init__(self, error: UnsafeUrl) -> None:
        super().__init__(error.message)
        self.error = error


def _guarded_connection_classes(guard: Guard) -> tuple[type, type]:
    """urllib3 connection classes that resolve the host themselves, check every address with ``guard``,
    and connect to exactly the address checked (no second lookup an attacker's DNS could answer differently).
    TLS still verifies the certificate against the URL's host name."""
    from urllib3.connection import HTTPConnection, HTTPSConnection

    def new_conn(self: Any) -> socket.socket:
        infos = socket.getaddrinfo(self._dns_host, self.port, type=socket.SOCK_STREAM)
        try:
            for info in infos:
                guard.check_address(str(info[4][0]), self.port)
        except UnsafeUrl as exc:
            raise _BlockedConnection(exc) from None
        error: OSError | None = None
        for family, type_, proto, _canon, addr in infos:
            sock = socket.socket(family, type_, proto)
            try:
                sock.settimeout(self.timeout)
                for opt in self.socket_options or ():
                    sock.setsockopt(*opt)
                sock.connect(addr)
                return sock
            except OSError as exc:
                error = exc
                sock.close()
        raise error or OSError(f"no address for {self._dns_host}")

    class GuardedHTTP(HTTPConnection):
        _new_conn = new_conn

    class GuardedHTTPS(HTTPSConnection):
        _new_conn = new_conn

    return GuardedHTTP, GuardedHTTPS


class Sender:
    """POSTs signed payloads through a connection pool whose every connection passes the SSRF guard."""

    def __init__(self, guard: Guard, timeout: float, user_agent: str = "moderator-webhooks") -> None:
        import urllib3

        http_cls, https_cls = _guarded_connection_classes(guard)

        class Pool(urllib3.HTTPConnectionPool):
            ConnectionCls = http_cls

        class TLSPool(urllib3.HTTPSConnectionPool):
            ConnectionCls = https_cls

        self.guard = guard
        self.timeout = timeout
        self.user_agent = user_agent
        self.pool = urllib3.PoolManager(num_pools=50, maxsize=4, block=False)
        self.pool.pool_classes_by_scheme = {"http": Pool, "https": TLSPool}

    def post(self, url: str, body: str, headers: dict[str, str]) -> Attempt:
        import urllib3

        try:
            self.guard.check_url(url, resolve=False)  # the scheme; the addresses are checked when connecting
        except webhooks.WebhookError as exc:
            return Attempt(False, None, exc.message)
        try:
            resp = self.pool.request("POST", url, body=body.encode(), headers={
                **headers, "content-type": "application/json", "user-agent": self.user_agent},
                timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout), retries=False, redirect=False,
                preload_content=False)
        except _BlockedConnection as exc:
            return Attempt(False, None, f"refused: {exc.error.message}")
        except Exception as exc:  # no answer: refused, reset, timed out, TLS, DNS
            return Attempt(False, None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR])
        try:
            resp.read(64 * 1024, decode_content=False)  # a bounded read lets the connection be reused
        except Exception:
            pass
        finally:
            resp.release_conn()
        if 200 <= resp.status < 300:
            return Attempt(True, resp.status)
        return Attempt(False, resp.status, f"HTTP {resp.status}")


# ---------------------------------------------------------------- the worker


def _lower_priority() -> None:
    """Run this thread at nice 19 (Linux schedules threads individually): requests come first."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)



@dataclass
class WorkerStats:
    delivered: int = 0
    failed_attempts: int = 0
    fanned_out: int = 0
    errors: int = 0
    last_error_log: float = field(default=-1e9)


class DeliveryWorker:
    """Fans out, claims and sends deliveries; :meth:`start` runs it in a daemon thread, :meth:`run_once` once.

    ``clock`` schedules (due times, leases, retention); the ``webhook-timestamp`` header is always the real
    time of the attempt, since receivers compare it with their own clocks.
    """

    def __init__(self, factory: sessionmaker[Session], clock: Callable[[], datetime], guard: Guard, *,
                 timeout: float = 10.0, concurrency: int = 8, poll_interval: float = 1.0, failing_after: int = 20,
                 retention_days: float = 30.0, rng: random.Random | None = None,
                 on_stop: Callable[[], None] | None = None,
                 intake_busy: Callable[[], bool] | None = None) -> None:
        self.factory = factory
        self.clock = clock
        self.on_stop = on_stop
        self.intake_busy = intake_busy or (lambda: False)
        self.sender = Sender(guard, timeout)
        self.timeout = timeout
        self.concurrency = max(1, int(concurrency))
        self.poll_interval = poll_interval
        self.failing_after = failing_after
        self.retention_days = retention_days
        self.rng = rng or random.Random()
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._slots = threading.Semaphore(self.concurrency)
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._last_prune = -1e9
        self.per_endpoint = max(1, self.concurrency // 2)
        self._in_flight: dict[int, int] = {}
        self._outcomes: list[Outcome] = []
        self._bodies: dict[int, tuple[float, tuple[str, str]]] = {}
        self._lock = threading.Lock()

    # -- one delivery

    def prepare(self, delivery_ids: Sequence[int]) -> list[Prepared]:
        """Where and with which secrets to send claimed deliveries (one query; the payloads are rendered by
        :meth:`post`, only for what is really sent); deliveries that no longer exist are left out."""
        if not delivery_ids:
            return []
        with self.factory() as session:
            rows = session.execute(
                select(WebhookDelivery.id, WebhookDelivery.event_id, WebhookEndpoint)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookDelivery.id.in_(list(delivery_ids))).order_by(WebhookDelivery.id)).all()
            now = self.clock()
            return [Prepared(delivery_id, endpoint.id, endpoint.url, event_id,
                             tuple(webhooks.signing_secrets(endpoint, now)))
                    for delivery_id, event_id, endpoint in rows]

    def body(self, event_id: int) -> tuple[str, str] | None:
        """(webhook-id, JSON body) of an event, rendered now; shared for a moment by the deliveries of the same
        event to several endpoints. None when the event is gone (pruned)."""
        with self._lock:
            hit = self._bodies.get(event_id)
        if hit is not None and time.monotonic() - hit[0] < BODY_CACHE_SECONDS:
            return hit[1]
        with self.factory() as session:
            event = session.get(Event, event_id)
            if event is None:
                return None
            rendered = (feed.event_id(event), feed.body(feed.render(session, event)))
        with self._lock:
            if len(self._bodies) > 2000:
                self._bodies.clear()
            self._bodies[event_id] = (time.monotonic(), rendered)
        return rendered

    def post(self, p: Prepared) -> Attempt:
        """Render, sign (with the attempt's real time) and POST one prepared delivery."""
        rendered = self.body(p.event_id)
        if rendered is None:
            return Attempt(False, None, "the event no longer exists (deleted after the retention period)")
        msg_id, text = rendered
        sent_at = datetime.now(UTC)
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(sent_at.timestamp())),
                   "webhook-signature": webhooks.sign(p.secrets, msg_id, sent_at, text)}
        attempt = self.sender.post(p.url, text, headers)
        if attempt.ok:
            self.stats.delivered += 1
        else:
            self.stats.failed_attempts += 1
        return attempt

    def send(self, delivery_id: int) -> Attempt | None:
        """Render, sign and send one claimed delivery, and record the outcome (None: it no longer exists)."""
        prepared = self.prepare([delivery_id])
        if not prepared:
            return None
        attempt = self.post(prepared[0])
        record(self.factory, [(delivery_id, prepared[0].endpoint_id, attempt, self.clock())], self.failing_after,
               self.rng)
        return attempt

    # -- one round

    def _maintain(self) -> None:
        if time.monotonic() - self._last_prune >= PRUNE_EVERY:
            self._last_prune = time.monotonic()
            pruned = prune(self.factory, self.clock(), self.retention_days)
            if pruned:
                log.info("deleted %d events older than %g days", pruned, self.retention_days)

    def run_once(self) -> int:
        """Fan out, then claim and send every due delivery (sequentially); returns how many were sent."""
        self._maintain()
        self.stats.fanned_out += fan_out(self.factory, self.clock())
        sent = 0
        while True:
            claimed = claim(self.factory, self.clock(), self.concurrency, self.timeout + LEASE_MARGIN)
            if not claimed:
                return sent
            outcomes = [(p.delivery_id, p.endpoint_id, self.post(p), self.clock())
                        for p in self.prepare([did for did, _ in claimed])]
            record(self.factory, outcomes, self.failing_after, self.rng)
            sent += len(outcomes)

    # -- the thread

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> DeliveryWorker:
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="moderator-webhook-send",
                                        initializer=_lower_priority)
        self._thread = threading.Thread(target=self._run, name="moderator-webhooks", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        try:
            self._flush()  # what the last sends answered (else their leases expire and they go again)
        except Exception as exc:
            self._log_error(exc)
        self.sender.pool.clear()  # close the kept-alive connections to the endpoints
        if self.on_stop is not None:
            self.on_stop()

    def _send_chunk(self, chunk: list[Prepared]) -> None:
        """Send one endpoint's chunk in order; after an attempt that got no answer at all, the rest of the
        chunk is not sent (each counts as a failed attempt, retried after its backoff): a dead endpoint costs
        one timeout per chunk, not one per delivery. A chunk stops starting sends after the send timeout has
        passed (the rest are due again at once), so it ends within twice the timeout: its lease."""
        endpoint_id = chunk[0].endpoint_id
        started = time.monotonic()
        try:
            dead: str | None = None
            for p in chunk:
                attempt: Attempt | None
                if dead is not None:
                    attempt = Attempt(False, None, f"not sent: the endpoint did not answer the delivery before it "
                                                   f"({dead})"[:MAX_ERROR])
                    self.stats.failed_attempts += 1
                elif time.monotonic() - started > self.timeout:  # a slow endpoint: the rest go back, unsent,
                    attempt = None  # so the chunk never outlives its lease
                else:
                    attempt = self.post(p)
                    if not attempt.ok and attempt.status_code is None:
                        dead = attempt.error
                with self._lock:
                    self._outcomes.append((p.delivery_id, p.endpoint_id, attempt, self.clock()))
        except Exception as exc:  # a bug in sending: the leases expire and they are retried
            self._log_error(exc)
        finally:
            with self._lock:
                self._in_flight[endpoint_id] -= 1
            self._slots.release()

    def _flush(self) -> None:
        """Record the outcomes the senders finished since the last round (one transaction)."""
        with self._lock:
            done, self._outcomes = self._outcomes, []
        try:
            record(self.factory, done, self.failing_after, self.rng)
        except Exception:
            with self._lock:  # the database is unavailable: keep them for the next round
                self._outcomes[:0] = done
            raise

    def _allowed(self, endpoint_id: int) -> int:
        """Chunks this endpoint may still take: at most half the senders, so a slow or dead endpoint never
        holds them all."""
        with self._lock:
            return self.per_endpoint - self._in_flight.get(endpoint_id, 0)

    def _log_error(self, exc: BaseException) -> None:
        self.stats.errors += 1
        now = time.monotonic()
        if now - self.stats.last_error_log >= 60:
            self.stats.last_error_log = now
            log.warning("webhook delivery: %s: %s", type(exc).__name__, str(exc).splitlines()[0][:300] if str(exc)
                        else "")

    def _run(self) -> None:
        assert self._pool is not None
        _lower_priority()
        while True:
            stopping = self._stop.is_set()
            claimed = False
            with self._lock:
                done, self._outcomes = self._outcomes, []
            free = 0
            try:
                self._maintain()
                limit = SATURATED_SENDERS if self.intake_busy() else self.concurrency
                while not stopping and free < limit and self._slots.acquire(blocking=False):
                    free += 1
                fanned, ids = round_trip(self.factory, self.clock(), done, self.failing_after, free, CHUNK,
                                         2 * self.timeout + LEASE_MARGIN, self._allowed, self.rng)
                done = []
                self.stats.fanned_out += fanned
                claimed = bool(ids)
                by_id = {p.delivery_id: p for p in self.prepare([i for c in ids for i in c])}
                chunks = [c2 for c2 in ([by_id[i] for i in c if i in by_id] for c in ids) if c2]
                for c2 in chunks:
                    with self._lock:
                        self._in_flight[c2[0].endpoint_id] = self._in_flight.get(c2[0].endpoint_id, 0) + 1
                    self._pool.submit(self._send_chunk, c2)
                    free -= 1
            except Exception as exc:  # database unavailable: try again after the interval
                if done:
                    with self._lock:  # not recorded: keep them for the next round
                        self._outcomes[:0] = done
                if not stopping:
                    self._log_error(exc)
            finally:
                for _ in range(free):
                    self._slots.release()
            if stopping:
                return
            with self._lock:
                busy = bool(self._outcomes) or any(self._in_flight.values())
            # Rounds are paced: under load one round's outcomes, fan-out and claims are written together (one
            # commit), so the worker takes the write lock a few times a second however many it sends.
            # While intake keeps this process busy, rounds are a second apart and take fewer senders: the
            # worker shares the interpreter with the requests, which come first (deliveries catch up after).
            pause = SATURATED_ROUND_INTERVAL if self.intake_busy() else ROUND_INTERVAL
            self._wake.wait(pause if busy or claimed else self.poll_interval)
            self._wake.clear()


@dataclass(frozen=True)
class Prepared:
    """A claimed delivery: where it goes, with which secrets."""

    delivery_id: int
    endpoint_id: int
    url: str
    event_id: int
    secrets: tuple[str, ...]


__all__ = ["MAX_ATTEMPTS", "RETRY_DELAYS", "Attempt", "DeliveryWorker", "Sender", "claim", "fan_out", "prune",
           "record", "retry_delay"]
