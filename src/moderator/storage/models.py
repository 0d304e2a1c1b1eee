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
* ``webhook_endpoints`` / ``webhook_deliveries`` / ``webhook_cursor``: the sites' webhook URLs (secret, event
                      filter, status), one delivery per (event, endpoint) with its attempts and last error, and
                      how far the outbox has been fanned out into deliveries (``moderator.service.delivery``);
* ``moderator_sessions`` one row per signed-in browser. The session cookie holds a random token; the row holds
                      only its SHA-256 digest, the account and when the session expires. Signing out deletes the
                      row, so a copy of the cookie taken earlier opens nothing; changing the password or
                      disabling the account deletes all the account's rows;
* ``authors``         one row per ``author_id`` seen (first and last seen, counts, status, note), upserted once
                      per submission;
* ``reports``         readers' reports on comments (one per reporter per comment) and what became of them;
* ``rules``           the site's watched words, phrases and regular expressions; ``counters`` holds
                      ``rules_version``, which every change of ``rules`` bumps so workers know to reload them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
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
    # the site's own id for the comment: unique (a resubmission with it is an edit), looked up by sites
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True, index=True)
    author_id: Mapped[str] = mapped_column(String(200), index=True)
    thread_id: Mapped[str] = mapped_column(String(200), index=True)
    author_ip: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    # where the comment stands now: pending | approved | rejected | published | withdrawn | erased
    state: Mapped[str] = mapped_column(String(16), server_default="pending")
    # deprecated visible state, kept for old clients: published | held | rejected (see service/lifecycle.py)
    status: Mapped[str] = mapped_column(String(16))
    # the policy's decision on the current text (the API's intake_decision): publish | hold | reject
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
    # PostgreSQL: the writing transaction's id (a server default); NULL on SQLite. The feed reads in (txid, id)
    # order up to the oldest running transaction (moderator.service.feed)
    txid: Mapped[int | None] = mapped_column(BigInteger)


Index("ix_events_txid", Event.txid, Event.id)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    # event types sent to this endpoint; NULL means all
    events: Mapped[list[Any] | None] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(String(100))  # whsec_<base64>
    # after a rotation the old secret signs alongside the new one until previous_secret_until
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None]
    # active | failing | disabled
    status: Mapped[str] = mapped_column(String(16))
    consecutive_failures: Mapped[int] = mapped_column(Integer)
    last_success_at: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("event_id", "endpoint_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    # pending | delivered | failed (retries exhausted)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    # due time of the next attempt; a worker sending it leases the row by moving this forward
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


Index("ix_webhook_deliveries_due", WebhookDelivery.status, WebhookDelivery.next_attempt_at)
Index("ix_webhook_deliveries_endpoint", WebhookDelivery.endpoint_id, WebhookDelivery.id)


class WebhookCursor(Base):
    """One row (id 1): the outbox position up to which events have been fanned out into deliveries."""

    __tablename__ = "webhook_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    txid: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[int] = mapped_column(Integer)


class Author(Base):
    __tablename__ = "authors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_id: Mapped[str] = mapped_column(String(200), unique=True)
    # normal | trusted | premoderated | suspended | banned
    status: Mapped[str] = mapped_column(String(16))
    status_until: Mapped[datetime | None]  # end of a suspension
    note: Mapped[str | None] = mapped_column(Text)
    submitted: Mapped[int] = mapped_column(Integer)
    approved: Mapped[int] = mapped_column(Integer)  # published at intake or approved by a moderator
    rejected: Mapped[int] = mapped_column(Integer)  # rejected at intake or by a moderator
    reported: Mapped[int] = mapped_column(Integer)  # reports received on the author's comments
    last_rejected_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("comment_id", "reporter_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    reporter_id: Mapped[str] = mapped_column(String(200), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    weight: Mapped[float] = mapped_column(Float)  # the reporter's weight when the report was made
    # open | upheld (the comment was rejected) | dismissed (approved)
    status: Mapped[str] = mapped_column(String(16))
    submitted_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class Rule(Base):
    __tablename__ = "rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # word | phrase | regex
    kind: Mapped[str] = mapped_column(String(16))
    pattern: Mapped[str] = mapped_column(String(500))
    # block | hold | flag
    action: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class Counter(Base):
    __tablename__ = "counters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    value: Mapped[int] = mapped_column(Integer)


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
    "Author",
    "Base",
    "Comment",
    "CommentScore",
    "Counter",
    "Decision",
    "Event",
    "HistoryEvent",
    "IdempotencyKey",
    "ModeratorUser",
    "Report",
    "ReviewItem",
    "ReviewSession",
    "Rule",
    "Suggestion",
    "UTCDateTime",
    "WebhookCursor",
    "WebhookDelivery",
    "WebhookEndpoint",
]
