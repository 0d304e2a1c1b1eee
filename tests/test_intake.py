"""``MODERATOR_ENCODER_MODE=auto``: submissions get the full model while it can answer within the intake budget,
the fast path (linear model, its own thresholds, re-scored later) when it cannot; ``/v1/score``, ``/v1/policy``,
submissions and ``moderator score`` show the same model."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from moderator.service.intake import IntakeScorer
from moderator.service.refine import Refiner
from moderator.service.scoring import BatchScorer

INSULT = "you are a pathetic idiot and nobody here wants to read your garbage"


class Model:
    def __init__(self, version: str, p: float) -> None:
        self.version, self.p = version, p

    def predict_proba(self, texts: list[str]) -> list[dict[str, float]]:
        return [{"spam": self.p} for _ in texts]


def test_intake_scorer_uses_the_full_model_until_its_queue_exceeds_the_budget() -> None:
    scorer = IntakeScorer(BatchScorer(lambda: Model("full", 0.9)), BatchScorer(lambda: Model("fast", 0.1)), 0.02)
    assert scorer.score(["a"]) == ("full", [{"spam": 0.9}])  # nothing measured yet, nothing queued
    assert scorer.full_calls == 1 and scorer.expected_wait() < 0.02  # a stub model call costs microseconds
    scorer._measured(1, 1.0)  # the full model was measured slow: a text now costs ~0.2 s by the estimate
    assert scorer.expected_wait() > 0.02
    assert scorer.score(["a"]) == ("fast", [{"spam": 0.1}])
    assert scorer.fast_calls == 1
    relaxed = IntakeScorer(BatchScorer(lambda: Model("full", 0.9)), BatchScorer(lambda: Model("fast", 0.1)), 10.0)
    relaxed._measured(1, 1.0)
    assert relaxed.score(["a", "b"])[0] == "full"  # 2 x ~1 s within a 10 s budget


def test_a_stale_estimate_is_measured_again_instead_of_starving_the_full_model() -> None:
    now = [100.0]
    scorer = IntakeScorer(BatchScorer(lambda: Model("full", 0.9)), BatchScorer(lambda: Model("fast", 0.1)), 0.02,
                          clock=lambda: now[0])
    scorer._measured(1, 0.5)  # one lone text took 0.5 s (a pause): a text now costs 0.5 s by the estimate
    for _ in range(3):
        assert scorer.score(["a"])[0] == "fast"
    now[0] += 0.5  # still recent: the estimate stands
    assert scorer.score(["a"])[0] == "fast"
    now[0] += 1.0  # no full-model call for over STALE_AFTER, nothing queued: the next text re-measures it
    assert scorer.score(["a"])[0] == "full"
    assert scorer.expected_wait() < 0.02  # the stale 0.5 s was replaced by the new measurement, not blended
    assert scorer.score(["a"])[0] == "full"
    assert (scorer.full_calls, scorer.fast_calls) == (2, 4)


def test_a_recent_slow_measurement_is_blended_into_the_estimate() -> None:
    now = [100.0]
    scorer = IntakeScorer(BatchScorer(lambda: Model("full", 0.9)), BatchScorer(lambda: Model("fast", 0.1)), 1.0,
                          clock=lambda: now[0])
    scorer._measured(1, 0.01)
    now[0] += 0.1
    scorer._measured(1, 0.11)
    assert scorer.expected_wait() == pytest.approx(0.8 * 0.01 + 0.2 * 0.11)


def test_auto_mode_shows_one_model_everywhere(make_service_fixture: Any, model: Any) -> None:
    svc = make_service_fixture(ENCODER_MODE="auto", REFINE=False)
    st = svc.state
    assert st.model is model and st.full_model is model and st.fast_model is model.linear_view()
    full = model.predict_proba([INSULT])[0]
    body = svc.submit(INSULT).get_json()
    assert body["model_version"] == model.version
    assert body["scores"] == pytest.approx(full, abs=1e-9)
    assert body["flags"] == [c for c in model.categories if full[c] >= model.thresholds[c]]
    scored = svc.call("POST", "/v1/score", "submit", json={"text": INSULT}).get_json()
    assert scored["model_version"] == model.version
    assert scored["results"][0]["scores"] == pytest.approx(full, abs=1e-9)
    pol = svc.call("GET", "/v1/policy", "review").get_json()
    assert pol["model_version"] == model.version
    assert pol["thresholds"] == pytest.approx(model.thresholds)
    # `moderator score` loads the same default model: the same scores
    out = subprocess.run([sys.executable, "-m", "moderator", "score"], input=INSULT + "\n", capture_output=True,
                         text=True, check=True).stdout
    cli = json.loads(out.splitlines()[0])
    assert cli["model_version"] == model.version
    assert cli["scores"] == pytest.approx({c: round(v, 5) for c, v in full.items()}, abs=1e-5)


def test_auto_mode_falls_back_to_the_fast_path_and_refines_it(make_service_fixture: Any, model: Any) -> None:
    svc = make_service_fixture(ENCODER_MODE="auto", REFINE=False)
    st = svc.state
    svc.submit("warm-up: builds this app's intake scorer")
    from moderator.web.context import INTAKE

    intake = svc.app.extensions[INTAKE]
    intake.budget = -1.0  # as if the full model's queue were over the budget: a burst
    intake.stale_after = float("inf")  # and its estimate never re-measured, however slow the machine
    body = svc.submit(INSULT).get_json()
    lin = model.linear_view()
    assert body["model_version"] == f"{model.version}+linear"
    assert body["scores"] == pytest.approx(lin.predict_proba([INSULT])[0], abs=1e-9)
    # the fast path is judged by its own thresholds (the linear model's), not the full model's
    assert body["flags"] == list(st.fast_policy.evaluate(body["scores"], None, False).flags)
    assert st.fast_policy.thresholds == pytest.approx(model.linear_thresholds)
    metrics = svc.call("GET", "/metrics", None).get_data(as_text=True)  # the warm-up by the full model, then this
    assert 'moderator_intake_scored_total{path="full"} 1.0' in metrics
    assert 'moderator_intake_scored_total{path="fast"} 1.0' in metrics
    refiner = Refiner(st.engine, st.sessionmaker, lambda: (st.full_model, st.full_policy), st.clock)
    assert refiner.run_once() >= 1
    got = svc.call("GET", f"/v1/comments/{body['id']}").get_json()
    assert got["model_version"] == model.version
    assert got["scores"] == pytest.approx(model.predict_proba([INSULT])[0], abs=1e-9)
