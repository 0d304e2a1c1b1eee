"""The service when its database is unavailable: refusing connections, accepting and never answering
(blackholed), holding its write lock, out of disk. Every request that needs the database answers 503
``unavailable`` with ``Retry-After`` within the configured timeouts, ``/readyz`` says not ready within its 2 s
budget, ``/healthz`` stays 200, and the service answers 2xx again by itself once the database is back, with
every acknowledged comment stored.

PostgreSQL runs behind :class:`SwitchProxy`, a TCP proxy in this process that forwards to the real server,
blackholes or refuses on command. The time bounds asserted below are the configured timeouts plus generous
slack (the machine may be busy): they tell "bounded" from "hangs", they are not speed targets.
"""

from __future__ import annotations

import contextlib
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text

from conftest import make_service

TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')

# Short timeouts, so an outage answers within a few seconds: a new connection gives up after 2 s (libpq's
# minimum), a silent server after 1 + 1 s, a wait for a pooled connection after 2 s.
FAST = {"DB_CONNECT_TIMEOUT": 2, "DB_STATEMENT_TIMEOUT": 1, "DB_POOL_TIMEOUT": 2, "DB_RETRY_AFTER": 7}
OUTAGE_BUDGET = 2 + 2 + 2  # a dead pooled connection found by its ping (2 s) + a new connection (2 s) + slack
SLACK = 6.0  # a busy 2-core machine running other suites


class SwitchProxy:
    """A TCP proxy on 127.0.0.1 in threads: ``forward`` to ``target``, ``blackhole`` (accept, never answer;
    open connections stop carrying data) or ``refuse`` (nothing listens; open connections are closed)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = "forward"
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._listener: socket.socket | None = None
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listen()

    def _listen(self) -> None:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self._listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            with self._lock:
                self._socks.append(client)
            if self.mode != "forward":
                continue  # blackhole: the connection stays open and nobody ever reads or answers it
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks.append(upstream)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                break
            if not data:
                break
            if self.mode != "forward":
                continue  # swallowed: the peer never gets an answer
            try:
                dst.sendall(data)
            except OSError:
                break
        for s in (src, dst):
            _close(s)

    def set(self, mode: str) -> None:
        assert mode in ("forward", "blackhole", "refuse")
        self.mode = mode
        if mode == "refuse":
            self._drop_all()
        elif self._listener is None:
            self._listen()

    def _drop_all(self) -> None:
        if self._listener is not None:
            _close(self._listener)
            self._listener = None
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            _close(s)

    def close(self) -> None:
        self.mode = "refuse"
        self._drop_all()


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv() on it
    s.close()


def assert_unavailable(resp: Any, reason: str | None = None) -> None:
    assert resp.status_code == 503, (resp.status_code, resp.get_data(as_text=True)[:500])
    body = resp.get_json()
    assert body["error"]["code"] == "unavailable", body
    assert resp.headers["Retry-After"] == str(FAST["DB_RETRY_AFTER"])
    if reason is not None:
        assert f"({reason})" in body["error"]["message"], body


def timed(fn: Any, *args: Any, **kw: Any) -> tuple[Any, float]:
    t0 = time.monotonic()
    result = fn(*args, **kw)
    return result, time.monotonic() - t0


def submit_until_accepted(svc: Any, deadline_s: float = 30.0) -> Any:
    """Submit until a 201 (a pooled connection broken by the outage may fail one attempt); 503s in between."""
    end = time.monotonic() + deadline_s
    while True:
        resp = svc.submit("Back again: a thoughtful comment after the outage.")
        if resp.status_code == 201 or time.monotonic() > end:
            return resp
        assert_unavailable(resp)
        time.sleep(0.3)


def web_login_page_status(client: Any) -> Any:
    page = client.get("/review/login")
    token = TOKEN_RE.search(page.get_data(as_text=True))
    assert token, page.get_data(as_text=True)[:300]
    return client.post("/review/login", data={"csrf_token": token.group(1), "username": "nobody",
                                               "password": "not the password"})


# ---------------------------------------------------------------- PostgreSQL through the switchable proxy


@pytest.fixture
def proxy() -> Iterator[SwitchProxy]:
    p = SwitchProxy(("127.0.0.1", 5432))
    yield p
    p.close()


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_postgresql_blackholed_refusing_and_back(db_url: str, make_app: Any, proxy: SwitchProxy) -> None:
    assert "127.0.0.1:5432" in db_url
    svc = make_service(make_app(DATABASE_URL=db_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"), **FAST))
    acknowledged = []
    first = svc.submit()
    assert first.status_code == 201, first.get_json()
    acknowledged.append(first.get_json()["id"])
    assert svc.call("GET", "/readyz", None).status_code == 200

    # Blackholed: the pooled connections and any new one get no answer.
    proxy.set("blackhole")
    with ThreadPoolExecutor(16) as pool:
        t0 = time.monotonic()
        readies = [pool.submit(timed, svc.call, "GET", "/readyz", None) for _ in range(10)]
        submits = [pool.submit(timed, svc.submit, f"Comment {i} written while the database hangs.")
                   for i in range(6)]
        for f in readies:
            resp, took = f.result()
            assert resp.status_code == 503
            body = resp.get_json()
            assert body["status"] == "unavailable" and body["database"] == "unreachable"
            assert body["dependencies"]["database"]["up"] is False
            assert took < 2.0 + SLACK, took  # the 2 s readiness budget
        health, took = timed(svc.call, "GET", "/healthz", None)
        assert health.status_code == 200
        for f in submits:  # the group commit fails every waiting job at once: no job waits a timeout per job
            resp, took = f.result()
            assert_unavailable(resp)
            assert took < OUTAGE_BUDGET + SLACK, took
        assert time.monotonic() - t0 < OUTAGE_BUDGET + SLACK
    for path, role in (("/v1/queue", "review"), (f"/v1/comments/{acknowledged[0]}", "submit")):
        resp, took = timed(svc.call, "GET", path, role)
        assert_unavailable(resp)
        assert took < OUTAGE_BUDGET + SLACK

    # Refusing: the server is gone; answers come at once.
    proxy.set("refuse")
    resp, took = timed(svc.submit, "A comment written while the database refuses connections.")
    assert_unavailable(resp)
    resp = svc.submit("Another comment written while the database refuses connections.")
    assert_unavailable(resp, "refused")
    ready = svc.call("GET", "/readyz", None)
    assert ready.status_code == 503
    assert ready.get_json()["dependencies"]["database"] == {"up": False,
                                                           "detail": "the database is unavailable (refused)"}
    page = web_login_page_status(svc.app.test_client())
    assert page.status_code == 503 and page.headers["Retry-After"] == "7"
    assert "Service unavailable" in page.get_data(as_text=True)

    # Back: 2xx again without a restart.
    proxy.set("forward")
    resp = submit_until_accepted(svc)
    assert resp.status_code == 201, resp.get_json()
    acknowledged.append(resp.get_json()["id"])
    assert svc.call("GET", "/readyz", None).status_code == 200
    for cid in acknowledged:
        assert svc.call("GET", f"/v1/comments/{cid}", "submit").status_code == 200
    with svc.state.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM comments")).scalar_one() == len(acknowledged)


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_postgresql_statement_timeout_answers_503(db_url: str, make_app: Any) -> None:
    """A statement running past MODERATOR_DB_STATEMENT_TIMEOUT is cancelled by the server: 503 ``timeout``."""
    from moderator.storage.db import unavailable_reason

    app = make_app(**FAST)
    from sqlalchemy.exc import OperationalError

    with pytest.raises(OperationalError) as err, app.extensions["moderator"].engine.connect() as conn:
        conn.execute(text("SELECT pg_sleep(5)"))
    assert unavailable_reason(err.value) == "timeout"


# ---------------------------------------------------------------- SQLite


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_full_disk_answers_503_then_recovers(db_url: str, make_app: Any) -> None:
    """A full disk (SQLite's max_page_count caps the file at its current size): submissions answer 503 and
    /readyz says not ready; once there is room again, 201 and ready, and every 201 is stored."""
    svc = make_service(make_app(**FAST))
    engine = svc.state.engine
    with engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()

    def cap(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

    event.listen(engine, "connect", cap)
    engine.dispose()  # new connections, each capped
    acknowledged, full = [], None
    for i in range(500):
        last = f"Comment number {i} filling the disk with some text to take up room " * 3
        resp = svc.submit(last)
        if resp.status_code != 201:
            full = resp
            break
        acknowledged.append(resp.get_json()["id"])
    assert full is not None, "the capped database never filled up"
    assert_unavailable(full, "disk full")
    assert_unavailable(svc.submit(last), "disk full")  # the same rows still do not fit
    ready = svc.call("GET", "/readyz", None)
    assert ready.status_code == 503
    assert ready.get_json()["dependencies"]["database"] == {
        "up": False, "detail": "the database is unavailable (writes failing: disk full)"}
    assert svc.call("GET", "/healthz", None).status_code == 200

    event.remove(engine, "connect", cap)
    engine.dispose()  # room again
    resp = submit_until_accepted(svc)
    assert resp.status_code == 201, resp.get_json()
    acknowledged.append(resp.get_json()["id"])
    assert svc.call("GET", "/readyz", None).status_code == 200
    with engine.connect() as conn:
        stored = [r[0] for r in conn.execute(text("SELECT id FROM comments ORDER BY id"))]
    assert stored == sorted(acknowledged)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_write_lock_held_answers_503_busy(db_url: str, make_app: Any) -> None:
    """Another writer holds SQLite's write lock past MODERATOR_SQLITE_BUSY_TIMEOUT: 503 ``busy``, then 201."""
    svc = make_service(make_app(SQLITE_BUSY_TIMEOUT=0.3, **FAST))
    holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        resp, took = timed(svc.submit, "Written while another process holds the write lock.")
        assert_unavailable(resp, "busy")
        assert took < 0.3 + SLACK
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert svc.submit().status_code == 201


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_unopenable_database_answers_503_on_api_and_pages(db_url: str, make_app: Any,
                                                                 tmp_path: Path) -> None:
    from moderator.storage.db import make_sessionmaker

    svc = make_service(make_app(**FAST))
    good = svc.state.sessionmaker
    gone = create_engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'moderator.db'}")
    svc.state.sessionmaker = make_sessionmaker(gone)
    try:
        assert_unavailable(svc.call("GET", "/v1/queue", "review"), "unreachable")
        page = web_login_page_status(svc.app.test_client())
        assert page.status_code == 503, page.get_data(as_text=True)[:300]
        assert page.headers["Retry-After"] == "7" and "text/html" in page.content_type
        assert svc.call("GET", "/readyz", None).status_code == 503
    finally:
        svc.state.sessionmaker = good
        gone.dispose()
    assert svc.call("GET", "/readyz", None).status_code == 200
    assert svc.call("GET", "/v1/queue", "review").status_code == 200


# ---------------------------------------------------------------- the pieces


def test_group_commit_fails_a_batch_at_once_when_the_database_is_unavailable(tmp_path: Path) -> None:
    """Jobs sharing a transaction that fails for unavailability all get DatabaseUnavailable and are not re-run
    one by one (each re-run would wait through another timeout); any other failure still re-runs them."""
    from moderator.service.group_commit import GroupCommitter, _Job
    from moderator.storage.db import DatabaseHealth, DatabaseUnavailable, make_engine, make_sessionmaker

    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    health = DatabaseHealth()
    committer = GroupCommitter(make_sessionmaker(engine), health=health)
    calls = []

    def full(_session: Any) -> None:
        calls.append(1)
        raise sqlite3.OperationalError("database or disk is full")

    jobs = [_Job(full) for _ in range(3)]  # a batch of three, as concurrent run() calls would queue it
    committer._process(jobs)
    assert len(calls) == 1  # the shared transaction ran the first job only; none was re-run alone
    assert all(isinstance(j.error, DatabaseUnavailable) and j.error.reason == "disk full" for j in jobs)
    assert health.failing() == "disk full"

    def conflict(_session: Any) -> None:
        calls.append(1)
        raise ValueError("a job's own error")

    calls.clear()
    jobs = [_Job(conflict) for _ in range(3)]
    committer._process(jobs)
    assert len(calls) == 4  # once shared, then each alone
    assert all(isinstance(j.error, ValueError) for j in jobs)

    committer._process([_Job(lambda s: s.execute(text("SELECT 1")))])
    assert health.failing() is None  # a commit went through
    engine.dispose()


def test_readiness_checks_are_shared_and_bounded() -> None:
    """Ten concurrent reports of a hung check start it once and answer after the budget; later reports answer
    at once while it still hangs; a finished check is reported as it ended."""
    from moderator.service.readiness import Readiness

    release = threading.Event()
    started = []

    def hung() -> str:
        started.append(1)
        release.wait(30)
        raise ConnectionError("still down\nsecond line")

    r = Readiness(budget=0.5)
    r.register("database", hung)
    r.register("cache", lambda: "fine")
    with ThreadPoolExecutor(10) as pool:
        reports = list(pool.map(lambda _: r.report(), range(10)))
    assert len(started) == 1
    for rep in reports:
        assert rep["cache"] == {"up": True, "detail": "fine"}
        assert rep["database"]["up"] is False and rep["database"]["detail"].startswith("no answer for")
    (rep, took) = timed(r.report)
    assert rep["database"]["up"] is False and len(started) == 1
    assert took < 0.5  # past its budget, the hung check is reported without waiting again
    release.set()
    for _ in range(100):
        if r.report()["database"]["detail"] == "still down":
            break
        time.sleep(0.05)
    assert r.report()["database"] == {"up": False, "detail": "still down"}
    assert len(started) >= 2  # a finished check is run again for the next report (no stale cache by default)


def test_unavailable_reason_tells_outages_from_bugs() -> None:
    import psycopg
    from sqlalchemy.exc import IntegrityError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from moderator.storage.db import DatabaseUnavailable, unavailable_reason

    def wrapped(orig: BaseException) -> OperationalError:
        return OperationalError("SELECT 1", {}, orig)

    assert unavailable_reason(wrapped(sqlite3.OperationalError("database or disk is full"))) == "disk full"
    assert unavailable_reason(sqlite3.OperationalError("database is locked")) == "busy"
    assert unavailable_reason(wrapped(sqlite3.OperationalError("no such table: comments"))) is None
    assert unavailable_reason(IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE"))) is None
    assert unavailable_reason(wrapped(psycopg.errors.DiskFull("could not extend file"))) == "disk full"
    assert unavailable_reason(wrapped(psycopg.errors.QueryCanceled("statement timeout"))) == "timeout"
    assert unavailable_reason(wrapped(psycopg.OperationalError(
        'connection to server at "127.0.0.1", port 1 failed: Connection refused'))) == "refused"
    assert unavailable_reason(wrapped(psycopg.OperationalError("connection timeout expired"))) == "timeout"
    assert unavailable_reason(PoolTimeout("QueuePool limit reached")) == "timeout"
    assert unavailable_reason(DatabaseUnavailable("disk full")) == "disk full"
    assert unavailable_reason(ValueError("bug")) is None


def test_timeouts_come_from_the_settings(tmp_path: Path) -> None:
    from moderator.config import Settings
    from moderator.storage.db import DbTimeouts, make_engine

    settings = Settings.from_env({"MODERATOR_DB_CONNECT_TIMEOUT": "3", "MODERATOR_DB_STATEMENT_TIMEOUT": "4.5",
                                  "MODERATOR_DB_POOL_TIMEOUT": "6", "MODERATOR_SQLITE_BUSY_TIMEOUT": "0.25"})
    t = DbTimeouts.from_settings(settings)
    assert t == DbTimeouts(3.0, 4.5, 6.0, 0.25) and t.answer == 5.5
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}", settings=settings)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 250
    assert engine.pool.timeout() == 6.0
    engine.dispose()


def test_an_optional_dependency_is_reported_but_does_not_make_the_service_unready() -> None:
    from moderator.service.readiness import Readiness

    def down() -> str:
        raise ConnectionError("refused")

    r = Readiness(budget=0.5)
    r.register("database", lambda: "ok")
    r.register("redis", down, required=False)
    report = r.report()
    assert report["redis"] == {"up": False, "detail": "refused"}
    assert r.ready(report)
    r.register("redis", down)  # required again (a fail-closed service)
    assert not r.ready(r.report())
