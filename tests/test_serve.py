"""``moderator serve`` for real: gunicorn with two workers on a fresh SQLite home, on a free loopback port."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from serving import MODERATOR, moderator_serve, request, service_env

pytestmark = pytest.mark.slow


def test_serve_with_two_workers(tmp_path: Path, model: Any) -> None:
    """`model` (unused here) skips this test while no shipped model exists, like the other service tests."""
    env = service_env(tmp_path / "home")
    log_path = tmp_path / "serve.log"
    with moderator_serve(env, log_path, workers=2, ready_timeout=120) as base:
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
        startup = log_path.read_text()
        assert base in startup and "moderator keys create" in startup
    assert (tmp_path / "home" / "moderator.db").exists()
