"""Our model against the libraries a user would otherwise install, on the same texts in the same run.

    python bench/compare_peers.py [--model PATH] [--peer-python /path/to/peer-venv/bin/python]

Texts: the validation split exactly as training makes it (``moderator.training.train.validation_rows``, with the weak
obscenity labels added the way training adds them) plus the hand-written obscenity set
(``data/obscenity_eval.jsonl``). Each peer scores every one of those texts, through ``bench/peer_worker.py``
started with ``--peer-python`` (default: this interpreter), so a peer may live in its own virtualenv.

Every peer is scored on every category with its most relevant score:

* ``alt-profanity-check``: ``predict_prob`` (one "offensive/profane" probability) for every category;
* ``better-profanity``: ``contains_profanity`` as a 0/1 score (its ROC AUC is that of a single operating point);
* ``hatesonar``: P(hate) for hate_speech, P(hate) + P(offensive) (= 1 - P(neither)) for the others.

Reported per category, per corpus that labels it, pooled over all those corpora, and pooled without
Davidson (both alt-profanity-check and hatesonar were trained on the Davidson corpus, so their Davidson
numbers are optimistic): ROC AUC of ours and of each peer, a paired bootstrap 95% interval of
(ours - peer), and F1 -- ours at the model's stored thresholds, each peer at its own default decision rule
(probability >= 0.5; better-profanity's flag). Nothing is tuned on these texts.

Writes ``bench/results/peers.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import f1_score

HERE = Path(__file__).resolve().parent
WORKER = HERE / "peer_worker.py"
RESULTS = HERE / "results"

PEERS = ("alt_profanity_check", "better_profanity", "hatesonar")
PEER_LABEL = {"alt_profanity_check": "alt-profanity-check", "better_profanity": "better-profanity",
              "hatesonar": "hatesonar"}
# corpora a peer was trained on (per its own documentation): their numbers there are not out-of-sample
PEER_TRAINED_ON = {"alt_profanity_check": {"davidson_hate_offensive"}, "hatesonar": {"davidson_hate_offensive"},
                   "better_profanity": set()}
HANDWRITTEN = "obscenity_eval (hand-written)"
ALL = "all corpora"
ALL_NO_DAVIDSON = "all except davidson"


def peer_score(peer: str, category: str, scores: dict[str, np.ndarray]) -> tuple[np.ndarray, str]:
    """The peer's most relevant score for ``category`` and a short description of it."""
    if peer == "alt_profanity_check":
        return scores["profane"], "predict_prob"
    if peer == "better_profanity":
        return scores["contains"], "contains_profanity (0/1)"
    if category == "hate_speech":
        return scores["hate"], "P(hate)"
    return scores["hate"] + scores["offensive"], "P(hate)+P(offensive)"


def run_worker(python: str, peers: list[str], texts: list[str], mode: str = "score",
               extra: dict[str, Any] | None = None, timeout: float = 3600) -> dict[str, Any]:
    """Start ``peer_worker.py`` under ``python`` and return its JSON reply."""
    req = {"mode": mode, "peers": peers, "texts": texts, **(extra or {})}
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run([python, str(WORKER)], input=json.dumps(req), capture_output=True, text=True,
                          encoding="utf-8", env=env, timeout=timeout, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"peer worker failed (exit {proc.returncode}) under {python}:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout)


def fast_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC via the Mann-Whitney statistic (ties count one half), as ``sklearn.metrics.roc_auc_score``."""
    pos = y == 1
    n1 = int(pos.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(p)
    return float((r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def paired_bootstrap(y: np.ndarray, a: np.ndarray, b: np.ndarray, n: int, rng: np.random.Generator) -> list[float]:
    """95% percentile interval of AUC(a) - AUC(b), resampling rows (stratified by class)."""
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    diffs = np.empty(n)
    for i in range(n):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        diffs[i] = fast_auc(y[idx], a[idx]) - fast_auc(y[idx], b[idx])
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return [float(lo), float(hi)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model artifact or directory (default: models/DEFAULT)")
    ap.add_argument("--peer-python", default=os.environ.get("MODERATOR_PEER_PYTHON", sys.executable),
                    help="Python of the venv that has the peers installed (default: $MODERATOR_PEER_PYTHON, "
                         "else this interpreter)")
    ap.add_argument("--peers", nargs="+", default=list(PEERS), choices=PEERS)
    ap.add_argument("--bootstrap", type=int, default=1000, help="paired bootstrap resamples (0: none)")
    ap.add_argument("--output", default=str(RESULTS / "peers.json"))
    args = ap.parse_args(argv)

    from moderator import load_model
    from moderator.training.metrics import load_obscenity_eval
    from moderator.training.train import TrainConfig, label_validation, validation_rows

    t_start = time.time()
    model = load_model(args.model)
    rows = validation_rows(TrainConfig())
    label_validation(rows, model)
    hand = load_obscenity_eval()
    texts = [r.text for r in rows] + [h["text"] for h in hand]
    n_val = len(rows)
    print(f"model {model.version}; {n_val} validation texts + {len(hand)} hand-written obscenity texts",
          file=sys.stderr)

    t0 = time.perf_counter()
    ours_list: list[dict[str, float]] = []
    for i in range(0, len(texts), 1000):
        ours_list += model.predict_proba(texts[i:i + 1000])
    ours_seconds = time.perf_counter() - t0
    ours = {c: np.array([s[c] for s in ours_list]) for c in model.categories}

    reply = run_worker(args.peer_python, args.peers, texts)
    peer_scores = {p: {k: np.asarray(v, dtype=float) for k, v in s.items()} for p, s in reply["scores"].items()}
    for p, err in reply["errors"].items():
        print(f"peer {p} could not run: {err}", file=sys.stderr)

    # the evaluation sets: (category, set name) -> indices into ``texts`` and labels
    sets: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for cat in model.categories:
        by_corpus: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(rows):
            if cat in r.labels:
                by_corpus[r.corpus].append(i)
        for corpus in sorted(by_corpus):
            idx = np.array(by_corpus[corpus])
            sets[(cat, corpus)] = (idx, np.array([rows[i].labels[cat] for i in idx]))
        if len(by_corpus) > 1:
            idx = np.array(sorted(i for v in by_corpus.values() for i in v))
            sets[(cat, ALL)] = (idx, np.array([rows[i].labels[cat] for i in idx]))
            if "davidson_hate_offensive" in by_corpus:
                idx = np.array([i for i in idx if rows[i].corpus != "davidson_hate_offensive"])
                sets[(cat, ALL_NO_DAVIDSON)] = (idx, np.array([rows[i].labels[cat] for i in idx]))
        if cat == "obscenity":
            sets[(cat, HANDWRITTEN)] = (np.arange(n_val, n_val + len(hand)),
                                        np.array([int(h["obscene"]) for h in hand]))

    rng = np.random.default_rng(20261127)
    results: list[dict[str, Any]] = []
    for (cat, name), (idx, y) in sets.items():
        if len(set(y.tolist())) < 2:
            continue
        thr = model.thresholds[cat]
        p_ours = ours[cat][idx]
        entry: dict[str, Any] = {
            "category": cat, "set": name, "n": len(y), "positives": int(y.sum()),
            "ours": {"roc_auc": fast_auc(y, p_ours), "threshold": thr,
                     "f1": float(f1_score(y, (p_ours >= thr).astype(int), zero_division=0))},
            "peers": {},
        }
        for peer in args.peers:
            if peer not in peer_scores:
                entry["peers"][peer] = {"error": reply["errors"].get(peer, "not run")}
                continue
            s, desc = peer_score(peer, cat, peer_scores[peer])
            s = s[idx]
            pe: dict[str, Any] = {"score": desc, "roc_auc": fast_auc(y, s),
                                  "f1": float(f1_score(y, (s >= 0.5).astype(int), zero_division=0)),
                                  "trained_on_this_corpus": name != HANDWRITTEN
                                  and any(rows[i].corpus in PEER_TRAINED_ON[peer] for i in idx)}
            pe["auc_margin_ours_minus_peer"] = entry["ours"]["roc_auc"] - pe["roc_auc"]
            if args.bootstrap:
                pe["auc_margin_95ci"] = paired_bootstrap(y, p_ours, s, args.bootstrap, rng)
            pe["ours_beats_peer"] = pe["auc_margin_ours_minus_peer"] > 0
            entry["peers"][peer] = pe
        results.append(entry)

    losses = [{"category": e["category"], "set": e["set"], "peer": p, "ours_auc": e["ours"]["roc_auc"],
               "peer_auc": v["roc_auc"], "margin_95ci": v.get("auc_margin_95ci"),
               "peer_trained_on_this_corpus": v["trained_on_this_corpus"]}
              for e in results for p, v in e["peers"].items() if "roc_auc" in v and not v["ours_beats_peer"]]

    import sklearn

    out = {
        "command": "python bench/compare_peers.py" + (f" --model {args.model}" if args.model else "")
                   + ("" if args.peer_python == sys.executable else f" --peer-python {args.peer_python}"),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "model": {"version": model.version, "thresholds": model.thresholds,
                  "library_versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__}},
        "peer_environment": {k: reply[k] for k in ("python", "executable", "versions", "notes", "errors",
                                                   "load_seconds")},
        "texts": {"validation": n_val, "handwritten_obscenity": len(hand)},
        "scoring_seconds": {"ours": ours_seconds, **reply["seconds"]},
        "peer_scores_used": {p: {c: peer_score(p, c, peer_scores[p])[1] for c in model.categories}
                             for p in peer_scores},
        "bootstrap_resamples": args.bootstrap,
        "results": results,
        "ours_not_better": losses,
        "wall_seconds": round(time.time() - t_start, 1),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(markdown(out))
    return 0


def markdown(out: dict[str, Any]) -> str:
    """The accuracy table: one row per (category, set); AUC and F1 for ours and each peer."""
    peers = [p for p in PEERS if p in out["peer_scores_used"]]
    head = ["category", "evaluation set", "n (pos)", "ours AUC", *[f"{PEER_LABEL[p]} AUC" for p in peers],
            "ours F1", *[f"{PEER_LABEL[p]} F1" for p in peers]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * (len(head) - 3)]
    for e in out["results"]:
        cells = [e["category"], e["set"], f"{e['n']} ({e['positives']})", f"{e['ours']['roc_auc']:.3f}"]
        for p in peers:
            v = e["peers"][p]
            mark = ("" if v["ours_beats_peer"] else " ⚠") + (" †" if v["trained_on_this_corpus"] else "")
            cells.append(f"{v['roc_auc']:.3f}{mark}")
        cells.append(f"{e['ours']['f1']:.3f}")
        cells += [f"{e['peers'][p]['f1']:.3f}" for p in peers]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("⚠ = the peer's AUC is at least ours. † = the peer was trained on (part of) this corpus.")
    if out["ours_not_better"]:
        lines.append("")
        lines.append("Ours does NOT beat the peer on:")
        for w in out["ours_not_better"]:
            lines.append(f"- {w['category']} / {w['set']}: ours {w['ours_auc']:.3f} vs {PEER_LABEL[w['peer']]} "
                         f"{w['peer_auc']:.3f}" + (" (peer trained on this corpus)"
                                                   if w["peer_trained_on_this_corpus"] else ""))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
