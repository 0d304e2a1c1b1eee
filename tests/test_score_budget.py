"""The per-request cost budget of ``POST /v1/score``: total characters, and a tighter total with ``explain``.

Over budget the whole request is refused with 413 ``request_too_large`` before the model sees any of it (no
partial or truncated results). SQLite only: the check happens before storage, and scoring stores nothing.
"""

from __future__ import annotations

import shutil
from typing import Any, ClassVar

import pytest


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    target = tmp_path / "db" / "moderator.db"
    target.parent.mkdir()
    shutil.copy(request.getfixturevalue("sqlite_template"), target)
    return f"sqlite:///{target}"


class CountingModel:
    """Flags every category of every text and explains each with ``spans`` spans; counts the characters it
    was given, so a test sees whether a refused request cost any model work."""

    version = "counting-1"
    categories = ("hate_speech", "obscenity", "personal_attack", "spam")
    spans: ClassVar[int] = 3

    def __init__(self) -> None:
        self.thresholds = dict.fromkeys(self.categories, 0.5)
        self.scored = 0
        self.explained = 0

    def predict_proba(self, texts: list[str]) -> list[dict[str, float]]:
        self.scored += sum(len(t) for t in texts)
        return [dict.fromkeys(self.categories, 0.9) for _ in texts]

    def explain(self, text: str, category: str) -> list[dict[str, Any]]:
        self.explained += len(text)
        return [{"start": 0, "end": 1, "text": text[0], "weight": 1.0 / (i + 1)} for i in range(self.spans)]


@pytest.fixture
def budget(make_service_fixture: Any) -> Any:
    model = CountingModel()
    svc = make_service_fixture(MODEL=model)
    model.scored = model.explained = 0  # the app's start-up warm-up call
    svc.model = model
    return svc


def score(svc: Any, **body: Any) -> Any:
    return svc.call("POST", "/v1/score", "submit", json=body)


def refused(resp: Any, field: str) -> dict[str, Any]:
    assert resp.status_code == 413, resp.get_data(as_text=True)[:300]
    err: dict[str, Any] = resp.get_json()["error"]
    assert err["code"] == "request_too_large" and err["field"] == field
    assert "results" not in resp.get_json()
    return err


def test_default_total_characters(budget: Any) -> None:
    at_limit = ["x" * 20000] * 10  # MODERATOR_MAX_REQUEST_CHARS: 200,000
    resp = score(budget, texts=at_limit)
    assert resp.status_code == 200 and len(resp.get_json()["results"]) == 10
    assert budget.model.scored == 200000
    err = refused(score(budget, texts=[*at_limit, "y"]), "texts")
    assert "200001" in err["message"] and "200000" in err["message"]
    assert budget.model.scored == 200000  # the refused request cost no model work


def test_default_explain_characters(budget: Any) -> None:
    resp = score(budget, text="x" * 20000, explain=True)  # one text of the longest length can be explained
    assert resp.status_code == 200
    assert budget.model.explained == 4 * 20000  # every flagged category
    err = refused(score(budget, texts=["x" * 10000, "y" * 10001], explain=True), "explain")
    assert "20001" in err["message"] and "20000" in err["message"]
    assert budget.model.explained == 4 * 20000 and budget.model.scored == 20000
    # the same texts without explanations are within the scoring budget
    assert score(budget, texts=["x" * 10000, "y" * 10001]).status_code == 200


def test_limits_are_configurable(make_service_fixture: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODERATOR_MAX_REQUEST_CHARS", "100")
    monkeypatch.setenv("MODERATOR_MAX_EXPLAIN_CHARS", "30")
    svc = make_service_fixture(MODEL=CountingModel())
    assert score(svc, texts=["a" * 50, "b" * 50]).status_code == 200
    refused(score(svc, texts=["a" * 50, "b" * 51]), "texts")
    refused(score(svc, text="c" * 101), "text")
    assert score(svc, text="d" * 30, explain=True).status_code == 200
    refused(score(svc, text="d" * 31, explain=True), "explain")
    svc = make_service_fixture(MODEL=CountingModel(), MAX_EXPLAIN_CHARS=5)  # create_app config wins
    refused(score(svc, text="e" * 6, explain=True), "explain")


def test_per_text_errors_come_before_the_budget(make_service_fixture: Any) -> None:
    svc = make_service_fixture(MODEL=CountingModel(), MAX_REQUEST_CHARS=10, MAX_TEXT_CHARS=20)
    resp = score(svc, texts=["a" * 5, "b" * 21])
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "text_too_long"


def test_spans_per_explanation_are_capped(budget: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CountingModel, "spans", 50)
    resp = score(budget, text="some text", explain=True)
    explanations = resp.get_json()["results"][0]["explanations"]
    assert set(explanations) == set(CountingModel.categories)
    assert all(len(spans) == 10 for spans in explanations.values())


def test_openapi_describes_the_budget(budget: Any) -> None:
    doc = budget.call("GET", "/openapi.json", "submit").get_json()
    request = doc["components"]["schemas"]["ScoreRequest"]
    assert "request_too_large" in request["description"] and "MODERATOR_MAX_REQUEST_CHARS" in request["description"]
    assert "MODERATOR_MAX_EXPLAIN_CHARS" in request["properties"]["explain"]["description"]
    assert "413" in doc["paths"]["/v1/score"]["post"]["responses"]
