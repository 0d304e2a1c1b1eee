"""Duplicate, near-duplicate and flood detection for submitted comments: the :class:`Detector`.

This module is the seam between the submission flow (``POST /v1/comments``) and duplicate detection.
The service only relies on :class:`~moderator.dedup.types.DuplicateFinding`,
:class:`~moderator.dedup.types.RateDecision`, the :class:`~moderator.dedup.types.DuplicateDetector` protocol
and :func:`build_detector`.

How a comment is compared (see ``docs/duplicates.md`` for the measurements behind the defaults):

1. :func:`moderator.dedup.normalise.normalise` folds the text to lower-case ASCII letters and digits;
   equal :func:`~moderator.dedup.normalise.fingerprint` s are exact (normalised) repeats, found with one
   dictionary / Redis look-up.
2. :class:`moderator.dedup.signer.Signer` takes a datasketch MinHash of the text's character shingles and cuts
   it into LSH bands; comments sharing a band are candidates, and a candidate counts only when the *exact*
   Jaccard similarity of the two shingle sets reaches the threshold (so the MinHash estimate never decides
   on its own).

The index lives in-process (:class:`moderator.dedup.memory_index.MemoryIndex`, the zero-set-up default) or in
Redis (:class:`moderator.dedup.redis_index.RedisIndex`, shared by several workers); both expire entries with
the window, so memory is bounded.

The submission flow signs a text once (:meth:`Detector.sign`) and hands the signature to both
:meth:`Detector.check` and :meth:`Detector.record`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from moderator.dedup.memory_index import MemoryIndex
from moderator.dedup.normalise import _cached_shingles, jaccard, shingles
from moderator.dedup.ratelimit import RateLimiter
from moderator.dedup.settings import DedupSettings
from moderator.dedup.signer import Signature, Signer
from moderator.dedup.types import DuplicateFinding, Entry, Index, RateDecision

if TYPE_CHECKING:
    from moderator.config import Settings


def _epoch(moment: datetime) -> float:
    """Seconds since the epoch; a naive datetime is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class Detector:
    """Duplicate detection over an :class:`Index`, plus the rate limit. Thread-safe.

    Parameters
    ----------
    settings : DedupSettings
        Windows, threshold, minimum lengths and flood size.
    index : Index, default=None
        Where entries live; ``None`` means a new :class:`MemoryIndex`.
    rate_limiter : moderator.dedup.ratelimit.RateLimiter, default=None
        The rapid-fire check; ``None`` means one built from ``settings.rate_limit`` in memory.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> d = Detector(DedupSettings(rate_limit=""))
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> d.record(1, "Buy cheap watches at example dot com today", "alice", t)
    >>> d.check("buy CHEAP watches at example.com today!!", "alice", t).kind
    'same_author'
    """

    def __init__(self, settings: DedupSettings, index: Index | None = None,
                 rate_limiter: Any | None = None) -> None:
        self.settings = settings
        self.signer = Signer(settings.num_perm, settings.threshold, settings.shingle_size, settings.lsh_bands)
        self.index: Index = index if index is not None else MemoryIndex(
            settings.retention_seconds, settings.max_entries, self.signer.bands_of)
        if not isinstance(self.index, MemoryIndex) and getattr(self.index, "bands_of", False) is None:
            self.index.bands_of = self.signer.bands_of  # type: ignore[attr-defined]  # to remove an entry
        # MinHash estimates below this are not worth an exact Jaccard: 3.5 standard deviations of the
        # estimate (at J=0.5) under the threshold
        self.prefilter = settings.threshold - 1.75 / math.sqrt(settings.num_perm)
        self.rate_limiter = rate_limiter if rate_limiter is not None else RateLimiter(settings.rate_limit)
        # the in-memory index needs a lock; Redis does its own (the client has a connection pool)
        self._lock: Any = threading.RLock() if isinstance(self.index, MemoryIndex) else nullcontext()

    @property
    def fail_closed(self) -> bool:
        """``MODERATOR_REDIS_FAIL_MODE=closed``: a submission whose checks cannot run is refused (503), not
        accepted with a reason saying so."""
        return self.settings.redis_fail_mode == "closed"

    @property
    def uses_redis(self) -> bool:
        """Whether the index lives in Redis (behind a circuit breaker)."""
        return getattr(self.index, "guard", None) is not None

    def redis_health(self) -> tuple[bool, str] | None:
        """``(up, detail)`` of the Redis the index uses, after one PING through its breaker (at most
        ``MODERATOR_REDIS_TIMEOUT``; none while the breaker skips Redis); ``None`` without Redis."""
        guard = getattr(self.index, "guard", None)
        if guard is None:
            return None
        return guard.health(getattr(self.index, "ping", None))

    def size(self) -> int:
        """Entries in the index. (Not ``__len__``: an empty detector must not be falsy.)"""
        with self._lock:
            return len(self.index)

    # -- the protocol ------------------------------------------------------------------------------

    def sign(self, text: str) -> Signature:
        """The :class:`~moderator.dedup.signer.Signature` of ``text``: sign a submission once and pass the
        result to :meth:`check` and then :meth:`record` (signing is most of the cost of either)."""
        return self.signer.sign(text)

    def rate_check(self, author_id: str, now: datetime | None = None) -> RateDecision:
        """Count a submission by ``author_id``; ``allowed=False`` with ``retry_after`` seconds when it
        exceeds ``MODERATOR_RATE_LIMIT``. The limits library keeps its own (wall) clock, so ``now`` is
        accepted for the protocol and not used."""
        return self.rate_limiter.hit(author_id)

    def check(self, text: str, author_id: str, now: datetime,
              signature: Signature | None = None, exclude: int | None = None) -> DuplicateFinding | None:
        """The earlier comment ``text`` repeats, or None.

        A ``cross_author_flood`` (the normalised text has at least ``flood_min_chars`` letters and
        digits, and with this one ``flood_authors`` distinct authors posted it within
        ``flood_window_seconds``) wins over a ``same_author`` repeat (at least ``min_chars``, within
        ``window_seconds``). ``of`` is the most similar earlier comment for a repeat and the earliest
        one of the flood; ``similarity`` is the exact Jaccard similarity of the shingle sets.
        ``signature`` is ``sign(text)`` when the caller has it already. ``exclude`` is a comment id never to
        report: an edited comment is checked against everything but its own earlier text.
        """
        s = self.settings
        sig = signature if signature is not None else self.signer.sign(text)
        length = len(sig.normalised) - sig.normalised.count(" ")
        if length < s.min_chars:
            return None
        t = _epoch(now)
        since_same, since_flood = t - s.window_seconds, t - s.flood_window_seconds
        with self._lock:
            found = self.index.candidates(sig.fingerprint, sig.band_keys, min(since_same, since_flood),
                                          s.candidate_limit)
        flood_possible = length >= s.flood_min_chars
        own: list[tuple[float, Entry]] = []  # this author's matches, within the repeat window
        others: list[tuple[float, Entry]] = []  # other authors' matches, within the flood window
        near_own: list[Entry] = []
        near_others: list[Entry] = []
        for e in found:
            if e.comment_id == exclude:
                continue
            mine = e.author_id == author_id
            if (mine and e.ts < since_same) or (not mine and (not flood_possible or e.ts < since_flood)):
                continue
            if e.fingerprint == sig.fingerprint:  # an exact repeat needs no verification
                (own if mine else others).append((1.0, e))
            else:
                (near_own if mine else near_others).append(e)
        budget = [s.max_verify]
        query_shingles = sig.shingles
        if query_shingles is None and (near_own or near_others):  # a long text: all its shingles now
            query_shingles = shingles(sig.normalised, s.shingle_size)
        # near candidates: the author's own all (the most similar is reported) ...
        own.extend(self._verify(sig.minhash, query_shingles, near_own, budget))
        # ... other authors' most likely first, only until enough distinct authors make a flood
        need = s.flood_authors - 1
        authors = {e.author_id for _, e in others}
        if near_others and len(authors) < need:
            for sim, e in self._verify(sig.minhash, query_shingles, near_others, budget, skip_authors=authors):
                others.append((sim, e))
                authors.add(e.author_id)
                if len(authors) >= need:
                    break
        if flood_possible and len(authors) >= need:
            sim, first = min(others, key=lambda m: (m[1].ts, m[1].comment_id))
            return DuplicateFinding(True, "cross_author_flood", first.comment_id, round(sim, 4))
        if own:
            sim, best = max(own, key=lambda m: (m[0], -m[1].ts))
            return DuplicateFinding(True, "same_author", best.comment_id, round(sim, 4))
        return None

    def _verify(self, minhash: np.ndarray, query_shingles: Any, near: list[Entry], budget: list[int],
                skip_authors: set[str] | None = None) -> Iterator[tuple[float, Entry]]:
        """The entries of ``near`` whose exact Jaccard similarity with the query reaches the threshold, as
        ``(similarity, entry)``, most likely first (by MinHash estimate, then the oldest).

        The estimate, one numpy comparison for all of them, filters out the unlikely ones first. Each exact
        Jaccard spends one unit of ``budget[0]`` (shared by the calls of one look-up); entries of an author in
        ``skip_authors`` (which the caller may grow while iterating) are passed over without spending any.
        """
        if not near:
            return
        est = self._estimates(minhash, near)
        likely = sorted((i for i in range(len(near)) if est[i] >= self.prefilter), key=lambda i: (-est[i], near[i].ts))
        for i in likely:
            e = near[i]
            if skip_authors is not None and e.author_id in skip_authors:
                continue
            if budget[0] <= 0:
                return
            budget[0] -= 1
            sim = jaccard(query_shingles, _cached_shingles(e.normalised, self.settings.shingle_size))
            if sim >= self.settings.threshold:
                yield sim, e

    def _estimates(self, minhash: np.ndarray, entries: list[Entry]) -> np.ndarray:
        n = self.settings.num_perm
        good = [e.signature for e in entries]
        if any(len(g) != 4 * n for g in good):  # stored by a detector with another num_perm
            good = [g if len(g) == 4 * n else bytes(4 * n) for g in good]
        stored = np.frombuffer(b"".join(good), dtype=np.uint32).reshape(len(entries), n)
        return (stored == minhash).mean(axis=1)

    def record(self, comment_id: int, text: str, author_id: str, created_at: datetime,
               signature: Signature | None = None) -> None:
        """Remember a stored comment. Texts shorter than ``min_chars`` are not indexed (never flagged).
        ``signature`` is ``sign(text)`` when the caller has it already (from :meth:`check`)."""
        sig = signature if signature is not None else self.signer.sign(text)
        if len(sig.normalised) - sig.normalised.count(" ") < self.settings.min_chars:
            return
        t = _epoch(created_at)
        entry = Entry(int(comment_id), str(author_id), t, sig.normalised, sig.fingerprint, sig.minhash.tobytes())
        with self._lock:
            self.index.add(entry, sig.band_keys, t)

    def remove(self, comment_id: int) -> bool:
        """Forget one comment (withdrawn or erased; or before :meth:`record` of its edited text, so that the
        Redis index drops the old text's sets too). True when it was indexed."""
        with self._lock:
            return bool(self.index.remove(int(comment_id)))

    def rebuild(self, rows: Iterable[tuple[int, str, str, datetime]], now: datetime | None = None) -> int:
        """Re-index stored comments after a restart. ``rows`` are ``(comment_id, text, author_id,
        created_at)`` (e.g. the comments table, newest last); rows older than the retention window
        before ``now`` (default: the current time) are skipped. The in-memory index is replaced;
        a Redis index is added to (entries are keyed by comment id, so re-adding is harmless).
        Returns the number of entries indexed."""
        t_now = _epoch(now) if now is not None else _now_epoch()
        cutoff = t_now - self.settings.retention_seconds
        fresh: list[Entry] = []
        keys: list[tuple[int, ...]] = []
        for comment_id, text, author_id, created_at in rows:
            t = _epoch(created_at)
            if t < cutoff:
                continue
            sig = self.signer.sign(text)
            if len(sig.normalised) - sig.normalised.count(" ") < self.settings.min_chars:
                continue
            fresh.append(Entry(int(comment_id), str(author_id), t, sig.normalised, sig.fingerprint,
                               sig.minhash.tobytes()))
            keys.append(sig.band_keys)
        with self._lock:
            if isinstance(self.index, MemoryIndex):
                self.index.clear()
            for entry, band_keys in sorted(zip(fresh, keys, strict=True), key=lambda p: p[0].ts):
                self.index.add(entry, band_keys, t_now)
            return len(self.index) if isinstance(self.index, MemoryIndex) else len(fresh)

    def evict(self, now: datetime | None = None) -> int:
        """Drop expired entries now (``add`` does this anyway); returns how many were dropped."""
        with self._lock:
            return self.index.evict(_epoch(now) if now is not None else _now_epoch())

    def clear(self) -> None:
        """Forget every entry (and nothing about rate limits)."""
        with self._lock:
            self.index.clear()


def _now_epoch() -> float:
    return datetime.now(UTC).timestamp()


def build_detector(settings: Settings | DedupSettings, overrides: Mapping[str, Any] | None = None) -> Detector:
    """The detector the service uses, from the application's :class:`~moderator.config.Settings` (keys of
    ``overrides`` named like the environment variables win, see :meth:`DedupSettings.from_settings`) or from
    ready :class:`DedupSettings`. ``MODERATOR_DUP_BACKEND=redis`` stores the index and the rate-limit counters
    in Redis."""
    dedup = settings if isinstance(settings, DedupSettings) else DedupSettings.from_settings(settings, overrides)
    if dedup.backend == "redis":
        from moderator.dedup.redis_index import build_redis_detector

        return build_redis_detector(dedup)
    return Detector(dedup)


__all__ = ["Detector", "build_detector"]
