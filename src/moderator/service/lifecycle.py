"""A comment after its submission: edits, withdrawal, erasure of an author, reopening, IP retention. No Flask.

Where a comment stands is ``comments.state``, one of :data:`STATES`:

``pending``    waiting for a moderator (in the review queue);
``approved``   a moderator approved it;
``rejected``   a moderator rejected it, or the policy did at intake;
``published``  published by the policy without a moderator (postmoderation, nothing flagged);
``withdrawn``  the site removed it (``DELETE /v1/comments/<id>``): it left the queue, its history stays;
``erased``     its author's data was erased: no text, IP address or metadata is left.

The policy's decision on the comment's current text is ``comments.decision`` (the API's ``intake_decision``:
publish, hold or reject). The older ``status`` field (published, held, rejected) is kept for existing clients
as :data:`LEGACY_STATUS` of the state: whether the site may show the comment now.

Every change here is audited, written to the comment's history and announced in the ``events`` outbox
(``comment.edited``, ``comment.withdrawn``, ``comment.erased``, ``comment.reopened``) in the transaction that
makes it. The duplicate index is told after the commit (:func:`forget`, :func:`reindex`): a failure there
never undoes the change.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moderator.dedup.outage import DependencyUnavailable
from moderator.service import audit, comments, events, submission
from moderator.service import queue as review
from moderator.service.audit import Actor
from moderator.storage.db import insert_rows
from moderator.storage.models import (
    INT_MAX,
    AuditEvent,
    Comment,
    CommentScore,
    Decision,
    Event,
    HistoryEvent,
    IdempotencyKey,
    Report,
    ReviewItem,
)
from moderator.storage.models import Author as AuthorRecord

log = logging.getLogger("moderator.service.lifecycle")

STATES = ("pending", "approved", "rejected", "published", "withdrawn", "erased")
LEGACY_STATUS = {"pending": "held", "approved": "published", "published": "published", "rejected": "rejected",
                 "withdrawn": "rejected", "erased": "rejected"}
# a comment in one of these may be edited and withdrawn
LIVE = ("pending", "approved", "rejected", "published")
# ... and a moderator may reopen one of these
REOPENABLE = ("approved", "rejected", "published")
# review item statuses besides the queue's own (pending, approved, rejected): out of the queue, undecided
ITEM_WITHDRAWN = "withdrawn"  # the comment was withdrawn while pending
ITEM_CLOSED = "closed"  # an edit that the policy does not hold: earlier decisions were about another text

# History and audit data that stays after an erasure: ids, codes, numbers and times. Anything else (earlier
# texts, moderators' free-text reasons, which may quote the comment) is dropped.
KEPT_DATA_KEYS = frozenset({"decision", "intake_decision", "reasons", "priority", "categories", "claimed_until",
                            "state", "previous_state", "flags", "thread_id", "comments", "author_id", "why",
                            "external_id", "actor", "actor_name", "decided_by", "from_model", "to_model",
                            "priority_from", "priority_to"})


class NotLive(review.Conflict):
    """The comment was withdrawn or erased: it can no longer be edited or withdrawn."""


class ExternalIdTaken(review.Conflict):
    """A resubmission's ``external_id`` names a comment of another author or thread."""


def set_state(comment: Comment, state: str) -> None:
    comment.state = state
    comment.status = LEGACY_STATUS[state]


def _load(session: Session, comment_id: int, lock: bool = False) -> Comment:
    comment = None
    if 0 < comment_id <= INT_MAX:
        stmt = select(Comment).where(Comment.id == comment_id)
        comment = session.scalar(stmt.with_for_update() if lock else stmt)
    if comment is None:
        raise review.NotFound(f"no comment {comment_id}")
    return comment


def find_by_external_id(session: Session, external_id: str) -> Comment | None:
    if "\x00" in external_id:
        return None
    return session.scalar(select(Comment).where(Comment.external_id == external_id))


def answer(session: Session, comment: Comment) -> dict[str, Any]:
    """The comment as a submission's answer shows it (``POST /v1/comments``, ``PATCH``)."""
    item = session.scalar(select(ReviewItem).where(ReviewItem.comment_id == comment.id))
    return {
        "id": comment.id,
        "state": comment.state,
        "intake_decision": comment.decision,
        "status": comment.status,
        "decision": comment.decision,
        "scores": comments.scores_for(session, [comment.id])[comment.id],
        "flags": list(comment.flags or []),
        "reasons": list(comment.reasons or []),
        "duplicate": comment.duplicate,
        "priority": item.priority if item is not None and item.status == "pending" else None,
        "model_version": comment.model_version,
        "created_at": comment.created_at.isoformat(),
    }


# ---------------------------------------------------------------- edits


@dataclass(frozen=True)
class Edited:
    """An edit's answer: ``payload`` has the shape of a submission's; ``changed`` is False when the text was
    the current one (nothing recorded)."""

    payload: dict[str, Any]
    changed: bool


def edit(svc: submission.Service, actor: Actor, comment_id: int, text: str,
         match: tuple[str, str] | None = None) -> Edited:
    """Replace a live comment's text: re-scored, re-checked for duplicates (never against its own earlier
    text), decided again by the policy (held: back in the queue, even if it was approved), the earlier text
    kept in its history. ``match`` (author id, thread id) must be the comment's own (a resubmission)."""
    session = svc.session()
    try:
        current = _load(session, comment_id)
        _check_editable(current, match)
        if current.text == text:
            return Edited(answer(session, current), False)
        author_id = current.author_id
    finally:
        session.rollback()
    t = svc.clock()
    version, scores = submission.score_phase(svc, text)
    unavailable: list[str] = []
    duplicate, signature = _duplicate(svc, comment_id, text, author_id, t, unavailable)
    guess = svc.language(text) if svc.language is not None else None
    verdict = submission.policy_phase(svc, scores, duplicate, False, unavailable,
                                      None if guess is None or guess.supported else guess.code, version)
    rules = svc.site.before(svc.session, text, svc.normalize) if svc.site is not None else None

    def write(s: Session) -> dict[str, Any]:
        v = verdict
        if rules is not None:  # the author's status and the site's rules apply to the new text as at intake
            v, _ = svc.site.decide(s, author_id, t, verdict, rules, svc.policy.mode)
        return _apply_edit(s, actor, comment_id, text, t, version, scores, v, duplicate, match)

    payload: dict[str, Any] = svc.commit(write)
    reindex(svc.detector, comment_id, text, author_id, t, signature)
    if svc.metrics is not None:
        svc.metrics.decision("edit", payload.get("decision", verdict.decision))
    return Edited(payload, True)


def _check_editable(comment: Comment, match: tuple[str, str] | None) -> None:
    if match is not None and (comment.author_id, comment.thread_id) != match:
        raise ExternalIdTaken(f"external_id {comment.external_id!r} belongs to comment {comment.id} of another "
                              "author or thread", id=comment.id)
    if comment.state not in LIVE:
        raise NotLive(f"comment {comment.id} was {comment.state}", state=comment.state)


def _duplicate(svc: submission.Service, comment_id: int, text: str, author_id: str, t: datetime,
               unavailable: list[str]) -> tuple[dict[str, Any] | None, Any]:
    detector = svc.detector
    if detector is None:
        return None, None
    signature = None
    try:
        signature = detector.sign(text)
        finding = detector.check(text, author_id, t, signature=signature, exclude=comment_id)
    except DependencyUnavailable as exc:
        submission._check_unavailable(detector, exc, unavailable, "duplicate_check")
        return None, signature
    except Exception:
        log.exception("duplicate check failed; accepting the edit without it")
        unavailable.append("duplicate_check")
        return None, signature
    return (finding.to_dict() if finding is not None and finding.is_duplicate else None), signature


def _apply_edit(session: Session, actor: Actor, comment_id: int, text: str, t: datetime, version: str,
                scores: dict[str, float], verdict: Any, duplicate: dict[str, Any] | None,
                match: tuple[str, str] | None) -> dict[str, Any]:
    comment = _load(session, comment_id, lock=True)
    _check_editable(comment, match)  # again: withdrawn or erased meanwhile
    previous = {"previous_text": comment.text, "previous_state": comment.state,
                "previous_intake_decision": comment.decision, "previous_flags": list(comment.flags or [])}
    comment.text = text
    comment.model_version = version
    comment.decision = verdict.decision
    comment.flags = list(verdict.flags)
    comment.reasons = list(verdict.reasons)
    comment.duplicate = duplicate
    comment.updated_at = t
    session.execute(delete(CommentScore).where(CommentScore.comment_id == comment_id,
                                               CommentScore.model_version == version))
    flagged = set(verdict.flags)
    insert_rows(session, CommentScore.__table__, [
        {"comment_id": comment_id, "category": c, "probability": float(p), "flagged": c in flagged,
         "model_version": version} for c, p in scores.items()])
    item = session.scalar(select(ReviewItem).where(ReviewItem.comment_id == comment_id))
    old_state = comment.state
    session.add(review._history(comment_id, "edited", actor, old_state, None, t, {
        **previous, "intake_decision": verdict.decision, "reasons": list(verdict.reasons)}))
    if verdict.needs_review:
        review.needs_review(session, comment, verdict.priority, actor, t, verdict.reasons)
        set_state(comment, "pending")
    else:
        if item is not None and item.status != ITEM_CLOSED:
            _leave_queue(session, item, comment_id, ITEM_CLOSED, actor, t, "edited")
        set_state(comment, comments.STATE_FOR_DECISION[verdict.decision])
    session.flush()
    audit.record(session, actor, "comment.edit", t, "comment", comment_id,
                 {"intake_decision": verdict.decision, "state": comment.state, "previous_state": old_state})
    events.emit(session, "comment.edited", now=t, comment_id=comment_id, author_id=comment.author_id,
                data={"state": comment.state, "previous_state": old_state, "intake_decision": verdict.decision,
                      "reasons": list(verdict.reasons), "actor": actor.ref})
    session.flush()
    return answer(session, comment)


def _leave_queue(session: Session, item: ReviewItem, comment_id: int, status: str, actor: Actor, t: datetime,
                 why: str) -> None:
    """Take an item out of the queue (a claim on it ends)."""
    before = item.status
    item.status, item.version = status, item.version + 1
    item.claimed_by = item.claimed_until = None
    item.updated_at = t
    session.add(review._history(comment_id, "dequeued", actor, before, status, t, {"why": why}))


def submit_or_edit(svc: submission.Service, actor: Actor, comment: submission.Comment,
                   idem: submission.Idempotency | None = None, refiner: Any = None) -> tuple[submission.Outcome, bool]:
    """``POST /v1/comments``: a new comment, or, when ``external_id`` names a stored one (of the same author and
    thread), an edit of it. Returns the outcome and whether it was an edit. A retry with a known
    ``Idempotency-Key`` replays the first answer either way."""
    if comment.external_id is None:
        return submission.submit(svc, actor, comment, idem, refiner), False
    for _ in range(2):
        session = svc.session()
        try:
            replay = submission.replay_phase(svc, session, actor, idem) if idem is not None else None
            found = None if replay is not None else find_by_external_id(session, comment.external_id)
            found_id = found.id if found is not None else None
        finally:
            session.rollback()
        if replay is not None:
            return replay, False
        if found_id is not None:
            edited = edit(svc, actor, found_id, comment.text, match=(comment.author_id, comment.thread_id))
            return submission.Outcome(edited.payload), True
        try:
            return submission.submit(svc, actor, comment, idem, refiner), False
        except (IntegrityError, sqlite3.IntegrityError):  # a concurrent first submission of this id won
            continue
    raise review.Conflict(f"external_id {comment.external_id!r} is being submitted concurrently; retry")


def reindex(detector: Any, comment_id: int, text: str, author_id: str, t: datetime, signature: Any = None) -> None:
    """The duplicate index holds the edited text instead of the earlier one."""
    if detector is None:
        return
    forget(detector, [comment_id])
    try:
        detector.record(comment_id, text, author_id, t, signature=signature)
    except DependencyUnavailable:
        pass
    except Exception:
        log.exception("duplicate detector failed to record edited comment %s", comment_id)


def forget(detector: Any, comment_ids: Sequence[int]) -> None:
    """Remove comments from the duplicate index (memory or Redis); failures are logged, never raised."""
    if detector is None:
        return
    for cid in comment_ids:
        try:
            detector.remove(cid)
        except DependencyUnavailable:  # Redis down: its keys expire with the window anyway
            pass
        except Exception:
            log.exception("duplicate detector failed to forget comment %s", cid)


# ---------------------------------------------------------------- withdrawal


def withdraw(session: Session, actor: Actor, comment_id: int, now: datetime) -> tuple[Comment, bool]:
    """The site removed the comment: state ``withdrawn``; a pending item leaves the queue (claimed or not).
    Decided items keep their decision. Withdrawing again changes nothing (``False``); an erased comment stays
    erased."""
    comment = _load(session, comment_id, lock=True)
    if comment.state not in LIVE:
        return comment, False
    before = comment.state
    item = session.scalar(select(ReviewItem).where(ReviewItem.comment_id == comment_id))
    if item is not None and item.status == "pending":
        _leave_queue(session, item, comment_id, ITEM_WITHDRAWN, actor, now, "withdrawn")
    set_state(comment, "withdrawn")
    comment.updated_at = now
    session.add(review._history(comment_id, "withdrawn", actor, before, "withdrawn", now, None))
    audit.record(session, actor, "comment.withdraw", now, "comment", comment_id, {"previous_state": before})
    events.emit(session, "comment.withdrawn", now=now, comment_id=comment_id, author_id=comment.author_id,
                data={"previous_state": before, "actor": actor.ref})
    session.flush()
    return comment, True


# ---------------------------------------------------------------- reopening


def reopen(session: Session, actor: Actor, comment_id: int, now: datetime, policy: Any,
           reason: str | None = None) -> Comment:
    """A moderator puts a decided comment (approved, rejected, or published / rejected by the policy at intake)
    back in the queue as pending. Its decisions stay in its history."""
    if not actor.can_review:
        raise review.Forbidden("this actor may not review")
    comment = _load(session, comment_id, lock=True)
    if comment.state not in REOPENABLE:
        raise review.Conflict(f"comment {comment_id} is {comment.state}: only an approved, rejected or published "
                              "comment can be reopened", state=comment.state)
    before = comment.state
    scores = comments.scores_for(session, [comment_id])[comment_id]
    priority = policy.risk(scores) if policy is not None else 0.0
    review.needs_review(session, comment, priority, actor, now, ["reopened"])
    set_state(comment, "pending")
    comment.updated_at = now
    data = {"previous_state": before, "reason": reason}
    audit.record(session, actor, "review.reopen", now, "comment", comment_id, data)
    events.emit(session, "comment.reopened", now=now, comment_id=comment_id, author_id=comment.author_id,
                data={**data, "actor": actor.ref})
    session.flush()
    return comment


# ---------------------------------------------------------------- erasure


def _scrub(data: dict[str, Any] | None) -> dict[str, Any] | None:
    if not data:
        return data
    return {k: v for k, v in data.items() if k in KEPT_DATA_KEYS}


def erase_author(session: Session, actor: Actor, author_id: str, now: datetime) -> list[int]:
    """Erase what an author wrote: every comment of theirs loses its text, IP address and metadata (state
    ``erased``, out of the queue and of every later ``export-labels``); history and audit rows about them keep
    ids, actions and times but lose free text (earlier texts of edits, moderators' reasons); idempotency records
    of their submissions go; the note on their author record, their notes on reports they made and the free
    text of audit rows and events about the author go too. Emits ``comment.erased`` per comment. Returns the
    erased comments' ids (those erased before included: erasing again is harmless)."""
    if "\x00" in author_id:
        return []
    _erase_person(session, author_id)
    rows = list(session.scalars(select(Comment).where(Comment.author_id == author_id)
                                .order_by(Comment.id).with_for_update()))
    ids = [c.id for c in rows]
    if not ids:
        audit.record(session, actor, "author.erase", now, "author", author_id, {"comments": 0})
        return []
    for chunk in _chunks(ids):
        for item in session.scalars(select(ReviewItem).where(ReviewItem.comment_id.in_(chunk))):
            if item.status == "pending":
                _leave_queue(session, item, item.comment_id, ITEM_WITHDRAWN, actor, now, "erased")
        for h in session.scalars(select(HistoryEvent).where(HistoryEvent.comment_id.in_(chunk))):
            h.data = _scrub(h.data)
        for e in session.scalars(select(AuditEvent).where(AuditEvent.target_type == "comment",
                                                          AuditEvent.target_id.in_([str(i) for i in chunk]))):
            e.data = _scrub(e.data)
        for ev in session.scalars(select(Event).where(Event.comment_id.in_(chunk))):
            ev.data = _scrub(ev.data)
        session.execute(update(Decision).where(Decision.comment_id.in_(chunk)).values(reason=None)
                        .execution_options(synchronize_session=False))
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.comment_id.in_(chunk)))
    for c in rows:
        before = c.state
        c.text, c.author_ip, c.meta = "", None, None
        c.updated_at = now
        if before == "erased":
            continue
        set_state(c, "erased")
        session.add(review._history(c.id, "erased", actor, before, "erased", now, None))
        events.emit(session, "comment.erased", now=now, comment_id=c.id, author_id=author_id,
                    data={"previous_state": before, "actor": actor.ref})
    audit.record(session, actor, "author.erase", now, "author", author_id, {"comments": len(ids)})
    session.flush()
    return ids


def _erase_person(session: Session, author_id: str) -> None:
    """What is stored about the person beyond their comments: the moderators' note on their author record
    (the status stays: it is the site's decision about an id, not their data), the notes of reports they made
    as a reader, and the free text of audit rows and events about the author (status and note changes)."""
    session.execute(update(AuthorRecord).where(AuthorRecord.author_id == author_id).values(note=None)
                    .execution_options(synchronize_session=False))
    session.execute(update(Report).where(Report.reporter_id == author_id).values(note=None)
                    .execution_options(synchronize_session=False))
    for e in session.scalars(select(AuditEvent).where(AuditEvent.target_type == "author",
                                                      AuditEvent.target_id == author_id)):
        e.data = _scrub(e.data)
    for ev in session.scalars(select(Event).where(Event.author_id == author_id, Event.comment_id.is_(None))):
        ev.data = _scrub(ev.data)


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


# ---------------------------------------------------------------- IP address retention


def purge_ips(session: Session, before: datetime) -> int:
    """Forget the IP address of every comment submitted before ``before``; returns how many lost theirs."""
    result = session.execute(update(Comment).where(Comment.author_ip.is_not(None), Comment.created_at < before)
                             .values(author_ip=None).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


__all__ = ["ITEM_CLOSED", "ITEM_WITHDRAWN", "LEGACY_STATUS", "LIVE", "REOPENABLE", "STATES", "Edited",
           "ExternalIdTaken", "NotLive", "answer", "edit", "erase_author", "find_by_external_id", "forget",
           "purge_ips", "reindex", "reopen", "set_state", "submit_or_edit", "withdraw"]
