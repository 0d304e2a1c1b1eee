"""Clean-comment flag rates, recalls and threshold operating points on comment-section validation data.

    python bench/operating_points.py [--model PATH] [--min-precision 0.7] [--prevalences 0.05,0.10]

For the intake model (the linear view) and the full model: per comment-section corpus (Impermium, Stormfront,
TRAC-1, Ruddit, YouTube; validation split, recomputed as training made it) the share of clean comments each
category flags and any category flags, and each category's recall on its violations, at the model's thresholds;
then the thresholds ``moderator.training.operating_points.select_thresholds`` picks (highest recall with
precision >= 0.7 at 5% and at 10% prevalence) and the same numbers at those. Writes
``bench/results/operating_points.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import write_results

from moderator import load_model
from moderator.training.fairness import score_views
from moderator.training.operating_points import COMMENT_SECTION_CORPORA, markdown, operating_points
from moderator.training.train import TrainConfig, label_validation, validation_rows

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="artifact path (default: models/DEFAULT)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--min-precision", type=float, default=0.7)
    ap.add_argument("--prevalences", default="0.05,0.10")
    ap.add_argument("--out", default=str(RESULTS / "operating_points"))
    args = ap.parse_args()
    t0 = time.time()
    model = load_model(args.model)
    seed = model.metadata.get("config", {}).get("seed", TrainConfig.seed)
    rows = [r for r in validation_rows(TrainConfig(data_dir=args.data_dir, seed=seed))
            if r.corpus in COMMENT_SECTION_CORPORA]
    label_validation(rows, model)
    views = score_views(model, [r.text for r in rows])  # the full model scores every comment, as served
    prevalences = tuple(float(x) for x in args.prevalences.split(","))
    report = {"version": model.version, "categories": list(model.categories), "min_precision": args.min_precision,
              "rows": {c: sum(r.corpus == c for r in rows) for c in COMMENT_SECTION_CORPORA}, "views": {}}
    for name, sc in views.items():
        report["views"][name] = {"version": sc.version, **operating_points(
            rows, sc.matrix, sc.categories, sc.thresholds, prevalences, args.min_precision)}
    command = "python bench/operating_points.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    measured = f"{datetime.now(UTC).isoformat(timespec='seconds')}, python {platform.python_version()}"
    report.update({"command": command, "seconds": round(time.time() - t0, 1), "measured": measured})
    write_results(args.out, report, markdown(report, command))


if __name__ == "__main__":
    main()
