"""The review queue: the service layer shared by the JSON API and the review pages.

No Flask imports. Every function takes a SQLAlchemy ``Session`` and, where someone acts, an
:class:`~moderator.service.audit.Actor` (an API key, a moderator account or the CLI) and ``now``; the caller owns
the transaction (start it with :func:`moderator.storage.db.begin_write` for writes, commit after).

After Discourse's Reviewable:

* :func:`needs_review` is the way in: it creates the item for a comment, or re-opens the existing one
  (one item per comment, unique ``comment_id``), and writes a history row.
* :func:`actions_for` lists what an actor may do with an item now.
* :func:`claim` and :func:`perform` change an item with a single conditional ``UPDATE ... WHERE
  status = 'pending' AND (unclaimed OR claim expired OR claimed by me) [AND version = :expected]`` and
  check its row count, so two moderators (threads, processes or instances) can never both win: on
  PostgreSQL the second UPDATE waits for the first transaction's row lock and then re-checks the WHERE
  clause; on SQLite write transactions are serialised (``BEGIN IMMEDIATE``). The decision row, history,
  audit event and comment status are written in the same transaction.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session

from moderator.service import audit, outcomes
from moderator.service.audit import Actor
from moderator.storage.models import INT_MAX, Comment, CommentScore, Decision, HistoryEvent, ReviewItem

STATUSES = ("pending", "approved", "rejected")
ACTIONS = {"approve": "approved", "reject": "rejected"}
COMMENT_STATUS = {"approved": "published", "rejected": "rejected"}


class ReviewError(Exception):
    """Base class; ``code`` is a stable machine-readable string."""

    code = "review_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(ReviewError):
    code = "not_found"


class Conflict(ReviewError):
    code = "conflict"


class Forbidden(ReviewError):
    code = "forbidden"


class InvalidCursor(ReviewError):
    code = "invalid_cursor"


# ---------------------------------------------------------------- entering the queue


def needs_review(
    session: Session, comment: Comment, priority: float, actor: Actor, now: datetime, reasons: Sequence[str] = ()
) -> ReviewItem:
    """Put ``comment`` in the queue (pending), creating its item or re-opening the existing one."""
    item = session.scalar(select(ReviewItem).where(ReviewItem.comment_id == comment.id))
    if item is None:
        enqueue_new(session, comment.id, comment.thread_id, priority, actor, now, reasons)
        return get_item(session, comment.id)
    previous = item.status
    item.status, item.priority, item.version = "pending", priority, item.version + 1
    item.claimed_by = item.claimed_until = None
    item.updated_at = now
    comment.status = "held"
    comment.state = "pending"
    comment.updated_at = now
    session.add(_history(comment.id, "reopened", actor, previous, "pending", now, {"reasons": list(reasons)}))
    return item


def enqueue_new(session: Session, comment_id: int, thread_id: str, priority: float, actor: Actor, now: datetime,
                reasons: Sequence[str] = (), earlier_history: Sequence[dict[str, Any]] = ()) -> None:
    """Fast path of :func:`needs_review` for a comment that was just inserted (so has no item yet): two
    Core INSERTs, no SELECT. A second call for the same comment fails on the unique ``comment_id``.
    ``earlier_history`` rows (e.g. ``submitted``) are inserted in the same statement, before ``queued``."""
    from moderator.storage.db import insert_rows

    insert_rows(session, ReviewItem.__table__, [{
        "comment_id": comment_id, "status": "pending", "priority": priority, "thread_id": thread_id,
        "version": 1, "claimed_by": None, "claimed_until": None, "created_at": now, "updated_at": now,
    }])
    insert_rows(session, HistoryEvent.__table__, [*earlier_history, _history_row(
        comment_id, "queued", actor, None, "pending", now, {"reasons": list(reasons), "priority": priority})])


# ---------------------------------------------------------------- reading


def _check_id(comment_id: int) -> None:
    """An id beyond the column's range names no comment (and PostgreSQL would refuse to bind it)."""
    if not 0 < comment_id <= INT_MAX:
        raise NotFound(f"no comment {comment_id}")


def get_item(session: Session, comment_id: int) -> ReviewItem:
    _check_id(comment_id)
    item = session.scalar(select(ReviewItem).where(ReviewItem.comment_id == comment_id))
    if item is None:
        if session.get(Comment, comment_id) is None:
            raise NotFound(f"no comment {comment_id}")
        raise NotFound(f"comment {comment_id} is not in the review queue")
    return item


def claim_active(item: ReviewItem, now: datetime) -> bool:
    return item.claimed_by is not None and item.claimed_until is not None and item.claimed_until > now


def actions_for(item: ReviewItem, actor: Actor, now: datetime) -> list[str]:
    """What ``actor`` may do with ``item`` now: claim, approve, reject (empty when decided or not allowed)."""
    if not actor.can_review or item.status != "pending":
        return []
    if claim_active(item, now) and item.claimed_by != actor.ref:
        return []
    return ["claim", "approve", "reject"]


@dataclass(frozen=True)
class QueuePage:
    items: list[tuple[ReviewItem, Comment]]
    next_cursor: str | None


def encode_cursor(priority: float, item_id: int) -> str:
    raw = json.dumps({"p": priority, "i": item_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_CURSOR = 200  # characters: the cursors this module makes are under 80
_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]+")


def decode_cursor(cursor: str) -> tuple[float, int]:
    """``(priority, id)`` of a cursor made by :func:`encode_cursor`; :class:`InvalidCursor` for anything else,
    including numbers a query could not bind (an id outside 0..INT_MAX, a priority that is not a finite float)."""
    try:
        if len(cursor) > MAX_CURSOR or not _CURSOR_CHARS.fullmatch(cursor):
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError
        p, i = data["p"], data["i"]
        if not isinstance(p, int | float) or isinstance(p, bool):
            raise ValueError
        p = float(p)  # OverflowError for an int beyond float's range
        if not math.isfinite(p):
            raise ValueError
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i <= INT_MAX:
            raise ValueError
        return p, i
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError):
        raise InvalidCursor("invalid cursor") from None


def queue_filter(stmt: Any, status: str, category: str | None, thread_id: str | None) -> Any:
    """``stmt`` (selecting from review items joined with their comments) restricted to the items that
    :func:`list_queue` shows for these filters; :func:`queue_count` counts the same set."""
    stmt = stmt.where(ReviewItem.status == status)
    if thread_id is not None:
        stmt = stmt.where(ReviewItem.thread_id == thread_id)
    if category is not None:
        stmt = stmt.where(
            exists().where(
                CommentScore.comment_id == ReviewItem.comment_id,
                CommentScore.category == category,
                CommentScore.flagged.is_(True),
                CommentScore.model_version == Comment.model_version,  # the current scores, not a re-scored past
            )
        )
    return stmt


def list_queue(
    session: Session,
    *,
    status: str = "pending",
    category: str | None = None,
    thread_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> QueuePage:
    """One page of the queue, highest priority first, then oldest; ``cursor`` continues a previous page."""
    if thread_id is not None and "\x00" in thread_id:
        return QueuePage([], None)  # no stored thread id holds NUL (and PostgreSQL refuses to compare one)
    stmt = select(ReviewItem, Comment).join(Comment, Comment.id == ReviewItem.comment_id)
    stmt = queue_filter(stmt, status, category, thread_id)
    if cursor:
        p, i = decode_cursor(cursor)
        stmt = stmt.where(or_(ReviewItem.priority < p, and_(ReviewItem.priority == p, ReviewItem.id > i)))
    stmt = stmt.order_by(ReviewItem.priority.desc(), ReviewItem.id.asc()).limit(limit + 1)
    rows = [(r[0], r[1]) for r in session.execute(stmt)]
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode_cursor(rows[-1][0].priority, rows[-1][0].id) if more and rows else None
    return QueuePage(rows, nxt)


def pending_count(session: Session) -> int:
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).select_from(ReviewItem).where(
        ReviewItem.status == "pending")) or 0)


def queue_count(session: Session, status: str = "pending", category: str | None = None,
                thread_id: str | None = None) -> int:
    """How many items :func:`list_queue` pages through with these filters."""
    from sqlalchemy import func

    if thread_id is not None and "\x00" in thread_id:
        return 0
    stmt = select(func.count()).select_from(ReviewItem).join(Comment, Comment.id == ReviewItem.comment_id)
    return int(session.scalar(queue_filter(stmt, status, category, thread_id)) or 0)


def unrefined_count(session: Session, version: str) -> int:
    """Pending items whose comment is not (yet) scored by model ``version`` (deferred scoring's backlog)."""
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).select_from(ReviewItem)
                              .join(Comment, Comment.id == ReviewItem.comment_id)
                              .where(ReviewItem.status == "pending", Comment.model_version != version)) or 0)


# ---------------------------------------------------------------- acting


def _claimable(actor: Actor, now: datetime) -> Any:
    return or_(
        ReviewItem.claimed_by.is_(None),
        ReviewItem.claimed_until.is_(None),
        ReviewItem.claimed_until <= now,
        ReviewItem.claimed_by == actor.ref,
    )


def _explain_refusal(session: Session, comment_id: int, actor: Actor, now: datetime,
                     expected_version: int | None = None) -> ReviewError:
    session.expire_all()
    item = get_item(session, comment_id)  # raises NotFound
    if item.status != "pending":
        return Conflict(f"comment {comment_id} was already decided ({item.status})", status=item.status)
    if claim_active(item, now) and item.claimed_by != actor.ref:
        return Conflict(
            f"comment {comment_id} is claimed by someone else",
            claimed_by=item.claimed_by,
            claimed_until=item.claimed_until.isoformat() if item.claimed_until else None,
        )
    if expected_version is not None and item.version != expected_version:
        return Conflict(f"comment {comment_id} changed (version {item.version}, not {expected_version})",
                        version=item.version)
    return Conflict(f"comment {comment_id} changed concurrently; retry")


def claim(session: Session, comment_id: int, actor: Actor, now: datetime, ttl_seconds: int) -> ReviewItem:
    """Claim a pending item for ``ttl_seconds`` (renews the actor's own claim). Conflict when decided or
    claimed by someone else whose claim has not expired."""
    if not actor.can_review:
        raise Forbidden("this actor may not review")
    _check_id(comment_id)
    until = now + timedelta(seconds=ttl_seconds)
    result = session.execute(
        update(ReviewItem)
        .where(ReviewItem.comment_id == comment_id, ReviewItem.status == "pending", _claimable(actor, now))
        .values(claimed_by=actor.ref, claimed_until=until, version=ReviewItem.version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise _explain_refusal(session, comment_id, actor, now)
    session.add(_history(comment_id, "claimed", actor, "pending", "pending", now,
                         {"claimed_until": until.isoformat()}))
    audit.record(session, actor, "review.claim", now, "comment", comment_id, {"claimed_until": until.isoformat()})
    session.flush()
    session.expire_all()
    return get_item(session, comment_id)


def release(session: Session, comment_id: int, actor: Actor, now: datetime) -> bool:
    """Give up ``actor``'s own claim on a pending item (the moderator moved on). False, and nothing
    written, when there is no such claim (expired, someone else's, decided). The version is not bumped: the
    item did not change, and a page showing it can still decide it."""
    _check_id(comment_id)
    result = session.execute(
        update(ReviewItem)
        .where(ReviewItem.comment_id == comment_id, ReviewItem.status == "pending",
               ReviewItem.claimed_by == actor.ref, ReviewItem.claimed_until > now)
        .values(claimed_by=None, claimed_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.add(_history(comment_id, "released", actor, "pending", "pending", now))
    audit.record(session, actor, "review.release", now, "comment", comment_id)
    session.flush()
    return True


def perform(
    session: Session,
    comment_id: int,
    actor: Actor,
    action: str,
    now: datetime,
    reason: str | None = None,
    categories: Sequence[str] = (),
    expected_version: int | None = None,
) -> tuple[ReviewItem, Decision]:
    """Approve or reject a pending item, atomically with its decision, history and audit rows."""
    if action not in ACTIONS:
        raise ReviewError(f"unknown action {action!r}")
    if not actor.can_review:
        raise Forbidden("this actor may not review")
    _check_id(comment_id)
    if expected_version is not None and not 0 < expected_version <= INT_MAX:
        raise Conflict(f"comment {comment_id} has no version {expected_version}")
    new_status = ACTIONS[action]
    conditions = [ReviewItem.comment_id == comment_id, ReviewItem.status == "pending", _claimable(actor, now)]
    if expected_version is not None:
        conditions.append(ReviewItem.version == expected_version)
    result = session.execute(
        update(ReviewItem)
        .where(*conditions)
        .values(status=new_status, version=ReviewItem.version + 1, claimed_by=None, claimed_until=None,
                updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise _explain_refusal(session, comment_id, actor, now, expected_version)
    session.expire_all()
    item = get_item(session, comment_id)
    comment = session.get(Comment, comment_id)
    assert comment is not None
    comment.status = COMMENT_STATUS[new_status]
    comment.state = new_status
    comment.updated_at = now
    decision = Decision(
        comment_id=comment_id,
        review_item_id=item.id,
        decision=action,
        reason=reason,
        categories=list(categories),
        actor=actor.ref,
        actor_name=actor.name,
        created_at=now,
    )
    session.add(decision)
    session.add(_history(comment_id, new_status, actor, "pending", new_status, now,
                         {"reason": reason, "categories": list(categories)}))
    audit.record(session, actor, f"review.{action}", now, "comment", comment_id,
                 {"reason": reason, "categories": list(categories)})
    outcomes.decided(session, comment_id, comment.author_id, action, actor, now, reason, categories)
    session.flush()
    from moderator.service import site_policy  # (imports this module)

    site_policy.after_decision(session, comment, action, now)  # the author's counts, the comment's reports
    return item, decision


def _history(comment_id: int, action: str, actor: Actor, from_status: str | None, to_status: str | None,
             now: datetime, data: dict[str, Any] | None = None) -> HistoryEvent:
    return HistoryEvent(comment_id=comment_id, action=action, actor=actor.ref, from_status=from_status,
                        to_status=to_status, data=data, created_at=now)


def _history_row(comment_id: int, action: str, actor: Actor, from_status: str | None, to_status: str | None,
                 now: datetime, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"comment_id": comment_id, "action": action, "actor": actor.ref, "from_status": from_status,
            "to_status": to_status, "data": data, "created_at": now}


def history(session: Session, comment_id: int) -> list[HistoryEvent]:
    return list(session.scalars(select(HistoryEvent).where(HistoryEvent.comment_id == comment_id)
                                .order_by(HistoryEvent.id)))


def decisions(session: Session, comment_id: int) -> list[Decision]:
    return list(session.scalars(select(Decision).where(Decision.comment_id == comment_id).order_by(Decision.id)))


__all__ = [
    "ACTIONS",
    "STATUSES",
    "Conflict",
    "Forbidden",
    "InvalidCursor",
    "NotFound",
    "QueuePage",
    "ReviewError",
    "actions_for",
    "claim",
    "decisions",
    "decode_cursor",
    "encode_cursor",
    "enqueue_new",
    "get_item",
    "history",
    "list_queue",
    "needs_review",
    "pending_count",
    "perform",
    "queue_count",
    "queue_filter",
    "release",
]
