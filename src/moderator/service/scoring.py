"""Micro-batching of model calls across concurrent requests in one process.

A scikit-learn pipeline has a large fixed cost per ``predict_proba`` call (input validation, one call per
category and calibration fold) and a small cost per text, so scoring 16 texts in one call costs little more
than scoring one. :class:`BatchScorer` lets the threads of a worker (gunicorn ``gthread``, or any threaded
server) share calls: the first caller runs the model at once; callers arriving while it runs queue up and
the next of them scores the whole queue in one call. No caller ever waits for a timer, so at low load
nothing changes, and under load the number of model calls drops to about one per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from moderator.service.batching import LeaderBatcher

MAX_BATCH_TEXTS = 256


class _Pending:
    __slots__ = ("done", "error", "result", "texts", "version")

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = texts
        self.done = False
        self.result: list[dict[str, float]] = []
        self.version = ""
        self.error: BaseException | None = None


class BatchScorer(LeaderBatcher[_Pending]):
    def __init__(self, model: Callable[[], Any], max_texts: int = MAX_BATCH_TEXTS) -> None:
        super().__init__()
        self._model = model  # a getter, so that a hot-reloaded model is picked up
        self._max = max_texts
        self.calls = 0  # model calls made (for tests and profiling)

    def score(self, texts: Sequence[str]) -> tuple[str, list[dict[str, float]]]:
        """``(model version, one {category: probability} per text)``, possibly computed in a shared call."""
        mine = _Pending(texts)
        self._submit(mine)
        if mine.error is not None:
            raise mine.error
        return mine.version, mine.result

    def _take(self, queue: list[_Pending]) -> int:
        """Queued requests up to ``max_texts`` texts in all (the first one whatever its size)."""
        n, size = 0, 0
        while n < len(queue) and (n == 0 or size + len(queue[n].texts) <= self._max):
            size += len(queue[n].texts)
            n += 1
        return n

    def _process(self, batch: list[_Pending]) -> None:
        try:
            model = self._model()
            flat = [t for item in batch for t in item.texts]
            self.calls += 1
            probs = model.predict_proba(flat)
            version = str(model.version)
            i = 0
            for item in batch:
                item.result = [{c: float(v) for c, v in p.items()} for p in probs[i:i + len(item.texts)]]
                item.version = version
                i += len(item.texts)
        except BaseException as exc:  # every caller in the batch gets the error
            for item in batch:
                item.error = exc


__all__ = ["BatchScorer"]
