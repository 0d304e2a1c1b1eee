"""Authors: one record per ``author_id`` (first and last seen, counts, status, a moderator's note).

Statuses: ``normal``, ``trusted``, ``premoderated``, ``suspended`` (until a time; afterwards the author is
treated as normal again) and ``banned``. What each means for a new comment is decided by
:mod:`moderator.service.site_policy`; this module keeps the records:

* :func:`record_submission` is the one write per submission: an ``INSERT ... ON CONFLICT (author_id) DO
  UPDATE`` that creates the record on the first comment and counts every later one, in the transaction
  that stores the comment;
* :func:`record_decision` moves a comment between the approved / rejected counts when a moderator decides;
* :func:`set_status` is a moderator's change (status, until, note): audited, and announced with an
  ``author.updated`` event in the same transaction;
* :func:`maybe_auto_trust` makes a normal author trusted after enough approvals without a rejection within
  a window (off by default).

Counts: ``submitted`` every comment; ``approved`` a comment published at intake or approved by a moderator;
``rejected`` one rejected at intake or by a moderator; ``reported`` reports received.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, bindparam, select, text, update
from sqlalchemy.orm import Session

from moderator.service import audit, events
from moderator.service.audit import Actor
from moderator.storage.models import Author, Comment, Decision, UTCDateTime

STATUSES = ("normal", "trusted", "premoderated", "suspended", "banned")
MAX_NOTE = 2000


class AuthorError(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message, self.field = message, field


class AuthorNotFound(LookupError):
    pass


@dataclass(frozen=True)
class AuthorState:
    """What the intake policy needs to know of an author (None fields: never seen)."""

    author_id: str
    status: str = "normal"
    until: datetime | None = None
    submitted: int = 0
    approved: int = 0
    last_rejected_at: datetime | None = None

    def effective_status(self, now: datetime) -> str:
        """The status in force at ``now``: a suspension that has ended counts as normal."""
        if self.status == "suspended" and (self.until is None or self.until <= now):
            return "normal"
        return self.status


# The two statements of the intake path, built once: constructing SQLAlchemy statements per request cost
# more than running them (bench/site_policy_cost.py). Plain SQL that SQLite and PostgreSQL both accept.
_STATE = text(
    "SELECT status, status_until, submitted, approved, last_rejected_at FROM authors WHERE author_id = :author_id"
).columns(status=String(), status_until=UTCDateTime(), submitted=Integer(), approved=Integer(),
          last_rejected_at=UTCDateTime())
_UPSERT = text(
    "INSERT INTO authors (author_id, status, submitted, approved, rejected, reported, first_seen_at, last_seen_at, "
    "updated_at, last_rejected_at) VALUES (:author_id, 'normal', :submitted, :approved, :rejected, :reported, :now, "
    ":now, :now, :rejected_at) ON CONFLICT (author_id) DO UPDATE SET "
    "submitted = authors.submitted + :submitted, approved = authors.approved + :approved, "
    "rejected = authors.rejected + :rejected, reported = authors.reported + :reported, "
    "last_seen_at = CASE WHEN :submitted > 0 THEN :now ELSE authors.last_seen_at END, "
    "last_rejected_at = COALESCE(:rejected_at, authors.last_rejected_at)"
).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("rejected_at", type_=UTCDateTime()))


def state(session: Session, author_id: str) -> AuthorState:
    """One indexed read (the unique ``author_id``), on the intake path."""
    row = session.connection().execute(_STATE, {"author_id": author_id}).first()
    if row is None:
        return AuthorState(author_id)
    return AuthorState(author_id, row[0], row[1], int(row[2]), int(row[3]), row[4])


def _upsert(session: Session, author_id: str, now: datetime, submitted: int = 0, approved: int = 0,
            rejected: int = 0, reported: int = 0) -> None:
    """Create the author's record or add to its counts, in one statement."""
    session.connection().execute(_UPSERT, {
        "author_id": author_id, "submitted": submitted, "approved": approved, "rejected": rejected,
        "reported": reported, "now": now, "rejected_at": now if rejected > 0 else None})


def record_submission(session: Session, author_id: str, now: datetime, decision: str) -> None:
    """Count one submitted comment (and its intake outcome: publish counts as approved, reject as rejected)."""
    _upsert(session, author_id, now, submitted=1, approved=int(decision == "publish"),
            rejected=int(decision == "reject"))


def record_report(session: Session, author_id: str, now: datetime) -> None:
    _upsert(session, author_id, now, reported=1)


def _outcome(decision: str | None) -> str | None:
    return {"publish": "approve", "approve": "approve", "reject": "reject"}.get(decision or "")


def record_decision(session: Session, comment: Comment, action: str, now: datetime) -> None:
    """A moderator approved or rejected ``comment``: move it between the counts (its earlier outcome, the
    previous decision or else the intake's, is taken back first so that a re-decided comment counts once)."""
    previous = session.scalar(select(Decision.decision).where(Decision.comment_id == comment.id)
                              .order_by(Decision.id.desc()).offset(1).limit(1))
    before = _outcome(previous) if previous is not None else _outcome(comment.decision)
    if before == action:
        return
    approved = int(action == "approve") - int(before == "approve")
    rejected = int(action == "reject") - int(before == "reject")
    _upsert(session, comment.author_id, now, approved=approved, rejected=rejected)
    if action == "reject":
        session.execute(update(Author).where(Author.author_id == comment.author_id)
                        .values(last_rejected_at=now).execution_options(synchronize_session=False))


SYSTEM = Actor("system:auto-trust", "automatic trust", "admin")


def maybe_auto_trust(session: Session, author_id: str, now: datetime, approved: int, window_days: int) -> bool:
    """Trust a normal author with at least ``approved`` approvals and no rejection in the last ``window_days``
    (``approved`` 0: never). Audited and announced like a moderator's change; True when it happened."""
    if approved <= 0:
        return False
    cutoff = now - timedelta(days=window_days)
    result = session.execute(
        update(Author).where(Author.author_id == author_id, Author.status == "normal", Author.approved >= approved,
                             (Author.last_rejected_at.is_(None)) | (Author.last_rejected_at < cutoff))
        .values(status="trusted", updated_at=now).execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    data = {"status": {"from": "normal", "to": "trusted"}, "auto": True}
    audit.record(session, SYSTEM, "author.update", now, "author", author_id, data)
    events.emit(session, "author.updated", now=now, author_id=author_id, data={**data, "actor": SYSTEM.ref})
    return True


# ---------------------------------------------------------------- a moderator's view and changes


def get(session: Session, author_id: str) -> Author | None:
    return session.scalar(select(Author).where(Author.author_id == author_id))


def author_dict(a: Author, now: datetime) -> dict[str, Any]:
    s = AuthorState(a.author_id, a.status, a.status_until, a.submitted)
    return {
        "author_id": a.author_id,
        "status": a.status,
        "effective_status": s.effective_status(now),
        "until": a.status_until.isoformat() if a.status_until else None,
        "note": a.note,
        "counts": {"submitted": a.submitted, "approved": a.approved, "rejected": a.rejected,
                   "reported": a.reported},
        "first_seen_at": a.first_seen_at.isoformat(),
        "last_seen_at": a.last_seen_at.isoformat(),
        "last_rejected_at": a.last_rejected_at.isoformat() if a.last_rejected_at else None,
        "updated_at": a.updated_at.isoformat(),
    }


_UNSET: Any = object()


def set_status(session: Session, actor: Actor, now: datetime, author_id: str, *, status: str | None = None,
               until: datetime | None = _UNSET, note: str | None = _UNSET) -> Author:
    """A moderator's change of an author's status, suspension end or note (any of them; the author's record
    is created when the author has not commented yet, so a site can ban ahead). Audited with the values
    before and after, and an ``author.updated`` event, in the caller's transaction."""
    if not actor.can_review:
        raise AuthorError("this actor may not change authors", "status")
    if not author_id or len(author_id) > 200 or "\x00" in author_id:
        raise AuthorError("author_id must be 1 to 200 characters", "author_id")
    if status is not None and status not in STATUSES:
        raise AuthorError(f"status must be one of {', '.join(STATUSES)}", "status")
    if note is not _UNSET and note is not None and len(note) > MAX_NOTE:
        raise AuthorError(f"note must be at most {MAX_NOTE} characters", "note")
    row = get(session, author_id)
    if row is None:
        _upsert(session, author_id, now)
        session.flush()
        row = get(session, author_id)
        assert row is not None
    new_status = status if status is not None else row.status
    new_until = row.status_until if until is _UNSET else until
    if status is not None and status != "suspended" and until is _UNSET:
        new_until = None  # leaving a suspension clears its end
    if new_status == "suspended":
        if new_until is None:
            raise AuthorError("a suspension needs 'until', a time in the future", "until")
        if new_until <= now:
            raise AuthorError("'until' must be in the future", "until")
    elif new_until is not None:
        raise AuthorError("'until' is only for status suspended", "until")
    changes: dict[str, Any] = {}
    if new_status != row.status:
        changes["status"] = {"from": row.status, "to": new_status}
    if new_until != row.status_until:
        changes["until"] = {"from": row.status_until.isoformat() if row.status_until else None,
                            "to": new_until.isoformat() if new_until else None}
    if note is not _UNSET and note != row.note:
        changes["note"] = {"from": row.note, "to": note}
    if not changes:
        return row
    row.status, row.status_until, row.updated_at = new_status, new_until, now
    if note is not _UNSET:
        row.note = note
    audit.record(session, actor, "author.update", now, "author", author_id, changes)
    events.emit(session, "author.updated", now=now, author_id=author_id,
                data={**changes, "actor": actor.ref, "actor_name": actor.name})
    session.flush()
    return row


__all__ = ["STATUSES", "AuthorError", "AuthorNotFound", "AuthorState", "author_dict", "get", "maybe_auto_trust",
           "record_decision", "record_report", "record_submission", "set_status", "state"]
