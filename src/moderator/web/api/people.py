"""The JSON API for people and the site's own rules: authors (``/v1/authors/<author_id>``), readers' reports
(``/v1/comments/<id>/reports``) and watched-word rules (``/v1/rules``). The work is in
:mod:`moderator.service.authors`, :mod:`moderator.service.reports` and :mod:`moderator.service.rules`."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any, Literal

from flask import Response, g
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from moderator.service import authors, reports, rules
from moderator.storage.models import AuditEvent
from moderator.web import context
from moderator.web.api.parsing import ApiError, comment_id_arg, parse_body
from moderator.web.api.routes import endpoint, ok, v1
from moderator.web.context import db, now, write_db

# ---------------------------------------------------------------- schemas


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Open(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuthorUpdate(_Strict):
    """Any of the three; ``until`` (ISO 8601, UTC without an offset) only with status ``suspended``, which
    needs it; ``note`` null clears the note."""

    status: Literal["normal", "trusted", "premoderated", "suspended", "banned"] | None = None
    until: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=authors.MAX_NOTE)


class AuthorCounts(_Open):
    submitted: int
    approved: int
    rejected: int
    reported: int


class AuthorChange(_Open):
    at: str
    actor: str
    actor_name: str
    changes: dict[str, Any] | None


class AuthorResponse(_Open):
    author_id: str
    status: str
    effective_status: str = Field(description="The status in force now: a suspension that ended is normal")
    until: str | None
    note: str | None
    counts: AuthorCounts
    first_seen_at: str
    last_seen_at: str
    last_rejected_at: str | None
    updated_at: str
    history: list[AuthorChange] = Field(description="Changes of status and note, newest first (at most 50)")


class ReportRequest(_Strict):
    reason: str = Field(min_length=1, max_length=reports.MAX_REASON,
                        description="The reader's reason, a short code of the site's choosing (e.g. spam, abuse)")
    reporter_id: str = Field(min_length=1, max_length=200, description="The site's id of the reporting reader")
    note: str | None = Field(default=None, max_length=reports.MAX_NOTE)


class ReportOut(_Open):
    id: int
    comment_id: int
    reporter_id: str
    reason: str
    note: str | None
    weight: float
    status: Literal["open", "upheld", "dismissed"]
    created_at: str


class ReportResponse(_Open):
    report: ReportOut
    created: bool = Field(description="False: this reporter had already reported the comment (that report)")
    comment_status: Literal["published", "held", "rejected"]
    requeued: bool = Field(description="The report returned the published comment to the review queue")


class RuleRequest(_Strict):
    kind: Literal["word", "phrase", "regex"]
    pattern: str = Field(min_length=1, max_length=rules.MAX_PATTERN)
    action: Literal["block", "hold", "flag"]
    note: str | None = Field(default=None, max_length=2000)


class RuleOut(_Open):
    id: int
    kind: Literal["word", "phrase", "regex"]
    pattern: str
    action: Literal["block", "hold", "flag"]
    note: str | None
    created_by: str
    created_at: str


class RulesResponse(_Open):
    items: list[RuleOut]
    version: int = Field(description="Bumped by every change; workers reload their rules when it changes")


class RuleDeleted(_Open):
    deleted: int


# ---------------------------------------------------------------- authors


def _author_arg(author_id: str) -> str:
    if not 1 <= len(author_id) <= 200 or "\x00" in author_id:
        raise ApiError(404, "not_found", "no such author", "author_id")
    return author_id


def author_payload(session: Any, row: Any) -> dict[str, Any]:
    changes = session.scalars(select(AuditEvent).where(AuditEvent.target_type == "author",
                                                       AuditEvent.target_id == row.author_id)
                              .order_by(AuditEvent.id.desc()).limit(50))
    return {**authors.author_dict(row, now()),
            "history": [{"at": e.created_at.isoformat(), "actor": e.actor, "actor_name": e.actor_name,
                         "changes": e.data} for e in changes]}


@endpoint(v1, "/authors/<path:author_id>", "GET", summary="An author: status, note, counts and changes",
          roles=("review",), response=AuthorResponse, errors=(401, 403, 404))
def get_author(author_id: str) -> Response:
    aid = _author_arg(author_id)
    session = db()
    row = authors.get(session, aid)
    if row is None:
        raise ApiError(404, "not_found", "no such author (never commented, never set)", "author_id")
    return ok(AuthorResponse, author_payload(session, row))


def _until(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, "invalid_value", "until must be an ISO 8601 date-time", "until") from None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ApiError(422, "invalid_value", "until is out of range", "until") from None


@endpoint(v1, "/authors/<path:author_id>", "PUT", summary="Set an author's status (until), or note; audited",
          roles=("review",), request_model=AuthorUpdate, response=AuthorResponse,
          errors=(400, 401, 403, 404, 413, 415, 422))
def put_author(author_id: str) -> Response:
    aid = _author_arg(author_id)
    body, raw = parse_body(AuthorUpdate)
    if not raw:
        raise ApiError(422, "missing_field", "give status, until or note", "status")
    kwargs: dict[str, Any] = {}
    if "until" in raw:
        kwargs["until"] = _until(body.until)
    if "note" in raw:
        kwargs["note"] = body.note
    session = write_db()
    try:
        row = authors.set_status(session, g.actor, now(), aid, status=body.status, **kwargs)
    except authors.AuthorError as exc:
        session.rollback()
        raise ApiError(422, "invalid_value", exc.message, exc.field) from None
    session.commit()
    return ok(AuthorResponse, author_payload(db(), row))


# ---------------------------------------------------------------- reports


@endpoint(v1, "/comments/<comment_id>/reports", "POST",
          summary="A reader's report on a comment (one per reporter: a repeat answers 200 with the first)",
          roles=("submit",), request_model=ReportRequest, response=ReportResponse, status=201,
          errors=(400, 401, 403, 404, 413, 415, 422))
def report_comment(comment_id: str) -> Response:
    cid = comment_id_arg(comment_id)
    body, _ = parse_body(ReportRequest)
    threshold = float(context.site_policy().settings.reports_to_queue)
    for attempt in (1, 2):
        session = write_db()
        try:
            filed = reports.file_report(session, g.actor, now(), cid, body.reporter_id, body.reason, body.note,
                                        threshold)
            session.commit()
            break
        except reports.ReportError as exc:
            session.rollback()
            raise ApiError(422, "invalid_value", exc.message, exc.field) from None
        except (IntegrityError, sqlite3.IntegrityError):  # the same reporter, concurrently: the other one won
            session.rollback()
            if attempt == 2:
                raise
    payload = {"report": filed.report, "created": filed.created, "comment_status": filed.comment_status,
               "requeued": filed.requeued}
    return ok(ReportResponse, payload, 201 if filed.created else 200)


# ---------------------------------------------------------------- rules


@endpoint(v1, "/rules", "GET", summary="The site's watched words, phrases and regular expressions",
          roles=("admin",), response=RulesResponse, errors=(401, 403))
def list_rules() -> Response:
    session = db()
    return ok(RulesResponse, {"items": [rules.rule_dict(r) for r in rules.all_rules(session)],
                              "version": rules.current_version(session)})


@endpoint(v1, "/rules", "POST", summary="Add a rule (word, phrase or RE2 regex; block, hold or flag); audited",
          roles=("admin",), request_model=RuleRequest, response=RuleOut, status=201,
          errors=(400, 401, 403, 413, 415, 422))
def add_rule() -> Response:
    body, _ = parse_body(RuleRequest)
    session = write_db()
    try:
        rule = rules.add_rule(session, g.actor, now(), body.kind, body.pattern, body.action, body.note)
    except rules.RuleError as exc:
        session.rollback()
        raise ApiError(422, "invalid_value", exc.message, exc.field) from None
    session.commit()
    context.site_policy().rulebook.invalidate()
    return ok(RuleOut, rules.rule_dict(rule), 201)


@endpoint(v1, "/rules/<rule_id>", "DELETE", summary="Remove a rule; audited", roles=("admin",),
          response=RuleDeleted, errors=(401, 403, 404))
def delete_rule(rule_id: str) -> Response:
    if not (rule_id.isascii() and rule_id.isdigit()) or len(rule_id) > 10:
        raise ApiError(404, "not_found", "no such rule", "rule_id")
    session = write_db()
    try:
        rules.remove_rule(session, g.actor, now(), int(rule_id))
    except rules.RuleNotFound as exc:
        session.rollback()
        raise ApiError(404, "not_found", str(exc), "rule_id") from None
    session.commit()
    context.site_policy().rulebook.invalidate()
    return ok(RuleDeleted, {"deleted": int(rule_id)})


__all__ = ["author_payload"]
