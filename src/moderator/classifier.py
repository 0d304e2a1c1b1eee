"""The moderation model: one fitted feature pipeline, a calibrated linear classifier per category, and
optionally a fine-tuned transformer encoder (:mod:`moderator.encoder`) for the categories it was trained on.

With an encoder, a category it scores gets the mean of the two probabilities (linear and encoder) and the
model keeps two threshold sets: ``thresholds`` for those combined scores, ``linear_thresholds`` for the
linear model alone. :meth:`ModerationModel.linear_view` is the linear model alone, under its own version
(``<version>+linear``): the service scores submissions with it and refines them with the full model in the
background (:mod:`moderator.refine`), because the encoder costs ~15x the linear model's time per comment.

Behind a small typed interface (``version``, ``categories``, ``thresholds``, ``predict_proba``,
``explain``) so the service never touches scikit-learn objects. Artifacts are ``models/<version>.joblib``
(zlib-compressed) with a metadata sidecar ``models/<version>.json``; ``models/DEFAULT`` names the default.
Loading checks the scikit-learn version recorded in the sidecar *before* unpickling, so an
incompatible artifact fails with a clear message instead of a pickle error or silent drift.
Only load artifacts you trust: joblib files can execute code when loaded.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from moderator import CATEGORIES
from moderator.config import PROJECT_ROOT, env_value
from moderator.encoder import EncoderScorer
from moderator.features import Normalizer, Token

MODELS_DIR = PROJECT_ROOT / "models"
FORMAT_VERSION = 3  # bump whenever the pickled layout changes: older artifacts then fail with a clear error


class ModelLoadError(RuntimeError):
    """The artifact is missing, corrupt, or was built with an incompatible library version."""


# --------------------------------------------------------------------------- feature pipeline


class NormalizeText(BaseEstimator, TransformerMixin):
    """Pipeline step: raw comments -> normalised, space-joined tokens (see :mod:`moderator.features`)."""

    def __init__(self, normalizer: Normalizer | None = None) -> None:
        self.normalizer = normalizer

    def fit(self, X: Sequence[str], y: Any = None) -> NormalizeText:
        return self

    def __sklearn_is_fitted__(self) -> bool:  # stateless here: the normaliser is fitted beforehand
        return self.normalizer is not None

    def transform(self, X: Sequence[str]) -> list[str]:
        assert self.normalizer is not None
        return self.normalizer.normalize_many(X)


class LexiconCounts(BaseEstimator, TransformerMixin):
    """Pipeline step: ``log1p`` of the number of obscenity-lexicon hits and of slur hits in normalised text."""

    def __init__(self, normalizer: Normalizer | None = None) -> None:
        self.normalizer = normalizer

    def fit(self, X: Sequence[str], y: Any = None) -> LexiconCounts:
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return self.normalizer is not None

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array(["lexicon_obscene", "lexicon_slur"], dtype=object)

    def counts(self, X: Sequence[str]) -> np.ndarray:
        """Dense ``(n, 2)`` array of the two features."""
        assert self.normalizer is not None
        lex = self.normalizer.lexicon
        rows = []
        for text in X:
            toks = text.split()
            rows.append((len(lex.matches(toks)), sum(t in lex.slurs for t in toks)))
        return np.log1p(np.asarray(rows, dtype=np.float64).reshape(-1, 2))

    def transform(self, X: Sequence[str]) -> sp.csr_matrix:
        return sp.csr_matrix(self.counts(X))


def _split_space(doc: str) -> list[str]:
    return doc.split()


def build_features(normalizer: Normalizer, *, max_char: int = 200_000, max_word: int = 150_000) -> Pipeline:
    """Normalise, then character n-grams (within words), word uni/bigrams, and lexicon counts, side by side."""
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=3, max_features=max_char,
                           sublinear_tf=True, dtype=np.float32, lowercase=False)
    word = TfidfVectorizer(analyzer="word", tokenizer=_split_space, token_pattern=None, ngram_range=(1, 2),
                           min_df=2, max_features=max_word, sublinear_tf=True, dtype=np.float32, lowercase=False)
    return Pipeline([
        ("normalize", NormalizeText(normalizer)),
        ("features", FeatureUnion([("char", char), ("word", word), ("lexicon", LexiconCounts(normalizer))])),
    ])


# Which feature blocks each category's classifier sees. Obscenity is a property of words, so it sees
# whole words only (never sub-word character n-grams): that is what keeps 'Scunthorpe' and 'cocktail' clean.
CATEGORY_BLOCKS: dict[str, tuple[str, ...]] = {
    "hate_speech": ("char", "word", "lexicon"),
    "obscenity": ("word", "lexicon"),
    "personal_attack": ("char", "word", "lexicon"),
    "spam": ("char", "word", "lexicon"),
}


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


WORD_GRAMS_CACHE_SIZE = 200_000
WORD_GRAMS_CACHE_WORD = 64  # characters: longer words are analysed each time (rare, and linear in length)


def _per_word(vec: TfidfVectorizer) -> bool:
    """Whether ``vec``'s n-grams of a document are the n-grams of its words, counted one word at a time:
    scikit-learn's ``char_wb`` analyzer collapses whitespace, splits on it and pads each word with spaces,
    so no n-gram crosses words (with no preprocessing that could change the words)."""
    return (vec.analyzer == "char_wb" and vec.input == "content" and vec.preprocessor is None
            and not vec.lowercase and vec.strip_accents is None)


_NO_COLUMNS = np.zeros(0, dtype=np.int64)


def _count_columns(cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct column indices in ascending order, how often each occurs as float64), by one sort: several
    times cheaper than ``Counter`` + ``sorted`` for the few hundred n-gram columns of a comment, same result."""
    if not len(cols):
        return _NO_COLUMNS, np.zeros(0, dtype=np.float64)
    cols = np.sort(cols)
    first = np.empty(len(cols), dtype=bool)
    first[0] = True
    np.not_equal(cols[1:], cols[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    return cols[starts], np.diff(np.append(starts, len(cols))).astype(np.float64)


def _tfidf_rows(vec: TfidfVectorizer, analyzer: Any, docs: Sequence[str], offset: int,
                word_cache: dict[str, np.ndarray] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rows of ``vec.transform(docs)`` as (column indices + offset, values), without scikit-learn's per-call
    overhead (same numbers; training and a test check it).

    Counts n-grams with the vectorizer's own analyzer and vocabulary, then applies its settings:
    sublinear tf (1 + log), idf weights, l2 row normalisation. With ``word_cache`` and a per-word analyzer
    (:func:`_per_word`), the known columns of each distinct word's n-grams are computed once and remembered,
    and a document's counts are the sum over its words: the same counts, without re-analysing common words.
    """
    get = vec.vocabulary_.get
    idf = vec.idf_ if vec.use_idf else None
    per_word = word_cache is not None and _per_word(vec)
    rows = []
    for doc in docs:
        if per_word:
            assert word_cache is not None
            parts: list[np.ndarray] = []
            for w in vec._white_spaces.sub(" ", doc).split():  # exactly what char_wb does to the document
                hit = word_cache.get(w)
                if hit is None:
                    hit = np.fromiter((j for g in analyzer(w) if (j := get(g)) is not None), dtype=np.int64)
                    if len(w) <= WORD_GRAMS_CACHE_WORD:  # a long word's n-grams would hold ~32 bytes a character
                        if len(word_cache) >= WORD_GRAMS_CACHE_SIZE:
                            word_cache.clear()
                        word_cache[w] = hit
                parts.append(hit)
            idx, val = _count_columns(np.concatenate(parts) if parts else _NO_COLUMNS)
        else:
            idx, val = _count_columns(np.fromiter((j for g in analyzer(doc) if (j := get(g)) is not None),
                                                  dtype=np.int64))
        if vec.sublinear_tf:
            val = np.log(val) + 1.0
        if idf is not None:
            val = val * idf[idx]
        if vec.norm == "l2" and len(val):
            val = val / np.sqrt(np.dot(val, val))
        rows.append((idx + offset, val))
    return rows


_CACHES = ("_analyzers", "_word_grams", "_stacked_cache")  # per-process caches, shared with the linear view


@dataclass
class ModerationModel:
    """The trained model. Build with :mod:`moderator.training`; load with :func:`load_model`."""

    version: str
    features: Pipeline
    classifiers: dict[str, CategoryModel]
    thresholds: dict[str, float]
    metadata: dict[str, Any] = field(default_factory=dict)
    encoder: EncoderScorer | None = None
    linear_thresholds: dict[str, float] | None = None  # with an encoder: thresholds of the linear scores

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
            if name == "lexicon":
                lex = trans.counts(docs)
                cols = np.arange(offset, offset + lex.shape[1])
                per_block.append([(cols[r != 0], r[r != 0]) for r in lex])
                offset += lex.shape[1]
            else:
                word_cache = self.__dict__.setdefault("_word_grams", {}).setdefault(name, {})
                per_block.append(_tfidf_rows(trans, self._analyzer(name, trans), docs, offset, word_cache))
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
            linear[rows] = self.combine(linear[rows], self.encoder_matrix([texts[i] for i in rows]))
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
        """The model's scores from its parts: the mean of the two probabilities where the encoder scores."""
        if encoder is None:
            return linear
        out = linear.copy()
        for j, c in enumerate(self.encoder_categories):
            k = self.categories.index(c)
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
            n = sum(len(t.vocabulary_) if n != "lexicon" else 2 for n, t in self._union().transformer_list)
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

    # ------------------------------------------------------------------ explanations
    def explain(self, text: str, category: str, top: int = 10) -> list[dict[str, Any]]:
        """The spans of ``text`` that pushed ``category``'s score up, strongest first.

        Each item is ``{"start", "end", "text", "weight"}`` with offsets into the original ``text``.
        A span's weight is the sum of its features' contributions (coefficient x feature value) to the
        classifier's decision function: word uni/bigrams map to their tokens, each within-word character
        n-gram to the token it came from, lexicon hits to the matched words. For a category the encoder
        also scores, these are the words behind the linear half of the score (the encoder's half has no
        per-word attribution).
        """
        if category not in self.classifiers:
            raise KeyError(f"unknown category {category!r}; known: {', '.join(self.categories)}")
        tokens = self.normalizer.tokens(text)
        if not tokens:
            return []
        norm = " ".join(t.norm for t in tokens)
        union = self._union()
        x = self.transform_normalized([norm])
        clf = self.classifiers[category]
        a, b = clf.columns
        offsets = self._block_offsets()
        contrib: dict[tuple[int, int], float] = {}

        def add(span: tuple[int, int], value: float) -> None:
            contrib[span] = contrib.get(span, 0.0) + value

        # the row's values by column, read once: indexing the sparse matrix per n-gram (x[0, col]) cost
        # tens of microseconds each, most of the time of a long text's explanation
        x.sum_duplicates()
        values = dict(zip(x.indices.tolist(), x.data.tolist(), strict=True))

        def weight(col: int) -> float:
            if not a <= col < b:
                return 0.0
            return float(clf.coef_[col - a]) * values.get(col, 0.0)

        blocks = dict(union.transformer_list)
        if "char" in CATEGORY_BLOCKS.get(category, ()):
            self._explain_chars(blocks["char"], offsets["char"], tokens, weight, add)
        wvec: TfidfVectorizer = blocks["word"]
        vocab = wvec.vocabulary_
        norms = [t.norm for t in tokens]
        for i, t in enumerate(tokens):
            j = vocab.get(t.norm)
            if j is not None:
                add((t.start, t.end), weight(offsets["word"] + j))
            if i + 1 < len(tokens):
                j = vocab.get(f"{t.norm} {tokens[i + 1].norm}")
                if j is not None:
                    add((t.start, tokens[i + 1].end), weight(offsets["word"] + j))
        hits = self.normalizer.lexicon.matches(norms)
        if hits:
            w = weight(offsets["lexicon"]) / len(hits)
            for i, k in hits:
                add((tokens[i].start, tokens[k - 1].end), w)
        slur_idx = [i for i, n in enumerate(norms) if n in self.normalizer.lexicon.slurs]
        if slur_idx:
            w = weight(offsets["lexicon"] + 1) / len(slur_idx)
            for i in slur_idx:
                add((tokens[i].start, tokens[i].end), w)
        items = [
            {"start": s, "end": e, "text": text[s:e], "weight": round(v, 4)}
            for (s, e), v in contrib.items() if v > 1e-6
        ]
        items.sort(key=lambda d: (-d["weight"], d["start"]))
        return items[:top]

    @staticmethod
    def _explain_chars(vec: TfidfVectorizer, offset: int, tokens: list[Token], weight: Any, add: Any) -> None:
        analyzer = vec.build_analyzer()
        vocab = vec.vocabulary_
        per_token = [analyzer(t.norm) for t in tokens]
        total: dict[str, int] = {}
        for grams in per_token:
            for g in grams:
                total[g] = total.get(g, 0) + 1
        for t, grams in zip(tokens, per_token, strict=True):
            v = 0.0
            for g in grams:
                j = vocab.get(g)
                if j is not None:
                    v += weight(offset + j) / total[g]
            if v:
                add((t.start, t.end), v)

    def _block_offsets(self) -> dict[str, int]:
        offsets, pos = {}, 0
        for name, trans in self._union().transformer_list:
            offsets[name] = pos
            pos += len(trans.get_feature_names_out()) if name == "lexicon" else len(trans.vocabulary_)
        return offsets

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path, make_default: bool = True) -> Path:
        """Write ``<version>.joblib`` and ``<version>.json`` into ``directory``; optionally mark it default."""
        import joblib

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.version}.joblib"
        tmp = path.with_suffix(".joblib.tmp")
        # The model is pickled with the C pickler and stored as one bytes payload: joblib's own unpickler is
        # pure Python and takes seconds on the vectorizers' large vocabulary dicts; this loads in well under 2 s.
        payload = pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)
        joblib.dump({"format": FORMAT_VERSION, "version": self.version, "payload": payload}, tmp,
                    compress=("zlib", 9))  # zlib: ~0.1 s to decompress (xz: ~1 s)
        os.replace(tmp, path)
        path.with_suffix(".json").write_text(json.dumps(self.metadata, indent=2, sort_keys=True) + "\n")
        if make_default:
            set_default(directory, self.version)
        return path


def set_default(directory: str | Path, version: str) -> None:
    """Point ``directory/DEFAULT`` at ``version`` atomically."""
    directory = Path(directory)
    if not (directory / f"{version}.joblib").is_file():
        raise ModelLoadError(f"no model {version!r} in {directory}")
    tmp = directory / "DEFAULT.tmp"
    tmp.write_text(version + "\n")
    os.replace(tmp, directory / "DEFAULT")


def default_model_path(directory: str | Path = MODELS_DIR) -> Path:
    directory = Path(directory)
    marker = directory / "DEFAULT"
    if not marker.is_file():
        raise ModelLoadError(f"no default model: {marker} is missing (train one with `moderator train`)")
    return directory / f"{marker.read_text().strip()}.joblib"


def _check_versions(meta: dict[str, Any], path: Path) -> None:
    import sklearn

    built = meta.get("library_versions", {}).get("scikit-learn")
    if built is None:
        return
    if built.split(".")[:2] != sklearn.__version__.split(".")[:2]:
        raise ModelLoadError(
            f"{path.name} was built with scikit-learn {built}, but {sklearn.__version__} is installed: "
            f"install scikit-learn=={built} or retrain with `moderator train`"
        )


def load_model(path: str | os.PathLike[str] | None = None) -> ModerationModel:
    """Load ``path``, else ``$MODERATOR_MODEL``, else ``models/DEFAULT``'s model."""
    import joblib

    chosen = path or env_value("model") or None
    p = Path(chosen) if chosen else default_model_path()
    if p.is_dir():
        p = default_model_path(p)
    if not p.is_file():
        raise ModelLoadError(f"model file not found: {p}")
    sidecar = p.with_suffix(".json")
    if sidecar.is_file():
        _check_versions(json.loads(sidecar.read_text()), p)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", category=UserWarning)  # sklearn's InconsistentVersionWarning
            blob = joblib.load(p)
    except ModelLoadError:
        raise
    except Exception as exc:  # corrupt file, or a library version the sidecar did not mention
        raise ModelLoadError(f"cannot load model {p}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT_VERSION or "payload" not in blob:
        found = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise ModelLoadError(f"{p} is not a moderator model artifact of format {FORMAT_VERSION} (found {found}): "
                             "retrain it with `moderator train`")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", category=UserWarning)
            model: ModerationModel = pickle.loads(blob["payload"])
        model.predict_proba(["warm-up"])  # builds the per-process caches now, not on the first request
    except Exception as exc:
        raise ModelLoadError(f"cannot load model {p}: {type(exc).__name__}: {exc}") from exc
    return model
