"""The review queue's priority: how severe a held comment looks, highest first. Pure, no Flask.

Below its threshold a category contributes ``p / t`` (in [0, 1)), so every unflagged comment sorts below
every flagged one, as before. At or over its threshold a category contributes its **severity**::

    margin_c   = logit(p_c) - logit(t_c)              (>= 0: how far past the threshold, in log-odds)
    severity_c = 1 + w_c * (1 + ln(1 + margin_c))     (w_c: the category's weight, SEVERITY_WEIGHTS)

and the priority is the strongest severity plus a tenth of the others' excess over 1 (a comment flagged
for several categories ranks above one flagged for its strongest alone).

Why this shape:

* **Weights** order the categories by harm: hate speech and personal attacks (1.0) above obscenity (0.5)
  above spam (0.25). A flagged hate-speech comment starts at 2.0, a flagged spam comment at 1.25.
* **Log-odds, not probability.** The old ``1 + (p - t)/(1 - t)`` saturated at 2.00: a classifier's
  confident outputs crowd into 0.999..1.0, so dozens of items tied at the top, and "subscribe please"
  spam (p = 0.999997) tied with severe abuse. The log-odds margin keeps growing as p approaches 1
  (0.999 -> 0.999999 adds about 7), so confident items stay ordered instead of tying.
* **ln(1 + margin)** compresses that growth, so the weight decides between categories and the margin
  orders within one: spam at its most confident (p = 1 - 1e-9, severity about 2.0) only reaches a hate
  speech comment that just crossed its threshold, and never passes a confident one.

Probabilities are clipped to [1e-9, 1 - 1e-9] (a float32 model output of exactly 1.0 has a finite margin).
The +1 for duplicate and rate-limited comments is added by :meth:`moderator.service.policy.Policy.evaluate`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

SEVERITY_WEIGHTS: dict[str, float] = {"hate_speech": 1.0, "personal_attack": 1.0, "obscenity": 0.5, "spam": 0.25}
DEFAULT_WEIGHT = 0.5  # a category the table does not name (a model trained with another label set)
OTHERS_SHARE = 0.1
EPS = 1e-9


def _logit(p: float) -> float:
    p = min(max(p, EPS), 1.0 - EPS)
    return math.log(p / (1.0 - p))


def category_risk(category: str, p: float, threshold: float) -> float:
    """One category's contribution: ``p / t`` below the threshold, its severity at or over it."""
    p = min(max(float(p), 0.0), 1.0)
    if p < threshold:
        return p / threshold
    margin = max(0.0, _logit(p) - _logit(threshold))
    return 1.0 + SEVERITY_WEIGHTS.get(category, DEFAULT_WEIGHT) * (1.0 + math.log1p(margin))


def risk(scores: Mapping[str, float], thresholds: Mapping[str, float]) -> float:
    """The priority before the +1 for duplicates and rate limits (see the module docstring)."""
    parts = sorted((category_risk(c, float(scores.get(c, 0.0)), t) for c, t in thresholds.items()), reverse=True)
    if not parts:
        return 0.0
    top = parts[0]
    extra = sum(r - 1.0 for r in parts[1:] if r >= 1.0)
    return round(top + OTHERS_SHARE * extra, 6)


DESCRIPTION = ("below a category's threshold p/t; at or over it 1 + w * (1 + ln(1 + logit(p) - logit(t))) with "
               "category weights " + ", ".join(f"{c} {w}" for c, w in SEVERITY_WEIGHTS.items())
               + "; the strongest category plus 0.1 x the other flagged ones' excess over 1; +1 for duplicates "
               "and rate-limited comments")

__all__ = ["DESCRIPTION", "SEVERITY_WEIGHTS", "category_risk", "risk"]
