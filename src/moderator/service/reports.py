"""Readers' reports on comments (``POST /v1/comments/<id>/reports``), after Coral's and Discourse's flags.

* One report per reporter per comment (unique ``(comment_id, reporter_id)``): the same reporter reporting the
  same comment again changes nothing and gets the first report back (idempotent, so a site's retry is safe).
* A **published** comment (published at intake in postmoderation, or approved by a moderator) whose open
  reports weigh at least ``MODERATOR_REPORTS_TO_QUEUE`` returns to the queue as *reported*: its review item is
  created or re-opened with the reason ``reported``, its status becomes ``held`` (a ``comment.reopened``
  event tells the site), and its priority is ``1 + the reports' weight``, so it sorts with flagged comments.
* A report on a comment **waiting** in the queue raises its priority by ``REPORT_PRIORITY x weight``.
* A report on a rejected comment is kept and changes nothing.
* When a moderator decides a reported comment, its open reports are resolved: ``upheld`` by a rejection,
  ``dismissed`` by an approval.

**Reporter weight.** A report weighs its reporter's smoothed accuracy, the mean of a Beta prior updated by the
reporter's resolved reports, scaled so that a new reporter weighs 1::

    weight = (upheld + 2) / (upheld + dismissed + 3) / (2 / 3)

A new reporter weighs 1.0; one whose 10 reports were all dismissed 0.23 (it takes about four of them to put a
comment back in the queue at the default threshold of 1); one with 10 upheld 1.38. The prior (2 upheld, 1
dismissed: readers' reports are right more often than not) keeps one dismissed report from silencing anyone:
a single dismissal leaves 0.75. The weight is fixed when the report is made.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from moderator.service import audit, authors, events
from moderator.service import queue as review
from moderator.service.audit import Actor
from moderator.storage.models import INT_MAX, Comment, Report, ReviewItem

PRIOR_UPHELD = 2.0
PRIOR_DISMISSED = 1.0
NEW_REPORTER = PRIOR_UPHELD / (PRIOR_UPHELD + PRIOR_DISMISSED)
REPORT_PRIORITY = 0.5  # priority added to a waiting comment per unit of report weight
MAX_REASON = 64
MAX_NOTE = 2000


class ReportError(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message, self.field = message, field


def reporter_weight(upheld: int, dismissed: int) -> float:
    """The Beta-smoothed accuracy of a reporter, 1.0 for a new one (see the module docstring)."""
    return round((upheld + PRIOR_UPHELD) / (upheld + dismissed + PRIOR_UPHELD + PRIOR_DISMISSED) / NEW_REPORTER, 6)


def weight_of(session: Session, reporter_id: str) -> float:
    counts = dict(session.execute(select(Report.status, func.count()).where(
        Report.reporter_id == reporter_id, Report.status.in_(("upheld", "dismissed"))).group_by(Report.status)).all())
    return reporter_weight(int(counts.get("upheld", 0)), int(counts.get("dismissed", 0)))


def report_dict(r: Report) -> dict[str, Any]:
    return {"id": r.id, "comment_id": r.comment_id, "reporter_id": r.reporter_id, "reason": r.reason,
            "note": r.note, "weight": r.weight, "status": r.status, "created_at": r.created_at.isoformat()}


@dataclass(frozen=True)
class Filed:
    report: dict[str, Any]
    created: bool
    comment_status: str
    requeued: bool


def file_report(session: Session, actor: Actor, now: datetime, comment_id: int, reporter_id: str, reason: str,
                note: str | None, threshold: float) -> Filed:
    """Store one reader's report and act on it (module docstring); the caller commits. A second report by the
    same reporter on the same comment returns the first (``created`` False)."""
    if not reason.strip() or len(reason) > MAX_REASON:
        raise ReportError(f"reason must be 1 to {MAX_REASON} characters", "reason")
    if not reporter_id.strip() or len(reporter_id) > 200:
        raise ReportError("reporter_id must be 1 to 200 characters", "reporter_id")
    if note is not None and len(note) > MAX_NOTE:
        raise ReportError(f"note must be at most {MAX_NOTE} characters", "note")
    comment = session.get(Comment, comment_id) if 0 < comment_id <= INT_MAX else None
    if comment is None:
        raise review.NotFound(f"no comment {comment_id}")
    existing = session.scalar(select(Report).where(Report.comment_id == comment_id,
                                                   Report.reporter_id == reporter_id))
    if existing is not None:
        return Filed(report_dict(existing), False, comment.status, False)
    weight = weight_of(session, reporter_id)
    report = Report(comment_id=comment_id, reporter_id=reporter_id, reason=reason, note=note, weight=weight,
                    status="open", submitted_by=actor.ref, created_at=now)
    session.add(report)
    session.flush()  # a concurrent duplicate fails here (unique constraint): the caller retries and finds it
    authors.record_report(session, comment.author_id, now)
    total = float(session.scalar(select(func.coalesce(func.sum(Report.weight), 0.0)).where(
        Report.comment_id == comment_id, Report.status == "open")) or 0.0)
    item = session.scalar(select(ReviewItem).where(ReviewItem.comment_id == comment_id))
    requeued = False
    data = {"report_id": report.id, "reason": reason, "weight": weight, "open_weight": round(total, 6)}
    if item is not None and item.status == "pending":
        item.priority = round(item.priority + REPORT_PRIORITY * weight, 6)
        item.version += 1
        item.updated_at = now
        session.add(review._history(comment_id, "reported", actor, "pending", "pending", now, data))
    elif comment.status == "published" and total >= threshold:
        review.needs_review(session, comment, round(1.0 + total, 6), actor, now, ["reported"])
        comment.status, comment.updated_at = "held", now  # (a new item does not change the comment itself)
        reasons = list(comment.reasons or [])
        if "reported" not in reasons:
            comment.reasons = [*reasons, "reported"]
        events.emit(session, "comment.reopened", now=now, comment_id=comment_id, author_id=comment.author_id,
                    data={"reason": "reported", "reports_weight": round(total, 6)})
        requeued = True
    else:
        session.add(review._history(comment_id, "reported", actor, comment.status, comment.status, now, data))
    audit.record(session, actor, "comment.report", now, "comment", comment_id,
                 {"reporter_id": reporter_id, "reason": reason, "weight": weight, "requeued": requeued})
    session.flush()
    return Filed(report_dict(report), True, comment.status, requeued)


def resolve(session: Session, comment_id: int, action: str, now: datetime) -> None:
    """A moderator decided ``comment_id``: its open reports are upheld (reject) or dismissed (approve)."""
    session.execute(update(Report).where(Report.comment_id == comment_id, Report.status == "open")
                    .values(status="upheld" if action == "reject" else "dismissed", resolved_at=now)
                    .execution_options(synchronize_session=False))


def summaries(session: Session, comment_ids: list[int]) -> dict[int, dict[str, Any]]:
    """``{comment_id: {"count", "weight", "reasons": {reason: n}}}`` of the open reports (comments without
    any are left out), in one grouped query."""
    out: dict[int, dict[str, Any]] = {}
    if not comment_ids:
        return out
    rows = session.execute(select(Report.comment_id, Report.reason, func.count(), func.sum(Report.weight))
                           .where(Report.comment_id.in_(comment_ids), Report.status == "open")
                           .group_by(Report.comment_id, Report.reason))
    for cid, reason, n, w in rows:
        entry = out.setdefault(cid, {"count": 0, "weight": 0.0, "reasons": {}})
        entry["count"] += int(n)
        entry["weight"] = round(entry["weight"] + float(w or 0.0), 6)
        entry["reasons"][reason] = int(n)
    for entry in out.values():
        entry["reasons"] = dict(Counter(entry["reasons"]).most_common())
    return out


def for_comment(session: Session, comment_id: int) -> list[Report]:
    return list(session.scalars(select(Report).where(Report.comment_id == comment_id).order_by(Report.id)))




def reported_pending(session: Session, limit: int = 50) -> list[tuple[ReviewItem, Comment]]:
    """Pending queue items with open reports, highest priority first (the review pages' reported queue)."""
    from sqlalchemy import exists

    stmt = (select(ReviewItem, Comment).join(Comment, Comment.id == ReviewItem.comment_id)
            .where(ReviewItem.status == "pending",
                   exists().where(Report.comment_id == ReviewItem.comment_id, Report.status == "open"))
            .order_by(ReviewItem.priority.desc(), ReviewItem.id.asc()).limit(limit))
    return [(r[0], r[1]) for r in session.execute(stmt)]


__all__ = ["Filed", "ReportError", "file_report", "for_comment", "report_dict", "reported_pending",
           "reporter_weight", "resolve", "summaries", "weight_of"]
