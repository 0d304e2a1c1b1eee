"""The author, reported and rules pages in headless Chromium (Playwright) against a real ``moderator serve``
(two workers, postmoderation, so that readers' reports return published comments to the queue).

Skipped, with the reason, like ``test_review_browser.py``. With ``MODERATOR_UPDATE_SCREENSHOTS=1`` the
screenshots also go to ``docs/screenshots/{author,reported,rules}.png``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from test_review_browser import CHROMIUM, CHROMIUM_ARGS, MODERATOR, _skip_reason, screenshot

from serving import moderator_serve, request, service_env

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "another long moderator password"

COMMENTS = [  # (text, author, thread)
    ("I think the council made the right call on the new bridge.", "regular-1", "bridge"),
    ("The second half of the match was much better than the first.", "regular-1", "match"),
    ("Interesting point about the budget, though I would like more detail.", "heckler-4", "budget"),
    ("My grandmother used to make this recipe every winter.", "reader-5", "recipes"),
    ("I agree with the author about the housing figures.", "heckler-4", "housing"),
]


@dataclass
class Server:
    base: str
    submit_key: str
    admin_key: str
    ids: list[int] = field(default_factory=list)

    def submit(self, text: str, author: str, thread: str = "t") -> dict[str, Any]:
        status, body, _ = request(f"{self.base}/v1/comments", "POST",
                                  {"text": text, "author_id": author, "thread_id": thread}, self.submit_key)
        assert status == 201, body
        return body  # type: ignore[no-any-return]

    def report(self, cid: int, reporter: str, reason: str) -> dict[str, Any]:
        status, body, _ = request(f"{self.base}/v1/comments/{cid}/reports", "POST",
                                  {"reason": reason, "reporter_id": reporter}, self.submit_key)
        assert status == 201, body
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
    tmp = tmp_path_factory.mktemp("e2e-people")
    env = service_env(tmp / "home", MODERATOR_DUP_BACKEND="memory", MODERATOR_POLICY_MODE="postmoderation",
                      MODERATOR_RULES_REFRESH="1")
    with moderator_serve(env, tmp / "serve.log", workers=2, ready_timeout=180) as base:

        def cli(*args: str, stdin: str | None = None) -> str:
            res = subprocess.run([MODERATOR, *args], env=env, input=stdin, capture_output=True, text=True,
                                 timeout=120)
            assert res.returncode == 0, res.stdout + res.stderr
            return res.stdout

        submit_key = cli("keys", "create", "--role", "submit", "--name", "e2e site").strip().splitlines()[-1]
        admin_key = cli("keys", "create", "--role", "admin", "--name", "e2e admin").strip().splitlines()[-1]
        cli("users", "create", "--role", "admin", "--name", "ada", stdin=PASSWORD + "\n")
        srv = Server(base, submit_key, admin_key)
        for text, author, thread in COMMENTS:
            srv.ids.append(srv.submit(text, author, thread)["id"])
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


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server.base)
    context.set_default_timeout(15000)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.goto("/review/login")
    p.fill("input[name=username]", "ada")
    p.fill("input[name=password]", PASSWORD)
    p.click("button[type=submit]")
    p.wait_for_url(f"{server.base}/review/")
    yield p
    context.close()
    assert errors == [], f"page errors: {errors}"


def test_reported_comment_returns_to_the_queue(page: Any, server: Server, tmp_path: Path) -> None:
    cid = server.ids[2]
    assert server.report(cid, "reader-a", "abuse")["requeued"] is True
    server.report(cid, "reader-b", "abuse")
    server.report(cid, "reader-c", "spam")
    page.goto("/review/reported")
    item = page.locator(f"article#item-{cid}")
    assert item.locator(".reported-badge").inner_text() == "reported ×3"
    assert item.locator(".report-reasons").inner_text().split() == ["abuse", "2", "spam", "1"]
    assert page.locator("article[data-item]").count() == 1
    # it is in the main queue too, and approving it dismisses the reports
    page.goto("/review/")
    assert page.locator(f"article#item-{cid}").count() == 1
    page.goto("/review/reported")
    item.locator("details.reports-detail summary").click()
    screenshot(page, tmp_path, "reported.png")
    item.locator("button.btn-approve").click()
    page.get_by_text(f"Approved #{cid}.").wait_for()
    assert page.locator("article[data-item]").count() == 0


def test_author_page_sets_status_and_note(page: Any, server: Server, tmp_path: Path) -> None:
    page.goto(f"/review/comments/{server.ids[2]}")
    page.locator("dl.facts a", has_text="heckler-4").click()
    page.wait_for_url("**/review/authors/heckler-4")
    assert "2 submitted" in page.locator("#author-facts").inner_text()
    assert page.locator("#author-comments li").count() == 2
    page.check("input[name=status][value=premoderated]")
    page.fill("textarea[name=note]", "Reported three times this week; hold everything for now.")
    page.click("form.author-form button[type=submit]")
    page.get_by_text("Author heckler-4 saved.").wait_for()
    assert page.locator("#author-status").inner_text() == "premoderated"
    assert "Reported three times" in page.locator("#author-note").inner_text()
    assert "status: normal → premoderated" in page.locator("#author-changes").inner_text()
    screenshot(page, tmp_path, "author.png")
    # the policy follows: held although the site postmoderates
    out = server.submit("The photos of the harbour at sunset are lovely.", "heckler-4")
    assert out["decision"] == "hold" and "author:premoderated" in out["reasons"]
    # a suspension needs an end in the future: refused with a message, nothing changed
    page.check("input[name=status][value=suspended]")
    page.click("form.author-form button[type=submit]")
    page.get_by_text("Not changed:").wait_for()
    assert page.locator("#author-status").inner_text() == "premoderated"


def test_rules_page_adds_and_removes_rules(page: Any, server: Server, tmp_path: Path) -> None:
    page.goto("/review/rules")
    for kind, pattern, action in (("word", "frobnicate", "block"), ("phrase", "buy now", "hold"),
                                  ("regex", "free\\s+money+", "flag")):
        page.select_option("select[name=kind]", kind)
        page.fill("input[name=pattern]", pattern)
        page.select_option("select[name=action]", action)
        page.click("form.rule-form button[type=submit]")
        page.get_by_text(f"“{pattern}” → {action}").wait_for()
    assert page.locator("#rules tbody tr").count() == 3
    page.select_option("select[name=kind]", "regex")
    page.fill("input[name=pattern]", "(a)\\1")
    page.click("form.rule-form button[type=submit]")
    page.get_by_text("Rule not added: invalid regular expression").wait_for()
    screenshot(page, tmp_path, "rules.png")
    # both workers apply the new rules within MODERATOR_RULES_REFRESH (1 s here); an obfuscated match blocks
    deadline = time.monotonic() + 15
    outcomes = []
    while time.monotonic() < deadline:
        outcomes.append(server.submit("Please do not fr0bn1cate the bridge plans.", f"w{len(outcomes)}")["decision"])
        if outcomes[-2:] == ["reject", "reject"]:
            break
        time.sleep(0.3)
    assert outcomes[-2:] == ["reject", "reject"], outcomes
    whole_words = server.submit("Nobody frobnicates bridges here.", "local")  # whole words only
    assert not any(r.startswith("word:") for r in whole_words["reasons"])
    page.locator("#rules tbody tr").first.locator("button", has_text="Remove").click()
    page.get_by_text("Rule 1 removed.").wait_for()
    assert page.locator("#rules tbody tr").count() == 2
