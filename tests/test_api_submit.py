"""Submitting comments and scoring texts, end to end through the Flask test client (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from moderator.dedup.types import DuplicateFinding, RateDecision
from moderator.storage.models import Comment, CommentScore, IdempotencyKey, ReviewItem

CLEAN = "Thanks for the thoughtful article, I learned a lot about the history of the bridge."
ATTACK = "You are a stupid idiot and a moron, nobody wants to read your garbage, shut up idiot."


def count(service: Any, model: type) -> int:
    with service.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(model)))


def test_submit_stores_before_answering_and_queues_in_premoderation(service: Any) -> None:
    resp = service.submit(CLEAN, external_id="site-42", author_ip="192.0.2.7", metadata={"lang": "en"})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert set(body) >= {"id", "scores", "flags", "decision", "reasons", "duplicate"}
    assert body["decision"] == "hold"
    assert "premoderation" in body["reasons"]
    assert body["duplicate"] is None
    assert set(body["scores"]) == set(service.state.model.categories)
    assert all(0.0 <= p <= 1.0 for p in body["scores"].values())
    # committed: a fresh session sees the comment, one score row per category, and its queue item
    with service.state.sessionmaker() as session:
        comment = session.get(Comment, body["id"])
        assert comment is not None and comment.text == CLEAN and comment.meta == {"lang": "en"}
        assert comment.status == "held" and comment.external_id == "site-42"
        rows = session.scalars(select(CommentScore).where(CommentScore.comment_id == body["id"])).all()
        assert {r.category for r in rows} == set(service.state.model.categories)
        assert {r.model_version for r in rows} == {service.state.model.version}
        item = session.scalar(select(ReviewItem).where(ReviewItem.comment_id == body["id"]))
        assert item is not None and item.status == "pending"


def test_get_comment_shows_scores_status_and_history(service: Any) -> None:
    cid = service.submit(CLEAN).get_json()["id"]
    resp = service.call("GET", f"/v1/comments/{cid}", "submit")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["id"] == cid and body["status"] == "held" and body["review"]["status"] == "pending"
    assert [h["action"] for h in body["history"]] == ["submitted", "queued"]
    assert body["history"][0]["actor"].startswith("key:")
    assert service.call("GET", "/v1/comments/999999", "submit").status_code == 404


def test_postmoderation_publishes_clean_and_holds_flagged(make_service_fixture: Any) -> None:
    service = make_service_fixture(POLICY={"mode": "postmoderation"})
    clean = service.submit(CLEAN).get_json()
    assert clean["decision"] == "publish" and clean["flags"] == [] and clean["reasons"] == []
    assert clean["status"] == "published" and clean["priority"] is None
    flagged = service.submit(ATTACK).get_json()
    assert flagged["decision"] == "hold", flagged
    assert "personal_attack" in flagged["flags"]
    assert "flagged:personal_attack" in flagged["reasons"]
    queue = service.call("GET", "/v1/queue", "review").get_json()
    assert [i["id"] for i in queue["items"]] == [flagged["id"]]


def test_premoderation_holds_everything_with_flags_first(service: Any) -> None:
    clean = service.submit(CLEAN).get_json()
    flagged = service.submit(ATTACK).get_json()
    assert clean["decision"] == flagged["decision"] == "hold"
    assert flagged["priority"] > 1.0 > clean["priority"]
    items = service.call("GET", "/v1/queue", "review").get_json()["items"]
    assert [i["id"] for i in items] == [flagged["id"], clean["id"]]


def test_reject_threshold_rejects_without_queueing(make_service_fixture: Any) -> None:
    service = make_service_fixture(POLICY={"reject": {"personal_attack": 0.5}})
    body = service.submit(ATTACK).get_json()
    assert body["decision"] == "reject" and body["status"] == "rejected"
    assert "reject:personal_attack" in body["reasons"]
    assert service.call("GET", "/v1/queue", "review").get_json()["items"] == []


# ---------------------------------------------------------------- idempotency


def test_idempotent_retry_returns_same_result_and_one_comment(service: Any) -> None:
    headers = {"Idempotency-Key": "req-0001"}
    body = {"text": CLEAN, "author_id": "a", "thread_id": "t"}
    first = service.call("POST", "/v1/comments", "submit", json=body, headers=headers)
    second = service.call("POST", "/v1/comments", "submit", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert count(service, Comment) == 1
    other = service.call("POST", "/v1/comments", "submit", json={**body, "text": CLEAN + " Again."},
                         headers=headers)
    assert other.status_code == 422
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert count(service, Comment) == 1
    # a different key is a different comment
    third = service.call("POST", "/v1/comments", "submit", json=body, headers={"Idempotency-Key": "req-0002"})
    assert third.status_code == 201 and third.get_json()["id"] != first.get_json()["id"]


def test_idempotency_keys_expire_and_are_pruned(service: Any, clock: Any) -> None:
    """Within MODERATOR_IDEMPOTENCY_TTL (default 24 h) a retry replays; after it the key is a new request, and
    the first submission after an hour deletes every expired key, so the table does not grow forever."""
    body = {"text": CLEAN, "author_id": "a", "thread_id": "t"}

    def post(key: str, text: str = CLEAN) -> Any:
        return service.call("POST", "/v1/comments", "submit", json={**body, "text": text},
                            headers={"Idempotency-Key": key})

    first = post("old-1").get_json()
    post("old-2", CLEAN + " Second.")
    clock.advance(86_400 - 60)
    assert post("old-1").get_json() == first  # still remembered
    clock.advance(120)  # now past the TTL
    again = post("old-1")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert again.get_json()["id"] != first["id"]  # a new comment under the reused key
    assert count(service, Comment) == 3
    assert count(service, IdempotencyKey) == 1  # old-2 pruned, old-1 replaced by its new use
    assert post("old-1").get_json()["id"] == again.get_json()["id"]


def test_concurrent_retries_with_one_key_create_one_comment(service: Any) -> None:
    body = {"text": CLEAN, "author_id": "a", "thread_id": "t"}
    results: list[Any] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        client = service.app.test_client()
        barrier.wait()
        r = client.post("/v1/comments", json=body, headers={**service.headers("submit"), "Idempotency-Key": "k1"})
        results.append((r.status_code, r.get_json()))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [s for s, _ in results] == [201] * 4, results
    assert len({b["id"] for _, b in results}) == 1
    assert count(service, Comment) == 1
    assert count(service, IdempotencyKey) == 1


# ---------------------------------------------------------------- duplicates and rate limits


class FakeDetector:
    """Stands in for the duplicate engineer's detector: returns what the test says, records calls."""

    def __init__(self, finding: DuplicateFinding | None = None, rate: RateDecision | None = None) -> None:
        self.finding = finding
        self.rate = rate or RateDecision(True)
        self.recorded: list[tuple[int, str, str]] = []
        self.calls: list[str] = []

    def rate_check(self, author_id: str, now: Any) -> RateDecision:
        self.calls.append("rate_check")
        return self.rate

    def sign(self, text: str) -> None:
        return None

    def check(self, text: str, author_id: str, now: Any, signature: Any = None) -> DuplicateFinding | None:
        self.calls.append("check")
        return self.finding

    def record(self, comment_id: int, text: str, author_id: str, created_at: Any, signature: Any = None) -> None:
        self.calls.append("record")
        self.recorded.append((comment_id, text, author_id))


def test_duplicate_is_held_with_reason_and_shown_in_queue(make_service_fixture: Any) -> None:
    detector = FakeDetector(DuplicateFinding(True, "same_author", 1, 0.93))
    service = make_service_fixture(POLICY={"mode": "postmoderation"}, DUPLICATE_DETECTOR=detector)
    body = service.submit(CLEAN).get_json()
    assert body["decision"] == "hold"
    assert body["duplicate"] == {"is_duplicate": True, "kind": "same_author", "of": 1, "similarity": 0.93}
    assert "duplicate:same_author" in body["reasons"]
    assert detector.calls == ["rate_check", "check", "record"]
    assert detector.recorded == [(body["id"], CLEAN, "author-1")]
    item = service.call("GET", "/v1/queue", "review").get_json()["items"][0]
    assert item["duplicate"]["kind"] == "same_author" and "duplicate:same_author" in item["reasons"]


def test_restart_rebuilds_the_duplicate_index_and_freezes_a_large_one(
        make_service_fixture: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A repeat is caught across a restart (the in-memory index is rebuilt from the database); a large rebuilt
    index is moved out of the garbage collector's reach (``gc.freeze``)."""
    import gc

    from moderator.dedup.detector import Detector
    from moderator.dedup.settings import DedupSettings
    from moderator.web import app as app_module

    text = "The bridge closure on Thursday will add twenty minutes to every bus route downtown."
    first = make_service_fixture(DUPLICATE_DETECTOR=Detector(DedupSettings(rate_limit="")))
    original = first.submit(text).get_json()
    assert original["duplicate"] is None
    monkeypatch.setattr(app_module, "GC_FREEZE_MIN_ENTRIES", 1)
    frozen = gc.get_freeze_count()
    try:
        restarted = make_service_fixture(DUPLICATE_DETECTOR=Detector(DedupSettings(rate_limit="")))
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
    again = restarted.submit(text).get_json()
    assert again["duplicate"] == {"is_duplicate": True, "kind": "same_author", "of": original["id"],
                                  "similarity": 1.0}


def test_duplicate_rejected_by_policy(make_service_fixture: Any) -> None:
    detector = FakeDetector(DuplicateFinding(True, "cross_author_flood", 3, 1.0))
    service = make_service_fixture(POLICY={"duplicate_action": "reject"}, DUPLICATE_DETECTOR=detector)
    body = service.submit(CLEAN).get_json()
    assert body["decision"] == "reject" and "duplicate:cross_author_flood" in body["reasons"]


def test_rate_limited_author_gets_429_and_nothing_is_stored(make_service_fixture: Any) -> None:
    detector = FakeDetector(rate=RateDecision(False, retry_after=17))
    service = make_service_fixture(DUPLICATE_DETECTOR=detector)
    resp = service.submit(CLEAN)
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "17"
    assert resp.get_json()["error"]["code"] == "rate_limited"
    assert count(service, Comment) == 0
    assert detector.recorded == []


def test_detector_failure_does_not_block_intake(make_service_fixture: Any, caplog: pytest.LogCaptureFixture) -> None:
    class Down(FakeDetector):
        def rate_check(self, author_id: str, now: Any) -> RateDecision:
            raise ConnectionError("redis down")

        def check(self, text: str, author_id: str, now: Any, signature: Any = None) -> DuplicateFinding | None:
            raise ConnectionError("redis down")

        def record(self, comment_id: int, text: str, author_id: str, created_at: Any,
                   signature: Any = None) -> None:
            raise ConnectionError("redis down")

    service = make_service_fixture(DUPLICATE_DETECTOR=Down())
    resp = service.submit(CLEAN)
    assert resp.status_code == 201 and resp.get_json()["duplicate"] is None
    assert count(service, Comment) == 1
    assert "redis down" in caplog.text


def test_rate_limited_author_held_when_policy_says_hold(make_service_fixture: Any) -> None:
    detector = FakeDetector(rate=RateDecision(False, retry_after=5))
    service = make_service_fixture(POLICY={"rate_limit_action": "hold", "mode": "postmoderation"},
                                   DUPLICATE_DETECTOR=detector)
    resp = service.submit(CLEAN)
    assert resp.status_code == 201
    assert resp.get_json()["decision"] == "hold" and "rate_limited" in resp.get_json()["reasons"]


# ---------------------------------------------------------------- stateless scoring


def test_score_single_and_batch_store_nothing(service: Any) -> None:
    one = service.call("POST", "/v1/score", "submit", json={"text": ATTACK})
    assert one.status_code == 200
    body = one.get_json()
    assert body["model_version"] == service.state.model.version
    assert len(body["results"]) == 1 and "personal_attack" in body["results"][0]["flags"]
    batch = service.call("POST", "/v1/score", "submit", json={"texts": [CLEAN, ATTACK] * 50})
    assert batch.status_code == 200 and len(batch.get_json()["results"]) == 100
    assert batch.get_json()["results"][0]["flags"] == []
    assert count(service, Comment) == 0


def test_score_explain_gives_spans_inside_the_text(service: Any) -> None:
    body = service.call("POST", "/v1/score", "review", json={"text": ATTACK, "explain": True}).get_json()
    result = body["results"][0]
    assert set(result["explanations"]) == set(result["flags"])
    spans = result["explanations"]["personal_attack"]
    assert spans, "a flagged category must have at least one span"
    for s in spans:
        assert ATTACK[s["start"]:s["end"]] == s["text"]


@pytest.mark.parametrize("mode", ["premoderation", "postmoderation"])
def test_policy_endpoint_reports_mode_and_thresholds(make_service_fixture: Any, mode: str) -> None:
    service = make_service_fixture(POLICY={"mode": mode})
    body = service.call("GET", "/v1/policy", "submit").get_json()
    assert body["mode"] == mode
    assert body["thresholds"] == dict(service.state.model.thresholds)
    assert body["model_version"] == service.state.model.version


def test_readyz_reports_an_unreachable_database(service: Any) -> None:
    from moderator.storage.db import make_engine, make_sessionmaker

    assert service.call("GET", "/readyz", None).get_json()["status"] == "ready"
    good = service.state.sessionmaker
    bad_engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    service.state.sessionmaker = make_sessionmaker(bad_engine)
    try:
        resp = service.call("GET", "/readyz", None)
    finally:
        service.state.sessionmaker = good
        bad_engine.dispose()
    assert resp.status_code == 503
    assert resp.get_json() == {"status": "unavailable", "model": service.state.model.version, "database": "unreachable",
                               "dependencies": {"database": {"up": False,
                                                             "detail": "the database is unavailable (refused)"}}}
    assert service.call("GET", "/healthz", None).status_code == 200
