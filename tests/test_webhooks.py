"""Webhooks and the events feed, on SQLite and PostgreSQL: outcome events are emitted with the decisions,
delivered to a real local HTTP receiver and verified with the ``standardwebhooks`` reference library,
retried until a receiver that was down is back (every event once), refused for SSRF targets when added and
at delivery, sent once with two workers on one PostgreSQL; the feed's order, cursor and type filter; roles."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from conftest import Service, make_service
from moderator.service import delivery, feed, webhooks
from moderator.service.audit import Actor
from moderator.service.delivery import DeliveryWorker
from moderator.service.webhooks import Guard
from moderator.storage.db import make_engine, make_sessionmaker, write_session
from moderator.storage.models import Event, WebhookDelivery, WebhookEndpoint
from receiver import Receiver

CLEAN = "Thanks for the thoughtful article, I learned a lot."
ATTACK = "You are an idiot and a moron, shut up you stupid fool."
ADMIN = Actor("cli:test", "tests", "admin")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def settle(svc: Service) -> None:
    """Wait until every committed event is below the feed's horizon. Only PostgreSQL waits: there another
    test's transaction open on the shared server holds the horizon back for a moment (see feed.py)."""
    st = svc.state
    deadline = time.monotonic() + 30
    while True:
        with st.sessionmaker() as session:
            total = session.scalar(select(func.count()).select_from(Event))
            seen = len(feed.events_after(session, feed.START, 100_000))
        if seen >= (total or 0) or time.monotonic() > deadline:
            return
        time.sleep(0.05)


def worker_for(svc: Service, **kw: Any) -> DeliveryWorker:
    settle(svc)
    st = svc.state
    return DeliveryWorker(st.sessionmaker, st.clock, Guard("127.0.0.1:8000"), timeout=5.0, **kw)


def add_webhook(svc: Service, url: str, events: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url}
    if events is not None:
        body["events"] = events
    resp = svc.call("POST", "/v1/webhooks", "admin", json=body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def decide(svc: Service, cid: int, decision: str, **extra: Any) -> None:
    resp = svc.call("POST", f"/v1/queue/{cid}/decision", "review", json={"decision": decision, **extra})
    assert resp.status_code == 200, resp.get_json()
    settle(svc)


def event_rows(svc: Service) -> list[Event]:
    with svc.state.sessionmaker() as session:
        return list(session.scalars(select(Event).order_by(Event.id)))


# ---------------------------------------------------------------- emission


def test_moderator_decisions_emit_comment_decided(service: Service) -> None:
    a = service.submit(CLEAN, external_id="site-1").get_json()["id"]
    b = service.submit(ATTACK, external_id="site-2").get_json()["id"]
    assert event_rows(service) == []  # held at intake: the answer said so, no event
    decide(service, a, "approve")
    decide(service, b, "reject", reason="personal attack", categories=["personal_attack"])
    rows = event_rows(service)
    assert [(e.type, e.comment_id, e.author_id) for e in rows] == [
        ("comment.decided", a, "author-1"), ("comment.decided", b, "author-1")]
    assert rows[0].data["decision"] == "approved" and rows[0].data["decided_by"] == "moderator"
    assert rows[1].data == {"decision": "rejected", "reason": "personal attack", "categories": ["personal_attack"],
                            "decided_by": "moderator", "actor": rows[1].data["actor"],
                            "actor_name": "test review (" + rows[1].data["actor_name"].split("(")[1]}
    assert rows[1].data["actor"].startswith("key:")


def test_policy_outcomes_at_intake_emit_events(make_app: Callable[..., Any]) -> None:
    svc = make_service(make_app(POLICY={"mode": "postmoderation", "reject": {"personal_attack": 0.5}}))
    published = svc.submit(CLEAN).get_json()
    rejected = svc.submit(ATTACK).get_json()
    assert (published["status"], rejected["status"]) == ("published", "rejected")
    rows = event_rows(svc)
    assert [(e.type, e.comment_id) for e in rows] == [("comment.published", published["id"]),
                                                       ("comment.decided", rejected["id"])]
    assert rows[1].data["decision"] == "rejected" and rows[1].data["decided_by"] == "policy"
    assert "personal_attack" in rows[1].data["categories"]


# ---------------------------------------------------------------- delivery, verified


def test_events_are_delivered_signed_and_verify_with_standardwebhooks(service: Service,
                                                                       receiver: Receiver) -> None:
    hook = add_webhook(service, receiver.url)
    assert hook["secret"].startswith("whsec_") and "secret" not in service.call("GET", "/v1/webhooks").get_json()[
        "items"][0]
    cid = service.submit(CLEAN, external_id="post-9#c1").get_json()["id"]
    decide(service, cid, "approve", reason="fine")
    assert worker_for(service).run_once() == 1
    [(headers, body)] = receiver.received
    payload = Webhook(hook["secret"]).verify(body, headers)
    assert headers["webhook-id"] == f"evt_{event_rows(service)[0].id}"
    assert payload["type"] == "comment.decided"
    assert payload["data"]["decision"] == "approved" and payload["data"]["reason"] == "fine"
    comment = payload["data"]["comment"]
    assert comment["external_id"] == "post-9#c1" and comment["status"] == "published"
    assert comment == service.call("GET", f"/v1/comments/{cid}", "submit").get_json()
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(body, headers)
    log = service.call("GET", f"/v1/webhooks/{hook['id']}/deliveries").get_json()["items"]
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in log] == [("delivered", 1, 204)]
    assert worker_for(service).run_once() == 0  # sent once


def test_event_filter_and_rotated_secret(service: Service, receiver: Receiver) -> None:
    hook = add_webhook(service, receiver.url, ["comment.published"])
    other = Receiver().start()
    try:
        everything = add_webhook(service, other.url)
        cid = service.submit(CLEAN).get_json()["id"]
        decide(service, cid, "approve")
        worker_for(service).run_once()
        assert receiver.received == [] and len(other.received) == 1  # comment.decided is not in the filter
        rotated = service.call("POST", f"/v1/webhooks/{everything['id']}/rotate-secret").get_json()
        assert rotated["secret"] != everything["secret"] and rotated["secret_rotated_until"]
        decide(service, service.submit(CLEAN + " Again.").get_json()["id"], "reject")
        worker_for(service).run_once()
        headers, body = other.received[1]
        assert len(headers["webhook-signature"].split(" ")) == 2
        Webhook(everything["secret"]).verify(body, headers)  # the old secret, within its grace period
        Webhook(rotated["secret"]).verify(body, headers)
        service.state.clock.advance(25 * 3600)  # the grace period (24 h) is over: the new secret alone
        redo = service.call("POST", "/v1/webhooks/redeliver", json={"event_id": headers["webhook-id"]})
        assert redo.status_code == 200, redo.get_json()
        worker_for(service).run_once()
        headers, body = other.received[2]
        assert len(headers["webhook-signature"].split(" ")) == 1
        Webhook(rotated["secret"]).verify(body, headers)
        assert hook["id"] != everything["id"]
    finally:
        other.stop()


def test_a_receiver_down_for_a_while_gets_every_event_once_back(service: Service) -> None:
    down = Receiver().start()
    port = down.port
    down.stop()  # nothing listens on the port: connections are refused
    hook = add_webhook(service, f"http://127.0.0.1:{port}/hooks")
    ids = [service.submit(f"{CLEAN} number {i}").get_json()["id"] for i in range(5)]
    for cid in ids:
        decide(service, cid, "approve")
    worker = worker_for(service)
    worker.run_once()
    service.state.clock.advance(7)
    worker.run_once()  # the first retry, still down
    log = service.call("GET", f"/v1/webhooks/{hook['id']}/deliveries").get_json()["items"]
    assert {(d["status"], d["attempts"]) for d in log} == {("pending", 2)}
    assert all("refused" in d["last_error"].lower() for d in log)
    back = Receiver(port).start()  # the receiver is back on its port
    try:
        service.state.clock.advance(20)
        assert worker.run_once() == 0  # the next retry is not due yet (30 s +-20%)
        service.state.clock.advance(20)
        assert worker.run_once() == 5
        assert sorted(back.ids()) == sorted(f"evt_{e.id}" for e in event_rows(service))
        service.state.clock.advance(3600)
        assert worker.run_once() == 0 and len(back.received) == 5  # each once
        Webhook(hook["secret"]).verify(back.received[0][1], back.received[0][0])
    finally:
        back.stop()


def test_endpoint_failing_after_a_run_of_failures_and_active_after_a_success(service: Service,
                                                                              receiver: Receiver) -> None:
    hook = add_webhook(service, receiver.url)
    receiver.status = 500
    for i in range(3):
        decide(service, service.submit(f"{CLEAN} {i}").get_json()["id"], "approve")
    worker_for(service, failing_after=3).run_once()
    state = service.call("GET", f"/v1/webhooks/{hook['id']}").get_json()
    assert (state["status"], state["consecutive_failures"]) == ("failing", 3)
    receiver.status = 200
    service.state.clock.advance(10)
    worker_for(service, failing_after=3).run_once()
    state = service.call("GET", f"/v1/webhooks/{hook['id']}").get_json()
    assert (state["status"], state["consecutive_failures"]) == ("active", 0)


def test_retry_schedule_spans_a_day_and_gives_up() -> None:
    import random

    rng = random.Random(1)
    delays = [delivery.retry_delay(n, rng) for n in range(1, delivery.MAX_ATTEMPTS)]
    assert all(d is not None for d in delays)
    assert 3 < delays[0] < 7  # type: ignore[operator]
    assert sum(delays) > 24 * 3600  # type: ignore[arg-type]
    assert delivery.retry_delay(delivery.MAX_ATTEMPTS, rng) is None


def test_deliveries_fail_for_good_after_the_last_attempt(service: Service) -> None:
    hook = add_webhook(service, "http://127.0.0.1:9/never")  # discard port: refused
    decide(service, service.submit(CLEAN).get_json()["id"], "approve")
    worker = worker_for(service)
    longest = max(delivery.RETRY_DELAYS) * (1 + delivery.JITTER) + 60  # every retry is due after one step
    for _ in range(delivery.MAX_ATTEMPTS + 2):
        worker.run_once()
        service.state.clock.advance(longest)
    [d] = service.call("GET", f"/v1/webhooks/{hook['id']}/deliveries").get_json()["items"]
    assert (d["status"], d["attempts"], d["next_attempt_at"]) == ("failed", delivery.MAX_ATTEMPTS, None)
    assert service.call("POST", "/v1/webhooks/redeliver", json={"delivery_id": d["id"]}).status_code == 200
    [d] = service.call("GET", f"/v1/webhooks/{hook['id']}/deliveries").get_json()["items"]
    assert (d["status"], d["attempts"]) == ("pending", 0)


# ---------------------------------------------------------------- SSRF


@pytest.mark.parametrize("url", [
    "ftp://127.0.0.1/hooks", "file:///etc/passwd", "gopher://127.0.0.1:70/", "http://169.254.169.254/latest/meta-data",
    "http://[fe80::1]/hooks", "http://[fd00:ec2::254]/", "http://[::ffff:169.254.169.254]/", "http://169.254.0.1:8080/",
    "http://127.0.0.1:8000/v1/comments", "http://localhost:8000/", "http://0.0.0.0:8000/",
])
def test_ssrf_targets_are_refused_when_added(service: Service, url: str) -> None:
    resp = service.call("POST", "/v1/webhooks", json={"url": url})
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["code"] in ("unsafe_url", "invalid_value")
    assert resp.get_json()["error"]["field"] == "url"
    assert service.call("GET", "/v1/webhooks").get_json()["items"] == []


def test_loopback_and_private_addresses_are_allowed() -> None:
    guard = Guard("127.0.0.1:8000")
    for url in ("http://127.0.0.1:9000/x", "http://10.1.2.3/x", "https://192.168.1.5:8443/x", "http://[::1]:9/x"):
        guard.check_url(url)
    guard = Guard("0.0.0.0:8000")
    with pytest.raises(webhooks.UnsafeUrl):
        guard.check_url("http://127.0.0.1:8000/")  # a wildcard bind listens on every local address
    guard.check_url("http://127.0.0.1:8001/")


def test_ssrf_is_checked_again_at_delivery_when_dns_changes(service: Service, receiver: Receiver,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"hooks.example": "127.0.0.1"}
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        if host in answers:
            return real(answers[host], port, *args, **kw)
        return real(host, port, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    hook = add_webhook(service, f"http://hooks.example:{receiver.port}/hooks")  # resolves to loopback: allowed
    decide(service, service.submit(CLEAN).get_json()["id"], "approve")
    worker_for(service).run_once()
    assert len(receiver.received) == 1  # delivered through the pinned, checked address
    answers["hooks.example"] = "169.254.169.254"  # DNS now points at the metadata service
    connects: list[Any] = []
    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", lambda self, addr: (connects.append(addr),
                                                                      real_connect(self, addr))[1])
    decide(service, service.submit(CLEAN + " Twice.").get_json()["id"], "approve")
    worker_for(service).run_once()
    log = service.call("GET", f"/v1/webhooks/{hook['id']}/deliveries").get_json()["items"]
    assert log[0]["status"] == "pending" and "refused" in log[0]["last_error"] and "169.254" in log[0]["last_error"]
    assert not any(a[0] == "169.254.169.254" for a in connects)  # never connected
    assert len(receiver.received) == 1


def test_a_stored_url_to_a_metadata_address_is_refused_at_delivery(service: Service) -> None:
    st = service.state
    with write_session(st.sessionmaker) as session:  # as if stored by an older version, or edited by hand
        session.add(WebhookEndpoint(url="http://169.254.169.254/latest", events=None, secret=webhooks.new_secret(),
                                    status="active", consecutive_failures=0, created_at=st.clock(),
                                    updated_at=st.clock()))
    decide(service, service.submit(CLEAN).get_json()["id"], "approve")
    worker_for(service).run_once()
    with st.sessionmaker() as session:
        d = session.scalars(select(WebhookDelivery)).one()
    assert d.status == "pending" and d.last_status_code is None and "refused" in (d.last_error or "")


# ---------------------------------------------------------------- two workers on PostgreSQL


@pytest.mark.postgres
def test_two_workers_on_postgresql_send_each_event_once(make_app: Callable[..., Any], db_url: str,
                                                        receiver: Receiver) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SKIP LOCKED across workers is a PostgreSQL test")
    svc = make_service(make_app())
    add_webhook(svc, receiver.url)
    n = 40
    for i in range(n):
        decide(svc, svc.submit(f"{CLEAN} item {i}", author_id=f"a{i}").get_json()["id"], "approve")
    engines = [make_engine(db_url) for _ in range(2)]
    try:
        workers = [DeliveryWorker(make_sessionmaker(e), svc.state.clock, Guard("127.0.0.1:8000"), timeout=5.0,
                                  concurrency=4) for e in engines]
        barrier = threading.Barrier(2)
        counts = [0, 0]

        def run(i: int) -> None:
            barrier.wait()
            for _ in range(5):
                counts[i] += workers[i].run_once()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for e in engines:
            e.dispose()
    ids = receiver.ids()
    assert len(ids) == n and len(set(ids)) == n
    assert sum(counts) == n and min(counts) > 0, counts  # both worked, none twice


@pytest.mark.postgres
def test_feed_never_skips_an_event_committed_late(make_app: Callable[..., Any], db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("out-of-order commits are a PostgreSQL matter (SQLite writers are serialised)")
    from moderator.service import events, feed

    svc = make_service(make_app())
    st = svc.state
    late = st.sessionmaker()
    events.emit(late, "comment.decided", now=st.clock(), data={"n": "late"})  # takes the lower id, stays open
    late.flush()
    with write_session(st.sessionmaker) as early:
        events.emit(early, "comment.decided", now=st.clock(), data={"n": "early"})
    page = svc.call("GET", "/v1/events", "submit").get_json()
    assert page["items"] == []  # the early one waits behind the open transaction, rather than be skipped
    late.commit()
    late.close()
    page = svc.call("GET", "/v1/events", "submit").get_json()
    assert [i["data"]["n"] for i in page["items"]] == ["late", "early"]
    with st.sessionmaker() as session:
        ids = [e.id for e in feed.events_after(session, feed.START, 10)]
    assert ids[0] < ids[1]


# ---------------------------------------------------------------- the feed


def test_feed_order_cursor_types_and_payloads(make_app: Callable[..., Any]) -> None:
    svc = make_service(make_app(POLICY={"mode": "postmoderation"}))
    published = svc.submit(CLEAN, external_id="x-1").get_json()["id"]
    held = [svc.submit(ATTACK + f" {i}", author_id=f"b{i}").get_json()["id"] for i in range(3)]
    decide(svc, held[0], "reject", reason="attack")
    decide(svc, held[1], "approve")
    page = svc.call("GET", "/v1/events?limit=2", "submit").get_json()
    assert [(i["type"], i["data"]["comment_id"]) for i in page["items"]] == [
        ("comment.published", published), ("comment.decided", held[0])]
    assert page["has_more"] is True
    assert page["items"][0]["data"]["comment"]["external_id"] == "x-1"
    rest = svc.call("GET", f"/v1/events?after={page['next_cursor']}", "submit").get_json()
    assert [i["data"]["comment_id"] for i in rest["items"]] == [held[1]] and rest["has_more"] is False
    again = svc.call("GET", f"/v1/events?after={rest['next_cursor']}", "submit").get_json()
    assert again["items"] == [] and again["next_cursor"] == rest["next_cursor"]
    decide(svc, held[2], "approve")
    new = svc.call("GET", f"/v1/events?after={rest['next_cursor']}", "submit").get_json()
    assert [i["data"]["comment_id"] for i in new["items"]] == [held[2]]
    only = svc.call("GET", "/v1/events?types=comment.published", "submit").get_json()
    assert [i["type"] for i in only["items"]] == ["comment.published"]
    ids = [i["id"] for i in svc.call("GET", "/v1/events", "submit").get_json()["items"]]
    assert ids == sorted(ids, key=lambda s: int(s[4:])) and len(ids) == 4
    for bad in ("after=nope!", "after=" + "A" * 200, "types=comment.nothing", "limit=0", "limit=101", "x=1"):
        resp = svc.call("GET", f"/v1/events?{bad}", "submit")
        assert resp.status_code == 422, (bad, resp.get_json())


def test_feed_payload_is_the_webhook_payload(service: Service, receiver: Receiver) -> None:
    add_webhook(service, receiver.url)
    decide(service, service.submit(CLEAN).get_json()["id"], "approve")
    worker_for(service).run_once()
    import json

    [item] = service.call("GET", "/v1/events", "submit").get_json()["items"]
    sent = json.loads(receiver.received[0][1])
    assert {k: v for k, v in item.items() if k != "id"} == sent and item["id"] == receiver.ids()[0]


def test_events_are_pruned_after_the_retention(service: Service) -> None:
    decide(service, service.submit(CLEAN).get_json()["id"], "approve")
    service.state.clock.advance(31 * 86400)
    decide(service, service.submit(CLEAN + " Later.").get_json()["id"], "approve")
    assert delivery.prune(service.state.sessionmaker, service.state.clock(), 30) == 1
    assert len(service.call("GET", "/v1/events", "submit").get_json()["items"]) == 1
    service.state.clock.advance(31 * 86400)
    assert delivery.prune(service.state.sessionmaker, service.state.clock(), 30) == 0  # the newest one stays
    [last] = service.call("GET", "/v1/events", "submit").get_json()["items"]
    decide(service, service.submit(CLEAN + " Much later.").get_json()["id"], "approve")
    newer = service.call("GET", "/v1/events", "submit").get_json()["items"]
    assert int(newer[-1]["id"][4:]) > int(last["id"][4:])  # ids never go back, so no cursor skips it


# ---------------------------------------------------------------- roles and bad input


@pytest.mark.parametrize(("method", "url", "role", "status"), [
    ("GET", "/v1/events", None, 401), ("GET", "/v1/events", "review", 403), ("GET", "/v1/events", "submit", 200),
    ("GET", "/v1/events", "admin", 200), ("GET", "/v1/webhooks", "submit", 403), ("GET", "/v1/webhooks", "review", 403),
    ("GET", "/v1/webhooks", None, 401), ("GET", "/v1/webhooks", "admin", 200),
    ("POST", "/v1/webhooks", "submit", 403), ("DELETE", "/v1/webhooks/1", "review", 403),
    ("POST", "/v1/webhooks/1/rotate-secret", "submit", 403), ("GET", "/v1/webhooks/1/deliveries", "review", 403),
])
def test_roles(service: Service, method: str, url: str, role: str | None, status: int) -> None:
    body = {"url": "http://127.0.0.1:9/x"} if method == "POST" and url == "/v1/webhooks" else None
    assert service.call(method, url, role, json=body).status_code == status


def test_manage_endpoints_through_the_api(service: Service, receiver: Receiver) -> None:
    hook = add_webhook(service, receiver.url, ["comment.decided", "comment.decided"])
    assert hook["events"] == ["comment.decided"] and hook["status"] == "active"
    assert service.call("POST", "/v1/webhooks", json={"url": receiver.url, "events": ["nope"]}).status_code == 422
    assert service.call("POST", "/v1/webhooks", json={"url": receiver.url, "events": []}).status_code == 422
    disabled = service.call("PATCH", f"/v1/webhooks/{hook['id']}", json={"status": "disabled"}).get_json()
    assert disabled["status"] == "disabled"
    decide(service, service.submit(CLEAN).get_json()["id"], "approve")
    worker_for(service).run_once()
    assert receiver.received == []  # nothing goes to a disabled endpoint
    service.call("PATCH", f"/v1/webhooks/{hook['id']}", json={"status": "active"})
    assert service.call("DELETE", f"/v1/webhooks/{hook['id']}").get_json() == {"id": hook["id"], "removed": True}
    for method, url in (("GET", "/v1/webhooks/99"), ("DELETE", "/v1/webhooks/99"), ("GET", "/v1/webhooks/x"),
                        ("POST", "/v1/webhooks/99/rotate-secret"), ("GET", "/v1/webhooks/99/deliveries"),
                        ("GET", "/v1/webhooks/99999999999")):
        assert service.call(method, url).status_code == 404, url
    resp = service.call("POST", "/v1/webhooks/redeliver", json={"event_id": "evt_99"})
    assert resp.status_code == 404
    assert service.call("POST", "/v1/webhooks/redeliver", json={}).status_code == 422


def test_an_endpoint_gets_events_from_when_it_was_added(service: Service, receiver: Receiver) -> None:
    decide(service, service.submit(CLEAN).get_json()["id"], "approve")
    service.state.clock.advance(1)
    add_webhook(service, receiver.url)
    decide(service, service.submit(CLEAN + " Later.").get_json()["id"], "approve")
    worker_for(service).run_once()
    assert receiver.ids() == [f"evt_{event_rows(service)[1].id}"]
    # an older event can still be sent to it on request
    resp = service.call("POST", "/v1/webhooks/redeliver",
                        json={"event_id": f"evt_{event_rows(service)[0].id}", "endpoint_id": 1})
    assert resp.status_code == 200, resp.get_json()
    worker_for(service).run_once()
    assert len(receiver.received) == 2


def test_the_background_worker_delivers(make_app: Callable[..., Any], receiver: Receiver) -> None:
    svc = make_service(make_app(WEBHOOKS_WORKER=True, WEBHOOK_POLL_INTERVAL=0.05))
    add_webhook(svc, receiver.url)
    decide(svc, svc.submit(CLEAN).get_json()["id"], "approve")
    assert receiver.wait_for(lambda r: len(r.received) == 1, 20)
    worker = svc.app.extensions["moderator_webhooks"]
    assert receiver.wait_for(lambda _r: worker.stats.delivered == 1, 10)  # recorded after the answer


def test_deleted_endpoint_mid_flight_is_skipped(service: Service, receiver: Receiver) -> None:
    hook = add_webhook(service, receiver.url)
    decide(service, service.submit(CLEAN).get_json()["id"], "approve")
    st = service.state
    delivery.fan_out(st.sessionmaker, st.clock())
    ids = delivery.claim(st.sessionmaker, st.clock(), 10, 60)
    service.call("DELETE", f"/v1/webhooks/{hook['id']}")
    assert worker_for(service).send(ids[0][0]) is None and receiver.received == []


def test_a_claimed_delivery_is_leased(service: Service, receiver: Receiver) -> None:
    add_webhook(service, receiver.url)
    decide(service, service.submit(CLEAN).get_json()["id"], "approve")
    st = service.state
    delivery.fan_out(st.sessionmaker, st.clock())
    assert len(delivery.claim(st.sessionmaker, st.clock(), 10, 60)) == 1
    assert delivery.claim(st.sessionmaker, st.clock(), 10, 60) == []  # leased to the first worker
    st.clock.advance(61)  # that worker died mid-send: the lease expires and another sends it
    assert len(delivery.claim(st.sessionmaker, st.clock(), 10, 60)) == 1


def test_secret_generation_and_signature_format() -> None:
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_")
    from datetime import UTC, datetime

    sig = webhooks.sign([secret], "evt_1", datetime.now(UTC), "{}")
    assert sig.startswith("v1,") and " " not in sig
    assert timedelta(0) < timedelta(seconds=1)


# ---------------------------------------------------------------- the review pages' delivery log


def test_delivery_log_page_for_admins_only(make_service_fixture: Callable[..., Any], receiver: Receiver,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    from moderator.service import users
    from test_web import PASSWORD, Web, _clean_users, add_user

    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(users, "_hasher", hasher)
    monkeypatch.setattr(users, "_DUMMY_HASH", hasher.hash("dummy"))
    svc = make_service_fixture()
    _clean_users(svc.app)
    add_user(svc.app, "alice")
    add_user(svc.app, "bob", "admin")
    hook = add_webhook(svc, receiver.url)
    receiver.status = 500
    decide(svc, svc.submit(CLEAN).get_json()["id"], "approve")
    worker_for(svc).run_once()
    moderator = Web(svc, svc.app.test_client())
    assert moderator.login().status_code == 303
    assert moderator.client.get("/review/webhooks").status_code == 403
    assert moderator.client.get(f"/review/webhooks/{hook['id']}").status_code == 403
    assert "Webhooks</a>" not in moderator.page("/review/overview")
    admin = Web(svc, svc.app.test_client())
    assert admin.login("bob", PASSWORD).status_code == 303
    listing = admin.page("/review/webhooks")
    assert receiver.url in listing and "Webhooks</a>" in listing
    log = admin.page(f"/review/webhooks/{hook['id']}")
    assert 'data-status="pending"' in log and "HTTP 500" in log and "comment.decided" in log
    assert hook["secret"] not in listing + log
    assert 'data-status="pending"' not in admin.page(f"/review/webhooks/{hook['id']}?status=delivered")
    assert admin.client.get("/review/webhooks/99").status_code == 404


def test_a_dead_endpoint_does_not_hold_up_the_others(make_app: Callable[..., Any], receiver: Receiver) -> None:
    dead = socket.socket()  # accepts connections (the kernel does) and never answers
    dead.bind(("127.0.0.1", 0))
    dead.listen(64)
    try:
        svc = make_service(make_app(WEBHOOKS_WORKER=True, WEBHOOK_POLL_INTERVAL=0.05, WEBHOOK_TIMEOUT=60.0,
                                    WEBHOOK_CONCURRENCY=2))
        add_webhook(svc, f"http://127.0.0.1:{dead.getsockname()[1]}/dead")
        add_webhook(svc, receiver.url)
        for i in range(6):
            decide(svc, svc.submit(f"{CLEAN} {i}").get_json()["id"], "approve")
        # the dead endpoint holds one sender for 60 s per attempt; the other sender serves the live endpoint
        assert receiver.wait_for(lambda r: len(r.received) == 6, 40), len(receiver.received)
    finally:
        dead.close()  # resets the connections waiting on it: the worker stops without waiting for the timeout


def test_a_chunk_to_an_endpoint_that_does_not_answer_stops_after_one_timeout(service: Service) -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead.listen(64)
    try:
        hook = add_webhook(service, f"http://127.0.0.1:{dead.getsockname()[1]}/dead")
        for i in range(3):
            decide(service, service.submit(f"{CLEAN} {i}").get_json()["id"], "approve")
        st = service.state
        worker = DeliveryWorker(st.sessionmaker, st.clock, Guard("127.0.0.1:8000"), timeout=0.5)
        delivery.fan_out(st.sessionmaker, st.clock())
        [chunk] = delivery.claim_chunks(st.sessionmaker, st.clock(), 4, delivery.CHUNK, 60, lambda _ep: 1)
        assert len(chunk) == 3
        worker._slots.acquire()
        worker._in_flight[hook["id"]] = 1
        worker._send_chunk(worker.prepare(chunk))
        worker._flush()
        log = sorted(service.call("GET", f"/v1/webhooks/{hook['id']}/deliveries").get_json()["items"],
                     key=lambda d: d["id"])
        assert [(d["status"], d["attempts"]) for d in log] == [("pending", 1)] * 3
        assert "not sent" not in log[0]["last_error"] and "timed out" in log[0]["last_error"].lower()
        assert all(d["last_error"].startswith("not sent: the endpoint did not answer") for d in log[1:])
        assert worker._in_flight[hook["id"]] == 0
    finally:
        dead.close()
