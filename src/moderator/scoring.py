"""Micro-batching of model calls across concurrent requests in one process.

A scikit-learn pipeline has a large fixed cost per ``predict_proba`` call (input validation, one call per
category and calibration fold) and a small cost per text, so scoring 16 texts in one call costs little more
than scoring one. :class:`BatchScorer` lets the threads of a worker (gunicorn ``gthread``, or any threaded
server) share calls: the first caller runs the model at once; callers arriving while it runs queue up and
the next of them scores the whole queue in one call. No caller ever waits for a timer, so at low load
nothing changes, and under load the number of model calls drops to about one per batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

MAX_BATCH_TEXTS = 256


class _Pending:
    __slots__ = ("done", "error", "result", "texts", "version")

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = texts
        self.done = False
        self.result: list[dict[str, float]] = []
        self.version = ""
        self.error: BaseException | None = None


class BatchScorer:
    def __init__(self, model: Callable[[], Any], max_texts: int = MAX_BATCH_TEXTS) -> None:
        self._model = model  # a getter, so that a hot-reloaded model is picked up
        self._max = max_texts
        self._cv = threading.Condition()
        self._queue: list[_Pending] = []
        self._busy = False
        self.calls = 0  # model calls made (for tests and profiling)

    def score(self, texts: Sequence[str]) -> tuple[str, list[dict[str, float]]]:
        """``(model version, one {category: probability} per text)``, possibly computed in a shared call."""
        mine = _Pending(texts)
        with self._cv:
            self._queue.append(mine)
        while True:
            with self._cv:
                while not mine.done and self._busy:
                    self._cv.wait()
                if mine.done:
                    break
                self._busy = True  # lead: score the queue (mine included, unless it is past max_texts)
                batch, size = [], 0
                while self._queue and (not batch or size + len(self._queue[0].texts) <= self._max):
                    item = self._queue.pop(0)
                    batch.append(item)
                    size += len(item.texts)
            self._run(batch)
        if mine.error is not None:
            raise mine.error
        return mine.version, mine.result

    def _run(self, batch: list[_Pending]) -> None:
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
        finally:
            with self._cv:
                for item in batch:
                    item.done = True
                self._busy = False
                self._cv.notify_all()


__all__ = ["BatchScorer"]
