"""Outcomes a site learns of, recorded in the ``events`` outbox table. No Flask imports.

:func:`emit` must be called inside the transaction that makes the change it reports, so that the change and
its event commit (or roll back) together: a crash between a decision and its delivery loses nothing, and an
event never announces a change that did not happen. Webhook delivery and the ``GET /v1/events`` feed read
the table afterwards.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from moderator.storage.db import insert_rows
from moderator.storage.models import Event

COMMENT_EVENTS = (
    "comment.decided",
    "comment.published",
    "comment.edited",
    "comment.withdrawn",
    "comment.erased",
    "comment.reopened",
)


def emit(
    session: Session,
    event_type: str,
    *,
    now: datetime,
    comment_id: int | None = None,
    author_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Add one event to the outbox, in ``session``'s transaction (Core INSERT: it runs on the intake path)."""
    insert_rows(session, Event.__table__, [{
        "type": event_type, "created_at": now, "comment_id": comment_id, "author_id": author_id, "data": data,
    }])


__all__ = ["COMMENT_EVENTS", "emit"]
