"""Evaluate a model on the validation split (recomputed from the corpora) and the hand-written obscenity set."""

from __future__ import annotations

from typing import Any

import numpy as np

from moderator.model.classifier import ModerationModel
from moderator.training.datasets import Example
from moderator.training.metrics import OBSCENITY_EVAL, category_metrics, encoder_rows, evaluate_obscenity_set
from moderator.training.train import TrainConfig, label_validation, validation_rows


def evaluate_rows(model: ModerationModel, rows: list[Example],
                  thresholds: dict[str, float] | None = None) -> dict[str, Any]:
    """Per-category metrics on labelled rows, overall and per corpus, at ``thresholds`` (default: the model's)."""
    thresholds = thresholds or model.thresholds
    texts = [r.text for r in rows]
    if isinstance(model, ModerationModel):  # the encoder only where its categories are labelled
        matrix = model.predict_matrix(texts, encoder_rows(rows, model.encoder_categories))
        columns = {c: matrix[:, k] for k, c in enumerate(model.categories)}
    else:
        probs = model.predict_proba(texts)
        columns = {c: np.array([pr[c] for pr in probs]) for c in model.categories}
    out: dict[str, Any] = {}
    for cat in model.categories:
        if any(cat in r.labels for r in rows):
            out[cat] = category_metrics(rows, cat, columns[cat], thresholds[cat])
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
