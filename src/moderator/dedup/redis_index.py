"""Redis-backed duplicate index, shared by every worker and instance pointing at one Redis.

Key layout (``P`` is ``MODERATOR_DUP_REDIS_PREFIX``, default ``moderator:dedup:``):

``P e:<comment id>``
    hash ``{a: author id, t: created_at epoch seconds, n: normalised text, f: fingerprint (hex),
    s: MinHash values (hex of num_perm little-endian uint32)}``
``P x:<fingerprint hex>``
    sorted set of comment ids scored by created_at: the exact (normalised) repeats
``P b:<band key hex>``
    sorted set of comment ids scored by created_at: one per LSH band bucket
``P rate/...``
    the limits library's moving-window lists for the rate limit

Every key gets a TTL of the retention window (the longer of the same-author and flood windows) on
each write, and sorted-set members older than the window are trimmed when the set is written to, so
Redis memory is bounded by the comments of one window. Windows are checked against the scores
(``created_at``), never against TTLs, so injected clocks behave like the in-memory index.

datasketch's own Redis storage for ``MinHashLSH`` is not used: it has no TTLs (entries would have to be
removed one by one by some process) and no timestamps to filter a window by.

Outages: the clients have connect and read timeouts (``MODERATOR_REDIS_TIMEOUT``), and every call of the
index and the rate limiter goes through one :class:`moderator.dedup.outage.DependencyGuard`, which skips Redis for
``MODERATOR_REDIS_COOLDOWN`` seconds after a failure, logs a bounded number of lines and sets
``moderator_dependency_up{dependency="redis"}``. Calls then raise
:class:`moderator.dedup.outage.DependencyUnavailable`; the service decides what to do (``MODERATOR_REDIS_FAIL_MODE``).
"""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from moderator.dedup.detector import Detector
from moderator.dedup.outage import DependencyGuard
from moderator.dedup.ratelimit import RateLimiter
from moderator.dedup.settings import DedupSettings
from moderator.dedup.types import Entry

# One round trip per look-up and per insert: the scripts run server-side (EVALSHA; redis-py falls back to EVAL
# once after a script cache flush). Issued as pipelines of ~15 and ~47 commands instead, the client-side command
# packing and the server's per-command overhead made the Redis backend the service's bottleneck (see
# docs/benchmarks.md). The entry hashes are read by key names built in the script, which standalone Redis
# allows (Redis Cluster would need hash tags); scripts are atomic, as the MULTI pipeline of ``add`` was.

# KEYS: exact-fingerprint set, band sets...; ARGV: since, limit, entry key prefix.
# Returns a flat array: id, author, created_at, normalised text, fingerprint hex, signature hex; per candidate.
_CANDIDATES_LUA = """
local since, limit, prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local seen, out = {}, {}
local function take(ids)
  for _, id in ipairs(ids) do
    if not seen[id] then
      seen[id] = true
      local v = redis.call('HMGET', prefix .. id, 'a', 't', 'n', 'f', 's')
      out[#out + 1] = id
      for j = 1, 5 do out[#out + 1] = v[j] or '' end
    end
  end
end
take(redis.call('ZRANGEBYSCORE', KEYS[1], since, '+inf', 'LIMIT', 0, limit))  -- the oldest exact repeats
for i = 2, #KEYS do
  take(redis.call('ZREVRANGEBYSCORE', KEYS[i], '+inf', since, 'LIMIT', 0, limit))  -- the newest neighbours
end
return out
"""

# KEYS: entry hash, exact-fingerprint set, band sets...;
# ARGV: ttl, "(cutoff" (exclusive), id, created_at, author, normalised text, fingerprint hex, signature hex.
_ADD_LUA = """
local ttl = ARGV[1]
redis.call('HSET', KEYS[1], 'a', ARGV[5], 't', ARGV[4], 'n', ARGV[6], 'f', ARGV[7], 's', ARGV[8])
redis.call('EXPIRE', KEYS[1], ttl)
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[4], ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[2])
  redis.call('EXPIRE', KEYS[i], ttl)
end
return 1
"""


# KEYS: entry hash; ARGV: id, then the exact-fingerprint and band set keys to remove it from.
_REMOVE_LUA = """
local gone = redis.call('DEL', KEYS[1])
for i = 2, #ARGV do redis.call('ZREM', ARGV[i], ARGV[1]) end
return gone
"""


class RedisIndex:
    """The :class:`moderator.dedup.types.Index` in Redis (see the module docstring for the layout).

    Parameters
    ----------
    client : redis.Redis
        A client created with ``decode_responses=True``.
    retention_seconds : int
        TTL of every key and the age beyond which sorted-set members are trimmed.
    prefix : str, default="moderator:dedup:"
        Prefix of every key; tests use a random one.
    guard : DependencyGuard, default=None
        Wraps the look-ups and inserts (circuit breaker, logging, gauge); ``None`` means a new one.
    """

    def __init__(self, client: redis.Redis, retention_seconds: int,
                 prefix: str = "moderator:dedup:", guard: DependencyGuard | None = None) -> None:
        self.client = client
        self.retention_seconds = int(retention_seconds)
        self.prefix = prefix
        self.guard = guard if guard is not None else DependencyGuard("redis")
        self._entry_key_prefix = f"{prefix}e:"
        self._candidates = client.register_script(_CANDIDATES_LUA)
        self._add = client.register_script(_ADD_LUA)
        self._remove = client.register_script(_REMOVE_LUA)
        self.bands_of: Any = None  # set by the Detector over it: band keys from a stored signature

    def _entry_key(self, cid: int) -> str:
        return f"{self.prefix}e:{cid}"

    def _keys(self, fp: int, band_keys: tuple[int, ...]) -> list[str]:
        return [f"{self.prefix}x:{fp:x}", *(f"{self.prefix}b:{k:x}" for k in band_keys)]

    def candidates(self, fp: int, band_keys: tuple[int, ...], since: float,
                   limit: int = 100) -> list[Entry]:
        rows = self.guard.call(self._candidates, keys=self._keys(fp, band_keys),
                               args=[repr(since), limit, self._entry_key_prefix])
        out = []
        for i in range(0, len(rows), 6):
            cid, author, ts, norm, fp_hex, sig_hex = rows[i:i + 6]
            if not ts or float(ts) < since:  # gone, or expired since it was indexed
                continue
            out.append(Entry(int(cid), author, float(ts), norm, int(fp_hex, 16), bytes.fromhex(sig_hex)))
        out.sort(key=lambda e: e.comment_id)
        return out

    def add(self, entry: Entry, band_keys: tuple[int, ...], now: float) -> None:
        ttl = self.retention_seconds
        if entry.ts < now - ttl:
            return
        keys = [self._entry_key(entry.comment_id), *self._keys(entry.fingerprint, band_keys)]
        self.guard.call(self._add, keys=keys, args=[ttl, f"({now - ttl!r}", entry.comment_id, repr(entry.ts),
                                                    entry.author_id, entry.normalised, f"{entry.fingerprint:x}",
                                                    entry.signature.hex()])

    def remove(self, comment_id: int) -> bool:
        """Delete the entry hash and the id from its exact-fingerprint and band sets (the band keys are
        recomputed from the stored signature); True when there was an entry."""
        key = self._entry_key(comment_id)
        found: list[Any] = self.guard.call(self.client.hmget, key, ["f", "s"])
        fp_hex, sig_hex = (str(v) if v else "" for v in found)
        if not fp_hex:
            return False
        sets = [f"{self.prefix}x:{fp_hex}"]
        if sig_hex and self.bands_of is not None:
            sets += [f"{self.prefix}b:{k:x}" for k in self.bands_of(bytes.fromhex(sig_hex))]
        return bool(self.guard.call(self._remove, keys=[key], args=[comment_id, *sets]))

    def ping(self) -> bool:
        """One round trip (readiness checks call it through the guard)."""
        return bool(self.client.ping())

    def evict(self, now: float) -> int:
        """Nothing to do: keys expire by TTL and sorted sets are trimmed on write."""
        return 0

    def clear(self) -> None:
        """Delete every key under the prefix (tests; an operator's reset)."""
        batch: list[str] = []
        for key in self.client.scan_iter(match=f"{self.prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                self.client.delete(*batch)
                batch.clear()
        if batch:
            self.client.delete(*batch)

    def __len__(self) -> int:
        """Entries currently stored (a SCAN: for tests and diagnostics, not the request path)."""
        return sum(1 for _ in self.client.scan_iter(match=f"{self.prefix}e:*", count=1000))


def client_options(timeout: float) -> dict[str, Any]:
    """redis-py options bounding every call: connect and read timeouts, and at most one immediate retry, on a
    connection error only (a pooled connection that broke mid-command); never on a timeout, so a Redis that
    accepts and never answers costs one ``timeout``. (redis-py's default retries back off, and a ``Retry``
    given without ``supported_errors`` also retries timeouts.)"""
    retry = Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,))
    return {"socket_connect_timeout": timeout, "socket_timeout": timeout, "retry": retry}


def build_redis_detector(settings: DedupSettings, client: redis.Redis | None = None) -> Detector:
    """A :class:`Detector` whose index and rate-limit counters live in Redis at ``settings.redis_url``; both
    share one :class:`DependencyGuard` (one Redis: one breaker, one outage to report)."""
    options = client_options(settings.redis_timeout)
    if client is None:
        client = redis.Redis.from_url(settings.redis_url, decode_responses=True, **options)
    skipped = ("duplicate checks and rate limits are skipped (comments are marked)"
               if settings.redis_fail_mode == "open" else "submissions are refused with 503")
    guard = DependencyGuard("redis", cooldown=settings.redis_cooldown, consequence=skipped)
    index = RedisIndex(client, settings.retention_seconds, settings.redis_prefix, guard=guard)
    limiter = RateLimiter(settings.rate_limit, settings.redis_url, key_prefix=f"{settings.redis_prefix}rate",
                          guard=guard, storage_options=options)
    return Detector(settings, index=index, rate_limiter=limiter)


__all__ = ["RedisIndex", "build_redis_detector", "client_options"]
