"""Audit log: who did what and when (submissions, decisions, claims, API-key changes). No Flask imports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from moderator.storage.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Whoever acts on the service: an API key, a moderator account or the command line (see ``ref``)."""

    ref: str  # "key:<id>", "user:<id>", "cli:<login>"
    name: str
    role: str  # submit | review | admin
    key_id: int | None = None

    @property
    def can_review(self) -> bool:
        return self.role in ("review", "admin")


def record(
    session: Session,
    actor: Actor,
    action: str,
    now: datetime,
    target_type: str | None = None,
    target_id: str | int | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        created_at=now,
        actor=actor.ref,
        actor_name=actor.name,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        data=data,
    )
    session.add(event)
    return event


def list_events(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> tuple[list[AuditEvent], int | None]:
    """Newest first; returns the page and the id to continue before (None on the last page)."""
    stmt = select(AuditEvent)
    if actor:
        stmt = stmt.where(AuditEvent.actor == actor)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if since is not None:
        stmt = stmt.where(AuditEvent.created_at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.created_at < until)
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    rows = list(session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def event_dict(e: AuditEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.created_at.isoformat(),
        "actor": e.actor,
        "actor_name": e.actor_name,
        "action": e.action,
        "target_type": e.target_type,
        "target_id": e.target_id,
        "data": e.data,
    }


__all__ = ["Actor", "event_dict", "list_events", "record"]
