"""The Perspective-compatible API: ``POST /v1alpha1/comments:analyze``, ``POST /v1alpha1/comments:suggestscore``
and the discovery document ``GET /$discovery/rest?version=v1alpha1`` (what Google's client builds itself from).

A site that called Perspective changes its base URL and uses an API key of this service (role ``submit`` or
``review``) as ``key=`` in the query string, the ``X-Goog-Api-Key`` header, or ``Authorization: Bearer``.
Every error on these paths is Google's shape, ``{"error": {"code", "message", "status", "details"}}``, never
the service's own. The work is in :mod:`moderator.service.perspective`; docs/perspective.md is the guide.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from moderator.service import keys as auth
from moderator.service import languages, submission
from moderator.service import perspective as api
from moderator.service.audit import Actor
from moderator.web import context
from moderator.web.api.routes import ROUTES, QueryParam, Route
from moderator.web.context import db, now, scorer, state

log = logging.getLogger("moderator.web.api.perspective")

bp = Blueprint("perspective", __name__)
ROLES = ("submit", "review")
ANALYZE = "/v1alpha1/comments:analyze"
SUGGEST = "/v1alpha1/comments:suggestscore"
DISCOVERY = "/$discovery/rest"


# ---------------------------------------------------------------- documented shapes (OpenAPI)


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


Attribute = Any  # one of api.ATTRIBUTES; an unknown one is a 400 with errorType ATTRIBUTE_NOT_SUPPORTED


class TextEntry(_Open):
    text: str = Field(description="The comment (at most MODERATOR_MAX_TEXT_CHARS characters)")
    type: str | None = Field(default=None, description="PLAIN_TEXT (the only type supported)")


class AttributeParameters(_Open):
    scoreType: str | None = Field(default=None, description="PROBABILITY (the only type)")
    scoreThreshold: float | None = Field(default=None, ge=0, le=1,
                                         description="Leave the attribute out of the answer below this score")


class AnalyzeRequestDoc(_Open):
    """Perspective's AnalyzeCommentRequest. Attributes: TOXICITY, SEVERE_TOXICITY, IDENTITY_ATTACK, INSULT,
    PROFANITY, THREAT, SPAM. ``languages``: only English (``en``, ``en-US``...); without it, a comment reliably
    in another language is a 400 LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE. Nothing is stored (unless the service
    runs with MODERATOR_PERSPECTIVE_SUBMIT and doNotStore is not true)."""

    comment: TextEntry
    requestedAttributes: dict[str, AttributeParameters]
    languages: list[str] | None = None
    doNotStore: bool | None = None
    spanAnnotations: bool | None = None
    clientToken: str | None = None
    sessionId: str | None = None
    communityId: str | None = None
    context: dict[str, Any] | None = None


class Score(_Open):
    value: float
    type: str


class SpanScore(_Open):
    begin: int
    end: int
    score: Score


class AttributeScores(_Open):
    summaryScore: Score
    spanScores: list[SpanScore] | None = None


class AnalyzeResponseDoc(_Open):
    attributeScores: dict[str, AttributeScores]
    languages: list[str]
    detectedLanguages: list[str]
    clientToken: str | None = None


class SummaryValue(_Open):
    value: float = Field(ge=0, le=1, description="The caller's label: 0 (not the attribute) or 1")


class SuggestedScore(_Open):
    summaryScore: SummaryValue


class SuggestRequestDoc(_Open):
    """Perspective's SuggestCommentScoreRequest: stored as a labelled example (``moderator export-labels``); the
    same (communityId, clientToken) again updates it."""

    comment: TextEntry
    attributeScores: dict[str, SuggestedScore]
    languages: list[str] | None = None
    communityId: str | None = None
    clientToken: str | None = None
    sessionId: str | None = None
    context: dict[str, Any] | None = None


class SuggestResponseDoc(_Open):
    requestedLanguages: list[str]
    detectedLanguages: list[str]
    clientToken: str | None = None


class GoogleErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: int
    message: str
    status: str
    details: list[dict[str, Any]]


class GoogleError(BaseModel):
    """Google's error body (every error on the Perspective-compatible paths)."""

    model_config = ConfigDict(extra="forbid")

    error: GoogleErrorDetail


class DiscoveryDoc(_Open):
    kind: str
    rootUrl: str
    resources: dict[str, Any]


KEY_PARAM = QueryParam("key", "An API key of this service (role submit or review); or the X-Goog-Api-Key header, "
                              "or Authorization: Bearer", {"type": "string", "maxLength": 200})
KEY_HEADER = QueryParam("X-Goog-Api-Key", "An API key of this service (instead of key=)")
ERRORS = (400, 401, 403, 413, 429, 503)


# ---------------------------------------------------------------- auth and errors


def _actor() -> Actor:
    """The caller's key: ``key=``, then ``X-Goog-Api-Key``, then ``Authorization: Bearer`` (never logged)."""
    token = request.args.get("key") or request.headers.get("X-Goog-Api-Key")
    if not token:
        scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
        token = bearer if scheme.lower() == "bearer" else ""
    token = token.strip()
    if not token:
        raise api.key_missing()
    actor = auth.cached_actor(token)
    if actor is None:
        session = db()
        actor = auth.authenticate(session, token)
        session.rollback()
    if actor is None:
        raise api.key_invalid()
    if not auth.role_allows(actor.role, ROLES):
        raise api.key_forbidden(actor.role)
    return actor


def _google(resp: Response, code: int, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    out = jsonify(api.error_body(code, message, details or []))
    out.status_code = code
    for name in ("Retry-After", "Allow"):
        if name in resp.headers:
            out.headers[name] = resp.headers[name]
    return out


def _ours(path: str) -> bool:
    return path.startswith(api.PREFIX) or path.startswith("/$discovery/")


# ---------------------------------------------------------------- routes


def _body() -> dict[str, Any]:
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: 413, turned into Google's shape
    return api.parse_json(raw)


def _score(text: str) -> tuple[str, dict[str, float]]:
    version, probs = scorer().score([text])
    return version, probs[0]


def analyze() -> Response:
    actor = _actor()
    cfg = current_app.config
    req = api.parse_analyze(_body(), int(cfg["MAX_TEXT_CHARS"]))
    if req.span_annotations and len(req.text) > int(cfg["MAX_EXPLAIN_CHARS"]):
        raise api.invalid(f"spanAnnotations is limited to comments of {int(cfg['MAX_EXPLAIN_CHARS'])} characters.",
                          "COMMENT_TOO_LONG")
    st = state()
    detect = languages.checker(st.settings)
    guess = detect(req.text) if detect is not None else None
    langs = api.check_languages(req.languages, guess, list(req.attributes))
    if cfg["PERSPECTIVE_SUBMIT"] and not req.do_not_store:
        version, scores = _submit(actor, req)
    else:
        version, scores = _score(req.text)
    payload = api.analyze_response(req, scores, langs, api.detected_languages(guess),
                                   st.model.explain if req.span_annotations else None)
    resp = jsonify(payload)
    resp.headers["X-Moderator-Model-Version"] = version
    return resp


def _submit(actor: Actor, req: api.AnalyzeRequest) -> tuple[str, dict[str, float]]:
    """MODERATOR_PERSPECTIVE_SUBMIT: the comment enters the service like POST /v1/comments (communityId as
    thread, clientToken as external id, sessionId -- else the client token -- as author)."""
    from moderator.web.api.routes import _submission_service

    author = req.session_id or req.client_token or "perspective"
    comment = submission.Comment(req.text, author[:200], (req.community_id or "perspective")[:200],
                                 req.client_token, None, {"source": "perspective"})
    try:
        outcome = submission.submit(_submission_service(state()), actor, comment, None,
                                    current_app.extensions.get("moderator_refiner"))
    except submission.RateLimited as exc:
        raise api.PerspectiveError(429, exc.message, headers={"Retry-After": str(exc.retry_after)}) from None
    except submission.Unavailable as exc:
        raise api.PerspectiveError(503, exc.message, headers={"Retry-After": str(exc.retry_after)}) from None
    return str(outcome.payload["model_version"]), dict(outcome.payload["scores"])


def suggestscore() -> Response:
    actor = _actor()
    req = api.parse_suggest(_body(), int(current_app.config["MAX_TEXT_CHARS"]))
    st = state()
    detect = languages.checker(st.settings)
    guess = detect(req.text) if detect is not None else None
    version, scores = _score(req.text)
    labels = api.suggestion_labels(req.attributes, st.policy.flags(scores))
    for attempt in (1, 2):  # a concurrent first suggestion with the same token: the second one updates it
        session = context.write_db()
        try:
            api.store_suggestion(session, req, labels=labels, scores=scores, model_version=version,
                                 actor_ref=actor.ref, now=now())
            session.commit()
            break
        except IntegrityError:
            session.rollback()
            if attempt == 2:
                raise
    return jsonify(api.suggest_response(req, api.detected_languages(guess)))


def discovery() -> Response:
    version = request.args.get("version", api.VERSION)
    if version != api.VERSION:
        raise api.PerspectiveError(404, f"Discovery document not found for API service: commentanalyzer "
                                        f"version {version[:40]}")
    return jsonify(api.discovery_document(request.host_url))


def _declare(rule: str, method: str, view: Any, summary: str, request_model: type[BaseModel] | None,
             response: type[BaseModel], roles: tuple[str, ...] | None, query: tuple[QueryParam, ...],
             headers: tuple[QueryParam, ...] = (), errors: tuple[int, ...] = ERRORS) -> None:
    """Add the route, and declare it in the OpenAPI document (``ROUTES``); authentication is the view's own."""
    ROUTES.append(Route(rule, method, f"perspective.{view.__name__}", summary, roles, request_model, response, 200,
                        query=query, errors=errors, headers=headers, error=GoogleError))
    bp.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=[method])


_declare(ANALYZE, "POST", analyze, "Perspective API: score a comment for the requested attributes",
         AnalyzeRequestDoc, AnalyzeResponseDoc, ROLES, (KEY_PARAM,), (KEY_HEADER,))
_declare(SUGGEST, "POST", suggestscore, "Perspective API: store a site's label for a comment (training data)",
         SuggestRequestDoc, SuggestResponseDoc, ROLES, (KEY_PARAM,), (KEY_HEADER,))
_declare(DISCOVERY, "GET", discovery, "The commentanalyzer v1alpha1 discovery document (for Google's clients)",
         None, DiscoveryDoc, None,
         (QueryParam("version", "v1alpha1", {"type": "string", "enum": [api.VERSION]}),), errors=(404,))


def register(app: Flask) -> None:
    """Add the routes, and answer every error on their paths in Google's shape."""
    app.register_blueprint(bp)

    @app.errorhandler(api.PerspectiveError)
    def _perspective_error(e: api.PerspectiveError) -> Response:
        resp = jsonify(e.body())
        resp.status_code = e.code
        resp.headers.update(e.headers)
        return resp

    @app.after_request
    def _google_errors(resp: Response) -> Response:
        """The service's own error answers (404, 405, 413, 503, 500 from the app-wide handlers) on these
        paths, rewritten in Google's shape; 422 becomes 400 INVALID_ARGUMENT, Google's code for it."""
        if resp.status_code < 400 or not _ours(request.path) or not resp.is_json:
            return resp
        body = resp.get_json(silent=True)
        err = body.get("error") if isinstance(body, dict) else None
        if not isinstance(err, dict) or "status" in err:
            return resp  # already Google's
        if resp.status_code >= 500:
            log.warning("%s %s?%s answered %s", request.method, request.path,
                        api.redact_query(request.query_string.decode("latin-1")), resp.status_code)
        code = 400 if resp.status_code in (413, 415, 422) else resp.status_code
        return _google(resp, code, str(err.get("message", "")))


__all__ = ["ANALYZE", "DISCOVERY", "SUGGEST", "bp", "register"]
