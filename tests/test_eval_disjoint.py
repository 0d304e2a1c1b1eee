"""The team's training rows (moderator.training.augment) never reproduce a sentence of a hand-written
evaluation set (data/*_eval.jsonl): evaluation sets are held out, so no training sentence may equal one of
theirs, nor one of theirs with only its group word swapped (the same template)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from moderator.config import PROJECT_ROOT
from moderator.training.augment import (
    GROUP_THREAT,
    GROUP_THREAT_TWIN,
    GROUP_VIOLENCE_BENIGN,
    GROUPS,
    IDENTITY_TERMS,
    PERSON_THREAT_CORE,
    PERSON_THREAT_TWIN,
    VIOLENT_TRAP,
    augmentation_examples,
)

EVAL_FILES = sorted((PROJECT_ROOT / "data").glob("*_eval.jsonl"))
_WORD = re.compile(r"[a-z0-9']+")
_GROUP_WORDS = {w.lower() for adj, plural in GROUPS for w in (adj, *plural.split())} | set(IDENTITY_TERMS)


def normalise(text: str) -> str:
    """Lower case, words only (punctuation and spacing ignored)."""
    return " ".join(_WORD.findall(text.lower()))


def template(text: str) -> str:
    """The normalised sentence with every group word replaced by one placeholder."""
    return " ".join("<group>" if w in _GROUP_WORDS else w for w in normalise(text).split())


def _eval_texts(path: Path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out.append(row["text"])
    return out


def test_the_evaluation_sets_are_found() -> None:
    assert PROJECT_ROOT.joinpath("data", "obscenity_eval.jsonl") in EVAL_FILES


def test_no_training_sentence_or_template_is_in_an_evaluation_set() -> None:
    train_rows = augmentation_examples(person_twins=7)
    train_sentences = {normalise(e.text) for e in train_rows}
    train_templates = {template(e.text) for e in train_rows}
    clashes = []
    for path in EVAL_FILES:
        for text in _eval_texts(path):
            if normalise(text) in train_sentences or template(text) in train_templates:
                clashes.append(f"{path.name}: {text}")
    assert not clashes, "training rows reproduce evaluation sentences:\n" + "\n".join(clashes[:20])


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two templates' word sets."""
    x, y = set(a.split()), set(b.split())
    return len(x & y) / max(1, len(x | y))


def test_no_training_template_is_a_near_copy_of_an_evaluation_template() -> None:
    written = (*PERSON_THREAT_CORE, *PERSON_THREAT_TWIN.values(), *GROUP_THREAT, *GROUP_THREAT_TWIN,
               *GROUP_VIOLENCE_BENIGN, *VIOLENT_TRAP)
    train_templates = {template(t) for t in (*(e.text for e in augmentation_examples(person_twins=7)), *written)}
    eval_templates = {template(t) for path in EVAL_FILES for t in _eval_texts(path)}
    near = [(a, b) for a in train_templates for b in eval_templates if similarity(a, b) >= 0.7]
    assert not near, "near copies:\n" + "\n".join(f"{a} ~ {b}" for a, b in near[:20])


def test_the_check_catches_a_copied_template() -> None:
    row = augmentation_examples()[0]
    other = row.text.replace(GROUPS[0][0], GROUPS[5][0])
    assert template(other) in {template(e.text) for e in augmentation_examples()}
    assert similarity(template(other + " Really."), template(row.text)) >= 0.7
