"""Bad input never reaches a 500: every case answers 4xx with the one error shape, and stores nothing.

Every test runs on SQLite and PostgreSQL (``db_url``): the databases refuse different things (PostgreSQL:
NUL characters, integers beyond 32 bits; SQLite: beyond 64 bits), and the API must answer the same on both."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from moderator.storage.models import Comment

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
    ("duplicate-key", "/v1/comments", b'{"text": "hi there", "author_id": "a", "thread_id": "t", "text": "x"}',
     JSON, 400, "malformed_json", None),
    ("duplicate-nested-key", "/v1/comments",
     b'{"text": "hi there", "author_id": "a", "thread_id": "t", "metadata": {"k": 1, "k": 2}}', JSON, 400,
     "malformed_json", None),
    ("duplicate-key-decision", "/v1/queue/1/decision", b'{"decision": "reject", "decision": "approve"}', JSON,
     400, "malformed_json", None),
    ("zero-width-text", "/v1/comments", body(text="\u200b\u200c\u200d\u2060\ufeff"), JSON, 422, "empty_text",
     "text"),
    ("invisible-and-space-text", "/v1/comments", body(text=" \u200b \u00ad\n\u180e\u3164 \u034f\u2800"), JSON,
     422, "empty_text", "text"),
    ("score-zero-width", "/v1/score", b'{"texts": ["fine", "\\u200b\\u2063"]}', JSON, 422, "empty_text",
     "texts.1"),
    ("nul-author", "/v1/comments", body(author_id="a\u0000b"), JSON, 422, "invalid_value", "author_id"),
    ("nul-thread", "/v1/comments", body(thread_id="\u0000"), JSON, 422, "invalid_value", "thread_id"),
    ("nul-external-id", "/v1/comments", body(external_id="x\u0000"), JSON, 422, "invalid_value", "external_id"),
    ("nul-metadata-key", "/v1/comments", body(metadata={"k\u0000": 1}), JSON, 422, "invalid_value", "metadata"),
    ("nul-metadata-value", "/v1/comments", body(metadata={"k": ["\u0000"]}), JSON, 422, "invalid_value",
     "metadata.k.0"),
    ("surrogate-author", "/v1/comments", b'{"text": "fine", "author_id": "\\udc00", "thread_id": "t"}', JSON, 400,
     "invalid_utf8", "author_id"),
    ("surrogate-metadata-key", "/v1/comments",
     b'{"text": "fine", "author_id": "a", "thread_id": "t", "metadata": {"\\ud800": 1}}', JSON, 400,
     "invalid_utf8", "metadata"),
    ("nul-reason", "/v1/queue/1/decision", b'{"decision": "reject", "reason": "no\\u0000pe"}', JSON, 422,
     "invalid_value", "reason"),
    ("surrogate-reason", "/v1/queue/1/decision", b'{"decision": "reject", "reason": "\\ud800"}', JSON, 400,
     "invalid_utf8", "reason"),
    ("decision-version-int32", "/v1/queue/1/decision", b'{"decision": "reject", "version": 2147483648}', JSON,
     422, "invalid_value", "version"),
    ("decision-version-negative", "/v1/queue/1/decision", b'{"decision": "reject", "version": -1}', JSON, 422,
     "invalid_value", "version"),
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
    ("PUT", "/v1/comments", 405, "method_not_allowed"),
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


# ---------------------------------------------------------------- query parameters, path ids, headers


def cursor(obj: Any) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD_CURSORS = {
    "id-2^63": cursor({"p": 1, "i": 2**63}),
    "id-10^30": cursor({"p": 1, "i": 10**30}),
    "id-minus-10^30": cursor({"p": 1, "i": -10**30}),
    "id-2^31": cursor({"p": 1, "i": 2**31}),
    "id-negative": cursor({"p": 1, "i": -1}),
    "id-float": cursor({"p": 1, "i": 1.5}),
    "id-bool": cursor({"p": 1, "i": True}),
    "id-string": cursor({"p": 1, "i": "1"}),
    "priority-10^400": cursor(b'{"p": 1' + b"0" * 400 + b', "i": 1}'),
    "priority-string": cursor({"p": "1", "i": 1}),
    "priority-null": cursor({"p": None, "i": 1}),
    "missing-key": cursor({"p": 1}),
    "list": cursor([1, 2]),
    "string": cursor("p"),
    "number": cursor(7),
    "null": cursor(None),
    "deep-nesting": cursor(b"[" * 50_000),
    "not-utf8": cursor(b'{"p": 1, "i": 1, "x": "\xff"}'),
    "not-base64": "!!!",
    "too-long": cursor({"p": 1, "i": 1, "pad": "x" * 300}),
}


@pytest.mark.parametrize("path", ["/v1/queue", "/v1/audit"])
@pytest.mark.parametrize("value", list(BAD_CURSORS.values()), ids=list(BAD_CURSORS))
def test_bad_cursor_is_a_422(service: Any, path: str, value: str) -> None:
    service.submit()
    resp = service.call("GET", f"{path}?cursor={value}")
    assert resp.status_code == 422, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["error"] == {"code": "invalid_value", "message": "invalid cursor", "field": "cursor"}


@pytest.mark.parametrize(("url", "field"), [
    ("/v1/queue?thread=%00", "thread"),
    ("/v1/queue?thread=a%00b", "thread"),
    ("/v1/queue?status=%00", "status"),
    ("/v1/queue?cursor=%00", "cursor"),
    ("/v1/audit?actor=%00", "actor"),
    ("/v1/audit?action=review%00", "action"),
    ("/v1/audit?since=2026-01-01%00", "since"),
])
def test_nul_in_a_query_parameter_is_a_422(service: Any, url: str, field: str) -> None:
    resp = service.call("GET", url)
    assert resp.status_code == 422, resp.get_data(as_text=True)[:300]
    err = resp.get_json()["error"]
    assert err["code"] == "invalid_value" and err["field"] == field and "NUL" in err["message"]


def test_encoded_lone_surrogate_in_a_query_parameter_matches_nothing(service: Any) -> None:
    """A lone surrogate cannot reach the app through a URL: its percent-encoded UTF-8 form is invalid UTF-8,
    which the WSGI layer decodes to replacement characters (no error, nothing stored matches)."""
    service.submit()
    for url in ("/v1/queue?thread=%ED%A0%80", "/v1/audit?actor=%ED%B2%80", "/v1/audit?action=%ff"):
        resp = service.call("GET", url)
        assert resp.status_code == 200, (url, resp.get_data(as_text=True)[:300])
        assert resp.get_json()["items"] == []


@pytest.mark.parametrize("comment_id", ["2147483648", "4294967296", "9223372036854775808", "1" + "0" * 30, "0",
                                        "-1", "-2147483649", "%00", "1e3"])
def test_ids_beyond_the_column_are_not_found(service: Any, comment_id: str) -> None:
    service.submit()
    for method, url, body_ in (("GET", f"/v1/comments/{comment_id}", None),
                               ("POST", f"/v1/queue/{comment_id}/claim", None),
                               ("POST", f"/v1/queue/{comment_id}/decision", {"decision": "approve"})):
        resp = service.call(method, url, json=body_)
        assert resp.status_code == 404, (method, url, resp.get_data(as_text=True)[:300])
        assert resp.get_json()["error"]["code"] == "not_found"


def test_largest_id_is_just_not_found(service: Any) -> None:
    """2^31 - 1 is a valid id the database can be asked about: an ordinary 404 from the query."""
    resp = service.call("GET", "/v1/comments/2147483647")
    assert resp.status_code == 404 and resp.get_json()["error"]["message"] == "no comment 2147483647"


def test_dates_at_the_calendars_edges_are_clamped(service: Any) -> None:
    """A since/until whose UTC instant lies outside years 1..9999 means "after everything" / "before
    everything": it is clamped to the nearest representable instant, which selects the same events."""
    service.submit()
    everything = service.call("GET", "/v1/audit").get_json()["items"]
    assert everything
    cases = {
        "since=9999-12-31T23:59:59-05:00": [],
        "until=0001-01-01T00:00:00%2B05:00": [],
        "since=0001-01-01T00:00:00%2B05:00": everything,
        "until=9999-12-31T23:59:59-05:00": everything,
        "since=9999-12-31T23:59:59.999999%2B00:00": [],
        "until=0001-01-01T00:00:00": [],
        "since=0001-01-01T00:00:00-14:00": everything,
    }
    for query, expected in cases.items():
        resp = service.call("GET", f"/v1/audit?{query}")
        assert resp.status_code == 200, (query, resp.get_data(as_text=True)[:300])
        assert resp.get_json()["items"] == expected, query


@pytest.mark.parametrize("value", ["99999-01-01T00:00:00", "0000-01-01T00:00:00", "2026-13-01", "2026-01-01T25:00",
                                   "2026-01-01T00:00:00+24:00", "now"])
def test_impossible_dates_are_a_422(service: Any, value: str) -> None:
    resp = service.client.get("/v1/audit", query_string={"since": value}, headers=service.headers("admin"))
    assert resp.status_code == 422
    assert resp.get_json()["error"]["field"] == "since"


@pytest.mark.parametrize("key", ["a\x7fb", "a\x00b", "caf\xe9", "x" * 201, ""])
def test_bad_idempotency_key_is_a_json_422(service: Any, key: str) -> None:
    resp = service.call("POST", "/v1/comments", "submit", json=GOOD, headers={"Idempotency-Key": key})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["field"] == "Idempotency-Key"
    with service.state.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 0


@pytest.mark.parametrize("token", ["mod_\x00abc", "mod_\x7f", "mod_caf\xe9", "mod_" + "x" * 300])
def test_odd_bearer_tokens_are_a_json_401(service: Any, token: str) -> None:
    resp = service.call("GET", "/v1/policy", None, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "unauthorized"
