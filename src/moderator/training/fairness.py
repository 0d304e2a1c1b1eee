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
from dataclasses import dataclass, replace
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
ADDRESS_EVAL = DATA / "address_eval.jsonl"
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


# --------------------------------------------------------------------------- metrics


def _auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC, or None when ``y`` has one class only."""
    return float(roc_auc_score(y, score)) if 0 < int(y.sum()) < len(y) else None


def _rate(flags: np.ndarray) -> float | None:
    """The share of True in ``flags``, or None when it is empty."""
    return float(np.mean(flags)) if len(flags) else None


def bias_aucs(y: np.ndarray, score: np.ndarray, in_subgroup: np.ndarray) -> dict[str, Any]:
    """Borkan et al. 2019's three AUCs for one subgroup (None where a set lacks a class).

    ``y`` (0/1), ``score`` and ``in_subgroup`` (bool) are aligned per row; every other row is background.
    """
    y = np.asarray(y).astype(int)
    score = np.asarray(score, dtype=float)
    sub = np.asarray(in_subgroup, dtype=bool)
    bg = ~sub
    bpsn = (sub & (y == 0)) | (bg & (y == 1))
    bnsp = (sub & (y == 1)) | (bg & (y == 0))
    return {"n": int(sub.sum()), "positives": int(y[sub].sum()),
            "subgroup_auc": _auc(y[sub], score[sub]),
            "bpsn_auc": _auc(y[bpsn], score[bpsn]),
            "bnsp_auc": _auc(y[bnsp], score[bnsp])}


def term_masks(texts: Sequence[str], terms: Sequence[IdentityTerm]) -> dict[str, np.ndarray]:
    """Which of ``texts`` mention each term (its ``regex``)."""
    return {t.term: np.array([bool(t.regex.search(s)) for s in texts], dtype=bool) for t in terms}


@dataclass
class Scored:
    """One model view's scores of a list of texts: ``matrix`` is texts x ``categories``."""

    version: str
    categories: tuple[str, ...]
    thresholds: dict[str, float]
    matrix: np.ndarray

    def col(self, category: str) -> np.ndarray:
        return self.matrix[:, self.categories.index(category)]

    def flagged(self, category: str) -> np.ndarray:
        return self.col(category) >= self.thresholds[category]

    def any_flag(self, categories: Sequence[str] | None = None) -> np.ndarray:
        cats = [c for c in (categories or self.categories) if c in self.categories]
        return np.any(np.column_stack([self.flagged(c) for c in cats]), axis=1)


def score_views(model: ModerationModel, texts: Sequence[str],
                encoder_rows: Sequence[bool] | None = None) -> dict[str, Scored]:
    """The texts scored by the intake model (the linear view) and, with an encoder, the full model.

    Keys ``intake`` and ``full`` (the same scores when the model has no encoder). The linear scores are
    computed once and the encoder's combined in for ``encoder_rows`` (default: all).
    """
    texts = list(texts)
    linear = model.linear_matrix(texts)
    intake = model.linear_view()
    out = {"intake": Scored(intake.version, model.categories, dict(intake.thresholds), linear)}
    if model.encoder_categories:
        rows = np.arange(len(texts)) if encoder_rows is None else np.flatnonzero(np.asarray(encoder_rows, bool))
        full = linear.copy()
        if len(rows):
            full[rows] = model.combine(linear[rows], model.encoder_matrix([texts[i] for i in rows.tolist()]))
        out["full"] = Scored(model.version, model.categories, dict(model.thresholds), full)
    else:
        out["full"] = Scored(model.version, model.categories, dict(model.thresholds), linear)
    return out


def identity_report(scored: Scored, template_rows: Sequence[dict[str, Any]], n_templates: int,
                    val_rows: Sequence[Example], terms: Sequence[IdentityTerm],
                    masks: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per term: benign template flag rates and, per identity category, the three bias AUCs.

    ``scored`` holds the template rows' scores first (``n_templates`` of them), then ``val_rows``'.
    ``masks[term]`` marks the validation rows that mention a term. For category ``c`` the rows are the
    benign templates (negatives), the abusive templates whose ``category`` is ``c`` (positives) and the
    validation rows labelled for ``c``.
    """
    tpl_term = np.array([r["term"] for r in template_rows])
    tpl_benign = np.array([r["label"] == 0 for r in template_rows])
    per_cat: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for cat in IDENTITY_CATEGORIES:
        if cat not in scored.categories:
            continue
        t_idx = np.array([i for i, r in enumerate(template_rows) if r["label"] == 0 or r.get("category") == cat])
        v_idx = np.array([i for i, r in enumerate(val_rows) if cat in r.labels], dtype=int)
        y = np.concatenate([np.array([template_rows[i]["label"] for i in t_idx]),
                            np.array([val_rows[i].labels[cat] for i in v_idx], dtype=int)])
        s = np.concatenate([scored.col(cat)[t_idx], scored.col(cat)[n_templates + v_idx]])
        per_cat[cat] = (y, s, np.concatenate([t_idx, n_templates + v_idx]).astype(int))
    flagged_any = scored.any_flag()[:n_templates]
    out: dict[str, Any] = {}
    for t in terms:
        benign = tpl_benign & (tpl_term == t.term)
        entry: dict[str, Any] = {"group": t.group, "benign_n": int(benign.sum()),
                                 "benign_flag_rate": {"any": float(flagged_any[benign].mean())}}
        for cat in scored.categories:
            entry["benign_flag_rate"][cat] = float(scored.flagged(cat)[:n_templates][benign].mean())
        entry["benign_max_score"] = {cat: float(scored.col(cat)[:n_templates][benign].max())
                                     for cat in IDENTITY_CATEGORIES if cat in scored.categories}
        mentions = np.concatenate([tpl_term == t.term, masks[t.term]])  # template rows, then validation rows
        for cat, (y, s, idx) in per_cat.items():
            sub = mentions[idx]
            entry[cat] = bias_aucs(y, s, sub)
            entry[cat]["validation_rows"] = int(sub[idx >= n_templates].sum())
        out[t.term] = entry
    tpl_ids = np.array([r["template"] for r in template_rows])
    tpl_flags = {c: scored.flagged(c)[:n_templates] for c in scored.categories}
    by_template = {tid: {"any": float(flagged_any[tpl_ids == tid].mean()),
                         **{c: float(f[tpl_ids == tid].mean()) for c, f in tpl_flags.items()}}
                   for tid in dict.fromkeys(r["template"] for r in template_rows if r["label"] == 0)}
    return {"terms": out, "benign_by_template": by_template}


def threat_report(scored: Scored, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Threats caught (flagged for any of ``THREAT_CATEGORIES`` the model has) and traps flagged."""
    cats = [c for c in THREAT_CATEGORIES if c in scored.categories]
    hit = scored.any_flag(cats)
    anyf = scored.any_flag()
    label = np.array([r["label"] for r in rows])
    out: dict[str, Any] = {"categories": cats, "threats": int(label.sum()), "traps": int((label == 0).sum()),
                           "caught": _rate(hit[label == 1]), "traps_flagged": _rate(hit[label == 0]),
                           "traps_any_flag": _rate(anyf[label == 0])}
    s = np.max(np.column_stack([scored.col(c) / scored.thresholds[c] for c in cats]), axis=1)
    out["auc_threshold_scaled_max"] = _auc(label, s)
    for target in ("person", "group"):
        m = np.array([r.get("target") == target for r in rows])
        intended = "personal_attack" if target == "person" else "hate_speech"
        out[f"caught_{target}"] = _rate(hit[m])
        if intended in scored.categories:
            out[f"caught_{target}_as_{intended}"] = _rate(scored.flagged(intended)[m])
    out["missed"] = [r["text"] for r, h, y in zip(rows, hit, label, strict=True) if y == 1 and not h]
    out["flagged_traps"] = [r["text"] for r, h, y in zip(rows, hit, label, strict=True) if y == 0 and h]
    return out


def hate_noslur_report(scored: Scored, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """ROC AUC of ``hate_speech`` on the set and, per kind, the share flagged hate_speech and flagged at all."""
    label = np.array([r["label"] for r in rows])
    p = scored.col("hate_speech")
    hs = scored.flagged("hate_speech")
    anyf = scored.any_flag()
    out: dict[str, Any] = {"n": len(rows), "hate": int(label.sum()), "hate_speech_auc": _auc(label, p),
                           "by_kind": {}}
    kinds = sorted({r.get("subkind") or r["kind"] for r in rows})
    for kind in kinds:
        m = np.array([(r.get("subkind") or r["kind"]) == kind for r in rows])
        out["by_kind"][kind] = {"n": int(m.sum()), "label": int(label[m][0]),
                                "hate_speech_flagged": _rate(hs[m]), "any_flag": _rate(anyf[m])}
    out["missed"] = [r["text"] for r, f, y in zip(rows, hs, label, strict=True) if y == 1 and not f]
    out["flagged_non_hate"] = [r["text"] for r, f, y in zip(rows, hs, label, strict=True) if y == 0 and f]
    return out


def address_report(scored: Scored, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Friendly statements addressed to the reader ("I'll call you tomorrow"), all benign: the share flagged, for
    any category and per category, and which ones were."""
    anyf = scored.any_flag()
    return {"n": len(rows), "flagged_any": _rate(anyf),
            "flagged": {c: _rate(scored.flagged(c)) for c in scored.categories},
            "flagged_texts": [r["text"] for r, f in zip(rows, anyf, strict=True) if f]}


def evaluate_fairness(model: ModerationModel, val_rows: Sequence[Example] = (),
                      templates: Sequence[dict[str, Any]] | None = None,
                      threats: Sequence[dict[str, Any]] | None = None,
                      hate: Sequence[dict[str, Any]] | None = None,
                      operating: bool = False,
                      address: Sequence[dict[str, Any]] | None = None,
                      thresholds: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """Identity, threat and hate-without-slur evaluation of ``model``'s intake and full views.

    ``val_rows``: the validation split (as training made it, with its weak obscenity labels); the identity
    metrics read its rows labelled for an identity category. With none, the identity AUCs use the templates
    alone. ``templates``, ``threats``, ``hate`` and ``address`` default to the files in ``data/`` (tests pass
    subsets).
    ``thresholds``: per view (``intake``, ``full``), thresholds to evaluate at instead of the model's (those
    it names; e.g. a threshold chosen at another operating point).
    With ``operating``, the report also holds ``operating_points``
    (:func:`moderator.training.operating_points.operating_points` on the comment-section rows of
    ``val_rows``), scored in the same pass: every text is scored once by each view.
    """
    from moderator.training.operating_points import COMMENT_SECTION_CORPORA, operating_points

    terms = load_terms()
    templates = load_jsonl(IDENTITY_EVAL) if templates is None else list(templates)
    threats = load_jsonl(THREAT_EVAL) if threats is None else list(threats)
    hate = load_jsonl(HATE_NOSLUR_EVAL) if hate is None else list(hate)
    address = load_jsonl(ADDRESS_EVAL) if address is None else list(address)
    terms = [t for t in terms if any(r["term"] == t.term for r in templates)]
    wanted = [r for r in val_rows if any(c in r.labels for c in IDENTITY_CATEGORIES)
              or (operating and r.corpus in COMMENT_SECTION_CORPORA)]
    ident = np.array([any(c in r.labels for c in IDENTITY_CATEGORIES) for r in wanted], dtype=bool)
    comment = np.array([operating and r.corpus in COMMENT_SECTION_CORPORA for r in wanted], dtype=bool)
    val = [r for r, k in zip(wanted, ident, strict=True) if k]
    texts = [r["text"] for r in templates] + [r["text"] for r in threats] + [r["text"] for r in hate] \
        + [r.text for r in wanted] + [r["text"] for r in address]
    views = {name: replace(sc, thresholds={**sc.thresholds, **(thresholds or {}).get(name, {})})
             for name, sc in score_views(model, texts).items()}
    masks = term_masks([r.text for r in val], terms)
    a, b, c = len(templates), len(templates) + len(threats), len(templates) + len(threats) + len(hate)
    out: dict[str, Any] = {"version": model.version, "validation_rows": len(val), "template_rows": len(templates),
                           "views": {}}
    for name, sc in views.items():
        def part(idx: Any, sc: Scored = sc) -> Scored:
            return Scored(sc.version, sc.categories, sc.thresholds, sc.matrix[idx])

        identity_idx = np.concatenate([np.arange(a), c + np.flatnonzero(ident)])
        out["views"][name] = {
            "version": sc.version, "thresholds": sc.thresholds,
            "identity": identity_report(part(identity_idx), templates, a, val, terms, masks),
            "threats": threat_report(part(slice(a, b)), threats),
            "hate_noslur": hate_noslur_report(part(slice(b, c)), hate),
            "friendly_address": address_report(part(slice(c + len(wanted), len(texts))), address),
        }
    if operating and comment.any():
        op_rows = [r for r, k in zip(wanted, comment, strict=True) if k]
        out["operating_points"] = {
            "version": model.version, "categories": list(model.categories), "min_precision": 0.7,
            "rows": {n: sum(r.corpus == n for r in op_rows) for n in COMMENT_SECTION_CORPORA},
            "views": {name: {"version": sc.version, **operating_points(
                op_rows, sc.matrix[c + np.flatnonzero(comment)], sc.categories, sc.thresholds)}
                for name, sc in views.items()}}
    return out


def training_metrics(model: ModerationModel, val_rows: Sequence[Example],
                     **sets: Sequence[dict[str, Any]] | None) -> dict[str, Any]:
    """What training records for the model card: ``{"fairness": ..., "operating_points": ...}``.

    ``val_rows`` is the validation split with its weak obscenity labels (``data.splits.validation`` in
    :func:`moderator.training.train.train`). The fairness part is :func:`summarize`'d plus the per-term
    numbers (no sentence lists), small enough for the artifact's JSON sidecar. ``sets``: ``templates``,
    ``threats``, ``hate``, ``address`` subsets as for :func:`evaluate_fairness` (tests).
    """
    report = evaluate_fairness(model, val_rows, sets.get("templates"), sets.get("threats"), sets.get("hate"),
                               operating=True, address=sets.get("address"))
    ops = report.pop("operating_points", None)
    report["summary"] = summarize(report)
    for v in report["views"].values():
        for key in ("missed", "flagged_traps", "flagged_non_hate"):
            v["threats"].pop(key, None)
            v["hate_noslur"].pop(key, None)
        v["friendly_address"].pop("flagged_texts", None)
    out: dict[str, Any] = {"fairness": report}
    if ops is not None:
        out["operating_points"] = ops
    return out


def card_lines(metrics: dict[str, Any]) -> list[str]:
    """The model card's sections for the metrics :func:`training_metrics` returned (none if absent)."""
    from moderator.training import operating_points as op

    lines: list[str] = []
    if metrics.get("fairness"):
        lines += ["", "## Identity fairness, threats, hate without slurs",
                  "Hand-written evaluation sets (`data/identity_eval.jsonl`, `data/threat_eval.jsonl`,"
                  " `data/hate_noslur_eval.jsonl`, `data/address_eval.jsonl`; never trained on) plus the"
                  " identity-term-bearing validation rows;"
                  " subgroup / BPSN / BNSP ROC AUC after Borkan et al. 2019, per category, worst term shown."
                  " Per-term tables: `python bench/fairness.py`.", "", *summary_lines(metrics["fairness"])]
    if metrics.get("operating_points"):
        lines += ["", "## Flags on comment-section validation data",
                  "Impermium, Stormfront, TRAC-1, Ruddit, YouTube validation rows; clean = every label 0. Share of"
                  " clean comments flagged and recall at the model's thresholds, and at the thresholds that give the"
                  " highest recall with precision >= 0.7 at 5% / 10% prevalence. Per corpus:"
                  " `python bench/operating_points.py`.", "", *op.summary_lines(metrics["operating_points"])]
    return lines


# --------------------------------------------------------------------------- summaries and markdown

# The targets the evaluation is read against (benign flag rate at most, AUCs and threats caught at least).
TARGETS = {"benign_flag_rate": 0.02, "subgroup_auc": 0.95, "bpsn_auc": 0.95, "threats_caught": 0.90,
           "traps_flagged": 0.05, "hate_noslur_auc": 0.95, "address_flagged": 0.05}
_AUCS = ("subgroup_auc", "bpsn_auc", "bnsp_auc")


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    """Per view: worst term and number of terms meeting each target; threats; hate without slurs."""
    out: dict[str, Any] = {}
    for name, v in report["views"].items():
        terms = v["identity"]["terms"]
        flag = {t: e["benign_flag_rate"]["any"] for t, e in terms.items()}
        worst_flag = max(flag, key=lambda t: flag[t])
        s: dict[str, Any] = {
            "terms": len(terms),
            "benign_flag_rate_max": {"term": worst_flag, "value": flag[worst_flag]},
            "benign_flag_rate_mean": float(np.mean(list(flag.values()))),
            "terms_meeting_flag_target": sum(x <= TARGETS["benign_flag_rate"] for x in flag.values()),
        }
        for cat in IDENTITY_CATEGORIES:
            vals = {t: e[cat] for t, e in terms.items() if cat in e}
            if not vals:
                continue
            for auc in _AUCS:
                got = {t: a[auc] for t, a in vals.items() if a[auc] is not None}
                if got:
                    low = min(got, key=lambda t: got[t])
                    s[f"{cat}_{auc}_min"] = {"term": low, "value": got[low]}
                    s[f"{cat}_{auc}_meeting_0.95"] = sum(x >= 0.95 for x in got.values())
        s["threats_caught"] = v["threats"]["caught"]
        s["traps_flagged"] = v["threats"]["traps_flagged"]
        s["hate_noslur_auc"] = v["hate_noslur"]["hate_speech_auc"]
        if "friendly_address" in v:
            s["address_flagged"] = v["friendly_address"]["flagged_any"]
        out[name] = s
    return out


def _f(x: float | None, pct: bool = False) -> str:
    if x is None:
        return "-"
    return f"{100 * x:.0f}%" if pct else f"{x:.3f}"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """A short markdown table of :func:`summarize` (the model card's section)."""
    summ = report.get("summary") or summarize(report)
    views = list(summ)
    lines = ["| measure (target) | " + " | ".join(f"{v} (`{report['views'][v]['version']}`)" for v in views) + " |",
             "|---|" + "---:|" * len(views)]

    def row(label: str, fn: Any) -> None:
        lines.append(f"| {label} | " + " | ".join(fn(summ[v]) for v in views) + " |")

    row("identity terms", lambda s: str(s["terms"]))
    row("benign template flag rate, worst term (<= 2%)",
        lambda s: f"{_f(s['benign_flag_rate_max']['value'], True)} ({s['benign_flag_rate_max']['term']})")
    row("benign template flag rate, mean over terms", lambda s: _f(s["benign_flag_rate_mean"], True))
    row("terms with benign flag rate <= 2%", lambda s: f"{s['terms_meeting_flag_target']}/{s['terms']}")
    for cat in IDENTITY_CATEGORIES:
        for auc in _AUCS:
            key = f"{cat}_{auc}_min"
            row(f"{cat} {auc.replace('_auc', '').upper()} AUC, worst term"
                + (" (>= 0.95)" if auc != "bnsp_auc" else ""),
                lambda s, key=key: f"{_f(s[key]['value'])} ({s[key]['term']})" if key in s else "-")
            row(f"{cat}: terms with {auc.replace('_auc', '').upper()} AUC >= 0.95",
                lambda s, cat=cat, auc=auc: f"{s.get(f'{cat}_{auc}_meeting_0.95', '-')}/{s['terms']}")
    row("threats caught (>= 90%)", lambda s: _f(s["threats_caught"], True))
    row("threat traps flagged (<= 5%)", lambda s: _f(s["traps_flagged"], True))
    row("hate without slurs: hate_speech ROC AUC (>= 0.95)", lambda s: _f(s["hate_noslur_auc"]))
    # reports written before the set existed have no such number
    row("friendly statements to the reader flagged (<= 5%)", lambda s: _f(s.get("address_flagged"), True))
    return lines


def markdown(report: dict[str, Any], command: str = "python bench/fairness.py") -> str:
    """The full report: summary, per-term tables per view, benign templates, threats, hate without slurs."""
    lines = [f"# Identity fairness, threats, hate without slurs: `{report['version']}`", "",
             f"`{command}`. Identity rows: {report['template_rows']} template rows (`data/identity_eval.jsonl`) "
             f"+ {report['validation_rows']} validation rows labelled hate_speech or personal_attack (a term's "
             "subgroup there: the rows its pattern matches). Flags at each view's own thresholds. AUCs per "
             "category over the rows labelled for it (benign templates are negatives for both; abusive "
             "templates are positives for the category they name).", "", *summary_lines(report), ""]
    for name, v in report["views"].items():
        cats = [c for c in ("personal_attack", "hate_speech", "obscenity", "spam") if c in v["thresholds"]]
        lines += [f"## Per term: {name} (`{v['version']}`, thresholds {json.dumps(v['thresholds'])})", "",
                  "| term | group | benign flagged: any | " + " | ".join(cats) + " | max PA score | "
                  "HS subgroup / BPSN / BNSP | PA subgroup / BPSN / BNSP | validation rows HS / PA |",
                  "|---|---|---:|" + "---:|" * len(cats) + "---:|---|---|---|"]
        for term, e in v["identity"]["terms"].items():
            hs, pa = e.get("hate_speech", {}), e.get("personal_attack", {})
            trio = lambda a: " / ".join(_f(a.get(k)) for k in _AUCS) if a else "-"  # noqa: E731
            lines.append(f"| {term} | {e['group']} | {_f(e['benign_flag_rate']['any'], True)} | "
                         + " | ".join(_f(e["benign_flag_rate"][c], True) for c in cats)
                         + f" | {_f(e['benign_max_score'].get('personal_attack'))} | {trio(hs)} | {trio(pa)} | "
                         f"{hs.get('validation_rows', '-')} / {pa.get('validation_rows', '-')} |")
        lines.append("")
    views = list(report["views"])
    lines += ["## Benign templates: share of terms flagged", "",
              "| template | " + " | ".join(f"{v}: any" for v in views) + " | "
              + " | ".join(f"{v}: PA / HS / obscenity / spam" for v in views) + " |",
              "|---|" + "---:|" * len(views) + "---|" * len(views)]
    first = report["views"][views[0]]["identity"]["benign_by_template"]
    for tid in first:
        cells = [_f(report["views"][v]["identity"]["benign_by_template"][tid]["any"], True) for v in views]
        cells += [" / ".join(_f(report["views"][v]["identity"]["benign_by_template"][tid].get(c), True)
                             for c in ("personal_attack", "hate_speech", "obscenity", "spam")) for v in views]
        lines.append(f"| {tid} | " + " | ".join(cells) + " |")
    lines += ["", "## Threats (`data/threat_eval.jsonl`)", "",
              "| view | threats caught | to a person | to a person as personal_attack | to a group | "
              "to a group as hate_speech | traps flagged | traps with any flag | AUC (threshold-scaled max) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, v in report["views"].items():
        t = v["threats"]
        lines.append(f"| {name} | {_f(t['caught'], True)} of {t['threats']} | {_f(t['caught_person'], True)} | "
                     f"{_f(t.get('caught_person_as_personal_attack'), True)} | {_f(t['caught_group'], True)} | "
                     f"{_f(t.get('caught_group_as_hate_speech'), True)} | {_f(t['traps_flagged'], True)} of "
                     f"{t['traps']} | {_f(t['traps_any_flag'], True)} | {_f(t['auc_threshold_scaled_max'])} |")
    lines += ["", "## Hate without slurs (`data/hate_noslur_eval.jsonl`)", "",
              "| view | hate_speech ROC AUC | " + " | ".join(
                  f"{k} (n {d['n']}, {'hate' if d['label'] else 'not hate'}): HS flagged / any flag"
                  for k, d in report["views"][views[0]]["hate_noslur"]["by_kind"].items()) + " |",
              "|---|---:|" + "---|" * len(report["views"][views[0]]["hate_noslur"]["by_kind"])]
    for name, v in report["views"].items():
        h = v["hate_noslur"]
        lines.append(f"| {name} | {_f(h['hate_speech_auc'])} | " + " | ".join(
            f"{_f(d['hate_speech_flagged'], True)} / {_f(d['any_flag'], True)}" for d in h["by_kind"].values()) + " |")
    if all("friendly_address" in v for v in report["views"].values()):
        lines += ["", "## Friendly statements to the reader (`data/address_eval.jsonl`, all benign)", "",
                  "| view | flagged: any | personal_attack | hate_speech | obscenity | spam |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name, v in report["views"].items():
            a = v["friendly_address"]
            lines.append(f"| {name} | {_f(a['flagged_any'], True)} of {a['n']} | " + " | ".join(
                _f(a["flagged"].get(c), True) for c in ("personal_attack", "hate_speech", "obscenity", "spam")) + " |")
        for name, v in report["views"].items():
            lines += ["", f"Flagged by {name}: " + ("; ".join(v["friendly_address"]["flagged_texts"]) or "none")]
    return "\n".join(lines) + "\n"
