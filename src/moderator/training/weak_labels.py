"""Obscenity labels, built deliberately: no corpus here labels obscenity directly.

A row gets ``obscenity`` from the lexicon applied to its *normalised* tokens (so ``f*ck`` counts and
``Scunthorpe`` does not), reconciled with what its corpus's human labels imply:

===============================  ======================  =================================
corpus / human label             lexicon hit             no lexicon hit
===============================  ======================  =================================
OLID ``OFF/UNT`` (untargeted     1                       1 (annotators saw profanity the
profanity)                                               list does not know)
OLID ``NOT`` (not offensive)     no label (conflict)     0 (OLID counts profanity as OFF)
OLID ``OFF/TIN/*``               1                       no label (insult, maybe profane)
Davidson 1 (offensive)           1                       no label (insult or slur)
Davidson 0 (hate)                1                       no label
Davidson 2 (neither)             no label (conflict)     0
every other corpus               1                       0
===============================  ======================  =================================

The hand-written set in ``data/obscenity_eval.jsonl`` measures how well this works; it is never
used for training.
"""

from __future__ import annotations

from moderator.model.features import Normalizer
from moderator.training.datasets import OBSCENITY, Example


def obscenity_label(example: Example, lexicon_hit: bool) -> int | None:
    """The weak obscenity label of one row, or None when the evidence conflicts or is missing."""
    raw = example.raw_label
    if example.corpus == "olid":
        if raw.startswith("OFF/UNT"):
            return 1
        if raw.startswith("NOT"):
            return None if lexicon_hit else 0
        return 1 if lexicon_hit else None
    if example.corpus == "davidson_hate_offensive":
        if raw == "2":
            return None if lexicon_hit else 0
        return 1 if lexicon_hit else None
    return int(lexicon_hit)


def add_obscenity_labels(examples: list[Example], normalizer: Normalizer) -> dict[str, int]:
    """Set ``labels['obscenity']`` on every row that gets one; return counts by outcome."""
    counts = {"positive": 0, "negative": 0, "unlabelled": 0}
    lex = normalizer.lexicon
    for ex in examples:
        hit = bool(lex.matches([t.norm for t in normalizer.tokens(ex.text)]))
        label = obscenity_label(ex, hit)
        if label is None:
            ex.labels.pop(OBSCENITY, None)
            counts["unlabelled"] += 1
        else:
            ex.labels[OBSCENITY] = label
            counts["positive" if label else "negative"] += 1
    return counts
