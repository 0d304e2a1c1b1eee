"""The linear model's feature pipeline: normalised text -> character n-grams (within words), word uni/bigrams
and lexicon counts, side by side (:func:`build_features`), and which of those blocks each category's
classifier reads (:data:`CATEGORY_BLOCKS`).

Scoring does not call the fitted scikit-learn pipeline: :func:`tfidf_rows` computes the same TF-IDF rows from
the fitted vectorizers directly, without scikit-learn's per-call overhead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from moderator.model.cues import CueCounts
from moderator.model.features import Normalizer


class NormalizeText(BaseEstimator, TransformerMixin):
    """Pipeline step: raw comments -> normalised, space-joined tokens (see :mod:`moderator.model.features`)."""

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
    """Normalise, then character n-grams (within words), word uni/bigrams, lexicon counts and phrase cues
    (:mod:`moderator.model.cues`), side by side."""
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=3, max_features=max_char,
                           sublinear_tf=True, dtype=np.float32, lowercase=False)
    word = TfidfVectorizer(analyzer="word", tokenizer=_split_space, token_pattern=None, ngram_range=(1, 2),
                           min_df=2, max_features=max_word, sublinear_tf=True, dtype=np.float32, lowercase=False)
    return Pipeline([
        ("normalize", NormalizeText(normalizer)),
        ("features", FeatureUnion([("char", char), ("word", word), ("lexicon", LexiconCounts(normalizer)),
                                  ("cues", CueCounts())])),
    ])


# Which feature blocks each category's classifier sees (adjacent blocks). Obscenity is a property of words, so
# it sees whole words only (never sub-word character n-grams): that is what keeps 'Scunthorpe' and 'cocktail'
# clean. A model trained before the phrase cues existed has no "cues" block; its classifiers' columns say
# which blocks they read.
CATEGORY_BLOCKS: dict[str, tuple[str, ...]] = {
    "hate_speech": ("char", "word", "lexicon", "cues"),
    "obscenity": ("word", "lexicon"),
    "personal_attack": ("char", "word", "lexicon", "cues"),
    "spam": ("char", "word", "lexicon", "cues"),
}


def block_width(name: str, transformer: Any) -> int:
    """The number of feature columns of one block of the fitted union: a vectorizer's vocabulary, or the
    named columns of a counting block (lexicon, cues)."""
    if hasattr(transformer, "counts"):
        return len(transformer.get_feature_names_out())
    return len(transformer.vocabulary_)



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


def tfidf_rows(vec: TfidfVectorizer, analyzer: Any, docs: Sequence[str], offset: int,
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

