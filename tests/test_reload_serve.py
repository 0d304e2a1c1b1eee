"""``moderator serve`` with two gunicorn workers follows ``moderator promote`` without a restart, and answers
every request meanwhile (stub artifacts, so no training)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from test_reload import save_stub, stub_module
from test_serve import MODERATOR, free_port, request

pytestmark = pytest.mark.slow


def test_workers_follow_a_promotion(tmp_path: Path) -> None:
    stub_dir = tmp_path / "stubmod"
    stub_module(stub_dir)
    models = tmp_path / "models"
    save_stub(models, "v1", make_default=True)
    save_stub(models / "candidates", "v2", base=0.3)
    env: dict[str, Any] = {**os.environ, "MODERATOR_HOME": str(tmp_path / "home"), "MODERATOR_MODEL": str(models),
                           "PYTHONPATH": os.pathsep.join([str(stub_dir), *sys.path])}
    env.pop("DATABASE_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen([*MODERATOR, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if request(f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, Path(log.name).read_text()
            assert time.monotonic() < deadline, "server did not become ready in 60 s"
            time.sleep(0.3)
        assert {request(f"{base}/readyz")[1]["model"] for _ in range(10)} == {"v1"}
        out = subprocess.run([*MODERATOR, "promote", "v2", "--no-validation", "--reason", "serve test"], env=env,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        assert (models / "DEFAULT").read_text().strip() == "v2"
        # every worker notices within its check interval (5 s) and swaps after loading; no request fails
        deadline = time.monotonic() + 30
        streak = 0
        while streak < 30:
            status, body, _ = request(f"{base}/readyz")
            assert status == 200, body
            streak = streak + 1 if body["model"] == "v2" else 0
            assert time.monotonic() < deadline, "the workers did not all follow the promotion in 30 s"
            time.sleep(0.05)
        status, _, metrics = request(f"{base}/metrics")
        assert status == 200 and 'moderator_model_info{version="v2"} 1.0' in metrics
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
