"""API keys and roles on every route (parametrised over the Flask URL map), and the ``keys`` CLI."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from moderator.storage.models import ApiKey
from moderator.web.api.routes import ROUTES

PUBLIC = {"/healthz", "/readyz", "/metrics"}
JSON_BLUEPRINTS = ("v1.", "ops.", "perspective.")


def is_json_api(endpoint: str) -> bool:
    """The JSON API and operational routes (HTML pages, e.g. /review, and static files are not part of it)."""
    return endpoint.startswith(JSON_BLUEPRINTS)


def concrete(rule: str) -> str:
    return rule.replace("<comment_id>", "1")


def route_params() -> list[Any]:
    # the Perspective-compatible routes authenticate Google's way (tests/test_perspective.py)
    return [pytest.param(r.method, r.rule, r.roles, id=f"{r.method} {r.rule}") for r in ROUTES
            if not r.endpoint.startswith("perspective.")]


def test_url_map_matches_declared_routes(service: Any) -> None:
    from moderator.web.api import routes

    declared = {(r.rule, r.method) for r in routes.ROUTES}
    actual = {(rule.rule, m) for rule in service.app.url_map.iter_rules() if is_json_api(rule.endpoint)
              for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert actual == declared


@pytest.mark.parametrize(("method", "rule", "roles"), route_params())
def test_every_route_requires_the_right_role(service: Any, method: str, rule: str, roles: Any) -> None:
    service.submit()  # comment 1, so that routes with an id have something to find
    url = concrete(rule)
    if roles is None:
        assert rule in PUBLIC
        resp = service.call(method, url, None)
        assert resp.status_code in (200, 503)
        return
    assert rule not in PUBLIC
    no_key = service.call(method, url, None, json={})
    assert no_key.status_code == 401 and no_key.get_json()["error"]["code"] == "unauthorized"
    assert no_key.headers["WWW-Authenticate"].startswith("Bearer")
    bad = service.call(method, url, None, json={}, headers={"Authorization": "Bearer mod_00000000_nope"})
    assert bad.status_code == 401
    basic = service.call(method, url, None, json={}, headers={"Authorization": f"Basic {service.keys['admin']}"})
    assert basic.status_code == 401
    for role in ("submit", "review", "admin"):
        resp = service.call(method, url, role, json={})
        if role == "admin" or role in roles:
            assert resp.status_code not in (401, 403), (role, resp.get_json())
        else:
            assert resp.status_code == 403, (role, resp.status_code)
            assert resp.get_json()["error"]["code"] == "forbidden"


def test_revoked_key_is_refused_at_once(service: Any) -> None:
    from moderator.service import keys as auth
    from moderator.service.audit import Actor
    from moderator.storage.db import write_session

    assert service.call("GET", "/v1/policy", "submit").status_code == 200
    prefix = service.keys["submit"].split("_")[1]
    with write_session(service.state.sessionmaker) as session:
        auth.revoke_key(session, prefix, Actor("cli:test", "tests", "admin"), service.state.clock())
    assert service.call("GET", "/v1/policy", "submit").status_code == 401
    events = service.call("GET", "/v1/audit?action=key.revoke", "admin").get_json()["items"]
    assert len(events) == 1 and events[0]["data"]["prefix"] == prefix


def test_keys_are_stored_hashed_with_a_prefix(service: Any) -> None:
    token = service.keys["review"]
    with service.state.sessionmaker() as session:
        rows = session.scalars(select(ApiKey)).all()
    stored = {r.key_hash for r in rows}
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert all(token not in (r.key_hash, r.prefix, r.name) for r in rows)
    assert any(token.startswith(f"mod_{r.prefix}_") for r in rows)


def test_decision_records_which_key_decided(service: Any) -> None:
    cid = service.submit().get_json()["id"]
    r = service.call("POST", f"/v1/queue/{cid}/decision", "review2", json={"decision": "approve"})
    assert r.status_code == 200
    with service.state.sessionmaker() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.name == "second moderator"))
    assert key is not None
    assert r.get_json()["decision"]["actor"] == f"key:{key.id}"
    assert key.prefix in r.get_json()["decision"]["actor_name"]


def test_keys_cli_create_list_revoke(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, model: Any) -> None:
    from moderator.cli import main
    from moderator.web.app import create_app

    monkeypatch.setenv("MODERATOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    runner = CliRunner()
    assert runner.invoke(main, ["init"]).exit_code == 0
    created = runner.invoke(main, ["keys", "create", "--role", "review", "--name", "Alice"])
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert token.startswith("mod_") and " " not in token
    listed = runner.invoke(main, ["keys", "list"])
    assert listed.exit_code == 0 and "Alice" in listed.output and token not in listed.output
    prefix = token.split("_")[1]
    assert prefix in listed.output

    app = create_app({"MODERATOR_HOME": str(tmp_path / "home"), "MODEL": model, "DUPLICATE_DETECTOR": None})
    try:
        client = app.test_client()
        assert client.get("/v1/queue", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        revoked = runner.invoke(main, ["keys", "revoke", prefix])
        assert revoked.exit_code == 0, revoked.output
        assert client.get("/v1/queue", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    finally:
        app.extensions["moderator"].engine.dispose()
    missing = runner.invoke(main, ["keys", "revoke", "ffffffff"])
    assert missing.exit_code != 0 and "no API key" in missing.output
    bad_role = runner.invoke(main, ["keys", "create", "--role", "root", "--name", "x"])
    assert bad_role.exit_code != 0
