"""Explanations: which spans of a comment pushed a category's linear score up, mapped back to offsets in the
original text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from moderator.model.features import Token
from moderator.model.pipeline import CATEGORY_BLOCKS, block_width

if TYPE_CHECKING:  # pragma: no cover
    from moderator.model.classifier import ModerationModel


def explain(model: ModerationModel, text: str, category: str, top: int = 10) -> list[dict[str, Any]]:
    """The spans of ``text`` that pushed ``category``'s score up, strongest first.

    Each item is ``{"start", "end", "text", "weight"}`` with offsets into the original ``text``.
    A span's weight is the sum of its features' contributions (coefficient x feature value) to the
    classifier's decision function: word uni/bigrams map to their tokens, each within-word character
    n-gram to the token it came from, lexicon hits to the matched words. For a category the encoder
    also scores, these are the words behind the linear half of the score (the encoder's half has no
    per-word attribution).
    """
    if category not in model.classifiers:
        raise KeyError(f"unknown category {category!r}; known: {', '.join(model.categories)}")
    tokens = model.normalizer.tokens(text)
    if not tokens:
        return []
    norm = " ".join(t.norm for t in tokens)
    union = model.features.named_steps["features"]
    x = model.transform_normalized([norm])
    clf = model.classifiers[category]
    a, b = clf.columns
    offsets = _block_offsets(union)
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
        _explain_chars(blocks["char"], offsets["char"], tokens, weight, add)
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
    hits = model.normalizer.lexicon.matches(norms)
    if hits:
        w = weight(offsets["lexicon"]) / len(hits)
        for i, k in hits:
            add((tokens[i].start, tokens[k - 1].end), w)
    slur_idx = [i for i, n in enumerate(norms) if n in model.normalizer.lexicon.slurs]
    if slur_idx:
        w = weight(offsets["lexicon"] + 1) / len(slur_idx)
        for i in slur_idx:
            add((tokens[i].start, tokens[i].end), w)
    items: list[dict[str, Any]] = [
        {"start": s, "end": e, "text": text[s:e], "weight": round(v, 4)}
        for (s, e), v in contrib.items() if v > 1e-6
    ]
    items.sort(key=lambda d: (-d["weight"], d["start"]))
    return items[:top]


def _explain_chars(vec: TfidfVectorizer, offset: int, tokens: list[Token], weight: Any, add: Any) -> None:
    """Spread each character n-gram's weight evenly over the tokens it occurs in."""
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


def _block_offsets(union: FeatureUnion) -> dict[str, int]:
    """The first feature column of each block of the union."""
    offsets, pos = {}, 0
    for name, trans in union.transformer_list:
        offsets[name] = pos
        pos += block_width(name, trans)
    return offsets
