"""Turn an artifact whose encoder is dynamically quantised into one with a batch-invariant encoder, without
retraining (``scripts/requantize_encoder.py``).

New training runs export a statically quantised encoder directly (:mod:`moderator.training.encoder`). An
artifact written before that holds only the dynamically quantised int8 graph (no float32 weights are kept
anywhere), so the conversion dequantises its int8 weights and quantises the graph statically, calibrated on a
seeded sample of the encoder's own training texts (:func:`moderator.training.encoder.batch_invariant_from`).
The linear model and the thresholds are kept as they are: training chose the thresholds for an operating point
on comment-section data (:mod:`moderator.training.operating_points`), and the requantised encoder moves a
probability by a few thousandths at most (the validation metrics, recomputed here, show the effect). The new
artifact gets its own version, derived from the old one's.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import numpy as np

from moderator import __version__
from moderator.model.classifier import ModerationModel
from moderator.training.encoder import batch_invariant_from
from moderator.training.fairness import training_metrics
from moderator.training.metrics import category_metrics, encoder_rows
from moderator.training.train import ENCODER_CORPORA, TrainConfig, label_validation, make_splits

CALIBRATION_TEXTS = 300


def requantize(model: ModerationModel, data_dir: str | None = None,
               calibration_texts: int = CALIBRATION_TEXTS) -> ModerationModel:
    """``model`` with a batch-invariant encoder, new thresholds for its encoder's categories, recomputed
    validation metrics and a new version; ``model`` itself when its encoder is batch-invariant already."""
    if model.encoder is None or model.encoder.batch_invariant:
        return model
    seed = int(model.metadata.get("config", {}).get("seed", TrainConfig.seed))
    splits = make_splits(TrainConfig(data_dir=data_dir, seed=seed, progress=False))
    pool = [e.text for e in splits.train if e.corpus in ENCODER_CORPORA]
    pick = np.random.default_rng(seed).permutation(len(pool))[:calibration_texts]
    texts = [pool[i] for i in pick.tolist()]
    encoder = batch_invariant_from(model.encoder, texts)
    digest = hashlib.sha256("\n".join([model.version, encoder.info["quantization"], *texts]).encode())
    version = f"{__version__}-{digest.hexdigest()[:10]}"
    new = replace(model, version=version, encoder=encoder, thresholds=dict(model.thresholds), metadata={})
    for key in ("_analyzers", "_word_grams", "_stacked_cache"):  # share the per-process caches
        if key in model.__dict__:
            new.__dict__[key] = model.__dict__[key]

    rows = splits.validation
    label_validation(rows, model)
    matrix = new.predict_matrix([r.text for r in rows], encoder_rows(rows, new.encoder_categories))
    validation: dict[str, Any] = {}
    for k, cat in enumerate(new.categories):
        idx = [i for i, e in enumerate(rows) if cat in e.labels]
        if idx:
            validation[cat] = category_metrics(rows, cat, matrix[:, k], new.thresholds[cat])
    meta = dict(model.metadata)
    metrics = dict(meta.get("metrics", {}))
    metrics["validation"] = validation
    metrics.update(training_metrics(new, rows))  # fairness and operating points, with the new encoder
    meta.update({"version": version, "thresholds": new.thresholds, "metrics": metrics,
                 "derived_from": {"version": model.version, "how": "encoder requantised: "
                                  + encoder.info["quantization"], "calibration_texts": len(texts)},
                 "encoder": {**(meta.get("encoder") or {}), **encoder.info, "batch_invariant": True,
                             "onnx_bytes": len(encoder.onnx_model)},
                 "command": f"python scripts/requantize_encoder.py {model.version}"})
    meta.pop("artifact_bytes", None)
    new.metadata = meta
    return new


__all__ = ["CALIBRATION_TEXTS", "requantize"]
