"""The submission hot path skips work the API never needs, without changing what it answers or stores."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.sessions import NullSession


def test_api_requests_get_no_cookie_session_review_pages_do(service: Any) -> None:
    resp = service.submit("A perfectly ordinary comment about the weather.")
    assert resp.status_code == 201
    assert "Set-Cookie" not in resp.headers
    app = service.app
    with app.test_request_context("/v1/queue"):
        assert isinstance(app.session_interface.open_session(app, request), NullSession)
    with app.test_request_context("/review/login"):
        opened = app.session_interface.open_session(app, request)
        assert opened is not None and not isinstance(opened, NullSession)
    login_page = service.client.get("/review/login")
    assert login_page.status_code == 200
    assert "moderator_session=" in login_page.headers.get("Set-Cookie", "")  # the CSRF token lives in it
