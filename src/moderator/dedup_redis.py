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
"""

from __future__ import annotations

import redis

from moderator.dedup import DedupSettings, Detector, Entry
from moderator.ratelimit import RateLimiter


class RedisIndex:
    """The :class:`moderator.dedup.Index` in Redis (see the module docstring for the layout).

    Parameters
    ----------
    client : redis.Redis
        A client created with ``decode_responses=True``.
    retention_seconds : int
        TTL of every key and the age beyond which sorted-set members are trimmed.
    prefix : str, default="moderator:dedup:"
        Prefix of every key; tests use a random one.
    """

    def __init__(self, client: redis.Redis, retention_seconds: int,
                 prefix: str = "moderator:dedup:") -> None:
        self.client = client
        self.retention_seconds = int(retention_seconds)
        self.prefix = prefix

    def _entry_key(self, cid: int) -> str:
        return f"{self.prefix}e:{cid}"

    def _keys(self, fp: int, band_keys: tuple[int, ...]) -> list[str]:
        return [f"{self.prefix}x:{fp:x}", *(f"{self.prefix}b:{k:x}" for k in band_keys)]

    def candidates(self, fp: int, band_keys: tuple[int, ...], since: float,
                   limit: int = 100) -> list[Entry]:
        pipe = self.client.pipeline(transaction=False)
        exact, *bands = self._keys(fp, band_keys)
        pipe.zrangebyscore(exact, since, "+inf", start=0, num=limit)  # the oldest repeats
        for key in bands:
            pipe.zrevrangebyscore(key, "+inf", since, start=0, num=limit)  # the newest neighbours
        ids = sorted({int(cid) for members in pipe.execute() for cid in members})
        if not ids:
            return []
        pipe = self.client.pipeline(transaction=False)
        for cid in ids:
            pipe.hmget(self._entry_key(cid), "a", "t", "n", "f", "s")
        out = []
        for cid, (author, ts, norm, fp_hex, sig_hex) in zip(ids, pipe.execute(), strict=True):
            if ts is None or float(ts) < since:  # expired between the two round trips
                continue
            out.append(Entry(cid, author, float(ts), norm, int(fp_hex, 16), bytes.fromhex(sig_hex or "")))
        return out

    def add(self, entry: Entry, band_keys: tuple[int, ...], now: float) -> None:
        ttl = self.retention_seconds
        if entry.ts < now - ttl:
            return
        cutoff = now - ttl
        pipe = self.client.pipeline(transaction=True)
        ekey = self._entry_key(entry.comment_id)
        pipe.hset(ekey, mapping={"a": entry.author_id, "t": repr(entry.ts), "n": entry.normalised,
                                 "f": f"{entry.fingerprint:x}", "s": entry.signature.hex()})
        pipe.expire(ekey, ttl)
        for key in self._keys(entry.fingerprint, band_keys):
            pipe.zadd(key, {str(entry.comment_id): entry.ts})
            pipe.zremrangebyscore(key, "-inf", f"({cutoff}")
            pipe.expire(key, ttl)
        pipe.execute()

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


def build_redis_detector(settings: DedupSettings, client: redis.Redis | None = None) -> Detector:
    """A :class:`Detector` whose index and rate-limit counters live in Redis at ``settings.redis_url``."""
    if client is None:
        client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    index = RedisIndex(client, settings.retention_seconds, settings.redis_prefix)
    limiter = RateLimiter(settings.rate_limit, settings.redis_url, key_prefix=f"{settings.redis_prefix}rate")
    return Detector(settings, index=index, rate_limiter=limiter)


__all__ = ["RedisIndex", "build_redis_detector"]
