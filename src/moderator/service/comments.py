"""Storing submitted comments and reading them back. No Flask imports (shared by the JSON API and the review pages)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from moderator.service import outcomes
from moderator.service import queue as review
from moderator.service.audit import Actor
from moderator.service.policy import Verdict
from moderator.storage.db import insert_rows
from moderator.storage.models import INT_MAX, AuditEvent, Comment, CommentScore, HistoryEvent, ReviewItem

STATUS_FOR_DECISION = {"publish": "published", "hold": "held", "reject": "rejected"}
STATE_FOR_DECISION = {"publish": "published", "hold": "pending", "reject": "rejected"}


@dataclass(frozen=True)
class Stored:
    id: int
    status: str
    priority: float | None


def store(
    session: Session,
    *,
    actor: Actor,
    now: datetime,
    text: str,
    author_id: str,
    thread_id: str,
    scores: Mapping[str, float],
    model_version: str,
    verdict: Verdict,
    duplicate: dict[str, Any] | None,
    external_id: str | None = None,
    author_ip: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Stored:
    """Insert the comment, its scores, its queue item (when held), history and audit rows.

    Core INSERTs (no ORM unit of work): this is the hot path of the service.
    """
    status = STATUS_FOR_DECISION[verdict.decision]
    cid = insert_rows(session, Comment.__table__, [{
        "external_id": external_id, "author_id": author_id, "thread_id": thread_id, "author_ip": author_ip,
        "text": text, "metadata": metadata, "state": STATE_FOR_DECISION[verdict.decision], "status": status,
        "decision": verdict.decision,
        "reasons": list(verdict.reasons), "flags": list(verdict.flags), "duplicate": duplicate,
        "model_version": model_version, "submitted_by": actor.ref, "created_at": now, "updated_at": now,
    }], returning="id")
    flags = set(verdict.flags)
    insert_rows(session, CommentScore.__table__, [
        {"comment_id": cid, "category": c, "probability": float(p), "flagged": c in flags,
         "model_version": model_version}
        for c, p in scores.items()
    ])
    submitted = review._history_row(cid, "submitted", actor, None, status, now,
                                    {"decision": verdict.decision, "reasons": list(verdict.reasons)})
    if verdict.needs_review:
        review.enqueue_new(session, cid, thread_id, verdict.priority, actor, now, verdict.reasons, [submitted])
    else:
        insert_rows(session, HistoryEvent.__table__, [submitted])
    insert_rows(session, AuditEvent.__table__, [{
        "created_at": now, "actor": actor.ref, "actor_name": actor.name, "action": "comment.submit",
        "target_type": "comment", "target_id": str(cid),
        "data": {"decision": verdict.decision, "author_id": author_id, "thread_id": thread_id},
    }])
    outcomes.at_intake(session, cid, author_id, verdict, now)  # rejected / published: an outbox event
    return Stored(cid, status, verdict.priority if verdict.needs_review else None)


def scores_for(session: Session, comment_ids: Sequence[int]) -> dict[int, dict[str, float]]:
    """``{comment_id: {category: probability}}`` for the model version each comment was scored with."""
    out: dict[int, dict[str, float]] = {cid: {} for cid in comment_ids}
    if not comment_ids:
        return out
    rows = session.execute(
        select(CommentScore.comment_id, CommentScore.category, CommentScore.probability)
        .join(Comment, Comment.id == CommentScore.comment_id)
        .where(CommentScore.comment_id.in_(list(comment_ids)), CommentScore.model_version == Comment.model_version)
        .order_by(CommentScore.id)
    )
    for cid, cat, p in rows:
        out[cid][cat] = p
    return out


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def item_summary(item: ReviewItem | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {
        "status": item.status,
        "priority": item.priority,
        "version": item.version,
        "claimed_by": item.claimed_by,
        "claimed_until": iso(item.claimed_until),
    }


def detail(session: Session, comment_id: int) -> dict[str, Any]:
    """The comment, its scores, current status, queue state, decisions and full history."""
    comment = session.get(Comment, comment_id) if 0 < comment_id <= INT_MAX else None
    if comment is None:
        raise review.NotFound(f"no comment {comment_id}")
    item = session.scalar(select(ReviewItem).where(ReviewItem.comment_id == comment_id))
    return {
        "id": comment.id,
        "external_id": comment.external_id,
        "author_id": comment.author_id,
        "thread_id": comment.thread_id,
        "author_ip": comment.author_ip,
        "text": comment.text,
        "metadata": comment.meta,
        "state": comment.state,
        "intake_decision": comment.decision,
        "status": comment.status,
        "decision": comment.decision,
        "reasons": comment.reasons,
        "flags": comment.flags,
        "duplicate": comment.duplicate,
        "scores": scores_for(session, [comment.id])[comment.id],
        "model_version": comment.model_version,
        "created_at": iso(comment.created_at),
        "updated_at": iso(comment.updated_at),
        "review": item_summary(item),
        "decisions": [
            {"decision": d.decision, "reason": d.reason, "categories": d.categories, "actor": d.actor,
             "actor_name": d.actor_name, "at": iso(d.created_at)}
            for d in review.decisions(session, comment_id)
        ],
        "history": [
            {"action": h.action, "actor": h.actor, "from_status": h.from_status, "to_status": h.to_status,
             "data": h.data, "at": iso(h.created_at)}
            for h in review.history(session, comment_id)
        ],
    }


def queue_entry(item: ReviewItem, comment: Comment, scores: dict[str, float]) -> dict[str, Any]:
    return {
        "id": comment.id,
        "priority": item.priority,
        "status": item.status,
        "scores": scores,
        "flags": comment.flags,
        "reasons": comment.reasons,
        "duplicate": comment.duplicate,
        "text": comment.text,
        "author_id": comment.author_id,
        "thread_id": comment.thread_id,
        "external_id": comment.external_id,
        "created_at": iso(comment.created_at),
        "version": item.version,
        "claimed_by": item.claimed_by,
        "claimed_until": iso(item.claimed_until),
    }


__all__ = ["Stored", "detail", "item_summary", "queue_entry", "scores_for", "store"]
