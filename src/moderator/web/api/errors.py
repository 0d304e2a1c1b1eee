"""The JSON API's error answers: every error is ``{"error": {"code", "message", "field"}}``; a database that
is unavailable answers 503 with ``Retry-After`` (JSON, or the error page under ``/review``)."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from werkzeug.exceptions import HTTPException

from moderator.service import queue as review
from moderator.storage.db import DatabaseUnavailable, unavailable_reason
from moderator.web.api.parsing import ApiError
from moderator.web.context import state

log = logging.getLogger("moderator.web.api.errors")


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
    """The app-wide error handlers (the review pages add their own for their blueprint)."""

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


__all__ = ["DATABASE_ERRORS", "HTTP_CODES", "database_error", "error_response", "register"]
