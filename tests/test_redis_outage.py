"""Redis unreachable with ``MODERATOR_DUP_BACKEND=redis``: the outage shows (gauge, /readyz, one log line, a
reason on every comment accepted without its checks), costs no timeout per request, can refuse submissions
(fail closed), and ends by itself when Redis answers again.

Redis is made unreachable without touching the real server: a dead port (connection refused) or a local
TCP proxy in front of the real Redis at 127.0.0.1:6379 that either holds connections without answering
(blackhole), closes them at once (refuse) or forwards them. Keys go under a random prefix, deleted after.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from moderator.dedup.settings import DedupSettings
from moderator.storage.models import Comment

redis = pytest.importorskip("redis")

REDIS_URL = "redis://127.0.0.1:6379/0"
CLEAN = "Thanks for the thoughtful article about the new cycle lanes on Elm Street, I learned a lot."
GAUGE_RE = re.compile(r'^moderator_dependency_up\{dependency="redis"\} (\S+)$', re.M)


def _redis_answers() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.exceptions.RedisError:
        return False


class ManualClock:
    """Monotonic seconds the test advances by hand (the breaker's cooldown and the log interval)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Proxy:
    """A TCP listener in front of the real Redis: ``mode`` is ``blackhole`` (accept, never answer),
    ``refuse`` (accept and close at once) or ``forward``. ``accepted`` counts connections."""

    def __init__(self, mode: str, upstream: tuple[str, int] = ("127.0.0.1", 6379)) -> None:
        self.mode = mode
        self.upstream = upstream
        self.accepted = 0
        self.held: list[socket.socket] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"redis://127.0.0.1:{self.sock.getsockname()[1]}/0"
        self._closed = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.mode == "blackhole":
                self.held.append(conn)
            elif self.mode == "refuse":
                conn.close()
            else:
                up = socket.create_connection(self.upstream)
                self.held += [conn, up]
                for a, b in ((conn, up), (up, conn)):
                    threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def drop(self) -> None:
        """Close every connection, as a Redis restart does."""
        for s in self.held:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.held.clear()

    def close(self) -> None:
        self._closed = True
        self.sock.close()
        for s in self.held:
            s.close()


def dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connections are refused
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def prefix() -> Iterator[str]:
    p = f"moderator-test:{uuid.uuid4().hex}:"
    yield p
    if _redis_answers():
        c = redis.Redis.from_url(REDIS_URL)
        keys = list(c.scan_iter(match=f"{p}*", count=1000))
        if keys:
            c.delete(*keys)
        c.close()


@pytest.fixture
def proxies() -> Iterator[Callable[[str], Proxy]]:
    made: list[Proxy] = []

    def factory(mode: str) -> Proxy:
        made.append(Proxy(mode))
        return made[-1]

    yield factory
    for p in made:
        p.close()


def detector(url: str, prefix: str, clock: ManualClock, **overrides: Any) -> Any:
    from moderator.dedup.redis_index import build_redis_detector

    settings = DedupSettings(backend="redis", redis_url=url, redis_prefix=prefix, rate_limit="10/60",
                             **overrides)
    d = build_redis_detector(settings)
    d.index.guard.clock = clock
    return d


def gauge(svc: Any) -> float | None:
    m = GAUGE_RE.search(svc.call("GET", "/metrics", None).get_data(as_text=True))
    return float(m.group(1)) if m else None


def stored(svc: Any) -> int:
    with svc.state.sessionmaker() as s:
        return int(s.scalar(select(func.count()).select_from(Comment)) or 0)


def outage_log(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("moderator") and r.levelno >= logging.WARNING]


def submit(svc: Any, i: int, author: str = "author-1") -> Any:
    return svc.submit(f"{CLEAN} Comment number {i}.", author_id=author)


def test_dead_port_fail_open_marks_every_comment_and_logs_once(make_service_fixture: Any, prefix: str,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    # no cooldown: every submission tries Redis (and fails), the log stays at one line all the same
    d = detector(dead_url(), prefix, clock, redis_cooldown=0.0)
    svc = make_service_fixture(DUPLICATE_DETECTOR=d, POLICY={"mode": "postmoderation"})
    caplog.set_level(logging.INFO)
    answers = [submit(svc, i) for i in range(50)]

    assert [r.status_code for r in answers] == [201] * 50
    assert stored(svc) == 50
    for r in answers:
        assert {"rate_limit_unavailable", "duplicate_check_unavailable"} <= set(r.get_json()["reasons"])
        body = r.get_json()  # decided on its scores alone: the same decision as with the checks passing
        assert body["decision"] == svc.state.policy.evaluate(body["scores"]).decision
    cid = answers[0].get_json()["id"]
    detail = svc.call("GET", f"/v1/comments/{cid}", "review").get_json()
    assert "duplicate_check_unavailable" in detail["reasons"]  # stored with the comment

    lines = outage_log(caplog)
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert "redis unavailable" in lines[0].getMessage() and "Connection refused" in lines[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)  # no tracebacks
    assert gauge(svc) == 0.0

    ready = svc.call("GET", "/readyz", None)
    assert ready.status_code == 200  # fail open: still ready, the detail says Redis is down
    assert ready.get_json()["status"] == "ready" and ready.get_json()["redis"].startswith("down: ")

    clock.t += 61  # past the log interval: one "still unavailable" line with the counts
    submit(svc, 50)
    lines = outage_log(caplog)
    assert len(lines) == 2 and "still unavailable" in lines[1].getMessage()


@pytest.mark.redis
@pytest.mark.skipif(not _redis_answers(), reason=f"no Redis server answers at {REDIS_URL}")
def test_blackhole_then_recovery(make_service_fixture: Any, prefix: str, proxies: Callable[[str], Proxy],
                                 caplog: pytest.LogCaptureFixture) -> None:
    proxy = proxies("blackhole")
    clock = ManualClock()
    d = detector(proxy.url, prefix, clock, redis_cooldown=30.0)
    svc = make_service_fixture(DUPLICATE_DETECTOR=d, POLICY={"mode": "postmoderation"})
    caplog.set_level(logging.INFO)

    answers = [submit(svc, i) for i in range(20)]
    assert [r.status_code for r in answers] == [201] * 20
    assert all("rate_limit_unavailable" in r.get_json()["reasons"] for r in answers)
    # the first call timed out (MODERATOR_REDIS_TIMEOUT), then the breaker skipped Redis: one connection in all
    assert proxy.accepted == 1
    assert gauge(svc) == 0.0
    assert len(outage_log(caplog)) == 1 and "Timeout" in outage_log(caplog)[0].getMessage()
    assert svc.call("GET", "/readyz", None).get_json()["redis"].startswith("down: ")
    assert proxy.accepted == 1  # /readyz does not probe while the breaker is open

    proxy.mode = "forward"  # Redis answers again
    clock.t += 31  # the cooldown is over: the next call tries
    first = svc.submit("Buy cheap watches at example dot com today, best prices in town", author_id="spam-1")
    assert first.status_code == 201
    reasons = first.get_json()["reasons"]
    assert not any(r.endswith("_unavailable") for r in reasons), reasons
    assert gauge(svc) == 1.0
    assert "available again" in outage_log(caplog)[-1].getMessage()
    # duplicate detection works again, through Redis
    again = svc.submit("Buy CHEAP watches at example.com today!! best prices in town", author_id="spam-1")
    assert again.get_json()["duplicate"]["kind"] == "same_author"
    ready = svc.call("GET", "/readyz", None).get_json()
    assert ready["redis"] == "ok"

    # pooled connections closed by the server (a Redis restart): reconnected, not an outage
    before = len(outage_log(caplog))
    accepted = proxy.accepted
    proxy.drop()
    resp = submit(svc, 100, author="after-restart")
    assert proxy.accepted > accepted  # reconnected
    assert not any(r.endswith("_unavailable") for r in resp.get_json()["reasons"])
    assert len(outage_log(caplog)) == before and gauge(svc) == 1.0


@pytest.mark.redis
@pytest.mark.skipif(not _redis_answers(), reason=f"no Redis server answers at {REDIS_URL}")
def test_fail_closed_refuses_with_503_then_recovers(make_service_fixture: Any, prefix: str,
                                                    proxies: Callable[[str], Proxy]) -> None:
    proxy = proxies("refuse")
    clock = ManualClock()
    d = detector(proxy.url, prefix, clock, redis_cooldown=5.0, redis_fail_mode="closed")
    svc = make_service_fixture(DUPLICATE_DETECTOR=d)

    for i in range(5):
        resp = submit(svc, i)
        assert resp.status_code == 503
        assert resp.get_json()["error"]["code"] == "unavailable"
        assert 1 <= int(resp.headers["Retry-After"]) <= 5
    assert stored(svc) == 0  # nothing acknowledged, nothing stored
    assert gauge(svc) == 0.0
    ready = svc.call("GET", "/readyz", None)
    assert ready.status_code == 503 and ready.get_json()["redis"].startswith("down: ")

    proxy.mode = "forward"
    clock.t += 6
    ready = svc.call("GET", "/readyz", None)  # readiness probes Redis once the cooldown is over
    assert ready.status_code == 200 and ready.get_json()["redis"] == "ok"
    resp = submit(svc, 99)
    assert resp.status_code == 201
    assert not any(r.endswith("_unavailable") for r in resp.get_json()["reasons"])
    assert stored(svc) == 1
    assert gauge(svc) == 1.0


def test_readyz_without_redis_has_no_redis_entry(service: Any) -> None:
    assert "redis" not in service.call("GET", "/readyz", None).get_json()


def test_guard_lets_one_trial_call_through_after_the_cooldown() -> None:
    from moderator.dedup.outage import DependencyGuard, DependencyUnavailable

    clock = ManualClock()
    guard = DependencyGuard("redis", cooldown=5.0, clock=clock)
    calls: list[str] = []

    def down() -> None:
        calls.append("down")
        raise redis.exceptions.ConnectionError("refused")

    with pytest.raises(DependencyUnavailable) as first:
        guard.call(down)
    assert first.value.retry_after == 5
    with pytest.raises(DependencyUnavailable):
        guard.call(down)
    assert calls == ["down"]  # skipped while the breaker is open
    clock.t += 5
    with pytest.raises(DependencyUnavailable):
        guard.call(down)
    assert calls == ["down", "down"]  # the trial call
    clock.t += 5
    assert guard.call(lambda: 42) == 42
    assert guard.health() == (True, "ok")
    with pytest.raises(ZeroDivisionError):  # a bug is not an outage
        guard.call(lambda: 1 / 0)
    assert guard.up is True


def test_sign_in_limiter_reports_its_redis_fallback(make_service_fixture: Any) -> None:
    svc = make_service_fixture(LOGIN_RATE_LIMIT="2 per minute", LOGIN_LIMIT_STORAGE=dead_url())
    client = svc.app.test_client()
    page = client.get("/review/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    resp = client.post("/review/login", data={"csrf_token": token.group(1), "username": "nobody",
                                              "password": "wrong"})
    assert resp.status_code == 401  # counted in memory meanwhile
    assert gauge(svc) == 0.0


def test_review_pages_show_what_was_not_checked(make_service_fixture: Any, prefix: str) -> None:
    from moderator.service import users
    from moderator.service.audit import Actor
    from moderator.storage.db import write_session

    svc = make_service_fixture(DUPLICATE_DETECTOR=detector(dead_url(), prefix, ManualClock()))
    cid = submit(svc, 1).get_json()["id"]
    with svc.state.engine.begin() as conn:  # PostgreSQL: the schema is shared by tests
        conn.exec_driver_sql("DELETE FROM moderator_users")
    with write_session(svc.state.sessionmaker) as s:
        users.create_user(s, "carol", "review", "correct horse battery", Actor("cli:test", "tests", "admin"),
                          svc.state.clock())
    client = svc.app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/review/login").get_data(as_text=True))
    assert token
    signed = client.post("/review/login", data={"csrf_token": token.group(1), "username": "carol",
                                                "password": "correct horse battery"})
    assert signed.status_code == 303
    tag = re.compile(r'<span class="tag tag-warn"[^>]*>duplicate_check_unavailable</span>')
    for path in ("/review/", f"/review/comments/{cid}"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert tag.search(page.get_data(as_text=True)), path
