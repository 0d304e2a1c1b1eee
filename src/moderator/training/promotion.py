"""Compare a candidate model with the current default, and promote it only when nothing regresses.

Both models are evaluated on the *same* rows, per evaluated set:

* ``validation``: the public validation split, exactly as :func:`moderator.training.train.train` holds it out
  (seed from the candidate's metadata; the weak obscenity labels come from the *current* model's normaliser
  so both are scored against identical labels);
* ``feedback_holdout``: the held-back slice of the moderators' decisions
(:func:`moderator.training.feedback.is_holdout`),
  which ``moderator train --feedback`` never trains on;
* ``obscenity_handwritten``: the hand-written obscenity set (``data/obscenity_eval.jsonl``).

The gate (:func:`find_regressions`) refuses a candidate when, on any set, a category's ROC AUC is lower than
the current model's by more than ``tolerance``, or the candidate lacks a category the current model has.
A category/set pair with fewer than ``min_support`` positives or negatives is reported but not gated (its
AUC is noise). F1 is reported (each model at its own thresholds) but not gated: thresholds can be moved by
policy, ranking quality cannot.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moderator.config import env_value
from moderator.model import MODELS_DIR, ModelLoadError, default_model_path, default_version, set_default
from moderator.model.classifier import ModerationModel
from moderator.training.datasets import Example

DEFAULT_TOLERANCE = 0.01
DEFAULT_MIN_SUPPORT = 5
CANDIDATES = "candidates"


# ---------------------------------------------------------------- locating models


def models_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The directory whose ``DEFAULT`` the service serves: ``override``, ``$MODERATOR_MODEL`` when it is a
    directory, else ``models/``."""
    if override:
        return Path(override)
    env = env_value("model")
    if env and Path(env).is_dir():
        return Path(env)
    return MODELS_DIR


def resolve_model_path(ref: str, directory: Path) -> Path:
    """``current`` (the default of ``directory``), a path to an artifact or a models folder, or a version
    name found in ``directory`` or ``directory/candidates``."""
    if ref == "current":
        return default_model_path(directory)
    p = Path(ref)
    if p.is_dir():
        return default_model_path(p)
    if p.is_file():
        return p
    for folder in (directory, directory / CANDIDATES):
        q = folder / f"{ref.removesuffix('.joblib')}.joblib"
        if q.is_file():
            return q
    raise ModelLoadError(f"no model {ref!r}: not a file, and not a version in {directory} or "
                         f"{directory / CANDIDATES}")


def current_version(directory: Path) -> str | None:
    return default_version(directory) if (directory / "DEFAULT").is_file() else None


# ---------------------------------------------------------------- evaluation sets


def validation_set(candidate: ModerationModel, current: ModerationModel | None, data_dir: str | None = None,
                   sample: int | None = None) -> list[Example]:
    """The public validation split (optionally at most ``sample`` rows per corpus, seeded)."""
    import numpy as np

    from moderator.training.train import TrainConfig, label_validation, validation_rows

    seed = candidate.metadata.get("config", {}).get("seed", TrainConfig.seed)
    rows = validation_rows(TrainConfig(data_dir=data_dir, seed=seed))
    if sample:
        by_corpus: dict[str, list[Example]] = {}
        for r in rows:
            by_corpus.setdefault(r.corpus, []).append(r)
        rows = []
        for part in by_corpus.values():
            rng = np.random.default_rng(seed)
            idx = sorted(rng.permutation(len(part))[:sample])
            rows += [part[i] for i in idx]
    label_validation(rows, current or candidate)
    return rows


def handwritten_set() -> list[Example]:
    from moderator.training.metrics import OBSCENITY_EVAL, load_obscenity_eval

    if not OBSCENITY_EVAL.is_file():
        return []
    return [Example(r["text"], "obscenity_handwritten", {"obscenity": int(r["obscene"])}, str(r["kind"]))
            for r in load_obscenity_eval()]


def evaluation_sets(candidate: ModerationModel, current: ModerationModel | None, *, data_dir: str | None = None,
                    feedback: str | None = None, validation_sample: int | None = None,
                    validation: bool = True) -> dict[str, list[Example]]:
    from moderator.training.datasets import data_available

    sets: dict[str, list[Example]] = {}
    if validation and data_available(data_dir):
        sets["validation"] = validation_set(candidate, current, data_dir, validation_sample)
    if feedback:
        from moderator.training.feedback import read_feedback

        sets["feedback_holdout"] = read_feedback(feedback, part="holdout")
    hand = handwritten_set()
    if hand:
        sets["obscenity_handwritten"] = hand
    return sets


# ---------------------------------------------------------------- comparing


def _model_entry(model: ModerationModel, path: Path | None) -> dict[str, Any]:
    return {"version": model.version, "path": str(path) if path else None, "thresholds": model.thresholds,
            "created_at": model.metadata.get("created_at"), "feedback_rows": model.metadata.get("feedback_rows")}


def compare_models(candidate: ModerationModel, current: ModerationModel, sets: dict[str, list[Example]],
                   candidate_path: Path | None = None, current_path: Path | None = None) -> dict[str, Any]:
    """Per set and category: both models' metrics (``all`` and per corpus) on the same rows."""
    from moderator.training.evaluation import evaluate_rows

    report: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "candidate": _model_entry(candidate, candidate_path),
        "current": _model_entry(current, current_path),
        "sets": {},
    }
    for name, rows in sets.items():
        m_cur = evaluate_rows(current, rows) if rows else {}
        m_cand = evaluate_rows(candidate, rows) if rows else {}
        cats: dict[str, Any] = {}
        for cat in sorted(set(m_cur) | set(m_cand), key=_cat_order):
            cats[cat] = {"current": m_cur.get(cat), "candidate": m_cand.get(cat)}
        if cats:  # a set labelling none of the models' categories says nothing about them
            report["sets"][name] = {"rows": len(rows), "categories": cats}
    return report


def _cat_order(cat: str) -> tuple[int, str]:
    from moderator import CATEGORIES

    return (CATEGORIES.index(cat) if cat in CATEGORIES else len(CATEGORIES), cat)


@dataclass(frozen=True)
class Regression:
    set: str
    category: str
    current_auc: float | None
    candidate_auc: float | None
    delta: float | None
    reason: str

    def describe(self) -> str:
        if self.delta is None:
            return f"{self.set}/{self.category}: {self.reason}"
        return (f"{self.set}/{self.category}: AUC {self.current_auc:.4f} -> {self.candidate_auc:.4f} "
                f"({self.delta:+.4f})")


def _supported(m: dict[str, Any], min_support: int) -> bool:
    pos = m.get("positives", 0)
    return pos >= min_support and m.get("n", 0) - pos >= min_support


def find_regressions(report: dict[str, Any], tolerance: float = DEFAULT_TOLERANCE,
                     min_support: int = DEFAULT_MIN_SUPPORT) -> list[Regression]:
    """Every (set, category) whose candidate AUC is lower than the current's by more than ``tolerance``."""
    out: list[Regression] = []
    for set_name, entry in report.get("sets", {}).items():
        for cat, pair in entry.get("categories", {}).items():
            cur, cand = pair.get("current"), pair.get("candidate")
            if cur is None:
                continue  # a category the current model does not have: nothing to regress from
            if cand is None:
                out.append(Regression(set_name, cat, None, None, None, "the candidate has no such category"))
                continue
            a, b = cur["all"].get("roc_auc"), cand["all"].get("roc_auc")
            if a is None or b is None or not _supported(cur["all"], min_support):
                continue
            delta = b - a
            if delta < -tolerance - 1e-12:
                out.append(Regression(set_name, cat, a, b, delta, f"AUC dropped by {-delta:.4f} > {tolerance}"))
    return out


def gate_summary(report: dict[str, Any], tolerance: float, min_support: int) -> dict[str, Any]:
    regs = find_regressions(report, tolerance, min_support)
    return {"tolerance": tolerance, "min_support": min_support, "passed": not regs,
            "regressions": [asdict(r) for r in regs]}


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def _delta(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None else f"{b - a:+.3f}"


def render_markdown(report: dict[str, Any], tolerance: float = DEFAULT_TOLERANCE,
                    min_support: int = DEFAULT_MIN_SUPPORT) -> str:
    regs = {(r.set, r.category) for r in find_regressions(report, tolerance, min_support)}
    cand, cur = report["candidate"], report["current"]
    lines = [f"# Model comparison: `{cand['version']}` (candidate) vs `{cur['version']}` (current)", "",
             f"Gate: no category's ROC AUC may drop by more than {tolerance} on any set "
             f"(pairs with fewer than {min_support} positives or negatives are not gated).", ""]
    for set_name, entry in report["sets"].items():
        lines += [f"## {set_name} ({entry['rows']} rows)", "",
                  "| category | n | positives | AUC current | AUC candidate | Δ AUC | F1 current | F1 candidate "
                  "| Δ F1 | gate |",
                  "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
        for cat, pair in entry["categories"].items():
            cur_m = (pair.get("current") or {}).get("all") or {}
            cand_m = (pair.get("candidate") or {}).get("all") or {}
            base = cur_m or cand_m
            if (set_name, cat) in regs:
                gate = "**regression**"
            elif cur_m and cand_m and cur_m.get("roc_auc") is not None and not _supported(cur_m, min_support):
                gate = "too few to gate"
            elif not cur_m or cur_m.get("roc_auc") is None:
                gate = "not gated"
            else:
                gate = "ok"
            lines.append(
                f"| {cat} | {base.get('n', 0)} | {base.get('positives', 0)} | {_fmt(cur_m.get('roc_auc'))} "
                f"| {_fmt(cand_m.get('roc_auc'))} | {_delta(cur_m.get('roc_auc'), cand_m.get('roc_auc'))} "
                f"| {_fmt(cur_m.get('f1'))} | {_fmt(cand_m.get('f1'))} | {_delta(cur_m.get('f1'), cand_m.get('f1'))} "
                f"| {gate} |")
        lines.append("")
    if regs:
        lines.append("**Refused**: " + "; ".join(r.describe() for r in find_regressions(report, tolerance,
                                                                                          min_support)))
    else:
        lines.append("**Passed**: no regression beyond the tolerance.")
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], prefix: str | os.PathLike[str], tolerance: float,
                 min_support: int) -> tuple[Path, Path]:
    """``<prefix>.json`` and ``<prefix>.md``."""
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    full = {**report, "gate": gate_summary(report, tolerance, min_support)}
    js = prefix.with_name(prefix.name + ".json")
    md = prefix.with_name(prefix.name + ".md")
    js.write_text(json.dumps(full, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    md.write_text(render_markdown(report, tolerance, min_support), encoding="utf-8")
    return js, md


# ---------------------------------------------------------------- installing


def install(candidate_path: Path, directory: Path, version: str | None = None) -> str:
    """Make the candidate the default of ``directory`` (copying it there first when it lives elsewhere, e.g.
    in ``candidates/``); returns its version. ``DEFAULT`` is replaced atomically, after the artifact is
    complete, so a service that reloads never sees a half-written model."""
    version = version or candidate_path.stem
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{version}.joblib"
    if candidate_path.resolve() != target.resolve():
        for src, dst in ((candidate_path, target), (candidate_path.with_suffix(".json"), target.with_suffix(".json"))):
            if not src.is_file():
                continue
            tmp = dst.with_name(dst.name + ".tmp")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
    set_default(directory, version)
    return version


def restore_default(directory: Path, version: str | None) -> None:
    """Put ``DEFAULT`` back (after a failed promotion)."""
    if version is None:
        (directory / "DEFAULT").unlink(missing_ok=True)
    else:
        set_default(directory, version)


def regressions_text(regs: Sequence[Regression]) -> str:
    return "; ".join(r.describe() for r in regs)


__all__ = [
    "DEFAULT_MIN_SUPPORT",
    "DEFAULT_TOLERANCE",
    "Regression",
    "compare_models",
    "current_version",
    "evaluation_sets",
    "find_regressions",
    "gate_summary",
    "install",
    "models_dir",
    "render_markdown",
    "resolve_model_path",
    "restore_default",
    "write_report",
]
