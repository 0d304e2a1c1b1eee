"""SQLAlchemy tables of the moderation service (typed ``Mapped[...]`` models, no behaviour).

The schema itself is created by the Alembic migrations in ``moderator/storage/migrations``; these classes must
match them (``tests/test_storage.py`` compares the migrated database with this metadata).

Shape (after Discourse's Reviewable):

* ``comments``        one row per submitted comment, with the policy's decision, reasons, duplicate finding;
* ``comment_scores``  one row per (comment, category, model version): probability and whether it was flagged;
* ``review_items``    at most one per comment (unique ``comment_id``): queue status, denormalised priority,
                      ``version`` for optimistic locking, ``claimed_by``/``claimed_until``;
* ``decisions``       one row per moderator decision;
* ``history_events``  append-only per-comment history (submitted, queued, claimed, approved, rejected, ...);
* ``audit_events``    who did what and when, across the service (submissions, decisions, key changes);
* ``api_keys``        hashed API keys with a role and a short non-secret prefix;
* ``idempotency_keys`` one row per (api key, Idempotency-Key header): request hash and stored response;
* ``moderator_users`` one row per person who signs in to ``/review``. The password is stored only as an
                      argon2id hash (``argon2-cffi``'s PasswordHasher encoding, parameters included);
                      ``disabled_at`` set means the account can no longer sign in and its open sessions stop
                      working on their next request;
* ``events``          the outbox: one row per outcome a site learns of (``comment.decided``, ``comment.edited``,
                      ...), written in the same transaction as the change that causes it. The id orders the
                      feed; webhook deliveries and ``GET /v1/events`` read from here;
* ``moderator_sessions`` one row per signed-in browser. The session cookie holds a random token; the row holds
                      only its SHA-256 digest, the account and when the session expires. Signing out deletes the
                      row, so a copy of the cookie taken earlier opens nothing; changing the password or
                      disabling the account deletes all the account's rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# The largest value an ``Integer`` column holds on PostgreSQL (int4; SQLite's are 64-bit). An id or version
# beyond it names no row: callers answer "not found" instead of binding it (PostgreSQL: integer out of range).
INT_MAX = 2**31 - 1

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as naive UTC (portable between SQLite and PostgreSQL), returned as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Comment(Base):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(200))
    author_id: Mapped[str] = mapped_column(String(200), index=True)
    thread_id: Mapped[str] = mapped_column(String(200), index=True)
    author_ip: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    # visible state: published | held | rejected
    status: Mapped[str] = mapped_column(String(16))
    # the policy's decision at submission: publish | hold | reject
    decision: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[Any]] = mapped_column(JSON)
    flags: Mapped[list[Any]] = mapped_column(JSON)
    duplicate: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(100))
    submitted_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CommentScore(Base):
    __tablename__ = "comment_scores"
    __table_args__ = (UniqueConstraint("comment_id", "category", "model_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(64))
    probability: Mapped[float] = mapped_column(Float)
    flagged: Mapped[bool] = mapped_column(Boolean)
    model_version: Mapped[str] = mapped_column(String(100))


Index(
    "ix_comment_scores_category_flagged", CommentScore.category, CommentScore.flagged, CommentScore.comment_id
)


class ReviewItem(Base):
    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), unique=True)
    # pending | approved | rejected
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[float] = mapped_column(Float)
    thread_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


Index("ix_review_items_status_priority", ReviewItem.status, ReviewItem.priority.desc(), ReviewItem.id)
Index("ix_review_items_thread_status", ReviewItem.thread_id, ReviewItem.status)


class Decision(Base):
    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), index=True)
    review_item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"))
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    categories: Mapped[list[Any]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(100))
    actor_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class HistoryEvent(Base):
    __tablename__ = "history_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(100), index=True)
    actor_name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(100))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("api_key_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(index=True)  # expired keys are deleted by age


class ModeratorUser(Base):
    __tablename__ = "moderator_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # review | admin
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]


class ReviewSession(Base):
    __tablename__ = "moderator_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # hex SHA-256 of the token in the cookie
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("moderator_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # comment.decided | comment.published | comment.edited | comment.withdrawn | comment.erased | ...
    type: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(index=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="SET NULL"), index=True)
    author_id: Mapped[str | None] = mapped_column(String(200))
    # what the change was (decision, reason, categories, actor, ...); the comment itself is rendered when read
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Suggestion(Base):
    """A label a site sent through the Perspective-compatible ``comments:suggestscore``: a labelled example
    for training (``moderator export-labels``). One row per (community, client token): the same token sent
    again updates the row."""

    __tablename__ = "perspective_suggestions"
    __table_args__ = (UniqueConstraint("community_id", "client_token"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[str] = mapped_column(String(200))  # "" when the caller gave none
    client_token: Mapped[str | None] = mapped_column(String(200))  # None: never updated, always a new row
    session_id: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    # {ATTRIBUTE: value} as sent (0..1), and the categories' labels derived from them
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    languages: Mapped[list[Any] | None] = mapped_column(JSON)
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # the model's scores when the suggestion arrived (what the site's moderator corrected)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(100))
    submitted_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(index=True)


__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "Comment",
    "CommentScore",
    "Decision",
    "Event",
    "HistoryEvent",
    "IdempotencyKey",
    "ModeratorUser",
    "ReviewItem",
    "ReviewSession",
    "Suggestion",
    "UTCDateTime",
]
