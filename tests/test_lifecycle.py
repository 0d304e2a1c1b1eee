"""A comment after its submission, through the JSON API (SQLite and PostgreSQL): lookup by the site's id,
edits and resubmissions, withdrawal, reopening, erasure of an author, IP retention, the state model and the
events each change emits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from moderator.dedup.detector import Detector
from moderator.dedup.settings import DedupSettings
from moderator.storage.models import AuditEvent, Comment, Decision, Event, HistoryEvent, ReviewItem

CLEAN = "Thanks for the thoughtful article, I learned a lot about the history of the bridge."
CLEAN2 = "Thanks for the thoughtful article; I learned a great deal about how the old bridge was built."
OTHER = "The council should publish the full budget before the vote on Thursday, not after it."
ATTACK = "You are a stupid idiot and a moron, nobody wants to read your garbage, shut up idiot."


def events(service: Any, comment_id: int | None = None) -> list[Event]:
    with service.state.sessionmaker() as session:
        stmt = select(Event).order_by(Event.id)
        if comment_id is not None:
            stmt = stmt.where(Event.comment_id == comment_id)
        rows = list(session.scalars(stmt))
        session.expunge_all()
        return rows


def get(service: Any, cid: int, role: str = "submit") -> dict[str, Any]:
    resp = service.call("GET", f"/v1/comments/{cid}", role)
    assert resp.status_code == 200, resp.get_json()
    body: dict[str, Any] = resp.get_json()
    return body


def decide(service: Any, cid: int, decision: str = "approve", **extra: Any) -> Any:
    resp = service.call("POST", f"/v1/queue/{cid}/decision", "review", json={"decision": decision, **extra})
    assert resp.status_code == 200, resp.get_json()
    return resp


@pytest.fixture
def dedup_service(make_service_fixture: Any) -> Any:
    return make_service_fixture(DUPLICATE_DETECTOR=Detector(DedupSettings(rate_limit="")))


# ---------------------------------------------------------------- the state model


def test_state_and_intake_decision_beside_the_deprecated_fields(service: Any) -> None:
    body = service.submit(CLEAN).get_json()
    assert (body["state"], body["intake_decision"]) == ("pending", "hold")
    assert (body["status"], body["decision"]) == ("held", "hold")  # old clients read these as before
    decide(service, body["id"], "reject", reason="spam")
    after = get(service, body["id"])
    # the state says where the comment stands; the intake decision stays what the policy decided
    assert (after["state"], after["intake_decision"]) == ("rejected", "hold")
    assert (after["status"], after["decision"]) == ("rejected", "hold")
    cid = service.submit(OTHER, author_id="a2").get_json()["id"]
    decide(service, cid, "approve")
    assert (get(service, cid)["state"], get(service, cid)["status"]) == ("approved", "published")


def test_postmoderation_publishes_without_a_moderator(make_service_fixture: Any) -> None:
    service = make_service_fixture(POLICY={"mode": "postmoderation"})
    body = service.submit(CLEAN).get_json()
    assert (body["state"], body["intake_decision"], body["status"]) == ("published", "publish", "published")


def test_openapi_documents_state_and_marks_old_fields_deprecated(service: Any) -> None:
    doc = service.call("GET", "/openapi.json", "submit").get_json()
    detail = doc["components"]["schemas"]["CommentDetail"]["properties"]
    assert set(detail["state"]["enum"]) == {"pending", "approved", "rejected", "published", "withdrawn", "erased"}
    assert detail["status"]["deprecated"] is True and detail["decision"]["deprecated"] is True
    post = doc["paths"]["/v1/comments"]["post"]["responses"]
    assert {"200", "201", "409"} <= set(post)
    for path, method in (("/v1/comments", "get"), ("/v1/comments/{comment_id}", "patch"),
                         ("/v1/comments/{comment_id}", "delete"), ("/v1/comments/{comment_id}/reopen", "post"),
                         ("/v1/authors/{author_id}", "delete")):
        assert method in doc["paths"][path], (path, method)
    author = doc["paths"]["/v1/authors/{author_id}"]["delete"]["parameters"][0]
    assert author["schema"]["type"] == "string"


# ---------------------------------------------------------------- lookup by external_id


def test_lookup_by_external_id(service: Any) -> None:
    cid = service.submit(CLEAN, external_id="post-7/comment-1").get_json()["id"]
    resp = service.call("GET", "/v1/comments?external_id=post-7/comment-1", "submit")
    assert resp.status_code == 200
    items = resp.get_json()["items"]
    assert [i["id"] for i in items] == [cid] and items[0]["external_id"] == "post-7/comment-1"
    assert service.call("GET", "/v1/comments?external_id=nope", "submit").get_json() == {"items": []}
    missing = service.call("GET", "/v1/comments", "submit")
    assert missing.status_code == 422 and missing.get_json()["error"]["field"] == "external_id"
    assert service.call("GET", "/v1/comments?external_id=x", None).status_code == 401


# ---------------------------------------------------------------- edits


def test_edit_rescores_keeps_history_and_emits_event(service: Any) -> None:
    cid = service.submit(CLEAN).get_json()["id"]
    resp = service.call("PATCH", f"/v1/comments/{cid}", "submit", json={"text": ATTACK})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["id"] == cid and body["state"] == "pending"
    assert "personal_attack" in body["flags"] and body["priority"] > 1.0
    detail = get(service, cid)
    assert detail["text"] == ATTACK
    edited = [h for h in detail["history"] if h["action"] == "edited"]
    assert len(edited) == 1 and edited[0]["data"]["previous_text"] == CLEAN
    assert detail["scores"]["personal_attack"] == body["scores"]["personal_attack"]
    evs = [e for e in events(service, cid) if e.type == "comment.edited"]
    assert len(evs) == 1 and evs[0].data["state"] == "pending" and "previous_text" not in evs[0].data


def test_an_approved_comment_edited_under_premoderation_goes_back_to_the_queue(service: Any) -> None:
    cid = service.submit(CLEAN).get_json()["id"]
    decide(service, cid, "approve")
    assert get(service, cid)["state"] == "approved"
    body = service.call("PATCH", f"/v1/comments/{cid}", "submit", json={"text": OTHER}).get_json()
    assert body["state"] == "pending" and body["status"] == "held"
    queue = service.call("GET", "/v1/queue", "review").get_json()["items"]
    assert [i["id"] for i in queue] == [cid] and queue[0]["text"] == OTHER
    # deciding again works on the new text
    decide(service, cid, "approve")
    assert get(service, cid)["state"] == "approved"


def test_postmoderation_edit_leaves_the_queue_when_clean(make_service_fixture: Any) -> None:
    service = make_service_fixture(POLICY={"mode": "postmoderation"})
    cid = service.submit(ATTACK).get_json()["id"]
    assert get(service, cid)["state"] == "pending"
    body = service.call("PATCH", f"/v1/comments/{cid}", "submit", json={"text": CLEAN}).get_json()
    assert body["state"] == "published" and body["intake_decision"] == "publish"
    assert get(service, cid)["review"]["status"] == "closed"
    assert service.call("GET", "/v1/queue", "review").get_json()["items"] == []


def test_an_edit_is_never_a_duplicate_of_its_own_earlier_text(dedup_service: Any) -> None:
    service = dedup_service
    cid = service.submit(CLEAN).get_json()["id"]
    body = service.call("PATCH", f"/v1/comments/{cid}", "submit", json={"text": CLEAN2}).get_json()
    assert body["duplicate"] is None, body
    # ... and the index holds the new text in place of the old: a new comment repeating the new text is a
    # duplicate of the edited comment, one repeating the old text is not
    again = service.submit(CLEAN2 + " Really.").get_json()
    assert again["duplicate"] is not None and again["duplicate"]["of"] == cid
    old = service.submit(CLEAN, thread_id="t2").get_json()
    assert old["duplicate"] is None or old["duplicate"]["of"] != cid


def test_resubmission_with_the_same_external_id_is_an_edit(service: Any) -> None:
    first = service.submit(CLEAN, external_id="c-1")
    assert first.status_code == 201
    cid = first.get_json()["id"]
    same = service.submit(CLEAN, external_id="c-1")  # a plain retry: nothing changes
    assert same.status_code == 200 and same.get_json()["id"] == cid
    assert [e.type for e in events(service, cid)] == []
    changed = service.submit(OTHER, external_id="c-1")
    assert changed.status_code == 200 and changed.get_json()["id"] == cid
    assert get(service, cid)["text"] == OTHER
    assert [e.type for e in events(service, cid)] == ["comment.edited"]
    with service.state.sessionmaker() as session:
        assert len(session.scalars(select(Comment)).all()) == 1
    # another author (or thread) cannot take the id over
    taken = service.submit(ATTACK, external_id="c-1", author_id="someone-else")
    assert taken.status_code == 409 and get(service, cid)["text"] == OTHER


def test_withdrawn_comments_cannot_be_edited(service: Any) -> None:
    cid = service.submit(CLEAN, external_id="c-2").get_json()["id"]
    assert service.call("DELETE", f"/v1/comments/{cid}", "submit").status_code == 200
    assert service.call("PATCH", f"/v1/comments/{cid}", "submit", json={"text": OTHER}).status_code == 409
    assert service.submit(OTHER, external_id="c-2").status_code == 409
    assert service.call("PATCH", "/v1/comments/99999", "submit", json={"text": OTHER}).status_code == 404
    empty = service.call("PATCH", f"/v1/comments/{cid}", "submit", json={"text": "  "})
    assert empty.status_code == 422


# ---------------------------------------------------------------- withdrawal


def test_withdrawal_leaves_the_queue_even_when_claimed(service: Any) -> None:
    cid = service.submit(CLEAN).get_json()["id"]
    assert service.call("POST", f"/v1/queue/{cid}/claim", "review").status_code == 200
    resp = service.call("DELETE", f"/v1/comments/{cid}", "submit")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["state"] == "withdrawn" and body["status"] == "rejected"
    assert body["review"]["status"] == "withdrawn" and body["review"]["claimed_by"] is None
    assert service.call("GET", "/v1/queue", "review").get_json()["items"] == []
    late = service.call("POST", f"/v1/queue/{cid}/decision", "review", json={"decision": "approve"})
    assert late.status_code == 409
    # the audit trail stays
    actions = [h["action"] for h in body["history"]]
    assert actions[:3] == ["submitted", "queued", "claimed"] and "withdrawn" in actions
    with service.state.sessionmaker() as session:
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "comment.withdraw")) is not None
    assert [e.type for e in events(service, cid)] == ["comment.withdrawn"]
    # again: the same answer, no second event
    assert service.call("DELETE", f"/v1/comments/{cid}", "submit").status_code == 200
    assert [e.type for e in events(service, cid)] == ["comment.withdrawn"]
    assert service.call("DELETE", f"/v1/comments/{cid}", "review").status_code == 403


# ---------------------------------------------------------------- reopening


def test_reopen_puts_a_decided_comment_back_and_is_audited(service: Any) -> None:
    cid = service.submit(CLEAN).get_json()["id"]
    early = service.call("POST", f"/v1/comments/{cid}/reopen", "review")
    assert early.status_code == 409  # still pending
    decide(service, cid, "reject", reason="spam")
    resp = service.call("POST", f"/v1/comments/{cid}/reopen", "review", json={"reason": "too harsh"})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["state"] == "pending" and body["review"]["status"] == "pending"
    assert [i["id"] for i in service.call("GET", "/v1/queue", "review").get_json()["items"]] == [cid]
    with service.state.sessionmaker() as session:
        audit = session.scalar(select(AuditEvent).where(AuditEvent.action == "review.reopen"))
        assert audit is not None and audit.actor.startswith("key:") and audit.data["reason"] == "too harsh"
    reopened = [e for e in events(service, cid) if e.type == "comment.reopened"]
    assert len(reopened) == 1 and reopened[0].data["previous_state"] == "rejected"
    assert service.call("POST", f"/v1/comments/{cid}/reopen", "submit").status_code == 403
    decide(service, cid, "approve")
    assert get(service, cid)["state"] == "approved"


# ---------------------------------------------------------------- erasure


def test_erasure_removes_text_ip_metadata_and_history_texts(dedup_service: Any) -> None:
    service = dedup_service
    cid = service.submit(CLEAN, author_id="erase-me", author_ip="192.0.2.9", metadata={"name": "Ann"}).get_json()["id"]
    service.call("PATCH", f"/v1/comments/{cid}", "submit", json={"text": CLEAN2})
    decide(service, cid, "reject", reason="other: she said the bridge is ugly")
    cid2 = service.submit(OTHER, author_id="erase-me").get_json()["id"]
    keep = service.submit(ATTACK, author_id="someone-else").get_json()["id"]
    resp = service.call("DELETE", "/v1/authors/erase-me", "admin")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"author_id": "erase-me", "comments": 2, "comment_ids": [cid, cid2]}
    for c in (cid, cid2):
        body = get(service, c)
        assert body["state"] == "erased" and body["text"] == ""
        assert body["author_ip"] is None and body["metadata"] is None
        for h in body["history"]:
            assert "previous_text" not in (h["data"] or {}) and "reason" not in (h["data"] or {})
        assert all(d["reason"] is None for d in body["decisions"])
    assert get(service, keep)["text"] == ATTACK
    with service.state.sessionmaker() as session:
        texts = [h.data for h in session.scalars(select(HistoryEvent).where(HistoryEvent.comment_id == cid))]
        assert CLEAN not in repr(texts) and "ugly" not in repr(texts)
        audit = [e.data for e in session.scalars(select(AuditEvent).where(AuditEvent.target_id == str(cid)))]
        assert "ugly" not in repr(audit)
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "author.erase")) is not None
        assert session.scalar(select(Decision).where(Decision.comment_id == cid)) is not None  # ids and times stay
        item = session.scalar(select(ReviewItem).where(ReviewItem.comment_id == cid2))
        assert item is not None and item.status == "withdrawn"
    assert [e.type for e in events(service, cid) if e.type == "comment.erased"] == ["comment.erased"]
    assert [e.type for e in events(service, cid2)] == ["comment.erased"]
    # out of the duplicate index: the same text again is no repeat of the erased comment
    assert service.submit(OTHER, author_id="erase-me").get_json()["duplicate"] is None
    assert service.call("DELETE", "/v1/authors/erase-me", "review").status_code == 403


def test_export_labels_excludes_erased_authors(service: Any) -> None:
    from moderator.training.feedback import export_rows

    a = service.submit(ATTACK, author_id="gone").get_json()["id"]
    b = service.submit(OTHER, author_id="stays").get_json()["id"]
    decide(service, a, "reject", reason="personal_attack", categories=["personal_attack"])
    decide(service, b, "approve")
    with service.state.sessionmaker() as session:
        assert sorted(r["comment_id"] for r in export_rows(session)) == [a, b]
    assert service.call("DELETE", "/v1/authors/gone", "admin").status_code == 200
    with service.state.sessionmaker() as session:
        rows = list(export_rows(session))
    assert [r["comment_id"] for r in rows] == [b]


def test_ip_addresses_are_forgotten_after_the_retention(service: Any, clock: Any) -> None:
    from moderator.service.lifecycle import purge_ips
    from moderator.storage.db import write_session

    old = service.submit(CLEAN, author_ip="192.0.2.1").get_json()["id"]
    clock.advance(31 * 86400)
    new = service.submit(OTHER, author_ip="192.0.2.2").get_json()["id"]
    with write_session(service.state.sessionmaker) as session:
        assert purge_ips(session, clock.now - timedelta(days=30)) == 1
    assert get(service, old)["author_ip"] is None and get(service, new)["author_ip"] == "192.0.2.2"


def test_the_service_runs_the_ip_retention_job(service: Any, clock: Any) -> None:
    job = service.app.extensions["moderator_ip_retention"]
    assert job.days == 30  # the default, MODERATOR_IP_RETENTION_DAYS
    cid = service.submit(CLEAN, author_ip="192.0.2.1").get_json()["id"]
    assert job.run_once() == 0
    clock.advance(30 * 86400 + 1)
    assert job.run_once() == 1
    assert get(service, cid)["author_ip"] is None


def test_ip_retention_off(make_service_fixture: Any) -> None:
    service = make_service_fixture(IP_RETENTION_DAYS=0)
    assert "moderator_ip_retention" not in service.app.extensions


# ---------------------------------------------------------------- the command line


@pytest.fixture
def cli_env(service: Any, db_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MODERATOR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("MODERATOR_DUP_BACKEND", "memory")
    return service


def test_cli_authors_erase(cli_env: Any) -> None:
    from click.testing import CliRunner

    from moderator.cli import main

    service = cli_env
    cid = service.submit(CLEAN, author_id="cli-author", author_ip="192.0.2.3").get_json()["id"]
    refused = CliRunner().invoke(main, ["authors", "erase", "cli-author"], input="n\n")
    assert refused.exit_code == 1 and get(service, cid)["text"] == CLEAN
    result = CliRunner().invoke(main, ["authors", "erase", "cli-author", "--yes"])
    assert result.exit_code == 0, result.output
    assert "erased 1 comment of 'cli-author'" in result.output
    body = get(service, cid)
    assert body["state"] == "erased" and body["text"] == "" and body["author_ip"] is None
    with service.state.sessionmaker() as session:
        audit = session.scalar(select(AuditEvent).where(AuditEvent.action == "author.erase"))
        assert audit is not None and audit.actor.startswith("cli:")
    assert [e.type for e in events(service, cid)] == ["comment.erased"]


def test_cli_authors_purge_ips(cli_env: Any) -> None:
    from click.testing import CliRunner

    from moderator.cli import main

    service = cli_env
    cid = service.submit(CLEAN, author_ip="192.0.2.4").get_json()["id"]  # at the test clock's time, long ago
    kept = CliRunner().invoke(main, ["authors", "purge-ips", "--days", "100000"])
    assert kept.exit_code == 0 and "of 0 comments" in kept.output
    assert get(service, cid)["author_ip"] == "192.0.2.4"
    result = CliRunner().invoke(main, ["authors", "purge-ips"])
    assert result.exit_code == 0, result.output
    assert "erased the IP addresses of 1 comment older than 30 days" in result.output
    assert get(service, cid)["author_ip"] is None


def test_a_rescore_never_writes_scores_of_a_text_edited_meanwhile(service: Any, model: Any) -> None:
    from moderator.service.audit import Actor
    from moderator.service.rescore import rescore_pending
    from moderator.storage.db import write_session

    cid = service.submit(CLEAN).get_json()["id"]
    factory = service.state.sessionmaker

    class EditedWhileScoring:
        """Scores like the model, under another version; the comment is edited while it scores."""

        version = "other-model"
        categories = model.categories

        def predict_proba(self, texts: list[str]) -> Any:
            with write_session(factory) as session:
                session.get(Comment, cid).text = OTHER  # type: ignore[union-attr]
            return model.predict_proba(texts)

    result = rescore_pending(factory, EditedWhileScoring(), service.state.policy,
                             Actor("cli:test", "tests", "admin"), service.state.clock)
    assert result.rescored == 0
    assert get(service, cid)["model_version"] == model.version  # the edited text keeps its own scores


def test_an_edit_answers_503_when_the_duplicate_check_cannot_run_and_the_service_fails_closed(
        make_service_fixture: Any) -> None:
    from moderator.dedup.outage import DependencyUnavailable

    class ClosedWhenDown(Detector):
        down = False
        fail_closed = True  # type: ignore[assignment]

        def check(self, *args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise DependencyUnavailable("redis", "connection refused", 7)
            return super().check(*args, **kwargs)

    detector = ClosedWhenDown(DedupSettings(rate_limit=""))
    service = make_service_fixture(DUPLICATE_DETECTOR=detector)
    cid = service.submit(CLEAN).get_json()["id"]
    detector.down = True
    resp = service.call("PATCH", f"/v1/comments/{cid}", "submit", json={"text": OTHER})
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "7"
    assert resp.get_json()["error"]["code"] == "unavailable"
    assert get(service, cid)["text"] == CLEAN  # nothing changed


def test_erasure_removes_what_is_stored_about_the_person(service: Any) -> None:
    """Beyond the comments: the moderators' note on the author, the notes of reports the person made as a
    reader, and the free text of audit rows about the author; the author's status stays."""
    from moderator.storage.models import Author, Report

    resp = service.call("PUT", "/v1/authors/erase-me", "review",
                        json={"status": "premoderated", "note": "lives on Elm Street, phoned us twice"})
    assert resp.status_code == 200, resp.get_json()
    other = service.submit(OTHER, author_id="someone-else").get_json()["id"]
    decide(service, other, "approve")
    reported = service.call("POST", f"/v1/comments/{other}/reports", "submit",
                            json={"reason": "spam", "reporter_id": "erase-me", "note": "my neighbour Ann wrote this"})
    assert reported.status_code in (200, 201), reported.get_json()
    assert service.call("DELETE", "/v1/authors/erase-me", "admin").status_code == 200
    with service.state.sessionmaker() as session:
        author = session.scalar(select(Author).where(Author.author_id == "erase-me"))
        assert author is not None and author.note is None and author.status == "premoderated"
        report = session.scalar(select(Report).where(Report.reporter_id == "erase-me"))
        assert report is not None and report.note is None
        audit = [e.data for e in session.scalars(select(AuditEvent).where(AuditEvent.target_type == "author",
                                                                          AuditEvent.target_id == "erase-me"))]
        assert audit and "Elm Street" not in repr(audit)
        assert "Elm Street" not in repr([e.data for e in session.scalars(select(Event))])
