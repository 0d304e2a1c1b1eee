"""Per-request access to the service: the state the app holds, the request's database session, the clock,
the shared scorer and group committer, and the API-key check. Used by the JSON API and the review pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, current_app, g, request
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from moderator.service import audit
from moderator.service import keys as auth
from moderator.service.group_commit import GroupCommitter
from moderator.service.reload import Reloader
from moderator.service.scoring import BatchScorer
from moderator.storage.db import begin_write
from moderator.web.api.parsing import ApiError

STATE = "moderator"
SCORER = "moderator_scorer"
COMMITTER = "moderator_committer"
RELOADER = "moderator_reloader"
# app.extensions entries built from one ServiceState (the BatchScorer holds the state it was made with):
# dropped when a model reload swaps the state, so that the next request builds them over the new state.
INTAKE = "moderator_intake_scorer"
DERIVED_EXTENSIONS = (SCORER, INTAKE)


def state() -> Any:
    return current_app.extensions[STATE]


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
    found = ext.get(SCORER)
    if found is None:
        st = state()
        found = ext.setdefault(SCORER, BatchScorer(lambda: st.model))
    return found


def submit_scorer() -> Any:
    """What scores submissions: in ``auto`` mode an :class:`~moderator.service.intake.IntakeScorer` (the full
    model within the latency budget, else the fast path), otherwise the shared :func:`scorer`."""
    st = state()
    if st.fast_model is None or st.full_model is None or st.model is not st.full_model:
        return scorer()
    ext = current_app.extensions
    found = ext.get(INTAKE)
    if found is None:
        from moderator.service.intake import IntakeScorer

        budget = float(current_app.config["INTAKE_BUDGET_MS"]) / 1000.0
        found = ext.setdefault(INTAKE, IntakeScorer(scorer(), BatchScorer(lambda: st.fast_model), budget))
    return found


def committer() -> GroupCommitter:
    """The app's group committer (write transactions of this worker's concurrent submissions shared)."""
    ext = current_app.extensions
    found = ext.get(COMMITTER)
    if found is None:
        st = state()
        url = make_url(st.database_url)
        lock = None
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            lock = url.database + ".writelock"
        found = ext.setdefault(COMMITTER, GroupCommitter(st.sessionmaker, lock, health=st.db_health))
    return found


def now() -> datetime:
    return state().clock()


SITE = "moderator_site_policy"


def site_policy() -> Any:
    """The app's site phase (:class:`moderator.service.site_policy.SitePolicy`): author policy settings and this
    worker's compiled watched-word rules."""
    ext = current_app.extensions
    found = ext.get(SITE)
    if found is None:
        from moderator.service import site_policy as site
        from moderator.service.rules import RuleBook

        settings = state().settings
        found = ext.setdefault(SITE, site.SitePolicy(site.Settings.from_settings(settings),
                                                     RuleBook(float(settings.rules_refresh))))
    return found

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



def reloader() -> Reloader:
    """This worker's model reloader (``moderator.service.reload``)."""
    return current_app.extensions[RELOADER]


def init_app(app: Flask) -> None:
    """Close the request's database session at the end of the request."""

    @app.teardown_appcontext
    def _close_db(_exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()


__all__ = ["DERIVED_EXTENSIONS", "authenticate", "committer", "db", "init_app", "now", "reloader", "scorer",
           "site_policy", "state", "submit_scorer", "write_db"]
