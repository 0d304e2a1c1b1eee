"""The outcome events of decisions: ``comment.decided`` and ``comment.published``. No Flask imports.

Each function writes one outbox row (:func:`moderator.service.events.emit`, a Core INSERT) in the caller's
transaction, so the event commits with the decision or not at all.

* ``comment.decided``: a comment was approved or rejected, by a moderator (:func:`decided`, from
  ``queue.perform``) or by the policy at intake when it rejects (:func:`at_intake`). ``data``: ``decision``
  (``approved`` | ``rejected``), ``reason``, ``categories``, ``decided_by`` (``moderator`` | ``policy``) and
  who: ``actor`` / ``actor_name`` (the moderator's key or account; ``policy`` for the policy).
* ``comment.published``: the policy published a comment at intake (postmoderation, nothing flagged). A
  moderator's approval is a ``comment.decided`` with ``decision: approved``, not a second event: a site
  shows a comment on ``comment.published`` or on an approving ``comment.decided``, and hides it on a
  rejecting one.

A held comment emits nothing at intake: the submission's answer already says ``held``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from moderator.service.audit import Actor
from moderator.service.events import emit

POLICY_ACTOR = {"actor": "policy", "actor_name": "moderation policy"}
DECISION_NAMES = {"approve": "approved", "reject": "rejected"}


def at_intake(session: Session, comment_id: int, author_id: str, verdict: Any, now: datetime) -> None:
    """The policy's outcome for a just-stored comment: ``comment.decided`` when it rejects,
    ``comment.published`` when it publishes, nothing when it holds."""
    reasons = list(verdict.reasons)
    if verdict.decision == "reject":
        emit(session, "comment.decided", now=now, comment_id=comment_id, author_id=author_id, data={
            "decision": "rejected", "reason": ", ".join(reasons) or None, "reasons": reasons,
            "categories": list(verdict.flags), "decided_by": "policy", **POLICY_ACTOR})
    elif verdict.decision == "publish":
        emit(session, "comment.published", now=now, comment_id=comment_id, author_id=author_id, data={
            "reasons": reasons, "decided_by": "policy", **POLICY_ACTOR})


def decided(session: Session, comment_id: int, author_id: str, action: str, actor: Actor, now: datetime,
            reason: str | None, categories: Sequence[str]) -> None:
    """A moderator approved or rejected a held comment (``action``: ``approve`` | ``reject``)."""
    emit(session, "comment.decided", now=now, comment_id=comment_id, author_id=author_id, data={
        "decision": DECISION_NAMES[action], "reason": reason, "categories": list(categories),
        "decided_by": "moderator", "actor": actor.ref, "actor_name": actor.name})


__all__ = ["at_intake", "decided"]
