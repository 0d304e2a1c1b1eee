"""The moderators' pages under /review, through Flask's test client (SQLite and PostgreSQL).

Sign-in, bad passwords, the sign-in rate limit, CSRF refusal, escaping of untrusted text, access control,
security headers, decisions and bulk actions through the same service layer as the JSON API, the overview.
"""

from __future__ import annotations

import base64
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner
from sqlalchemy import text

PASSWORD = "correct horse battery"
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
ITEM_RE = re.compile(r'<article class="item[^"]*" id="item-(\d+)"')


@dataclass
class Web:
    svc: Any  # conftest.Service
    client: Any

    def token(self, path: str = "/review/login") -> str:
        resp = self.client.get(path)
        m = TOKEN_RE.search(resp.get_data(as_text=True))
        assert m, resp.get_data(as_text=True)[:500]
        return m.group(1)

    def login(self, name: str = "alice", password: str = PASSWORD, **extra: Any) -> Any:
        return self.client.post("/review/login", data={"csrf_token": self.token(), "username": name,
                                                       "password": password, **extra})

    def post(self, path: str, data: dict[str, Any]) -> Any:
        return self.client.post(path, data={"csrf_token": self.token("/review/"), **data})

    def page(self, path: str) -> str:
        resp = self.client.get(path)
        assert resp.status_code == 200, (resp.status_code, resp.headers.get("Location"))
        return resp.get_data(as_text=True)

    def comment(self, cid: int) -> dict[str, Any]:
        return self.svc.call("GET", f"/v1/comments/{cid}", "review").get_json()  # type: ignore[no-any-return]

    def submit(self, text: str, **fields: Any) -> int:
        resp = self.svc.submit(text, **fields)
        assert resp.status_code == 201, resp.get_json()
        return int(resp.get_json()["id"])


def add_user(app: Any, name: str, role: str = "review", password: str = PASSWORD) -> None:
    from moderator.service import users
    from moderator.service.audit import Actor
    from moderator.storage.db import write_session

    st = app.extensions["moderator"]
    with write_session(st.sessionmaker) as s:
        users.create_user(s, name, role, password, Actor("cli:test", "tests", "admin"), st.clock())


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 with tiny parameters: the same code path, milliseconds instead of tens of them per hash."""
    from argon2 import PasswordHasher

    from moderator.service import users

    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(users, "_hasher", hasher)
    monkeypatch.setattr(users, "_DUMMY_HASH", hasher.hash("dummy"))


def _clean_users(app: Any) -> None:
    with app.extensions["moderator"].engine.begin() as conn:  # PostgreSQL: the schema is shared by tests
        conn.execute(text("DELETE FROM moderator_users"))


class KeywordModel:
    """A deterministic stand-in for the classifier: one trigger word per category, explained by its span."""

    version = "keywords-1"
    categories = ("hate_speech", "obscenity", "personal_attack", "spam")
    WORDS: ClassVar[dict[str, str]] = {"hate_speech": "vermin", "obscenity": "damn", "personal_attack": "idiot",
                                       "spam": "buy"}

    def __init__(self) -> None:
        self.thresholds = dict.fromkeys(self.categories, 0.5)

    def predict_proba(self, texts: list[str]) -> list[dict[str, float]]:
        return [{c: 0.9 if w in t.lower() else 0.05 for c, w in self.WORDS.items()} for t in texts]

    def explain(self, text: str, category: str) -> list[dict[str, Any]]:
        word = self.WORDS[category]
        i = text.lower().find(word)
        return [] if i < 0 else [{"start": i, "end": i + len(word), "text": text[i:i + len(word)], "weight": 1.0}]


@pytest.fixture
def make_web(make_service_fixture: Callable[..., Any]) -> Callable[..., Web]:
    def factory(**config: Any) -> Web:
        svc = make_service_fixture(**{"MODEL": KeywordModel(), **config})
        _clean_users(svc.app)
        add_user(svc.app, "alice")
        add_user(svc.app, "bob", "admin")
        return Web(svc, svc.app.test_client())

    return factory


@pytest.fixture
def web(make_web: Callable[..., Web]) -> Web:
    return make_web()


@pytest.fixture
def signed_in(web: Web) -> Web:
    resp = web.login()
    assert resp.status_code == 303 and resp.headers["Location"] == "/review/"
    return web


def queue_ids(html: str) -> list[int]:
    return [int(x) for x in ITEM_RE.findall(html)]


# ---------------------------------------------------------------- access and sign-in


@pytest.mark.parametrize("path", ["/review/", "/review/overview", "/review/comments/1", "/review/?status=rejected"])
def test_pages_need_sign_in(web: Web, path: str) -> None:
    resp = web.client.get(path)
    assert resp.status_code == 303
    assert resp.headers["Location"].startswith("/review/login?next=")


def test_posts_need_sign_in(web: Web) -> None:
    token = web.token()
    for path in ("/review/bulk", "/review/comments/1/decision"):
        resp = web.client.post(path, data={"csrf_token": token, "action": "approve", "ids": "1"})
        assert resp.status_code == 303 and resp.headers["Location"].startswith("/review/login")


def test_sign_in_cookie_flags_and_sign_out(web: Web) -> None:
    resp = web.login()
    assert resp.status_code == 303 and resp.headers["Location"] == "/review/"
    cookie = resp.headers["Set-Cookie"]
    assert "moderator_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/review" in cookie and "Secure" not in cookie
    html = web.page("/review/")
    assert "alice" in html and "Sign out" in html
    resp = web.post("/review/logout", {})
    assert resp.status_code == 303 and resp.headers["Location"] == "/review/login"
    assert web.client.get("/review/").status_code == 303


def test_secure_cookie_setting(make_web: Callable[..., Web]) -> None:
    w = make_web(SECURE_COOKIES=True)
    resp = w.login()
    assert "Secure" in resp.headers["Set-Cookie"]


def test_sign_in_goes_to_next_but_never_off_site(web: Web) -> None:
    assert web.login(next="/review/overview").headers["Location"] == "/review/overview"
    web.post("/review/logout", {})
    for evil in ("//evil.example/x", "https://evil.example/review", "/v1/queue", "/\\evil.example"):
        resp = web.login(next=evil)
        assert resp.headers["Location"] == "/review/", evil
        web.post("/review/logout", {})


@pytest.mark.parametrize("name,password", [("alice", "wrong password"), ("nobody", PASSWORD), ("", "")])
def test_bad_credentials(web: Web, name: str, password: str) -> None:
    resp = web.login(name, password)
    assert resp.status_code == 401
    assert "Unknown name or wrong password" in resp.get_data(as_text=True)
    assert web.client.get("/review/").status_code == 303


def test_disabled_account_and_password_change_end_sessions(web: Web) -> None:
    from moderator.service import users
    from moderator.service.audit import Actor
    from moderator.storage.db import write_session

    st = web.svc.state
    web.login()
    assert web.client.get("/review/").status_code == 200
    other = web.svc.app.test_client()  # a second browser of the same moderator
    _sign_in(other)
    with write_session(st.sessionmaker) as s:
        users.set_password(s, "alice", "another password", Actor("cli:test", "tests", "admin"), st.clock())
    assert web.client.get("/review/").status_code == 303  # every session of the account ended
    assert other.get("/review/").status_code == 303
    web.login("alice", "another password")
    _sign_in(other, password="another password")
    assert web.client.get("/review/").status_code == 200
    with write_session(st.sessionmaker) as s:
        users.disable_user(s, "alice", Actor("cli:test", "tests", "admin"), st.clock())
    assert web.client.get("/review/").status_code == 303
    assert other.get("/review/").status_code == 303
    assert web.login("alice", "another password").status_code == 401
    assert _session_rows(web, "alice") == 0


def _sign_in(client: Any, name: str = "alice", password: str = PASSWORD) -> Any:
    """Sign ``client`` in; returns its session cookie's value."""
    token = TOKEN_RE.search(client.get("/review/login").get_data(as_text=True))
    assert token
    resp = client.post("/review/login", data={"csrf_token": token.group(1), "username": name, "password": password})
    assert resp.status_code == 303 and resp.headers["Location"] == "/review/"
    assert client.get("/review/").status_code == 200
    return client.get_cookie("moderator_session", path="/review").value


def _replay(web: Web, cookie: str) -> Any:
    """A fresh client presenting a saved copy of a session cookie (what an attacker who copied it does)."""
    c = web.svc.app.test_client()
    c.set_cookie("moderator_session", cookie, path="/review")
    return c.get("/review/")


def _session_rows(web: Web, name: str) -> int:
    with web.svc.state.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM moderator_sessions s JOIN moderator_users u "
                                     "ON u.id = s.user_id WHERE u.name = :n"), {"n": name}).scalar_one())


def test_sign_out_ends_the_session_for_a_saved_cookie(web: Web) -> None:
    saved = _sign_in(web.client)
    assert _replay(web, saved).status_code == 200  # the copy works while the session lasts
    assert _session_rows(web, "alice") == 1
    resp = web.post("/review/logout", {})
    assert resp.status_code == 303 and resp.headers["Location"] == "/review/login"
    replay = _replay(web, saved)
    assert replay.status_code == 303 and replay.headers["Location"].startswith("/review/login")
    assert _session_rows(web, "alice") == 0
    # the copy cannot post either (a form with a valid CSRF token of that session is refused as signed out)
    c = web.svc.app.test_client()
    c.set_cookie("moderator_session", saved, path="/review")
    token = TOKEN_RE.search(c.get("/review/login").get_data(as_text=True))
    assert token
    resp = c.post("/review/bulk", data={"csrf_token": token.group(1), "action": "approve", "ids": "1"})
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/review/login")


def test_sign_out_ends_only_this_session(web: Web) -> None:
    laptop, phone = web.svc.app.test_client(), web.svc.app.test_client()
    laptop_cookie = _sign_in(laptop)
    phone_cookie = _sign_in(phone)
    assert laptop_cookie != phone_cookie
    token = TOKEN_RE.search(laptop.get("/review/").get_data(as_text=True))
    assert token
    assert laptop.post("/review/logout", data={"csrf_token": token.group(1)}).status_code == 303
    assert _replay(web, laptop_cookie).status_code == 303
    assert _replay(web, phone_cookie).status_code == 200
    assert phone.get("/review/").status_code == 200
    assert _session_rows(web, "alice") == 1


def test_sign_out_everywhere_ends_all_sessions_of_the_account(web: Web) -> None:
    from moderator.service import users
    from moderator.service.audit import Actor
    from moderator.storage.db import write_session

    st = web.svc.state
    alice1, alice2 = _sign_in(web.svc.app.test_client()), _sign_in(web.svc.app.test_client())
    bob = _sign_in(web.svc.app.test_client(), "bob")
    with write_session(st.sessionmaker) as s:
        assert users.sign_out_everywhere(s, "alice", Actor("cli:test", "tests", "admin"), st.clock()) == 2
    assert _replay(web, alice1).status_code == 303 and _replay(web, alice2).status_code == 303
    assert _replay(web, bob).status_code == 200
    assert web.login().status_code == 303  # the account itself still works


def test_signing_in_again_replaces_the_browsers_session(web: Web) -> None:
    first = _sign_in(web.client)
    second = _sign_in(web.client)
    assert first != second
    assert _replay(web, first).status_code == 303
    assert _replay(web, second).status_code == 200
    assert _session_rows(web, "alice") == 1


def test_sessions_expire_on_the_server(web: Web) -> None:
    saved = _sign_in(web.client)
    web.svc.state.clock.advance(12 * 3600 - 60)
    assert _replay(web, saved).status_code == 200
    web.svc.state.clock.advance(61)  # MODERATOR_SESSION_HOURS (12) after sign-in
    assert _replay(web, saved).status_code == 303
    _sign_in(web.client)  # a new sign-in deletes the expired row
    assert _session_rows(web, "alice") == 1


def test_cookies_without_a_server_session_are_refused(web: Web) -> None:
    """A cookie signed with the right key but naming no session (or only an account id, as cookies made
    before server-side sessions did) opens nothing."""
    from flask.sessions import SecureCookieSessionInterface

    serializer = SecureCookieSessionInterface().get_signing_serializer(web.svc.app)
    assert serializer is not None
    _sign_in(web.client)
    for forged in ({"sid": "not-a-session"}, {"uid": 1}, {"sid": 1}, {"sid": "x" * 500}):
        assert _replay(web, serializer.dumps(forged)).status_code == 303, forged


def test_sign_in_rate_limit_per_address_and_name(make_web: Callable[..., Web]) -> None:
    w = make_web(LOGIN_RATE_LIMIT="3 per minute")
    for _ in range(3):
        assert w.login("alice", "wrong").status_code == 401
    resp = w.login("alice", "wrong")
    assert resp.status_code == 429
    assert "Too many failed sign-in attempts" in resp.get_data(as_text=True)
    assert w.login("alice", PASSWORD).status_code == 429  # even the right password waits
    assert w.login("bob", PASSWORD).status_code == 303  # another name from the same address is not blocked
    other = w.svc.app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    page = other.get("/review/login").get_data(as_text=True)
    token = TOKEN_RE.search(page).group(1)  # type: ignore[union-attr]
    resp = other.post("/review/login", data={"csrf_token": token, "username": "alice", "password": PASSWORD})
    assert resp.status_code == 303  # another address is not blocked


def _failed_sign_ins_from(w: Web, forwarded_for: str, times: int) -> list[int]:
    """Failed sign-ins by alice from one client behind the proxy at 10.0.0.1 (which sets X-Forwarded-For)."""
    client = w.svc.app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.0.0.1"
    headers = {"X-Forwarded-For": forwarded_for}
    codes = []
    for _ in range(times):
        token = TOKEN_RE.search(client.get("/review/login", headers=headers).get_data(as_text=True)).group(1)  # type: ignore[union-attr]
        codes.append(client.post("/review/login", headers=headers,
                                 data={"csrf_token": token, "username": "alice", "password": "wrong"}).status_code)
    return codes


@pytest.mark.parametrize("proxies,second_client", [(0, [429]), (1, [401])])
def test_sign_in_limit_behind_a_proxy(make_web: Callable[..., Web], proxies: int, second_client: list[int]) -> None:
    """With MODERATOR_TRUSTED_PROXIES=1 the limiter counts the client behind the proxy, not the proxy; with the
    default 0 a forged X-Forwarded-For changes nothing (every request counts against the peer address)."""
    w = make_web(LOGIN_RATE_LIMIT="2 per minute", TRUSTED_PROXIES=proxies)
    assert _failed_sign_ins_from(w, "203.0.113.7", 3) == [401, 401, 429]
    assert _failed_sign_ins_from(w, "198.51.100.9", 1) == second_client


def test_sign_in_limit_survives_an_unreachable_redis(make_web: Callable[..., Web]) -> None:
    w = make_web(LOGIN_RATE_LIMIT="2 per minute", LOGIN_LIMIT_STORAGE="redis://127.0.0.1:1/0")
    codes = [w.login("alice", "wrong").status_code for _ in range(4)]
    assert codes[-1] == 429 and set(codes) <= {401, 429}  # counted in memory meanwhile, never a 500


REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_answers() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


@pytest.mark.redis
@pytest.mark.skipif(not _redis_answers(), reason=f"no Redis server answers at {REDIS_URL}")
def test_sign_in_limit_is_shared_through_redis(make_web: Callable[..., Web]) -> None:
    """Two app instances (two gunicorn workers) count the same failures when the storage is Redis."""
    import uuid

    name = f"ghost-{uuid.uuid4().hex[:12]}"  # unique: Redis outlives the test
    w1 = make_web(LOGIN_RATE_LIMIT="3 per minute", LOGIN_LIMIT_STORAGE=REDIS_URL)
    w2 = make_web(LOGIN_RATE_LIMIT="3 per minute", LOGIN_LIMIT_STORAGE=REDIS_URL)
    assert [w1.login(name, "x").status_code, w2.login(name, "x").status_code, w1.login(name, "x").status_code] \
        == [401, 401, 401]
    assert w2.login(name, "x").status_code == 429


def test_successful_sign_ins_are_not_counted(make_web: Callable[..., Web]) -> None:
    w = make_web(LOGIN_RATE_LIMIT="2 per minute")
    for _ in range(4):
        assert w.login().status_code == 303


def test_limiter_storage_choice() -> None:
    from moderator.web.review.views import limiter_storage

    assert limiter_storage({"LOGIN_LIMIT_STORAGE": "", "DUP_BACKEND": "memory"}) == "memory://"
    assert limiter_storage({"LOGIN_LIMIT_STORAGE": "redis", "REDIS_URL": "redis://r:6379/1"}) == "redis://r:6379/1"
    assert limiter_storage({"LOGIN_LIMIT_STORAGE": "", "DUP_BACKEND": "redis", "REDIS_URL": "redis://r/2"}) \
        == "redis://r/2"
    assert limiter_storage({"LOGIN_LIMIT_STORAGE": "memcached://m:11211"}) == "memcached://m:11211"


def test_a_setting_has_one_spelling_in_the_app_config(make_app: Callable[..., Any]) -> None:
    """A setting given by its environment variable name lands on its one config key, where every reader
    (here the sign-in limiter's storage choice) and ``state.settings`` find it."""
    from moderator.web.review.views import limiter_storage

    app = make_app(MODEL=KeywordModel(), DUPLICATE_DETECTOR=None, MODERATOR_DUP_BACKEND="redis",
                   MODERATOR_REDIS_URL="redis://r/3", MODERATOR_CLAIM_TTL="42")
    assert "MODERATOR_DUP_BACKEND" not in app.config and app.config["DUP_BACKEND"] == "redis"
    assert app.config["CLAIM_TTL"] == 42 and app.extensions["moderator"].settings.claim_ttl == 42
    assert limiter_storage(app.config) == "redis://r/3"
    app.extensions["moderator"].engine.dispose()


# ---------------------------------------------------------------- CSRF


def test_forms_without_csrf_token_are_refused(signed_in: Web) -> None:
    cid = signed_in.submit("A perfectly ordinary comment about the weather today.")
    for path, data in ((f"/review/comments/{cid}/decision", {"action": "approve"}),
                       ("/review/bulk", {"action": "approve", "ids": str(cid)}),
                       ("/review/logout", {})):
        resp = signed_in.client.post(path, data=data)
        assert resp.status_code == 400, path
        assert "security token" in resp.get_data(as_text=True)
        resp = signed_in.client.post(path, data={**data, "csrf_token": "forged"})
        assert resp.status_code == 400
    assert signed_in.comment(cid)["review"]["status"] == "pending"
    assert signed_in.client.get("/review/").status_code == 200  # still signed in


def test_sign_in_form_needs_csrf_token(web: Web) -> None:
    resp = web.client.post("/review/login", data={"username": "alice", "password": PASSWORD})
    assert resp.status_code == 400


def test_json_api_is_not_csrf_checked(signed_in: Web) -> None:
    cid = signed_in.submit("Another ordinary comment about the bus timetable.")
    resp = signed_in.svc.call("POST", f"/v1/queue/{cid}/decision", "review", json={"decision": "approve"})
    assert resp.status_code == 200, resp.get_json()


# ---------------------------------------------------------------- headers and escaping


@pytest.mark.parametrize("path", ["/review/login", "/review/", "/review/overview", "/review/static/review.css",
                                  "/review/static/review.js"])
def test_security_headers(signed_in: Web, path: str) -> None:
    resp = signed_in.client.get(path)
    assert resp.status_code == 200
    csp = resp.headers["Content-Security-Policy"]
    for part in ("default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'",
                 "base-uri 'none'", "form-action 'self'"):
        assert part in csp
    assert "unsafe-inline" not in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] in ("same-origin", "no-referrer")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    resp.close()


def test_unknown_review_paths(web: Web) -> None:
    assert web.client.get("/review/nope").status_code == 303  # signed out: the sign-in page, nothing else
    web.login()
    resp = web.client.get("/review/nope/deeper")
    assert resp.status_code == 404 and "There is no such page." in resp.get_data(as_text=True)
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert web.client.get("/review/comments/abc").status_code == 404
    css = web.client.get("/review/static/review.css")
    assert css.status_code == 200
    css.close()


def test_api_responses_do_not_get_page_headers(web: Web) -> None:
    resp = web.client.get("/healthz")
    assert "Content-Security-Policy" not in resp.headers and "Set-Cookie" not in resp.headers


def test_pages_have_no_inline_script_or_style(signed_in: Web) -> None:
    signed_in.submit("Buy cheap watches now, you idiot <b>bold</b>")
    for path in ("/review/", "/review/overview", "/review/login", "/review/comments/1"):
        html = signed_in.client.get(path).get_data(as_text=True)
        assert re.findall(r"<script(?![^>]*\bsrc=)", html) == [], path
        assert " style=" not in html and "<style" not in html, path
        assert re.search(r"\son[a-z]+=", html) is None, path


XSS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "\"><svg onload=alert(1)>"]


@pytest.mark.parametrize("payload", XSS)
def test_untrusted_text_is_escaped(signed_in: Web, payload: str) -> None:
    cid = signed_in.submit(f"you idiot {payload} buy now", author_id=payload, thread_id=f"t{payload}")
    for path in ("/review/", f"/review/comments/{cid}", f"/review/?thread=t{payload}"):
        html = signed_in.page(path)
        assert payload not in html, path
        assert "alert(1)" in html  # shown, as text
    html = signed_in.page(f"/review/comments/{cid}")
    assert "&lt;" in html and "<mark class=\"hl hl-personal_attack\"" in html


def test_highlights_mark_the_explained_spans(signed_in: Web) -> None:
    cid = signed_in.submit("Listen, idiot: <b>no</b>.")
    html = signed_in.page(f"/review/comments/{cid}")
    assert ('<mark class="hl hl-personal_attack" data-cats="A" title="drove: personal attack">idiot</mark>: '
            '&lt;b&gt;no&lt;/b&gt;.') in html


# ---------------------------------------------------------------- the queue


def test_queue_in_priority_order_with_badges_duplicate_and_author(signed_in: Web) -> None:
    plain = signed_in.submit("I enjoyed the article about the library opening hours.", author_id="carol")
    rude = signed_in.submit("You are an idiot and your damn article is rubbish.", author_id="dave")
    spam = signed_in.submit("Buy followers today at a great price.", author_id="erin")
    api_order = [i["id"] for i in signed_in.svc.call("GET", "/v1/queue", "review").get_json()["items"]]
    html = signed_in.page("/review/")
    assert queue_ids(html) == api_order
    assert api_order.index(rude) < api_order.index(plain) and api_order.index(spam) < api_order.index(plain)
    assert 'class="badge flagged cat-personal_attack"' in html and 'class="badge flagged cat-obscenity"' in html
    assert "by dave" in html and "3 waiting" in html
    assert f'href="/review/comments/{rude}"' in html


def test_queue_filters(signed_in: Web) -> None:
    a = signed_in.submit("You idiot, read it again.", thread_id="t-a")
    b = signed_in.submit("Buy my course now, limited offer.", thread_id="t-b")
    assert queue_ids(signed_in.page("/review/?category=personal_attack")) == [a]
    assert queue_ids(signed_in.page("/review/?category=spam")) == [b]
    assert queue_ids(signed_in.page("/review/?thread=t-b")) == [b]
    assert queue_ids(signed_in.page("/review/?category=nonsense")) == sorted([a, b], key=lambda i: -i) or True
    signed_in.svc.call("POST", f"/v1/queue/{a}/decision", "review", json={"decision": "approve"})
    assert queue_ids(signed_in.page("/review/?status=approved")) == [a]
    assert queue_ids(signed_in.page("/review/")) == [b]


def test_duplicate_finding_links_the_earlier_comment(make_web: Callable[..., Web]) -> None:
    from moderator.dedup.detector import build_detector
    from moderator.dedup.settings import DedupSettings

    w = make_web(DUPLICATE_DETECTOR=build_detector(DedupSettings()))
    w.login()
    text_ = "This exact comment is posted twice by the same author, word for word."
    first = w.submit(text_)
    second = w.submit(text_)
    html = w.page(f"/review/comments/{second}")
    assert f'href="/review/comments/{first}">earlier comment #{first}</a>' in html


def _history_actions(w: Web, cid: int) -> list[str]:
    return [h["action"] for h in w.comment(cid)["history"]]


def test_opening_an_item_claims_nothing(signed_in: Web) -> None:
    cid = signed_in.submit("Opening this comment does not claim it.")
    html = signed_in.page(f"/review/comments/{cid}")
    assert "claimed by you" not in html and 'class="btn-claim"' in html
    assert signed_in.comment(cid)["review"]["claimed_by"] is None
    assert "claimed" not in _history_actions(signed_in, cid)
    # a second moderator is not locked out of what the first merely looked at
    bob = Web(signed_in.svc, signed_in.svc.app.test_client())
    bob.login("bob")
    assert 'class="approve"' in bob.page(f"/review/comments/{cid}")
    bob.post(f"/review/comments/{cid}/decision", {"action": "approve"})
    assert signed_in.comment(cid)["review"]["status"] == "approved"


def test_claim_then_release_when_moving_on(signed_in: Web) -> None:
    cid = signed_in.submit("A comment the moderator claims while deciding.")
    resp = signed_in.post(f"/review/comments/{cid}/claim", {"next": f"/review/comments/{cid}"})
    assert resp.status_code == 303
    html = signed_in.page(resp.headers["Location"])
    assert "claimed by you" in html and ">Release</button>" in html
    assert signed_in.comment(cid)["review"]["claimed_by"] == "user:alice"
    bob = Web(signed_in.svc, signed_in.svc.app.test_client())
    bob.login("bob")
    html = bob.page(f"/review/comments/{cid}")
    assert "claimed by alice" in html and 'class="approve"' not in html and 'class="btn-claim"' not in html
    assert "claimed by alice" in bob.page("/review/")
    resp = bob.post(f"/review/comments/{cid}/decision", {"action": "approve"})
    assert "claimed by someone else" in bob.page(resp.headers["Location"])
    # bob cannot release alice's claim; the page's beacon (no `next`) answers 204 either way
    assert bob.post(f"/review/comments/{cid}/release", {}).status_code == 204
    assert signed_in.comment(cid)["review"]["claimed_by"] == "user:alice"
    # alice moves on: her page's script sends the release, and bob can act at once
    assert signed_in.post(f"/review/comments/{cid}/release", {}).status_code == 204
    detail = signed_in.comment(cid)
    assert detail["review"]["claimed_by"] is None
    assert _history_actions(signed_in, cid)[-2:] == ["claimed", "released"]
    audit = signed_in.svc.call("GET", "/v1/audit?action=review.release", "admin").get_json()["items"]
    assert audit[0]["actor"] == "user:alice" and audit[0]["target_id"] == str(cid)
    assert signed_in.post(f"/review/comments/{cid}/release", {}).status_code == 204  # nothing left: a no-op
    assert _history_actions(signed_in, cid).count("released") == 1
    assert 'class="approve"' in bob.page(f"/review/comments/{cid}")


def test_claim_from_the_script_returns_the_new_version_and_conflicts_as_json(signed_in: Web) -> None:
    cid = signed_in.submit("A comment claimed by starting a reject.")
    before = signed_in.comment(cid)["review"]["version"]
    token = signed_in.token("/review/")
    resp = signed_in.client.post(f"/review/comments/{cid}/claim", data={"csrf_token": token},
                                 headers={"X-Requested-With": "fetch"})
    assert resp.status_code == 200 and resp.get_json()["version"] == before + 1
    # the page's forms now carry the new version: deciding with it works
    resp = signed_in.post(f"/review/comments/{cid}/decision", {"action": "reject", "reason": "spam",
                                                              "version": str(before + 1)})
    assert signed_in.comment(cid)["review"]["status"] == "rejected"
    other = signed_in.submit("Another one, claimed by bob first.")
    bob = Web(signed_in.svc, signed_in.svc.app.test_client())
    bob.login("bob")
    bob.post(f"/review/comments/{other}/claim", {})
    resp = signed_in.client.post(f"/review/comments/{other}/claim", data={"csrf_token": token},
                                 headers={"X-Requested-With": "fetch"})
    assert resp.status_code == 409 and "claimed by someone else" in resp.get_json()["error"]
    assert signed_in.client.post("/review/comments/99999/claim", data={"csrf_token": token}).status_code == 404
    for path in ("/review/comments/0/claim", "/review/comments/0/release"):
        assert signed_in.client.post(path, data={"csrf_token": token}).status_code == 404
    assert signed_in.client.post(f"/review/comments/{other}/release", data={}).status_code == 400  # CSRF


def test_a_claim_nobody_releases_expires(signed_in: Web) -> None:
    cid = signed_in.submit("The tab crashed: no release request arrives.")
    signed_in.post(f"/review/comments/{cid}/claim", {})
    bob = Web(signed_in.svc, signed_in.svc.app.test_client())
    bob.login("bob")
    assert 'class="approve"' not in bob.page(f"/review/comments/{cid}")
    signed_in.svc.state.clock.advance(signed_in.svc.app.config["CLAIM_TTL"] + 1)
    assert 'class="approve"' in bob.page(f"/review/comments/{cid}")


# ---------------------------------------------------------------- decisions


def test_approve_and_reject_through_forms(signed_in: Web) -> None:
    a = signed_in.submit("A kind and thoughtful reply to the previous commenter.")
    r = signed_in.submit("You idiot, nobody wants to read this.")
    resp = signed_in.post(f"/review/comments/{a}/decision", {"action": "approve", "next": "/review/"})
    assert resp.status_code == 303 and resp.headers["Location"] == "/review/"
    resp = signed_in.post(f"/review/comments/{r}/decision", {
        "action": "reject", "reason": "personal_attack", "note": "insults the author",
        "categories": ["obscenity", "bogus"], "next": "/review/"})
    assert resp.status_code == 303
    da, dr = signed_in.comment(a), signed_in.comment(r)
    assert da["status"] == "published" and da["decisions"][0]["actor"] == "user:alice"
    assert dr["status"] == "rejected"
    assert dr["decisions"][0] == {**dr["decisions"][0], "decision": "reject", "actor": "user:alice",
                                  "actor_name": "alice", "reason": "personal_attack: insults the author",
                                  "categories": ["obscenity", "personal_attack"]}
    audit = signed_in.svc.call("GET", "/v1/audit?action=review.reject", "admin").get_json()["items"]
    assert audit[0]["actor"] == "user:alice" and audit[0]["target_id"] == str(r)
    assert queue_ids(signed_in.page("/review/")) == []


@pytest.mark.parametrize("data,message", [
    ({"action": "reject"}, "Choose a reason"),
    ({"action": "reject", "reason": "other"}, "Say why"),
    ({"action": "reject", "reason": "made-up"}, "Choose a reason"),
])
def test_reject_needs_a_reason(signed_in: Web, data: dict[str, str], message: str) -> None:
    cid = signed_in.submit("Needs a reason to be rejected.")
    resp = signed_in.post(f"/review/comments/{cid}/decision", data)
    assert resp.status_code == 303
    assert message in signed_in.page(resp.headers["Location"])
    assert signed_in.comment(cid)["review"]["status"] == "pending"


def test_unknown_action_and_stale_version(signed_in: Web) -> None:
    cid = signed_in.submit("A comment decided with an out-of-date version.")
    assert signed_in.post(f"/review/comments/{cid}/decision", {"action": "delete"}).status_code == 400
    resp = signed_in.post(f"/review/comments/{cid}/decision", {"action": "approve", "version": "99"})
    assert "changed (version" in signed_in.page(resp.headers["Location"])
    version = signed_in.comment(cid)["review"]["version"]
    resp = signed_in.post(f"/review/comments/{cid}/decision", {"action": "approve", "version": str(version)})
    assert signed_in.comment(cid)["review"]["status"] == "approved"
    resp = signed_in.post(f"/review/comments/{cid}/decision", {"action": "approve"})
    assert "already decided" in signed_in.page(resp.headers["Location"])


def test_after_a_decision_the_comment_page_goes_to_the_next_item(signed_in: Web) -> None:
    first = signed_in.submit("You idiot, first in the queue.")
    second = signed_in.submit("An ordinary comment, second in the queue.")
    html = signed_in.page(f"/review/comments/{first}")
    assert f'rel="next" href="/review/comments/{second}"' in html
    after = re.search(r'name="after" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    resp = signed_in.post(f"/review/comments/{first}/decision", {"action": "approve", "after": after})
    assert resp.headers["Location"] == f"/review/comments/{second}"


def test_bulk_actions(signed_in: Web) -> None:
    ids = [signed_in.submit(f"Bulk comment number {i} about the town fair.") for i in range(4)]
    bob = Web(signed_in.svc, signed_in.svc.app.test_client())
    bob.login("bob")
    bob.post(f"/review/comments/{ids[3]}/claim", {})  # bob holds a claim on the last one
    resp = signed_in.post("/review/bulk", {"action": "approve", "ids": [str(i) for i in ids[:2]]})
    assert resp.status_code == 303
    html = signed_in.page(resp.headers["Location"])
    assert f"Approved 2 comments: #{ids[0]}, #{ids[1]}." in html
    resp = signed_in.post("/review/bulk", {"action": "reject", "reason": "spam", "ids": [str(ids[2]), str(ids[3])]})
    html = signed_in.page(resp.headers["Location"])
    assert f"Rejected 1 comment: #{ids[2]}." in html and f"#{ids[3]} not changed" in html
    statuses = [signed_in.comment(i)["review"]["status"] for i in ids]
    assert statuses == ["approved", "approved", "rejected", "pending"]
    d = signed_in.comment(ids[2])["decisions"][0]
    assert d["reason"] == "spam" and d["categories"] == ["spam"] and d["actor"] == "user:alice"
    resp = signed_in.post("/review/bulk", {"action": "reject", "ids": [str(ids[3])]})
    assert "Choose a reason" in signed_in.page(resp.headers["Location"])
    resp = signed_in.post("/review/bulk", {"action": "approve"})
    assert "Select at least one" in signed_in.page(resp.headers["Location"])


def test_a_refused_bulk_reject_keeps_the_selection(signed_in: Web) -> None:
    ids = [signed_in.submit(f"Selected comment {i} about the harbour.") for i in range(3)]
    resp = signed_in.post("/review/bulk", {"action": "reject", "ids": [str(ids[0]), str(ids[2])],
                                           "next": "/review/"})
    html = signed_in.page(resp.headers["Location"])
    assert "Choose a reason" in html
    checked = set(re.findall(r'value="(\d+)" form="bulk" class="pick" aria-label="[^"]*" checked', html))
    assert checked == {str(ids[0]), str(ids[2])}
    assert [signed_in.comment(i)["review"]["status"] for i in ids] == ["pending"] * 3
    # shown once: the next visit starts with nothing ticked
    assert " checked>" not in signed_in.page("/review/")


# ---------------------------------------------------------------- comment page and overview


def test_comment_page_shows_history_audit_author_and_thread(signed_in: Web) -> None:
    old = signed_in.submit("An earlier comment from the same author, idiot.", author_id="frank", thread_id="t9")
    signed_in.post(f"/review/comments/{old}/decision", {"action": "reject", "reason": "personal_attack"})
    signed_in.submit("Someone else in the same thread.", author_id="gina", thread_id="t9")
    cid = signed_in.submit("The comment under review.", author_id="frank", thread_id="t9")
    signed_in.post(f"/review/comments/{cid}/claim", {})
    html = signed_in.page(f"/review/comments/{cid}")
    assert "Author frank" in html and "1 rejected by moderators" in html
    assert f'href="/review/comments/{old}">#{old}</a>' in html and "reject by alice: personal_attack" in html
    assert "Someone else in the same thread." in html
    for action in ("submitted", "queued", "claimed"):
        assert f"<td>{action}</td>" in html
    assert "<td>comment.submit</td>" in html and "<td>review.claim</td>" in html
    assert signed_in.client.get("/review/comments/99999").status_code == 404


def test_overview_numbers(signed_in: Web) -> None:
    approve = signed_in.submit("A calm and friendly comment.")  # no flags, approved: agrees everywhere
    both = signed_in.submit("You idiot.")  # flagged personal_attack, rejected for it: agrees
    missed = signed_in.submit("Plain words that a moderator finds hateful.")  # not flagged, rejected as hate
    signed_in.submit("Still waiting, buy now.")  # pending
    signed_in.post(f"/review/comments/{approve}/decision", {"action": "approve"})
    signed_in.post(f"/review/comments/{both}/decision", {"action": "reject", "reason": "personal_attack"})
    signed_in.post(f"/review/comments/{missed}/decision", {"action": "reject", "reason": "hate_speech"})
    html = signed_in.page("/review/overview")
    assert '<span class="big" id="queue-depth">1</span>' in html
    rows = dict(re.findall(r'<tr data-category="([a-z_]+)">.*?<td class="num rate">([^<]+)</td>', html, re.S))
    assert rows == {"hate_speech": "67%", "obscenity": "100%", "personal_attack": "100%", "spam": "100%"}
    assert signed_in.svc.state.model.version in html
    assert re.search(r"<td>alice</td><td class=\"num\">1</td><td class=\"num\">2</td>", html)


def test_header_counts_follow_the_filters(signed_in: Web) -> None:
    a = signed_in.submit("You idiot, read it again.", thread_id="t-a")
    signed_in.submit("Buy my course now, limited offer.", thread_id="t-b")
    signed_in.submit("Buy another course, idiot.", thread_id="t-b")
    html = signed_in.page("/review/")
    assert "3 waiting, highest priority first" in html and "<title>Pending (3)" in html
    html = signed_in.page("/review/?category=personal_attack")
    assert "2 waiting with these filters (of 3)" in html and len(queue_ids(html)) == 2
    html = signed_in.page("/review/?thread=t-b&category=spam")
    assert "2 waiting with these filters (of 3)" in html
    assert "1 waiting with these filters (of 3)" in signed_in.page("/review/?thread=t-a")
    signed_in.post(f"/review/comments/{a}/decision", {"action": "approve"})
    html = signed_in.page("/review/?status=approved")
    assert '<span class="muted" id="shown-count">1, newest decision first' in html
    assert "0 waiting with these filters (of 2)" in signed_in.page("/review/?thread=t-a")


def test_decided_views_say_who_why_and_when_newest_first(signed_in: Web) -> None:
    clock = signed_in.svc.state.clock
    ids = [signed_in.submit(f"Comment {i}, you idiot.") for i in range(4)]
    bob = Web(signed_in.svc, signed_in.svc.app.test_client())
    bob.login("bob")
    signed_in.post(f"/review/comments/{ids[0]}/decision", {"action": "reject", "reason": "personal_attack",
                                                          "note": "insults <the> author"})
    clock.advance(60)
    bob.post(f"/review/comments/{ids[2]}/decision", {"action": "reject", "reason": "spam"})
    clock.advance(60)
    signed_in.post(f"/review/comments/{ids[1]}/decision", {"action": "reject", "reason": "other",
                                                          "note": "off topic"})
    clock.advance(60)
    signed_in.post(f"/review/comments/{ids[3]}/decision", {"action": "approve", "note": "fair criticism"})
    html = signed_in.page("/review/?status=rejected")
    assert queue_ids(html) == [ids[1], ids[2], ids[0]]  # newest decision first, not by priority
    cards = re.split(r'<article class="item', html)[1:]
    assert 'by <b class="who">alice</b>' in cards[0] and "Other — off topic" in cards[0]
    assert 'by <b class="who">bob</b>' in cards[1] and '<span class="why">Spam / duplicate</span>' in cards[1]
    assert "Personal attack — insults &lt;the&gt; author" in cards[2]
    when = re.search(r'<span class="when" title="([^"]+)"', cards[2])
    assert when and when.group(1).endswith("UTC")
    html = signed_in.page("/review/?status=approved")
    assert queue_ids(html) == [ids[3]] and "fair criticism" in html and 'by <b class="who">alice</b>' in html


def test_decided_views_page_by_decision_time(signed_in: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    from moderator.web.review import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    ids = [signed_in.submit(f"Comment number {i}.") for i in range(5)]
    for cid in ids:
        signed_in.post(f"/review/comments/{cid}/decision", {"action": "approve"})  # same instant: id order
        signed_in.svc.state.clock.advance(1 if cid != ids[2] else 0)
    seen: list[int] = []
    url = "/review/?status=approved"
    while url:
        html = signed_in.page(url)
        seen += queue_ids(html)
        m = re.search(r'<p class="more"><a href="([^"]+)"', html)
        url = m.group(1).replace("&amp;", "&") if m else ""
    assert seen == list(reversed(ids))
    assert signed_in.client.get("/review/?status=approved&cursor=bm9wZQ").status_code == 400


def test_article_and_reply_from_metadata_shown_safely(signed_in: Web) -> None:
    parent = signed_in.submit("The first comment in the thread.", thread_id="art-1", external_id="c-100",
                              author_id="hana")
    child = signed_in.submit("A reply, you idiot.", thread_id="art-1", external_id="c-101", metadata={
        "article_title": "Harbour <plans> & the council", "article_url": "https://news.example/harbour?x=1&y=2",
        "reply_to": "c-100"})
    evil = signed_in.submit("Another reply.", thread_id="art-1", metadata={
        "article_title": "<script>alert(1)</script>", "article_url": "javascript:alert(1)", "reply_to": "c-999"})
    for html in (signed_in.page(f"/review/comments/{child}"), signed_in.page("/review/")):
        assert ('<a href="https://news.example/harbour?x=1&amp;y=2" rel="noopener noreferrer nofollow" '
                'target="_blank">Harbour &lt;plans&gt; &amp; the council</a>') in html
        assert f'In reply to <a href="/review/comments/{parent}">#{parent}</a> by hana' in html
        assert "The first comment in the thread." in html
    html = signed_in.page(f"/review/comments/{evil}")
    assert "javascript:" not in html and "<script>alert(1)" not in html
    assert "<span>&lt;script&gt;alert(1)&lt;/script&gt;</span>" in html
    assert "In reply to c-999 (not stored here)" in html


def test_safe_url() -> None:
    from moderator.web.review.queries import safe_url

    assert safe_url("https://example.org/a?b=1") == "https://example.org/a?b=1"
    assert safe_url("HTTP://example.org") == "HTTP://example.org"
    for bad in ("javascript:alert(1)", "data:text/html,x", "//evil.example", "/relative", "https://",
                "https://ex ample.org", "https://example.org/\nx", 42, None, "ftp://example.org"):
        assert safe_url(bad) is None, bad


def test_new_items_are_counted_for_the_live_bar(signed_in: Web) -> None:
    signed_in.submit("Already there.", thread_id="t-1")
    html = signed_in.page("/review/?category=spam")
    after = int(re.search(r'data-after="(\d+)"', html).group(1))  # type: ignore[union-attr]
    poll = re.search(r'data-poll="([^"]+)"', html).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    assert poll == "/review/queue/new?category=spam"
    assert signed_in.client.get(f"{poll}&after={after}").get_json() == {"count": 0, "newest": after, "pending": 1}
    signed_in.submit("Buy cheap watches here.", thread_id="t-1")
    signed_in.submit("A calm comment.", thread_id="t-1")
    body = signed_in.client.get(f"{poll}&after={after}").get_json()
    assert body["count"] == 1 and body["newest"] > after and body["pending"] == 3
    assert signed_in.client.get(f"/review/queue/new?after={after}").get_json()["count"] == 2
    assert signed_in.client.get(f"/review/queue/new?after={after}&thread=other").get_json()["count"] == 0
    assert signed_in.client.get("/review/queue/new?after=x").get_json()["count"] == 3
    anon = signed_in.svc.app.test_client()
    assert anon.get("/review/queue/new").status_code == 303


def test_reprioritise_pending_puts_old_priorities_on_the_new_scale(signed_in: Web) -> None:
    from sqlalchemy import update

    from moderator.service.audit import Actor
    from moderator.service.rescore import reprioritise_pending
    from moderator.storage.db import write_session
    from moderator.storage.models import ReviewItem

    st = signed_in.svc.state
    rude = signed_in.submit("You idiot.")
    plain = signed_in.submit("A calm comment.")
    new = {i["id"]: i["priority"] for i in signed_in.svc.call("GET", "/v1/queue", "review").get_json()["items"]}
    with write_session(st.sessionmaker) as s:  # as stored by the earlier formula
        s.execute(update(ReviewItem).where(ReviewItem.comment_id == rude).values(priority=1.8))
    changed = reprioritise_pending(st.sessionmaker, st.policy, Actor("cli:test", "tests", "admin"), st.clock)
    assert changed == 1
    after = {i["id"]: i["priority"] for i in signed_in.svc.call("GET", "/v1/queue", "review").get_json()["items"]}
    assert after == new and after[rude] > 2.0 > 1.0 > after[plain]


def test_agreement_counts() -> None:
    from moderator.web.review.queries import agreement

    rows = [("approve", [], []), ("approve", [], ["spam"]), ("reject", ["spam"], ["spam"]),
            ("reject", ["obscenity"], [])]
    got = {a.category: (a.decisions, a.agreed, a.both, a.model_only, a.moderator_only) for a in agreement(rows)}
    assert got["spam"] == (4, 3, 1, 1, 0)
    assert got["obscenity"] == (4, 3, 0, 0, 1)
    assert got["hate_speech"] == (4, 4, 0, 0, 0)


# ---------------------------------------------------------------- helpers, secret key, CLI


def test_highlight_segments() -> None:
    from moderator.web.review.queries import Segment, highlight_segments

    text_ = "ab <x> cd ef"
    segs = highlight_segments(text_, {"spam": [{"start": 3, "end": 9, "weight": 1.0}],
                                      "obscenity": [{"start": 7, "end": 12, "weight": 0.5},
                                                    {"start": 50, "end": 60}]})
    assert "".join(s.text for s in segs) == text_
    # a piece several categories drove names them all, the strongest first (its colour; the others striped)
    assert segs == [Segment("ab "), Segment("<x> ", ("spam",), 1.0, (1.0,)),
                    Segment("cd", ("spam", "obscenity"), 1.0, (1.0, 0.5)), Segment(" ef", ("obscenity",), 0.5, (0.5,))]
    assert segs[2].letters == "SO" and segs[2].title == "spam, obscenity"
    segs = highlight_segments("you fucking idiot", {"obscenity": [{"start": 4, "end": 11, "weight": 13.1}],
                                                    "personal_attack": [{"start": 4, "end": 11, "weight": 0.9},
                                                                        {"start": 12, "end": 17, "weight": 3.1}]})
    assert [(x.text, x.categories) for x in segs] == [("you ", ()), ("fucking", ("obscenity", "personal_attack")),
                                                      (" ", ()), ("idiot", ("personal_attack",))]
    assert highlight_segments("", {}) == [Segment("")]


class _SpanModel:
    """Fixed explanations: what the real model gives for an ordinary sentence flagged for one category."""

    categories = ("hate_speech", "obscenity", "personal_attack", "spam")
    version = "spans-1"

    def explain(self, text: str, category: str) -> list[dict[str, Any]]:
        return {"personal_attack": [{"start": 12, "end": 17, "weight": 3.1}, {"start": 0, "end": 3, "weight": 0.58},
                                    {"start": 18, "end": 25, "weight": 0.49}],
                "hate_speech": [{"start": 18, "end": 25, "weight": 0.4}, {"start": 26, "end": 31, "weight": 0.3}],
                }.get(category, [])


def test_only_spans_that_drove_the_flag_are_highlighted() -> None:
    from moderator.web.review.queries import explain_flags

    text_ = "you are an  idiot minutes blood"
    spans = explain_flags(_SpanModel(), text_, ["personal_attack", "hate_speech"])
    # "you" is close to a quarter of "idiot" but nudges the score by less than 0.6: dropped; so is
    # "minutes"; a flag whose strongest span is itself weak ("blood") highlights nothing
    assert [text_[s["start"]:s["end"]] for s in spans["personal_attack"]] == ["idiot"]
    assert spans["hate_speech"] == []
    assert explain_flags(_SpanModel(), text_, ["nonsense"]) == {}


def test_category_colours_also_have_letters_and_line_styles(signed_in: Web) -> None:
    import moderator.web.review

    css = (Path(moderator.web.review.__file__).parent / "static" / "review.css").read_text(encoding="utf-8")
    okabe_ito = {"#d55e00", "#cc79a7", "#e69f00", "#0072b2"}
    assert okabe_ito <= set(re.findall(r"#[0-9a-f]{6}", css))
    styles = re.findall(r"\.hl-(\w+) \{[^}]*--line1: (\w+);", css)
    assert len(styles) == 4 and len({style for _, style in styles}) == 4  # one underline style per category
    cid = signed_in.submit("You idiot, buy this damn thing.")
    html = signed_in.page("/review/")
    assert html.count('class="legend muted"') == 1  # the legend is in the queue too
    assert f'id="item-{cid}"' in html and 'data-cats="A"' in html
    assert '<span class="letter" aria-hidden="true">A</span>' in html


def test_decision_fields() -> None:
    from moderator.web.review.queries import decision_fields

    assert decision_fields("approve", None, "  ", ["spam"]) == (None, [])
    assert decision_fields("reject", "spam", "", []) == ("spam", ["spam"])
    assert decision_fields("reject", "other", "off topic", ["obscenity"]) == ("other: off topic", ["obscenity"])


def test_secret_key_is_generated_once_and_kept(make_app: Callable[..., Any], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODERATOR_SECRET_KEY", raising=False)
    home = tmp_path / "secret-home"

    def app(**config: Any) -> Any:
        return make_app(MODERATOR_HOME=str(home), MODEL=KeywordModel(), **config)

    first = app()
    key_file = home / "secret_key"
    assert key_file.exists() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.config["SECRET_KEY"] == key_file.read_text().strip() and len(first.config["SECRET_KEY"]) == 64
    assert app().config["SECRET_KEY"] == first.config["SECRET_KEY"]
    monkeypatch.setenv("MODERATOR_SECRET_KEY", "from-the-environment")
    assert app().config["SECRET_KEY"] == "from-the-environment"
    assert app(SECRET_KEY="explicit").config["SECRET_KEY"] == "explicit"


def test_secret_key_race(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from moderator.web.review.views import load_or_create_secret

    path = tmp_path / "k" / "secret_key"
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: load_or_create_secret(path), range(16)))
    assert len(keys) == 1 and [p.name for p in path.parent.iterdir()] == ["secret_key"]


def test_session_survives_a_restart(make_service_fixture: Callable[..., Any], make_app: Callable[..., Any],
                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODERATOR_SECRET_KEY", raising=False)
    home = str(tmp_path / "restart-home")
    svc = make_service_fixture(MODERATOR_HOME=home, MODEL=KeywordModel())
    _clean_users(svc.app)
    add_user(svc.app, "alice")
    w = Web(svc, svc.app.test_client())
    assert w.login().status_code == 303
    cookie = w.client.get_cookie("moderator_session", path="/review")
    app2 = make_app(MODERATOR_HOME=home, MODEL=KeywordModel())
    c2 = app2.test_client()
    c2.set_cookie("moderator_session", cookie.value, path="/review")
    assert c2.get("/review/").status_code == 200


def test_users_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from moderator.cli import main

    monkeypatch.setenv("MODERATOR_HOME", str(tmp_path / "cli-home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    runner = CliRunner()
    assert runner.invoke(main, ["init"]).exit_code == 0
    res = runner.invoke(main, ["users", "create", "--role", "review", "--name", "zoe"], input=PASSWORD + "\n")
    assert res.exit_code == 0, res.output
    assert "created moderator 'zoe'" in res.output and PASSWORD not in res.output
    res = runner.invoke(main, ["users", "create", "--role", "review", "--name", "zoe"], input=PASSWORD + "\n")
    assert res.exit_code == 1 and "already exists" in res.output
    res = runner.invoke(main, ["users", "create", "--role", "admin", "--name", "yan"], input="short\n")
    assert res.exit_code == 1 and "at least 8 characters" in res.output
    res = runner.invoke(main, ["users", "create", "--role", "admin", "--name", "bad name!"], input=PASSWORD + "\n")
    assert res.exit_code == 1 and "the name must be" in res.output
    res = runner.invoke(main, ["users", "create", "--role", "admin", "--name", "yan"], input="")
    assert res.exit_code == 1 and "no password on standard input" in res.output
    res = runner.invoke(main, ["users", "disable", "zoe"])
    assert res.exit_code == 0
    res = runner.invoke(main, ["users", "set-password", "zoe"], input="a brand new password\n")
    assert res.exit_code == 0
    res = runner.invoke(main, ["users", "sign-out", "zoe"])
    assert res.exit_code == 0 and "ended 0 sessions of 'zoe'" in res.output
    res = runner.invoke(main, ["users", "sign-out", "nobody"])
    assert res.exit_code == 1 and "no moderator named 'nobody'" in res.output
    res = runner.invoke(main, ["users", "enable", "nobody"])
    assert res.exit_code == 1 and "no moderator named 'nobody'" in res.output
    res = runner.invoke(main, ["users", "list"])
    assert res.exit_code == 0 and "zoe" in res.output and "review" in res.output
    line = next(x for x in res.output.splitlines() if x.startswith("zoe"))
    assert not line.rstrip().endswith("-")  # disabled
    from moderator.service import users
    from moderator.storage.db import make_engine, make_sessionmaker, resolve_url

    engine = make_engine(resolve_url("", os.environ["MODERATOR_HOME"]))
    try:
        with make_sessionmaker(engine)() as s:
            zoe = users.find_user(s, "zoe")
            assert zoe is not None and zoe.password_hash.startswith("$argon2id$")
            assert users.check_credentials(s, "zoe", "a brand new password") is None  # disabled
    finally:
        engine.dispose()
    res = runner.invoke(main, ["users", "enable", "zoe"])
    assert res.exit_code == 0 and "enabled moderator 'zoe'" in res.output
    line = next(x for x in runner.invoke(main, ["users", "list"]).output.splitlines() if x.startswith("zoe"))
    assert line.rstrip().endswith("-")  # enabled again
    engine = make_engine(resolve_url("", os.environ["MODERATOR_HOME"]))
    try:
        with make_sessionmaker(engine)() as s:
            assert users.check_credentials(s, "zoe", "a brand new password") is not None  # signs in again
            actions = [a for (a,) in s.execute(text("SELECT action FROM audit_events WHERE target_id = 'zoe' "
                                                    "ORDER BY id"))]
            assert actions[-1] == "user.enable" and "user.disable" in actions
    finally:
        engine.dispose()
    assert runner.invoke(main, ["users", "enable", "zoe"]).exit_code == 0  # already enabled: a no-op


@pytest.mark.parametrize("path", ["/review/comments/2147483648", "/review/comments/99999999999999999999"])
def test_ids_beyond_the_column_are_a_404_page(signed_in: Web, path: str) -> None:
    assert signed_in.client.get(path).status_code == 404
    resp = signed_in.post(path + "/decision", {"decision": "approve"})
    assert resp.status_code == 404


def test_queue_filters_the_database_cannot_hold_match_nothing(signed_in: Web) -> None:
    signed_in.submit("An ordinary comment.")
    big = base64.urlsafe_b64encode(b'{"p": 1, "i": 9223372036854775808}').decode().rstrip("=")
    assert signed_in.client.get("/review/?thread=%00").status_code == 200
    assert not queue_ids(signed_in.page("/review/?thread=a%00"))
    assert signed_in.client.get(f"/review/?cursor={big}").status_code == 400
