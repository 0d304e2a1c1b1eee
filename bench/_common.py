"""Pieces the experiment scripts share: training's own train/validation rows, and writing a result pair."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from moderator.training.datasets import Example
from moderator.training.train import TrainConfig, make_splits


def train_val_rows(cfg: TrainConfig) -> tuple[list[Example], list[Example]]:
    """Training and validation rows exactly as ``moderator.training.train.train`` makes them (``make_splits``)."""
    splits = make_splits(cfg)
    return splits.train, splits.validation


def write_results(out: str | Path, report: dict[str, Any], markdown: str) -> None:
    """``<out>.json`` and ``<out>.md``, and the markdown on stdout."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown)
    print(markdown)
