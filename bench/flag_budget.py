"""What a category's clean-comment flag budget buys: its threshold chosen again at several budgets.

    python bench/flag_budget.py [--model PATH] [--category hate_speech] [--budgets 0.03,0.04,0.05]
                                [--out bench/results/flag_budget]

Training chooses each category's threshold as the highest recall that flags at most a budget of the clean
comment-section comments (``TrainConfig.max_flag_rate``, :func:`moderator.training.train.operating_thresholds`).
This chooses ``--category``'s threshold again at each budget, the same way on the same validation rows, for
the intake view and the full model, and reports at each: the threshold, its precision at 10% prevalence, the
clean comments flagged (the category and any), each comment-section corpus's recall, and the hand-written sets
scored at those thresholds (identity terms within the benign-flag target, threats caught, traps flagged, friendly
statements to the reader flagged; :func:`moderator.training.fairness.evaluate_fairness`). The other categories
keep the model's thresholds. Writes ``<out>.json`` and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import write_results

from moderator import load_model
from moderator.training.fairness import evaluate_fairness, score_views, summarize
from moderator.training.operating_points import COMMENT_SECTION_CORPORA, flag_report
from moderator.training.train import TrainConfig, label_validation, operating_thresholds, validation_rows

RESULTS = Path(__file__).resolve().parent / "results"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def markdown(report: dict[str, Any], command: str) -> str:
    cat = report["category"]
    lines = [f"# Flag budget of {cat}: `{report['version']}`", "",
             f"`{command}`; {report['measured']}. The budget is the share of clean comment-section comments "
             f"(validation rows of {', '.join(COMMENT_SECTION_CORPORA)}) {cat} may flag; the threshold is the "
             "highest recall within it (training's own rule). Hand-written sets: `data/`.", "",
             "| view | budget | threshold | precision at 10% prevalence | clean flagged: category / any | "
             "recall per corpus | terms at <= 2% benign flags | threats caught (person / group) | traps flagged | "
             "friendly statements flagged |", "|---|---:|---:|---:|---|---|---:|---|---:|---:|"]
    for row in report["rows"]:
        rec = ", ".join(f"{c} {_pct(r)}" for c, r in row["recall"].items())
        lines.append(f"| {row['view']} | {row['budget']:.0%} | {row['threshold']:.4f} | {row['precision']:.3f} | "
                     f"{_pct(row['clean_flagged'])} / {_pct(row['clean_any'])} | {rec} | "
                     f"{row['terms_within_target']}/{row['terms']} | {_pct(row['threats_caught'])} "
                     f"({_pct(row['threats_person'])} / {_pct(row['threats_group'])}) | {_pct(row['traps_flagged'])} | "
                     f"{_pct(row['friendly_flagged'])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="artifact path (default: models/DEFAULT)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--category", default="hate_speech")
    ap.add_argument("--budgets", default="0.03,0.04,0.05", help="comma-separated shares of clean comments")
    ap.add_argument("--out", default=str(RESULTS / "flag_budget"))
    args = ap.parse_args()
    t0 = time.time()
    model = load_model(args.model)
    if args.category not in model.categories:
        ap.error(f"the model has no category {args.category!r} ({', '.join(model.categories)})")
    budgets = [float(b) for b in args.budgets.split(",") if b.strip()]
    base = TrainConfig(data_dir=args.data_dir, seed=model.metadata.get("config", {}).get("seed", TrainConfig.seed))
    rows = [r for r in validation_rows(base) if r.corpus in COMMENT_SECTION_CORPORA]
    label_validation(rows, model)
    views = score_views(model, [r.text for r in rows])
    out_rows: list[dict[str, Any]] = []
    for budget in budgets:
        cfg = replace(base, max_flag_rate={**base.max_flag_rate, args.category: budget})
        chosen: dict[str, dict[str, float]] = {}
        points: dict[str, dict[str, Any]] = {}
        for name, sc in views.items():
            points[name] = operating_thresholds(cfg, rows, sc.matrix, sc.categories)[args.category]
            chosen[name] = {**sc.thresholds, args.category: round(points[name]["threshold"], 4)}
        fairness = evaluate_fairness(model, thresholds=chosen)
        summary = summarize(fairness)
        for name, sc in views.items():
            flags = flag_report(rows, sc.matrix, sc.categories, chosen[name])
            v = fairness["views"][name]
            out_rows.append({
                "view": name, "version": sc.version, "budget": budget,
                "threshold": chosen[name][args.category], "precision": points[name]["precision"],
                "clean_flagged": flags["all"]["clean_flag_rate"][args.category],
                "clean_any": flags["all"]["clean_flag_rate"]["any"],
                "recall": {c: e["recall"][args.category]["recall"] for c, e in flags.items()
                           if c != "all" and args.category in e["recall"]},
                "terms": summary[name]["terms"],
                "terms_within_target": summary[name]["terms_meeting_flag_target"],
                "threats_caught": v["threats"]["caught"], "threats_person": v["threats"]["caught_person"],
                "threats_group": v["threats"]["caught_group"], "traps_flagged": v["threats"]["traps_flagged"],
                "friendly_flagged": v["friendly_address"]["flagged_any"],
            })
    command = "python bench/flag_budget.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    report = {"version": model.version, "category": args.category, "budgets": budgets, "rows": out_rows,
              "stored_thresholds": {name: sc.thresholds for name, sc in views.items()}, "command": command,
              "seconds": round(time.time() - t0, 1),
              "measured": f"{datetime.now(UTC).isoformat(timespec='seconds')}, python {platform.python_version()}"}
    write_results(args.out, report, markdown(report, command))


if __name__ == "__main__":
    main()
