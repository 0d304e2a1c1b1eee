"""Leave-one-corpus-out: train on every corpus but one, score the one left out.

    python bench/loco.py [--mode linear,baseline] [--corpora impermium_insults,stormfront_hate]
                         [--max-eval 6000] [--out bench/results/loco]

For each left-out corpus, the training rows are what ``scripts/train.py`` would train on without it: the other
corpora loaded and deduplicated as training does, their seeded validation split held out (so a fold trains on
85% of every other corpus, as the shipped model does), the same normaliser, features, weak obscenity labels,
corpus weights and calibrated classifiers (``moderator.training.train``'s own stage functions). The left-out
corpus is scored in full (rows whose text also occurs in a training corpus dropped; at most ``--max-eval``
rows, a seeded sample) and reported as ROC AUC per category it labels. Ruddit, which labels no category, is
reported as its ranking check: offensive (score >= 0.33) against clean (score <= 0) by the highest non-spam
probability.

Modes (one fold trains one model; folds run one after another, never in parallel):

* ``linear``: the project's linear model (what intake scores with), no encoder;
* ``full``: the same plus the encoder fine-tuned as training does it (``encoder_training_rows`` of the rows that
  remain and the team's rows; a category whose encoder corpus is the one left out gets no encoder output, so its
  score is linear);
  the full model's score is the linear-encoder mean, as served (each part Platt-scaled first on the fold's own
  validation rows, as training does; ``--blend mean`` for the plain mean);
* ``--student LAYERS,EPOCHS`` (with ``full``): each fold's encoder is also distilled into a smaller one
  (``scripts/train.py --encoder-layers LAYERS --encoder-epochs EPOCHS --distill-from``, the fold's own encoder as
  the teacher), scored as a full model of its own and reported as ``student``;
* ``baseline``: a plain TF-IDF (word 1-2-grams of lower-cased raw text, sublinear tf, min_df 2) + logistic
  regression (liblinear, C 1, balanced classes) per category, on the same rows with the same sample weights.

``linear`` and ``full`` share one fold's fitting: ``--mode full`` also reports ``linear``. Each mode's row
records how long its fold took. Results are merged into ``<out>.json`` (so folds can be run separately) and
``<out>.md`` is rewritten from everything recorded.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from moderator import CATEGORIES
from moderator.model.classifier import ModerationModel
from moderator.training.datasets import SOURCES, Example, load_corpus
from moderator.training.train import (
    ENCODER_CORPORA,
    TrainConfig,
    _weights,
    fit_calibration,
    fit_classifiers,
    fit_encoder,
    fit_features,
    fit_normalizer,
    load_data,
    text_key,
)
from moderator.training.weak_labels import add_obscenity_labels

RESULTS = Path(__file__).resolve().parent / "results"


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None


def evaluate(rows: list[Example], probs: dict[str, np.ndarray]) -> dict[str, Any]:
    """AUC per category the left-out rows label (``probs[cat]`` has one score per row); Ruddit's ranking check."""
    out: dict[str, Any] = {}
    for cat, p in probs.items():
        idx = [i for i, r in enumerate(rows) if cat in r.labels]
        if idx:
            y = np.array([rows[i].labels[cat] for i in idx])
            out[cat] = {"n": len(idx), "positives": int(y.sum()), "roc_auc": _auc(y, p[idx])}
    if rows and rows[0].corpus == "ruddit":
        score = np.array([float(r.raw_label) for r in rows])
        keep = (score >= 0.33) | (score <= 0)
        worst = np.max(np.vstack([p for c, p in probs.items() if c != "spam"]), axis=0)
        out["offensive_vs_clean"] = {"n": int(keep.sum()), "positives": int((score[keep] >= 0.33).sum()),
                                     "roc_auc": _auc((score[keep] >= 0.33).astype(int), worst[keep])}
    return out


def baseline_probs(train_rows: list[Example], eval_texts: list[str], categories: tuple[str, ...],
                   corpus_weight: dict[str, float]) -> dict[str, np.ndarray]:
    """The plain TF-IDF + logistic regression baseline's probabilities for ``eval_texts``."""
    vec = TfidfVectorizer(lowercase=True, ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=200_000)
    X = vec.fit_transform([r.text for r in train_rows])
    Xe = vec.transform(eval_texts)
    out = {}
    for cat in categories:
        idx = [i for i, r in enumerate(train_rows) if cat in r.labels]
        y = np.array([train_rows[i].labels[cat] for i in idx])
        if len(set(y)) < 2:
            continue
        w = _weights([train_rows[i] for i in idx], corpus_weight)
        clf = LogisticRegression(C=1.0, solver="liblinear", max_iter=1000, class_weight="balanced")
        clf.fit(X[idx], y, sample_weight=w)
        out[cat] = clf.predict_proba(Xe)[:, 1]
    return out


def left_out_rows(name: str, cfg: TrainConfig, train_keys: set[str], max_eval: int) -> list[Example]:
    rows = [r for r in load_corpus(name, cfg.data_dir) if text_key(r.text) and text_key(r.text) not in train_keys]
    seen: set[str] = set()
    rows = [r for r in rows if not (text_key(r.text) in seen or seen.add(text_key(r.text)))]  # type: ignore[func-returns-value]
    if max_eval and len(rows) > max_eval:
        idx = np.random.default_rng(cfg.seed).permutation(len(rows))[:max_eval]
        rows = [rows[i] for i in sorted(idx)]
    return rows


def run_fold(left: str, modes: set[str], cfg: TrainConfig, max_eval: int,
             student: tuple[int, int] | None = None) -> dict[str, Any]:
    others = tuple(c for c in SOURCES if c != left)
    fold_cfg = replace(cfg, corpora=others, progress=False, make_default=False)
    t0 = time.time()
    data = load_data(fold_cfg)
    train_rows = data.train_rows
    # a category is trained when the remaining rows hold both of its classes (with YouTube left out, no row is
    # spam: its classifier cannot be fitted, and that fold reports the other categories)
    cats = tuple(c for c in CATEGORIES if c == "obscenity" or {r.labels[c] for r in train_rows if c in r.labels}
                 == {0, 1})
    fold_cfg = replace(fold_cfg, categories=cats)
    keys = {text_key(r.text) for rows in data.splits.corpora.values() for r in rows}
    ev = left_out_rows(left, fold_cfg, keys, max_eval)
    texts = [r.text for r in ev]
    load_s = time.time() - t0
    out: dict[str, Any] = {"left_out": left, "train_rows": len(train_rows), "eval_rows": len(ev),
                           "categories_trained": list(cats)}
    if modes & {"linear", "full"}:
        t1 = time.time()
        normalizer, _ = fit_normalizer(fold_cfg, data)
        X = fit_features(fold_cfg, normalizer, data)
        classifiers = fit_classifiers(fold_cfg, data, X)
        model = ModerationModel("loco", X.features, classifiers, {})
        add_obscenity_labels(ev, normalizer)
        lin = model.linear_matrix(texts)
        linear_s = time.time() - t1 + load_s
        out["linear"] = {"seconds": round(linear_s, 1),
                         "metrics": evaluate(ev, {c: lin[:, k] for k, c in enumerate(model.categories)})}
        if "full" in modes:
            t2 = time.time()
            enc_cats = tuple(c for c in cats if any(ENCODER_CORPORA.get(r.corpus) == c and c in r.labels
                                                     for r in data.splits.train))
            enc_rows = data.splits.train + data.augment  # what training gives the encoder
            encoder = fit_encoder(replace(fold_cfg, categories=enc_cats), enc_rows) if enc_cats else None

            def scored(enc: Any) -> dict[str, Any]:
                full = ModerationModel("loco", X.features, classifiers, {}, encoder=enc)
                if full.encoder_categories and fold_cfg.blend == "calibrated":  # as training does, on the
                    val = data.splits.validation                                # fold's own validation rows
                    vidx = [i for i, r in enumerate(val) if any(c in r.labels for c in full.encoder_categories)]
                    cols = [full.categories.index(c) for c in full.encoder_categories]
                    lin_v = np.column_stack([classifiers[c].predict_proba(X.validation) for c in full.categories])
                    enc_v = full.encoder_matrix([val[i].text for i in vidx])
                    assert enc_v is not None
                    full.calibration = fit_calibration([val[i] for i in vidx], full.encoder_categories,
                                                       lin_v[vidx][:, cols], enc_v)
                need = [any(c in r.labels for c in full.encoder_categories) or r.corpus == "ruddit" for r in ev]
                probs = full.predict_matrix(texts, need)
                return evaluate(ev, {c: probs[:, k] for k, c in enumerate(full.categories)})

            out["full"] = {"seconds": round(time.time() - t2 + linear_s, 1), "encoder_categories": list(enc_cats),
                           "metrics": scored(encoder)}
            if student is not None:
                # a smaller encoder distilled from this fold's own encoder: the teacher never saw the left-out
                # corpus either
                t4 = time.time()
                layers, epochs = student
                small = fit_encoder(replace(fold_cfg, categories=enc_cats, encoder_layers=layers,
                                            encoder_epochs=epochs), enc_rows, teacher=encoder) if encoder else None
                out["student"] = {"seconds": round(time.time() - t4, 1), "layers": layers, "epochs": epochs,
                                  "metrics": scored(small)}
    if "baseline" in modes:
        t3 = time.time()
        if "linear" not in out:  # the weak obscenity labels, as training makes them
            normalizer, _ = fit_normalizer(fold_cfg, data)
            add_obscenity_labels(ev, normalizer)
        probs_b = baseline_probs(train_rows, texts, cats, fold_cfg.corpus_weight)
        out["baseline"] = {"seconds": round(time.time() - t3 + load_s, 1), "metrics": evaluate(ev, probs_b)}
    return out


def markdown(results: dict[str, Any]) -> str:
    modes = ["baseline", "linear", "full"]
    if any("student" in fold for fold in results["folds"].values()):
        modes.append("student")
    header = " | ".join(modes)
    lines = ["# Leave-one-corpus-out", "",
             "; ".join(f"`{c}`" for c in results.get("commands", [results.get("command", "python bench/loco.py")]))
             + f"; {results.get('machine', '')}", "",
             "ROC AUC on the left-out corpus (full model = linear + encoder, as served; linear = what intake "
             "scores with; baseline = plain TF-IDF + logistic regression on the same rows"
             + ("; student = the full model with a smaller encoder distilled from the fold's own encoder"
                if "student" in modes else "") + "). `-` = not run.", "",
             f"| left out | category | n | positives | {header} | full beats baseline | "
             f"fold seconds ({' / '.join(modes)}) |",
             "|---|---|---:|---:|" + "---:|" * len(modes) + "---|---|"]
    for left, fold in results["folds"].items():
        cats: list[str] = []
        for mode in modes:
            for c in fold.get(mode, {}).get("metrics", {}):
                if c not in cats:
                    cats.append(c)
        secs = " / ".join(str(fold[m]["seconds"]) if m in fold else "-" for m in modes)
        for c in cats:
            vals = {m: fold.get(m, {}).get("metrics", {}).get(c) for m in modes}
            ref = next(v for v in vals.values() if v)
            fmt = {m: f"{v['roc_auc']:.3f}" if v and v.get("roc_auc") is not None else "-" for m, v in vals.items()}
            b, f = vals["baseline"], vals["full"]
            beats = ("yes" if f["roc_auc"] > b["roc_auc"] else "no") if (
                b and f and b.get("roc_auc") is not None and f.get("roc_auc") is not None) else "-"
            note = " (weak labels)" if c == "obscenity" else ""
            lines.append(f"| {left} | {c}{note} | {ref['n']} | {ref['positives']} | "
                         + " | ".join(fmt[m] for m in modes) + f" | {beats} | {secs} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", default="linear,baseline", help="comma-separated: baseline, linear, full")
    ap.add_argument("--no-encoder", action="store_true", help="same as leaving 'full' out of --mode")
    ap.add_argument("--corpora", default="", help="comma-separated corpora to leave out (default: all)")
    ap.add_argument("--max-eval", type=int, default=6000, help="score at most this many left-out rows (0: all)")
    ap.add_argument("--sample", type=int, default=None, help="rows per training corpus (quick runs only)")
    ap.add_argument("--blend", choices=["calibrated", "mean"], default="calibrated",
                    help="how the full model averages its parts (scripts/train.py --blend)")
    ap.add_argument("--student", default=None, metavar="LAYERS,EPOCHS",
                    help="with --mode full: also distil each fold's encoder into one of LAYERS layers trained for "
                         "EPOCHS epochs (scripts/train.py --distill-from), reported as the column 'student'")
    ap.add_argument("--identity-pooled", default=None, metavar="CATEGORIES",
                    help="categories re-weighted over the corpora pooled too ('' for none; default: training's)")
    ap.add_argument("--corpus-adjust", default=None, metavar="CATEGORIES",
                    help="categories fitted with the corpus as a feature, scored with it averaged in (default: none)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=str(RESULTS / "loco"))
    args = ap.parse_args()
    modes = {m.strip() for m in args.mode.split(",") if m.strip()}
    if args.no_encoder:
        modes.discard("full")
    unknown = modes - {"baseline", "linear", "full"}
    if unknown:
        ap.error(f"unknown mode(s): {sorted(unknown)}")
    student: tuple[int, int] | None = None
    if args.student:
        try:
            layers, epochs = (int(x) for x in args.student.split(","))
        except ValueError:
            ap.error("--student takes LAYERS,EPOCHS, e.g. 3,2")
        if "full" not in modes or not (1 <= layers <= 6 and epochs >= 1):
            ap.error("--student needs --mode full, 1-6 layers and at least one epoch")
        student = (layers, epochs)
    folds = [c.strip() for c in args.corpora.split(",") if c.strip()] or list(SOURCES)
    for c in folds:
        if c not in SOURCES:
            ap.error(f"unknown corpus {c!r}; known: {', '.join(SOURCES)}")
    out = Path(args.out)
    results: dict[str, Any] = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").is_file() \
        else {"folds": {}}
    command = ("python bench/loco.py --mode " + ",".join(sorted(modes))
               + (f" --corpora {args.corpora}" if args.corpora else "")
               + (f" --sample {args.sample}" if args.sample else "")
               + ("" if args.blend == "calibrated" else f" --blend {args.blend}")
               + (f" --student {args.student}" if args.student else "")
               + (f" --identity-pooled '{args.identity_pooled}'" if args.identity_pooled is not None else "")
               + (f" --corpus-adjust '{args.corpus_adjust}'" if args.corpus_adjust is not None else "")
               + f" --out {args.out}")
    commands = [c for c in results.get("commands", [results["command"]] if "command" in results else [])
                if c != command]
    results.pop("command", None)
    results.update({"commands": [*commands, command],
                    "machine": f"{platform.python_version()}, {platform.machine()}, measured "
                               f"{datetime.now(UTC).date().isoformat()} on a shared 2-core machine",
                    "max_eval": args.max_eval})
    cfg = TrainConfig(data_dir=args.data_dir, sample=args.sample, blend=args.blend)
    if args.identity_pooled is not None:
        cfg.identity_reweight_pooled = tuple(c.strip() for c in args.identity_pooled.split(",") if c.strip())
    if args.corpus_adjust is not None:
        cfg.corpus_adjust = tuple(c.strip() for c in args.corpus_adjust.split(",") if c.strip())
    for left in folds:
        t = time.time()
        fold = run_fold(left, modes, cfg, args.max_eval, student)
        merged = results["folds"].setdefault(left, {})
        merged.update(fold)
        print(f"{left}: {time.time() - t:.0f} s " + json.dumps({m: fold[m]["metrics"] for m in (*modes, "student")
                                                               if m in fold}),
              flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
        out.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
