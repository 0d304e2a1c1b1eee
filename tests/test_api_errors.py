"""Bad input never reaches a 500: every case answers 4xx with the one error shape, and stores nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from moderator.models import Comment

GOOD = {"text": "A perfectly ordinary comment about the weather.", "author_id": "a1", "thread_id": "t1"}
JSON = "application/json"


def raw(service: Any, url: str, data: bytes | str, content_type: str | None = JSON, role: str = "admin",
        method: str = "POST") -> Any:
    headers = service.headers(role)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return service.client.open(url, method=method, data=data, headers=headers)


def body(**changes: Any) -> bytes:
    data = {**GOOD, **changes}
    for k, v in list(data.items()):
        if v is DROP:
            del data[k]
    return json.dumps(data).encode()


DROP = object()


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Input validation happens before storage: these tests run on SQLite only (storage tests run on both)."""
    import shutil

    target = tmp_path / "db" / "moderator.db"
    target.parent.mkdir()
    shutil.copy(request.getfixturevalue("sqlite_template"), target)
    return f"sqlite:///{target}"

# (id, url, raw body, content type, expected status, expected code, expected field)
CASES: list[tuple[str, str, bytes, str | None, int, str, str | None]] = [
    ("malformed-json", "/v1/comments", b'{"text": "hi",', JSON, 400, "malformed_json", None),
    ("empty-body", "/v1/comments", b"", JSON, 400, "malformed_json", None),
    ("nan", "/v1/comments", b'{"text": "x", "author_id": "a", "thread_id": "t", "metadata": {"n": NaN}}', JSON,
     400, "malformed_json", None),
    ("huge-number", "/v1/comments", b'{"text": "x", "author_id": "a", "thread_id": "t", "metadata": {"n": 1e999}}',
     JSON, 400, "malformed_json", None),
    ("deep-nesting", "/v1/comments", b'{"metadata": ' + b"[" * 100000 + b"]" * 100000 + b"}", JSON, 400,
     "malformed_json", None),
    ("invalid-utf8", "/v1/comments", b'{"text": "caf\xe9", "author_id": "a", "thread_id": "t"}', JSON, 400,
     "invalid_utf8", None),
    ("lone-surrogate", "/v1/comments", b'{"text": "bad \\ud800 text", "author_id": "a", "thread_id": "t"}', JSON,
     400, "invalid_utf8", "text"),
    ("nul-char", "/v1/comments", b'{"text": "nul \\u0000 here", "author_id": "a", "thread_id": "t"}', JSON, 422,
     "invalid_value", "text"),
    ("not-an-object", "/v1/comments", b'["text"]', JSON, 422, "invalid_type", None),
    ("wrong-content-type", "/v1/comments", body(), "text/plain", 415, "unsupported_media_type", None),
    ("form-content-type", "/v1/comments", b"text=hi", "application/x-www-form-urlencoded", 415,
     "unsupported_media_type", None),
    ("no-content-type", "/v1/comments", body(), None, 415, "unsupported_media_type", None),
    ("latin1-charset", "/v1/comments", body(), "application/json; charset=latin-1", 415, "unsupported_media_type",
     None),
    ("missing-text", "/v1/comments", body(text=DROP), JSON, 422, "missing_field", "text"),
    ("missing-author", "/v1/comments", body(author_id=DROP), JSON, 422, "missing_field", "author_id"),
    ("missing-thread", "/v1/comments", body(thread_id=DROP), JSON, 422, "missing_field", "thread_id"),
    ("text-not-string", "/v1/comments", body(text=123), JSON, 422, "invalid_type", "text"),
    ("author-int", "/v1/comments", body(author_id=7), JSON, 422, "invalid_type", "author_id"),
    ("text-null", "/v1/comments", body(text=None), JSON, 422, "invalid_type", "text"),
    ("metadata-list", "/v1/comments", body(metadata=[1, 2]), JSON, 422, "invalid_type", "metadata"),
    ("empty-text", "/v1/comments", body(text=""), JSON, 422, "empty_text", "text"),
    ("whitespace-text", "/v1/comments", body(text=" \n\t\u00a0 "), JSON, 422, "empty_text", "text"),
    ("text-too-long", "/v1/comments", body(text="a" * 20001), JSON, 422, "text_too_long", "text"),
    ("empty-author", "/v1/comments", body(author_id=""), JSON, 422, "invalid_value", "author_id"),
    ("bad-ip", "/v1/comments", body(author_ip="999.1.1.1"), JSON, 422, "invalid_value", "author_ip"),
    ("unknown-field", "/v1/comments", body(color="red"), JSON, 422, "unknown_field", "color"),
    ("too-large", "/v1/comments", body(text="a" * 1_100_000), JSON, 413, "payload_too_large", None),
    ("score-both", "/v1/score", b'{"text": "a", "texts": ["b"]}', JSON, 422, "invalid_value", "text"),
    ("score-neither", "/v1/score", b"{}", JSON, 422, "invalid_value", "text"),
    ("score-too-many", "/v1/score", json.dumps({"texts": ["hello"] * 101}).encode(), JSON, 422, "invalid_value",
     "texts"),
    ("score-empty-list", "/v1/score", b'{"texts": []}', JSON, 422, "invalid_value", "texts"),
    ("score-empty-item", "/v1/score", b'{"texts": ["fine", "  "]}', JSON, 422, "empty_text", "texts.1"),
    ("score-item-type", "/v1/score", b'{"texts": ["fine", 3]}', JSON, 422, "invalid_type", "texts.1"),
    ("score-explain-type", "/v1/score", b'{"text": "fine", "explain": "yes"}', JSON, 422, "invalid_type",
     "explain"),
    ("decision-bad-value", "/v1/queue/1/decision", b'{"decision": "maybe"}', JSON, 422, "invalid_value",
     "decision"),
    ("decision-bad-category", "/v1/queue/1/decision", b'{"decision": "reject", "categories": ["rude"]}', JSON,
     422, "invalid_value", "categories.0"),
    ("decision-unknown-field", "/v1/queue/1/decision", b'{"decision": "reject", "why": "x"}', JSON, 422,
     "unknown_field", "why"),
    ("decision-version-string", "/v1/queue/1/decision", b'{"decision": "reject", "version": "2"}', JSON, 422,
     "invalid_type", "version"),
    ("decision-version-huge", "/v1/queue/1/decision",  # found by schemathesis: was a 500 (SQLite int overflow)
     b'{"decision": "reject", "version": 18537562902984908603392}', JSON, 422, "invalid_value", "version"),
    ("claim-unknown-field", "/v1/queue/1/claim", b'{"ttl": 5}', JSON, 422, "unknown_field", "ttl"),
]


@pytest.mark.parametrize(("url", "data", "content_type", "status", "code", "field"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_a_4xx_json_error_and_stores_nothing(
    service: Any, url: str, data: bytes, content_type: str | None, status: int, code: str, field: str | None
) -> None:
    service.submit()  # comment 1 exists and is pending, so decision/claim cases fail on the body
    resp = raw(service, url, data, content_type)
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    assert resp.is_json
    err = resp.get_json()["error"]
    assert set(err) == {"code", "message", "field"}
    assert err["code"] == code
    assert err["field"] == field
    assert isinstance(err["message"], str) and err["message"]
    with service.state.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 1


def test_text_limit_is_configurable(make_service_fixture: Any) -> None:
    service = make_service_fixture(MAX_TEXT_CHARS=50)
    assert service.submit("x" * 50).status_code == 201
    r = service.submit("x" * 51)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "text_too_long"


def test_body_limit_is_configurable(make_service_fixture: Any) -> None:
    service = make_service_fixture(MAX_CONTENT_LENGTH=200)
    assert service.submit("x" * 300).status_code == 413


@pytest.mark.parametrize(("method", "url", "status", "code"), [
    ("GET", "/nope", 404, "not_found"),
    ("GET", "/v1/comments", 405, "method_not_allowed"),
    ("DELETE", "/v1/queue", 405, "method_not_allowed"),
    ("PUT", "/healthz", 405, "method_not_allowed"),
])
def test_http_errors_use_the_same_shape(service: Any, method: str, url: str, status: int, code: str) -> None:
    resp = service.call(method, url)
    assert resp.status_code == status
    assert resp.get_json()["error"]["code"] == code
    if status == 405:
        assert resp.headers.get("Allow")


def test_unexpected_exception_is_json_500_and_logged(service: Any, caplog: pytest.LogCaptureFixture) -> None:
    def boom(_texts: Any) -> Any:
        raise RuntimeError("model exploded")

    original = service.state.model
    class Broken:
        def __getattr__(self, name: str) -> Any:
            return boom if name == "predict_proba" else getattr(original, name)

    service.state.model = Broken()
    try:
        resp = service.call("POST", "/v1/score", "submit", json={"text": "hello"})
    finally:
        service.state.model = original
    assert resp.status_code == 500
    assert resp.get_json() == {"error": {"code": "internal_error", "message": "internal error (logged)",
                                         "field": None}}
    assert "model exploded" in caplog.text
