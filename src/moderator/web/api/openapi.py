"""The OpenAPI 3.1 document, generated from :data:`moderator.web.api.routes.ROUTES` and the pydantic schemas.

Every Flask route is declared through ``moderator.web.api.routes.endpoint``, so the document and the URL map cannot
drift apart (``tests/test_openapi.py`` checks both directions and validates real responses).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from pydantic import BaseModel

from moderator import __version__
from moderator.storage.models import INT_MAX
from moderator.web.api.schemas import ErrorResponse

ERROR_TEXT = {
    400: "Malformed request (invalid JSON or UTF-8)",
    401: "Missing, invalid or revoked API key",
    403: "The API key's role may not use this endpoint",
    404: "Not found",
    409: "Conflict: already decided, or claimed by someone else, or stale version",
    413: "Request body too large",
    415: "Content-Type is not application/json",
    422: "Invalid request (missing/unknown field, wrong type, empty or too long text, ...)",
    429: "Rate limited (see the Retry-After header)",
    503: "Not ready",
}


# path parameters that are the site's own strings, not the service's integer ids
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "author_id": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\u0000]*$"},
}
PATH_DESCRIPTIONS = {"author_id": "the site's author id, as submitted with the comments (URL-encoded)"}


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


@cache
def build() -> dict[str, Any]:
    from moderator.web.api.routes import ROUTES, declare_all

    declare_all()

    components: dict[str, Any] = {}
    error_ref = _schema_ref(ErrorResponse, components)
    paths: dict[str, Any] = {}
    for r in ROUTES:
        op: dict[str, Any] = {"operationId": r.endpoint.replace(".", "_"), "summary": r.summary}
        params = [{"name": n, "in": "path", "required": True, "description": "ids are 32-bit: a larger one is 404",
                   "schema": {"type": "integer", "minimum": 1, "maximum": INT_MAX}} if n not in PATH_SCHEMAS else
                  {"name": n, "in": "path", "required": True, "description": PATH_DESCRIPTIONS[n],
                   "schema": PATH_SCHEMAS[n]}
                  for n in re.findall(r"<(?:[^:<>]+:)?([^<>]+)>", r.rule)]
        params += [{"name": q.name, "in": "query", "required": False, "description": q.description,
                    "schema": q.schema} for q in r.query]
        params += [{"name": h.name, "in": "header", "required": False, "description": h.description,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[ -~]+$"}}
                   for h in r.headers]
        if params:
            op["parameters"] = params
        if r.request is not None:
            op["requestBody"] = {"required": not r.request_optional,
                                 "content": {"application/json": {"schema": _schema_ref(r.request, components)}}}
        responses: dict[str, Any] = {}
        if r.response is not None:
            responses[str(r.status)] = {"description": "OK",
                                        "content": {r.media_type: {"schema": _schema_ref(r.response, components)}}}
            for code in r.also:
                responses[str(code)] = responses[str(r.status)]
        elif r.media_type == "text/plain":
            responses[str(r.status)] = {"description": "Prometheus text exposition format",
                                        "content": {"text/plain": {"schema": {"type": "string"}}}}
        else:
            responses[str(r.status)] = {"description": "OK", "content": {"application/json": {"schema": {
                "type": "object"}}}}
        codes = set(r.errors)
        if r.roles is not None:
            codes |= {401, 403}
        for code in sorted(codes):
            if code == 503 and r.response is not None:
                responses["503"] = {"description": ERROR_TEXT[503],
                                    "content": {"application/json": {"schema": _schema_ref(r.response,
                                                                                              components)}}}
                continue
            responses[str(code)] = {"description": ERROR_TEXT.get(code, "Error"), "content": {"application/json": {
                "schema": error_ref if r.error is None else _schema_ref(r.error, components)}}}
        op["responses"] = responses
        if r.roles is not None:
            op["security"] = [{"bearer": []}]
            op["x-roles"] = sorted(set(r.roles) | {"admin"})
        else:
            op["security"] = []
        paths.setdefault(openapi_path(r.rule), {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "moderator", "version": __version__,
                 "description": "Comment moderation service. Errors: {\"error\": {\"code\", \"message\", \"field\"}}."},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An API key from `moderator keys create`"}},
        },
    }


__all__ = ["build", "openapi_path"]
