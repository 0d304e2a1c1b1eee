#!/usr/bin/env python
"""Do moderators' decisions on *this* site improve the model on this site?

Simulation: one labelled corpus plays "the site" (default: ``impermium_insults`` for ``personal_attack``,
news-site comments, a domain no other corpus covers). Its rows are split exactly as training splits a
corpus (``moderator.training.train.split``: seeded, stratified, 15 % validation). Then:

1. **base**: train on the other corpora that label the category, *without* the site's corpus;
2. **+ feedback N**: train again, adding N rows of the site's training part as feedback examples (corpus
   ``feedback``, as ``moderator train --feedback`` adds them: the moderators' label for the category),
   for N in ``--sizes`` (seeded subsets; ``all`` = the whole training part);
3. evaluate every model on the site's validation part (never trained on) and, to see whether in-domain
   feedback costs anything elsewhere, on the base corpora's own validation split.

Reported per model: ROC AUC, F1 / precision / recall at the model's own threshold (chosen by training on
the base corpora's validation split, so the site's F1 also shows threshold drift), and the F1 the best
threshold on the site's validation part would give (an upper bound, for reference).

Bounded runtime: one category, the base corpora only, and reduced feature spaces
(``--max-char-features 20000 --max-word-features 10000`` by default instead of 200k/150k).

    python bench/feedback_experiment.py                      # ~3-5 minutes on 2 cores
    python bench/feedback_experiment.py --site olid --base trac1_aggression,impermium_insults
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import write_results

from moderator.training.datasets import Example, data_available, load_corpus
from moderator.training.evaluation import evaluate_rows
from moderator.training.metrics import choose_threshold, metrics_for
from moderator.training.train import TrainConfig, dedupe, split, train

CATEGORY_OF_SITE = {"impermium_insults": "personal_attack", "olid": "personal_attack",
                    "trac1_aggression": "personal_attack", "youtube_spam": "spam"}
DEFAULT_BASE = {"impermium_insults": ("olid", "trac1_aggression"),
                "olid": ("trac1_aggression", "impermium_insults"),
                "trac1_aggression": ("olid", "impermium_insults")}


def site_rows(site: str, category: str, seed: int, val_fraction: float) -> tuple[list[Example], list[Example]]:
    rows, _ = dedupe({site: load_corpus(site)})
    labelled = [r for r in rows[site] if category in r.labels]
    return split(labelled, val_fraction, seed)


def as_feedback(rows: list[Example], category: str) -> list[Example]:
    return [Example(r.text, "feedback", {category: r.labels[category]}, "reject" if r.labels[category] else "approve")
            for r in rows]


def site_metrics(model, rows: list[Example], category: str) -> dict:
    m = evaluate_rows(model, rows)[category]["all"]
    p = np.array([s[category] for s in model.predict_proba([r.text for r in rows])])
    y = np.array([r.labels[category] for r in rows])
    best = choose_threshold(y, p)
    m["best_threshold_f1"] = metrics_for(y, p, best)["f1"]
    m["threshold"] = model.thresholds[category]
    return m


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--site", default="impermium_insults", choices=sorted(CATEGORY_OF_SITE))
    ap.add_argument("--base", default=None, help="comma-separated base corpora (default: the others that label "
                                                  "the category)")
    ap.add_argument("--sizes", default="250,1000,all")
    ap.add_argument("--feedback-weight", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=TrainConfig.seed)
    ap.add_argument("--sample", type=int, default=None, help="rows per base corpus (default: all)")
    ap.add_argument("--max-char-features", type=int, default=20_000)
    ap.add_argument("--max-word-features", type=int, default=10_000)
    ap.add_argument("--out", default="bench/results/feedback_experiment",
                    help="writes OUT.json and OUT.md")
    args = ap.parse_args(argv)
    if not data_available():
        print("labelled corpora not found (set MODERATOR_DATA_DIR)", file=sys.stderr)
        return 2
    category = CATEGORY_OF_SITE[args.site]
    base = tuple(args.base.split(",")) if args.base else DEFAULT_BASE[args.site]
    if args.site in base:
        ap.error("the site's corpus must not be a base corpus")
    t_start = time.time()
    site_train, site_val = site_rows(args.site, category, args.seed, TrainConfig.val_fraction)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(site_train))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            n = 0 if size == "0" else len(site_train) if size == "all" else min(int(size), len(site_train))
            runs = [0] if not results else []
            runs.append(n)
            for k in runs:
                if any(r["feedback_rows"] == k for r in results):
                    continue
                fb = as_feedback([site_train[i] for i in sorted(order[:k])], category)
                cfg = TrainConfig(output=str(Path(tmp) / f"m{k}"), corpora=base, categories=(category,),
                                  seed=args.seed, sample=args.sample, max_char_features=args.max_char_features,
                                  max_word_features=args.max_word_features, make_default=False, progress=False,
                                  extra_examples=fb, extra_weight=args.feedback_weight)
                t0 = time.time()
                model, _ = train(cfg)
                seconds = time.time() - t0
                entry = {
                    "feedback_rows": k,
                    "feedback_positives": sum(e.labels[category] for e in fb),
                    "site_validation": site_metrics(model, site_val, category),
                    "base_validation": {c: {"roc_auc": m["roc_auc"], "f1": m["f1"]}
                                        for c, m in model.metadata["metrics"]["validation"][category].items()},
                    "train_seconds": round(seconds, 1),
                    "version": model.version,
                }
                results.append(entry)
                sv = entry["site_validation"]
                print(f"feedback {k:>5}: site AUC {sv['roc_auc']:.3f} F1 {sv['f1']:.3f} "
                      f"(best-threshold F1 {sv['best_threshold_f1']:.3f}); base AUC "
                      f"{entry['base_validation']['all']['roc_auc']:.3f}  [{seconds:.0f} s]", flush=True)
    report = {
        "site": args.site, "category": category, "base_corpora": list(base), "seed": args.seed,
        "site_train_rows": len(site_train), "site_validation_rows": len(site_val),
        "site_validation_positives": sum(r.labels[category] for r in site_val),
        "feedback_weight": args.feedback_weight, "sample": args.sample,
        "max_char_features": args.max_char_features, "max_word_features": args.max_word_features,
        "command": "python bench/feedback_experiment.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "results": results, "total_seconds": round(time.time() - t_start, 1),
    }
    write_results(args.out, report, markdown(report))
    return 0


def markdown(report: dict) -> str:
    cat = report["category"]
    lines = [f"Site `{report['site']}` ({cat}); base corpora {', '.join(report['base_corpora'])}; "
             f"site validation {report['site_validation_rows']} rows "
             f"({report['site_validation_positives']} positive); features {report['max_char_features']} char + "
             f"{report['max_word_features']} word; feedback weight {report['feedback_weight']}.", "",
             "| feedback rows (positive) | site AUC | site F1 | precision | recall | F1 at best threshold "
             "| base validation AUC | train s |",
             "|---|--:|--:|--:|--:|--:|--:|--:|"]
    for r in report["results"]:
        s = r["site_validation"]
        label = "0 (base)" if r["feedback_rows"] == 0 else f"{r['feedback_rows']} ({r['feedback_positives']})"
        lines.append(f"| {label} | {s['roc_auc']:.3f} | {s['f1']:.3f} | {s['precision']:.3f} | {s['recall']:.3f} "
                     f"| {s['best_threshold_f1']:.3f} | {r['base_validation']['all']['roc_auc']:.3f} "
                     f"| {r['train_seconds']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
