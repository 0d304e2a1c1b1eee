"""The JSON API (``/v1``) and the operational endpoints (``/healthz``, ``/readyz``, ``/metrics``,
``/openapi.json``).

Every route is declared with :func:`endpoint`, which records it in :data:`ROUTES` (the OpenAPI document is
generated from that list) and enforces authentication: ``Authorization: Bearer <api key>`` with one of the
route's roles (``admin`` may do everything); 401 without a valid key, 403 with the wrong role.

Errors always have the shape ``{"error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sqlite3
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, g, jsonify, render_template, request
from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from moderator import CATEGORIES
from moderator import config as settings
from moderator.dedup.outage import DependencyUnavailable
from moderator.dedup.types import RateDecision
from moderator.service import audit, comments
from moderator.service import keys as auth
from moderator.service import queue as review
from moderator.service.group_commit import GroupCommitter
from moderator.service.scoring import BatchScorer
from moderator.storage.db import DatabaseUnavailable, begin_write, insert_rows, unavailable_reason
from moderator.storage.models import INT_MAX, IdempotencyKey
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

log = logging.getLogger("moderator.web.api.routes")

M = TypeVar("M", bound=BaseModel)

ALL_ROLES = ("submit", "review", "admin")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


# JSON Schema of query parameters: what the handlers accept (a NUL character never is).
NO_NUL = "^[^\\u0000]*$"
CURSOR_SCHEMA = {"type": "string", "minLength": 1, "maxLength": review.MAX_CURSOR, "pattern": "^[A-Za-z0-9_-]+$"}


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


# ---------------------------------------------------------------- plumbing


def state() -> Any:
    return current_app.extensions["moderator"]


def db() -> Session:
    if "db" not in g:
        g.db = state().sessionmaker()
    return g.db


def write_db() -> Session:
    """The request session, with a write transaction begun (ends any read transaction first)."""
    session = db()
    if session.in_transaction():
        session.rollback()
    begin_write(session)
    return session


def scorer() -> BatchScorer:
    """The app's shared scorer (model calls batched across this worker's threads)."""
    ext = current_app.extensions
    found = ext.get("moderator_scorer")
    if found is None:
        st = state()
        found = ext.setdefault("moderator_scorer", BatchScorer(lambda: st.model))
    return found


def committer() -> GroupCommitter:
    """The app's group committer (write transactions of this worker's concurrent submissions shared)."""
    ext = current_app.extensions
    found = ext.get("moderator_committer")
    if found is None:
        st = state()
        url = make_url(st.database_url)
        lock = None
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            lock = url.database + ".writelock"
        found = ext.setdefault("moderator_committer", GroupCommitter(st.sessionmaker, lock, health=st.db_health))
    return found


def now() -> datetime:
    return state().clock()


def authenticate(roles: tuple[str, ...]) -> audit.Actor:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'",
                       headers={"WWW-Authenticate": 'Bearer realm="moderator"'})
    actor = auth.cached_actor(token.strip())  # a key verified in the last 2 s: no database session needed
    if actor is None:
        session = db()
        actor = auth.authenticate(session, token.strip())
        session.rollback()  # end the read transaction; writes start their own
    if actor is None:
        raise ApiError(401, "unauthorized", "invalid or revoked API key",
                       headers={"WWW-Authenticate": 'Bearer realm="moderator", error="invalid_token"'})
    if not auth.role_allows(actor.role, roles):
        raise ApiError(403, "forbidden", f"this endpoint needs one of the roles {', '.join(roles)} "
                       f"(this key has {actor.role})")
    return actor


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: a key given twice is an error, not "the last one wins" (parsers disagree on it)."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key[:50]!r}")
        obj[key] = value
    return obj


def _finite_float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(f"number {raw[:20]} out of range")
    return value


def _check_strings(value: Any, path: str = "") -> None:
    """No lone surrogates (not encodable as UTF-8) and no NUL characters anywhere in the body."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        v, p = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise ApiError(400, "invalid_utf8", "string is not valid Unicode (lone surrogate)", p or None) \
                    from None
            if "\x00" in v:
                raise ApiError(422, "invalid_value", "strings may not contain NUL characters", p or None)
        elif isinstance(v, dict):
            for k, item in v.items():
                stack.append((k, p))
                stack.append((item, f"{p}.{k}" if p else str(k)))
        elif isinstance(v, list):
            stack.extend((item, f"{p}.{i}" if p else str(i)) for i, item in enumerate(v))


def parse_body(model: type[M], optional: bool = False) -> tuple[M, dict[str, Any]]:
    """Validate the request body against ``model``; returns the model and the raw parsed object."""
    raw = request.get_data(cache=True)  # raises 413 over MAX_CONTENT_LENGTH
    if optional and not raw.strip():
        return model.model_validate({}), {}
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    charset = request.mimetype_params.get("charset")
    if charset and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise ApiError(415, "unsupported_media_type", "the only accepted charset is utf-8")
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_utf8", "the body is not valid UTF-8") from None
    try:
        data = json.loads(decoded, parse_constant=_reject_constant, parse_float=_finite_float,
                          object_pairs_hook=_no_duplicate_keys)
    except RecursionError:
        raise ApiError(400, "malformed_json", "the body is nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_type", "the body must be a JSON object")
    _check_strings(data)
    try:
        return model.model_validate(data), data
    except ValidationError as exc:
        raise _validation_error(exc) from None
    except RecursionError:
        raise ApiError(422, "invalid_value", "the body is nested too deeply") from None


def _validation_error(exc: ValidationError) -> ApiError:
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    kind = err.get("type", "")
    if kind == "missing":
        code, message = "missing_field", "this field is required"
    elif kind == "extra_forbidden":
        code, message = "unknown_field", "unknown field"
    elif kind.endswith("_type") or kind in ("model_type", "dict_type", "list_type"):
        code, message = "invalid_type", err.get("msg", "wrong type")
    else:
        code, message = "invalid_value", err.get("msg", "invalid value")
    return ApiError(422, code, message, loc or None)


# Characters that draw nothing: format characters (zero-width space and joiners, BOM, soft hyphen, bidi
# marks, tags), controls, separators, combining marks with no base, and the blank "letters" of Hangul and
# braille. A text made only of these (and whitespace) is empty to a reader.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp", "Mn", "Me"})
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _visible(ch: str) -> bool:
    return not ch.isspace() and ch not in _BLANK_LETTERS and unicodedata.category(ch) not in _INVISIBLE_CATEGORIES


def check_text(value: str, field_name: str) -> None:
    if not any(map(_visible, value)):
        raise ApiError(422, "empty_text", "text must not be empty, whitespace or invisible characters only",
                       field_name)
    limit = current_app.config["MAX_TEXT_CHARS"]
    if len(value) > limit:
        raise ApiError(422, "text_too_long", f"text is longer than {limit} characters", field_name)


def query_args(allowed: set[str]) -> dict[str, str]:
    args = request.args
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise ApiError(422, "unknown_field", f"unknown query parameter {unknown[0]!r}", unknown[0])
    for k in args:
        if len(args.getlist(k)) > 1:
            raise ApiError(422, "invalid_value", "give this parameter once", k)
    _check_strings({k: args[k] for k in args})  # NUL and lone surrogates: the same answer as in a body
    return {k: args[k] for k in args}


def int_arg(args: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not lo <= int(raw) <= hi:
        raise ApiError(422, "invalid_value", f"{name} must be an integer from {lo} to {hi}", name)
    return int(raw)


def time_arg(args: dict[str, str], name: str) -> datetime | None:
    raw = args.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, "invalid_value", f"{name} must be an ISO 8601 date-time", name) from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # A time at the calendar's edge whose UTC instant falls outside years 1..9999: the nearest
        # representable instant selects exactly the same events.
        offset = value.utcoffset()
        edge = datetime.min if offset is not None and offset > timedelta(0) else datetime.max
        return edge.replace(tzinfo=UTC)


def ok(model: type[BaseModel], payload: dict[str, Any], status: int = 200) -> Response:
    if current_app.config.get("VALIDATE_RESPONSES"):
        model.model_validate(payload)
    resp = jsonify(payload)
    resp.status_code = status
    return resp


def comment_id_arg(comment_id: str) -> int:
    if not (comment_id.isascii() and comment_id.isdigit()) or len(comment_id) > 10 or int(comment_id) > INT_MAX:
        raise ApiError(404, "not_found", f"no comment {comment_id[:40]!r}", "id")
    return int(comment_id)


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
    results = []
    for t, p in zip(texts, probs, strict=True):
        scores = {c: float(v) for c, v in p.items()}
        flags = list(st.policy.flags(scores))
        result: dict[str, Any] = {"scores": scores, "flags": flags}
        if body.explain:
            result["explanations"] = {c: [_span(s) for s in st.model.explain(t, c)[:EXPLAIN_MAX_SPANS]]
                                      for c in flags}
        results.append(result)
    return ok(ScoreResponse, {"model_version": version, "results": results})


def _score_limit(key: str, setting: str) -> int:
    """The app's config value (``create_app`` overrides), else the setting, remembered in the config."""
    value = current_app.config.get(key)
    if value is None:
        value = current_app.config.setdefault(key, settings.env_value(setting))
    return int(value)


def _check_score_budget(texts: list[str], explain: bool, field_name: str) -> None:
    """Bound one request's CPU before doing any work: scoring costs about linear time in the characters,
    explaining (up to four categories per text) far more per character. Over budget: 413, never a silent
    truncation."""
    total = sum(len(t) for t in texts)
    limit = _score_limit("MAX_REQUEST_CHARS", "max_request_chars")
    if total > limit:
        raise ApiError(413, "request_too_large", f"the texts hold {total} characters together; at most {limit} "
                       "per request: send them in several requests", field_name)
    limit = _score_limit("MAX_EXPLAIN_CHARS", "max_explain_chars")
    if explain and total > limit:
        raise ApiError(413, "request_too_large", f"the texts hold {total} characters together; explanations are "
                       f"limited to {limit} characters per request: send fewer texts per request with "
                       "explain, or explain=false", "explain")


def _span(s: Any) -> dict[str, Any]:
    return {"start": int(s["start"]), "end": int(s["end"]), "text": str(s["text"]), "weight": float(s["weight"])}


# ---------------------------------------------------------------- submission


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= 200 or not key.isascii() or not key.isprintable():
        raise ApiError(422, "invalid_value", "Idempotency-Key must be 1 to 200 printable ASCII characters",
                       "Idempotency-Key")
    return key


IDEMPOTENCY_PRUNE_EVERY = timedelta(hours=1)


def _idempotency_cutoff(t: datetime) -> datetime:
    """Keys created before this are forgotten (``MODERATOR_IDEMPOTENCY_TTL``)."""
    return t - timedelta(seconds=int(current_app.config["IDEMPOTENCY_TTL"]))


def _prune_due(t: datetime) -> bool:
    """True at most once per ``IDEMPOTENCY_PRUNE_EVERY`` per process: this submission deletes expired keys."""
    ext = current_app.extensions
    last = ext.get("moderator_idempotency_pruned_at")
    if last is not None and t - last < IDEMPOTENCY_PRUNE_EVERY:
        return False
    ext["moderator_idempotency_pruned_at"] = t
    return True


def _replay(session: Session, actor: audit.Actor, key: str, request_hash: str) -> Response | None:
    row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.api_key_id == actor.key_id,
                                                      IdempotencyKey.key == key))
    if row is None or row.created_at < _idempotency_cutoff(now()):
        return None  # never used, or expired: the request is new
    if row.request_hash != request_hash:
        raise ApiError(422, "idempotency_key_reused",
                       "this Idempotency-Key was used with a different request body", "Idempotency-Key")
    resp = jsonify(row.response)
    resp.status_code = 201
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


@endpoint(v1, "/comments", "POST", summary="Submit a comment: score, duplicate check, policy, store, queue",
          roles=("submit",), request_model=SubmitRequest, response=SubmitResponse, status=201,
          errors=(400, 401, 403, 413, 415, 422, 429, 503),
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
    idem = _idempotency_key()
    request_hash = ""
    if idem is not None and actor.key_id is not None:
        request_hash = hashlib.sha256(json.dumps(raw, sort_keys=True, ensure_ascii=False,
                                                 separators=(",", ":")).encode()).hexdigest()
        replay = _replay(db(), actor, idem, request_hash)
        db().rollback()
        if replay is not None:
            return replay
    t = now()
    detector = st.detector
    rate_limited = False
    unavailable: list[str] = []  # checks that could not run: the comment says so (MODERATOR_REDIS_FAIL_MODE)
    if detector is not None:
        try:
            decision = detector.rate_check(body.author_id, t)
        except DependencyUnavailable as exc:  # logged (bounded) by the detector's guard
            _check_unavailable(detector, exc, unavailable, "rate_limit")
            decision = RateDecision(True)
        except Exception:  # degrade: a detector failure must not stop comment intake
            log.exception("rate check failed; accepting the comment without it")
            unavailable.append("rate_limit")
            decision = RateDecision(True)
        if not decision.allowed:
            if st.policy.rate_limit_action == "reject":
                retry = max(1, math.ceil(decision.retry_after))
                raise ApiError(429, "rate_limited", f"too many comments from this author; retry in {retry} s",
                               "author_id", headers={"Retry-After": str(retry)})
            rate_limited = True
    version, probs = scorer().score([body.text])
    scores = probs[0]
    finding = signature = None
    if detector is not None:
        try:
            signature = detector.sign(body.text)  # once, for both check() and record()
            finding = detector.check(body.text, body.author_id, t, signature=signature)
        except DependencyUnavailable as exc:
            _check_unavailable(detector, exc, unavailable, "duplicate_check")
        except Exception:
            log.exception("duplicate check failed; accepting the comment without it")
            unavailable.append("duplicate_check")
    duplicate = finding.to_dict() if finding is not None and finding.is_duplicate else None
    verdict = st.policy.evaluate(scores, duplicate["kind"] if duplicate else None, rate_limited, unavailable)

    cutoff = _idempotency_cutoff(t)
    prune = _prune_due(t)

    def write(session: Session) -> tuple[comments.Stored, dict[str, Any]]:
        """The comment's rows (and its Idempotency-Key): run by the group committer, maybe with others'."""
        stored = comments.store(
            session, actor=actor, now=t, text=body.text, author_id=body.author_id, thread_id=body.thread_id,
            scores=scores, model_version=version, verdict=verdict, duplicate=duplicate,
            external_id=body.external_id, author_ip=body.author_ip, metadata=body.metadata,
        )
        payload = {
            "id": stored.id,
            "status": stored.status,
            "decision": verdict.decision,
            "scores": scores,
            "flags": list(verdict.flags),
            "reasons": list(verdict.reasons),
            "duplicate": duplicate,
            "priority": stored.priority,
            "model_version": version,
            "created_at": t.isoformat(),
        }
        if prune:
            session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
        if idem is not None and actor.key_id is not None:
            session.execute(delete(IdempotencyKey).where(  # this key's expired use, if any, makes room
                IdempotencyKey.api_key_id == actor.key_id, IdempotencyKey.key == idem,
                IdempotencyKey.created_at < cutoff))
            insert_rows(session, IdempotencyKey.__table__, [{
                "api_key_id": actor.key_id, "key": idem, "request_hash": request_hash, "comment_id": stored.id,
                "response": payload, "created_at": t}])
        return stored, payload

    try:
        stored, payload = committer().run(write)  # returns after the COMMIT: the 2xx below means stored
    except (IntegrityError, sqlite3.IntegrityError):
        if idem is None or actor.key_id is None:
            raise
        session = db()
        session.rollback()
        replay = _replay(session, actor, idem, request_hash)  # a concurrent retry committed first
        session.rollback()
        if replay is None:
            raise
        return replay
    if detector is not None:
        try:
            detector.record(stored.id, body.text, body.author_id, t, signature=signature)
        except DependencyUnavailable:  # the comment is stored; the guard has logged the outage
            pass
        except Exception:  # the comment is stored; a detector failure must not turn that into an error
            log.exception("duplicate detector failed to record comment %s", stored.id)
    st.metrics.decision("submission", verdict.decision)
    if refiner is not None and stored.priority is not None:  # queued: the full model re-scores it in the background
        refiner.wake()
    return ok(SubmitResponse, payload, 201)


def _check_unavailable(detector: Any, exc: DependencyUnavailable, unavailable: list[str], check: str) -> None:
    """Fail closed: 503 with Retry-After, nothing stored. Fail open: the comment carries the reason."""
    if getattr(detector, "fail_closed", False):
        raise ApiError(503, "unavailable", f"{exc.dependency} is unavailable, so the {check.replace('_', ' ')} "
                       f"cannot run; retry later", headers={"Retry-After": str(exc.retry_after)})
    unavailable.append(check)


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
    redis = st.detector.redis_health() if hasattr(st.detector, "redis_health") else None  # None: no Redis
    if redis is not None:
        dependencies["redis"] = {"up": redis[0], "detail": "ok" if redis[0] else redis[1]}
    # Redis down makes the service unready only when it fails closed; failing open, the detail says so
    ready = (model_version is not None
             and all(d["up"] for name, d in dependencies.items() if name != "redis")
             and (redis is None or redis[0] or not st.detector.fail_closed))
    payload = {"status": "ready" if ready else "unavailable", "model": model_version,
               "database": database, "dependencies": dependencies}
    if redis is not None:
        payload["redis"] = "ok" if redis[0] else f"down: {redis[1]}"
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


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    resp = jsonify({"error": {"code": code, "message": message, "field": field}})
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
              429: "rate_limited"}


DATABASE_ERRORS = (DatabaseUnavailable, DBAPIError, SQLAlchemyTimeoutError, sqlite3.Error)


def database_error(e: Exception) -> Any:
    """503 with Retry-After when the database is unavailable (JSON, or the error page under /review); any
    other database error is a bug: logged, 500."""
    reason = unavailable_reason(e)
    web_page = request.blueprint == "web"
    if reason is None:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if web_page:
            return render_template("error.html", code=500, title="Internal error",
                                   message="Something went wrong; it was logged."), 500
        return error_response(500, "internal_error", "internal error (logged)", None)
    state().db_health.failed(reason, e)
    retry = str(int(current_app.config["DB_RETRY_AFTER"]))
    if web_page:
        return render_template("error.html", code=503, title="Service unavailable",
                               message=f"The database is unavailable right now ({reason}). Try again in "
                                       f"{retry} seconds."), 503, {"Retry-After": retry}
    return error_response(503, "unavailable", f"the database is unavailable ({reason}); retry later", None,
                          {"Retry-After": retry})


def register(app: Flask) -> None:
    app.register_blueprint(v1)
    app.register_blueprint(ops)

    @app.errorhandler(ApiError)
    def _api_error(e: ApiError) -> Response:
        return error_response(e.status, e.code, e.message, e.field, e.headers)

    @app.errorhandler(review.ReviewError)
    def _review_error(e: review.ReviewError) -> Response:
        status = {"not_found": 404, "conflict": 409, "forbidden": 403, "invalid_cursor": 422}.get(e.code, 400)
        return error_response(status, e.code, e.message, None)

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException) -> Response:
        status = e.code or 500
        headers = {}
        if status == 405 and getattr(e, "valid_methods", None):
            headers["Allow"] = ", ".join(e.valid_methods)  # type: ignore[attr-defined]
        message = {404: "no such endpoint", 413: "the request body is too large"}.get(status, e.description or "")
        return error_response(status, HTTP_CODES.get(status, "http_error"), message, None, headers)

    for db_error in DATABASE_ERRORS:
        app.register_error_handler(db_error, database_error)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal error (logged)", None)

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

    @app.teardown_appcontext
    def _close_db(_exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()


__all__ = ["DATABASE_ERRORS", "ROUTES", "ApiError", "Route", "database_error", "register"]
