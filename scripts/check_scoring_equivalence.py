"""Prove that a speed change to the scoring path (model/features.py, pipeline.py, classifier.py) changes no output.

    python scripts/check_scoring_equivalence.py --save /tmp/before.pkl      # on the old code
    python scripts/check_scoring_equivalence.py --compare /tmp/before.pkl   # on the new code

Takes ``--per-corpus`` texts from every corpus (seeded sample, read in place from the data directory) plus
adversarial spellings, and records for each: the normalised text, every token (norm, start, end, kind),
``predict_proba`` (one call per text, and batched), and ``explain`` for every category. ``--compare``
fails unless the tokens and explanations are identical and the probabilities differ by at most 1e-9.
Keep the saved file outside the repository: it holds corpus rows.
"""

from __future__ import annotations

import argparse
import pickle
import random
import sys
from typing import Any

EXTRA = [
    "f u c k you", "b.u.l.l.s.h.i.t", "fuuuuuck", "sh1t", "@ss", "m0r0n", "f*ck", "f**k off a**hole", "fuсk",
    "Dick Van Dyke", "Scunthorpe cocktail assassin", "tit for tat", "magna cum laude", "phuck fvck", "wow!great",
    "visit www.example.com now @someone", "ＦＵＣＫ", "f\u200bu\u200bck", "a b i t c h", "f-u-c-k", ":) :-( <3",
    "", "   ", "Ünïcödé tèxt — “quotes” ‘single’", "l33t 5p34k h4x0r", "k i l l yourself", "s.h.i.t head",
]


def sample(per_corpus: int, seed: int) -> list[str]:
    from moderator.training.datasets import SOURCES, load_corpus

    rng = random.Random(seed)
    texts: list[str] = []
    for name in sorted(SOURCES):
        try:
            rows = load_corpus(name)
        except FileNotFoundError as exc:
            print(f"skipping {name}: {exc}", file=sys.stderr)
            continue
        texts.extend(e.text for e in rng.sample(rows, min(per_corpus, len(rows))))
    return texts + EXTRA


def outputs(texts: list[str]) -> dict[str, Any]:
    from moderator import load_model

    model = load_model()
    norm = model.normalizer
    return {
        "texts": texts,
        "tokens": [[(t.norm, t.start, t.end, t.kind) for t in norm.tokens(x)] for x in texts],
        "normalized": [norm.normalize(x) for x in texts],
        "proba_one": [model.predict_proba([x])[0] for x in texts],
        "proba_batch": [p for i in range(0, len(texts), 64) for p in model.predict_proba(texts[i:i + 64])],
        "explain": [{c: model.explain(x, c) for c in model.categories} for x in texts[:1000]],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", metavar="FILE")
    group.add_argument("--compare", metavar="FILE")
    ap.add_argument("--per-corpus", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.save:
        out = outputs(sample(args.per_corpus, args.seed))
        with open(args.save, "wb") as f:
            pickle.dump(out, f)
        print(f"saved the outputs for {len(out['texts'])} texts to {args.save}")
        return 0
    with open(args.compare, "rb") as f:
        before = pickle.load(f)
    after = outputs(before["texts"])
    bad = 0
    for key in ("tokens", "normalized", "explain"):
        diff = sum(a != b for a, b in zip(before[key], after[key], strict=True))
        print(f"{key:12s} differing texts: {diff}")
        bad += diff
    worst = 0.0
    for key in ("proba_one", "proba_batch"):
        for a, b in zip(before[key], after[key], strict=True):
            worst = max(worst, max(abs(a[c] - b[c]) for c in a))
    print(f"predict_proba max abs diff: {worst:.3g} over {len(before['texts'])} texts")
    ok = bad == 0 and worst <= 1e-9
    print("IDENTICAL" if ok else "DIFFERENT")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
