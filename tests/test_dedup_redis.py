"""The Redis-backed index against the real server at 127.0.0.1:6379 (skipped only when none answers).

Each test writes under a random key prefix and deletes it afterwards.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from helpers import T0, FakeClock
from moderator.config import Settings
from moderator.dedup.detector import build_detector
from moderator.dedup.ratelimit import RateLimiter
from moderator.dedup.settings import DedupSettings
from moderator.dedup.types import DuplicateFinding

redis = pytest.importorskip("redis")

BASE = "The council should publish the full budget before the vote on Thursday, not after it."
SPAM = "Earn $500 a day from home!!! Visit cash-fast dot example and enter code FREE500 today"
PERTURBATIONS = [
    ("case+punctuation", "THE COUNCIL SHOULD PUBLISH THE FULL BUDGET BEFORE THE VOTE ON THURSDAY NOT AFTER IT"),
    ("emoji+whitespace", " The council should publish   the full budget 📊 before the vote on Thursday, not after it"),
    ("typo", "The councel should publish the full budget before the vote on Thursday, not after it."),
    ("word added", "The council really should publish the full budget before the vote on Thursday, not after it."),
    ("homoglyphs", "Тhе cоuncil should publish thе full budgеt bеfore the vote on Thursday, not after it."),
]

REDIS_URL = "redis://127.0.0.1:6379/0"


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
def client():
    c = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield c
    c.close()


@pytest.fixture
def settings(client):
    prefix = f"moderator-test:{uuid.uuid4().hex}:"
    yield DedupSettings(backend="redis", redis_url=REDIS_URL, redis_prefix=prefix, rate_limit="")
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


def workers(settings, n=2, **overrides):
    """``n`` detectors built like two gunicorn workers would build them (same settings, own clients)."""
    from moderator.dedup.redis_index import build_redis_detector

    return [build_redis_detector(replace(settings, **overrides)) for _ in range(n)]


def test_build_detector_selects_redis(settings):
    d = build_detector(Settings.from_env({}), {"MODERATOR_DUP_BACKEND": "redis", "MODERATOR_REDIS_URL": REDIS_URL,
                        "MODERATOR_DUP_REDIS_PREFIX": settings.redis_prefix})
    from moderator.dedup.redis_index import RedisIndex

    assert isinstance(d.index, RedisIndex) and d.index.prefix == settings.redis_prefix


@pytest.mark.parametrize(("kind", "text"), PERTURBATIONS, ids=[k for k, _ in PERTURBATIONS])
def test_a_repeat_recorded_by_one_worker_is_found_by_another(settings, kind, text):
    a, b = workers(settings)
    a.record(41, BASE, "alice", T0)
    finding = b.check(text, "alice", T0 + timedelta(minutes=3))
    assert finding is not None and finding.kind == "same_author" and finding.of == 41, kind
    assert b.check(text, "bob", T0 + timedelta(minutes=3)) is None


def test_flood_across_workers(settings):
    a, b = workers(settings)
    a.record(1, SPAM, "bot1", T0)
    b.record(2, SPAM.upper(), "bot2", T0 + timedelta(seconds=5))
    assert a.check(SPAM, "bot3", T0 + timedelta(seconds=9)) == DuplicateFinding(
        True, "cross_author_flood", 1, 1.0)
    assert b.check("Thanks!", "bot3", T0) is None


def test_windows_use_created_at_not_the_wall_clock(settings):
    (d,) = workers(settings, n=1)
    d.record(5, BASE, "alice", T0)
    assert d.check(BASE, "alice", T0 + timedelta(hours=23)).of == 5
    assert d.check(BASE, "alice", T0 + timedelta(hours=25)) is None


def test_every_key_expires_with_the_window(settings, client):
    (d,) = workers(settings, n=1, window_seconds=900, flood_window_seconds=300)
    d.record(5, BASE, "alice", datetime.now(UTC))
    keys = list(client.scan_iter(match=f"{settings.redis_prefix}*"))
    assert len(keys) == 1 + 1 + d.signer.bands  # entry hash, exact key, one key per band
    ttls = [client.ttl(k) for k in keys]
    assert all(0 < ttl <= 900 for ttl in ttls)
    assert client.hget(f"{settings.redis_prefix}e:5", "a") == "alice"


def test_sorted_sets_are_trimmed_on_write(settings, client):
    (d,) = workers(settings, n=1, window_seconds=60, flood_window_seconds=60)
    d.record(1, SPAM, "bot1", T0)
    d.record(2, SPAM, "bot2", T0 + timedelta(seconds=30))
    d.record(3, SPAM, "bot3", T0 + timedelta(seconds=120))  # 1 and 2 are out of the window now
    fp_keys = list(client.scan_iter(match=f"{settings.redis_prefix}x:*"))
    assert len(fp_keys) == 1
    assert client.zrange(fp_keys[0], 0, -1) == ["3"]


def test_rebuild_into_redis_after_a_restart(settings):
    rows = [(1, BASE, "alice", T0 - timedelta(days=2)), (2, SPAM, "bot1", T0 - timedelta(minutes=1))]
    (d,) = workers(settings, n=1)
    assert d.rebuild(rows, now=T0) == 1
    (fresh,) = workers(settings, n=1)  # another process sees what was rebuilt
    assert fresh.check(SPAM, "bot1", T0).of == 2
    assert fresh.check(BASE, "alice", T0) is None
    assert fresh.size() == 1
    fresh.clear()
    assert d.size() == 0


def test_a_flood_of_copies_keeps_lookups_bounded(settings):
    (d,) = workers(settings, n=1, flood_authors=2)
    for i in range(300):
        d.record(i, SPAM, f"bot{i}", T0 + timedelta(seconds=i))
    finding = d.check(SPAM, "late-bot", T0 + timedelta(seconds=400))
    assert finding == DuplicateFinding(True, "cross_author_flood", 0, 1.0)  # the oldest copy


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    """The limits library passes ``time.time()`` to its Redis scripts; make that clock a fake one."""
    import limits.storage.redis

    fake = FakeClock()
    monkeypatch.setattr(limits.storage.redis, "time", fake)
    monkeypatch.setattr(RateLimiter, "clock", staticmethod(fake.time))
    return fake


def test_rate_limit_is_shared_by_workers(settings, clock):
    a, b = workers(settings, rate_limit="2/60")
    assert a.rate_check("rapid", T0).allowed and b.rate_check("rapid", T0).allowed
    denied = a.rate_check("rapid", T0)
    assert not denied.allowed and 0 < denied.retry_after <= 60
    assert not b.rate_check("rapid", T0).allowed
    clock.now += 61
    assert b.rate_check("rapid", T0).allowed
    a.rate_limiter.reset("rapid")
