"""Duplicate, near-duplicate and flood detection for submitted comments.

This module is the seam between the submission flow (``POST /v1/comments``) and duplicate detection.
The service only relies on :class:`DuplicateFinding`, :class:`RateDecision` and the
:class:`DuplicateDetector` protocol below.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

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
