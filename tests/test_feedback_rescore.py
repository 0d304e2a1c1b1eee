"""``moderator rescore``: the pending queue re-scored with the current model (scores, flags, priorities,
history, audit); decided comments untouched; a decision made meanwhile wins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from helpers import make_reload_app, save_stub, stub_module
from moderator.cli import main
from moderator.service.audit import Actor
from moderator.service.policy import Policy
from moderator.service.rescore import _reasons, rescore_pending

ACTOR = Actor("cli:test", "tests", "admin")


@pytest.fixture
def queue(tmp_path: Path) -> Any:
    from conftest import make_service

    stubs = stub_module(tmp_path / "stubmod")
    models = tmp_path / "models"
    save_stub(models, "v1", make_default=True)
    save_stub(models, "v2", base=0.3)
    app = make_reload_app(tmp_path, models, MODEL_RELOAD_INTERVAL=0)
    svc = make_service(app)
    ids = {k: svc.submit(t).get_json()["id"] for k, t in
           [("spam", "buy my stuff"), ("clean", "hello there"), ("decided", "you idiot")]}
    assert svc.call("POST", f"/v1/queue/{ids['decided']}/decision", "review",
                    json={"decision": "approve"}).status_code == 200
    yield svc, ids, stubs, models
    app.extensions["moderator"].engine.dispose()


def queue_items(svc: Any) -> list[dict[str, Any]]:
    return svc.call("GET", "/v1/queue", "review").get_json()["items"]


def test_rescore_updates_pending_items_only(queue: Any) -> None:
    svc, ids, stubs, _ = queue
    before = {i["id"]: i for i in queue_items(svc)}
    assert before[ids["clean"]]["priority"] == pytest.approx(0.1)  # 0.05 / 0.5
    v2 = stubs.StubModel("v2", base=0.3)
    st = svc.state
    result = rescore_pending(st.sessionmaker, v2, Policy.from_env(v2.thresholds, categories=v2.categories), ACTOR,
                             st.clock, batch_size=1)
    assert result.rescored == 2 and result.skipped_decided == 0
    after = {i["id"]: i for i in queue_items(svc)}
    assert after[ids["clean"]]["priority"] == pytest.approx(0.6)  # 0.3 / 0.5
    assert after[ids["clean"]]["scores"]["spam"] == pytest.approx(0.3)
    assert after[ids["clean"]]["version"] == before[ids["clean"]]["version"]  # no spurious 409 for moderators
    assert after[ids["spam"]]["flags"] == ["spam"]
    detail = svc.call("GET", f"/v1/comments/{ids['clean']}").get_json()
    assert detail["model_version"] == "v2"
    rescored = [h for h in detail["history"] if h["action"] == "rescored"]
    assert rescored and rescored[0]["data"]["from_model"] == "v1" and rescored[0]["data"]["priority_to"] == 0.6
    decided = svc.call("GET", f"/v1/comments/{ids['decided']}").get_json()
    assert decided["model_version"] == "v1" and decided["scores"]["spam"] == pytest.approx(0.05)
    events = svc.call("GET", "/v1/audit?action=model.rescore", "admin").get_json()["items"]
    assert events[0]["data"]["rescored"] == 2 and events[0]["actor"] == "cli:test"
    again = rescore_pending(st.sessionmaker, v2, Policy.from_env(v2.thresholds), ACTOR, st.clock)
    assert again.rescored == 0 and again.already_current == 2


def test_a_decision_made_while_scoring_wins(queue: Any) -> None:
    svc, ids, stubs, _ = queue

    class DecidesMeanwhile:
        def __init__(self) -> None:
            self.inner = stubs.StubModel("v2", base=0.3)
            self.version, self.thresholds, self.categories = "v2", self.inner.thresholds, self.inner.categories

        def predict_proba(self, texts: list[str]) -> list[dict[str, float]]:
            r = svc.call("POST", f"/v1/queue/{ids['spam']}/decision", "review",
                         json={"decision": "reject", "categories": ["spam"]})
            assert r.status_code == 200
            return self.inner.predict_proba(texts)

    m = DecidesMeanwhile()
    st = svc.state
    result = rescore_pending(st.sessionmaker, m, Policy.from_env(m.thresholds), ACTOR, st.clock)
    assert result.skipped_decided == 1 and result.rescored == 1
    spam = svc.call("GET", f"/v1/comments/{ids['spam']}").get_json()
    assert spam["model_version"] == "v1" and spam["review"]["status"] == "rejected"


def test_rescore_cli_and_promote_rescore(queue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    svc, ids, _, models = queue
    monkeypatch.setenv("DATABASE_URL", svc.state.database_url)
    monkeypatch.delenv("MODERATOR_MODEL", raising=False)
    r = CliRunner().invoke(main, ["rescore", "--model", str(models / "v2.joblib")])
    assert r.exit_code == 0, r.output
    assert '"rescored": 2' in r.output
    assert svc.call("GET", f"/v1/comments/{ids['clean']}").get_json()["model_version"] == "v2"
    # promote back to v1 with --rescore: the queue follows (existing v1 score rows are replaced, not duplicated)
    import moderator.cli.feedback as fc

    monkeypatch.setattr(fc, "_comparison", lambda cand, cp, cur, *a: {"candidate": {"version": cand.version},
                                                                        "current": {"version": cur.version},
                                                                        "sets": {}})
    (models / "DEFAULT").write_text("v2\n")
    r = CliRunner().invoke(main, ["promote", "v1", "--models-dir", str(models), "--rescore"])
    assert r.exit_code == 0, r.output
    clean = svc.call("GET", f"/v1/comments/{ids['clean']}").get_json()
    assert clean["model_version"] == "v1" and clean["scores"]["spam"] == pytest.approx(0.05)


def test_reasons_keep_their_place() -> None:
    assert _reasons(["duplicate:same_author", "flagged:spam"], ("obscenity",)) == \
        ["duplicate:same_author", "flagged:obscenity"]
    assert _reasons(["premoderation"], ("spam",)) == ["flagged:spam", "premoderation"]
    assert _reasons(["rate_limited", "flagged:spam", "premoderation"], ()) == ["rate_limited", "premoderation"]
