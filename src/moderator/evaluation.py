"""Evaluate a model on the validation split (recomputed from the corpora) and the hand-written obscenity set."""

from __future__ import annotations

from typing import Any

import numpy as np

from moderator.classifier import ModerationModel
from moderator.datasets import Example
from moderator.training import (
    OBSCENITY_EVAL,
    TrainConfig,
    category_metrics,
    evaluate_obscenity_set,
    label_validation,
    validation_rows,
)


def evaluate_rows(model: ModerationModel, rows: list[Example],
                  thresholds: dict[str, float] | None = None) -> dict[str, Any]:
    """Per-category metrics on labelled rows, overall and per corpus, at ``thresholds`` (default: the model's)."""
    thresholds = thresholds or model.thresholds
    probs = model.predict_proba([r.text for r in rows])
    out: dict[str, Any] = {}
    for cat in model.categories:
        if any(cat in r.labels for r in rows):
            out[cat] = category_metrics(rows, cat, np.array([pr[cat] for pr in probs]), thresholds[cat])
    return out


def evaluate_model(model: ModerationModel, data_dir: str | None = None) -> dict[str, Any]:
    """The model's metrics on the same validation split training held out."""
    seed = model.metadata.get("config", {}).get("seed", TrainConfig.seed)
    rows = validation_rows(TrainConfig(data_dir=data_dir, seed=seed))
    label_validation(rows, model)
    metrics: dict[str, Any] = {"validation": evaluate_rows(model, rows)}
    if OBSCENITY_EVAL.is_file() and "obscenity" in model.categories:
        metrics["obscenity_handwritten"] = evaluate_obscenity_set(model)
    return metrics
