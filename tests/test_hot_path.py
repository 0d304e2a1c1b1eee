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


def test_a_cached_key_needs_no_database_session_and_revocation_still_applies(service: Any, monkeypatch: Any) -> None:
    from datetime import UTC, datetime

    from moderator.service import keys as auth
    from moderator.service.audit import Actor

    assert service.submit("First comment of the day, about the bridge.").status_code == 201  # verifies, caches
    opened: list[int] = []
    real = service.state.sessionmaker
    monkeypatch.setattr(service.state, "sessionmaker", lambda *a, **kw: opened.append(1) or real(*a, **kw))
    resp = service.client.get("/v1/policy", headers={"Authorization": f"Bearer {service.keys['submit']}"})
    assert resp.status_code == 200 and opened == []  # answered from the per-process key cache
    monkeypatch.setattr(service.state, "sessionmaker", real)
    with real() as session:
        auth.revoke_key(session, service.keys["submit"], Actor("cli:test", "test", "admin"), datetime.now(UTC))
        session.commit()
    resp = service.client.get("/v1/policy", headers={"Authorization": f"Bearer {service.keys['submit']}"})
    assert resp.status_code == 401  # revoking in this process clears the cache at once
