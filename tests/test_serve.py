"""``moderator serve`` for real: gunicorn with two workers on a fresh SQLite home, on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

MODERATOR = [str(Path(sys.executable).parent / "moderator")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(url: str, method: str = "GET", body: Any = None, key: str | None = None) -> tuple[int, Any, str]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read().decode()
            is_json = resp.headers.get_content_type() == "application/json"
            return resp.status, (json.loads(raw) if is_json else None), raw
    except urllib.error.HTTPError as exc:
        raw = exc.read().decode()
        exc.close()
        return exc.code, json.loads(raw), raw


def test_serve_with_two_workers(tmp_path: Path, model: Any) -> None:
    """`model` (unused here) skips this test while no shipped model exists, like the other service tests."""
    env = {**os.environ, "MODERATOR_HOME": str(tmp_path / "home")}
    env.pop("DATABASE_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen([*MODERATOR, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if request(f"{base}/readyz")[0] == 200:
                    break
            except (urllib.error.URLError, OSError):  # refused, or accepted but not answered yet (workers loading)
                pass
            assert proc.poll() is None, Path(log.name).read_text()
            assert time.monotonic() < deadline, "server did not become ready in 120 s"
            time.sleep(0.3)
        out = subprocess.run([*MODERATOR, "keys", "create", "--role", "admin", "--name", "serve test"], env=env,
                             capture_output=True, text=True, check=True).stdout
        key = out.strip().splitlines()[-1]
        ids = []
        for i in range(20):  # spread over both workers
            status, body, _ = request(f"{base}/v1/comments", "POST",
                                      {"text": f"Comment number {i} about the park renovation plans.",
                                       "author_id": f"u{i}", "thread_id": "t"}, key)
            assert status == 201, body
            ids.append(body["id"])
        assert len(set(ids)) == 20
        status, queue, _ = request(f"{base}/v1/queue?limit=200", key=key)
        assert status == 200 and sorted(i["id"] for i in queue["items"]) == sorted(ids)
        status, _, metrics = request(f"{base}/metrics")
        assert status == 200
        assert "moderator_queue_depth 20.0" in metrics
        # the counter is summed over both workers (multiprocess mode)
        line = next(x for x in metrics.splitlines()
                    if x.startswith("moderator_requests_total") and 'route="/v1/comments"' in x and "201" in x)
        assert line.endswith(" 20.0"), line
        assert request(f"{base}/v1/queue")[0] == 401
        log.seek(0)
        startup = log.read()
        assert f"http://127.0.0.1:{port}" in startup and "moderator keys create" in startup
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    assert (tmp_path / "home" / "moderator.db").exists()
