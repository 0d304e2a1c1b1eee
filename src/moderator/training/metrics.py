"""Metrics of a model's scores: the threshold chosen on validation, F1/precision/recall/ROC AUC per category
and per corpus, and the hand-written obscenity set. Training and evaluation both report these."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import f1_score, precision_recall_curve, precision_score, recall_score, roc_auc_score

from moderator.config import PROJECT_ROOT
from moderator.training.datasets import Example

if TYPE_CHECKING:  # pragma: no cover
    from moderator.model.classifier import ModerationModel

OBSCENITY_EVAL = PROJECT_ROOT / "data" / "obscenity_eval.jsonl"


def choose_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability threshold that maximises F1 on validation."""
    precision, recall, thr = precision_recall_curve(y, p)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = int(np.argmax(f1[:-1])) if len(thr) else 0
    return float(thr[best]) if len(thr) else 0.5


def metrics_for(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """Row and positive counts, ROC AUC (None when one class is missing), F1, precision and recall at ``threshold``."""
    pred = (p >= threshold).astype(int)
    out: dict[str, Any] = {"n": len(y), "positives": int(y.sum())}
    out["roc_auc"] = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None
    out["f1"] = float(f1_score(y, pred, zero_division=0))
    out["precision"] = float(precision_score(y, pred, zero_division=0))
    out["recall"] = float(recall_score(y, pred, zero_division=0))
    return out


def category_metrics(rows: Sequence[Example], category: str, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """``metrics_for`` one category over the rows that carry its label: pooled ("all") and per corpus.

    ``p`` holds the category's probability for every row of ``rows``, in the same order.
    """
    idx = [i for i, r in enumerate(rows) if category in r.labels]
    y = np.array([rows[i].labels[category] for i in idx])
    p = np.asarray(p)[idx]
    out: dict[str, Any] = {"all": metrics_for(y, p, threshold)}
    by_corpus: dict[str, list[int]] = defaultdict(list)
    for k, i in enumerate(idx):
        by_corpus[rows[i].corpus].append(k)
    for corpus, ks in sorted(by_corpus.items()):
        out[corpus] = metrics_for(y[ks], p[ks], threshold)
    return out


def load_obscenity_eval(path: Path = OBSCENITY_EVAL) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def evaluate_obscenity_set(model: ModerationModel, path: Path = OBSCENITY_EVAL) -> dict[str, Any]:
    """Metrics on the hand-written obscenity set, plus every obfuscation missed and every trap flagged."""
    rows = load_obscenity_eval(path)
    p = np.array([s["obscenity"] for s in model.predict_proba([r["text"] for r in rows])])
    y = np.array([int(r["obscene"]) for r in rows])
    thr = model.thresholds["obscenity"]
    out = metrics_for(y, p, thr)
    out["by_kind"] = {}
    for kind in sorted({r["kind"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["kind"] == kind]
        out["by_kind"][kind] = {"n": len(idx), "flagged": int((p[idx] >= thr).sum())}
    out["missed_obfuscations"] = [rows[i]["text"] for i in range(len(rows))
                                  if rows[i]["kind"] == "obfuscated" and p[i] < thr]
    out["flagged_traps"] = [rows[i]["text"] for i in range(len(rows))
                            if rows[i]["kind"] == "scunthorpe" and p[i] >= thr]
    return out


def encoder_rows(rows: Sequence[Example], categories: Sequence[str]) -> list[bool]:
    """Which rows evaluation runs the encoder on: those labelled for one of its ``categories``, and Ruddit's
    (whose ranking check reads every category)."""
    return [e.corpus == "ruddit" or any(c in e.labels for c in categories) for e in rows]

