"""Pieces the experiment scripts share: training's own train/validation rows, and writing a result pair."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from moderator.datasets import Example, load_corpus
from moderator.training import TrainConfig, dedupe, split


def train_val_rows(cfg: TrainConfig) -> tuple[list[Example], list[Example]]:
    """Training and validation rows exactly as ``moderator.training.train`` makes them: the corpora in ``SOURCES``
    order, exact duplicates dropped across corpora, the seeded split per corpus (Stormfront grouped by post)."""
    corpora, _ = dedupe({name: load_corpus(name, cfg.data_dir) for name in cfg.corpora})
    train: list[Example] = []
    val: list[Example] = []
    for rows in corpora.values():
        tr, va = split(rows, cfg.val_fraction, cfg.seed)
        train += tr
        val += va
    return train, val


def write_results(out: str | Path, report: dict[str, Any], markdown: str) -> None:
    """``<out>.json`` and ``<out>.md``, and the markdown on stdout."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown)
    print(markdown)
