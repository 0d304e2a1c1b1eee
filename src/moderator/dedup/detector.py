"""Duplicate, near-duplicate and flood detection for submitted comments.

This module is the seam between the submission flow (``POST /v1/comments``) and duplicate detection.
The service only relies on :class:`DuplicateFinding`, :class:`RateDecision`, the
:class:`DuplicateDetector` protocol and :func:`build_detector`.

How a comment is compared (see ``docs/duplicates.md`` for the measurements behind the defaults):

1. :func:`normalise` folds Unicode compatibility forms (NFKC), look-alike letters from other scripts
   (Unicode's confusables table), accents and emoji (unidecode), case, punctuation and whitespace.
2. :func:`fingerprint` hashes the normalised letters and digits: equal fingerprints are exact
   (normalised) repeats, found with one dictionary / Redis look-up.
3. :func:`shingles` are the hashed character ``k``-grams of the normalised text. A datasketch
   :class:`~datasketch.MinHash` of them is cut into LSH bands; comments sharing a band are candidates,
   and a candidate counts only when the *exact* Jaccard similarity of the two shingle sets reaches
   the threshold (so the MinHash estimate never decides on its own).

The index lives in-process (:class:`MemoryIndex`, the zero-set-up default) or in Redis
(:class:`moderator.dedup.redis_index.RedisIndex`, shared by several workers); both expire entries with the
window, so memory is bounded.
"""

from __future__ import annotations

import heapq
import math
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache, lru_cache
from itertools import islice
from typing import Any, Literal, NamedTuple, Protocol

import numpy as np
import xxhash

DuplicateKind = Literal["same_author", "cross_author_flood"]


@dataclass(frozen=True)
class DuplicateFinding:
    """An earlier comment that this one repeats."""

    is_duplicate: bool
    kind: DuplicateKind
    of: int  # id of the earlier comment
    similarity: float  # estimated Jaccard similarity in [0, 1]; 1.0 for an exact (normalised) repeat

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RateDecision:
    """Whether an author may submit another comment now (rapid-fire check)."""

    allowed: bool
    retry_after: int = 0  # seconds until the author may submit again, when not allowed


class DuplicateDetector(Protocol):
    """What the submission flow calls, in this order, for each comment."""

    def rate_check(self, author_id: str, now: datetime) -> RateDecision:
        """Count this submission attempt for ``author_id`` and say whether it is within the rate limit."""

    def check(self, text: str, author_id: str, now: datetime) -> DuplicateFinding | None:
        """The earlier comment this text repeats (same author, or a cross-author flood), or None."""

    def record(self, comment_id: int, text: str, author_id: str, created_at: datetime) -> None:
        """Remember a stored comment (called after it is committed to the database)."""

    def rebuild(self, rows: Iterable[tuple[int, str, str, datetime]], now: datetime | None = None) -> int:
        """Re-index stored comments ``(comment_id, text, author_id, created_at)`` at start-up; returns
        how many were indexed (rows older than the window are skipped)."""


# --------------------------------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class DedupSettings:
    """Effective duplicate-detection settings (see ``moderator.config.SETTINGS`` for the help texts)."""

    backend: str = "memory"
    window_seconds: int = 86_400
    threshold: float = 0.6
    min_chars: int = 15
    flood_min_chars: int = 30
    flood_authors: int = 3
    flood_window_seconds: int = 3_600
    num_perm: int = 64
    shingle_size: int = 4
    max_entries: int = 1_000_000
    rate_limit: str = "10/60"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "moderator:dedup:"
    redis_timeout: float = 0.5
    redis_cooldown: float = 5.0
    redis_fail_mode: str = "open"
    lsh_bands: int = field(default=0)  # 0: derived from threshold and num_perm, see lsh_params()
    candidate_limit: int = 100  # ids read per fingerprint / band bucket in one look-up
    max_verify: int = 64  # exact Jaccard computations per look-up, at most

    @property
    def retention_seconds(self) -> int:
        """How long an entry must be kept: the longer of the two windows."""
        return max(self.window_seconds, self.flood_window_seconds)


# setting name in moderator.config -> DedupSettings field
_SETTING_FIELDS: dict[str, str] = {
    "dup_backend": "backend",
    "dup_window_seconds": "window_seconds",
    "dup_threshold": "threshold",
    "dup_min_chars": "min_chars",
    "dup_flood_min_chars": "flood_min_chars",
    "dup_flood_authors": "flood_authors",
    "dup_flood_window_seconds": "flood_window_seconds",
    "dup_num_perm": "num_perm",
    "dup_max_entries": "max_entries",
    "rate_limit": "rate_limit",
    "redis_url": "redis_url",
    "dup_redis_prefix": "redis_prefix",
    "redis_timeout": "redis_timeout",
    "redis_cooldown": "redis_cooldown",
    "redis_fail_mode": "redis_fail_mode",
}


def settings_from(config: Mapping[str, Any] | None = None) -> DedupSettings:
    """Read the settings: a key named like the environment variable (``MODERATOR_DUP_WINDOW_SECONDS``)
    in ``config`` wins, else the environment / default via :func:`moderator.config.env_value`."""
    from moderator.config import SETTINGS, env_value

    by_name = {s.name: s for s in SETTINGS}
    values: dict[str, Any] = {}
    for name, attr in _SETTING_FIELDS.items():
        setting = by_name[name]
        if config is not None and config.get(setting.env) not in (None, ""):
            raw = config[setting.env]
            values[attr] = setting.parse(raw) if isinstance(raw, str) else raw
        else:
            values[attr] = env_value(name)
    s = DedupSettings(**values)
    if s.backend not in {"memory", "redis"}:
        raise ValueError(f"MODERATOR_DUP_BACKEND must be 'memory' or 'redis', not {s.backend!r}")
    if not 0.0 < s.threshold <= 1.0:
        raise ValueError(f"MODERATOR_DUP_THRESHOLD must be in (0, 1], not {s.threshold}")
    if s.flood_authors < 2:
        raise ValueError("MODERATOR_DUP_FLOOD_AUTHORS must be at least 2")
    if s.redis_fail_mode not in {"open", "closed"}:
        raise ValueError(f"MODERATOR_REDIS_FAIL_MODE must be 'open' or 'closed', not {s.redis_fail_mode!r}")
    if not (s.redis_timeout > 0 and math.isfinite(s.redis_timeout)) or not s.redis_cooldown >= 0:
        raise ValueError("MODERATOR_REDIS_TIMEOUT must be positive and MODERATOR_REDIS_COOLDOWN not negative")
    return s


# --------------------------------------------------------------------------------------------------
# Normalisation, fingerprints, shingles (pure functions)

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
# a quoted line: Markdown / e-mail ``>`` (also HTML-escaped, and full-width), after optional indentation
_QUOTED_LINE = re.compile(r"^[ \t]*(?:>|&gt;|＞).*(?:\n|$)", re.MULTILINE)


def strip_quoted(text: str) -> str:
    r"""``text`` without its quoted lines (``> ...``), unless it is nothing but quoted lines.

    A reply that quotes an earlier comment and answers it says only the answer: compared whole, it could
    reach the threshold against the comment it quotes. A text made only of quoted lines is kept as it is,
    so quoting a comment is not a way to repeat it unnoticed.

    >>> strip_quoted("> You never read the report.\n\nI did, twice.")
    '\nI did, twice.'
    """
    if ">" not in text and "&gt;" not in text and "＞" not in text:
        return text
    rest = _QUOTED_LINE.sub("", text)
    return rest if rest.strip() else text


@cache
def _confusables_table() -> dict[int, str]:
    """Non-ASCII characters that Unicode's confusables table says look like one ASCII letter or digit."""
    from confusable_homoglyphs import utils

    table: dict[int, str] = {}
    for char, glyphs in utils.load("confusables.json").items():
        if len(char) != 1 or char.isascii():
            continue
        for glyph in glyphs:
            c = glyph["c"]
            if len(c) == 1 and c.isascii() and c.isalnum():
                table[ord(char)] = c
                break
    return table


def normalise(text: str) -> str:
    """Comparable form of a comment: lower-case ASCII letters and digits, single spaces between words.

    NFKC first (full-width and styled letters), then look-alike letters from other scripts
    (Cyrillic ``а`` -> ``a``), then the remaining accents and scripts are transliterated (emoji vanish),
    case-folded, and every run of punctuation or whitespace becomes one space.

    >>> normalise("  Ｈello,   WORLD!!! 😀 Café ")
    'hello world cafe'
    """
    if text.isascii():  # the common case: nothing to fold but case and punctuation
        return _NON_ALNUM.sub(" ", text.lower()).strip()
    folded = _fold(unicodedata.normalize("NFKC", text))
    return _NON_ALNUM.sub(" ", folded.casefold()).strip()


@cache
def _fold_table() -> dict[int, str]:
    """The ``str.translate`` table of :func:`_fold`: ASCII as itself and the confusables; characters are
    added on first use."""
    return {**{c: chr(c) for c in range(128)}, **_confusables_table()}


_FOLD_TABLE_GROWTH = 65_536  # characters :func:`_fold` may add to its table


def _fold(text: str) -> str:
    """Each character as its confusable ASCII letter or digit if it has one, else ``unidecode(character)``.

    The same as ``unidecode(text.translate(_confusables_table()))``, faster: unidecode replaces one
    character at a time in a Python loop (~0.1 ms per 1,000 characters), ``str.translate`` does it in C
    once every distinct character of the text is in the table. Only 65,536 characters are ever added,
    so a text made of every code point cannot grow it without bound (past that, unidecode is called).
    """
    table = _fold_table()
    new = [c for c in set(text) if ord(c) not in table]
    if new:
        from unidecode import unidecode

        if len(table) + len(new) > len(_confusables_table()) + 128 + _FOLD_TABLE_GROWTH:
            return unidecode(text.translate(table))
        for c in new:
            table[ord(c)] = unidecode(c)
    return text.translate(table)


def fingerprint(normalised: str) -> int:
    """64-bit hash of the letters and digits of a normalised text (spaces dropped)."""
    return xxhash.xxh3_64_intdigest(normalised.replace(" ", "").encode())


# normalise() leaves 37 symbols (space, 0-9, a-z): a k-gram is a k-digit base-37 number, exact for
# k <= 6 in 32 bits (37**6 < 2**32), so shingles need no hashing and no Python loop.
_DIGIT = np.zeros(256, dtype=np.uint32)
for _i, _c in enumerate(" 0123456789abcdefghijklmnopqrstuvwxyz"):
    _DIGIT[ord(_c)] = _i
MAX_SHINGLE_SIZE = 6


def shingles(normalised: str, k: int = 4) -> np.ndarray:
    """Sorted unique codes of the character ``k``-grams of a normalised text (``k`` <= 6).

    Each code is the gram read as a base-37 number, so two different grams never share a code. A text
    shorter than ``k`` is one shingle. Returned as a ``uint32`` array (compact, and the exact Jaccard of
    two of them is one ``np.intersect1d``).
    """
    if not 1 <= k <= MAX_SHINGLE_SIZE:
        raise ValueError(f"shingle size must be 1..{MAX_SHINGLE_SIZE}, not {k}")
    digits = _DIGIT[np.frombuffer(normalised.encode("ascii", "ignore"), dtype=np.uint8)]
    if digits.size <= k:  # one shingle: the whole (short) text
        code = 0
        for d in digits.tolist():
            code = code * 37 + d
        return np.array([code], dtype=np.uint32)
    n = digits.size - k + 1
    codes = digits[:n].copy()
    for j in range(1, k):
        codes *= np.uint32(37)
        codes += digits[j : j + n]
    # sort and drop repeats in place: np.unique (a hash table since numpy 2.3) is ~20x slower here
    codes.sort()
    if n > 1:
        keep = np.empty(n, dtype=bool)
        keep[0] = True
        np.not_equal(codes[1:], codes[:-1], out=keep[1:])
        codes = codes[keep]
    return codes


@lru_cache(maxsize=16_384)
def _cached_shingles(normalised: str, k: int) -> np.ndarray:
    """:func:`shingles` of stored texts, cached: floods make the same candidates come back."""
    arr = shingles(normalised, k)
    arr.flags.writeable = False
    return arr


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted unique shingle arrays."""
    if a.size == 0 and b.size == 0:
        return 1.0
    # both are sorted and unique, so a value present in both appears twice in a row once they are merged
    merged = np.concatenate((a, b))
    merged.sort()
    inter = int(np.count_nonzero(merged[1:] == merged[:-1]))
    return inter / (a.size + b.size - inter)


def _identity(value: int) -> int:
    return value


@cache
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """LSH ``(bands, rows)`` for a Jaccard threshold, weighted towards recall (candidates are verified
    exactly, so a false candidate only costs time). Uses datasketch's parameter search."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, 0.2, 0.8)


class Signature(NamedTuple):
    """Everything the index needs about one text."""

    normalised: str
    fingerprint: int
    shingles: np.ndarray | None  # all shingles; None for a text longer than MINHASH_CHARS (computed when needed)
    band_keys: tuple[int, ...]  # one 64-bit key per LSH band
    minhash: np.ndarray  # the MinHash values (uint32, num_perm of them)


MINHASH_CHARS = 1000  # normalised characters a MinHash covers (the 99th percentile of corpus comments is ~830)


class Signer:
    """Turns texts into :class:`Signature` s: datasketch MinHash over shingle hashes, cut into bands."""

    def __init__(self, num_perm: int = 64, threshold: float = 0.6, shingle_size: int = 4,
                 bands: int = 0) -> None:
        from datasketch import MinHash

        self.num_perm = num_perm
        self.shingle_size = shingle_size
        if bands:
            self.bands, self.rows = bands, num_perm // bands
        else:
            self.bands, self.rows = lsh_params(threshold, num_perm)
        # shingle codes are already 32-bit integers: the MinHash takes them through the identity
        self._template = MinHash(num_perm=num_perm, seed=1, hashfunc=_identity)
        self._fast = _vectorised_minhash_matches(self._template)

    def minhash(self, shingle_codes: np.ndarray) -> Any:
        """The datasketch :class:`~datasketch.MinHash` of a shingle array (``update_batch``)."""
        m = self._template.copy()
        m.update_batch(shingle_codes.tolist())
        return m

    def minhash_values(self, shingle_codes: np.ndarray) -> np.ndarray:
        """``self.minhash(codes).hashvalues``, computed as one numpy expression with the MinHash's own
        permutations and pre-mix (``update_batch`` spends most of its time in a Python loop calling the
        hash function per value). Checked against ``update_batch`` once per Signer; if datasketch ever
        changes its scheme the slow path is used."""
        if not self._fast or shingle_codes.size == 0:
            return self.minhash(shingle_codes).hashvalues
        from datasketch.minhash import _fmix

        a, b = self._template.permutations
        hv = _fmix(shingle_codes.astype(np.uint32).reshape(-1, 1), 32)
        return np.minimum(self._template.hashvalues, (hv * a + b).min(axis=0))

    def bands_of(self, values: np.ndarray | bytes) -> tuple[int, ...]:
        """The LSH band keys of MinHash values (an array, or its bytes as stored in an :class:`Entry`)."""
        if isinstance(values, bytes):
            values = np.frombuffer(values, dtype=np.uint32)
        r = self.rows
        return tuple(
            xxhash.xxh3_64_intdigest(values[i * r : (i + 1) * r].tobytes(), seed=i) for i in range(self.bands)
        )

    def band_keys(self, shingle_codes: np.ndarray) -> tuple[int, ...]:
        return self.bands_of(self.minhash_values(shingle_codes))

    def sign(self, text: str) -> Signature:
        """Normalise (after :func:`strip_quoted`), fingerprint and MinHash ``text``. The MinHash covers the
        first :data:`MINHASH_CHARS` normalised characters (the cost grows with length; the exact Jaccard
        that decides always uses the whole text); ``shingles`` is None when the text is longer than that."""
        norm = normalise(strip_quoted(text))
        sh = shingles(norm[:MINHASH_CHARS], self.shingle_size)
        values = self.minhash_values(sh)
        full = sh if len(norm) <= MINHASH_CHARS else None
        return Signature(norm, fingerprint(norm), full, self.bands_of(values), values)


def _vectorised_minhash_matches(template: Any) -> bool:
    try:
        from datasketch.minhash import _fmix
    except ImportError:  # pragma: no cover - another datasketch layout
        return False
    if template.scheme != "affine32":  # pragma: no cover
        return False
    probe = np.array([0, 1, 7, 2**31 + 5, 2**32 - 1, 123_456_789], dtype=np.uint32)
    m = template.copy()
    m.update_batch(probe.tolist())
    a, b = template.permutations
    fast = np.minimum(template.hashvalues, (_fmix(probe.reshape(-1, 1), 32) * a + b).min(axis=0))
    return bool(np.array_equal(fast, m.hashvalues))


def _epoch(moment: datetime) -> float:
    """Seconds since the epoch; a naive datetime is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# --------------------------------------------------------------------------------------------------
# Index storage


class Entry(NamedTuple):
    """One remembered comment."""

    comment_id: int
    author_id: str
    ts: float  # created_at, seconds since the epoch
    normalised: str
    fingerprint: int
    signature: bytes = b""  # MinHash values (uint32), for the cheap estimate before the exact Jaccard


class Index(Protocol):
    """Where entries live. Implementations: :class:`MemoryIndex`, ``dedup_redis.RedisIndex``."""

    def candidates(self, fp: int, band_keys: tuple[int, ...], since: float,
                   limit: int = 100) -> list[Entry]:
        """Entries created at or after ``since`` with fingerprint ``fp`` (the oldest ``limit``) or
        sharing an LSH band (the newest ``limit`` per band): a flood of thousands of copies must not
        make every look-up read thousands of entries."""

    def add(self, entry: Entry, band_keys: tuple[int, ...], now: float) -> None:
        """Store an entry (idempotent per comment id) and drop entries expired at ``now``."""

    def evict(self, now: float) -> int:
        """Drop entries older than the retention window; returns how many were dropped."""

    def clear(self) -> None:
        """Forget everything."""

    def __len__(self) -> int: ...


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
        self._entries[entry.comment_id] = tuple(entry)
        if self.bands_of is None or not entry.signature:
            self._band_keys[entry.comment_id] = np.array(band_keys, dtype=np.uint64).tobytes()
        _push(self._exact, entry.fingerprint, entry.comment_id)
        for key in band_keys:
            _push(self._bands, key, entry.comment_id)
        heapq.heappush(self._heap, (entry.ts, entry.comment_id))
        self.evict(now)

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


# --------------------------------------------------------------------------------------------------
# The detector


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
        from moderator.dedup.ratelimit import RateLimiter

        self.settings = settings
        self.signer = Signer(settings.num_perm, settings.threshold, settings.shingle_size, settings.lsh_bands)
        self.index: Index = index if index is not None else MemoryIndex(
            settings.retention_seconds, settings.max_entries, self.signer.bands_of)
        # MinHash estimates below this are not worth an exact Jaccard: 3.5 standard deviations of the
        # estimate (at J=0.5) under the threshold
        self.prefilter = settings.threshold - 1.75 / math.sqrt(settings.num_perm)
        self.rate_limiter = rate_limiter if rate_limiter is not None else RateLimiter(settings.rate_limit)
        # the in-memory index needs a lock; Redis does its own (the client has a connection pool)
        self._lock: Any = threading.RLock() if isinstance(self.index, MemoryIndex) else nullcontext()
        self._last = threading.local()  # this thread's last (text, signature): check() then record() sign once

    def _sign(self, text: str) -> Any:
        """``signer.sign(text)``, reusing this thread's previous result for the same text (a submission checks
        and then records one text in one request thread)."""
        last = getattr(self._last, "pair", None)
        if last is not None and last[0] == text:
            return last[1]
        sig = self.signer.sign(text)
        self._last.pair = (text, sig)
        return sig

    @property
    def fail_closed(self) -> bool:
        """``MODERATOR_REDIS_FAIL_MODE=closed``: a submission whose checks cannot run is refused (503), not
        accepted with a reason saying so."""
        return self.settings.redis_fail_mode == "closed"

    def redis_health(self) -> tuple[bool, str] | None:
        """``(up, detail)`` of the Redis the index uses, after one PING through its breaker (at most
        ``MODERATOR_REDIS_TIMEOUT``; none while the breaker skips Redis); ``None`` without Redis."""
        guard = getattr(self.index, "guard", None)
        if guard is None:
            return None
        return guard.health(getattr(self.index, "ping", None))  # type: ignore[no-any-return]

    def size(self) -> int:
        """Entries in the index. (Not ``__len__``: an empty detector must not be falsy.)"""
        with self._lock:
            return len(self.index)

    # -- the protocol ------------------------------------------------------------------------------

    def rate_check(self, author_id: str, now: datetime | None = None) -> RateDecision:
        """Count a submission by ``author_id``; ``allowed=False`` with ``retry_after`` seconds when it
        exceeds ``MODERATOR_RATE_LIMIT``. The limits library keeps its own (wall) clock, so ``now`` is
        accepted for the protocol and not used."""
        return self.rate_limiter.hit(author_id)

    def check(self, text: str, author_id: str, now: datetime) -> DuplicateFinding | None:
        """The earlier comment ``text`` repeats, or None.

        A ``cross_author_flood`` (the normalised text has at least ``flood_min_chars`` letters and
        digits, and with this one ``flood_authors`` distinct authors posted it within
        ``flood_window_seconds``) wins over a ``same_author`` repeat (at least ``min_chars``, within
        ``window_seconds``). ``of`` is the most similar earlier comment for a repeat and the earliest
        one of the flood; ``similarity`` is the exact Jaccard similarity of the shingle sets.
        """
        s = self.settings
        sig = self._sign(text)
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
            mine = e.author_id == author_id
            if (mine and e.ts < since_same) or (not mine and (not flood_possible or e.ts < since_flood)):
                continue
            if e.fingerprint == sig.fingerprint:  # an exact repeat needs no verification
                (own if mine else others).append((1.0, e))
            else:
                (near_own if mine else near_others).append(e)
        budget = s.max_verify
        query_shingles = sig.shingles
        if query_shingles is None and (near_own or near_others):  # a long text: all its shingles now
            query_shingles = shingles(sig.normalised, s.shingle_size)
        # near candidates: MinHash estimate first (one numpy comparison for all of them), then the exact
        # Jaccard for the likely ones; the author's own all (the most similar is reported) ...
        if near_own:
            est = self._estimates(sig.minhash, near_own)
            for i in sorted((i for i in range(len(near_own)) if est[i] >= self.prefilter), key=lambda i: -est[i]):
                if budget <= 0:
                    break
                budget -= 1
                sim = jaccard(query_shingles, _cached_shingles(near_own[i].normalised, s.shingle_size))
                if sim >= s.threshold:
                    own.append((sim, near_own[i]))
        # ... other authors' most likely first, only until enough distinct authors make a flood
        need = s.flood_authors - 1
        authors = {e.author_id for _, e in others}
        if near_others and len(authors) < need:
            est = self._estimates(sig.minhash, near_others)
            likely = sorted((i for i in range(len(near_others)) if est[i] >= self.prefilter),
                            key=lambda i: (-est[i], near_others[i].ts))
            for i in likely:
                e = near_others[i]
                if e.author_id in authors:
                    continue
                if budget <= 0:
                    break
                budget -= 1
                sim = jaccard(query_shingles, _cached_shingles(e.normalised, s.shingle_size))
                if sim >= s.threshold:
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

    def _estimates(self, minhash: np.ndarray, entries: list[Entry]) -> np.ndarray:
        n = self.settings.num_perm
        good = [e.signature for e in entries]
        if any(len(g) != 4 * n for g in good):  # stored by a detector with another num_perm
            good = [g if len(g) == 4 * n else bytes(4 * n) for g in good]
        stored = np.frombuffer(b"".join(good), dtype=np.uint32).reshape(len(entries), n)
        return (stored == minhash).mean(axis=1)

    def record(self, comment_id: int, text: str, author_id: str, created_at: datetime) -> None:
        """Remember a stored comment. Texts shorter than ``min_chars`` are not indexed (never flagged)."""
        sig = self._sign(text)
        if len(sig.normalised) - sig.normalised.count(" ") < self.settings.min_chars:
            return
        t = _epoch(created_at)
        entry = Entry(int(comment_id), str(author_id), t, sig.normalised, sig.fingerprint, sig.minhash.tobytes())
        with self._lock:
            self.index.add(entry, sig.band_keys, t)

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


def build_detector(config: Mapping[str, Any] | None = None) -> Detector:
    """The detector the service uses: settings from ``config`` (e.g. ``app.config``) or the environment;
    ``MODERATOR_DUP_BACKEND=redis`` stores the index and the rate-limit counters in Redis."""
    settings = settings_from(config)
    if settings.backend == "redis":
        from moderator.dedup.redis_index import build_redis_detector

        return build_redis_detector(settings)
    return Detector(settings)


__all__ = [
    "DedupSettings",
    "Detector",
    "DuplicateDetector",
    "DuplicateFinding",
    "DuplicateKind",
    "Entry",
    "Index",
    "MemoryIndex",
    "RateDecision",
    "Signature",
    "Signer",
    "build_detector",
    "fingerprint",
    "jaccard",
    "lsh_params",
    "normalise",
    "settings_from",
    "shingles",
    "strip_quoted",
]
