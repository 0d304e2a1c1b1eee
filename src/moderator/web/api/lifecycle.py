"""The JSON API of a comment's lifecycle: lookup by the site's id, edits, withdrawal, reopening, erasure of an
author. The work is in :mod:`moderator.service.lifecycle`; routes are declared with
:func:`moderator.web.api.routes.endpoint` like every other (so they are in the OpenAPI document)."""

from __future__ import annotations

from flask import Response, current_app, g

from moderator.service import comments, submission
from moderator.service import lifecycle as life
from moderator.web.api.parsing import NO_NUL, ApiError, check_text, comment_id_arg, parse_body, query_args
from moderator.web.api.routes import QueryParam, _submission_service, endpoint, ok, v1
from moderator.web.api.schemas import (
    ID_MAX,
    CommentDetail,
    CommentList,
    EditRequest,
    ErasureResponse,
    ReopenRequest,
    SubmitResponse,
)
from moderator.web.context import db, now, state, write_db


@endpoint(v1, "/comments", "GET", summary="Find a comment by the site's own id (external_id)",
          roles=("submit", "review"), response=CommentList, errors=(401, 403, 422),
          query=(QueryParam("external_id", "the external_id the comment was submitted with (required)",
                            {"type": "string", "minLength": 1, "maxLength": ID_MAX, "pattern": NO_NUL}),))
def find_comments() -> Response:
    args = query_args({"external_id"})
    external_id = args.get("external_id")
    if external_id is None:
        raise ApiError(422, "missing_field", "give external_id", "external_id")
    if not 1 <= len(external_id) <= ID_MAX:
        raise ApiError(422, "invalid_value", f"external_id must be 1 to {ID_MAX} characters", "external_id")
    session = db()
    found = life.find_by_external_id(session, external_id)
    items = [comments.detail(session, found.id)] if found is not None else []
    return ok(CommentList, {"items": items})


@endpoint(v1, "/comments/<comment_id>", "PATCH", summary="Edit a comment's text: re-scored, re-checked, "
          "decided again by the policy (held: back in the queue)", roles=("submit",), request_model=EditRequest,
          response=SubmitResponse, errors=(400, 401, 403, 404, 409, 413, 415, 422, 503))
def edit_comment(comment_id: str) -> Response:
    cid = comment_id_arg(comment_id)
    body, _ = parse_body(EditRequest)
    check_text(body.text, "text")
    refiner = current_app.extensions.get("moderator_refiner")
    svc = _submission_service(state())
    try:
        if refiner is None:
            edited = life.edit(svc, g.actor, cid, body.text)
        else:
            with refiner.intake():
                edited = life.edit(svc, g.actor, cid, body.text)
            if edited.payload.get("priority") is not None:
                refiner.wake()
    except submission.Unavailable as exc:  # the duplicate check cannot run and the service fails closed
        raise ApiError(503, exc.code, exc.message, headers={"Retry-After": str(exc.retry_after)}) from None
    return ok(SubmitResponse, edited.payload)


@endpoint(v1, "/comments/<comment_id>", "DELETE", summary="Withdraw a comment (the author or the site removed "
          "it): it leaves the queue, its history stays", roles=("submit",), response=CommentDetail,
          errors=(401, 403, 404))
def withdraw_comment(comment_id: str) -> Response:
    cid = comment_id_arg(comment_id)
    session = write_db()
    _, changed = life.withdraw(session, g.actor, cid, now())
    session.commit()
    if changed:
        life.forget(state().detector, [cid])
    return ok(CommentDetail, comments.detail(db(), cid))


@endpoint(v1, "/comments/<comment_id>/reopen", "POST", summary="Reopen a decided comment: back in the queue "
          "as pending", roles=("review",), request_model=ReopenRequest, response=CommentDetail,
          errors=(400, 401, 403, 404, 409, 413, 415, 422), request_optional=True)
def reopen_comment(comment_id: str) -> Response:
    cid = comment_id_arg(comment_id)
    body, _ = parse_body(ReopenRequest, optional=True)
    session = write_db()
    life.reopen(session, g.actor, cid, now(), state().policy, body.reason)
    session.commit()
    return ok(CommentDetail, comments.detail(db(), cid))


@endpoint(v1, "/authors/<path:author_id>", "DELETE", summary="Erase an author's data: every comment of theirs "
          "loses its text, IP address and metadata", roles=("admin",), response=ErasureResponse,
          errors=(401, 403, 404))
def erase_author(author_id: str) -> Response:
    if not 1 <= len(author_id) <= ID_MAX or "\x00" in author_id:
        raise ApiError(404, "not_found", "no such author", "author_id")
    session = write_db()
    ids = life.erase_author(session, g.actor, author_id, now())
    session.commit()
    life.forget(state().detector, ids)
    return ok(ErasureResponse, {"author_id": author_id, "comments": len(ids), "comment_ids": ids})


__all__ = ["edit_comment", "erase_author", "find_comments", "reopen_comment", "withdraw_comment"]
