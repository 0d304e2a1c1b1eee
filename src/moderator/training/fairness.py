"""Identity-fairness, threat and hate-without-slur evaluation of a model (pure functions, no service code).

The hand-written sets live in ``data/`` (see ``data/README.md``) and are evaluation only: never train on
them. The identity evaluation follows Dixon et al. 2018 (templates that differ only in the identity term,
benign and abusive) and reports the per-term metrics of Borkan et al. 2019:

- *subgroup AUC*: ROC AUC on the rows that mention the term only;
- *BPSN AUC* (background positive, subgroup negative): the term's negatives against every other row's
  positives. Low when benign mentions of the term score higher than abuse without it, i.e. the term
  itself raises the score (false positives);
- *BNSP AUC* (background negative, subgroup positive): the term's positives against every other row's
  negatives. Low when abuse mentioning the term scores lower than clean text without it.

The rows are the expanded templates plus the validation rows (the seeded split training holds out) that
mention the term, per category (``hate_speech``, ``personal_attack``), each over the rows labelled for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import roc_auc_score

from moderator.config import PROJECT_ROOT
from moderator.training.datasets import Example

if TYPE_CHECKING:  # pragma: no cover
    from moderator.model.classifier import ModerationModel

DATA = PROJECT_ROOT / "data"
IDENTITY_TERMS = DATA / "identity_terms.json"
IDENTITY_TEMPLATES = DATA / "identity_templates.json"
IDENTITY_EVAL = DATA / "identity_eval.jsonl"
THREAT_EVAL = DATA / "threat_eval.jsonl"
HATE_NOSLUR_EVAL = DATA / "hate_noslur_eval.jsonl"
# Categories a benign identity statement can be wrongly flagged for, and the identity AUCs are computed for.
IDENTITY_CATEGORIES = ("hate_speech", "personal_attack")
# A threat is caught when any of these is flagged (``threat`` only if the model has such a category).
THREAT_CATEGORIES = ("personal_attack", "hate_speech", "threat")


@dataclass(frozen=True)
class IdentityTerm:
    """One identity term and the forms the templates fill in.

    ``self_`` completes "I am ..." (``Muslim``, ``a lesbian``), ``adj`` goes before a noun, ``plural`` names the
    group. ``pattern`` (a regular expression, case-insensitive) finds the term in corpus text; by default the
    adjective or the plural as whole words. Ambiguous words (``black``, ``white``, ``old``) have a pattern
    that needs a person noun after them.
    """

    term: str
    group: str
    self_: str
    adj: str
    plural: str
    pattern: str = ""

    @property
    def regex(self) -> re.Pattern[str]:
        pat = self.pattern or r"\b(" + "|".join(re.escape(f.lower()) for f in (self.adj, self.plural)) + r")\b"
        return re.compile(pat, re.IGNORECASE)


def load_terms(path: Path = IDENTITY_TERMS) -> list[IdentityTerm]:
    return [IdentityTerm(d["term"], d["group"], d["self"], d["adj"], d["plural"], d.get("pattern", ""))
            for d in json.loads(path.read_text(encoding="utf-8"))]


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def expand_templates(terms: Sequence[IdentityTerm], templates: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every template filled with every term (unless the template lists the term in ``skip_terms``).

    A row: ``text, term, group, template, kind, label`` (1 = abusive) and, for abusive rows, ``category``:
    the category that should flag it.
    """
    rows: list[dict[str, Any]] = []
    for tpl in templates:
        for t in terms:
            if t.term in tpl.get("skip_terms", ()):
                continue
            text = tpl["text"].format(self=t.self_, adj=t.adj, a_adj=f"{_article(t.adj)} {t.adj}",
                                      plural=t.plural, Plural=t.plural[:1].upper() + t.plural[1:])
            row = {"text": text, "term": t.term, "group": t.group, "template": tpl["id"], "kind": tpl["kind"],
                   "label": int(not tpl["kind"].startswith("benign"))}
            if "category" in tpl:
                row["category"] = tpl["category"]
            rows.append(row)
    return rows


def write_identity_eval(path: Path = IDENTITY_EVAL) -> int:
    """Regenerate ``data/identity_eval.jsonl`` from the terms and templates; returns the row count."""
    rows = expand_templates(load_terms(), json.loads(IDENTITY_TEMPLATES.read_text(encoding="utf-8")))
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return len(rows)
