"""The JSON API (``/v1``) and the operational endpoints (``/healthz``, ``/readyz``, ``/metrics``,
``/openapi.json``).

Every route is declared with :func:`endpoint`, which records it in :data:`ROUTES` (the OpenAPI document is
generated from that list) and enforces authentication: ``Authorization: Bearer <api key>`` with one of the
route's roles (``admin`` may do everything); 401 without a valid key, 403 with the wrong role. Request parsing
lives in :mod:`moderator.web.api.parsing`, the error answers in :mod:`moderator.web.api.errors`, the work in
``moderator.service``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from pydantic import BaseModel, ConfigDict

from moderator import CATEGORIES
from moderator.service import audit, comments, languages, lifecycle, submission
from moderator.service import queue as review
from moderator.service.reload import NotReloadable
from moderator.web import context
from moderator.web.api import errors
from moderator.web.api.parsing import (
    CURSOR_SCHEMA,
    NO_NUL,
    ApiError,
    check_text,
    comment_id_arg,
    idempotency_key,
    int_arg,
    parse_body,
    query_args,
    time_arg,
)
from moderator.web.api.schemas import (
    EXPLAIN_MAX_SPANS,
    AuditResponse,
    ClaimRequest,
    ClaimResponse,
    CommentDetail,
    DecisionRequest,
    DecisionResponse,
    HealthResponse,
    PolicyResponse,
    QueueResponse,
    ReadyResponse,
    ScoreRequest,
    ScoreResponse,
    SubmitRequest,
    SubmitResponse,
)
from moderator.web.context import authenticate, db, now, scorer, state, write_db

ALL_ROLES = ("submit", "review", "admin")


@dataclass(frozen=True)
class QueryParam:
    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class Route:
    rule: str
    method: str
    endpoint: str
    summary: str
    roles: tuple[str, ...] | None  # None: no authentication
    request: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    media_type: str = "application/json"
    query: tuple[QueryParam, ...] = ()
    errors: tuple[int, ...] = ()
    request_optional: bool = False
    headers: tuple[QueryParam, ...] = ()
    also: tuple[int, ...] = ()  # further success statuses with the same response body
    error: type[BaseModel] | None = None  # the error body's schema, when not the service's ErrorResponse


ROUTES: list[Route] = []

v1 = Blueprint("v1", __name__, url_prefix="/v1")
ops = Blueprint("ops", __name__)


def endpoint(bp: Blueprint, rule: str, method: str, *, summary: str, roles: tuple[str, ...] | None,
             response: type[BaseModel] | None, status: int = 200, request_model: type[BaseModel] | None = None,
             **extra: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        full_rule = (bp.url_prefix or "") + rule
        ROUTES.append(Route(full_rule, method, f"{bp.name}.{fn.__name__}", summary, roles, request_model,
                            response, status, **extra))

        @wraps(fn)
        def view(**kwargs: Any) -> Any:
            if roles is not None:
                g.actor = authenticate(roles)
            return fn(**kwargs)

        bp.add_url_rule(rule, endpoint=fn.__name__, view_func=view, methods=[method])
        return view

    return deco


def ok(model: type[BaseModel], payload: dict[str, Any], status: int = 200) -> Response:
    if current_app.config.get("VALIDATE_RESPONSES"):
        model.model_validate(payload)
    resp = jsonify(payload)
    resp.status_code = status
    return resp


# ---------------------------------------------------------------- scoring


@endpoint(v1, "/score", "POST", summary="Score one text or up to 100 texts (stores nothing)",
          roles=("submit", "review"), request_model=ScoreRequest, response=ScoreResponse,
          errors=(400, 401, 403, 413, 415, 422))
def score() -> Response:
    body, _ = parse_body(ScoreRequest)
    if (body.text is None) == (body.texts is None):
        raise ApiError(422, "invalid_value", "give exactly one of 'text' or 'texts'", "text")
    texts = [body.text] if body.text is not None else list(body.texts or [])
    for i, t in enumerate(texts):
        check_text(t, "text" if body.text is not None else f"texts.{i}")
    _check_score_budget(texts, body.explain, "text" if body.text is not None else "texts")
    st = state()
    version, probs = scorer().score(texts)
    detect = languages.checker(st.settings)
    results = []
    for t, p in zip(texts, probs, strict=True):
        scores = {c: float(v) for c, v in p.items()}
        flags = list(st.policy.flags(scores))
        result: dict[str, Any] = {"scores": scores, "flags": flags}
        if detect is not None:
            result["language"] = languages.marking(detect(t))
        if body.explain:
            result["explanations"] = {c: [_span(s) for s in st.model.explain(t, c)[:EXPLAIN_MAX_SPANS]]
                                      for c in flags}
        results.append(result)
    return ok(ScoreResponse, {"model_version": version, "results": results})


def _check_score_budget(texts: list[str], explain: bool, field_name: str) -> None:
    """Bound one request's CPU before doing any work: scoring costs about linear time in the characters,
    explaining (up to four categories per text) far more per character. Over budget: 413, never a silent
    truncation."""
    total = sum(len(t) for t in texts)
    limit = int(current_app.config["MAX_REQUEST_CHARS"])
    if total > limit:
        raise ApiError(413, "request_too_large", f"the texts hold {total} characters together; at most {limit} "
                       "per request: send them in several requests", field_name)
    limit = int(current_app.config["MAX_EXPLAIN_CHARS"])
    if explain and total > limit:
        raise ApiError(413, "request_too_large", f"the texts hold {total} characters together; explanations are "
                       f"limited to {limit} characters per request: send fewer texts per request with "
                       "explain, or explain=false", "explain")


def _span(s: Any) -> dict[str, Any]:
    return {"start": int(s["start"]), "end": int(s["end"]), "text": str(s["text"]), "weight": float(s["weight"])}


# ---------------------------------------------------------------- submission


@endpoint(v1, "/comments", "POST", summary="Submit a comment: score, duplicate check, policy, store, queue",
          roles=("submit",), request_model=SubmitRequest, response=SubmitResponse, status=201,
          errors=(400, 401, 403, 409, 413, 415, 422, 429, 503), also=(200,),
          headers=(QueryParam("Idempotency-Key", "Makes retries safe: the same key returns the same result"),))
def submit() -> Response:
    refiner = current_app.extensions.get("moderator_refiner")
    if refiner is None:
        return _submit(None)
    with refiner.intake():  # deferred scoring's refiner yields to submissions in flight
        return _submit(refiner)


def _submit(refiner: Any) -> Response:
    actor: audit.Actor = g.actor
    body, raw = parse_body(SubmitRequest)
    check_text(body.text, "text")
    st = state()
    key = idempotency_key()
    idem = submission.Idempotency(key, submission.request_hash(raw)) \
        if key is not None and actor.key_id is not None else None
    comment = submission.Comment(body.text, body.author_id, body.thread_id, body.external_id, body.author_ip,
                                 body.metadata)
    try:
        # an external_id seen before: an edit of that comment, answered 200 (service/lifecycle.py)
        outcome, edited = lifecycle.submit_or_edit(_submission_service(st), actor, comment, idem, refiner)
    except submission.RateLimited as exc:
        raise ApiError(429, exc.code, exc.message, exc.field, headers={"Retry-After": str(exc.retry_after)}) \
            from None
    except submission.Unavailable as exc:
        raise ApiError(503, exc.code, exc.message, headers={"Retry-After": str(exc.retry_after)}) from None
    except submission.IdempotencyKeyReused as exc:
        raise ApiError(422, exc.code, exc.message, exc.field) from None
    if outcome.replayed:
        resp = jsonify(outcome.payload)
        resp.status_code = 201
        resp.headers["Idempotent-Replayed"] = "true"
        return resp
    return ok(SubmitResponse, outcome.payload, 200 if edited else 201)


def _submission_service(st: Any) -> submission.Service:
    """The service pieces a submission uses, over this request's state."""
    ext = current_app.extensions
    pruner = ext.get("moderator_idempotency_pruner")
    if pruner is None:
        pruner = ext.setdefault("moderator_idempotency_pruner", submission.IdempotencyPruner())
    normalizer = getattr(st.model, "normalizer", None)
    fast = {str(st.fast_model.version): st.fast_policy} if st.fast_model is not None else {}
    return submission.Service(policy=st.policy, detector=st.detector, score=context.submit_scorer().score,
                              commit=context.committer().run, session=db, clock=st.clock,
                              idempotency_ttl=int(current_app.config["IDEMPOTENCY_TTL"]), pruner=pruner,
                              metrics=st.metrics, policies=fast, site=context.site_policy(),
                              normalize=normalizer.normalize if normalizer is not None else None,
                              language=languages.checker(st.settings))


@endpoint(v1, "/comments/<comment_id>", "GET", summary="A comment with scores, status and full history",
          roles=("submit", "review"), response=CommentDetail, errors=(401, 403, 404))
def get_comment(comment_id: str) -> Response:
    cid = comment_id_arg(comment_id)
    return ok(CommentDetail, comments.detail(db(), cid))


# ---------------------------------------------------------------- the queue


@endpoint(v1, "/queue", "GET", summary="The review queue, highest risk first, then oldest",
          roles=("review",), response=QueueResponse, errors=(401, 403, 422),
          query=(
              QueryParam("status", "pending (default), approved or rejected",
                         {"type": "string", "enum": list(review.STATUSES)}),
              QueryParam("category", "only items flagged in this category",
                         {"type": "string", "enum": list(CATEGORIES)}),
              QueryParam("thread", "only comments of this thread",
                         {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NO_NUL}),
              QueryParam("cursor", "next_cursor of the previous page", CURSOR_SCHEMA),
              QueryParam("limit", "page size, 1 to 200 (default 50)",
                         {"type": "integer", "minimum": 1, "maximum": 200}),
          ))
def queue() -> Response:
    args = query_args({"status", "category", "thread", "cursor", "limit"})
    status = args.get("status", "pending")
    if status not in review.STATUSES:
        raise ApiError(422, "invalid_value", f"status must be one of {', '.join(review.STATUSES)}", "status")
    category = args.get("category")
    if category is not None and category not in CATEGORIES:
        raise ApiError(422, "invalid_value", f"category must be one of {', '.join(CATEGORIES)}", "category")
    thread = args.get("thread")
    if thread is not None and not 1 <= len(thread) <= 200:
        raise ApiError(422, "invalid_value", "thread must be 1 to 200 characters", "thread")
    limit = int_arg(args, "limit", 50, 1, 200)
    session = db()
    try:
        page = review.list_queue(session, status=status, category=category, thread_id=thread,
                                 cursor=args.get("cursor"), limit=limit)
    except review.InvalidCursor:
        raise ApiError(422, "invalid_value", "invalid cursor", "cursor") from None
    scores = comments.scores_for(session, [c.id for _, c in page.items])
    items = [comments.queue_entry(item, c, scores[c.id]) for item, c in page.items]
    from moderator.service import reports

    open_reports = reports.summaries(session, [c.id for _, c in page.items])
    for entry in items:
        entry["reports"] = open_reports.get(entry["id"])
    return ok(QueueResponse, {"items": items, "next_cursor": page.next_cursor})


@endpoint(v1, "/queue/<comment_id>/claim", "POST", summary="Claim a pending item for a limited time",
          roles=("review",), request_model=ClaimRequest, response=ClaimResponse,
          errors=(400, 401, 403, 404, 409, 415, 422), request_optional=True)
def claim(comment_id: str) -> Response:
    cid = comment_id_arg(comment_id)
    parse_body(ClaimRequest, optional=True)
    session = write_db()
    item = review.claim(session, cid, g.actor, now(), current_app.config["CLAIM_TTL"])
    session.commit()
    assert item.claimed_by is not None and item.claimed_until is not None
    return ok(ClaimResponse, {"id": cid, "status": "pending", "version": item.version,
                              "claimed_by": item.claimed_by, "claimed_until": item.claimed_until.isoformat()})


@endpoint(v1, "/queue/<comment_id>/decision", "POST", summary="Approve or reject a pending item",
          roles=("review",), request_model=DecisionRequest, response=DecisionResponse,
          errors=(400, 401, 403, 404, 409, 413, 415, 422))
def decide(comment_id: str) -> Response:
    cid = comment_id_arg(comment_id)
    body, _ = parse_body(DecisionRequest)
    categories = list(dict.fromkeys(body.categories or []))
    session = write_db()
    item, decision = review.perform(session, cid, g.actor, body.decision, now(), body.reason, categories,
                                    body.version)
    session.commit()
    state().metrics.decision("moderator", body.decision)
    return ok(DecisionResponse, {
        "id": cid,
        "status": item.status,
        "comment_status": review.COMMENT_STATUS[item.status],
        "version": item.version,
        "decision": {"decision": decision.decision, "reason": decision.reason, "categories": decision.categories,
                     "actor": decision.actor, "actor_name": decision.actor_name,
                     "at": decision.created_at.isoformat()},
    })


# ---------------------------------------------------------------- audit and policy


@endpoint(v1, "/audit", "GET", summary="Who did what and when, newest first", roles=("admin",),
          response=AuditResponse, errors=(401, 403, 422),
          query=(
              QueryParam("actor", "e.g. key:3 (empty: any)", {"type": "string", "pattern": NO_NUL}),
              QueryParam("action", "e.g. comment.submit, review.approve, review.reject, review.claim, "
                                   "key.create, key.revoke (empty: any)", {"type": "string", "pattern": NO_NUL}),
              QueryParam("since", "ISO 8601 date-time (inclusive; without an offset: UTC; beyond year 9999 or "
                                  "before year 1 in UTC: clamped to the calendar's edge)",
                         {"type": "string", "format": "date-time"}),
              QueryParam("until", "ISO 8601 date-time (exclusive; as since)",
                         {"type": "string", "format": "date-time"}),
              QueryParam("cursor", "next_cursor of the previous page", CURSOR_SCHEMA),
              QueryParam("limit", "page size, 1 to 500 (default 100)",
                         {"type": "integer", "minimum": 1, "maximum": 500}),
          ))
def audit_log() -> Response:
    args = query_args({"actor", "action", "since", "until", "cursor", "limit"})
    before = None
    if "cursor" in args:
        try:
            before = review.decode_cursor(args["cursor"])[1]
        except review.InvalidCursor:
            raise ApiError(422, "invalid_value", "invalid cursor", "cursor") from None
    events, next_before = audit.list_events(
        db(), actor=args.get("actor"), action=args.get("action"), since=time_arg(args, "since"),
        until=time_arg(args, "until"), before_id=before, limit=int_arg(args, "limit", 100, 1, 500),
    )
    return ok(AuditResponse, {
        "items": [audit.event_dict(e) for e in events],
        "next_cursor": review.encode_cursor(0.0, next_before) if next_before is not None else None,
    })


@endpoint(v1, "/policy", "GET", summary="The active moderation policy", roles=("submit", "review"),
          response=PolicyResponse, errors=(401, 403))
def policy() -> Response:
    st = state()
    return ok(PolicyResponse, {**st.policy.to_dict(), "model_version": st.model.version})


# ---------------------------------------------------------------- model reload


class ReloadResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_version: str
    previous_version: str
    changed: bool


@endpoint(v1, "/admin/reload-model", "POST", summary="Load the current default model now (this worker; "
          "the others follow within MODEL_RELOAD_INTERVAL seconds)", roles=("admin",),
          response=ReloadResponse, errors=(401, 403, 409))
def reload_model() -> Response:
    from moderator.model import ModelLoadError

    try:
        old, new, changed = context.reloader().reload()
    except NotReloadable as exc:
        raise ApiError(409, "not_reloadable", str(exc)) from None
    except ModelLoadError as exc:  # missing or broken artifact: the old model stays
        raise ApiError(409, "model_unavailable", str(exc)) from None
    session = write_db()
    audit.record(session, g.actor, "model.reload", now(), "model", new,
                 {"from": old, "to": new, "changed": changed})
    session.commit()
    return ok(ReloadResponse, {"model_version": new, "previous_version": old, "changed": changed})


# ---------------------------------------------------------------- operations


@endpoint(ops, "/healthz", "GET", summary="Liveness: the process answers (never waits for a dependency)",
          roles=None, response=HealthResponse)
def healthz() -> Response:
    return ok(HealthResponse, {"status": "ok"})


@endpoint(ops, "/readyz", "GET", summary="Readiness: model loaded and every dependency up (answers within 2 s)",
          roles=None, response=ReadyResponse, errors=(503,))
def readyz() -> Response:
    """Each dependency's check runs in its own thread, shared by concurrent calls and waited for at most
    1.5 s (``moderator.service.readiness``): a hung database makes this answer 503, not hang."""
    st = state()
    model_version = getattr(st.model, "version", None)
    dependencies = st.readiness.report()
    database = "ok" if dependencies.get("database", {}).get("up") else "unreachable"
    ready = model_version is not None and st.readiness.ready(dependencies)
    payload = {"status": "ready" if ready else "unavailable", "model": model_version,
               "database": database, "dependencies": dependencies}
    if "redis" in dependencies:  # MODERATOR_DUP_BACKEND=redis
        redis = dependencies["redis"]
        payload["redis"] = "ok" if redis["up"] else f"down: {redis['detail']}"
    return ok(ReadyResponse, payload, 200 if ready else 503)


@endpoint(ops, "/metrics", "GET", summary="Prometheus metrics (open: restrict at the network level)",
          roles=None, response=None, media_type="text/plain")
def metrics() -> Response:
    body, content_type = state().metrics.render()
    return Response(body, content_type=content_type)


@endpoint(ops, "/openapi.json", "GET", summary="This OpenAPI 3 document", roles=ALL_ROLES, response=None,
          errors=(401,))
def openapi() -> Response:
    from moderator.web.api.openapi import build

    return jsonify(build())


# ---------------------------------------------------------------- errors and timing


def declare_all() -> None:
    """Import the modules whose routes join ``v1`` (ROUTES is complete after this; the OpenAPI document uses it)."""
    from moderator.web.api import (  # noqa: F401
        lifecycle,  # edits, withdrawal, reopening, erasure, lookup by external_id
        people,  # authors, readers' reports, rules
        perspective,  # the Perspective-compatible API (/v1alpha1)
        webhooks,  # webhook endpoints, the events feed
    )


def register(app: Flask) -> None:
    from moderator.web.api import perspective, webhooks

    declare_all()
    app.register_blueprint(v1)
    webhooks.register(app)
    app.register_blueprint(ops)
    perspective.register(app)  # the Perspective-compatible API (/v1alpha1, its discovery document)
    errors.register(app)
    context.init_app(app)

    @app.before_request
    def _start_timer() -> None:
        g.t0 = time.perf_counter()

    @app.after_request
    def _observe(resp: Response) -> Response:
        t0 = g.get("t0")
        if t0 is not None:
            rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
            state().metrics.request(request.method, rule, resp.status_code, time.perf_counter() - t0)
        return resp


__all__ = ["ROUTES", "Route", "declare_all", "register"]
