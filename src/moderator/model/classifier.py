"""The moderation model: one fitted feature pipeline (:mod:`moderator.model.pipeline`), a calibrated linear
classifier per category, and optionally a fine-tuned transformer encoder (:mod:`moderator.model.encoder`) for
the categories it was trained on.

With an encoder, a category it scores gets the mean of the two probabilities (linear and encoder), each first
recalibrated by the Platt scaling that training fitted on its validation rows (``calibration``; see
:meth:`ModerationModel.combine`), and the model keeps two threshold sets: ``thresholds`` for those combined
scores, ``linear_thresholds`` for the linear model alone. :meth:`ModerationModel.linear_view` is the linear
model alone, under its own version (``<version>+linear``): the service scores submissions with it and refines
them with the full model in the background (:mod:`moderator.service.refine`), because the encoder costs ~15x the
linear model's time per comment.

Behind a small typed interface (``version``, ``categories``, ``thresholds``, ``predict_proba``,
``explain``) so the service never touches scikit-learn objects. Explanations are in
:mod:`moderator.model.explain`; saving and loading artifacts in :mod:`moderator.model.artifact`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, logit
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from moderator import CATEGORIES
from moderator.model.artifact import save_model
from moderator.model.encoder import EncoderScorer
from moderator.model.explain import explain
from moderator.model.features import Normalizer
from moderator.model.pipeline import block_width, tfidf_rows


@dataclass
class CategoryModel:
    """One category's calibrated linear classifier, reduced to its parameters.

    Trained as scikit-learn's ``CalibratedClassifierCV(LogisticRegression, method="sigmoid",
    ensemble=False)``: one logistic regression fitted on all rows, and a sigmoid (Platt) calibration fitted
    on cross-validated decision values. Both are linear-then-sigmoid, so the whole classifier is
    ``p = expit(-(calib_a * (x . coef + intercept) + calib_b))`` over a contiguous slice of the feature
    columns. Keeping only these numbers makes one call cost a sparse dot product instead of scikit-learn's
    per-call input validation (which dominated single-comment latency); training checks that the
    reduction agrees with scikit-learn's own ``predict_proba``.
    """

    columns: tuple[int, int]  # [start, end) of the feature columns it uses
    coef_: np.ndarray  # linear weights (float32) of the logistic regression
    intercept_: float
    calib_a: float  # sigmoid calibration: p = expit(-(a * decision + b))
    calib_b: float

    @classmethod
    def from_calibrated(cls, columns: tuple[int, int], calibrated: Any) -> CategoryModel:
        inner = calibrated.calibrated_classifiers_[0]
        est, sig = inner.estimator, inner.calibrators[0]
        return cls(columns, est.coef_.ravel().astype(np.float32), float(est.intercept_[0]),
                   float(sig.a_), float(sig.b_))

    def decision_function(self, X: sp.csr_matrix) -> np.ndarray:
        a, b = self.columns
        return np.asarray(X[:, a:b] @ self.coef_, dtype=np.float64).ravel() + self.intercept_

    def predict_proba(self, X: sp.csr_matrix) -> np.ndarray:
        return expit(-(self.calib_a * self.decision_function(X) + self.calib_b))




def platt(p: np.ndarray, a: float, b: float) -> np.ndarray:
    """``expit(a * logit(p) + b)``: probabilities ``p`` recalibrated by Platt scaling of their log-odds."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return expit(a * logit(q) + b)


_CACHES = ("_analyzers", "_word_grams", "_stacked_cache")  # per-process caches, shared with the linear view


@dataclass
class ModerationModel:
    """The trained model. Built by :mod:`moderator.training.train`; loaded by
    :func:`moderator.model.artifact.load_model`."""

    version: str
    features: Pipeline
    classifiers: dict[str, CategoryModel]
    thresholds: dict[str, float]
    metadata: dict[str, Any] = field(default_factory=dict)
    encoder: EncoderScorer | None = None
    linear_thresholds: dict[str, float] | None = None  # with an encoder: thresholds of the linear scores
    # with an encoder: per category it scores, {"linear": [a, b], "encoder": [a, b]}, the Platt scaling of each
    # part's log-odds applied before the two are averaged (None, or a category missing: the plain mean)
    calibration: dict[str, dict[str, list[float]]] | None = None

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(c for c in CATEGORIES if c in self.classifiers)

    @property
    def encoder_categories(self) -> tuple[str, ...]:
        return tuple(c for c in self.categories if self.encoder is not None and c in self.encoder.categories)

    @property
    def normalizer(self) -> Normalizer:
        return self.features.named_steps["normalize"].normalizer

    def _union(self) -> FeatureUnion:
        return self.features.named_steps["features"]

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The feature matrix of ``texts``: equal to ``self.features.transform(texts)``, computed directly."""
        return self.transform_normalized(self.normalizer.normalize_many(texts))

    def transform_normalized(self, docs: Sequence[str]) -> sp.csr_matrix:
        """Features of already-normalised documents, built as one CSR matrix (no per-block sparse ops)."""
        per_block = []
        offset = 0
        for name, trans in self._union().transformer_list:
            if hasattr(trans, "counts"):  # the lexicon and phrase-cue blocks: a few dense columns
                lex = trans.counts(docs)
                cols = np.arange(offset, offset + lex.shape[1])
                per_block.append([(cols[r != 0], r[r != 0]) for r in lex])
                offset += lex.shape[1]
            else:
                word_cache = self.__dict__.setdefault("_word_grams", {}).setdefault(name, {})
                per_block.append(tfidf_rows(trans, self._analyzer(name, trans), docs, offset, word_cache))
                offset += len(trans.vocabulary_)
        indices, data, indptr = [], [], [0]
        for i in range(len(docs)):
            for block in per_block:
                idx, val = block[i]
                indices.append(idx)
                data.append(val)
            indptr.append(indptr[-1] + sum(len(block[i][0]) for block in per_block))
        ind = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
        dat = np.concatenate(data).astype(np.float32) if data else np.zeros(0, dtype=np.float32)
        return sp.csr_matrix((dat, ind, np.asarray(indptr)), shape=(len(docs), offset))

    def _analyzer(self, name: str, vec: TfidfVectorizer) -> Any:
        cache = self.__dict__.setdefault("_analyzers", {})
        if name not in cache:
            cache[name] = vec.build_analyzer()
        return cache[name]

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in (*_CACHES, "_linear_view")}  # rebuilt on use

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Per-category probabilities in [0, 1], one dict per text, in input order (encoder included)."""
        texts = list(texts)
        if not texts:
            return []
        probs = self.predict_matrix(texts)
        cats = self.categories
        return [{c: float(probs[i, k]) for k, c in enumerate(cats)} for i in range(len(texts))]

    def predict_matrix(self, texts: Sequence[str], encoder_rows: Sequence[bool] | None = None) -> np.ndarray:
        """(texts x categories) probabilities. With ``encoder_rows``, only those rows run the encoder (the
        others keep linear scores in every column): evaluation uses it to skip rows whose labels the encoder's
        categories do not use, since the encoder is most of the cost."""
        linear = self.linear_matrix(texts)
        if not self.encoder_categories:
            return linear
        rows = np.arange(len(texts)) if encoder_rows is None else np.flatnonzero(np.asarray(encoder_rows, bool))
        if len(rows):
            linear[rows] = self.combine(linear[rows], self.encoder_matrix([texts[i] for i in rows.tolist()]))
        return linear

    def linear_matrix(self, texts: Sequence[str]) -> np.ndarray:
        """(texts x categories) probabilities of the linear classifiers alone."""
        X = self.transform(texts)
        W, intercept, a, b = self._stacked()
        decision = np.asarray(X @ W, dtype=np.float64) + intercept  # one product for every category
        return expit(-(a * decision + b))

    def encoder_matrix(self, texts: Sequence[str]) -> np.ndarray | None:
        """(texts x encoder categories) probabilities of the encoder, or None without one."""
        if not self.encoder_categories:
            return None
        assert self.encoder is not None
        probs = self.encoder.predict_proba(texts)
        return probs[:, [self.encoder.categories.index(c) for c in self.encoder_categories]]

    def combine(self, linear: np.ndarray, encoder: np.ndarray | None) -> np.ndarray:
        """The model's scores from its parts: where the encoder scores, the mean of the two probabilities, each
        mapped through its Platt scaling ``expit(a * logit(p) + b)`` when the model has one for the category.

        The parts are calibrated before they are averaged because their scales differ: the fine-tuned encoder
        is overconfident (most of its probabilities are below 0.1 or above 0.9, so a plain mean is its verdict
        whatever the linear model says), the linear model underconfident on held-out rows. Averaging two
        calibrated probabilities lets the more certain part lead only where it is certain."""
        if encoder is None:
            return linear
        out = linear.copy()
        for j, c in enumerate(self.encoder_categories):
            k = self.categories.index(c)
            cal = (self.calibration or {}).get(c)
            if cal:
                out[:, k] = 0.5 * (platt(linear[:, k], *cal["linear"]) + platt(encoder[:, j], *cal["encoder"]))
            else:
                out[:, k] = 0.5 * (linear[:, k] + encoder[:, j])
        return out

    def linear_view(self) -> ModerationModel:
        """This model without its encoder: version ``<version>+linear``, the linear thresholds.
        Without an encoder, the model itself."""
        if self.encoder is None:
            return self
        view = self.__dict__.get("_linear_view")
        if view is None:
            view = ModerationModel(f"{self.version}+linear", self.features, self.classifiers,
                                   dict(self.linear_thresholds or self.thresholds),
                                   {**self.metadata, "version": f"{self.version}+linear", "refined_by": self.version})
            view.__dict__.update({k: v for k, v in self.__dict__.items() if k in _CACHES})
            self.__dict__["_linear_view"] = view
        return view

    def _stacked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """All categories' weights as one (features x categories) matrix, built once per process."""
        cached = self.__dict__.get("_stacked_cache")
        if cached is None:
            cats = self.categories
            n = sum(block_width(name, t) for name, t in self._union().transformer_list)
            W = np.zeros((n, len(cats)), dtype=np.float32)
            for k, c in enumerate(cats):
                m = self.classifiers[c]
                W[m.columns[0]:m.columns[1], k] = m.coef_
            cached = (W, np.array([self.classifiers[c].intercept_ for c in cats]),
                      np.array([self.classifiers[c].calib_a for c in cats]),
                      np.array([self.classifiers[c].calib_b for c in cats]))
            self.__dict__["_stacked_cache"] = cached
        return cached

    def flags(self, scores: dict[str, float]) -> list[str]:
        """Categories whose probability reaches the model's threshold."""
        return [c for c in self.categories if scores[c] >= self.thresholds[c]]

    def explain(self, text: str, category: str, top: int = 10) -> list[dict[str, Any]]:
        """The spans of ``text`` that pushed ``category``'s score up, strongest first
        (see :func:`moderator.model.explain.explain`)."""
        return explain(self, text, category, top)

    def save(self, directory: str | Path, make_default: bool = True) -> Path:
        """Write ``<version>.joblib`` and ``<version>.json`` into ``directory``; optionally mark it default."""
        return save_model(self, directory, make_default)
