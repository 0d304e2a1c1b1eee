"""``moderator webhooks``: add (secret alone on the last line), list, rotate-secret, redeliver, deliveries,
deliver --once, remove; SSRF refusal; and, with a real ``moderator serve``, a ``kill -9`` with undelivered
events, then a restart that delivers them all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from standardwebhooks.webhooks import Webhook

from moderator.cli import main
from receiver import Receiver
from serving import MODERATOR, free_port, request, service_env


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("MODERATOR_HOME", str(home))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert CliRunner().invoke(main, ["init"]).exit_code == 0
    return home


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_webhook_commands(home: Path) -> None:
    receiver = Receiver().start()
    try:
        out = run("webhooks", "add", receiver.url, "--events", "comment.decided")
        secret = out.strip().splitlines()[-1]
        assert secret.startswith("whsec_") and len(secret) > 40
        listed = [json.loads(line) for line in run("webhooks", "list", "--json").splitlines()]
        assert [(e["id"], e["url"], e["events"], e["status"]) for e in listed] == [
            (1, receiver.url, ["comment.decided"], "active")]
        assert secret not in run("webhooks", "list")
        # an event, as a moderator's decision writes it
        from sqlalchemy import create_engine

        from moderator.service import events
        from moderator.storage.db import make_sessionmaker, write_session

        engine = create_engine(f"sqlite:///{home / 'moderator.db'}")
        from datetime import UTC, datetime

        with write_session(make_sessionmaker(engine)) as session:
            events.emit(session, "comment.decided", now=datetime.now(UTC), data={"decision": "approved"})
        engine.dispose()
        assert "sent 1 delivery (1 delivered, 0 failed)" in run("webhooks", "deliver", "--once")
        headers, body = receiver.received[0]
        assert Webhook(secret).verify(body, headers)["data"] == {"decision": "approved"}
        assert "delivered" in run("webhooks", "deliveries", "1")
        new_secret = run("webhooks", "rotate-secret", "1").strip().splitlines()[-1]
        assert new_secret.startswith("whsec_") and new_secret != secret
        assert "due now: delivery 1" in run("webhooks", "redeliver", headers["webhook-id"])
        run("webhooks", "deliver", "--once")
        headers, body = receiver.received[1]
        assert headers["webhook-id"] == receiver.received[0][0]["webhook-id"]  # stable across deliveries
        Webhook(secret).verify(body, headers)
        Webhook(new_secret).verify(body, headers)
        assert "due now: delivery 1" in run("webhooks", "redeliver", "1")
        assert "removed webhook endpoint 1" in run("webhooks", "remove", "1")
        assert run("webhooks", "list", "--json") == ""
    finally:
        receiver.stop()


@pytest.mark.parametrize("url", ["ftp://example.org/x", "http://169.254.169.254/", "http://[fe80::1]:80/",
                                 "http://127.0.0.1:8000/own"])
def test_add_refuses_ssrf_targets(home: Path, url: str) -> None:
    result = CliRunner().invoke(main, ["webhooks", "add", url])
    assert result.exit_code == 1 and "Error:" in result.output
    assert run("webhooks", "list", "--json") == ""


def test_unknown_ids_are_errors(home: Path) -> None:
    for args in (["remove", "7"], ["rotate-secret", "7"], ["redeliver", "evt_7"], ["redeliver", "7"],
                 ["deliveries", "7"], ["add", "http://127.0.0.1:9/x", "--events", "nope"]):
        result = CliRunner().invoke(main, ["webhooks", *args])
        assert result.exit_code == 1, (args, result.output)


# ---------------------------------------------------------------- kill -9 and restart


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen([*MODERATOR, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    while True:
        try:
            if request(f"http://127.0.0.1:{port}/readyz", timeout=5)[0] == 200:
                return proc
        except OSError:
            pass
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.3)


@pytest.mark.slow
def test_kill_9_with_undelivered_events_then_restart_delivers_them_all(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = service_env(home, MODERATOR_ENCODER_MODE="off", MODERATOR_RATE_LIMIT="0",
                      MODERATOR_WEBHOOK_POLL_INTERVAL="0.2")
    subprocess.run([*MODERATOR, "init"], env=env, check=True, capture_output=True)
    key = subprocess.run([*MODERATOR, "keys", "create", "--role", "admin", "--name", "t"], env=env, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    receiver = Receiver().start()
    receiver.status = 503  # the site is down: every attempt fails until it is back
    port = free_port()
    log = tmp_path / "serve.log"
    proc = _serve(env, port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        status, hook, _ = request(f"{base}/v1/webhooks", "POST", {"url": receiver.url}, key)
        assert status == 201, hook
        ids = []
        for i in range(6):
            status, body, _ = request(f"{base}/v1/comments", "POST",
                                      {"text": f"A perfectly fine comment, number {i}.", "author_id": f"a{i}",
                                       "thread_id": "t"}, key)
            assert status == 201, body
            ids.append(body["id"])
        for cid in ids:
            status, body, _ = request(f"{base}/v1/queue/{cid}/decision", "POST", {"decision": "approve"}, key)
            assert status == 200, body
        # every event has had its first attempt refused: none delivered yet
        assert receiver.wait_for(lambda r: len(set(r.ids())) == 6, 30), receiver.ids()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        receiver.status = 204  # the site is back; the service is not
        before = len(receiver.received)
        proc = _serve(env, port, log)
        # the restarted service finds the pending deliveries in the database and sends each (retry due within
        # 5 s +-20% of its failed attempt; or, if the kill came mid-send, after its lease expires)
        assert receiver.wait_for(
            lambda r: {h["webhook-id"] for h, _ in r.received[before:]} >= set(r.ids()), 90)
        delivered = [h["webhook-id"] for h, _ in receiver.received[before:]]
        assert len(set(delivered)) == 6
        deadline = time.monotonic() + 15  # each outcome is recorded just after the receiver answers
        while True:
            status, log_page, _ = request(f"{base}/v1/webhooks/{hook['id']}/deliveries", key=key)
            assert status == 200
            if {d["status"] for d in log_page["items"]} == {"delivered"} or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert [d["status"] for d in log_page["items"]] == ["delivered"] * 6
        for headers, body in receiver.received[before:]:
            Webhook(hook["secret"]).verify(body, headers)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        receiver.stop()
