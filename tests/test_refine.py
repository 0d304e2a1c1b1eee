"""Deferred scoring with the shipped model's encoder: the linear view scores a submission at once, the
background refiner re-scores it with the full model; moderators' decisions win; one refiner at a time."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from moderator.model.classifier import platt
from moderator.service.refine import Refiner
from moderator.storage.models import CommentScore, HistoryEvent

INSULT = "you are a pathetic idiot and nobody here wants to read your garbage"
HATE = "those people are vermin and should be driven out of our country"


def refiner_for(svc: Any, **kw: Any) -> Refiner:
    st = svc.state
    return Refiner(st.engine, st.sessionmaker, lambda: (st.full_model, st.full_policy), st.clock, **kw)


def detail(svc: Any, cid: int) -> dict[str, Any]:
    return svc.call("GET", f"/v1/comments/{cid}").get_json()


def test_shipped_model_has_an_encoder(model: Any) -> None:
    assert model.encoder is not None
    assert model.encoder_categories == ("hate_speech", "personal_attack")
    assert model.linear_thresholds is not None and set(model.linear_thresholds) == set(model.categories)
    view = model.linear_view()
    assert view.version == f"{model.version}+linear" and view.encoder is None
    assert view.thresholds == model.linear_thresholds
    full, lin = model.predict_proba([INSULT])[0], view.predict_proba([INSULT])[0]
    enc = model.encoder.predict_proba([INSULT])[0]
    k = model.encoder.categories.index("personal_attack")
    # the two parts, each through the Platt scaling training fitted, averaged
    cal = model.calibration["personal_attack"]
    assert full["personal_attack"] == pytest.approx(
        (platt(np.array([lin["personal_attack"]]), *cal["linear"])[0]
         + platt(np.array([enc[k]]), *cal["encoder"])[0]) / 2)
    assert full["personal_attack"] != pytest.approx((lin["personal_attack"] + enc[k]) / 2)
    assert full["spam"] == lin["spam"] and full["obscenity"] == lin["obscenity"]  # the encoder scores two


def test_deferred_submission_is_scored_linear_then_refined(make_service_fixture: Any, model: Any) -> None:
    svc = make_service_fixture(ENCODER_MODE="deferred", REFINE=False)
    st = svc.state
    assert st.model.version == f"{model.version}+linear" and st.full_model is model
    body = svc.submit(INSULT).get_json()
    lin = model.linear_view().predict_proba([INSULT])[0]
    assert body["model_version"] == f"{model.version}+linear"
    assert body["scores"] == pytest.approx(lin)

    metrics = svc.call("GET", "/metrics", None).get_data(as_text=True)
    assert "moderator_refine_backlog 1.0" in metrics
    refiner = refiner_for(svc)
    assert refiner.run_once() == 1
    assert refiner.run_once() == 0  # nothing left
    assert "moderator_refine_backlog 0.0" in svc.call("GET", "/metrics", None).get_data(as_text=True)
    full = model.predict_proba([INSULT])[0]
    assert abs(full["personal_attack"] - lin["personal_attack"]) > 1e-3  # the encoder moved the score
    got = detail(svc, body["id"])
    assert got["model_version"] == model.version
    assert got["scores"] == pytest.approx(full)
    rescored = [h for h in got["history"] if h["action"] == "rescored"]
    assert len(rescored) == 1 and rescored[0]["actor"] == "system:refiner"
    assert rescored[0]["data"]["from_model"] == f"{model.version}+linear"
    expected = st.full_policy.evaluate(full, None, False)
    item = next(i for i in svc.call("GET", "/v1/queue", "review").get_json()["items"] if i["id"] == body["id"])
    assert item["priority"] == pytest.approx(expected.priority)
    assert item["flags"] == list(expected.flags)


def test_refiner_leaves_decided_comments_alone(make_service_fixture: Any, model: Any) -> None:
    svc = make_service_fixture(ENCODER_MODE="deferred", REFINE=False)
    cid = svc.submit(HATE).get_json()["id"]
    assert svc.call("POST", f"/v1/queue/{cid}/decision", "review",
                    json={"decision": "reject", "reason": "hate speech"}).status_code == 200
    assert refiner_for(svc).run_once() == 0
    got = detail(svc, cid)
    assert got["model_version"] == f"{model.version}+linear"  # decided with the scores the moderator saw
    assert not [h for h in got["history"] if h["action"] == "rescored"]


def test_inline_and_off_modes(make_service_fixture: Any, model: Any) -> None:
    inline = make_service_fixture(ENCODER_MODE="inline")
    body = inline.submit(INSULT).get_json()
    assert body["model_version"] == model.version
    assert body["scores"] == pytest.approx(model.predict_proba([INSULT])[0])
    assert inline.state.full_model is None and "moderator_refiner" not in inline.app.extensions

    off = make_service_fixture(ENCODER_MODE="off")
    body = off.submit(INSULT).get_json()
    assert body["model_version"] == f"{model.version}+linear"
    assert off.state.full_model is None and "moderator_refiner" not in off.app.extensions


def test_unknown_encoder_mode_fails_at_start(make_app: Any) -> None:
    with pytest.raises(ValueError, match="MODERATOR_ENCODER_MODE"):
        make_app(ENCODER_MODE="sometimes")


def test_background_refiner_thread_refines_new_submissions(make_service_fixture: Any, model: Any) -> None:
    svc = make_service_fixture(ENCODER_MODE="deferred", REFINE=True, REFINE_INTERVAL=0.05)
    refiner = svc.app.extensions["moderator_refiner"]
    ids = [svc.submit(t, author_id=f"a{i}").get_json()["id"] for i, t in enumerate([INSULT, HATE, "Nice piece."])]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(detail(svc, c)["model_version"] != model.version for c in ids):
        refiner.wait_idle(5)
        time.sleep(0.05)
    assert [detail(svc, c)["model_version"] for c in ids] == [model.version] * 3
    assert refiner.stats.rescored == 3 and refiner.stats.errors == 0


def test_concurrent_refiners_rescore_each_comment_once(make_service_fixture: Any, model: Any) -> None:
    svc = make_service_fixture(ENCODER_MODE="deferred", REFINE=False)
    texts = [f"{INSULT} ({i})" if i % 2 else f"Comment number {i} about the budget vote." for i in range(12)]
    ids = [svc.submit(t, author_id=f"a{i}").get_json()["id"] for i, t in enumerate(texts)]
    refiners = [refiner_for(svc), refiner_for(svc)]

    def drain(r: Refiner) -> None:
        while r.run_once():
            pass

    threads = [threading.Thread(target=drain, args=(r,)) for r in refiners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    with svc.state.sessionmaker() as session:
        scores = Counter(session.scalars(select(CommentScore.comment_id)
                                         .where(CommentScore.model_version == model.version)).all())
        rescored = Counter(session.scalars(select(HistoryEvent.comment_id)
                                           .where(HistoryEvent.action == "rescored")).all())
    assert scores == {c: len(model.categories) for c in ids}
    assert rescored == {c: 1 for c in ids}
    assert sum(r.stats.rescored for r in refiners) == len(ids)


def test_one_refiner_leads_at_a_time(make_service_fixture: Any, tmp_path: Any) -> None:
    svc = make_service_fixture(ENCODER_MODE="deferred", REFINE=False)
    lock = tmp_path / "refiner.lock"
    first, second = refiner_for(svc, lock_file=lock), refiner_for(svc, lock_file=lock)
    with first._leadership() as a:
        assert a is True
        with second._leadership() as b:
            assert b is False
    with second._leadership() as b:
        assert b is True


def test_refiner_yields_while_intake_keeps_the_worker_busy(make_service_fixture: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from moderator.service import refine

    monkeypatch.setattr(refine, "UTILIZATION_WINDOW", 0.05)
    monkeypatch.setattr(refine, "SATURATED_BATCH_EVERY", 60.0)
    svc = make_service_fixture(ENCODER_MODE="deferred", REFINE=False)
    r = refiner_for(svc)
    time.sleep(0.06)
    assert r.intake_utilization() == 0.0 and r._batch_size() == refine.BATCH  # idle intake: full batches
    release = threading.Event()

    def submission() -> None:
        with r.intake():
            release.wait(5)

    t = threading.Thread(target=submission)
    t.start()
    time.sleep(0.06)
    assert r.intake_utilization() > 0.7
    r._last_saturated_batch = time.monotonic()  # a small batch was just taken
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    assert r._batch_size() == refine.BATCH  # it waited until intake went quiet
    assert time.monotonic() - started >= 0.25
    t.join()

    release.clear()
    t = threading.Thread(target=submission)
    t.start()
    time.sleep(0.06)
    r.intake_utilization()
    r._last_saturated_batch = 0.0  # busy for long: one small batch is due
    assert r._batch_size() == refine.SATURATED_BATCH
    release.set()
    t.join()
