"""Authors, readers' reports, watched-word rules and the site's reject reasons, through the JSON API on SQLite
and PostgreSQL (moderator.service.authors / reports / rules / site_policy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from moderator.storage.models import AuditEvent, Author, Event

CLEAN = "Thanks for the thoughtful article, I learned a lot."
# texts the shipped model flags in no category
POLITE = ["I think the council made the right call on the new bridge.",
          "The second half of the match was much better than the first.",
          "Interesting point about the budget, though I would like more detail.",
          "My grandmother used to make this recipe every winter.",
          "I agree with the author about the housing figures.",
          "I disagree with the conclusion about the election results.",
          "The photos of the harbour at sunset are lovely.",
          "We visited the museum last weekend and enjoyed it."]


def submit(svc: Any, author: str = "a1", text: str = CLEAN) -> dict[str, Any]:
    resp = svc.submit(text, author_id=author)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def put_author(svc: Any, author: str, role: str = "review", **body: Any) -> Any:
    return svc.call("PUT", f"/v1/authors/{author}", role, json=body)


def rows(svc: Any, model: Any) -> list[Any]:
    with svc.state.sessionmaker() as s:
        return list(s.scalars(select(model)))


# ---------------------------------------------------------------- authors


def test_author_record_counts_and_api(service: Any, clock: Any) -> None:
    submit(service, "a1")
    submit(service, "a1", "A second, different comment about the article's figures.")
    resp = service.call("GET", "/v1/authors/a1", "review")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "normal" and body["counts"]["submitted"] == 2 and body["history"] == []
    assert service.call("GET", "/v1/authors/nobody", "review").status_code == 404
    assert service.call("GET", "/v1/authors/a1", "submit").status_code == 403

    resp = put_author(service, "a1", status="trusted", note="long-standing regular")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "trusted" and body["note"] == "long-standing regular"
    assert body["history"][0]["changes"]["status"] == {"from": "normal", "to": "trusted"}
    audit = [e for e in rows(service, AuditEvent) if e.action == "author.update"]
    assert len(audit) == 1 and audit[0].target_id == "a1"
    events = [e for e in rows(service, Event) if e.type == "author.updated"]
    assert len(events) == 1 and events[0].author_id == "a1" and events[0].data["status"]["to"] == "trusted"
    # a moderator's decision moves the counts
    cid = submit(service, "a1", "Yet another comment, this one about the weather.")["id"]
    assert service.call("POST", f"/v1/queue/{cid}/decision", "review", json={"decision": "reject",
                                                                             "reason": "spam"}).status_code == 200
    counts = service.call("GET", "/v1/authors/a1", "review").get_json()["counts"]
    assert counts == {"submitted": 3, "approved": 0, "rejected": 1, "reported": 0}


def test_author_put_validation(service: Any, clock: Any) -> None:
    assert put_author(service, "x", status="suspended").status_code == 422  # needs until
    past = (clock.now.replace(year=clock.now.year - 1)).isoformat()
    assert put_author(service, "x", status="suspended", until=past).status_code == 422
    assert put_author(service, "x", status="trusted", until="2999-01-01T00:00:00Z").status_code == 422
    assert put_author(service, "x", status="king").status_code == 422
    assert put_author(service, "x", until="not a date").status_code == 422
    assert service.call("PUT", "/v1/authors/x", "review", json={}).status_code == 422
    assert put_author(service, "x", role="submit", status="banned").status_code == 403
    # a site may ban someone who has not commented yet
    assert put_author(service, "x", role="admin", status="banned").status_code == 200


def test_banned_author_is_stored_and_rejected(service: Any) -> None:
    submit(service, "troll")
    put_author(service, "troll", status="banned")
    out = submit(service, "troll")
    assert out["decision"] == "reject" and out["status"] == "rejected" and "author:banned" in out["reasons"]
    assert service.call("GET", f"/v1/comments/{out['id']}", "submit").status_code == 200


def test_suspended_author_until_the_time_passes(make_service_fixture: Any, clock: Any) -> None:
    svc = make_service_fixture(POLICY={"mode": "postmoderation"})
    until = clock.now.replace(microsecond=0)
    from datetime import timedelta

    assert put_author(svc, "s1", status="suspended", until=(until + timedelta(hours=1)).isoformat()).status_code \
        == 200
    out = submit(svc, "s1")
    assert out["decision"] == "reject" and "author:suspended" in out["reasons"]
    clock.advance(2 * 3600)
    out = submit(svc, "s1", "Back again after the break, with a different comment.")
    assert out["decision"] == "publish" and out["reasons"] == []
    assert svc.call("GET", "/v1/authors/s1", "review").get_json()["effective_status"] == "normal"


def test_suspended_author_held_when_the_setting_says_hold(make_service_fixture: Any, clock: Any) -> None:
    from datetime import timedelta

    svc = make_service_fixture(POLICY={"mode": "postmoderation"}, SUSPENDED_ACTION="hold")
    put_author(svc, "s2", status="suspended", until=(clock.now + timedelta(days=1)).isoformat())
    out = submit(svc, "s2")
    assert out["decision"] == "hold" and "author:suspended" in out["reasons"]


def test_premoderated_author_is_held_in_postmoderation(make_service_fixture: Any) -> None:
    svc = make_service_fixture(POLICY={"mode": "postmoderation"})
    assert submit(svc, "p1")["decision"] == "publish"
    put_author(svc, "p1", status="premoderated")
    out = submit(svc, "p1", POLITE[1])
    assert out["decision"] == "hold" and out["reasons"] == ["author:premoderated"]
    assert submit(svc, "someone-else")["decision"] == "publish"


def test_trusted_author_in_premoderation_goes_last_or_skips(make_service_fixture: Any) -> None:
    svc = make_service_fixture()
    put_author(svc, "t1", status="trusted")
    normal = submit(svc, "n1")
    trusted = submit(svc, "t1", POLITE[0])
    assert trusted["decision"] == "hold" and trusted["reasons"] == ["author:trusted"]
    assert trusted["priority"] < 0 <= normal["priority"]
    queue = svc.call("GET", "/v1/queue", "review").get_json()["items"]
    assert [i["id"] for i in queue][-1] == trusted["id"]
    # a flagged comment from a trusted author is not waved through
    rude = submit(svc, "t1", "You are an idiot and a moron.")
    assert rude["decision"] == "hold" and "author:trusted" not in rude["reasons"] and rude["priority"] >= 1

    skip = make_service_fixture(TRUSTED_SKIP_QUEUE=True)
    put_author(skip, "t2", status="trusted")
    assert submit(skip, "t2")["decision"] == "publish"
    assert submit(skip, "n2")["decision"] == "hold"


def test_new_authors_held_even_in_postmoderation(make_service_fixture: Any) -> None:
    svc = make_service_fixture(POLICY={"mode": "postmoderation"}, NEW_AUTHOR_HOLD=2)
    texts = POLITE[:3]
    decisions = [submit(svc, "new1", t) for t in texts]
    assert [d["decision"] for d in decisions] == ["hold", "hold", "publish"]
    assert decisions[0]["reasons"] == ["author:new"]
    put_author(svc, "vip", status="trusted")
    assert submit(svc, "vip")["decision"] == "publish"


def test_automatic_trust_after_k_approvals(make_service_fixture: Any) -> None:
    svc = make_service_fixture(AUTO_TRUST_APPROVED=2)
    for i in range(2):
        cid = submit(svc, "reg", POLITE[i])["id"]
        assert svc.call("POST", f"/v1/queue/{cid}/decision", "review",
                        json={"decision": "approve"}).status_code == 200
    out = submit(svc, "reg", POLITE[4])
    assert "author:trusted" in out["reasons"]
    body = svc.call("GET", "/v1/authors/reg", "review").get_json()
    assert body["status"] == "trusted" and body["history"][0]["actor"] == "system:auto-trust"
    # off by default
    plain = make_service_fixture()  # (the same database)
    for i in range(3):
        cid = submit(plain, "reg2", POLITE[i])["id"]
        plain.call("POST", f"/v1/queue/{cid}/decision", "review", json={"decision": "approve"})
    assert "author:trusted" not in submit(plain, "reg2", POLITE[4])["reasons"]
    assert plain.call("GET", "/v1/authors/reg2", "review").get_json()["status"] == "normal"


# ---------------------------------------------------------------- reports


def report(svc: Any, cid: int, reporter: str, reason: str = "abuse") -> Any:
    return svc.call("POST", f"/v1/comments/{cid}/reports", "submit",
                    json={"reason": reason, "reporter_id": reporter})


def test_reports_return_a_published_comment_to_the_queue(make_service_fixture: Any) -> None:
    svc = make_service_fixture(POLICY={"mode": "postmoderation"}, REPORTS_TO_QUEUE=2)
    cid = submit(svc, "a1")["id"]
    first = report(svc, cid, "r1", "spam")
    assert first.status_code == 201 and first.get_json()["requeued"] is False
    assert first.get_json()["report"]["weight"] == pytest.approx(1.0)
    again = report(svc, cid, "r1", "spam")  # the same reporter again: idempotent, the first report
    assert again.status_code == 200 and again.get_json()["created"] is False
    assert again.get_json()["report"]["id"] == first.get_json()["report"]["id"]
    second = report(svc, cid, "r2", "abuse")
    assert second.status_code == 201 and second.get_json()["requeued"] is True
    assert second.get_json()["comment_status"] == "held"
    queue = svc.call("GET", "/v1/queue", "review").get_json()["items"]
    assert [i["id"] for i in queue] == [cid]
    assert queue[0]["reports"] == {"count": 2, "weight": 2.0, "reasons": {"spam": 1, "abuse": 1}}
    assert "reported" in queue[0]["reasons"] and queue[0]["priority"] >= 3.0
    assert svc.call("GET", "/v1/authors/a1", "review").get_json()["counts"]["reported"] == 2
    assert any(e.type == "comment.reopened" for e in rows(svc, Event))
    # the moderator approves: the reports are dismissed, and those reporters weigh less next time
    assert svc.call("POST", f"/v1/queue/{cid}/decision", "review", json={"decision": "approve"}).status_code == 200
    other = submit(svc, "a2", POLITE[6])["id"]
    assert report(svc, other, "r1").get_json()["report"]["weight"] == pytest.approx(0.75)
    assert report(svc, 999999, "r1").status_code == 404
    assert svc.call("POST", f"/v1/comments/{cid}/reports", "submit", json={"reporter_id": "x"}).status_code == 422
    assert svc.call("POST", f"/v1/comments/{cid}/reports", "review",
                    json={"reason": "x", "reporter_id": "x"}).status_code == 403


def test_report_on_a_pending_comment_raises_its_priority(service: Any) -> None:
    first = submit(service, "a1")
    second = submit(service, "a2", "Another perfectly polite comment, slightly different.")
    before = {i["id"]: i["priority"] for i in service.call("GET", "/v1/queue", "review").get_json()["items"]}
    assert report(service, second["id"], "r1").status_code == 201
    items = service.call("GET", "/v1/queue", "review").get_json()["items"]
    after = {i["id"]: i["priority"] for i in items}
    assert after[second["id"]] == pytest.approx(before[second["id"]] + 0.5)
    assert after[first["id"]] == before[first["id"]]
    assert items[0]["id"] == second["id"] and items[0]["reports"]["count"] == 1


def test_reporter_weight_is_beta_smoothed_accuracy() -> None:
    from moderator.service.reports import reporter_weight

    assert reporter_weight(0, 0) == pytest.approx(1.0)
    assert reporter_weight(0, 1) == pytest.approx(0.75)
    assert reporter_weight(0, 10) == pytest.approx(0.230769, abs=1e-6)
    assert reporter_weight(10, 0) == pytest.approx(1.384615, abs=1e-6)
    assert reporter_weight(5, 5) < reporter_weight(0, 0) < reporter_weight(5, 0)


def test_dismissed_reporters_need_more_reports_to_requeue(make_service_fixture: Any) -> None:
    svc = make_service_fixture(POLICY={"mode": "postmoderation"}, REPORTS_TO_QUEUE=0.5)
    weights = []
    for i in range(4):  # r1's reports are dismissed four times: 1, 0.75, 0.6, 0.5
        cid = submit(svc, f"w{i}", POLITE[i])["id"]
        filed = report(svc, cid, "r1").get_json()
        assert filed["requeued"] is True
        weights.append(filed["report"]["weight"])
        svc.call("POST", f"/v1/queue/{cid}/decision", "review", json={"decision": "approve"})
    assert weights == pytest.approx([1.0, 0.75, 0.6, 0.5])
    target = submit(svc, "w9", POLITE[5])["id"]
    filed = report(svc, target, "r1").get_json()
    assert filed["report"]["weight"] == pytest.approx(2 / 7 * 1.5) and filed["requeued"] is False
    assert report(svc, target, "r2").get_json()["requeued"] is True


# ---------------------------------------------------------------- rules


def add_rule(svc: Any, pattern: str, action: str, kind: str = "word") -> Any:
    return svc.call("POST", "/v1/rules", "admin", json={"kind": kind, "pattern": pattern, "action": action})


def test_rules_block_hold_flag_obfuscated_and_scunthorpe(make_service_fixture: Any) -> None:
    svc = make_service_fixture(POLICY={"mode": "postmoderation"})
    assert add_rule(svc, "cunt", "block").status_code == 201
    assert add_rule(svc, "frobnicate", "hold").status_code == 201
    assert add_rule(svc, "buy now", "flag", "phrase").status_code == 201
    listed = svc.call("GET", "/v1/rules", "admin").get_json()
    assert [r["pattern"] for r in listed["items"]] == ["cunt", "frobnicate", "buy now"] and listed["version"] == 3

    out = submit(svc, "a", "What a c*nt of a referee that was.")  # a mask
    assert out["decision"] == "reject" and "word:cunt" in out["reasons"]
    out = submit(svc, "b", "What a сunt of a referee that was.")  # Cyrillic с
    assert out["decision"] == "reject" and "word:cunt" in out["reasons"]
    out = submit(svc, "c", "I grew up near Scunthorpe and love the town.")  # Scunthorpe-safe
    assert out["decision"] == "publish" and not any(r.startswith("word:") for r in out["reasons"])
    out = submit(svc, "d", "Please do not fr0bn1cate the widgets again.")  # leetspeak of a site word
    assert out["decision"] == "hold" and "word:frobnicate" in out["reasons"]
    out = submit(svc, "e", "Great deals here, BUY-NOW while they last.")
    assert out["decision"] == "publish" and "watched:buy now" in out["reasons"]

    rule_id = listed["items"][0]["id"]
    assert svc.call("DELETE", f"/v1/rules/{rule_id}", "admin").status_code == 200
    assert svc.call("DELETE", f"/v1/rules/{rule_id}", "admin").status_code == 404
    assert submit(svc, "f", "What a c*nt of a referee that was, again.")["decision"] != "reject"
    actions = [e.action for e in rows(svc, AuditEvent) if e.action.startswith("rule.")]
    assert actions == ["rule.create"] * 3 + ["rule.delete"]


def test_bad_rules_are_4xx(service: Any) -> None:
    for body in ({"kind": "regex", "pattern": "(a)\\1", "action": "block"},
                 {"kind": "regex", "pattern": "[", "action": "block"},
                 {"kind": "regex", "pattern": "(?=x)y", "action": "block"},
                 {"kind": "word", "pattern": "two words", "action": "block"},
                 {"kind": "word", "pattern": "***", "action": "block"},
                 {"kind": "word", "pattern": "x", "action": "explode"},
                 {"kind": "glob", "pattern": "x", "action": "block"}):
        resp = service.call("POST", "/v1/rules", "admin", json=body)
        assert resp.status_code == 422, (body, resp.get_json())
    assert service.call("POST", "/v1/rules", "review", json={"kind": "word", "pattern": "x",
                                                             "action": "flag"}).status_code == 403
    assert service.call("DELETE", "/v1/rules/abc", "admin").status_code == 404


def test_pathological_regex_cannot_stall_intake(make_service_fixture: Any) -> None:
    """(a+)+b against a run of a's backtracks exponentially in Python's re (2^40 steps here); RE2 is linear."""
    svc = make_service_fixture(POLICY={"mode": "postmoderation"})
    assert add_rule(svc, "(a+)+b", "block", "regex").status_code == 201
    assert add_rule(svc, "(x|xx)+y", "hold", "regex").status_code == 201
    out = submit(svc, "a", "a" * 40 + "c " + "x" * 40 + "z")
    assert out["decision"] == "publish"
    assert submit(svc, "b", "aaab")["decision"] == "reject"


def test_rules_reach_other_workers_without_a_restart(make_service_fixture: Any) -> None:
    one = make_service_fixture(POLICY={"mode": "postmoderation"})
    two = make_service_fixture(POLICY={"mode": "postmoderation"}, RULES_REFRESH=0)
    assert submit(two, "a", "We will frobnicate the widget.")["decision"] == "publish"  # two compiles the empty set
    assert add_rule(one, "frobnicate", "block").status_code == 201
    assert submit(two, "b", "We will frobnicate the widget again.")["decision"] == "reject"


# ---------------------------------------------------------------- reject reasons


def test_reject_reasons_from_the_policy_file(make_service_fixture: Any, tmp_path: Path) -> None:
    f = tmp_path / "policy.json"
    f.write_text(json.dumps({"reject_reasons": [
        {"code": "off_topic", "label": "Off topic"}, {"code": "spam", "label": "Spam", "category": "spam"}]}))
    svc = make_service_fixture(POLICY_FILE=str(f))
    reasons = svc.call("GET", "/v1/policy", "submit").get_json()["reject_reasons"]
    assert reasons == [{"code": "off_topic", "label": "Off topic", "category": None},
                       {"code": "spam", "label": "Spam", "category": "spam"}]
    default = make_service_fixture().call("GET", "/v1/policy", "submit").get_json()["reject_reasons"]
    assert [r["code"] for r in default] == ["hate_speech", "obscenity", "personal_attack", "spam", "other"]


def test_bad_reject_reasons_refused() -> None:
    from moderator.service.policy import Policy, PolicyError

    for bad in ([], [{"code": "X Y", "label": "x"}], [{"code": "a", "label": "A", "category": "nope"}],
                [{"code": "a", "label": "A"}, {"code": "a", "label": "B"}], "spam"):
        with pytest.raises(PolicyError):
            Policy.from_mapping({"reject_reasons": bad}, {"spam": 0.5})


def test_migration_backfills_authors(db_url: str) -> None:
    assert db_url  # the migrated schema has the table; the backfill itself runs on existing comments
    from moderator.storage.db import make_engine

    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert list(conn.execute(select(Author.author_id))) == []
    engine.dispose()


def test_cli_authors_and_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from moderator.cli import main

    monkeypatch.setenv("MODERATOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    runner = CliRunner()
    assert runner.invoke(main, ["init"]).exit_code == 0
    missing = runner.invoke(main, ["authors", "show", "u1"])
    assert missing.exit_code == 1 and "no author 'u1'" in missing.output
    done = runner.invoke(main, ["authors", "set", "u1", "--status", "suspended", "--until", "2999-01-01T00:00:00",
                                "--note", "cooling off"])
    assert done.exit_code == 0, done.output
    shown = json.loads(runner.invoke(main, ["authors", "show", "u1"]).output)
    assert shown["status"] == "suspended" and shown["until"].startswith("2999-01-01") and shown["note"] == \
        "cooling off"
    bad = runner.invoke(main, ["authors", "set", "u1", "--status", "suspended", "--until", "2001-01-01"])
    assert bad.exit_code == 1 and "future" in bad.output
    assert runner.invoke(main, ["authors", "set", "u1"]).exit_code == 2
    added = runner.invoke(main, ["rules", "add", "frobnicate", "--action", "hold"])
    assert added.exit_code == 0 and "added rule 1" in added.output
    assert runner.invoke(main, ["rules", "add", "(a)\\1", "--kind", "regex", "--action", "block"]).exit_code == 1
    assert "1\tword\thold\tfrobnicate" in runner.invoke(main, ["rules", "list"]).output
    assert runner.invoke(main, ["rules", "remove", "1"]).exit_code == 0
    assert runner.invoke(main, ["rules", "remove", "1"]).exit_code == 1
    assert runner.invoke(main, ["rules", "list"]).output == ""


def test_rescoring_keeps_what_reports_rules_and_trust_added() -> None:
    from moderator.service.policy import Verdict
    from moderator.service.site_policy import rescored_priority

    clean = Verdict("hold", (), ("premoderation",), 0.3)
    assert rescored_priority(clean, ["author:trusted"]) < 0
    assert rescored_priority(Verdict("hold", ("spam",), (), 1.2), ["author:trusted"]) == 1.2  # flagged now
    assert rescored_priority(clean, ["reported"], 3.0) == 4.0
    assert rescored_priority(clean, ["premoderation"], 1.0) == pytest.approx(0.8)
    assert rescored_priority(clean, ["word:frobnicate"]) == pytest.approx(1.3)


def test_deferred_rescoring_keeps_a_reported_comment_high(make_service_fixture: Any, model: Any) -> None:
    from moderator.service.rescore import rescore_pending

    svc = make_service_fixture(POLICY={"mode": "postmoderation"}, ENCODER_MODE="deferred", REFINE=False)
    cid = submit(svc, "a1")["id"]
    assert report(svc, cid, "r1").get_json()["requeued"] is True
    st = svc.state
    from moderator.service.audit import Actor

    result = rescore_pending(st.sessionmaker, model, st.full_policy or st.policy, Actor("cli:t", "t", "admin"),
                             st.clock)
    assert result.rescored == 1
    item = svc.call("GET", "/v1/queue", "review").get_json()["items"][0]
    assert item["id"] == cid and item["priority"] >= 2.0
