"""The OpenAPI document matches the real endpoints, and real responses match its schemas.

The schema check is a small JSON Schema validator for the subset pydantic emits (type, properties,
required, additionalProperties, items, enum, const, anyOf, $ref, minimum/maximum, min/maxLength).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from moderator.dedup.types import DuplicateFinding, RateDecision

TYPES: dict[str, Any] = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
    "integer": int, "number": (int, float),
}


def validate(instance: Any, schema: dict[str, Any], doc: dict[str, Any], path: str = "$") -> None:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        validate(instance, doc["components"]["schemas"][name], doc, path)
        return
    if "anyOf" in schema:
        errors = []
        for sub in schema["anyOf"]:
            try:
                validate(instance, sub, doc, path)
                return
            except AssertionError as exc:
                errors.append(str(exc))
        raise AssertionError(f"{path}: matches no anyOf branch: {errors}")
    if "type" in schema:
        expected = TYPES[schema["type"]]
        ok = isinstance(instance, expected) and not (schema["type"] in ("integer", "number")
                                                     and isinstance(instance, bool))
        assert ok, f"{path}: {instance!r} is not {schema['type']}"
    if "enum" in schema:
        assert instance in schema["enum"], f"{path}: {instance!r} not in {schema['enum']}"
    if "const" in schema:
        assert instance == schema["const"], f"{path}: {instance!r} != {schema['const']!r}"
    if isinstance(instance, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            assert name in instance, f"{path}: missing {name}"
        for key, value in instance.items():
            if key in props:
                validate(value, props[key], doc, f"{path}.{key}")
            else:
                extra = schema.get("additionalProperties", True)
                assert extra is not False, f"{path}: undocumented property {key!r}"
                if isinstance(extra, dict):
                    validate(value, extra, doc, f"{path}.{key}")
    if isinstance(instance, list) and "items" in schema:
        for i, item in enumerate(instance):
            validate(item, schema["items"], doc, f"{path}[{i}]")
    if "minimum" in schema:
        assert instance >= schema["minimum"], path
    if "maximum" in schema:
        assert instance <= schema["maximum"], path


def openapi_rule(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_every_flask_route_is_documented_and_vice_versa(service: Any) -> None:
    doc = service.call("GET", "/openapi.json", "submit").get_json()
    assert doc["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    actual = {(openapi_rule(rule.rule), m) for rule in service.app.url_map.iter_rules()
              if rule.endpoint.startswith(("v1.", "ops.", "perspective.")) for m in rule.methods - {"HEAD", "OPTIONS"}}
    # nothing outside the JSON blueprints lives under /v1 (everything there must be documented)
    assert not [r.rule for r in service.app.url_map.iter_rules()
                if r.rule.startswith("/v1/") and not r.endpoint.startswith("v1.")]
    assert documented == actual
    for ops in doc["paths"].values():
        for op in ops.values():
            for response in op["responses"].values():
                for media in response.get("content", {}).values():
                    ref = media["schema"].get("$ref")
                    if ref:
                        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"]


def test_validator_catches_a_mismatch(service: Any) -> None:
    doc = service.call("GET", "/openapi.json", "submit").get_json()
    schema = {"$ref": "#/components/schemas/SubmitResponse"}
    with pytest.raises(AssertionError):
        validate({"id": "1"}, schema, doc)
    with pytest.raises(AssertionError):
        validate({"error": {"code": "x", "message": "y", "field": None, "extra": 1}},
                 {"$ref": "#/components/schemas/ErrorResponse"}, doc)


def test_real_responses_match_documented_schemas(make_service_fixture: Any) -> None:
    class Dup:
        def rate_check(self, author_id: str, now: Any) -> RateDecision:
            return RateDecision(author_id != "spammer", retry_after=3)

        def sign(self, text: str) -> None:
            return None

        def check(self, text: str, author_id: str, now: Any, signature: Any = None) -> DuplicateFinding | None:
            return DuplicateFinding(True, "same_author", 1, 0.9) if "again" in text else None

        def record(self, *args: Any, **kwargs: Any) -> None:
            pass

    service = make_service_fixture(DUPLICATE_DETECTOR=Dup())
    doc = service.call("GET", "/openapi.json", "admin").get_json()
    ops = doc["paths"]
    seen: set[tuple[str, str, int]] = set()

    def check(method: str, url: str, path: str, role: str | None = "admin", **kw: Any) -> Any:
        resp = service.call(method, url, role, **kw)
        op = ops[path][method.lower()]
        assert str(resp.status_code) in op["responses"], (url, resp.status_code, resp.get_json())
        content = op["responses"][str(resp.status_code)].get("content", {})
        media = resp.mimetype
        assert media in content, (url, media)
        if media == "application/json":
            validate(resp.get_json(), content[media]["schema"], doc, f"{method} {url}")
        seen.add((path, method, resp.status_code))
        return resp

    first = check("POST", "/v1/comments", "/v1/comments", "submit", json={
        "text": "You are an idiot and a moron.", "author_id": "a", "thread_id": "t", "metadata": {"k": [1]}})
    cid = first.get_json()["id"]
    check("POST", "/v1/comments", "/v1/comments", "submit",
          json={"text": "hello again friends", "author_id": "a", "thread_id": "t"})
    check("POST", "/v1/comments", "/v1/comments", "submit",
          json={"text": "buy now", "author_id": "spammer", "thread_id": "t"})
    check("POST", "/v1/comments", "/v1/comments", "submit", json={"text": ""})
    check("POST", "/v1/comments", "/v1/comments", "review", json={})
    check("POST", "/v1/score", "/v1/score", "submit", json={"text": "You idiot.", "explain": True})
    check("POST", "/v1/score", "/v1/score", "submit", json={"texts": ["a", "b"]})
    check("POST", "/v1/score", "/v1/score", "submit", data=b"{", content_type="application/json")
    check("GET", "/v1/queue", "/v1/queue", "review")
    check("GET", "/v1/queue?limit=1", "/v1/queue", "review")
    check("POST", f"/v1/queue/{cid}/claim", "/v1/queue/{comment_id}/claim", "review")
    check("POST", f"/v1/queue/{cid}/claim", "/v1/queue/{comment_id}/claim", "review2")
    check("POST", f"/v1/queue/{cid}/decision", "/v1/queue/{comment_id}/decision", "review",
          json={"decision": "reject", "categories": ["personal_attack"], "reason": "insult"})
    check("POST", f"/v1/queue/{cid}/decision", "/v1/queue/{comment_id}/decision", "review",
          json={"decision": "approve"})
    check("POST", "/v1/queue/999/decision", "/v1/queue/{comment_id}/decision", "review",
          json={"decision": "approve"})
    check("GET", f"/v1/comments/{cid}", "/v1/comments/{comment_id}", "submit")
    check("GET", "/v1/comments/999", "/v1/comments/{comment_id}", "submit")
    check("GET", "/v1/audit?limit=2", "/v1/audit", "admin")
    check("GET", "/v1/audit", "/v1/audit", "review")
    check("GET", "/v1/policy", "/v1/policy", "submit")
    check("GET", "/healthz", "/healthz", None)
    check("GET", "/readyz", "/readyz", None)
    check("GET", "/metrics", "/metrics", None)
    check("GET", "/openapi.json", "/openapi.json", None)
    statuses = {(p, m): s for p, m, s in seen}
    assert ("/v1/comments", "POST", 201) in seen and ("/v1/comments", "POST", 429) in seen
    assert ("/v1/queue/{comment_id}/claim", "POST", 409) in seen
    assert ("/v1/queue/{comment_id}/decision", "POST", 409) in seen
    assert statuses


def test_metrics_count_requests_decisions_and_queue_depth(service: Any) -> None:
    service.submit()
    service.submit()
    text = service.call("GET", "/metrics", None).get_data(as_text=True)
    assert 'moderator_decisions_total{outcome="hold",source="submission"} 2.0' in text
    assert "moderator_queue_depth 2.0" in text
    assert f'moderator_model_info{{version="{service.state.model.version}"}} 1.0' in text
    assert 'moderator_requests_total{method="POST",route="/v1/comments",status="201"} 2.0' in text
    assert "moderator_request_seconds_bucket" in text
