"""What training does for the model's judgement, checked on small hand-made inputs (no corpora, no training):
the operating-point thresholds, identity re-weighting, spam negatives, the encoder's rows, the phrase cues
and the team's generated rows."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from moderator.cli import main
from moderator.model.cues import CUES, cue_counts
from moderator.training.augment import (
    AUGMENT_CORPUS,
    NAMES,
    PERSON_THREAT_CORE,
    PERSON_THREAT_TWIN,
    WHO,
    augmentation_examples,
    identity_pattern,
)
from moderator.training.datasets import Example
from moderator.training.train import (
    TrainConfig,
    add_spam_negatives,
    corpus_adjusted,
    corpus_columns,
    encoder_training_rows,
    identity_weights,
    operating_threshold,
)


def test_operating_threshold_takes_the_highest_recall_within_the_flag_budget() -> None:
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    p = np.array([.9, .8, .7, .2, .85, .3, .25, .1, .1, .1, .1, .1, .1, .1])
    # 10 negatives, budget 10%: one negative may be flagged (0.85); the next (0.3) would be the second
    out = operating_threshold(y, p, max_flag_rate=0.1, prevalence=0.1, min_precision=0.7)
    assert out["threshold"] == pytest.approx(0.7)
    assert out["recall"] == pytest.approx(0.75) and out["negative_flag_rate"] == pytest.approx(0.1)
    # of the thresholds giving that recall, the highest: 0.7, not 0.31 (which flags no more positives)
    assert out["threshold"] > 0.3
    strict = operating_threshold(y, p, max_flag_rate=0.0, prevalence=0.1, min_precision=0.7)
    assert strict["negative_flag_rate"] == 0 and strict["threshold"] == pytest.approx(0.9)


def test_identity_weights_make_a_group_word_uninformative_within_a_corpus() -> None:
    rows, y = [], []
    for i in range(40):  # corpus base rate 25%; rows naming Pakistanis 75% positive
        names = i < 8
        label = int((i < 6) if names else (i % 8 == 0))
        rows.append(Example("Pakistani people here" if names else "people here", "trac1_aggression", {}, ""))
        y.append(label)
    y_arr, w = np.array(y), np.ones(len(rows))
    factors = identity_weights(rows, y_arr, w)
    named = np.array(["Pakistani" in r.text for r in rows])
    base = y_arr.mean()
    rate = (factors[named] * y_arr[named]).sum() / factors[named].sum()
    assert rate == pytest.approx(base, abs=0.02)
    assert np.all(factors[~named] == 1.0)


def test_pooled_identity_weights_balance_a_group_across_corpora() -> None:
    """Women named at the base rate of each corpus, but mostly in the corpus with many positives: per corpus
    nothing changes and the word still predicts the label pooled; the pooled pass balances it there too."""
    rows, y = [], []
    for i in range(100):  # "tweets": base rate 40%, rows naming women 40% positive, 50 of them
        names = i < 50
        rows.append(Example("women here" if names else "people here", "tweeteval_hate", {}, ""))
        y.append(int(i % 5 < 2))
    for i in range(200):  # "forum": base rate 5%, 10 rows naming women, none of them positive
        names = i < 10
        rows.append(Example("women there" if names else "people there", "stormfront_hate", {}, ""))
        y.append(int(not names and i % 20 == 10))
    y_arr, w = np.array(y), np.ones(len(rows))
    named = np.array(["women" in r.text for r in rows])

    def rate(f: np.ndarray, mask: np.ndarray) -> float:
        return float((f[mask] * y_arr[mask]).sum() / f[mask].sum())

    per_corpus = identity_weights(rows, y_arr, w)
    pooled = identity_weights(rows, y_arr, w, pooled=True)
    everyone = np.ones(len(rows), dtype=bool)
    assert rate(per_corpus, named) > 1.5 * rate(per_corpus, everyone)  # still predictive pooled
    # the pooled pass takes the rows naming women to the pooled base rate it starts from
    assert rate(pooled, named) == pytest.approx(rate(per_corpus, everyone), abs=0.02)
    assert np.all(pooled[~named] == 1.0)


def test_corpus_adjustment_takes_a_corpus_base_rate_out_of_a_words_weight() -> None:
    """A word frequent in the corpus with many positives and uninformative within each corpus: fitted without
    the corpus it learns that corpus's base rate; with the corpus as features, far less. The reduced model
    scores what scikit-learn scores with the corpora's weight shares as their columns."""
    import scipy.sparse as sp
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression

    from moderator.model.classifier import CategoryModel

    rng = np.random.default_rng(0)
    rows, feats, y = [], [], []
    for corpus, n, base, word_share in (("tweeteval_hate", 600, 0.45, 0.6), ("stormfront_hate", 1400, 0.08, 0.05)):
        for _ in range(n):
            label = int(rng.random() < base)
            rows.append(Example("", corpus, {}, ""))
            feats.append([float(rng.random() < word_share), float(rng.random() < (0.7 if label else 0.2))])
            y.append(label)
    X, y_arr, w = sp.csr_matrix(np.array(feats)), np.array(y), np.ones(len(rows))

    def fit(features: sp.csr_matrix) -> CalibratedClassifierCV:
        lr = LogisticRegression(C=4.0, solver="liblinear", class_weight="balanced")
        return CalibratedClassifierCV(lr, method="sigmoid", cv=3, ensemble=False).fit(features, y_arr, sample_weight=w)

    plain = CategoryModel.from_calibrated((0, 2), fit(X))
    onehot, prior = corpus_columns(rows, w)
    assert onehot.shape == (2000, 2) and prior == pytest.approx([1400 / 2000, 600 / 2000])  # sorted by name
    cal = fit(sp.hstack([X, onehot], format="csr"))
    adjusted = corpus_adjusted(CategoryModel.from_calibrated((0, 2), cal), prior)
    assert adjusted.coef_.shape == (2,)
    assert plain.coef_[0] > 1.0 and abs(adjusted.coef_[0]) < 0.3 * plain.coef_[0]
    assert adjusted.coef_[1] > 1.0  # the word that does carry the label keeps its weight
    reference = cal.predict_proba(sp.hstack([X, sp.csr_matrix(np.tile(prior, (2000, 1)))], format="csr"))[:, 1]
    assert np.allclose(adjusted.predict_proba(X), reference, atol=1e-5)


def test_identity_weights_leave_the_teams_rows_alone() -> None:
    rows = [Example("Muslims are welcome", AUGMENT_CORPUS, {}, "")] * 6 + [Example("hi", AUGMENT_CORPUS, {}, "")]
    f = identity_weights(rows, np.array([0, 0, 0, 0, 0, 1, 0]), np.ones(7))
    assert np.all(f == 1.0)


def test_identity_pattern_matches_whole_words_only() -> None:
    assert identity_pattern().search("my Hindu neighbour")
    assert not identity_pattern().search("an arabesque and a jewel")


def test_spam_negatives_skip_youtube_links_and_unlabelled_rows() -> None:
    rows = [Example("nice song", "youtube_spam", {"spam": 0}, "0"),
            Example("you idiot", "impermium_insults", {"personal_attack": 1}, "1"),
            Example("see http://x.example now", "impermium_insults", {"personal_attack": 0}, "0"),
            Example("covert jab", "trac1_aggression", {}, "CAG"),
            Example("a reddit comment", "ruddit", {}, "0.1")]
    assert add_spam_negatives(rows) == 2
    assert rows[1].labels["spam"] == 0 and rows[4].labels["spam"] == 0
    assert "spam" not in rows[2].labels and "spam" not in rows[3].labels
    assert rows[0].labels == {"spam": 0}


def test_encoder_rows_take_the_comment_corpora_the_teams_rows_and_a_sample() -> None:
    cfg = TrainConfig(encoder_sample={"olid": 2}, encoder_augment=1)
    rows = [Example("i1", "impermium_insults", {"personal_attack": 1, "obscenity": 0}, "1"),
            Example("s1", "stormfront_hate", {"hate_speech": 0}, "noHate"),
            Example("a1", AUGMENT_CORPUS, {"hate_speech": 1}, "group_hate"),
            Example("a2", AUGMENT_CORPUS, {"hate_speech": 0}, "benign_identity"),
            *[Example(f"o{i}", "olid", {"personal_attack": i % 2, "hate_speech": 0}, "x") for i in range(5)],
            Example("d1", "davidson_hate_offensive", {"hate_speech": 1}, "0")]
    got, labels, weights = encoder_training_rows(cfg, rows, ("hate_speech", "personal_attack"))
    texts = [e.text for e in got]
    assert texts[:2] == ["i1", "s1"] and labels[:2] == [{"personal_attack": 1}, {"hate_speech": 0}]
    assert texts[2] in ("a1", "a2") and sum(t.startswith("a") for t in texts) == 1  # a sample of the team's rows
    assert labels[2] == {"hate_speech": 1 if texts[2] == "a1" else 0}
    assert sum(t.startswith("o") for t in texts) == 2 and "d1" not in texts
    # the other corpora's labels train auxiliary outputs of their own, not the product's
    assert all(set(lab) <= {"olid/personal_attack", "olid/hate_speech"} and lab for lab in labels[3:])
    assert weights[:3] == [1.0, 1.0, 1.0] and weights[3:] == [cfg.encoder_sample_weight] * 2
    assert encoder_training_rows(cfg, rows, ("hate_speech", "personal_attack"))[0] == got  # seeded


def test_the_encoder_skips_the_rows_meant_for_the_linear_model_alone() -> None:
    rows = [Example("threat", AUGMENT_CORPUS, {"hate_speech": 1}, "group_threat"),
            Example("twin", AUGMENT_CORPUS, {"hate_speech": 0, "personal_attack": 0}, "group_threat_twin"),
            Example("news", AUGMENT_CORPUS, {"hate_speech": 0, "personal_attack": 0}, "group_violence_benign")]
    got, _, _ = encoder_training_rows(TrainConfig(), rows, ("hate_speech", "personal_attack"))
    assert [e.text for e in got] == ["threat", "news"]
    twins = [e for e in augmentation_examples() if e.raw_label == "group_threat_twin"]
    threats = [e for e in augmentation_examples() if e.raw_label == "group_threat"]
    assert len(twins) == len(threats) > 0  # one twin per threat row, naming the same group
    assert all(t.labels == {"hate_speech": 0, "personal_attack": 0} for t in twins)


def test_person_threats_can_have_friendly_twins_with_the_same_address_and_the_encoder_reads_them() -> None:
    assert not [e for e in augmentation_examples() if e.raw_label == "person_threat_twin"]  # off by default
    rows = augmentation_examples(person_twins=2)
    threats = [e for e in rows if e.raw_label == "person_threat"]
    twins = [e for e in rows if e.raw_label == "person_threat_twin"]
    assert len(twins) == 2 * len(PERSON_THREAT_TWIN)
    assert len([e for e in augmentation_examples(person_twins=7) if e.raw_label == "person_threat_twin"]) \
        == len(WHO) * len(PERSON_THREAT_TWIN)
    # the other rows do not move
    assert [e.text for e in rows if e.raw_label != "person_threat_twin"] == [e.text for e in augmentation_examples()]
    with pytest.raises(ValueError, match="between 0 and 7"):
        augmentation_examples(person_twins=8)
    assert set(PERSON_THREAT_TWIN) <= set(PERSON_THREAT_CORE)
    assert all(t.labels == {"hate_speech": 0, "personal_attack": 0} for t in twins)
    # each twin follows its threat, opened the same way ("Hey Imran, ", "@Imran ", none)
    for i, row in enumerate(rows):
        if row.raw_label == "person_threat_twin":
            threat = rows[i - 1]
            assert threat.raw_label == "person_threat"
            opening = next(w.format(name=n) for w in sorted(WHO, key=len, reverse=True) for n in NAMES
                           if threat.text.startswith(w.format(name=n)))
            assert row.text.startswith(opening) and row.text != threat.text
    got, labels, _ = encoder_training_rows(TrainConfig(), twins[:3] + threats[:3], ("hate_speech", "personal_attack"))
    assert len(got) == 6 and sorted(lab["personal_attack"] for lab in labels) == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize(("doc", "cue"), [
    ("i will break your neck tonight", "cue_threat_person"),
    ("you are dead meat pal", "cue_threat_person"),
    ("round up the refugees and shoot them", "cue_threat_group"),
    ("roma are parasites", "cue_dehumanise"),
    ("the jews run hollywood", "cue_conspiracy_exclusion"),
    ("deport all the somalis", "cue_conspiracy_exclusion"),
])
def test_cues_fire(doc: str, cue: str) -> None:
    assert cue_counts(doc)[list(CUES).index(cue)] >= 1


@pytest.mark.parametrize("doc", [
    "this blender is a killer bargain", "the striker shot and scored", "police say the gunman killed two",
    "i would murder a pizza", "my muslim neighbour fixed my bike", "we beat them three nil",
])
def test_cues_stay_quiet_on_benign_violent_words(doc: str) -> None:
    assert sum(cue_counts(doc)) == 0


def test_augmentation_is_deterministic_and_balanced_per_group() -> None:
    rows = augmentation_examples()
    assert [e.text for e in rows] == [e.text for e in augmentation_examples()]
    kinds = Counter(e.raw_label for e in rows)
    assert set(kinds) == {"benign_identity", "group_hate", "group_threat", "group_threat_twin",
                          "group_violence_benign", "person_threat",
                          "violent_trap"}
    hate = [e for e in rows if e.raw_label == "group_hate"]
    benign = [e for e in rows if e.raw_label == "benign_identity"]
    assert all(e.labels == {"hate_speech": 1} for e in hate)
    assert all(e.labels == {"hate_speech": 0, "personal_attack": 0} for e in benign)
    for group in ("Pakistanis", "Muslims", "Sikhs"):  # every group in benign and hateful rows alike
        assert any(group in e.text for e in hate) and any(group in e.text for e in benign)


def _capture_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[TrainConfig]:
    """Replace training by a recorder: the configs the train command would have trained, in order."""
    import moderator.training.train as training

    seen: list[TrainConfig] = []

    def fake_train(cfg: TrainConfig) -> Any:
        seen.append(cfg)
        model = SimpleNamespace(version="fake", thresholds={}, metadata={"training_seconds": 0, "metrics": {}})
        return model, tmp_path / "fake.joblib"

    monkeypatch.setattr(training, "train", fake_train)
    return seen


def _train_ok(tmp_path: Path, *args: str) -> None:
    """``moderator train`` with ``args`` (training captured by :func:`_capture_training`) succeeds."""
    r = CliRunner().invoke(main, ["train", "--no-report", "--quiet", "--output", str(tmp_path), *args])
    assert r.exit_code == 0, r.output


def _train_refused(tmp_path: Path, args: list[str], message: str) -> None:
    """``moderator train`` with ``args`` stops with a usage error saying ``message``."""
    r = CliRunner().invoke(main, ["train", *args, "--output", str(tmp_path)])
    assert r.exit_code == 2 and message in r.output, (args, r.output)


def test_train_command_passes_twins_and_encoder_seed_to_training_and_the_version(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _capture_training(tmp_path, monkeypatch)
    for args in ([], ["--person-threat-twins", "7", "--encoder-seed", "1"]):
        _train_ok(tmp_path, *args)
    assert [(c.person_threat_twins, c.encoder_seed) for c in seen] == [(0, None), (7, 1)]
    # the defaults leave the config (and so the version of the shipped model's recipe) as it was
    assert not {"person_threat_twins", "encoder_seed"} & set(seen[0].to_dict())
    assert seen[1].to_dict()["person_threat_twins"] == 7 and seen[1].to_dict()["encoder_seed"] == 1
    _train_refused(tmp_path, ["--person-threat-twins", "8"], "8 is not in the range 0<=x<=7")


def test_train_command_passes_identity_pooling_and_corpus_adjustment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _capture_training(tmp_path, monkeypatch)
    for args in ([], ["--identity-pooled", "hate_speech"], ["--identity-pooled", ""]):
        _train_ok(tmp_path, *args)
    assert [c.identity_reweight_pooled for c in seen] == [(), ("hate_speech",), ()]
    assert "identity_reweight_pooled" not in seen[0].to_dict()
    assert seen[1].to_dict()["identity_reweight_pooled"] == ["hate_speech"]
    _train_refused(tmp_path, ["--identity-pooled", "spam"], "only hate_speech, personal_attack are re-weighted")
    # hate_speech is corpus-adjusted by default; '' trains without it, a config (and so version hash) with no
    # corpus_adjust key
    assert seen[0].corpus_adjust == ("hate_speech",) and seen[0].to_dict()["corpus_adjust"] == ["hate_speech"]
    for args, want in ((["--corpus-adjust", ""], ()), (["--corpus-adjust", "hate_speech,personal_attack"],
                                                         ("hate_speech", "personal_attack"))):
        _train_ok(tmp_path, *args)
        assert seen[-1].corpus_adjust == want
    assert "corpus_adjust" not in seen[-2].to_dict()
    assert seen[-1].to_dict()["corpus_adjust"] == ["hate_speech", "personal_attack"]
    _train_refused(tmp_path, ["--corpus-adjust", "threat"], "unknown categories: threat")


def test_train_command_sets_a_categorys_flag_budget_and_refuses_a_bad_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _capture_training(tmp_path, monkeypatch)
    for args in ([], ["--flag-budget", "hate_speech=0.03"], ["--flag-budget", "spam=0.02, personal_attack=0.05"]):
        _train_ok(tmp_path, *args)
    assert [c.max_flag_rate for c in seen] == [
        {"hate_speech": 0.04, "personal_attack": 0.03, "spam": 0.01, "obscenity": 0.01},
        {"hate_speech": 0.03, "personal_attack": 0.03, "spam": 0.01, "obscenity": 0.01},
        {"hate_speech": 0.04, "personal_attack": 0.05, "spam": 0.02, "obscenity": 0.01}]
    # the budget is part of the config, so of the version hash
    assert seen[1].to_dict()["operating_point"]["max_flag_rate"]["hate_speech"] == 0.03
    for text, message in (("threat=0.1", "unknown category: threat"), ("hate_speech", "give category=share"),
                          ("hate_speech=1.5", "give category=share"), ("spam=x", "give category=share")):
        _train_refused(tmp_path, ["--flag-budget", text], message)
