"""The in-process duplicate index (the zero-set-up default; :mod:`moderator.dedup.redis_index` is the shared one)."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

import numpy as np

from moderator.dedup.types import Entry


def _push(table: dict[int, Any], key: int, cid: int) -> None:
    """Add ``cid`` under ``key``. Most buckets hold one id, stored bare (memory); several ids are kept
    in an insertion-ordered dict (O(1) removal, oldest first)."""
    cur = table.get(key)
    if cur is None:
        table[key] = cid
    elif isinstance(cur, dict):
        cur[cid] = None
    elif cur != cid:
        table[key] = {cur: None, cid: None}


def _drop(table: dict[int, Any], key: int, cid: int) -> None:
    cur = table.get(key)
    if cur is None:
        return
    if isinstance(cur, dict):
        cur.pop(cid, None)
        if len(cur) == 1:
            table[key] = next(iter(cur))
        elif not cur:
            del table[key]
    elif cur == cid:
        del table[key]


def _ids(hit: Any, limit: int, newest: bool) -> Iterable[int]:
    if not isinstance(hit, dict):
        return (hit,)
    return islice(reversed(hit) if newest else iter(hit), limit)


class MemoryIndex:
    """In-process index: exact-fingerprint and LSH-band dictionaries plus an expiry heap.

    Bounded: entries older than ``retention_seconds`` are evicted on every :meth:`add`, and beyond
    ``max_entries`` the oldest go first. Not locked itself; :class:`Detector` holds the lock.
    """

    def __init__(self, retention_seconds: float, max_entries: int = 1_000_000,
                 bands_of: Callable[[bytes], tuple[int, ...]] | None = None) -> None:
        self.retention_seconds = retention_seconds
        self.max_entries = max_entries
        self.bands_of = bands_of  # band keys from a stored signature, to unlink an evicted entry
        # plain tuples, not Entry: the garbage collector stops tracking a tuple of str/int/float/bytes, never
        # a tuple subclass, so a million Entry objects would make every full collection walk them all
        self._entries: dict[int, tuple[int, str, float, str, int, bytes]] = {}
        self._band_keys: dict[int, bytes] = {}  # only when there is no bands_of
        self._exact: dict[int, Any] = {}
        self._bands: dict[int, Any] = {}
        self._heap: list[tuple[float, int]] = []

    def __len__(self) -> int:
        return len(self._entries)

    def candidates(self, fp: int, band_keys: tuple[int, ...], since: float,
                   limit: int = 100) -> list[Entry]:
        ids: set[int] = set()
        hit = self._exact.get(fp)
        if hit is not None:
            ids.update(_ids(hit, limit, newest=False))
        for key in band_keys:
            hit = self._bands.get(key)
            if hit is not None:
                ids.update(_ids(hit, limit, newest=True))
        out = []
        for cid in ids:
            row = self._entries.get(cid)
            if row is not None and row[2] >= since:
                out.append(Entry._make(row))
        return out

    def add(self, entry: Entry, band_keys: tuple[int, ...], now: float) -> None:
        if entry.comment_id in self._entries:
            self._remove(entry.comment_id)
        if entry.ts < now - self.retention_seconds:
            return
        self._entries[entry.comment_id] = (entry.comment_id, entry.author_id, entry.ts, entry.normalised,
                                           entry.fingerprint, entry.signature)
        if self.bands_of is None or not entry.signature:
            self._band_keys[entry.comment_id] = np.array(band_keys, dtype=np.uint64).tobytes()
        _push(self._exact, entry.fingerprint, entry.comment_id)
        for key in band_keys:
            _push(self._bands, key, entry.comment_id)
        heapq.heappush(self._heap, (entry.ts, entry.comment_id))
        self.evict(now)

    def remove(self, comment_id: int) -> bool:
        """Forget one comment (withdrawn, erased, or about to be re-added with an edited text)."""
        if comment_id not in self._entries:
            return False
        self._remove(comment_id)  # its heap row goes stale and is skipped by evict
        return True

    def _remove(self, cid: int) -> None:
        entry = Entry._make(self._entries.pop(cid))
        _drop(self._exact, entry.fingerprint, cid)
        packed = self._band_keys.pop(cid, None)
        if packed is not None:
            keys: Iterable[int] = np.frombuffer(packed, dtype=np.uint64).tolist()
        else:
            assert self.bands_of is not None
            keys = self.bands_of(entry.signature)
        for key in keys:
            _drop(self._bands, key, cid)

    def evict(self, now: float) -> int:
        cutoff = now - self.retention_seconds
        dropped = 0
        heap = self._heap
        while heap and (heap[0][0] < cutoff or len(self._entries) > self.max_entries):
            ts, cid = heapq.heappop(heap)
            row = self._entries.get(cid)
            if row is not None and row[2] == ts:  # else a stale heap row of a re-added id
                self._remove(cid)
                dropped += 1
        if len(heap) > 2 * len(self._entries) + 1024:  # stale rows from re-added ids: compact
            self._heap = [(row[2], row[0]) for row in self._entries.values()]
            heapq.heapify(self._heap)
        return dropped

    def clear(self) -> None:
        self._entries.clear()
        self._band_keys.clear()
        self._exact.clear()
        self._bands.clear()
        self._heap.clear()


__all__ = ["MemoryIndex"]
