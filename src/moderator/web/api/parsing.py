"""Reading a JSON API request: the body (strict JSON, then a pydantic model), query parameters, path ids, the
``Idempotency-Key`` header, and :class:`ApiError`, the error every parser raises (answered as
``{"error": {"code", "message", "field"}}`` by :mod:`moderator.web.api.errors`)."""

from __future__ import annotations

import json
import math
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from flask import current_app, request
from pydantic import BaseModel, ValidationError

from moderator.service import queue as review
from moderator.storage.models import INT_MAX

M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


# JSON Schema of query parameters: what the handlers accept (a NUL character never is).
NO_NUL = "^[^\\u0000]*$"
CURSOR_SCHEMA = {"type": "string", "minLength": 1, "maxLength": review.MAX_CURSOR, "pattern": "^[A-Za-z0-9_-]+$"}

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

def comment_id_arg(comment_id: str) -> int:
    if not (comment_id.isascii() and comment_id.isdigit()) or len(comment_id) > 10 or int(comment_id) > INT_MAX:
        raise ApiError(404, "not_found", f"no comment {comment_id[:40]!r}", "id")
    return int(comment_id)

def idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= 200 or not key.isascii() or not key.isprintable():
        raise ApiError(422, "invalid_value", "Idempotency-Key must be 1 to 200 printable ASCII characters",
                       "Idempotency-Key")
    return key



__all__ = ["CURSOR_SCHEMA", "NO_NUL", "ApiError", "check_text", "comment_id_arg", "idempotency_key", "int_arg",
           "parse_body", "query_args", "time_arg"]
