"""Identity fairness, threats and hate without slurs, for the intake model (the linear view) and the full model.

    python bench/fairness.py [--model PATH] [--no-validation] [--out bench/results/fairness]

Scores the hand-written sets in ``data/`` (identity templates, threats and traps, hate without slurs; see
``data/README.md``) and the validation split training held out (recomputed from the corpora, same seed; only
rows labelled ``hate_speech`` or ``personal_attack``). Per identity term: the share of benign template sentences
flagged (any category, and per category) at each view's thresholds, and subgroup / BPSN / BNSP ROC AUC
(Borkan et al. 2019) per category. Writes ``<out>.json`` and ``<out>.md`` (``moderator.training.fairness``
computes everything; this script only loads and writes).
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
from moderator.training.fairness import evaluate_fairness, markdown, summarize
from moderator.training.train import TrainConfig, label_validation, validation_rows

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="artifact path (default: models/DEFAULT)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--no-validation", action="store_true", help="templates only (no corpora needed)")
    ap.add_argument("--out", default=str(RESULTS / "fairness"))
    args = ap.parse_args()
    t0 = time.time()
    model = load_model(args.model)
    rows = []
    if not args.no_validation:
        seed = model.metadata.get("config", {}).get("seed", TrainConfig.seed)
        rows = validation_rows(TrainConfig(data_dir=args.data_dir, seed=seed))
        label_validation(rows, model)
    report = evaluate_fairness(model, rows)
    report["summary"] = summarize(report)
    report["seconds"] = round(time.time() - t0, 1)
    report["measured"] = f"{datetime.now(UTC).isoformat(timespec='seconds')}, python {platform.python_version()}"
    command = "python bench/fairness.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    report["command"] = command
    write_results(args.out, report, markdown(report, command))


if __name__ == "__main__":
    main()
