"""The fairness, threat, hate-without-slur and operating-point evaluation: metric definitions on inputs whose
answer is known, the hand-written sets' shape, and one end-to-end run on the shipped model."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

import numpy as np
import pytest

from moderator.training import fairness as fz
from moderator.training import operating_points as op
from moderator.training.datasets import Example

# ---------------------------------------------------------------- Borkan et al. 2019 AUCs


def test_bias_aucs_follow_the_definitions() -> None:
    # Subgroup rows: negatives 0.6, 0.7 and positives 0.8, 0.9 (perfectly ordered inside the subgroup, but
    # its negatives outscore the background's positives 0.3, 0.4; the background's negatives are 0.1, 0.2).
    y = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    s = np.array([0.6, 0.7, 0.8, 0.9, 0.1, 0.2, 0.3, 0.4])
    sub = np.array([True] * 4 + [False] * 4)
    got = fz.bias_aucs(y, s, sub)
    assert got["subgroup_auc"] == 1.0
    assert got["bpsn_auc"] == 0.0  # subgroup negatives above background positives: the term raises scores
    assert got["bnsp_auc"] == 1.0  # subgroup positives above background negatives
    assert (got["n"], got["positives"]) == (4, 2)


def test_bias_aucs_low_bnsp_when_abuse_naming_the_group_scores_low() -> None:
    y = np.array([0, 1, 0, 1])
    s = np.array([0.05, 0.3, 0.5, 0.9])  # subgroup = first two: its positive 0.3 is below background negative 0.5
    got = fz.bias_aucs(y, s, np.array([True, True, False, False]))
    assert got["subgroup_auc"] == 1.0
    assert got["bpsn_auc"] == 1.0  # subgroup negative 0.05 < background positive 0.9
    assert got["bnsp_auc"] == 0.0


def test_bias_aucs_none_when_a_set_lacks_a_class() -> None:
    got = fz.bias_aucs(np.array([0, 0, 1]), np.array([0.1, 0.2, 0.9]), np.array([True, True, False]))
    assert got["subgroup_auc"] is None  # subgroup has no positive
    assert got["bpsn_auc"] == 1.0
    assert got["bnsp_auc"] is None  # no subgroup positive


def test_term_patterns_need_a_person_noun_for_ambiguous_words() -> None:
    terms = {t.term: t for t in fz.load_terms()}
    masks = fz.term_masks(["black coffee please", "Black people live here", "The Pakistani team won",
                           "an old car", "old people vote"], [terms["black"], terms["pakistani"], terms["elderly"]])
    assert masks["black"].tolist() == [False, True, False, False, False]
    assert masks["pakistani"].tolist() == [False, False, True, False, False]
    assert masks["elderly"].tolist() == [False, False, False, False, True]


# ---------------------------------------------------------------- operating points


def test_select_threshold_reweights_to_the_stated_prevalence() -> None:
    y = np.array([1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.85, 0.1])
    # Prevalence 0.5 with 2 positives and 2 negatives: weight 1. Precision by threshold: 0.9 -> 1, 0.85 -> 0.5,
    # 0.8 -> 2/3, 0.1 -> 0.5.
    got = op.select_threshold(y, p, min_precision=0.6, prevalence=0.5)
    assert (got["threshold"], got["recall"], got["feasible"]) == (0.8, 1.0, True)
    assert got["negative_flag_rate"] == 0.5
    assert op.select_threshold(y, p, min_precision=0.7, prevalence=0.5)["threshold"] == 0.9
    # At 20% prevalence a positive weighs 1/4: at 0.8 the precision is 0.5 / (0.5 + 1) = 1/3, so only 0.9 passes.
    rare = op.select_threshold(y, p, min_precision=0.6, prevalence=0.2)
    assert (rare["threshold"], rare["recall"]) == (0.9, 0.5)
    assert rare["precision"] == pytest.approx(1.0)


def test_select_threshold_reports_an_unreachable_precision() -> None:
    got = op.select_threshold(np.array([1, 0, 0]), np.array([0.2, 0.9, 0.8]), min_precision=0.7, prevalence=0.1)
    assert got["feasible"] is False
    assert got["threshold"] == 0.2  # best precision (1/3 weighted, still the best there is): flags everything


def _ex(corpus: str, labels: dict[str, int], raw: str = "") -> Example:
    return Example("text", corpus, labels, raw)


def test_clean_comments_and_category_targets() -> None:
    rows = [_ex("impermium_insults", {"personal_attack": 0, "obscenity": 0}),  # clean
            _ex("impermium_insults", {"personal_attack": 1, "obscenity": 0}),  # violation
            _ex("stormfront_hate", {"hate_speech": 0, "obscenity": 1}),  # profane: not clean
            _ex("stormfront_hate", {}),  # unlabelled (relation / idk): unknown, not clean
            _ex("ruddit", {"obscenity": 0}, "-0.2"),  # clean by score
            _ex("ruddit", {"obscenity": 0}, "0.1")]  # mildly offensive: not clean
    assert [op.is_clean(r) for r in rows] == [True, False, False, False, True, False]
    idx, y = op.category_targets(rows, "personal_attack")
    assert idx.tolist() == [0, 1, 4] and y.tolist() == [0, 1, 0]
    idx, y = op.category_targets(rows, "spam")  # nobody labels spam here: clean comments are its negatives
    assert idx.tolist() == [0, 4] and y.tolist() == [0, 0]


def test_flag_report_counts_clean_flags_and_recall() -> None:
    rows = [_ex("impermium_insults", {"personal_attack": 0}), _ex("impermium_insults", {"personal_attack": 0}),
            _ex("impermium_insults", {"personal_attack": 1}), _ex("youtube_spam", {"spam": 0})]
    scores = np.array([[0.9, 0.1], [0.1, 0.1], [0.8, 0.1], [0.1, 0.7]])
    got = op.flag_report(rows, scores, ("personal_attack", "spam"), {"personal_attack": 0.5, "spam": 0.5})
    assert got["impermium_insults"]["clean_flag_rate"] == {"personal_attack": 0.5, "spam": 0.0, "any": 0.5}
    assert got["impermium_insults"]["recall"]["personal_attack"] == {"n": 1, "recall": 1.0}
    assert got["all"]["clean_flag_rate"]["any"] == pytest.approx(2 / 3)
    assert got["all"]["clean_flag_rate"]["spam"] == pytest.approx(1 / 3)


# ---------------------------------------------------------------- the hand-written sets


def _key(text: str) -> str:
    return re.sub(r"\W+", " ", unicodedata.normalize("NFKC", text).lower()).strip()


def test_identity_set_covers_the_required_terms_and_matches_its_templates() -> None:
    terms = fz.load_terms()
    names = {t.term for t in terms}
    assert len(terms) >= 35
    assert {"muslim", "hindu", "sikh", "jewish", "christian", "atheist", "pakistani", "indian", "black", "arab",
            "gay", "lesbian", "transgender", "disabled", "elderly", "liberal", "conservative"} <= names
    assert {t.group for t in terms} >= {"religion", "nationality", "ethnicity", "sexual_orientation",
                                        "gender_identity", "disability", "age", "politics"}
    rows = fz.load_jsonl(fz.IDENTITY_EVAL)
    templates = json.loads(fz.IDENTITY_TEMPLATES.read_text())
    assert rows == fz.expand_templates(terms, templates)  # the file is generated from the two sources
    assert all({"text", "term", "template", "label", "kind"} <= set(r) for r in rows)
    assert len({_key(r["text"]) for r in rows}) == len(rows)
    for t in terms:
        mine = [r for r in rows if r["term"] == t.term]
        assert sum(r["label"] == 0 for r in mine) >= 20 and sum(r["label"] == 1 for r in mine) >= 15, t.term


def test_threat_and_hate_sets_have_their_sizes_and_no_duplicates() -> None:
    threats = fz.load_jsonl(fz.THREAT_EVAL)
    assert sum(r["label"] == 1 for r in threats) >= 150 and sum(r["label"] == 0 for r in threats) >= 150
    assert {r.get("target") for r in threats if r["label"] == 1} == {"person", "group"}
    assert all(r["kind"] == ("threat" if r["label"] else "trap") for r in threats)
    hate = fz.load_jsonl(fz.HATE_NOSLUR_EVAL)
    assert len(hate) >= 200
    assert {r["kind"] for r in hate} == {"hate", "counter_speech", "reporting", "benign_identity"}
    assert {r["subkind"] for r in hate if r["kind"] == "hate"} == {"dehumanising", "conspiracy", "exclusion"}
    assert all(r["label"] == int(r["kind"] == "hate") for r in hate)
    address = fz.load_jsonl(fz.ADDRESS_EVAL)
    assert len(address) >= 50 and all(r["label"] == 0 and r["kind"] == "friendly_address" for r in address)
    every = [r["text"] for r in threats + hate + address + fz.load_jsonl(fz.IDENTITY_EVAL)]
    assert len({_key(t) for t in every}) == len(every)  # no duplicates within or across the sets


def test_address_report_counts_the_flagged_statements() -> None:
    rows = [{"text": t, "label": 0, "kind": "friendly_address"} for t in ("a", "b", "c", "d")]
    scored = fz.Scored("v", ("personal_attack", "spam"), {"personal_attack": 0.5, "spam": 0.5},
                       np.array([[0.9, 0.0], [0.1, 0.6], [0.2, 0.1], [0.5, 0.0]]))
    out = fz.address_report(scored, rows)
    assert out["n"] == 4 and out["flagged_any"] == 0.75
    assert out["flagged"] == {"personal_attack": 0.5, "spam": 0.25}
    assert out["flagged_texts"] == ["a", "b", "d"]


# ---------------------------------------------------------------- end to end on the shipped model


def test_evaluation_runs_on_the_shipped_model(model: Any) -> None:
    templates = [r for r in fz.load_jsonl(fz.IDENTITY_EVAL) if r["template"] in ("b07", "b21", "a03", "a10")]
    threats = fz.load_jsonl(fz.THREAT_EVAL)[::10]
    hate = fz.load_jsonl(fz.HATE_NOSLUR_EVAL)[::5]
    val = [Example("Muslims are lovely neighbours", "stormfront_hate", {"hate_speech": 0}, "noHate"),
           Example("I hate all Muslims", "stormfront_hate", {"hate_speech": 1}, "hate"),
           Example("you are an idiot", "impermium_insults", {"personal_attack": 1}, "1")]
    report = fz.evaluate_fairness(model, val, templates, threats, hate)
    names = [t.term for t in fz.load_terms()]
    assert set(report["views"]) == {"intake", "full"}
    assert report["views"]["intake"]["version"].endswith("+linear")
    for view in report["views"].values():
        terms = view["identity"]["terms"]
        assert list(terms) == names
        for e in terms.values():
            assert e["benign_n"] == 2 and 0 <= e["benign_flag_rate"]["any"] <= 1
            assert e["hate_speech"]["subgroup_auc"] is not None and e["personal_attack"]["bpsn_auc"] is not None
        assert terms["muslim"]["hate_speech"]["validation_rows"] == 2
        assert terms["pakistani"]["hate_speech"]["validation_rows"] == 0
        assert 0 <= view["threats"]["caught"] <= 1 and view["hate_noslur"]["hate_speech_auc"] is not None
        assert view["friendly_address"]["n"] == len(fz.load_jsonl(fz.ADDRESS_EVAL))
    summary = fz.summarize(report)
    assert summary["intake"]["terms"] == len(names)
    assert summary["full"]["address_flagged"] == report["views"]["full"]["friendly_address"]["flagged_any"]
    assert "| threats caught (>= 90%) |" in "\n".join(fz.summary_lines(report))
    assert "## Friendly statements to the reader" in fz.markdown(report)
    del summary["full"]["address_flagged"], summary["intake"]["address_flagged"]  # a report from before the set
    assert "| friendly statements to the reader flagged (<= 5%) | - | - |" in "\n".join(
        fz.summary_lines({**report, "summary": summary}))


def test_evaluation_at_other_thresholds_leaves_the_model_as_it_was(model: Any) -> None:
    threats = fz.load_jsonl(fz.THREAT_EVAL)[::5]
    templates = [r for r in fz.load_jsonl(fz.IDENTITY_EVAL) if r["template"] in ("b07", "a03")]
    stored = (dict(model.thresholds), dict(model.linear_view().thresholds))
    at = fz.evaluate_fairness(model, (), templates, threats, [], address=[],
                              thresholds={"intake": {"personal_attack": 1e-9, "hate_speech": 1e-9}})
    intake, full = at["views"]["intake"], at["views"]["full"]
    assert intake["thresholds"]["personal_attack"] == 1e-9 and intake["threats"]["caught"] == 1.0
    assert intake["thresholds"]["spam"] == stored[1]["spam"]  # a view keeps the thresholds not named
    assert full["thresholds"] == stored[0] and full["threats"]["caught"] < 1.0
    assert (dict(model.thresholds), dict(model.linear_view().thresholds)) == stored
    again = fz.evaluate_fairness(model, (), templates, threats, [], address=[])
    assert again["views"]["intake"]["threats"]["caught"] < 1.0


def test_training_metrics_reach_the_model_card(model: Any) -> None:
    from dataclasses import replace

    from moderator.training.report import model_card

    templates = [r for r in fz.load_jsonl(fz.IDENTITY_EVAL) if r["template"] in ("b08", "a02", "a11")]
    val = [Example("Thanks, great article", "impermium_insults", {"personal_attack": 0, "obscenity": 0}, "0"),
           Example("you are a moron", "impermium_insults", {"personal_attack": 1, "obscenity": 0}, "1"),
           Example("Buy followers at my site", "youtube_spam", {"spam": 1, "obscenity": 0}, "1"),
           Example("nice song", "youtube_spam", {"spam": 0, "obscenity": 0}, "0"),
           Example("The Muslims in our street are fine", "stormfront_hate", {"hate_speech": 0, "obscenity": 0}, "n"),
           Example("all muslims are vermin", "stormfront_hate", {"hate_speech": 1, "obscenity": 0}, "hate")]
    metrics = fz.training_metrics(model, val, templates=templates, threats=fz.load_jsonl(fz.THREAT_EVAL)[:20],
                                  hate=fz.load_jsonl(fz.HATE_NOSLUR_EVAL)[::10])
    assert set(metrics) == {"fairness", "operating_points"}
    assert metrics["operating_points"]["rows"]["impermium_insults"] == 2
    json.dumps(metrics)  # stored in the artifact's JSON sidecar
    assert "missed" not in metrics["fairness"]["views"]["full"]["threats"]
    assert "flagged_texts" not in metrics["fairness"]["views"]["full"]["friendly_address"]
    card = model_card(replace(model, metadata={**model.metadata, "metrics": {**model.metadata["metrics"], **metrics}}))
    assert "## Identity fairness, threats, hate without slurs" in card
    assert "## Flags on comment-section validation data" in card
    assert "| threats caught (>= 90%) |" in card
    bare = {k: v for k, v in model.metadata["metrics"].items() if k not in ("fairness", "operating_points")}
    assert "## Identity fairness" not in model_card(replace(model, metadata={**model.metadata, "metrics": bare}))


def test_select_threshold_flags_no_more_than_the_best_recall_needs() -> None:
    # Perfectly separated: recall 1 is reached at 0.8 with no false flag; lower thresholds only add false flags
    # (still within the precision allowed at 50% prevalence), so 0.8 is chosen.
    got = op.select_threshold(np.array([1, 1, 0, 0, 0]), np.array([0.9, 0.8, 0.5, 0.4, 0.3]),
                              min_precision=0.6, prevalence=0.5)
    assert (got["threshold"], got["recall"], got["negative_flag_rate"]) == (0.8, 1.0, 0.0)
