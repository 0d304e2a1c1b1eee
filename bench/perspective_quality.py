"""How well each Perspective attribute, as this service derives it, measures what it names.

    python bench/perspective_quality.py [--full]

Scores every validation row of the corpora (training's own split) with the model the service serves by default
(the linear view; ``--full`` adds the model with its encoder) and computes each attribute
(:mod:`moderator.service.perspective`):

* TOXICITY: ROC AUC of "toxic" (Davidson hate or offensive; any positive hate_speech / personal_attack label
  elsewhere; Ruddit offensiveness > 0) per corpus and pooled, and the Spearman correlation with Ruddit's graded
  offensiveness;
* SEVERE_TOXICITY: the same, plus the AUC of Davidson *hate* against *offensive only* (severe, not mild
  profanity) and of Ruddit offensiveness >= 0.5; the candidate formulas are listed side by side;
* IDENTITY_ATTACK / INSULT / SPAM: the AUC of their category's labels; PROFANITY: AUC on the hand-written
  ``data/obscenity_eval.jsonl``;
* THREAT: on the hand-written ``data/threat_eval.jsonl`` (155 threats, 156 traps, never trained on): AUC, share of
  threats at >= 0.5 and of traps at >= 0.5; and the share of validation rows at >= 0.5.

Writes ``bench/results/perspective_quality.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from moderator.service import perspective as p

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"

SEVERE_CANDIDATES: dict[str, Callable[[Mapping[str, float]], float]] = {
    "shipped: max(hate, attack x max(attack, obscenity))": p.severe_toxicity,
    "max(hate, attack)": lambda s: max(s["hate_speech"], s["personal_attack"]),
    "TOXICITY (max of three)": p.toxicity,
    "TOXICITY squared": lambda s: p.toxicity(s) ** 2,
}


def auc(y: list[int], x: list[float]) -> float | None:
    return float(roc_auc_score(y, x)) if 0 < sum(y) < len(y) else None


def toxic_label(ex: Any) -> int | None:
    if ex.corpus == "davidson_hate_offensive":
        return int(ex.raw_label in ("0", "1"))
    if ex.corpus == "ruddit":
        return int(float(ex.raw_label) > 0)
    content = [v for k, v in ex.labels.items() if k in p.CONTENT]
    if not content:
        return None
    return int(any(content))


def evaluate(model: Any, rows: list[Any]) -> dict[str, Any]:
    texts = [r.text for r in rows]
    scores = [{k: float(v) for k, v in s.items()} for s in model.predict_proba(texts)]
    out: dict[str, Any] = {"model": str(model.version), "rows": len(rows)}
    attr = {a: [p.attribute_value(a, s, t) for s, t in zip(scores, texts, strict=True)] for a in p.ATTRIBUTES}

    def per_corpus(values: list[float], label: Callable[[Any], int | None]) -> dict[str, Any]:
        res: dict[str, Any] = {}
        pooled_y: list[int] = []
        pooled_x: list[float] = []
        for corpus in sorted({r.corpus for r in rows}):
            pairs = [(label(r), v) for r, v in zip(rows, values, strict=True) if r.corpus == corpus]
            pairs = [(y, v) for y, v in pairs if y is not None]
            if not pairs:
                continue
            y, x = [a for a, _ in pairs], [b for _, b in pairs]
            res[corpus] = {"auc": auc(y, x), "n": len(y), "positives": sum(y)}
            pooled_y += y
            pooled_x += x
        res["pooled"] = {"auc": auc(pooled_y, pooled_x), "n": len(pooled_y), "positives": sum(pooled_y)}
        return res

    ruddit = [(float(r.raw_label), i) for i, r in enumerate(rows) if r.corpus == "ruddit"]

    def ruddit_stats(values: list[float]) -> dict[str, Any]:
        grades = [g for g, _ in ruddit]
        xs = [values[i] for _, i in ruddit]
        return {"spearman": float(spearmanr(grades, xs).statistic),
                "auc_offensive_gt_0": auc([int(g > 0) for g in grades], xs),
                "auc_severe_ge_0.5": auc([int(g >= 0.5) for g in grades], xs), "n": len(grades),
                "severe": sum(g >= 0.5 for g in grades)}

    def davidson_severe(values: list[float]) -> float | None:
        pairs = [(int(r.raw_label == "0"), v) for r, v in zip(rows, values, strict=True)
                 if r.corpus == "davidson_hate_offensive" and r.raw_label in ("0", "1")]
        return auc([a for a, _ in pairs], [b for _, b in pairs])

    out["TOXICITY"] = {"auc": per_corpus(attr["TOXICITY"], toxic_label), "ruddit": ruddit_stats(attr["TOXICITY"]),
                       "davidson_hate_vs_offensive_auc": davidson_severe(attr["TOXICITY"])}
    out["SEVERE_TOXICITY"] = {}
    for name, fn in SEVERE_CANDIDATES.items():
        values = [fn(s) for s in scores]
        out["SEVERE_TOXICITY"][name] = {"toxic_auc_pooled": per_corpus(values, toxic_label)["pooled"]["auc"],
                                        "ruddit": ruddit_stats(values),
                                        "davidson_hate_vs_offensive_auc": davidson_severe(values)}
    for a, category in p.DIRECT.items():
        if category == "obscenity":
            continue
        out[a] = {"category": category, "auc": per_corpus(
            attr[a], lambda r, c=category: r.labels.get(c))}
    obscene = [json.loads(line) for line in (DATA / "obscenity_eval.jsonl").read_text().splitlines() if line.strip()]
    ob_scores = model.predict_proba([r["text"] for r in obscene])
    out["PROFANITY"] = {"category": "obscenity", "obscenity_eval_auc": auc(
        [r["obscene"] for r in obscene], [float(s["obscenity"]) for s in ob_scores]), "n": len(obscene)}
    threats = [json.loads(line) for line in (DATA / "threat_eval.jsonl").read_text().splitlines() if line.strip()]
    th_scores = model.predict_proba([r["text"] for r in threats])
    th = [p.threat(s, r["text"]) for s, r in zip(th_scores, threats, strict=True)]
    y = [r["label"] for r in threats]
    attack_only = [float(s["personal_attack"]) for s in th_scores]
    out["THREAT"] = {
        "threat_eval_auc": auc(y, th), "threat_eval_auc_personal_attack_alone": auc(y, attack_only),
        "threats_at_0.5": float(np.mean([v >= 0.5 for v, t in zip(th, y, strict=True) if t])),
        "traps_at_0.5": float(np.mean([v >= 0.5 for v, t in zip(th, y, strict=True) if not t])),
        "validation_rows_at_0.5": float(np.mean([v >= 0.5 for v in attr["THREAT"]])),
        "threats": sum(y), "traps": len(y) - sum(y),
        "missed_threats": [r["text"] for r, v in zip(threats, th, strict=True) if r["label"] and v < 0.5],
        "flagged_traps": [r["text"] for r, v in zip(threats, th, strict=True) if not r["label"] and v >= 0.5],
    }
    return out


def fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def markdown(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        lines += [f"### model {r['model']} ({r['rows']} validation rows)", "",
                  "| attribute | derived from | measure | value |", "|---|---|---|---:|"]
        t = r["TOXICITY"]
        for corpus, e in t["auc"].items():
            lines.append(f"| TOXICITY | max(hate, obscenity, attack) | AUC toxic, {corpus} (n={e['n']}) | "
                         f"{fmt(e['auc'])} |")
        lines.append(f"| TOXICITY | | Spearman with Ruddit offensiveness (n={t['ruddit']['n']}) | "
                     f"{fmt(t['ruddit']['spearman'])} |")
        for name, e in r["SEVERE_TOXICITY"].items():
            lines.append(f"| SEVERE_TOXICITY | {name} | AUC Davidson hate vs offensive-only / Ruddit >= 0.5 "
                         f"(n={e['ruddit']['severe']} severe) / Spearman Ruddit / AUC toxic pooled | "
                         f"{fmt(e['davidson_hate_vs_offensive_auc'])} / {fmt(e['ruddit']['auc_severe_ge_0.5'])} / "
                         f"{fmt(e['ruddit']['spearman'])} / {fmt(e['toxic_auc_pooled'])} |")
        for a in ("IDENTITY_ATTACK", "INSULT", "SPAM"):
            for corpus, e in r[a]["auc"].items():
                lines.append(f"| {a} | {r[a]['category']} | AUC, {corpus} (n={e['n']}) | {fmt(e['auc'])} |")
        lines.append(f"| PROFANITY | obscenity | AUC, data/obscenity_eval.jsonl (n={r['PROFANITY']['n']}) | "
                     f"{fmt(r['PROFANITY']['obscenity_eval_auc'])} |")
        th = r["THREAT"]
        lines += [
            f"| THREAT | cue patterns x hostility | AUC, data/threat_eval.jsonl ({th['threats']} threats, "
            f"{th['traps']} traps) | {fmt(th['threat_eval_auc'])} |",
            f"| THREAT | personal_attack alone (for comparison) | AUC, same set | "
            f"{fmt(th['threat_eval_auc_personal_attack_alone'])} |",
            f"| THREAT | | threats at >= 0.5 | {th['threats_at_0.5']:.1%} |",
            f"| THREAT | | traps at >= 0.5 | {th['traps_at_0.5']:.1%} |",
            f"| THREAT | | validation rows at >= 0.5 | {th['validation_rows_at_0.5']:.2%} |", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true", help="also the model with its encoder (slower)")
    ap.add_argument("--out", default=str(HERE / "results" / "perspective_quality"))
    args = ap.parse_args()
    from moderator import load_model
    from moderator.training.train import TrainConfig, validation_rows

    rows = validation_rows(TrainConfig())
    full = load_model()
    models = [full.linear_view() if getattr(full, "encoder", None) is not None else full]
    if args.full and models[0] is not full:
        models.append(full)
    results = [evaluate(m, rows) for m in models]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    md = markdown(results)
    out.with_suffix(".md").write_text(md)
    print(md)
    for r in results:
        print("missed threats:", r["THREAT"]["missed_threats"])
        print("flagged traps:", r["THREAT"]["flagged_traps"])


if __name__ == "__main__":
    main()
