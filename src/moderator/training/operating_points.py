"""Operating points on comment-section data: how often each category flags a clean comment, how much of each
category's violations it catches, and which threshold reaches a stated operating point.

Comment sections here are the corpora of comments under articles, posts and videos: Impermium (news-site
comments), Stormfront (forum posts), TRAC-1 (Facebook comments), Ruddit (Reddit comments) and YouTube. The
tweet corpora (Davidson, OLID, TweetEval) are left out: a news site's readers do not write tweets.

A *clean* comment carries at least one human label and every label it has is 0 (weak obscenity labels
included), or, for Ruddit, has an offensiveness score <= 0. For a category, the positives are the rows
labelled 1 for it and the negatives are the rows labelled 0 for it plus every clean comment of the other
corpora: a clean Stormfront sentence is a negative for ``spam`` too, so a spam threshold is chosen against
the comments it would really be applied to, not only against YouTube's.

The operating point (:func:`select_threshold`): the highest recall whose precision, with positives reweighted
to a stated prevalence (default 5%), is at least ``min_precision`` (default 0.7). With precision 0.7 at 5%
prevalence the flag rate on clean comments is at most 0.023 x the recall (at 10%: 0.048 x the recall). Pure
functions: the trainer calls :func:`select_thresholds` on its validation scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from moderator.training.datasets import Example

COMMENT_SECTION_CORPORA = ("impermium_insults", "stormfront_hate", "trac1_aggression", "ruddit", "youtube_spam")
TWEET_CORPORA = ("davidson_hate_offensive", "olid", "tweeteval_hate")
# Human-labelled categories (obscenity labels are weak: derived from a lexicon).
HUMAN_CATEGORIES = ("hate_speech", "personal_attack", "spam")
DEFAULT_PREVALENCE = 0.05
DEFAULT_MIN_PRECISION = 0.7


def is_clean(row: Example) -> bool:
    """Whether ``row`` is a clean comment (see the module docstring)."""
    if any(v for v in row.labels.values()):
        return False
    if row.corpus == "ruddit":
        try:
            return float(row.raw_label) <= 0
        except ValueError:
            return False
    return any(c in row.labels for c in HUMAN_CATEGORIES)


def category_targets(rows: Sequence[Example], category: str) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, y)``: the rows that count for ``category`` (labelled for it, or clean) and their 0/1 label."""
    idx, y = [], []
    for i, r in enumerate(rows):
        if category in r.labels:
            idx.append(i)
            y.append(int(r.labels[category]))
        elif is_clean(r):
            idx.append(i)
            y.append(0)
    return np.array(idx, dtype=int), np.array(y, dtype=int)


def select_threshold(y: np.ndarray, p: np.ndarray, min_precision: float = DEFAULT_MIN_PRECISION,
                     prevalence: float = DEFAULT_PREVALENCE) -> dict[str, Any]:
    """The threshold with the highest recall whose precision at ``prevalence`` is >= ``min_precision`` (the
    highest such threshold when several reach that recall, so no clean comment is flagged for nothing).

    Positives are reweighted so that they make up ``prevalence`` of the weight: precision at a threshold is
    ``w*TP / (w*TP + FP)`` with ``w = prevalence / (1 - prevalence) * negatives / positives``. Returns
    ``threshold, recall, precision`` (at that prevalence), ``negative_flag_rate`` and ``feasible``; when no
    threshold reaches the precision, ``feasible`` is False and the threshold is the one with the best precision
    (ties: the lowest), so a caller always gets a number it can use and a flag that it missed.
    """
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    pos, neg = int(y.sum()), int((y == 0).sum())
    if pos == 0 or neg == 0:
        raise ValueError("select_threshold needs positives and negatives")
    w = prevalence / (1 - prevalence) * neg / pos
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    tp, fp = np.cumsum(ys), np.cumsum(1 - ys)
    last = np.r_[ps[1:] != ps[:-1], True]  # a threshold at a score flags every row with that score
    tp, fp, thr = tp[last], fp[last], ps[last]
    precision = w * tp / np.maximum(w * tp + fp, 1e-12)
    ok = np.flatnonzero(precision >= min_precision)
    feasible = len(ok) > 0
    if feasible:  # the highest recall reached; of the thresholds reaching it, the highest (fewest false flags)
        k = int(ok[np.flatnonzero(tp[ok] == tp[ok].max())[0]])
    else:
        k = int(np.flatnonzero(precision == precision.max())[-1])
    return {"threshold": float(thr[k]), "recall": float(tp[k] / pos), "precision": float(precision[k]),
            "negative_flag_rate": float(fp[k] / neg), "feasible": feasible, "prevalence": prevalence,
            "min_precision": min_precision, "positives": pos, "negatives": neg}


def select_thresholds(rows: Sequence[Example], scores: np.ndarray, categories: Sequence[str],
                      min_precision: float = DEFAULT_MIN_PRECISION, prevalence: float = DEFAULT_PREVALENCE,
                      corpora: Sequence[str] = COMMENT_SECTION_CORPORA) -> dict[str, dict[str, Any]]:
    """:func:`select_threshold` per category over the ``corpora`` rows of ``rows``.

    ``scores`` is (rows x ``categories``), e.g. the validation split's scores. A category with no positives
    (or negatives) there is left out of the result.
    """
    keep = np.array([r.corpus in corpora for r in rows], dtype=bool)
    sub = [r for r, k in zip(rows, keep, strict=True) if k]
    s = np.asarray(scores)[keep]
    out: dict[str, dict[str, Any]] = {}
    for k, cat in enumerate(categories):
        idx, y = category_targets(sub, cat)
        if len(idx) and 0 < y.sum() < len(y):
            out[cat] = select_threshold(y, s[idx, k], min_precision, prevalence)
    return out


def flag_report(rows: Sequence[Example], scores: np.ndarray, categories: Sequence[str],
                thresholds: dict[str, float], corpora: Sequence[str] = COMMENT_SECTION_CORPORA) -> dict[str, Any]:
    """Per corpus and pooled: flag rate of each category and of any category on clean comments, and each
    category's recall on its violations, at ``thresholds``."""
    scores = np.asarray(scores)
    flags = np.column_stack([scores[:, k] >= thresholds[c] for k, c in enumerate(categories)])
    groups = {c: np.array([r.corpus == c for r in rows]) for c in corpora}
    groups["all"] = np.array([r.corpus in corpora for r in rows])
    clean = np.array([is_clean(r) for r in rows])
    out: dict[str, Any] = {}
    for name, m in groups.items():
        mc = m & clean
        entry: dict[str, Any] = {"clean": int(mc.sum())}
        if mc.any():
            entry["clean_flag_rate"] = {c: float(flags[mc, k].mean()) for k, c in enumerate(categories)}
            entry["clean_flag_rate"]["any"] = float(flags[mc].any(axis=1).mean())
        entry["recall"] = {}
        for k, c in enumerate(categories):
            pos = m & np.array([r.labels.get(c) == 1 for r in rows])
            if pos.any():
                entry["recall"][c] = {"n": int(pos.sum()), "recall": float(flags[pos, k].mean())}
        out[name] = entry
    return out


def operating_points(rows: Sequence[Example], scores: np.ndarray, categories: Sequence[str],
                     thresholds: dict[str, float], prevalences: Sequence[float] = (0.05, 0.10),
                     min_precision: float = DEFAULT_MIN_PRECISION) -> dict[str, Any]:
    """At the given thresholds (:func:`flag_report`) and at the thresholds :func:`select_thresholds` picks for
    each prevalence (their own :func:`flag_report` too)."""
    out: dict[str, Any] = {"thresholds": dict(thresholds), "at_thresholds": flag_report(rows, scores, categories,
                                                                                        thresholds),
                           "selected": {}}
    for prev in prevalences:
        sel = select_thresholds(rows, scores, categories, min_precision, prev)
        chosen = {c: sel[c]["threshold"] if c in sel else thresholds[c] for c in categories}
        out["selected"][f"{prev:g}"] = {"selection": sel, "thresholds": chosen,
                                        "at_selected": flag_report(rows, scores, categories, chosen)}
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def flag_lines(report: dict[str, Any], categories: Sequence[str]) -> list[str]:
    """Markdown rows of one :func:`flag_report`: per corpus, clean-comment flag rates then recalls."""
    lines = ["| corpus | clean | " + " | ".join(f"clean flagged {c}" for c in categories) + " | clean: any flag | "
             + " | ".join(f"recall {c}" for c in categories) + " |",
             "|---|---:|" + "---:|" * (2 * len(categories) + 1)]
    for name, e in report.items():
        cf = e.get("clean_flag_rate", {})
        rec = [f"{_pct(e['recall'][c]['recall'])} (n {e['recall'][c]['n']})" if c in e["recall"] else "-"
               for c in categories]
        lines.append(f"| {name} | {e['clean']} | " + " | ".join(_pct(cf.get(c)) for c in categories)
                     + f" | {_pct(cf.get('any'))} | " + " | ".join(rec) + " |")
    return lines


def selection_lines(selected: dict[str, Any]) -> list[str]:
    """Markdown rows of the selected thresholds, per prevalence and category."""
    lines = ["| prevalence | category | threshold | recall | precision at prevalence | clean/negative flag rate | "
             "reached precision |", "|---:|---|---:|---:|---:|---:|---|"]
    for prev, d in selected.items():
        for cat, s in d["selection"].items():
            lines.append(f"| {float(prev):.0%} | {cat} | {s['threshold']:.4f} | {_pct(s['recall'])} | "
                         f"{s['precision']:.3f} | {_pct(s['negative_flag_rate'])} | "
                         f"{'yes' if s['feasible'] else 'no'} |")
    return lines


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The model card's short table: pooled comment-section clean flag rates and recalls per view."""
    lines = ["| view | thresholds | clean flagged, any | " + " | ".join(
        f"clean flagged {c}" for c in report["categories"]) + " | PA recall Impermium | HS recall Stormfront |",
             "|---|---|---:|" + "---:|" * (len(report["categories"]) + 2)]
    for name, v in report["views"].items():
        for label, fr in (("model's", v["at_thresholds"]),
                          *((f"selected at {float(p):.0%}", d["at_selected"]) for p, d in v["selected"].items())):
            cf = fr["all"].get("clean_flag_rate", {})
            pa = fr.get("impermium_insults", {}).get("recall", {}).get("personal_attack", {}).get("recall")
            hs = fr.get("stormfront_hate", {}).get("recall", {}).get("hate_speech", {}).get("recall")
            lines.append(f"| {name} | {label} | {_pct(cf.get('any'))} | "
                         + " | ".join(_pct(cf.get(c)) for c in report["categories"]) + f" | {_pct(pa)} | {_pct(hs)} |")
    return lines


def markdown(report: dict[str, Any], command: str = "python bench/operating_points.py") -> str:
    cats = report["categories"]
    lines = [f"# Operating points on comment-section validation data: `{report['version']}`", "",
             f"`{command}`. Corpora: {', '.join(COMMENT_SECTION_CORPORA)} (validation split; tweets left out). "
             "Clean = every label 0 (Ruddit: offensiveness <= 0). Selected thresholds: highest recall with "
             f"precision >= {report['min_precision']} with positives reweighted to the stated prevalence; "
             "negatives = rows labelled 0 for the category plus every clean comment.", "",
             *summary_lines(report), ""]
    for name, v in report["views"].items():
        lines += [f"## {name} (`{v['version']}`) at its thresholds {v['thresholds']}", "",
                  *flag_lines(v["at_thresholds"], cats), "", f"### {name}: selected thresholds", "",
                  *selection_lines(v["selected"]), ""]
        for prev, d in v["selected"].items():
            lines += [f"### {name}: at the thresholds selected for {float(prev):.0%} prevalence", "",
                      *flag_lines(d["at_selected"], cats), ""]
    return "\n".join(lines) + "\n"
