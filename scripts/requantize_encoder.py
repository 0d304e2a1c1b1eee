#!/usr/bin/env python
"""Write a copy of a model whose encoder is batch-invariant (statically quantised), without retraining.

    python scripts/requantize_encoder.py [VERSION_OR_PATH] [--output models] [--no-default]

See moderator.training.requantize. New training runs (scripts/train.py) produce such encoders directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from moderator.model import MODELS_DIR, load_model
from moderator.training.report import write_report
from moderator.training.requantize import requantize


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", default=None, help="artifact path or version in --output (default: DEFAULT)")
    ap.add_argument("--output", default=str(MODELS_DIR))
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--no-default", action="store_true", help="do not make the new model the default")
    args = ap.parse_args(argv)
    out = Path(args.output)
    source = args.model
    if source and not Path(source).exists():
        source = str(out / f"{source}.joblib")
    model = load_model(source)
    new = requantize(model, args.data_dir)
    if new is model:
        print(f"{model.version}: its encoder is batch-invariant already", file=sys.stderr)
        return 0
    path = new.save(out, make_default=not args.no_default)
    new.metadata["artifact_bytes"] = path.stat().st_size
    path.with_suffix(".json").write_text(json.dumps(new.metadata, indent=2, sort_keys=True) + "\n")
    write_report(new, out, args.data_dir)
    print(new.version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
