"""The full model at intake whenever it can answer in time; the fast path (the linear model) only under bursts.

With ``MODERATOR_ENCODER_MODE=auto`` (the default), a submission is scored by the full model (linear +
encoder) unless the full model's batcher is so busy that this submission would wait longer than the intake
latency budget (``MODERATOR_INTAKE_BUDGET_MS``). Then it is scored by the linear model alone (version
``<version>+linear``, its own thresholds), and the background refiner (:mod:`moderator.service.refine`)
re-scores it with the full model later, as in ``deferred`` mode.

The estimate is the work queued before the submission (the texts handed to the full model's
:class:`~moderator.service.scoring.BatchScorer` and not yet answered, plus the submission's own) times the
full model's recent *wall-clock* cost per queued text: each full-model call's time from entry to answer,
divided by the texts that were queued when it entered (an exponentially weighted mean). That cost includes
everything that slows an answer down in this process, not only the model's own batch time: the other request
threads' work (parsing, the linear features, the database commit) competing for the same cores, and the wait
for the batch in flight. At a steady rate the full model keeps up and every submission gets it; in a burst or
under a closed loop of clients, the queue grows until the estimate crosses the budget, and the excess takes the
fast path, so intake latency and throughput stay close to those of the linear model.

An estimate is only refreshed by full-model calls, so one slow call (a pause of the process, a burst of
contention) could otherwise price a lone text above the budget and keep every later submission on the fast
path, the estimate never measured again. So when the full model has nothing queued and its estimate is older
than ``STALE_AFTER`` seconds, the next submission is scored by it whatever the estimate says, and that call's
measurement replaces the stale estimate instead of being blended into it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from moderator.service.scoring import BatchScorer

SMOOTHING = 0.2  # weight of the latest batch in the cost estimate
STALE_AFTER = 1.0  # seconds without a full-model measurement after which the estimate is re-measured


class IntakeScorer:
    """Chooses, per call, between the full model's batcher and the fast path's; the same ``score`` as a
    BatchScorer. ``full`` may be shared with other callers (``/v1/score``): its batches all feed the estimate."""

    def __init__(self, full: BatchScorer, fast: BatchScorer, budget_seconds: float,
                 clock: Callable[[], float] = time.monotonic, stale_after: float = STALE_AFTER) -> None:
        self.full = full
        self.fast = fast
        self.budget = float(budget_seconds)
        self.stale_after = float(stale_after)
        self._clock = clock
        self._lock = threading.Lock()
        self._queued = 0  # texts handed to the full model's batcher and not yet answered
        self._cost = 0.0  # seconds per text of the full model, smoothed; 0 until measured
        self._measured_at = clock()  # when _cost was last measured
        self.full_calls = 0
        self.fast_calls = 0

    def _measured(self, queued: int, seconds: float) -> None:
        """One full-model call answered in ``seconds`` with ``queued`` texts (its own included) ahead of it."""
        per_text = seconds / max(1, queued)
        now = self._clock()
        with self._lock:
            stale = now - self._measured_at > self.stale_after
            self._cost = (per_text if self._cost == 0.0 or stale
                          else (1 - SMOOTHING) * self._cost + SMOOTHING * per_text)
            self._measured_at = now

    def expected_wait(self, n: int = 1) -> float:
        """Seconds until ``n`` more texts would be scored by the full model, by the current estimate."""
        with self._lock:
            return (self._queued + n) * self._cost

    def score(self, texts: Sequence[str]) -> tuple[str, list[dict[str, float]]]:
        """``(model version, scores)`` of the full model, or of the fast path when the full one is too busy."""
        n = len(texts)
        now = self._clock()
        with self._lock:
            ahead = self._queued + n
            use_full = (ahead * self._cost <= self.budget
                        or (self._queued == 0 and now - self._measured_at > self.stale_after))
            if use_full:
                self._queued += n
                self.full_calls += 1
            else:
                self.fast_calls += 1
        if not use_full:
            return self.fast.score(texts)
        t0 = time.perf_counter()
        try:
            return self.full.score(texts)
        finally:
            seconds = time.perf_counter() - t0
            with self._lock:
                self._queued -= n
            self._measured(ahead, seconds)


__all__ = ["IntakeScorer"]
