"""The full model at intake whenever it can answer in time; the fast path (the linear model) only under bursts.

With ``MODERATOR_ENCODER_MODE=auto`` (the default), a submission is scored by the full model (linear +
encoder) unless the full model's batcher is so busy that this submission would wait longer than the intake
latency budget (``MODERATOR_INTAKE_BUDGET_MS``). Then it is scored by the linear model alone (version
``<version>+linear``, its own thresholds), and the background refiner (:mod:`moderator.service.refine`)
re-scores it with the full model later, as in ``deferred`` mode.

The estimate is the work queued before the submission: the texts waiting for or being scored by the full
model's :class:`~moderator.service.scoring.BatchScorer`, times the recent cost per text of the full model
(an exponentially weighted mean over its batches, which run as length-sorted batches when the encoder is
batch-invariant). At a steady rate the full model keeps up and every submission gets it; in a burst, the
queue grows until the estimate crosses the budget, and the excess takes the fast path, so intake latency and
throughput stay those of the linear model.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from moderator.service.scoring import BatchScorer

SMOOTHING = 0.2  # weight of the latest batch in the cost estimate


class IntakeScorer:
    """Chooses, per call, between the full model's batcher and the fast path's; the same ``score`` as a
    BatchScorer. ``full`` may be shared with other callers (``/v1/score``): its batches all feed the estimate."""

    def __init__(self, full: BatchScorer, fast: BatchScorer, budget_seconds: float) -> None:
        self.full = full
        self.fast = fast
        full.on_batch = self._measured
        self.budget = float(budget_seconds)
        self._lock = threading.Lock()
        self._queued = 0  # texts handed to the full model's batcher and not yet answered
        self._cost = 0.0  # seconds per text of the full model, smoothed; 0 until measured
        self.full_calls = 0
        self.fast_calls = 0

    def _measured(self, texts: int, seconds: float) -> None:
        per_text = seconds / max(1, texts)
        with self._lock:
            self._cost = per_text if self._cost == 0.0 else (1 - SMOOTHING) * self._cost + SMOOTHING * per_text

    def expected_wait(self, n: int = 1) -> float:
        """Seconds until ``n`` more texts would be scored by the full model, by the current estimate."""
        with self._lock:
            return (self._queued + n) * self._cost

    def score(self, texts: Sequence[str]) -> tuple[str, list[dict[str, float]]]:
        """``(model version, scores)`` of the full model, or of the fast path when the full one is too busy."""
        n = len(texts)
        with self._lock:
            use_full = (self._queued + n) * self._cost <= self.budget
            if use_full:
                self._queued += n
                self.full_calls += 1
            else:
                self.fast_calls += 1
        if not use_full:
            return self.fast.score(texts)
        try:
            return self.full.score(texts)
        finally:
            with self._lock:
                self._queued -= n


__all__ = ["IntakeScorer"]
