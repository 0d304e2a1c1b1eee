"""``moderator serve`` with two gunicorn workers follows ``moderator promote`` without a restart, and answers
every request meanwhile (stub artifacts, so no training)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import save_stub, stub_module
from serving import MODERATOR, moderator_serve, request, service_env

pytestmark = pytest.mark.slow


def test_workers_follow_a_promotion(tmp_path: Path) -> None:
    stub_dir = tmp_path / "stubmod"
    stub_module(stub_dir)
    models = tmp_path / "models"
    save_stub(models, "v1", make_default=True)
    save_stub(models / "candidates", "v2", base=0.3)
    env = service_env(tmp_path / "home", MODERATOR_MODEL=str(models),
                      PYTHONPATH=os.pathsep.join([str(stub_dir), *sys.path]))
    with moderator_serve(env, tmp_path / "serve.log", workers=2, ready_timeout=60) as base:
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
