"""The review pages in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by Playwright,
against a real ``moderator serve`` (gunicorn, two workers) on a free loopback port and a fresh MODERATOR_HOME.

Skipped, with the reason, only when Playwright or /usr/bin/chromium is missing, or when no model can be
loaded for the server (``MODERATOR_MODEL`` or the shipped default). Screenshots go to the test's temporary
directory; with ``MODERATOR_UPDATE_SCREENSHOTS=1`` also to ``docs/screenshots/`` (queue, comment, rejected,
queue-390 and comment-390 for a phone-sized window).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from serving import moderator_serve, request, service_env

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
MODERATOR = str(Path(sys.executable).parent / "moderator")
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "a long moderator password"

XSS_SCRIPT = "<script>alert('xss-script')</script> you idiot"
XSS_IMG = "<img src=x onerror=\"window.__xss = 1; alert('xss-img')\"> stupid moron"

COMMENTS = [
    ("Thanks for the thoughtful article, I learned a lot about the new library.", "reader-1", "library"),
    ("You are a stupid idiot and a pathetic moron, nobody wants your opinion.", "troll-7", "library"),
    ("This is fucking bullshit, what a shitty decision by the council.", "angry-3", "council"),
    ("BUY CHEAP PILLS NOW!!! Visit www.cheap-pills.example for 90% off, click here, free offer!!!",
     "spammer-9", "council"),
    ("I disagree with the author about the parking plans, but it is well argued.", "reader-2", "parking"),
    (XSS_SCRIPT, "xss-1", "parking"),
    (XSS_IMG, "xss-2", "parking"),
    ("Ten minutes of my life wasted on this shit article, the council should be ashamed.", "angry-4", "council"),
    ("The bus timetable changes are fine by me; the new route is quicker.", "reader-3", "buses"),
    ("The bus timetable changes are fine by me; the new route is quicker.", "reader-3", "buses"),
]
# what the site sends along in `metadata`, by the comment's index above (shown on the pages)
METADATA = {
    1: {"article_title": "The new library opens on Monday", "article_url": "https://news.example/library",
        "reply_to": "ext-0"},
    2: {"article_title": "Council votes on the harbour", "article_url": "javascript:alert('xss-url')"},
}


def _skip_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; the browser is Debian's chromium)"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


@dataclass
class Server:
    base: str
    submit_key: str
    review_key: str
    ids: list[int] = field(default_factory=list)

    def queue(self) -> list[int]:
        status, body, _ = request(f"{self.base}/v1/queue?limit=200", key=self.review_key)
        assert status == 200, body
        return [i["id"] for i in body["items"]]

    def comment(self, cid: int) -> dict[str, Any]:
        status, body, _ = request(f"{self.base}/v1/comments/{cid}", key=self.review_key)
        assert status == 200, body
        return body  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    try:
        from moderator import load_model

        load_model()
    except Exception as exc:
        pytest.skip(f"no model for `moderator serve` ({exc}); set MODERATOR_MODEL or ship models/DEFAULT")
    tmp = tmp_path_factory.mktemp("e2e")
    env = service_env(tmp / "home", MODERATOR_DUP_BACKEND="memory")
    with moderator_serve(env, tmp / "serve.log", workers=2, ready_timeout=180) as base:

        def cli(*args: str, stdin: str | None = None) -> str:
            res = subprocess.run([MODERATOR, *args], env=env, input=stdin, capture_output=True, text=True,
                                 timeout=120)
            assert res.returncode == 0, res.stdout + res.stderr
            return res.stdout

        submit_key = cli("keys", "create", "--role", "submit", "--name", "e2e site").strip().splitlines()[-1]
        review_key = cli("keys", "create", "--role", "review", "--name", "e2e api").strip().splitlines()[-1]
        cli("users", "create", "--role", "review", "--name", "alice", stdin=PASSWORD + "\n")  # piped, one line
        cli("users", "create", "--role", "review", "--name", "bob", stdin=PASSWORD + "\n")
        srv = Server(base, submit_key, review_key)
        for i, (text, author, thread) in enumerate(COMMENTS):
            status, body, _ = request(f"{base}/v1/comments", "POST", {
                "text": text, "author_id": author, "thread_id": thread, "external_id": f"ext-{i}",
                "metadata": METADATA.get(i)}, submit_key)
            assert status == 201, body
            srv.ids.append(body["id"])
        yield srv


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Session:
    page: Any
    dialogs: list[str]
    errors: list[str]


def _sign_in(browser: Any, server: Server, name: str = "alice", width: int = 1280,
             height: int = 900) -> Iterator[Session]:
    """A fresh browser context, signed in as ``name``; fails the test if any alert() fires."""
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=server.base)
    context.set_default_timeout(15000)
    page = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(d: Any) -> None:
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/review/")
    assert page.url.startswith(f"{server.base}/review/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.base}/review/")
    yield Session(page, dialogs, errors)
    context.close()
    assert dialogs == [], f"a dialog fired: {dialogs}"
    assert errors == [], f"page errors: {errors}"


@pytest.fixture
def session(browser: Any, server: Server) -> Iterator[Session]:
    yield from _sign_in(browser, server)


@pytest.fixture
def bob(browser: Any, server: Server) -> Iterator[Session]:
    yield from _sign_in(browser, server, "bob")


@pytest.fixture
def phone(browser: Any, server: Server) -> Iterator[Session]:
    """alice on a 390 x 844 window (an ordinary phone)."""
    yield from _sign_in(browser, server, width=390, height=844)


def wait_until(check: Any, seconds: float = 10.0) -> Any:
    """Poll ``check`` (a server-side look) until it is truthy: a beacon is sent after the page is gone."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def dom_ids(page: Any) -> list[int]:
    return [int(x) for x in page.eval_on_selector_all("article[data-item]", "els => els.map(e => e.dataset.id)")]


def screenshot(page: Any, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size > 10_000
    if os.environ.get("MODERATOR_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_SCREENSHOTS / name)


# ---------------------------------------------------------------- tests (in file order: they share the server)


def test_wrong_password_is_refused(browser: Any, server: Server) -> None:
    context = browser.new_context(base_url=server.base)
    page = context.new_page()
    page.goto("/review/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    page.get_by_text("Unknown name or wrong password.").wait_for()
    assert "/review/login" in page.url
    context.close()


def test_queue_in_priority_order(session: Session, server: Server, tmp_path: Path) -> None:
    page = session.page
    expected = server.queue()
    assert sorted(expected) == sorted(server.ids)
    assert dom_ids(page) == expected
    assert page.locator("article.item.current").count() == 1  # the first item has the keyboard focus
    assert page.locator("article.item").first.get_attribute("data-id") == str(expected[0])
    # the flagged comments come first, highlighted
    assert page.locator("mark.hl").count() >= 1
    assert page.locator(".badge.flagged").count() >= 1
    page.keyboard.press("?")
    assert page.locator("dialog#help").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("dialog#help").is_visible()
    screenshot(page, tmp_path, "queue.png")


def test_xss_payloads_are_inert_text(session: Session, server: Server) -> None:
    page = session.page
    for cid in (server.ids[5], server.ids[6]):
        for url in ("/review/", f"/review/comments/{cid}"):
            page.goto(url)
            card = page.locator(f"#item-{cid} .text")
            card.wait_for()
            assert ("alert('xss-script')" in card.inner_text()) or ("alert('xss-img')" in card.inner_text())
    page.goto("/review/")
    assert page.get_by_text("<script>alert('xss-script')</script>", exact=False).count() >= 1
    assert page.locator("article img, article script, .text svg").count() == 0
    assert page.evaluate("() => window.__xss") is None
    assert session.dialogs == []


def test_approve_with_a_and_reject_with_r(session: Session, server: Server) -> None:
    page = session.page
    page.goto("/review/")
    first, second = dom_ids(page)[:2]
    page.locator(f"#item-{first}").wait_for()
    assert page.locator("article.item.current").get_attribute("data-id") == str(first)
    with page.expect_navigation():
        page.keyboard.press("a")
    page.get_by_text(f"Approved #{first}.").wait_for()
    assert first not in dom_ids(page)
    assert page.locator(f"#item-{first}").count() == 0
    detail = server.comment(first)
    assert detail["status"] == "published" and detail["decisions"][-1]["actor"] == "user:alice"

    assert page.locator("article.item.current").get_attribute("data-id") == str(second)
    page.keyboard.press("r")
    panel = page.locator(f"#item-{second} details.reject")
    assert panel.get_attribute("open") is not None
    page.keyboard.press("3")  # personal attack
    assert page.locator(f"#item-{second} input[name=reason][value=personal_attack]").is_checked()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.get_by_text(f"Rejected #{second}.").wait_for()
    assert second not in dom_ids(page)
    detail = server.comment(second)
    assert detail["status"] == "rejected"
    assert detail["decisions"][-1]["reason"] == "personal_attack"
    assert "personal_attack" in detail["decisions"][-1]["categories"]
    assert server.queue() == dom_ids(page)


def test_j_k_move_and_escape_closes_reject(session: Session) -> None:
    page = session.page
    ids = dom_ids(page)
    assert len(ids) >= 3
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.locator("article.item.current").get_attribute("data-id") == str(ids[2])
    page.keyboard.press("k")
    assert page.locator("article.item.current").get_attribute("data-id") == str(ids[1])
    page.keyboard.press("r")
    assert page.locator(f"#item-{ids[1]} details.reject").get_attribute("open") is not None
    page.keyboard.press("Escape")
    assert page.locator(f"#item-{ids[1]} details.reject").get_attribute("open") is None
    assert dom_ids(page) == ids  # nothing was decided


def test_bulk_reject_with_x(session: Session, server: Server) -> None:
    page = session.page
    ids = dom_ids(page)[:2]
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    assert page.locator(".selected-count").inner_text() == "2"
    page.fill("#bulk input[name=note]", "the same advert twice")
    page.keyboard.press("Enter")  # Enter in the note must not submit (it would approve the selection)
    page.wait_for_timeout(500)
    assert page.url.endswith("/review/") and server.comment(ids[0])["review"]["status"] == "pending"
    page.select_option("#bulk select[name=reason]", "spam")
    with page.expect_navigation():
        page.click("#bulk button[value=reject]")
    page.get_by_text("Rejected 2 comments").wait_for()
    for cid in ids:
        detail = server.comment(cid)
        assert detail["status"] == "rejected"
        assert detail["decisions"][-1]["reason"] == "spam: the same advert twice"
        assert detail["decisions"][-1]["actor"] == "user:alice"
    assert not set(ids) & set(dom_ids(page))


def test_comment_page_claims_only_when_acting_and_releases_on_moving_on(session: Session, server: Server,
                                                                        tmp_path: Path) -> None:
    page = session.page
    queue = server.queue()
    # a flagged comment (its highlights in the screenshot) with another after it
    i = next((n for n, cid in enumerate(queue[:-1]) if server.comment(cid)["flags"]), 0)
    first, second = queue[i], queue[i + 1]
    page.goto(f"/review/comments/{first}")
    page.locator("button.btn-claim").wait_for()
    assert server.comment(first)["review"]["claimed_by"] is None  # looking claims nothing
    page.keyboard.press("r")  # starting a reject claims it
    page.locator("details.reject[open] .reasons").wait_for()
    page.get_by_text("Claimed by you while you decide").wait_for()
    assert server.comment(first)["review"]["claimed_by"] == "user:alice"
    version = server.comment(first)["review"]["version"]
    assert page.locator("form.reject-form input[name=version]").input_value() == str(version)
    assert page.locator("form.claim-form button").inner_text() == "Release"
    screenshot(page, tmp_path, "comment.png")
    page.keyboard.press("Escape")
    assert page.locator("details.reject[open]").count() == 0
    with page.expect_navigation():
        page.keyboard.press("j")  # moving on releases the claim
    assert page.url.endswith(f"/review/comments/{second}")
    assert wait_until(lambda: server.comment(first)["review"]["claimed_by"] is None)
    assert [h["action"] for h in server.comment(first)["history"]][-2:] == ["claimed", "released"]
    # the Claim button (or `c`), then leaving the page some other way: released by the pagehide beacon
    with page.expect_navigation():
        page.keyboard.press("c")
    page.get_by_text("claimed by you").wait_for()
    assert server.comment(second)["review"]["claimed_by"] == "user:alice"
    page.goto("/review/overview")
    assert wait_until(lambda: server.comment(second)["review"]["claimed_by"] is None)
    # the repeated comment links the earlier one (when both reached the same worker: the default duplicate
    # index is per process; tests/test_web.py checks the link deterministically)
    dup = server.ids[-1]
    finding = server.comment(dup)["duplicate"]
    if finding is not None:
        page.goto(f"/review/comments/{dup}")
        assert page.locator(".dup a").get_attribute("href") == f"/review/comments/{finding['of']}"


def test_a_second_moderator_is_not_locked_out_of_what_the_first_viewed(session: Session, bob: Session,
                                                                        server: Server) -> None:
    ids = server.queue()[:3]
    for cid in ids:  # alice steps through three comments
        session.page.goto(f"/review/comments/{cid}")
    assert all(server.comment(cid)["review"]["claimed_by"] is None for cid in ids)
    bob.page.goto(f"/review/comments/{ids[0]}")
    assert bob.page.locator("form.approve").count() == 1
    assert bob.page.get_by_text("claimed by alice").count() == 0


def test_metadata_article_and_reply_are_shown_safely(session: Session, server: Server) -> None:
    page = session.page
    page.goto(f"/review/comments/{server.ids[1]}")
    link = page.locator(".context.article a")
    assert link.inner_text() == "The new library opens on Monday"
    assert link.get_attribute("href") == "https://news.example/library"
    assert page.locator(".reply-to a").get_attribute("href") == f"/review/comments/{server.ids[0]}"
    page.goto(f"/review/comments/{server.ids[2]}")
    assert page.locator(".context.article a").count() == 0  # a javascript: URL is never a link
    assert page.locator(".context.article").inner_text().strip() == "On Council votes on the harbour"


def test_new_comments_appear_without_a_reload(session: Session, server: Server) -> None:
    page = session.page
    page.goto("/review/")
    page.evaluate("() => { window.__same_page = true; }")
    assert page.locator("#live").is_hidden()
    status, body, _ = request(f"{server.base}/v1/comments", "POST", {
        "text": "BUY followers now, cheap, click here!!! www.followers.example", "author_id": "spammer-2",
        "thread_id": "live"}, server.submit_key)
    assert status == 201
    page.locator("#live").wait_for(state="visible", timeout=15000)  # the page polls every 5 s
    assert "1 new comment" in page.locator("#live").inner_text()
    assert page.evaluate("() => window.__same_page") is True  # no reload happened
    assert page.locator("header.top .count").inner_text() == str(len(server.queue()))
    with page.expect_navigation():
        page.click("#live a.live-show")
    assert body["id"] in dom_ids(page)


def test_bulk_reject_without_a_reason_keeps_the_selection(session: Session, server: Server) -> None:
    page = session.page
    page.goto("/review/")
    ids = dom_ids(page)[:2]
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.click("#bulk button[value=reject]")
    page.get_by_text("Choose a reason to reject.").wait_for()
    assert page.locator(".selected-count").inner_text() == "2"
    assert page.locator("input.pick:checked").count() == 2
    assert all(server.comment(cid)["review"]["status"] == "pending" for cid in ids)
    # without the script's check (the server's answer), the selection comes back ticked as well
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    page.evaluate("""async ([ids, token]) => {
        const body = new URLSearchParams([['csrf_token', token], ['action', 'reject'], ['next', '/review/'],
                                          ...ids.map((i) => ['ids', String(i)])]);
        await fetch('/review/bulk', {method: 'POST', body: body, redirect: 'manual'}); }""", [ids, token])
    page.goto("/review/")
    page.get_by_text("Choose a reason to reject.").wait_for()
    assert sorted(int(x) for x in page.eval_on_selector_all("input.pick:checked", "els => els.map(e => e.value)")) \
        == sorted(ids)


def test_rejected_view_says_who_why_and_when(session: Session, server: Server, tmp_path: Path) -> None:
    page = session.page
    page.goto("/review/?status=rejected")
    cards = page.locator("article.item")
    assert cards.count() >= 1
    first = cards.first
    assert first.locator(".who").inner_text() in {"alice", "e2e api"}
    assert first.locator(".when").inner_text().endswith("UTC")
    whens = page.eval_on_selector_all("article.item .when", "els => els.map(e => e.textContent)")
    assert whens == sorted(whens, reverse=True)  # newest first
    screenshot(page, tmp_path, "rejected.png")


@pytest.mark.parametrize("path", ["/review/", "/review/comments/{id}", "/review/overview", "/review/?status=rejected"])
def test_nothing_overflows_a_390_px_window(phone: Session, server: Server, tmp_path: Path, path: str) -> None:
    page = phone.page
    page.goto(path.format(id=server.ids[2]))
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"{path}: the page is {width} px wide"
    wide = page.evaluate("""() => Array.from(document.querySelectorAll('body *')).filter((e) => {
        const r = e.getBoundingClientRect();
        return r.width > 0 && (r.right > window.innerWidth + 0.5 || r.left < -0.5);
    }).map((e) => e.tagName + '.' + e.className)""")
    assert wide == []
    box = page.locator("form.signout button").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    # the history, audit and agreement tables fit as they are (their wrapper would scroll only as a last resort)
    scrolled = page.eval_on_selector_all(".scroll-x", "els => els.filter((e) => e.scrollWidth > e.clientWidth + 1)"
                                                      ".map((e) => e.firstElementChild.id || e.scrollWidth)")
    assert scrolled == []
    if path == "/review/":
        screenshot(page, tmp_path, "queue-390.png")
    elif path.startswith("/review/comments"):
        screenshot(page, tmp_path, "comment-390.png")


def test_posts_without_csrf_token_are_refused(session: Session, server: Server) -> None:
    page = session.page
    cid = server.queue()[0]
    resp = page.request.post(f"/review/comments/{cid}/decision", form={"action": "approve"})
    assert resp.status == 400 and "security token" in resp.text()
    status = page.evaluate("""async (cid) => {
        const body = new URLSearchParams({action: 'approve', ids: cid});
        const r = await fetch('/review/bulk', {method: 'POST', body: body});
        return r.status; }""", str(cid))
    assert status == 400
    assert server.comment(cid)["review"]["status"] == "pending"


def test_overview(session: Session, server: Server) -> None:
    # one decision of its own, so the agreement table has numbers whichever tests ran before in this process
    # (pytest -n splits the module's tests between workers, each with its own server)
    statuses = []
    for cid in server.queue():  # the first item no moderator holds a claim on (earlier tests claim some)
        status, _, _ = request(f"{server.base}/v1/queue/{cid}/decision", "POST",
                               {"decision": "reject", "reason": "e2e overview", "categories": ["personal_attack"]},
                               key=server.review_key)
        statuses.append(status)
        if status != 409:
            break
    assert statuses[-1] == 200, statuses
    page = session.page
    page.goto("/review/overview")
    depth = page.locator("#queue-depth").inner_text()
    assert int(depth) == len(server.queue())
    assert page.locator("#agreement tbody tr").count() == 4
    assert re.search(r"\d+%", page.locator("#agreement").inner_text())


def test_comment_page_shows_earlier_texts_and_reopens(session: Session, server: Server) -> None:
    first = "I think the library should open on Sundays, the whole town would use it."
    second = "I think the library should open on Sundays and on holidays: families would use it."
    status, body, _ = request(f"{server.base}/v1/comments", "POST", {"text": first, "author_id": "editor-1",
                                                                    "thread_id": "library"}, server.submit_key)
    assert status == 201, body
    cid = body["id"]
    status, body, _ = request(f"{server.base}/v1/comments/{cid}", "PATCH", {"text": second}, server.submit_key)
    assert status == 200 and body["state"] == "pending", body
    status, body, _ = request(f"{server.base}/v1/queue/{cid}/decision", "POST", {"decision": "approve"},
                              key=server.review_key)
    assert status == 200, body
    page = session.page
    page.goto(f"/review/comments/{cid}")
    assert page.locator("header [data-state]").inner_text() == "approved"
    assert page.locator(".earlier-texts blockquote").inner_text() == first
    page.fill("form.reopen input[name=note]", "approved too quickly")
    page.click("form.reopen button[type=submit]")
    page.get_by_text(f"Reopened #{cid}").wait_for()
    assert page.locator("header [data-state]").inner_text() == "pending"
    after = server.comment(cid)
    assert after["state"] == "pending" and after["review"]["status"] == "pending"
    reopened = [h for h in after["history"] if h["action"] == "reopened"]
    assert reopened and reopened[-1]["actor"] == "user:alice"
