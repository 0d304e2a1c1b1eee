"""Reading the events outbox in a safe order, and rendering an event as a site sees it. No Flask imports.

Both the ``GET /v1/events`` feed and the webhook fan-out (:mod:`moderator.service.delivery`) read the outbox
through :func:`events_after` and render each event with :func:`render`, so a site sees the same events with
the same payloads whichever way it listens.

**Order and the late-commit problem.** A naive ``WHERE id > :cursor`` feed skips events on PostgreSQL: ids
come from a sequence when the row is inserted, not when its transaction commits, so transaction A can take
id 10, transaction B id 11, B commit first, a reader see 11 and move its cursor past 10 before A commits.
Instead, every event row carries the id of the transaction that wrote it (``txid``, a PostgreSQL column
default, ``pg_current_xact_id()``), and readers go in ``(txid, id)`` order and only up to the *horizon*: the
oldest transaction still running (``pg_snapshot_xmin(pg_current_snapshot())``). Every transaction below the
horizon has ended, so nothing can later appear before a position already read; a transaction that has not
ended is at or above the horizon, so its events are read once it commits. Transaction ids grow in the order
transactions first write, so a change made after another one committed always comes after it in the feed.
The cost: while some transaction anywhere on the server stays open, the feed waits for it (a long-running
transaction delays events, never loses them). On SQLite writers are serialised and commit in id order, so
the position is the id alone (``txid`` is NULL there).

A position is ``(txid, id)``; the cursor handed to clients is its URL-safe base64 (:func:`encode_cursor`).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select, text
from sqlalchemy.orm import Session

from moderator.service import comments
from moderator.service import queue as review
from moderator.storage.models import Event

Position = tuple[int, int]  # (txid, event id); txid is 0 on SQLite
START: Position = (0, 0)
MAX_CURSOR = 100
_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]+")
_INT64_MAX = 2**63 - 1


class InvalidCursor(ValueError):
    """A cursor this module did not make."""


def encode_cursor(position: Position) -> str:
    raw = f"{position[0]}.{position[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        if len(cursor) > MAX_CURSOR or not _CURSOR_CHARS.fullmatch(cursor):
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        txid_s, _, id_s = raw.partition(".")
        if not (txid_s.isdigit() and id_s.isdigit()):
            raise ValueError
        txid, event_id = int(txid_s), int(id_s)
        if txid > _INT64_MAX or event_id > _INT64_MAX:
            raise ValueError
        return txid, event_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidCursor("invalid cursor") from None


def position(event: Event) -> Position:
    return (event.txid or 0, event.id)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def events_after(session: Session, after: Position, limit: int, types: Sequence[str] | None = None) -> list[Event]:
    """Up to ``limit`` events after ``after``, in feed order, only those whose transactions have all ended
    (see the module docstring); ``types`` keeps only those event types."""
    stmt = select(Event)
    if types:
        stmt = stmt.where(Event.type.in_(list(types)))
    if _is_postgres(session):
        horizon = session.scalar(text("SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint"))
        txid, event_id = after
        stmt = stmt.where(Event.txid < horizon,
                          or_(Event.txid > txid, and_(Event.txid == txid, Event.id > event_id)))
        stmt = stmt.order_by(Event.txid, Event.id)
    else:
        stmt = stmt.where(Event.id > after[1]).order_by(Event.id)
    return list(session.scalars(stmt.limit(limit)))


def timestamp(event: Event) -> str:
    return event.created_at.isoformat().replace("+00:00", "Z")


def event_id(event: Event) -> str:
    """The event's public id: the ``webhook-id`` header of its deliveries and ``id`` in the feed."""
    return f"evt_{event.id}"


def parse_event_id(value: str) -> int | None:
    """The numeric id of ``evt_<n>`` (or ``<n>``), None for anything else."""
    raw = value.removeprefix("evt_")
    if raw.isascii() and raw.isdigit() and len(raw) <= 10:
        return int(raw)
    return None


def comment_view(session: Session, comment_id: int) -> dict[str, Any] | None:
    """The comment as ``GET /v1/comments/<id>`` shows it now (None when it no longer exists). An erased
    comment shows no text, address or metadata even if an older row still held them."""
    try:
        view = comments.detail(session, comment_id)
    except review.NotFound:
        return None
    if view.get("status") == "erased":
        view.update(text="", author_ip=None, metadata=None)
    return view


def render(session: Session, event: Event) -> dict[str, Any]:
    """The Standard Webhooks payload of ``event``: ``{"type", "timestamp", "data"}``, where ``data`` is what
    the change was plus the comment as it stands when the payload is rendered (at sending / reading time)."""
    data: dict[str, Any] = {}
    if event.comment_id is not None:
        data["comment_id"] = event.comment_id
    if event.author_id is not None:
        data["author_id"] = event.author_id
    data.update(event.data or {})
    if event.comment_id is not None:
        data["comment"] = comment_view(session, event.comment_id)
    return {"type": event.type, "timestamp": timestamp(event), "data": data}


def body(payload: dict[str, Any]) -> str:
    """The JSON text sent and signed (compact, UTF-8)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class FeedPage:
    items: list[dict[str, Any]]
    next_cursor: str
    has_more: bool


def read_feed(session: Session, cursor: str | None, limit: int, types: Sequence[str] | None = None) -> FeedPage:
    """One page of the feed: events after ``cursor`` (from the oldest retained when None), in order. The
    next cursor is always given: poll with it for what comes next."""
    after = decode_cursor(cursor) if cursor else START
    events = events_after(session, after, limit + 1, types)
    more = len(events) > limit
    events = events[:limit]
    items = [{"id": event_id(e), **render(session, e)} for e in events]
    last = position(events[-1]) if events else after
    return FeedPage(items, encode_cursor(last), more)


__all__ = ["START", "FeedPage", "InvalidCursor", "Position", "body", "comment_view", "decode_cursor",
           "encode_cursor", "event_id", "events_after", "parse_event_id", "position", "read_feed", "render",
           "timestamp"]
