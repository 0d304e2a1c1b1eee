"""Micro-batching of model calls across threads (``moderator.service.scoring.BatchScorer``)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from moderator.service.scoring import BatchScorer


class SlowModel:
    """Scores a text by its length; each call takes 50 ms, whatever the batch size (like sklearn's overhead)."""

    version = "slow-1"

    def __init__(self) -> None:
        self.batches: list[int] = []

    def predict_proba(self, texts: list[str]) -> list[dict[str, float]]:
        self.batches.append(len(texts))
        time.sleep(0.05)
        if any(t == "boom" for t in texts):
            raise RuntimeError("model failed")
        return [{"spam": len(t) / 100} for t in texts]


def run_threads(scorer: BatchScorer, inputs: list[list[str]]) -> list[Any]:
    out: list[Any] = [None] * len(inputs)
    barrier = threading.Barrier(len(inputs))

    def work(i: int) -> None:
        barrier.wait()
        try:
            out[i] = scorer.score(inputs[i])
        except Exception as exc:
            out[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_concurrent_callers_share_model_calls_and_get_their_own_results() -> None:
    model = SlowModel()
    scorer = BatchScorer(lambda: model)
    inputs = [["x" * i] for i in range(1, 17)] + [["a", "bb", "ccc"]]
    out = run_threads(scorer, inputs)
    for texts, (version, probs) in zip(inputs, out, strict=True):
        assert version == "slow-1"
        assert probs == [{"spam": len(t) / 100} for t in texts]
    assert sum(model.batches) == 19
    assert len(model.batches) < 17 / 2, model.batches  # batched: far fewer calls than callers


def test_single_caller_is_not_delayed() -> None:
    model = SlowModel()
    scorer = BatchScorer(lambda: model)
    t0 = time.perf_counter()
    assert scorer.score(["hello"]) == ("slow-1", [{"spam": 0.05}])
    assert time.perf_counter() - t0 < 0.5
    assert model.batches == [1]


def test_errors_reach_every_caller_of_the_batch_and_the_scorer_recovers() -> None:
    model = SlowModel()
    scorer = BatchScorer(lambda: model)
    out = run_threads(scorer, [["boom"], ["fine"]])
    assert any(isinstance(o, RuntimeError) for o in out)
    assert scorer.score(["after"]) == ("slow-1", [{"spam": 0.05}])


def test_batches_respect_the_size_limit() -> None:
    model = SlowModel()
    scorer = BatchScorer(lambda: model, max_texts=4)
    out = run_threads(scorer, [["a", "b", "c"] for _ in range(6)])
    assert all(probs == [{"spam": 0.01}] * 3 for _, probs in out)
    assert max(model.batches) <= 4 and sum(model.batches) == 18


@pytest.mark.parametrize("n", [1, 8])
def test_service_scores_through_the_batcher(service: Any, n: int) -> None:
    texts = [f"comment number {i} about the weather" for i in range(n)]
    body = service.call("POST", "/v1/score", "submit", json={"texts": texts}).get_json()
    # scored in a batch of n, the same as alone: to the encoder's batch-invariance tolerance (float32 products of
    # another shape may round differently in the last bits)
    assert body["results"][0]["scores"] == pytest.approx(service.state.model.predict_proba(texts[:1])[0], abs=1e-6)
    assert service.app.extensions["moderator_scorer"].calls >= 1
