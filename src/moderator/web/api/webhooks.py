"""Webhook endpoints (admin) and the events feed (submit) of the JSON API, and the app's delivery worker.

Routes are declared with :func:`moderator.web.api.routes.endpoint` on the ``v1`` blueprint (this module is
imported by ``routes.register`` before the blueprint is registered), so they are in the OpenAPI document like
every other route. The work is in :mod:`moderator.service.webhooks`,
:mod:`moderator.service.feed` and :mod:`moderator.service.delivery`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from flask import Flask, Response, current_app, g
from pydantic import Field

from moderator.service import feed
from moderator.service import webhooks as svc
from moderator.service.delivery import DeliveryWorker, worker_engine
from moderator.storage.db import make_sessionmaker
from moderator.storage.models import INT_MAX
from moderator.web.api.parsing import CURSOR_SCHEMA, NO_NUL, ApiError, int_arg, parse_body, query_args
from moderator.web.api.routes import QueryParam, endpoint, ok, v1
from moderator.web.api.schemas import Open, Strict
from moderator.web.context import db, now, state, write_db

WORKER = "moderator_webhooks"
EVENT_TYPE_NAMES = ", ".join(svc.known_event_types())


# ---------------------------------------------------------------- bodies


class WebhookCreate(Strict):
    url: str = Field(min_length=1, max_length=svc.MAX_URL, description="http(s) URL the events are POSTed to")
    events: list[str] | None = Field(default=None, min_length=1, max_length=50,
                                     description=f"Event types to send (default: all): {EVENT_TYPE_NAMES}, author.*")
    description: str | None = Field(default=None, max_length=200)


class WebhookUpdate(Strict):
    status: Literal["active", "disabled"]


class RedeliverRequest(Strict):
    """Exactly one of ``event_id`` (``evt_<n>``: all its deliveries, or only to ``endpoint_id``) or
    ``delivery_id``."""

    event_id: str | None = Field(default=None, min_length=1, max_length=20, pattern="^evt_[0-9]{1,10}$")
    delivery_id: int | None = Field(default=None, ge=1, le=INT_MAX)
    endpoint_id: int | None = Field(default=None, ge=1, le=INT_MAX)


class WebhookOut(Open):
    id: int
    url: str
    events: list[str] | None
    description: str | None
    status: Literal["active", "failing", "disabled"]
    consecutive_failures: int
    last_success_at: str | None
    last_failure_at: str | None
    secret_rotated_until: str | None = Field(description="Until when the previous secret still signs")
    created_at: str


class WebhookWithSecret(WebhookOut):
    secret: str = Field(description="whsec_...: shown only in this answer")


class WebhookList(Open):
    items: list[WebhookOut]


class WebhookRemoved(Open):
    id: int
    removed: Literal[True]


class DeliveryOut(Open):
    id: int
    event_id: str
    event_type: str | None
    endpoint_id: int
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: str | None
    last_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: str | None
    created_at: str


class DeliveryList(Open):
    items: list[DeliveryOut]
    next_cursor: str | None


class Redelivered(Open):
    deliveries: list[int]


class FeedEvent(Open):
    id: str = Field(description="evt_<n>: the webhook-id header of this event's webhook deliveries")
    type: str
    timestamp: str
    data: dict[str, Any] = Field(description="What changed (decision, reason, categories, decided_by, actor, ...), "
                                             "comment_id, author_id, and the comment as GET /v1/comments/<id> "
                                             "shows it now")


class FeedResponse(Open):
    items: list[FeedEvent]
    next_cursor: str = Field(description="Give it as `after` to read on; poll with it when has_more is false")
    has_more: bool


# ---------------------------------------------------------------- helpers


def _id(raw: str, what: str = "webhook endpoint") -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or int(raw) > INT_MAX or int(raw) == 0:
        raise ApiError(404, "not_found", f"no {what} {raw[:40]!r}", "id")
    return int(raw)


def _settings() -> Any:
    return state().settings


def guard() -> svc.Guard:
    return svc.Guard(str(_settings().bind))


# ---------------------------------------------------------------- webhook endpoints (admin)


@endpoint(v1, "/webhooks", "POST", summary="Add a webhook endpoint; the answer holds its secret, shown once",
          roles=("admin",), request_model=WebhookCreate, response=WebhookWithSecret, status=201,
          errors=(400, 401, 403, 413, 415, 422))
def create() -> Response:
    body, _ = parse_body(WebhookCreate)
    session = write_db()
    endpoint_, secret = svc.add_endpoint(session, body.url, body.events, guard(), g.actor, now(), body.description)
    session.commit()
    return ok(WebhookWithSecret, {**svc.endpoint_dict(endpoint_), "secret": secret}, 201)


@endpoint(v1, "/webhooks", "GET", summary="The webhook endpoints (without their secrets)", roles=("admin",),
          response=WebhookList, errors=(401, 403, 422))
def list_() -> Response:
    query_args(set())
    return ok(WebhookList, {"items": [svc.endpoint_dict(e) for e in svc.list_endpoints(db())]})


@endpoint(v1, "/webhooks/<webhook_id>", "GET", summary="One webhook endpoint", roles=("admin",),
          response=WebhookOut, errors=(401, 403, 404))
def get(webhook_id: str) -> Response:
    return ok(WebhookOut, svc.endpoint_dict(svc.get_endpoint(db(), _id(webhook_id))))


@endpoint(v1, "/webhooks/<webhook_id>", "PATCH", summary="Disable a webhook endpoint, or make it active again",
          roles=("admin",), request_model=WebhookUpdate, response=WebhookOut,
          errors=(400, 401, 403, 404, 413, 415, 422))
def update(webhook_id: str) -> Response:
    wid = _id(webhook_id)
    body, _ = parse_body(WebhookUpdate)
    session = write_db()
    found = svc.set_status(session, wid, body.status, g.actor, now())
    session.commit()
    return ok(WebhookOut, svc.endpoint_dict(found))


@endpoint(v1, "/webhooks/<webhook_id>", "DELETE", summary="Remove a webhook endpoint and its delivery log",
          roles=("admin",), response=WebhookRemoved, errors=(401, 403, 404))
def remove(webhook_id: str) -> Response:
    wid = _id(webhook_id)
    session = write_db()
    svc.remove_endpoint(session, wid, g.actor, now())
    session.commit()
    return ok(WebhookRemoved, {"id": wid, "removed": True})


@endpoint(v1, "/webhooks/<webhook_id>/rotate-secret", "POST",
          summary="A new secret (shown once); the old one keeps signing alongside for the grace period",
          roles=("admin",), response=WebhookWithSecret, errors=(401, 403, 404))
def rotate(webhook_id: str) -> Response:
    wid = _id(webhook_id)
    session = write_db()
    found, secret = svc.rotate_secret(session, wid, timedelta(hours=float(_settings().webhook_secret_grace_hours)),
                                      g.actor, now())
    session.commit()
    return ok(WebhookWithSecret, {**svc.endpoint_dict(found), "secret": secret})


@endpoint(v1, "/webhooks/<webhook_id>/deliveries", "GET",
          summary="The endpoint's delivery log, newest first: status, attempts, last error",
          roles=("admin",), response=DeliveryList, errors=(401, 403, 404, 422),
          query=(
              QueryParam("status", "pending, delivered or failed (default: all)",
                         {"type": "string", "enum": ["pending", "delivered", "failed"]}),
              QueryParam("cursor", "next_cursor of the previous page", CURSOR_SCHEMA),
              QueryParam("limit", "page size, 1 to 200 (default 50)", {"type": "integer", "minimum": 1,
                                                                       "maximum": 200}),
          ))
def deliveries(webhook_id: str) -> Response:
    wid = _id(webhook_id)
    args = query_args({"status", "cursor", "limit"})
    status = args.get("status")
    if status is not None and status not in ("pending", "delivered", "failed"):
        raise ApiError(422, "invalid_value", "status must be pending, delivered or failed", "status")
    before = None
    if "cursor" in args:
        raw = args["cursor"]
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 10):
            raise ApiError(422, "invalid_value", "invalid cursor", "cursor")
        before = int(raw)
    items, nxt = svc.deliveries(db(), wid, status, before, int_arg(args, "limit", 50, 1, 200))
    return ok(DeliveryList, {"items": items, "next_cursor": str(nxt) if nxt is not None else None})


@endpoint(v1, "/webhooks/redeliver", "POST", summary="Send an event (evt_<n>) or one delivery again, now",
          roles=("admin",), request_model=RedeliverRequest, response=Redelivered,
          errors=(400, 401, 403, 404, 413, 415, 422))
def redeliver() -> Response:
    body, _ = parse_body(RedeliverRequest)
    if (body.event_id is None) == (body.delivery_id is None):
        raise ApiError(422, "invalid_value", "give exactly one of event_id or delivery_id", "event_id")
    if body.delivery_id is not None and body.endpoint_id is not None:
        raise ApiError(422, "invalid_value", "endpoint_id goes with event_id only", "endpoint_id")
    ident = body.event_id if body.event_id is not None else str(body.delivery_id)
    session = write_db()
    ids = svc.redeliver(session, ident, g.actor, now(), body.endpoint_id)
    session.commit()
    worker = current_app.extensions.get(WORKER)
    if worker is not None:
        worker.wake()
    return ok(Redelivered, {"deliveries": ids})


# ---------------------------------------------------------------- the events feed (submit)


@endpoint(v1, "/events", "GET", summary="The events feed: the webhooks' events and payloads, in order, by cursor",
          roles=("submit",), response=FeedResponse, errors=(401, 403, 422),
          query=(
              QueryParam("after", "next_cursor of the previous page (default: the oldest retained event)",
                         {"type": "string", "minLength": 1, "maxLength": feed.MAX_CURSOR,
                          "pattern": "^[A-Za-z0-9_-]+$"}),
              QueryParam("types", f"comma-separated event types (default: all): {EVENT_TYPE_NAMES}, author.*",
                         {"type": "string", "minLength": 1, "maxLength": 1000, "pattern": NO_NUL}),
              QueryParam("limit", "page size, 1 to 100 (default 50)", {"type": "integer", "minimum": 1,
                                                                       "maximum": 100}),
          ))
def events() -> Response:
    args = query_args({"after", "types", "limit"})
    types = None
    if "types" in args:
        try:
            types = svc.check_event_types([t.strip() for t in args["types"].split(",")])
        except svc.WebhookError as exc:
            raise ApiError(422, "invalid_value", exc.message, "types") from None
    limit = int_arg(args, "limit", 50, 1, 100)
    try:
        page = feed.read_feed(db(), args.get("after"), limit, types)
    except feed.InvalidCursor:
        raise ApiError(422, "invalid_value", "invalid cursor", "after") from None
    return ok(FeedResponse, {"items": page.items, "next_cursor": page.next_cursor, "has_more": page.has_more})


# ---------------------------------------------------------------- wiring


def register(app: Flask) -> None:
    """The error answers of webhook operations (the routes are on the ``v1`` blueprint: importing this module
    before ``v1`` is registered adds them)."""

    @app.errorhandler(svc.WebhookError)
    def _webhook_error(e: svc.WebhookError) -> Response:
        from moderator.web.api.errors import error_response

        return error_response(404 if isinstance(e, svc.NotFound) else 422, e.code, e.message, e.field)


def _intake_busy(app: Flask) -> Any:
    """Whether submissions keep this process busy: the deferred-scoring refiner measures it (it wraps every
    submission); without a refiner, never."""
    from moderator.service.refine import BUSY_UTILIZATION

    def busy() -> bool:
        refiner = app.extensions.get("moderator_refiner")
        return refiner is not None and refiner.intake_utilization() >= BUSY_UTILIZATION

    return busy


def start_worker(app: Flask) -> DeliveryWorker:
    """This process's delivery worker (``MODERATOR_WEBHOOKS_WORKER``), stopped with ``app.extensions``'s
    ``moderator_webhooks``'s ``stop()``."""
    st = app.extensions["moderator"]
    s = st.settings
    engine = worker_engine(st.database_url, s)  # its own pool (and, on SQLite, commits without fsync)
    worker = DeliveryWorker(make_sessionmaker(engine), st.clock, svc.Guard(str(s.bind)),
                            timeout=float(s.webhook_timeout),
                            concurrency=int(s.webhook_concurrency), poll_interval=float(s.webhook_poll_interval),
                            failing_after=int(s.webhook_failing_after),
                            retention_days=float(s.events_retention_days), on_stop=engine.dispose,
                            intake_busy=_intake_busy(app)).start()
    app.extensions[WORKER] = worker
    return worker


__all__ = ["WORKER", "register", "start_worker"]
