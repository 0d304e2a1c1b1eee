"""The moderators' pages under ``/review``: sign-in, the queue, one comment, the overview.

Server-rendered (Jinja2, autoescaped) with one small static script for keyboard shortcuts. Claims and
decisions go through :func:`moderator.service.queue.claim` / :func:`moderator.service.queue.perform`, exactly as the
JSON
API's; a signed-in moderator acts as ``user:<name>`` (:func:`moderator.service.users.actor_for`).

Security: server-side sessions (``moderator_sessions``: the signed Flask cookie holds only a random token, so
signing out ends the session for every copy of the cookie), the cookie HttpOnly, SameSite=Lax, Secure when
``MODERATOR_SECURE_COOKIES``, a persistent ``SECRET_KEY`` (``MODERATOR_SECRET_KEY`` or
``$MODERATOR_HOME/secret_key``, generated once), Flask-WTF CSRF tokens on every form of this blueprint only
(the JSON API uses bearer keys and is not checked), a Flask-Limiter limit on failed sign-ins per client
address and user name, and a strict Content-Security-Policy with no inline script or style on every
``/review`` response.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException

from moderator import CATEGORIES
from moderator.config import SETTINGS
from moderator.metrics import set_dependency_up
from moderator.service import comments, lifecycle, users
from moderator.service import queue as review
from moderator.service.reasons import category_of
from moderator.storage.models import INT_MAX, Comment, ModeratorUser, ReviewItem
from moderator.web.context import db, now, state, write_db
from moderator.web.review import queries as q

log = logging.getLogger("moderator.web.review.views")

bp = Blueprint("web", __name__, url_prefix="/review", template_folder="templates", static_folder="static",
               static_url_path="/static")
csrf = CSRFProtect()

CSP = ("default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
PAGE_SIZE = 25
MAX_BULK = 200
OPEN_ENDPOINTS = {"web.login", "web.static"}


# ---------------------------------------------------------------- set-up


def init_app(app: Flask) -> None:
    """Secret key, session cookies, CSRF (this blueprint only), the sign-in limiter; then the blueprint."""
    cfg = app.config  # every setting is there (moderator.web.app.create_app)
    if not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = load_or_create_secret(Path(cfg["MODERATOR_HOME"]) / "secret_key")
    cfg["SESSION_COOKIE_NAME"] = "moderator_session"
    cfg["SESSION_COOKIE_HTTPONLY"] = True
    cfg["SESSION_COOKIE_SAMESITE"] = "Lax"
    cfg["SESSION_COOKIE_SECURE"] = bool(cfg["SECURE_COOKIES"])
    cfg["SESSION_COOKIE_PATH"] = "/review"
    cfg["PERMANENT_SESSION_LIFETIME"] = int(cfg["SESSION_HOURS"]) * 3600
    cfg["WTF_CSRF_CHECK_DEFAULT"] = False  # checked in this blueprint's before_request only
    cfg.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid as long as the session: moderators work for hours
    csrf.init_app(app)

    # Redis unreachable: count in this process's memory meanwhile (in_memory_fallback), never fail the page;
    # the client's timeouts bound what a sign-in waits for Redis, the fallback is reported (_login_storage)
    storage_uri = limiter_storage(cfg)
    options: dict[str, Any] = {}
    if storage_uri.startswith(REDIS_SCHEMES):
        from moderator.dedup.redis_index import client_options

        options = client_options(float(cfg["REDIS_TIMEOUT"]))
    app.extensions["moderator_login_storage"] = {"redis": storage_uri.startswith(REDIS_SCHEMES), "dead": False}
    limiter = Limiter(get_remote_address, storage_uri=storage_uri, default_limits=[], storage_options=options,
                      key_prefix="moderator:login:", swallow_errors=True, in_memory_fallback_enabled=True)
    with _hooks_scoped_to(app, bp.name):  # the JSON API's hot path never runs the limiter's hooks
        limiter.init_app(app)
    app.extensions["moderator_web"] = limiter
    app.after_request(_security_headers)
    app.session_interface = ReviewPageSessions()
    app.jinja_env.filters["when"] = _when
    from moderator.web.review import (
        people,  # noqa: F401  (author, reported and rules pages join bp)
        webhooks,  # noqa: F401 - the admins' delivery log joins bp before registration
    )

    app.register_blueprint(bp)
    if cfg["LOGIN_RATE_LIMIT"]:
        # this app's sign-in view, wrapped by this app's limiter (each app has its own counters);
        # only failed attempts count (a successful sign-in answers 303)
        app.view_functions["web.login"] = limiter.limit(
            cfg["LOGIN_RATE_LIMIT"], key_func=login_key, methods=["POST"],
            deduct_when=lambda resp: resp.status_code != 303)(login)


def _is_review_path(path: str) -> bool:
    return path == "/review" or path.startswith("/review/")


class ReviewPageSessions(SecureCookieSessionInterface):
    """Cookie sessions for the review pages only.

    The session cookie's path is ``/review``, so browsers never send it to the JSON API; opening (and
    considering saving) a signed-cookie session on every API request only cost time on the submission hot
    path. Elsewhere requests get Flask's null session, which refuses writes.
    """

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:  # type: ignore[override]
        if not _is_review_path(request.path):
            return self.make_null_session(app)
        return super().open_session(app, request)


@contextmanager
def _hooks_scoped_to(app: Flask, blueprint: str) -> Iterator[None]:
    """Request hooks an extension adds to the whole app inside this block run for ``blueprint`` only."""
    tables: tuple[dict[Any, list[Any]], ...] = (app.before_request_funcs, app.after_request_funcs,
                                                app.teardown_request_funcs)
    before = [len(t.get(None, [])) for t in tables]
    yield
    for table, n in zip(tables, before, strict=True):
        added = table.get(None, [])[n:]
        if added:
            del table[None][n:]
            table.setdefault(blueprint, []).extend(added)


REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+unix://")


@bp.after_request
def _login_storage(resp: Response) -> Response:
    """Report the sign-in limiter falling back to memory (Redis failed) or recovering in
    ``moderator_dependency_up{dependency="redis"}``; flask-limiter logs both once itself."""
    seen = current_app.extensions.get("moderator_login_storage")
    if seen and seen["redis"]:
        dead = bool(getattr(current_app.extensions.get("moderator_web"), "_storage_dead", False))
        if dead != seen["dead"]:
            seen["dead"] = dead
            set_dependency_up("redis", not dead)
    return resp


def limiter_storage(cfg: Any) -> str:
    """``MODERATOR_LOGIN_LIMIT_STORAGE``: a limits storage URI; ``redis`` means ``MODERATOR_REDIS_URL``;
    empty means Redis when the duplicate detector uses it (``MODERATOR_DUP_BACKEND=redis``), else memory."""
    raw = str(cfg.get("LOGIN_LIMIT_STORAGE") or "").strip()
    redis_url = cfg.get("REDIS_URL") or _default("redis_url")
    if raw == "redis" or (not raw and (cfg.get("DUP_BACKEND") or _default("dup_backend")) == "redis"):
        return str(redis_url)
    return raw or "memory://"


def _default(name: str) -> Any:
    return next(s.default for s in SETTINGS if s.name == name)


def load_or_create_secret(path: Path) -> str:
    """The key in ``path``; created (random, mode 0600) when missing. Safe when several workers race: the
    file appears atomically (hard link of a complete temporary file), the loser reads the winner's key."""
    for _ in range(50):
        try:
            value = path.read_text(encoding="ascii").strip()
            if value:
                return value
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_hex(32) + "\n")
            try:
                os.link(tmp, path)
            except FileExistsError:
                continue
        finally:
            os.unlink(tmp)
    raise RuntimeError(f"could not read or create the secret key file {path}")


def login_key() -> str:
    name = (request.form.get("username") or "").strip().lower()[:64]
    return f"{get_remote_address()}|{name}"


def _security_headers(resp: Response) -> Response:
    if request.blueprint == "web" or request.path == "/review" or request.path.startswith("/review/"):
        for k, v in SECURITY_HEADERS.items():
            resp.headers.setdefault(k, v)
        if request.endpoint != "web.static":
            resp.headers.setdefault("Cache-Control", "no-store")
    return resp


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "-"


# ---------------------------------------------------------------- guard and helpers


@bp.before_request
def _guard() -> Any:
    if request.method == "POST":
        csrf.protect()  # raises CSRFError (400) without a valid token
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    user = _load_user()
    if user is None:
        return redirect(url_for("web.login", next=_safe_next(request.full_path)), 303)
    return None


def _load_user() -> ModeratorUser | None:
    """The account of this request's server-side session (``users.session_user``), or None."""
    token = session.get("sid")
    if not isinstance(token, str):
        return None
    s = db()
    user = users.session_user(s, token, now())
    if user is None:  # signed out, expired, password changed or account disabled
        s.rollback()
        session.clear()
        return None
    g.actor = users.actor_for(user)
    g.user_name, g.user_role = user.name, user.role
    s.rollback()  # end the read transaction; writes start their own
    return user


def _safe_next(target: str | None) -> str | None:
    """Only local /review paths (never //host or a scheme): no open redirect."""
    if not target:
        return None
    target = target.rstrip("?")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/review") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return None
    return target


def _form_str(name: str, limit: int = 2000) -> str:
    return (request.form.get(name) or "")[:limit]


def _int_or_none(raw: str | None) -> int | None:
    if raw and raw.isascii() and raw.isdigit() and len(raw) <= 9:
        return int(raw)
    return None


@bp.app_context_processor
def _inject() -> dict[str, Any]:
    reasons = [(r.code, r.label, r.category) for r in state().policy.reject_reasons]  # the policy file's
    return {"categories": CATEGORIES, "category_label": q.category_label, "category_letter": q.category_letter,
            "reject_reasons": reasons, "reason_parts": lambda reason: q.reason_parts(reason, reasons)}


# ---------------------------------------------------------------- errors


@bp.errorhandler(CSRFError)
def _csrf_error(e: CSRFError) -> tuple[str, int]:
    return render_template("error.html", code=400, title="Form refused",
                           message="This form was refused: its security token is missing or invalid. Reload the "
                                   "page and try again."), 400


@bp.errorhandler(429)
def _too_many(e: HTTPException) -> tuple[str, int]:
    return render_template("login.html", error="Too many failed sign-in attempts. Wait a minute and try again.",
                           next=_safe_next(request.args.get("next")), username=""), 429


@bp.errorhandler(HTTPException)
def _http_error(e: HTTPException) -> tuple[str, int]:
    code = e.code or 500
    return render_template("error.html", code=code, title=e.name, message=e.description), code


@bp.errorhandler(Exception)
def _unexpected(e: Exception) -> tuple[str, int]:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return render_template("error.html", code=500, title="Internal error",
                           message="Something went wrong; it was logged."), 500


# ---------------------------------------------------------------- sign-in


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", error=None, next=next_url, username="")
    name = _form_str("username", 200).strip()
    password = _form_str("password", users.MAX_PASSWORD_CHARS + 1)
    s = db()
    user = users.check_credentials(s, name, password)
    uid = user.id if user is not None else None
    s.rollback()
    if uid is None:
        return render_template("login.html", error="Unknown name or wrong password.", next=next_url,
                               username=name[:64]), 401
    s = write_db()
    user = users.get_user(s, uid)
    assert user is not None
    t = now()
    users.record_login(s, user, password, t)
    previous = session.get("sid")
    if isinstance(previous, str):  # signing in again in this browser replaces its session
        users.end_session(s, previous)
    token = users.start_session(s, user, t, timedelta(hours=int(current_app.config["SESSION_HOURS"])))
    s.commit()
    session.clear()
    session["sid"] = token
    session.permanent = True
    return redirect(next_url or url_for("web.queue"), 303)


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    """End this session on the server (a saved copy of the cookie opens nothing afterwards); the account's
    other sessions, e.g. on another device, stay signed in."""
    token = session.get("sid")
    if isinstance(token, str):
        s = write_db()
        users.end_session(s, token)
        s.commit()
    session.clear()
    flash("Signed out.", "ok")
    return redirect(url_for("web.login"), 303)


# ---------------------------------------------------------------- the queue


def _item_view(item: Any, comment: Any, scores: dict[str, float], t: datetime) -> dict[str, Any]:
    st = state()
    flags = list(comment.flags or [])
    spans = q.explain_flags(st.model, comment.text, flags)
    claimed = review.claim_active(item, t) if item is not None else False
    return {
        "item": item,
        "comment": comment,
        "scores": sorted(scores.items(), key=lambda kv: -kv[1]),
        "flags": flags,
        "segments": q.highlight_segments(comment.text, spans),
        "age": q.age(comment.created_at, t),
        "claimed": claimed,
        "claimed_by": (item.claimed_by or "").removeprefix("user:") if claimed else None,
        "claim_left": q.age(t, item.claimed_until) if claimed and item.claimed_until else None,
        "actions": review.actions_for(item, g.actor, t) if item is not None else [],
    }


def _queue_filters() -> tuple[str, str | None, str | None]:
    args = request.args
    status = args.get("status", "pending")
    if status not in review.STATUSES:
        status = "pending"
    category = args.get("category") or None
    if category not in CATEGORIES:
        category = None
    thread = (args.get("thread") or "").strip()[:200] or None
    return status, category, thread


@bp.route("/")
def queue() -> Any:
    status, category, thread = _queue_filters()
    cursor = request.args.get("cursor") or None
    s = db()
    t = now()
    decided: dict[int, Any] = {}
    try:
        if status == "pending":
            page = review.list_queue(s, status=status, category=category, thread_id=thread, cursor=cursor,
                                     limit=PAGE_SIZE)
            rows, next_cursor = page.items, page.next_cursor
        else:  # approved / rejected: newest decision first, with who, why and when
            dpage = q.decided_page(s, status, category, thread, cursor, PAGE_SIZE)
            rows = [(item, c) for item, c, _ in dpage.items]
            decided = {c.id: d for _, c, d in dpage.items}
            next_cursor = dpage.next_cursor
    except review.InvalidCursor:
        abort(400, "invalid cursor")
    scores = comments.scores_for(s, [c.id for _, c in rows])
    views = [_item_view(item, c, scores[c.id], t) for item, c in rows]
    authors = q.author_summaries(s, [c.author_id for _, c in rows])
    replies = q.replies_for(s, [c for _, c in rows])
    contexts = {c.id: q.comment_context(None, c) for _, c in rows}
    depth = review.pending_count(s)  # the read transaction ends at teardown (a rollback now would expire
    # every loaded row and make the template reload them one by one)
    shown = review.queue_count(s, status, category, thread)  # what the filters select (the header's count)
    newest = int(s.scalar(select(func.max(ReviewItem.id))) or 0)
    filters = {k: v for k, v in (("status", status if status != "pending" else None), ("category", category),
                                 ("thread", thread)) if v}
    params: dict[str, Any] = {**filters, **({"cursor": cursor} if cursor else {})}
    here = url_for("web.queue", **params)
    poll_params: dict[str, Any] = {k: v for k, v in filters.items() if k != "status"}
    kept = {i for i in session.pop("bulk_selection", []) if isinstance(i, int)} if "bulk_selection" in session \
        else set()
    return render_template("queue.html", views=views, authors=authors, status=status, category=category,
                           thread=thread or "", next_cursor=next_cursor, filters=filters, here=here,
                           depth=depth, shown=shown, page="queue", decided=decided, replies=replies,
                           contexts=contexts, kept=kept, newest=newest,
                           poll_url=url_for("web.queue_new", **poll_params))


@bp.route("/queue/new")
def queue_new() -> Any:
    """How many pending items (under the queue's filters) arrived after item ``after``: the queue page polls
    this and offers them in a bar, without reloading by itself."""
    _, category, thread = _queue_filters()
    after = _int_or_none(request.args.get("after")) or 0
    n, newest = q.newer_pending(db(), after, category, thread)
    return {"count": n, "newest": newest, "pending": review.pending_count(db())}


@bp.route(f"/comments/<int(max={INT_MAX}):comment_id>")  # a larger id names no comment: 404
def comment_page(comment_id: int) -> Any:
    """One comment. Opening it claims nothing: the moderator claims it with the Claim button or by starting
    a reject (the page's script), and the claim is released when they move on (see :func:`release`)."""
    t = now()
    s = db()
    comment = s.get(Comment, comment_id)
    if comment is None:
        abort(404, f"There is no comment {comment_id}.")
    item = s.scalar(select(ReviewItem).where(ReviewItem.comment_id == comment_id))
    view = _item_view(item, comment, comments.scores_for(s, [comment_id])[comment_id], t)
    prev_id, next_id = q.neighbours(s, item) if item is not None else (None, None)
    history = review.history(s, comment_id)
    context = {
        "v": view,
        "ctx": q.comment_context(s, comment),
        "history": history,
        "earlier_texts": [h for h in history if h.action == "edited" and (h.data or {}).get("previous_text")],
        "may_reopen": g.actor.can_review and comment.state in lifecycle.REOPENABLE,
        "decisions": review.decisions(s, comment_id),
        "audit_events": q.audit_for_comment(s, comment_id),
        "author": q.author_history(s, comment.author_id, exclude_id=comment_id),
        "thread_comments": q.thread_comments(s, comment.thread_id, exclude_id=comment_id),
        "prev_id": prev_id,
        "next_id": next_id,
        "page": "comment",
        "here": url_for("web.comment_page", comment_id=comment_id),
    }
    return render_template("comment.html", **context)


def _wants_json() -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


@bp.route(f"/comments/<int(max={INT_MAX}):comment_id>/claim", methods=["POST"])
def claim(comment_id: int) -> Any:
    """Claim an item for ``MODERATOR_CLAIM_TTL`` (the Claim button, or the script when a reject starts)."""
    back = _safe_next(request.form.get("next")) or url_for("web.comment_page", comment_id=comment_id)
    ws = write_db()
    try:
        item = review.claim(ws, comment_id, g.actor, now(), current_app.config["CLAIM_TTL"])
        version, until = item.version, item.claimed_until
        ws.commit()
    except review.NotFound as exc:
        ws.rollback()
        abort(404, exc.message)
    except review.ReviewError as exc:
        ws.rollback()
        if _wants_json():
            return {"error": exc.message}, 409
        flash(f"Not claimed: {exc.message}.", "error")
        return redirect(back, 303)
    if _wants_json():
        return {"version": version, "claimed_until": until.isoformat() if until else None}
    return redirect(back, 303)


@bp.route(f"/comments/<int(max={INT_MAX}):comment_id>/release", methods=["POST"])
def release(comment_id: int) -> Any:
    """Give up my claim: sent by the comment page's script when the moderator moves on (``j``/``k``, a link,
    closing the tab: ``navigator.sendBeacon`` on ``pagehide``) or by the Release button. Nothing to release
    is not an error (204 either way); the claim's TTL is the backstop when no request arrives."""
    ws = write_db()
    try:
        released = review.release(ws, comment_id, g.actor, now())
    except review.NotFound as exc:  # id 0
        ws.rollback()
        abort(404, exc.message)
    ws.commit()
    back = _safe_next(request.form.get("next"))
    if back:
        if released:
            flash(f"Released #{comment_id}.", "ok")
        return redirect(back, 303)
    return Response(status=204)


# ---------------------------------------------------------------- decisions


def _decision_input() -> tuple[str, str | None, list[str]]:
    action = request.form.get("action", "")
    if action not in review.ACTIONS:
        abort(400, "action must be approve or reject")
    code = request.form.get("reason") or None
    note = _form_str("note", 1800)
    reason_categories = category_of(state().policy.reject_reasons)
    if action == "reject":
        if code not in reason_categories:
            raise _InputError("Choose a reason to reject.")
        if code == "other" and not note.strip():
            raise _InputError("Say why when the reason is 'Other'.")
    checked = [c for c in request.form.getlist("categories") if c in CATEGORIES]
    reason, cats = q.decision_fields(action, code, note, checked, reason_categories)
    return action, reason, cats


class _InputError(Exception):
    pass


def _decide(comment_id: int, action: str, reason: str | None, cats: list[str], version: int | None) -> str | None:
    """Run one decision in its own transaction; None on success, else the refusal message."""
    s = write_db()
    try:
        review.perform(s, comment_id, g.actor, action, now(), reason, cats, version)
        s.commit()
    except review.ReviewError as exc:
        s.rollback()
        return exc.message
    state().metrics.decision("moderator", action)
    return None


@bp.route(f"/comments/<int(max={INT_MAX}):comment_id>/decision", methods=["POST"])
def decide(comment_id: int) -> Any:
    back = _safe_next(request.form.get("next")) or url_for("web.comment_page", comment_id=comment_id)
    try:
        action, reason, cats = _decision_input()
    except _InputError as exc:
        flash(str(exc), "error")
        return redirect(back, 303)
    error = _decide(comment_id, action, reason, cats, _int_or_none(request.form.get("version")))
    if error is not None:
        flash(f"Not changed: {error}.", "error")
        return redirect(back, 303)
    flash(f"{'Approved' if action == 'approve' else 'Rejected'} #{comment_id}.", "ok")
    after = _safe_next(request.form.get("after"))
    return redirect(after or back, 303)


@bp.route(f"/comments/<int(max={INT_MAX}):comment_id>/reopen", methods=["POST"])
def reopen(comment_id: int) -> Any:
    """Put a decided comment back in the queue (audited as this moderator; emits comment.reopened)."""
    back = url_for("web.comment_page", comment_id=comment_id)
    s = write_db()
    try:
        lifecycle.reopen(s, g.actor, comment_id, now(), state().policy, _form_str("note", 1800).strip() or None)
        s.commit()
    except review.ReviewError as exc:
        s.rollback()
        if isinstance(exc, review.NotFound):
            abort(404, exc.message)
        flash(f"Not reopened: {exc.message}.", "error")
        return redirect(back, 303)
    flash(f"Reopened #{comment_id}: it is back in the queue.", "ok")
    return redirect(back, 303)


@bp.route("/bulk", methods=["POST"])
def bulk() -> Any:
    back = _safe_next(request.form.get("next")) or url_for("web.queue")
    ids = [i for i in (_int_or_none(x) for x in request.form.getlist("ids")) if i is not None]
    ids = list(dict.fromkeys(ids))
    if not ids:
        flash("Select at least one comment.", "error")
        return redirect(back, 303)
    if len(ids) > MAX_BULK:
        flash(f"Select at most {MAX_BULK} comments at a time.", "error")
        return redirect(back, 303)
    try:
        action, reason, cats = _decision_input()
    except _InputError as exc:
        flash(str(exc), "error")
        session["bulk_selection"] = ids  # the queue ticks them again: nothing was done, nothing is lost
        return redirect(back, 303)
    done: list[tuple[int, str | None]] = []
    failed: list[tuple[int, str | None]] = []
    for cid in ids:
        error = _decide(cid, action, reason, cats, None)
        (done if error is None else failed).append((cid, error))
    verb = "Approved" if action == "approve" else "Rejected"
    if done:
        flash(f"{verb} {len(done)} comment{'s' if len(done) != 1 else ''}: "
              + ", ".join(f"#{c}" for c, _ in done) + ".", "ok")
    for cid, error in failed:
        flash(f"#{cid} not changed: {error}.", "error")
    return redirect(back, 303)


# ---------------------------------------------------------------- overview


@bp.route("/overview")
def overview() -> Any:
    s = db()
    t = now()
    data = q.overview(s, t)
    st = state()
    return render_template("overview.html", o=data, model_version=st.model.version,
                           thresholds=dict(st.policy.thresholds), policy_mode=st.policy.mode,
                           oldest_age=q.age(data.oldest_pending, t) if data.oldest_pending else None,
                           max_day=max([a + r for _, a, r in data.per_day] or [0]), page="overview",
                           depth=data.queue_depth)


@bp.route("/<path:_rest>")
def not_found(_rest: str) -> Any:
    """Any other path under /review: an HTML 404 (after the sign-in check, so nothing is revealed)."""
    abort(404, "There is no such page.")


__all__ = ["CSP", "SECURITY_HEADERS", "bp", "init_app", "limiter_storage", "load_or_create_secret"]
