"""The review queue's top under the earlier priority (threshold-normalised, capped at 2) and the current one
(severity-weighted log-odds margin, :mod:`moderator.service.priority`), on real comments.

A sample of every labelled corpus that names hate speech, personal attacks or spam is scored by the shipped
model; the comments the policy flags form the queue. For each formula: how many items tie at the top (the
page shows two decimals; exact ties at the stored six), and what the human labels of the top 50 / 100 are
(spam only vs hate speech or a personal attack). Writes ``results/priority_ties.json`` (numbers only).

    python bench/priority_ties.py [--per-corpus 600] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

from moderator import load_model
from moderator.service.policy import Policy
from moderator.training.datasets import load_corpus

CORPORA = ("davidson_hate_offensive", "stormfront_hate", "impermium_insults", "trac1_aggression", "youtube_spam",
           "olid")
RESULTS = Path(__file__).resolve().parent / "results" / "priority_ties.json"


def old_risk(scores: dict[str, float], thresholds: dict[str, float]) -> float:
    """The formula before: max over categories of p/t below the threshold, 1 + (p - t)/(1 - t) at or over it."""
    best = 0.0
    for cat, t in thresholds.items():
        p = min(max(float(scores.get(cat, 0.0)), 0.0), 1.0)
        best = max(best, p / t if p < t else 1.0 + ((p - t) / (1.0 - t) if t < 1.0 else 1.0))
    return round(best, 6)


def label_of(labels: dict[str, int]) -> str:
    if labels.get("hate_speech") == 1 or labels.get("personal_attack") == 1:
        return "hate_or_attack"
    if labels.get("spam") == 1:
        return "spam"
    return "other"


def summary(priorities: list[float], kinds: list[str]) -> dict[str, Any]:
    order = sorted(range(len(priorities)), key=lambda i: -priorities[i])
    top_shown = f"{priorities[order[0]]:.2f}"
    out: dict[str, Any] = {
        "max": priorities[order[0]],
        "tied_at_top_as_shown": sum(1 for p in priorities if f"{p:.2f}" == top_shown),
        "tied_at_top_exactly": sum(1 for p in priorities if p == priorities[order[0]]),
        "distinct_in_top_50": len({priorities[i] for i in order[:50]}),
        "distinct_in_top_50_as_shown": len({f"{priorities[i]:.2f}" for i in order[:50]}),
    }
    for n in (50, 100):
        out[f"top_{n}_labels"] = dict(Counter(kinds[i] for i in order[:n]))
    spam_ranks = [r for r, i in enumerate(order) if kinds[i] == "spam"]
    abuse_ranks = [r for r, i in enumerate(order) if kinds[i] == "hate_or_attack"]
    out["median_rank_spam"] = sorted(spam_ranks)[len(spam_ranks) // 2] if spam_ranks else None
    out["median_rank_hate_or_attack"] = sorted(abuse_ranks)[len(abuse_ranks) // 2] if abuse_ranks else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-corpus", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    model = load_model()
    policy = Policy(thresholds=dict(model.thresholds))
    texts, kinds = [], []
    for name in CORPORA:
        rows = load_corpus(name)
        for ex in rng.sample(rows, min(args.per_corpus, len(rows))):
            texts.append(ex.text)
            kinds.append(label_of(ex.labels))
    scores = model.predict_proba(texts)
    held = [i for i, s in enumerate(scores) if policy.flags(s)]
    thresholds = dict(policy.thresholds)
    old = [old_risk(scores[i], thresholds) for i in held]
    new = [policy.risk(scores[i]) for i in held]
    held_kinds = [kinds[i] for i in held]
    result = {"model": model.version, "sampled": len(texts), "flagged": len(held), "per_corpus": args.per_corpus,
              "seed": args.seed, "before": summary(old, held_kinds), "after": summary(new, held_kinds)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
