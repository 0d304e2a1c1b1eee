"""Edits, withdrawals and erasure against a Redis duplicate index (the real server at 127.0.0.1:6379; skipped
only when none answers), through the API on SQLite and PostgreSQL. Each test uses its own key prefix."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from moderator.dedup.redis_index import build_redis_detector
from moderator.dedup.settings import DedupSettings

redis = pytest.importorskip("redis")

REDIS_URL = "redis://127.0.0.1:6379/0"
CLEAN = "Thanks for the thoughtful article, I learned a lot about the history of the bridge."
CLEAN2 = "Thanks for the thoughtful article; I learned a great deal about how the old bridge was built."
OTHER = "The council should publish the full budget before the vote on Thursday, not after it."


def _redis_answers() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.exceptions.RedisError:
        return False


pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(not _redis_answers(), reason=f"no Redis server answers at {REDIS_URL}"),
]


@pytest.fixture
def client() -> Iterator[Any]:
    c = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield c
    c.close()


@pytest.fixture
def prefix(client: Any) -> Iterator[str]:
    p = f"moderator-test:{uuid.uuid4().hex}:"
    yield p
    keys = list(client.scan_iter(match=f"{p}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def service(make_service_fixture: Any, prefix: str) -> Any:
    detector = build_redis_detector(DedupSettings(backend="redis", redis_url=REDIS_URL, redis_prefix=prefix,
                                                  rate_limit=""))
    return make_service_fixture(DUPLICATE_DETECTOR=detector)


def members(client: Any, prefix: str, cid: int) -> list[str]:
    """Every key under the prefix that names comment ``cid`` (its entry hash, the sorted sets holding it)."""
    out = []
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        if key == f"{prefix}e:{cid}" or (client.type(key) == "zset" and client.zscore(key, str(cid)) is not None):
            out.append(key)
    return out


def test_erasure_removes_the_authors_comments_from_redis(service: Any, client: Any, prefix: str) -> None:
    cid = service.submit(CLEAN, author_id="erase-me").get_json()["id"]
    keep = service.submit(OTHER, author_id="stays").get_json()["id"]
    assert f"{prefix}e:{cid}" in members(client, prefix, cid) and len(members(client, prefix, cid)) > 2
    assert service.call("DELETE", "/v1/authors/erase-me", "admin").status_code == 200
    assert members(client, prefix, cid) == []
    assert members(client, prefix, keep) != []
    # the same text again is no repeat of anything
    assert service.submit(CLEAN, author_id="erase-me").get_json()["duplicate"] is None


def test_an_edit_replaces_its_entry_in_redis(service: Any, client: Any, prefix: str) -> None:
    cid = service.submit(CLEAN).get_json()["id"]
    before = set(members(client, prefix, cid))
    body = service.call("PATCH", f"/v1/comments/{cid}", "submit", json={"text": CLEAN2}).get_json()
    assert body["duplicate"] is None  # not a duplicate of its own earlier text
    after = set(members(client, prefix, cid))
    exact_before = {k for k in before if k.startswith(f"{prefix}x:")}
    exact_after = {k for k in after if k.startswith(f"{prefix}x:")}
    assert exact_before and exact_after and exact_before.isdisjoint(exact_after)  # the old text's sets forgot it
    assert client.hget(f"{prefix}e:{cid}", "n") != "" and "built" in client.hget(f"{prefix}e:{cid}", "n")
    again = service.submit(CLEAN2 + " Really.", thread_id="t2").get_json()
    assert again["duplicate"] is not None and again["duplicate"]["of"] == cid


def test_withdrawal_removes_the_comment_from_redis(service: Any, client: Any, prefix: str) -> None:
    cid = service.submit(CLEAN).get_json()["id"]
    assert service.call("DELETE", f"/v1/comments/{cid}", "submit").status_code == 200
    assert members(client, prefix, cid) == []
    assert service.submit(CLEAN).get_json()["duplicate"] is None
