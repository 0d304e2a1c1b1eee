"""``moderator promote --rescore`` while a running service's background re-scorer works with the old model:
every pending item ends on the promoted model, whatever the re-scorer does meanwhile or afterwards."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from helpers import make_reload_app, save_stub, stub_module
from moderator.cli import main
from moderator.model.artifact import set_default
from moderator.service.policy import Policy
from moderator.service.refine import Refiner
from moderator.storage.models import Comment, ReviewItem


def pending_versions(factory: Any) -> dict[int, str]:
    with factory() as session:
        rows = session.execute(select(Comment.id, Comment.model_version)
                               .join(ReviewItem, ReviewItem.comment_id == Comment.id)
                               .where(ReviewItem.status == "pending")).all()
    return {cid: version for cid, version in rows}


def test_promote_rescore_wins_over_a_running_refiner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import make_service

    stubs = stub_module(tmp_path / "stubmod")
    models = tmp_path / "models"
    save_stub(models, "v0", make_default=True)
    save_stub(models, "v1", base=0.2)
    save_stub(models, "v2", base=0.3)
    app = make_reload_app(tmp_path, models, MODEL_RELOAD_INTERVAL=0)
    svc = make_service(app)
    st = app.extensions["moderator"]
    for i in range(60):
        assert svc.submit(f"comment number {i} about the harbour").status_code == 201

    # The service now serves v1 (promoted earlier): its refiner re-scores the queue from v0 to v1, slowly.
    set_default(models, "v1")
    v1 = stubs.StubModel("v1", base=0.2)

    class Slow:
        version, thresholds, categories = v1.version, v1.thresholds, v1.categories

        def predict_proba(self, texts: list[str]) -> list[dict[str, float]]:
            time.sleep(0.01)  # widen the window between scoring and writing
            return v1.predict_proba(texts)

    policy = Policy.from_env(v1.thresholds, categories=v1.categories)
    refiner = Refiner(st.engine, st.sessionmaker, lambda: (Slow(), policy), st.clock, source=models)
    stop = threading.Event()
    passes = [0]

    def keep_refining() -> None:  # what a refiner may do: work, and sweep the whole queue again and again
        while not stop.is_set():
            if refiner.run_once(batch_size=4) == 0:
                refiner._cursor = ("", 0)
                passes[0] += 1

    thread = threading.Thread(target=keep_refining)
    thread.start()
    try:
        time.sleep(0.05)
        monkeypatch.setenv("DATABASE_URL", st.database_url)
        monkeypatch.delenv("MODERATOR_MODEL", raising=False)
        import moderator.cli.feedback as fc

        monkeypatch.setattr(fc, "_comparison", lambda cand, cp, cur, *a: {
            "candidate": {"version": cand.version}, "current": {"version": cur.version}, "sets": {}})
        r = CliRunner().invoke(main, ["promote", "v2", "--models-dir", str(models), "--rescore"])
        assert r.exit_code == 0, r.output
        seen = passes[0]
        deadline = time.monotonic() + 10
        while passes[0] < seen + 3 and time.monotonic() < deadline:  # the old refiner keeps sweeping after it
            time.sleep(0.02)
        assert passes[0] >= seen + 3
    finally:
        stop.set()
        thread.join(10)
    versions = pending_versions(st.sessionmaker)
    assert len(versions) == 60 and set(versions.values()) == {"v2"}
    detail = svc.call("GET", f"/v1/comments/{min(versions)}").get_json()
    assert detail["scores"]["spam"] == pytest.approx(0.3)
    app.extensions["moderator"].engine.dispose()


def test_a_stale_rescore_writes_nothing(tmp_path: Path) -> None:
    from conftest import make_service
    from moderator.service.audit import Actor
    from moderator.service.rescore import rescore_pending

    stubs = stub_module(tmp_path / "stubmod")
    models = tmp_path / "models"
    save_stub(models, "v0", make_default=True)
    app = make_reload_app(tmp_path, models, MODEL_RELOAD_INTERVAL=0)
    svc = make_service(app)
    st = app.extensions["moderator"]
    svc.submit("hello there")
    v1 = stubs.StubModel("v1")
    result = rescore_pending(st.sessionmaker, v1, Policy.from_env(v1.thresholds), Actor("t", "t", "admin"), st.clock,
                             record=False, still_current=lambda session: False)
    assert result.stale and result.rescored == 0
    assert set(pending_versions(st.sessionmaker).values()) == {"v0"}
    app.extensions["moderator"].engine.dispose()
