"""Helpers for tests that run a real ``moderator serve`` (gunicorn) on a free loopback port."""

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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MODERATOR = [str(Path(sys.executable).parent / "moderator")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(url: str, method: str = "GET", body: Any = None, key: str | None = None,
            timeout: float = 10) -> tuple[int, Any, str]:
    """(status, parsed JSON or None, raw text) of one HTTP request; HTTP errors are answers, not exceptions."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read().decode()
            is_json = resp.headers.get_content_type() == "application/json"
            return resp.status, (json.loads(raw) if is_json else None), raw
    except urllib.error.HTTPError as exc:
        raw = exc.read().decode()
        exc.close()
        return exc.code, json.loads(raw), raw


def service_env(home: Path, **extra: str) -> dict[str, str]:
    """The test process's environment with a fresh MODERATOR_HOME and none of the settings a test must not
    inherit (a PostgreSQL URL, a metrics directory, a secret key)."""
    env = {**os.environ, "MODERATOR_HOME": str(home), **extra}
    for var in ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR", "MODERATOR_SECRET_KEY", "MODERATOR_SECURE_COOKIES"):
        if var not in extra:
            env.pop(var, None)
    return env


@contextmanager
def moderator_serve(env: Mapping[str, str], log_path: Path, workers: int = 2,
                    ready_timeout: float = 180) -> Iterator[str]:
    """Run ``moderator serve`` until the block ends; yields its base URL once ``/readyz`` answers 200."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log_path.open("w+") as log:
        proc = subprocess.Popen([*MODERATOR, "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
                                env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + ready_timeout  # the workers load the model; CI machines can be busy
            while True:
                try:
                    if request(f"{base}/readyz", timeout=5)[0] == 200:
                        break
                except OSError:  # refused, reset or timed out while the workers start
                    pass
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, (
                    f"server did not become ready in {ready_timeout:.0f} s:\n" + log_path.read_text())
                time.sleep(0.3)
            yield base
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
