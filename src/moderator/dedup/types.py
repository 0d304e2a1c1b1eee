"""The types the duplicate detector, its indexes, the rate limiter and the submission flow share.

Kept apart from the modules that use them so that none of those has to import another for a type.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

if TYPE_CHECKING:
    from moderator.dedup.signer import Signature

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


class Entry(NamedTuple):
    """One remembered comment."""

    comment_id: int
    author_id: str
    ts: float  # created_at, seconds since the epoch
    normalised: str
    fingerprint: int
    signature: bytes = b""  # MinHash values (uint32), for the cheap estimate before the exact Jaccard


class Index(Protocol):
    """Where entries live. Implementations: :class:`moderator.dedup.memory_index.MemoryIndex`,
    :class:`moderator.dedup.redis_index.RedisIndex`."""

    def candidates(self, fp: int, band_keys: tuple[int, ...], since: float,
                   limit: int = 100) -> list[Entry]:
        """Entries created at or after ``since`` with fingerprint ``fp`` (the oldest ``limit``) or
        sharing an LSH band (the newest ``limit`` per band): a flood of thousands of copies must not
        make every look-up read thousands of entries."""

    def add(self, entry: Entry, band_keys: tuple[int, ...], now: float) -> None:
        """Store an entry (idempotent per comment id) and drop entries expired at ``now``."""

    def remove(self, comment_id: int) -> bool:
        """Forget one comment's entry (and its place in every set); True when there was one."""

    def evict(self, now: float) -> int:
        """Drop entries older than the retention window; returns how many were dropped."""

    def clear(self) -> None:
        """Forget everything."""

    def __len__(self) -> int: ...


class DuplicateDetector(Protocol):
    """What the submission flow calls, in this order, for each comment."""

    def rate_check(self, author_id: str, now: datetime) -> RateDecision:
        """Count this submission attempt for ``author_id`` and say whether it is within the rate limit."""

    def sign(self, text: str) -> Signature:
        """The text's signature, computed once and passed to :meth:`check` and :meth:`record`."""

    def check(self, text: str, author_id: str, now: datetime,
              signature: Signature | None = None, exclude: int | None = None) -> DuplicateFinding | None:
        """The earlier comment this text repeats (same author, or a cross-author flood), or None; never the
        comment ``exclude`` (an edited comment's own earlier text)."""

    def record(self, comment_id: int, text: str, author_id: str, created_at: datetime,
               signature: Signature | None = None) -> None:
        """Remember a stored comment (called after it is committed to the database)."""

    def remove(self, comment_id: int) -> bool:
        """Forget a comment (withdrawn, erased, or edited: before its new text is recorded)."""

    def rebuild(self, rows: Iterable[tuple[int, str, str, datetime]], now: datetime | None = None) -> int:
        """Re-index stored comments ``(comment_id, text, author_id, created_at)`` at start-up; returns
        how many were indexed (rows older than the window are skipped)."""


__all__ = ["DuplicateDetector", "DuplicateFinding", "DuplicateKind", "Entry", "Index", "RateDecision"]
