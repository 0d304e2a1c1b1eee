"""The review queue: ordering, filters, cursor pagination, claims (with an injected clock) and decisions."""

from __future__ import annotations

from typing import Any

import pytest

CLEAN = "Thanks for the thoughtful article, I learned a lot about the history of the bridge."
ATTACK = "You are a stupid idiot and a moron, nobody wants to read your garbage, shut up idiot."


def submit_many(service: Any, texts: list[str], thread: str = "thread-1") -> list[dict[str, Any]]:
    out = []
    for i, t in enumerate(texts):
        r = service.submit(t, author_id=f"author-{i}", thread_id=thread)
        assert r.status_code == 201, r.get_json()
        out.append(r.get_json())
    return out


def queue(service: Any, query: str = "", role: str = "review") -> dict[str, Any]:
    r = service.call("GET", f"/v1/queue{query}", role)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_queue_orders_by_priority_then_oldest(service: Any, clock: Any) -> None:
    made = []
    for text in (CLEAN, ATTACK, CLEAN + " Indeed.", ATTACK):
        made.append(service.submit(text).get_json())
        clock.advance(1)
    items = queue(service)["items"]
    expected = sorted(made, key=lambda c: (-c["priority"], c["id"]))
    assert [i["id"] for i in items] == [c["id"] for c in expected]
    assert items[0]["priority"] >= items[-1]["priority"]
    # the two identical attacks tie on priority: the older comes first
    attacks = [i["id"] for i in items if i["text"] == ATTACK]
    assert attacks == sorted(attacks)
    first = items[0]
    assert set(first) >= {"id", "priority", "scores", "flags", "text", "reasons", "duplicate", "status"}


def test_cursor_pagination_walks_every_item_once(service: Any) -> None:
    made = submit_many(service, [CLEAN, ATTACK] * 5)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = queue(service, "?limit=3" + (f"&cursor={cursor}" if cursor else ""))
        seen.extend(i["id"] for i in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 4
    assert sorted(seen) == sorted(c["id"] for c in made) and len(seen) == len(set(seen))
    bad = service.call("GET", "/v1/queue?cursor=%%%", "review")
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "cursor"


def test_filters_status_category_thread(service: Any) -> None:
    clean, attack = submit_many(service, [CLEAN, ATTACK])
    other = service.submit(CLEAN, thread_id="thread-2").get_json()
    assert [i["id"] for i in queue(service, "?category=personal_attack")["items"]] == [attack["id"]]
    assert [i["id"] for i in queue(service, "?thread=thread-2")["items"]] == [other["id"]]
    assert queue(service, "?status=approved")["items"] == []
    r = service.call("POST", f"/v1/queue/{clean['id']}/decision", "review", json={"decision": "approve"})
    assert r.status_code == 200
    assert [i["id"] for i in queue(service, "?status=approved")["items"]] == [clean["id"]]
    assert clean["id"] not in [i["id"] for i in queue(service)["items"]]
    for bad in ("?status=nope", "?category=nope", "?limit=0", "?limit=abc", "?limit=%C2%B2", "?limit=-1",
                "?limit=99999999999999999999", "?unknown=1", "?status=pending&status=approved"):
        assert service.call("GET", f"/v1/queue{bad}", "review").status_code == 422, bad


def test_claim_blocks_other_moderator_until_it_expires(make_service_fixture: Any, clock: Any) -> None:
    service = make_service_fixture(CLAIM_TTL=60)
    cid = service.submit(CLEAN).get_json()["id"]
    r = service.call("POST", f"/v1/queue/{cid}/claim", "review")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["claimed_by"].startswith("key:")
    # someone else can neither claim nor decide it
    assert service.call("POST", f"/v1/queue/{cid}/claim", "review2").status_code == 409
    d = service.call("POST", f"/v1/queue/{cid}/decision", "review2", json={"decision": "reject"})
    assert d.status_code == 409 and d.get_json()["error"]["code"] == "conflict"
    assert service.call("GET", f"/v1/comments/{cid}", "review").get_json()["review"]["status"] == "pending"
    # the claimant may renew it
    assert service.call("POST", f"/v1/queue/{cid}/claim", "review").status_code == 200
    clock.advance(59)
    assert service.call("POST", f"/v1/queue/{cid}/claim", "review2").status_code == 409
    clock.advance(2)  # past the renewed claim (60 s from the renewal)
    r2 = service.call("POST", f"/v1/queue/{cid}/claim", "review2")
    assert r2.status_code == 200 and r2.get_json()["claimed_by"] != r.get_json()["claimed_by"]
    # now the first moderator is the one locked out
    assert service.call("POST", f"/v1/queue/{cid}/decision", "review", json={"decision": "approve"}).status_code \
        == 409


def test_decision_records_actor_and_second_decision_is_409(service: Any) -> None:
    cid = service.submit(ATTACK).get_json()["id"]
    body = {"decision": "reject", "reason": "insult", "categories": ["personal_attack"]}
    r = service.call("POST", f"/v1/queue/{cid}/decision", "review", json=body)
    assert r.status_code == 200, r.get_json()
    out = r.get_json()
    assert out["status"] == "rejected" and out["comment_status"] == "rejected"
    assert out["decision"]["categories"] == ["personal_attack"] and out["decision"]["reason"] == "insult"
    again = service.call("POST", f"/v1/queue/{cid}/decision", "review2", json={"decision": "approve"})
    assert again.status_code == 409
    detail = service.call("GET", f"/v1/comments/{cid}", "review").get_json()
    assert detail["status"] == "rejected" and len(detail["decisions"]) == 1
    assert detail["decisions"][0]["actor"] == out["decision"]["actor"]
    assert [h["action"] for h in detail["history"]] == ["submitted", "queued", "rejected"]
    audit = service.call("GET", "/v1/audit?action=review.reject", "admin").get_json()["items"]
    assert len(audit) == 1 and audit[0]["target_id"] == str(cid) and audit[0]["actor"] == out["decision"]["actor"]


def test_stale_version_is_409(service: Any) -> None:
    cid = service.submit(CLEAN).get_json()["id"]
    version = service.call("GET", f"/v1/comments/{cid}", "review").get_json()["review"]["version"]
    service.call("POST", f"/v1/queue/{cid}/claim", "review")  # bumps the version
    r = service.call("POST", f"/v1/queue/{cid}/decision", "review", json={"decision": "approve", "version": version})
    assert r.status_code == 409
    r = service.call("POST", f"/v1/queue/{cid}/decision", "review",
                     json={"decision": "approve", "version": version + 1})
    assert r.status_code == 200


@pytest.mark.parametrize("path", ["claim", "decision"])
def test_unknown_or_unqueued_comment_is_404(make_service_fixture: Any, path: str) -> None:
    service = make_service_fixture(POLICY={"mode": "postmoderation"})
    published = service.submit(CLEAN).get_json()["id"]
    for cid in (published, 424242, "abc", "%C2%B2", "99999999999999999999999"):
        r = service.call("POST", f"/v1/queue/{cid}/{path}", "review", json={"decision": "approve"}
                         if path == "decision" else {})
        assert r.status_code == 404, (cid, r.get_json())


def test_audit_filters_and_pagination(service: Any, clock: Any) -> None:
    submit_many(service, [CLEAN] * 5)
    clock.advance(3600)
    later = service.submit(ATTACK).get_json()["id"]
    page = service.call("GET", "/v1/audit?action=comment.submit&limit=4", "admin").get_json()
    assert len(page["items"]) == 4 and page["next_cursor"]
    assert page["items"][0]["target_id"] == str(later)  # newest first
    rest = service.call("GET", f"/v1/audit?action=comment.submit&limit=4&cursor={page['next_cursor']}",
                        "admin").get_json()
    assert len(rest["items"]) == 2 and rest["next_cursor"] is None
    since = (clock.now.replace(microsecond=0)).isoformat()
    recent = service.call("GET", f"/v1/audit?since={since.replace('+', '%2B')}", "admin").get_json()["items"]
    assert [e["target_id"] for e in recent] == [str(later)]
    keys = service.call("GET", "/v1/audit?action=key.create", "admin").get_json()["items"]
    assert len(keys) == 4 and all(e["actor"] == "cli:test" for e in keys)
    assert service.call("GET", "/v1/audit?since=yesterday", "admin").status_code == 422
